//! Every command in the README is real: this test extracts the `music21-prod` lines of its
//! shell blocks and runs the quick ones against the real binary. Long-running or networked
//! ones (serve, stress, the dashboard, fetching the corpus) must be listed below with why,
//! so a new README command cannot slip in untested.

mod common;

use std::path::Path;

use common::{bin, Run};

/// Prefixes of README commands not run here, and why.
const NOT_RUN_HERE: &[(&str, &str)] = &[
    (
        "serve",
        "runs until stopped; tests/serve.rs drives the server",
    ),
    (
        "stress",
        "minutes long; .ci/run runs `stress --config smoke` and checks its verdict",
    ),
    (
        "monitor",
        "a live terminal dashboard; src/monitor tests render it, tests/serve.rs checks its sources",
    ),
    (
        "setup --fetch-corpus",
        "downloads from PyPI; tested by hand (see the issue notes)",
    ),
];

fn readme_commands() -> Vec<String> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let mut out = Vec::new();
    let mut in_sh = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_sh = line.trim() == "```sh";
            continue;
        }
        if in_sh {
            let command = line.split(" # ").next().unwrap_or("").trim();
            if let Some(rest) = command.strip_prefix("music21-prod ") {
                out.push(rest.to_string());
            }
        }
    }
    out
}

/// Splits a command line the way a POSIX shell would for these simple lines: single quotes
/// keep their contents whole.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any {
                    words.push(std::mem::take(&mut current));
                    any = false;
                }
            }
            c => {
                current.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(current);
    }
    words
}

#[test]
fn every_readme_command_runs_or_is_listed_with_a_reason() {
    let commands = readme_commands();
    assert!(commands.len() >= 15, "found {} commands", commands.len());
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/results-v1.json");
    let mut ran = 0;
    for command in &commands {
        if NOT_RUN_HERE
            .iter()
            .any(|(prefix, _)| command.starts_with(prefix))
        {
            continue;
        }
        let mut words = shell_words(command);
        // The report commands name a run's results: use the fixture.
        for w in words.iter_mut() {
            if w.ends_with("results.json") {
                *w = fixture.display().to_string();
            }
            if w == "report.html" {
                *w = dir.path().join("report.html").display().to_string();
            }
        }
        let run: Run = bin()
            .args(&words)
            .current_dir(dir.path())
            .env("MUSIC21_PROD_DATA_DIR", dir.path().join("data"))
            .output()
            .unwrap()
            .into();
        let allowed = if command.starts_with("setup") {
            // Whether every check passes depends on the machine; the command must run and answer.
            run.code == 0 || run.code == 1
        } else {
            run.code == 0
        };
        assert!(
            allowed,
            "README command `music21-prod {command}` exited {}: {}",
            run.code, run.stderr
        );
        ran += 1;
    }
    assert!(ran >= 15, "ran {ran} README commands");
}

#[test]
fn shell_words_keep_quoted_json_whole() {
    assert_eq!(
        shell_words(r#"tool key_analysis --args '{"score_id":"c d"}'"#),
        vec!["tool", "key_analysis", "--args", r#"{"score_id":"c d"}"#]
    );
}
