use music21_rs::{Stream, StreamElement, StreamKind};
use serde_json::{json, Value};

use crate::error::ErrorKind;
use crate::music::timeline::{part_events, parts_of};
use crate::tools::test_kit::{call, context, import, import_text, shared_corpus};
use crate::tools::ToolContext;

const STYLES: [&str; 4] = ["chorale", "classical", "pop", "jazz"];

fn harmonize(ctx: &ToolContext, args: Value) -> Value {
    call(ctx, "harmonize_melody", args.clone()).unwrap_or_else(|e| panic!("harmonize {args}: {e}"))
}

// ------------------------------------------------------------ an independent checker
//
// Written for the tests from the stored score alone (not the harmoniser's own code): each
// part's pitches at every moment any part attacks a note.

/// (onset, end, MIDI numbers sounding) of each note, chord and rest of a part.
fn events_of(part: &Stream) -> Vec<(f64, f64, Vec<i32>)> {
    part_events(part)
        .into_iter()
        .filter(|e| e.element.quarter_length() > 0.0)
        .map(|e| {
            let midis = e
                .element
                .pitches()
                .iter()
                .map(|p| p.ps().round() as i32)
                .collect();
            (e.offset, e.offset + e.element.quarter_length(), midis)
        })
        .collect()
}

fn sounding(events: &[(f64, f64, Vec<i32>)], t: f64) -> Option<Vec<i32>> {
    events
        .iter()
        .find(|(a, b, p)| *a <= t + 1e-9 && *b > t + 1e-9 && !p.is_empty())
        .map(|(_, _, p)| p.clone())
}

/// Each part's pitches at every onset of any part (None where it rests).
fn slices(score: &Stream) -> Vec<Vec<Option<Vec<i32>>>> {
    let parts: Vec<Vec<(f64, f64, Vec<i32>)>> =
        parts_of(score).into_iter().map(events_of).collect();
    let mut times: Vec<f64> = parts.iter().flatten().map(|e| e.0).collect();
    times.sort_by(f64::total_cmp);
    times.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
    times
        .iter()
        .map(|&t| parts.iter().map(|p| sounding(p, t)).collect())
        .collect()
}

#[derive(Debug, Default, PartialEq)]
struct RuleCount {
    parallel_fifths: usize,
    parallel_octaves: usize,
    crossings: usize,
}

/// Parallel fifths and octaves (unisons included) between single-note parts, and
/// crossings (a lower part above a higher one).
fn rule_check(score: &Stream) -> RuleCount {
    let mut count = RuleCount::default();
    let single = |x: &Option<Vec<i32>>| x.as_ref().and_then(|v| (v.len() == 1).then(|| v[0]));
    let s = slices(score);
    for (k, now) in s.iter().enumerate() {
        for i in 0..now.len() {
            for j in i + 1..now.len() {
                let (Some(u1), Some(l1)) = (single(&now[i]), single(&now[j])) else {
                    continue;
                };
                if u1 < l1 {
                    count.crossings += 1;
                }
                let Some(before) = k.checked_sub(1).map(|b| &s[b]) else {
                    continue;
                };
                let (Some(u0), Some(l0)) = (single(&before[i]), single(&before[j])) else {
                    continue;
                };
                if u0 == u1 || l0 == l1 {
                    continue;
                }
                let (a, b) = ((u0 - l0).abs() % 12, (u1 - l1).abs() % 12);
                if a == 7 && b == 7 {
                    count.parallel_fifths += 1;
                }
                if a == 0 && b == 0 {
                    count.parallel_octaves += 1;
                }
            }
        }
    }
    count
}

/// What a measure holds, voice by voice: the notes, chords and rests of each voice summed.
fn measure_contents(measure: &Stream) -> Vec<f64> {
    let counted = |e: &StreamElement| e.is_note_or_chord() || matches!(e, StreamElement::Rest(_));
    let mut out = Vec::new();
    let top: f64 = measure
        .events()
        .iter()
        .filter(|e| counted(e.element()))
        .map(|e| e.element().quarter_length())
        .sum();
    if top > 0.0 {
        out.push(top);
    }
    for e in measure.events() {
        if let StreamElement::Stream(voice) = e.element() {
            if voice.kind() == StreamKind::Voice {
                out.push(
                    voice
                        .events()
                        .iter()
                        .filter(|x| counted(x.element()))
                        .map(|x| x.element().quarter_length())
                        .sum(),
                );
            }
        }
    }
    out
}

/// Bars add up: every part has as many measures; every measure of every part, every voice
/// of it, holds exactly its bar under the time signature, but for a pickup (as long as
/// the melody's) and a last measure completing it (as long in every part); where the
/// melody's own measures are cut short mid-piece (at a repeat), as long as those.
fn assert_bars_add_up(score: &Stream, melody: &Stream, label: &str) {
    let parts = parts_of(score);
    let count = parts[0].measures().len();
    // The melody's measures, each as long as until the next one starts (tinyNotation
    // writes notes past their barline).
    let starts: Vec<(f64, f64)> = melody
        .events()
        .iter()
        .filter_map(|e| match e.element() {
            StreamElement::Stream(m) if m.kind() == StreamKind::Measure => {
                Some((e.offset(), m.end_offset()))
            }
            _ => None,
        })
        .collect();
    let given: Vec<f64> = starts
        .iter()
        .enumerate()
        .map(|(i, (at, len))| starts.get(i + 1).map_or(*len, |next| next.0 - at))
        .collect();
    let pickup = melody
        .measures()
        .first()
        .map(|m| m.end_offset())
        .filter(|l| *l > 0.0);
    let mut first_lengths: Vec<f64> = Vec::new();
    for (p, part) in parts.iter().enumerate() {
        let measures = part.measures();
        assert_eq!(
            measures.len(),
            count,
            "{label}: part {p} has {} measures, not {count}",
            measures.len()
        );
        let mut bar = 4.0;
        for (m, measure) in measures.iter().enumerate() {
            for e in measure.events() {
                if let StreamElement::TimeSignature(ts) = e.element() {
                    bar = ts.bar_duration().quarter_length();
                }
            }
            let contents = measure_contents(measure);
            assert!(
                !contents.is_empty(),
                "{label}: part {p} measure {m} is empty"
            );
            for total in contents {
                let edge = m == 0 || m + 1 == count;
                if given.len() == count && !edge {
                    assert!(
                        (total - given[m]).abs() < 1e-6,
                        "{label}: part {p} measure {m} holds {total}, the melody's {}",
                        given[m]
                    );
                } else if !edge {
                    assert!(
                        (total - bar).abs() < 1e-6,
                        "{label}: part {p} measure {m} holds {total}, the bar {bar}"
                    );
                } else {
                    assert!(
                        total <= bar + 1e-6 && total > 0.0,
                        "{label}: part {p} measure {m} holds {total}"
                    );
                }
                if m == 0 {
                    if let Some(pickup) = pickup {
                        assert!(
                            (total - pickup.min(bar)).abs() < 1e-6,
                            "{label}: part {p} pickup {total} vs {pickup}"
                        );
                    }
                }
                if m + 1 == count {
                    if p == 0 {
                        first_lengths.push(total);
                    } else {
                        assert!(
                            first_lengths.iter().all(|l| (l - total).abs() < 1e-6),
                            "{label}: part {p} last measure {total}"
                        );
                    }
                }
            }
        }
    }
}

/// (lowest, highest) MIDI number of a part.
fn range_of(part: &Stream) -> (i32, i32) {
    let all: Vec<i32> = events_of(part).into_iter().flat_map(|e| e.2).collect();
    (
        all.iter().copied().min().unwrap_or(0),
        all.iter().copied().max().unwrap_or(0),
    )
}

/// Checks one harmonisation every way the issue asks.
fn check_result(ctx: &ToolContext, source_id: &str, part: usize, style: &str, out: &Value) {
    let label = format!("{source_id} part {part} {style}");
    let new_id = out["new_score_id"].as_str().expect("new id");
    let stored = ctx.load(new_id).expect("stored result");
    let score: &Stream = &stored.score;
    let input = ctx.load(source_id).expect("input");
    let melody = parts_of(&input.score)[part].clone();
    let parts = parts_of(score);
    let expected_parts = match style {
        "chorale" | "classical" => 4,
        "pop" => 2,
        _ => 3,
    };
    assert_eq!(parts.len(), expected_parts, "{label}: parts");
    assert_eq!(
        out["parts"].as_array().map(Vec::len),
        Some(expected_parts),
        "{label}"
    );
    assert_bars_add_up(score, &melody, &label);
    // The melody is kept note for note.
    let heard = |p: &Stream| -> Vec<(i64, i32)> {
        crate::music::melody::melody_of(p)
            .into_iter()
            .filter_map(|i| match i {
                crate::music::melody::MelodyItem::Note(n) => Some((
                    (n.offset * 1000.0).round() as i64,
                    n.pitch.ps().round() as i32,
                )),
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        heard(parts[0]),
        heard(&melody),
        "{label}: the melody must be kept"
    );
    // Ranges.
    let ranges: Vec<(i32, i32)> = match style {
        "chorale" | "classical" => vec![(55, 74), (48, 67), (40, 60)],
        "pop" => vec![(48, 72)],
        _ => vec![(48, 72), (40, 60)],
    };
    for (i, (lo, hi)) in ranges.iter().enumerate() {
        let (low, high) = range_of(parts[i + 1]);
        assert!(
            low >= *lo && high <= *hi,
            "{label}: part {} spans {low}-{high}, outside {lo}-{hi}",
            i + 1
        );
    }
    // The rules, by the independent checker and by voice_leading_analysis.
    let s = slices(score);
    match style {
        "chorale" | "classical" => {
            assert_eq!(
                rule_check(score),
                RuleCount::default(),
                "{label}: independent rule check"
            );
            let vl = &out["voice_leading"]["counts"];
            for kind in [
                "parallel_fifths",
                "parallel_octaves",
                "parallel_unisons",
                "voice_crossings",
            ] {
                assert_eq!(
                    vl[kind], 0,
                    "{label}: voice_leading_analysis {kind}: {}",
                    out["voice_leading"]["findings"][kind]
                );
            }
            let again =
                call(ctx, "voice_leading_analysis", json!({"score_id": new_id})).expect("vl");
            assert_eq!(
                &again["counts"], vl,
                "{label}: the response carries the analysis"
            );
            assert_eq!(
                out["remaining_faults"]["targets"]["no_parallel_fifths"],
                true
            );
        }
        _ => {
            // The melody stays above the accompaniment; jazz's bass below the piano.
            for slice in &s {
                let top = slice[0].as_ref().and_then(|m| m.first().copied());
                let piano = slice[1].as_ref();
                if let (Some(m), Some(p)) = (top, piano) {
                    assert!(
                        p.iter().all(|x| *x < m),
                        "{label}: piano {p:?} reaches the melody {m}"
                    );
                    assert_eq!(p.len(), 3, "{label}: three piano voices");
                }
                if style == "jazz" {
                    if let (Some(p), Some(b)) = (piano, slice[2].as_ref()) {
                        assert!(
                            b.iter().all(|x| p.iter().all(|y| x < y)),
                            "{label}: bass {b:?} above piano {p:?}"
                        );
                    }
                }
            }
            if style == "jazz" {
                // Melody and bass are single lines: the independent check applies to them.
                let mut two = Stream::with_kind(StreamKind::Score);
                two.insert(0.0, parts[0].clone());
                two.insert(0.0, parts[2].clone());
                let c = rule_check(&two);
                assert_eq!(c.crossings, 0, "{label}: melody/bass crossings");
                assert_eq!(c.parallel_octaves, 0, "{label}: melody/bass octaves: {c:?}");
            }
            let symbols = score
                .recurse()
                .into_iter()
                .filter(|(_, e)| matches!(e, StreamElement::ChordSymbol(_)))
                .count();
            assert!(symbols > 0, "{label}: chord symbols written");
            assert_eq!(
                out["chord_symbols"]["count"], symbols,
                "{label}: symbols counted"
            );
        }
    }
    // Every chord holds its melody note at the onset (four parts), and is named.
    for chord in out["chords"].as_array().expect("chords") {
        assert!(
            chord["roman"].as_str().is_some_and(|r| !r.is_empty()),
            "{label}: {chord}"
        );
        assert!(
            chord["symbol"].as_str().is_some_and(|r| !r.is_empty()),
            "{label}: {chord}"
        );
    }
    let last = out["cadences"]
        .as_array()
        .and_then(|c| c.last())
        .cloned()
        .unwrap_or(Value::Null);
    assert!(last.is_object(), "{label}: a final cadence is reported");
}

/// Harmonises and checks, twice with one seed (the same bytes) and once with another.
fn run_style(ctx: &ToolContext, source_id: &str, part: usize, style: &str) -> Value {
    let id = format!("{source_id}-{style}-a");
    let out = harmonize(
        ctx,
        json!({"score_id": source_id, "part": part, "style": style, "new_score_id": id, "seed": 7}),
    );
    check_result(ctx, source_id, part, style, &out);
    let again = harmonize(
        ctx,
        json!({"score_id": source_id, "part": part, "style": style, "new_score_id": format!("{source_id}-{style}-b"), "seed": 7}),
    );
    assert_eq!(
        out["sha256"], again["sha256"],
        "{source_id} {style}: same seed, same MusicXML"
    );
    assert_eq!(
        out["chords"], again["chords"],
        "{source_id} {style}: same seed, same chords"
    );
    let other = harmonize(
        ctx,
        json!({"score_id": source_id, "part": part, "style": style, "new_score_id": format!("{source_id}-{style}-c"), "seed": 8}),
    );
    assert_eq!(
        out["search"]["total_cost"], other["search"]["total_cost"],
        "{source_id} {style}: a seed only chooses among paths of equal cost"
    );
    out
}

#[test]
fn every_style_on_the_builtin_corpus() {
    let (_dir, ctx) = context();
    import(&ctx, "twinkle", "builtin/twinkle");
    import(&ctx, "ode", "builtin/ode-to-joy");
    import(&ctx, "gmaj", "builtin/chorale-g-major");
    import(&ctx, "amin", "builtin/chorale-a-minor");
    for style in STYLES {
        for (id, part) in [("twinkle", 0), ("ode", 0), ("gmaj", 0), ("amin", 0)] {
            let out = run_style(&ctx, id, part, style);
            assert_eq!(out["style"], style);
        }
    }
}

#[test]
fn every_style_over_rests_triplets_and_other_meters() {
    let (_dir, ctx) = context();
    let tunes = [
        (
            "rests",
            "tinyNotation: 4/4 c4 d e f trip{g8 a g} f4 e2 d4 e8 f g2. r4 e4 d c1",
        ),
        (
            "six",
            "tinyNotation: 6/8 c8 d e f4 g8 a4. g4. r4. e8 f g c4. d8 e f e4. d4. c2.",
        ),
        (
            "three",
            "X:1\nM:3/4\nL:1/8\nK:D\nA2|d2 f2 a2|g2 e2 c2|d4 A2|B2 c2 d2|e6|]\n",
        ),
    ];
    for (id, text) in tunes {
        import_text(&ctx, id, text);
        for style in STYLES {
            let out = run_style(&ctx, id, 0, style);
            if style == "chorale" {
                // Where the melody rests, every voice rests.
                let stored = ctx
                    .load(out["new_score_id"].as_str().expect("id"))
                    .expect("stored");
                for slice in slices(&stored.score) {
                    if slice[0].is_none() {
                        assert!(
                            slice.iter().all(Option::is_none),
                            "{id}: voices sound over a rest: {slice:?}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn a_melody_too_low_for_four_parts_is_refused_clearly() {
    let (_dir, ctx) = context();
    import_text(&ctx, "low", "tinyNotation: 4/4 CC4 DD EE FF GG1");
    let e = call(
        &ctx,
        "harmonize_melody",
        json!({"score_id": "low", "new_score_id": "x"}),
    )
    .expect_err("too low");
    assert_eq!(e.kind, ErrorKind::Unsupported, "{e}");
    assert!(
        e.message.contains("too low") || e.message.contains("no room"),
        "{e}"
    );
    // Pop and jazz put the accompaniment under it as best they can, and say what is wrong.
    let out = harmonize(
        &ctx,
        json!({"score_id": "low", "new_score_id": "p", "style": "pop"}),
    );
    assert!(out["remaining_faults"]["faults"]
        .as_array()
        .is_some_and(|f| !f.is_empty()));
}

#[test]
fn minor_chorales_close_on_the_picardy_tonic_or_the_major_dominant() {
    let (_dir, ctx) = context();
    if shared_corpus().is_none() {
        eprintln!("skipping: ../shared/corpus not found");
        return;
    }
    // bwv66.6's tune ends E# F#: the key from the melody is F# minor, closed on F# major
    // (the search once priced the minor tonic below the Picardy third's penalty).
    import(&ctx, "b66", "bach/bwv66.6");
    let out = harmonize(
        &ctx,
        json!({"score_id": "b66", "part": 0, "new_score_id": "b66h", "seed": 1}),
    );
    assert_eq!(out["key"]["name"], "f# minor");
    let last = out["chords"].as_array().and_then(|c| c.last()).cloned();
    assert_eq!(
        last.as_ref().map(|c| c["roman"].clone()),
        Some(json!("I")),
        "{last:?}"
    );
    // bwv153.1's tune ends C B in A minor: the second degree over E major, as Bach closes it.
    import(&ctx, "b153", "bach/bwv153.1");
    let out = harmonize(
        &ctx,
        json!({"score_id": "b153", "part": 0, "key": "a", "new_score_id": "b153h", "seed": 1}),
    );
    let last = out["chords"].as_array().and_then(|c| c.last()).cloned();
    assert_eq!(
        last.as_ref().map(|c| c["roman"].clone()),
        Some(json!("V")),
        "{last:?}"
    );
}

#[test]
fn every_style_on_bach_soprano_lines() {
    let (_dir, ctx) = context();
    if shared_corpus().is_none() {
        eprintln!("skipping: ../shared/corpus not found");
        return;
    }
    for name in ["bwv66.6", "bwv269", "bwv40.3"] {
        let id = name.replace('.', "_");
        import(&ctx, &id, &format!("bach/{name}"));
        for style in STYLES {
            run_style(&ctx, &id, 0, style);
        }
    }
}

#[test]
fn chorale_output_reports_chords_cadences_and_search() {
    let (_dir, ctx) = context();
    import(&ctx, "g", "builtin/chorale-g-major");
    let out = harmonize(
        &ctx,
        json!({"score_id": "g", "new_score_id": "h", "seed": 1}),
    );
    assert_eq!(out["key"]["name"], "G major");
    assert_eq!(out["key"]["source"], "melody");
    assert_eq!(out["parts"], json!(["Soprano", "Alto", "Tenor", "Bass"]));
    let chords = out["chords"].as_array().expect("chords");
    assert!(!chords.is_empty());
    // One chord per beat of the melody's quarter notes.
    let first = &chords[0];
    assert_eq!(
        (first["measure"].as_i64(), first["beat"].as_f64()),
        (Some(1), Some(1.0))
    );
    assert_eq!(first["pitches"].as_array().map(Vec::len), Some(4));
    // The piece ends with an authentic cadence in root position.
    let last = chords.last().expect("a last chord");
    assert_eq!(last["roman"], "I", "{last}");
    let cadences = out["cadences"].as_array().expect("cadences");
    let final_cadence = cadences.last().expect("final cadence");
    assert!(
        final_cadence["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("authentic")),
        "{final_cadence}"
    );
    assert!(out["search"]["states"].as_u64() > Some(100));
    assert!(out["search"]["transitions"].as_u64() > out["search"]["states"].as_u64());
    assert_eq!(out["voice_leading"]["available"], true);
    assert!(out["remaining_faults"]["summary"]
        .as_str()
        .is_some_and(|s| s.starts_with("no parallel")));
    // The given key is used.
    let in_e = harmonize(
        &ctx,
        json!({"score_id": "g", "new_score_id": "e", "key": "e"}),
    );
    assert_eq!(in_e["key"]["name"], "e minor");
    assert_eq!(in_e["key"]["source"], "argument");
}

#[test]
fn bad_input_gets_clear_errors() {
    let (_dir, ctx) = context();
    import(&ctx, "g", "builtin/chorale-g-major");
    import_text(&ctx, "rests", "tinyNotation: 4/4 r1 r1");
    import_text(&ctx, "chords", "X:1\nM:4/4\nL:1/4\nK:C\n[CEG] D E F|G4|]\n");
    let err = |args: Value| call(&ctx, "harmonize_melody", args).expect_err("an error");

    let e = err(json!({"score_id": "rests", "new_score_id": "x"}));
    assert_eq!(e.kind, ErrorKind::InvalidArgument, "{e}");
    assert!(e.message.contains("no notes"), "{e}");

    let e = err(json!({"score_id": "chords", "new_score_id": "x"}));
    assert_eq!(e.kind, ErrorKind::InvalidArgument, "{e}");
    assert!(
        e.message.contains("not a single line") && e.message.contains("part"),
        "{e}"
    );

    let e = err(json!({"score_id": "g", "new_score_id": "x", "style": "baroque"}));
    assert!(
        e.message.contains("style") && e.message.contains("chorale"),
        "{e}"
    );

    let e = err(json!({"score_id": "g"}));
    assert!(e.message.contains("new_score_id"), "{e}");

    let e = err(json!({"score_id": "g", "new_score_id": "x", "part": 9}));
    assert!(e.message.contains("part 9"), "{e}");

    let e = err(json!({"score_id": "g", "new_score_id": "x", "key": "H"}));
    assert!(e.message.contains("key"), "{e}");

    let e = err(json!({"score_id": "g", "new_score_id": "g"}));
    assert!(e.message.contains("new_score_id"), "{e}");

    let e = err(json!({"score_id": "g", "new_score_id": "bad id!"}));
    assert!(e.message.contains("new_score_id"), "{e}");

    let e = err(json!({"score_id": "g", "new_score_id": "x", "tempo": 3}));
    assert!(e.message.contains("tempo"), "{e}");

    let e = err(json!({"score_id": "missing", "new_score_id": "x"}));
    assert_eq!(e.kind, ErrorKind::NotFound, "{e}");

    harmonize(&ctx, json!({"score_id": "g", "new_score_id": "x"}));
    let e = err(json!({"score_id": "g", "new_score_id": "x"}));
    assert_eq!(e.kind, ErrorKind::AlreadyExists, "{e}");
    harmonize(
        &ctx,
        json!({"score_id": "g", "new_score_id": "x", "replace": true, "style": "pop"}),
    );
}

#[test]
fn long_melodies_are_refused() {
    let (_dir, ctx) = context();
    let mut text = String::from("tinyNotation: 4/4");
    for _ in 0..(super::MAX_MELODY_NOTES / 4 + 1) {
        text.push_str(" c8 d e f");
    }
    import_text(&ctx, "long", &text);
    let e = call(
        &ctx,
        "harmonize_melody",
        json!({"score_id": "long", "new_score_id": "x"}),
    )
    .expect_err("refused");
    assert_eq!(e.kind, ErrorKind::LimitExceeded, "{e}");
}

#[test]
fn the_soprano_of_a_four_part_chorale_is_harmonised() {
    let (_dir, ctx) = context();
    import(&ctx, "a", "builtin/chorale-a-minor");
    let out = harmonize(
        &ctx,
        json!({"score_id": "a", "new_score_id": "h", "part": 0}),
    );
    assert_eq!(out["melody_part"]["index"], 0);
    assert_eq!(out["key"]["mode"], "minor");
    // Minor: the dominant has its raised leading tone (the subtonic `VII`, the relative
    // major's dominant, keeps G natural).
    let has_raised = out["chords"]
        .as_array()
        .expect("chords")
        .iter()
        .filter(|c| {
            c["roman"]
                .as_str()
                .is_some_and(|r| r.starts_with('V') && !r.starts_with("VI") && !r.contains('/'))
        })
        .all(|c| {
            c["pitches"].as_array().is_some_and(|p| {
                p.iter()
                    .any(|x| x["pitch"].as_str().is_some_and(|n| n.starts_with("G#")))
            })
        });
    assert!(has_raised, "{}", out["chords"]);
}
