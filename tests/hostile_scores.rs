//! Hostile MusicXML through the real binary: spellings of a huge `<fifths>` or of thousands
//! of `<score-part>`s that a byte-pattern guard misses must still be refused before the
//! engine parses them (the engine would take over 10 s on 1e8 fifths), naming the limit.

mod common;

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Env, Run};
use serde_json::{json, Value};

/// The limits these tests assert on, written out so that a change of defaults does not
/// change what is tested.
const LIMITS: &str = "[limits]\nmax_fifths = 12\nmax_parts = 128\n";

/// Longer than the guard needs by far, shorter than the engine takes on 1e8 fifths twice.
const DEADLINE: Duration = Duration::from_secs(20);

/// Runs `import_score` with `args`, killing it after [`DEADLINE`]; returns its result and
/// how long it took, or panics naming `what` when it had to be killed.
fn import(env: &Env, what: &str, args: Value) -> (Run, Duration) {
    let started = Instant::now();
    let mut child = env
        .command("import_score", &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start music21-prod");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: the import was still running after {DEADLINE:?}: the guard let it through to the engine");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    };
    (run, started.elapsed())
}

/// An environment with [`LIMITS`] whose `files` folder may be imported from.
fn env() -> Env {
    let mut env = Env::new();
    let files = env.dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let config = env.dir.path().join("test.toml");
    let dirs = format!("{:?}", files.display().to_string());
    std::fs::write(
        &config,
        format!("{LIMITS}\n[corpus]\nallowed_dirs = [{dirs}]\n"),
    )
    .unwrap();
    env.config = Some(config);
    env
}

/// Imports `text` from a file: a large score does not fit in one command-line argument.
fn import_file(env: &Env, what: &str, id: &str, text: &str) -> (Run, Duration) {
    let path = env.dir.path().join("files").join(format!("{id}.musicxml"));
    std::fs::write(&path, text).unwrap();
    import(
        env,
        what,
        json!({"score_id": id, "source": path, "source_type": "file", "format": "musicxml"}),
    )
}

fn import_text(env: &Env, what: &str, id: &str, text: &str) -> (Run, Duration) {
    import(
        env,
        what,
        json!({"score_id": id, "source": text, "source_type": "text", "format": "musicxml"}),
    )
}

/// A one-part score whose key is `key`.
fn score(key: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 4.0 Partwise//EN" "http://www.musicxml.org/dtds/partwise.dtd">
<score-partwise version="4.0">
  <part-list><score-part id="P1"><part-name>Music</part-name></score-part></part-list>
  <part id="P1">
    <measure number="1">
      <attributes><divisions>1</divisions><key>{key}<mode>major</mode></key><time><beats>4</beats><beat-type>4</beat-type></time></attributes>
      <note><pitch><step>C</step><octave>4</octave></pitch><duration>4</duration><type>whole</type></note>
    </measure>
  </part>
</score-partwise>
"#
    )
}

/// A score of `count` one-measure parts, each `<score-part>` spelt with a newline.
fn many_parts(count: usize) -> String {
    let list: String = (0..count)
        .map(|i| format!("<score-part\nid=\"P{i}\"><part-name>{i}</part-name></score-part>\n"))
        .collect();
    let parts: String = (0..count)
        .map(|i| {
            format!(
                "<part id=\"P{i}\"><measure number=\"1\"><attributes><divisions>1</divisions></attributes>\
                 <note><pitch><step>C</step><octave>4</octave></pitch><duration>4</duration><type>whole</type></note>\
                 </measure></part>\n"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?>\n<score-partwise version=\"4.0\"><part-list>{list}</part-list>{parts}</score-partwise>\n"
    )
}

fn assert_refused(what: &str, run: &Run, took: Duration, key: &str) {
    assert_eq!(
        run.code, 1,
        "{what}: expected a refusal (exit 1), got {}; stderr: {}",
        run.code, run.stderr
    );
    assert!(
        run.stderr.contains(&format!("limits.{key}")),
        "{what}: the refusal names limits.{key}: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("refused before parsing"),
        "{what}: {}",
        run.stderr
    );
    assert!(
        took < Duration::from_secs(10),
        "{what}: refused, but only after {took:?}"
    );
}

#[test]
fn huge_fifths_are_refused_however_spelt() {
    let env = env();
    for (what, key) in [
        ("a space before >", "<fifths >100000000</fifths>"),
        ("CDATA", "<fifths><![CDATA[100000000]]></fifths>"),
        (
            "a comment splitting the digits",
            "<fifths>1<!-- x -->00000000</fifths>",
        ),
        (
            "character references",
            "<fifths>&#49;&#48;&#48;&#48;&#48;&#x30;&#x30;&#X30;&#48;</fifths>",
        ),
        ("an exponent", "<fifths>1e8</fifths>"),
    ] {
        let (run, took) = import_text(&env, what, "hostile", &score(key));
        assert_refused(what, &run, took, "max_fifths");
    }
    let (run, _) = import_text(
        &env,
        "a key within the limit",
        "fine",
        &score("<fifths >-3</fifths>"),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn thousands_of_parts_are_refused_however_spelt() {
    let env = env();
    let (run, took) = import_file(&env, "2000 parts", "parts", &many_parts(2000));
    assert_refused("2000 <score-part\\n...> parts", &run, took, "max_parts");
    let (run, _) = import_file(&env, "3 parts", "three", &many_parts(3));
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// The engine searches for a `;` afresh after each `&` that starts no reference: a part
/// name of a million `&`s and one `;` would take it minutes.
#[test]
fn ampersands_without_references_are_refused() {
    let env = env();
    let name = format!("{};", "&".repeat(1_000_000));
    let text = score("<fifths>1</fifths>").replace(
        "<part-name>Music</part-name>",
        &format!("<part-name>{name}</part-name>"),
    );
    let (run, took) = import_file(&env, "ampersands", "amp", &text);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("&amp;"), "{}", run.stderr);
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn malformed_musicxml_is_a_clear_parse_error() {
    let env = env();
    let text = score("<fifths>1</fifths>").replace("</part>", "<open");
    let (run, _) = import_text(&env, "malformed", "bad", &text);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("not well-formed") && run.stderr.contains("at byte"),
        "{}",
        run.stderr
    );
}

#[test]
fn normal_scores_still_import() {
    let env = env();
    let root = env!("CARGO_MANIFEST_DIR");
    for (id, path) in [
        ("chorale", "corpus/builtin/chorale-g-major.xml"),
        ("two-part", "tests/fixtures/two-part.musicxml"),
    ] {
        let text = std::fs::read_to_string(format!("{root}/{path}")).unwrap();
        let (run, _) = import_text(&env, path, id, &text);
        assert_eq!(run.code, 0, "{path}: {}", run.stderr);
    }
}

/// An .mxl whose container names its rootfile with single quotes and spaces round `=`.
#[test]
fn an_mxl_container_is_read_as_xml() {
    use base64::Engine as _;
    use std::io::Write;
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        let options = zip::write::SimpleFileOptions::default();
        zip.start_file("META-INF/container.xml", options).unwrap();
        zip.write_all(
            b"<?xml version='1.0'?>\n<container>\n<rootfiles>\n<rootfile media-type='application/vnd.recordare.musicxml+xml'\n  full-path = 'music/score.xml'/>\n</rootfiles>\n</container>\n",
        )
        .unwrap();
        zip.start_file("music/score.xml", options).unwrap();
        zip.write_all(score("<fifths>2</fifths>").as_bytes())
            .unwrap();
        zip.finish().unwrap();
    }
    let env = env();
    let source = base64::engine::general_purpose::STANDARD.encode(buf.get_ref());
    let (run, _) = import(
        &env,
        "mxl",
        json!({"score_id": "mxl", "source": source, "source_type": "base64", "format": "mxl"}),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
}
