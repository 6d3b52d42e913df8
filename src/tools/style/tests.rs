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
