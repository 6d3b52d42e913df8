//! The worker process (`music21-prod worker`): reads framed requests on stdin, runs each tool
//! in-process on its own connection to the store, answers on stdout. Logs go to stderr.
//! The server kills it when a task passes its deadline or its memory cap.
//!
//! A worker does one thing at a time (the server sends the next request only after the
//! answer, and pings only idle workers), so it is a plain loop on one thread with blocking
//! I/O: no runtime, no thread hop per call or per frame, and the engine's per-thread
//! memories (Roman numerals, see `tools::analysis_common`) stay warm from call to call.

use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::process::ExitCode;

use anyhow::Context;

use crate::config::Config;
use crate::tools::{Registry, ToolContext};
use crate::workers::protocol::{read_frame_blocking, write_frame_blocking, Request, Response};

/// Resident memory above which a worker trims its heap after answering.
const TRIM_ABOVE_BYTES: u64 = 128 << 20;

/// Runs the worker loop until stdin closes (success), or until it cannot go on (an error
/// saying why; the server sees the exit and starts another worker).
pub fn run(config: Config) -> anyhow::Result<ExitCode> {
    let ctx = ToolContext::open(config)
        .map_err(anyhow::Error::msg)
        .context("cannot open the store")?;
    let registry = Registry::shared();
    let mut stdin = std::io::stdin().lock();
    loop {
        let request: Request = match read_frame_blocking(&mut stdin) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(ExitCode::SUCCESS),
            Err(e) => return Err(anyhow::Error::msg(e).context("bad frame from the server")),
        };
        let response = match request {
            Request::Ping { id } => Response::Pong {
                id,
                rss_bytes: own_rss(),
            },
            Request::Shrink { id } => {
                ctx.cache.set_capacity(0);
                ctx.cache
                    .set_capacity(ctx.config.store.parsed_cache_entries);
                Response::Pong {
                    id,
                    rss_bytes: own_rss(),
                }
            }
            Request::Call {
                id,
                tool,
                args,
                progress,
            } => answer(id, progress, || registry.call(&ctx, &tool, args)),
        };
        let answered_a_call = matches!(response, Response::Ok { .. } | Response::Err { .. });
        send(&response).context("cannot answer the server")?;
        drop(response);
        // After a large call the freed heap goes back to the system, so the sampled memory
        // (and the parse admission) sees what the worker really holds.
        if answered_a_call && own_rss() > TRIM_ABOVE_BYTES {
            crate::sysmem::give_back_free_memory();
        }
    }
}

/// Runs one call here, its progress reports going out as frames while it runs (when the
/// server listens), and turns the outcome, a panic included, into the answer.
fn answer(
    id: u64,
    progress: bool,
    call: impl FnOnce() -> Result<serde_json::Value, crate::error::ToolError>,
) -> Response {
    let run = AssertUnwindSafe(|| {
        if progress {
            // A lost progress frame is not worth failing the call: if stdout is gone the
            // answer's own write says so.
            let report = move |step| {
                let _ = send(&Response::Progress { id, step });
            };
            crate::tools::progress::with_reporter(report, call)
        } else {
            call()
        }
    });
    match std::panic::catch_unwind(run) {
        Ok(Ok(result)) => Response::Ok { id, result },
        Ok(Err(e)) => Response::Err {
            id,
            kind: e.kind,
            message: e.message,
        },
        Err(panic) => Response::Err {
            id,
            kind: crate::error::ErrorKind::Internal,
            message: format!("the tool failed unexpectedly: {}", panic_message(&panic)),
        },
    }
}

fn send(response: &Response) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    write_frame_blocking(&mut stdout, response)?;
    stdout.flush()
}

fn own_rss() -> u64 {
    crate::sysmem::rss_bytes(std::process::id()).unwrap_or(0)
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorKind, ToolError};

    #[test]
    fn a_panicking_tool_is_answered_as_an_internal_error() {
        let got = answer(4, false, || panic!("engine fell over"));
        match got {
            Response::Err { id, kind, message } => {
                assert_eq!(id, 4);
                assert_eq!(kind, ErrorKind::Internal);
                assert!(message.contains("engine fell over"), "{message}");
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn a_tool_error_keeps_its_kind_and_message() {
        let got = answer(5, false, || {
            Err(ToolError::new(ErrorKind::NotFound, "no score 'x'"))
        });
        assert!(matches!(
            got,
            Response::Err { id: 5, kind: ErrorKind::NotFound, ref message } if message == "no score 'x'"
        ));
    }
}
