//! `imitate_style`: learn a melody model from sources and write a new melody in their style.
//!
//! The sources are stored scores or a corpus prefix (`bach/`, `builtin/`): the configured
//! corpus directories and the built-in corpus, capped in files and notes. Each source's
//! melodic voice is found (the part named Soprano, else the highest part named as a voice,
//! else the highest part not doubling another: [`crate::music::style::voice`]) and its line
//! (ties joined, chords by their top note, split at rests) is read in the source's own key
//! as intervals in scale degrees and in semitones, jointly with durations and metric
//! positions; [`crate::music::style`] learns a back-off Markov chain of order two or more
//! over those tokens and draws a melody from it that starts and ends on the tonic, fills
//! its bars exactly and stays within the 5th to 95th percentile pitches of the sources'
//! voices. The melody is stored, and its statistics are compared with the sources' and
//! with a uniform random walk's.

mod output;
mod statistics;

pub use output::*;
use std::collections::BTreeMap;

use music21_rs::{Key, Stream, TimeSignature};
use schemars::JsonSchema;
use serde::Deserialize;
use sha2::Digest;

use crate::error::{ToolError, ToolResult};
use crate::music::corpus::{check_prefix, read_prefix, BUILTIN};
use crate::music::counterpoint::{Mode, ModeKind};
use crate::music::parse::{catch_engine, parse_score};
use crate::music::pitch::SpelledPitch;
use crate::music::style::draw::{
    generate, kept_register, percentile_register, position_near, Frame, Melody, ATTEMPTS,
};
use crate::music::style::model::{Line, Model};
use crate::music::style::score::{bars_exact, melody_score, reference_tonic, scale_of, spell};
use crate::music::style::sources::{quantise, source_lines, SourceLines};
use crate::music::style::stats::percentile;
use crate::music::style::voice::VoiceReason;
use crate::music::style::TICKS_PER_QUARTER;
use crate::music::summary::count_notes;
use crate::music::timeline::round;
use crate::tools::analysis_common::{parse_key_arg, whole_score_key};
use crate::tools::scores::store_generated;
use crate::tools::{ensure_id_free, tool, validate_score_id, ToolContext, ToolDef};

/// Most files read for a corpus prefix.
pub const MAX_SOURCE_FILES: usize = 200;
/// Most stored scores given by id.
pub const MAX_SOURCE_IDS: usize = 50;
/// Most notes learned from, over all sources.
pub const MAX_SOURCE_NOTES: usize = 100_000;

/// Where to learn from.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SourceArg {
    /// Ids of stored scores.
    Ids(Vec<String>),
    /// A corpus name prefix: `bach/`, `builtin/`, `bach/bwv2`.
    Prefix(String),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// The sources: an array of stored score ids, or a corpus name prefix such as "bach/"
    /// or "builtin/" (files under the prefix in the configured corpus directories, and
    /// built-in pieces whose names start with it).
    pub source: SourceArg,
    /// Bars to write, 1 to 64.
    pub measures: i64,
    /// Key of the melody ("G", "e", "F# minor", "B- major"). Default: C major, or A minor
    /// when most sources are in minor keys.
    #[serde(default)]
    pub key: Option<String>,
    /// Time signature ("3/4", "6/8"). Default: the most common among the sources.
    #[serde(default)]
    pub time_signature: Option<String>,
    /// Seed of the random draw: the same sources, arguments and seed give the same melody.
    pub seed: u64,
    /// Order of the Markov chain, 2 to 4 (default 2): how many notes before each note its
    /// choice depends on, backing off to fewer where the sources never had that context.
    #[serde(default)]
    pub order: Option<i64>,
    /// Id to store the melody under. Default: `imitation-` and a digest of the arguments
    /// (the same arguments give the same melody, so a score under that id is replaced).
    #[serde(default)]
    pub new_score_id: Option<String>,
    /// Replace an existing score with id `new_score_id`.
    #[serde(default)]
    pub replace: bool,
}

pub fn tool_def() -> ToolDef {
    tool(
        "imitate_style",
        "Write a new melody in the style of some sources: stored score ids, or a corpus prefix such as \"bach/\" or \"builtin/\". Learns a Markov chain of order 2 or more (with back-off) over intervals in scale degrees and semitones joined with durations and metric positions from each source's melodic voice (the part named Soprano, else the highest part named as a voice, else the highest part not doubling another), then draws a melody of the given number of measures that starts and ends on the tonic, fills its bars exactly and keeps within the sources' 5th to 95th percentile pitches, in the given or most common key mode and time signature. Stores it and compares its statistics with the sources': interval histogram, range and register, tritone leaps, rhythm histogram, and their distances, with the distance of a uniform random walk for reference. Deterministic for the same input and seed.",
        true,
        run,
    )
}

/// A parsed source.
struct Parsed {
    name: String,
    score: Stream,
}

/// A source's melodic lines, read in the key music21 finds for it.
fn lines_of(score: &Stream) -> ToolResult<SourceLines> {
    let key = whole_score_key(score)?.key;
    let tonic = SpelledPitch::from_pitch(key.tonic_pitch())
        .map(|t| t.letter())
        .unwrap_or(0) as i32;
    Ok(source_lines(score, tonic, key.mode() == "minor"))
}

fn parse_meter(text: &str) -> ToolResult<TimeSignature> {
    let bad = |why: &str| {
        ToolError::invalid(format!(
            "time_signature '{}' is not a time signature ({why}): give numerator/denominator such as \"4/4\", \"3/4\" or \"6/8\"",
            crate::music::guard::truncate(text, 20)
        ))
    };
    let (num, den) = text.trim().split_once('/').ok_or_else(|| bad("no '/'"))?;
    let num: u32 = num
        .trim()
        .parse()
        .map_err(|_| bad("the numerator is not a number"))?;
    let den: u32 = den
        .trim()
        .parse()
        .map_err(|_| bad("the denominator is not a number"))?;
    if !(1..=32).contains(&num) {
        return Err(bad("the numerator must be 1 to 32"));
    }
    if ![1, 2, 4, 8, 16, 32].contains(&den) {
        return Err(bad("the denominator must be 1, 2, 4, 8, 16 or 32"));
    }
    catch_engine("reading the time signature", || {
        TimeSignature::new(num, den)
    })?
    .map_err(|e| bad(&e.to_string()))
}

/// The arguments, checked, before any source is read.
struct Request {
    measures: u32,
    order: usize,
    key: Option<Key>,
    meter: Option<TimeSignature>,
    new_id: String,
    replace: bool,
}

impl Request {
    fn of(ctx: &ToolContext, args: &Args) -> ToolResult<Self> {
        if !(1..=64).contains(&args.measures) {
            return Err(ToolError::invalid(format!(
                "measures must be between 1 and 64, got {}",
                args.measures
            )));
        }
        let measures = args.measures as u32;
        let order = args.order.unwrap_or(2);
        if !(2..=4).contains(&order) {
            return Err(ToolError::invalid(format!(
                "order must be 2, 3 or 4, got {order}"
            )));
        }
        let order = order as usize;
        let key = args
            .key
            .as_deref()
            .map(|k| parse_key_arg("key", k))
            .transpose()?;
        let meter = args
            .time_signature
            .as_deref()
            .map(parse_meter)
            .transpose()?;
        let new_id = match &args.new_score_id {
            Some(id) => {
                validate_score_id(id)?;
                ensure_id_free(ctx, "new_score_id", id, args.replace)?;
                id.clone()
            }
            None => {
                let canonical = serde_json::json!({
                    "source": match &args.source { SourceArg::Ids(ids) => serde_json::json!(ids), SourceArg::Prefix(p) => serde_json::json!(p) },
                    "measures": measures, "key": args.key, "time_signature": args.time_signature,
                    "seed": args.seed, "order": order,
                });
                let digest = sha2::Sha256::digest(canonical.to_string().as_bytes());
                format!("imitation-{}", &hex::encode(digest)[..12])
            }
        };
        Ok(Self {
            measures,
            order,
            key,
            meter,
            new_id,
            replace: args.replace || args.new_score_id.is_none(),
        })
    }
}

/// The sources parsed, with those passed over and whether a cap left some out.
struct Sources {
    parsed: Vec<Parsed>,
    skipped: Vec<SkippedSource>,
    capped: bool,
}

fn read_sources(ctx: &ToolContext, source: &SourceArg) -> ToolResult<Sources> {
    match source {
        SourceArg::Ids(ids) => {
            if ids.is_empty() {
                return Err(ToolError::invalid("source: the array of score ids is empty; give at least one id, or a corpus prefix like \"bach/\""));
            }
            if ids.len() > MAX_SOURCE_IDS {
                return Err(ToolError::limit(format!(
                    "source: {} score ids, more than the {MAX_SOURCE_IDS} accepted",
                    ids.len()
                )));
            }
            let mut parsed = Vec::new();
            for id in ids {
                let loaded = ctx.load(id)?;
                parsed.push(Parsed {
                    name: id.clone(),
                    score: (*loaded.score).clone(),
                });
            }
            Ok(Sources {
                parsed,
                skipped: Vec::new(),
                capped: false,
            })
        }
        SourceArg::Prefix(prefix) => {
            check_prefix(prefix)?;
            let found = corpus_sources(ctx, prefix);
            if found.parsed.is_empty() {
                let dirs = ctx
                    .config
                    .corpus
                    .dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(ToolError::not_found(format!(
                    "source '{prefix}': no readable scores under this prefix in the corpus directories ({}) or the built-in corpus ({})",
                    if dirs.is_empty() { "none configured".to_string() } else { dirs },
                    BUILTIN.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
                )));
            }
            Ok(found)
        }
    }
}

/// The corpus files and built-in pieces named by a prefix, parsed, in order.
fn corpus_sources(ctx: &ToolContext, prefix: &str) -> Sources {
    let read = read_prefix(
        &ctx.config.corpus.dirs,
        prefix,
        ctx.config.limits.max_source_bytes,
        MAX_SOURCE_FILES,
    );
    let mut skipped: Vec<SkippedSource> = read
        .unread
        .into_iter()
        .map(|u| SkippedSource {
            source: u.name,
            reason: u.reason,
        })
        .collect();
    let parsed = read
        .pieces
        .into_iter()
        .filter_map(|piece| {
            match parse_score(&piece.bytes, piece.format, None, &ctx.config.limits) {
                Ok(score) => Some(Parsed {
                    name: piece.name,
                    score,
                }),
                Err(e) => {
                    skipped.push(SkippedSource {
                        source: piece.name,
                        reason: e.message,
                    });
                    None
                }
            }
        })
        .collect();
    Sources {
        parsed,
        skipped,
        capped: read.capped,
    }
}

/// The melodic lines of the sources, and what the sources say of key, meter and register.
#[derive(Default)]
struct Learned {
    lines: Vec<Line>,
    used: Vec<String>,
    keys_major: usize,
    keys_minor: usize,
    meters: BTreeMap<String, usize>,
    /// Every note of the lines.
    pitches: Vec<SpelledPitch>,
    /// The part each used source was learned from: (source, part, why).
    voices: Vec<(String, String, VoiceReason)>,
}

fn learn_lines(ctx: &ToolContext, sources: &mut Sources) -> ToolResult<Learned> {
    let mut learned = Learned::default();
    let mut notes_total = 0usize;
    let skipped = &mut sources.skipped;
    for source in &sources.parsed {
        if notes_total >= MAX_SOURCE_NOTES {
            sources.capped = true;
            skipped.push(SkippedSource {
                source: source.name.clone(),
                reason: format!("the note cap ({MAX_SOURCE_NOTES}) was reached"),
            });
            continue;
        }
        if count_notes(&source.score).pitches > ctx.config.limits.max_analysis_notes {
            skipped.push(SkippedSource {
                source: source.name.clone(),
                reason: "over limits.max_analysis_notes".into(),
            });
            continue;
        }
        match lines_of(&source.score) {
            Ok(found) if !found.lines.is_empty() => {
                notes_total += found.lines.iter().map(|l| l.tokens.len()).sum::<usize>();
                if found.minor {
                    learned.keys_minor += 1;
                } else {
                    learned.keys_major += 1;
                }
                if let Some(m) = found.meter {
                    *learned.meters.entry(m).or_default() += 1;
                }
                learned.pitches.extend(found.pitches);
                learned.lines.extend(found.lines);
                if let Some((part, reason)) = found.voice {
                    learned.voices.push((source.name.clone(), part, reason));
                }
                learned.used.push(source.name.clone());
            }
            Ok(_) => skipped.push(SkippedSource {
                source: source.name.clone(),
                reason: "no melodic line of two notes or more".into(),
            }),
            Err(e) => skipped.push(SkippedSource {
                source: source.name.clone(),
                reason: e.message,
            }),
        }
    }
    if learned.lines.is_empty() {
        return Err(ToolError::unsupported(format!(
            "source: none of the {} score(s) has a melodic line to learn from ({})",
            sources.parsed.len(),
            skipped
                .iter()
                .map(|s| format!("{}: {}", s.source, s.reason))
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    Ok(learned)
}

/// The key and meter the melody is written in: as asked, or the sources' majority.
struct Setting {
    minor: bool,
    /// The mode on the key's tonic (its final).
    mode: Mode,
    meter: TimeSignature,
    bar_ticks: u32,
    beat_ticks: u32,
}

impl Setting {
    fn choose(request: &Request, learned: &Learned) -> ToolResult<Self> {
        let key = match &request.key {
            Some(k) => k.clone(),
            None => {
                let (tonic, mode) = if learned.keys_minor > learned.keys_major {
                    ("A", "minor")
                } else {
                    ("C", "major")
                };
                parse_key_arg("key", &format!("{tonic} {mode}"))?
            }
        };
        let minor = key.mode() == "minor";
        let tonic = SpelledPitch::from_pitch(key.tonic_pitch()).unwrap_or(SpelledPitch::new(28, 0));
        let mode = Mode::new(
            if minor {
                ModeKind::Aeolian
            } else {
                ModeKind::Ionian
            },
            tonic,
            Some(if minor { "minor" } else { "major" }),
        );
        let meter = match &request.meter {
            Some(m) => m.clone(),
            None => {
                let common = learned
                    .meters
                    .iter()
                    .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                    .map(|(m, _)| m.clone())
                    .unwrap_or_else(|| "4/4".to_string());
                parse_meter(&common).or_else(|_| parse_meter("4/4"))?
            }
        };
        let bar_quarters = meter.bar_duration().quarter_length();
        let bar_ticks = quantise(bar_quarters);
        if bar_ticks < 1
            || (bar_quarters * f64::from(TICKS_PER_QUARTER) - bar_ticks as f64).abs() > 1e-9
        {
            return Err(ToolError::invalid(format!(
                "time_signature {}: its bar cannot be counted in 32nd notes",
                meter.ratio_string()
            )));
        }
        let beat_ticks = meter
            .beat_duration()
            .ok()
            .map(|d| quantise(d.quarter_length()).max(1) as u32)
            .unwrap_or(TICKS_PER_QUARTER);
        Ok(Self {
            minor,
            mode,
            meter,
            bar_ticks: bar_ticks as u32,
            beat_ticks,
        })
    }
}

fn run(ctx: &ToolContext, args: Args) -> ToolResult<Output> {
    let request = Request::of(ctx, &args)?;
    let mut sources = read_sources(ctx, &args.source)?;
    let mut learned = learn_lines(ctx, &mut sources)?;
    let setting = Setting::choose(&request, &learned)?;
    learned
        .pitches
        .sort_unstable_by_key(|p| (p.midi(), p.dia, p.alter));
    let midis: Vec<i32> = learned.pitches.iter().map(|p| p.midi()).collect();
    let median_midi = percentile(&midis, 0.5);
    let reference = reference_tonic(&setting.mode, median_midi);
    let scale = scale_of(&setting.mode, reference, setting.minor);
    let (p5, p95) = percentile_register(&midis);
    let (low_midi, high_midi) = kept_register(p5, p95, &scale);

    crate::tools::progress::report(50.0, || {
        format!("learning from {} melodic lines", learned.lines.len())
    });
    let model = Model::learn(&learned.lines, request.order);
    let frame = Frame {
        bar_ticks: setting.bar_ticks,
        measures: request.measures,
        beat_ticks: setting.beat_ticks,
        scale,
        low_midi,
        high_midi,
        center: position_near(median_midi, &scale),
    };
    let melody = generate(&model, &frame, args.seed);
    let tones = spell(&melody, &setting.mode, reference);

    let title = format!(
        "In the style of {}",
        match &args.source {
            SourceArg::Prefix(p) => p.clone(),
            SourceArg::Ids(ids) => ids.join(", "),
        }
    );
    let score = melody_score(
        &melody,
        &tones,
        &setting.meter,
        setting.bar_ticks,
        setting.mode.sharps(),
        request.measures,
        &title,
    )?;
    let origin = format!("imitate_style:seed{}", args.seed);
    let stored = store_generated(
        ctx,
        &request.new_id,
        &score,
        "musicxml",
        &origin,
        request.replace,
    )?;

    let statistics = statistics::statistics(
        &learned.lines,
        &melody,
        &tones,
        args.seed,
        frame.degree_range(),
        statistics::register(&learned.pitches, (low_midi, high_midi)),
    );
    let limitations = limitations(&melody, &request, &setting, &statistics, sources.capped);
    let Learned {
        lines,
        used,
        keys_major,
        keys_minor,
        meters,
        voices,
        ..
    } = learned;
    let p = &melody.provenance;
    Ok(Output {
        new_score_id: request.new_id,
        key: format!(
            "{} {}",
            setting.mode.final_name(),
            if setting.minor { "minor" } else { "major" }
        ),
        time_signature: setting.meter.ratio_string(),
        measures: request.measures as usize,
        seed: args.seed,
        notes: melody_notes(&melody, &tones, &setting),
        starts_on_tonic: tones.first().is_some_and(|t| setting.mode.degree(*t) == 0),
        ends_on_tonic: tones.last().is_some_and(|t| setting.mode.degree(*t) == 0),
        bars_exact: bars_exact(&melody, request.measures, setting.bar_ticks),
        sources: SourcesReport {
            used,
            skipped: sources.skipped,
            capped: sources.capped,
            lines: lines.len(),
            notes: model.notes,
            keys_major,
            keys_minor,
            time_signatures: meters,
            voices: voices_report(voices),
        },
        model: ModelReport {
            order: request.order,
            contexts: model.contexts(),
            drawn_by_order: p.by_order.clone(),
            drawn_position_free: p.position_free,
            fitted_to_barline: p.fitted,
            forced_tonic: p.forced,
            attempt: melody.attempt,
        },
        statistics,
        limitations,
        stored,
    })
}

fn melody_notes(melody: &Melody, tones: &[SpelledPitch], setting: &Setting) -> Vec<MelodyNote> {
    let (bar_ticks, beat_ticks) = (setting.bar_ticks, setting.beat_ticks);
    let tpq = f64::from(TICKS_PER_QUARTER);
    melody
        .notes
        .iter()
        .zip(tones)
        .map(|(n, t)| {
            let bar = n.start / bar_ticks;
            MelodyNote {
                measure: bar as usize + 1,
                beat: round(1.0 + f64::from(n.start - bar * bar_ticks) / f64::from(beat_ticks)),
                pitch: t.name(),
                quarters: f64::from(n.dur) / tpq,
            }
        })
        .collect()
}

/// Which part each source was learned from: counted by reason, and the first few.
fn voices_report(voices: Vec<(String, String, VoiceReason)>) -> VoicesReport {
    let mut by_reason = BTreeMap::new();
    for (_, _, reason) in &voices {
        *by_reason.entry(reason.label().to_string()).or_insert(0) += 1;
    }
    VoicesReport {
        by_reason,
        first: voices
            .into_iter()
            .take(10)
            .map(|(source, part, reason)| ChosenVoice {
                source,
                part,
                reason: reason.label().to_string(),
            })
            .collect(),
    }
}

/// What the melody could not do, in words.
fn limitations(
    melody: &Melody,
    request: &Request,
    setting: &Setting,
    statistics: &Statistics,
    capped: bool,
) -> Vec<String> {
    let closer_than_random = statistics.interval_distances.closer_than_random;
    let (p, order) = (&melody.provenance, request.order);
    let mut limitations = Vec::new();
    let drawn: usize = p.by_order.iter().sum();
    let full = p.by_order.last().copied().unwrap_or(0);
    if drawn > 0 && full < drawn {
        limitations.push(format!(
            "{} of {drawn} notes were drawn from shorter contexts than order {order} (back-off): the sources never had their full context",
            drawn - full
        ));
    }
    if p.position_free > 0 {
        limitations.push(format!(
            "{} note(s) were drawn ignoring the metric position: nothing the sources did at that place in a {} bar fitted",
            p.position_free,
            setting.meter.ratio_string()
        ));
    }
    if p.fitted > 0 {
        limitations.push(format!(
            "{} note(s) were cut or stretched to reach the barline: no learned duration fitted the room left",
            p.fitted
        ));
    }
    let n = melody.notes.len();
    if n >= 2 && (melody.notes[n - 1].pos - melody.notes[n - 2].pos).abs() != 1 {
        limitations.push(format!(
            "the final tonic is reached by a leap of {} scale steps: none of {} draws reached it by step",
            (melody.notes[n - 1].pos - melody.notes[n - 2].pos).abs(),
            ATTEMPTS
        ));
    }
    if !closer_than_random {
        limitations.push("the melody's interval histogram is not closer to the sources than a uniform random walk's".into());
    }
    if capped {
        limitations.push(format!(
            "only part of the sources was read (at most {MAX_SOURCE_FILES} files and {MAX_SOURCE_NOTES} notes)"
        ));
    }
    let register = &statistics.register;
    if register.widened {
        limitations.push(format!(
            "the sources' register ({} to {}, 5th to 95th percentile) was widened to {} to {} to be a sixth wide and hold a tonic",
            register.source_low.name,
            register.source_high.name,
            register.kept_low.name,
            register.kept_high.name
        ));
    }
    limitations.push("the melody stays in its key (in minor the seventh, and the sixth before it, are raised only rising to the tonic): the sources' chromatic notes count only through intervals that also lead to a note of the key".into());
    limitations
}

#[cfg(test)]
mod tests;
