//! `harmonize_melody` on Bach: the soprano of ten chorales from the shared corpus, harmonised
//! in chorale style by the real binary, must come out with zero parallel fifths, zero parallel
//! octaves and zero voice crossings (counted by `voice_leading_analysis` on the stored result)
//! in at least nine of the ten. Skips, saying so, when `../shared/corpus` is absent.

mod common;

use common::{shared_dir, Env};
use serde_json::{json, Value};

/// Four-part chorales of the shared corpus (soprano, alto, tenor, bass, the soprano on top).
const CHORALES: [&str; 10] = [
    "bwv66.6",
    "bwv153.1",
    "bwv153.5",
    "bwv197.5",
    "bwv244.25",
    "bwv269",
    "bwv272",
    "bwv40.3",
    "bwv400",
    "bwv431",
];

fn counts(out: &Value) -> (u64, u64, u64, u64) {
    let c = &out["counts"];
    let n = |k: &str| {
        c[k].as_u64()
            .unwrap_or_else(|| panic!("count {k} missing: {out}"))
    };
    (
        n("parallel_fifths"),
        n("parallel_octaves"),
        n("parallel_unisons"),
        n("voice_crossings"),
    )
}

#[test]
fn ten_bach_soprano_lines_harmonised_without_parallels_or_crossings() {
    let Some(shared) = shared_dir() else {
        eprintln!("skipping: ../shared/corpus not found");
        return;
    };
    let corpus = shared.join("corpus");
    let env = Env::with_config(&format!(
        "[corpus]\ndirs = [{:?}]\n",
        corpus.display().to_string()
    ));
    let mut clean = 0;
    let mut table = Vec::new();
    for name in CHORALES {
        let id = name.replace('.', "_");
        let imported = env.tool(
            "import_score",
            json!({"score_id": id, "source": format!("bach/{name}")}),
        );
        if imported.code != 0 {
            panic!("import {name}: {}", imported.stderr);
        }
        let info = env.tool("score_info", json!({"score_id": id})).ok();
        assert_eq!(
            info["parts"].as_array().map(Vec::len),
            Some(4),
            "{name} is a four-part chorale"
        );
        let out = env
            .tool(
                "harmonize_melody",
                json!({"score_id": id, "part": 0, "style": "chorale", "new_score_id": format!("{id}-h"), "seed": 1}),
            )
            .ok();
        assert_eq!(
            out["parts"],
            json!(["Soprano", "Alto", "Tenor", "Bass"]),
            "{name}"
        );
        // Counted afresh on the stored result, as a user would.
        let vl = env
            .tool(
                "voice_leading_analysis",
                json!({"score_id": format!("{id}-h")}),
            )
            .ok();
        let (p5, p8, p1, x) = counts(&vl);
        assert_eq!(
            &vl["counts"], &out["voice_leading"]["counts"],
            "{name}: the response carries the analysis"
        );
        let ok = p5 == 0 && p8 == 0 && p1 == 0 && x == 0;
        clean += usize::from(ok);
        table.push(format!(
            "{name:<10} key {:<10} chords {:>3}  parallel fifths {p5}  octaves {p8}  unisons {p1}  crossings {x}  hidden 5ths {} 8ves {}  overlaps {}  {}",
            out["key"]["name"].as_str().unwrap_or("?"),
            out["chords"].as_array().map_or(0, Vec::len),
            vl["counts"]["hidden_fifths"],
            vl["counts"]["hidden_octaves"],
            vl["counts"]["voice_overlaps"],
            if ok { "ok" } else { "FAULTS" }
        ));
        // The stored result exports to MusicXML (what music21 reads).
        let exported = env
            .tool(
                "export_score",
                json!({"score_id": format!("{id}-h"), "format": "musicxml"}),
            )
            .ok();
        assert!(
            exported["content"]
                .as_str()
                .is_some_and(|c| c.contains("<part id=")),
            "{name}: exported"
        );
    }
    for line in &table {
        eprintln!("{line}");
    }
    eprintln!(
        "{clean} of {} chorales with no parallel fifths, octaves or crossings",
        CHORALES.len()
    );
    assert!(
        clean >= 9,
        "only {clean} of 10 clean:\n{}",
        table.join("\n")
    );
}

#[test]
fn bad_input_through_the_binary() {
    let env = Env::new();
    let run = env.tool(
        "import_score",
        json!({"score_id": "t", "source": "builtin/twinkle"}),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = env.tool(
        "harmonize_melody",
        json!({"score_id": "t", "style": "baroque", "new_score_id": "x"}),
    );
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("style") || run.stdout.contains("style"),
        "{} {}",
        run.stdout,
        run.stderr
    );
    let run = env.tool("harmonize_melody", json!({"score_id": "t"}));
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("new_score_id") || run.stdout.contains("new_score_id"),
        "{} {}",
        run.stdout,
        run.stderr
    );
}
