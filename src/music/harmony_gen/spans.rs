//! Where chords go: the harmonic rhythm of each style.
//!
//! Chorale and classical: a chord at every beat where the melody attacks a note, at every
//! note longer than a beat wherever it starts, and after every rest; the melody note at the
//! chord's onset must be a chord tone, the notes between are free (passing and neighbour
//! notes). Rests in the melody are rests in every voice.
//!
//! Pop and jazz: a chord slot per half bar (per bar in triple and short meters) from the first
//! note to the end; the accompaniment plays through the melody's rests, and the chord is
//! chosen by how well it fits all the melody notes of its slot.

use super::theory::Style;
use super::{Bar, MelodyNote, EPS};
use crate::music::pitch::SpelledPitch;

/// The melody heard over one chord.
#[derive(Clone, Copy, Debug)]
pub struct MelStats {
    /// The note sounding at the chord's onset.
    pub first: SpelledPitch,
    /// The note sounding at the chord's end (what moves to the next chord).
    pub last: i32,
    pub min: i32,
    pub max: i32,
}

/// How a melody note sits in a pop or jazz slot.
#[derive(Clone, Copy, Debug)]
pub struct FitNote {
    pub pc: i32,
    /// Quarter notes it sounds within the slot, times its metric accent.
    pub weight: f64,
    /// Whether it sounds at the slot's onset.
    pub at_start: bool,
}

/// One chord's time span.
#[derive(Clone, Debug)]
pub struct Span {
    pub start: f64,
    pub end: f64,
    pub mel: Option<MelStats>,
    /// Metric weight of the onset: 2 downbeat, 1 secondary strong beat, 0 otherwise.
    pub weight: u8,
    /// The span ends a phrase (a fermata, a rest after it, a long note at a barline).
    pub phrase_end: bool,
    /// The last span of the piece.
    pub last: bool,
    /// The first span of the piece or the first after a rest or a phrase end.
    pub phrase_start: bool,
    /// The melody notes of the slot (pop and jazz).
    pub fit: Vec<FitNote>,
    /// The next span ends a phrase: this one holds its penultimate chord.
    pub before_cadence: bool,
    /// The span starts on a beat inside a melody note held from the span before (the
    /// chorale style moves its lower voices on every beat, as Bach does under long notes).
    pub melody_held: bool,
}

/// Finds the bar holding `offset`.
pub fn bar_at(bars: &[Bar], offset: f64) -> Option<&Bar> {
    let i = bars.partition_point(|b| b.start <= offset + EPS);
    i.checked_sub(1).and_then(|i| bars.get(i))
}

/// The beat position of an offset: (whether it is on a beat, metric weight).
pub fn metric(bars: &[Bar], offset: f64) -> (bool, u8) {
    let Some(bar) = bar_at(bars, offset) else {
        return (false, 0);
    };
    let within = offset - bar.start + bar.padding;
    let beats = within / bar.beat_length;
    let k = beats.round();
    if (beats - k).abs() > 1e-6 {
        return (false, 0);
    }
    let k = k as i64;
    let per_bar = (bar.meter_length / bar.beat_length).round() as i64;
    let weight = if k == 0 {
        2
    } else if per_bar >= 2 && per_bar % 2 == 0 && k == per_bar / 2 {
        1
    } else {
        0
    };
    (true, weight)
}

fn stats(notes: &[&MelodyNote], start: f64, end: f64) -> Option<MelStats> {
    let sounding: Vec<&&MelodyNote> = notes
        .iter()
        .filter(|n| n.offset < end - EPS && n.offset + n.duration > start + EPS)
        .collect();
    let first = sounding
        .iter()
        .find(|n| n.offset <= start + EPS && n.offset + n.duration > start + EPS)?;
    let last = sounding
        .iter()
        .rev()
        .find(|n| n.offset < end - EPS)
        .map(|n| n.pitch.midi())
        .unwrap_or(first.pitch.midi());
    let min = sounding.iter().map(|n| n.pitch.midi()).min()?;
    let max = sounding.iter().map(|n| n.pitch.midi()).max()?;
    Some(MelStats {
        first: first.pitch,
        last,
        min,
        max,
    })
}

/// The spans of a melody for a style.
pub fn spans(notes: &[MelodyNote], bars: &[Bar], end: f64, style: Style) -> Vec<Span> {
    if style == Style::Chorale {
        split_at_beats(note_spans(notes, bars), bars)
    } else if style.four_part() {
        note_spans(notes, bars)
    } else {
        slot_spans(notes, bars, end)
    }
}

fn note_spans(notes: &[MelodyNote], bars: &[Bar]) -> Vec<Span> {
    let mut onsets: Vec<usize> = Vec::new();
    for (i, note) in notes.iter().enumerate() {
        let (on_beat, _) = metric(bars, note.offset);
        let beat_length = bar_at(bars, note.offset).map_or(1.0, |b| b.beat_length);
        let after_gap = i == 0 || notes[i - 1].offset + notes[i - 1].duration < note.offset - EPS;
        if on_beat || after_gap || note.duration >= beat_length - EPS {
            onsets.push(i);
        }
    }
    let has_fermata = notes.iter().any(|n| n.fermata);
    let mut durations: Vec<f64> = notes.iter().map(|n| n.duration).collect();
    durations.sort_by(f64::total_cmp);
    let median = durations.get(durations.len() / 2).copied().unwrap_or(1.0);
    let mut out = Vec::new();
    for (k, &first) in onsets.iter().enumerate() {
        let stop = onsets.get(k + 1).copied().unwrap_or(notes.len());
        let group: Vec<&MelodyNote> = notes[first..stop].iter().collect();
        let Some(last_note) = group.last() else {
            continue;
        };
        let start = notes[first].offset;
        let group_end = last_note.offset + last_note.duration;
        let gap_after = notes
            .get(stop)
            .is_none_or(|next| next.offset > group_end + EPS);
        let end = if gap_after {
            group_end
        } else {
            notes[stop].offset
        };
        let Some(mel) = stats(&group, start, end) else {
            continue;
        };
        let (_, weight) = metric(bars, start);
        let fermata = group.iter().any(|n| n.fermata);
        let on_barline = bars.iter().any(|b| (b.start - end).abs() < EPS);
        let long = !has_fermata
            && notes[first].duration >= 2.0 * median - EPS
            && on_barline
            && notes[first].duration >= 2.0 - EPS;
        let gap_before = first == 0 || {
            let prev = &notes[first - 1];
            prev.offset + prev.duration < start - EPS
        };
        out.push(Span {
            start,
            end,
            mel: Some(mel),
            weight,
            phrase_end: fermata || (gap_after && stop < notes.len()) || long,
            last: stop >= notes.len(),
            phrase_start: gap_before,
            fit: Vec::new(),
            before_cadence: false,
            melody_held: false,
        });
    }
    mark_phrase_starts(&mut out);
    out
}

/// Cuts spans at the beats inside a long melody note, so the chord may change under it;
/// not at a phrase end, where the cadence's chord holds.
fn split_at_beats(spans: Vec<Span>, bars: &[Bar]) -> Vec<Span> {
    let mut out = Vec::with_capacity(spans.len());
    for span in spans {
        if span.phrase_end || span.last {
            out.push(span);
            continue;
        }
        let beat_length = bar_at(bars, span.start).map_or(1.0, |b| b.beat_length);
        let mut cuts = Vec::new();
        let mut t = span.start + beat_length;
        while t < span.end - EPS {
            if metric(bars, t).0 {
                cuts.push(t);
            }
            t += beat_length;
        }
        if cuts.is_empty() {
            out.push(span);
            continue;
        }
        let mut bounds = vec![span.start];
        bounds.extend(cuts);
        bounds.push(span.end);
        for (i, w) in bounds.windows(2).enumerate() {
            let mut piece = span.clone();
            piece.start = w[0];
            piece.end = w[1];
            if i > 0 {
                piece.weight = metric(bars, w[0]).1;
                piece.phrase_start = false;
                piece.melody_held = true;
            }
            if i + 2 < bounds.len() {
                piece.before_cadence = false;
            }
            out.push(piece);
        }
    }
    out
}

fn mark_phrase_starts(spans: &mut [Span]) {
    for k in 1..spans.len() {
        if spans[k - 1].phrase_end {
            spans[k].phrase_start = true;
        }
        if spans[k].phrase_end || spans[k].last {
            spans[k - 1].before_cadence = true;
        }
    }
    if let Some(first) = spans.first_mut() {
        first.phrase_start = true;
    }
}

/// Slots: half bars in duple and quadruple meters, whole bars otherwise.
fn slot_spans(notes: &[MelodyNote], bars: &[Bar], end: f64) -> Vec<Span> {
    let Some(first_note) = notes.first() else {
        return Vec::new();
    };
    let mut bounds: Vec<f64> = Vec::new();
    for bar in bars {
        let bar_end = bar.start + bar.length;
        if bar_end <= first_note.offset + EPS || bar.start >= end - EPS {
            continue;
        }
        let per_bar = (bar.meter_length / bar.beat_length).round() as i64;
        let half = if per_bar >= 2 && per_bar % 2 == 0 && bar.meter_length >= 2.0 - EPS {
            bar.meter_length / 2.0
        } else {
            bar.meter_length
        };
        // Slot boundaries at multiples of `half` from the bar's notional start (a pickup
        // starts part-way into its bar).
        let notional = bar.start - bar.padding;
        bounds.push(bar.start);
        let mut t = notional + half;
        while t < bar_end - EPS {
            if t > bar.start + EPS {
                bounds.push(t);
            }
            t += half;
        }
    }
    bounds.retain(|&t| t > first_note.offset + EPS && t < end - EPS);
    bounds.push(first_note.offset);
    bounds.sort_by(f64::total_cmp);
    bounds.dedup_by(|a, b| (*a - *b).abs() < EPS);
    let last_note_end = notes
        .iter()
        .map(|n| n.offset + n.duration)
        .fold(0.0, f64::max);
    let has_fermata = notes.iter().any(|n| n.fermata);
    let mut out = Vec::new();
    for (k, &start) in bounds.iter().enumerate() {
        let stop = bounds.get(k + 1).copied().unwrap_or(end.max(last_note_end));
        let sounding: Vec<&MelodyNote> = notes
            .iter()
            .filter(|n| n.offset < stop - EPS && n.offset + n.duration > start + EPS)
            .collect();
        let mel = stats(&sounding, start, stop);
        let mut fit = Vec::new();
        for n in &sounding {
            let from = n.offset.max(start);
            let to = (n.offset + n.duration).min(stop);
            let (on_beat, w) = metric(bars, n.offset);
            let accent = if n.offset < start + EPS || w == 2 {
                2.0
            } else if on_beat {
                1.5
            } else {
                0.7
            };
            fit.push(FitNote {
                pc: n.pitch.pitch_name().pc(),
                weight: (to - from).max(0.0) * accent,
                at_start: n.offset <= start + EPS,
            });
        }
        let (_, weight) = metric(bars, start);
        let fermata = sounding
            .iter()
            .any(|n| n.fermata && n.offset >= start - EPS);
        let on_barline = bars.iter().any(|b| (b.start - stop).abs() < EPS);
        let long = !has_fermata
            && on_barline
            && sounding
                .first()
                .is_some_and(|n| n.offset >= start - EPS && n.duration >= 2.0 - EPS);
        out.push(Span {
            start,
            end: stop,
            mel,
            weight,
            phrase_end: fermata || long,
            last: k + 1 == bounds.len(),
            phrase_start: k == 0,
            fit,
            before_cadence: false,
            melody_held: false,
        });
    }
    mark_phrase_starts(&mut out);
    out
}
