use music21_rs::StreamElement;

use super::*;
use crate::music::timeline::parts_of;
use crate::tools::test_kit::{call, context, context_with, import, import_text, shared_corpus};
use serde_json::{json, Value};

fn imitate(ctx: &ToolContext, args: Value) -> ToolResult<Value> {
    call(ctx, "imitate_style", args)
}

/// A context without the corpus directories: `builtin/` is then the built-in pieces
/// alone.
fn builtin_only() -> (tempfile::TempDir, ToolContext) {
    context_with(|config| config.corpus.dirs.clear())
}

fn check_melody(ctx: &ToolContext, out: &Value, measures: usize) {
    assert_eq!(out["bars_exact"], true);
    assert_eq!(out["starts_on_tonic"], true);
    assert_eq!(out["ends_on_tonic"], true);
    assert_eq!(out["summary"]["measures"], measures);
    let score = ctx
        .load(out["new_score_id"].as_str().unwrap())
        .unwrap()
        .score;
    let part = parts_of(&score)[0];
    let bar = score
        .recurse()
        .into_iter()
        .find_map(|(_, e)| match e {
            StreamElement::TimeSignature(ts) => Some(ts.bar_duration().quarter_length()),
            _ => None,
        })
        .unwrap();
    for m in part.measures() {
        let filled: f64 = crate::music::timeline::part_events(m)
            .iter()
            .map(|e| e.element.quarter_length())
            .sum();
        assert!(
            (filled - bar).abs() < 1e-9,
            "measure {} holds {filled} of {bar}",
            m.number()
        );
    }
}

#[test]
fn builtin_style_is_closer_than_a_random_walk() {
    let (_dir, ctx) = builtin_only();
    let out = imitate(
        &ctx,
        json!({"source": "builtin/", "measures": 8, "seed": 1}),
    )
    .unwrap();
    check_melody(&ctx, &out, 8);
    let d = &out["statistics"]["interval_distances"];
    eprintln!(
        "builtin/: result {} uniform {} walk {}",
        d["result_to_source"], d["uniform_to_source"], d["random_walk_to_source"]
    );
    assert_eq!(d["closer_than_random"], true, "{d}");
    assert!(out["sources"]["used"].as_array().unwrap().len() >= 6);
    assert!(out["model"]["order"].as_u64().unwrap() >= 2);
    // Deterministic for the seed; another seed, another melody.
    let again = imitate(
        &ctx,
        json!({"source": "builtin/", "measures": 8, "seed": 1}),
    )
    .unwrap();
    assert_eq!(again["notes"], out["notes"]);
    assert_eq!(again["new_score_id"], out["new_score_id"]);
    let other = imitate(
        &ctx,
        json!({"source": "builtin/", "measures": 8, "seed": 2}),
    )
    .unwrap();
    assert_ne!(other["notes"], out["notes"]);
}

#[test]
fn bach_style_when_the_shared_corpus_is_there() {
    let (_dir, ctx) = context();
    if shared_corpus().is_none() {
        eprintln!("skipping: ../shared/corpus not found");
        return;
    }
    let out = imitate(
        &ctx,
        json!({"source": "bach/", "measures": 8, "seed": 7, "new_score_id": "bachish"}),
    )
    .unwrap();
    check_melody(&ctx, &out, 8);
    let d = &out["statistics"]["interval_distances"];
    eprintln!(
        "bach/: result {} uniform {} walk {}",
        d["result_to_source"], d["uniform_to_source"], d["random_walk_to_source"]
    );
    assert_eq!(d["closer_than_random"], true, "{d}");
    assert!(out["sources"]["used"].as_array().unwrap().len() >= 30);
    assert_eq!(out["time_signature"], "4/4");
}

#[test]
fn ids_keys_meters_and_orders() {
    let (_dir, ctx) = builtin_only();
    import(&ctx, "twinkle", "builtin/twinkle");
    import(&ctx, "ode", "builtin/ode-to-joy");
    for (key, ts, measures, order) in [
        ("G", "3/4", 12, 2),
        ("e", "6/8", 5, 3),
        ("F# minor", "4/4", 1, 4),
        ("B- major", "2/4", 64, 2),
    ] {
        let out = imitate(&ctx, json!({
            "source": ["twinkle", "ode"], "measures": measures, "key": key, "time_signature": ts,
            "seed": 3, "order": order, "new_score_id": format!("m{measures}")
        }))
        .unwrap();
        check_melody(&ctx, &out, measures);
        assert_eq!(out["time_signature"], ts);
    }
    let out = imitate(
        &ctx,
        json!({"source": ["twinkle"], "measures": 4, "key": "g", "seed": 0, "new_score_id": "gm"}),
    )
    .unwrap();
    assert_eq!(out["key"], "G minor");
    assert_eq!(
        out["notes"][0]["pitch"].as_str().unwrap().chars().next(),
        Some('G')
    );
    let dup = imitate(
        &ctx,
        json!({"source": ["twinkle"], "measures": 4, "seed": 0, "new_score_id": "gm"}),
    )
    .unwrap_err();
    assert!(dup.message.contains("already exists"));
}

#[test]
fn bad_input_gets_clear_errors() {
    let (_dir, ctx) = builtin_only();
    import_text(&ctx, "rests", "tinyNotation: 4/4 r1 r1");
    let err = |args: Value| imitate(&ctx, args).unwrap_err().message;
    let m = err(json!({"source": "builtin/", "measures": 0, "seed": 1}));
    assert!(m.contains("measures"), "{m}");
    let m = err(json!({"source": "builtin/", "measures": 65, "seed": 1}));
    assert!(m.contains("measures"), "{m}");
    let m = err(json!({"source": "builtin/", "measures": 4}));
    assert!(m.contains("seed"), "{m}");
    let m = err(json!({"source": "nothing-here/", "measures": 4, "seed": 1}));
    assert!(
        m.contains("nothing-here/") && m.contains("no readable scores"),
        "{m}"
    );
    let m = err(json!({"source": "../etc/", "measures": 4, "seed": 1}));
    assert!(m.contains("source"), "{m}");
    let m = err(json!({"source": [], "measures": 4, "seed": 1}));
    assert!(m.contains("source"), "{m}");
    let m = err(json!({"source": ["rests"], "measures": 4, "seed": 1}));
    assert!(
        m.contains("melodic line") || m.contains("no sounding"),
        "{m}"
    );
    let m = err(json!({"source": "builtin/", "measures": 4, "seed": 1, "key": "H major"}));
    assert!(m.contains("key"), "{m}");
    let m = err(json!({"source": "builtin/", "measures": 4, "seed": 1, "time_signature": "4/5"}));
    assert!(m.contains("time_signature"), "{m}");
    let m = err(json!({"source": "builtin/", "measures": 4, "seed": 1, "order": 1}));
    assert!(m.contains("order"), "{m}");
    let m = err(json!({"source": 3, "measures": 4, "seed": 1}));
    assert!(m.contains("`source`"), "{m}");
}

/// The MIDI number of a melody note's pitch name.
fn midi_of(name: &str) -> i32 {
    crate::music::pitch::SpelledPitch::parse(name)
        .unwrap_or_else(|| panic!("a pitch: {name}"))
        .midi()
}

#[test]
fn the_soprano_is_learned_not_the_instrument_above_it() {
    let (_dir, ctx) = builtin_only();
    // A trumpet in quarter notes high above a soprano in half notes, over a bass.
    let trumpet: &[&[(&str, u32)]] = &[
        &[("C6", 1), ("D6", 1), ("E6", 1), ("F6", 1)],
        &[("G6", 1), ("E6", 1), ("D6", 1), ("C6", 1)],
        &[("E6", 1), ("G6", 1), ("F6", 1), ("D6", 1)],
        &[("C6", 4)],
    ];
    let soprano: &[&[(&str, u32)]] = &[
        &[("E4", 2), ("F4", 2)],
        &[("G4", 2), ("A4", 2)],
        &[("G4", 2), ("F4", 2)],
        &[("E4", 4)],
    ];
    let bass: &[&[(&str, u32)]] = &[
        &[("C3", 2), ("D3", 2)],
        &[("E3", 2), ("F3", 2)],
        &[("E3", 2), ("D3", 2)],
        &[("C3", 4)],
    ];
    let xml = crate::tools::test_kit::musicxml(&[trumpet, soprano, bass])
        .replace(
            "<part-name>Voice 1</part-name>",
            "<part-name>Trumpet 1</part-name>",
        )
        .replace(
            "<part-name>Voice 2</part-name>",
            "<part-name>Soprano</part-name>",
        )
        .replace(
            "<part-name>Voice 3</part-name>",
            "<part-name>Bass</part-name>",
        );
    crate::tools::test_kit::import_text_as(&ctx, "cantata", &xml, "musicxml");
    let out = imitate(
        &ctx,
        json!({"source": ["cantata"], "measures": 4, "seed": 5, "new_score_id": "sop"}),
    )
    .unwrap();
    check_melody(&ctx, &out, 4);
    let voices = &out["sources"]["voices"];
    assert_eq!(voices["first"][0]["part"], "Soprano", "{voices}");
    assert_eq!(voices["first"][0]["reason"], "soprano_by_name");
    assert_eq!(voices["by_reason"]["soprano_by_name"], 1);
    // The soprano's register (E4 to A4), not the trumpet's.
    let register = &out["statistics"]["register"];
    assert_eq!(register["source_low"]["name"], "E4", "{register}");
    assert_eq!(register["source_high"]["midi"], 69, "{register}");
    let (low, high) = (
        register["kept_low"]["midi"].as_i64().unwrap() as i32,
        register["kept_high"]["midi"].as_i64().unwrap() as i32,
    );
    for note in out["notes"].as_array().unwrap() {
        let midi = midi_of(note["pitch"].as_str().unwrap());
        assert!((low..=high).contains(&midi), "{note} in {register}");
    }
    // The soprano's durations (halves and wholes), not the trumpet's quarters.
    for bin in out["statistics"]["rhythm_histogram"].as_array().unwrap() {
        if bin["source"].as_f64().unwrap() > 0.0 {
            assert!(
                ["2", "4"].contains(&bin["quarters"].as_str().unwrap()),
                "{bin}"
            );
        }
    }
}

#[test]
fn bach_melodies_keep_the_sopranos_register_and_tritone_rate() {
    let (_dir, ctx) = context();
    if shared_corpus().is_none() {
        eprintln!("skipping: ../shared/corpus not found");
        return;
    }
    let (mut tritones, mut intervals, mut lowest, mut highest) = (0, 0, i32::MAX, i32::MIN);
    let mut source_rate = 0.0;
    const SEEDS: u64 = 8;
    for seed in 0..SEEDS {
        let out = imitate(
            &ctx,
            json!({"source": "bach/", "measures": 8, "seed": seed, "new_score_id": format!("b{seed}")}),
        )
        .unwrap();
        check_melody(&ctx, &out, 8);
        let stats = &out["statistics"];
        let (register, leaps) = (&stats["register"], &stats["tritone_leaps"]);
        let at = |v: &Value| v["midi"].as_i64().unwrap() as i32;
        let (low, high) = (at(&register["source_low"]), at(&register["source_high"]));
        // The chosen voices are the sopranos, about D4 to A5: their 5th to 95th
        // percentile is E4 to E5, and bwv846 (a prelude: its right hand is learned) takes
        // the 5th percentile down to C4.
        assert!(
            (60..=64).contains(&low) && (74..=81).contains(&high),
            "{register}"
        );
        assert_eq!(register["widened"], false, "{register}");
        assert!(
            out["sources"]["voices"]["by_reason"]["soprano_by_name"]
                .as_u64()
                .unwrap()
                >= 30,
            "{}",
            out["sources"]["voices"]
        );
        for note in out["notes"].as_array().unwrap() {
            let midi = midi_of(note["pitch"].as_str().unwrap());
            assert!(
                (low..=high).contains(&midi),
                "seed {seed}: {note} outside {register}"
            );
            lowest = lowest.min(midi);
            highest = highest.max(midi);
        }
        source_rate = leaps["source_rate"].as_f64().unwrap();
        let n = leaps["result_intervals"].as_u64().unwrap();
        let t = leaps["result_tritones"].as_u64().unwrap();
        // At most twice the sources' rate, plus one tritone: a melody of ~30 intervals
        // cannot show a rate below 1/30 once it has one.
        assert!(
            t as f64 <= 2.0 * source_rate * n as f64 + 1.0,
            "seed {seed}: {leaps}"
        );
        tritones += t;
        intervals += n;
    }
    let rate = tritones as f64 / intervals as f64;
    eprintln!(
        "bach/: sources' tritone rate {source_rate:.4}; {SEEDS} melodies: {tritones} tritones in {intervals} intervals ({rate:.4}), from {} to {}",
        crate::music::pitch::midi_name(lowest),
        crate::music::pitch::midi_name(highest)
    );
    // Over all the melodies: twice the sources' rate, plus one tritone in all.
    assert!(
        rate <= 2.0 * source_rate + 1.0 / intervals as f64,
        "{tritones} tritones in {intervals} intervals against a source rate of {source_rate}"
    );
}
