//! Bytes to a parsed score: decoding, unzipping .mxl under a cap, the pre-parse guards,
//! and the engine call wrapped so that a panic becomes an error.

use std::io::Read;

use music21_rs::{Stream, StreamKind};

use crate::config::ImportLimits;
use crate::error::{ToolError, ToolResult};
use crate::music::format::Format;
use crate::music::guard;

/// Runs an engine call, turning a panic into an internal error. The worker process is the
/// first line of defence against the engine; this is the second.
pub fn catch_engine<T>(what: &str, f: impl FnOnce() -> T) -> ToolResult<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        let detail = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        ToolError::internal(format!("the music engine failed while {what}: {detail}"))
    })
}

/// Decodes text as UTF-8, or UTF-16 when it starts with a byte-order mark.
pub fn decode_text(bytes: &[u8]) -> ToolResult<String> {
    let utf16 = |le: bool| -> ToolResult<String> {
        let units: Vec<u16> = bytes[2..]
            .chunks_exact(2)
            .map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16(&units).map_err(|_| ToolError::parse("the text is not valid UTF-16"))
    };
    match bytes {
        [0xFF, 0xFE, ..] => utf16(true),
        [0xFE, 0xFF, ..] => utf16(false),
        [0xEF, 0xBB, 0xBF, rest @ ..] => decode_utf8(rest),
        _ => decode_utf8(bytes),
    }
}

/// Humdrum text: UTF-8 (or UTF-16 with a byte-order mark) when it is that, else Latin-1,
/// which music21 always reads Humdrum as: 39 of the Palestrina masses in its corpus have
/// Latin-1 lyrics, and were refused as "not valid UTF-8". Every byte is a Latin-1
/// character, so this cannot fail; the guards then see the text the parser will.
pub fn decode_humdrum(bytes: &[u8]) -> ToolResult<String> {
    decode_text(bytes).or_else(|_| Ok(bytes.iter().map(|&b| char::from(b)).collect()))
}

fn decode_utf8(bytes: &[u8]) -> ToolResult<String> {
    String::from_utf8(bytes.to_vec()).map_err(|e| {
        ToolError::parse(format!(
            "the text is not valid UTF-8 (bad byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// Unpacks the MusicXML document of a compressed .mxl, following META-INF/container.xml,
/// refusing archives that inflate past `limits.max_inflated_bytes`.
pub fn unzip_mxl(bytes: &[u8], limits: &ImportLimits) -> ToolResult<String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| ToolError::parse(format!("not a readable .mxl (zip) archive: {e}")))?;
    let cap = limits.max_inflated_bytes;
    let mut read_entry = |name: &str| -> ToolResult<Vec<u8>> {
        let entry = archive
            .by_name(name)
            .map_err(|e| ToolError::parse(format!(".mxl archive: cannot open '{name}': {e}")))?;
        let mut out = Vec::new();
        // Read one byte past the cap so that "exactly at the cap" and "over it" differ.
        entry
            .take(cap + 1)
            .read_to_end(&mut out)
            .map_err(|e| ToolError::parse(format!(".mxl archive: cannot inflate '{name}': {e}")))?;
        if out.len() as u64 > cap {
            return Err(ToolError::limit(format!(
                "refused: '{name}' in the .mxl inflates past the limit limits.max_inflated_bytes = {cap}"
            )));
        }
        Ok(out)
    };
    let container = read_entry("META-INF/container.xml")?;
    let container = decode_text(&container)?;
    let rootfile = container_rootfile(&container)?;
    let document = read_entry(&rootfile)?;
    decode_text(&document)
}

/// The `full-path` of the first `<rootfile>` in an .mxl's META-INF/container.xml.
fn container_rootfile(container: &str) -> ToolResult<String> {
    use quick_xml::events::Event;
    let bad =
        |what: String| ToolError::parse(format!(".mxl archive: META-INF/container.xml {what}"));
    let mut reader = quick_xml::Reader::from_str(container);
    reader.config_mut().check_end_names = false;
    loop {
        let event = reader.read_event().map_err(|e| {
            bad(format!(
                "is not well-formed: {e}, at byte {}",
                reader.error_position()
            ))
        })?;
        match event {
            Event::Start(tag) | Event::Empty(tag) if tag.local_name().as_ref() == "rootfile" => {
                for attribute in tag.attributes().with_checks(false) {
                    let attribute = attribute
                        .map_err(|e| bad(format!("has a bad <rootfile> attribute: {e}")))?;
                    if attribute.key.local_name().as_ref() != "full-path" {
                        continue;
                    }
                    let path = attribute
                        .normalized_value(quick_xml::XmlVersion::default())
                        .map_err(|e| bad(format!("has a bad rootfile full-path: {e}")))?;
                    if path.trim().is_empty() {
                        return Err(bad("names an empty rootfile full-path".into()));
                    }
                    return Ok(path.into_owned());
                }
            }
            Event::Eof => return Err(bad("names no rootfile full-path".into())),
            _ => {}
        }
    }
}

/// Parses a score. For ABC, `tune` picks a tune (`X:` number) of a multi-tune file; by
/// default the first tune is read, as music21's corpus does.
pub fn parse_score(
    bytes: &[u8],
    format: Format,
    tune: Option<i64>,
    limits: &ImportLimits,
) -> ToolResult<Stream> {
    guard::check_size(bytes, format, limits)?;
    let stream = match format {
        Format::Midi => catch_engine("reading MIDI", || music21_rs::from_midi(bytes))?
            .map_err(|e| ToolError::parse(format!("cannot read MIDI: {e}")))?,
        Format::Mxl => {
            let text = unzip_mxl(bytes, limits)?;
            parse_text(&text, Format::Musicxml, tune, limits)?
        }
        Format::Humdrum => {
            let text = decode_humdrum(bytes)?;
            parse_text(&text, format, tune, limits)?
        }
        _ => {
            let text = decode_text(bytes)?;
            parse_text(&text, format, tune, limits)?
        }
    };
    into_score(stream)
}

fn parse_text(
    text: &str,
    format: Format,
    tune: Option<i64>,
    limits: &ImportLimits,
) -> ToolResult<Stream> {
    if format == Format::Musicxml && text.len() as u64 > limits.max_source_bytes {
        return Err(ToolError::limit(format!(
            "refused before parsing: the MusicXML text is {} bytes, over the limit limits.max_source_bytes = {}",
            text.len(),
            limits.max_source_bytes
        )));
    }
    guard::check_text(text, format, limits)?;
    let result = match format {
        Format::Musicxml => catch_engine("reading MusicXML", || {
            music21_rs::musicxml::from_musicxml(text)
        })?,
        Format::Abc => {
            let tunes = abc_tune_numbers(text);
            let number = match tune {
                Some(n) => {
                    if !tunes.is_empty() && !tunes.contains(&n) {
                        return Err(ToolError::not_found(format!(
                            "tune {n} is not in this ABC file; its tunes are X: {}",
                            join_numbers(&tunes)
                        )));
                    }
                    Some(n)
                }
                None if tunes.len() > 1 => Some(tunes[0]),
                None => None,
            };
            match number {
                Some(n) => catch_engine("reading ABC", || {
                    music21_rs::from_abc_number(text, n as music21_rs::IntegerType)
                })?,
                None => catch_engine("reading ABC", || music21_rs::from_abc(text))?,
            }
        }
        Format::Humdrum => catch_engine("reading Humdrum", || {
            music21_rs::humdrum::from_humdrum(text)
        })?,
        Format::Tinynotation => catch_engine("reading tinyNotation", || {
            music21_rs::tinynotation::from_tiny_notation(text)
        })?,
        Format::Mxl | Format::Midi => unreachable!("binary formats are handled by parse_score"),
    };
    result.map_err(|e| ToolError::parse(format!("cannot read {format}: {e}")))
}

/// The `X:` numbers of an ABC file, in order.
pub fn abc_tune_numbers(text: &str) -> Vec<i64> {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix("X:"))
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}

fn join_numbers(numbers: &[i64]) -> String {
    numbers
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Makes every parse a Score: a bare Part (tinyNotation, some ABC) goes into one; an Opus
/// gives its first score.
fn into_score(stream: Stream) -> ToolResult<Stream> {
    match stream.kind() {
        StreamKind::Score => Ok(stream),
        StreamKind::Opus => stream
            .streams_of_kind(StreamKind::Score)
            .first()
            .map(|s| (*s).clone())
            .ok_or_else(|| ToolError::parse("the file holds a collection with no score in it")),
        StreamKind::Part | StreamKind::PartStaff => {
            let mut score = Stream::with_kind(StreamKind::Score);
            if let Some(md) = stream.metadata().cloned() {
                score.set_metadata(Some(md));
            }
            score.insert(0.0, stream);
            Ok(score)
        }
        _ => {
            let mut part = stream;
            part.set_kind(StreamKind::Part);
            let mut score = Stream::with_kind(StreamKind::Score);
            score.insert(0.0, part);
            Ok(score)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humdrum_in_latin1_is_read_as_music21_reads_it() {
        let kern = |comment: &[u8]| {
            let mut text = b"!!!OTL: Kyrie\n!! ".to_vec();
            text.extend_from_slice(comment);
            text.extend_from_slice(b"\n**kern\n*M4/4\n=1\n4c\n4d\n4e\n4f\n==\n*-\n");
            text
        };
        let limits = ImportLimits::default();
        // "eleison" with a Latin-1 e-grave (one byte, not UTF-8), and with the UTF-8 one.
        for comment in [&b"el\xe8ison"[..], "el\u{e8}ison".as_bytes()] {
            let score = parse_score(&kern(comment), Format::Humdrum, None, &limits)
                .expect("a Humdrum file in Latin-1 or UTF-8");
            assert_eq!(crate::music::summary::summarize(&score, None).notes, 4);
        }
        assert_eq!(decode_humdrum(b"el\xe8ison").unwrap(), "el\u{e8}ison");
        // Other text formats stay strict: a wrong byte is an error that says where.
        let err = parse_score(
            b"tinyNotation: 4/4 c4 \xe8",
            Format::Tinynotation,
            None,
            &limits,
        )
        .unwrap_err();
        assert!(err.message.contains("not valid UTF-8"), "{}", err.message);
    }

    #[test]
    fn tiny_notation_becomes_a_one_part_score() {
        let s = parse_score(
            b"tinyNotation: 4/4 c4 d e f g1",
            Format::Tinynotation,
            None,
            &ImportLimits::default(),
        )
        .unwrap();
        assert_eq!(s.kind(), StreamKind::Score);
        assert_eq!(s.parts().len(), 1);
    }

    #[test]
    fn multi_tune_abc_takes_a_tune_number() {
        let text = "X:1\nT:One\nL:1/4\nK:C\nCDEF|\n\nX:2\nT:Two\nL:1/4\nK:G\nGABc|d4|\n";
        let first =
            parse_score(text.as_bytes(), Format::Abc, None, &ImportLimits::default()).unwrap();
        let second = parse_score(
            text.as_bytes(),
            Format::Abc,
            Some(2),
            &ImportLimits::default(),
        )
        .unwrap();
        assert_eq!(first.pitches().len(), 4);
        assert_eq!(second.pitches().len(), 5);
        let err = parse_score(
            text.as_bytes(),
            Format::Abc,
            Some(7),
            &ImportLimits::default(),
        )
        .unwrap_err();
        assert!(
            err.message.contains("tune 7") && err.message.contains("1, 2"),
            "{}",
            err.message
        );
    }

    #[test]
    fn bad_utf8_is_a_clear_error() {
        let err = parse_score(
            b"X:1\nK:C\n\xff\xfeCDE",
            Format::Abc,
            None,
            &ImportLimits::default(),
        )
        .unwrap_err();
        assert!(err.message.contains("UTF-8"), "{}", err.message);
    }

    /// An .mxl of `container` and a file at each of `paths` holding its own path.
    fn mxl(container: &str, paths: &[&str]) -> Vec<u8> {
        use std::io::Write;
        let mut buf = std::io::Cursor::new(Vec::new());
        let mut w = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default();
        w.start_file("META-INF/container.xml", opts).unwrap();
        w.write_all(container.as_bytes()).unwrap();
        for path in paths {
            w.start_file(*path, opts).unwrap();
            w.write_all(path.as_bytes()).unwrap();
        }
        w.finish().unwrap();
        buf.into_inner()
    }

    #[test]
    fn the_container_names_its_rootfile_however_written() {
        let files = [
            "s.xml",
            "a b/s.xml",
            "a&b.xml",
            "yes.xml",
            "no.xml",
            "2.xml",
        ];
        for (container, path) in [
            ("<container><rootfiles><rootfile full-path=\"s.xml\"/></rootfiles></container>", "s.xml"),
            ("<container><rootfiles><rootfile\n full-path = 'a b/s.xml'\tmedia-type=\"x\"/></rootfiles></container>", "a b/s.xml"),
            ("<?xml version=\"1.0\"?><c:container xmlns:c=\"urn:x\"><c:rootfile c:full-path=\"a&amp;b.xml\"></c:rootfile></c:container>", "a&b.xml"),
            // The first rootfile is the score; another element's full-path is not it.
            ("<container><other full-path=\"no.xml\"/><rootfile full-path=\"yes.xml\"/><rootfile full-path=\"2.xml\"/></container>", "yes.xml"),
        ] {
            let text = unzip_mxl(&mxl(container, &files), &ImportLimits::default());
            assert_eq!(text.as_deref(), Ok(path), "{container}");
        }
        for container in [
            "<container><rootfiles/></container>",
            "<container><rootfile path=\"s.xml\"/></container>",
            "<container><rootfile full-path=\"\"/></container>",
            "<container><rootfile full-path=\"s.xml/></container>",
            "not xml",
        ] {
            let err = unzip_mxl(&mxl(container, &files), &ImportLimits::default()).unwrap_err();
            assert_eq!(err.kind, crate::error::ErrorKind::Parse, "{container}");
            assert!(
                err.message.contains("META-INF/container.xml"),
                "{}",
                err.message
            );
        }
    }

    #[test]
    fn zip_bomb_refused() {
        use std::io::Write;
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut w = zip::ZipWriter::new(&mut buf);
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            w.start_file("META-INF/container.xml", opts).unwrap();
            w.write_all(
                b"<container><rootfiles><rootfile full-path=\"s.xml\"/></rootfiles></container>",
            )
            .unwrap();
            w.start_file("s.xml", opts).unwrap();
            let zeros = vec![b' '; 1 << 20];
            for _ in 0..3 {
                w.write_all(&zeros).unwrap();
            }
            w.finish().unwrap();
        }
        let limits = ImportLimits {
            max_inflated_bytes: 1 << 20,
            ..ImportLimits::default()
        };
        let err = parse_score(buf.get_ref(), Format::Mxl, None, &limits).unwrap_err();
        assert!(
            err.message.contains("max_inflated_bytes"),
            "{}",
            err.message
        );
    }
}
