//! Writing scores: measures, notes, ties and rests as music21-rs streams, made here so
//! that a generated score is written as it stands (music21's `makeNotation=False`).
//!
//! Two kinds of writer: the simple helpers the counterpoint and style tools build whole
//! notes and tied values with, and the harmoniser's, which bars a melody's part as it is
//! written and cuts each voice's events at barlines into writable values.

use music21_rs::chordsymbol::ChordSymbol;
use music21_rs::expressions::{Expression, Fermata};
use music21_rs::notation::{Tie, TieType};
use music21_rs::{
    Chord, Clef, Duration, KeySignature, Metadata, Note, Pitch, Rest, Stream, StreamElement,
    StreamKind, TimeSignature,
};

use crate::error::{ToolError, ToolResult};
use crate::music::harmony_gen::{Bar, ClefChoice, KeyDef, PartPlan};
use crate::music::pitch::SpelledPitch;

// ---------------------------------------------------------------- simple scores

/// A note of `quarters` with an optional tie.
pub fn note_of(name: &str, quarters: f64, tie: Option<TieType>) -> ToolResult<Note> {
    let duration = Duration::new(quarters)
        .map_err(|e| ToolError::internal(format!("duration {quarters}: {e}")))?;
    let mut note = Note::from_name(name)
        .map_err(|e| ToolError::internal(format!("note {name}: {e}")))?
        .with_duration(duration);
    if let Some(t) = tie {
        note.set_tie(Some(Tie::new(t)));
    }
    Ok(note)
}

/// A measure with its number and, in the first, the clef, key and time signatures.
pub fn new_measure(number: usize, first: Option<(Clef, i32, &TimeSignature)>) -> Stream {
    let mut m = Stream::with_kind(StreamKind::Measure);
    m.set_number(number as music21_rs::IntegerType);
    if let Some((clef, sharps, ts)) = first {
        m.insert(0.0, clef);
        m.insert(0.0, KeySignature::new(sharps as music21_rs::IntegerType));
        m.insert(0.0, ts.clone());
    }
    m
}

/// Treble clef for a line whose mean is at or above A3, bass below.
pub fn clef_for(midis: &[i32]) -> Clef {
    let mean = midis.iter().map(|m| f64::from(*m)).sum::<f64>() / midis.len().max(1) as f64;
    if mean >= 57.0 {
        Clef::treble()
    } else {
        Clef::bass()
    }
}

pub fn new_part(id: &str, name: &str) -> Stream {
    let mut part = Stream::with_kind(StreamKind::Part);
    part.set_id(Some(id.to_string()));
    part.set_name(Some(name.to_string()));
    part
}

pub fn new_score(title: &str, parts: Vec<Stream>) -> Stream {
    let mut score = Stream::with_kind(StreamKind::Score);
    let mut md = Metadata::new();
    md.add_text("title", title);
    score.set_metadata(Some(md));
    for part in parts {
        score.insert(0.0, part);
    }
    score
}

// ---------------------------------------------------------------- the harmoniser's parts

/// Snaps a length to a grid fine enough for every tuplet a score writes (1/5040 quarter).
pub fn snap(x: f64) -> f64 {
    (x * 5040.0).round() / 5040.0
}

/// The measures of the melody's part, with their meters; a part without measures is barred
/// by its time signature (4/4 when it has none).
pub struct Barring {
    pub bars: Vec<Bar>,
    /// Time signatures by measure index.
    pub meters: Vec<(usize, TimeSignature)>,
    /// The key signature as written, if any.
    pub key_signature: Option<StreamElement>,
}

pub fn barring(part: &Stream, melody_end: f64) -> ToolResult<Barring> {
    let mut bars = Vec::new();
    let mut meters: Vec<(usize, TimeSignature)> = Vec::new();
    let mut meter: Option<TimeSignature> = None;
    let key_signature = part.recurse().into_iter().find_map(|(_, e)| match e {
        StreamElement::Key(_) | StreamElement::KeySignature(_) => Some(e.clone()),
        _ => None,
    });
    let bar_of = |ts: Option<&TimeSignature>| -> (f64, f64) {
        let bar = ts
            .map(|t| t.bar_duration().quarter_length())
            .filter(|l| *l > 0.0)
            .unwrap_or(4.0);
        let beat = ts
            .and_then(|t| t.beat_duration().ok())
            .map(|d| d.quarter_length())
            .filter(|l| *l > 0.0)
            .unwrap_or(1.0);
        (bar, beat)
    };
    let measures: Vec<(f64, &Stream)> = part
        .events()
        .iter()
        .filter_map(|e| match e.element() {
            StreamElement::Stream(m) if m.kind() == StreamKind::Measure => {
                Some((snap(e.offset()), &**m))
            }
            _ => None,
        })
        .collect();
    for (k, &(start, measure)) in measures.iter().enumerate() {
        if let Some(ts) = measure.events().iter().find_map(|e| match e.element() {
            StreamElement::TimeSignature(ts) => Some(ts.clone()),
            _ => None,
        }) {
            meters.push((bars.len(), ts.clone()));
            meter = Some(ts);
        }
        let (meter_length, beat_length) = bar_of(meter.as_ref());
        // A measure lasts until the next one starts (notes written past a barline, as
        // tinyNotation writes them, are cut there); the last one as long as it is, up to a
        // full bar, with more bars after it for notes running on.
        let length = match measures.get(k + 1) {
            Some(&(next, _)) => snap(next - start),
            None => snap(measure.end_offset()).min(meter_length),
        };
        let length = if length <= 0.0 { meter_length } else { length };
        let padding = if measure.padding_left() > 0.0 {
            measure.padding_left()
        } else if bars.is_empty() && length < meter_length - 1e-6 {
            meter_length - length
        } else {
            0.0
        };
        bars.push(Bar {
            start,
            length,
            number: measure.number() as i64,
            beat_length,
            padding,
            meter_length,
        });
    }
    if bars.is_empty() {
        let ts = part.recurse().into_iter().find_map(|(_, e)| match e {
            StreamElement::TimeSignature(ts) => Some(ts.clone()),
            _ => None,
        });
        let (meter_length, beat_length) = bar_of(ts.as_ref());
        let ts = match ts {
            Some(ts) => ts,
            None => TimeSignature::new(4, 4)
                .map_err(|e| ToolError::internal(format!("building 4/4: {e}")))?,
        };
        meters.push((0, ts));
        let count = ((melody_end / meter_length) - 1e-9).ceil().max(1.0) as usize;
        if count > 100_000 {
            return Err(ToolError::limit("the melody is too long to bar"));
        }
        for i in 0..count {
            bars.push(Bar {
                start: i as f64 * meter_length,
                length: meter_length,
                number: i as i64 + 1,
                beat_length,
                padding: 0.0,
                meter_length,
            });
        }
    } else if let Some(last) = bars.last().cloned() {
        // Notes past the last measure: more measures of the same meter.
        let mut start = last.start + last.length;
        let mut number = last.number;
        while start < melody_end - 1e-6 && bars.len() < 100_000 {
            number += 1;
            bars.push(Bar {
                start,
                length: last.meter_length,
                number,
                beat_length: last.beat_length,
                padding: 0.0,
                meter_length: last.meter_length,
            });
            start += last.meter_length;
        }
    }
    if meters.is_empty() {
        let ts = TimeSignature::new(4, 4)
            .map_err(|e| ToolError::internal(format!("building 4/4: {e}")))?;
        meters.push((0, ts));
    }
    Ok(Barring {
        bars,
        meters,
        key_signature,
    })
}

fn clef_of(choice: ClefChoice) -> Clef {
    match choice {
        ClefChoice::Treble => Clef::treble(),
        ClefChoice::Bass => Clef::bass(),
        ClefChoice::Treble8vb => Clef::of_kind(music21_rs::ClefKind::Treble8vbClef),
    }
}

pub fn engine<T>(what: &str, r: music21_rs::Result<T>) -> ToolResult<T> {
    r.map_err(|e| ToolError::internal(format!("harmonize_melody: {what}: {e}")))
}

fn pitch_of(s: &SpelledPitch) -> ToolResult<Pitch> {
    engine("building a pitch", Pitch::from_name(s.name()))
}

fn element_of(
    pitches: &[SpelledPitch],
    duration: f64,
    tie: Option<TieType>,
    fermata: bool,
) -> ToolResult<StreamElement> {
    let d = engine("building a duration", Duration::new(duration))?;
    if pitches.is_empty() {
        let mut rest = Rest::new(d);
        if fermata {
            rest.expressions_mut()
                .push(Expression::Fermata(Fermata::new()));
        }
        return Ok(StreamElement::Rest(rest));
    }
    if pitches.len() == 1 {
        let mut note = Note::from_pitch(pitch_of(&pitches[0])?).with_duration(d);
        if let Some(t) = tie {
            note.set_tie(Some(Tie::new(t)));
        }
        if fermata {
            note.expressions_mut()
                .push(Expression::Fermata(Fermata::new()));
        }
        return Ok(StreamElement::Note(note));
    }
    let notes: Vec<Note> = pitches
        .iter()
        .map(|p| pitch_of(p).map(Note::from_pitch))
        .collect::<ToolResult<_>>()?;
    let mut chord = engine("building a chord", Chord::new(notes))?.with_duration(d);
    if let Some(t) = tie {
        chord.set_tie(Some(Tie::new(t)));
    }
    if fermata {
        chord
            .expressions_mut()
            .push(Expression::Fermata(Fermata::new()));
    }
    Ok(StreamElement::Chord(chord))
}

/// Lengths single written values can have that add up to `length`: the engine's own cut of a
/// length no one value writes (music21's `quarterLengthToDurations`), else note values from
/// the longest down.
fn writable(length: f64) -> Vec<f64> {
    let Ok(d) = Duration::new(length) else {
        return vec![length];
    };
    let components = d.components();
    if components.len() <= 1 {
        // One value, tuplets included (the engine finds the triplet eighth in 1/3).
        return vec![length];
    }
    let parts: Vec<f64> = components
        .iter()
        .map(|(t, dots)| t.quarter_length_with_dots(*dots))
        .collect();
    if (parts.iter().sum::<f64>() - length).abs() < 1e-6 {
        return parts;
    }
    if (length * 16.0 - (length * 16.0).round()).abs() > 1e-6 {
        return vec![length];
    }
    const VALUES: [f64; 12] = [
        4.0, 3.0, 2.0, 1.5, 1.0, 0.75, 0.5, 0.375, 0.25, 0.1875, 0.125, 0.0625,
    ];
    let mut out = Vec::new();
    let mut left = length;
    while left > 1e-6 {
        match VALUES.iter().find(|v| **v <= left + 1e-9) {
            Some(v) => {
                out.push(*v);
                left -= v;
            }
            None => {
                out.push(left);
                break;
            }
        }
    }
    out
}

/// One part, measure by measure, its notation made here: notes cut at barlines and into
/// writable values and tied, gaps filled with rests, so that the score is written as it
/// stands (music21's `makeNotation=False`) and every measure adds up.
pub fn write_part(
    plan: &PartPlan,
    barring: &Barring,
    key: &KeyDef,
    symbols: &[(f64, ChordSymbol)],
) -> ToolResult<Stream> {
    let eps = 1e-6;
    let bars = &barring.bars;
    let mut measures: Vec<Stream> = Vec::with_capacity(bars.len());
    for (i, bar) in bars.iter().enumerate() {
        let mut measure = Stream::with_kind(StreamKind::Measure);
        measure.set_number(bar.number as music21_rs::IntegerType);
        if bar.padding > eps {
            measure.set_padding_left(bar.padding);
        }
        if i == 0 {
            measure.insert(0.0, clef_of(plan.clef));
            match &barring.key_signature {
                Some(element) => measure.insert(0.0, element.clone()),
                None => measure.insert(
                    0.0,
                    KeySignature::new(key.sharps() as music21_rs::IntegerType),
                ),
            }
        }
        if let Some((_, ts)) = barring.meters.iter().find(|(at, _)| *at == i) {
            measure.insert(0.0, ts.clone());
        }
        measures.push(measure);
    }
    // Where each bar is filled so far (events come in time order).
    let mut filled: Vec<f64> = bars.iter().map(|b| b.start).collect();
    let rest_until = |measure: &mut Stream, bar: &Bar, from: f64, to: f64| -> ToolResult<()> {
        let mut at = from;
        for length in writable(snap(to - from)) {
            measure.insert(snap(at - bar.start), element_of(&[], length, None, false)?);
            at += length;
        }
        Ok(())
    };
    for event in &plan.events {
        let (e0, e1) = (event.offset, event.offset + event.duration);
        // The event's pieces: (bar, start, length), cut at barlines and into written values.
        let mut pieces: Vec<(usize, f64, f64)> = Vec::new();
        for (i, bar) in bars.iter().enumerate() {
            let (start, end) = (bar.start, bar.start + bar.length);
            if e1 <= start + eps || e0 >= end - eps {
                continue;
            }
            let from = e0.max(start);
            let to = e1.min(end);
            let mut at = from;
            for length in writable(snap(to - from)) {
                pieces.push((i, at, length));
                at += length;
            }
        }
        let n = pieces.len();
        for (k, &(i, at, length)) in pieces.iter().enumerate() {
            let bar = &bars[i];
            if at > filled[i] + eps {
                rest_until(&mut measures[i], bar, filled[i], at)?;
            }
            let tie = match (n, k) {
                (1, _) => None,
                (_, 0) => Some(TieType::Start),
                (_, k) if k + 1 == n => Some(TieType::Stop),
                _ => Some(TieType::Continue),
            };
            measures[i].insert(
                snap(at - bar.start),
                element_of(&event.pitches, length, tie, event.fermata && k == 0)?,
            );
            filled[i] = at + length;
        }
    }
    let mut part = Stream::with_kind(StreamKind::Part);
    part.set_id(Some(plan.name.replace(' ', "")));
    part.set_name(Some(plan.name.clone()));
    for (i, (bar, mut measure)) in bars.iter().zip(measures).enumerate() {
        let end = bar.start + bar.length;
        if end > filled[i] + eps {
            rest_until(&mut measure, bar, filled[i], end)?;
        }
        if plan.carries_symbols {
            for (at, symbol) in symbols {
                if *at >= bar.start - eps && *at < end - eps {
                    measure.insert(snap(at - bar.start), symbol.clone());
                }
            }
        }
        part.insert(bar.start, measure);
    }
    Ok(part)
}
