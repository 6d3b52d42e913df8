//! `music21-prod monitor`: a live terminal dashboard of a running server (its `/metrics` and
//! `/health`) and, when given, of a stress run (its live `/status`); `stress --monitor` shows
//! the same dashboard in-process through [`run_embedded`]. `monitor --once [--json]` prints
//! one sample for scripts.
//!
//! The dashboard never prints: it owns the terminal (raw mode, alternate screen) and gives it
//! back on exit, on a signal and on a panic. `monitor` initialises no logging; inside
//! `stress --monitor` whatever the run prints while the dashboard is up is held in temporary
//! files and replayed once the dashboard closes.

pub mod fmt;
pub mod sample;
pub mod source;
pub mod state;
pub mod ui;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use tokio_util::sync::CancellationToken;

use source::{Poller, StressSource};
use ui::{Action, Theme, Ui};

/// Shortest and longest poll interval accepted.
const MIN_INTERVAL: Duration = Duration::from_millis(100);
const MAX_INTERVAL: Duration = Duration::from_secs(3600);
/// How often the screen is redrawn at most without news (the clock).
const REDRAW: Duration = Duration::from_millis(1000);
/// How often keys are looked at.
const KEY_POLL: Duration = Duration::from_millis(50);

/// Parses `--interval` (`1s`, `500ms`), within 100 ms..1 h.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let d = crate::config::duration::parse(text).map_err(|e| e.to_string())?;
    if d < MIN_INTERVAL || d > MAX_INTERVAL {
        return Err(format!("--interval {text}: give between 100ms and 1h"));
    }
    Ok(d)
}

/// Each request's time limit: the interval, within 1..5 s.
fn request_timeout(interval: Duration) -> Duration {
    interval.clamp(Duration::from_secs(1), Duration::from_secs(5))
}

/// What `monitor` is asked to do; `main` builds it from the command line.
#[derive(Clone, Debug)]
pub struct Options {
    /// Base URL of the server (its `/metrics` and `/health`).
    pub server: String,
    /// The `/status` URL of a stress run, if one is watched.
    pub stress: Option<String>,
    /// Poll interval as written (`1s`, `500ms`); checked by [`parse_interval`].
    pub interval: String,
    pub token: Option<String>,
    /// One sample printed, no dashboard.
    pub once: bool,
    /// With `once`: the sample as JSON.
    pub json: bool,
}

/// `music21-prod monitor`: the exit code (0 fine; 1 server unreachable with `--once`, or the
/// terminal failed; 2 usage).
pub fn run(args: Options) -> anyhow::Result<ExitCode> {
    Ok(ExitCode::from(run_code(args)))
}

fn run_code(args: Options) -> u8 {
    let fail = |m: String| {
        eprintln!("music21-prod monitor: {m}");
        2
    };
    let interval = match parse_interval(&args.interval) {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    if let Err(e) = source::parse_url(&args.server) {
        return fail(format!("--server {e}"));
    }
    if let Some(Err(e)) = args.stress.as_deref().map(source::parse_url) {
        return fail(format!("--stress {e}"));
    }
    let stress = args
        .stress
        .clone()
        .map(StressSource::Url)
        .unwrap_or(StressSource::None);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    let mut poller = Poller::new(
        &args.server,
        args.token.clone(),
        stress,
        request_timeout(interval),
    );
    if args.once {
        let sample = runtime.block_on(async {
            poller.prime();
            // sysinfo needs two readings apart for a CPU percentage.
            tokio::time::sleep(Duration::from_millis(250)).await;
            poller.poll().await
        });
        let text = if args.json {
            serde_json::to_string_pretty(&sample)
                .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
        } else {
            sample::summary(&sample).trim_end().to_string()
        };
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "{text}").and_then(|_| out.flush());
        return if sample.server.reachable { 0 } else { 1 };
    }
    if !io::stdout().is_terminal() {
        return fail(
            "standard output is not a terminal; in scripts use `monitor --once` or `--once --json`"
                .into(),
        );
    }
    let stop = CancellationToken::new();
    let result = runtime.block_on(async {
        watch_signals(stop.clone());
        dashboard(poller, interval, stop, false, io::stdout()).await
    });
    match result {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("music21-prod monitor: terminal error: {e}");
            1
        }
    }
}

/// SIGTERM, SIGHUP or SIGINT end the dashboard cleanly (the terminal is restored).
fn watch_signals(stop: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    for kind in [
        SignalKind::terminate(),
        SignalKind::hangup(),
        SignalKind::interrupt(),
    ] {
        if let Ok(mut s) = signal(kind) {
            let stop = stop.clone();
            tokio::spawn(async move {
                if s.recv().await.is_some() {
                    stop.cancel();
                }
            });
        }
    }
}

/// The dashboard inside `stress --monitor`: the server's figures over HTTP, the run's status
/// straight from `stress_status`. `q` closes the dashboard only (the run goes on); Ctrl-C
/// closes it and then interrupts the process (SIGINT) as it would without the dashboard.
/// Returns when the user closes it or `stop` is cancelled. While it is up, the process'
/// standard output and error go to temporary files, replayed when it closes.
pub async fn run_embedded(
    server_base: String,
    stress_status: Arc<dyn Fn() -> crate::wire::StressStatus + Send + Sync>,
    interval: Duration,
    stop: CancellationToken,
) -> io::Result<()> {
    if !io::stdout().is_terminal() {
        return Err(io::Error::other(
            "standard output is not a terminal; the dashboard needs one",
        ));
    }
    let interval = interval.clamp(MIN_INTERVAL, MAX_INTERVAL);
    let token = std::env::var("MUSIC21_PROD_TOKEN").ok();
    let poller = Poller::new(
        &server_base,
        token,
        StressSource::Embedded(stress_status),
        request_timeout(interval),
    );
    let (diversion, tty) = divert::Diversion::start()?;
    let result = dashboard(poller, interval, stop, true, tty).await;
    diversion.finish();
    match result {
        Ok(Exit::Interrupt) => {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGINT);
            Ok(())
        }
        Ok(Exit::Quit) => Ok(()),
        Err(e) => Err(e),
    }
}

/// How the dashboard ended.
#[derive(Debug, PartialEq, Eq)]
enum Exit {
    Quit,
    Interrupt,
}

/// Whether a dashboard owns the terminal (for the panic hook).
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Gives the terminal back: raw mode off, main screen, cursor shown. Writes to /dev/tty so it
/// works whatever standard output is at the time.
fn restore_terminal() {
    let _ = disable_raw_mode();
    let seq = |w: &mut dyn Write| {
        let _ = w.write_all(b"\x1b[?1049l\x1b[?25h").and_then(|_| w.flush());
    };
    match std::fs::OpenOptions::new().write(true).open("/dev/tty") {
        Ok(mut tty) => seq(&mut tty),
        Err(_) => seq(&mut io::stdout()),
    }
}

/// Restores the terminal (and the diverted output) before the panic message is printed.
fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if ACTIVE.swap(false, Ordering::SeqCst) {
                restore_terminal();
                divert::restore_after_panic();
            }
            previous(info);
        }));
    });
}

/// The terminal, entered on creation and given back on drop.
struct Screen<W: Write> {
    terminal: Terminal<CrosstermBackend<W>>,
}

impl<W: Write> Screen<W> {
    fn enter(mut out: W) -> io::Result<Self> {
        install_panic_hook();
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        if let Err(e) = crossterm::execute!(out, EnterAlternateScreen, crossterm::cursor::Hide) {
            ACTIVE.store(false, Ordering::SeqCst);
            restore_terminal();
            return Err(e);
        }
        match Terminal::new(CrosstermBackend::new(out)) {
            Ok(terminal) => Ok(Screen { terminal }),
            Err(e) => {
                ACTIVE.store(false, Ordering::SeqCst);
                restore_terminal();
                Err(e)
            }
        }
    }
}

impl<W: Write> Drop for Screen<W> {
    fn drop(&mut self) {
        if ACTIVE.swap(false, Ordering::SeqCst) {
            let _ = disable_raw_mode();
            let _ = crossterm::execute!(
                self.terminal.backend_mut(),
                LeaveAlternateScreen,
                crossterm::cursor::Show
            );
        }
    }
}

/// The dashboard loop: samples come from a polling task on the interval; keys are read
/// without blocking the runtime (so it runs inside `stress`' runtime as well).
async fn dashboard<W: Write>(
    mut poller: Poller,
    interval: Duration,
    stop: CancellationToken,
    embedded: bool,
    out: W,
) -> io::Result<Exit> {
    let paused = Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let poll_stop = stop.child_token();
    let polling = {
        let paused = paused.clone();
        let poll_stop = poll_stop.clone();
        tokio::spawn(async move {
            poller.prime();
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = poll_stop.cancelled() => break,
                    _ = ticks.tick() => {}
                }
                if paused.load(Ordering::SeqCst) {
                    continue;
                }
                let sample = tokio::select! {
                    _ = poll_stop.cancelled() => break,
                    s = poller.poll() => s,
                };
                if tx.send(sample).await.is_err() {
                    break;
                }
            }
        })
    };
    let result = async {
        let mut screen = Screen::enter(out)?;
        let mut ui = Ui::new(Theme::from_env(), interval, embedded);
        let mut state = state::DashboardState::new();
        let mut dirty = true;
        let mut last_draw = Instant::now();
        loop {
            while event::poll(Duration::ZERO)? {
                match event::read()? {
                    Event::Key(key) => match ui.handle_key(key) {
                        Action::Quit => return Ok(Exit::Quit),
                        Action::Interrupt => return Ok(Exit::Interrupt),
                        Action::Redraw => {
                            paused.store(ui.paused, Ordering::SeqCst);
                            dirty = true;
                        }
                        Action::None => {}
                    },
                    Event::Resize(_, _) => {
                        screen.terminal.autoresize()?;
                        dirty = true;
                    }
                    _ => {}
                }
            }
            if dirty || last_draw.elapsed() >= REDRAW {
                screen.terminal.draw(|f| ui::draw(f, &state, &ui))?;
                dirty = false;
                last_draw = Instant::now();
            }
            tokio::select! {
                _ = stop.cancelled() => return Ok(Exit::Quit),
                s = rx.recv() => match s {
                    Some(s) => {
                        if !ui.paused {
                            state.ingest(s);
                            dirty = true;
                        }
                    }
                    None => return Ok(Exit::Quit),
                },
                _ = tokio::time::sleep(KEY_POLL) => {}
            }
        }
    }
    .await;
    poll_stop.cancel();
    polling.abort();
    result
}

/// Standard output and error held aside while the embedded dashboard is up.
mod divert {
    use super::*;
    use std::fs::File;
    use std::io::{Read, Seek};
    use std::os::fd::OwnedFd;
    use std::path::PathBuf;

    /// At most this much of what was printed meanwhile is replayed.
    const REPLAY_MAX: u64 = 256 * 1024;

    struct Saved {
        out: OwnedFd,
        err: OwnedFd,
    }

    /// The original descriptors, for the panic hook.
    static SAVED: Mutex<Option<Saved>> = Mutex::new(None);

    pub struct Diversion {
        files: Vec<(PathBuf, File)>,
    }

    fn scratch(name: &str) -> io::Result<(PathBuf, File)> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "music21-prod-monitor-{}-{nanos}.{name}",
            std::process::id()
        ));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok((path, file))
    }

    impl Diversion {
        /// Sends fds 1 and 2 to scratch files; returns a writer on the original standard
        /// output, for the dashboard.
        pub fn start() -> io::Result<(Diversion, File)> {
            let _ = io::stdout().flush();
            let _ = io::stderr().flush();
            let out = nix::unistd::dup(io::stdout())?;
            let err = nix::unistd::dup(io::stderr())?;
            let tty = File::from(nix::unistd::dup(io::stdout())?);
            let (out_path, out_file) = scratch("stdout")?;
            let (err_path, err_file) = match scratch("stderr") {
                Ok(f) => f,
                Err(e) => {
                    let _ = std::fs::remove_file(&out_path);
                    return Err(e);
                }
            };
            *SAVED.lock().unwrap_or_else(|p| p.into_inner()) = Some(Saved { out, err });
            nix::unistd::dup2_stdout(&out_file)?;
            nix::unistd::dup2_stderr(&err_file)?;
            Ok((
                Diversion {
                    files: vec![(out_path, out_file), (err_path, err_file)],
                },
                tty,
            ))
        }

        /// Puts fds 1 and 2 back and replays what was printed meanwhile.
        pub fn finish(self) {
            restore();
            for (i, (path, mut file)) in self.files.into_iter().enumerate() {
                let mut text = Vec::new();
                let len = file.metadata().map(|m| m.len()).unwrap_or(0);
                if file.rewind().is_ok() {
                    let _ = (&mut file).take(REPLAY_MAX).read_to_end(&mut text);
                }
                if !text.is_empty() {
                    let mut sink: Box<dyn Write> = if i == 0 {
                        Box::new(io::stdout().lock())
                    } else {
                        Box::new(io::stderr().lock())
                    };
                    let _ = sink.write_all(&text);
                    if len > REPLAY_MAX {
                        let _ = writeln!(
                            sink,
                            "\n[... {} more bytes while the dashboard was up]",
                            len - REPLAY_MAX
                        );
                    }
                    let _ = sink.flush();
                }
                let _ = std::fs::remove_file(path);
            }
        }
    }

    fn restore() {
        let _ = io::stdout().flush();
        let _ = io::stderr().flush();
        if let Some(saved) = SAVED.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = nix::unistd::dup2_stdout(&saved.out);
            let _ = nix::unistd::dup2_stderr(&saved.err);
        }
    }

    /// From the panic hook: the panic message goes to the real standard error.
    pub fn restore_after_panic() {
        if let Ok(mut guard) = SAVED.try_lock() {
            if let Some(saved) = guard.take() {
                let _ = nix::unistd::dup2_stdout(&saved.out);
                let _ = nix::unistd::dup2_stderr(&saved.err);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("1s").unwrap(), Duration::from_secs(1));
        assert_eq!(parse_interval("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_interval("10ms").is_err());
        assert!(parse_interval("soon").is_err());
        assert_eq!(
            request_timeout(Duration::from_millis(200)),
            Duration::from_secs(1)
        );
        assert_eq!(
            request_timeout(Duration::from_secs(60)),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn once_against_nothing_is_unreachable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let args = Options {
            server: format!("http://127.0.0.1:{port}"),
            stress: None,
            interval: "1s".into(),
            token: None,
            once: true,
            json: true,
        };
        assert_eq!(run_code(args), 1);
    }
}
