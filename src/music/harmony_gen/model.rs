//! What Bach does: chord succession, chords under melody notes, and basses, counted from his
//! chorales and read back as costs the search adds to its voice-leading rules.
//!
//! The model is a hidden Markov model in the spirit of Allan & Williams (NIPS 2004): the
//! hidden state is the chord (its root-position figure in the key, so the labels are the
//! chorale vocabulary's own: `V7`, `V/V`, `viio7`), the observation is the melody's pitch
//! class above the tonic. Four tables, each for major and for minor keys:
//! - succession `P(next | previous)` between different chords, one table inside phrases and
//!   one for the chord a fermata falls on, so cadences are learnt from the cadences alone;
//! - harmony under the melody `P(chord | melody degree)`;
//! - the bass `P(bass member | chord)` inside phrases, on the beat before a fermata and on
//!   it (Bach's cadences are in root position far more often than his passing dominants).
//! - the chord and bass member under the melody in its context
//!   `P(chord, member | previous, current and next melody note, place)`, backed off through
//!   narrower contexts: what the search reads for each beat's chord and bass (the melody and
//!   bass tables above set the chord per beat as Bach does less often, 29.5 % against 34.5 %
//!   on the held-out chorales, and are kept in the file for comparison).
//!
//! The counts come from `scripts/build-harmony-model` (see [`super::learn`]) and live in
//! `assets/harmony/bach-model.tsv`, which the crate embeds. Probabilities are smoothed towards
//! the chord's overall frequency, so a pair Bach never wrote is rare but possible; a cost is
//! `-ln P` scaled to the search's integer costs.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::theory::Member;

/// The counts the crate was built with.
const EMBEDDED: &str = include_str!("../../../assets/harmony/bach-model.tsv");

/// How strongly each table pulls against the voice-leading costs (cost units per nat).
/// Tuned with scripts/eval-music on the held-out chorales: at a third of these the
/// cadences at fermatas were mostly inverted dominants (18 perfect authentic cadences
/// where Bach has 47); at these, 37, with the mix of cadence types within 10 points of
/// Bach's; doubling them changed little.
pub const SUCCESSION_WEIGHT: f64 = 30.0;
pub const MELODY_WEIGHT: f64 = 25.0;
pub const BASS_WEIGHT: f64 = 25.0;

/// How strongly the chord and bass the melody's context asks for pull (cost units per nat).
/// With it the search reads the chord and bass from the context table, not from the melody
/// and bass tables (kept in the file for comparison). Tuned with scripts/eval-music: with
/// the succession at 30, 5.8 points off Bach's cadence mix; at 15, 12.5 (too few authentic
/// closes) for 2 points more roots.
pub const CONTEXT_WEIGHT: f64 = 25.0;

/// Pseudo-counts of the back-off to the chord's overall frequency.
const BACKOFF: f64 = 3.0;

/// Pseudo-counts of each step of the context table's back-off to a narrower context.
const CONTEXT_BACKOFF: f64 = 2.0;

/// A melody pitch class for a beat where the melody rests.
pub const NO_NOTE: i32 = -1;
/// A melody pitch class before the first beat or after the last.
pub const OUTSIDE: i32 = -2;

/// The melody around a beat, each pitch class above the tonic ([`NO_NOTE`], [`OUTSIDE`]),
/// and where the beat falls: what the context table conditions a beat's chord and bass on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MelodyContext {
    pub prev: i32,
    pub melody: i32,
    pub next: i32,
    pub place: Place,
}

impl MelodyContext {
    /// The context of beat `i` of a melody given as pitch classes above the tonic, one per
    /// beat (`None` where it rests); `None` when beat `i` has no note. The learner and the
    /// search both read contexts through this, so they name them alike.
    pub fn in_line(line: &[Option<i32>], i: usize, place: Place) -> Option<Self> {
        let around = |j: Option<usize>| {
            j.and_then(|j| line.get(j))
                .map_or(OUTSIDE, |pc| pc.unwrap_or(NO_NOTE))
        };
        Some(MelodyContext {
            prev: around(i.checked_sub(1)),
            melody: (*line.get(i)?)?,
            next: around(Some(i + 1)),
            place,
        })
    }

    /// The contexts the table backs off through, widest first, as the file writes them:
    /// the melody's note; with the next; with the previous; with the place.
    pub fn levels(&self) -> [String; CONTEXT_LEVELS] {
        let (p, m, n) = (self.prev, self.melody, self.next);
        [
            format!("{m}"),
            format!("{m} {n}"),
            format!("{p} {m} {n}"),
            format!("{p} {m} {n} {}", self.place.name()),
        ]
    }
}

/// How many contexts [`MelodyContext::levels`] gives.
pub const CONTEXT_LEVELS: usize = 4;

/// Where in the phrase a chord falls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Place {
    /// Anywhere else.
    Inside,
    /// The beat before a fermata: the cadence's penultimate chord (bass table only).
    Approach,
    /// On the fermata that ends a phrase.
    Cadence,
}

impl Place {
    pub fn name(self) -> &'static str {
        match self {
            Place::Inside => "inside",
            Place::Approach => "approach",
            Place::Cadence => "cadence",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "inside" => Some(Place::Inside),
            "approach" => Some(Place::Approach),
            "cadence" => Some(Place::Cadence),
            _ => None,
        }
    }
}

pub fn member_name(member: Member) -> &'static str {
    match member {
        Member::Root => "root",
        Member::Third => "third",
        Member::Fifth => "fifth",
        Member::Seventh => "seventh",
        Member::Added => "added",
    }
}

fn parse_member(text: &str) -> Option<Member> {
    match text {
        "root" => Some(Member::Root),
        "third" => Some(Member::Third),
        "fifth" => Some(Member::Fifth),
        "seventh" => Some(Member::Seventh),
        "added" => Some(Member::Added),
        _ => None,
    }
}

/// Counts for one mode.
#[derive(Clone, Debug, Default)]
pub struct ModeCounts {
    /// (place, previous, next) -> changes from one chord to a different one.
    pub succession: HashMap<(Place, String, String), f64>,
    /// (melody pitch class above the tonic, chord) -> beats.
    pub melody: HashMap<(i32, String), f64>,
    /// (place, chord, bass member) -> beats.
    pub bass: HashMap<(Place, String, Member), f64>,
    /// (context level, context, chord, bass member) -> beats: the chord and bass Bach sets
    /// under a melody note in its context ([`MelodyContext::levels`]).
    pub context: HashMap<(usize, String, String, Member), f64>,
}

/// The counts of both modes, and the totals the probabilities divide by.
#[derive(Debug, Default)]
pub struct BachModel {
    major: ModeTables,
    minor: ModeTables,
}

#[derive(Debug, Default)]
struct ModeTables {
    counts: ModeCounts,
    /// chord -> beats: the back-off distribution.
    chord_total: HashMap<String, f64>,
    beats: f64,
    /// (place, previous) -> changes out of it.
    succession_from: HashMap<(Place, String), f64>,
    /// (place, next) -> changes into it, and all changes at that place.
    succession_into: HashMap<(Place, String), f64>,
    succession_all: HashMap<Place, f64>,
    melody_total: HashMap<i32, f64>,
    bass_total: HashMap<(Place, String), f64>,
    /// (level, context) -> beats; (level, context, chord) -> beats.
    context_total: HashMap<(usize, String), f64>,
    context_chord: HashMap<(usize, String, String), f64>,
    /// The widest level's totals: (chord, member) -> beats, chord -> beats, and all beats.
    state_total: HashMap<(String, Member), f64>,
    state_chord_total: HashMap<String, f64>,
    state_beats: f64,
}

impl ModeTables {
    fn of(counts: ModeCounts) -> Self {
        let mut t = ModeTables::default();
        for ((pc, chord), n) in &counts.melody {
            *t.chord_total.entry(chord.clone()).or_default() += n;
            *t.melody_total.entry(*pc).or_default() += n;
            t.beats += n;
        }
        for ((place, prev, next), n) in &counts.succession {
            *t.succession_from.entry((*place, prev.clone())).or_default() += n;
            *t.succession_into.entry((*place, next.clone())).or_default() += n;
            *t.succession_all.entry(*place).or_default() += n;
        }
        for ((place, chord, _), n) in &counts.bass {
            *t.bass_total.entry((*place, chord.clone())).or_default() += n;
        }
        for ((level, context, chord, member), n) in &counts.context {
            *t.context_total
                .entry((*level, context.clone()))
                .or_default() += n;
            *t.context_chord
                .entry((*level, context.clone(), chord.clone()))
                .or_default() += n;
            if *level == 0 {
                *t.state_total.entry((chord.clone(), *member)).or_default() += n;
                *t.state_chord_total.entry(chord.clone()).or_default() += n;
                t.state_beats += n;
            }
        }
        t.counts = counts;
        t
    }

    /// How often the chord is heard at all, never quite zero.
    fn prior(&self, chord: &str) -> f64 {
        let n = self.chord_total.get(chord).copied().unwrap_or(0.0);
        (n + 0.5) / (self.beats + 0.5 * (self.chord_total.len() as f64 + 1.0))
    }

    fn succession(&self, place: Place, prev: &str, next: &str) -> f64 {
        // Back off to how often a change at this place goes into `next`, and that to the prior.
        let into = count(&self.succession_into, &(place, next.to_string()));
        let all = count(&self.succession_all, &place);
        let into_p = (into + BACKOFF * self.prior(next)) / (all + BACKOFF);
        let pair = count(
            &self.counts.succession,
            &(place, prev.to_string(), next.to_string()),
        );
        let from = count(&self.succession_from, &(place, prev.to_string()));
        (pair + BACKOFF * into_p) / (from + BACKOFF)
    }

    fn melody(&self, melody_pc: i32, chord: &str) -> f64 {
        let pair = count(&self.counts.melody, &(melody_pc, chord.to_string()));
        let total = count(&self.melody_total, &melody_pc);
        (pair + BACKOFF * self.prior(chord)) / (total + BACKOFF)
    }

    /// `P(chord | context)`, backing off from the narrowest context to the chord's frequency.
    fn context_chord(&self, levels: &[String; CONTEXT_LEVELS], chord: &str) -> f64 {
        let n = count(&self.state_chord_total, &chord.to_string());
        let kinds = self.state_chord_total.len() as f64 + 1.0;
        let mut p = (n + 0.5) / (self.state_beats + 0.5 * kinds);
        for (level, context) in levels.iter().enumerate() {
            let pair = count(
                &self.context_chord,
                &(level, context.clone(), chord.to_string()),
            );
            let total = count(&self.context_total, &(level, context.clone()));
            p = (pair + CONTEXT_BACKOFF * p) / (total + CONTEXT_BACKOFF);
        }
        p
    }

    /// `P(chord, bass member | context)`, backed off the same way.
    fn context_state(&self, levels: &[String; CONTEXT_LEVELS], chord: &str, member: Member) -> f64 {
        let n = count(&self.state_total, &(chord.to_string(), member));
        let kinds = self.state_total.len() as f64 + 1.0;
        let mut p = (n + 0.5) / (self.state_beats + 0.5 * kinds);
        for (level, context) in levels.iter().enumerate() {
            let key = (level, context.clone(), chord.to_string(), member);
            let pair = count(&self.counts.context, &key);
            let total = count(&self.context_total, &(level, context.clone()));
            p = (pair + CONTEXT_BACKOFF * p) / (total + CONTEXT_BACKOFF);
        }
        p
    }

    fn bass(&self, place: Place, chord: &str, member: Member) -> f64 {
        let pair = count(&self.counts.bass, &(place, chord.to_string(), member));
        let total = count(&self.bass_total, &(place, chord.to_string()));
        // Unknown chords: root position is the likeliest, as in every table Bach fills.
        let fallback = match member {
            Member::Root => 0.6,
            Member::Third => 0.25,
            Member::Fifth => 0.08,
            Member::Seventh => 0.06,
            Member::Added => 0.01,
        };
        (pair + BACKOFF * fallback) / (total + BACKOFF)
    }
}

/// A table's count for a key it may not hold.
fn count<K: std::hash::Hash + Eq>(table: &HashMap<K, f64>, key: &K) -> f64 {
    table.get(key).copied().unwrap_or(0.0)
}

fn cost(weight: f64, p: f64) -> i64 {
    (-p.max(1e-9).ln() * weight).round() as i64
}

impl BachModel {
    /// The model the crate embeds (built once, on first use).
    pub fn embedded() -> &'static BachModel {
        static MODEL: OnceLock<BachModel> = OnceLock::new();
        MODEL.get_or_init(|| {
            // The file is the crate's own, checked by a test: a bad line is a build mistake.
            BachModel::parse(EMBEDDED).unwrap_or_default()
        })
    }

    pub fn from_counts(major: ModeCounts, minor: ModeCounts) -> Self {
        Self {
            major: ModeTables::of(major),
            minor: ModeTables::of(minor),
        }
    }

    fn mode(&self, minor: bool) -> &ModeTables {
        if minor {
            &self.minor
        } else {
            &self.major
        }
    }

    /// Whether the model holds any counts (an empty file gives none).
    pub fn is_empty(&self) -> bool {
        self.major.beats == 0.0 && self.minor.beats == 0.0
    }

    pub fn succession_cost(&self, minor: bool, place: Place, prev: &str, next: &str) -> i64 {
        cost(
            SUCCESSION_WEIGHT,
            self.mode(minor).succession(place, prev, next),
        )
    }

    pub fn melody_cost(&self, minor: bool, melody_pc: i32, chord: &str) -> i64 {
        cost(MELODY_WEIGHT, self.mode(minor).melody(melody_pc, chord))
    }

    pub fn bass_cost(&self, minor: bool, place: Place, chord: &str, member: Member) -> i64 {
        cost(BASS_WEIGHT, self.mode(minor).bass(place, chord, member))
    }

    /// What a chord costs under a melody note in its context (`levels` from
    /// [`MelodyContext::levels`]): `-ln P(chord | context)`.
    pub fn context_chord_cost(
        &self,
        minor: bool,
        levels: &[String; CONTEXT_LEVELS],
        chord: &str,
    ) -> i64 {
        let p = self.mode(minor).context_chord(levels, chord);
        cost(CONTEXT_WEIGHT, p)
    }

    /// What the chord's bass member costs there: `-ln P(member | chord, context)`.
    pub fn context_bass_cost(
        &self,
        minor: bool,
        levels: &[String; CONTEXT_LEVELS],
        chord: &str,
        member: Member,
    ) -> i64 {
        let tables = self.mode(minor);
        let joint = tables.context_state(levels, chord, member);
        let chord_p = tables.context_chord(levels, chord);
        cost(CONTEXT_WEIGHT, (joint / chord_p).min(1.0))
    }

    /// The model as the file holds it: a line per count, tab-separated, sorted.
    pub fn to_tsv(&self, header: &str) -> String {
        let mut lines = Vec::new();
        for (mode, tables) in [("major", &self.major), ("minor", &self.minor)] {
            let c = &tables.counts;
            for ((place, prev, next), n) in &c.succession {
                lines.push(format!(
                    "succession\t{mode}\t{}\t{prev}\t{next}\t{n}",
                    place.name()
                ));
            }
            for ((pc, chord), n) in &c.melody {
                lines.push(format!("melody\t{mode}\t{pc}\t{chord}\t{n}"));
            }
            for ((level, context, chord, member), n) in &c.context {
                lines.push(format!(
                    "context\t{mode}\t{level}\t{context}\t{chord}\t{}\t{n}",
                    member_name(*member)
                ));
            }
            for ((place, chord, member), n) in &c.bass {
                lines.push(format!(
                    "bass\t{mode}\t{}\t{chord}\t{}\t{n}",
                    place.name(),
                    member_name(*member)
                ));
            }
        }
        lines.sort();
        let mut out = String::new();
        for line in header.lines() {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
        for line in lines {
            out.push_str(&line);
            out.push('\n');
        }
        out
    }

    /// Reads the file [`BachModel::to_tsv`] writes; an error names the line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut major = ModeCounts::default();
        let mut minor = ModeCounts::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || format!("line {}: cannot read '{line}'", i + 1);
            let fields: Vec<&str> = line.split('\t').collect();
            let counts = match fields.get(1) {
                Some(&"major") => &mut major,
                Some(&"minor") => &mut minor,
                _ => return Err(bad()),
            };
            let n: f64 = fields.last().and_then(|f| f.parse().ok()).ok_or_else(bad)?;
            match (fields[0], fields.len()) {
                ("succession", 6) => {
                    let place = Place::parse(fields[2]).ok_or_else(bad)?;
                    counts
                        .succession
                        .insert((place, fields[3].into(), fields[4].into()), n);
                }
                ("melody", 5) => {
                    let pc: i32 = fields[2].parse().map_err(|_| bad())?;
                    counts.melody.insert((pc, fields[3].into()), n);
                }
                ("context", 7) => {
                    let level: usize = fields[2].parse().map_err(|_| bad())?;
                    if level >= CONTEXT_LEVELS {
                        return Err(bad());
                    }
                    let member = parse_member(fields[5]).ok_or_else(bad)?;
                    counts
                        .context
                        .insert((level, fields[3].into(), fields[4].into(), member), n);
                }
                ("bass", 6) => {
                    let place = Place::parse(fields[2]).ok_or_else(bad)?;
                    let member = parse_member(fields[4]).ok_or_else(bad)?;
                    counts.bass.insert((place, fields[3].into(), member), n);
                }
                _ => return Err(bad()),
            }
        }
        Ok(Self::from_counts(major, minor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_model_reads_and_prefers_bachs_cadence() {
        let parsed = BachModel::parse(EMBEDDED).expect("assets/harmony/bach-model.tsv reads");
        assert!(!parsed.is_empty(), "the embedded model has counts");
        let model = BachModel::embedded();
        // At a fermata, V7 -> I is far likelier than V7 -> IV.
        let authentic = model.succession_cost(false, Place::Cadence, "V7", "I");
        let retrogression = model.succession_cost(false, Place::Cadence, "V7", "IV");
        assert!(authentic < retrogression, "{authentic} !< {retrogression}");
        // The tonic's root under the final's melody tonic: root position at cadences.
        let root = model.bass_cost(false, Place::Cadence, "I", Member::Root);
        let third = model.bass_cost(false, Place::Cadence, "I", Member::Third);
        assert!(root < third, "{root} !< {third}");
    }

    #[test]
    fn counts_round_trip_through_the_file() {
        let mut major = ModeCounts::default();
        major
            .succession
            .insert((Place::Cadence, "V".into(), "I".into()), 4.0);
        major.melody.insert((0, "I".into()), 9.0);
        major.melody.insert((7, "V".into()), 5.0);
        major
            .bass
            .insert((Place::Inside, "V".into(), Member::Third), 2.0);
        let model = BachModel::from_counts(major, ModeCounts::default());
        let text = model.to_tsv("test");
        let back = BachModel::parse(&text).expect("reads its own output");
        assert_eq!(back.to_tsv("test"), text);
        assert!(
            back.melody_cost(false, 0, "I") < back.melody_cost(false, 0, "V"),
            "the seen pair is cheaper"
        );
        assert!(BachModel::parse("melody\tmajor\tx\tI\t1").is_err());
    }

    #[test]
    fn the_context_table_round_trips_and_backs_off() {
        let context = MelodyContext {
            prev: 2,
            melody: 0,
            next: 11,
            place: Place::Inside,
        };
        let mut major = ModeCounts::default();
        for (level, text) in context.levels().into_iter().enumerate() {
            major
                .context
                .insert((level, text.clone(), "I".into(), Member::Root), 6.0);
            major
                .context
                .insert((level, text, "IV".into(), Member::Fifth), 1.0);
        }
        let model = BachModel::from_counts(major, ModeCounts::default());
        let text = model.to_tsv("test");
        assert!(text.contains("context\tmajor\t3\t2 0 11 inside\tI\troot\t6"));
        let back = BachModel::parse(&text).expect("reads its own output");
        assert_eq!(back.to_tsv("test"), text);
        let levels = context.levels();
        let tonic = back.context_chord_cost(false, &levels, "I");
        let subdominant = back.context_chord_cost(false, &levels, "IV");
        assert!(tonic < subdominant, "{tonic} !< {subdominant}");
        let root = back.context_bass_cost(false, &levels, "I", Member::Root);
        let third = back.context_bass_cost(false, &levels, "I", Member::Third);
        assert!(root < third, "{root} !< {third}");
        // A context never seen backs off to the widest one that was.
        let unseen = MelodyContext { next: 5, ..context }.levels();
        assert!(
            back.context_chord_cost(false, &unseen, "I")
                < back.context_chord_cost(false, &unseen, "IV")
        );
        assert!(BachModel::parse("context\tmajor\t9\t0\tI\troot\t1").is_err());
    }
}
