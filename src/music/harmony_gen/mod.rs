//! Harmonising a melody: chords chosen and voiced by search, not by template.
//!
//! The melody is cut into spans (see [`spans`]); each span gets candidate chords from the
//! style's vocabulary ([`theory::vocabulary`]); each chord gets candidate voicings; and a
//! dynamic programme over (chord, voicing) states ([`search`]) finds the path of least cost,
//! where the costs are music21's voice-leading faults and the rules of functional harmony.
//! [`check`] then reads the result back as lines of notes and reports every fault that remains.
//!
//! Deterministic: the same melody, key, style and seed give the same result; the seed only
//! chooses among paths of equal cost.

pub mod check;
pub mod learn;
pub mod melody_key;
pub mod model;
pub mod search;
pub mod spans;
pub mod theory;

use search::{palette, Problem, Solution, State};
use spans::Span;
pub use theory::{ChordDef, KeyDef, Member, Quality, Role, Style};

use crate::music::pitch::{PitchName, SpelledPitch};

/// Offsets closer than this are the same moment.
pub const EPS: f64 = 1e-6;

/// One note of the melody (ties merged).
#[derive(Clone, Debug)]
pub struct MelodyNote {
    pub offset: f64,
    pub duration: f64,
    pub pitch: SpelledPitch,
    pub fermata: bool,
}

/// One measure of the piece.
#[derive(Clone, Debug)]
pub struct Bar {
    pub start: f64,
    /// How long the measure is as written (a pickup is short).
    pub length: f64,
    pub number: i64,
    pub beat_length: f64,
    /// How far into its bar a pickup starts.
    pub padding: f64,
    /// The bar's length under its meter.
    pub meter_length: f64,
}

/// What to harmonise, and how.
pub struct Request<'a> {
    pub notes: &'a [MelodyNote],
    pub bars: &'a [Bar],
    /// Where the piece ends (the end of its last measure).
    pub end: f64,
    pub key: KeyDef,
    pub style: Style,
    pub seed: u64,
    /// In a minor key, end on the major tonic chord (as Bach mostly does).
    pub picardy: bool,
}

/// One note of a rendered line (a rest is a gap between notes).
#[derive(Clone, Debug, PartialEq)]
pub struct LineNote {
    pub offset: f64,
    pub duration: f64,
    pub pitch: SpelledPitch,
}

impl LineNote {
    pub fn end(&self) -> f64 {
        self.offset + self.duration
    }
}

impl Line {
    /// The line as a written part's notes; `fermata(j)` says whether note `j` holds one.
    fn events(&self, fermata: impl Fn(usize) -> bool) -> Vec<PartEvent> {
        self.notes
            .iter()
            .enumerate()
            .map(|(j, n)| PartEvent::note(n.offset, n.duration, n.pitch, fermata(j)))
            .collect()
    }
}

/// A voice of the result, as a line of single notes (the checker's view).
#[derive(Clone, Debug)]
pub struct Line {
    pub name: String,
    /// The range the voice should keep to (MIDI numbers), when it has one.
    pub range: Option<(i32, i32)>,
    pub notes: Vec<LineNote>,
}

/// An event of a written part: a note, a chord (several pitches) or, with no pitches, a rest.
#[derive(Clone, Debug, PartialEq)]
pub struct PartEvent {
    pub offset: f64,
    pub duration: f64,
    pub pitches: Vec<SpelledPitch>,
    pub fermata: bool,
}

impl PartEvent {
    fn note(offset: f64, duration: f64, pitch: SpelledPitch, fermata: bool) -> Self {
        Self {
            offset,
            duration,
            pitches: vec![pitch],
            fermata,
        }
    }
}

/// Which clef a part is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClefChoice {
    Treble,
    Treble8vb,
    Bass,
}

/// A part of the result as it is written.
#[derive(Clone, Debug)]
pub struct PartPlan {
    pub name: String,
    pub clef: ClefChoice,
    /// Notes and chords only; rests are the gaps.
    pub events: Vec<PartEvent>,
    /// Whether the melody's chord symbols go above this part.
    pub carries_symbols: bool,
}

/// A chord of the result.
#[derive(Clone, Debug)]
pub struct PlacedChord {
    pub offset: f64,
    pub duration: f64,
    pub chord: ChordDef,
    /// Roman numeral with inversion, e.g. `V65`, `V7/V`, `ii6`.
    pub figure: String,
    /// Chord symbol with a slash bass where the bass is not the root, e.g. `G7/B`.
    pub symbol: String,
    /// Bass member: 0 root position, 1 first inversion, ...
    pub inversion: usize,
    /// T, S, D, applied, or other.
    pub function: &'static str,
    /// (voice, pitch) from the top.
    pub pitches: Vec<(String, SpelledPitch)>,
    /// The same chord and voicing as the one before: the voices hold.
    pub held: bool,
    pub phrase_end: bool,
    pub relaxed: bool,
}

/// A cadence of the result.
#[derive(Clone, Debug)]
pub struct CadenceFound {
    pub offset: f64,
    /// authentic_perfect, authentic_imperfect, half, plagal, deceptive, tonicization or none.
    pub kind: &'static str,
    pub progression: String,
}

/// The harmonisation.
pub struct Harmonization {
    pub parts: Vec<PartPlan>,
    pub lines: Vec<Line>,
    pub chords: Vec<PlacedChord>,
    pub cadences: Vec<CadenceFound>,
    pub faults: Vec<check::Fault>,
    pub stats: Stats,
    /// Things said about the result that are not faults (choices made, limits met).
    pub notes: Vec<String>,
}

/// Search statistics.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub spans: usize,
    pub candidate_chords: usize,
    pub states: usize,
    pub transitions: u64,
    pub total_cost: i64,
    pub relaxed_spans: usize,
    pub voicings_per_chord: usize,
    pub breakdown: search::Breakdown,
}

/// Harmonises a melody. An error says why nothing could be made.
/// The chorale style follows Bach's habits as [`model`] learnt them; the others keep their
/// hand-written grammar (the chorales say nothing of pop or jazz).
fn learned_model(
    style: Style,
    vocab: &[ChordDef],
    spans: &[spans::Span],
    key: &KeyDef,
) -> Option<search::Learned<'static>> {
    let model = model::BachModel::embedded();
    (style == Style::Chorale && !model.is_empty())
        .then(|| search::Learned::new(model, vocab, spans, key))
}

pub fn harmonize(request: &Request<'_>) -> Result<Harmonization, String> {
    let style = request.style;
    let key = request.key;
    let spans = spans::spans(request.notes, request.bars, request.end, style);
    if spans.is_empty() {
        return Err("the melody has no notes to harmonise".into());
    }
    let mut vocab = theory::vocabulary(&key, style);
    let mut candidates: Vec<Vec<usize>> = Vec::with_capacity(spans.len());
    for span in &spans {
        if style.four_part() {
            let Some(mel) = span.mel.as_ref() else {
                candidates.push(Vec::new());
                continue;
            };
            let pc = mel.first.pitch_name().pc();
            let mut found: Vec<usize> = (0..vocab.len())
                .filter(|&i| vocab[i].member_of(pc).is_some())
                .collect();
            if found.is_empty() {
                for chord in search::fallback_chords(&key, mel.first.pitch_name()) {
                    let i = match vocab.iter().position(|c| *c == chord) {
                        Some(i) => i,
                        None => {
                            vocab.push(chord);
                            vocab.len() - 1
                        }
                    };
                    found.push(i);
                }
            }
            candidates.push(found);
        } else {
            candidates.push((0..vocab.len()).collect());
        }
    }
    let palettes = vocab.iter().map(|c| palette(c, style, &key)).collect();
    let problem = Problem {
        key,
        style,
        vocab: &vocab,
        palettes,
        spans: &spans,
        seed: request.seed,
        weights: search::Weights::of(style),
        model: learned_model(style, &vocab, &spans, &key),
        ending: melody_key::ending(request.notes, &key),
        picardy: request.picardy,
    };
    let solution = search::solve(&problem, &candidates).map_err(|k| {
        let span = &spans[k.min(spans.len() - 1)];
        let (measure, beat) = check::position(request.bars, span.start);
        let note = span.mel.as_ref().map_or("a rest".to_string(), |m| m.first.name());
        if style.four_part() {
            format!(
                "no chord and voicing fits the melody's {note} at measure {measure}, beat {beat}: in four parts the melody is the soprano, with the alto (G3-D5), tenor and bass below it; a melody this low leaves them no room (transpose it up with transpose_score, or use style pop or jazz)"
            )
        } else {
            format!("no chord and voicing fits the melody's {note} at measure {measure}, beat {beat}")
        }
    })?;
    Ok(render(request, &problem, &spans, &solution))
}

fn function_of(chord: &ChordDef, key: &KeyDef) -> &'static str {
    match chord.role {
        Role::Applied { .. } => "applied",
        Role::Cadential64 => "D",
        Role::Diatonic => {
            if chord.is_dominant() {
                "D"
            } else if chord.is_tonic(key)
                || matches!(chord.degree, 2 | 5) && chord.accidental.is_empty()
            {
                "T"
            } else if matches!(chord.degree, 1 | 3) {
                "S"
            } else {
                "other"
            }
        }
    }
}

fn voice_names(style: Style) -> (&'static str, Vec<&'static str>) {
    match style {
        Style::Chorale | Style::Classical => ("Soprano", vec!["Alto", "Tenor", "Bass"]),
        Style::Pop => ("Melody", vec!["Piano 1", "Piano 2", "Piano 3"]),
        Style::Jazz => ("Melody", vec!["Piano 1", "Piano 2", "Piano 3", "Bass"]),
    }
}

fn render(
    request: &Request<'_>,
    problem: &Problem<'_>,
    spans: &[Span],
    solution: &Solution,
) -> Harmonization {
    let style = request.style;
    let key = &request.key;
    let (melody_name, lower_names) = voice_names(style);
    let melody_line = Line {
        name: melody_name.to_string(),
        range: style.four_part().then_some((60, 79)),
        notes: request
            .notes
            .iter()
            .map(|n| LineNote {
                offset: n.offset,
                duration: n.duration,
                pitch: n.pitch,
            })
            .collect(),
    };
    let mut lower = lower_lines(style, &lower_names);
    let mut fermatas: Vec<Vec<bool>> = vec![Vec::new(); lower.len()];
    let mut chords: Vec<PlacedChord> = Vec::with_capacity(spans.len());
    for (k, (span, state)) in spans.iter().zip(&solution.path).enumerate() {
        let held = k > 0
            && solution.path[k - 1].chord == state.chord
            && solution.path[k - 1].voicing == state.voicing
            && (spans[k - 1].end - span.start).abs() < EPS;
        let span_fermata = request
            .notes
            .iter()
            .any(|n| n.fermata && n.offset >= span.start - EPS && n.offset < span.end - EPS);
        let pal = &problem.palettes[state.chord];
        extend_lower_lines(
            request,
            span,
            state,
            pal,
            held,
            span_fermata,
            &mut lower,
            &mut fermatas,
        );
        chords.push(placed_chord(
            request,
            problem,
            span,
            state,
            held,
            (melody_name, &lower_names),
        ));
    }
    let cadences = find_cadences(key, spans, &chords);
    let parts = written_parts(request, melody_name, &lower, &fermatas);
    let mut lines = vec![melody_line];
    lines.extend(lower);
    let faults = check::faults(&check::CheckInput {
        style,
        key,
        lines: &lines,
        chords: &chords,
        spans,
        bars: request.bars,
    });
    let mut notes = Vec::new();
    if solution.relaxed_spans > 0 {
        notes.push(format!(
            "{} chord(s) could only be voiced by stretching a range or the spacing (the melody lies too low or too high there); see remaining_faults",
            solution.relaxed_spans
        ));
    }
    Harmonization {
        parts,
        lines,
        chords,
        cadences,
        faults,
        stats: Stats {
            spans: spans.len(),
            candidate_chords: solution.candidate_chords,
            states: solution.states,
            transitions: solution.transitions,
            total_cost: solution.total_cost,
            relaxed_spans: solution.relaxed_spans,
            voicings_per_chord: solution.voicings_per_chord,
            breakdown: solution.breakdown,
        },
        notes,
    }
}

/// The voices below the melody as empty lines, each in its range.
fn lower_lines(style: Style, lower_names: &[&str]) -> Vec<Line> {
    let lower_ranges: Vec<(i32, i32)> = match style {
        Style::Chorale | Style::Classical => vec![(55, 74), (48, 67), (40, 60)],
        Style::Pop => vec![(48, 72); 3],
        Style::Jazz => vec![(48, 72), (48, 72), (48, 72), (40, 60)],
    };
    lower_names
        .iter()
        .zip(&lower_ranges)
        .map(|(name, range)| Line {
            name: name.to_string(),
            range: Some(*range),
            notes: Vec::new(),
        })
        .collect()
}

/// Adds one span's voicing to the lower lines, common tones tied over (in four parts, or
/// where the chord is held; pop and jazz strike again at each barline).
#[allow(clippy::too_many_arguments)]
fn extend_lower_lines(
    request: &Request<'_>,
    span: &Span,
    state: &State,
    pal: &[(PitchName, Member)],
    held: bool,
    span_fermata: bool,
    lower: &mut [Line],
    fermatas: &mut [Vec<bool>],
) {
    let style = request.style;
    let v = &state.voicing;
    for (i, line) in lower.iter_mut().enumerate().take(v.n as usize) {
        let pitch = pal[v.tone[i] as usize].0.at(v.p[i]);
        let restrike = !style.four_part()
            && request
                .bars
                .iter()
                .any(|b| (b.start - span.start).abs() < EPS);
        match line.notes.last_mut() {
            Some(last)
                if (last.end() - span.start).abs() < EPS
                    && last.pitch.midi() == pitch.midi()
                    && (style.four_part() || held)
                    && !restrike =>
            {
                last.duration = span.end - last.offset;
                if let Some(f) = fermatas[i].last_mut() {
                    *f |= span_fermata;
                }
            }
            _ => {
                line.notes.push(LineNote {
                    offset: span.start,
                    duration: span.end - span.start,
                    pitch,
                });
                fermatas[i].push(span_fermata);
            }
        }
    }
}

/// The chord of one span as it is reported: its figure and symbol (the bass member decides
/// the inversion in four parts), function and every voice's pitch.
fn placed_chord(
    request: &Request<'_>,
    problem: &Problem<'_>,
    span: &Span,
    state: &State,
    held: bool,
    (melody_name, lower_names): (&str, &[&str]),
) -> PlacedChord {
    let style = request.style;
    let chord = &problem.vocab[state.chord];
    let pal = &problem.palettes[state.chord];
    let v = &state.voicing;
    // The bass member decides the inversion: the lowest voice of the texture.
    let bass_tone = pal[v.tone[(v.n as usize).saturating_sub(1)] as usize].0;
    let inversion = chord
        .tones
        .iter()
        .position(|(t, _)| *t == bass_tone)
        .unwrap_or(0);
    // The piano's lowest note is no bass line in pop and jazz: their chords are read in
    // root position, as their symbols are.
    let figure = if style.four_part() {
        chord.figure(inversion)
    } else {
        chord.figure(0)
    };
    let mut symbol = chord.symbol();
    if style.four_part() && inversion > 0 {
        symbol = format!("{symbol}/{}", bass_tone.music21_name());
    }
    let mut pitches: Vec<(String, SpelledPitch)> = Vec::new();
    if let Some(mel) = span.mel.as_ref() {
        pitches.push((melody_name.to_string(), mel.first));
    }
    for i in 0..v.n as usize {
        pitches.push((
            lower_names[i].to_string(),
            pal[v.tone[i] as usize].0.at(v.p[i]),
        ));
    }
    PlacedChord {
        offset: span.start,
        duration: span.end - span.start,
        chord: chord.clone(),
        figure,
        symbol,
        inversion,
        function: function_of(chord, &request.key),
        pitches,
        held,
        phrase_end: span.phrase_end || span.last,
        relaxed: state.relaxed,
    }
}

/// The parts to write: the melody, then four-part voices, or a piano (and a jazz bass).
fn written_parts(
    request: &Request<'_>,
    melody_name: &str,
    lower: &[Line],
    fermatas: &[Vec<bool>],
) -> Vec<PartPlan> {
    let style = request.style;
    let mut parts = Vec::new();
    let melody_events: Vec<PartEvent> = request
        .notes
        .iter()
        .map(|n| PartEvent::note(n.offset, n.duration, n.pitch, n.fermata))
        .collect();
    parts.push(PartPlan {
        name: melody_name.to_string(),
        clef: clef_for(&melody_events),
        events: melody_events,
        carries_symbols: !style.four_part(),
    });
    match style {
        Style::Chorale | Style::Classical => {
            for (i, line) in lower.iter().enumerate() {
                let events = line.events(|j| fermatas[i].get(j).copied().unwrap_or(false));
                let clef = match i {
                    0 => ClefChoice::Treble,
                    1 => ClefChoice::Treble8vb,
                    _ => ClefChoice::Bass,
                };
                parts.push(PartPlan {
                    name: line.name.clone(),
                    clef,
                    events,
                    carries_symbols: false,
                });
            }
        }
        Style::Pop | Style::Jazz => {
            let piano_voices = 3;
            let events = block_chords(&lower[..piano_voices]);
            parts.push(PartPlan {
                name: "Piano".into(),
                clef: clef_for(&events),
                events,
                carries_symbols: false,
            });
            if style == Style::Jazz {
                let events = lower[3].events(|_| false);
                parts.push(PartPlan {
                    name: "Bass".into(),
                    clef: ClefChoice::Bass,
                    events,
                    carries_symbols: false,
                });
            }
        }
    }
    parts
}

/// Treble unless most notes lie below middle C.
fn clef_for(events: &[PartEvent]) -> ClefChoice {
    let (mut low, mut all) = (0usize, 0usize);
    for e in events {
        for p in &e.pitches {
            all += 1;
            if p.midi() < 60 {
                low += 1;
            }
        }
    }
    if all > 0 && low * 2 > all {
        ClefChoice::Bass
    } else {
        ClefChoice::Treble
    }
}

/// The piano voices' lines as block chords: a chord wherever any voice moves.
fn block_chords(lines: &[Line]) -> Vec<PartEvent> {
    let mut onsets: Vec<f64> = lines
        .iter()
        .flat_map(|l| l.notes.iter().flat_map(|n| [n.offset, n.end()]))
        .collect();
    onsets.sort_by(f64::total_cmp);
    onsets.dedup_by(|a, b| (*a - *b).abs() < EPS);
    let mut out: Vec<PartEvent> = Vec::new();
    for w in onsets.windows(2) {
        let (from, to) = (w[0], w[1]);
        let mut attacked = false;
        let mut pitches: Vec<SpelledPitch> = Vec::new();
        for line in lines {
            if let Some(n) = line
                .notes
                .iter()
                .find(|n| n.offset <= from + EPS && n.end() > from + EPS)
            {
                attacked |= (n.offset - from).abs() < EPS;
                pitches.push(n.pitch);
            }
        }
        if pitches.is_empty() {
            continue;
        }
        pitches.sort_by_key(|p| p.midi());
        match out.last_mut() {
            Some(last)
                if !attacked
                    && (last.offset + last.duration - from).abs() < EPS
                    && last.pitches == pitches =>
            {
                last.duration = to - last.offset;
            }
            _ => out.push(PartEvent {
                offset: from,
                duration: to - from,
                pitches,
                fermata: false,
            }),
        }
    }
    out
}

fn find_cadences(key: &KeyDef, spans: &[Span], chords: &[PlacedChord]) -> Vec<CadenceFound> {
    let mut out = Vec::new();
    for (k, span) in spans.iter().enumerate() {
        if !(span.phrase_end || span.last) {
            continue;
        }
        let last = &chords[k];
        // The nearest different harmony before, within reach.
        let Some(prev) = (0..k)
            .rev()
            .map(|j| &chords[j])
            .find(|c| c.chord != last.chord)
        else {
            if span.last {
                out.push(CadenceFound {
                    offset: last.offset,
                    kind: "none",
                    progression: format!("{} (the only harmony)", last.figure),
                });
            }
            continue;
        };
        let n = &last.chord;
        let p = &prev.chord;
        let kind = if n.is_tonic(key) {
            if p.is_dominant() && p.degree == 4 {
                let soprano_on_tonic = span
                    .mel
                    .as_ref()
                    .is_some_and(|m| m.first.pitch_name().pc() == key.tonic.pc());
                if last.inversion == 0 && prev.inversion == 0 && soprano_on_tonic {
                    "authentic_perfect"
                } else {
                    "authentic_imperfect"
                }
            } else if p.is_dominant() {
                "authentic_imperfect"
            } else if matches!(p.role, Role::Diatonic) && p.degree == 3 {
                "plagal"
            } else {
                "none"
            }
        } else if n.is_dominant() && n.degree == 4 {
            "half"
        } else if matches!(n.role, Role::Diatonic)
            && n.degree == 5
            && p.is_dominant()
            && p.degree == 4
        {
            "deceptive"
        } else if matches!(p.role, Role::Applied { target } if target == n.degree) {
            "tonicization"
        } else {
            "none"
        };
        out.push(CadenceFound {
            offset: last.offset,
            kind,
            progression: format!("{} -> {}", prev.figure, last.figure),
        });
    }
    out
}

#[cfg(test)]
mod tests;
