//! The abstract piece: parts of measures of events, from the seed. Every format is written
//! from it, so the counts hold for all of them.

use super::{Mode, SynthSpec};
use crate::rng::SplitMix64;

/// Sixteenths per quarter: the smallest duration used is a sixteenth (only in x/16 meters
/// or after a dotted eighth), so every duration is a whole number of them.
pub(super) const DIVISIONS: u32 = 4;
pub(super) const TICKS_PER_QUARTER: u16 = 480;
/// Soprano, alto, tenor, bass; later parts reuse these registers.
pub(super) const VOICE_NAMES: [&str; 4] = ["Soprano", "Alto", "Tenor", "Bass"];
/// Each register's lowest and highest note, as diatonic numbers (octave * 7 + letter, C=0):
/// C4-G5, F3-C5, C3-G4, E2-C4.
pub(super) const REGISTERS: [(i32, i32); 4] = [(28, 39), (24, 35), (21, 32), (16, 28)];
pub(super) const LETTERS: [char; 7] = ['C', 'D', 'E', 'F', 'G', 'A', 'B'];
pub(super) const LETTER_SEMITONES: [i32; 7] = [0, 2, 4, 5, 7, 9, 11];

/// One note or rest of a measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Event {
    /// In sixteenths.
    pub(super) units: u32,
    /// Diatonic number (octave * 7 + letter); `None` is a rest.
    pub(super) pitch: Option<i32>,
    /// Tied to the next event (always across the barline that follows it).
    pub(super) tie_start: bool,
    /// The continuation of the previous measure's last note.
    pub(super) tie_stop: bool,
    pub(super) beam: Beam,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Beam {
    None,
    Begin,
    End,
}

/// Rhythm cells (durations in sixteenths) and how often each is picked: quarters, eighth
/// pairs, halves and dotted figures, as the brief asks. Sixteenths only fill odd gaps.
pub(super) const CELLS: [(&[u32], u32); 6] = [
    (&[4], 5),
    (&[2, 2], 4),
    (&[8], 2),
    (&[6, 2], 2),
    (&[12], 1),
    (&[3, 1], 1),
];

/// The spec with every field in the range the generators assume.
pub(super) fn normalized(spec: &SynthSpec) -> SynthSpec {
    SynthSpec {
        parts: spec.parts.max(1),
        measures: spec.measures.max(1),
        seed: spec.seed,
        key_fifths: spec.key_fifths.clamp(-7, 7),
        mode: spec.mode,
        beats: spec.beats.max(1),
        beat_type: if matches!(spec.beat_type, 1 | 2 | 4 | 8 | 16) {
            spec.beat_type
        } else {
            4
        },
    }
}

/// Sixteenths in one measure.
pub(super) fn measure_units(spec: &SynthSpec) -> u32 {
    u32::from(spec.beats) * 16 / u32::from(spec.beat_type)
}

/// The tonic's letter (0 = C) for the key: major tonics walk the circle of fifths from C;
/// the relative minor is a sixth above.
pub(super) fn tonic_letter(spec: &SynthSpec) -> i32 {
    let major = (i32::from(spec.key_fifths) * 4).rem_euclid(7);
    match spec.mode {
        Mode::Major => major,
        Mode::Minor => (major + 5) % 7,
    }
}

/// The key signature's alteration of a letter: sharps come in the order F C G D A E B,
/// flats in the reverse order.
pub(super) fn key_alter(fifths: i8, letter: i32) -> i32 {
    const SHARP_ORDER: [i32; 7] = [3, 0, 4, 1, 5, 2, 6];
    let position = SHARP_ORDER.iter().position(|&l| l == letter).unwrap_or(0) as i32;
    let fifths = i32::from(fifths);
    if fifths > 0 && position < fifths {
        1
    } else if fifths < 0 && 6 - position < -fifths {
        -1
    } else {
        0
    }
}

pub(super) fn midi_key(fifths: i8, diatonic: i32) -> i32 {
    let (octave, letter) = (diatonic.div_euclid(7), diatonic.rem_euclid(7));
    12 * (octave + 1) + LETTER_SEMITONES[letter as usize] + key_alter(fifths, letter)
}

/// The events of every measure of one part. Each part has its own random stream (from the
/// seed and the part's number), so parts can be generated one at a time.
pub(super) fn generate_part(spec: &SynthSpec, part: usize) -> Vec<Vec<Event>> {
    let mut rng =
        SplitMix64::new(spec.seed ^ (part as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407));
    let (low, high) = REGISTERS[part % REGISTERS.len()];
    let tonic = tonic_letter(spec);
    // Start on the tonic nearest the middle of the register.
    let middle = (low + high) / 2;
    let mut pitch = middle - (middle - tonic).rem_euclid(7);
    if pitch < low {
        pitch += 7;
    }
    let units = measure_units(spec);
    let mut measures = Vec::with_capacity(spec.measures);
    let mut carried: Option<Event> = None;
    for index in 0..spec.measures {
        let last_measure = index + 1 == spec.measures;
        let measure = generate_measure(
            &mut rng,
            units,
            &mut pitch,
            (low, high),
            carried.take(),
            last_measure,
        );
        if let Some(last) = measure.last().filter(|e| e.tie_start) {
            carried = Some(*last);
        }
        measures.push(measure);
    }
    measures
}

/// One measure, exactly `units` long. `carried` is the previous measure's last note when it
/// is tied over: this measure starts with its continuation.
pub(super) fn generate_measure(
    rng: &mut SplitMix64,
    units: u32,
    pitch: &mut i32,
    register: (i32, i32),
    carried: Option<Event>,
    last_measure: bool,
) -> Vec<Event> {
    let mut durations: Vec<(u32, Beam)> = Vec::with_capacity(8);
    let mut filled = 0;
    while filled < units {
        let cell = pick_cell(rng, units - filled);
        let beamed = cell == [2, 2];
        for (i, &d) in cell.iter().enumerate() {
            let beam = match (beamed, i) {
                (true, 0) => Beam::Begin,
                (true, _) => Beam::End,
                _ => Beam::None,
            };
            durations.push((d, beam));
        }
        filled += cell.iter().sum::<u32>();
    }
    let count = durations.len();
    let mut events = Vec::with_capacity(count);
    for (i, (d, beam)) in durations.into_iter().enumerate() {
        let is_last = i + 1 == count;
        if i == 0 {
            if let Some(prev) = carried {
                events.push(Event {
                    units: d,
                    pitch: prev.pitch,
                    tie_start: false,
                    tie_stop: true,
                    beam,
                });
                continue;
            }
        }
        // Rests now and then, never in a beamed pair (keeps beams simple) nor at the very
        // end (MIDI cannot say a trailing rest, so music21 would see a shorter piece).
        let rest = beam == Beam::None && !(last_measure && is_last) && rng.one_in(10);
        if rest {
            events.push(Event {
                units: d,
                pitch: None,
                tie_start: false,
                tie_stop: false,
                beam,
            });
            continue;
        }
        *pitch = next_pitch(rng, *pitch, register);
        // A tie over the barline now and then, from the measure's last note.
        let tie_start = is_last && !last_measure && rng.one_in(6);
        events.push(Event {
            units: d,
            pitch: Some(*pitch),
            tie_start,
            tie_stop: false,
            beam,
        });
    }
    events
}

/// A rhythm cell that fits in `remaining` sixteenths, by weight.
pub(super) fn pick_cell(rng: &mut SplitMix64, remaining: u32) -> &'static [u32] {
    let fits = |cell: &[u32]| cell.iter().sum::<u32>() <= remaining;
    let total: u32 = CELLS.iter().filter(|(c, _)| fits(c)).map(|(_, w)| w).sum();
    if total == 0 {
        // Less than an eighth left (x/16 meters): a sixteenth.
        return &[1];
    }
    let mut pick = rng.below(u64::from(total)) as u32;
    for (cell, weight) in CELLS {
        if !fits(cell) {
            continue;
        }
        if pick < weight {
            return cell;
        }
        pick -= weight;
    }
    &[1]
}

/// Mostly steps, some skips, turning back at the register's edges.
pub(super) fn next_pitch(rng: &mut SplitMix64, pitch: i32, (low, high): (i32, i32)) -> i32 {
    const MOVES: [i32; 10] = [-1, 1, -1, 1, -2, 2, 0, -3, 3, 4];
    let next = pitch + MOVES[rng.below(MOVES.len() as u64) as usize];
    if next < low {
        low + (low - next)
    } else if next > high {
        high - (next - high)
    } else {
        next
    }
    .clamp(low, high)
}

pub(super) fn part_name(part: usize) -> String {
    let name = VOICE_NAMES[part % VOICE_NAMES.len()];
    match part / VOICE_NAMES.len() {
        0 => name.to_string(),
        n => format!("{name} {}", n + 1),
    }
}

pub(super) fn is_low_register(part: usize) -> bool {
    part % REGISTERS.len() >= 2
}
