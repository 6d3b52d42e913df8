//! Score formats: names, detection from content, and file extensions.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Uncompressed MusicXML text.
    Musicxml,
    /// Compressed MusicXML (a zip archive).
    Mxl,
    /// Standard MIDI File.
    Midi,
    /// ABC notation.
    Abc,
    /// Humdrum (**kern).
    Humdrum,
    /// music21's tinyNotation.
    Tinynotation,
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::Musicxml,
        Format::Mxl,
        Format::Midi,
        Format::Abc,
        Format::Humdrum,
        Format::Tinynotation,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Musicxml => "musicxml",
            Format::Mxl => "mxl",
            Format::Midi => "midi",
            Format::Abc => "abc",
            Format::Humdrum => "humdrum",
            Format::Tinynotation => "tinynotation",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        let lower = name.trim().to_ascii_lowercase();
        Some(match lower.as_str() {
            "musicxml" | "xml" => Format::Musicxml,
            "mxl" => Format::Mxl,
            "midi" | "mid" => Format::Midi,
            "abc" => Format::Abc,
            "humdrum" | "kern" | "krn" => Format::Humdrum,
            "tinynotation" | "tiny" => Format::Tinynotation,
            _ => return None,
        })
    }

    /// The media type of a file in this format (a resource's `mimeType`).
    pub fn mime_type(self) -> &'static str {
        match self {
            Format::Musicxml => "application/vnd.recordare.musicxml+xml",
            Format::Mxl => "application/vnd.recordare.musicxml",
            Format::Midi => "audio/midi",
            Format::Abc => "text/vnd.abc",
            Format::Humdrum => "text/x-humdrum",
            Format::Tinynotation => "text/plain",
        }
    }

    /// Binary formats travel as base64.
    pub fn is_binary(self) -> bool {
        matches!(self, Format::Mxl | Format::Midi)
    }

    /// The format a file extension names (without the dot).
    pub fn from_extension(ext: &str) -> Option<Format> {
        Some(match ext.to_ascii_lowercase().as_str() {
            "xml" | "musicxml" => Format::Musicxml,
            "mxl" => Format::Mxl,
            "mid" | "midi" => Format::Midi,
            "abc" => Format::Abc,
            "krn" => Format::Humdrum,
            "tntxt" | "tinynotation" => Format::Tinynotation,
            _ => return None,
        })
    }

    /// Detects a format from the bytes themselves.
    pub fn detect(bytes: &[u8]) -> Option<Format> {
        if bytes.starts_with(b"PK\x03\x04") {
            return Some(Format::Mxl);
        }
        if bytes.starts_with(b"MThd") {
            return Some(Format::Midi);
        }
        let head = &bytes[..bytes.len().min(4096)];
        let text = String::from_utf8_lossy(head);
        let trimmed = text.trim_start_matches('\u{feff}').trim_start();
        if trimmed.starts_with("<?xml")
            || trimmed.starts_with("<score-partwise")
            || trimmed.starts_with("<score-timewise")
            || trimmed.starts_with("<!DOCTYPE score")
            || text.contains("<score-partwise")
            || text.contains("<score-timewise")
        {
            return Some(Format::Musicxml);
        }
        if trimmed
            .get(..13)
            .is_some_and(|h| h.eq_ignore_ascii_case("tinynotation:"))
        {
            return Some(Format::Tinynotation);
        }
        let mut lines = trimmed.lines().map(str::trim_end);
        if lines
            .clone()
            .find(|l| !l.starts_with("!!") && !l.is_empty())
            .is_some_and(|l| l.starts_with("**"))
        {
            return Some(Format::Humdrum);
        }
        if lines.any(|l| {
            let b = l.as_bytes();
            b.len() >= 2 && b[1] == b':' && matches!(b[0], b'X' | b'K' | b'T' | b'M' | b'L')
        }) {
            return Some(Format::Abc);
        }
        None
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_format() {
        assert_eq!(Format::detect(b"PK\x03\x04rest"), Some(Format::Mxl));
        assert_eq!(Format::detect(b"MThd\0\0\0\x06"), Some(Format::Midi));
        assert_eq!(
            Format::detect(b"<?xml version=\"1.0\"?>\n<score-partwise>"),
            Some(Format::Musicxml)
        );
        assert_eq!(Format::detect(b"X:1\nT:t\nK:C\nCDE|"), Some(Format::Abc));
        assert_eq!(
            Format::detect(b"!!!COM: x\n**kern\n4c\n*-\n"),
            Some(Format::Humdrum)
        );
        assert_eq!(
            Format::detect(b"tinyNotation: 4/4 c4 d e f"),
            Some(Format::Tinynotation)
        );
        assert_eq!(Format::detect(b"hello world"), None);
    }

    #[test]
    fn names_round_trip() {
        for f in Format::ALL {
            assert_eq!(Format::from_name(f.name()), Some(f));
        }
    }
}
