//! Cheap checks made before the engine parses anything.
//!
//! The engine hangs or allocates without bound on some inputs (docs/ENGINE-NOTES.md in the
//! shared docs): a huge `<fifths>`, thousands of parts or ABC voices, runaway ABC nesting or
//! note lengths, Humdrum spine splits, very large compact formats. An allocation failure
//! aborts the process and cannot be caught, so these are refused up front, each with an
//! error that names the limit (a config key under `[limits]`) that was hit.

use crate::config::ImportLimits;
use crate::error::{ToolError, ToolResult};
use crate::music::format::Format;

fn over(
    what: &str,
    found: impl std::fmt::Display,
    key: &str,
    limit: impl std::fmt::Display,
) -> ToolError {
    ToolError::limit(format!(
        "refused before parsing: {what} is {found}, over the limit limits.{key} = {limit}"
    ))
}

/// Checks raw bytes of any format (for .mxl, the compressed size; the inflated size is
/// checked while unzipping).
pub fn check_size(bytes: &[u8], format: Format, limits: &ImportLimits) -> ToolResult<()> {
    let len = bytes.len() as u64;
    if len == 0 {
        return Err(ToolError::parse("the score is empty (0 bytes)"));
    }
    if len > limits.max_source_bytes {
        return Err(over(
            "the source size in bytes",
            len,
            "max_source_bytes",
            limits.max_source_bytes,
        ));
    }
    let compact = matches!(
        format,
        Format::Abc | Format::Humdrum | Format::Tinynotation | Format::Midi
    );
    if compact && len > limits.max_compact_format_bytes {
        return Err(over(
            &format!("the size of this {format} source in bytes"),
            len,
            "max_compact_format_bytes",
            limits.max_compact_format_bytes,
        ));
    }
    if format == Format::Midi {
        check_midi(bytes, limits)?;
    }
    Ok(())
}

/// Checks decoded text of a text format.
pub fn check_text(text: &str, format: Format, limits: &ImportLimits) -> ToolResult<()> {
    match format {
        Format::Musicxml => check_musicxml(text, limits),
        Format::Abc => check_abc(text, limits),
        Format::Humdrum => check_humdrum(text, limits),
        Format::Tinynotation => check_tinynotation(text, limits),
        Format::Mxl | Format::Midi => Ok(()),
    }
}

fn check_musicxml(text: &str, limits: &ImportLimits) -> ToolResult<()> {
    for (i, _) in text.match_indices("<fifths>") {
        let rest = &text[i + "<fifths>".len()..];
        let value = rest.split('<').next().unwrap_or("").trim();
        let digits = value.trim_start_matches(['-', '+']);
        // Any number too long to parse is certainly over the limit.
        let magnitude = if digits.len() > 18 {
            i64::MAX
        } else {
            digits.parse::<i64>().map(i64::abs).unwrap_or(0)
        };
        if magnitude > limits.max_fifths {
            return Err(over(
                "a <fifths> value",
                value,
                "max_fifths",
                limits.max_fifths,
            ));
        }
    }
    let parts = text.matches("<score-part ").count() + text.matches("<score-part>").count();
    if parts > limits.max_parts {
        return Err(over(
            "the number of parts",
            parts,
            "max_parts",
            limits.max_parts,
        ));
    }
    Ok(())
}

fn is_abc_field(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic() && b[0] != b'|'
}

/// The music of an ABC line: comments, quoted text and `!decorations!` removed.
fn abc_music(line: &str) -> String {
    let line = line.split('%').next().unwrap_or("");
    let mut out = String::with_capacity(line.len());
    let mut in_quote = false;
    let mut in_deco = false;
    for c in line.chars() {
        match c {
            '"' if !in_deco => in_quote = !in_quote,
            '!' if !in_quote => in_deco = !in_deco,
            _ if in_quote || in_deco => {}
            _ => out.push(c),
        }
    }
    out
}

fn check_abc(text: &str, limits: &ImportLimits) -> ToolResult<()> {
    let mut voices = 0usize;
    let mut depth = 0usize;
    let mut max_depth = 0usize;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("X:") {
            // Each tune is its own piece; counts start again.
            voices = 0;
            depth = 0;
        }
        if trimmed.starts_with("V:") {
            voices += 1;
        }
        voices += trimmed.matches("[V:").count();
        if voices > limits.max_abc_voices {
            return Err(over(
                "the number of V: voices in one tune",
                voices,
                "max_abc_voices",
                limits.max_abc_voices,
            ));
        }
        if is_abc_field(trimmed) {
            continue;
        }
        let music = abc_music(trimmed);
        let mut digits = 0usize;
        for c in music.chars() {
            match c {
                '(' | '[' | '{' => {
                    depth += 1;
                    max_depth = max_depth.max(depth);
                }
                ')' | ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
            if c.is_ascii_digit() {
                digits += 1;
                if digits > limits.max_abc_length_digits {
                    return Err(over(
                        "a number in the music (a note length or repeat)",
                        format!("{digits}+ digits long"),
                        "max_abc_length_digits",
                        limits.max_abc_length_digits,
                    ));
                }
            } else {
                digits = 0;
            }
        }
        if max_depth > limits.max_abc_nesting {
            return Err(over(
                "the nesting depth of ( [ {",
                max_depth,
                "max_abc_nesting",
                limits.max_abc_nesting,
            ));
        }
    }
    Ok(())
}

fn check_humdrum(text: &str, limits: &ImportLimits) -> ToolResult<()> {
    for line in text.lines() {
        if line.starts_with("!!") {
            continue;
        }
        let spines = line.split('\t').count();
        if spines > limits.max_humdrum_spines {
            return Err(over(
                "the number of spines open at once",
                spines,
                "max_humdrum_spines",
                limits.max_humdrum_spines,
            ));
        }
        // A line of splits opens twice as many spines on the next line.
        let splits = line.split('\t').filter(|f| *f == "*^").count();
        if spines + splits > limits.max_humdrum_spines {
            return Err(over(
                "the number of spines after a *^ split",
                spines + splits,
                "max_humdrum_spines",
                limits.max_humdrum_spines,
            ));
        }
        if let Some(k) = line.split('\t').find(|f| f.starts_with("*k[")) {
            let accidentals = k.matches(['#', '-']).count() as i64;
            if accidentals > limits.max_fifths {
                return Err(over(
                    "the number of accidentals in a key signature",
                    accidentals,
                    "max_fifths",
                    limits.max_fifths,
                ));
            }
        }
    }
    Ok(())
}

fn check_tinynotation(text: &str, limits: &ImportLimits) -> ToolResult<()> {
    for token in text.split_whitespace() {
        // Time signatures (3/4) are the only tokens whose numbers are free.
        if token.contains('/') {
            continue;
        }
        let longest = token
            .split(|c: char| !c.is_ascii_digit())
            .map(str::len)
            .max()
            .unwrap_or(0);
        if longest > limits.max_abc_length_digits {
            return Err(over(
                &format!("a note length in token `{}`", truncate(token, 20)),
                format!("{longest} digits long"),
                "max_abc_length_digits",
                limits.max_abc_length_digits,
            ));
        }
    }
    Ok(())
}

fn check_midi(bytes: &[u8], limits: &ImportLimits) -> ToolResult<()> {
    if bytes.len() < 14 || &bytes[..4] != b"MThd" {
        return Err(ToolError::parse(
            "not a Standard MIDI File: it does not start with an MThd header of 14 bytes",
        ));
    }
    let tracks = u16::from_be_bytes([bytes[10], bytes[11]]) as usize;
    if tracks > limits.max_midi_tracks {
        return Err(over(
            "the number of MIDI tracks",
            tracks,
            "max_midi_tracks",
            limits.max_midi_tracks,
        ));
    }
    Ok(())
}

pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ImportLimits {
        ImportLimits::default()
    }

    #[test]
    fn absurd_fifths_refused_naming_the_limit() {
        let xml = "<score-partwise><part-list><score-part id=\"P1\"/></part-list><key><fifths>10000000</fifths></key>";
        let err = check_text(xml, Format::Musicxml, &limits()).unwrap_err();
        assert!(err.message.contains("limits.max_fifths"), "{}", err.message);
        let ok = "<score-part id=\"P1\"><key><fifths>-7</fifths></key>";
        check_text(ok, Format::Musicxml, &limits()).unwrap();
    }

    #[test]
    fn thousands_of_parts_refused() {
        let xml = "<score-part id=\"P\"></score-part>".repeat(2000);
        let err = check_text(&xml, Format::Musicxml, &limits()).unwrap_err();
        assert!(err.message.contains("limits.max_parts"));
    }

    #[test]
    fn abc_voices_nesting_and_lengths_refused() {
        let voices: String = (0..2000).map(|i| format!("V:{i}\nC|\n")).collect();
        let err = check_text(&format!("X:1\nK:C\n{voices}"), Format::Abc, &limits()).unwrap_err();
        assert!(err.message.contains("max_abc_voices"));
        let nest = format!("X:1\nK:C\n{}C", "(".repeat(500));
        let err = check_text(&nest, Format::Abc, &limits()).unwrap_err();
        assert!(err.message.contains("max_abc_nesting"));
        let long = "X:1\nL:1/16\nK:C\na |c99999999|\n";
        let err = check_text(long, Format::Abc, &limits()).unwrap_err();
        assert!(err.message.contains("max_abc_length_digits"));
        check_text(
            "X:1\nT:Tune 12345\nK:C\n\"C7\"C2 D/2 (3EFG [CEG]4|]",
            Format::Abc,
            &limits(),
        )
        .unwrap();
    }

    #[test]
    fn humdrum_spine_splits_refused() {
        let mut text = String::from("**kern\n");
        let mut spines = 1;
        while spines < 100 {
            text.push_str(&vec!["*^"; spines].join("\t"));
            text.push('\n');
            spines *= 2;
        }
        let err = check_text(&text, Format::Humdrum, &limits()).unwrap_err();
        assert!(err.message.contains("max_humdrum_spines"));
    }

    #[test]
    fn oversized_compact_formats_refused() {
        let big = vec![b'a'; 5 * 1024 * 1024];
        let err = check_size(&big, Format::Abc, &limits()).unwrap_err();
        assert!(err.message.contains("max_compact_format_bytes"));
        check_size(&big, Format::Musicxml, &limits()).unwrap();
        let err = check_size(b"", Format::Abc, &limits()).unwrap_err();
        assert!(err.message.contains("empty"));
    }

    #[test]
    fn midi_track_count_checked() {
        let mut header = b"MThd\0\0\0\x06\0\x01".to_vec();
        header.extend_from_slice(&60000u16.to_be_bytes());
        header.extend_from_slice(&[0, 96]);
        let err = check_size(&header, Format::Midi, &limits()).unwrap_err();
        assert!(err.message.contains("max_midi_tracks"));
        let err = check_size(b"MThd", Format::Midi, &limits()).unwrap_err();
        assert!(err.message.contains("MThd"));
    }
}
