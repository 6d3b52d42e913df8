//! Cheap checks made before the engine parses anything.
//!
//! The engine hangs or allocates without bound on some inputs (docs/ENGINE-NOTES.md in the
//! shared docs): a huge `<fifths>`, thousands of parts or ABC voices, runaway ABC nesting or
//! note lengths, Humdrum spine splits, very large compact formats. An allocation failure
//! aborts the process and cannot be caught, so these are refused up front, each with an
//! error that names the limit (a config key under `[limits]`) that was hit.
//!
//! MusicXML is checked as XML, never as bytes: quick-xml tokenizes it once, streaming, and
//! each piece of markup is checked to end where the engine's own small reader
//! (music21-rs `src/xml.rs`) would end it, so that the elements counted here are the ones the
//! engine builds; a document the two would read differently is refused as not well-formed.
//! A `<fifths>` is read as the engine reads it: its text, CDATA and references up to its first
//! child, comments and processing instructions skipped, then its `parse_int`.

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

/// How deeply the engine's XML reader lets elements nest, the root counted as one
/// (music21-rs `xml::MAX_DEPTH`, private there). Deeper documents are refused by the engine
/// too; refusing them here keeps quick-xml's stack of open names small.
const ENGINE_MAX_DEPTH: usize = 256;

/// The longest `<fifths>` value read as a number, after an optional sign: longer ones are
/// taken to be over any limit (the engine saturates them to `i32::MAX` or reads them as 0).
const MAX_NUMBER_DIGITS: usize = 18;

/// How many bytes the engine's unescaping may search through for `;`s, in all: it searches
/// afresh after each `&` that does not start a reference, so that a text of `&`s costs it
/// time quadratic in its length (400 kB take it 6 s). About a tenth of a second.
const MAX_UNESCAPE_COST: u64 = 1 << 30;

fn malformed(what: impl std::fmt::Display, at: usize) -> ToolError {
    ToolError::parse(format!(
        "the MusicXML is not well-formed: {what}, at byte {at}"
    ))
}

/// A piece of markup as quick-xml delimits it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Markup {
    Start,
    Empty,
    End,
    Comment,
    CData,
    Pi,
    DocType,
}

/// Walks the document once with quick-xml, checking that every piece of markup is delimited
/// the way the engine's own reader (music21-rs `src/xml.rs`) delimits it, so that both see
/// the same elements; counts parts; reads each `<fifths>` the way the engine reads it.
fn check_musicxml(text: &str, limits: &ImportLimits) -> ToolResult<()> {
    // decode_text takes one byte-order mark off; quick-xml would drop another one without
    // counting its bytes, and the engine refuses it anyway.
    let (base, body) = match text.strip_prefix('\u{feff}') {
        Some(rest) => ("\u{feff}".len(), rest),
        None => (0, text),
    };
    if body.starts_with('\u{feff}') {
        return Err(malformed("a second byte-order mark", base));
    }
    let mut reader = quick_xml::Reader::from_str(body);
    {
        let config = reader.config_mut();
        // The engine does not name-check end tags, and leaves a lone `&` as it is.
        config.check_end_names = false;
        config.allow_dangling_amp = true;
    }
    let mut depth = 0usize;
    let mut score_parts = 0usize;
    let mut top_parts = 0usize;
    // The `<fifths>` whose text is being read: open, no child element yet.
    let mut fifths: Option<NumberText> = None;
    // Where the text since the last markup starts.
    let mut text_from = 0usize;
    let mut unescape_cost = 0u64;
    loop {
        let at = reader.buffer_position() as usize;
        let event = reader
            .read_event()
            .map_err(|e| malformed(format_args!("{e}"), base + reader.error_position() as usize))?;
        let end = reader.buffer_position() as usize;
        let kind = match &event {
            quick_xml::events::Event::Text(_) | quick_xml::events::Event::GeneralRef(_) => {
                continue;
            }
            quick_xml::events::Event::Eof => {
                return Err(if depth == 0 {
                    malformed("there is no root element", base + end)
                } else {
                    malformed("the document ends inside an open element", base + end)
                });
            }
            quick_xml::events::Event::Start(_) => Markup::Start,
            quick_xml::events::Event::Empty(_) => Markup::Empty,
            quick_xml::events::Event::End(_) => Markup::End,
            quick_xml::events::Event::Comment(_) => Markup::Comment,
            quick_xml::events::Event::CData(_) => Markup::CData,
            quick_xml::events::Event::Decl(_) | quick_xml::events::Event::PI(_) => Markup::Pi,
            quick_xml::events::Event::DocType(_) => Markup::DocType,
        };
        let raw = body.get(at..end).unwrap_or("");
        let name = match engine_reads(raw, depth == 0, &mut unescape_cost) {
            Some((engine_kind, name)) if engine_kind == kind => name,
            _ => {
                return Err(malformed(
                    format_args!(
                        "the markup `{}` is delimited differently by the music engine's XML reader",
                        truncate(raw, 40)
                    ),
                    base + at,
                ));
            }
        };
        let text = &body[text_from..at];
        if let Some(value) = fifths.as_mut() {
            unescape_cost += engine_unescape(text, |piece| value.push(piece));
            if kind == Markup::CData {
                value.push(&raw["<![CDATA[".len()..raw.len() - "]]>".len()]);
            }
        } else if depth > 0 && text.as_bytes().contains(&b'&') {
            unescape_cost += engine_unescape(text, |_| {});
        }
        if unescape_cost > MAX_UNESCAPE_COST {
            return Err(malformed(
                "so many `&` stand without a reference after them (XML wants `&amp;`) that \
                 the engine's reader would spend too long on them (it searches for a `;` \
                 afresh after each)",
                base + at,
            ));
        }
        text_from = end;
        match kind {
            Markup::Start | Markup::Empty => {
                if let Some(value) = fifths.take() {
                    value.check(limits)?;
                }
                if depth + 1 > ENGINE_MAX_DEPTH {
                    return Err(malformed(
                        format_args!("elements are nested more than {ENGINE_MAX_DEPTH} deep"),
                        base + at,
                    ));
                }
                let local = name.rsplit(':').next().unwrap_or(name);
                match local {
                    "score-part" => score_parts += 1,
                    // The engine reads the root's `<part>` children as parts.
                    "part" if depth == 1 => top_parts += 1,
                    "fifths" if kind == Markup::Start => fifths = Some(NumberText::default()),
                    _ => {}
                }
                if kind == Markup::Start {
                    depth += 1;
                } else if depth == 0 {
                    break;
                }
            }
            Markup::End => {
                if let Some(value) = fifths.take() {
                    value.check(limits)?;
                }
                depth -= 1;
                if depth == 0 {
                    // The engine reads nothing after the root element.
                    break;
                }
            }
            Markup::Comment | Markup::CData | Markup::Pi | Markup::DocType => {}
        }
    }
    for (what, count) in [
        ("the number of parts", score_parts),
        ("the number of <part> elements", top_parts),
    ] {
        if count > limits.max_parts {
            return Err(over(what, count, "max_parts", limits.max_parts));
        }
    }
    Ok(())
}

/// How the engine's reader reads `raw`, a piece of markup as quick-xml delimited it (from
/// its `<` to its `>`): its kind, and for an element its name; `None` where the engine would
/// end it elsewhere or fail on it. `prolog`: before the root element. Adds the engine's cost
/// of unescaping attribute values to `cost`.
fn engine_reads<'a>(raw: &'a str, prolog: bool, cost: &mut u64) -> Option<(Markup, &'a str)> {
    if !raw.starts_with('<') {
        return None;
    }
    let ends_at = |found: Option<usize>, tail: &str| {
        (found.map(|i| i + tail.len()) == Some(raw.len())).then_some(())
    };
    if !prolog && raw.starts_with("</") {
        ends_at(raw.find('>'), ">")?;
        return Some((Markup::End, ""));
    }
    if raw.starts_with("<!--") {
        // Searched from the `<`, as the engine does: `<!-->` is a whole comment to it.
        ends_at(raw.find("-->"), "-->")?;
        return Some((Markup::Comment, ""));
    }
    if !prolog && raw.starts_with("<![CDATA[") {
        let from = "<![CDATA[".len();
        ends_at(raw[from..].find("]]>").map(|i| i + from), "]]>")?;
        return Some((Markup::CData, ""));
    }
    if raw.starts_with("<?") {
        ends_at(raw.find("?>"), "?>")?;
        return Some((Markup::Pi, ""));
    }
    if prolog && raw.starts_with("<!DOCTYPE") {
        // The engine skips a doctype counting brackets, blind to quotes and comments.
        let mut brackets = 0usize;
        let close = raw.bytes().enumerate().find_map(|(i, b)| {
            match b {
                b'[' => brackets += 1,
                b']' => brackets = brackets.saturating_sub(1),
                b'>' if brackets == 0 => return Some(i),
                _ => {}
            }
            None
        });
        ends_at(close, ">")?;
        return Some((Markup::DocType, ""));
    }
    engine_start_tag(raw, cost)
}

/// The engine's reading of a start tag: names end at whitespace (Unicode's), `>`, `/` or `=`;
/// each attribute is a name, `=`, and a quoted value.
fn engine_start_tag<'a>(raw: &'a str, cost: &mut u64) -> Option<(Markup, &'a str)> {
    let len = engine_name_len(&raw[1..]).filter(|len| *len > 0)?;
    let name = &raw[1..1 + len];
    let mut i = 1 + len;
    loop {
        i += engine_space_len(&raw[i..]);
        let rest = &raw.as_bytes()[i..];
        if rest.starts_with(b"/>") {
            return (i + 2 == raw.len()).then_some((Markup::Empty, name));
        }
        if rest.starts_with(b">") {
            return (i + 1 == raw.len()).then_some((Markup::Start, name));
        }
        i += engine_name_len(&raw[i..]).filter(|len| *len > 0)?;
        i += engine_space_len(&raw[i..]);
        raw[i..].strip_prefix('=')?;
        i += 1;
        i += engine_space_len(&raw[i..]);
        let quote = *raw
            .as_bytes()
            .get(i)
            .filter(|q| matches!(q, b'"' | b'\''))?;
        i += 1;
        let value = &raw[i..i + raw[i..].find(quote as char)?];
        if value.contains('&') {
            *cost += engine_unescape(value, |_| {});
        }
        i += value.len() + 1;
    }
}

/// Whether the character starting at byte `i` of `text` is whitespace (Unicode's, as the
/// engine's `char::is_whitespace` and `trim_start` take it), with its length.
fn whitespace_at(text: &str, i: usize) -> (bool, usize) {
    let b = text.as_bytes()[i];
    if b < 0x80 {
        (matches!(b, b'\t'..=b'\r' | b' '), 1)
    } else {
        let c = text[i..].chars().next().unwrap_or('\0');
        (c.is_whitespace(), c.len_utf8())
    }
}

/// The length of the name at the start of `text` as the engine reads names: up to
/// whitespace, `>`, `/` or `=`; `None` where nothing ends it.
fn engine_name_len(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if matches!(bytes[i], b'>' | b'/' | b'=') {
            return Some(i);
        }
        let (space, len) = whitespace_at(text, i);
        if space {
            return Some(i);
        }
        i += len;
    }
    None
}

/// The length of the whitespace at the start of `text`.
fn engine_space_len(text: &str) -> usize {
    let mut i = 0;
    while i < text.len() {
        let (space, len) = whitespace_at(text, i);
        if !space {
            break;
        }
        i += len;
    }
    i
}

/// The engine's `unescape` (music21-rs `src/xml.rs`) of one run of text between two pieces
/// of markup, handed out in pieces: the five predefined entities and decimal or hex
/// character references (as `u32` parses them, so `&#+49;` is `1`) are read; anything else
/// after a `&`, an unknown entity among them, stays as written. In linear time, where the
/// engine searches for the next `;` afresh after each `&`: returns how many bytes those
/// searches of the engine's go through, its cost in time.
fn engine_unescape(text: &str, mut out: impl FnMut(&str)) -> u64 {
    let mut cost = 0u64;
    let mut rest = text;
    // Where the first `;` after the last `&` tried is in `rest`, once searched for.
    let mut semicolon: Option<usize> = None;
    while let Some(start) = rest.find('&') {
        out(&rest[..start]);
        let end = match semicolon.filter(|found| *found > start) {
            Some(found) => found - start,
            None => match rest[start..].find(';') {
                Some(found) => found,
                None => {
                    rest = &rest[start..];
                    cost += rest.len() as u64;
                    break;
                }
            },
        };
        cost += end as u64;
        rest = &rest[start..];
        let reference = &rest[1..end];
        let read = match reference {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => reference
                .strip_prefix("#x")
                .or_else(|| reference.strip_prefix("#X"))
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| reference.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match read {
            Some(character) => {
                out(character.encode_utf8(&mut [0; 4]));
                rest = &rest[end + 1..];
                semicolon = None;
            }
            None => {
                out("&");
                rest = &rest[1..];
                semicolon = Some(end - 1);
            }
        }
    }
    out(rest);
    cost
}

/// The longest prefix of `text` at most `max` bytes long.
fn prefix(text: &str, max: usize) -> &str {
    let mut cut = max.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

/// The text of a `<fifths>` as the engine's `stripped()` gives it, pushed in pieces and kept
/// small: past [`MAX_NUMBER_DIGITS`] it is only known to be too long.
#[derive(Default)]
struct NumberText {
    /// From the first non-whitespace to the last one yet.
    value: String,
    /// The whitespace after `value` (while short), and its length in bytes.
    space: String,
    space_len: usize,
    too_long: bool,
}

impl NumberText {
    fn push(&mut self, piece: &str) {
        if self.too_long {
            return;
        }
        let piece = if self.value.is_empty() {
            piece.trim_start()
        } else {
            piece
        };
        let body = piece.trim_end();
        if !body.is_empty() {
            let signed = if self.value.is_empty() {
                body
            } else {
                &self.value
            }
            .starts_with(['+', '-']);
            let len = self.value.len() + self.space_len + body.len() - usize::from(signed);
            self.value.push_str(&self.space);
            self.space.clear();
            self.space_len = 0;
            if len > MAX_NUMBER_DIGITS {
                // Keep a little of it for the message.
                let room = (MAX_NUMBER_DIGITS + 1).saturating_sub(self.value.len());
                self.value.push_str(prefix(body, room));
                self.too_long = true;
                return;
            }
            self.value.push_str(body);
        }
        if !self.value.is_empty() {
            let trail = &piece[body.len()..];
            self.space_len += trail.len();
            // Longer, it can only be followed by a value too long.
            if self.space.len() + trail.len() <= MAX_NUMBER_DIGITS + 1 {
                self.space.push_str(trail);
            }
        }
    }

    /// The value as the engine's `parse_int` reads it (an `i32`, or failing that a float with
    /// no fraction, saturated), `None` where it reads none (and takes 0 sharps).
    fn engine_value(&self) -> Option<i64> {
        let text = self.value.trim();
        text.parse::<i32>()
            .ok()
            .or_else(|| {
                text.parse::<f64>()
                    .ok()
                    .filter(|value| value.fract() == 0.0)
                    .map(|value| value as i32)
            })
            .map(i64::from)
    }

    fn check(self, limits: &ImportLimits) -> ToolResult<()> {
        if self.too_long {
            return Err(over(
                "a <fifths> value",
                format!("{}… (over {MAX_NUMBER_DIGITS} digits long)", self.value),
                "max_fifths",
                limits.max_fifths,
            ));
        }
        match self.engine_value() {
            Some(value) if value.abs() > limits.max_fifths => Err(over(
                "a <fifths> value",
                &self.value,
                "max_fifths",
                limits.max_fifths,
            )),
            _ => Ok(()),
        }
    }
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
        let mut chars = music.chars().peekable();
        let mut previous = None;
        while let Some(c) = chars.next() {
            let next = chars.peek().copied();
            match c {
                // Not groups, though they open with a bracket: a tuplet `(3abc`, a volta
                // `[1`, a thick barline `[|` (and its `|]`). Counted as groups they made
                // every tune with a few triplets "too deeply nested" (22 of music21's ABC
                // files were refused).
                '(' if next.is_some_and(|n| n.is_ascii_digit()) => {}
                '[' if next.is_some_and(|n| n.is_ascii_digit() || n == '|') => {}
                ']' if previous == Some('|') => {}
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
            previous = Some(c);
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
mod tests;
