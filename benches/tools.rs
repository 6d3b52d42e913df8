//! Per-tool timings on the shared corpus, and the chorale pipeline (import + key + chordify +
//! Roman numerals) through the tools against the bare engine doing the same work.
//!
//! Run: `cargo bench --bench tools` or `scripts/bench-tools`. Needs `../shared/corpus`.
//! `BENCH_TOOLS_PIPELINE_ONLY=1` stops after the chorale pipeline (section 1).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use music21_prod::config::Config;
use music21_prod::music::format::Format;
use music21_prod::music::parse::parse_score;
use music21_prod::tools::{Registry, ToolContext};
use serde_json::json;

fn shared_corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    dir.is_dir().then_some(dir)
}

fn files(dir: &Path, sub: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walk(&dir.join(sub));
    out.retain(|p| {
        p.extension()
            .and_then(|e| e.to_str())
            .and_then(Format::from_extension)
            .is_some()
    });
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// CPU time (user + system) a process has used so far.
fn cpu_of(pid: u32) -> Duration {
    Duration::from_secs_f64(music21_prod::sysmem::cpu_seconds(pid).unwrap_or(0.0))
}

/// CPU used by the client (this process), the server and its workers together.
#[derive(Clone, Copy, Default)]
struct CpuSplit {
    client: Duration,
    server: Duration,
    workers: Duration,
}

impl CpuSplit {
    fn now(server: u32) -> Self {
        CpuSplit {
            client: cpu_of(std::process::id()),
            server: cpu_of(server),
            workers: music21_prod::stress::run::children(server)
                .into_iter()
                .map(cpu_of)
                .sum(),
        }
    }

    fn since(self, before: CpuSplit) -> Self {
        CpuSplit {
            client: self.client.saturating_sub(before.client),
            server: self.server.saturating_sub(before.server),
            workers: self.workers.saturating_sub(before.workers),
        }
    }
}

struct Timings(Vec<Duration>);

impl Timings {
    fn line(&mut self, name: &str) -> String {
        self.0.sort();
        let n = self.0.len().max(1);
        let total: Duration = self.0.iter().sum();
        let pct = |p: f64| {
            self.0
                .get(((n as f64 * p) as usize).min(n - 1))
                .copied()
                .unwrap_or_default()
        };
        format!(
            "{name:<24} {:>5} calls  median {:>8.2} ms  p95 {:>8.2} ms  total {:>9.1} ms",
            self.0.len(),
            pct(0.5).as_secs_f64() * 1e3,
            pct(0.95).as_secs_f64() * 1e3,
            total.as_secs_f64() * 1e3
        )
    }
}

/// The bare engine: parse, key, chordify, a Roman numeral for every chord.
fn engine_pipeline(bytes: &[u8], format: Format, config: &Config) -> usize {
    let score = parse_score(bytes, format, None, &config.limits).expect("parse");
    let key =
        music21_rs::analysis::estimate_key_of_stream(music21_rs::KeyProfile::AardenEssen, &score)
            .and_then(|k| k.into_iter().next())
            .expect("key");
    let key = key.key().clone();
    let chords = score.chordify().expect("chordify");
    let mut n = 0;
    for (_, element) in chords.notes() {
        if let music21_rs::StreamElement::Chord(chord) = element {
            let _ = music21_rs::roman_numeral_from_chord(&chord, Some(&key));
            n += 1;
        }
    }
    n
}

/// Where an import's time goes, step by step over the same chorales (in-process): the
/// file read beneath an allowed directory, the guarded parse, the summary, the description
/// kept for `score_info`, and the durable insert (checksums, SQLite, the WAL's sync).
fn import_steps(chorales: &[PathBuf], formats: impl Iterator<Item = Format>, ctx: &ToolContext) {
    use music21_prod::music::{confined, description::describe, summary::summarize};
    use music21_prod::store::NewScore;
    let mut steps = [Duration::ZERO; 5];
    let limits = &ctx.config.limits;
    for (i, (path, format)) in chorales.iter().zip(formats).enumerate() {
        let mut lap = Instant::now();
        let mut mark = |step: usize| {
            steps[step] += lap.elapsed();
            lap = Instant::now();
        };
        let (bytes, _) = confined::read_beneath(
            &ctx.config.corpus.allowed_dirs,
            &path.display().to_string(),
            ctx.config.corpus.allow_hardlinks,
            limits.max_source_bytes,
        )
        .expect("read");
        mark(0);
        let score = parse_score(&bytes, format, None, limits).expect("parse");
        mark(1);
        let summary = serde_json::to_value(summarize(&score, None)).expect("summary");
        mark(2);
        let info = serde_json::to_string(&describe(&score)).expect("description");
        mark(3);
        ctx.store
            .insert(
                &NewScore {
                    score_id: &format!("steps{i}"),
                    format: format.name(),
                    origin: "file",
                    source: &bytes,
                    summary: &summary,
                    info: Some(&info),
                },
                true,
            )
            .expect("insert");
        mark(4);
    }
    let names = [
        "read file",
        "guard + parse",
        "summary",
        "description",
        "durable insert",
    ];
    let line: Vec<String> = names
        .iter()
        .zip(steps)
        .map(|(name, d)| format!("{name} {:.1} ms", d.as_secs_f64() * 1e3))
        .collect();
    println!("    import, step by step: {}", line.join(", "));
}

/// Runs of each server configuration in the in-process rows (the best is reported: the work
/// is the same each time, the slower runs measure the machine's other load).
const REPEATS: usize = 3;

/// Rounds of the server rows. Each round times the bare engine right before each server run
/// and takes the ratio of the two, so that both sides of a ratio see the same moment of a
/// shared machine (its speed drifts by ±30 % over minutes); the median over the rounds is
/// the figure, with the spread beside it.
const ROUNDS: usize = 7;

/// The pipeline through the real server (`serve --stdio`, 2 workers, a fresh store): each
/// chorale imported from its file, then `key_analysis` and `chord_analysis`, with one, two
/// and four chorales in flight, each run against a bare-engine pass timed just before it.
fn server_pipeline(
    corpus: &Path,
    chorales: &[PathBuf],
    inputs: &[(Vec<u8>, Format)],
    config: &Config,
) {
    // MUSIC21_PROD_BIN names another build (another checkout's, or a copy kept aside).
    let exe = std::env::var_os("MUSIC21_PROD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/music21-prod")
        });
    if !exe.is_file() {
        println!(
            "(server pipeline skipped: {} is not built; scripts/bench-tools builds it)",
            exe.display()
        );
        return;
    }
    let lane_counts = [1usize, 2, 4];
    let mut paired: Vec<Vec<(Duration, ServerRun)>> =
        lane_counts.iter().map(|_| Vec::new()).collect();
    for _ in 0..ROUNDS {
        for (row, &lanes) in lane_counts.iter().enumerate() {
            let engine = engine_pass(inputs, config);
            paired[row].push((engine, server_run(&exe, corpus, chorales, lanes)));
        }
    }
    for (row, lanes) in lane_counts.iter().enumerate() {
        let runs = &mut paired[row];
        let failures: usize = runs.iter().map(|(_, r)| r.failures).sum();
        let ratio =
            |(engine, run): &(Duration, ServerRun)| run.took.as_secs_f64() / engine.as_secs_f64();
        runs.sort_by(|a, b| ratio(a).total_cmp(&ratio(b)));
        let median = &runs[runs.len() / 2];
        println!(
            "server (stdio, 2 workers), {lanes} chorale(s) at a time: import + key + chords {:>8.1} ms  ratio {:.2}x  (median of {ROUNDS}, each against the engine's {:.1} ms just before; spread {:.2}-{:.2}x){}",
            median.1.took.as_secs_f64() * 1e3,
            ratio(median),
            median.0.as_secs_f64() * 1e3,
            ratio(&runs[0]),
            ratio(&runs[runs.len() - 1]),
            if failures > 0 { format!("  ({failures} failed)") } else { String::new() }
        );
        let cpu = median.1.cpu;
        println!(
            "    CPU of that run: workers {:>6.0} ms, server {:>5.0} ms, client {:>5.0} ms",
            cpu.workers.as_secs_f64() * 1e3,
            cpu.server.as_secs_f64() * 1e3,
            cpu.client.as_secs_f64() * 1e3
        );
    }
}

/// The bare engine over the chorales, the faster of two passes (the first may find the
/// caches cold after a server run).
fn engine_pass(inputs: &[(Vec<u8>, Format)], config: &Config) -> Duration {
    (0..2)
        .map(|_| {
            let start = Instant::now();
            for (bytes, format) in inputs {
                engine_pipeline(bytes, *format, config);
            }
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// What the client reads of a message from the server: the answer's id and whether it
/// failed. The rest is checked to be JSON and skipped, as a client that routes answers by
/// id would do; building a `serde_json::Value` of every 90 KB `chord_analysis` answer cost
/// this client 30-40 ms of CPU per run, on the same two cores as the server and workers.
#[derive(serde::Deserialize)]
struct Answer {
    id: Option<u64>,
    result: Option<AnswerResult>,
    error: Option<serde::de::IgnoredAny>,
}

#[derive(serde::Deserialize)]
struct AnswerResult {
    #[serde(default, rename = "isError")]
    is_error: bool,
}

struct ServerRun {
    took: Duration,
    cpu: CpuSplit,
    failures: usize,
}

/// One run of the pipeline through a fresh server, `lanes` chorales in flight.
fn server_run(exe: &Path, corpus: &Path, chorales: &[PathBuf], lanes: usize) -> ServerRun {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!(
            "[server.workers]\ncount = 2\n[corpus]\nallowed_dirs = [{:?}]\n",
            corpus.display().to_string()
        ),
    )
    .expect("config");
    let mut child = Command::new(exe)
        .args(["serve", "--stdio", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve --stdio");
    let mut input = child.stdin.take().expect("stdin");
    let mut output = BufReader::new(child.stdout.take().expect("stdout"));
    let mut send = |m: serde_json::Value| {
        writeln!(input, "{m}").expect("write");
        input.flush().expect("flush");
    };
    let mut recv = || {
        let mut line = String::new();
        output.read_line(&mut line).expect("read");
        serde_json::from_str::<Answer>(&line).expect("JSON line")
    };
    send(
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench-tools", "version": "1"}}}),
    );
    recv();
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    // Each chorale's three calls, in order; a lane sends its next call when the last one
    // is answered.
    let steps = |i: usize| -> Vec<(&'static str, serde_json::Value)> {
        let id = format!("p{i}");
        vec![
            (
                "import_score",
                json!({"score_id": id, "source": chorales[i].display().to_string(), "source_type": "file"}),
            ),
            ("key_analysis", json!({"score_id": id})),
            ("chord_analysis", json!({"score_id": id, "limit": 5000})),
        ]
    };
    let calls: Vec<Vec<(&str, serde_json::Value)>> = (0..lanes)
        .map(|lane| {
            (lane..chorales.len())
                .step_by(lanes)
                .flat_map(steps)
                .collect()
        })
        .collect();
    let mut next = vec![0usize; lanes];
    let mut failures = 0;
    let start = Instant::now();
    let mut call = |lane: usize, next: &mut Vec<usize>| -> bool {
        let Some((tool, args)) = calls[lane].get(next[lane]) else {
            return false;
        };
        let id = (lane << 32) | next[lane];
        send(
            json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": args}}),
        );
        next[lane] += 1;
        true
    };
    let server_pid = child.id();
    let cpu_before = CpuSplit::now(server_pid);
    let mut in_flight = 0;
    for lane in 0..lanes {
        in_flight += usize::from(call(lane, &mut next));
    }
    while in_flight > 0 {
        let answer = recv();
        let Some(id) = answer.id else {
            continue;
        };
        if answer.error.is_some() || answer.result.is_some_and(|r| r.is_error) {
            failures += 1;
        }
        in_flight -= 1;
        in_flight += usize::from(call((id >> 32) as usize, &mut next));
    }
    let took = start.elapsed();
    let cpu = CpuSplit::now(server_pid).since(cpu_before);
    // Everything this run started is gone before the next engine pass is timed: the server,
    // its workers (they exit when the server's end of their pipe closes) and the store.
    let workers = music21_prod::stress::run::children(server_pid);
    let _ = child.kill();
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(5);
    while workers
        .iter()
        .any(|pid| Path::new(&format!("/proc/{pid}")).exists())
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(2));
    }
    drop(dir);
    ServerRun {
        took,
        cpu,
        failures,
    }
}

fn main() {
    let Some(corpus) = shared_corpus() else {
        println!("bench-tools: ../shared/corpus not found; nothing to measure");
        return;
    };
    let data = tempfile::tempdir().expect("tempdir");
    let mut config = Config::default();
    config.server.data_dir = data.path().to_path_buf();
    config.corpus.allowed_dirs = vec![corpus.clone()];
    let ctx = ToolContext::open(config.clone()).expect("store");
    let registry = Registry::new();

    // 1. The chorale pipeline, bare engine vs tools.
    let chorales = files(&corpus, "bach");
    let inputs: Vec<(Vec<u8>, Format)> = chorales
        .iter()
        .map(|p| {
            let format =
                Format::from_extension(p.extension().and_then(|e| e.to_str()).unwrap_or(""))
                    .expect("format");
            (std::fs::read(p).expect("read"), format)
        })
        .collect();
    let mut engine = Duration::MAX;
    let mut engine_chords = 0;
    for _ in 0..REPEATS {
        let start = Instant::now();
        engine_chords = 0;
        for (bytes, format) in &inputs {
            engine_chords += engine_pipeline(bytes, *format, &config);
        }
        engine = engine.min(start.elapsed());
    }

    // As a worker that imported the score: each chorale imported, then analysed in the
    // same context (it keeps the parse), the Roman numerals remembered from the chorales
    // before it, as a long-lived worker has them.
    let mut import = Timings(Vec::new());
    let mut analyse_warm = Duration::ZERO;
    for (i, path) in chorales.iter().enumerate() {
        let id = format!("c{i}");
        let t = Instant::now();
        registry
            .call(
                &ctx,
                "import_score",
                json!({"score_id": id, "source": path, "source_type": "file"}),
            )
            .expect("import");
        import.0.push(t.elapsed());
        let t = Instant::now();
        registry
            .call(&ctx, "key_analysis", json!({"score_id": id}))
            .expect("key");
        registry
            .call(
                &ctx,
                "chord_analysis",
                json!({"score_id": id, "limit": 5000}),
            )
            .expect("chords");
        analyse_warm += t.elapsed();
    }
    // As another worker: a fresh context per score, so each analysis parses from the store,
    // and Roman numerals forgotten first (a worker that has seen none of these chorales).
    music21_prod::tools::analysis_common::forget_roman_numerals();
    let mut analyse = Duration::ZERO;
    let mut tool_chords = 0;
    for i in 0..chorales.len() {
        let id = format!("c{i}");
        let fresh = ToolContext::open(config.clone()).expect("store");
        let t = Instant::now();
        registry
            .call(&fresh, "key_analysis", json!({"score_id": id}))
            .expect("key");
        let chords = registry
            .call(
                &fresh,
                "chord_analysis",
                json!({"score_id": id, "limit": 5000}),
            )
            .expect("chords");
        analyse += t.elapsed();
        tool_chords += chords["total"].as_u64().unwrap_or(0) as usize;
    }
    let import_total: Duration = import.0.iter().sum();
    println!(
        "== chorale pipeline: {} Bach chorales from {}",
        chorales.len(),
        corpus.display()
    );
    println!(
        "bare engine (parse + key + chordify + roman)       {:>8.1} ms  ({} chords, best of {REPEATS})",
        engine.as_secs_f64() * 1e3,
        engine_chords
    );
    println!(
        "tools: key_analysis + chord_analysis, from store  {:>8.1} ms  ({} chords)  ratio {:.2}x",
        analyse.as_secs_f64() * 1e3,
        tool_chords,
        analyse.as_secs_f64() / engine.as_secs_f64()
    );
    println!(
        "tools: import_score (parse + durable commit)      {:>8.1} ms",
        import_total.as_secs_f64() * 1e3
    );
    println!(
        "tools: import + analyses, all together            {:>8.1} ms  ratio {:.2}x  (analyses in another worker: parsed again)",
        (import_total + analyse).as_secs_f64() * 1e3,
        (import_total + analyse).as_secs_f64() / engine.as_secs_f64()
    );
    println!(
        "tools: import + analyses, same worker             {:>8.1} ms  ratio {:.2}x  (the import's parse reused)",
        (import_total + analyse_warm).as_secs_f64() * 1e3,
        (import_total + analyse_warm).as_secs_f64() / engine.as_secs_f64()
    );
    println!("{}", import.line("import_score"));
    import_steps(&chorales, inputs.iter().map(|(_, format)| *format), &ctx);
    server_pipeline(&corpus, &chorales, &inputs, &config);
    if std::env::var_os("BENCH_TOOLS_PIPELINE_ONLY").is_some() {
        return;
    }

    // 2. Every analysis tool on every file of the shared corpus.
    let all = files(&corpus, "");
    println!(
        "\n== per tool, {} files of the shared corpus (parsed scores cached, as in a warm worker)",
        all.len()
    );
    let tools = [
        ("score_info", json!({})),
        ("key_analysis", json!({})),
        ("chord_analysis", json!({"limit": 5000})),
        ("harmony_analysis", json!({})),
        ("voice_leading_analysis", json!({})),
        ("pattern_recognition", json!({})),
        ("export_score", json!({"format": "musicxml"})),
        ("transpose_score", json!({"interval": "M2"})),
    ];
    let mut ids = Vec::new();
    for (i, path) in all.iter().enumerate() {
        let id = format!("f{i}");
        if registry
            .call(
                &ctx,
                "import_score",
                json!({"score_id": id, "source": path, "source_type": "file"}),
            )
            .is_ok()
        {
            ids.push(id);
        }
    }
    for (name, extra) in tools {
        let mut timings = Timings(Vec::new());
        let mut failures = 0;
        for id in &ids {
            let mut args = extra.clone();
            args["score_id"] = json!(id);
            if name == "transpose_score" {
                args["new_score_id"] = json!(format!("{id}-t"));
                args["replace"] = json!(true);
            }
            let t = Instant::now();
            if registry.call(&ctx, name, args).is_err() {
                failures += 1;
            }
            timings.0.push(t.elapsed());
        }
        let fail = if failures > 0 {
            format!("  ({failures} refused)")
        } else {
            String::new()
        };
        println!("{}{fail}", timings.line(name));
    }
    println!("\npeak RSS {:.1} MB", peak_rss_mb());
}
