//! `music21-prod setup`: preflight checks (each ✓, ✗ or ! with a reason, and for ✗ what to
//! do), `--fix` for what can be fixed safely, `--json` for scripts, and `--fetch-corpus` to
//! install music21's corpus from PyPI.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context};

use serde::Serialize;

use crate::config::{Config, ConfigError};

pub use crate::config::shipped::DEFAULT_CONFIGS;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
    /// For a failure: what to do.
    pub fix: Option<String>,
}

fn ok(name: &str, detail: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        status: Status::Ok,
        detail: detail.into(),
        fix: None,
    }
}
fn warn(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        status: Status::Warn,
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}
fn fail(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        status: Status::Fail,
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

pub struct SetupOptions {
    pub config: Option<String>,
    pub fix: bool,
    pub json: bool,
    /// Where `configs/` is (the current directory by default).
    pub root: PathBuf,
}

fn check_os() -> Check {
    match nix::sys::utsname::uname() {
        Ok(u) => {
            let system = u.sysname().to_string_lossy().into_owned();
            let release = u.release().to_string_lossy().into_owned();
            if system == "Linux" {
                ok(
                    "os",
                    format!("{system} {release} ({})", u.machine().to_string_lossy()),
                )
            } else {
                warn(
                    "os",
                    format!("{system} {release}"),
                    "music21-prod is built and tested on Linux (it reads /proc for memory)",
                )
            }
        }
        Err(e) => warn(
            "os",
            format!("cannot read: {e}"),
            "check that this is Linux",
        ),
    }
}

fn check_cpus() -> Check {
    let n = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if n >= 2 {
        ok("cpu", format!("{n} cores"))
    } else {
        warn(
            "cpu",
            format!("{n} core"),
            "one core serves, but workers and users compete for it; expect lower throughput",
        )
    }
}

fn check_memory(config: &Config) -> Check {
    let available = crate::sysmem::available_bytes().unwrap_or(0) / (1024 * 1024);
    let total = crate::sysmem::total_bytes().unwrap_or(0) / (1024 * 1024);
    let budget = config.server.memory.budget_mb;
    let stress_need = 512 + config.stress.users as u64 * 2;
    if available < 512 {
        fail(
            "memory",
            format!("{available} MiB available of {total} MiB"),
            "free memory: at least 512 MiB are needed to parse and analyse scores",
        )
    } else if available < budget {
        warn(
            "memory",
            format!("{available} MiB available, below server.memory.budget_mb = {budget}"),
            "lower server.memory.budget_mb so the memory guard acts before the system runs out",
        )
    } else {
        ok("memory", format!("{available} MiB available of {total} MiB; server budget {budget} MiB, a stress run needs about {stress_need} MiB"))
    }
}

fn check_disk(dir: &Path) -> Check {
    let probe = std::iter::successors(Some(dir), |p| p.parent())
        .find(|p| p.exists())
        .unwrap_or(Path::new("."));
    match nix::sys::statvfs::statvfs(probe) {
        Ok(s) => {
            let free_mb = s.blocks_available() * s.fragment_size() / (1024 * 1024);
            if free_mb < 200 {
                fail(
                    "disk",
                    format!("{free_mb} MiB free at {}", probe.display()),
                    "free disk space: the store and stress runs need at least 200 MiB",
                )
            } else if free_mb < 2048 {
                warn(
                    "disk",
                    format!("{free_mb} MiB free at {}", probe.display()),
                    "a long stress run with large scores may need more than 2 GiB",
                )
            } else {
                ok(
                    "disk",
                    format!("{} GiB free at {}", free_mb / 1024, probe.display()),
                )
            }
        }
        Err(e) => warn(
            "disk",
            format!("cannot read free space at {}: {e}", probe.display()),
            "check the data directory's file system",
        ),
    }
}

fn check_fds(config: &Config) -> Check {
    let (soft, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .unwrap_or((0, 0));
    let need = 64 + config.server.max_sessions as u64 * 2 + config.stress.users as u64 * 6;
    if soft >= need {
        ok(
            "open files",
            format!(
                "limit {soft}, {need} needed for {} sessions and {} stress users",
                config.server.max_sessions, config.stress.users
            ),
        )
    } else {
        fail("open files", format!("limit {soft}, {need} needed"), format!("raise it: `ulimit -n {}` (hard limit {hard}), or lower server.max_sessions / stress.users", need.min(hard.max(need))))
    }
}

fn check_port(config: &Config) -> Check {
    let addr = format!("{}:{}", config.server.bind, config.server.port);
    match std::net::TcpListener::bind(&addr) {
        Ok(_) => ok("port", format!("{addr} is free")),
        Err(e) => fail(
            "port",
            format!("{addr}: {e}"),
            "stop what listens there, or choose another port (server.port or MUSIC21_PROD_PORT)",
        ),
    }
}

/// The nearest existing ancestor of `dir`, when a file can be written there (so that
/// `dir` can be created).
fn creatable_under(dir: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(dir).ok()?;
    let parent = absolute.ancestors().skip(1).find(|p| p.is_dir())?;
    writable(parent).then(|| parent.to_path_buf())
}

/// Whether a file can be written in `dir` (tried, then removed).
fn writable(dir: &Path) -> bool {
    let probe = dir.join(".music21-prod-setup-probe");
    let ok = std::fs::write(&probe, b"ok").is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

fn check_data_dir(config: &Config, fix: bool) -> Vec<Check> {
    let dir = &config.server.data_dir;
    if !dir.exists() {
        if fix {
            if let Err(e) = std::fs::create_dir_all(dir) {
                return vec![fail(
                    "data dir",
                    format!("cannot create {}: {e}", dir.display()),
                    "create it by hand or choose another server.data_dir",
                )];
            }
        } else {
            // The server creates it on first start; it is a failure only if it cannot.
            return match creatable_under(dir) {
                Some(parent) => vec![warn(
                    "data dir",
                    format!(
                        "{} does not exist yet (the server creates it in {}, which is writable)",
                        dir.display(),
                        parent.display()
                    ),
                    "run `music21-prod setup --fix` to create it now",
                )],
                None => vec![fail(
                    "data dir",
                    format!(
                        "{} does not exist and cannot be created (no writable parent)",
                        dir.display()
                    ),
                    "create it by hand or choose another server.data_dir",
                )],
            };
        }
    }
    if !writable(dir) {
        return vec![fail(
            "data dir",
            format!("{} is not writable", dir.display()),
            "fix its permissions or choose another server.data_dir",
        )];
    }
    let mut checks = vec![ok("data dir", format!("{} is writable", dir.display()))];
    match crate::store::Store::open(dir, &config.store).and_then(|s| s.integrity_check().map(|_| s)) {
        Ok(store) => {
            let stats = store.stats().map(|s| format!("{} scores, {} bytes", s.scores, s.bytes)).unwrap_or_default();
            checks.push(ok("store", format!("{} passes its integrity check ({stats})", store.location())));
        }
        Err(e) => checks.push(fail("store", e.message, "move the damaged scores.sqlite3 aside; the server creates a new one (scores in it are lost)")),
    }
    checks
}

/// Where music21 is installed, if Python can import it.
pub fn find_music21_corpus() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import music21, os; print(os.path.join(os.path.dirname(music21.__file__), 'corpus'))",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    dir.is_dir().then_some(dir)
}

fn check_corpus(config: &Config) -> Vec<Check> {
    let mut checks = Vec::new();
    let builtin = crate::music::corpus::BUILTIN;
    let formats: std::collections::BTreeSet<_> = builtin.iter().map(|p| p.format.name()).collect();
    let unreadable: Vec<&str> = builtin
        .iter()
        .filter(|p| {
            crate::music::parse::parse_score(p.bytes, p.format, None, &config.limits).is_err()
        })
        .map(|p| p.name)
        .collect();
    if unreadable.is_empty() {
        checks.push(ok(
            "built-in corpus",
            format!(
                "{} pieces in {} formats, all readable",
                builtin.len(),
                formats.len()
            ),
        ));
    } else {
        checks.push(fail(
            "built-in corpus",
            format!("unreadable: {}", unreadable.join(", ")),
            "this is a bug in the build; report it",
        ));
    }
    let configured: Vec<&PathBuf> = config.corpus.dirs.iter().collect();
    let with_bach = configured.iter().find(|d| d.join("bach").is_dir());
    // Python is asked (a slow subprocess) only when no configured directory has the corpus.
    let installed = if with_bach.is_none() {
        find_music21_corpus()
    } else {
        None
    };
    match (with_bach, installed) {
        (Some(dir), _) => checks.push(ok(
            "music21 corpus",
            format!("{} (configured in corpus.dirs)", dir.display()),
        )),
        (None, Some(found)) => checks.push(warn(
            "music21 corpus",
            format!(
                "music21 is installed, its corpus is at {}, but corpus.dirs does not name it",
                found.display()
            ),
            format!(
                "add dirs = [\"{}\"] under [corpus] in your config",
                found.display()
            ),
        )),
        (None, None) => checks.push(warn(
            "music21 corpus",
            "not found (corpus names like bach/bwv66.6 resolve only in the built-in corpus)",
            "run `music21-prod setup --fetch-corpus` to download it from PyPI",
        )),
    }
    for dir in configured {
        if !dir.is_dir() {
            checks.push(fail(
                "corpus dir",
                format!("{} (in corpus.dirs) does not exist", dir.display()),
                "fix corpus.dirs or run `music21-prod setup --fetch-corpus`",
            ));
        }
    }
    checks
}

fn check_configs(root: &Path, fix: bool) -> Vec<Check> {
    let dir = root.join("configs");
    let mut checks = Vec::new();
    for (name, default) in DEFAULT_CONFIGS {
        let path = dir.join(name);
        if !path.exists() {
            if fix {
                let written =
                    std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&path, default));
                match written {
                    Ok(()) => checks.push(ok(
                        "config",
                        format!("{} written (defaults)", path.display()),
                    )),
                    Err(e) => checks.push(fail(
                        "config",
                        format!("cannot write {}: {e}", path.display()),
                        "check the directory's permissions",
                    )),
                }
            } else {
                checks.push(warn(
                    "config",
                    format!(
                        "{} is missing (the built-in defaults apply)",
                        path.display()
                    ),
                    "run `music21-prod setup --fix` to write it",
                ));
            }
            continue;
        }
        // A changed file is the user's: it is validated, never overwritten.
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                checks.push(fail(
                    "config",
                    format!("cannot read {}: {e}", path.display()),
                    "check its permissions",
                ));
                continue;
            }
        };
        let valid = Config::from_toml(&text, &path)
            .and_then(|c| c.validate(&path.display().to_string()).map(|_| c));
        match valid {
            Ok(_) if text == *default => checks.push(ok(
                "config",
                format!("{} valid (the defaults)", path.display()),
            )),
            Ok(_) => checks.push(ok(
                "config",
                format!("{} valid (changed from the defaults)", path.display()),
            )),
            Err(e) => checks.push(fail(
                "config",
                e.to_string(),
                format!("fix {} (the error names the key)", path.display()),
            )),
        }
    }
    checks
}

/// Runs every check; returns them in order.
pub fn checks(options: &SetupOptions) -> Result<Vec<Check>, ConfigError> {
    let config = Config::load(options.config.as_deref())?;
    let mut all = vec![
        check_os(),
        check_cpus(),
        check_memory(&config),
        check_disk(&config.server.data_dir),
        check_fds(&config),
        check_port(&config),
    ];
    all.extend(check_data_dir(&config, options.fix));
    all.extend(check_corpus(&config));
    all.extend(check_configs(&options.root, options.fix));
    Ok(all)
}

/// `music21-prod setup`: prints the checks; exit 0 when none failed, 1 when one did. A
/// configuration that cannot be read is an error (exit 2), printed as JSON with `--json`.
pub fn run(options: SetupOptions) -> anyhow::Result<ExitCode> {
    let checks = match checks(&options) {
        Ok(c) => c,
        Err(e) if options.json => {
            println!(
                "{}",
                serde_json::json!({"ok": false, "error": e.to_string()})
            );
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e.into()),
    };
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    if options.json {
        let out = serde_json::json!({"ok": failed == 0, "failed": failed, "checks": checks});
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        for c in &checks {
            let mark = match c.status {
                Status::Ok => "✓",
                Status::Warn => "!",
                Status::Fail => "✗",
            };
            println!("{mark} {:<16} {}", c.name, c.detail);
            if c.status != Status::Ok {
                if let Some(fix) = &c.fix {
                    println!("  {:<16} → {fix}", "");
                }
            }
        }
        if failed == 0 {
            println!("\nready: nothing failed");
        } else {
            println!("\n{failed} check(s) failed; fix the ✗ lines above");
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `setup --fetch-corpus [DIR]`: music21's corpus from its PyPI wheel into DIR, verified,
/// and recorded in the config.
pub fn fetch_corpus(dir: Option<PathBuf>, config: Option<String>) -> anyhow::Result<ExitCode> {
    let target = dir.unwrap_or_else(|| PathBuf::from("music21-corpus"));
    println!("fetch-corpus: this will");
    println!("  1. run `python3 -m pip download music21 --no-deps` into a temporary directory (needs pip and access to PyPI),");
    println!(
        "  2. unpack the wheel's music21/corpus/ into {},",
        target.display()
    );
    println!("  3. check that bach/bwv66.6 is there,");
    println!(
        "  4. add {} to corpus.dirs in the config.",
        target.display()
    );
    let tmp = tempfile::tempdir().context("cannot make a temporary directory")?;
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "music21",
            "--no-deps",
            "--only-binary=:all:",
            "--quiet",
            "-d",
        ])
        .arg(tmp.path())
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => bail!("pip failed ({s}); is the network (PyPI) reachable? `python3 -m pip download music21 --no-deps` shows the error"),
        Err(e) => bail!("cannot run python3 -m pip ({e}); install Python 3 with pip, or download music21's wheel by hand and unpack music21/corpus/"),
    }
    let wheel = std::fs::read_dir(tmp.path()).ok().and_then(|entries| {
        entries
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "whl"))
    });
    let Some(wheel) = wheel else {
        bail!("pip downloaded no wheel");
    };
    println!(
        "downloaded {}",
        wheel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let unpacked = unpack_corpus(&wheel, &target)?;
    if !target.join("bach").is_dir()
        || crate::music::corpus::resolve("bach/bwv66.6", std::slice::from_ref(&target)).is_err()
    {
        bail!(
            "{} has no bach/bwv66.6 after unpacking; the wheel's layout may have changed",
            target.display()
        );
    }
    println!(
        "unpacked {unpacked} files into {}; bach/bwv66.6 found",
        target.display()
    );
    let absolute = target.canonicalize().unwrap_or(target);
    match record_corpus_dir(config.as_deref(), &absolute) {
        Ok(path) => {
            println!(
                "recorded {} in corpus.dirs of {}",
                absolute.display(),
                path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => bail!(
            "the corpus is in {}, but {e:#}; add it to corpus.dirs by hand",
            absolute.display()
        ),
    }
}

fn unpack_corpus(wheel: &Path, target: &Path) -> anyhow::Result<usize> {
    let file = std::fs::File::open(wheel).context("cannot open the wheel")?;
    let mut archive = zip::ZipArchive::new(file).context("the wheel is not a zip archive")?;
    let mut count = 0;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).context("bad wheel entry")?;
        let Some(path) = entry.enclosed_name() else {
            continue;
        };
        let Ok(rest) = path.strip_prefix("music21/corpus") else {
            continue;
        };
        if entry.is_dir() || rest.as_os_str().is_empty() {
            continue;
        }
        let out = target.join(rest);
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::File::create(&out)
            .and_then(|mut f| std::io::copy(&mut entry, &mut f))
            .with_context(|| format!("cannot write {}", out.display()))?;
        count += 1;
    }
    Ok(count)
}

/// Adds `dir` to `corpus.dirs` in the config file (the named one, else configs/server.toml,
/// written from the defaults when absent), keeping the rest of the file as it was.
pub fn record_corpus_dir(config: Option<&str>, dir: &Path) -> anyhow::Result<PathBuf> {
    let path = match config {
        Some(name) => crate::config::resolve_config_path(name)?,
        None => PathBuf::from("configs/server.toml"),
    };
    let text = if path.exists() {
        std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?
    } else {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        DEFAULT_CONFIGS[0].1.to_string()
    };
    let mut config = Config::from_toml(&text, &path)?;
    if !config.corpus.dirs.iter().any(|d| d == dir) {
        config.corpus.dirs.push(dir.to_path_buf());
    }
    let list = config
        .corpus
        .dirs
        .iter()
        .map(|d| format!("{:?}", d.display().to_string()))
        .collect::<Vec<_>>()
        .join(", ");
    let new_line = format!("dirs = [{list}]");
    // Replace the `dirs = ...` line of the [corpus] table, or add one after the header.
    let mut out = Vec::new();
    let mut in_corpus = false;
    let mut done = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            if in_corpus && !done {
                out.push(new_line.clone());
                done = true;
            }
            in_corpus = trimmed == "[corpus]";
        }
        if in_corpus && !done && trimmed.starts_with("dirs") && trimmed.contains('=') {
            out.push(new_line.clone());
            done = true;
            continue;
        }
        out.push(line.to_string());
    }
    if !done {
        if !in_corpus {
            out.push(String::new());
            out.push("[corpus]".into());
        }
        out.push(new_line);
    }
    let new_text = out.join("\n") + "\n";
    Config::from_toml(&new_text, &path).context("the updated config would not parse")?;
    std::fs::write(&path, new_text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_dir_is_recorded_keeping_comments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "# my comment\n[server]\nport = 9000\n\n[corpus]\n# where\ndirs = []\n",
        )
        .unwrap();
        let recorded =
            record_corpus_dir(Some(path.to_str().unwrap()), Path::new("/opt/m21")).unwrap();
        let text = std::fs::read_to_string(recorded).unwrap();
        assert!(text.contains("# my comment") && text.contains("# where"));
        let config = Config::from_toml(&text, &path).unwrap();
        assert_eq!(config.corpus.dirs, vec![PathBuf::from("/opt/m21")]);
        assert_eq!(config.server.port, 9000);
        // Twice is once.
        record_corpus_dir(Some(path.to_str().unwrap()), Path::new("/opt/m21")).unwrap();
        let config = Config::from_toml(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
        assert_eq!(config.corpus.dirs.len(), 1);
    }

    #[test]
    fn corpus_table_is_added_when_absent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[server]\nport = 9000\n").unwrap();
        record_corpus_dir(Some(path.to_str().unwrap()), Path::new("/opt/m21")).unwrap();
        let config = Config::from_toml(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
        assert_eq!(config.corpus.dirs, vec![PathBuf::from("/opt/m21")]);
    }

    #[test]
    fn a_missing_data_dir_is_a_warning_and_fix_creates_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.server.data_dir = dir.path().join("not").join("yet");
        let checks = check_data_dir(&config, false);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].status, Status::Warn, "{:?}", checks[0]);
        assert!(
            !config.server.data_dir.exists(),
            "without --fix nothing is created"
        );
        let fixed = check_data_dir(&config, true);
        assert!(fixed.iter().all(|c| c.status == Status::Ok), "{fixed:?}");
        assert!(config.server.data_dir.is_dir());
    }

    #[test]
    fn shipped_defaults_are_embedded() {
        assert!(DEFAULT_CONFIGS.iter().any(|(n, _)| *n == "smoke.toml"));
        for (name, text) in DEFAULT_CONFIGS {
            Config::from_toml(text, Path::new(name)).unwrap();
        }
    }
}
