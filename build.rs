//! Records the git revision for `--version`.
use std::path::PathBuf;
use std::process::Command;

/// What `git` prints for `args`, trimmed, when it succeeds.
fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    let revision = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=MUSIC21_PROD_GIT_REVISION={revision}");
    // The revision changes with HEAD (in this checkout's git directory, which for a worktree
    // is not `.git/`) or with the branch it names (in the common directory). A path that
    // does not exist would make cargo run this script, and rebuild the crate, every time:
    // outside git only this file is watched.
    let mut watched: Vec<PathBuf> = Vec::new();
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        watched.push(PathBuf::from(dir).join("HEAD"));
    }
    if let Some(dir) = git(&["rev-parse", "--git-common-dir"]) {
        watched.push(PathBuf::from(dir).join("refs/heads"));
    }
    watched.retain(|path| path.exists());
    if watched.is_empty() {
        watched.push(PathBuf::from("build.rs"));
    }
    for path in watched {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    println!("cargo:rerun-if-env-changed=MUSIC21_PROD_GIT_REVISION");
}
