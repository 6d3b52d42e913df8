//! Which part of a source carries its melody.
//!
//! A chorale from a cantata often has a trumpet, an oboe or a violin above its soprano;
//! learning the top part would learn their figuration and register. So the part learned
//! from is, in order:
//!
//! 1. the part named as a soprano (by its part name, else its instrument's names:
//!    "Soprano", "Sopran", "S.", "Cantus", "Discantus", "Canto", "Superius"; case does not
//!    matter), the highest of them by mean pitch if there are several;
//! 2. else the highest (by mean pitch) of the parts named as voices ("Alto", "Tenor",
//!    "Bass", "Voice", "Chor", ...);
//! 3. else the highest part by mean pitch, leaving out a part named as an instrument that
//!    doubles a lower part (three quarters of its notes start with a note of the same
//!    pitch class in that part); with no names this is simply the highest part.
//!
//! A name naming an instrument ("Soprano Saxophone", "Basso continuo", "Violino I") is an
//! instrument's, whatever voice word it holds.

use std::collections::BTreeSet;

use music21_rs::{Stream, StreamElement};

use super::TICKS_PER_QUARTER;
use crate::music::melody::{melody_of, MelodyItem};
use crate::music::pitch::SpelledPitch;
use crate::music::timeline::{part_name, parts_of};

/// What a part's names say it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Soprano,
    /// A voice other than a soprano (or a voice of no named range).
    Vocal,
    Instrument,
    /// Nothing said, or nothing recognised ("Instrument 1", "P1", "Part 2").
    Unknown,
}

/// Why a part was taken as a source's melodic voice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum VoiceReason {
    /// The score has one part (with notes).
    OnlyPart,
    /// Named as a soprano.
    Soprano,
    /// The highest of the parts named as voices (none named soprano).
    HighestVocal,
    /// The highest part, no part being named as a voice (instrument doublings left out).
    HighestPart,
}

impl VoiceReason {
    /// The label the tool reports.
    pub fn label(self) -> &'static str {
        match self {
            Self::OnlyPart => "only_part",
            Self::Soprano => "soprano_by_name",
            Self::HighestVocal => "highest_vocal_part",
            Self::HighestPart => "highest_part",
        }
    }
}

/// The part chosen as a source's melodic voice, with its melodic line.
pub struct Voice {
    /// Index among the score's parts (from 0).
    pub index: usize,
    /// Its display name (name, else id, else `Part N`).
    pub name: String,
    pub reason: VoiceReason,
    pub items: Vec<MelodyItem>,
}

/// Words (lower case, or their beginnings with a trailing `*`) that make a name an
/// instrument's.
#[rustfmt::skip]
const INSTRUMENT_WORDS: &[&str] = &[
    "viol*", "vn", "vl", "vln", "vla", "vc", "vlc", "cello*", "contrab*", "kontrab*", "flaut*",
    "flute*", "flöte*", "fl", "traverso", "recorder*", "blockfl*", "piccolo*", "obo*", "ob",
    "hautb*", "horn*", "corn*", "cor", "hn", "trump*", "tromb*", "tromp*", "tpt", "tr",
    "clarin*", "klarin*", "timp*", "tymp*", "pauk*", "organ*", "orgel*", "org", "continuo",
    "bc", "cembal*", "harpsi*", "piano*", "pno", "klavier*", "clavi*", "fagot*", "bassoon*",
    "lute*", "liuto", "laute", "theorb*", "guitar*", "gitarre*", "harp*", "arpa", "strings",
    "keyboard*", "kb", "sax*", "tuba*", "fiddle*", "drum*", "bells", "glock*", "celesta",
    "bassi",
];

/// Words that make a name a soprano's.
#[rustfmt::skip]
const SOPRANO_WORDS: &[&str] = &[
    "sopran*", "sop", "sopr", "cantus", "discantus", "canto", "superius",
];

/// Words that make a name a voice's.
#[rustfmt::skip]
const VOCAL_WORDS: &[&str] = &[
    "alto", "altus", "alt", "contralto", "tenor", "tenore", "tenors", "bass", "basso", "bassus",
    "bariton*", "mezzo*", "voice*", "vox", "voce", "voci", "voix", "stimme", "singstimme",
    "chor*", "choir*", "coro", "vocal*", "quintus", "quinto", "sextus",
];

fn matches(word: &str, list: &[&str]) -> bool {
    list.iter().any(|w| match w.strip_suffix('*') {
        Some(stem) => word.starts_with(stem),
        None => word == *w,
    })
}

/// What one name says a part is.
pub fn role_of_name(name: &str) -> Role {
    let lower = name.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    // "Double bass", and "B.c." (basso continuo) spelled as letters.
    let double_bass = words.windows(2).any(|w| w == ["double", "bass"]);
    let continuo = words.concat() == "bc";
    if double_bass || continuo || words.iter().any(|w| matches(w, INSTRUMENT_WORDS)) {
        return Role::Instrument;
    }
    // "S.", "A 2", "T": a single letter is an abbreviation only as the whole name (with a
    // number at most).
    let abbreviation = match words.as_slice() {
        [one] | [one, _] if one.len() == 1 => words
            .get(1)
            .is_none_or(|n| n.chars().all(|c| c.is_numeric()) || is_roman(n)),
        _ => false,
    };
    let first = words.first().copied().unwrap_or("");
    let mezzo = words.iter().any(|w| w.starts_with("mezzo"));
    if !mezzo && (words.iter().any(|w| matches(w, SOPRANO_WORDS)) || abbreviation && first == "s") {
        return Role::Soprano;
    }
    if words.iter().any(|w| matches(w, VOCAL_WORDS))
        || abbreviation && ["a", "t", "b"].contains(&first)
    {
        return Role::Vocal;
    }
    Role::Unknown
}

fn is_roman(word: &str) -> bool {
    ["i", "ii", "iii", "iv"].contains(&word)
}

/// What a part's names say it is: the first of its part name, abbreviation, instrument
/// names and id that says anything.
pub fn role_of_part(part: &Stream) -> Role {
    let instrument = part.recurse().into_iter().find_map(|(_, e)| match e {
        StreamElement::Instrument(i) => Some(i),
        _ => None,
    });
    let names = [
        part.name(),
        part.abbreviation(),
        instrument.and_then(|i| i.part_name()),
        instrument.and_then(|i| i.part_abbreviation()),
        instrument.and_then(|i| i.name()),
        instrument.and_then(|i| i.abbreviation()),
        part.id(),
    ];
    names
        .into_iter()
        .flatten()
        .map(role_of_name)
        .find(|r| *r != Role::Unknown)
        .unwrap_or(Role::Unknown)
}

/// A part as the choice weighs it.
struct Candidate {
    index: usize,
    role: Role,
    mean: f64,
    /// (onset in ticks, pitch class) of each note.
    onsets: BTreeSet<(i64, i32)>,
    items: Vec<MelodyItem>,
}

fn candidate(index: usize, part: &Stream) -> Option<Candidate> {
    let items = melody_of(part);
    let mut onsets = BTreeSet::new();
    let (mut sum, mut count) = (0i64, 0usize);
    for item in &items {
        let MelodyItem::Note(n) = item else { continue };
        let Some(p) = SpelledPitch::from_pitch(&n.pitch) else {
            continue;
        };
        let midi = p.midi();
        sum += i64::from(midi);
        count += 1;
        let tick = (n.offset * f64::from(TICKS_PER_QUARTER)).round() as i64;
        onsets.insert((tick, midi.rem_euclid(12)));
    }
    (count >= 2).then(|| Candidate {
        index,
        role: role_of_part(part),
        mean: sum as f64 / count as f64,
        onsets,
        items,
    })
}

/// Whether `upper` doubles `lower`: three quarters of its notes start with a note of the
/// same pitch class there.
fn doubles(upper: &Candidate, lower: &Candidate) -> bool {
    let shared = upper.onsets.intersection(&lower.onsets).count();
    shared * 4 >= upper.onsets.len() * 3
}

fn highest(candidates: Vec<Candidate>) -> Option<Candidate> {
    candidates
        .into_iter()
        .max_by(|a, b| a.mean.total_cmp(&b.mean).then(b.index.cmp(&a.index)))
}

/// The part of a score to learn its melody from (see the module's documentation); nothing
/// when no part has two notes.
pub fn melodic_voice(score: &Stream) -> Option<Voice> {
    let parts = parts_of(score);
    let mut candidates: Vec<Candidate> = parts
        .iter()
        .enumerate()
        .filter_map(|(i, p)| candidate(i, p))
        .collect();
    let with_role = |role: Role, all: &mut Vec<Candidate>| -> Vec<Candidate> {
        let (with, without): (Vec<Candidate>, Vec<Candidate>) = std::mem::take(all)
            .into_iter()
            .partition(|c| c.role == role);
        *all = without;
        with
    };
    let (chosen, reason) = if candidates.len() <= 1 {
        (candidates.pop()?, VoiceReason::OnlyPart)
    } else if let Some(c) = highest(with_role(Role::Soprano, &mut candidates)) {
        (c, VoiceReason::Soprano)
    } else if let Some(c) = highest(with_role(Role::Vocal, &mut candidates)) {
        (c, VoiceReason::HighestVocal)
    } else {
        let doubling: Vec<bool> = candidates
            .iter()
            .map(|c| {
                c.role == Role::Instrument
                    && candidates
                        .iter()
                        .any(|o| o.index != c.index && o.mean < c.mean && doubles(c, o))
            })
            .collect();
        let kept: Vec<Candidate> = candidates
            .into_iter()
            .zip(doubling)
            .filter(|(_, d)| !d)
            .map(|(c, _)| c)
            .collect();
        (highest(kept)?, VoiceReason::HighestPart)
    };
    let part = parts.get(chosen.index).copied().unwrap_or(score);
    Some(Voice {
        index: chosen.index,
        name: part_name(part, chosen.index),
        reason,
        items: chosen.items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ImportLimits;
    use crate::music::format::Format;
    use crate::music::parse::parse_score;
    use crate::tools::test_kit::musicxml;

    type Bars<'a> = &'a [&'a [(&'a str, u32)]];

    const HIGH: Bars = &[
        &[("C6", 1), ("D6", 1), ("E6", 1), ("C6", 1)],
        &[("G5", 2), ("C6", 2)],
    ];
    const UPPER: Bars = &[
        &[("E5", 1), ("F5", 1), ("G5", 1), ("E5", 1)],
        &[("D5", 2), ("C5", 2)],
    ];
    const UPPER_OCTAVE: Bars = &[
        &[("E6", 1), ("F6", 1), ("G6", 1), ("E6", 1)],
        &[("D6", 2), ("C6", 2)],
    ];
    const MIDDLE: Bars = &[
        &[("G4", 1), ("A4", 1), ("B4", 1), ("G4", 1)],
        &[("G4", 2), ("E4", 2)],
    ];
    const LOW: Bars = &[
        &[("C3", 1), ("F3", 1), ("G3", 1), ("C3", 1)],
        &[("G2", 2), ("C3", 2)],
    ];

    /// A score of these parts, named so (an empty name leaves the part unnamed).
    fn chosen(parts: &[(&str, Bars)]) -> (String, VoiceReason) {
        let bars: Vec<Bars> = parts.iter().map(|(_, b)| *b).collect();
        let mut xml = musicxml(&bars);
        for (i, (name, _)) in parts.iter().enumerate() {
            xml = xml.replace(
                &format!("<part-name>Voice {}</part-name>", i + 1),
                &format!("<part-name>{name}</part-name>"),
            );
        }
        let score = parse_score(
            xml.as_bytes(),
            Format::Musicxml,
            None,
            &ImportLimits::default(),
        )
        .expect("a score");
        let voice = melodic_voice(&score).expect("a voice");
        (voice.name, voice.reason)
    }

    #[test]
    fn the_melodic_voice_is_the_soprano_else_the_highest_voice_else_the_highest_part() {
        let soprano = chosen(&[
            ("Tromba 1", HIGH),
            ("Soprano", UPPER),
            ("Alto", MIDDLE),
            ("Bass", LOW),
        ]);
        assert_eq!(soprano, ("Soprano".into(), VoiceReason::Soprano));
        let vocal = chosen(&[("Violino I", HIGH), ("Alto", MIDDLE), ("Tenor", LOW)]);
        assert_eq!(vocal, ("Alto".into(), VoiceReason::HighestVocal));
        // The flute doubles the violin an octave higher: left out.
        let doubled = chosen(&[
            ("Flauto", UPPER_OCTAVE),
            ("Violino", UPPER),
            ("Violoncello", LOW),
        ]);
        assert_eq!(doubled, ("Violino".into(), VoiceReason::HighestPart));
        // Not doubling anything, the trumpet is the highest part.
        let trumpet = chosen(&[("Tromba", HIGH), ("Violino", UPPER), ("Organo", LOW)]);
        assert_eq!(trumpet, ("Tromba".into(), VoiceReason::HighestPart));
        // No names: the highest mean pitch, even a doubling.
        let unnamed = chosen(&[("", LOW), ("", UPPER_OCTAVE), ("", UPPER)]);
        assert_eq!(unnamed.1, VoiceReason::HighestPart);
        assert_eq!(unnamed.0, "Part 2", "an octave above the third");
        assert_eq!(chosen(&[("Tromba", HIGH)]).1, VoiceReason::OnlyPart);
    }

    #[test]
    fn names_say_what_a_part_is() {
        for soprano in [
            "Soprano",
            "soprano",
            "SOPRANO 1",
            "S.",
            "S",
            "S. II",
            "Sopran",
            "Cantus",
            "Discantus",
            "Canto",
            "Soprani",
        ] {
            assert_eq!(role_of_name(soprano), Role::Soprano, "{soprano}");
        }
        for vocal in [
            "Alto",
            "Tenor",
            "Bass",
            "Voice",
            "Chor",
            "Chorus",
            "A.",
            "T",
            "B. 2",
            "Basso",
            "Mezzo-soprano",
        ] {
            assert_eq!(role_of_name(vocal), Role::Vocal, "{vocal}");
        }
        for instrument in [
            "Trumpet 1",
            "Violino I",
            "Oboe",
            "Horn 2",
            "Soprano Saxophone",
            "Basso continuo",
            "B.c.",
            "Recorders",
            "Timpani",
            "Piano",
            "Double Bass",
        ] {
            assert_eq!(role_of_name(instrument), Role::Instrument, "{instrument}");
        }
        for unknown in ["Instrument 1", "P1", "Part 2", "Melody", "", "Bs"] {
            assert_eq!(role_of_name(unknown), Role::Unknown, "{unknown}");
        }
    }
}
