//! What an import costs in memory, by size: the calibration of the server's parse
//! admission (`server::memory_cost`). Each point runs in a fresh child process (this
//! program again) that imports one synthetic MusicXML score through the import tool, as a
//! worker does, and reports its peak resident memory above what it had before. Prints the
//! points and the least-squares fit `MiB = a + b * source MiB`.
//!
//! Run: `cargo bench --bench memory` or `scripts/bench-memory`. Sizes in KiB may be given:
//! `cargo bench --bench memory -- 1 1024 51200`.

use std::process::Command;

use music21_prod::config::Config;
use music21_prod::stress::synth;
use music21_prod::tools::{Registry, ToolContext};
use serde_json::json;

const DEFAULT_SIZES_KIB: [u64; 9] = [1, 16, 256, 1024, 4096, 10240, 20480, 35840, 51200];

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse().ok())
        })
        .unwrap_or(0)
}

/// In the child: import one score of `kib` KiB; print `bytes peak_above_before_kib`.
fn measure(kib: u64) {
    let data = tempfile::tempdir().expect("tempdir");
    let mut config = Config::default();
    config.server.data_dir = data.path().to_path_buf();
    let ctx = ToolContext::open(config).expect("store");
    let registry = Registry::new();
    let (text, _) = synth::musicxml_of_size((kib * 1024) as usize, 7);
    let bytes = text.len();
    // The worker gets the source inside its request; the import is what follows.
    let args =
        json!({"score_id": "m", "source": text, "source_type": "text", "format": "musicxml"});
    drop(text);
    // Peak from here: a reset of the high-water mark (Linux `clear_refs` 5).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = status_kib("VmRSS:");
    registry
        .call(&ctx, "import_score", args)
        .expect("the import succeeds");
    let peak = status_kib("VmHWM:");
    println!("{bytes} {}", peak.saturating_sub(before));
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(kib) = args
        .iter()
        .position(|a| a == "--child")
        .and_then(|i| args.get(i + 1))
    {
        measure(kib.parse().expect("a size in KiB"));
        return;
    }
    let sizes: Vec<u64> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() {
        DEFAULT_SIZES_KIB.to_vec()
    } else {
        sizes
    };
    let me = std::env::current_exe().expect("own path");
    println!("{:>12} {:>14} {:>10}", "source MiB", "peak +MiB", "ratio");
    let mut points = Vec::new();
    for kib in sizes {
        let out = Command::new(&me)
            .args(["--child", &kib.to_string()])
            .output()
            .expect("child runs");
        let line = String::from_utf8_lossy(&out.stdout);
        let mut it = line
            .split_whitespace()
            .filter_map(|w| w.parse::<f64>().ok());
        let (Some(bytes), Some(peak_kib)) = (it.next(), it.next()) else {
            println!(
                "{kib} KiB: no figure ({})",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            continue;
        };
        let (x, y) = (bytes / 1048576.0, peak_kib / 1024.0);
        println!("{x:>12.3} {y:>14.1} {:>10.1}", y / x.max(1e-9));
        points.push((x, y));
    }
    if points.len() >= 2 {
        let n = points.len() as f64;
        let (sx, sy) = points
            .iter()
            .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
        let (mx, my) = (sx / n, sy / n);
        let sxy: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
        let sxx: f64 = points.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
        let b = sxy / sxx.max(1e-12);
        let a = my - b * mx;
        let worst = points
            .iter()
            .map(|(x, y)| y - (a + b * x))
            .fold(f64::MIN, f64::max);
        println!("fit: peak MiB = {a:.1} + {b:.2} x source MiB (largest point above the fit: {worst:.1} MiB)");
    }
}
