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
    dir.join("corpus")
        .is_dir()
        .then(|| dir.canonicalize().unwrap_or(dir))
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}); stdout: {} stderr: {}",
                self.stdout, self.stderr
            )
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

/// A `music21-prod serve` on a free loopback port, killed when dropped.
pub struct ServerProc {
    pub child: std::process::Child,
    pub url: String,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl ServerProc {
    /// Starts a server with `config_toml` as its config file and waits until it is ready.
    pub fn start(config_toml: &str) -> ServerProc {
        use std::io::BufRead;
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("server.toml");
        std::fs::write(&config, config_toml).expect("config");
        let mut child = bin()
            .args(["serve", "--port", "0", "--data-dir"])
            .arg(dir.path().join("data"))
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start server");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("listening line");
        let url = line.split_whitespace().last().expect("url").to_string();
        let port: u16 = url
            .trim_start_matches("http://127.0.0.1:")
            .trim_end_matches("/mcp")
            .parse()
            .expect("port");
        let proc = ServerProc {
            child,
            url,
            port,
            dir,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if http_get(port, "/readyz").map(|(s, _)| s) == Some(200) {
                return proc;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("server never became ready");
    }

    pub fn store_path(&self) -> PathBuf {
        self.dir.path().join("data").join("scores.sqlite3")
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking HTTP/1.1 GET on 127.0.0.1: status and body.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let status = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}
pub mod server;
