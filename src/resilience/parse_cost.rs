//! What a parse will cost a worker in memory, estimated before it starts from the source's
//! format and size: the figure the parse admission reserves (see
//! [`crate::resilience::memory::MemoryGuard::hold`]).
//!
//! Calibrated with `scripts/bench-memory` (synthetic MusicXML, 1 KiB to 50 MiB, each point
//! in a fresh process, the import tool as a worker runs it): peak = 1.7 MiB + 25.5 x source
//! MiB, every point within 3.3 MiB of the fit (docs/benchmarks.md). The estimate adds 10%
//! and the request frame the worker holds while it parses. The compact formats (ABC,
//! Humdrum, tinyNotation, MIDI) hold far more notes per byte; the engine notes measured 50
//! MB of them at over 2 GB, so they are charged 64 x (they are capped at
//! `limits.max_compact_format_bytes`, 4 MiB by default). A `.mxl` is charged as the MusicXML
//! it inflates to, as its zip directory declares it (at most `limits.max_inflated_bytes`).

use std::io::Cursor;

use base64::Engine as _;
use serde_json::Value;

use crate::config::ImportLimits;

const MIB: f64 = 1024.0 * 1024.0;
/// MiB per MiB of MusicXML source (fit 25.5, +10%).
pub const MUSICXML_PER_MIB: f64 = 28.0;
/// MiB per MiB of ABC, Humdrum, tinyNotation or MIDI.
pub const COMPACT_PER_MIB: f64 = 64.0;
/// The fixed part: the tool's own allocations and the frame around the source.
pub const FIXED_MIB: f64 = 16.0;
/// Sources shorter than this are names (a corpus name, a file path), not scores.
const INLINE_MIN_BYTES: usize = 4096;

/// The source kinds the estimate tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    MusicXml,
    /// Compressed MusicXML, with the size it inflates to.
    Mxl {
        inflated: u64,
    },
    Compact,
}

/// Estimated peak memory, in bytes, of parsing `bytes` of source of `kind`.
pub fn estimate_bytes(kind: SourceKind, bytes: u64) -> u64 {
    let (per_mib, size) = match kind {
        SourceKind::MusicXml => (MUSICXML_PER_MIB, bytes),
        // The compressed bytes are in the frame too, but small beside what they inflate to.
        SourceKind::Mxl { inflated } => (MUSICXML_PER_MIB, inflated.max(bytes)),
        SourceKind::Compact => (COMPACT_PER_MIB, bytes),
    };
    ((FIXED_MIB + per_mib * size as f64 / MIB) * MIB) as u64
}

/// Estimated memory, in bytes, of a parsed score of `format` from `bytes` of stored source
/// (a stored `.mxl` is taken to inflate 20 times, at most to the inflation limit).
pub fn of_stored(format: crate::music::format::Format, bytes: u64, limits: &ImportLimits) -> u64 {
    use crate::music::format::Format;
    let kind = match format {
        Format::Musicxml => SourceKind::MusicXml,
        Format::Mxl => SourceKind::Mxl {
            inflated: bytes.saturating_mul(20).min(limits.max_inflated_bytes),
        },
        _ => SourceKind::Compact,
    };
    estimate_bytes(kind, bytes)
}

/// The estimated cost, in bytes, of the parse a call asks for with an inline source (a
/// `source` argument holding the score itself, as text or base64), or `None` when the call
/// parses no inline source (a stored score, a corpus name, a file path).
pub fn of_call(args: &Value, limits: &ImportLimits) -> Option<u64> {
    let source = args.get("source")?.as_str()?;
    if source.len() < INLINE_MIN_BYTES {
        return None;
    }
    let format = args.get("format").and_then(Value::as_str).unwrap_or("");
    let base64 = args.get("source_type").and_then(Value::as_str) == Some("base64")
        || (!source.trim_start().starts_with('<') && looks_base64(source));
    if base64 {
        let decoded_len = (source.len() as u64) / 4 * 3;
        let head = decode_head(source);
        let kind = if head.starts_with(b"PK") || format == "mxl" {
            SourceKind::Mxl {
                inflated: inflated_size(source, limits).unwrap_or(limits.max_inflated_bytes),
            }
        } else if head.starts_with(b"<") {
            SourceKind::MusicXml
        } else {
            SourceKind::Compact
        };
        return Some(estimate_bytes(kind, decoded_len));
    }
    let text = source.trim_start();
    let kind = match format {
        "musicxml" | "xml" => SourceKind::MusicXml,
        "abc" | "humdrum" | "kern" | "krn" | "tinynotation" | "midi" => SourceKind::Compact,
        _ if text.starts_with('<') => SourceKind::MusicXml,
        _ => SourceKind::Compact,
    };
    Some(estimate_bytes(kind, source.len() as u64))
}

fn looks_base64(source: &str) -> bool {
    source
        .bytes()
        .take(4096)
        .all(|b| b.is_ascii_alphanumeric() || b"+/=\r\n".contains(&b))
}

/// The first bytes of a base64 source, for its magic number.
fn decode_head(source: &str) -> Vec<u8> {
    let head: String = source
        .chars()
        .filter(|c| !c.is_whitespace())
        .take(16)
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(head)
        .unwrap_or_default()
}

/// What a base64 `.mxl` declares its entries inflate to, together, capped at the limit the
/// worker enforces. Only archives up to 8 MiB are read for it (a larger one is charged the
/// cap).
fn inflated_size(source: &str, limits: &ImportLimits) -> Option<u64> {
    if source.len() > 8 * 1024 * 1024 * 4 / 3 {
        return None;
    }
    let compact: String = source.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()?;
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).ok()?;
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).ok()?;
        total = total.saturating_add(entry.size());
    }
    Some(total.min(limits.max_inflated_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MB: u64 = 1024 * 1024;

    #[test]
    fn musicxml_costs_as_calibrated() {
        let fifty = estimate_bytes(SourceKind::MusicXml, 50 * MB) / MB;
        // The bench measured 1,285 MiB for 50.2 MiB; the estimate is above it, not far.
        assert!((1290..1450).contains(&fifty), "{fifty}");
        assert_eq!(estimate_bytes(SourceKind::MusicXml, 0) / MB, 16);
        assert!(
            estimate_bytes(SourceKind::Compact, 4 * MB)
                > estimate_bytes(SourceKind::MusicXml, 4 * MB)
        );
    }

    #[test]
    fn inline_sources_are_estimated_and_names_are_not() {
        let limits = ImportLimits::default();
        assert_eq!(of_call(&json!({"source": "bach/bwv66.6"}), &limits), None);
        assert_eq!(of_call(&json!({"score_id": "x"}), &limits), None);
        let xml = format!(
            "<?xml version=\"1.0\"?><score-partwise>{}",
            "x".repeat(MB as usize)
        );
        let cost =
            of_call(&json!({"source": xml, "source_type": "text"}), &limits).expect("inline");
        assert_eq!(cost, estimate_bytes(SourceKind::MusicXml, xml.len() as u64));
        let abc = format!("X:1\nK:C\n{}", "c".repeat(MB as usize));
        let cost = of_call(&json!({"source": abc, "format": "abc"}), &limits).expect("inline");
        assert_eq!(cost, estimate_bytes(SourceKind::Compact, abc.len() as u64));
    }

    #[test]
    fn an_mxl_is_charged_what_it_inflates_to() {
        use std::io::Write;
        let mut zipped = Vec::new();
        {
            let mut w = zip::ZipWriter::new(Cursor::new(&mut zipped));
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            w.start_file("score.xml", options).expect("entry");
            w.write_all(&vec![b'<'; 8 * MB as usize]).expect("write");
            w.finish().expect("finish");
        }
        assert!(zipped.len() < MB as usize, "compresses well");
        let source = base64::engine::general_purpose::STANDARD.encode(&zipped);
        let limits = ImportLimits::default();
        let cost =
            of_call(&json!({"source": source, "source_type": "base64"}), &limits).expect("inline");
        assert_eq!(
            cost,
            estimate_bytes(
                SourceKind::Mxl { inflated: 8 * MB },
                source.len() as u64 / 4 * 3
            )
        );
    }
}
