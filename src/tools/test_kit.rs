//! What the tool tests share: a tool context on a fresh store, calls by name, imports, and
//! small scores written out as MusicXML. One set, so that every test module reads alike and
//! a change to how tools are called is made once.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::config::Config;
use crate::error::ToolResult;
use crate::tools::{Registry, ToolContext};

/// `../shared/corpus` beside the checkout, when it holds the Bach chorales the tests read.
pub fn shared_corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    dir.join("bach/bwv66.6.mxl").is_file().then_some(dir)
}

/// A context over a fresh store in a temporary directory (kept alive by the guard), with
/// the shared corpus configured when it exists.
pub fn context() -> (tempfile::TempDir, ToolContext) {
    context_with(|_| {})
}

/// [`context`] with the config changed first (a limit lowered, the corpus left out).
pub fn context_with(configure: impl FnOnce(&mut Config)) -> (tempfile::TempDir, ToolContext) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut config = Config::default();
    config.server.data_dir = dir.path().join("data");
    if let Some(corpus) = shared_corpus() {
        config.corpus.dirs = vec![corpus];
    }
    configure(&mut config);
    let ctx = ToolContext::open(config).expect("tool context");
    (dir, ctx)
}

pub fn call(ctx: &ToolContext, tool: &str, args: Value) -> ToolResult<Value> {
    Registry::shared().call(ctx, tool, args)
}

/// Imports `source` (a corpus name, or a score's text, told apart as `import_score`'s
/// `auto` tells them) under `id`, replacing a score already there.
pub fn import(ctx: &ToolContext, id: &str, source: &str) {
    call(
        ctx,
        "import_score",
        json!({"score_id": id, "source": source, "replace": true}),
    )
    .unwrap_or_else(|e| panic!("importing {id}: {e}"));
}

/// Imports a score's text under `id`, its format detected.
pub fn import_text(ctx: &ToolContext, id: &str, text: &str) {
    call(
        ctx,
        "import_score",
        json!({"score_id": id, "source": text, "source_type": "text"}),
    )
    .unwrap_or_else(|e| panic!("importing {id}: {e}"));
}

/// Imports a score's text under `id` in the format named.
pub fn import_text_as(ctx: &ToolContext, id: &str, text: &str, format: &str) {
    call(
        ctx,
        "import_score",
        json!({"score_id": id, "source": text, "source_type": "text", "format": format}),
    )
    .unwrap_or_else(|e| panic!("importing {id}: {e}"));
}

/// A context with bwv66.6 from the shared corpus stored as `b`; nothing (the test should
/// skip) when the shared corpus is absent.
pub fn bwv66_context() -> Option<(tempfile::TempDir, ToolContext)> {
    if shared_corpus().is_none() {
        eprintln!("skipping: ../shared/corpus not found");
        return None;
    }
    let (dir, ctx) = context();
    call(
        &ctx,
        "import_score",
        json!({"score_id": "b", "source": "bach/bwv66.6", "source_type": "corpus"}),
    )
    .unwrap_or_else(|e| panic!("import bwv66.6: {e}"));
    Some((dir, ctx))
}

fn note_xml(pitch: &str, quarters: u32) -> String {
    let kind = match quarters {
        1 => "<type>quarter</type>",
        2 => "<type>half</type>",
        3 => "<type>half</type><dot/>",
        4 => "<type>whole</type>",
        other => panic!("no note value for {other} quarters in the test helper"),
    };
    if pitch == "r" {
        return format!("<note><rest/><duration>{quarters}</duration>{kind}</note>");
    }
    let mut chars = pitch.chars();
    let step = chars.next().expect("a step");
    let rest: String = chars.collect();
    let (alter, octave) = match rest.as_bytes().first() {
        Some(b'#') => ("<alter>1</alter>", &rest[1..]),
        Some(b'-') => ("<alter>-1</alter>", &rest[1..]),
        _ => ("", rest.as_str()),
    };
    format!(
        "<note><pitch><step>{step}</step>{alter}<octave>{octave}</octave></pitch><duration>{quarters}</duration>{kind}</note>"
    )
}

/// A partwise MusicXML score in 4/4, one quarter = one division: parts of measures of
/// (pitch or "r", quarters).
pub fn musicxml(parts: &[&[&[(&str, u32)]]]) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<score-partwise version=\"3.1\"><part-list>",
    );
    for i in 0..parts.len() {
        xml.push_str(&format!(
            "<score-part id=\"P{i}\"><part-name>Voice {}</part-name></score-part>",
            i + 1
        ));
    }
    xml.push_str("</part-list>");
    for (i, measures) in parts.iter().enumerate() {
        xml.push_str(&format!("<part id=\"P{i}\">"));
        for (m, notes) in measures.iter().enumerate() {
            xml.push_str(&format!("<measure number=\"{}\">", m + 1));
            if m == 0 {
                xml.push_str("<attributes><divisions>1</divisions><key><fifths>0</fifths></key><time><beats>4</beats><beat-type>4</beat-type></time><clef><sign>G</sign><line>2</line></clef></attributes>");
            }
            for (pitch, quarters) in notes.iter() {
                xml.push_str(&note_xml(pitch, *quarters));
            }
            xml.push_str("</measure>");
        }
        xml.push_str("</part>");
    }
    xml.push_str("</score-partwise>");
    xml
}

/// Four parts (soprano, alto, tenor, bass) of MusicXML in 4/4 with `fifths` in the key
/// signature, one quarter per division. Each voice is a list of `PITCH:QUARTERS` tokens,
/// `F#4:2` or `B-3:1`, an `f` after the length for a fermata (`C5:4f`), and `|` between
/// measures.
pub fn four_parts(fifths: i32, voices: [&str; 4]) -> String {
    let names = ["Soprano", "Alto", "Tenor", "Bass"];
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<score-partwise version=\"3.1\">\n<part-list>\n",
    );
    for (i, name) in names.iter().enumerate() {
        xml.push_str(&format!(
            "<score-part id=\"P{}\"><part-name>{name}</part-name></score-part>\n",
            i + 1
        ));
    }
    xml.push_str("</part-list>\n");
    for (i, voice) in voices.iter().enumerate() {
        let (sign, line) = if i == 3 { ("F", 4) } else { ("G", 2) };
        xml.push_str(&format!(
            "<part id=\"P{}\">\n<measure number=\"1\"><attributes><divisions>1</divisions><key><fifths>{fifths}</fifths></key><time><beats>4</beats><beat-type>4</beat-type></time><clef><sign>{sign}</sign><line>{line}</line></clef></attributes>\n",
            i + 1
        ));
        let mut measure = 1;
        for token in voice.split_whitespace() {
            if token == "|" {
                measure += 1;
                xml.push_str(&format!("</measure>\n<measure number=\"{measure}\">\n"));
                continue;
            }
            let (pitch, length) = token.split_once(':').expect("PITCH:QUARTERS");
            let fermata = length.ends_with('f');
            let quarters: u32 = length.trim_end_matches('f').parse().expect("quarters");
            let step = &pitch[..1];
            let octave = &pitch[pitch.len() - 1..];
            let alter = match &pitch[1..pitch.len() - 1] {
                "#" => "<alter>1</alter>",
                "-" => "<alter>-1</alter>",
                _ => "",
            };
            let kind = match quarters {
                1 => "quarter",
                2 => "half",
                _ => "whole",
            };
            let notations = if fermata {
                "<notations><fermata/></notations>"
            } else {
                ""
            };
            xml.push_str(&format!(
                "<note><pitch><step>{step}</step>{alter}<octave>{octave}</octave></pitch><duration>{quarters}</duration><type>{kind}</type>{notations}</note>\n"
            ));
        }
        xml.push_str("</measure>\n</part>\n");
    }
    xml.push_str("</score-partwise>\n");
    xml
}

/// A four-part phrase in G major: I IV V(fermata) | I ii6 V7 | I(fermata), the soprano
/// ending on G: a half cadence in measure 1, a perfect authentic one in measure 3.
pub fn g_major_chorale() -> String {
    four_parts(
        1,
        [
            "B4:1 C5:1 D5:2f | D5:1 C5:1 A4:2 | G4:4f",
            "G4:1 G4:1 F#4:2f | G4:1 E4:1 F#4:2 | D4:4f",
            "D4:1 E4:1 A3:2f | B3:1 A3:1 C4:2 | B3:4f",
            "G3:1 C3:1 D3:2f | G3:1 C3:1 D3:2 | G2:4f",
        ],
    )
}
