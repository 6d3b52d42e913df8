//! Roman numerals as music21 10.5.1 writes them.
//!
//! The engine's `roman_numeral_from_chord` is music21's `romanNumeralFromChord` but for one
//! case: a chord with a major third whose root is the raised sixth or seventh degree of a
//! minor key. music21's `correctRNAlterationForMinor` reads that root against the natural
//! minor and drops the raise (E in G minor is plain `VI`), then figures the chord in the key
//! itself, so the raised root shows in the figures (`VIo#63`). The engine keeps the raise on
//! the numeral and figures the chord in the raised key (`#VIo6b3`). This module computes
//! that case music21's way, following `roman.py` step by step; every other chord is the
//! engine's.

use music21_rs::roman::{correct_suffix_for_chord_quality, figure_tuples, FigureTuple};
use music21_rs::{roman_numeral_from_chord, Chord, Interval, Key, Minor67Default, Pitch};
use music21_rs::{Result, RomanNumeral};

/// music21's `romanNumeralFromChord(chord, key)` with the key given.
pub fn roman_numeral(chord: &Chord, key: &Key) -> Result<Option<RomanNumeral>> {
    match raised_degree_in_minor(chord, key)? {
        Some(figure) => RomanNumeral::with_minor_defaults(
            figure,
            key.clone(),
            Minor67Default::Cautionary,
            Minor67Default::Cautionary,
        )
        .map(Some),
        None => roman_numeral_from_chord(chord, Some(key)),
    }
}

/// music21's figure for a chord with a major third on the raised sixth or seventh degree
/// of a minor key; `None` for every other chord.
fn raised_degree_in_minor(chord: &Chord, key: &Key) -> Result<Option<String>> {
    if key.mode() != "minor" {
        return Ok(None);
    }
    let Some(root) = chord.root() else {
        return Ok(None);
    };
    if chord.semitones_from_chord_step_with_root(3, root) != Some(4) {
        return Ok(None);
    }
    let tonic = key.tonic();
    let figure = FigureTuple::from_pitch_and_reference(root, key, &tonic)?;
    if !matches!(figure.deg_from_ref_pitch, 6 | 7) || figure.alter < 1.0 {
        return Ok(None);
    }
    // correctRNAlterationForMinor: one raise is the degree's own in minor.
    let alter = figure.alter - 1.0;
    let prefix: String = figure.prefix.chars().skip(1).collect();
    let altered_tonic = if alter == 0.0 {
        tonic
    } else {
        Interval::from_generic_and_chromatic(1, alter as _)?.transpose_pitch(&tonic)?
    };
    let altered_key = Key::from_tonic_mode(&altered_tonic.name(), "minor")?;
    // A major third: the numeral is upper case. No augmented-sixth or minor-seventh
    // substitution of romanNumeralFromChord applies to VI or VII.
    let numeral = if figure.deg_from_ref_pitch == 6 {
        "VI"
    } else {
        "VII"
    };
    let inversion = post_figure(chord, root, &altered_key)?;
    Ok(Some(format!("{prefix}{numeral}{inversion}")))
}

/// music21's `figureShorthands`.
const FIGURE_SHORTHANDS: [(&str, &str); 20] = [
    ("53", ""),
    ("3", ""),
    ("63", "6"),
    ("753", "7"),
    ("75", "7"),
    ("73", "7"),
    ("9753", "9"),
    ("975", "9"),
    ("953", "9"),
    ("97", "9"),
    ("95", "9"),
    ("93", "9"),
    ("653", "65"),
    ("6b53", "6b5"),
    ("643", "43"),
    ("642", "42"),
    ("bb7b5b3", "o7"),
    ("b7b5b3", "ø7"),
    ("bb7b53", "o7"),
    ("b7b53", "ø7"),
];

/// music21's `_postFigureFromChordAndKey`: the figures after the numeral, read off the
/// chord's pitches above its bass in `key`, in shorthand, with the quality mark.
fn post_figure(chord: &Chord, root: &Pitch, key: &Key) -> Result<String> {
    let mut tuples = figure_tuples(chord, key)?;
    let bass_alter = tuples.first().map_or(0.0, |t| t.figure.alter);
    let third = chord.chord_step_with_root(3, root).cloned();
    let fifth = chord.chord_step_with_root(5, root).cloned();
    let (is_major, is_minor, standard_triad) = if chord.pitch_class_cardinality() == 3 {
        let major = chord.is_major_triad();
        let minor = !major && chord.is_minor_triad();
        let standard = major || minor || chord.is_diminished_triad() || chord.is_augmented_triad();
        (major, minor, standard)
    } else {
        (false, false, false)
    };
    tuples.sort_by(|a, b| {
        let key = |t: &music21_rs::roman::PitchFigureTuple| {
            (
                -i32::from(t.figure.deg_from_ref_pitch),
                t.figure.alter,
                t.pitch.ps(),
            )
        };
        key(a)
            .partial_cmp(&key(b))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut figures: Vec<String> = Vec::new();
    for t in &tuples {
        let degree = t.figure.deg_from_ref_pitch;
        let mut prefix = t.figure.prefix.as_str();
        if degree != 1 && third.as_ref() == Some(&t.pitch) {
            if is_major || is_minor {
                prefix = "";
            }
        } else if degree != 1 && fifth.as_ref() == Some(&t.pitch) && standard_triad {
            prefix = "";
        }
        if degree == 1 {
            // An altered octave is marked 8, first.
            if t.figure.alter != bass_alter && !prefix.is_empty() {
                let figure = format!("{prefix}8");
                if !figures.contains(&figure) {
                    figures.insert(0, figure);
                }
            }
        } else {
            let figure = format!("{prefix}{degree}");
            if !figures.contains(&figure) {
                figures.push(figure);
            }
        }
    }
    let mut all = figures.concat();
    if let Some((_, short)) = FIGURE_SHORTHANDS.iter().find(|(long, _)| *long == all) {
        all = (*short).to_string();
    }
    Ok(correct_suffix_for_chord_quality(chord, &all))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(pitches: &str, tonic: &str, mode: &str) -> String {
        let chord = Chord::new(pitches).expect("chord");
        let key = Key::from_tonic_mode(tonic, mode).expect("key");
        roman_numeral(&chord, &key)
            .expect("roman")
            .expect("a numeral")
            .figure()
            .to_string()
    }

    #[test]
    fn the_raised_sixth_in_minor_is_figured_as_music21_does() {
        // bwv412 m. 11 in G minor (music21 10.5.1: VIo#63, VIø#653).
        assert_eq!(figure("G#2 E4 B-4 E5", "G", "minor"), "VIo#63");
        assert_eq!(figure("G#2 E4 B-4 D5", "G", "minor"), "VIø#653");
    }

    #[test]
    fn raised_sixths_and_sevenths_with_a_major_third_match_music21() {
        // Each figure is music21 10.5.1's romanNumeralFromChord(Chord(pitches), Key(tonic)).
        for (pitches, tonic, music21) in [
            ("F#3 A#3 C#4", "G", "VII"),
            ("F#3 A#3 C#4 E4", "G", "VII#7#5#3"),
            ("A#3 C#4 E4 F#4", "G", "VII#6#5#3"),
            ("E3 G#3 B3", "G", "VI"),
            ("E3 G#3 B3 D4", "G", "VI7#5#3"),
            ("G#3 B3 E4", "G", "VI#63"),
            ("F##3 A##3 C##4", "G#", "VII"),
            ("E3 G#3 B-3 D4", "G", "VIø75#3"),
            ("D#3 F##3 A#3", "E", "VII"),
            ("D#3 F#3 A3 C#4", "E", "viiø#753"),
        ] {
            assert_eq!(
                figure(pitches, tonic, "minor"),
                music21,
                "{pitches} in {tonic} minor"
            );
        }
    }

    #[test]
    fn other_chords_are_the_engines() {
        // The same chords in music21's own doctests and the shared oracle.
        assert_eq!(figure("G2 G4 B-4 E5", "G", "minor"), "vio#63");
        assert_eq!(figure("A2 E4 A4 C#5", "G", "minor"), "II");
        assert_eq!(figure("C4 E4 G4", "C", "major"), "I");
        assert_eq!(figure("E-4 G4 B-4", "C", "minor"), "III");
    }
}
