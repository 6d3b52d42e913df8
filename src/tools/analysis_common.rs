//! Shared by the analysis tools: the key of a whole score, the chordified chords, the parts
//! an answer names and the limits on a score's size.
//!
//! `key_analysis`, `chord_analysis` and `harmony_analysis` must agree with each other and
//! with music21: the whole-score key is `score.analyze('key')` (AardenEssen over the
//! duration-weighted pitch classes of every part), the chords are `score.chordify()` with
//! its rests left out, and a chord's Roman numeral is music21's
//! `roman.romanNumeralFromChord(chord, key)` in that key.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use music21_rs::analysis::{estimate_key_from_distribution, stream_distribution};
use music21_rs::{Chord, Key, KeyEstimate, KeyProfile, RomanNumeral};
use music21_rs::{Pitch, Stream, StreamElement};
use schemars::JsonSchema;
use serde::Serialize;

use crate::error::{ToolError, ToolResult};
use crate::music::parse::catch_engine;
use crate::music::summary::count_notes;
use crate::music::timeline::{part_name, parts_of, round, MeasureGrid};
use crate::tools::ToolContext;

// ---------------------------------------------------------------- keys

/// A key with how well it fits, as the tools report it.
#[derive(Clone, Debug, Serialize, JsonSchema, PartialEq)]
pub struct KeyCandidate {
    /// The tonic as music21 writes it: `F#`, `B-` (flats are `-`).
    pub tonic: String,
    /// `major` or `minor`.
    pub mode: String,
    /// Pearson correlation of the score's pitch-class durations with the profile in this key.
    pub correlation: f64,
    /// As music21 prints the key: lower case for minor, e.g. `f# minor`, `B- major`.
    pub name: String,
}

impl KeyCandidate {
    pub fn of(estimate: &KeyEstimate) -> Self {
        let key = estimate.key();
        Self {
            tonic: tonic_name(key),
            mode: key.mode().to_string(),
            correlation: estimate.score(),
            name: key_label(key),
        }
    }
}

/// A pitch name as music21 writes it: the step and `#` or `-` per semitone (`F#`, `B-`,
/// `E--`). The engine keeps a flat spelled `b` where it was built from such a name (its key
/// finder names keys `Eb`, `Ab`), so the name is rebuilt from the step and the alteration;
/// a microtonal pitch keeps the engine's name.
pub fn music21_name(pitch: &Pitch) -> String {
    let name = pitch.name();
    let Some(step) = name.chars().next() else {
        return name;
    };
    let alter = pitch.alter();
    if alter.fract() != 0.0 || alter.abs() > 4.0 {
        return name;
    }
    let n = alter.abs() as usize;
    let modifier = if alter > 0.0 {
        "#".repeat(n)
    } else {
        "-".repeat(n)
    };
    format!("{step}{modifier}")
}

/// A pitch with its octave as music21 writes it: `C#5`, `B-3`.
pub fn music21_name_with_octave(pitch: &Pitch) -> String {
    match pitch.octave() {
        Some(octave) => format!("{}{octave}", music21_name(pitch)),
        None => music21_name(pitch),
    }
}

/// The tonic of a key as music21 writes it (`F#`, `B-`).
pub fn tonic_name(key: &Key) -> String {
    music21_name(key.tonic_pitch())
}

/// A key as music21 prints it: `f# minor`, `B- major` (the step lower case for minor).
pub fn key_label(key: &Key) -> String {
    let tonic = tonic_name(key);
    let tonic = match key.mode() {
        "minor" => {
            let mut chars = tonic.chars();
            let step = chars.next().map(|c| c.to_ascii_lowercase());
            step.into_iter().chain(chars).collect()
        }
        _ => tonic,
    };
    format!("{tonic} {}", key.mode())
}

/// How long each pitch class sounds over the whole score, all parts together, in quarter
/// notes: what music21's key finders see. An error when nothing pitched sounds.
pub fn score_distribution(score: &Stream) -> ToolResult<[f64; 12]> {
    let distribution = catch_engine("reading the pitch classes", || stream_distribution(score))?;
    match distribution {
        Some(d) if d.iter().any(|v| *v > 0.0) => Ok(d),
        _ => Err(ToolError::unsupported(
            "the score has no sounding pitched notes, so it has no key to find; import a score with notes",
        )),
    }
}

/// [`score_distribution`] of a stored score's parse, remembered per thread while the parse
/// lives: `key_analysis`, then `chord_analysis` or `harmony_analysis` of the same score in
/// the same worker read it once. An entry holds a `Weak` to its parse, so its address cannot
/// be taken by another score while the entry exists.
pub fn stored_score_distribution(score: &Arc<Stream>) -> ToolResult<[f64; 12]> {
    let known = DISTRIBUTIONS.with(|memo| {
        let mut memo = memo.borrow_mut();
        memo.retain(|(parse, _)| parse.strong_count() > 0);
        memo.iter()
            .find(|(parse, _)| std::ptr::eq(parse.as_ptr(), Arc::as_ptr(score)))
            .map(|(_, distribution)| *distribution)
    });
    if let Some(distribution) = known {
        return Ok(distribution);
    }
    let distribution = score_distribution(score)?;
    DISTRIBUTIONS.with(|memo| {
        let mut memo = memo.borrow_mut();
        if memo.len() >= DISTRIBUTIONS_KEPT {
            memo.remove(0);
        }
        memo.push((Arc::downgrade(score), distribution));
    });
    Ok(distribution)
}

/// Parses whose distribution a thread remembers, at most (a parsed-score cache's worth).
const DISTRIBUTIONS_KEPT: usize = 16;

thread_local! {
    static DISTRIBUTIONS: std::cell::RefCell<Vec<(Weak<Stream>, [f64; 12])>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Every key ranked by a profile over a pitch-class distribution, best first.
pub fn rank_keys(profile: KeyProfile, distribution: &[f64; 12]) -> ToolResult<Vec<KeyEstimate>> {
    let ranked = catch_engine("ranking keys", || {
        estimate_key_from_distribution(profile, distribution)
    })?;
    if ranked.is_empty() {
        return Err(ToolError::internal("the key finder ranked no keys"));
    }
    Ok(ranked)
}

/// The whole-score key, exactly as music21's `score.analyze('key')`: AardenEssen.
pub struct ScoreKey {
    pub key: Key,
    pub best: KeyCandidate,
}

pub fn whole_score_key(score: &Stream) -> ToolResult<ScoreKey> {
    key_of_distribution(&score_distribution(score)?)
}

/// [`whole_score_key`] of a stored score's parse (its distribution remembered).
pub fn stored_score_key(score: &Arc<Stream>) -> ToolResult<ScoreKey> {
    key_of_distribution(&stored_score_distribution(score)?)
}

fn key_of_distribution(distribution: &[f64; 12]) -> ToolResult<ScoreKey> {
    let ranked = rank_keys(KeyProfile::AardenEssen, distribution)?;
    let first = &ranked[0];
    Ok(ScoreKey {
        key: first.key().clone(),
        best: KeyCandidate::of(first),
    })
}

/// Reads a key given by a person: `G` (major), `g` (minor), `F# minor`, `B- major`,
/// `Bb major`, `e-`. `arg` names the argument in errors.
pub fn parse_key_arg(arg: &str, text: &str) -> ToolResult<Key> {
    let bad = |why: &str| {
        ToolError::invalid(format!(
            "{arg} '{}' is not a key ({why}): give a tonic A-G with an optional # or - (flat) and an optional mode major or minor, e.g. \"G\", \"g\", \"F# minor\", \"B- major\"",
            crate::music::guard::truncate(text, 40)
        ))
    };
    let text = text.trim();
    if text.is_empty() || text.len() > 40 {
        return Err(bad(if text.is_empty() {
            "it is empty"
        } else {
            "it is too long"
        }));
    }
    let mut words = text.split_whitespace();
    let tonic = words.next().unwrap_or_default();
    let mode = words.next().map(str::to_ascii_lowercase);
    if words.next().is_some() {
        return Err(bad("too many words"));
    }
    let mut chars = tonic.chars();
    let step = chars.next().unwrap_or(' ');
    if !matches!(step.to_ascii_uppercase(), 'A'..='G') {
        return Err(bad("the tonic must start with a letter A-G"));
    }
    let accidentals: String = chars.collect();
    let modifier = match accidentals.as_str() {
        "" | "#" | "##" | "-" | "--" => accidentals.clone(),
        "b" => "-".into(),
        "bb" => "--".into(),
        _ => return Err(bad("the accidental must be #, ##, - or --")),
    };
    let mode = match mode.as_deref() {
        Some("major") | Some("maj") => "major",
        Some("minor") | Some("min") => "minor",
        Some(_) => return Err(bad("the mode must be major or minor")),
        None if step.is_ascii_uppercase() => "major",
        None => "minor",
    };
    let name = format!("{}{modifier}", step.to_ascii_uppercase());
    catch_engine("building the key", || Key::from_tonic_mode(&name, mode))?
        .map_err(|e| bad(&e.to_string()))
}

// ---------------------------------------------------------------- chords

/// One chord of the chordified score (rests are left out: they are not chords).
#[derive(Clone, Debug)]
pub struct ChordEntry {
    /// Index among the chords, from 0.
    pub index: usize,
    /// Offset from the start of the score in quarter notes (unrounded).
    pub offset: f64,
    /// Length in quarter notes (unrounded).
    pub duration: f64,
    pub measure: i64,
    pub beat: f64,
    pub chord: Chord,
}

impl ChordEntry {
    pub fn end(&self) -> f64 {
        self.offset + self.duration
    }
}

/// Refuses scores too large for a whole-score analysis (`limits.max_analysis_notes`).
pub fn check_analysis_size(ctx: &ToolContext, score: &Stream) -> ToolResult<()> {
    let counts = count_notes(score);
    let work = counts.pitches + counts.rests;
    let max = ctx.config.limits.max_analysis_notes;
    if work > max {
        return Err(ToolError::limit(format!(
            "refused: the score has {work} notes and rests, over the limit limits.max_analysis_notes = {max}; analyse a shorter score"
        )));
    }
    Ok(())
}

/// The chords of `score.chordify()` in order, each placed on the score's measure grid.
pub fn chordify(
    ctx: &ToolContext,
    score: &Stream,
    grid: &MeasureGrid,
) -> ToolResult<Vec<ChordEntry>> {
    check_analysis_size(ctx, score)?;
    let chordified = catch_engine("chordifying the score", || score.chordify())?
        .map_err(|e| ToolError::unsupported(format!("cannot chordify this score: {e}")))?;
    let mut found: Vec<(f64, f64, Chord)> = chordified
        .recurse()
        .into_iter()
        .filter_map(|(offset, element)| {
            let chord = match element {
                StreamElement::Chord(chord) => chord.clone(),
                StreamElement::Note(note) => Chord::new(vec![note.clone()]).ok()?,
                _ => return None,
            };
            (!chord.is_empty()).then(|| (offset, element.quarter_length(), chord))
        })
        .collect();
    found.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(found
        .into_iter()
        .enumerate()
        .map(|(index, (offset, duration, chord))| {
            let pos = grid.position(offset);
            ChordEntry {
                index,
                offset,
                duration,
                measure: pos.measure,
                beat: pos.beat,
                chord,
            }
        })
        .collect())
}

/// music21's `romanNumeralFromChord(chord, key)`; nothing when the chord has no root or
/// the engine cannot name it. Remembered per thread (see `RomanMemo`).
pub fn roman_of(chord: &Chord, key: &Key) -> Option<RomanNumeral> {
    let question = RomanQuestion::of(chord, key);
    if let Some(known) = ROMAN_MEMO.with(|memo| memo.borrow().get(&question)) {
        return known;
    }
    let answer = catch_engine("naming a Roman numeral", || {
        crate::music::roman::roman_numeral(chord, key)
    })
    .ok()
    .and_then(|named| named.ok().flatten());
    ROMAN_MEMO.with(|memo| memo.borrow_mut().put(question, answer.clone()));
    answer
}

/// Everything the engine's Roman numeral depends on: the chord's pitches in order, its root
/// and bass (either may be set by hand) and the key's tonic and mode.
#[derive(PartialEq, Eq, Hash)]
struct RomanQuestion {
    pitches: Vec<Pitch>,
    root: Option<Pitch>,
    bass: Option<Pitch>,
    tonic: Pitch,
    mode: String,
}

impl RomanQuestion {
    fn of(chord: &Chord, key: &Key) -> Self {
        Self {
            pitches: chord.pitches(),
            root: chord.root().cloned(),
            bass: chord.bass().cloned(),
            tonic: key.tonic(),
            mode: key.mode().to_string(),
        }
    }
}

/// The Roman numerals already named on this thread. Naming one is the engine's dearest
/// step (it realises the key's scale afresh for every pitch of the chord), and the answers
/// repeat: a chorale's hundred sonorities hold a few dozen distinct chords, and the
/// analysis tools ask again of the same score. A worker runs one call at a time per
/// thread, so nothing is shared; the memo is emptied when full, which bounds it.
struct RomanMemo {
    named: HashMap<RomanQuestion, Option<RomanNumeral>>,
}

/// At most this many chords are remembered per thread (a few hundred KB).
const ROMAN_MEMO_ENTRIES: usize = 2048;

impl RomanMemo {
    fn get(&self, question: &RomanQuestion) -> Option<Option<RomanNumeral>> {
        self.named.get(question).cloned()
    }

    fn put(&mut self, question: RomanQuestion, answer: Option<RomanNumeral>) {
        if self.named.len() >= ROMAN_MEMO_ENTRIES {
            self.named.clear();
        }
        self.named.insert(question, answer);
    }
}

thread_local! {
    static ROMAN_MEMO: std::cell::RefCell<RomanMemo> =
        std::cell::RefCell::new(RomanMemo { named: HashMap::new() });
}

/// Forgets the Roman numerals this thread remembered, so a benchmark can measure a worker
/// that has not seen these chords (`benches/tools.rs`).
pub fn forget_roman_numerals() {
    ROMAN_MEMO.with(|memo| memo.borrow_mut().named.clear());
}

/// The pitches of a chord with their octaves (`A3`, `C#5`, `B-4`).
pub fn pitch_names(chord: &Chord) -> Vec<String> {
    chord
        .pitches()
        .iter()
        .map(music21_name_with_octave)
        .collect()
}

/// Rounds for display (offsets and beats are reported to 1/10000 of a quarter).
pub fn display(x: f64) -> f64 {
    round(x)
}

// ---------------------------------------------------------------- parts and limits

/// A part of the score.
#[derive(Clone, Debug, Serialize, JsonSchema, PartialEq, Eq)]
pub struct PartRef {
    /// Index of the part in the score, from 0 (top staff first).
    pub index: usize,
    pub name: String,
}

/// The parts of a score as answers name them.
pub struct Parts {
    pub list: Vec<PartRef>,
}

impl Parts {
    pub fn of(score: &Stream) -> Self {
        let list = parts_of(score)
            .into_iter()
            .enumerate()
            .map(|(index, part)| PartRef {
                index,
                name: part_name(part, index),
            })
            .collect();
        Self { list }
    }

    /// Part `index`, or a made-up name for a voice the walk found outside every part.
    pub fn part_ref(&self, index: usize) -> PartRef {
        self.list.get(index).cloned().unwrap_or_else(|| PartRef {
            index,
            name: format!("Part {}", index + 1),
        })
    }

    /// Whether parts `a` and `b` are the top and the bottom part.
    pub fn are_outer(&self, a: usize, b: usize) -> bool {
        let last = self.list.len().saturating_sub(1);
        self.list.len() >= 2 && a != b && a.min(b) == 0 && a.max(b) == last
    }
}

/// Refuses a score with more notes and chords than `limits.<key>` = `limit` allows.
/// `because` says why the tool's work grows with them (empty when it needs no saying).
pub fn check_note_limit(
    score: &Stream,
    score_id: &str,
    key: &str,
    limit: usize,
    because: &str,
) -> ToolResult<()> {
    let counts = count_notes(score);
    let notes = counts.notes + counts.chords;
    if notes > limit {
        return Err(ToolError::limit(format!(
            "score '{score_id}' has {notes} notes and chords, over the limit limits.{key} = {limit}; {because}raise the limit in the config or import an excerpt"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chord(notes: &str) -> Chord {
        notes.parse().expect("a chord")
    }

    fn remembered(chord: &Chord, key: &Key) -> Option<String> {
        roman_of(chord, key).map(|rn| rn.figure().to_string())
    }

    fn engines(chord: &Chord, key: &Key) -> Option<String> {
        crate::music::roman::roman_numeral(chord, key)
            .expect("named")
            .map(|rn| rn.figure().to_string())
    }

    fn tune(notes: &str) -> Arc<Stream> {
        let text = format!("tinyNotation: 4/4 {notes}");
        Arc::new(
            crate::music::parse::parse_score(
                text.as_bytes(),
                crate::music::format::Format::Tinynotation,
                None,
                &crate::config::ImportLimits::default(),
            )
            .expect("a tune"),
        )
    }

    #[test]
    fn a_remembered_distribution_is_the_parses_own_and_ends_with_it() {
        let c_major = tune("c4 e g c'");
        let first = stored_score_distribution(&c_major).expect("counted");
        assert_eq!(first, score_distribution(&c_major).expect("counted"));
        assert_eq!(stored_score_distribution(&c_major).expect("again"), first);
        // Another parse, even one made after the first is gone, is counted afresh.
        drop(c_major);
        for notes in ["f#4 a# c#' f#'", "b-4 d' f' b-'"] {
            let other = tune(notes);
            let got = stored_score_distribution(&other).expect("counted");
            assert_eq!(got, score_distribution(&other).expect("counted"));
            assert_ne!(got, first);
        }
        let kept = DISTRIBUTIONS.with(|memo| memo.borrow().len());
        assert!(kept <= DISTRIBUTIONS_KEPT, "{kept}");
    }

    #[test]
    fn a_remembered_roman_numeral_is_the_engines_own() {
        let c_major = Key::from_tonic_mode("C", "major").expect("key");
        let a_minor = Key::from_tonic_mode("A", "minor").expect("key");
        let dominant = chord("B3 D4 G4 F5");
        let mut rooted = dominant.clone();
        rooted.set_root(Some(Pitch::from_name("B").expect("pitch")));
        let questions = [
            (&dominant, &c_major),
            (&dominant, &a_minor),
            (&chord("G3 B3 D4 F5"), &c_major),
            (&rooted, &c_major),
        ];
        for _ in 0..2 {
            for (chord, key) in questions {
                assert_eq!(remembered(chord, key), engines(chord, key));
            }
        }
        // Each of them was a question of its own, not an answer to another's.
        assert_eq!(remembered(&dominant, &c_major).as_deref(), Some("V65"));
        assert_ne!(
            remembered(&dominant, &a_minor),
            remembered(&dominant, &c_major)
        );
        assert_ne!(
            remembered(&rooted, &c_major),
            remembered(&dominant, &c_major)
        );
    }
}
