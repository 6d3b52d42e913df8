//! The PostgreSQL server the tests use, shared by the store's own tests and the
//! integration tests so both find (or start) the same one the same way.

use std::sync::OnceLock;

/// `MUSIC21_PROD_TEST_PG_URL`, or the server `scripts/cluster db-up` starts (installing
/// PostgreSQL when run as root). `None`, with a line saying why, only when neither is
/// possible; any other failure to start it panics with the script's message.
pub fn url() -> Option<String> {
    static URL: OnceLock<Option<String>> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("MUSIC21_PROD_TEST_PG_URL") {
            return Some(url);
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cluster");
        let out = std::process::Command::new(script)
            .arg("db-up")
            .output()
            .expect("run scripts/cluster db-up");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            if stderr.contains("missing postgresql") {
                eprintln!("SKIPPED: no PostgreSQL here and no root to install it: {stderr}");
                return None;
            }
            panic!("scripts/cluster db-up failed: {stderr}");
        }
        Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
    })
    .clone()
}
