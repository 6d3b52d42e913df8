//! The frames between the server and a worker process, over the worker's stdin and stdout:
//! a 4-byte big-endian length, then that many bytes of JSON. The server reads and writes
//! them asynchronously; a worker, which does one thing at a time, with plain blocking I/O.

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
        /// Someone listens to this call's progress: without it the worker sends none.
        #[serde(default)]
        progress: bool,
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

/// A message as one frame: its length, then its JSON.
fn encode<T: Serialize>(msg: &T) -> std::io::Result<Vec<u8>> {
    let mut bytes = vec![0u8; 4];
    serde_json::to_writer(&mut bytes, msg).map_err(std::io::Error::other)?;
    let len = bytes.len() - 4;
    if len > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "frame of {len} bytes exceeds the {MAX_FRAME}-byte limit"
        )));
    }
    bytes[..4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(bytes)
}

/// The length a frame's header announces, if the frame may be read.
fn announced(len: [u8; 4]) -> std::io::Result<usize> {
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "frame of {len} bytes exceeds the limit"
        )));
    }
    Ok(len)
}

pub async fn write_frame<W: AsyncWriteExt + Unpin, T: Serialize>(
    w: &mut W,
    msg: &T,
) -> std::io::Result<()> {
    w.write_all(&encode(msg)?).await?;
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
    let mut buf = vec![0u8; announced(len)?];
    r.read_exact(&mut buf).await?;
    serde_json::from_slice(&buf)
        .map(Some)
        .map_err(std::io::Error::other)
}

/// [`write_frame`] for a blocking writer (the worker's side).
pub fn write_frame_blocking<W: std::io::Write, T: Serialize>(
    w: &mut W,
    msg: &T,
) -> std::io::Result<()> {
    w.write_all(&encode(msg)?)?;
    w.flush()
}

/// [`read_frame`] for a blocking reader (the worker's side).
pub fn read_frame_blocking<R: std::io::Read, T: for<'de> Deserialize<'de>>(
    r: &mut R,
) -> std::io::Result<Option<T>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut buf = vec![0u8; announced(len)?];
    r.read_exact(&mut buf)?;
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
            progress: false,
        };
        write_frame(&mut a, &req).await.unwrap();
        drop(a);
        let got: Request = read_frame(&mut b).await.unwrap().unwrap();
        assert!(matches!(got, Request::Call { id: 7, .. }));
        let end: Option<Request> = read_frame(&mut b).await.unwrap();
        assert!(end.is_none());
    }

    #[test]
    fn blocking_and_async_frames_are_the_same_bytes() {
        let answer = Response::Ok {
            id: 3,
            result: serde_json::json!({"key": "A major", "note": "line\nbreak"}),
        };
        let mut bytes = Vec::new();
        write_frame_blocking(&mut bytes, &answer).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut async_bytes = Vec::new();
        runtime
            .block_on(write_frame(&mut async_bytes, &answer))
            .unwrap();
        assert_eq!(bytes, async_bytes);
        assert_eq!(
            u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize,
            bytes.len() - 4
        );
        let mut reader = bytes.as_slice();
        let back: Response = read_frame_blocking(&mut reader).unwrap().unwrap();
        assert!(matches!(back, Response::Ok { id: 3, .. }));
        let end: Option<Response> = read_frame_blocking(&mut reader).unwrap();
        assert!(end.is_none());
    }

    #[test]
    fn a_frame_announcing_more_than_the_limit_is_refused_before_it_is_read() {
        let mut bytes = ((MAX_FRAME + 1) as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(b"{}");
        let err = read_frame_blocking::<_, Request>(&mut bytes.as_slice()).unwrap_err();
        assert!(err.to_string().contains("exceeds the limit"), "{err}");
    }
}
