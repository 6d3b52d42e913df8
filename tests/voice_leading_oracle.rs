//! `voice_leading_analysis` against music21 10.5.1: the raw quartet counts the tool reports
//! (`music21.parallel_fifths`, `music21.parallel_octaves`) must equal music21's
//! `iterateAllVoiceLeadingQuartets` counts in the shared oracle, on every Bach chorale in it.
//! Drives the real binary. Skips, saying so, when the shared directory is absent.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Files whose parallel-octave count may differ from music21's. ENGINE-NOTES measured the
/// octave counts equal on 407 of 408 chorales; none of the one differing is among the
/// oracle's files today, so this is empty. A file may be added here only by name, with the
/// reason, once it is shown to be that known engine difference.
const PARALLEL_OCTAVE_EXCEPTIONS: &[&str] = &[];

fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

fn run_tool(data_dir: &Path, config: &Path, name: &str, args: &Value) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_music21-prod"))
        .arg("tool")
        .arg(name)
        .arg("--args")
        .arg(args.to_string())
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap_or_else(|e| panic!("cannot run music21-prod tool {name}: {e}"));
    assert!(
        output.status.success(),
        "music21-prod tool {name} {args} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "music21-prod tool {name} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

#[test]
fn parallel_fifths_and_octaves_match_music21_on_the_bach_chorales() {
    let shared = shared_dir();
    let oracle = shared.join("oracle/music21-10.5.1.jsonl");
    let corpus = shared.join("corpus");
    if !oracle.is_file() || !corpus.is_dir() {
        eprintln!(
            "SKIPPED voice_leading_oracle: the shared oracle ({}) or corpus ({}) is absent",
            oracle.display(),
            corpus.display()
        );
        return;
    }
    let corpus = corpus.canonicalize().expect("canonical corpus path");
    let dir = tempfile::tempdir().expect("temporary directory");
    let data_dir = dir.path().join("data");
    let config = dir.path().join("config.toml");
    let corpus_toml = toml::Value::String(corpus.display().to_string()).to_string();
    std::fs::write(&config, format!("[corpus]\ndirs = [{corpus_toml}]\n")).expect("config");

    let text = std::fs::read_to_string(&oracle).expect("oracle readable");
    let mut compared = 0;
    let mut fifths_equal = 0;
    let mut octaves_equal = 0;
    let mut quartets_equal = 0;
    let mut mismatches = Vec::new();
    for (line_no, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("oracle line {}: {e}", line_no + 1));
        let Some(file) = record["file"].as_str() else {
            continue;
        };
        if !file.starts_with("bach/") {
            continue;
        }
        let vl = &record["vl"];
        let expected = |key: &str| {
            vl[key]
                .as_u64()
                .unwrap_or_else(|| panic!("oracle {file}: vl.{key} missing"))
        };
        let id = format!("oracle-{compared}");
        run_tool(
            &data_dir,
            &config,
            "import_score",
            &serde_json::json!({"score_id": id, "source": file, "source_type": "corpus"}),
        );
        let out = run_tool(
            &data_dir,
            &config,
            "voice_leading_analysis",
            &serde_json::json!({ "score_id": id }),
        );
        let got = |key: &str| {
            out["music21"][key]
                .as_u64()
                .unwrap_or_else(|| panic!("{file}: music21.{key} missing from the tool's answer"))
        };
        compared += 1;
        let (fifths, octaves, quartets) = (
            got("parallel_fifths"),
            got("parallel_octaves"),
            got("quartets"),
        );
        if fifths == expected("parallel_fifths") {
            fifths_equal += 1;
        } else {
            mismatches.push(format!(
                "{file}: parallel fifths {fifths}, music21 {}",
                expected("parallel_fifths")
            ));
        }
        if octaves == expected("parallel_octaves") {
            octaves_equal += 1;
        } else if PARALLEL_OCTAVE_EXCEPTIONS.contains(&file) {
            eprintln!(
                "{file}: parallel octaves {octaves}, music21 {} (allowed: known engine difference)",
                expected("parallel_octaves")
            );
        } else {
            mismatches.push(format!(
                "{file}: parallel octaves {octaves}, music21 {}",
                expected("parallel_octaves")
            ));
        }
        if quartets == expected("quartets") {
            quartets_equal += 1;
        } else {
            // Not compared: the engine's notion of which note pairs form a quartet differs
            // slightly from music21's on some files (ENGINE-NOTES).
            eprintln!(
                "{file}: {quartets} quartets, music21 {} (not compared)",
                expected("quartets")
            );
        }
    }
    eprintln!(
        "voice_leading_oracle: {compared} Bach files compared; parallel fifths equal on {fifths_equal}, parallel octaves on {octaves_equal}, quartet counts on {quartets_equal}"
    );
    assert!(compared > 0, "the oracle names no bach/ files");
    assert!(
        mismatches.is_empty(),
        "differences from music21:\n{}",
        mismatches.join("\n")
    );
}
