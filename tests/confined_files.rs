//! File imports stay beneath `corpus.allowed_dirs`, driven through the real binary: a file is
//! opened once (no symlink anywhere on the way, no `..`) and read through that same
//! descriptor, so swapping a symlink in while an import runs never reads the file it points
//! to; hard links and anything but a regular file are refused; and every refusal says the
//! same words, so an error never tells what lies outside.

mod common;

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use rmcp::ServiceExt;
use serde_json::{json, Value};

use common::{Env, Run};

/// The one message for every file import that is not allowed.
const REFUSED: &str =
    "source: not an allowed file (file imports read regular files under corpus.allowed_dirs)";

/// A one-part MusicXML score with `title`; `notes` quarter notes C4 in 4/4.
fn musicxml(title: &str, notes: usize) -> String {
    let mut measures = String::new();
    for m in 0..notes.div_ceil(4) {
        measures.push_str(&format!("<measure number=\"{}\">", m + 1));
        if m == 0 {
            measures.push_str(
                "<attributes><divisions>1</divisions><key><fifths>0</fifths></key>\
                 <time><beats>4</beats><beat-type>4</beat-type></time>\
                 <clef><sign>G</sign><line>2</line></clef></attributes>",
            );
        }
        for _ in 0..4 {
            measures.push_str(
                "<note><pitch><step>C</step><octave>4</octave></pitch>\
                 <duration>1</duration><type>quarter</type></note>",
            );
        }
        measures.push_str("</measure>");
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <score-partwise version=\"3.1\"><work><work-title>{title}</work-title></work>\
         <part-list><score-part id=\"P1\"><part-name>Voice</part-name></score-part></part-list>\
         <part id=\"P1\">{measures}</part></score-partwise>\n"
    )
}

/// An `allowed` and an `outside` directory side by side, with a score in each (different
/// titles, so an import that read the outside one is recognisable).
struct Tree {
    _root: tempfile::TempDir,
    allowed: PathBuf,
    outside: PathBuf,
}

impl Tree {
    fn new() -> Tree {
        let root = tempfile::tempdir().expect("tempdir");
        let allowed = root.path().join("allowed");
        let outside = root.path().join("outside");
        std::fs::create_dir_all(&allowed).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(allowed.join("score.xml"), musicxml("Inside Score", 8)).unwrap();
        std::fs::write(outside.join("secret.xml"), musicxml("Outside Secret", 4)).unwrap();
        Tree {
            _root: root,
            allowed,
            outside,
        }
    }

    fn env(&self, extra: &str) -> Env {
        Env::with_config(&format!(
            "[corpus]\nallowed_dirs = [\"{}\"]\n{extra}",
            self.allowed.display()
        ))
    }
}

fn import(env: &Env, source: &str, source_type: &str) -> Run {
    env.tool(
        "import_score",
        json!({"score_id": "x", "source": source, "source_type": source_type, "replace": true}),
    )
}

/// The refusal text of a failed `tool` run (stderr is `music21-prod tool NAME: error (CODE): MESSAGE`).
fn refusal(run: &Run, what: &str) -> String {
    assert_eq!(
        run.code, 1,
        "{what} must be refused; stdout: {}",
        run.stdout
    );
    run.stderr.trim_end().to_string()
}

#[test]
fn outside_paths_of_every_kind_get_one_identical_message() {
    let tree = Tree::new();
    let a = &tree.allowed;
    std::os::unix::fs::symlink(tree.outside.join("secret.xml"), a.join("link.xml")).unwrap();
    std::os::unix::fs::symlink(a.join("score.xml"), a.join("inner-link.xml")).unwrap();
    std::os::unix::fs::symlink(&tree.outside, a.join("dirlink")).unwrap();
    std::fs::create_dir(a.join("sub.xml")).unwrap();
    let env = tree.env("");
    let secret = tree.outside.join("secret.xml").display().to_string();
    let cases = [
        ("an existing file outside", secret.clone()),
        (
            "a missing file outside",
            tree.outside.join("missing.xml").display().to_string(),
        ),
        ("/etc/passwd", "/etc/passwd".to_string()),
        ("/proc/self/environ", "/proc/self/environ".to_string()),
        ("a .. escape", "../outside/secret.xml".to_string()),
        (
            "an absolute .. escape",
            format!("{}/../outside/secret.xml", a.display()),
        ),
        ("a symlink to a file outside", "link.xml".to_string()),
        ("a symlink to a file inside", "inner-link.xml".to_string()),
        (
            "a symlinked directory on the way",
            "dirlink/secret.xml".to_string(),
        ),
        ("a directory", "sub.xml".to_string()),
    ];
    let mut messages = Vec::new();
    for (what, source) in &cases {
        let run = import(&env, source, "file");
        let text = refusal(&run, what);
        assert!(
            text.ends_with(REFUSED),
            "{what} ({source}): expected the one refusal, got: {text}"
        );
        for leak in [
            tree.outside.display().to_string(),
            "secret".into(),
            "/etc".into(),
            "/proc".into(),
            "No such file".into(),
            "os error".into(),
        ] {
            assert!(
                !text.contains(&leak),
                "{what}: the message names {leak}: {text}"
            );
        }
        messages.push(text);
    }
    assert!(
        messages.windows(2).all(|w| w[0] == w[1]),
        "every refusal must be byte-identical: {messages:#?}"
    );
    // Absolute paths go the file way in auto mode too, with the same answer.
    for source in ["/etc/passwd", "/proc/self/environ", secret.as_str()] {
        let run = import(&env, source, "auto");
        assert_eq!(refusal(&run, source), messages[0], "auto: {source}");
    }
    let listed = env.tool("list_scores", json!({})).ok();
    assert_eq!(listed["total"], 0, "nothing was stored: {listed}");
}

#[test]
fn a_hard_link_to_a_file_outside_is_refused_unless_allowed() {
    let tree = Tree::new();
    std::fs::hard_link(
        tree.outside.join("secret.xml"),
        tree.allowed.join("linked.xml"),
    )
    .unwrap();
    let env = tree.env("");
    let text = refusal(&import(&env, "linked.xml", "file"), "a hard link");
    assert!(text.ends_with(REFUSED), "{text}");
    let absolute = tree.allowed.join("linked.xml").display().to_string();
    assert_eq!(
        refusal(&import(&env, &absolute, "file"), "a hard link"),
        text
    );

    let permissive = tree.env("allow_hardlinks = true\n");
    let imported = import(&permissive, "linked.xml", "file").ok();
    assert_eq!(imported["title"], "Outside Secret", "{imported}");
    assert_eq!(
        imported["origin"],
        format!("file:{}", tree.allowed.join("linked.xml").display()),
        "the origin is the path inside the allowed directory"
    );
}

#[test]
fn a_fifo_is_refused_at_once() {
    let tree = Tree::new();
    let fifo = tree.allowed.join("pipe.xml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let env = tree.env("");
    for source in ["pipe.xml".to_string(), fifo.display().to_string()] {
        let args = json!({"score_id": "x", "source": source, "source_type": "file"});
        let started = Instant::now();
        let mut child = env
            .command("import_score", &args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run music21-prod");
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(15) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("importing a FIFO ({source}) blocked");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(status.code(), Some(1), "{source}: {stderr}");
        assert!(stderr.trim_end().ends_with(REFUSED), "{source}: {stderr}");
    }
}

#[test]
fn auto_detection_never_probes_the_working_directory() {
    let tree = Tree::new();
    let cwd = tempfile::tempdir().unwrap();
    std::fs::write(cwd.path().join("probe.xml"), musicxml("Working Dir", 4)).unwrap();
    let env = tree.env("");
    let run_in_cwd = |source: &str| -> Run {
        env.command(
            "import_score",
            &json!({"score_id": "x", "source": source, "replace": true}),
        )
        .current_dir(cwd.path())
        .output()
        .expect("run music21-prod")
        .into()
    };
    // The server's working directory holds probe.xml but not absent.xml: the answers
    // must not differ beyond echoing the name.
    let present = run_in_cwd("probe.xml");
    let absent = run_in_cwd("absent.xml");
    assert_eq!(
        present.code, 1,
        "probe.xml must not be read: {}",
        present.stdout
    );
    assert_eq!(
        present.stderr.replace("probe.xml", "NAME"),
        absent.stderr.replace("absent.xml", "NAME"),
        "existence in the working directory shows"
    );
    // A relative name inside the allowed directory is still found by auto detection.
    let found = env
        .command(
            "import_score",
            &json!({"score_id": "x", "source": "score.xml", "replace": true}),
        )
        .current_dir(cwd.path())
        .output()
        .expect("run music21-prod");
    let found = Run::from(found).ok();
    assert_eq!(found["title"], "Inside Score", "{found}");
    assert_eq!(
        found["origin"],
        format!("file:{}", tree.allowed.join("score.xml").display())
    );
}

// ------------------------------------------------------------------------------ the race

/// Swaps `a` and `b` in `dir` atomically, over and over, until `stop`.
fn swapper(
    dir: PathBuf,
    stop: Arc<AtomicBool>,
    swaps: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let fd = std::fs::File::open(&dir).expect("open the allowed dir");
        while !stop.load(Ordering::Relaxed) {
            nix::fcntl::renameat2(
                fd.as_fd(),
                "score.xml",
                fd.as_fd(),
                "swap",
                nix::fcntl::RenameFlags::RENAME_EXCHANGE,
            )
            .expect("renameat2 RENAME_EXCHANGE");
            swaps.fetch_add(1, Ordering::Relaxed);
        }
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapping_a_symlink_in_during_imports_never_reads_the_file_outside() {
    const IMPORTS: usize = 2000;
    let tree = Tree::new();
    let inside_sha = sha256_hex(&std::fs::read(tree.allowed.join("score.xml")).unwrap());
    std::os::unix::fs::symlink(tree.outside.join("secret.xml"), tree.allowed.join("swap")).unwrap();
    // One client sends a thousand calls as fast as it can: lift the rate limit.
    let env = tree.env(
        "\n[server.rate_limit]\nclient_per_second = 1e6\nclient_burst = 1000000\n\
         global_per_second = 1e6\nglobal_burst = 1000000\n",
    );

    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_music21-prod"));
    cmd.arg("serve")
        .arg("--stdio")
        .arg("--data-dir")
        .arg(env.data_dir())
        .arg("--config")
        .arg(env.config.as_ref().unwrap())
        .env_remove("MUSIC21_PROD_DATA_DIR")
        .env_remove("MUSIC21_PROD_TOKEN")
        .kill_on_drop(true);
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .expect("start serve --stdio");
    let client = tokio::time::timeout(Duration::from_secs(30), ().serve(transport))
        .await
        .expect("initialize in time")
        .expect("initialize over stdio");

    let source = tree.allowed.join("score.xml").display().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicU64::new(0));
    let thread = swapper(tree.allowed.clone(), stop.clone(), swaps.clone());
    let started = Instant::now();
    let (mut inside, mut refused, mut outside, mut others) =
        (0usize, 0usize, Vec::new(), Vec::new());
    for i in 0..IMPORTS {
        let args =
            json!({"score_id": "race", "source": source, "source_type": "file", "replace": true});
        let params = CallToolRequestParams::new("import_score")
            .with_arguments(args.as_object().cloned().unwrap());
        let result = tokio::time::timeout(Duration::from_secs(20), client.call_tool(params))
            .await
            .unwrap_or_else(|_| panic!("import {i}: no answer"))
            .unwrap_or_else(|e| panic!("import {i}: protocol error: {e}"));
        let result: Value = serde_json::to_value(result).unwrap();
        if result["isError"] == json!(true) {
            let text = result["content"][0]["text"].as_str().unwrap_or_default();
            if text == format!("[invalid_argument] {REFUSED}") {
                refused += 1;
            } else {
                others.push(format!("import {i}: {text}"));
            }
        } else {
            let out = &result["structuredContent"];
            if out["title"] == "Inside Score" && out["sha256"] == inside_sha.as_str() {
                inside += 1;
            } else {
                outside.push(format!("import {i}: {}", out["title"]));
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    thread.join().unwrap();
    let _ = client.cancel().await;
    let swaps = swaps.load(Ordering::Relaxed);
    println!(
        "race: {IMPORTS} imports in {:.1?} with {swaps} swaps: {inside} read the inside score, {refused} refused, {} read the file outside, {} other errors",
        started.elapsed(),
        outside.len(),
        others.len()
    );
    assert!(
        outside.is_empty(),
        "{} of {IMPORTS} imports read the file outside, first: {:?}",
        outside.len(),
        &outside[..outside.len().min(5)]
    );
    assert!(
        others.is_empty(),
        "errors other than the one refusal: {:?}",
        &others[..others.len().min(3)]
    );
    assert!(
        swaps > IMPORTS as u64,
        "the swapper hardly ran ({swaps} swaps)"
    );
    assert!(
        inside > 0,
        "no import found the regular file (all {refused} refused)"
    );
    assert!(
        refused > 0,
        "no import met the symlink: the race was not exercised"
    );
}
