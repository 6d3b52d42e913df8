//! What `imitate_style` answers: the melody, its sources, the model, and the statistics
//! that compare them.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use crate::tools::scores::StoredResult;

/// A note of the melody.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct MelodyNote {
    pub measure: usize,
    /// Beat (quarter notes from 1) where the note starts.
    pub beat: f64,
    pub pitch: String,
    pub quarters: f64,
}

/// One bin of the interval histograms: a move of `steps` scale degrees (negative down,
/// ±7 counts an octave or more).
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct IntervalBin {
    pub steps: i32,
    pub result: f64,
    pub source: f64,
    /// The uniform random walk (every step from an octave down to an octave up alike).
    pub uniform: f64,
    /// A seeded uniform random walk as long as the result.
    pub random_walk: f64,
}

/// One bin of the rhythm histograms: a duration in quarter notes.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct RhythmBin {
    pub quarters: String,
    pub result: f64,
    pub source: f64,
}

/// A distance between two histograms, two ways.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Distance {
    /// Jensen-Shannon divergence in bits: 0 identical, 1 disjoint.
    pub jensen_shannon: f64,
    /// Sum of absolute differences: 0 identical, 2 disjoint.
    pub l1: f64,
}

/// How far the result's interval histogram is from the sources', against the baselines.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct IntervalDistances {
    /// Result to sources.
    pub result_to_source: Distance,
    /// The uniform random walk's histogram to the sources'.
    pub uniform_to_source: Distance,
    /// A seeded uniform random walk as long as the result, to the sources'.
    pub random_walk_to_source: Distance,
    /// Result to the uniform random walk's histogram.
    pub result_to_uniform: Distance,
    /// Whether the result is closer to the sources than to the uniform walk, and closer to
    /// the sources than both random-walk baselines are (Jensen-Shannon).
    pub closer_than_random: bool,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct RangeStats {
    pub lowest: String,
    pub highest: String,
    /// Semitones from lowest to highest.
    pub span: i32,
    /// `lowest` and `highest` as MIDI numbers.
    pub lowest_midi: i32,
    pub highest_midi: i32,
}

/// A pitch, named as music21 names it (`D4`, `F#5`) and as a MIDI number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct NamedPitch {
    pub name: String,
    pub midi: i32,
}

/// The register of the sources' melodic voices, and the one the melody was kept in.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Register {
    /// The 5th percentile pitch of the notes of the sources' melodic voices.
    pub source_low: NamedPitch,
    /// The 95th percentile pitch of those notes.
    pub source_high: NamedPitch,
    /// The bounds every note of the melody was kept within: `source_low` and
    /// `source_high`, unless those are less than a major sixth apart or hold no tonic of
    /// the melody's key, when they are widened (see `widened`).
    pub kept_low: NamedPitch,
    pub kept_high: NamedPitch,
    /// Whether the kept bounds are wider than the sources' percentiles.
    pub widened: bool,
}

/// Tritone leaps (6 semitones or a compound tritone: augmented fourths and diminished
/// fifths), in the sources' melodic voices and in the melody.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct TritoneLeaps {
    /// Melodic intervals between consecutive notes of the sources' phrases (not across
    /// rests).
    pub source_intervals: usize,
    /// Those a tritone.
    pub source_tritones: usize,
    /// Tritone leaps per melodic interval in the sources (0 with no intervals).
    pub source_rate: f64,
    /// Melodic intervals of the melody, as written (raised sixths and sevenths included).
    pub result_intervals: usize,
    pub result_tritones: usize,
    /// Tritone leaps per melodic interval in the melody.
    pub result_rate: f64,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SourceRange {
    /// Median semitone span of the source lines.
    pub median_span: i32,
    /// Widest span of a source line.
    pub max_span: i32,
    /// The register the melody was kept in: scale steps above the tonic from the sources'
    /// 5th to 95th percentile.
    pub degree_low: i32,
    pub degree_high: i32,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Statistics {
    pub interval_histogram: Vec<IntervalBin>,
    pub interval_distances: IntervalDistances,
    pub rhythm_histogram: Vec<RhythmBin>,
    pub rhythm_distance: Distance,
    pub result_range: RangeStats,
    pub source_range: SourceRange,
    /// The sources' register in pitches, and the bounds the melody was kept within.
    pub register: Register,
    pub tritone_leaps: TritoneLeaps,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SkippedSource {
    pub source: String,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SourcesReport {
    /// Scores learned from.
    pub used: Vec<String>,
    pub skipped: Vec<SkippedSource>,
    /// Whether the file cap (200) or the note cap (100,000) left sources out.
    pub capped: bool,
    /// Melodic lines (phrases between rests) learned from.
    pub lines: usize,
    pub notes: usize,
    /// Keys of the sources as found (music21's AardenEssen key), counted.
    pub keys_major: usize,
    pub keys_minor: usize,
    /// Time signatures of the sources, counted.
    pub time_signatures: BTreeMap<String, usize>,
    /// Which part of each source was learned from.
    pub voices: VoicesReport,
}

/// Which part of each source was learned from: its melodic voice.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct VoicesReport {
    /// Sources learned from, counted by why their part was chosen: `soprano_by_name` (a
    /// part named Soprano, Sopran, S., Cantus, Discantus, Canto or Superius, by its part or
    /// instrument name), `highest_vocal_part` (no soprano: the highest by mean pitch of the
    /// parts named as voices, such as Alto, Tenor, Bass, Voice or Chor),
    /// `highest_part` (no part named as a voice: the highest part by mean pitch, leaving out
    /// a part named as an instrument that doubles a lower part), `only_part` (one part has
    /// notes).
    pub by_reason: BTreeMap<String, usize>,
    /// The first sources learned from (at most 10), with the part used.
    pub first: Vec<ChosenVoice>,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ChosenVoice {
    pub source: String,
    /// The part's name (else its id, else `Part N`).
    pub part: String,
    /// One of the reasons counted in `by_reason`.
    pub reason: String,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ModelReport {
    pub order: usize,
    /// Contexts learned per context length (index 0 is the unigram).
    pub contexts: Vec<usize>,
    /// Notes drawn with a context of each length (index = context length).
    pub drawn_by_order: Vec<usize>,
    /// Notes drawn ignoring the metric position (nothing learned fitted the position).
    pub drawn_position_free: usize,
    /// Notes made to fit the room left in the bar (lengthened or shortened).
    pub fitted_to_barline: usize,
    /// Notes placed by rule: the first and last tonic.
    pub forced_tonic: usize,
    /// Which draw (from 0) was kept: the first reaching the final tonic by step.
    pub attempt: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    pub new_score_id: String,
    /// The key written in, e.g. `C major`.
    pub key: String,
    pub time_signature: String,
    pub measures: usize,
    pub seed: u64,
    pub notes: Vec<MelodyNote>,
    pub starts_on_tonic: bool,
    pub ends_on_tonic: bool,
    /// Whether every bar is filled exactly.
    pub bars_exact: bool,
    pub sources: SourcesReport,
    pub model: ModelReport,
    pub statistics: Statistics,
    /// What could not be achieved, in words.
    pub limitations: Vec<String>,
    #[serde(flatten)]
    pub stored: StoredResult,
}
