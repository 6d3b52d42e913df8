//! `voice_leading_analysis`: parallel and hidden perfect intervals, voice crossings and
//! overlaps between every pair of parts, and leaps wider than an octave in each part.
//!
//! Notes are aligned by time, not by index: the engine's port of music21's
//! `iterateAllVoiceLeadingQuartets` walks the score moment by moment, pairing each voice
//! that moves with the note it comes from and each voice that holds with itself, and every
//! two such pairs make a `VoiceLeadingQuartet`. The tool keeps where each of the four notes
//! stands (its part and offset) and asks the quartet music21's questions about it.

use std::collections::{BTreeMap, HashSet};

use music21_rs::voiceleading::{
    voice_leading_quartet_positions, QuartetOptions, VoiceLeadingQuartet,
};
use music21_rs::{Interval, Pitch, Stream, StreamElement, StreamEvent, StreamKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{ToolError, ToolResult};
use crate::music::melody::{melody_of, pitch_label, segments};
use crate::music::parse::catch_engine;
use crate::music::timeline::{part_events, parts_of, round, MeasureGrid, Position};
use crate::tools::analysis_common::{check_note_limit, PartRef, Parts};
use crate::tools::{tool, ToolContext, ToolDef};

/// Findings returned per kind; the counts always cover them all.
pub const MAX_FINDINGS_PER_KIND: usize = 500;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// Id of a stored score.
    pub score_id: String,
}

/// One voice-leading quartet that breaks a rule: two consecutive notes in each of two parts.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct QuartetFinding {
    /// Measure where the second pair of notes sounds (where the motion arrives).
    pub measure: i64,
    /// Beat of that moment within its measure, from 1.
    pub beat: f64,
    /// Offset of that moment in quarter notes from the start.
    pub offset: f64,
    /// Where the motion starts: the later of the onsets of v1n1 and v2n1 (a held note
    /// starts before).
    pub from: Position,
    /// The part of voice one (v1n1, v1n2): the part listed higher in the score, read as
    /// the upper voice, as music21's VoiceLeadingQuartet reads its first voice.
    pub part1: PartRef,
    /// The part of voice two (v2n1, v2n2), the lower voice.
    pub part2: PartRef,
    /// Voice one's first note, with octave (e.g. `F#4`; flats as music21 writes them, `B-3`).
    pub v1n1: String,
    /// Voice one's second note.
    pub v1n2: String,
    /// Voice two's first note.
    pub v2n1: String,
    /// Voice two's second note.
    pub v2n2: String,
    /// The harmonic intervals between the voices before and after (music21 `name`s: `P5`, `P12`).
    pub intervals: Vec<String>,
    /// music21's motion type: Parallel, Similar, Contrary, Oblique or No Motion.
    pub motion: String,
    /// Whether the two parts are the outer voices (the top and bottom parts), where the rule
    /// against hidden fifths and octaves strictly applies.
    pub outer_voices: bool,
}

/// A melodic leap wider than an octave within one part.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct LeapFinding {
    pub part: PartRef,
    /// Measure of the note leapt to.
    pub measure: i64,
    pub beat: f64,
    pub offset: f64,
    /// Where the note leapt from starts.
    pub from: Position,
    pub from_note: String,
    pub to_note: String,
    /// The directed interval, music21's name (`M9`, `P-15`).
    pub interval: String,
    /// Signed semitones (negative: downwards).
    pub semitones: f64,
}

// The seven kinds of quartet finding, counted: flattened into KindCounts and PairCounts.
// (A `//` comment: schemars would make a doc comment the description of both.)
#[derive(Clone, Debug, Default, Serialize, JsonSchema, PartialEq, Eq)]
pub struct QuartetCounts {
    pub parallel_fifths: usize,
    pub parallel_octaves: usize,
    pub parallel_unisons: usize,
    pub hidden_fifths: usize,
    pub hidden_octaves: usize,
    pub voice_crossings: usize,
    pub voice_overlaps: usize,
}

impl QuartetCounts {
    fn of(counts: &BTreeMap<Kind, usize>) -> Self {
        let n = |kind: Kind| counts.get(&kind).copied().unwrap_or(0);
        Self {
            parallel_fifths: n(Kind::ParallelFifth),
            parallel_octaves: n(Kind::ParallelOctave),
            parallel_unisons: n(Kind::ParallelUnison),
            hidden_fifths: n(Kind::HiddenFifth),
            hidden_octaves: n(Kind::HiddenOctave),
            voice_crossings: n(Kind::VoiceCrossing),
            voice_overlaps: n(Kind::VoiceOverlap),
        }
    }
}

/// How many findings of each kind (deduplicated: the same four notes of the same two
/// parts count once).
#[derive(Clone, Debug, Default, Serialize, JsonSchema, PartialEq, Eq)]
pub struct KindCounts {
    #[serde(flatten)]
    pub quartets: QuartetCounts,
    pub leaps_over_octave: usize,
}

/// The counts for one pair of parts.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PairCounts {
    pub part1: PartRef,
    pub part2: PartRef,
    pub outer_voices: bool,
    /// Quartets found between the two parts.
    pub quartets: usize,
    #[serde(flatten)]
    pub kinds: QuartetCounts,
}

/// Leaps wider than an octave in one part.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PartLeaps {
    pub part: PartRef,
    pub leaps_over_octave: usize,
}

/// The raw counts music21 gives: every quartet of
/// `voiceLeading.iterateAllVoiceLeadingQuartets(score)` (default options: a voice may come
/// out of a rest, held notes count, no-motion quartets and quartets with chords are left
/// out), and how many of them answer true to each predicate. Not deduplicated.
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
pub struct Music21Counts {
    pub quartets: usize,
    /// Quartets that are `parallelFifth()`.
    pub parallel_fifths: usize,
    /// Quartets that are `parallelOctave()`.
    pub parallel_octaves: usize,
    /// Quartets that are `parallelUnison()`.
    pub parallel_unisons: usize,
    /// Quartets that are `hiddenFifth()`.
    pub hidden_fifths: usize,
    /// Quartets that are `hiddenOctave()`.
    pub hidden_octaves: usize,
    /// Quartets the engine could not measure an interval in (music21 would raise).
    pub unmeasured: usize,
}

/// The findings themselves, at most `max_findings_per_kind` of each kind, in score order.
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
pub struct Findings {
    pub parallel_fifths: Vec<QuartetFinding>,
    pub parallel_octaves: Vec<QuartetFinding>,
    pub parallel_unisons: Vec<QuartetFinding>,
    pub hidden_fifths: Vec<QuartetFinding>,
    pub hidden_octaves: Vec<QuartetFinding>,
    pub voice_crossings: Vec<QuartetFinding>,
    pub voice_overlaps: Vec<QuartetFinding>,
    pub leaps_over_octave: Vec<LeapFinding>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    pub score_id: String,
    pub parts: Vec<PartRef>,
    /// Findings per kind, deduplicated, over the whole score.
    pub counts: KindCounts,
    /// The same per pair of parts (part1 listed above part2). A pair of voices within one
    /// part (part1 = part2) appears when a part has several voices.
    pub by_pair: Vec<PairCounts>,
    pub leaps_by_part: Vec<PartLeaps>,
    pub findings: Findings,
    /// The cap on each list in `findings`.
    pub max_findings_per_kind: usize,
    /// Whether any list in `findings` was cut at the cap (the counts are still complete).
    pub truncated: bool,
    /// The kinds whose list was cut.
    pub truncated_kinds: Vec<String>,
    /// music21's own counts over the same quartets, for comparison with music21.
    pub music21: Music21Counts,
    /// Quartets the engine could not measure an interval in (left out of everything).
    pub skipped_quartets: usize,
}

pub fn tool_def() -> ToolDef {
    tool(
        "voice_leading_analysis",
        "Voice leading between every pair of parts, notes aligned by time (a held note is paired with each note moving against it): parallel fifths, octaves and unisons, hidden (direct) fifths and octaves (flagged outer_voices for the top and bottom parts), voice crossings and overlaps, and melodic leaps wider than an octave in each part. Each finding gives measure, beat, the two parts and the four notes v1n1 v1n2 v2n1 v2n2 as music21's VoiceLeadingQuartet defines them; counts per kind and per pair of parts, and music21's raw quartet counts.",
        true,
        run,
    )
}

/// Which part each of `score.leaves()` belongs to, by the same reading as the engine's walk:
/// a top-level Part or PartStaff is a part, and a score with none is one part.
fn leaf_parts(score: &Stream) -> Vec<Option<usize>> {
    let is_part = |s: &Stream| matches!(s.kind(), StreamKind::Part | StreamKind::PartStaff);
    let has_parts = score
        .events()
        .iter()
        .any(|e| e.element().as_stream().is_some_and(is_part));
    let mut out = Vec::new();
    let mut next_part = 0;
    for event in score.events() {
        match event.element() {
            StreamElement::Stream(stream) => {
                let count = stream.leaves().len();
                let part = if !has_parts {
                    Some(0)
                } else if is_part(stream) {
                    next_part += 1;
                    Some(next_part - 1)
                } else {
                    None
                };
                out.extend(std::iter::repeat_n(part, count));
            }
            _ => out.push((!has_parts).then_some(0)),
        }
    }
    out
}

/// The kinds of quartet finding, in output order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    ParallelFifth,
    ParallelOctave,
    ParallelUnison,
    HiddenFifth,
    HiddenOctave,
    VoiceCrossing,
    VoiceOverlap,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::ParallelFifth,
        Kind::ParallelOctave,
        Kind::ParallelUnison,
        Kind::HiddenFifth,
        Kind::HiddenOctave,
        Kind::VoiceCrossing,
        Kind::VoiceOverlap,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::ParallelFifth => "parallel_fifths",
            Kind::ParallelOctave => "parallel_octaves",
            Kind::ParallelUnison => "parallel_unisons",
            Kind::HiddenFifth => "hidden_fifths",
            Kind::HiddenOctave => "hidden_octaves",
            Kind::VoiceCrossing => "voice_crossings",
            Kind::VoiceOverlap => "voice_overlaps",
        }
    }

    fn holds(self, q: &VoiceLeadingQuartet) -> bool {
        match self {
            Kind::ParallelFifth => q.parallel_fifth(),
            Kind::ParallelOctave => q.parallel_octave(),
            Kind::ParallelUnison => q.parallel_unison(),
            Kind::HiddenFifth => q.hidden_fifth(),
            Kind::HiddenOctave => q.hidden_octave(),
            Kind::VoiceCrossing => q.voice_crossing(),
            Kind::VoiceOverlap => q.voice_overlap(),
        }
    }

    /// Crossing and overlap need to know which voice is the upper one, which two voices
    /// sharing a part do not say.
    fn needs_two_parts(self) -> bool {
        matches!(self, Kind::VoiceCrossing | Kind::VoiceOverlap)
    }
}

/// A note of a quartet: its part, onset and pitch.
struct QNote<'a> {
    part: usize,
    offset: f64,
    pitch: &'a Pitch,
}

#[derive(Default)]
struct PairTally {
    quartets: usize,
    kinds: BTreeMap<Kind, usize>,
}

/// music21's counts: `iterateAllVoiceLeadingQuartets(score)` with its default options, and
/// how many of the quartets answer true to each predicate.
fn music21_counts(score: &Stream) -> ToolResult<Music21Counts> {
    let positions = catch_engine("walking the score's voice-leading quartets", || {
        voice_leading_quartet_positions(score, QuartetOptions::default())
    })?;
    let leaves = score.leaves();
    let pitch = |position: usize| match leaves.get(position) {
        Some((_, StreamElement::Note(note))) => Some(note.pitch().clone()),
        _ => None,
    };
    let mut counts = Music21Counts {
        quartets: positions.len(),
        ..Music21Counts::default()
    };
    for (_, [a1, a2, b1, b2]) in positions {
        let (Some(a1), Some(a2), Some(b1), Some(b2)) = (pitch(a1), pitch(a2), pitch(b1), pitch(b2))
        else {
            counts.unmeasured += 1;
            continue;
        };
        let Ok(q) = catch_engine("measuring a voice-leading quartet", || {
            VoiceLeadingQuartet::new(a1, a2, b1, b2)
        })?
        else {
            counts.unmeasured += 1;
            continue;
        };
        counts.parallel_fifths += usize::from(q.parallel_fifth());
        counts.parallel_octaves += usize::from(q.parallel_octave());
        counts.parallel_unisons += usize::from(q.parallel_unison());
        counts.hidden_fifths += usize::from(q.hidden_fifth());
        counts.hidden_octaves += usize::from(q.hidden_octave());
    }
    Ok(counts)
}

/// A copy of the score holding, part by part, only its notes, chords and rests (voices
/// flattened into their part), at their offsets.
fn notes_only(score: &Stream) -> Stream {
    let mut out = Stream::with_kind(StreamKind::Score);
    for part in parts_of(score) {
        let events = part_events(part)
            .into_iter()
            .map(|e| StreamEvent::new(e.offset, e.element.clone()));
        let mut flat = Stream::from_events(events);
        flat.set_kind(StreamKind::Part);
        out.insert(0.0, flat);
    }
    out
}

fn run(ctx: &ToolContext, args: Args) -> ToolResult<Output> {
    let loaded = ctx.load(&args.score_id)?;
    let score: &Stream = &loaded.score;
    check_note_limit(
        score,
        &args.score_id,
        "max_voice_leading_notes",
        ctx.config.limits.max_voice_leading_notes,
        "voice-leading analysis compares every pair of parts at every moment, so ",
    )?;
    let parts = Parts::of(score);
    let grid = MeasureGrid::of(score);
    // music21's own counts, on the score as it stands.
    let music21 = music21_counts(score)?;
    let walk = walk_quartets(score, &grid, &parts)?;
    let (leaps, leaps_by_part) = leaps_over_octave(score, &grid, &parts);
    let leap_total: usize = leaps_by_part.iter().map(|p| p.leaps_over_octave).sum();
    let counts = KindCounts {
        quartets: QuartetCounts::of(&walk.totals),
        leaps_over_octave: leap_total,
    };
    let by_pair = pair_counts(walk.pairs, &parts);
    let truncated_kinds = truncated_kinds(&walk.totals, leap_total);
    Ok(Output {
        score_id: loaded.meta.score_id.clone(),
        parts: parts.list,
        counts,
        by_pair,
        leaps_by_part,
        findings: findings(walk.findings, leaps),
        max_findings_per_kind: MAX_FINDINGS_PER_KIND,
        truncated: !truncated_kinds.is_empty(),
        truncated_kinds,
        music21,
        skipped_quartets: walk.skipped,
    })
}

/// What the walk over the score's quartets found, the findings not yet cut to the cap's
/// lists.
#[derive(Default)]
struct QuartetWalk {
    findings: BTreeMap<Kind, Vec<QuartetFinding>>,
    /// Findings per kind, deduplicated.
    totals: BTreeMap<Kind, usize>,
    pairs: BTreeMap<(usize, usize), PairTally>,
    /// Quartets the engine could not measure an interval in.
    skipped: usize,
}

/// Every voice-leading quartet of the score's notes, judged kind by kind, each finding
/// counted once per pair of parts.
fn walk_quartets(score: &Stream, grid: &MeasureGrid, parts: &Parts) -> ToolResult<QuartetWalk> {
    // The findings, on the notes, chords and rests alone: music21's walk pairs a voice
    // with the first thing standing where its previous note starts, and a clef, key or
    // time signature there (at the very start, or at a change) would leave the voice
    // unpaired and the motion unseen.
    let clean = notes_only(score);
    let positions = catch_engine("walking the score's voice-leading quartets", || {
        voice_leading_quartet_positions(&clean, QuartetOptions::default())
    })?;
    let leaves = clean.leaves();
    let owners = leaf_parts(&clean);
    if owners.len() != leaves.len() {
        return Err(ToolError::internal(format!(
            "voice_leading_analysis: {} leaves but {} part owners; the score's layout was not understood",
            leaves.len(),
            owners.len()
        )));
    }
    let qnote = |position: usize| -> Option<QNote<'_>> {
        let (offset, element) = leaves.get(position)?;
        let StreamElement::Note(note) = element else {
            return None;
        };
        Some(QNote {
            part: (*owners.get(position)?)?,
            offset: *offset,
            pitch: note.pitch(),
        })
    };

    let mut walk = QuartetWalk::default();
    let mut seen: HashSet<(Kind, usize, usize, i64, [String; 4])> = HashSet::new();
    for (offset, [a1, a2, b1, b2]) in &positions {
        let four = (qnote(*a1), qnote(*a2), qnote(*b1), qnote(*b2));
        let (Some(a1), Some(a2), Some(b1), Some(b2)) = four else {
            walk.skipped += 1;
            continue;
        };
        // Voice one is the part listed higher in the score. The walk lists a voice that
        // holds after the voices that move, so it may hand the lower part first.
        let (upper, lower) = if b1.part < a1.part {
            ((b1, b2), (a1, a2))
        } else {
            ((a1, a2), (b1, b2))
        };
        let Ok(quartet) = catch_engine("measuring a voice-leading quartet", || {
            VoiceLeadingQuartet::new(
                upper.0.pitch.clone(),
                upper.1.pitch.clone(),
                lower.0.pitch.clone(),
                lower.1.pitch.clone(),
            )
        })?
        else {
            walk.skipped += 1;
            continue;
        };
        let (p1, p2) = (upper.0.part, lower.0.part);
        let tally = walk.pairs.entry((p1, p2)).or_default();
        tally.quartets += 1;
        let names = [
            pitch_label(upper.0.pitch),
            pitch_label(upper.1.pitch),
            pitch_label(lower.0.pitch),
            pitch_label(lower.1.pitch),
        ];
        let at = (offset * 10_000.0).round() as i64;
        for kind in Kind::ALL {
            if (kind.needs_two_parts() && p1 == p2) || !kind.holds(&quartet) {
                continue;
            }
            if !seen.insert((kind, p1, p2, at, names.clone())) {
                continue;
            }
            *walk.totals.entry(kind).or_default() += 1;
            *tally.kinds.entry(kind).or_default() += 1;
            let list = walk.findings.entry(kind).or_default();
            if list.len() >= MAX_FINDINGS_PER_KIND {
                continue;
            }
            let pos = grid.position(*offset);
            list.push(QuartetFinding {
                measure: pos.measure,
                beat: pos.beat,
                offset: pos.offset,
                from: grid.position(upper.0.offset.max(lower.0.offset)),
                part1: parts.part_ref(p1),
                part2: parts.part_ref(p2),
                v1n1: names[0].clone(),
                v1n2: names[1].clone(),
                v2n1: names[2].clone(),
                v2n2: names[3].clone(),
                intervals: quartet
                    .vertical_intervals()
                    .iter()
                    .map(Interval::short_name)
                    .collect(),
                motion: quartet.motion_type(false).as_str().to_string(),
                outer_voices: parts.are_outer(p1, p2),
            });
        }
    }
    Ok(walk)
}

/// Leaps wider than an octave, part by part, between notes not parted by a rest: the
/// findings (up to the cap) and each part's count.
fn leaps_over_octave(
    score: &Stream,
    grid: &MeasureGrid,
    parts: &Parts,
) -> (Vec<LeapFinding>, Vec<PartLeaps>) {
    let mut leaps: Vec<LeapFinding> = Vec::new();
    let mut leaps_by_part = Vec::new();
    for (index, part) in parts_of(score).into_iter().enumerate() {
        let line = melody_of(part);
        let mut count = 0;
        for segment in segments(&line) {
            for pair in segment.windows(2) {
                let (from, to) = (pair[0], pair[1]);
                let semitones = to.pitch.ps() - from.pitch.ps();
                if semitones.abs() <= 12.0 + 1e-9 {
                    continue;
                }
                count += 1;
                if leaps.len() >= MAX_FINDINGS_PER_KIND {
                    continue;
                }
                let interval = Interval::between_pitches(&from.pitch, &to.pitch)
                    .map(|i| i.directed_name())
                    .unwrap_or_else(|_| format!("{semitones} semitones"));
                let pos = grid.position(to.offset);
                leaps.push(LeapFinding {
                    part: parts.part_ref(index),
                    measure: pos.measure,
                    beat: pos.beat,
                    offset: pos.offset,
                    from: grid.position(from.offset),
                    from_note: pitch_label(&from.pitch),
                    to_note: pitch_label(&to.pitch),
                    interval,
                    semitones: round(semitones),
                });
            }
        }
        leaps_by_part.push(PartLeaps {
            part: parts.part_ref(index),
            leaps_over_octave: count,
        });
    }
    (leaps, leaps_by_part)
}

/// Every pair of parts, with or without findings, then any pairs of voices within a part.
fn pair_counts(mut pairs: BTreeMap<(usize, usize), PairTally>, parts: &Parts) -> Vec<PairCounts> {
    for a in 0..parts.list.len() {
        for b in a + 1..parts.list.len() {
            pairs.entry((a, b)).or_default();
        }
    }
    pairs
        .iter()
        .map(|(&(a, b), tally)| PairCounts {
            part1: parts.part_ref(a),
            part2: parts.part_ref(b),
            outer_voices: parts.are_outer(a, b),
            quartets: tally.quartets,
            kinds: QuartetCounts::of(&tally.kinds),
        })
        .collect()
}

/// The kinds whose findings were cut at the cap.
fn truncated_kinds(totals: &BTreeMap<Kind, usize>, leap_total: usize) -> Vec<String> {
    let total = |k: Kind| totals.get(&k).copied().unwrap_or(0);
    let mut truncated: Vec<String> = Kind::ALL
        .iter()
        .filter(|k| total(**k) > MAX_FINDINGS_PER_KIND)
        .map(|k| k.name().to_string())
        .collect();
    if leap_total > MAX_FINDINGS_PER_KIND {
        truncated.push("leaps_over_octave".into());
    }
    truncated
}

fn findings(mut by_kind: BTreeMap<Kind, Vec<QuartetFinding>>, leaps: Vec<LeapFinding>) -> Findings {
    let mut take = |k: Kind| by_kind.remove(&k).unwrap_or_default();
    Findings {
        parallel_fifths: take(Kind::ParallelFifth),
        parallel_octaves: take(Kind::ParallelOctave),
        parallel_unisons: take(Kind::ParallelUnison),
        hidden_fifths: take(Kind::HiddenFifth),
        hidden_octaves: take(Kind::HiddenOctave),
        voice_crossings: take(Kind::VoiceCrossing),
        voice_overlaps: take(Kind::VoiceOverlap),
        leaps_over_octave: leaps,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::error::ErrorKind;
    use crate::tools::test_kit::{call, context, context_with, import_text_as, musicxml};

    fn analyse(ctx: &crate::tools::ToolContext, id: &str) -> Value {
        call(ctx, "voice_leading_analysis", json!({ "score_id": id }))
            .unwrap_or_else(|e| panic!("voice_leading_analysis {id}: {e}"))
    }

    /// (measure, beat, [v1n1, v1n2, v2n1, v2n2], part1, part2) of each finding of a kind.
    fn found(out: &Value, kind: &str) -> Vec<(i64, f64, Vec<String>, u64, u64)> {
        out["findings"][kind]
            .as_array()
            .unwrap_or_else(|| panic!("findings.{kind} is a list"))
            .iter()
            .map(|f| {
                (
                    f["measure"].as_i64().unwrap_or(-99),
                    f["beat"].as_f64().unwrap_or(-99.0),
                    ["v1n1", "v1n2", "v2n1", "v2n2"]
                        .iter()
                        .map(|k| f[*k].as_str().unwrap_or("?").to_string())
                        .collect(),
                    f["part1"]["index"].as_u64().unwrap_or(99),
                    f["part2"]["index"].as_u64().unwrap_or(99),
                )
            })
            .collect()
    }

    fn notes(names: [&str; 4]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn finds_parallel_fifths_octaves_and_a_hidden_octave_where_they_are() {
        let (_dir, ctx) = context();
        // Upper:  G4 A4 B4 C5 | D5      Middle: C4 D4 G3 C4 | D4      Bass holds C3.
        // G4/C4 -> A4/D4 is a parallel fifth (m1 b2); B4/G3 -> C5/C4 moves in similar
        // motion into an octave (hidden octave, m1 b4); C5/C4 -> D5/D4 is a parallel
        // octave (m2 b1).
        let xml = musicxml(&[
            &[&[("G4", 1), ("A4", 1), ("B4", 1), ("C5", 1)], &[("D5", 4)]],
            &[&[("C4", 1), ("D4", 1), ("G3", 1), ("C4", 1)], &[("D4", 4)]],
            &[&[("C3", 4)], &[("C3", 4)]],
        ]);
        import_text_as(&ctx, "pf", &xml, "musicxml");
        let out = analyse(&ctx, "pf");

        assert_eq!(
            found(&out, "parallel_fifths"),
            [(1, 2.0, notes(["G4", "A4", "C4", "D4"]), 0, 1)]
        );
        assert_eq!(
            found(&out, "hidden_octaves"),
            [(1, 4.0, notes(["B4", "C5", "G3", "C4"]), 0, 1)]
        );
        assert_eq!(
            found(&out, "parallel_octaves"),
            [(2, 1.0, notes(["C5", "D5", "C4", "D4"]), 0, 1)]
        );
        assert_eq!(out["counts"]["parallel_fifths"], 1);
        assert_eq!(out["counts"]["parallel_octaves"], 1);
        assert_eq!(out["counts"]["hidden_octaves"], 1);
        assert_eq!(out["counts"]["voice_crossings"], 0);
        // music21's walk misses the fifth: at the first notes the part's first element is
        // its clef, so the voices there have no note to come from. The findings do not.
        assert_eq!(out["music21"]["parallel_fifths"], 0);
        assert_eq!(out["music21"]["parallel_octaves"], 1);
        // The top and middle parts are not the outer voices; top and bass are.
        assert_eq!(out["findings"]["hidden_octaves"][0]["outer_voices"], false);
        assert_eq!(
            out["findings"]["hidden_octaves"][0]["intervals"],
            json!(["M10", "P8"])
        );
        let pairs = out["by_pair"].as_array().expect("by_pair");
        assert_eq!(pairs.len(), 3);
        let outer: Vec<(u64, u64, bool)> = pairs
            .iter()
            .map(|p| {
                (
                    p["part1"]["index"].as_u64().unwrap_or(99),
                    p["part2"]["index"].as_u64().unwrap_or(99),
                    p["outer_voices"].as_bool().unwrap_or(false),
                )
            })
            .collect();
        assert_eq!(outer, [(0, 1, false), (0, 2, true), (1, 2, false)]);
        assert_eq!(pairs[0]["parallel_fifths"], 1);
        assert_eq!(pairs[1]["parallel_fifths"], 0);
        assert_eq!(out["parts"][2]["name"], "Voice 3");
        assert_eq!(out["truncated"], false);
    }

    #[test]
    fn notes_are_aligned_by_time_not_by_index() {
        let (_dir, ctx) = context();
        // Upper: E4 half, D5 half.  Lower: C4 quarter, F4 quarter, G4 half.
        // At beat 2 the lower voice rises to F4 above the held E4: a crossing, with the
        // upper voice's E4 on both sides (by index, D5 would wrongly face F4). At beat 3
        // both rise, E4 -> D5 over F4 -> G4, into a fifth: a hidden fifth.
        let xml = musicxml(&[
            &[&[("E4", 2), ("D5", 2)]],
            &[&[("C4", 1), ("F4", 1), ("G4", 2)]],
        ]);
        import_text_as(&ctx, "x", &xml, "musicxml");
        let out = analyse(&ctx, "x");
        let crossings = found(&out, "voice_crossings");
        assert_eq!(
            crossings[0],
            (1, 2.0, notes(["E4", "E4", "C4", "F4"]), 0, 1)
        );
        assert_eq!(
            out["findings"]["voice_crossings"][0]["from"]["beat"],
            json!(1.0)
        );
        assert_eq!(
            found(&out, "hidden_fifths"),
            [(1, 3.0, notes(["E4", "D5", "F4", "G4"]), 0, 1)]
        );
        assert_eq!(out["findings"]["hidden_fifths"][0]["outer_voices"], true);
        // The beat-3 quartet starts crossed.
        assert!(crossings.contains(&(1, 3.0, notes(["E4", "D5", "F4", "G4"]), 0, 1)));
        // Both quartets overlap: F4, then G4, above the E4 the upper voice held.
        assert_eq!(
            found(&out, "voice_overlaps"),
            [
                (1, 2.0, notes(["E4", "E4", "C4", "F4"]), 0, 1),
                (1, 3.0, notes(["E4", "D5", "F4", "G4"]), 0, 1)
            ]
        );
        assert_eq!(out["by_pair"][0]["quartets"], 2);
        assert_eq!(out["counts"]["parallel_fifths"], 0);
    }

    #[test]
    fn finds_parallel_unisons_and_leaps_over_an_octave() {
        let (_dir, ctx) = context();
        let xml = musicxml(&[
            &[&[("C4", 1), ("D4", 1), ("E5", 2)]],
            &[&[("C4", 1), ("D4", 1), ("C4", 2)]],
        ]);
        import_text_as(&ctx, "u", &xml, "musicxml");
        let out = analyse(&ctx, "u");
        assert_eq!(
            found(&out, "parallel_unisons"),
            [(1, 2.0, notes(["C4", "D4", "C4", "D4"]), 0, 1)]
        );
        assert_eq!(out["counts"]["leaps_over_octave"], 1);
        let leap = &out["findings"]["leaps_over_octave"][0];
        assert_eq!(leap["part"]["index"], 0);
        assert_eq!(
            (leap["measure"].as_i64(), leap["beat"].as_f64()),
            (Some(1), Some(3.0))
        );
        assert_eq!(
            (leap["from_note"].as_str(), leap["to_note"].as_str()),
            (Some("D4"), Some("E5"))
        );
        assert_eq!(leap["interval"], "M9");
        assert_eq!(leap["semitones"], 14.0);
        assert_eq!(out["leaps_by_part"][1]["leaps_over_octave"], 0);
    }

    #[test]
    fn bad_arguments_and_big_scores_are_refused_clearly() {
        let (_dir, ctx) = context_with(|config| config.limits.max_voice_leading_notes = 3);
        let err = call(&ctx, "voice_leading_analysis", json!({})).expect_err("no score_id");
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        assert!(err.message.contains("score_id"), "{}", err.message);

        let err = call(&ctx, "voice_leading_analysis", json!({"score_id": "nope"}))
            .expect_err("unknown score");
        assert_eq!(err.kind, ErrorKind::NotFound, "{}", err.message);

        let err = call(
            &ctx,
            "voice_leading_analysis",
            json!({"score_id": "a", "extra": 1}),
        )
        .expect_err("unknown argument");
        assert!(err.message.contains("extra"), "{}", err.message);

        let xml = musicxml(&[&[&[("C4", 2), ("D4", 2)]], &[&[("C3", 2), ("D3", 2)]]]);
        import_text_as(&ctx, "four", &xml, "musicxml");
        let err = call(&ctx, "voice_leading_analysis", json!({"score_id": "four"}))
            .expect_err("over the limit");
        assert_eq!(err.kind, ErrorKind::LimitExceeded);
        assert!(
            err.message.contains("limits.max_voice_leading_notes"),
            "{}",
            err.message
        );
    }
}
