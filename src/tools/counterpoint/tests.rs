use super::*;
use crate::music::format::Format;
use crate::music::parse::parse_score;
use crate::music::pitch::{SpelledPitch, LETTERS};
use crate::tools::test_kit::{call, context, import, shared_corpus};
use serde_json::json;

/// A one-part MusicXML score of whole notes in 4/4 with `fifths` in the key signature.
fn cf_xml(fifths: i32, notes: &[&str]) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<score-partwise version=\"3.1\"><part-list><score-part id=\"P1\"><part-name>CF</part-name></score-part></part-list><part id=\"P1\">");
    for (i, name) in notes.iter().enumerate() {
        let t = SpelledPitch::parse(name).expect("tone");
        let step = LETTERS[t.letter()];
        let attrs = if i == 0 {
            format!("<attributes><divisions>1</divisions><key><fifths>{fifths}</fifths></key><time><beats>4</beats><beat-type>4</beat-type></time><clef><sign>G</sign><line>2</line></clef></attributes>")
        } else {
            String::new()
        };
        let alter = if t.alter != 0 {
            format!("<alter>{}</alter>", t.alter)
        } else {
            String::new()
        };
        xml.push_str(&format!(
                "<measure number=\"{}\">{attrs}<note><pitch><step>{step}</step>{alter}<octave>{}</octave></pitch><duration>4</duration><type>whole</type></note></measure>",
                i + 1,
                t.octave()
            ));
    }
    xml.push_str("</part></score-partwise>\n");
    xml
}

/// The built-in cantus firmi: Fux's six (Gradus ad Parnassum), two in major and minor,
/// a D minor line with its flat, and the soprano of builtin/chorale-g-major reduced to
/// one note per bar (imported by `builtin_suite`).
const CANTI: [(&str, i32, &str); 9] = [
    ("fux-dorian", 0, "D4 F4 E4 D4 G4 F4 A4 G4 F4 E4 D4"),
    ("fux-phrygian", 0, "E4 C4 D4 C4 A3 A4 G4 E4 F4 E4"),
    ("fux-lydian", 0, "F4 G4 A4 F4 D4 E4 F4 C5 A4 F4 G4 F4"),
    (
        "fux-mixolydian",
        0,
        "G4 C5 B4 G4 C5 E5 D5 G5 E5 C5 D5 B4 A4 G4",
    ),
    ("fux-aeolian", 0, "A3 C4 B3 D4 C4 E4 F4 E4 D4 C4 B3 A3"),
    ("fux-ionian", 0, "C4 E4 F4 G4 E4 A4 G4 E4 F4 E4 D4 C4"),
    ("c-major", 0, "C4 D4 F4 E4 G4 A4 G4 E4 D4 C4"),
    ("a-minor", 0, "A3 C4 B3 E4 D4 C4 D4 B3 A3"),
    ("d-minor", -1, "D4 A4 B-4 G4 F4 E4 G4 F4 E4 D4"),
];

/// The top line of a part, one note per bar: the last note that starts in each bar
/// (what leads into the next), at most 16 bars (the last 16).
fn reduce_top_line(score: &Stream) -> Vec<SpelledPitch> {
    let parts = parts_of(score);
    let top = parts[0];
    let grid = MeasureGrid::of(score);
    let mut per_bar: Vec<(i64, SpelledPitch)> = Vec::new();
    for e in part_events(top) {
        if let StreamElement::Note(n) = e.element {
            if matches!(
                n.tie().map(|t| t.tie_type()),
                Some(TieType::Stop | TieType::Continue)
            ) {
                continue;
            }
            let Some(t) = SpelledPitch::from_pitch(n.pitch()) else {
                continue;
            };
            let measure = grid.position(e.offset).measure;
            match per_bar.last_mut() {
                Some((m, tone)) if *m == measure => *tone = t,
                _ => per_bar.push((measure, t)),
            }
        }
    }
    let tones: Vec<SpelledPitch> = per_bar.into_iter().map(|(_, t)| t).collect();
    tones[tones.len().saturating_sub(16)..].to_vec()
}

fn fifths_of(score: &Stream) -> i32 {
    score
        .recurse()
        .into_iter()
        .find_map(|(_, e)| match e {
            StreamElement::KeySignature(k) => Some(k.sharps()),
            StreamElement::Key(k) => Some(k.sharps()),
            _ => None,
        })
        .unwrap_or(0)
}

/// Imports every cantus firmus of a suite; returns their ids.
fn builtin_suite(ctx: &ToolContext) -> Vec<String> {
    let mut ids = Vec::new();
    for (id, fifths, notes) in CANTI {
        let names: Vec<&str> = notes.split_whitespace().collect();
        import(ctx, id, &cf_xml(fifths, &names));
        ids.push(id.to_string());
    }
    let piece = crate::music::corpus::resolve("builtin/chorale-g-major", &[]).expect("builtin");
    let score = parse_score(&piece.bytes, piece.format, None, &ctx.config.limits).expect("parse");
    let line = reduce_top_line(&score);
    let names: Vec<String> = line.iter().map(|t| t.name()).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    import(
        ctx,
        "chorale-g-major-soprano",
        &cf_xml(fifths_of(&score), &refs),
    );
    ids.push("chorale-g-major-soprano".into());
    ids
}

/// The end of a chorale's soprano line: its last phrases (phrases end at fermatas) back
/// to at least 8 notes, at most the last 16 notes.
fn soprano_ending(score: &Stream) -> Vec<SpelledPitch> {
    let parts = parts_of(score);
    let soprano = parts
        .iter()
        .enumerate()
        .find(|(i, p)| {
            crate::music::timeline::part_name(p, *i)
                .to_ascii_lowercase()
                .contains("soprano")
        })
        .map(|(_, p)| *p)
        .unwrap_or(parts[0]);
    let notes: Vec<crate::music::melody::MelodyNote> = crate::music::melody::melody_of(soprano)
        .into_iter()
        .filter_map(|item| match item {
            crate::music::melody::MelodyItem::Note(n) => Some(n),
            crate::music::melody::MelodyItem::Rest { .. } => None,
        })
        .collect();
    // Phrase starts: after each fermata but the last note's.
    let mut start = notes.len();
    for (i, n) in notes.iter().enumerate().rev().skip(1) {
        if n.fermata {
            start = i + 1;
            if notes.len() - start >= 8 {
                break;
            }
        }
    }
    if notes.len() - start.min(notes.len()) < 8 {
        start = notes.len().saturating_sub(16);
    }
    let start = start.max(notes.len().saturating_sub(16));
    notes[start..]
        .iter()
        .filter_map(|n| SpelledPitch::from_pitch(&n.pitch))
        .collect()
}

/// The endings of the soprano lines of the first ten four-part chorales in
/// ../shared/corpus/bach; nothing when the shared corpus is absent.
fn chorale_suite(ctx: &ToolContext) -> Vec<String> {
    let Some(dir) = shared_corpus() else {
        eprintln!("skipping the chorale suite: ../shared/corpus not found");
        return Vec::new();
    };
    let mut files: Vec<_> = std::fs::read_dir(dir.join("bach"))
        .expect("read bach")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "mxl"))
        .collect();
    files.sort();
    let mut ids = Vec::new();
    for path in files {
        if ids.len() == 10 {
            break;
        }
        let bytes = std::fs::read(&path).expect("read chorale");
        let Ok(score) = parse_score(&bytes, Format::Mxl, None, &ctx.config.limits) else {
            continue;
        };
        if parts_of(&score).len() != 4 {
            continue; // not a plain four-part chorale
        }
        let line = soprano_ending(&score);
        if line.len() < 8 {
            continue;
        }
        let names: Vec<String> = line.iter().map(|t| t.name()).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let id = format!("soprano-{}", path.file_stem().unwrap().to_string_lossy());
        import(ctx, &id, &cf_xml(fifths_of(&score), &refs));
        ids.push(id);
    }
    ids
}

// ------------------------------------------------------------ the independent checker

/// A note read back from the stored score: onset and length in quarters, MIDI number,
/// staff position.
#[derive(Clone, Copy, Debug)]
struct Heard {
    onset: f64,
    length: f64,
    midi: i32,
    dia: i32,
}

/// The notes of a stored part, tied notes joined.
fn heard(part: &Stream) -> Vec<Heard> {
    let mut out: Vec<Heard> = Vec::new();
    for e in part_events(part) {
        let StreamElement::Note(n) = e.element else {
            continue;
        };
        let tie = n.tie().map(|t| t.tie_type());
        if matches!(tie, Some(TieType::Stop | TieType::Continue)) {
            out.last_mut().expect("a tie continues a note").length += e.element.quarter_length();
            continue;
        }
        out.push(Heard {
            onset: e.offset,
            length: e.element.quarter_length(),
            midi: n.pitch().midi(),
            dia: n.pitch().diatonic_note_number(),
        });
    }
    out
}

fn consonant(semis: i32) -> bool {
    matches!(semis.rem_euclid(12), 0 | 3 | 4 | 7 | 8 | 9)
}

fn perfect(semis: i32) -> Option<i32> {
    match semis.rem_euclid(12) {
        0 => Some(0),
        7 => Some(7),
        _ => None,
    }
}

/// Checks the stored counterpoint with a small rule set of its own, apart from the
/// tool's checker; returns the faults found.
fn independent_faults(cp: &[Heard], cf: &[Heard], species: u8, above: bool) -> Vec<String> {
    let mut faults = Vec::new();
    let sounding = |line: &[Heard], t: f64| {
        line.iter()
            .copied()
            .find(|h| h.onset <= t + 1e-9 && t < h.onset + h.length - 1e-9)
    };
    // Every time either voice starts a note.
    let mut times: Vec<f64> = cp.iter().chain(cf).map(|h| h.onset).collect();
    times.sort_by(f64::total_cmp);
    times.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
    let verts: Vec<(f64, Heard, Heard)> = times
        .iter()
        .filter_map(|&t| Some((t, sounding(cp, t)?, sounding(cf, t)?)))
        .collect();
    let end = cf.last().map(|h| h.onset + h.length).unwrap_or(0.0);
    let cp_end = cp.last().map(|h| h.onset + h.length).unwrap_or(0.0);
    if (end - cp_end).abs() > 1e-9 {
        faults.push(format!(
            "the counterpoint ends at {cp_end}, the cantus firmus at {end}"
        ));
    }
    for w in cp.windows(2) {
        if (w[0].onset + w[0].length - w[1].onset).abs() > 1e-9 {
            faults.push(format!("gap or overlap at {}", w[1].onset));
        }
    }
    for &(t, c, f) in &verts {
        let semis = if above {
            c.midi - f.midi
        } else {
            f.midi - c.midi
        };
        if semis < 0 {
            faults.push(format!("crossing at {t}"));
        }
        if semis > 19 {
            faults.push(format!("more than a twelfth apart at {t}"));
        }
        if semis == 0 && t > 0.0 + cp[0].onset + 1e-9 && t < end - 4.0 - 1e-9 {
            faults.push(format!("inner unison at {t}"));
        }
        if consonant(semis) {
            continue;
        }
        let downbeat = (t % 4.0).abs() < 1e-9;
        let i = cp
            .iter()
            .position(|h| (h.onset - c.onset).abs() < 1e-9)
            .expect("note");
        let onset_here = (c.onset - t).abs() < 1e-9;
        if downbeat && !onset_here && matches!(species, 4 | 5) {
            // A suspension: prepared, resolving down by step to a consonance.
            let prep = sounding(cf, c.onset).expect("cf");
            let prep_ok = consonant(if above {
                c.midi - prep.midi
            } else {
                prep.midi - c.midi
            });
            let res = cp.get(i + 1);
            let res_ok = res.is_some_and(|r| {
                let s = if above {
                    r.midi - f.midi
                } else {
                    f.midi - r.midi
                };
                (c.midi - r.midi == 1 || c.midi - r.midi == 2) && consonant(s)
            });
            if !prep_ok || !res_ok {
                faults.push(format!("badly treated suspension at {t}"));
            }
            continue;
        }
        if downbeat || species == 1 {
            faults.push(format!("dissonance on the downbeat at {t}"));
            continue;
        }
        let (Some(p), Some(x)) = (i.checked_sub(1).map(|j| cp[j]), cp.get(i + 1)) else {
            faults.push(format!("dissonance at the edge at {t}"));
            continue;
        };
        let by_step = |a: i32, b: i32| (1..=2).contains(&(a - b).abs());
        if !(by_step(c.midi, p.midi) && by_step(x.midi, c.midi)) {
            faults.push(format!("dissonance not passing or neighbouring at {t}"));
        }
    }
    // Parallel and direct perfect intervals between neighbouring verticals.
    for w in verts.windows(2) {
        let ((t, c0, f0), (_, c1, f1)) = (w[0], w[1]);
        let (dc, df) = (c1.midi - c0.midi, f1.midi - f0.midi);
        if dc == 0 || df == 0 {
            continue;
        }
        let (i0, i1) = ((c0.midi - f0.midi).abs(), (c1.midi - f1.midi).abs());
        if let Some(p1) = perfect(i1) {
            if perfect(i0) == Some(p1) {
                faults.push(format!("parallel perfect interval after {t}"));
            } else if dc.signum() == df.signum() {
                faults.push(format!("direct perfect interval after {t}"));
            }
        }
    }
    // The melody: leaps, tritones, repeats, climax, range.
    for (i, w) in cp.windows(2).enumerate() {
        let semis = w[1].midi - w[0].midi;
        let steps = w[1].dia - w[0].dia;
        if semis == 0 {
            faults.push(format!("repeated note at {}", w[1].onset));
        }
        if semis.abs() == 6 {
            faults.push(format!("tritone leap at {}", w[1].onset));
        }
        let allowed = matches!(semis.abs(), 1 | 2 | 3 | 4 | 5 | 7 | 12) || semis == 8;
        if !allowed {
            faults.push(format!("leap of {semis} semitones at {}", w[1].onset));
        }
        if steps.abs() >= 3 {
            if let Some(n) = cp.get(i + 2) {
                let next = n.midi - w[1].midi;
                if !((1..=2).contains(&next.abs()) && next.signum() == -semis.signum()) {
                    faults.push(format!("leap not recovered at {}", n.onset));
                }
            }
        }
    }
    let top = cp.iter().map(|h| h.midi).max().unwrap_or(0);
    if cp.iter().filter(|h| h.midi == top).count() != 1 {
        faults.push("more than one climax".into());
    }
    let bottom = cp.iter().map(|h| h.midi).min().unwrap_or(0);
    if top - bottom > 19 {
        faults.push("range over a twelfth".into());
    }
    // Beginning, end and cadence.
    let (first_c, first_f) = (cp[0], sounding(cf, cp[0].onset).expect("cf"));
    let first = (first_c.midi - first_f.midi).abs();
    if !(perfect(first) == Some(0) || (above && perfect(first) == Some(7))) {
        faults.push("no perfect beginning".into());
    }
    let (last_c, last_f) = (cp[cp.len() - 1], cf[cf.len() - 1]);
    if perfect((last_c.midi - last_f.midi).abs()) != Some(0) {
        faults.push("no octave or unison at the end".into());
    }
    let (pen_c, pen_f) = (cp[cp.len() - 2], cf[cf.len() - 2]);
    let (mc, mf) = (last_c.midi - pen_c.midi, last_f.midi - pen_f.midi);
    let steps = (1..=2).contains(&mc.abs()) && (1..=2).contains(&mf.abs());
    if !(steps && mc.signum() == -mf.signum() && (mc.abs() == 1 || mf.abs() == 1)) {
        faults.push("no cadence with a leading tone".into());
    }
    faults
}

/// The stored result read back: (counterpoint, cantus firmus), bars checked.
fn read_back(ctx: &ToolContext, id: &str, above: bool, bars: usize) -> (Vec<Heard>, Vec<Heard>) {
    let score = ctx.load(id).expect("stored").score;
    let parts = parts_of(&score);
    assert_eq!(parts.len(), 2, "two parts");
    let (cp_part, cf_part) = if above {
        (parts[0], parts[1])
    } else {
        (parts[1], parts[0])
    };
    for part in [cp_part, cf_part] {
        let measures = part.measures();
        assert_eq!(measures.len(), bars, "one measure per cantus firmus note");
        for m in measures {
            let filled: f64 = part_events(m)
                .iter()
                .map(|e| e.element.quarter_length())
                .sum();
            assert!(
                (filled - 4.0).abs() < 1e-9,
                "measure {} holds {filled} quarters",
                m.number()
            );
        }
    }
    (heard(cp_part), heard(cf_part))
}

/// Runs one species over a suite, both voices; asserts that at least 9 in 10 of the runs
/// that can meet every rule do (tool checker, independent checker and voice-leading
/// analysis alike) and that the rest list real violations. A cantus firmus that does not
/// reach its final by step cannot have a clausula vera, so its runs are not counted.
fn species_over_suite(species: u8, ids: &[String], ctx: &ToolContext) {
    if ids.is_empty() {
        return;
    }
    let mut perfect_runs = 0;
    let mut runs = 0;
    let mut impossible = 0;
    let mut report = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        for above in [true, false] {
            let new_id = format!("{id}-s{species}-{}", if above { "above" } else { "below" });
            let args = json!({
                "score_id": id, "species": species, "voice": if above { "above" } else { "below" },
                "new_score_id": new_id, "seed": i as u64, "replace": true
            });
            let out = call(ctx, "generate_counterpoint", args.clone())
                .unwrap_or_else(|e| panic!("{new_id}: {e}"));
            let bars = out["cantus_firmus"].as_array().unwrap().len();
            let (cp_notes, cf_notes) = read_back(ctx, &new_id, above, bars);
            let faults = independent_faults(&cp_notes, &cf_notes, species, above);
            let vl = &out["voice_leading"];
            let vl_clean = vl["clean"] == json!(true);
            let full = out["compliance"] == json!(100.0);
            runs += 1;
            let no_cadence = out["limitations"].as_array().unwrap().iter().any(|l| {
                l.as_str()
                    .is_some_and(|l| l.contains("no clausula vera is possible"))
            });
            if no_cadence {
                impossible += 1;
            }
            if full && faults.is_empty() && vl_clean {
                perfect_runs += 1;
            } else {
                report.push(format!(
                    "{new_id}: compliance {} faults {faults:?} voice leading {}\n  {}",
                    out["compliance"],
                    vl["counts"],
                    out["rules"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|r| r["passed"] == json!(false))
                        .map(|r| r.to_string())
                        .collect::<Vec<_>>()
                        .join("\n  ")
                ));
                // The tool never claims what the others deny: 100% means no fault found
                // by the independent checker and a clean voice-leading analysis.
                assert!(
                    !full,
                    "{new_id}: 100% claimed, yet {faults:?} / {}",
                    vl["counts"]
                );
                assert!(out["limitations"].as_array().is_some_and(|l| !l.is_empty()));
                // The violations listed are real: the independent checker finds each kind.
                for rule in out["rules"].as_array().unwrap() {
                    if rule["passed"] == json!(true) {
                        continue;
                    }
                    let expected: &[&str] = match rule["id"].as_str().unwrap() {
                        "consonant_strong_beats" => &["on the downbeat", "suspension"],
                        "dissonance_treatment" => &["dissonance", "suspension"],
                        "no_direct_perfects" => &["direct perfect"],
                        "no_inner_unisons" => &["inner unison"],
                        "leaps_limited" => &["leap"],
                        "single_climax" => &["climax"],
                        "no_tritone_leaps" => &["tritone"],
                        "perfect_beginning_and_end" => &["perfect beginning", "at the end"],
                        "cadence" => &["cadence"],
                        "no_repeated_notes" => &["repeated"],
                        "range" => &["twelfth"],
                        // Checked only by the tool (rhythm, motion, accented parallels,
                        // overlaps); the read-back above checks the bars.
                        _ => &[],
                    };
                    assert!(
                        expected.is_empty()
                            || faults
                                .iter()
                                .any(|f| expected.iter().any(|e| f.contains(e))),
                        "{new_id}: the tool lists {} but the independent checker finds {faults:?}",
                        rule["id"]
                    );
                }
            }
            // Deterministic for a seed.
            if i == 0 {
                let again = call(ctx, "generate_counterpoint", json!({
                        "score_id": id, "species": species, "voice": if above { "above" } else { "below" },
                        "new_score_id": format!("{new_id}-again"), "seed": i as u64, "replace": true
                    }))
                    .unwrap();
                assert_eq!(
                    again["counterpoint"], out["counterpoint"],
                    "deterministic for a seed"
                );
                assert_eq!(again["sha256"], out["sha256"]);
            }
            // The tool's own violations are real: each named rule is broken on the notes.
            for rule in out["rules"].as_array().unwrap() {
                assert_eq!(
                    rule["passed"] == json!(true),
                    rule["violations"].as_array().unwrap().is_empty()
                );
            }
            assert_licences_counted(&out);
        }
    }
    eprintln!(
        "species {species}: {perfect_runs}/{runs} meet every rule ({impossible} cannot)\n{}",
        report.join("\n")
    );
    assert!(
        perfect_runs * 10 >= (runs - impossible) * 9,
        "species {species}: only {perfect_runs} of {runs} ({impossible} without a possible cadence) meet every rule:\n{}",
        report.join("\n")
    );
}

fn over_builtin_suite(species: u8) {
    let (_dir, ctx) = context();
    let ids = builtin_suite(&ctx);
    assert_eq!(ids.len(), 10);
    species_over_suite(species, &ids, &ctx);
}

fn over_chorales(species: u8) {
    let (_dir, ctx) = context();
    let ids = chorale_suite(&ctx);
    // With the corpus present, an empty suite would pass without checking anything.
    if shared_corpus().is_some() {
        assert_eq!(
            ids.len(),
            10,
            "chorale suite: {} soprano lines qualified",
            ids.len()
        );
    }
    species_over_suite(species, &ids, &ctx);
}

#[test]
fn first_species_meets_every_rule() {
    over_builtin_suite(1);
    over_chorales(1);
}

#[test]
fn second_species_meets_every_rule() {
    over_builtin_suite(2);
    over_chorales(2);
}

#[test]
fn third_species_meets_every_rule() {
    over_builtin_suite(3);
    over_chorales(3);
}

#[test]
fn fourth_species_meets_every_rule() {
    over_builtin_suite(4);
    over_chorales(4);
}

#[test]
fn fifth_species_meets_every_rule() {
    over_builtin_suite(5);
    over_chorales(5);
}

#[test]
fn the_response_lists_every_rule_and_the_mode() {
    let (_dir, ctx) = context();
    import(
        &ctx,
        "cf",
        "tinyNotation: 4/4 d1 f1 e1 d1 g1 f1 a1 g1 f1 e1 d1",
    );
    let out = call(
        &ctx,
        "generate_counterpoint",
        json!({"score_id": "cf", "species": 1, "new_score_id": "out"}),
    )
    .unwrap();
    assert_eq!(out["mode"], "D dorian");
    assert_eq!(out["rules_total"], 16);
    assert_eq!(out["rules"].as_array().unwrap().len(), 16);
    assert_eq!(out["voice"], "above");
    assert_eq!(out["seed"], 0);
    assert_eq!(out["voice_leading"]["available"], true);
    assert_eq!(out["summary"]["parts"], 2);
    assert_eq!(out["summary"]["measures"], 11);
    let cp: Vec<&str> = out["counterpoint"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["pitch"].as_str().unwrap())
        .collect();
    assert_eq!(cp.len(), 11);
    assert_eq!(
        cp[9], "C#5",
        "the raised leading tone at the cadence: {cp:?}"
    );
    // A mode given by name, below, another seed.
    let out = call(&ctx, "generate_counterpoint", json!({"score_id": "cf", "species": 3, "voice": "below", "mode": "Dorian", "new_score_id": "out2", "seed": 3})).unwrap();
    assert_eq!(out["mode"], "D dorian");
    assert!(out["mode_source"].as_str().unwrap().contains("argument"));
    // The same id again is refused unless replaced.
    let dup = call(
        &ctx,
        "generate_counterpoint",
        json!({"score_id": "cf", "species": 1, "new_score_id": "out"}),
    )
    .unwrap_err();
    assert!(dup.message.contains("new_score_id"), "{}", dup.message);
    call(
        &ctx,
        "generate_counterpoint",
        json!({"score_id": "cf", "species": 1, "new_score_id": "out", "replace": true}),
    )
    .unwrap();
    // Seeds change the result, each deterministically: not every seed gives the same line
    // (two seeds may pick the same one among the few equally good).
    let lines: Vec<Value> = (0..=4)
        .map(|seed| {
            call(
                &ctx,
                "generate_counterpoint",
                json!({"score_id": "cf", "species": 2, "new_score_id": format!("seed{seed}"), "seed": seed}),
            )
            .unwrap()["counterpoint"]
                .clone()
        })
        .collect();
    assert!(
        lines.iter().any(|l| *l != lines[0]),
        "different seeds, different lines"
    );
}

#[test]
fn notes_of_any_length_become_one_bar_each() {
    let (_dir, ctx) = context();
    import(
        &ctx,
        "cf",
        "tinyNotation: 3/4 c4 d8 f8 e2 g4 a4 g4 e2 d4 c2.",
    );
    let out = call(
        &ctx,
        "generate_counterpoint",
        json!({"score_id": "cf", "species": 2, "new_score_id": "out"}),
    )
    .unwrap();
    assert_eq!(out["cantus_firmus"].as_array().unwrap().len(), 10);
    assert_eq!(out["summary"]["measures"], 10);
    assert_eq!(out["summary"]["duration_quarters"], 40.0);
    assert_eq!(out["mode"], "C ionian");
}

#[test]
fn bad_input_gets_clear_errors() {
    let (_dir, ctx) = context();
    import(
        &ctx,
        "cf",
        "tinyNotation: 4/4 d1 f1 e1 d1 g1 f1 a1 g1 f1 e1 d1",
    );
    import(&ctx, "rests", "tinyNotation: 4/4 r1 r1");
    let chords = cf_xml(0, &["C4", "E4", "D4", "C4"]).replacen(
            "<type>whole</type></note></measure><measure number=\"3\">",
            "<type>whole</type></note><note><chord/><pitch><step>G</step><octave>4</octave></pitch><duration>4</duration><type>whole</type></note></measure><measure number=\"3\">",
            1,
        );
    assert!(chords.contains("<chord/>"));
    import(&ctx, "chords", &chords);
    import(&ctx, "two", "tinyNotation: 4/4 c1 d1");
    let polyphonic = r#"<?xml version="1.0" encoding="UTF-8"?>
<score-partwise version="3.1"><part-list><score-part id="P1"><part-name>S</part-name></score-part></part-list>
<part id="P1"><measure number="1"><attributes><divisions>1</divisions><time><beats>4</beats><beat-type>4</beat-type></time></attributes>
<note><pitch><step>E</step><octave>5</octave></pitch><duration>4</duration><voice>1</voice><type>whole</type></note>
<backup><duration>4</duration></backup>
<note><pitch><step>C</step><octave>5</octave></pitch><duration>2</duration><voice>2</voice><type>half</type></note>
<note><pitch><step>D</step><octave>5</octave></pitch><duration>2</duration><voice>2</voice><type>half</type></note>
</measure><measure number="2"><note><pitch><step>C</step><octave>5</octave></pitch><duration>4</duration><voice>1</voice><type>whole</type></note></measure></part></score-partwise>
"#;
    import(&ctx, "voices", polyphonic);
    let err = |args: Value| {
        call(&ctx, "generate_counterpoint", args)
            .unwrap_err()
            .message
    };
    let m = err(json!({"score_id": "rests", "species": 1, "new_score_id": "x"}));
    assert!(m.contains("no notes"), "{m}");
    let m = err(json!({"score_id": "chords", "species": 1, "new_score_id": "x"}));
    assert!(m.contains("single line") && m.contains("chord"), "{m}");
    let m = err(json!({"score_id": "voices", "species": 1, "new_score_id": "x"}));
    assert!(m.contains("single line") && m.contains("at once"), "{m}");
    let m = err(json!({"score_id": "two", "species": 1, "new_score_id": "x"}));
    assert!(m.contains("at least 3"), "{m}");
    for species in [0, 6, -1] {
        let m = err(json!({"score_id": "cf", "species": species, "new_score_id": "x"}));
        assert!(
            m.contains("species") && m.contains(&species.to_string()),
            "{m}"
        );
    }
    let m = err(json!({"score_id": "cf", "species": "two", "new_score_id": "x"}));
    assert!(m.contains("`species`"), "{m}");
    let m = err(json!({"score_id": "cf", "species": 1, "voice": "middle", "new_score_id": "x"}));
    assert!(m.contains("`voice`") && m.contains("above"), "{m}");
    let m = err(json!({"score_id": "cf", "species": 1, "mode": "locrian", "new_score_id": "x"}));
    assert!(m.contains("mode") && m.contains("dorian"), "{m}");
    let m = err(json!({"score_id": "cf", "species": 1}));
    assert!(m.contains("new_score_id"), "{m}");
    let m = err(json!({"score_id": "nothing", "species": 1, "new_score_id": "x"}));
    assert!(m.contains("nothing"), "{m}");
    let m = err(json!({"score_id": "cf", "species": 1, "new_score_id": "x", "colour": 1}));
    assert!(m.contains("colour"), "{m}");
}

/// The licences gathered at the top are the rules' own, and they count against strict
/// compliance only.
fn assert_licences_counted(out: &Value) {
    let rules = out["rules"].as_array().unwrap();
    let total = out["rules_total"].as_u64().unwrap();
    let per_rule: Vec<(String, Value)> = rules
        .iter()
        .flat_map(|r| {
            r["licences"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| (r["id"].as_str().unwrap().to_string(), l.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let licences = out["licences"].as_array().unwrap();
    assert_eq!(licences.len(), per_rule.len(), "{out}");
    for (l, (rule, own)) in licences.iter().zip(&per_rule) {
        assert_eq!(&l["rule"], rule);
        assert_eq!(l["measure"], own["measure"]);
        assert_eq!(l["beat"], own["beat"]);
        assert_eq!(l["notes"], own["notes"]);
        assert_eq!(l["reason"], own["detail"]);
    }
    let strictly = rules
        .iter()
        .filter(|r| r["passed"] == json!(true) && r["licences"].as_array().unwrap().is_empty())
        .count() as u64;
    assert_eq!(out["rules_kept_strictly"], strictly);
    let strict = out["strict_compliance"].as_f64().unwrap();
    let compliance = out["compliance"].as_f64().unwrap();
    assert!(strict <= compliance, "{strict} > {compliance}");
    assert!((strict - 100.0 * strictly as f64 / total as f64).abs() < 0.01);
    assert_eq!(strict == 100.0, licences.is_empty() && compliance == 100.0);
}

#[test]
fn a_broken_syncopation_is_a_licence_and_not_strictly_kept() {
    let (_dir, ctx) = context();
    import(
        &ctx,
        "cf",
        "tinyNotation: 4/4 d1 f1 e1 d1 g1 f1 a1 g1 f1 e1 d1",
    );
    // 4th species over Fux's Dorian cantus firmus: the syncopation cannot go on everywhere.
    let mut found = None;
    for seed in 0..5 {
        let out = call(
            &ctx,
            "generate_counterpoint",
            json!({"score_id": "cf", "species": 4, "new_score_id": format!("s4-{seed}"), "seed": seed}),
        )
        .unwrap();
        if !out["species_broken_at"].as_array().unwrap().is_empty() {
            found = Some(out);
            break;
        }
    }
    let out = found.expect("a 4th-species counterpoint that breaks the syncopation");
    assert_licences_counted(&out);
    let licences = out["licences"].as_array().unwrap();
    let broken: Vec<&Value> = licences
        .iter()
        .filter(|l| l["rule"] == "species_rhythm")
        .collect();
    assert!(!broken.is_empty(), "{}", out["licences"]);
    let measures: Vec<&Value> = broken.iter().map(|l| &l["measure"]).collect();
    let broken_at: Vec<&Value> = out["species_broken_at"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(measures, broken_at);
    for l in &broken {
        assert!(
            l["reason"].as_str().unwrap().contains("broken"),
            "{}",
            l["reason"]
        );
        assert_eq!(l["beat"], 1.0);
        assert!(!l["notes"].as_array().unwrap().is_empty());
    }
    // Every rule holds, so compliance stays 100; strictly, species_rhythm was not kept.
    assert_eq!(out["compliance"], 100.0, "{}", out["rules"]);
    assert!(out["strict_compliance"].as_f64().unwrap() < 100.0);
    assert_eq!(
        out["rules_kept_strictly"].as_u64().unwrap(),
        out["rules_total"].as_u64().unwrap() - 1
    );
    assert!(out["limitations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l.as_str().unwrap().contains("licence")));

    // Without a licence, strict compliance is compliance.
    let out = call(
        &ctx,
        "generate_counterpoint",
        json!({"score_id": "cf", "species": 1, "new_score_id": "s1"}),
    )
    .unwrap();
    assert_licences_counted(&out);
    assert!(out["licences"].as_array().unwrap().is_empty());
    assert_eq!(out["strict_compliance"], out["compliance"]);
    assert_eq!(out["rules_kept_strictly"], out["rules_passed"]);
}
