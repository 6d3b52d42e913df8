//! The `tool` subcommand end to end: exit codes, durability under SIGKILL, corruption,
//! path confinement, and bad input on every tool.

mod common;

use std::io::Read;
use std::process::Stdio;

use common::{bin, Env, Run};
use serde_json::json;

const TUNE: &str = "X:1\nT:Durability Marker Tune\nM:4/4\nL:1/4\nK:G\nGABc|d2B2|c2A2|G4|]\n";

#[test]
fn usage_errors_exit_2_and_tool_errors_exit_1() {
    let no_name: Run = bin().arg("tool").output().unwrap().into();
    assert_eq!(no_name.code, 2, "{}", no_name.stderr);
    let env = Env::new();
    let unknown = env.tool("no_such_tool", json!({}));
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("import_score"),
        "lists the tools: {}",
        unknown.stderr
    );
    let bad_json: Run = env
        .command("list_scores", &json!({}))
        .arg("--args")
        .arg("{not json")
        .output()
        .unwrap()
        .into();
    assert_ne!(bad_json.code, 0);
    let missing = env.tool("score_info", json!({"score_id": "nothing-here"}));
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("nothing-here"),
        "{}",
        missing.stderr
    );
    let listed: Run = bin().args(["tool", "--list"]).output().unwrap().into();
    assert_eq!(listed.code, 0);
    for name in [
        "import_score",
        "key_analysis",
        "voice_leading_analysis",
        "health_check",
    ] {
        assert!(listed.stdout.contains(name), "{name} missing from --list");
    }
}

#[test]
fn version_names_the_revision() {
    let run: Run = bin().arg("--version").output().unwrap().into();
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.contains(env!("CARGO_PKG_VERSION")) && run.stdout.contains("rev "),
        "{}",
        run.stdout
    );
}

#[test]
fn acknowledged_import_survives_sigkill() {
    let env = Env::new();
    for i in 0..5 {
        let id = format!("killed-{i}");
        let mut child = env
            .command(
                "import_score",
                &json!({"score_id": id, "source": TUNE, "source_type": "text"}),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Read the acknowledgement, then SIGKILL at once: no clean shutdown after the answer.
        let mut stdout = child.stdout.take().unwrap();
        let mut answer = String::new();
        let mut byte = [0u8; 1];
        while stdout.read(&mut byte).unwrap() == 1 {
            answer.push(byte[0] as char);
            if answer.trim_end().ends_with("\n}") {
                break;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(answer.contains(&id), "import answered: {answer}");
    }
    let listed = env.tool("list_scores", json!({})).ok();
    assert_eq!(listed["total"], 5, "{listed}");
    for i in 0..5 {
        let info = env
            .tool("score_info", json!({"score_id": format!("killed-{i}")}))
            .ok();
        assert_eq!(info["notes"], 9);
    }
}

#[test]
fn kill_during_import_leaves_a_consistent_store() {
    let env = Env::new();
    env.tool(
        "import_score",
        json!({"score_id": "before", "source": TUNE}),
    )
    .ok();
    for i in 0..5 {
        let mut child = env
            .command(
                "import_score",
                &json!({"score_id": format!("maybe-{i}"), "source": TUNE}),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(3 * i));
        let _ = child.kill();
        let _ = child.wait();
    }
    let listed = env.tool("list_scores", json!({})).ok();
    // Every listed score must read back whole; the one imported before must be there.
    for score in listed["scores"].as_array().unwrap() {
        let id = score["score_id"].as_str().unwrap();
        env.tool("score_info", json!({"score_id": id})).ok();
    }
    assert!(listed["scores"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["score_id"] == "before"));
}

#[test]
fn flipped_byte_on_disk_is_detected_and_never_served() {
    let env = Env::new();
    env.tool(
        "import_score",
        json!({"score_id": "victim", "source": TUNE}),
    )
    .ok();
    env.tool(
        "import_score",
        json!({"score_id": "bystander", "source": TUNE.replace("Marker", "Other")}),
    )
    .ok();
    // The process has exited, so the WAL was checkpointed into the main file.
    let db = env.data_dir().join("scores.sqlite3");
    let mut bytes = std::fs::read(&db).unwrap();
    let needle = b"Durability Marker Tune";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("source bytes are in the database file");
    bytes[at + 3] ^= 0x20;
    std::fs::write(&db, &bytes).unwrap();
    let info = env.tool("score_info", json!({"score_id": "victim"}));
    assert_eq!(info.code, 1);
    assert!(
        info.stderr.contains("'victim' is corrupted"),
        "{}",
        info.stderr
    );
    let export = env.tool("export_score", json!({"score_id": "victim"}));
    assert_eq!(export.code, 1);
    assert!(
        export.stdout.is_empty(),
        "corrupted content must not be served"
    );
    env.tool("score_info", json!({"score_id": "bystander"}))
        .ok();
    let listed = env.tool("list_scores", json!({})).ok();
    assert_eq!(listed["total"], 2);
}

#[test]
fn file_imports_stay_inside_allowed_directories() {
    let outside = tempfile::tempdir().unwrap();
    let allowed = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.abc"), TUNE).unwrap();
    std::fs::write(allowed.path().join("ok.abc"), TUNE).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.abc"),
        allowed.path().join("link.abc"),
    )
    .unwrap();
    let env = Env::with_config(&format!(
        "[corpus]\nallowed_dirs = [\"{}\"]\n",
        allowed.path().display()
    ));
    let ok = env
        .tool(
            "import_score",
            json!({"score_id": "ok", "source": "ok.abc", "source_type": "file"}),
        )
        .ok();
    assert_eq!(ok["notes"], 9);
    let abs = allowed.path().join("ok.abc");
    env.tool(
        "import_score",
        json!({"score_id": "ok2", "source": abs, "source_type": "file"}),
    )
    .ok();
    let escapes = [
        outside.path().join("secret.abc").display().to_string(),
        format!(
            "../{}/secret.abc",
            outside.path().file_name().unwrap().to_string_lossy()
        ),
        "link.abc".to_string(),
    ];
    for source in escapes {
        let run = env.tool(
            "import_score",
            json!({"score_id": "bad", "source": source, "source_type": "file"}),
        );
        assert_eq!(run.code, 1, "{source} must be refused");
        assert!(
            run.stderr.contains("source: not an allowed file"),
            "{source}: {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains(&*outside.path().to_string_lossy()),
            "{source}: the message names the path outside: {}",
            run.stderr
        );
    }
    let disabled = Env::new().tool(
        "import_score",
        json!({"score_id": "x", "source": abs, "source_type": "file"}),
    );
    assert!(
        disabled.stderr.contains("file imports are disabled"),
        "{}",
        disabled.stderr
    );
}

#[test]
fn every_tool_names_the_argument_that_is_wrong() {
    let env = Env::new();
    env.tool("import_score", json!({"score_id": "t", "source": TUNE}))
        .ok();
    let required = [
        ("import_score", "source"),
        ("score_info", "score_id"),
        ("export_score", "score_id"),
        ("delete_score", "score_id"),
        ("transpose_score", "score_id"),
        ("key_analysis", "score_id"),
        ("chord_analysis", "score_id"),
        ("harmony_analysis", "score_id"),
        ("voice_leading_analysis", "score_id"),
        ("pattern_recognition", "score_id"),
    ];
    for (tool, arg) in required {
        let missing = env.tool(tool, json!({}));
        assert_eq!(missing.code, 1, "{tool}");
        assert!(
            missing.stderr.contains(arg),
            "{tool} missing {arg}: {}",
            missing.stderr
        );
        let wrong = env.tool(tool, json!({arg: 42}));
        assert_eq!(wrong.code, 1, "{tool}");
        assert!(
            wrong.stderr.contains(arg),
            "{tool} wrong type: {}",
            wrong.stderr
        );
        let extra = env.tool(tool, json!({"score_id": "t", "bogus_arg": 1}));
        assert!(
            extra.stderr.contains("bogus_arg"),
            "{tool} unknown arg: {}",
            extra.stderr
        );
    }
    let limit = env.tool("list_scores", json!({"limit": "ten"}));
    assert!(limit.stderr.contains("limit"), "{}", limit.stderr);
    let health = env.tool("health_check", json!({"verbose": true}));
    assert!(health.stderr.contains("verbose"), "{}", health.stderr);
    let fmt = env.tool("export_score", json!({"score_id": "t", "format": "pdf"}));
    assert!(fmt.stderr.contains("format"), "{}", fmt.stderr);
    let interval = env.tool(
        "transpose_score",
        json!({"score_id": "t", "interval": "Q9", "new_score_id": "u"}),
    );
    assert!(interval.stderr.contains("interval"), "{}", interval.stderr);
    let not_object: Run = env
        .command("list_scores", &json!([1, 2]))
        .output()
        .unwrap()
        .into();
    assert!(
        not_object.stderr.contains("JSON object"),
        "{}",
        not_object.stderr
    );
}

#[test]
fn damaged_scores_are_clear_errors_never_crashes() {
    let env = Env::new();
    let chorale = env.tool("export_score", json!({"score_id": "none"}));
    assert_eq!(chorale.code, 1);
    let xml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/two-part.musicxml"
    ))
    .unwrap();
    let mut cases: Vec<Vec<u8>> = Vec::new();
    for cut in [1usize, 40, xml.len() / 3, xml.len() / 2, xml.len() - 30] {
        cases.push(xml.as_bytes()[..cut].to_vec());
    }
    for (i, at) in [120usize, 400, 900, 1500].into_iter().enumerate() {
        let mut b = xml.as_bytes().to_vec();
        if at < b.len() {
            b[at] ^= 0xFF >> i;
        }
        cases.push(b);
    }
    let abc = TUNE.as_bytes();
    cases.push(abc[..abc.len() / 2].to_vec());
    cases.push([abc, abc].concat());
    for (i, bytes) in cases.iter().enumerate() {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        let run = env.tool(
            "import_score",
            json!({"score_id": format!("d{i}"), "source": b64, "source_type": "base64", "format": if i < 9 { "musicxml" } else { "abc" }}),
        );
        assert!(
            run.code == 0 || run.code == 1,
            "case {i}: exit {} stderr {}",
            run.code,
            run.stderr
        );
        if run.code == 1 {
            assert!(run.stderr.contains("error ("), "case {i}: {}", run.stderr);
            assert!(!run.stderr.contains("panicked"), "case {i}: {}", run.stderr);
        }
    }
}

#[test]
fn concurrent_processes_share_one_store() {
    let env = Env::new();
    env.tool("list_scores", json!({})).ok(); // create the store first
    let children: Vec<_> = (0..8)
        .map(|i| {
            env.command(
                "import_score",
                &json!({"score_id": format!("p{i}"), "source": TUNE}),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let listed = env.tool("list_scores", json!({})).ok();
    assert_eq!(listed["total"], 8);
}

#[test]
fn config_is_found_by_name_and_errors_name_the_key() {
    let root = env!("CARGO_MANIFEST_DIR");
    let env = Env::new();
    let by_name: Run = env
        .command("health_check", &json!({}))
        .arg("--config")
        .arg("server")
        .current_dir(root)
        .output()
        .unwrap()
        .into();
    assert_eq!(
        by_name.code, 0,
        "configs/server.toml found by name: {}",
        by_name.stderr
    );
    let bad = Env::with_config("[store]\nmax_scores = \"many\"\n");
    let run = bad.tool("health_check", json!({}));
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("test.toml") && run.stderr.contains("max_scores"),
        "{}",
        run.stderr
    );
    let missing: Run = env
        .command("health_check", &json!({}))
        .arg("--config")
        .arg("no-such-config")
        .output()
        .unwrap()
        .into();
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("no-such-config"),
        "{}",
        missing.stderr
    );
}

#[test]
fn data_dir_comes_from_the_environment() {
    let env = Env::new();
    let dir = env.dir.path().join("from-env");
    let run: Run = bin()
        .args(["tool", "import_score", "--args"])
        .arg(json!({"score_id": "e", "source": TUNE}).to_string())
        .env("MUSIC21_PROD_DATA_DIR", &dir)
        .output()
        .unwrap()
        .into();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(dir.join("scores.sqlite3").is_file());
}

/// What `setup --fetch-corpus` leaves behind (a corpus directory recorded in
/// ./configs/server.toml) is what a plain `tool` call in that directory reads, and a score
/// imported without an id is stored under its corpus name.
#[test]
fn default_config_file_and_default_score_ids() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    std::fs::create_dir_all(corpus.join("folk")).unwrap();
    std::fs::write(corpus.join("folk").join("marker.abc"), TUNE).unwrap();
    std::fs::create_dir_all(dir.path().join("configs")).unwrap();
    std::fs::write(
        dir.path().join("configs").join("server.toml"),
        format!(
            "[server]\ndata_dir = {:?}\n[corpus]\ndirs = [{:?}]\n",
            dir.path().join("data").display().to_string(),
            corpus.display().to_string()
        ),
    )
    .unwrap();
    let import = |args: serde_json::Value| -> Run {
        bin()
            .args(["tool", "import_score", "--args"])
            .arg(args.to_string())
            .current_dir(dir.path())
            .env_remove("MUSIC21_PROD_DATA_DIR")
            .output()
            .unwrap()
            .into()
    };
    let by_name = import(json!({"source": "folk/marker"})).ok();
    assert_eq!(by_name["score_id"], "folk/marker");
    assert_eq!(by_name["title"], "Durability Marker Tune");
    assert!(
        dir.path().join("data").join("scores.sqlite3").is_file(),
        "the data dir of ./configs/server.toml was used"
    );
    let again = import(json!({"source": "folk/marker"}));
    assert_eq!(
        again.code, 1,
        "an existing id is an error: {}",
        again.stderr
    );
    assert!(again.stderr.contains("folk/marker"), "{}", again.stderr);
    let inline = import(json!({"source": TUNE, "source_type": "text"})).ok();
    let id = inline["score_id"].as_str().unwrap_or_default();
    assert!(
        id.starts_with("score-") && id.len() == "score-".len() + 12,
        "{id}"
    );
}
