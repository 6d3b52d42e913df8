//! The generation tools end to end through the real binary: `imitate_style` on the shared
//! Bach chorales (when ../shared/corpus is there) and on the built-in corpus, and one
//! `generate_counterpoint` run.

mod common;

use common::{shared_dir, Env};
use serde_json::{json, Value};

/// Checks a stored melody: bars exact, tonic at both ends, closer to its sources than a
/// uniform random walk; prints the distances.
fn check_imitation(env: &Env, out: &Value, label: &str, measures: u64) {
    let d = &out["statistics"]["interval_distances"];
    let js = |name: &str| d[name]["jensen_shannon"].as_f64().unwrap();
    println!(
        "{label}: interval-histogram distance (Jensen-Shannon, bits) result->source {:.4}, uniform walk->source {:.4}, random walk of the same length->source {:.4}, result->uniform {:.4}",
        js("result_to_source"),
        js("uniform_to_source"),
        js("random_walk_to_source"),
        js("result_to_uniform"),
    );
    assert!(
        js("result_to_source") < js("uniform_to_source"),
        "{label}: {d}"
    );
    assert!(
        js("result_to_source") < js("random_walk_to_source"),
        "{label}: {d}"
    );
    assert!(
        js("result_to_source") < js("result_to_uniform"),
        "{label}: {d}"
    );
    assert_eq!(d["closer_than_random"], true);
    assert_eq!(out["bars_exact"], true, "{label}");
    assert_eq!(out["starts_on_tonic"], true, "{label}");
    assert_eq!(out["ends_on_tonic"], true, "{label}");

    // Read the stored score back through the binary: the bars add up.
    let id = out["new_score_id"].as_str().unwrap();
    let info = env.tool("score_info", json!({"score_id": id})).ok();
    assert_eq!(info["measures"].as_u64(), Some(measures), "{label}: {info}");
    let bar: f64 = {
        let ts = out["time_signature"].as_str().unwrap();
        let (n, d) = ts.split_once('/').unwrap();
        n.parse::<f64>().unwrap() * 4.0 / d.parse::<f64>().unwrap()
    };
    assert!(
        (info["duration_quarters"].as_f64().unwrap() - bar * measures as f64).abs() < 1e-9,
        "{label}: {info}"
    );
    let total: f64 = out["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["quarters"].as_f64().unwrap())
        .sum();
    assert!((total - bar * measures as f64).abs() < 1e-9);
}

#[test]
fn imitate_style_of_bach_is_closer_to_bach_than_a_random_walk() {
    let Some(shared) = shared_dir() else {
        println!("skipping: ../shared/corpus not found");
        return;
    };
    let env = Env::with_config(&format!(
        "[corpus]\ndirs = [{:?}]\n",
        shared.join("corpus").display().to_string()
    ));
    let out = env
        .tool(
            "imitate_style",
            json!({"source": "bach/", "measures": 8, "seed": 42, "new_score_id": "bach-style"}),
        )
        .ok();
    assert!(
        out["sources"]["used"].as_array().unwrap().len() >= 30,
        "{}",
        out["sources"]
    );
    check_imitation(&env, &out, "bach/", 8);
    // Deterministic for the seed, across processes.
    let again = env
        .tool(
            "imitate_style",
            json!({"source": "bach/", "measures": 8, "seed": 42, "new_score_id": "bach-style-2"}),
        )
        .ok();
    assert_eq!(again["notes"], out["notes"]);
    assert_eq!(again["sha256"], out["sha256"]);
}

#[test]
fn imitate_style_of_the_builtin_corpus() {
    let env = Env::new();
    let out = env
        .tool("imitate_style", json!({"source": "builtin/", "measures": 12, "seed": 5, "time_signature": "3/4", "key": "D"}))
        .ok();
    assert_eq!(out["key"], "D major");
    check_imitation(&env, &out, "builtin/", 12);
    let bad = env.tool(
        "imitate_style",
        json!({"source": "builtin/", "measures": 0, "seed": 5}),
    );
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("measures"), "{}", bad.stderr);
}

#[test]
fn counterpoint_through_the_binary() {
    let env = Env::new();
    env.tool(
        "import_score",
        json!({"score_id": "cf", "source": "tinyNotation: 4/4 d1 f1 e1 d1 g1 f1 a1 g1 f1 e1 d1", "source_type": "text"}),
    )
    .ok();
    let out = env
        .tool(
            "generate_counterpoint",
            json!({"score_id": "cf", "species": 4, "new_score_id": "cp4", "seed": 1}),
        )
        .ok();
    println!(
        "species 4 above Fux's Dorian cantus firmus: compliance {}%",
        out["compliance"]
    );
    assert_eq!(out["compliance"], 100.0, "{}", out["rules"]);
    assert_eq!(
        out["voice_leading"]["clean"], true,
        "{}",
        out["voice_leading"]
    );
    let bad = env.tool(
        "generate_counterpoint",
        json!({"score_id": "cf", "species": 6, "new_score_id": "x"}),
    );
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("species"), "{}", bad.stderr);
}
