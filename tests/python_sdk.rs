//! The official MCP Python SDK (mcp 2.3) against the real binary: tests/python_sdk/check_server.py
//! over Streamable HTTP and over stdio, in both of the SDK's connect modes (the initialize
//! handshake, protocol 2025-11-25, and `server/discover`, protocol 2026-07-28): tools with
//! progress, resources with a subscription, prompts, completions, logging, and a call
//! cancelled by the client, whose worker must be stopped.
//!
//! Needs a Python that imports `mcp`: `MUSIC21_PROD_PYTHON_SDK=/path/to/python`, or
//! `target/pysdk/bin/python` (`.ci/run` makes it: `python3 -m venv target/pysdk &&
//! target/pysdk/bin/pip install mcp==2.3.0`). Without one the test says so and passes.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::server::*;

fn python() -> Option<PathBuf> {
    let candidate = std::env::var_os("MUSIC21_PROD_PYTHON_SDK")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/pysdk/bin/python")
        });
    let imports = Command::new(&candidate)
        .args(["-c", "import mcp, mcp_types"])
        .output()
        .is_ok_and(|o| o.status.success());
    if imports {
        Some(candidate)
    } else {
        eprintln!(
            "SKIPPED: no Python with the MCP SDK at {} (set MUSIC21_PROD_PYTHON_SDK, or: python3 -m venv target/pysdk && target/pysdk/bin/pip install mcp==2.3.0)",
            candidate.display()
        );
        None
    }
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python_sdk/check_server.py")
}

/// Runs the script; panics with its output unless every check passed.
fn run_checks(python: &PathBuf, args: &[String]) {
    let out = Command::new(python)
        .arg(script())
        .args(args)
        .output()
        .expect("run the Python SDK checks");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("all checks passed"),
        "Python SDK checks failed ({:?}):\n{stdout}\n{stderr}",
        out.status
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_uses_every_feature_over_http() {
    let Some(python) = python() else { return };
    // A client that goes away has a moment, not ten seconds, to come back.
    let server = Server::start(&config(
        "",
        "",
        &format!("[server.replay]\nhangup_grace_secs = 0.5\n{RELAXED_FIFTHS}"),
    ))
    .await;
    let hanging = server.env.dir.path().join("hanging.musicxml");
    std::fs::write(&hanging, hanging_score()).expect("write the hanging score");
    for mode in ["legacy", "auto"] {
        run_checks(
            &python,
            &[
                mode.into(),
                "http".into(),
                server.url.clone(),
                "--hanging".into(),
                hanging.display().to_string(),
            ],
        );
    }
    // Each cancelled call had its worker stopped (by notifications/cancelled or, at the
    // latest, when its client was gone for the grace).
    let mut kills = None;
    for _ in 0..100 {
        let m = server.metrics().await;
        kills = metric(&m, "music21_worker_kills_total", &[("reason", "cancelled")]);
        if kills == Some(2.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(kills, Some(2.0), "worker_kills_total{{reason=cancelled}}");
    wait_pool_whole(&server, HEAL).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_uses_every_feature_over_stdio() {
    let Some(python) = python() else { return };
    let env = common::Env::with_config(&config("", "", ""));
    for mode in ["legacy", "auto"] {
        run_checks(
            &python,
            &[
                mode.into(),
                "stdio".into(),
                env!("CARGO_BIN_EXE_music21-prod").into(),
                "--data-dir".into(),
                env.data_dir().display().to_string(),
                "--config".into(),
                env.config.as_ref().expect("config").display().to_string(),
            ],
        );
    }
}
