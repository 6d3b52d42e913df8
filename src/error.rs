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
    /// The store's database cannot be reached just now (PostgreSQL down, restarting or cut
    /// off): retryable, and nothing was changed unless the answer said so.
    StorageUnavailable,
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
            ErrorKind::StorageUnavailable => "storage_unavailable",
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

/// Client-supplied text made safe to print in a log line or an error message: control
/// characters (newlines, NUL, escape sequences) are escaped, so they cannot forge lines or
/// move a terminal's cursor, and it is cut after `max` characters.
pub fn printable(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max) + 8);
    for (count, c) in text.chars().enumerate() {
        if count == max {
            out.push('…');
            break;
        }
        if c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_what_could_forge_a_log_line() {
        assert_eq!(printable("a\nb\0c\x1b[2J", 100), "a\\nb\\u{0}c\\u{1b}[2J");
        assert_eq!(printable("fine id", 100), "fine id");
        assert_eq!(printable("abcdef", 3), "abc…");
        assert!(!printable("x\r\ny\u{2028}z", 100).contains(['\n', '\r', '\u{2028}']));
    }
}
