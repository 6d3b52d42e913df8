//! Helpers for integration tests that drive the real `music21-prod` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_music21-prod"))
}

/// `../shared`, when present (it is not in a fresh clone without the shared folder).
pub fn shared_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    dir.join("corpus").is_dir().then(|| dir.canonicalize().unwrap_or(dir))
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("stdout is not JSON ({e}); stdout: {} stderr: {}", self.stdout, self.stderr)
        })
    }
    pub fn ok(self) -> Value {
        assert_eq!(self.code, 0, "expected success; stderr: {}", self.stderr);
        self.json()
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// A data dir and an optional config file for one test.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub config: Option<PathBuf>,
}

impl Env {
    pub fn new() -> Self {
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
            config: None,
        }
    }

    pub fn with_config(toml: &str) -> Self {
        let env = Env::new();
        let path = env.dir.path().join("test.toml");
        std::fs::write(&path, toml).expect("write config");
        Env {
            config: Some(path),
            ..env
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn command(&self, name: &str, args: &Value) -> Command {
        let mut cmd = bin();
        cmd.arg("tool")
            .arg(name)
            .arg("--args")
            .arg(args.to_string())
            .arg("--data-dir")
            .arg(self.data_dir());
        if let Some(config) = &self.config {
            cmd.arg("--config").arg(config);
        }
        cmd.env_remove("MUSIC21_PROD_DATA_DIR");
        cmd
    }

    pub fn tool(&self, name: &str, args: Value) -> Run {
        self.command(name, &args)
            .output()
            .expect("run music21-prod")
            .into()
    }
}
