//! The result read back and checked: every voice-leading fault that remains, found the way
//! music21's `VoiceLeadingQuartet` finds them (notes aligned by time; a voice that holds is
//! paired with itself), plus the chorale rules music21 does not check (spacing, doubled
//! leading tones, unresolved sevenths, ranges).

use super::spans::{bar_at, Span};
use super::theory::{KeyDef, Member, Style};
use super::{Bar, Line, LineNote, PlacedChord, EPS};
use crate::music::pitch::midi_name;

/// A fault that remains in the result.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    /// parallel_fifths, parallel_octaves, parallel_unisons, hidden_fifths, hidden_octaves,
    /// voice_crossings, voice_overlaps, spacing, doubled_leading_tone, unresolved_seventh,
    /// leap_over_octave, range, melody_range, final_cadence, non_chord_melody.
    pub kind: &'static str,
    pub offset: f64,
    pub measure: i64,
    pub beat: f64,
    /// The voices involved.
    pub voices: Vec<String>,
    pub detail: String,
    /// Whether the style's rules count this as an error rather than something to report:
    /// in four parts every parallel, crossing and overlap and hidden fifths and octaves in
    /// the outer voices; in pop and jazz parallels between the melody and the bass (the
    /// piano's lowest voice in pop) and any crossing of the melody.
    pub severe: bool,
    /// Whether the fault is between the melody and the bass.
    pub outer: bool,
}

pub struct CheckInput<'a> {
    pub style: Style,
    pub key: &'a KeyDef,
    pub lines: &'a [Line],
    pub chords: &'a [PlacedChord],
    pub spans: &'a [Span],
    pub bars: &'a [Bar],
}

/// Measure and beat of an offset.
pub fn position(bars: &[Bar], offset: f64) -> (i64, f64) {
    match bar_at(bars, offset) {
        Some(bar) => {
            let beat = 1.0 + (offset - bar.start + bar.padding) / bar.beat_length;
            (bar.number, (beat * 10_000.0).round() / 10_000.0)
        }
        None => (1, 1.0 + offset),
    }
}

fn sounding_at(line: &Line, t: f64) -> Option<(usize, &LineNote)> {
    let i = line.notes.partition_point(|n| n.offset <= t + EPS);
    let i = i.checked_sub(1)?;
    let n = &line.notes[i];
    (n.end() > t + EPS).then_some((i, n))
}

/// One voice-leading quartet: two voices, each at two moments.
#[derive(Clone, Copy, Debug)]
pub struct Quartet {
    pub at: f64,
    pub upper: (i32, i32),
    pub lower: (i32, i32),
}

/// The quartets between two lines, as music21's walk forms them: at every moment one of the
/// two attacks a note, the note each comes from (across a rest too) and the note it is on.
pub fn quartets(upper: &Line, lower: &Line) -> Vec<Quartet> {
    let mut moments: Vec<f64> = upper
        .notes
        .iter()
        .chain(&lower.notes)
        .map(|n| n.offset)
        .collect();
    moments.sort_by(f64::total_cmp);
    moments.dedup_by(|a, b| (*a - *b).abs() < EPS);
    let mut out = Vec::new();
    for t in moments {
        let (Some((iu, nu)), Some((il, nl))) = (sounding_at(upper, t), sounding_at(lower, t))
        else {
            continue;
        };
        let attacked_u = (nu.offset - t).abs() < EPS;
        let attacked_l = (nl.offset - t).abs() < EPS;
        if !attacked_u && !attacked_l {
            continue;
        }
        let prev_u = if attacked_u {
            match iu.checked_sub(1) {
                Some(j) => upper.notes[j].pitch.midi(),
                None => continue,
            }
        } else {
            nu.pitch.midi()
        };
        let prev_l = if attacked_l {
            match il.checked_sub(1) {
                Some(j) => lower.notes[j].pitch.midi(),
                None => continue,
            }
        } else {
            nl.pitch.midi()
        };
        let (u1, l1) = (nu.pitch.midi(), nl.pitch.midi());
        if prev_u == u1 && prev_l == l1 {
            continue;
        }
        out.push(Quartet {
            at: t,
            upper: (prev_u, u1),
            lower: (prev_l, l1),
        });
    }
    out
}

/// The kinds a quartet shows: parallel and hidden perfect intervals, crossing, overlap.
pub fn classify(q: &Quartet) -> Vec<&'static str> {
    let (u0, u1) = q.upper;
    let (l0, l1) = q.lower;
    let mut out = Vec::new();
    let (mu, ml) = (u1 - u0, l1 - l0);
    let (i0, i1) = ((u0 - l0).abs(), (u1 - l1).abs());
    if mu != 0 && ml != 0 {
        if i0 % 12 == 7 && i1 % 12 == 7 {
            out.push("parallel_fifths");
        } else if i0 == 0 && i1 == 0 {
            out.push("parallel_unisons");
        } else if i0 % 12 == 0 && i1 % 12 == 0 && i0 > 0 && i1 > 0 {
            out.push("parallel_octaves");
        } else if mu.signum() == ml.signum() {
            if i1 % 12 == 7 {
                out.push("hidden_fifths");
            } else if i1 % 12 == 0 && i1 > 0 {
                out.push("hidden_octaves");
            }
        }
    }
    if u0 < l0 || u1 < l1 {
        out.push("voice_crossings");
    }
    if u1 < l0 || l1 > u0 {
        out.push("voice_overlaps");
    }
    out
}

/// Every fault that remains.
pub fn faults(input: &CheckInput<'_>) -> Vec<Fault> {
    let mut found = Found {
        input,
        out: Vec::new(),
    };
    quartet_faults(&mut found);
    line_faults(&mut found);
    chord_faults(&mut found);
    final_cadence_faults(&mut found);
    if !input.style.four_part() {
        non_chord_melody_faults(&mut found);
    }
    let mut out = found.out;
    out.sort_by(|a, b| a.offset.total_cmp(&b.offset).then(a.kind.cmp(b.kind)));
    out.dedup();
    out
}

/// The faults found so far, each placed in its measure and beat.
struct Found<'a> {
    input: &'a CheckInput<'a>,
    out: Vec<Fault>,
}

impl Found<'_> {
    fn push(
        &mut self,
        kind: &'static str,
        at: f64,
        voices: Vec<String>,
        detail: String,
        severe: bool,
    ) {
        let lines = self.input.lines;
        let (measure, beat) = position(self.input.bars, at);
        let outer = voices.len() == 2
            && lines.first().is_some_and(|l| l.name == voices[0])
            && lines.last().is_some_and(|l| l.name == voices[1]);
        self.out.push(Fault {
            kind,
            offset: (at * 10_000.0).round() / 10_000.0,
            measure,
            beat,
            voices,
            detail,
            severe,
            outer,
        });
    }
}

/// Quartets between every pair of lines.
fn quartet_faults(found: &mut Found<'_>) {
    let lines = found.input.lines;
    let four = found.input.style.four_part();
    let bass_line = lines.len().saturating_sub(1);
    for i in 0..lines.len() {
        for j in i + 1..lines.len() {
            // In pop and jazz the piano's voices move as one hand (block chords may move in
            // parallel): only the melody and the bass are held to the rules.
            for q in quartets(&lines[i], &lines[j]) {
                let outer = i == 0 && j == bass_line;
                for kind in classify(&q) {
                    let severe = match kind {
                        "parallel_fifths" | "parallel_octaves" | "parallel_unisons" => {
                            four || outer
                        }
                        "voice_crossings" => four || i == 0 || j == bass_line,
                        "hidden_fifths" | "hidden_octaves" => outer && four,
                        "voice_overlaps" => four,
                        _ => false,
                    };
                    let detail = format!(
                        "{} {} -> {}, {} {} -> {}{}",
                        lines[i].name,
                        midi_name(q.upper.0),
                        midi_name(q.upper.1),
                        lines[j].name,
                        midi_name(q.lower.0),
                        midi_name(q.lower.1),
                        if outer { " (outer voices)" } else { "" }
                    );
                    found.push(
                        kind,
                        q.at,
                        vec![lines[i].name.clone(), lines[j].name.clone()],
                        detail,
                        severe,
                    );
                }
            }
        }
    }
}

/// Leaps wider than an octave, ranges.
fn line_faults(found: &mut Found<'_>) {
    let lines = found.input.lines;
    for (i, line) in lines.iter().enumerate() {
        for w in line.notes.windows(2) {
            let d = (w[1].pitch.midi() - w[0].pitch.midi()).abs();
            if d > 12 && (w[0].end() - w[1].offset).abs() < EPS {
                found.push(
                    "leap_over_octave",
                    w[1].offset,
                    vec![line.name.clone()],
                    format!(
                        "{} leaps {} semitones, {} -> {}",
                        line.name,
                        d,
                        w[0].pitch.name(),
                        w[1].pitch.name()
                    ),
                    i > 0,
                );
            }
        }
        if let Some((lo, hi)) = line.range {
            for n in &line.notes {
                let m = n.pitch.midi();
                if m < lo || m > hi {
                    let kind = if i == 0 { "melody_range" } else { "range" };
                    found.push(
                        kind,
                        n.offset,
                        vec![line.name.clone()],
                        format!(
                            "{} {} is outside {}'s range {}-{}",
                            line.name,
                            n.pitch.name(),
                            line.name,
                            midi_name(lo),
                            midi_name(hi)
                        ),
                        i > 0,
                    );
                }
            }
        }
    }
}

/// Chord by chord: spacing, doubled leading tones, unresolved sevenths.
fn chord_faults(found: &mut Found<'_>) {
    let input = found.input;
    let four = input.style.four_part();
    for (k, chord) in input.chords.iter().enumerate() {
        let p: Vec<i32> = chord.pitches.iter().map(|(_, s)| s.midi()).collect();
        if four && p.len() == 4 {
            for (a, b, names) in [(0, 1, ("Soprano", "Alto")), (1, 2, ("Alto", "Tenor"))] {
                if p[a] - p[b] > 12 {
                    found.push(
                        "spacing",
                        chord.offset,
                        vec![names.0.into(), names.1.into()],
                        format!(
                            "{} and {} are {} semitones apart (more than an octave)",
                            names.0,
                            names.1,
                            p[a] - p[b]
                        ),
                        true,
                    );
                }
            }
            if let Some(lt) = chord.chord.leading_tone {
                let count = p.iter().filter(|m| m.rem_euclid(12) == lt.pc()).count();
                if count > 1 {
                    found.push(
                        "doubled_leading_tone",
                        chord.offset,
                        Vec::new(),
                        format!(
                            "the leading tone {} of {} is doubled",
                            lt.music21_name(),
                            chord.figure
                        ),
                        true,
                    );
                }
            }
        }
        if !chord.chord.quality.is_seventh() || input.style == Style::Pop {
            continue;
        }
        let Some(next) = input.chords.get(k + 1) else {
            continue;
        };
        if next.chord == chord.chord {
            continue;
        }
        let contiguous = (chord.offset + chord.duration - next.offset).abs() < EPS;
        if !contiguous {
            continue;
        }
        for (v, (voice, pitch)) in chord.pitches.iter().enumerate() {
            let member = chord.chord.member_of(pitch.pitch_name().pc()).map(|m| m.1);
            if member != Some(Member::Seventh) {
                continue;
            }
            // The melody may move on within the span: judge its last note.
            let from = if v == 0 {
                input
                    .spans
                    .get(k)
                    .and_then(|s| s.mel.as_ref())
                    .map_or(pitch.midi(), |m| m.last)
            } else {
                pitch.midi()
            };
            if v == 0 && from.rem_euclid(12) != pitch.pitch_name().pc() {
                continue;
            }
            let Some((_, to)) = next.pitches.iter().find(|(n, _)| n == voice) else {
                continue;
            };
            let d = to.midi() - from;
            if !(d == -1 || d == -2) {
                found.push(
                    "unresolved_seventh",
                    next.offset,
                    vec![voice.clone()],
                    format!(
                        "the seventh {} of {} in the {} goes to {} instead of down a step",
                        midi_name(from),
                        chord.figure,
                        voice,
                        to.name()
                    ),
                    four,
                );
            }
        }
    }
}

/// The final cadence: the tonic, reached from the dominant.
fn final_cadence_faults(found: &mut Found<'_>) {
    let input = found.input;
    if let (Some(last), true) = (input.chords.last(), !input.chords.is_empty()) {
        if !last.chord.is_tonic(input.key) {
            found.push(
                                "final_cadence",
                last.offset,
                Vec::new(),
                format!(
                    "the piece ends on {} rather than the tonic: the melody's last note is not in the tonic chord",
                    last.figure
                ),
                false,
            );
        } else if let Some(prev) = input
            .chords
            .iter()
            .rev()
            .skip(1)
            .find(|c| c.chord != last.chord)
        {
            if !(prev.chord.is_dominant() && prev.chord.degree == 4) {
                found.push(
                                        "final_cadence",
                    last.offset,
                    Vec::new(),
                    format!("the final cadence is {} -> {}, not V(7) -> I: the melody leaves no dominant before its last note", prev.figure, last.figure),
                    false,
                );
            }
        }
    }
}

/// Pop and jazz: melody notes on a chord change that are not chord tones.
fn non_chord_melody_faults(found: &mut Found<'_>) {
    let input = found.input;
    for chord in input.chords {
        if let Some((_, m)) = chord.pitches.first() {
            let is_melody = input.lines.first().is_some_and(|l| {
                l.notes
                    .iter()
                    .any(|n| (n.offset - chord.offset).abs() < EPS)
            });
            if is_melody && chord.chord.member_of(m.pitch_name().pc()).is_none() {
                found.push(
                    "non_chord_melody",
                    chord.offset,
                    vec![input.lines[0].name.clone()],
                    format!(
                        "the melody's {} is not a tone of {}",
                        m.name(),
                        chord.symbol
                    ),
                    false,
                );
            }
        }
    }
}
