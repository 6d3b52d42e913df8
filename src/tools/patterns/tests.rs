use serde_json::{json, Value};

use super::repeated;
use crate::error::ErrorKind;
use crate::tools::test_kit::{call, context, import_text_as, shared_corpus};

/// C D E G twice, a bar ending on a half note, C D E G again and then a step higher.
const TUNE: &str = "tinyNotation: 4/4 c4 d4 e4 g4 c4 d4 e4 g4 a4 f4 d2 c4 d4 e4 g4 d4 e4 f#4 a4 g1";

fn patterns(ctx: &crate::tools::ToolContext, args: Value) -> Value {
    call(ctx, "pattern_recognition", args).unwrap_or_else(|e| panic!("pattern_recognition: {e}"))
}

fn at(occurrences: &Value) -> Vec<(i64, f64)> {
    occurrences
        .as_array()
        .expect("a list")
        .iter()
        .map(|o| {
            (
                o["measure"].as_i64().unwrap_or(-99),
                o["beat"].as_f64().unwrap_or(-99.0),
            )
        })
        .collect()
}

#[test]
fn a_repeated_motif_is_found_at_its_measures_exact_and_transposed() {
    let (_dir, ctx) = context();
    import_text_as(&ctx, "tune", TUNE, "tinynotation");
    let out = patterns(&ctx, json!({"score_id": "tune"}));
    assert_eq!(
        (out["min_length"].as_u64(), out["max_length"].as_u64()),
        (Some(3), Some(8))
    );
    assert_eq!(out["notes_analysed"], 20);

    let motifs = out["melodic"]["motifs"].as_array().expect("melodic motifs");
    let motif = motifs
        .iter()
        .find(|m| m["intervals_semitones"] == json!([2.0, 2.0, 3.0]))
        .expect("the C D E G motif");
    assert_eq!(motif["intervals"], json!(["M2", "M2", "m3"]));
    assert_eq!(motif["generic"], json!([2, 2, 3]));
    assert_eq!(
        at(&motif["occurrences"]),
        [(1, 1.0), (2, 1.0), (4, 1.0), (5, 1.0)]
    );
    assert_eq!(
        motif["occurrences"][0]["pitches"],
        json!(["C4", "D4", "E4", "G4"])
    );
    assert_eq!(
        motif["occurrences"][3]["pitches"],
        json!(["D4", "E4", "F#4", "A4"])
    );
    assert_eq!(motif["occurrences"][3]["transposition"], 2.0);
    assert_eq!(motif["occurrences"][0]["part"]["index"], 0);
    assert_eq!(
        (
            motif["exact_repeats"].as_u64(),
            motif["transposed_repeats"].as_u64()
        ),
        (Some(2), Some(1))
    );
    // Its three-note parts always occur inside it, so they are not listed.
    assert!(motifs
        .iter()
        .all(|m| m["intervals_semitones"] != json!([2.0, 2.0])));

    let sequences = out["melodic"]["sequences"].as_array().expect("sequences");
    assert_eq!(sequences.len(), 1, "{sequences:?}");
    assert_eq!(at(&sequences[0]["statements_at"]), [(4, 1.0), (5, 1.0)]);
    assert_eq!(sequences[0]["step_generic"], 2);
    assert_eq!(sequences[0]["real"], true);

    let rhythms = out["rhythmic"]["motifs"]
        .as_array()
        .expect("rhythmic motifs");
    let four = rhythms
        .iter()
        .find(|m| m["durations"] == json!([1.0, 1.0, 1.0, 1.0]))
        .expect("four quarters");
    assert_eq!(
        at(&four["occurrences"]),
        [(1, 1.0), (2, 1.0), (4, 1.0), (5, 1.0)]
    );

    let phrases = out["phrases"]["phrases"].as_array().expect("phrases");
    let shape: Vec<(i64, i64, u64, u64, &str)> = phrases
        .iter()
        .map(|p| {
            (
                p["start_measure"].as_i64().unwrap_or(-99),
                p["end_measure"].as_i64().unwrap_or(-99),
                p["length_measures"].as_u64().unwrap_or(99),
                p["length_notes"].as_u64().unwrap_or(99),
                p["ends_with"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(shape, [(1, 3, 3, 11, "long_note"), (4, 6, 3, 9, "end")]);
}

#[test]
fn a_chorale_has_motifs_rhythms_and_phrases() {
    if shared_corpus().is_none() {
        eprintln!("SKIPPED a_chorale_has_motifs_rhythms_and_phrases: ../shared/corpus is absent");
        return;
    }
    let (_dir, ctx) = context();
    call(
        &ctx,
        "import_score",
        json!({"score_id": "bwv66.6", "source": "bach/bwv66.6", "source_type": "corpus"}),
    )
    .expect("import bwv66.6");
    let out = patterns(&ctx, json!({"score_id": "bwv66.6", "pattern_type": "both"}));
    assert_eq!(out["parts"].as_array().map(Vec::len), Some(4));
    // 165 notes, two of them tie continuations.
    assert_eq!(out["notes_analysed"], 163);
    let melodic = out["melodic"]["motifs"].as_array().expect("melodic motifs");
    assert!(!melodic.is_empty());
    assert!(melodic.len() <= 50);
    assert!(melodic
        .iter()
        .all(|m| m["occurrences_total"].as_u64() >= Some(2)));
    assert!(!out["rhythmic"]["motifs"]
        .as_array()
        .expect("rhythmic")
        .is_empty());
    let phrases = &out["phrases"];
    for part in phrases["by_part"].as_array().expect("by part") {
        assert!(part["phrases"].as_u64() >= Some(4), "{part}");
    }
    // The soprano's first fermata is on beat 3 of measure 1.
    let first = &phrases["phrases"][0];
    assert_eq!(first["part"]["name"], "Soprano");
    assert_eq!(
        (first["end_measure"].as_i64(), first["end_beat"].as_f64()),
        (Some(1), Some(3.0))
    );
    assert_eq!(first["ends_with"], "fermata");
}

#[test]
fn pattern_type_chooses_what_is_looked_for() {
    let (_dir, ctx) = context();
    import_text_as(&ctx, "tune", TUNE, "tinynotation");
    let melodic = patterns(&ctx, json!({"score_id": "tune", "pattern_type": "melodic"}));
    assert!(melodic.get("rhythmic").is_none() && melodic.get("melodic").is_some());
    let rhythmic = patterns(
        &ctx,
        json!({"score_id": "tune", "pattern_type": "rhythmic", "min_length": 2}),
    );
    assert!(rhythmic.get("melodic").is_none() && rhythmic.get("rhythmic").is_some());
    assert_eq!(rhythmic["max_length"], 7);
    let long = patterns(&ctx, json!({"score_id": "tune", "min_length": 16}));
    assert_eq!(long["max_length"], 16);
}

#[test]
fn bad_arguments_name_the_argument() {
    let (_dir, ctx) = context();
    import_text_as(&ctx, "tune", TUNE, "tinynotation");
    for (args, named) in [
        (json!({"pattern_type": "melodic"}), "score_id"),
        (json!({"score_id": "tune", "min_length": 1}), "min_length"),
        (json!({"score_id": "tune", "min_length": 17}), "min_length"),
        (json!({"score_id": "tune", "min_length": "3"}), "min_length"),
        (
            json!({"score_id": "tune", "pattern_type": "x"}),
            "pattern_type",
        ),
    ] {
        let err = call(&ctx, "pattern_recognition", args.clone()).expect_err("refused");
        assert_eq!(err.kind, ErrorKind::InvalidArgument, "{args}");
        assert!(err.message.contains(named), "{args}: {}", err.message);
    }
}

#[test]
fn only_maximal_non_overlapping_motifs_are_kept() {
    let elements = vec![vec![1, 2, 3, 9, 1, 2, 3, 8], vec![5, 5, 5, 5, 5]];
    let found = repeated(&elements, 2..=3, 0);
    let mut shapes: Vec<(usize, Vec<(usize, usize)>)> = found
        .into_iter()
        .map(|f| (f.length, f.occurrences))
        .collect();
    shapes.sort();
    // [1 2 3] twice; [1 2] and [2 3] only ever inside it. Five 5s hold [5 5] twice
    // and [5 5 5] once without overlapping, so [5 5] stays.
    assert_eq!(
        shapes,
        [(2, vec![(1, 0), (1, 2)]), (3, vec![(0, 0), (0, 4)])]
    );
}
