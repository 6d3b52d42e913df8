//! `serve --supervise`: a small parent that restarts the server when it dies, with capped
//! exponential backoff (reset after a healthy period), and passes SIGTERM/SIGINT through.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
const HEALTHY_AFTER: Duration = Duration::from_secs(30);

/// The delay before restart number `failures` (1-based) in a row.
pub fn backoff(failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(10);
    (FIRST_BACKOFF * factor).min(MAX_BACKOFF)
}

/// Runs `serve` (with `args`, minus `--supervise`) as a child, restarting it as needed.
pub fn run(args: Vec<String>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("music21-prod serve --supervise: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(supervise(args))
}

async fn supervise(args: Vec<String>) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("music21-prod serve --supervise: cannot find own executable: {e}");
            return ExitCode::from(1);
        }
    };
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("music21-prod serve --supervise: cannot listen for SIGTERM: {e}");
            return ExitCode::from(1);
        }
    };
    let mut failures = 0u32;
    loop {
        let started = Instant::now();
        let mut child = match tokio::process::Command::new(&exe)
            .arg("serve")
            .args(&args)
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("music21-prod serve --supervise: cannot start the server: {e}");
                return ExitCode::from(1);
            }
        };
        let pid = child.id().map(|p| Pid::from_raw(p as i32));
        tracing::info!(pid = ?pid, "supervisor started the server");
        let stop = tokio::select! {
            status = child.wait() => {
                match status {
                    Ok(s) if s.success() => {
                        tracing::info!("server exited cleanly; supervisor stops");
                        return ExitCode::SUCCESS;
                    }
                    Ok(s) => tracing::warn!(status = %s, "server died; restarting"),
                    Err(e) => tracing::warn!(error = %e, "lost the server; restarting"),
                }
                None
            }
            _ = term.recv() => Some(Signal::SIGTERM),
            _ = tokio::signal::ctrl_c() => Some(Signal::SIGINT),
        };
        if let Some(signal) = stop {
            if let Some(pid) = pid {
                let _ = kill(pid, signal);
            }
            let status = child.wait().await;
            tracing::info!(?status, "server stopped on request; supervisor stops");
            return match status {
                Ok(s) if s.success() => ExitCode::SUCCESS,
                _ => ExitCode::from(1),
            };
        }
        if started.elapsed() >= HEALTHY_AFTER {
            failures = 0;
        }
        failures += 1;
        let delay = backoff(failures);
        tracing::info!(
            delay_ms = delay.as_millis() as u64,
            failures,
            "restarting the server"
        );
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = term.recv() => return ExitCode::SUCCESS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(2), Duration::from_millis(200));
        assert_eq!(backoff(4), Duration::from_millis(800));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }
}
