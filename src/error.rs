//! The error every tool returns: a kind a caller can branch on and a message a person can act on.

use serde::{Deserialize, Serialize};

/// What went wrong, in classes a client (and the stress checker) can tell apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// An argument is missing, of the wrong type, or out of range.
    InvalidArgument,
    /// No score (or corpus piece, or file) by that name.
    NotFound,
    /// A score with that id exists and `replace` was not set.
    AlreadyExists,
    /// The input is larger or more complex than a configured limit allows.
    LimitExceeded,
    /// The input could not be read as music.
    Parse,
    /// The engine cannot do this for this score (e.g. an export it refuses).
    Unsupported,
    /// A stored record failed its checksum.
    Corrupted,
    /// The store could not be read or written.
    Storage,
    /// The engine failed unexpectedly (a bug, caught).
    Internal,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ToolError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn limit(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::LimitExceeded, message)
    }
    pub fn parse(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Parse, message)
    }
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    pub fn storage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Storage, message)
    }
    /// The wire name of the kind, e.g. `invalid_argument`.
    pub fn code(&self) -> &'static str {
        match self.kind {
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::NotFound => "not_found",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::LimitExceeded => "limit_exceeded",
            ErrorKind::Parse => "parse_error",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Corrupted => "corrupted",
            ErrorKind::Storage => "storage_error",
            ErrorKind::Internal => "internal_error",
        }
    }
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ToolError {}

impl From<music21_rs::Error> for ToolError {
    fn from(e: music21_rs::Error) -> Self {
        ToolError::unsupported(format!("the music engine refused: {e}"))
    }
}

pub type ToolResult<T> = Result<T, ToolError>;
