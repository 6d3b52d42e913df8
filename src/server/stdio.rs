//! MCP over standard input and output, one message per line, for desktop clients.
//!
//! rmcp drops a line it cannot parse without a word, so a client that sent `{not json`
//! would wait forever. Every line is checked here first (`jsonrpc::check`, as over HTTP):
//! a bad one is answered with its JSON-RPC error and never reaches rmcp; good ones pass
//! through a pipe. rmcp's answers and these errors go to standard output through one
//! writer, a whole line at a time, so they never interleave.

use std::sync::Arc;
use std::time::Duration;

use rmcp::ServiceExt;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::server::dispatch::Dispatcher;
use crate::server::jsonrpc;
use crate::server::mcp::McpHandler;
use crate::workers::pool::Pool;

/// Bytes in flight between the filter and rmcp, each way.
const PIPE_BYTES: usize = 1 << 20;

pub async fn serve(dispatcher: Arc<Dispatcher>, pool: Arc<Pool>) -> Result<(), String> {
    let handler = McpHandler::new(dispatcher, true, Default::default());
    let (to_rmcp, rmcp_in) = tokio::io::duplex(PIPE_BYTES);
    let (rmcp_out, from_rmcp) = tokio::io::duplex(PIPE_BYTES);
    let (errors_tx, errors_rx) = mpsc::channel::<String>(64);
    let input = tokio::spawn(filter_input(tokio::io::stdin(), to_rmcp, errors_tx));
    let output = tokio::spawn(write_output(from_rmcp, errors_rx, tokio::io::stdout()));
    let (rmcp_read, _) = tokio::io::split(rmcp_in);
    let (_, rmcp_write) = tokio::io::split(rmcp_out);
    let service = handler
        .serve((rmcp_read, rmcp_write))
        .await
        .map_err(|e| format!("MCP over stdio failed to start: {e}"))?;
    tokio::select! {
        result = service.waiting() => {
            if let Err(e) = result {
                tracing::warn!(error = %e, "stdio session ended with an error");
            }
        }
        signal = super::shutdown_signal() => tracing::info!(signal, "stopping"),
    }
    input.abort();
    // What rmcp wrote last (its answers to the final requests) still goes out.
    let _ = tokio::time::timeout(Duration::from_secs(2), output).await;
    pool.shutdown(Duration::from_secs(2)).await;
    Ok(())
}

/// Passes each line that is one JSON-RPC message to rmcp; answers the others. Ends (and
/// closes rmcp's input) at the end of `input`.
async fn filter_input<R, W>(input: R, mut to_rmcp: W, errors: mpsc::Sender<String>)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut lines = BufReader::new(input);
    let mut line = Vec::new();
    loop {
        line.clear();
        match lines.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let message = line.trim_ascii();
        if message.is_empty() {
            continue;
        }
        match jsonrpc::check(message) {
            Ok(_) => {
                let forwarded = async {
                    to_rmcp.write_all(message).await?;
                    to_rmcp.write_all(b"\n").await?;
                    to_rmcp.flush().await
                };
                if forwarded.await.is_err() {
                    break;
                }
            }
            Err(refusal) => {
                if errors.send(refusal.to_json().to_string()).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to_rmcp.shutdown().await;
}

/// Writes rmcp's lines and the filter's error lines to `out`, whole lines only.
async fn write_output<R, W>(from_rmcp: R, mut errors: mpsc::Receiver<String>, mut out: W)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut rmcp_lines = BufReader::new(from_rmcp);
    let mut line = Vec::new();
    let mut errors_open = true;
    loop {
        tokio::select! {
            read = rmcp_lines.read_until(b'\n', &mut line) => {
                match read {
                    Ok(0) | Err(_) => {
                        // rmcp is done; errors for the last lines it never saw still go out.
                        if errors_open {
                            while let Some(text) = errors.recv().await {
                                if write_line(&mut out, text.as_bytes()).await.is_err() {
                                    break;
                                }
                            }
                        }
                        break;
                    }
                    Ok(_) => {
                        if out.write_all(&line).await.is_err() || out.flush().await.is_err() {
                            break;
                        }
                        line.clear();
                    }
                }
            }
            error = errors.recv(), if errors_open => {
                match error {
                    Some(text) => {
                        if write_line(&mut out, text.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                    None => errors_open = false,
                }
            }
        }
    }
}

async fn write_line<W: AsyncWrite + Unpin>(out: &mut W, text: &[u8]) -> std::io::Result<()> {
    out.write_all(text).await?;
    out.write_all(b"\n").await?;
    out.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bad_lines_are_answered_and_good_ones_passed_on() {
        let input: &[u8] = b"{not json\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n\n{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{}}\n";
        let (to_rmcp, mut rmcp_in) = tokio::io::duplex(4096);
        let (tx, mut rx) = mpsc::channel(8);
        filter_input(input, to_rmcp, tx).await;
        let mut passed = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut rmcp_in, &mut passed)
            .await
            .unwrap();
        assert_eq!(
            passed,
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n"
        );
        let first: serde_json::Value = serde_json::from_str(&rx.recv().await.unwrap()).unwrap();
        assert_eq!(first["error"]["code"], jsonrpc::PARSE_ERROR);
        let second: serde_json::Value = serde_json::from_str(&rx.recv().await.unwrap()).unwrap();
        assert_eq!(second["error"]["code"], jsonrpc::INVALID_PARAMS);
        assert_eq!(second["id"], 2);
    }

    #[tokio::test]
    async fn output_lines_are_never_interleaved() {
        let (mut rmcp_side, from_rmcp) = tokio::io::duplex(64);
        let (tx, rx) = mpsc::channel(8);
        let (out_w, mut out_r) = tokio::io::duplex(1 << 16);
        let writer = tokio::spawn(write_output(from_rmcp, rx, out_w));
        // A long line written in pieces, with an error line sent in between.
        rmcp_side.write_all(&[b'a'; 100]).await.unwrap();
        tx.send("E".into()).await.unwrap();
        rmcp_side.write_all(b"b\n").await.unwrap();
        drop(rmcp_side);
        drop(tx);
        writer.await.unwrap();
        let mut text = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut out_r, &mut text)
            .await
            .unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort();
        assert_eq!(lines, ["E", &format!("{}b", "a".repeat(100))]);
    }
}
