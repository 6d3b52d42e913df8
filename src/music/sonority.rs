//! A chordified sonority as a harmonic reading sees it, and whether it is a harmony or only
//! passes between two.
//!
//! `chordify` cuts the music at every note change, so a passing eighth in the alto or a 4-3
//! suspension makes a sonority of its own. Read as a chord, such a slice names a harmony the
//! music never states (a `iii6` between `V` and `V7`, a `I` with a fourth over the dominant),
//! and a cadence read from the last two slices before a fermata is then no cadence at all.
//! Whether a slice is a harmony is judged from what a listener hears, without voice leading
//! the slices no longer carry:
//! - metre: a slice shorter than a beat that starts off the beat is an embellishment of the
//!   beat it decorates, never a harmony of its own;
//! - tones: a slice that is no triad or seventh chord, over the same bass as a neighbour,
//!   lasting no more than a beat, that adds to the neighbour's tones only tones a step from
//!   them (passing, neighbour and suspended tones, held from or moving by step to the slice
//!   on the other side), is that neighbour's harmony embellished. The bass must hold: a new
//!   bass note (`ii6 V I`) is a new harmony even when every upper tone moves by step.
//!
//! What tells a harmony from its embellishment over one bass is the sound: a harmony is a
//! stack of thirds (a triad or a seventh chord, any tone left out but the third), and a
//! suspension or an appoggiatura (`G C D`, `C D G`) is not. Two stacks of thirds over one
//! bass are two harmonies (`I64 V7`, where the second is the one that counts; `V V7`), so
//! the tone test leaves them alone. And since the resolution of a suspension or an accented
//! passing tone (in the bass too) is often the off-beat half of its beat, a stack of thirds
//! following a slice that is not one resolves that slice, and is the harmony whatever its
//! length or place in the bar.

/// What a slice of the chordified music sounds, and where it falls in the metre.
#[derive(Clone, Debug, PartialEq)]
pub struct Sonority {
    /// Every sounding pitch as music21's `ps` (60 = middle C), doublings kept.
    pub pitches: Vec<f64>,
    /// Length in quarter notes.
    pub duration: f64,
    /// Quarter notes per beat under the meter in force.
    pub beat_length: f64,
    /// Whether it starts on a beat (not between two).
    pub on_beat: bool,
}

/// The pitch class of a `ps`, 0 = C, a quarter tone rounding as music21's `pitchClass` does.
pub fn pitch_class(ps: f64) -> usize {
    (ps.round_ties_even() as i64).rem_euclid(12) as usize
}

/// The distance between two pitch classes around the octave, 0-6.
fn class_distance(a: usize, b: usize) -> usize {
    let d = (a + 12 - b) % 12;
    d.min(12 - d)
}

impl Sonority {
    /// The pitch classes sounding, as a set of 12 flags.
    pub fn classes(&self) -> [bool; 12] {
        let mut set = [false; 12];
        for ps in &self.pitches {
            set[pitch_class(*ps)] = true;
        }
        set
    }

    /// The pitch class of the lowest pitch.
    pub fn bass_class(&self) -> Option<usize> {
        self.pitches
            .iter()
            .copied()
            .min_by(f64::total_cmp)
            .map(pitch_class)
    }

    /// The pitch class of the highest pitch.
    pub fn top_class(&self) -> Option<usize> {
        self.pitches
            .iter()
            .copied()
            .max_by(f64::total_cmp)
            .map(pitch_class)
    }

    /// Whether it is shorter than a beat and starts off the beat.
    fn is_short_off_beat(&self) -> bool {
        self.duration < self.beat_length - 1e-6 && !self.on_beat
    }

    /// Whether `class` sounds.
    pub fn has_class(&self, class: usize) -> bool {
        self.pitches.iter().any(|ps| pitch_class(*ps) == class % 12)
    }
}

/// Whether sonority `index` only passes between harmonies (see the module documentation);
/// the first and the last sonority have no two neighbours and are never passing.
pub fn is_passing(sonorities: &[Sonority], index: usize) -> bool {
    let Some(this) = sonorities.get(index) else {
        return false;
    };
    let (Some(before), Some(after)) = (
        index.checked_sub(1).and_then(|i| sonorities.get(i)),
        sonorities.get(index + 1),
    ) else {
        return false;
    };
    let resolves_before = is_tertian(&this.classes()) && !is_tertian(&before.classes());
    if resolves_before {
        return false;
    }
    this.is_short_off_beat() || embellishes(before, this, after)
}

/// Whether sonority `index` may be the harmony a cadence's final chord (sonority `last`)
/// is approached from. A short off-beat stack of thirds may, though it passes by metre:
/// the dominant on the second eighth of `ii65 V | I`, Bach's commonest approach to a
/// fermata, is the chord that resolves, not an embellishment of the `ii65`; so is the `V`
/// resolving a suspension over its bass (`G C D`, then `G B D`), and the `V7` after a `V`
/// with a 6-5 appoggiatura. Unless it only anticipates the final: over the bass of the
/// stack of thirds before it, adding nothing but tones of the final, and no dominant of it
/// (`V`, then the tenor moving early to the E of the final `I`, sounding `G B D E`). Any
/// other sonority may when it does not pass (`is_passing`).
pub fn is_harmony_before_final(sonorities: &[Sonority], index: usize, last: usize) -> bool {
    let Some(this) = sonorities.get(index) else {
        return false;
    };
    let classes = this.classes();
    if !is_tertian(&classes) || !this.is_short_off_beat() {
        return !is_passing(sonorities, index);
    }
    let (Some(before), Some(after)) = (
        index.checked_sub(1).and_then(|i| sonorities.get(i)),
        sonorities.get(last),
    ) else {
        return true;
    };
    let before_classes = before.classes();
    if !is_tertian(&before_classes) || this.bass_class() != before.bass_class() {
        return true;
    }
    let coming = after.classes();
    let only_anticipates = (0..12)
        .filter(|&c| classes[c] && !before_classes[c])
        .all(|c| coming[c]);
    let final_root = tertian_root(&coming).or_else(|| after.bass_class());
    !only_anticipates || final_root.is_some_and(|root| is_dominant_of(&classes, root))
}

/// Whether the pitch classes are the dominant (a major triad or dominant seventh a fifth
/// above) or the leading-tone chord (a diminished triad a semitone below) of `root`.
fn is_dominant_of(classes: &[bool; 12], root: usize) -> bool {
    let has = |interval: usize| classes[(root + interval) % 12];
    match tertian_root(classes) {
        Some(r) if r == (root + 7) % 12 => has(11),
        Some(r) if r == (root + 11) % 12 => has(2) && has(5),
        _ => false,
    }
}

/// Whether the pitch classes make a triad or a seventh chord on one of them: a third above
/// the root, and nothing but a fifth (diminished with a minor third, augmented with a major
/// one) and a seventh (diminished in a diminished triad) besides.
pub fn is_tertian(classes: &[bool; 12]) -> bool {
    tertian_root(classes).is_some()
}

/// The root of the triad or seventh chord the pitch classes make (see `is_tertian`), the
/// lowest class of the octave from C if two fit.
fn tertian_root(classes: &[bool; 12]) -> Option<usize> {
    (0..12).filter(|&root| classes[root]).find(|&root| {
        let has = |interval: usize| classes[(root + interval) % 12];
        let third = if has(4) {
            4
        } else if has(3) {
            3
        } else {
            return false;
        };
        let allowed = |interval: usize| match interval {
            0 | 7 | 10 | 11 => true,
            3 | 4 => interval == third,
            6 => third == 3,
            8 => third == 4,
            9 => third == 3 && has(6),
            _ => false,
        };
        (0..12).all(|interval| !has(interval) || allowed(interval))
    })
}

/// Whether `this` is the harmony of `before` or `after` (whichever shares its bass) with
/// passing, neighbour or suspended tones: each tone it adds to that harmony lies a step from
/// one of its tones, and is held from or into the sonority on the other side or a step
/// from it. A slice adding nothing is that harmony itself, not an embellishment of it.
fn embellishes(before: &Sonority, this: &Sonority, after: &Sonority) -> bool {
    if this.duration > this.beat_length + 1e-6 || is_tertian(&this.classes()) {
        return false;
    }
    let Some(bass) = this.bass_class() else {
        return false;
    };
    let near = |set: &[bool; 12], class: usize| {
        (0..12).any(|c| set[c] && matches!(class_distance(c, class), 1 | 2))
    };
    let own = this.classes();
    let decorates = |harmony: &Sonority, other: &Sonority| {
        if harmony.bass_class() != Some(bass) {
            return false;
        }
        let (chord, beyond) = (harmony.classes(), other.classes());
        let added: Vec<usize> = (0..12)
            .filter(|&c| own[c] && c != bass && !chord[c])
            .collect();
        !added.is_empty()
            && added
                .iter()
                .all(|&c| near(&chord, c) && (beyond[c] || near(&beyond, c)))
    };
    decorates(before, after) || decorates(after, before)
}

#[cfg(test)]
mod tests {
    use super::{is_harmony_before_final, is_passing, is_tertian, Sonority};

    fn slice(pitches: &[f64], duration: f64, on_beat: bool) -> Sonority {
        Sonority {
            pitches: pitches.to_vec(),
            duration,
            beat_length: 1.0,
            on_beat,
        }
    }

    #[test]
    fn an_off_beat_eighth_passes() {
        // C major, then the soprano passes E-D-C over a held C major chord's bass.
        let music = [
            slice(&[48.0, 64.0, 67.0, 76.0], 0.5, true),
            slice(&[48.0, 64.0, 67.0, 74.0], 0.5, false),
            slice(&[43.0, 62.0, 67.0, 71.0], 1.0, true),
        ];
        assert!(is_passing(&music, 1));
        assert!(!is_passing(&music, 0));
        assert!(!is_passing(&music, 2));
    }

    #[test]
    fn a_suspension_over_the_dominant_is_the_dominant() {
        // I, then V with the C held over (4-3), then V, in C major.
        let music = [
            slice(&[48.0, 60.0, 64.0, 67.0], 1.0, true),
            slice(&[43.0, 60.0, 62.0, 67.0], 0.5, true),
            slice(&[43.0, 59.0, 62.0, 67.0], 0.5, false),
            slice(&[36.0, 60.0, 64.0, 67.0], 2.0, true),
        ];
        assert!(is_passing(&music, 1));
        // The resolution is the off-beat eighth, yet it is the harmony.
        assert!(!is_passing(&music, 2));
    }

    #[test]
    fn stacks_of_thirds_are_chords() {
        let set = |classes: &[usize]| {
            let mut s = [false; 12];
            for c in classes {
                s[*c] = true;
            }
            s
        };
        assert!(is_tertian(&set(&[7, 11, 2, 5])));
        assert!(is_tertian(&set(&[11, 2, 5, 8])));
        assert!(is_tertian(&set(&[0, 4])));
        assert!(!is_tertian(&set(&[7, 0, 2])));
        assert!(!is_tertian(&set(&[0, 2, 4, 7])));
        assert!(!is_tertian(&set(&[0, 7])));
    }

    #[test]
    fn a_slice_adding_nothing_to_its_neighbour_is_that_harmony() {
        // V on the beat, then V7 in eighths: the V is the harmony, not an embellishment.
        let music = [
            slice(&[47.0, 62.0, 67.0, 71.0], 0.5, true),
            slice(&[43.0, 62.0, 67.0, 71.0], 0.5, true),
            slice(&[43.0, 59.0, 65.0, 67.0], 0.5, false),
            slice(&[36.0, 60.0, 64.0, 67.0], 1.0, true),
        ];
        assert!(!is_passing(&music, 1));
    }

    #[test]
    fn the_dominant_on_the_second_eighth_approaches_the_final() {
        // ii65 on the beat, V on the second eighth, I: the V passes by metre, but it is
        // a stack of thirds and the chord the cadence resolves.
        let music = [
            slice(&[41.0, 62.0, 69.0, 72.0], 0.5, true),
            slice(&[43.0, 62.0, 67.0, 71.0], 0.5, false),
            slice(&[36.0, 60.0, 64.0, 72.0], 2.0, true),
        ];
        assert!(is_passing(&music, 1));
        assert!(is_harmony_before_final(&music, 1, 2));
        // A suspension over the dominant (G C D) is no stack of thirds: it still passes.
        let suspended = [
            slice(&[48.0, 60.0, 64.0, 67.0], 1.0, true),
            slice(&[43.0, 60.0, 62.0, 67.0], 0.5, true),
            slice(&[43.0, 59.0, 62.0, 67.0], 0.5, false),
            slice(&[36.0, 60.0, 64.0, 67.0], 2.0, true),
        ];
        assert!(!is_harmony_before_final(&suspended, 1, 3));
        assert!(is_harmony_before_final(&suspended, 2, 3));
        // V7 after V with a 6-5 appoggiatura (G B D E, then G B D F): the V7.
        let appoggiatura = [
            slice(&[43.0, 59.0, 64.0, 67.0], 0.5, true),
            slice(&[43.0, 59.0, 65.0, 67.0], 0.5, false),
            slice(&[36.0, 60.0, 64.0, 67.0], 2.0, true),
        ];
        assert!(is_harmony_before_final(&appoggiatura, 1, 2));
    }

    #[test]
    fn an_anticipation_of_the_final_is_no_harmony_before_it() {
        // V, then the tenor moves early to the E of the final I (G B D E off the beat).
        let music = [
            slice(&[43.0, 59.0, 62.0, 67.0], 0.5, true),
            slice(&[43.0, 59.0, 64.0, 67.0], 0.5, false),
            slice(&[36.0, 60.0, 64.0, 67.0], 2.0, true),
        ];
        assert!(!is_harmony_before_final(&music, 1, 2));
        assert!(is_harmony_before_final(&music, 0, 2));
        // The same motion into a dominant is that dominant: D F C, then D F B-flat (the
        // C resolving), then E-flat.
        let into_dominant = [
            slice(&[50.0, 65.0, 72.0], 0.5, true),
            slice(&[50.0, 65.0, 70.0], 0.5, false),
            slice(&[51.0, 63.0, 70.0, 79.0], 2.0, true),
        ];
        assert!(is_harmony_before_final(&into_dominant, 1, 2));
    }

    #[test]
    fn a_new_bass_is_a_new_harmony() {
        // ii6 V I: every upper tone moves by step, but the bass moves too.
        let music = [
            slice(&[41.0, 62.0, 69.0, 74.0], 1.0, true),
            slice(&[43.0, 62.0, 67.0, 71.0], 1.0, true),
            slice(&[36.0, 60.0, 64.0, 72.0], 2.0, true),
        ];
        assert!(!is_passing(&music, 1));
    }
}
