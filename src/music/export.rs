//! Writing a score out: MusicXML (working out its notation first when the format it came
//! from left measures and ties unsaid), .mxl, MIDI, ABC and LilyPond, each through the
//! engine with its panics caught.

use std::io::Write;

use music21_rs::{Stream, StreamElement};

use crate::error::{ToolError, ToolResult};
use crate::music::parse::catch_engine;

/// Whether export must work out notation first: scores read from formats that leave
/// measures, ties and beams unsaid (MIDI, ABC, tinyNotation, Humdrum).
fn needs_notation(format: &str) -> bool {
    !matches!(format, "musicxml" | "mxl")
}

/// A part whose notes run past their barline (tinyNotation writes them so) comes out of the
/// engine's notation pass with its tie in the wrong place; such a part is handed over
/// without measures, to be barred afresh. Parts that fit their measures are left as written,
/// so pickups keep their place.
fn rebar_overhanging_parts(score: &Stream) -> std::borrow::Cow<'_, Stream> {
    let overhangs = |part: &Stream| {
        let mut meter: Option<f64> = None;
        part.measures().iter().any(|m| {
            for e in m.events() {
                if let StreamElement::TimeSignature(ts) = e.element() {
                    meter = Some(ts.bar_duration().quarter_length());
                }
            }
            let bar = meter.unwrap_or(f64::INFINITY);
            m.events().iter().any(|e| {
                e.element().is_note_or_chord()
                    && e.offset() + e.element().quarter_length() > bar + 1e-9
            })
        })
    };
    let parts = score.parts();
    if !parts.iter().any(|p| overhangs(p)) {
        return std::borrow::Cow::Borrowed(score);
    }
    let mut rebuilt = Stream::with_kind(music21_rs::StreamKind::Score);
    rebuilt.set_metadata(score.metadata().cloned());
    for event in score.events() {
        match event.element() {
            StreamElement::Stream(part)
                if part.kind() == music21_rs::StreamKind::Part && overhangs(part) =>
            {
                let mut flat = part.flatten();
                flat.set_kind(music21_rs::StreamKind::Part);
                flat.set_id(part.id().map(str::to_string));
                flat.set_name(part.name().map(str::to_string));
                rebuilt.insert(event.offset(), flat);
            }
            other => rebuilt.insert(event.offset(), other.clone()),
        }
    }
    std::borrow::Cow::Owned(rebuilt)
}

/// The score as MusicXML. `source_format` is the format it was read from: one that leaves
/// measures and ties unsaid has its notation worked out first.
pub fn to_musicxml(score: &Stream, source_format: &str) -> ToolResult<String> {
    let mut options = music21_rs::musicxml::ExportOptions::default();
    options.make_notation = needs_notation(source_format);
    let score = if options.make_notation {
        rebar_overhanging_parts(score)
    } else {
        std::borrow::Cow::Borrowed(score)
    };
    catch_engine("writing MusicXML", || {
        music21_rs::musicxml::to_musicxml(&score, &options)
    })?
    .map_err(|e| ToolError::unsupported(format!("cannot write this score as MusicXML: {e}")))
}

/// A compressed MusicXML archive holding `xml` as its one score.
fn zip_mxl(xml: &str) -> ToolResult<Vec<u8>> {
    let mut buf = std::io::Cursor::new(Vec::new());
    let io = |e: std::io::Error| ToolError::internal(format!("writing .mxl: {e}"));
    let zerr = |e: zip::result::ZipError| ToolError::internal(format!("writing .mxl: {e}"));
    {
        let mut w = zip::ZipWriter::new(&mut buf);
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        let deflated = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        // The MusicXML spec wants `mimetype` first and uncompressed.
        w.start_file("mimetype", stored).map_err(zerr)?;
        w.write_all(b"application/vnd.recordare.musicxml")
            .map_err(io)?;
        w.start_file("META-INF/container.xml", deflated)
            .map_err(zerr)?;
        w.write_all(
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<container><rootfiles><rootfile full-path=\"score.musicxml\" media-type=\"application/vnd.recordare.musicxml+xml\"/></rootfiles></container>\n",
        )
        .map_err(io)?;
        w.start_file("score.musicxml", deflated).map_err(zerr)?;
        w.write_all(xml.as_bytes()).map_err(io)?;
        w.finish().map_err(zerr)?;
    }
    Ok(buf.into_inner())
}

/// The score as a compressed MusicXML archive (.mxl).
pub fn to_mxl(score: &Stream, source_format: &str) -> ToolResult<Vec<u8>> {
    zip_mxl(&to_musicxml(score, source_format)?)
}

pub fn to_midi(score: &Stream) -> ToolResult<Vec<u8>> {
    catch_engine("writing MIDI", || {
        music21_rs::to_midi(score, &music21_rs::midi::ExportOptions::default())
    })?
    .map_err(|e| ToolError::unsupported(format!("cannot write this score as MIDI: {e}")))
}

pub fn to_abc(score: &Stream) -> ToolResult<String> {
    catch_engine("writing ABC", || {
        music21_rs::to_abc(score, &music21_rs::abc::ExportOptions::default())
    })?
    .map_err(|e| ToolError::unsupported(format!("cannot write this score as ABC: {e}")))
}

pub fn to_lilypond(score: &Stream) -> ToolResult<String> {
    catch_engine("writing LilyPond", || {
        music21_rs::lily::to_lilypond(score, &music21_rs::lily::LilyOptions::default())
    })?
    .map_err(|e| ToolError::unsupported(format!("cannot write this score as LilyPond: {e}")))
}
