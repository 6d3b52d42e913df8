//! The worker process (`music21-prod worker`): reads framed requests on stdin, runs each tool
//! in-process on its own connection to the store, answers on stdout. Logs go to stderr.
//! The server kills it when a task passes its deadline or its memory cap.

use crate::config::Config;
use crate::tools::{Registry, ToolContext};
use crate::workers::protocol::{read_frame, write_frame, Request, Response};

/// Runs the worker loop until stdin closes. Returns the process exit code.
pub fn run(config: Config) -> i32 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("worker: cannot start runtime: {e}");
            return 1;
        }
    };
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> i32 {
    let ctx = match ToolContext::open(config) {
        Ok(ctx) => std::sync::Arc::new(ctx),
        Err(e) => {
            eprintln!("worker: cannot open the store: {e}");
            return 1;
        }
    };
    let registry = Registry::shared();
    let mut stdin = tokio::io::stdin();
    let mut stdout = tokio::io::stdout();
    loop {
        let request: Request = match read_frame(&mut stdin).await {
            Ok(Some(r)) => r,
            Ok(None) => return 0,
            Err(e) => {
                eprintln!("worker: bad frame from the server: {e}");
                return 1;
            }
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
                // The engine is synchronous; run it off the I/O thread.
                let result =
                    tokio::task::spawn_blocking(move || registry.call(&ctx, &tool, args)).await;
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
        if let Err(e) = write_frame(&mut stdout, &response).await {
            eprintln!("worker: cannot answer the server: {e}");
            return 1;
        }
    }
}
