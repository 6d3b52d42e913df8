//! MusicXML 3.1 partwise text of the piece.

use std::fmt::Write as _;

use super::piece::*;
use super::{Mode, SynthSpec};

/// A generous guess, so that the output String is allocated once.
pub(super) fn estimate_bytes(spec: &SynthSpec) -> usize {
    let notes_per_measure = measure_units(spec) as usize / 3 + 1;
    1024 + spec.parts * (512 + spec.measures * (64 + notes_per_measure * 160))
}

pub(super) fn write(spec: &SynthSpec, out: &mut String) {
    out.push_str(concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n",
        "<!DOCTYPE score-partwise PUBLIC \"-//Recordare//DTD MusicXML 3.1 Partwise//EN\" ",
        "\"http://www.musicxml.org/dtds/partwise.dtd\">\n",
        "<score-partwise version=\"3.1\">\n",
    ));
    let _ = writeln!(
        out,
        "<work><work-title>Synthetic score, seed {}</work-title></work>",
        spec.seed
    );
    out.push_str("<identification><creator type=\"composer\">music21-prod synth</creator></identification>\n");
    out.push_str("<part-list>\n");
    for part in 0..spec.parts {
        let _ = writeln!(
            out,
            "<score-part id=\"P{}\"><part-name>{}</part-name></score-part>",
            part + 1,
            part_name(part)
        );
    }
    out.push_str("</part-list>\n");
    for part in 0..spec.parts {
        let _ = writeln!(out, "<part id=\"P{}\">", part + 1);
        for (index, measure) in generate_part(spec, part).iter().enumerate() {
            let _ = writeln!(out, "<measure number=\"{}\">", index + 1);
            if index == 0 {
                write_attributes(spec, part, out);
            }
            for event in measure {
                write_note(spec, event, out);
            }
            if index + 1 == spec.measures {
                out.push_str(
                    "<barline location=\"right\"><bar-style>light-heavy</bar-style></barline>\n",
                );
            }
            out.push_str("</measure>\n");
        }
        out.push_str("</part>\n");
    }
    out.push_str("</score-partwise>\n");
}

fn write_attributes(spec: &SynthSpec, part: usize, out: &mut String) {
    let mode = match spec.mode {
        Mode::Major => "major",
        Mode::Minor => "minor",
    };
    let clef = if is_low_register(part) {
        "<sign>F</sign><line>4</line>"
    } else {
        "<sign>G</sign><line>2</line>"
    };
    let _ = writeln!(
        out,
        "<attributes><divisions>{DIVISIONS}</divisions><key><fifths>{}</fifths><mode>{mode}</mode></key>\
         <time><beats>{}</beats><beat-type>{}</beat-type></time><clef>{clef}</clef></attributes>",
        spec.key_fifths, spec.beats, spec.beat_type
    );
}

/// One `<note>`, its children in the order the schema requires: pitch or rest, duration,
/// tie, voice, type, dot, beam, notations.
fn write_note(spec: &SynthSpec, event: &Event, out: &mut String) {
    out.push_str("<note>");
    match event.pitch {
        Some(d) => {
            let (octave, letter) = (d.div_euclid(7), d.rem_euclid(7));
            let alter = key_alter(spec.key_fifths, letter);
            let _ = write!(out, "<pitch><step>{}</step>", LETTERS[letter as usize]);
            if alter != 0 {
                let _ = write!(out, "<alter>{alter}</alter>");
            }
            let _ = write!(out, "<octave>{octave}</octave></pitch>");
        }
        None => out.push_str("<rest/>"),
    }
    let _ = write!(out, "<duration>{}</duration>", event.units);
    if event.tie_stop {
        out.push_str("<tie type=\"stop\"/>");
    }
    if event.tie_start {
        out.push_str("<tie type=\"start\"/>");
    }
    let (kind, dotted) = note_type(event.units);
    let _ = write!(out, "<voice>1</voice><type>{kind}</type>");
    if dotted {
        out.push_str("<dot/>");
    }
    match event.beam {
        Beam::Begin => out.push_str("<beam number=\"1\">begin</beam>"),
        Beam::End => out.push_str("<beam number=\"1\">end</beam>"),
        Beam::None => {}
    }
    if event.tie_start || event.tie_stop {
        out.push_str("<notations>");
        if event.tie_stop {
            out.push_str("<tied type=\"stop\"/>");
        }
        if event.tie_start {
            out.push_str("<tied type=\"start\"/>");
        }
        out.push_str("</notations>");
    }
    out.push_str("</note>\n");
}

/// The MusicXML type of a duration in sixteenths, and whether it is dotted.
fn note_type(units: u32) -> (&'static str, bool) {
    match units {
        1 => ("16th", false),
        2 => ("eighth", false),
        3 => ("eighth", true),
        4 => ("quarter", false),
        6 => ("quarter", true),
        8 => ("half", false),
        12 => ("half", true),
        16 => ("whole", false),
        // Not produced by the cells; a plausible type keeps the document valid anyway.
        _ => ("quarter", false),
    }
}
