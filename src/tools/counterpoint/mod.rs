//! `generate_counterpoint`: species counterpoint after Fux against a cantus firmus.
//!
//! The cantus firmus is the top part of a stored score (or its only part), one line of notes
//! of any length: each note becomes one bar of 4/4 in the result, written as a whole note.
//! The music lives in [`crate::music::counterpoint`]: the generator searches with Fux's rules
//! as constraints and costs, and a checker written apart from it judges the result rule by
//! rule. The result is stored as a two-part score and also run through
//! `voice_leading_analysis`, the project's own view of parallels and crossings.

use music21_rs::notation::TieType;
use music21_rs::{Stream, StreamElement};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{ToolError, ToolResult};
use crate::music::counterpoint::{
    self as cp, detect_mode, parse_mode_name, two_part_score, CpNote, Generated, Mode, ModeKind,
    RuleResult, Voice, BAR, MAX_CF_NOTES, MIN_CF_NOTES, MODE_NAMES,
};
use crate::music::melody::EPS;
use crate::music::pitch::SpelledPitch;
use crate::music::timeline::{part_events, parts_of, MeasureGrid};
use crate::tools::scores::{store_generated, StoredResult};
use crate::tools::{ensure_id_free, tool, validate_score_id, Registry, ToolContext, ToolDef};

#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum VoiceArg {
    /// The counterpoint above the cantus firmus.
    #[default]
    Above,
    /// The counterpoint below the cantus firmus.
    Below,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// Id of the stored score whose top part (or only part) is the cantus firmus: one line
    /// of 3 to 64 notes of any length, each taken as one bar.
    pub score_id: String,
    /// Fux's species: 1 note against note, 2 two halves against each note, 3 four quarters,
    /// 4 syncopation (suspensions), 5 florid (a mix of the others).
    pub species: i64,
    /// Where the counterpoint goes: `above` (the default) or `below` the cantus firmus.
    #[serde(default)]
    pub voice: VoiceArg,
    /// The mode on the cantus firmus's final: ionian, dorian, phrygian, lydian, mixolydian,
    /// aeolian, major or minor. Default: derived from the cantus firmus (its last note is
    /// the final) and its key signature.
    #[serde(default)]
    pub mode: Option<String>,
    /// Id to store the two-part result under.
    pub new_score_id: String,
    /// Seed of the tie-breaking between equally good continuations (default 0); the same
    /// input and seed always give the same counterpoint.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Replace an existing score with id `new_score_id`.
    #[serde(default)]
    pub replace: bool,
}

/// One note of the counterpoint.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct NoteOut {
    pub measure: usize,
    /// Beat (quarter notes from 1) where the note starts.
    pub beat: f64,
    /// The pitch as music21 writes it (`C#5`, `B-3`).
    pub pitch: String,
    /// How long it sounds, in quarter notes (a syncope tied over the barline counts whole).
    pub quarters: f64,
    /// Whether it is tied over the barline into the next measure.
    pub tied_over_barline: bool,
}

/// Where a rule is broken.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ViolationOut {
    pub measure: usize,
    pub beat: f64,
    /// The notes involved, `CP` for the counterpoint and `CF` for the cantus firmus.
    pub notes: Vec<String>,
    pub detail: String,
}

/// One rule and how the counterpoint fares under it.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct RuleOut {
    pub id: String,
    pub description: String,
    pub passed: bool,
    pub violations: Vec<ViolationOut>,
    /// Licences Fux grants that were taken here (the rule still holds), such as breaking
    /// the syncopation in 4th species.
    pub licences: Vec<ViolationOut>,
}

/// A licence taken: a place where a rule holds only because a licence lets it (Fux's
/// breaking of the syncopation in 4th species, a 5th-species cadence without its
/// suspension, a dissonant neighbour tone in 2nd species). Not a fault, but the rule is not
/// kept strictly there.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct LicenceOut {
    /// The rule whose licence it is (an `id` of `rules`).
    pub rule: String,
    pub measure: usize,
    pub beat: f64,
    /// The notes involved, `CP` for the counterpoint and `CF` for the cantus firmus.
    pub notes: Vec<String>,
    /// What the licence allows here, and why it was taken.
    pub reason: String,
}

/// What `voice_leading_analysis` says about the stored result.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct VoiceLeadingReport {
    /// Whether the analysis could be run.
    pub available: bool,
    /// Why not, when it could not.
    pub error: Option<String>,
    /// Its counts per kind (parallel fifths, octaves, unisons, hidden fifths and octaves,
    /// crossings, overlaps, leaps over an octave).
    #[schemars(with = "Option<crate::tools::voice_leading::KindCounts>")]
    pub counts: Option<Value>,
    /// True when it found no parallel or hidden perfect interval, crossing or overlap.
    pub clean: Option<bool>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    pub score_id: String,
    pub new_score_id: String,
    pub species: u8,
    /// `above` or `below`.
    pub voice: String,
    /// The mode used, e.g. `D dorian`, `G major`.
    pub mode: String,
    /// Where the mode came from: the argument, or how it was derived.
    pub mode_source: String,
    pub seed: u64,
    /// The cantus firmus as read, one note per measure of the result.
    pub cantus_firmus: Vec<String>,
    pub counterpoint: Vec<NoteOut>,
    /// Every rule, with pass or its violations.
    pub rules: Vec<RuleOut>,
    pub rules_passed: usize,
    pub rules_total: usize,
    /// Rules passed over all rules, in percent: 100 when every rule holds. A licence taken
    /// (see `licences`) is no fault and does not lower it; `strict_compliance` does.
    pub compliance: f64,
    /// Rules kept strictly: passed, and no licence of theirs taken anywhere.
    pub rules_kept_strictly: usize,
    /// `rules_kept_strictly` over `rules_total`, in percent: a rule under which a licence was
    /// taken counts as not strictly kept, so this is below 100 whenever `licences` is not
    /// empty, and never above `compliance`.
    pub strict_compliance: f64,
    /// Every licence taken, rule by rule in the order of `rules`, each with the measure,
    /// beat and notes where it was taken and the reason. The same entries as the rules'
    /// own `licences`, gathered in one list.
    pub licences: Vec<LicenceOut>,
    /// Measures where a licence was taken: in 4th species entered without a syncopation
    /// (Fux's breaking of the species, only where the syncopation could not go on); in 5th
    /// species a cadence without its suspension (only where none could be prepared).
    pub species_broken_at: Vec<usize>,
    /// What could not be achieved, or had to be relaxed, in words.
    pub limitations: Vec<String>,
    /// The project's voice-leading analysis of the stored result.
    pub voice_leading: VoiceLeadingReport,
    #[serde(flatten)]
    pub stored: StoredResult,
}

pub fn tool_def() -> ToolDef {
    tool(
        "generate_counterpoint",
        "Write species counterpoint after Fux (species 1-5, above or below) against a cantus firmus: the top (or only) part of a stored score, each note one bar. Generated by a search with the rules as constraints and costs, in the cantus firmus's mode with musica ficta at the cadence; stored as a two-part score under new_score_id. Every rule is then checked on the result (consonant downbeats, dissonance treatment, no parallel or direct fifths and octaves, no inner unisons, contrary motion, limited and recovered leaps, one climax, no tritone leaps, no augmented or diminished interval outlined by leaps in a row or between turning points, perfect beginning and end, cadence with the leading tone, no crossing, no repeated notes, range) and listed with pass or its violations (measure, beat, notes); the licences taken (such as a broken syncopation in 4th species) are listed apart, with a compliance score (rules passed) and a strict compliance score (rules kept without a licence), and the project's voice-leading analysis. Deterministic for the same input and seed.",
        true,
        run,
    )
}

/// Reads the cantus firmus: the top part's notes in order, tied notes once, rests skipped.
fn cantus_firmus(score: &Stream, score_id: &str) -> ToolResult<(Vec<SpelledPitch>, Option<i32>)> {
    let parts = parts_of(score);
    let top = parts.first().copied().unwrap_or(score);
    let grid = MeasureGrid::of(score);
    let mut tones: Vec<SpelledPitch> = Vec::new();
    let mut last_end = f64::NEG_INFINITY;
    let mut sharps = None;
    for (_, element) in top.recurse() {
        match element {
            StreamElement::KeySignature(ks) if sharps.is_none() => sharps = Some(ks.sharps()),
            StreamElement::Key(k) if sharps.is_none() => sharps = Some(k.sharps()),
            _ => {}
        }
    }
    let where_ = |offset: f64| {
        let p = grid.position(offset);
        format!("measure {} beat {}", p.measure, p.beat)
    };
    for event in part_events(top) {
        let length = event.element.quarter_length();
        let pitch = match event.element {
            StreamElement::Note(note) => {
                let continuation = matches!(
                    note.tie().map(|t| t.tie_type()),
                    Some(TieType::Stop | TieType::Continue | TieType::ContinueLetRing)
                );
                if continuation {
                    last_end = last_end.max(event.offset + length);
                    continue;
                }
                note.pitch().clone()
            }
            StreamElement::Chord(chord) => {
                let pitches = chord.pitches();
                let mut distinct: Vec<String> =
                    pitches.iter().map(|p| p.name_with_octave()).collect();
                distinct.sort();
                distinct.dedup();
                if distinct.len() > 1 {
                    return Err(ToolError::invalid(format!(
                        "score_id '{score_id}': the cantus firmus must be a single line, but its top part has a chord ({}) at {}; give a score whose top part is one melody",
                        distinct.join(" "),
                        where_(event.offset)
                    )));
                }
                match pitches.into_iter().next() {
                    Some(p) => p,
                    None => continue,
                }
            }
            _ => continue,
        };
        if length <= 0.0 {
            continue; // grace notes
        }
        if event.offset < last_end - EPS {
            return Err(ToolError::invalid(format!(
                "score_id '{score_id}': the cantus firmus must be a single line, but two notes sound at once at {} in its top part (several voices); give a score whose top part is one melody",
                where_(event.offset)
            )));
        }
        let tone = SpelledPitch::from_pitch(&pitch).ok_or_else(|| {
            ToolError::unsupported(format!(
                "score_id '{score_id}': the note {} at {} is microtonal; the cantus firmus needs notes of the twelve-tone scale",
                pitch.name_with_octave(),
                where_(event.offset)
            ))
        })?;
        tones.push(tone);
        last_end = event.offset + length;
    }
    if tones.is_empty() {
        return Err(ToolError::invalid(format!(
            "score_id '{score_id}' has no notes: the cantus firmus (its top part) needs {MIN_CF_NOTES} to {MAX_CF_NOTES} notes"
        )));
    }
    if tones.len() < MIN_CF_NOTES {
        return Err(ToolError::invalid(format!(
            "score_id '{score_id}': the cantus firmus has {} note(s); it needs at least {MIN_CF_NOTES}",
            tones.len()
        )));
    }
    if tones.len() > MAX_CF_NOTES {
        return Err(ToolError::limit(format!(
            "score_id '{score_id}': the cantus firmus has {} notes, more than the {MAX_CF_NOTES} this tool writes against; give a shorter line",
            tones.len()
        )));
    }
    Ok((tones, sharps))
}

impl VoiceArg {
    fn voice(self) -> Voice {
        match self {
            VoiceArg::Above => Voice::Above,
            VoiceArg::Below => Voice::Below,
        }
    }
}

fn run(ctx: &ToolContext, args: Args) -> ToolResult<Output> {
    let species = species_of(args.species)?;
    validate_score_id(&args.new_score_id)?;
    let mode_arg = args.mode.as_deref().map(mode_of).transpose()?;
    ensure_id_free(ctx, "new_score_id", &args.new_score_id, args.replace)?;
    let loaded = ctx.load(&args.score_id)?;
    let (cf, sharps) = cantus_firmus(&loaded.score, &args.score_id)?;
    let (mode, mode_source) = choose_mode(&cf, sharps, mode_arg)?;
    let voice = args.voice.voice();
    let seed = args.seed.unwrap_or(0);
    crate::tools::progress::report(45.0, || {
        format!(
            "writing species {species} counterpoint above or below {} notes",
            cf.len()
        )
    });
    let generated = cp::generate(&cf, &mode, species, voice, seed).ok_or_else(|| {
        ToolError::internal(
            "the counterpoint search found nothing, not even with the rules as costs",
        )
    })?;

    let score = two_part_score(&cf, &generated.notes, &mode, species, voice);
    let origin = format!(
        "generate_counterpoint:{}:species{species}:{}:seed{seed}",
        args.score_id,
        voice.name()
    );
    let stored = store_generated(
        ctx,
        &args.new_score_id,
        &score,
        "musicxml",
        &origin,
        args.replace,
    )?;
    let voice_leading = voice_leading_report(ctx, &args.new_score_id);

    let rules: Vec<RuleOut> = generated.rules.iter().map(RuleOut::of).collect();
    let rules_passed = rules.iter().filter(|r| r.passed).count();
    let rules_kept_strictly = generated.rules.iter().filter(|r| r.kept_strictly()).count();
    let rules_total = rules.len();
    let percent =
        |n: usize| crate::music::timeline::round(100.0 * n as f64 / rules_total.max(1) as f64);
    let licences = generated.rules.iter().flat_map(LicenceOut::all).collect();
    Ok(Output {
        score_id: args.score_id,
        new_score_id: args.new_score_id,
        species,
        voice: voice.name().to_string(),
        mode: mode.label(),
        mode_source,
        seed,
        cantus_firmus: cf.iter().map(|t| t.name()).collect(),
        counterpoint: generated.notes.iter().map(NoteOut::of).collect(),
        compliance: percent(rules_passed),
        rules_kept_strictly,
        strict_compliance: percent(rules_kept_strictly),
        licences,
        limitations: limitations(&generated, &rules, &voice_leading),
        rules,
        rules_passed,
        rules_total,
        species_broken_at: generated.broken_bars.iter().map(|b| b + 1).collect(),
        voice_leading,
        stored,
    })
}

fn species_of(species: i64) -> ToolResult<u8> {
    if !(1..=5).contains(&species) {
        return Err(ToolError::invalid(format!(
            "species must be 1, 2, 3, 4 or 5 (Fux's species), got {species}"
        )));
    }
    Ok(species as u8)
}

/// The `mode` argument read: the mode, and `major` or `minor` where it was named so.
fn mode_of(text: &str) -> ToolResult<(ModeKind, Option<&'static str>)> {
    parse_mode_name(text).ok_or_else(|| {
        ToolError::invalid(format!(
            "mode '{}' is not a mode this tool knows: use one of {}",
            crate::music::guard::truncate(text, 40),
            MODE_NAMES.join(", ")
        ))
    })
}

/// The mode on the cantus firmus's final: the one asked for, or the one its notes and key
/// signature suggest; and where it came from, in words.
fn choose_mode(
    cf: &[SpelledPitch],
    sharps: Option<i32>,
    asked: Option<(ModeKind, Option<&'static str>)>,
) -> ToolResult<(Mode, String)> {
    let final_tone = *cf
        .last()
        .ok_or_else(|| ToolError::internal("the cantus firmus has no final"))?;
    if let Some((kind, tonal)) = asked {
        return Ok((
            Mode::new(kind, final_tone, tonal),
            "the mode argument, on the cantus firmus's final".to_string(),
        ));
    }
    let mode = detect_mode(cf, sharps);
    let source = format!(
        "derived: the final {} and the {} of the cantus firmus ({})",
        final_tone.name(),
        if sharps.is_some() {
            "key signature and notes"
        } else {
            "notes"
        },
        match sharps {
            Some(s) if s > 0 => format!("{s} sharp(s) in the signature"),
            Some(s) if s < 0 => format!("{} flat(s) in the signature", -s),
            Some(_) => "no sharps or flats in the signature".to_string(),
            None => "no key signature".to_string(),
        }
    );
    Ok((mode, source))
}

impl NoteOut {
    fn of(n: &CpNote) -> Self {
        let (measure, beat) = cp::position(n.start);
        NoteOut {
            measure,
            beat,
            pitch: n.tone.name(),
            quarters: f64::from(n.dur) / 2.0,
            tied_over_barline: n.start / BAR != (n.end() - 1) / BAR,
        }
    }
}

impl RuleOut {
    fn of(r: &RuleResult) -> Self {
        RuleOut {
            id: r.id.to_string(),
            description: r.description.to_string(),
            passed: r.passed,
            violations: r.violations.iter().map(ViolationOut::of).collect(),
            licences: r.licences.iter().map(ViolationOut::of).collect(),
        }
    }
}

impl LicenceOut {
    /// The licences taken under one rule.
    fn all(r: &RuleResult) -> impl Iterator<Item = LicenceOut> + '_ {
        r.licences.iter().map(|l| LicenceOut {
            rule: r.id.to_string(),
            measure: l.measure,
            beat: l.beat,
            notes: l.notes.clone(),
            reason: l.detail.clone(),
        })
    }
}

impl ViolationOut {
    fn of(v: &cp::Violation) -> Self {
        ViolationOut {
            measure: v.measure,
            beat: v.beat,
            notes: v.notes.clone(),
            detail: v.detail.clone(),
        }
    }
}

/// What was relaxed, which rules are broken, where a licence was taken, and whether the
/// voice-leading analysis found anything, in words.
fn limitations(
    generated: &Generated,
    rules: &[RuleOut],
    voice_leading: &VoiceLeadingReport,
) -> Vec<String> {
    let mut limitations = generated.relaxations.clone();
    for r in rules.iter().filter(|r| !r.passed) {
        limitations.push(format!(
            "rule {} is broken {} time(s): no counterpoint the search found keeps it",
            r.id,
            r.violations.len()
        ));
    }
    if !generated.broken_bars.is_empty() {
        limitations.push(format!(
            "a licence was taken (the syncopation broken, or a cadence without suspension) at measure(s) {}",
            generated
                .broken_bars
                .iter()
                .map(|b| (b + 1).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if voice_leading.clean == Some(false) {
        limitations.push(
            "voice_leading_analysis reports findings on the result (see voice_leading.counts)"
                .into(),
        );
    }
    limitations
}

fn voice_leading_report(ctx: &ToolContext, id: &str) -> VoiceLeadingReport {
    match Registry::shared().call(ctx, "voice_leading_analysis", json!({ "score_id": id })) {
        Ok(out) => {
            let counts = out.get("counts").cloned();
            let clean = counts.as_ref().map(|c| {
                [
                    "parallel_fifths",
                    "parallel_octaves",
                    "parallel_unisons",
                    "hidden_fifths",
                    "hidden_octaves",
                    "voice_crossings",
                    "voice_overlaps",
                ]
                .iter()
                .all(|k| c.get(k).and_then(Value::as_u64).unwrap_or(0) == 0)
            });
            VoiceLeadingReport {
                available: true,
                error: None,
                counts,
                clean,
            }
        }
        Err(e) => VoiceLeadingReport {
            available: false,
            error: Some(e.message),
            counts: None,
            clean: None,
        },
    }
}

#[cfg(test)]
mod tests;
