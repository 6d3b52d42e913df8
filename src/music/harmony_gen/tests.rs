use super::check::{classify, Quartet};
use super::*;

fn tone(name: &str) -> PitchName {
    let letter = "CDEFGAB".find(&name[..1]).expect("a letter") as u8;
    let alter = match &name[1..] {
        "#" => 1,
        "-" => -1,
        _ => 0,
    };
    PitchName::new(letter, alter)
}

/// `C4:1 D4:0.5 ...` (name with octave, length in quarters; `f` after the length for a
/// fermata, `r:2` for a rest) from `start`.
fn melody(text: &str, start: f64) -> Vec<MelodyNote> {
    let mut at = start;
    let mut out = Vec::new();
    for token in text.split_whitespace() {
        let (name, length) = token.split_once(':').expect("NAME:LENGTH");
        let fermata = length.ends_with('f');
        let length: f64 = length.trim_end_matches('f').parse().expect("a length");
        if name != "r" {
            out.push(MelodyNote {
                offset: at,
                duration: length,
                pitch: SpelledPitch::parse(name).expect("a pitch with its octave"),
                fermata,
            });
        }
        at += length;
    }
    out
}

fn bars_4_4(count: usize, pickup: f64) -> Vec<Bar> {
    let mut bars = Vec::new();
    let mut start = 0.0;
    if pickup > 0.0 {
        bars.push(Bar {
            start: 0.0,
            length: pickup,
            number: 0,
            beat_length: 1.0,
            padding: 4.0 - pickup,
            meter_length: 4.0,
        });
        start = pickup;
    }
    for i in 0..count {
        bars.push(Bar {
            start,
            length: 4.0,
            number: i as i64 + 1,
            beat_length: 1.0,
            padding: 0.0,
            meter_length: 4.0,
        });
        start += 4.0;
    }
    bars
}

fn key(name: &str, minor: bool) -> KeyDef {
    KeyDef {
        tonic: tone(name),
        minor,
    }
}

fn run(notes: &[MelodyNote], bars: &[Bar], key: KeyDef, style: Style, seed: u64) -> Harmonization {
    let end = bars.last().map_or(0.0, |b| b.start + b.length);
    harmonize(&Request {
        notes,
        bars,
        end,
        key,
        style,
        seed,
        picardy: false,
    })
    .expect("a harmonisation")
}

const HYMN: &str = "E4:1 E4:1 F4:1 G4:1 G4:1 F4:1 E4:1 D4:1 C4:1 C4:1 D4:1 E4:1 E4:1.5 D4:0.5 D4:2f \
                    E4:1 E4:1 F4:1 G4:1 G4:1 F4:1 E4:1 D4:1 C4:1 C4:1 D4:1 E4:1 D4:1.5 C4:0.5 C4:2f";

#[test]
fn spans_follow_beats_fermatas_and_rests() {
    let notes = melody(
        "G4:1 C5:1 B4:0.5 A4:0.5 G4:1 A4:2f r:1 G4:1 F4:1 E4:1 D4:1 C4:3f",
        0.0,
    );
    let bars = bars_4_4(4, 1.0);
    let spans = spans::spans(&notes, &bars, 13.0, Style::Chorale);
    let onsets: Vec<f64> = spans.iter().map(|s| s.start).collect();
    // The eighth on the off-beat gets no chord of its own; the rest breaks the line.
    assert_eq!(onsets, [0.0, 1.0, 2.0, 3.0, 4.0, 7.0, 8.0, 9.0, 10.0, 11.0]);
    assert!(spans[4].phrase_end, "the fermata ends a phrase");
    assert!(
        (spans[4].end - 6.0).abs() < 1e-9,
        "the chord stops with the melody before the rest"
    );
    assert!(spans[5].phrase_start);
    assert!(spans.last().is_some_and(|s| s.last));
    assert_eq!(spans[0].weight, 0, "the pickup is on beat 4");
    assert_eq!(spans[1].weight, 2, "the downbeat");
    assert_eq!(spans[3].weight, 1, "beat 3 of 4/4");
    let two = spans[2].mel.expect("melody");
    assert_eq!((two.first.midi(), two.last, two.min), (71, 69, 69));
    // Pop and jazz: half-bar slots from the first note to the end.
    let slots = spans::spans(&notes, &bars, 13.0, Style::Pop);
    let starts: Vec<f64> = slots.iter().map(|s| s.start).collect();
    assert_eq!(starts, [0.0, 1.0, 3.0, 5.0, 7.0, 9.0, 11.0]);
}

#[test]
fn a_chorale_harmonisation_breaks_no_rule() {
    let notes = melody(HYMN, 0.0);
    let bars = bars_4_4(8, 0.0);
    let h = run(&notes, &bars, key("C", false), Style::Chorale, 0);
    let severe: Vec<&check::Fault> = h.faults.iter().filter(|f| f.severe).collect();
    assert!(severe.is_empty(), "{severe:#?}");
    assert_eq!(h.parts.len(), 4);
    // Every chord holds the soprano's note at its onset, and every voice is in its range.
    for c in &h.chords {
        let soprano = c.pitches[0].1;
        assert!(
            c.chord.member_of(soprano.pitch_name().pc()).is_some(),
            "{} lacks {}",
            c.figure,
            soprano.name()
        );
        let p: Vec<i32> = c.pitches.iter().map(|(_, s)| s.midi()).collect();
        assert!(p.windows(2).all(|w| w[0] >= w[1]), "voices in order: {p:?}");
        assert!(
            (55..=74).contains(&p[1]) && (48..=67).contains(&p[2]) && (40..=60).contains(&p[3]),
            "{p:?}"
        );
        assert!(p[0] - p[1] <= 12 && p[1] - p[2] <= 12, "spacing {p:?}");
    }
    // Two phrases: the first ends on the dominant, the last on V -> I in root position.
    let last = h.chords.last().expect("chords");
    assert_eq!(last.figure, "I");
    assert!(
        h.cadences
            .last()
            .is_some_and(|c| c.kind == "authentic_perfect"),
        "{:?}",
        h.cadences
    );
    let mid = h
        .chords
        .iter()
        .find(|c| c.phrase_end)
        .expect("a phrase end");
    assert!(
        mid.figure.starts_with('V') || mid.figure.starts_with('I'),
        "{}",
        mid.figure
    );
}

#[test]
fn the_seed_only_breaks_ties() {
    let notes = melody(HYMN, 0.0);
    let bars = bars_4_4(8, 0.0);
    for style in [Style::Chorale, Style::Classical, Style::Pop, Style::Jazz] {
        let base = run(&notes, &bars, key("C", false), style, 0);
        let again = run(&notes, &bars, key("C", false), style, 0);
        let figures = |h: &Harmonization| {
            h.chords
                .iter()
                .map(|c| (c.figure.clone(), c.pitches.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(figures(&base), figures(&again), "{style:?}: deterministic");
        for seed in [1, 2, 99] {
            let other = run(&notes, &bars, key("C", false), style, seed);
            assert_eq!(
                other.stats.total_cost, base.stats.total_cost,
                "{style:?} seed {seed}"
            );
        }
    }
}

#[test]
fn minor_keys_raise_the_leading_tone_and_resolve_it() {
    let notes = melody("A4:1 B4:1 C5:1 B4:1 A4:1 G#4:1 A4:2f", 0.0);
    let bars = bars_4_4(2, 0.0);
    let h = run(&notes, &bars, key("A", true), Style::Chorale, 0);
    let g_sharp = tone("G#").pc();
    for c in &h.chords {
        if c.chord.is_dominant() {
            assert!(
                c.pitches
                    .iter()
                    .any(|(_, p)| p.pitch_name().pc() == g_sharp),
                "{} has its leading tone",
                c.figure
            );
            assert!(
                c.pitches.iter().all(|(_, p)| p.pitch_name() != tone("G")),
                "no G natural in {}",
                c.figure
            );
        }
    }
    assert!(h.faults.iter().all(|f| !f.severe), "{:#?}", h.faults);
    let last = h.chords.last().expect("chords");
    assert!(last.chord.is_tonic(&key("A", true)));
}

#[test]
fn pop_and_jazz_give_symbols_and_an_accompaniment() {
    let notes = melody(HYMN, 0.0);
    let bars = bars_4_4(8, 0.0);
    let pop = run(&notes, &bars, key("C", false), Style::Pop, 0);
    assert_eq!(pop.parts.len(), 2);
    assert!(pop.parts[0].carries_symbols);
    assert!(pop.parts[1].events.iter().all(|e| e.pitches.len() == 3));
    assert!(pop.chords.iter().all(|c| c
        .pitches
        .iter()
        .skip(1)
        .all(|(_, p)| (48..=72).contains(&p.midi()))));
    let jazz = run(&notes, &bars, key("C", false), Style::Jazz, 0);
    assert_eq!(jazz.parts.len(), 3);
    assert!(jazz
        .chords
        .iter()
        .all(|c| c.chord.quality.is_seventh() || c.chord.quality == Quality::Major6));
    // Guide tones: the third and the seventh are in every piano voicing.
    for c in &jazz.chords {
        let piano: Vec<i32> = c
            .pitches
            .iter()
            .skip(1)
            .take(3)
            .map(|(_, p)| p.pitch_name().pc())
            .collect();
        let has = |m: Member| {
            c.chord
                .tones
                .iter()
                .any(|(t, mm)| *mm == m && piano.contains(&t.pc()))
        };
        assert!(has(Member::Third), "{} {piano:?}", c.symbol);
        assert!(
            has(Member::Seventh) || c.chord.quality == Quality::Major6,
            "{} {piano:?}",
            c.symbol
        );
        let bass = c.pitches.last().expect("bass").1;
        assert_eq!(
            bass.pitch_name().pc(),
            c.chord.root.pc(),
            "the bass plays the root of {}",
            c.symbol
        );
    }
    // ii-V-I: some ii7 goes to V7.
    let figures: Vec<&str> = jazz.chords.iter().map(|c| c.figure.as_str()).collect();
    assert!(figures.contains(&"V7"), "{figures:?}");
}

#[test]
fn quartets_are_classified_as_music21_classifies_them() {
    let q = |u0, u1, l0, l1| {
        classify(&Quartet {
            at: 0.0,
            upper: (u0, u1),
            lower: (l0, l1),
        })
    };
    assert_eq!(q(60, 62, 53, 55), ["parallel_fifths"]); // C4/F3 -> D4/G3
    assert_eq!(q(67, 74, 60, 55), ["parallel_fifths"]); // a fifth to a twelfth by contrary motion
    assert_eq!(q(72, 74, 60, 62), ["parallel_octaves"]);
    assert_eq!(q(60, 62, 60, 62), ["parallel_unisons", "voice_overlaps"]); // as music21 sees it
    assert_eq!(q(64, 67, 55, 60), ["hidden_fifths"]); // E4/G3 -> G4/C4, similar motion
    assert_eq!(q(64, 72, 55, 60), ["hidden_octaves"]);
    assert!(q(60, 60, 55, 62).contains(&"voice_crossings"));
    assert!(q(64, 62, 60, 65).contains(&"voice_overlaps"));
    assert!(q(64, 65, 60, 57).is_empty());
}
