//! The reading in local keys: each phrase's chords as Roman numerals in the key that phrase
//! is in (`music::local_keys`), chromatic dominants written as the applied chords they are,
//! and the cadence at each phrase end read in that key between harmonies, passing
//! sonorities left out (`music::sonority`).
//!
//! The home-key reading beside it stays music21's, chord for chord; this one is what a
//! harmony class would write. Two things differ:
//! - **Applied chords.** A chord with a tone foreign to the local key (the minor key's
//!   raised sixth and seventh are its own) that is the dominant (`V`, `V7` and inversions)
//!   or the leading-tone chord (`viio`, `viio7`, `viiø7`) of a diatonic degree other than
//!   the tonic is written over that degree: `V7/V`, `viio/V`, `V/vi`. The degree is
//!   tried in the order tonicisations are common (V, ii, vi, IV, iii in major; V, III, iv,
//!   VI, VII in minor), so a diminished seventh, which belongs to four keys, is given to the
//!   likeliest. The cadence is still judged on the plain numeral (`II` is not `V`), so
//!   `V/V -> V` at home is a half cadence, as it should be; when the phrase has reached
//!   the dominant the same chords read `V -> I` there.
//! - **Harmonies, not slices.** The final harmony is the chord held longest under the
//!   phrase's last note (`phrase_span`), and the penultimate harmony is the nearest earlier
//!   chord that is neither the final harmony again nor a passing sonority
//!   (`music::sonority::is_harmony_before_final`), so an eighth-note slice between the
//!   last two chords, or a suspension struck with the fermata, does not hide the cadence.

use std::ops::RangeInclusive;

use music21_rs::{Chord, Key};
use schemars::JsonSchema;
use serde::Serialize;

use super::phrase_span::{phrase_spans, PhraseStop};
use super::{classify_cadence, CadenceType, Numeral};
use crate::music::local_keys::{phrase_keys, KeyEvidence};
use crate::music::sonority::{is_harmony_before_final, pitch_class, Sonority};
use crate::music::timeline::MeasureGrid;
use crate::tools::analysis_common::{display, key_label, music21_name, roman_of, ChordEntry};

/// A stretch of the score in one local key (one or more phrases in a row).
#[derive(Debug, Serialize, JsonSchema)]
pub struct LocalKeyRegion {
    /// The key as music21 prints it: `A major`, `f# minor`.
    pub key: String,
    /// Where the region's first chord starts.
    pub from_measure: i64,
    pub from_beat: f64,
    pub from_offset: f64,
    /// Where the region's last chord (the end of its last phrase) starts.
    pub to_measure: i64,
    pub to_beat: f64,
    pub to_offset: f64,
    /// Indices of the first and the last chord.
    pub first_chord: usize,
    pub last_chord: usize,
    /// Why the key of the region's last phrase was chosen: `cadence` (it ends with an
    /// authentic cadence in the key), `half_cadence` (it ends on the key's dominant),
    /// `profile` (its pitch classes fit the key best, the home key and the key before
    /// preferred in near ties) or `context` (nothing sounds).
    pub evidence: KeyEvidence,
}

/// A cadence read in the local key of its phrase.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LocalCadence {
    #[serde(rename = "type")]
    pub cadence_type: CadenceType,
    /// The local key, e.g. `C# major`.
    pub key: String,
    /// Where the final chord of the cadence starts.
    pub measure: i64,
    pub beat: f64,
    pub offset: f64,
    /// Index of the chord the phrase ends on (where its last note starts; the final
    /// harmony may be a later chord held under a fermata, as `progression` shows).
    pub chord_index: usize,
    /// Index of the penultimate harmony (passing sonorities passed over).
    pub penultimate_index: usize,
    /// The two harmonies in local numerals, e.g. `V7 -> I`, `V/V -> V`.
    pub progression: String,
}

/// What the local reading says of one phrase end.
#[derive(Clone, Debug)]
pub(super) struct PhraseReading {
    pub key: String,
    pub cadence: Option<CadenceType>,
    pub progression: Option<String>,
}

pub(super) struct LocalReading {
    pub regions: Vec<LocalKeyRegion>,
    /// Each chord's numeral in its phrase's key, applied chords written `V/x`.
    pub chord_figures: Vec<Option<String>>,
    pub phrases: Vec<PhraseReading>,
    pub cadences: Vec<LocalCadence>,
}

/// A chord read in a key: the numeral the cadence rules judge, and the figure to show.
struct Reading {
    numeral: Option<Numeral>,
    figure: Option<String>,
}

fn read_in(chord: &Chord, key: &Key) -> Reading {
    let rn = roman_of(chord, key);
    Reading {
        numeral: rn.as_ref().and_then(Numeral::of),
        figure: applied_figure(chord, key).or_else(|| rn.map(|r| r.figure().to_string())),
    }
}

/// The chordified chords as sonorities on the measure grid.
fn sonorities_of(entries: &[ChordEntry], grid: &MeasureGrid) -> Vec<Sonority> {
    entries
        .iter()
        .map(|entry| Sonority {
            pitches: entry.chord.pitches().iter().map(|p| p.ps()).collect(),
            duration: entry.duration,
            beat_length: grid.beat_length_at(entry.offset),
            on_beat: (entry.beat - entry.beat.round()).abs() < 1e-3,
        })
        .collect()
}

/// The local reading of the chords, the phrases stopping at `stops` (in order, the last at
/// the last chord) in a piece whose key is `home`.
pub(super) fn read(
    entries: &[ChordEntry],
    grid: &MeasureGrid,
    stops: &[PhraseStop],
    home: &Key,
) -> LocalReading {
    let sonorities = sonorities_of(entries, grid);
    let spans = phrase_spans(entries, stops);
    let phrases: Vec<RangeInclusive<usize>> = spans.iter().map(|s| s.chords.clone()).collect();
    let finals: Vec<usize> = spans.iter().map(|s| s.final_harmony).collect();
    let keys = phrase_keys(&sonorities, &phrases, &finals, home);
    let mut chord_figures = vec![None; entries.len()];
    let mut readings = Vec::with_capacity(stops.len());
    let mut cadences = Vec::new();
    for (number, (span, phrase_key)) in spans.iter().zip(&keys).enumerate() {
        let key = &phrase_key.key;
        let label = key_label(key);
        // The cadence may reach back to the previous phrase end (a long V ending one
        // phrase may lead to the I ending the next), read in this phrase's key.
        let search_from = number
            .checked_sub(1)
            .and_then(|n| spans.get(n))
            .map_or(0, |p| p.end);
        let (end, final_index) = (span.end, span.final_harmony);
        let last_index = *span.chords.end();
        let chords: Vec<Reading> = entries[search_from..=last_index]
            .iter()
            .map(|e| read_in(&e.chord, key))
            .collect();
        let at = |i: usize| &chords[i - search_from];
        for i in span.chords.clone() {
            chord_figures[i] = at(i).figure.clone();
        }
        let found = at(final_index).numeral.as_ref().and_then(|last| {
            let penult = (search_from..final_index).rev().find(|&j| {
                is_harmony_before_final(&sonorities, j, final_index)
                    && at(j).numeral.as_ref().is_none_or(|n| !n.same_harmony(last))
            })?;
            Some((penult, last))
        });
        let mut reading = PhraseReading {
            key: label.clone(),
            cadence: None,
            progression: None,
        };
        if let Some((penult, last)) = found {
            let figures = (
                at(penult).figure.as_deref(),
                at(final_index).figure.as_deref(),
            );
            if let (Some(before), Some(after)) = figures {
                reading.progression = Some(format!("{before} -> {after}"));
            }
            let cadence = at(penult)
                .numeral
                .as_ref()
                .and_then(|p| classify_local_cadence(p, last, &entries[final_index], key));
            if let (Some(cadence_type), Some(progression)) = (cadence, &reading.progression) {
                let entry = &entries[end];
                cadences.push(LocalCadence {
                    cadence_type,
                    key: label.clone(),
                    measure: entry.measure,
                    beat: entry.beat,
                    offset: display(entry.offset),
                    chord_index: end,
                    penultimate_index: penult,
                    progression: progression.clone(),
                });
            }
            reading.cadence = cadence;
        }
        // Every stop of the phrase (a fermata begun under another's) reads the same close.
        for _ in span.stops.clone() {
            readings.push(reading.clone());
        }
    }
    LocalReading {
        regions: regions_of(entries, &phrases, &keys),
        chord_figures,
        phrases: readings,
        cadences,
    }
}

/// The cadence rules of the module doc in a local key, with one reading of music21's
/// numerals added: in a minor key music21 writes the key's own sixth-degree triad `bVI`
/// (the natural sixth), and `V -> bVI` there is the deceptive cadence of the minor mode.
fn classify_local_cadence(
    penult: &Numeral,
    last: &Numeral,
    final_chord: &ChordEntry,
    key: &Key,
) -> Option<CadenceType> {
    classify_cadence(penult, last, final_chord, key).or_else(|| {
        let minor_sixth = key.mode() == "minor" && last.is_lowered_major_sixth();
        (minor_sixth && penult.is_dominant()).then_some(CadenceType::Deceptive)
    })
}

/// Phrases in a row in one key, as regions.
fn regions_of(
    entries: &[ChordEntry],
    phrases: &[RangeInclusive<usize>],
    keys: &[crate::music::local_keys::PhraseKey],
) -> Vec<LocalKeyRegion> {
    let mut regions: Vec<LocalKeyRegion> = Vec::new();
    for (phrase, phrase_key) in phrases.iter().zip(keys) {
        let (Some(first), Some(last)) = (entries.get(*phrase.start()), entries.get(*phrase.end()))
        else {
            continue;
        };
        let label = key_label(&phrase_key.key);
        match regions.last_mut() {
            Some(region) if region.key == label => {
                region.to_measure = last.measure;
                region.to_beat = last.beat;
                region.to_offset = display(last.offset);
                region.last_chord = last.index;
                region.evidence = phrase_key.evidence;
            }
            _ => regions.push(LocalKeyRegion {
                key: label,
                from_measure: first.measure,
                from_beat: first.beat,
                from_offset: display(first.offset),
                to_measure: last.measure,
                to_beat: last.beat,
                to_offset: display(last.offset),
                first_chord: first.index,
                last_chord: last.index,
                evidence: phrase_key.evidence,
            }),
        }
    }
    regions
}

// ---------------------------------------------------------------- applied chords

/// The pitch classes of a key, as intervals above its tonic: the major scale, or the
/// natural minor with its raised sixth and seventh.
fn own_intervals(key: &Key) -> &'static [usize] {
    if key.mode() == "minor" {
        &[0, 2, 3, 5, 7, 8, 9, 10, 11]
    } else {
        &[0, 2, 4, 5, 7, 9, 11]
    }
}

/// The degrees a chord may be applied to, likeliest first, with their numerals (upper
/// case: a major key).
fn applied_targets(key: &Key) -> &'static [(usize, &'static str)] {
    if key.mode() == "minor" {
        &[(5, "V"), (3, "III"), (4, "iv"), (6, "VI"), (7, "VII")]
    } else {
        &[(5, "V"), (2, "ii"), (6, "vi"), (4, "IV"), (3, "iii")]
    }
}

/// `V7/V` and the like for a chromatic chord that is the dominant or leading-tone chord of
/// a diatonic degree of `key` (see the module documentation); nothing for any other chord.
fn applied_figure(chord: &Chord, key: &Key) -> Option<String> {
    let tonic = pitch_class(key.tonic_pitch().ps());
    let own = own_intervals(key);
    let chromatic = chord
        .pitches()
        .iter()
        .any(|p| !own.contains(&((pitch_class(p.ps()) + 12 - tonic) % 12)));
    if !chromatic {
        return None;
    }
    applied_targets(key).iter().find_map(|&(degree, numeral)| {
        let target_tonic = key.pitch_from_degree(degree).ok()?;
        let mode = if numeral.starts_with(|c: char| c.is_ascii_uppercase()) {
            "major"
        } else {
            "minor"
        };
        let target = Key::from_tonic_mode(&music21_name(&target_tonic), mode).ok()?;
        let rn = roman_of(chord, &target)?;
        let n = Numeral::of(&rn)?;
        (n.is_dominant() || n.is_leading_tone()).then(|| format!("{}/{numeral}", rn.figure()))
    })
}

#[cfg(test)]
mod tests {
    use music21_rs::{Chord, Key};

    use super::{applied_figure, classify_local_cadence};
    use crate::tools::analysis_common::ChordEntry;
    use crate::tools::harmony::{CadenceType, Numeral};

    fn chord(names: &[&str]) -> Chord {
        Chord::new(names).expect("chord")
    }

    #[test]
    fn secondary_dominants_are_written_over_their_degree() {
        let c = Key::from_tonic_mode("C", "major").expect("C");
        assert_eq!(
            applied_figure(&chord(&["D3", "F#4", "A4", "C5"]), &c).as_deref(),
            Some("V7/V")
        );
        assert_eq!(
            applied_figure(&chord(&["A3", "C4", "F#4"]), &c).as_deref(),
            Some("viio6/V")
        );
        assert_eq!(
            applied_figure(&chord(&["E3", "G#4", "B4"]), &c).as_deref(),
            Some("V/vi")
        );
        assert_eq!(
            applied_figure(&chord(&["C3", "E4", "G4", "B-4"]), &c).as_deref(),
            Some("V7/IV")
        );
        // Diatonic chords are not applied: G is V, C is I.
        assert_eq!(applied_figure(&chord(&["G3", "B4", "D5"]), &c), None);
        assert_eq!(applied_figure(&chord(&["C3", "E4", "G4"]), &c), None);
        // In A minor, E major is the key's own V (G# is the raised seventh), and G major
        // is VII; B major is V/V.
        let a = Key::from_tonic_mode("A", "minor").expect("a");
        assert_eq!(applied_figure(&chord(&["E3", "G#4", "B4"]), &a), None);
        assert_eq!(applied_figure(&chord(&["G3", "B4", "D5"]), &a), None);
        assert_eq!(
            applied_figure(&chord(&["B2", "D#4", "F#4", "A4"]), &a).as_deref(),
            Some("V7/V")
        );
    }

    #[test]
    fn dominant_to_the_minor_keys_own_sixth_is_deceptive() {
        let numeral = |figure: &str| Numeral::parse(figure).expect("figure");
        let entry = |names: &[&str]| ChordEntry {
            index: 0,
            offset: 0.0,
            duration: 2.0,
            measure: 1,
            beat: 1.0,
            chord: chord(names),
        };
        // E minor: B7 -> C major, which music21 writes bVI there.
        let e = Key::from_tonic_mode("E", "minor").expect("e");
        assert_eq!(
            classify_local_cadence(
                &numeral("V7"),
                &numeral("bVI"),
                &entry(&["C3", "E4", "G4"]),
                &e
            ),
            Some(CadenceType::Deceptive)
        );
        // In C major, bVI (A-flat major) is mixture, not the deceptive close to vi.
        let c = Key::from_tonic_mode("C", "major").expect("C");
        assert_eq!(
            classify_local_cadence(
                &numeral("V"),
                &numeral("bVI"),
                &entry(&["A-2", "C4", "E-4"]),
                &c
            ),
            None
        );
        // The rules of the home-key reading hold as they are.
        assert_eq!(
            classify_local_cadence(
                &numeral("V"),
                &numeral("vi"),
                &entry(&["A2", "C4", "E4"]),
                &c
            ),
            Some(CadenceType::Deceptive)
        );
    }
}
