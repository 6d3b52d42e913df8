//! Builds the harmonisation model from Bach's chorales: `scripts/build-harmony-model` runs it.
//!
//! `cargo run --release --example build_harmony_model -- --holdout assets/harmony/holdout.txt
//! --out assets/harmony/bach-model.tsv DIR...` reads every .mxl/.musicxml/.xml file of each DIR
//! (not recursively), skips the chorales the holdout file names, labels each remaining
//! chorale's beats in its whole-score key and writes the counts.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use music21_prod::config::ImportLimits;
use music21_prod::music::format::Format;
use music21_prod::music::harmony_gen::learn::{count, label_beats};
use music21_prod::music::harmony_gen::model::{BachModel, ModeCounts};
use music21_prod::music::harmony_gen::KeyDef;
use music21_prod::music::parse::parse_score;
use music21_prod::music::pitch::SpelledPitch;
use music21_prod::tools::analysis_common::whole_score_key;

struct Options {
    holdout: Option<PathBuf>,
    out: PathBuf,
    /// Print each chorale's key and its labelled cadences.
    verbose: bool,
    dirs: Vec<PathBuf>,
}

fn options() -> Result<Options, String> {
    let mut holdout = None;
    let mut out = None;
    let mut dirs = Vec::new();
    let mut verbose = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--holdout" => holdout = args.next().map(PathBuf::from),
            "--out" => out = args.next().map(PathBuf::from),
            "--verbose" => verbose = true,
            _ if arg.starts_with("--") => return Err(format!("unknown option {arg}")),
            _ => dirs.push(PathBuf::from(arg)),
        }
    }
    let out = out.ok_or("--out FILE is required")?;
    if dirs.is_empty() {
        return Err("name at least one directory of chorales".into());
    }
    Ok(Options {
        holdout,
        out,
        verbose,
        dirs,
    })
}

/// The names a holdout file lists (one per line, `#` comments), without extensions.
fn held_out(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

fn format_of(path: &Path) -> Option<Format> {
    match path.extension()?.to_str()? {
        "mxl" => Some(Format::Mxl),
        "musicxml" | "xml" => Some(Format::Musicxml),
        _ => None,
    }
}

fn key_of(score: &music21_rs::Stream) -> Result<KeyDef, String> {
    let key = whole_score_key(score).map_err(|e| e.to_string())?.key;
    let tonic = SpelledPitch::from_pitch(key.tonic_pitch())
        .ok_or("the key's tonic has no spelling")?
        .pitch_name();
    Ok(KeyDef {
        tonic,
        minor: key.mode() == "minor",
    })
}

fn run() -> Result<(), String> {
    let opts = options()?;
    let holdout = match &opts.holdout {
        Some(path) => held_out(path)?,
        None => Vec::new(),
    };
    let mut files = Vec::new();
    for dir in &opts.dirs {
        let entries =
            std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if format_of(&path).is_some() {
                files.push(path);
            }
        }
    }
    files.sort();
    let (mut major, mut minor) = (ModeCounts::default(), ModeCounts::default());
    let (mut used, mut skipped, mut held) = (0, 0, 0);
    let limits = ImportLimits::default();
    for path in &files {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        if holdout.contains(&stem) {
            held += 1;
            continue;
        }
        let Some(format) = format_of(path) else {
            continue;
        };
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let labelled = parse_score(&bytes, format, None, &limits)
            .map_err(|e| e.to_string())
            .and_then(|score| {
                let key = key_of(&score)?;
                Ok((key, label_beats(&score, &key)?))
            });
        match labelled {
            Ok((key, beats)) => {
                if opts.verbose {
                    let cadences: Vec<String> = beats
                        .iter()
                        .enumerate()
                        .filter(|(_, b)| b.fermata)
                        .map(|(i, b)| {
                            let before = i
                                .checked_sub(1)
                                .and_then(|j| beats[j].chord.clone())
                                .unwrap_or_default();
                            format!("{before}->{}", b.chord.as_deref().unwrap_or("?"))
                        })
                        .collect();
                    println!("{stem}: {} {}", key.label(), cadences.join(" "));
                }
                count(&beats, if key.minor { &mut minor } else { &mut major });
                used += 1;
            }
            Err(why) => {
                eprintln!("skipped {}: {why}", path.display());
                skipped += 1;
            }
        }
    }
    let model = BachModel::from_counts(major, minor);
    let header = format!(
        "Bach chorale harmonisation model: counts of chord successions, chords under melody\n\
         pitch classes and bass members (src/music/harmony_gen/model.rs reads it).\n\
         Built by scripts/build-harmony-model from {used} chorales ({held} held out, {skipped} skipped)."
    );
    std::fs::write(&opts.out, model.to_tsv(&header))
        .map_err(|e| format!("cannot write {}: {e}", opts.out.display()))?;
    println!(
        "{used} chorales counted, {held} held out, {skipped} skipped -> {}",
        opts.out.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("build_harmony_model: {why}");
            ExitCode::from(2)
        }
    }
}
