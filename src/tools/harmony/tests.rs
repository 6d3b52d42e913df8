//! The tests of `harmony_analysis`: the home-key reading (music21's) and the local one.

use serde_json::json;

use super::{Function, Numeral};
use crate::error::ErrorKind;
use crate::tools::test_kit::{
    bwv66_context, call, context, four_parts, g_major_chorale, import, import_text,
};

#[test]
fn figures_are_read() {
    let n = Numeral::parse("viio7").expect("viio7");
    assert_eq!((n.degree, n.upper), (7, false));
    assert!(n.is_leading_tone());
    let n = Numeral::parse("bVII6").expect("bVII6");
    assert_eq!(n.accidental, "b");
    assert_eq!(n.base_function(), Function::Other);
    assert_eq!(
        Numeral::parse("V65").map(|n| n.base_function()),
        Some(Function::D)
    );
    assert_eq!(
        Numeral::parse("ii65").map(|n| n.base_function()),
        Some(Function::S)
    );
    assert_eq!(
        Numeral::parse("iiø7").map(|n| n.base_function()),
        Some(Function::S)
    );
    assert_eq!(
        Numeral::parse("II7").map(|n| n.base_function()),
        Some(Function::S)
    );
    assert_eq!(
        Numeral::parse("#ivo7").map(|n| n.base_function()),
        Some(Function::S)
    );
    assert_eq!(
        Numeral::parse("bII6").map(|n| n.base_function()),
        Some(Function::S)
    );
    assert_eq!(
        Numeral::parse("Ger65").map(|n| n.base_function()),
        Some(Function::S)
    );
    assert_eq!(
        Numeral::parse("VI").map(|n| n.base_function()),
        Some(Function::T)
    );
    assert_eq!(
        Numeral::parse("iii").map(|n| n.base_function()),
        Some(Function::T)
    );
    assert_eq!(
        Numeral::parse("v").map(|n| n.base_function()),
        Some(Function::Other)
    );
    assert_eq!(
        Numeral::parse("III+").map(|n| n.base_function()),
        Some(Function::Other)
    );
}

#[test]
fn chorale_cadences_and_functions() {
    let (_dir, ctx) = context();
    import_text(&ctx, "g", &g_major_chorale());
    let out = call(&ctx, "harmony_analysis", json!({"score_id": "g"})).expect("harmony");
    assert_eq!(out["key"]["name"], "G major");
    assert_eq!(out["key"]["source"], "key_analysis");
    let functions: Vec<&str> = out["chords"]
        .as_array()
        .expect("chords")
        .iter()
        .map(|c| c["function"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(functions, ["T", "S", "D", "T", "S", "D", "T"]);
    assert_eq!(out["phrase_rule"], "fermatas");
    let cadences = out["cadences"].as_array().expect("cadences");
    assert_eq!(cadences.len(), 2, "{out}");
    assert_eq!(cadences[0]["type"], "half");
    assert_eq!(cadences[0]["measure"], 1);
    assert_eq!(cadences[0]["beat"], 3.0);
    assert_eq!(cadences[1]["type"], "authentic_perfect");
    assert_eq!(cadences[1]["measure"], 3);
    assert_eq!(cadences[1]["beat"], 1.0);
    assert_eq!(cadences[1]["progression"], "V7 -> I");
    assert_eq!(out["function_counts"]["T"], 3);

    // Read in E minor, the same chords are other numerals: G is III (tonic function).
    let minor = call(
        &ctx,
        "harmony_analysis",
        json!({"score_id": "g", "key": "e"}),
    )
    .expect("in e");
    assert_eq!(minor["key"]["name"], "e minor");
    assert_eq!(minor["key"]["source"], "argument");
    assert_eq!(minor["chords"][0]["roman"], "III");
    assert_eq!(minor["chords"][0]["function"], "T");
}

#[test]
fn every_cadence_type_in_c_major() {
    let (_dir, ctx) = context();
    // I V vi(f) | IV I(f) | V I6(f) | I64 V I(f) | viio6 I(f)
    let xml = four_parts(
        0,
        [
            "E5:1 D5:1 C5:2f | C5:2 C5:2f | B4:2 C5:2f | E5:1 D5:1 C5:2f | B4:2 C5:2f",
            "C5:1 B4:1 C5:2f | A4:2 G4:2f | G4:2 G4:2f | C5:1 B4:1 G4:2f | F4:2 G4:2f",
            "G4:1 G4:1 E4:2f | F4:2 E4:2f | D4:2 E4:2f | G4:1 G4:1 E4:2f | D4:2 E4:2f",
            "C3:1 G2:1 A2:2f | F3:2 C3:2f | G2:2 E3:2f | G2:1 G2:1 C3:2f | D3:2 C3:2f",
        ],
    );
    import_text(&ctx, "c", &xml);
    let out = call(
        &ctx,
        "harmony_analysis",
        json!({"score_id": "c", "key": "C"}),
    )
    .expect("harmony");
    let chords = out["chords"].as_array().expect("chords");
    let romans: Vec<&str> = chords
        .iter()
        .map(|c| c["roman"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        romans,
        ["I", "V", "vi", "IV", "I", "V", "I6", "I64", "V", "I", "viio6", "I"]
    );
    let functions: Vec<&str> = chords
        .iter()
        .map(|c| c["function"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        functions,
        ["T", "D", "T", "S", "T", "D", "T", "D", "D", "T", "D", "T"]
    );
    let cadences: Vec<(String, i64, f64)> = out["cadences"]
        .as_array()
        .expect("cadences")
        .iter()
        .map(|c| {
            (
                c["type"].as_str().unwrap_or("?").to_string(),
                c["measure"].as_i64().unwrap_or(-1),
                c["beat"].as_f64().unwrap_or(-1.0),
            )
        })
        .collect();
    let expected = [
        ("deceptive", 1, 3.0),
        ("plagal", 2, 3.0),
        ("authentic_imperfect", 3, 3.0),
        ("authentic_perfect", 4, 3.0),
        ("authentic_imperfect", 5, 3.0),
    ];
    let expected: Vec<(String, i64, f64)> = expected
        .iter()
        .map(|(t, m, b)| (t.to_string(), *m, *b))
        .collect();
    assert_eq!(cadences, expected);
    assert_eq!(out["cadences"][4]["progression"], "viio6 -> I");
}

#[test]
fn long_chords_end_phrases_without_fermatas() {
    let (_dir, ctx) = context();
    // The chorale without its fermatas: phrase ends are the long chords (the half-note
    // V and V7, twice the median quarter, each ending on a barline) and the end.
    let xml = g_major_chorale().replace("<notations><fermata/></notations>", "");
    import_text(&ctx, "n", &xml);
    let out = call(&ctx, "harmony_analysis", json!({"score_id": "n"})).expect("harmony");
    assert_eq!(out["phrase_rule"], "long_chords");
    // Median chord length is 1 quarter; the half-note V in measure 1 ends on a barline.
    let ends = out["phrase_ends"].as_array().expect("phrase ends");
    assert_eq!(ends.len(), 3, "{out}");
    assert_eq!(ends[0]["reason"], "long_chord");
    assert_eq!(ends[0]["cadence"], "half");
    assert_eq!(ends[1]["reason"], "long_chord");
    assert_eq!(ends[1]["cadence"], "half");
    assert_eq!(ends[2]["reason"], "end");
    assert_eq!(ends[2]["cadence"], "authentic_perfect");
}

#[test]
fn bwv66_ends_on_fermatas() {
    let Some((_dir, ctx)) = bwv66_context() else {
        return;
    };
    let out = call(&ctx, "harmony_analysis", json!({"score_id": "b"})).expect("harmony");
    assert_eq!(out["key"]["name"], "f# minor");
    assert_eq!(out["phrase_rule"], "fermatas");
    assert_eq!(out["chords"].as_array().map(Vec::len), Some(51));
    let ends = out["phrase_ends"].as_array().expect("ends");
    assert!(
        ends.len() >= 4,
        "{}",
        serde_json::to_string_pretty(&out["phrase_ends"]).unwrap_or_default()
    );
    assert!(!out["cadences"].as_array().expect("cadences").is_empty());
}

/// The phrase ends of a harmony_analysis answer as (local key, local cadence, local
/// progression, home-key cadence).
fn local_ends(out: &serde_json::Value) -> Vec<(String, String, String, String)> {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("none").to_string();
    out["phrase_ends"]
        .as_array()
        .expect("phrase ends")
        .iter()
        .map(|p| {
            (
                text(&p["local_key"]),
                text(&p["local_cadence"]),
                text(&p["local_progression"]),
                text(&p["cadence"]),
            )
        })
        .collect()
}

#[test]
fn a_phrase_closing_in_the_dominant_is_read_there_and_the_next_back_home() {
    let (_dir, ctx) = context();
    // C major. Phrase 1 turns to G: I V6/V V V7/V | I of G (fermata), a perfect
    // authentic cadence in G that the home-key reading calls a half cadence (II7 -> V).
    // Phrase 2 comes home: I V7 I IV | V7 I (fermata).
    let xml = four_parts(
        0,
        [
            "E5:1 D5:1 D5:1 C5:1 | A4:2 G4:2f | G4:1 G4:1 G4:1 A4:1 | B4:2 C5:2f",
            "G4:1 A4:1 B4:1 A4:1 | F#4:2 D4:2f | E4:1 F4:1 E4:1 F4:1 | F4:2 E4:2f",
            "C4:1 D4:1 D4:1 F#4:1 | C4:2 B3:2f | C4:1 B3:1 C4:1 C4:1 | D4:2 C4:2f",
            "C3:1 F#3:1 G3:1 D3:1 | D3:2 G2:2f | C3:1 G2:1 C3:1 F2:1 | G2:2 C3:2f",
        ],
    );
    import_text(&ctx, "m", &xml);
    let out = call(&ctx, "harmony_analysis", json!({"score_id": "m"})).expect("harmony");
    assert_eq!(out["key"]["name"], "C major", "{out}");
    let ends = local_ends(&out);
    assert_eq!(ends.len(), 2, "{out}");
    assert_eq!(ends[0].0, "G major");
    assert_eq!(ends[0].1, "authentic_perfect");
    assert_eq!(ends[0].2, "V7 -> I");
    assert_eq!(ends[0].3, "half", "the home-key reading is unchanged");
    assert_eq!(ends[1].0, "C major");
    assert_eq!(ends[1].1, "authentic_perfect");
    let regions = out["local_keys"].as_array().expect("regions");
    let keys: Vec<&str> = regions.iter().filter_map(|r| r["key"].as_str()).collect();
    assert_eq!(keys, ["G major", "C major"]);
    assert_eq!(regions[0]["from_measure"], 1);
    assert_eq!(regions[0]["to_measure"], 2);
    assert_eq!(regions[0]["to_beat"], 3.0);
    assert_eq!(regions[0]["evidence"], "cadence");
    assert_eq!(regions[1]["from_measure"], 3);
    let cadences = out["local_cadences"].as_array().expect("local cadences");
    assert_eq!(cadences.len(), 2);
    assert_eq!(cadences[0]["key"], "G major");
    assert_eq!(cadences[0]["measure"], 2);
}

#[test]
fn a_secondary_dominant_is_written_as_an_applied_chord() {
    let (_dir, ctx) = context();
    // C major: I IV V65/V V (fermata) | V7 I (fermata). The F# comes in a first-inversion
    // D7 over F#, no cadence in G: the phrase is a half cadence at home.
    let xml = four_parts(
        0,
        [
            "E5:1 F5:1 D5:1 D5:1f | F5:2 E5:2f",
            "C5:1 C5:1 C5:1 B4:1f | B4:2 C5:2f",
            "G4:1 A4:1 A4:1 G4:1f | D4:2 G4:2f",
            "C3:1 F3:1 F#3:1 G3:1f | G2:2 C3:2f",
        ],
    );
    import_text(&ctx, "a", &xml);
    let out = call(&ctx, "harmony_analysis", json!({"score_id": "a"})).expect("harmony");
    let local: Vec<&str> = out["chords"]
        .as_array()
        .expect("chords")
        .iter()
        .map(|c| c["local_roman"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(local[2], "V65/V", "{local:?}");
    let ends = local_ends(&out);
    assert_eq!(ends[0].0, "C major");
    assert_eq!(ends[0].1, "half");
    assert_eq!(ends[0].2, "V65/V -> V");
    // The home-key numerals stay music21's: the applied chord is II65 there.
    assert_eq!(out["chords"][2]["roman"], "II65");
}

#[test]
fn a_passing_sonority_before_the_final_chord_does_not_hide_the_cadence() {
    let (_dir, ctx) = context();
    // In 2/2 (a beat is a half note): I IV | V, then on the second quarter the tenor
    // anticipates the E of the final chord (G B D E, an off-beat quarter), then I. The
    // home-key reading takes that slice as the chord before I and finds no cadence.
    let xml = four_parts(
        0,
        [
            "E5:2 F5:2 | D5:2 C5:2f",
            "C5:2 A4:2 | B4:2 G4:2f",
            "G4:2 F4:2 | G4:1 E4:1 E4:2f",
            "C3:2 F3:2 | G2:2 C3:2f",
        ],
    )
    .replace(
        "<beats>4</beats><beat-type>4</beat-type>",
        "<beats>2</beats><beat-type>2</beat-type>",
    );
    import_text(&ctx, "p", &xml);
    let out = call(&ctx, "harmony_analysis", json!({"score_id": "p"})).expect("harmony");
    let ends = local_ends(&out);
    assert_eq!(ends.len(), 1, "{out}");
    assert_eq!(ends[0].3, "none", "music21's reading sees the slice: {out}");
    assert_eq!(ends[0].0, "C major");
    assert_eq!(ends[0].1, "authentic_perfect");
    assert_eq!(ends[0].2, "V -> I");
    assert_eq!(out["local_cadences"][0]["penultimate_index"], 2);
}

#[test]
fn a_cadence_is_read_to_the_chord_held_under_the_fermata_from_an_off_beat_dominant() {
    let (_dir, ctx) = context();
    // In 2/2 (a beat is a half note): I, then ii65 and V7 a quarter each (the V7 off the
    // beat), then I under the fermata with the tenor's F held over as a 4-3 suspension for
    // a quarter. The cadence is V7 -> I: the V7 is a harmony though short and off the
    // beat, and the fermata's chord is the I the suspension resolves to, held longest.
    let xml = four_parts(
        0,
        [
            "E5:2 D5:1 D5:1 | C5:4f",
            "C5:2 C5:1 B4:1 | C5:4",
            "G4:2 A4:1 F4:1 | F4:1 E4:3",
            "C3:2 F3:1 G3:1 | C3:4",
        ],
    )
    .replace(
        "<beats>4</beats><beat-type>4</beat-type>",
        "<beats>2</beats><beat-type>2</beat-type>",
    );
    import_text(&ctx, "s", &xml);
    let out = call(&ctx, "harmony_analysis", json!({"score_id": "s"})).expect("harmony");
    let ends = local_ends(&out);
    // The fermata's chord and the piece's last chord (the resolution) both end a phrase;
    // they are one close, read alike.
    assert_eq!(ends.len(), 2, "{out}");
    for end in &ends {
        assert_eq!(end.0, "C major", "{out}");
        assert_eq!(end.1, "authentic_perfect", "{out}");
        assert_eq!(end.2, "V7 -> I", "{out}");
    }
    let cadences = out["local_cadences"].as_array().expect("local cadences");
    assert_eq!(cadences.len(), 1, "{out}");
    assert_eq!(cadences[0]["chord_index"], 3);
    assert_eq!(cadences[0]["penultimate_index"], 2);
}

#[test]
fn the_builtin_chorale_stays_in_g_major() {
    let (_dir, ctx) = context();
    import(&ctx, "g", "builtin/chorale-g-major");
    let out = call(&ctx, "harmony_analysis", json!({"score_id": "g"})).expect("harmony");
    let keys: Vec<&str> = out["local_keys"]
        .as_array()
        .expect("regions")
        .iter()
        .filter_map(|r| r["key"].as_str())
        .collect();
    assert_eq!(keys, ["G major"], "{}", out["local_keys"]);
    let ends = local_ends(&out);
    let cadences: Vec<&str> = ends.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(cadences, ["half", "authentic_perfect"], "{ends:?}");
}

#[test]
fn bwv66_phrases_are_read_in_their_local_keys() {
    let Some((_dir, ctx)) = bwv66_context() else {
        return;
    };
    let out = call(&ctx, "harmony_analysis", json!({"score_id": "b"})).expect("harmony");
    let ends = local_ends(&out);
    assert_eq!(ends.len(), 6);
    // The second phrase closes in the relative major, A: E7 -> A (the seventh on the
    // last eighth before the A, the harmony the A resolves).
    assert_eq!(ends[1].0, "A major", "{ends:?}");
    assert_eq!(ends[1].1, "authentic_perfect", "{ends:?}");
    assert_eq!(ends[1].2, "V7 -> I", "{ends:?}");
    // The third closes at home, V7 -> i.
    assert_eq!(ends[2].0, "f# minor", "{ends:?}");
    assert_eq!(ends[2].1, "authentic_perfect", "{ends:?}");
    // Every chord has a local numeral where it has a home one.
    for chord in out["chords"].as_array().expect("chords") {
        assert_eq!(chord["roman"].is_null(), chord["local_roman"].is_null());
    }
    let regions = out["local_keys"].as_array().expect("regions");
    assert_eq!(regions.first().map(|r| &r["first_chord"]), Some(&json!(0)));
    assert_eq!(regions.last().map(|r| &r["last_chord"]), Some(&json!(50)));
}

#[test]
fn bad_arguments_name_the_argument() {
    let (_dir, ctx) = context();
    import_text(&ctx, "g", &g_major_chorale());
    for bad in ["H", "C dorian", "", "C# minor please", "Cx"] {
        let err = call(
            &ctx,
            "harmony_analysis",
            json!({"score_id": "g", "key": bad}),
        )
        .expect_err(bad);
        assert_eq!(err.kind, ErrorKind::InvalidArgument, "{bad}");
        assert!(err.message.starts_with("key '"), "{}", err.message);
    }
    let wrong =
        call(&ctx, "harmony_analysis", json!({"score_id": "g", "key": 7})).expect_err("type");
    assert!(wrong.message.contains("`key`"), "{}", wrong.message);
    let missing = call(&ctx, "harmony_analysis", json!({"key": "G"})).expect_err("missing");
    assert!(missing.message.contains("score_id"), "{}", missing.message);
    for good in ["G", "g", "F# minor", "B- major", "Bb major", "e-"] {
        call(
            &ctx,
            "harmony_analysis",
            json!({"score_id": "g", "key": good}),
        )
        .expect(good);
    }
}
