//! The oracle test: the real binary against music21 10.5.1's answers on the shared corpus.
//!
//! For every line of `../shared/oracle/music21-10.5.1.jsonl` (one file of
//! `../shared/corpus`), the binary imports the file into a fresh store and is asked
//! `key_analysis`, `score_info` and `chord_analysis`; the answers must be music21's:
//! - key: tonic, mode and correlation (within 1e-6), the five alternatives, and every
//!   profile's answer (`keys_by_algorithm`);
//! - parts, measures (first part), note objects and chord objects;
//! - the chordified chords: their number, and for each in order its offset, length,
//!   measure, pitches, commonName, pitchedCommonName and Roman numeral.
//!
//! No difference is allowed: the two the engine has (a chord on the raised sixth or seventh
//! degree of a minor key, the pitchedCommonName of a one-note chord) are answered music21's
//! way by the tools (`music::roman`, `tools::chords`).
//!
//! `MUSIC21_PROD_ORACLE=lines.jsonl MUSIC21_PROD_ORACLE_CORPUS=dir` compares against other
//! oracle lines instead, e.g. music21's whole corpus (`setup --fetch-corpus`) with lines
//! from `scripts/oracle-music21`.
//!
//! Without `../shared/oracle` the test says so and passes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

const CORRELATION_TOLERANCE: f64 = 1e-6;

struct Shared {
    oracle: PathBuf,
    corpus: PathBuf,
}

fn shared() -> Option<Shared> {
    if let (Some(oracle), Some(corpus)) = (
        std::env::var_os("MUSIC21_PROD_ORACLE"),
        std::env::var_os("MUSIC21_PROD_ORACLE_CORPUS"),
    ) {
        return Some(Shared {
            oracle: oracle.into(),
            corpus: corpus.into(),
        });
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    let oracle = root.join("oracle/music21-10.5.1.jsonl");
    let corpus = root.join("corpus");
    (oracle.is_file() && corpus.is_dir()).then_some(Shared { oracle, corpus })
}

/// Runs one tool through the real binary and returns its JSON answer.
fn tool(data: &Path, config: &Path, name: &str, args: &Value) -> Result<Value, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_music21-prod"))
        .arg("tool")
        .arg(name)
        .arg("--args")
        .arg(args.to_string())
        .arg("--data-dir")
        .arg(data)
        .arg("--config")
        .arg(config)
        .output()
        .map_err(|e| format!("{name}: cannot run the binary: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{name} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("{name}: output is not JSON: {e}"))
}

#[derive(Default)]
struct Tally {
    files: usize,
    chords: usize,
    /// Mismatches by file.
    mismatches: BTreeMap<String, Vec<String>>,
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// A key as the oracle writes it and the tool answers it: (tonic, mode, correlation).
fn key_of(v: &Value) -> (String, String, f64) {
    (
        v["tonic"].as_str().unwrap_or("?").to_string(),
        v["mode"].as_str().unwrap_or("?").to_string(),
        num(&v["correlation"]),
    )
}

fn compare_key(what: &str, expected: &Value, got: &Value, out: &mut Vec<String>) {
    let (et, em, ec) = key_of(expected);
    let (gt, gm, gc) = key_of(got);
    if et != gt || em != gm || !close(ec, gc, CORRELATION_TOLERANCE) {
        out.push(format!(
            "{what}: music21 {et} {em} r={ec}, got {gt} {gm} r={gc}"
        ));
    }
}

/// chord_analysis read to the end: the first page's answer with every page's chords.
fn all_chords(data: &Path, config: &Path, id: &str) -> Result<Value, String> {
    let mut first: Option<Value> = None;
    let mut chords = Vec::new();
    let mut offset = 0;
    loop {
        let page = tool(
            data,
            config,
            "chord_analysis",
            &json!({"score_id": id, "limit": 5000, "offset": offset}),
        )?;
        chords.extend(page["chords"].as_array().cloned().unwrap_or_default());
        let next = page["next_offset"].as_u64();
        first.get_or_insert(page);
        match next {
            Some(n) if n as usize > offset => offset = n as usize,
            _ => break,
        }
    }
    let mut result = first.unwrap_or(Value::Null);
    result["chords"] = Value::Array(chords);
    Ok(result)
}

fn check_file(
    line: &Value,
    data: &Path,
    config: &Path,
    id: &str,
    tally: &mut Tally,
) -> Vec<String> {
    let mut out = Vec::new();
    let file = line["file"].as_str().unwrap_or("?");
    let import = json!({"score_id": id, "source": file, "source_type": "file"});
    if let Err(e) = tool(data, config, "import_score", &import) {
        out.push(format!("import: {e}"));
        return out;
    }
    let args = json!({"score_id": id});
    // Key: the whole-score answer, the alternatives and every profile.
    match tool(data, config, "key_analysis", &args) {
        Ok(key) => {
            compare_key("key", &line["key"], &key["key"], &mut out);
            let expected_alts = line["key"]["alternates_top5"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let got_alts = key["alternatives"].as_array().cloned().unwrap_or_default();
            if expected_alts.len() != got_alts.len() {
                out.push(format!(
                    "alternatives: music21 has {}, got {}",
                    expected_alts.len(),
                    got_alts.len()
                ));
            }
            for (i, (e, g)) in expected_alts.iter().zip(&got_alts).enumerate() {
                compare_key(&format!("alternative {}", i + 1), e, g, &mut out);
            }
            let by = key["by_algorithm"].as_array().cloned().unwrap_or_default();
            if let Some(expected) = line["keys_by_algorithm"].as_object() {
                for (profile, e) in expected {
                    match by.iter().find(|a| a["profile"] == profile.as_str()) {
                        Some(g) => {
                            compare_key(&format!("key by {profile}"), e, &g["key"], &mut out)
                        }
                        None => out.push(format!("key by {profile}: missing from by_algorithm")),
                    }
                }
            }
        }
        Err(e) => out.push(format!("key_analysis: {e}")),
    }
    // Parts, measures, notes.
    match tool(data, config, "score_info", &args) {
        Ok(info) => {
            let parts = info["parts"].as_array().map(Vec::len);
            if parts.map(|p| p as u64) != line["parts"].as_u64() {
                out.push(format!("parts: music21 {}, got {parts:?}", line["parts"]));
            }
            if info["measures"] != line["measures"] {
                out.push(format!(
                    "measures: music21 {}, got {}",
                    line["measures"], info["measures"]
                ));
            }
            if info["notes"] != line["notes"]["note_objects"] {
                out.push(format!(
                    "notes: music21 {} note objects, got {}",
                    line["notes"]["note_objects"], info["notes"]
                ));
            }
            if info["chords"] != line["notes"]["chord_objects"] {
                out.push(format!(
                    "chords: music21 {} chord objects, got {}",
                    line["notes"]["chord_objects"], info["chords"]
                ));
            }
        }
        Err(e) => out.push(format!("score_info: {e}")),
    }
    // Every chord, page after page.
    match all_chords(data, config, id) {
        Ok(result) => {
            if result["total"] != line["chordified_total"] {
                out.push(format!(
                    "chords: music21 chordified {} chords, got {}",
                    line["chordified_total"], result["total"]
                ));
            }
            let expected = line["chords"].as_array().cloned().unwrap_or_default();
            let got = result["chords"].as_array().cloned().unwrap_or_default();
            for (i, (e, g)) in expected.iter().zip(&got).enumerate() {
                tally.chords += 1;
                let at = format!(
                    "chord {i} (measure {}, offset {})",
                    e["measure"], e["offset"]
                );
                if !close(num(&e["offset"]), num(&g["offset"]), 1e-4)
                    || !close(num(&e["ql"]), num(&g["duration"]), 1e-4)
                {
                    out.push(format!(
                        "{at}: offset/length music21 {}/{}, got {}/{}",
                        e["offset"], e["ql"], g["offset"], g["duration"]
                    ));
                }
                if e["measure"] != g["measure"] {
                    out.push(format!(
                        "{at}: measure music21 {}, got {}",
                        e["measure"], g["measure"]
                    ));
                }
                if e["pitches"] != g["pitches"] {
                    out.push(format!(
                        "{at}: pitches music21 {}, got {}",
                        e["pitches"], g["pitches"]
                    ));
                }
                if e["commonName"] != g["common_name"] {
                    out.push(format!(
                        "{at}: commonName music21 {}, got {}",
                        e["commonName"], g["common_name"]
                    ));
                }
                let (ep, gp) = (
                    e["pitchedCommonName"].as_str().unwrap_or(""),
                    g["pitched_common_name"].as_str().unwrap_or(""),
                );
                if ep != gp {
                    out.push(format!(
                        "{at}: pitchedCommonName music21 {ep:?}, got {gp:?}"
                    ));
                }
                let (er, gr) = (
                    e["roman"].as_str().unwrap_or(""),
                    g["roman"].as_str().unwrap_or(""),
                );
                if er != gr {
                    out.push(format!(
                        "{at}: roman music21 {er:?}, got {gr:?} (pitches {})",
                        e["pitches"]
                    ));
                }
            }
            if expected.len() != got.len() {
                out.push(format!(
                    "chords: compared {} in order; music21 listed {}, the tool returned {}",
                    expected.len().min(got.len()),
                    expected.len(),
                    got.len()
                ));
            }
        }
        Err(e) => out.push(format!("chord_analysis: {e}")),
    }
    out
}

#[test]
fn binary_agrees_with_music21_on_the_shared_corpus() {
    let Some(shared) = shared() else {
        println!("skipping: ../shared/oracle not found");
        eprintln!("skipping: ../shared/oracle not found");
        return;
    };
    let text = std::fs::read_to_string(&shared.oracle).expect("read the oracle");
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("oracle line {}: {e}", i + 1))
        })
        .collect();
    assert!(!lines.is_empty(), "the oracle has no lines");

    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    let config = tmp.path().join("oracle.toml");
    let corpus = shared.corpus.canonicalize().expect("corpus dir");
    let corpus_toml = toml_string(&corpus.display().to_string());
    std::fs::write(
        &config,
        format!("[corpus]\ndirs = [{corpus_toml}]\nallowed_dirs = [{corpus_toml}]\n"),
    )
    .expect("write config");

    let mut tally = Tally::default();
    for (i, line) in lines.iter().enumerate() {
        let file = line["file"].as_str().unwrap_or("?").to_string();
        let problems = check_file(line, &data, &config, &format!("oracle-{i}"), &mut tally);
        tally.files += 1;
        if !problems.is_empty() {
            tally.mismatches.insert(file, problems);
        }
    }

    println!(
        "oracle: {} files compared, {} chords compared, {} files with mismatches",
        tally.files,
        tally.chords,
        tally.mismatches.len()
    );
    if !tally.mismatches.is_empty() {
        let mut report = String::new();
        for (file, problems) in &tally.mismatches {
            report.push_str(&format!("\n{file}: {} mismatches\n", problems.len()));
            for p in problems {
                report.push_str(&format!("  - {p}\n"));
            }
        }
        panic!(
            "{} of {} files differ from music21 10.5.1:{report}",
            tally.mismatches.len(),
            tally.files
        );
    }
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let escaped: String = s
        .chars()
        .flat_map(|c| match c {
            '"' => vec!['\\', '"'],
            '\\' => vec!['\\', '\\'],
            c => vec![c],
        })
        .collect();
    format!("\"{escaped}\"")
}
