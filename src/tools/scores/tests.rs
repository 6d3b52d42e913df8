use music21_rs::StreamElement;

use crate::tools::test_kit::{call, context, context_with};
use crate::tools::ToolContext;
use proptest::prelude::*;
use serde_json::json;

/// The notes as heard: pitch and onset of every note that does not continue a tie
/// (an export may split a note at a barline into tied notes; it still sounds once).
fn pitches(ctx: &ToolContext, id: &str) -> Vec<(String, String)> {
    use music21_rs::TieType;
    ctx.load(id)
        .unwrap()
        .score
        .flatten()
        .events()
        .iter()
        .filter_map(|e| match e.element() {
            StreamElement::Note(n)
                if !matches!(
                    n.tie().map(|t| t.tie_type()),
                    Some(TieType::Stop | TieType::Continue)
                ) =>
            {
                Some((n.pitch().name_with_octave(), format!("{:.4}", e.offset())))
            }
            _ => None,
        })
        .collect()
}

fn midi_numbers(ctx: &ToolContext, id: &str) -> Vec<i64> {
    pitches(ctx, id)
        .iter()
        .map(|(name, _)| music21_rs::Pitch::from_name(name.as_str()).unwrap().midi() as i64)
        .collect()
}

/// A tinyNotation melody from generated (step, octave, accidental, length) tuples.
fn melody(notes: &[(usize, i32, usize, usize)]) -> String {
    let mut text = String::from("tinyNotation: 4/4");
    for &(step, octave, accidental, length) in notes {
        let letter = ["c", "d", "e", "f", "g", "a", "b"][step];
        let name = match octave {
            3 => letter.to_uppercase(),
            5 => format!("{letter}'"),
            _ => letter.to_string(),
        };
        let acc = ["", "#", "-"][accidental];
        let len = ["4", "8", "2"][length];
        text.push_str(&format!(" {name}{acc}{len}"));
    }
    text
}

fn notes_strategy() -> impl Strategy<Value = Vec<(usize, i32, usize, usize)>> {
    prop::collection::vec((0usize..7, 3i32..6, 0usize..3, 0usize..3), 1..24)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn transposing_up_then_down_is_the_identity(notes in notes_strategy(), which in 0usize..4) {
        let (_dir, ctx) = context();
        let interval = ["P5", "M3", "m2", "P8"][which];
        call(&ctx, "import_score", json!({"score_id": "a", "source": melody(&notes)})).unwrap();
        call(&ctx, "transpose_score", json!({"score_id": "a", "interval": interval, "new_score_id": "up"})).unwrap();
        call(&ctx, "transpose_score", json!({"score_id": "up", "interval": format!("-{interval}"), "new_score_id": "back"})).unwrap();
        prop_assert_eq!(pitches(&ctx, "a"), pitches(&ctx, "back"));
        let up = midi_numbers(&ctx, "up");
        let original = midi_numbers(&ctx, "a");
        let shift = music21_rs::Interval::from_name(interval).unwrap().semitones() as i64;
        prop_assert_eq!(up, original.iter().map(|m| m + shift).collect::<Vec<_>>());
    }

    #[test]
    fn export_then_import_keeps_every_note(notes in notes_strategy()) {
        let (_dir, ctx) = context();
        call(&ctx, "import_score", json!({"score_id": "a", "source": melody(&notes)})).unwrap();
        let original = pitches(&ctx, "a");
        for (format, source_type) in [("musicxml", "text"), ("mxl", "base64"), ("abc", "text"), ("midi", "base64")] {
            let exported = call(&ctx, "export_score", json!({"score_id": "a", "format": format})).unwrap();
            let id = format!("from-{format}");
            call(&ctx, "import_score", json!({
                "score_id": id, "source": exported["content"], "source_type": source_type
            })).unwrap();
            if format == "midi" {
                // MIDI keeps the sounding note, not its spelling.
                prop_assert_eq!(midi_numbers(&ctx, &id), midi_numbers(&ctx, "a"), "format {}", format);
            } else {
                prop_assert_eq!(pitches(&ctx, &id), original.clone(), "format {}", format);
            }
        }
    }
}

#[test]
fn replace_and_duplicate_ids() {
    let (_dir, ctx) = context();
    let tune = "tinyNotation: 3/4 c4 d e";
    call(
        &ctx,
        "import_score",
        json!({"score_id": "a", "source": tune}),
    )
    .unwrap();
    let dup = call(
        &ctx,
        "import_score",
        json!({"score_id": "a", "source": tune}),
    )
    .unwrap_err();
    assert!(dup.message.contains("already exists"));
    let replaced = call(
        &ctx,
        "import_score",
        json!({"score_id": "a", "source": "tinyNotation: 3/4 c4 d e f g a", "replace": true}),
    )
    .unwrap();
    assert_eq!(replaced["notes"], 6);
    assert_eq!(
        pitches(&ctx, "a").len(),
        6,
        "the cache must not serve the replaced score"
    );
}

#[test]
fn list_pages_and_counts_evictions() {
    let (_dir, ctx) = context_with(|config| config.store.max_scores = 3);
    for i in 0..5 {
        call(
            &ctx,
            "import_score",
            json!({"score_id": format!("s{i}"), "source": "tinyNotation: c4 d e f"}),
        )
        .unwrap();
    }
    let page = call(&ctx, "list_scores", json!({"limit": 2})).unwrap();
    assert_eq!(page["total"], 3);
    assert_eq!(page["evictions_total"], 2);
    assert_eq!(page["scores"].as_array().unwrap().len(), 2);
    assert_eq!(page["recent_evictions"][0]["score_id"], "s1");
    let next = call(
        &ctx,
        "list_scores",
        json!({"limit": 2, "cursor": page["next_cursor"]}),
    )
    .unwrap();
    assert_eq!(next["scores"].as_array().unwrap().len(), 1);
    assert!(next["next_cursor"].is_null());
}

#[test]
fn delete_one_and_all() {
    let (_dir, ctx) = context();
    for id in ["a", "b", "c"] {
        call(
            &ctx,
            "import_score",
            json!({"score_id": id, "source": "tinyNotation: c4 d e f"}),
        )
        .unwrap();
    }
    let one = call(&ctx, "delete_score", json!({"score_id": "b"})).unwrap();
    assert_eq!(one["deleted"], json!(["b"]));
    let gone = call(&ctx, "score_info", json!({"score_id": "b"})).unwrap_err();
    assert_eq!(gone.kind, crate::error::ErrorKind::NotFound);
    let all = call(&ctx, "delete_score", json!({"score_id": "*"})).unwrap();
    assert_eq!(all["count"], 2);
}

#[test]
fn export_formats_carry_content_and_mime_types() {
    let (_dir, ctx) = context();
    call(
        &ctx,
        "import_score",
        json!({"score_id": "a", "source": "tinyNotation: 4/4 c4 d e f g1"}),
    )
    .unwrap();
    for (format, mime, encoding) in [
        (
            "musicxml",
            "application/vnd.recordare.musicxml+xml",
            "utf-8",
        ),
        ("mxl", "application/vnd.recordare.musicxml", "base64"),
        ("midi", "audio/midi", "base64"),
        ("abc", "text/vnd.abc", "utf-8"),
        ("lilypond", "text/x-lilypond", "utf-8"),
    ] {
        let out = call(
            &ctx,
            "export_score",
            json!({"score_id": "a", "format": format}),
        )
        .unwrap();
        assert_eq!(out["mime_type"], mime);
        assert_eq!(out["encoding"], encoding);
        assert!(out["bytes"].as_u64().unwrap() > 20, "{format}");
        assert!(!out["content"].as_str().unwrap().is_empty());
    }
}

#[test]
fn score_info_reads_meters_keys_tempi_and_ranges() {
    let (_dir, ctx) = context();
    let abc = "X:1\nT:Info Test\nC:Someone\nM:3/4\nL:1/4\nQ:1/4=60\nK:D\nDEF|ABc|d3|]\n";
    call(
        &ctx,
        "import_score",
        json!({"score_id": "a", "source": abc}),
    )
    .unwrap();
    let info = call(&ctx, "score_info", json!({"score_id": "a"})).unwrap();
    assert_eq!(info["title"], "Info Test");
    assert_eq!(info["composer"], "Someone");
    assert_eq!(info["measures"], 3);
    assert_eq!(info["time_signatures"][0]["signature"], "3/4");
    assert_eq!(info["key_signatures"][0]["sharps"], 2);
    assert_eq!(info["tempos"][0]["quarter_bpm"], 60.0);
    assert_eq!(info["duration_quarters"], 9.0);
    assert_eq!(info["duration_seconds"], 9.0);
    assert_eq!(info["parts"][0]["range"]["lowest"], "D4");
    assert_eq!(info["parts"][0]["range"]["highest"], "D5");
}
