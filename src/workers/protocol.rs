//! The frames between the server and a worker process, over the worker's stdin and stdout:
//! a 4-byte big-endian length, then that many bytes of JSON.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::ErrorKind;

/// Largest frame accepted either way (a 50 MB score as base64 and then some).
pub const MAX_FRAME: usize = 256 * 1024 * 1024;

// Both enums are externally tagged (`{"call": {...}}`), not internally (`{"type": "call",
// ...}`): serde reads an internally tagged enum by first buffering the whole frame, so a
// 50 MB import's source, or a large answer, was held twice while it was decoded.
// Server and workers are always the same executable, so the format needs no versioning.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    Call {
        id: u64,
        tool: String,
        args: Value,
    },
    Ping {
        id: u64,
    },
    /// Drop parsed-score caches (the memory guard asks under pressure).
    Shrink {
        id: u64,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    Ok {
        id: u64,
        result: Value,
    },
    Err {
        id: u64,
        kind: ErrorKind,
        message: String,
    },
    Pong {
        id: u64,
        rss_bytes: u64,
    },
    /// How far call `id` is; any number of these may come before its answer.
    Progress {
        id: u64,
        step: crate::tools::progress::Step,
    },
}

impl Response {
    pub fn id(&self) -> u64 {
        match self {
            Response::Ok { id, .. }
            | Response::Err { id, .. }
            | Response::Pong { id, .. }
            | Response::Progress { id, .. } => *id,
        }
    }
}

pub async fn write_frame<W: AsyncWriteExt + Unpin, T: Serialize>(
    w: &mut W,
    msg: &T,
) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
    if bytes.len() > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "frame of {} bytes exceeds the {MAX_FRAME}-byte limit",
            bytes.len()
        )));
    }
    w.write_all(&(bytes.len() as u32).to_be_bytes()).await?;
    w.write_all(&bytes).await?;
    w.flush().await
}

/// Reads one frame; `Ok(None)` at a clean end of stream.
pub async fn read_frame<R: AsyncReadExt + Unpin, T: for<'de> Deserialize<'de>>(
    r: &mut R,
) -> std::io::Result<Option<T>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "frame of {len} bytes exceeds the limit"
        )));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).await?;
    serde_json::from_slice(&buf)
        .map(Some)
        .map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        let req = Request::Call {
            id: 7,
            tool: "key_analysis".into(),
            args: serde_json::json!({"score_id": "x"}),
        };
        write_frame(&mut a, &req).await.unwrap();
        drop(a);
        let got: Request = read_frame(&mut b).await.unwrap().unwrap();
        assert!(matches!(got, Request::Call { id: 7, .. }));
        let end: Option<Request> = read_frame(&mut b).await.unwrap();
        assert!(end.is_none());
    }
}
