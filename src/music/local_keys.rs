//! The key each phrase is in: where a piece that starts and ends in one key goes on the
//! way (a chorale's second phrase in the dominant, its fourth in the relative minor).
//!
//! A cadence is heard in the key the phrase has reached, not in the key of the whole piece:
//! `V/V -> V` closing a phrase that has moved to the dominant is a full close there, not a
//! half close at home. So each phrase gets a key of its own before its cadence is read.
//!
//! - **Windows are phrases.** A modulation in this music is confirmed by a cadence, and a
//!   phrase (up to a fermata) is the span one cadence closes, so the key finder reads one
//!   phrase at a time: the duration-weighted pitch classes of its chordified sonorities,
//!   ranked by the AardenEssen profile as music21's `analyze('key')` ranks a whole score.
//!   A window of a fixed number of measures would straddle phrase ends and blur the very
//!   cadence that decides the key.
//! - **The home key and its neighbours first.** A phrase is a handful of chords, and its
//!   pitch classes fit several keys almost equally; a profile alone hops between relative
//!   keys and strays to keys the piece never visits. Baroque and classical modulation goes
//!   to the closely related keys (a key signature at most one accidental away: the
//!   relative, the dominant, the subdominant and their relatives), so a key outside them
//!   must fit clearly better to be chosen, and the home key is preferred among near ties.
//! - **A cadence decides.** A phrase that ends with `V(7) -> I` of a key, over a bass that
//!   falls a fifth, with the leading tone in the dominant and a plain tonic triad at the
//!   end, is heard in that key even if its opening lingered in the previous one: that key
//!   gets a large bonus. An inverted dominant or a leading-tone chord resolving to the
//!   root-position tonic (`V6 -> I`, `viio6 -> I`) closes less firmly and gets less. A
//!   phrase ending on a key's dominant triad, leading tone and all, is a half close in that
//!   key, which favours it a little: a phrase stopping on E major is more likely poised on
//!   the dominant of A than settled in E.
//! - **Smoothing.** Keys change less often than phrases end: the previous phrase's key is
//!   preferred among near ties, so an ambiguous phrase stays where the music was.
//!
//! The bonuses are added to the correlation (between -1 and 1); they are small against the
//! differences a clear phrase shows (0.2 and more) and large against those of an ambiguous
//! one (a few hundredths).

use std::ops::RangeInclusive;

use music21_rs::analysis::estimate_key_from_distribution;
use music21_rs::{Key, KeyProfile};
use serde::Serialize;

use crate::music::sonority::{is_harmony_before_final, pitch_class, Sonority};

/// Added to the home key's correlation: near ties go home.
const HOME_PREFERENCE: f64 = 0.05;
/// Added to the previous phrase's key: near ties stay.
const STAY_PREFERENCE: f64 = 0.03;
/// Added to a key the phrase ends with `V(7) -> I` in, both in root position.
const CADENCE_EVIDENCE: f64 = 0.15;
/// Added to a key the phrase ends with an inverted dominant or a leading-tone chord to `I` in.
const WEAK_CADENCE_EVIDENCE: f64 = 0.1;
/// Added to a key the phrase ends on the dominant triad of.
const HALF_CADENCE_EVIDENCE: f64 = 0.05;
/// Taken from a key more than one accidental away from the home key's signature.
const DISTANT_PENALTY: f64 = 0.1;

/// Why a phrase's key was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyEvidence {
    /// The phrase ends with an authentic cadence in the key.
    Cadence,
    /// The phrase ends on the key's dominant triad.
    HalfCadence,
    /// The phrase's pitch classes fit the key best (with the preferences).
    Profile,
    /// Nothing pitched sounds in the phrase: the key goes on from before.
    Context,
}

/// The key of one phrase.
#[derive(Clone, Debug)]
pub struct PhraseKey {
    pub key: Key,
    pub evidence: KeyEvidence,
}

/// The pitch class of a key's tonic and whether it is minor.
fn tonic_and_mode(key: &Key) -> (usize, bool) {
    (pitch_class(key.tonic_pitch().ps()), key.mode() == "minor")
}

/// The key of each phrase, in order; `phrases` are ranges of sonority indices, `finals`
/// the index of each phrase's final harmony (the one its cadence ends on), `home` the key
/// of the whole piece.
pub fn phrase_keys(
    sonorities: &[Sonority],
    phrases: &[RangeInclusive<usize>],
    finals: &[usize],
    home: &Key,
) -> Vec<PhraseKey> {
    let mut found: Vec<PhraseKey> = Vec::with_capacity(phrases.len());
    for (number, phrase) in phrases.iter().enumerate() {
        let previous = found.last().map(|p| &p.key).unwrap_or(home);
        let last = finals.get(number).copied().unwrap_or(*phrase.end());
        let closing = *phrase.start()..=last;
        let chosen = match distribution(sonorities, phrase) {
            Some(distribution) => choose(sonorities, &closing, &distribution, home, previous),
            None => PhraseKey {
                key: previous.clone(),
                evidence: KeyEvidence::Context,
            },
        };
        found.push(chosen);
    }
    found
}

/// How long each pitch class sounds in the phrase; nothing when no pitch sounds.
fn distribution(sonorities: &[Sonority], phrase: &RangeInclusive<usize>) -> Option<[f64; 12]> {
    let mut totals = [0.0; 12];
    for sonority in sonorities.get(phrase.clone())? {
        for ps in &sonority.pitches {
            totals[pitch_class(*ps)] += sonority.duration;
        }
    }
    totals.iter().any(|v| *v > 0.0).then_some(totals)
}

fn choose(
    sonorities: &[Sonority],
    phrase: &RangeInclusive<usize>,
    distribution: &[f64; 12],
    home: &Key,
    previous: &Key,
) -> PhraseKey {
    let home_place = tonic_and_mode(home);
    let previous_place = tonic_and_mode(previous);
    let ranked = estimate_key_from_distribution(KeyProfile::AardenEssen, distribution);
    let mut best: Option<(f64, &Key, Option<Close>)> = None;
    for estimate in &ranked {
        let key = estimate.key();
        let place = tonic_and_mode(key);
        let close = close_in(sonorities, phrase, place);
        let mut score = estimate.score() + close.map_or(0.0, Close::evidence);
        if place == home_place {
            score += HOME_PREFERENCE;
        }
        if place == previous_place {
            score += STAY_PREFERENCE;
        }
        if (key.sharps() - home.sharps()).abs() > 1 {
            score -= DISTANT_PENALTY;
        }
        if best.is_none_or(|(s, _, _)| score > s) {
            best = Some((score, key, close));
        }
    }
    match best {
        Some((_, key, close)) => PhraseKey {
            key: key.clone(),
            evidence: match close {
                Some(Close::Authentic | Close::WeakAuthentic) => KeyEvidence::Cadence,
                Some(Close::Half) => KeyEvidence::HalfCadence,
                None => KeyEvidence::Profile,
            },
        },
        None => PhraseKey {
            key: previous.clone(),
            evidence: KeyEvidence::Context,
        },
    }
}

/// Whether every sounding class is one of `allowed`, given as intervals above `tonic`.
fn only(sonority: &Sonority, tonic: usize, allowed: &[usize]) -> bool {
    sonority
        .pitches
        .iter()
        .all(|ps| allowed.contains(&((pitch_class(*ps) + 12 - tonic) % 12)))
}

/// How a phrase closes in a key, as the key finder weighs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Close {
    /// `V(7) -> I`, both in root position.
    Authentic,
    /// An inverted dominant or a leading-tone chord to the root-position tonic.
    WeakAuthentic,
    /// Ending on the dominant triad.
    Half,
}

impl Close {
    fn evidence(self) -> f64 {
        match self {
            Self::Authentic => CADENCE_EVIDENCE,
            Self::WeakAuthentic => WEAK_CADENCE_EVIDENCE,
            Self::Half => HALF_CADENCE_EVIDENCE,
        }
    }
}

/// How the phrase closes in the key on `tonic` (see the module doc), if it does: the last
/// sonority a tonic triad over the tonic, the harmony before it (passing sonorities and
/// other voicings of the final triad passed over) the dominant (seventh) or leading-tone
/// chord with the leading tone; or the last sonority the root-position dominant triad.
fn close_in(
    sonorities: &[Sonority],
    phrase: &RangeInclusive<usize>,
    (tonic, minor): (usize, bool),
) -> Option<Close> {
    let end = *phrase.end();
    let last = sonorities.get(end)?;
    let dominant = (tonic + 7) % 12;
    if last.bass_class() == Some(dominant)
        && last.has_class(tonic + 11)
        && only(last, tonic, &[7, 11, 2])
    {
        return Some(Close::Half);
    }
    let third = if last.has_class(tonic + 4) {
        4
    } else if minor && last.has_class(tonic + 3) {
        3
    } else {
        return None;
    };
    if last.bass_class() != Some(tonic) || !only(last, tonic, &[0, third, 7]) {
        return None;
    }
    let final_classes = last.classes();
    let before = (*phrase.start()..end).rev().find(|&i| {
        let same_triad = sonorities[i]
            .classes()
            .iter()
            .zip(final_classes)
            .all(|(here, there)| !here || there);
        !same_triad && is_harmony_before_final(sonorities, i, end)
    });
    let penultimate = before.and_then(|i| sonorities.get(i))?;
    // The dominant seventh's tones, and the leading-tone seventh's (its seventh is the
    // sixth degree: minor in a minor key, major in a major one).
    let sixth = if minor { 8 } else { 9 };
    if !penultimate.has_class(tonic + 11) || !only(penultimate, tonic, &[7, 11, 2, 5, sixth]) {
        return None;
    }
    if penultimate.bass_class() == Some(dominant) {
        Some(Close::Authentic)
    } else {
        Some(Close::WeakAuthentic)
    }
}

#[cfg(test)]
mod tests {
    use music21_rs::Key;

    use super::{phrase_keys, KeyEvidence};
    use crate::music::sonority::Sonority;

    /// A chord of quarter-note length on the beat from pitch numbers.
    fn chord(pitches: &[f64]) -> Sonority {
        Sonority {
            pitches: pitches.to_vec(),
            duration: 1.0,
            beat_length: 1.0,
            on_beat: true,
        }
    }

    fn name(key: &Key) -> String {
        format!("{} {}", key.tonic().name(), key.mode())
    }

    #[test]
    fn a_phrase_cadencing_in_the_dominant_is_in_the_dominant_and_the_next_comes_home() {
        let c = Key::from_tonic_mode("C", "major").expect("C");
        // Phrase 1: C major, turning to G: I IV V6/V (F#) V | V7/V V (fermata: I of G).
        // Phrase 2: back in C: I V7 (F natural) I IV V7 I.
        let music = [
            chord(&[48.0, 64.0, 67.0, 72.0]),
            chord(&[53.0, 65.0, 69.0, 72.0]),
            chord(&[54.0, 62.0, 69.0, 74.0]),
            chord(&[55.0, 62.0, 67.0, 71.0]),
            chord(&[50.0, 60.0, 66.0, 69.0]),
            chord(&[43.0, 62.0, 67.0, 71.0]),
            chord(&[48.0, 64.0, 67.0, 72.0]),
            chord(&[43.0, 65.0, 67.0, 71.0]),
            chord(&[48.0, 64.0, 67.0, 72.0]),
            chord(&[53.0, 65.0, 69.0, 72.0]),
            chord(&[43.0, 65.0, 71.0, 74.0]),
            chord(&[36.0, 64.0, 67.0, 72.0]),
        ];
        let keys = phrase_keys(&music, &[0..=5, 6..=11], &[5, 11], &c);
        assert_eq!(name(&keys[0].key), "G major");
        assert_eq!(keys[0].evidence, KeyEvidence::Cadence);
        assert_eq!(name(&keys[1].key), "C major");
        assert_eq!(keys[1].evidence, KeyEvidence::Cadence);
    }

    #[test]
    fn a_phrase_ending_on_the_dominant_is_a_half_close_at_home() {
        let c = Key::from_tonic_mode("C", "major").expect("C");
        // I IV ii6 V (fermata): G major is reached, but not by its own dominant.
        let music = [
            chord(&[48.0, 64.0, 67.0, 72.0]),
            chord(&[53.0, 65.0, 69.0, 72.0]),
            chord(&[53.0, 62.0, 69.0, 74.0]),
            chord(&[43.0, 62.0, 67.0, 71.0]),
        ];
        let keys = phrase_keys(&music, &[0..=3], &[3], &c);
        assert_eq!(name(&keys[0].key), "C major");
        assert_eq!(keys[0].evidence, KeyEvidence::HalfCadence);
    }

    #[test]
    fn a_phrase_with_nothing_sounding_keeps_the_key_before() {
        let c = Key::from_tonic_mode("C", "major").expect("C");
        let music = [chord(&[48.0, 64.0, 67.0, 72.0]), chord(&[])];
        let keys = phrase_keys(&music, &[0..=0, 1..=1], &[0, 1], &c);
        assert_eq!(keys[1].evidence, KeyEvidence::Context);
        assert_eq!(name(&keys[1].key), name(&keys[0].key));
    }
}
