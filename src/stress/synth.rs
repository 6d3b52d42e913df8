//! Synthetic scores for the stress test: MusicXML, ABC and MIDI renderings of one seeded,
//! deterministic piece, with the counts the server must report for it.
//!
//! Every format is rendered from the same abstract piece (parts of measures of events), so
//! `expected_notes` holds for all three. Each part walks a diatonic scale of the key inside
//! its own register (soprano, alto, tenor, bass, then again), in mixed durations that fill
//! every measure exactly, with occasional rests and ties across barlines.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// Major or (natural) minor: both use the key signature's scale; only the tonic differs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Major,
    Minor,
}

/// What to generate. Out-of-range values are clamped, never refused: `key_fifths` to
/// -7..=7, `beats` to at least 1, `beat_type` to one of 1, 2, 4, 8, 16 (else 4), `parts`
/// and `measures` to at least 1.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct SynthSpec {
    pub parts: usize,
    pub measures: usize,
    pub seed: u64,
    pub key_fifths: i8,
    pub mode: Mode,
    pub beats: u8,
    pub beat_type: u8,
}

impl Default for SynthSpec {
    fn default() -> Self {
        Self {
            parts: 4,
            measures: 16,
            seed: 0,
            key_fifths: 0,
            mode: Mode::Major,
            beats: 4,
            beat_type: 4,
        }
    }
}

/// What a synthetic score holds, counted as music21 counts it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SynthSummary {
    pub parts: usize,
    /// Measures per part (every part has as many).
    pub measures: usize,
    /// Note objects, tie continuations included (music21 counts each tied half).
    pub notes: usize,
    /// Rests as written in MusicXML and ABC. MIDI has no rests: music21 rebuilds them from
    /// the gaps, merging neighbours, so this count does not hold for MIDI.
    pub rests: usize,
    /// Ties across barlines (each is one tie start and one continuation).
    pub ties: usize,
    /// Always zero: every part is a single melodic line.
    pub chords: usize,
    /// Length in quarter notes.
    pub duration_quarters: f64,
}

/// MusicXML 3.1 partwise text of the piece.
pub fn musicxml(spec: &SynthSpec) -> String {
    let spec = normalized(spec);
    let mut out = String::with_capacity(estimate_musicxml_bytes(&spec));
    write_musicxml(&spec, &mut out);
    out
}

/// ABC text of the piece: one tune (`X:1`), a `V:` voice per part when there are several.
pub fn abc(spec: &SynthSpec) -> String {
    let spec = normalized(spec);
    let mut out = String::with_capacity(64 + spec.parts * spec.measures * 24);
    write_abc(&spec, &mut out);
    out
}

/// A Standard MIDI File (format 1, 480 ticks per quarter) of the piece: a conductor track
/// with tempo, meter and key, then one track per part. Tied notes are one long MIDI note
/// (music21 ties it again at the barline, so the note count is the same).
pub fn midi(spec: &SynthSpec) -> Vec<u8> {
    let spec = normalized(spec);
    let mut tracks = vec![conductor_track(&spec)];
    for part in 0..spec.parts {
        tracks.push(part_track(&spec, part));
    }
    let mut out = Vec::with_capacity(14 + tracks.iter().map(|t| t.len() + 8).sum::<usize>());
    out.extend_from_slice(b"MThd");
    out.extend_from_slice(&6u32.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(tracks.len().min(u16::MAX as usize) as u16).to_be_bytes());
    out.extend_from_slice(&TICKS_PER_QUARTER.to_be_bytes());
    for track in tracks {
        out.extend_from_slice(b"MTrk");
        out.extend_from_slice(&(track.len() as u32).to_be_bytes());
        out.extend_from_slice(&track);
    }
    out
}

/// Note objects music21 will count in the piece (tie continuations included, no chords).
pub fn expected_notes(spec: &SynthSpec) -> usize {
    summary(spec).notes
}

/// Everything a caller can check against the server's summary of the piece.
pub fn summary(spec: &SynthSpec) -> SynthSummary {
    let spec = normalized(spec);
    let (mut notes, mut rests, mut ties) = (0, 0, 0);
    for part in 0..spec.parts {
        for measure in generate_part(&spec, part) {
            for event in measure {
                match event.pitch {
                    Some(_) => notes += 1,
                    None => rests += 1,
                }
                ties += usize::from(event.tie_start);
            }
        }
    }
    SynthSummary {
        parts: spec.parts,
        measures: spec.measures,
        notes,
        rests,
        ties,
        chords: 0,
        duration_quarters: (spec.measures as f64) * f64::from(measure_units(&spec)) / 4.0,
    }
}

/// MusicXML of about `target_bytes` (within ±15% from 1 KB up; below the smallest score,
/// the smallest score), and the spec that made it. Parts grow with the size (1 to 8), the
/// measures fill the rest; key, mode and meter come from the seed, but small targets may
/// take a shorter meter when the seed's own cannot come close enough with whole measures.
pub fn musicxml_of_size(target_bytes: usize, seed: u64) -> (String, SynthSpec) {
    let base = sized_base(target_bytes, seed);
    let mut meters = vec![(base.beats, base.beat_type)];
    meters.extend(
        SIZED_METERS
            .iter()
            .filter(|&&m| m != (base.beats, base.beat_type)),
    );
    let mut best: Option<(String, SynthSpec)> = None;
    for (beats, beat_type) in meters {
        let (text, spec) = fit_measures(
            target_bytes,
            SynthSpec {
                beats,
                beat_type,
                ..base.clone()
            },
        );
        let miss = |len: usize| (len as f64 / target_bytes.max(1) as f64 - 1.0).abs();
        let close = miss(text.len()) <= 0.1;
        if best
            .as_ref()
            .is_none_or(|(b, _)| miss(text.len()) < miss(b.len()))
        {
            best = Some((text, spec));
        }
        // Large targets nearly always end here, at the first meter: one generation.
        if close {
            break;
        }
    }
    best.unwrap_or_else(|| {
        let spec = SynthSpec {
            measures: 1,
            ..base
        };
        (musicxml(&spec), spec)
    })
}

/// Meters tried for sized scores, longest first; 1/4 lets a 1 KB score hold one beat.
const SIZED_METERS: [(u8, u8); 7] = [(4, 4), (3, 4), (2, 2), (6, 8), (2, 4), (3, 8), (1, 4)];

/// The measure count that brings `spec` (parts, meter, key: all but its measures) nearest
/// `target_bytes`, and its MusicXML.
fn fit_measures(target_bytes: usize, mut spec: SynthSpec) -> (String, SynthSpec) {
    // Bytes per measure (all parts), measured on a sample: its average over a few dozen
    // measures is within a few per cent of that of any longer piece from the same seed.
    let sample_measures = 24;
    let fixed = musicxml(&SynthSpec {
        measures: 1,
        ..spec.clone()
    })
    .len();
    let sample = musicxml(&SynthSpec {
        measures: sample_measures,
        ..spec.clone()
    })
    .len();
    let per_measure = (sample.saturating_sub(fixed) as f64 / (sample_measures - 1) as f64).max(1.0);
    let wanted = 1.0 + (target_bytes as f64 - fixed as f64) / per_measure;
    spec.measures = wanted.round().max(1.0) as usize;
    // The estimate is nearly always close enough; correct it a bounded number of times.
    let mut text = musicxml(&spec);
    for _ in 0..3 {
        let ratio = text.len() as f64 / target_bytes.max(1) as f64;
        if (0.95..=1.05).contains(&ratio) {
            break;
        }
        let corrected = (spec.measures as f64 / ratio).round().max(1.0) as usize;
        if corrected == spec.measures {
            break;
        }
        spec.measures = corrected;
        text = musicxml(&spec);
    }
    (text, spec)
}

// ---------------------------------------------------------------------------------------
// The abstract piece.

/// Sixteenths per quarter: the smallest duration used is a sixteenth (only in x/16 meters
/// or after a dotted eighth), so every duration is a whole number of them.
const DIVISIONS: u32 = 4;
const TICKS_PER_QUARTER: u16 = 480;
/// Soprano, alto, tenor, bass; later parts reuse these registers.
const VOICE_NAMES: [&str; 4] = ["Soprano", "Alto", "Tenor", "Bass"];
/// Each register's lowest and highest note, as diatonic numbers (octave * 7 + letter, C=0):
/// C4-G5, F3-C5, C3-G4, E2-C4.
const REGISTERS: [(i32, i32); 4] = [(28, 39), (24, 35), (21, 32), (16, 28)];
const LETTERS: [char; 7] = ['C', 'D', 'E', 'F', 'G', 'A', 'B'];
const LETTER_SEMITONES: [i32; 7] = [0, 2, 4, 5, 7, 9, 11];

/// One note or rest of a measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Event {
    /// In sixteenths.
    units: u32,
    /// Diatonic number (octave * 7 + letter); `None` is a rest.
    pitch: Option<i32>,
    /// Tied to the next event (always across the barline that follows it).
    tie_start: bool,
    /// The continuation of the previous measure's last note.
    tie_stop: bool,
    beam: Beam,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Beam {
    None,
    Begin,
    End,
}

/// Rhythm cells (durations in sixteenths) and how often each is picked: quarters, eighth
/// pairs, halves and dotted figures, as the brief asks. Sixteenths only fill odd gaps.
const CELLS: [(&[u32], u32); 6] = [
    (&[4], 5),
    (&[2, 2], 4),
    (&[8], 2),
    (&[6, 2], 2),
    (&[12], 1),
    (&[3, 1], 1),
];

/// The spec with every field in the range the generators assume.
fn normalized(spec: &SynthSpec) -> SynthSpec {
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
fn measure_units(spec: &SynthSpec) -> u32 {
    u32::from(spec.beats) * 16 / u32::from(spec.beat_type)
}

/// splitmix64: tiny, fast, and good enough to make music; the same seed gives the same piece
/// on every platform.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u32) -> u32 {
        (self.next_u64() % u64::from(n.max(1))) as u32
    }
    /// True with probability 1/n.
    fn one_in(&mut self, n: u32) -> bool {
        self.below(n) == 0
    }
}

/// The tonic's letter (0 = C) for the key: major tonics walk the circle of fifths from C;
/// the relative minor is a sixth above.
fn tonic_letter(spec: &SynthSpec) -> i32 {
    let major = (i32::from(spec.key_fifths) * 4).rem_euclid(7);
    match spec.mode {
        Mode::Major => major,
        Mode::Minor => (major + 5) % 7,
    }
}

/// The key signature's alteration of a letter: sharps come in the order F C G D A E B,
/// flats in the reverse order.
fn key_alter(fifths: i8, letter: i32) -> i32 {
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

fn midi_key(fifths: i8, diatonic: i32) -> i32 {
    let (octave, letter) = (diatonic.div_euclid(7), diatonic.rem_euclid(7));
    12 * (octave + 1) + LETTER_SEMITONES[letter as usize] + key_alter(fifths, letter)
}

/// The events of every measure of one part. Each part has its own random stream (from the
/// seed and the part's number), so parts can be generated one at a time.
fn generate_part(spec: &SynthSpec, part: usize) -> Vec<Vec<Event>> {
    let mut rng = Rng::new(spec.seed ^ (part as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407));
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
fn generate_measure(
    rng: &mut Rng,
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
fn pick_cell(rng: &mut Rng, remaining: u32) -> &'static [u32] {
    let fits = |cell: &[u32]| cell.iter().sum::<u32>() <= remaining;
    let total: u32 = CELLS.iter().filter(|(c, _)| fits(c)).map(|(_, w)| w).sum();
    if total == 0 {
        // Less than an eighth left (x/16 meters): a sixteenth.
        return &[1];
    }
    let mut pick = rng.below(total);
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
fn next_pitch(rng: &mut Rng, pitch: i32, (low, high): (i32, i32)) -> i32 {
    const MOVES: [i32; 10] = [-1, 1, -1, 1, -2, 2, 0, -3, 3, 4];
    let next = pitch + MOVES[rng.below(MOVES.len() as u32) as usize];
    if next < low {
        low + (low - next)
    } else if next > high {
        high - (next - high)
    } else {
        next
    }
    .clamp(low, high)
}

fn part_name(part: usize) -> String {
    let name = VOICE_NAMES[part % VOICE_NAMES.len()];
    match part / VOICE_NAMES.len() {
        0 => name.to_string(),
        n => format!("{name} {}", n + 1),
    }
}

fn is_low_register(part: usize) -> bool {
    part % REGISTERS.len() >= 2
}

// ---------------------------------------------------------------------------------------
// MusicXML.

/// A generous guess, so that the output String is allocated once.
fn estimate_musicxml_bytes(spec: &SynthSpec) -> usize {
    let notes_per_measure = measure_units(spec) as usize / 3 + 1;
    1024 + spec.parts * (512 + spec.measures * (64 + notes_per_measure * 160))
}

fn write_musicxml(spec: &SynthSpec, out: &mut String) {
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

// ---------------------------------------------------------------------------------------
// ABC.

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

fn write_abc(spec: &SynthSpec, out: &mut String) {
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

// ---------------------------------------------------------------------------------------
// MIDI.

const TICKS_PER_UNIT: u32 = TICKS_PER_QUARTER as u32 / DIVISIONS;
/// 96 quarters a minute, as the ABC's `Q:` says.
const MICROSECONDS_PER_QUARTER: u32 = 625_000;

/// Tempo, meter and key, at time 0.
fn conductor_track(spec: &SynthSpec) -> Vec<u8> {
    let mut t = Vec::with_capacity(64);
    t.push(0);
    push_meta(&mut t, 0x03, b"Synthetic score");
    t.push(0);
    push_meta(&mut t, 0x51, &MICROSECONDS_PER_QUARTER.to_be_bytes()[1..]);
    t.push(0);
    let denominator_power = spec.beat_type.trailing_zeros() as u8;
    push_meta(&mut t, 0x58, &[spec.beats, denominator_power, 24, 8]);
    t.push(0);
    let minor = u8::from(spec.mode == Mode::Minor);
    push_meta(&mut t, 0x59, &[spec.key_fifths as u8, minor]);
    t.push(0);
    push_meta(&mut t, 0x2F, &[]);
    t
}

/// One part: its name, a program, then note on/off pairs; a tied pair is one long note and a
/// rest is a gap.
fn part_track(spec: &SynthSpec, part: usize) -> Vec<u8> {
    // Channel 10 (index 9) is percussion in General MIDI; skip it.
    let channel = match (part % 15) as u8 {
        c if c >= 9 => c + 1,
        c => c,
    };
    let mut t = Vec::with_capacity(64 + spec.measures * 40);
    t.push(0);
    push_meta(&mut t, 0x03, part_name(part).as_bytes());
    t.extend_from_slice(&[0, 0xC0 | channel, 52]); // choir aahs
    let mut pending_rest: u32 = 0;
    // The note sounding (key, ticks so far) while a tie carries it on.
    let mut sounding: Option<(u8, u32)> = None;
    for event in generate_part(spec, part).into_iter().flatten() {
        let ticks = event.units * TICKS_PER_UNIT;
        let Some(d) = event.pitch else {
            pending_rest += ticks;
            continue;
        };
        let key = midi_key(spec.key_fifths, d).clamp(0, 127) as u8;
        let length = match sounding.take() {
            Some((_, so_far)) if event.tie_stop => so_far + ticks,
            _ => {
                push_varlen(&mut t, pending_rest);
                pending_rest = 0;
                t.extend_from_slice(&[0x90 | channel, key, 80]);
                ticks
            }
        };
        if event.tie_start {
            sounding = Some((key, length));
            continue;
        }
        push_varlen(&mut t, length);
        t.extend_from_slice(&[0x80 | channel, key, 0]);
    }
    push_varlen(&mut t, pending_rest);
    push_meta(&mut t, 0x2F, &[]);
    t
}

fn push_meta(track: &mut Vec<u8>, kind: u8, data: &[u8]) {
    track.extend_from_slice(&[0xFF, kind]);
    push_varlen(track, data.len() as u32);
    track.extend_from_slice(data);
}

/// MIDI's variable-length quantity: seven bits a byte, most significant first.
fn push_varlen(track: &mut Vec<u8>, mut value: u32) {
    let mut bytes = [0u8; 5];
    let mut n = 0;
    loop {
        bytes[n] = (value & 0x7F) as u8;
        n += 1;
        value >>= 7;
        if value == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        track.push(if i > 0 { bytes[i] | 0x80 } else { bytes[i] });
    }
}

fn sized_base(target_bytes: usize, seed: u64) -> SynthSpec {
    let parts = match target_bytes {
        0..=4_095 => 1,
        4_096..=32_767 => 2,
        32_768..=2_097_151 => 4,
        _ => 8,
    };
    let mut rng = Rng::new(seed ^ 0x5157_E0F5);
    // The seed picks among the common meters (the first four).
    let (beats, beat_type) = SIZED_METERS[rng.below(4) as usize];
    SynthSpec {
        parts,
        measures: 1,
        seed,
        key_fifths: rng.below(11) as i8 - 5,
        mode: if rng.one_in(3) {
            Mode::Minor
        } else {
            Mode::Major
        },
        beats,
        beat_type,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ImportLimits;
    use crate::music::format::Format;
    use crate::music::parse::parse_score;
    use crate::music::summary::{summarize, Summary};

    fn spec(parts: usize, measures: usize, seed: u64) -> SynthSpec {
        SynthSpec {
            parts,
            measures,
            seed,
            ..SynthSpec::default()
        }
    }

    /// A spread of keys, modes and meters.
    fn variety() -> Vec<SynthSpec> {
        vec![
            spec(1, 6, 1),
            spec(4, 12, 2),
            SynthSpec {
                parts: 3,
                measures: 9,
                seed: 3,
                key_fifths: 3,
                mode: Mode::Minor,
                beats: 3,
                beat_type: 4,
            },
            SynthSpec {
                parts: 2,
                measures: 8,
                seed: 4,
                key_fifths: -4,
                mode: Mode::Major,
                beats: 6,
                beat_type: 8,
            },
            SynthSpec {
                parts: 5,
                measures: 7,
                seed: 5,
                key_fifths: -2,
                mode: Mode::Minor,
                beats: 2,
                beat_type: 2,
            },
            SynthSpec {
                parts: 1,
                measures: 10,
                seed: 6,
                key_fifths: 6,
                mode: Mode::Major,
                beats: 5,
                beat_type: 16,
            },
        ]
    }

    fn parse(bytes: &[u8], format: Format) -> Summary {
        let score = parse_score(bytes, format, None, &ImportLimits::default())
            .unwrap_or_else(|e| panic!("the engine refused the {format:?}: {e:?}"));
        summarize(&score, None)
    }

    #[test]
    fn the_same_seed_gives_the_same_score() {
        for s in variety() {
            assert_eq!(musicxml(&s), musicxml(&s));
            assert_eq!(abc(&s), abc(&s));
            assert_eq!(midi(&s), midi(&s));
            assert_eq!(summary(&s), summary(&s));
        }
        assert_ne!(musicxml(&spec(2, 8, 1)), musicxml(&spec(2, 8, 2)));
        assert_eq!(musicxml_of_size(20_000, 9), musicxml_of_size(20_000, 9));
    }

    #[test]
    fn every_measure_is_exactly_full_and_ties_pair_up() {
        for s in variety() {
            let s = normalized(&s);
            for part in 0..s.parts {
                let measures = generate_part(&s, part);
                assert_eq!(measures.len(), s.measures);
                for (i, m) in measures.iter().enumerate() {
                    assert_eq!(
                        m.iter().map(|e| e.units).sum::<u32>(),
                        measure_units(&s),
                        "{s:?} part {part} m {i}"
                    );
                    let starts = m.last().is_some_and(|e| e.tie_start);
                    let next_stops = measures
                        .get(i + 1)
                        .is_some_and(|n| n[0].tie_stop && n[0].pitch == m.last().unwrap().pitch);
                    assert_eq!(starts, next_stops, "{s:?} part {part} m {i}");
                }
            }
        }
    }

    #[test]
    fn pitches_stay_in_the_key_and_the_register() {
        let s = SynthSpec {
            parts: 4,
            measures: 40,
            seed: 11,
            key_fifths: 2,
            ..SynthSpec::default()
        };
        for (part, &(low, high)) in REGISTERS.iter().enumerate() {
            for e in generate_part(&s, part).into_iter().flatten() {
                if let Some(d) = e.pitch {
                    assert!((low..=high).contains(&d));
                    // D major: F and C are sharp, nothing else altered.
                    let pc = midi_key(2, d).rem_euclid(12);
                    assert!([2, 4, 6, 7, 9, 11, 1].contains(&pc), "pitch class {pc}");
                }
            }
        }
    }

    #[test]
    fn the_test_scores_hold_ties_and_rests() {
        // Otherwise the parse tests below would not prove that tie continuations count.
        let total = variety()
            .iter()
            .map(summary)
            .fold((0, 0, 0), |(n, r, t), s| {
                (n + s.notes, r + s.rests, t + s.ties)
            });
        assert!(total.0 > 300 && total.1 > 10 && total.2 > 10, "{total:?}");
    }

    #[test]
    fn musicxml_parses_with_the_expected_counts() {
        for s in variety() {
            let want = summary(&s);
            let got = parse(musicxml(&s).as_bytes(), Format::Musicxml);
            assert_eq!(got.parts, want.parts, "{s:?}");
            assert_eq!(got.measures, want.measures, "{s:?}");
            assert_eq!(got.notes, want.notes, "{s:?}");
            assert_eq!(got.rests, want.rests, "{s:?}");
            assert_eq!(got.chords, 0);
            assert_eq!(got.duration_quarters, want.duration_quarters, "{s:?}");
            assert_eq!(
                got.title.as_deref(),
                Some(format!("Synthetic score, seed {}", s.seed).as_str())
            );
        }
    }

    #[test]
    fn abc_parses_with_the_expected_counts() {
        for s in variety() {
            let want = summary(&s);
            let got = parse(abc(&s).as_bytes(), Format::Abc);
            assert_eq!(got.parts, want.parts, "{s:?}\n{}", abc(&s));
            assert_eq!(got.measures, want.measures, "{s:?}\n{}", abc(&s));
            assert_eq!(got.notes, want.notes, "{s:?}\n{}", abc(&s));
            assert_eq!(got.rests, want.rests, "{s:?}");
            assert_eq!(got.duration_quarters, want.duration_quarters, "{s:?}");
        }
    }

    #[test]
    fn midi_parses_with_the_expected_counts() {
        for s in variety() {
            let want = summary(&s);
            let got = parse(&midi(&s), Format::Midi);
            assert_eq!(got.parts, want.parts, "{s:?}");
            assert_eq!(got.measures, want.measures, "{s:?}");
            assert_eq!(got.notes, want.notes, "{s:?}");
            assert_eq!(got.chords, 0);
            assert_eq!(got.duration_quarters, want.duration_quarters, "{s:?}");
        }
    }

    #[test]
    fn sized_scores_are_within_15_percent() {
        // Small targets are the hard ones (whole measures are coarse): try many seeds.
        let small = (0..32)
            .map(|seed| (1024, seed))
            .chain((0..8).map(|seed| (3000, seed)));
        for (target, seed) in small.chain([(100 * 1024, 3), (100 * 1024, 4), (5 * 1024 * 1024, 5)])
        {
            let (text, s) = musicxml_of_size(target, seed);
            let ratio = text.len() as f64 / target as f64;
            assert!(
                (0.85..=1.15).contains(&ratio),
                "{target} bytes wanted, {} made ({s:?})",
                text.len()
            );
            assert_eq!(text, musicxml(&s));
        }
    }

    #[test]
    fn a_sized_score_parses_with_the_expected_counts() {
        let (text, s) = musicxml_of_size(40 * 1024, 77);
        let got = parse(text.as_bytes(), Format::Musicxml);
        assert_eq!(
            (got.parts, got.measures, got.notes),
            (s.parts, s.measures, expected_notes(&s))
        );
    }

    /// 50 MB: its size and its speed (under 1.5 s in release). Ignored because unoptimised
    /// builds are several times slower and the machine is shared; run it with
    /// `cargo test --release --lib stress::synth -- --ignored`. It is never parsed here: the
    /// stress test's huge_scores action sends such scores to the server.
    #[test]
    #[ignore]
    fn fifty_megabytes_fast_and_within_15_percent() {
        let target = 50 * 1024 * 1024;
        let started = std::time::Instant::now();
        let (text, s) = musicxml_of_size(target, 5);
        let took = started.elapsed();
        let ratio = text.len() as f64 / target as f64;
        assert!(
            (0.85..=1.15).contains(&ratio),
            "{} bytes ({s:?})",
            text.len()
        );
        eprintln!("50 MB: {} bytes, {s:?}, in {took:?}", text.len());
        if !cfg!(debug_assertions) {
            assert!(took.as_secs_f64() < 1.5, "took {took:?}");
        }
    }
}
