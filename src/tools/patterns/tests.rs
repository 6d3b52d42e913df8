use serde_json::{json, Value};

use super::repeated;
use super::repeats::maximal_repeats;
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

    // C D E G then D E F# A is one transposition only: a sequence needs three statements.
    let sequences = out["melodic"]["sequences"].as_array().expect("sequences");
    assert!(sequences.is_empty(), "{sequences:?}");

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

/// A 16-note phrase of leaps and steps (no two whole steps up in a row), in four bars.
const PHRASE: &str = "g4 c'4 b4 g4 a4 f4 d4 g4 e4 c'4 a4 f4 d4 B4 c4 g4";

/// The phrase, `fragments` bars each holding the scale fragment C D E after a rest, a bar's
/// rest, and the phrase again (from measure `fragments + 6`).
fn phrase_twice(fragments: usize) -> String {
    let fragment = " r4 c4 d4 e4".repeat(fragments);
    format!("tinyNotation: 4/4 {PHRASE}{fragment} r1 {PHRASE}")
}

fn melodic_motifs(out: &Value) -> Vec<Value> {
    out["melodic"]["motifs"]
        .as_array()
        .expect("melodic motifs")
        .clone()
}

#[test]
fn a_phrase_stated_twice_is_one_motif_at_its_full_length() {
    let (_dir, ctx) = context();
    import_text_as(&ctx, "twice", &phrase_twice(4), "tinynotation");
    let out = patterns(
        &ctx,
        json!({"score_id": "twice", "pattern_type": "melodic"}),
    );
    assert_eq!(out["melodic"]["max_length"], 256);
    let motifs = melodic_motifs(&out);
    let long: Vec<&Value> = motifs
        .iter()
        .filter(|m| m["length"].as_u64() >= Some(9))
        .collect();
    assert_eq!(long.len(), 1, "{long:?}");
    let phrase = long[0];
    assert_eq!(phrase["length"], 16);
    assert_eq!(phrase["occurrences_total"], 2);
    assert_eq!(at(&phrase["occurrences"]), [(1, 1.0), (10, 1.0)]);
    assert_eq!(phrase["occurrences"][1]["end"]["measure"], 13);
    assert_eq!(phrase["exact_repeats"], 1);
    // A F D comes twice inside the phrase, so four times in all, but always inside it.
    let inside = |m: &Value| {
        at(&m["occurrences"])
            .iter()
            .any(|(measure, _)| (1..=4).contains(measure) || (10..=13).contains(measure))
    };
    let others: Vec<&Value> = motifs.iter().filter(|m| m["length"] != 16).collect();
    assert!(others.iter().all(|m| !inside(m)), "{others:?}");
    assert_eq!(out["melodic"]["motifs_total"], 2, "{motifs:?}");

    // The distinctive phrase outranks the scale fragment heard four times.
    let fragment = &motifs[1];
    assert_eq!(fragment["intervals_semitones"], json!([2.0, 2.0]));
    assert_eq!(fragment["occurrences_total"], 4);
    assert_eq!(motifs[0]["length"], 16);
    let bits = |m: &Value| m["information"].as_f64().unwrap_or(-1.0);
    assert!(bits(&motifs[0]) > bits(fragment) && bits(fragment) > 0.0);
}

#[test]
fn information_not_occurrences_x_length_ranks_the_motifs() {
    let (_dir, ctx) = context();
    import_text_as(&ctx, "many", &phrase_twice(12), "tinynotation");
    let out = patterns(&ctx, json!({"score_id": "many", "pattern_type": "melodic"}));
    let motifs = melodic_motifs(&out);
    assert_eq!(motifs.len(), 2, "{motifs:?}");
    let (phrase, fragment) = (&motifs[0], &motifs[1]);
    assert_eq!(
        (phrase["length"].as_u64(), fragment["length"].as_u64()),
        (Some(16), Some(3))
    );
    // Twelve C D E's weigh more by occurrences x length (36 against 32), not by information.
    assert_eq!(
        (phrase["score"].as_u64(), fragment["score"].as_u64()),
        (Some(32), Some(36))
    );
    assert!(phrase["information"].as_f64() > fragment["information"].as_f64());
}

#[test]
fn repeated_notes_are_no_sequence() {
    let (_dir, ctx) = context();
    for (id, tune) in [
        // Each note of a rising scale three times: no unit moves but by a plain step.
        (
            "stepping",
            "tinyNotation: 4/4 c4 c4 c4 d4 d4 d4 e4 e4 e4 f4 f4 f4 g1",
        ),
        (
            "same",
            "tinyNotation: 4/4 c4 c4 c4 c4 c4 c4 c4 c4 c4 c4 c4 c4 c1",
        ),
    ] {
        import_text_as(&ctx, id, tune, "tinynotation");
        let out = patterns(&ctx, json!({"score_id": id, "pattern_type": "melodic"}));
        assert_eq!(out["melodic"]["sequences_total"], 0, "{id}: {out}");
    }
}

#[test]
fn a_unit_stated_three_times_each_a_step_lower_is_a_sequence() {
    let (_dir, ctx) = context();
    for (id, tune, unit) in [
        (
            "four",
            "tinyNotation: 4/4 g4 a4 g4 e4 f4 g4 f4 d4 e4 f4 e4 c4 c1",
            [["G4", "A4", "G4", "E4"], ["F4", "G4", "F4", "D4"]],
        ),
        (
            "three",
            "tinyNotation: 3/4 e4 g4 f4 d4 f4 e4 c4 e4 d4 c2.",
            [["E4", "G4", "F4", ""], ["D4", "F4", "E4", ""]],
        ),
    ] {
        import_text_as(&ctx, id, tune, "tinynotation");
        let out = patterns(&ctx, json!({"score_id": id, "pattern_type": "melodic"}));
        let sequences = out["melodic"]["sequences"].as_array().expect("sequences");
        assert_eq!(sequences.len(), 1, "{id}: {sequences:?}");
        let sequence = &sequences[0];
        assert_eq!(sequence["statements"], 3, "{id}");
        assert_eq!(sequence["step_generic"], -2, "{id}");
        assert_eq!(sequence["real"], false, "{id}: the steps are tonal");
        assert_eq!(
            at(&sequence["statements_at"]),
            [(1, 1.0), (2, 1.0), (3, 1.0)],
            "{id}"
        );
        for (k, pitches) in unit.iter().enumerate() {
            let want: Vec<&str> = pitches.iter().copied().filter(|p| !p.is_empty()).collect();
            assert_eq!(sequence["statements_at"][k]["pitches"], json!(want), "{id}");
        }
    }
}

#[test]
fn a_repeat_is_followed_past_the_trie_to_its_full_length() {
    // 100 intervals twice (101 notes), then a repeat longer than the longest motif.
    let long: Vec<i64> = (0..100).collect();
    let found = maximal_repeats(&[long.clone(), long], 3, 1);
    let shapes: Vec<(usize, Vec<(usize, usize)>)> = found
        .into_iter()
        .map(|f| (f.length, f.occurrences))
        .collect();
    assert_eq!(shapes, [(101, vec![(0, 0), (1, 0)])]);

    let longer: Vec<i64> = (0..400).collect();
    let found = maximal_repeats(&[longer.clone(), longer], 3, 1);
    assert_eq!(found.first().map(|f| f.length), Some(256));
    assert_eq!(
        found.first().map(|f| f.occurrences.clone()),
        Some(vec![(0, 0), (1, 0)])
    );
}

#[test]
fn a_repeat_inside_a_longer_one_everywhere_is_left_out() {
    // [3 4] is inside the long repeat twice, and once elsewhere: it stays. [4 5] and the
    // other pieces of the long repeat occur nowhere else: they go.
    let long = vec![1, 2, 3, 4, 5, 6, 7, 8];
    let elements = vec![long.clone(), long, vec![3, 4, 9]];
    let mut shapes: Vec<(usize, Vec<(usize, usize)>)> = maximal_repeats(&elements, 3, 1)
        .into_iter()
        .map(|f| (f.length, f.occurrences))
        .collect();
    shapes.sort();
    assert_eq!(
        shapes,
        [(3, vec![(0, 2), (1, 2), (2, 0)]), (9, vec![(0, 0), (1, 0)])]
    );
    // Repeated notes: the longest runs that fit twice, and shorter ones fitting more often
    // where they do not lie inside those.
    let found = maximal_repeats(&[vec![0; 9]], 3, 1);
    let mut shapes: Vec<(usize, usize)> = found
        .iter()
        .map(|f| (f.length, f.occurrences.len()))
        .collect();
    shapes.sort();
    assert_eq!(shapes, [(3, 3), (4, 2), (5, 2)]);
}

#[test]
fn a_passage_restated_straight_after_itself_is_one_repeat_not_one_per_shift() {
    // 1 2 3 4 5 stated twice in a row and begun a third time: the repeats as long from
    // the second, third and fourth element (each one note after the first) are the same
    // repeat shifted, and go.
    let elements = vec![vec![1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 9]];
    let mut shapes: Vec<(usize, Vec<(usize, usize)>)> = maximal_repeats(&elements, 3, 1)
        .into_iter()
        .map(|f| (f.length, f.occurrences))
        .collect();
    shapes.sort();
    assert_eq!(
        shapes,
        [
            (3, vec![(0, 0), (0, 5), (0, 10)]),
            (5, vec![(0, 0), (0, 5)])
        ]
    );
}
