//! The chords a four-part harmonisation may close on.
//!
//! The last chord is the tonic's (in minor with the Picardy third when asked and the melody
//! holds it) or, where a minor tune closes on its dominant ([`Ending::MajorDominant`]), the
//! dominant's major triad: never another chord. Costs alone do not ensure it, since the
//! learned model may price a minor tonic (or a chord the melody fits better) below the
//! penalty [`super::final_chord_cost`] puts on it; so the last span's candidates are cut to
//! the closing chords whenever one of them holds the melody's note.

use super::super::melody_key::Ending;
use super::super::theory::{ChordDef, KeyDef, Quality, Style};

/// The dominant's major triad (V, not V7: a close comes to rest).
fn major_dominant(chord: &ChordDef) -> bool {
    chord.is_dominant() && chord.degree == 4 && chord.quality == Quality::Major
}

/// A tonic triad of the key, in either mode (the Picardy third is a major tonic in minor).
fn tonic_triad(chord: &ChordDef, key: &KeyDef) -> bool {
    chord.is_tonic(key) && matches!(chord.quality, Quality::Major | Quality::Minor)
}

/// Of `candidates` (indices into `vocab`, the chords that hold the last melody note), the
/// ones the piece may close on. Empty when none of them can: a melody ending off the tonic
/// chord in a key the caller gave, which the costs then settle.
pub fn closing_chords(
    vocab: &[ChordDef],
    candidates: &[usize],
    key: &KeyDef,
    ending: Ending,
    picardy: bool,
) -> Vec<usize> {
    let pick = |keep: &dyn Fn(&ChordDef) -> bool| -> Vec<usize> {
        candidates
            .iter()
            .copied()
            .filter(|&i| vocab.get(i).is_some_and(keep))
            .collect()
    };
    if ending == Ending::MajorDominant {
        return pick(&major_dominant);
    }
    if !key.minor {
        return pick(&|c| tonic_triad(c, key));
    }
    // In minor: the tonic in the mode asked for (major with the Picardy third), else the
    // other, when the melody sings the third that rules the first out.
    let wanted = if picardy {
        Quality::Major
    } else {
        Quality::Minor
    };
    let preferred = pick(&|c| tonic_triad(c, key) && c.quality == wanted);
    if preferred.is_empty() {
        pick(&|c| tonic_triad(c, key))
    } else {
        preferred
    }
}

/// Whether the closing rule applies to a style: the four-part ones, whose candidates hold the
/// melody's note (pop and jazz price every chord under it instead).
pub fn applies(style: Style) -> bool {
    style.four_part()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::music::harmony_gen::theory::vocabulary;

    fn key(letter: u8, alter: i8, minor: bool) -> KeyDef {
        KeyDef::of(letter, alter, minor)
    }

    /// The vocabulary's chords that hold pitch class `pc`, as the search's candidates.
    fn holding(vocab: &[ChordDef], pc: i32) -> Vec<usize> {
        (0..vocab.len())
            .filter(|&i| vocab[i].member_of(pc).is_some())
            .collect()
    }

    fn figures(vocab: &[ChordDef], chosen: &[usize]) -> Vec<String> {
        chosen.iter().map(|&i| vocab[i].figure(0)).collect()
    }

    #[test]
    fn a_minor_tune_ending_on_its_tonic_closes_on_the_picardy_major_tonic_only() {
        let a_minor = key(5, 0, true);
        let vocab = vocabulary(&a_minor, Style::Chorale);
        let chosen = closing_chords(&vocab, &holding(&vocab, 9), &a_minor, Ending::Tonic, true);
        assert!(!chosen.is_empty());
        for &i in &chosen {
            assert!(
                vocab[i].is_tonic(&a_minor),
                "{:?}",
                figures(&vocab, &chosen)
            );
            assert_eq!(vocab[i].quality, Quality::Major);
        }
        let plain = closing_chords(&vocab, &holding(&vocab, 9), &a_minor, Ending::Tonic, false);
        assert!(plain.iter().all(|&i| vocab[i].quality == Quality::Minor));
        assert!(!plain.is_empty());
    }

    #[test]
    fn a_melody_on_the_minor_third_keeps_the_minor_tonic_despite_the_picardy_wish() {
        let a_minor = key(5, 0, true);
        let vocab = vocabulary(&a_minor, Style::Chorale);
        let chosen = closing_chords(&vocab, &holding(&vocab, 0), &a_minor, Ending::Tonic, true);
        assert!(!chosen.is_empty());
        assert!(chosen
            .iter()
            .all(|&i| vocab[i].is_tonic(&a_minor) && vocab[i].quality == Quality::Minor));
    }

    #[test]
    fn a_close_on_the_dominant_takes_its_major_triad_only() {
        // A minor, the tune on B (bwv153.1): E major, not E7 nor any chord with B.
        let a_minor = key(5, 0, true);
        let vocab = vocabulary(&a_minor, Style::Chorale);
        let chosen = closing_chords(
            &vocab,
            &holding(&vocab, 11),
            &a_minor,
            Ending::MajorDominant,
            true,
        );
        assert!(!chosen.is_empty());
        for &i in &chosen {
            assert_eq!(vocab[i].root.pc(), 4);
            assert_eq!(vocab[i].quality, Quality::Major);
        }
    }

    #[test]
    fn a_melody_no_closing_chord_holds_leaves_the_choice_to_the_costs() {
        // C major given, the tune ending on D.
        let c_major = key(0, 0, false);
        let vocab = vocabulary(&c_major, Style::Chorale);
        let chosen = closing_chords(&vocab, &holding(&vocab, 2), &c_major, Ending::Tonic, true);
        assert!(chosen.is_empty());
    }
}
