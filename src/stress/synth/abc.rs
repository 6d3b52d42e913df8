//! ABC text of the piece.

use std::fmt::Write as _;

use super::piece::*;
use super::{Mode, SynthSpec};

/// Key names by fifths (-7..=7), as `K:` takes them.
const MAJOR_KEYS: [&str; 15] = [
    "Cb", "Gb", "Db", "Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#",
];
const MINOR_KEYS: [&str; 15] = [
    "Abm", "Ebm", "Bbm", "Fm", "Cm", "Gm", "Dm", "Am", "Em", "Bm", "F#m", "C#m", "G#m", "D#m",
    "A#m",
];
/// ABC measures per line of text.
const ABC_MEASURES_PER_LINE: usize = 4;

pub(super) fn write(spec: &SynthSpec, out: &mut String) {
    let key_index = (i32::from(spec.key_fifths) + 7) as usize;
    let key = match spec.mode {
        Mode::Major => MAJOR_KEYS[key_index],
        Mode::Minor => MINOR_KEYS[key_index],
    };
    let _ = writeln!(
        out,
        "X:1\nT:Synthetic score, seed {}\nC:music21-prod synth",
        spec.seed
    );
    let _ = writeln!(out, "M:{}/{}\nL:1/16\nQ:1/4=96", spec.beats, spec.beat_type);
    let _ = writeln!(out, "K:{key}");
    // Each voice is declared where its music starts: music21 splits the tune at every `V:`
    // line, so declarations in the header would become empty parts.
    let voiced = spec.parts > 1;
    for part in 0..spec.parts {
        if voiced {
            let _ = writeln!(
                out,
                "V:{} name=\"{}\" clef={}",
                part + 1,
                part_name(part),
                abc_clef(part)
            );
        }
        let measures = generate_part(spec, part);
        for (index, measure) in measures.iter().enumerate() {
            for (i, event) in measure.iter().enumerate() {
                // Beamed pairs are written together; everything else apart.
                if i > 0 && event.beam != Beam::End {
                    out.push(' ');
                }
                write_abc_event(event, out);
            }
            let last = index + 1 == measures.len();
            out.push_str(if last { " |]\n" } else { " |" });
            if !last && (index + 1) % ABC_MEASURES_PER_LINE == 0 {
                out.push('\n');
            } else if !last {
                out.push(' ');
            }
        }
    }
}

fn abc_clef(part: usize) -> &'static str {
    if is_low_register(part) {
        "bass"
    } else {
        "treble"
    }
}

/// A note in ABC: the letter (accidentals come from `K:`), its octave marks, its length in
/// sixteenths (`L:1/16`), then `-` when tied over.
fn write_abc_event(event: &Event, out: &mut String) {
    match event.pitch {
        Some(d) => {
            let (octave, letter) = (d.div_euclid(7), d.rem_euclid(7) as usize);
            if octave >= 5 {
                out.push(LETTERS[letter].to_ascii_lowercase());
                for _ in 5..octave {
                    out.push('\'');
                }
            } else {
                out.push(LETTERS[letter]);
                for _ in octave..4 {
                    out.push(',');
                }
            }
        }
        None => out.push('z'),
    }
    if event.units != 1 {
        let _ = write!(out, "{}", event.units);
    }
    if event.tie_start {
        out.push('-');
    }
}
