//! The worker process (`music21-prod worker`): reads framed requests on stdin, runs each tool
//! in-process on its own connection to the store, answers on stdout. Logs go to stderr.
//! The server kills it when a task passes its deadline or its memory cap.

use std::process::ExitCode;

use anyhow::Context;

use crate::config::Config;
use crate::tools::{Registry, ToolContext};
use crate::workers::protocol::{read_frame, write_frame, Request, Response};

/// Resident memory above which a worker trims its heap after answering.
const TRIM_ABOVE_BYTES: u64 = 128 << 20;

/// Runs the worker loop until stdin closes (success), or until it cannot go on (an error
/// saying why; the server sees the exit and starts another worker).
pub fn run(config: Config) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(serve(config))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let ctx = std::sync::Arc::new(
        ToolContext::open(config)
            .map_err(anyhow::Error::msg)
            .context("cannot open the store")?,
    );
    let registry = Registry::shared();
    let mut stdin = tokio::io::stdin();
    let mut stdout = tokio::io::stdout();
    loop {
        let request: Request = match read_frame(&mut stdin).await {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(()),
            Err(e) => return Err(anyhow::Error::msg(e).context("bad frame from the server")),
        };
        let response = match request {
            Request::Ping { id } => Response::Pong {
                id,
                rss_bytes: crate::sysmem::rss_bytes(std::process::id()).unwrap_or(0),
            },
            Request::Shrink { id } => {
                ctx.cache.set_capacity(0);
                ctx.cache
                    .set_capacity(ctx.config.store.parsed_cache_entries);
                Response::Pong {
                    id,
                    rss_bytes: crate::sysmem::rss_bytes(std::process::id()).unwrap_or(0),
                }
            }
            Request::Call { id, tool, args } => {
                let ctx = ctx.clone();
                // The engine is synchronous; run it off the I/O thread. Its progress reports
                // come back here and go out as frames while it runs.
                let (steps, mut reported) = tokio::sync::mpsc::unbounded_channel();
                let work = tokio::task::spawn_blocking(move || {
                    let send = move |step| {
                        let _ = steps.send(step);
                    };
                    crate::tools::progress::with_reporter(send, || registry.call(&ctx, &tool, args))
                });
                tokio::pin!(work);
                let result = loop {
                    tokio::select! {
                        result = &mut work => break result,
                        Some(step) = reported.recv() => {
                            write_frame(&mut stdout, &Response::Progress { id, step })
                                .await
                                .map_err(anyhow::Error::msg)
                                .context("cannot report progress to the server")?;
                        }
                    }
                };
                match result {
                    Ok(Ok(result)) => Response::Ok { id, result },
                    Ok(Err(e)) => Response::Err {
                        id,
                        kind: e.kind,
                        message: e.message,
                    },
                    Err(e) => Response::Err {
                        id,
                        kind: crate::error::ErrorKind::Internal,
                        message: format!("the tool failed unexpectedly: {e}"),
                    },
                }
            }
        };
        let answered_a_call = matches!(response, Response::Ok { .. } | Response::Err { .. });
        write_frame(&mut stdout, &response)
            .await
            .map_err(anyhow::Error::msg)
            .context("cannot answer the server")?;
        drop(response);
        // After a large call the freed heap goes back to the system, so the sampled memory
        // (and the parse admission) sees what the worker really holds.
        if answered_a_call
            && crate::sysmem::rss_bytes(std::process::id()).unwrap_or(0) > TRIM_ABOVE_BYTES
        {
            crate::sysmem::give_back_free_memory();
        }
    }
}
