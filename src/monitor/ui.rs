//! The dashboard's screens, drawn with ratatui from a [`State`]: overview, per-tool,
//! workers and events views, the help overlay and the unreachable-server banner. Layouts
//! shrink to fit down to 80×24; without colour (NO_COLOR) states are shown by words and
//! bold/reversed text.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Borders, Cell, Chart, Clear, Dataset, Gauge, GraphType, Paragraph, Row, Sparkline,
    Table, Wrap,
};
use ratatui::Frame;

use crate::monitor::fmt::{bytes_text, clock, count, duration_text, ms_text, rate_text};
use crate::monitor::sample::{Sample, StressInfo, ThresholdState};
use crate::monitor::state::{Alert, Severity, State, LATENCY_WINDOW_MS};
use crate::wire::status::{Recovery, TimelineEvent};

// ------------------------------------------------------------------------------ theme

/// Colours, or (NO_COLOR) modifiers only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// Colour unless `NO_COLOR` is set (to anything non-empty) or `TERM=dumb`.
    pub fn from_env() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        Theme {
            color: !no_color && !dumb,
        }
    }
    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }
    pub fn ok(&self) -> Style {
        self.fg(Color::Green)
    }
    pub fn warn(&self) -> Style {
        if self.color {
            Style::default().fg(Color::Yellow)
        } else {
            Style::default().add_modifier(Modifier::BOLD)
        }
    }
    pub fn crit(&self) -> Style {
        if self.color {
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
        } else {
            Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED)
        }
    }
    pub fn dim(&self) -> Style {
        if self.color {
            Style::default().fg(Color::DarkGray)
        } else {
            Style::default().add_modifier(Modifier::DIM)
        }
    }
    pub fn title(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    pub fn label(&self) -> Style {
        self.fg(Color::Gray)
    }
    pub fn value(&self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }
    pub fn severity(&self, s: Severity) -> Style {
        match s {
            Severity::Info => self.fg(Color::Blue),
            Severity::Warning => self.warn(),
            Severity::Critical => self.crit(),
        }
    }
    pub fn breaker(&self, state: &str) -> Style {
        match state {
            "closed" => self.ok(),
            "open" => self.crit(),
            _ => self.warn(),
        }
    }
    pub fn status(&self, status: &str) -> Style {
        match status {
            "healthy" => self.ok().add_modifier(Modifier::BOLD),
            "degraded" => self.warn().add_modifier(Modifier::BOLD),
            _ => self.crit(),
        }
    }
    fn pressure(&self, ratio: f64, pressure: Option<&str>) -> Style {
        match pressure {
            Some("hard") => self.crit(),
            Some("soft") => self.warn(),
            _ if ratio >= 0.9 => self.crit(),
            _ if ratio >= 0.75 => self.warn(),
            _ => self.ok(),
        }
    }
}

/// The word of a breaker state (NO_COLOR shows the state by its word).
pub fn breaker_word(state: &str) -> &'static str {
    match state {
        "closed" => "closed",
        "open" => "OPEN",
        "half_open" => "half-open",
        _ => "?",
    }
}

// ------------------------------------------------------------------------------ UI state

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Overview,
    Tools,
    Workers,
    Events,
}

impl View {
    pub const ALL: [View; 4] = [View::Overview, View::Tools, View::Workers, View::Events];
    pub fn name(self) -> &'static str {
        match self {
            View::Overview => "Overview",
            View::Tools => "Tools",
            View::Workers => "Workers",
            View::Events => "Events",
        }
    }
    fn index(self) -> usize {
        View::ALL.iter().position(|v| *v == self).unwrap_or(0)
    }
}

/// What the user chose on screen.
pub struct Ui {
    pub view: View,
    /// Scroll offset per view.
    pub scroll: [u16; 4],
    pub help: bool,
    pub paused: bool,
    pub theme: Theme,
    /// Inside `stress --monitor` (q closes the dashboard only).
    pub embedded: bool,
    pub interval: Duration,
    /// The clock of the header; `None`: the time of the last sample.
    pub now_unix_ms: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    None,
    Redraw,
    Quit,
    /// Ctrl-C: quit, and (inside `stress`) interrupt the run as Ctrl-C would.
    Interrupt,
}

impl Ui {
    pub fn new(theme: Theme, interval: Duration, embedded: bool) -> Self {
        Ui {
            view: View::Overview,
            scroll: [0; 4],
            help: false,
            paused: false,
            theme,
            embedded,
            interval,
            now_unix_ms: None,
        }
    }

    pub fn handle_key(&mut self, key: KeyEvent) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let i = self.view.index();
        match key.code {
            KeyCode::Char('c') if ctrl => return Action::Interrupt,
            KeyCode::Char('q') | KeyCode::Char('Q') => return Action::Quit,
            KeyCode::Esc if self.help => self.help = false,
            KeyCode::Esc => return Action::Quit,
            KeyCode::Char('?') | KeyCode::Char('h') | KeyCode::F(1) => self.help = !self.help,
            KeyCode::Char('p') | KeyCode::Char('P') | KeyCode::Char(' ') => {
                self.paused = !self.paused
            }
            KeyCode::Tab => self.view = View::ALL[(i + 1) % 4],
            KeyCode::BackTab => self.view = View::ALL[(i + 3) % 4],
            KeyCode::Char(c @ '1'..='4') => self.view = View::ALL[c as usize - '1' as usize],
            KeyCode::Up | KeyCode::Char('k') => self.scroll[i] = self.scroll[i].saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => self.scroll[i] = self.scroll[i].saturating_add(1),
            KeyCode::PageUp => self.scroll[i] = self.scroll[i].saturating_sub(10),
            KeyCode::PageDown => self.scroll[i] = self.scroll[i].saturating_add(10),
            KeyCode::Home => self.scroll[i] = 0,
            _ => return Action::None,
        }
        Action::Redraw
    }
}

// ------------------------------------------------------------------------------ drawing

fn block(title: &str, theme: &Theme) -> Block<'static> {
    Block::bordered().title(Span::styled(format!(" {title} "), theme.title()))
}

fn kv(label: &str, value: String, value_style: Style, theme: &Theme) -> Vec<Span<'static>> {
    vec![
        Span::styled(format!("{label} "), theme.label()),
        Span::styled(value, value_style),
    ]
}

/// Draws the whole dashboard.
pub fn draw(frame: &mut Frame, state: &State, ui: &Ui) {
    let area = frame.area();
    let theme = &ui.theme;
    if area.width < 40 || area.height < 12 {
        let text = format!(
            "terminal too small ({}×{}); the dashboard needs 80×24",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return;
    }
    let compact = area.width < 110 || area.height < 34;
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(frame, header, state, ui, compact);
    match ui.view {
        View::Overview => overview(frame, body, state, ui, compact),
        View::Tools => tools_view(frame, body, state, ui, compact),
        View::Workers => workers_view(frame, body, state, ui, compact),
        View::Events => events_view(frame, body, state, ui),
    }
    draw_footer(frame, footer, ui, theme);
    if ui.help {
        help(frame, area, ui);
    }
}

fn now_ms(state: &State, ui: &Ui) -> u64 {
    ui.now_unix_ms
        .or_else(|| state.last.as_ref().map(|s| s.taken_unix_ms))
        .unwrap_or_else(crate::monitor::sample::now_unix_ms)
}

fn draw_header(frame: &mut Frame, area: Rect, state: &State, ui: &Ui, compact: bool) {
    let theme = &ui.theme;
    let sep = || Span::styled(" │ ", theme.dim());
    let mut spans = Vec::new();
    if !compact {
        spans.push(Span::styled("music21-prod monitor", theme.title()));
        spans.push(sep());
    }
    let url = state
        .last
        .as_ref()
        .map(|s| s.server.url.clone())
        .unwrap_or_else(|| "connecting…".into());
    spans.push(Span::raw(url));
    spans.push(sep());
    match state.last.as_ref() {
        None => spans.push(Span::styled("WAITING", theme.dim())),
        Some(s) if !s.server.reachable => spans.push(Span::styled(" UNREACHABLE ", theme.crit())),
        Some(s) => {
            let status = s
                .server
                .status
                .clone()
                .unwrap_or_else(|| "answering".into());
            spans.push(Span::styled(status.to_uppercase(), theme.status(&status)));
            if let Some(v) = &s.server.version {
                spans.push(sep());
                let rev: String = s
                    .server
                    .git_revision
                    .clone()
                    .unwrap_or_default()
                    .chars()
                    .take(7)
                    .collect();
                spans.push(Span::raw(format!("v{v} {rev}")));
            }
            if let Some(up) = s.server.uptime_s {
                spans.push(sep());
                spans.push(Span::raw(format!("up {}", duration_text(up))));
            }
        }
    }
    spans.push(sep());
    spans.push(Span::raw(format!("{}Z", clock(now_ms(state, ui)))));
    if ui.paused {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(" PAUSED ", theme.crit()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_footer(frame: &mut Frame, area: Rect, ui: &Ui, theme: &Theme) {
    let mut spans = Vec::new();
    for (i, v) in View::ALL.iter().enumerate() {
        let text = format!(" {}:{} ", i + 1, v.name());
        if *v == ui.view {
            spans.push(Span::styled(
                text,
                Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD),
            ));
        } else {
            spans.push(Span::styled(text, theme.label()));
        }
    }
    let quit = if ui.embedded { "q close" } else { "q quit" };
    let pause = if ui.paused { "p resume" } else { "p pause" };
    spans.push(Span::styled(
        format!(" {quit}  {pause}  Tab view  ↑↓ scroll  ? help"),
        theme.dim(),
    ));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn help(frame: &mut Frame, area: Rect, ui: &Ui) {
    let theme = &ui.theme;
    let w = 60.min(area.width.saturating_sub(2));
    let h = 15.min(area.height.saturating_sub(2));
    let rect = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    let quit = if ui.embedded {
        "close the dashboard (the run goes on)"
    } else {
        "quit"
    };
    let lines: Vec<Line> = [
        ("q, Esc", quit),
        ("Ctrl-C", if ui.embedded { "close and interrupt the run" } else { "quit" }),
        ("p, Space", "pause / resume polling"),
        ("Tab, Shift-Tab", "next / previous view"),
        ("1 2 3 4", "overview, tools, workers, events"),
        ("↑ ↓ j k", "scroll"),
        ("PgUp PgDn Home", "scroll faster, to the top"),
        ("?", "this help"),
    ]
    .iter()
    .map(|(k, v)| Line::from(vec![Span::styled(format!("{k:<16}"), theme.value()), Span::raw(v.to_string())]))
    .chain([
        Line::raw(""),
        Line::styled(
            format!(
                "Polls every {:.1} s. Per-tool rates and p50/p95/p99 cover the last {} s; * marks server-lifetime figures. Times are UTC. NO_COLOR=1 turns colours off.",
                ui.interval.as_secs_f64(),
                LATENCY_WINDOW_MS / 1000
            ),
            theme.dim(),
        ),
    ])
    .collect();
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(block("Help", theme)),
        rect,
    );
}

// ------------------------------------------------------------------------------ overview

fn overview(frame: &mut Frame, area: Rect, state: &State, ui: &Ui, compact: bool) {
    let shown = state.shown();
    let stress = state.last.as_ref().and_then(|s| s.stress.as_ref());
    let (traffic_h, mid_h, mem_h, stress_h) = if compact {
        if stress.is_some() {
            (6, 7, 3, 3)
        } else {
            (6, 8, 3, 0)
        }
    } else if stress.is_some() {
        (8, 8, 6, 9)
    } else {
        (10, 9, 7, 0)
    };
    // Give up the stress strip before anything else when the height is short.
    let stress_h = if area.height >= traffic_h + mid_h + mem_h + stress_h + 2 {
        stress_h
    } else {
        0
    };
    let [traffic, mid, mem, chaos, alerts] = Layout::vertical([
        Constraint::Length(traffic_h),
        Constraint::Length(mid_h),
        Constraint::Length(mem_h),
        Constraint::Length(stress_h),
        Constraint::Min(2),
    ])
    .areas(area);
    if state.reachable() {
        traffic_panel(frame, traffic, state, ui, compact);
    } else {
        unreachable_banner(frame, traffic, state, ui);
    }
    // Wide: room for two columns of breakers.
    let split = if compact { 50 } else { 57 };
    let [left, right] = Layout::horizontal([
        Constraint::Percentage(split),
        Constraint::Percentage(100 - split),
    ])
    .areas(mid);
    breakers_panel(frame, left, shown, ui, state.reachable());
    workers_panel(frame, right, shown, ui, compact, state.reachable());
    if compact {
        memory_panel(frame, mem, state.last.as_ref(), shown, ui, compact);
    } else {
        let [m, l] = Layout::horizontal([
            Constraint::Percentage(split),
            Constraint::Percentage(100 - split),
        ])
        .areas(mem);
        memory_panel(frame, m, state.last.as_ref(), shown, ui, compact);
        latency_panel(frame, l, state, ui);
    }
    if let (Some(st), true) = (stress, stress_h > 0) {
        if compact {
            stress_strip(frame, chaos, st, ui);
        } else {
            stress_panel(frame, chaos, st, ui);
        }
    }
    alerts_panel(frame, alerts, state, ui, compact);
}

fn unreachable_banner(frame: &mut Frame, area: Rect, state: &State, ui: &Ui) {
    let theme = &ui.theme;
    let Some(last) = state.last.as_ref() else {
        let p = Paragraph::new(format!(
            "Connecting… first sample within {:.1} s",
            ui.interval.as_secs_f64()
        ))
        .block(block("Traffic", theme));
        frame.render_widget(p, area);
        return;
    };
    let since = match state.last_ok_unix_ms {
        Some(t) => format!("last answer at {}Z", clock(t)),
        None => "no answer yet".into(),
    };
    let lines = vec![
        Line::from(Span::styled(format!("Server {} is unreachable", last.server.url), theme.crit())),
        Line::raw(format!("  {}", last.server.error.as_deref().unwrap_or("no answer"))),
        Line::styled(
            format!(
                "  retrying every {:.1} s (failed {} times in a row; {since}); figures below are the last known",
                ui.interval.as_secs_f64(),
                state.failures_in_a_row
            ),
            theme.dim(),
        ),
    ];
    let p = Paragraph::new(lines).wrap(Wrap { trim: false }).block(
        Block::bordered()
            .title(Span::styled(" Server unreachable ", theme.crit()))
            .border_style(theme.crit()),
    );
    frame.render_widget(p, area);
}

fn traffic_panel(frame: &mut Frame, area: Rect, state: &State, ui: &Ui, compact: bool) {
    let theme = &ui.theme;
    let stats_w = if compact { 34 } else { 42 };
    let [chart_area, stats_area] =
        Layout::horizontal([Constraint::Min(20), Constraint::Length(stats_w)]).areas(area);
    let window_s: f64 = if compact { 60.0 } else { 120.0 };
    let now = state.last.as_ref().map(|s| s.taken_unix_ms).unwrap_or(0);
    let rel = |t: u64| -((now.saturating_sub(t)) as f64 / 1000.0);
    let pts: Vec<_> = state
        .points
        .iter()
        .filter(|p| rel(p.t_ms) >= -window_s)
        .collect();
    let rps: Vec<(f64, f64)> = pts.iter().map(|p| (rel(p.t_ms), p.rps)).collect();
    let errs: Vec<(f64, f64)> = pts.iter().map(|p| (rel(p.t_ms), p.errors_ps)).collect();
    let ymax = pts
        .iter()
        .map(|p| p.rps.max(p.errors_ps))
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.15;
    let datasets = vec![
        Dataset::default()
            .name("req/s")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(theme.fg(Color::Cyan))
            .data(&rps),
        Dataset::default()
            .name("err/s")
            .marker(if theme.color {
                Marker::Braille
            } else {
                Marker::Dot
            })
            .graph_type(GraphType::Line)
            .style(theme.fg(Color::Red))
            .data(&errs),
    ];
    let chart = Chart::new(datasets)
        .block(block(
            &format!("Requests/s, errors/s (last {window_s:.0} s)"),
            theme,
        ))
        .x_axis(
            Axis::default()
                .bounds([-window_s, 0.0])
                .labels([format!("-{window_s:.0}s"), "now".to_string()])
                .style(theme.dim()),
        )
        .y_axis(
            Axis::default()
                .bounds([0.0, ymax])
                .labels(["0".to_string(), rate_text(ymax)])
                .style(theme.dim()),
        );
    frame.render_widget(chart, chart_area);

    let Some(s) = state.last.as_ref() else { return };
    let t = &s.traffic;
    let last = state.points.back();
    let rps_now = last.map(|p| p.rps);
    // Success over the trailing window: steadier than one second's.
    let recent: Vec<_> = state
        .points
        .iter()
        .filter(|p| p.t_ms + LATENCY_WINDOW_MS > now)
        .collect();
    let calls: f64 = recent.iter().map(|p| p.rps).sum();
    let success = (calls > 0.0).then(|| recent.iter().map(|p| p.ok_ps).sum::<f64>() / calls);
    let err_now = last.map(|p| p.errors_ps);
    let success_style = match success {
        Some(r) if r < 0.95 => theme.crit(),
        Some(r) if r < 0.999 => theme.warn(),
        _ => theme.ok(),
    };
    let pct = |r: Option<f64>| {
        r.map(|r| format!("{:.2}%", r * 100.0))
            .unwrap_or_else(|| "-".into())
    };
    let opt_rate = |v: Option<f64>| v.map(rate_text).unwrap_or_else(|| "-".into());
    let hot = |v: f64| if v > 0.0 { theme.warn() } else { theme.value() };
    let lines: Vec<Line> = if compact {
        vec![
            Line::from(
                [
                    kv("req/s", opt_rate(rps_now), theme.value(), theme),
                    kv("  ok", pct(success), success_style, theme),
                ]
                .concat(),
            ),
            Line::from(
                [
                    kv(
                        "err/s",
                        opt_rate(err_now),
                        hot(err_now.unwrap_or(0.0)),
                        theme,
                    ),
                    kv("  errors", count(t.errors_total), theme.value(), theme),
                ]
                .concat(),
            ),
            Line::from(
                [
                    kv("in-flight", count(t.in_flight), theme.value(), theme),
                    kv("  queue", count(t.queue_depth), hot(t.queue_depth), theme),
                ]
                .concat(),
            ),
            Line::from(
                [
                    kv("shed", count(t.shed_total), hot(t.shed_total), theme),
                    kv(
                        " rl",
                        count(t.rate_limited_total),
                        hot(t.rate_limited_total),
                        theme,
                    ),
                    kv(
                        " t/o",
                        count(t.timeouts_total),
                        hot(t.timeouts_total),
                        theme,
                    ),
                ]
                .concat(),
            ),
        ]
    } else {
        let shed_reasons = t
            .shed_by_reason
            .iter()
            .filter(|(_, v)| **v > 0.0)
            .map(|(k, v)| format!("{k} {}", count(*v)))
            .collect::<Vec<_>>()
            .join(", ");
        vec![
            Line::from(kv(
                "requests/s    ",
                opt_rate(rps_now),
                theme.value(),
                theme,
            )),
            Line::from(kv("success 10s   ", pct(success), success_style, theme)),
            Line::from(
                [
                    kv(
                        "errors/s      ",
                        opt_rate(err_now),
                        hot(err_now.unwrap_or(0.0)),
                        theme,
                    ),
                    kv("  total", count(t.errors_total), theme.value(), theme),
                ]
                .concat(),
            ),
            Line::from(
                [
                    kv("in flight     ", count(t.in_flight), theme.value(), theme),
                    kv("  queue", count(t.queue_depth), hot(t.queue_depth), theme),
                ]
                .concat(),
            ),
            Line::from(
                [
                    kv(
                        "rate-limited  ",
                        count(t.rate_limited_total),
                        hot(t.rate_limited_total),
                        theme,
                    ),
                    kv(
                        "  timeouts",
                        count(t.timeouts_total),
                        hot(t.timeouts_total),
                        theme,
                    ),
                ]
                .concat(),
            ),
            Line::from(
                [
                    kv(
                        "shed          ",
                        count(t.shed_total),
                        hot(t.shed_total),
                        theme,
                    ),
                    vec![Span::styled(
                        if shed_reasons.is_empty() {
                            String::new()
                        } else {
                            format!(" ({shed_reasons})")
                        },
                        theme.dim(),
                    )],
                ]
                .concat(),
            ),
            Line::from(
                [
                    kv(
                        "calls         ",
                        count(t.requests_total),
                        theme.value(),
                        theme,
                    ),
                    kv("  sessions", count(s.server.sessions), theme.value(), theme),
                ]
                .concat(),
            ),
        ]
    };
    let stats_block = block("Now", theme);
    let inner = stats_block.inner(stats_area);
    frame.render_widget(stats_block, stats_area);
    let text_h = (lines.len() as u16).min(inner.height);
    frame.render_widget(
        Paragraph::new(lines),
        Rect {
            height: text_h,
            ..inner
        },
    );
    // Success rate over time, below the figures when there is room.
    if inner.height > text_h {
        let spark: Vec<u64> = state
            .points
            .iter()
            .rev()
            .take(inner.width as usize)
            .rev()
            .map(|p| (p.success_rate.unwrap_or(1.0) * 1000.0) as u64)
            .collect();
        let rect = Rect {
            y: inner.y + text_h,
            height: inner.height - text_h,
            ..inner
        };
        frame.render_widget(
            Sparkline::default().data(spark).max(1000).style(theme.ok()),
            rect,
        );
    }
}

fn breakers_panel(frame: &mut Frame, area: Rect, s: Option<&Sample>, ui: &Ui, fresh: bool) {
    let theme = &ui.theme;
    let Some(s) = s.filter(|s| s.server.reachable) else {
        frame.render_widget(
            Paragraph::new("no data yet").block(block("Breakers", theme)),
            area,
        );
        return;
    };
    let mut list: Vec<(&String, &str)> = s
        .breakers
        .iter()
        .map(|(t, b)| (t, b.state.as_str()))
        .collect();
    let rank = |st: &str| match st {
        "open" => 0,
        "half_open" => 1,
        "closed" => 3,
        _ => 2,
    };
    list.sort_by_key(|(t, st)| (rank(st), (*t).clone()));
    let closed = list.iter().filter(|(_, st)| *st == "closed").count();
    let title = format!(
        "Breakers {closed}/{} closed{}",
        list.len(),
        if fresh { "" } else { " (stale)" }
    );
    let b = block(&title, theme);
    let inner = b.inner(area);
    frame.render_widget(b, area);
    if list.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled("no breakers reported", theme.dim())),
            inner,
        );
        return;
    }
    let name_w = list
        .iter()
        .map(|(t, _)| t.chars().count())
        .max()
        .unwrap_or(10);
    let cell_w = name_w + 1 + 9 + 2;
    let cols = ((inner.width as usize + 2) / cell_w).max(1);
    let rows = inner.height as usize;
    let fits = list.len() <= cols * rows;
    let cell = |t: &str, st: &str| -> Vec<Span<'static>> {
        vec![
            Span::raw(format!("{t:<name_w$} ")),
            Span::styled(format!("{:<9}", breaker_word(st)), theme.breaker(st)),
            Span::raw("  "),
        ]
    };
    let mut lines: Vec<Line> = Vec::new();
    if fits {
        let per_col = list.len().div_ceil(cols);
        for r in 0..per_col {
            let mut spans = Vec::new();
            for c in 0..cols {
                if let Some((t, st)) = list.get(c * per_col + r) {
                    spans.extend(cell(t, st));
                }
            }
            lines.push(Line::from(spans));
        }
    } else {
        // Not closed first, one a line; then the closed ones by name, packed.
        let not_closed: Vec<_> = list.iter().filter(|(_, st)| *st != "closed").collect();
        let shown = not_closed.len().min(rows.saturating_sub(1));
        for (t, st) in not_closed.iter().take(shown) {
            lines.push(Line::from(cell(t, st)));
        }
        if shown < not_closed.len() {
            lines.push(Line::styled(
                format!("+{} more not closed (Tools view)", not_closed.len() - shown),
                theme.warn(),
            ));
        }
        let names: Vec<&str> = list
            .iter()
            .filter(|(_, st)| *st == "closed")
            .map(|(t, _)| t.as_str())
            .collect();
        if !names.is_empty() && lines.len() < rows {
            let mut spans = vec![Span::styled(
                format!("closed ({}): ", names.len()),
                theme.ok(),
            )];
            spans.push(Span::raw(names.join(", ")));
            lines.push(Line::from(spans));
        }
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
        return;
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

fn slot_state_style(theme: &Theme, state: &str) -> Style {
    match state {
        "idle" => theme.ok(),
        "busy" => theme.fg(Color::Cyan),
        "dead" => theme.crit(),
        _ => theme.warn(),
    }
}

fn workers_panel(
    frame: &mut Frame,
    area: Rect,
    s: Option<&Sample>,
    ui: &Ui,
    compact: bool,
    fresh: bool,
) {
    let theme = &ui.theme;
    let Some(s) = s.filter(|s| s.server.reachable) else {
        frame.render_widget(
            Paragraph::new("no data yet").block(block("Workers", theme)),
            area,
        );
        return;
    };
    let w = &s.workers;
    let up_style = if w.up < w.size {
        if w.up == 0.0 {
            theme.crit()
        } else {
            theme.warn()
        }
    } else {
        theme.ok()
    };
    let b = block(if fresh { "Workers" } else { "Workers (stale)" }, theme);
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let summary = Line::from(
        [
            kv("up", format!("{:.0}/{:.0}", w.up, w.size), up_style, theme),
            kv(" busy", count(w.busy), theme.value(), theme),
            kv(
                if compact { " rst" } else { " restarts" },
                count(w.restarts_total),
                theme.value(),
                theme,
            ),
            kv(
                " kills",
                count(w.kills_total),
                if w.kills_total > 0.0 {
                    theme.warn()
                } else {
                    theme.value()
                },
                theme,
            ),
        ]
        .concat(),
    );
    let [top, table_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    frame.render_widget(Paragraph::new(summary), top);
    let visible = table_area.height.saturating_sub(1) as usize;
    let overflow = w.slots.len() > visible;
    let mut rows: Vec<Row> = w
        .slots
        .iter()
        .take(if overflow {
            visible.saturating_sub(1)
        } else {
            visible
        })
        .map(|x| {
            Row::new(vec![
                Cell::from(format!("#{}", x.slot)),
                Cell::from(x.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into())),
                Cell::from(Span::styled(
                    x.state.clone(),
                    slot_state_style(theme, &x.state),
                )),
                Cell::from(bytes_text(x.rss_bytes)),
                Cell::from(count(x.restarts)),
                Cell::from(x.tool.clone().unwrap_or_default()),
            ])
        })
        .collect();
    if overflow {
        rows.push(Row::new(vec![Cell::from(Span::styled(
            format!(
                "+{} more: see the Workers view",
                w.slots.len() + 1 - visible
            ),
            theme.dim(),
        ))]));
    }
    let table = Table::new(
        rows,
        [
            Constraint::Length(3),
            Constraint::Length(7),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Length(4),
            Constraint::Min(6),
        ],
    )
    .header(Row::new(["#", "pid", "state", "rss", "rst", "tool"]).style(theme.label()))
    .column_spacing(1);
    frame.render_widget(table, table_area);
}

fn gauge(ratio: f64, label: String, style: Style, theme: &Theme) -> Gauge<'static> {
    let g = Gauge::default()
        .ratio(ratio.clamp(0.0, 1.0))
        .label(label)
        .use_unicode(true);
    if theme.color {
        g.gauge_style(style)
    } else {
        g.gauge_style(Style::default().add_modifier(Modifier::REVERSED))
    }
}

/// Draws one line of a panel.
type DrawRow<'a> = Box<dyn Fn(&mut Frame, Rect) + 'a>;

fn memory_panel(
    frame: &mut Frame,
    area: Rect,
    last: Option<&Sample>,
    s: Option<&Sample>,
    ui: &Ui,
    compact: bool,
) {
    let theme = &ui.theme;
    let stale = !last.is_some_and(|l| l.server.reachable) && s.is_some();
    let title = if stale { "Memory (stale)" } else { "Memory" };
    let b = if compact {
        Block::default()
            .borders(Borders::TOP)
            .title(Span::styled(format!(" {title} "), theme.title()))
    } else {
        block(title, theme)
    };
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let mut rows: Vec<DrawRow<'_>> = Vec::new();
    let sys = last
        .and_then(|l| l.system.as_ref())
        .or(s.and_then(|s| s.system.as_ref()));
    if let Some(s) = s.filter(|s| s.server.reachable) {
        let m = &s.memory;
        let ratio = s.memory_ratio().unwrap_or(0.0);
        let pressure = m.pressure.clone();
        let label = format!(
            "server+workers {} / {} budget ({:.0}%) {}",
            bytes_text(m.total_bytes),
            bytes_text(m.budget_bytes),
            ratio * 100.0,
            pressure.as_deref().unwrap_or("")
        );
        rows.push(Box::new(move |f, r| {
            f.render_widget(
                gauge(
                    ratio,
                    label.clone(),
                    theme.pressure(ratio, pressure.as_deref()),
                    theme,
                ),
                r,
            )
        }));
        if !compact {
            let split = format!(
                "server {}  workers {}  soft {}  hard {}",
                bytes_text(m.server_bytes),
                bytes_text(m.workers_bytes),
                m.soft_limit_bytes
                    .map(bytes_text)
                    .unwrap_or_else(|| "-".into()),
                m.hard_limit_bytes
                    .map(bytes_text)
                    .unwrap_or_else(|| "-".into())
            );
            rows.push(Box::new(move |f, r| {
                f.render_widget(Paragraph::new(Span::styled(split.clone(), theme.dim())), r)
            }));
        }
    }
    let store = s.filter(|s| s.server.reachable).map(|s| &s.store);
    let store_text = store.map(|st| {
        format!(
            "store {} scores, {}, {} evicted",
            count(st.scores),
            bytes_text(st.bytes),
            count(st.evictions_total)
        )
    });
    if compact {
        let mut text = String::new();
        if let Some(sys) = sys {
            text.push_str(&format!(
                "sys {}/{} cpu {}",
                bytes_text(sys.total_bytes.saturating_sub(sys.available_bytes) as f64),
                bytes_text(sys.total_bytes as f64),
                sys.cpu_percent
                    .map(|c| format!("{c:.0}%"))
                    .unwrap_or_else(|| "-".into())
            ));
        }
        if let Some(st) = &store_text {
            if !text.is_empty() {
                text.push_str(" │ ");
            }
            text.push_str(st);
        }
        rows.push(Box::new(move |f, r| {
            f.render_widget(Paragraph::new(text.clone()), r)
        }));
    } else {
        if let Some(sys) = sys {
            let used = sys.total_bytes.saturating_sub(sys.available_bytes) as f64;
            let total = sys.total_bytes.max(1) as f64;
            let label = format!(
                "system {} used / {} ({:.0}%)",
                bytes_text(used),
                bytes_text(total),
                100.0 * used / total
            );
            rows.push(Box::new(move |f, r| {
                f.render_widget(
                    gauge(
                        used / total,
                        label.clone(),
                        theme.pressure(used / total, None),
                        theme,
                    ),
                    r,
                )
            }));
            let cpu = sys.cpu_percent.map(|c| c as f64 / 100.0);
            let label = match cpu {
                Some(c) => format!("cpu {:.0}% of {} cores", c * 100.0, sys.cpus),
                None => format!("cpu - of {} cores", sys.cpus),
            };
            let c = cpu.unwrap_or(0.0);
            rows.push(Box::new(move |f, r| {
                f.render_widget(gauge(c, label.clone(), theme.pressure(c, None), theme), r)
            }));
        }
        if let (Some(text), Some(st)) = (store_text, store) {
            let full = format!(
                "{text}; limits {} scores, {}",
                st.max_scores.map(count).unwrap_or_else(|| "-".into()),
                st.max_bytes.map(bytes_text).unwrap_or_else(|| "-".into())
            );
            rows.push(Box::new(move |f, r| {
                f.render_widget(Paragraph::new(full.clone()), r)
            }));
        }
    }
    for (i, row) in rows.iter().enumerate().take(inner.height as usize) {
        row(
            frame,
            Rect {
                y: inner.y + i as u16,
                height: 1,
                ..inner
            },
        );
    }
}

fn latency_panel(frame: &mut Frame, area: Rect, state: &State, ui: &Ui) {
    let theme = &ui.theme;
    let Some(s) = state.shown() else {
        frame.render_widget(block("Latency (ms)", theme), area);
        return;
    };
    let mut tools: Vec<(&String, f64, f64)> = s
        .tools
        .iter()
        .map(|(t, x)| {
            (
                t,
                state.tools.get(t).map(|w| w.rps).unwrap_or(0.0),
                x.requests,
            )
        })
        .collect();
    tools.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.2.total_cmp(&a.2)));
    let rows: Vec<Row> = tools
        .iter()
        .map(|(t, rps, _)| {
            let w = state.tools.get(*t).cloned().unwrap_or_default();
            let mark = if w.windowed || w.p50_ms.is_none() {
                ""
            } else {
                "*"
            };
            Row::new(vec![
                Cell::from((*t).clone()),
                Cell::from(rate_text(*rps)),
                Cell::from(format!("{}{mark}", ms_text(w.p50_ms))),
                Cell::from(format!("{}{mark}", ms_text(w.p95_ms))),
                Cell::from(format!("{}{mark}", ms_text(w.p99_ms))),
            ])
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Min(12),
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(7),
        ],
    )
    .header(Row::new(["tool", "req/s", "p50", "p95", "p99"]).style(theme.label()))
    .block(block("Latency ms, busiest tools", theme));
    frame.render_widget(table, area);
}

fn fault_spans(st: &StressInfo, theme: &Theme) -> Vec<Span<'static>> {
    let mut spans = if st.active_faults.is_empty() {
        vec![Span::styled("no fault now", theme.ok())]
    } else {
        vec![Span::styled(
            format!("FAULT NOW: {}", st.active_faults.join(", ")),
            theme.crit(),
        )]
    };
    if !st.active_adversaries.is_empty() {
        spans.push(Span::raw("  "));
        spans.push(Span::styled(
            format!("ADVERSARY NOW: {}", st.active_adversaries.join(", ")),
            theme.warn(),
        ));
    }
    spans
}

fn thresholds_summary(st: &StressInfo) -> (usize, Vec<String>, usize) {
    let pass = st
        .thresholds
        .iter()
        .filter(|t| t.pass == Some(true))
        .count();
    let fail: Vec<String> = st
        .thresholds
        .iter()
        .filter(|t| t.pass == Some(false))
        .map(|t| t.name.clone())
        .collect();
    let pending = st.thresholds.iter().filter(|t| t.pass.is_none()).count();
    (pass, fail, pending)
}

fn checker_text(st: &StressInfo) -> String {
    let n = |c: &serde_json::Value, k: &str| c[k].as_f64().map(count).unwrap_or_else(|| "?".into());
    match &st.checker {
        None => format!("checker pending ({} acknowledged)", count(st.acknowledged)),
        Some(c) => format!(
            "checker: {} checked, {} ok, {} lost, {} silently corrupted",
            n(c, "checked"),
            n(c, "ok"),
            n(c, "lost"),
            n(c, "silently_corrupted"),
        ),
    }
}

fn stress_strip(frame: &mut Frame, area: Rect, st: &StressInfo, ui: &Ui) {
    let theme = &ui.theme;
    let b = Block::default()
        .borders(Borders::TOP)
        .title(Span::styled(" Chaos ", theme.title()));
    let inner = b.inner(area);
    frame.render_widget(b, area);
    if !st.reachable {
        let text = format!(
            "stress status unreachable: {}",
            st.error.as_deref().unwrap_or("?")
        );
        frame.render_widget(Paragraph::new(Span::styled(text, theme.warn())), inner);
        return;
    }
    let rec_max = st
        .recoveries
        .iter()
        .filter_map(|r| r.first_success_after_s)
        .fold(0.0, f64::max);
    let mut l1 = vec![Span::raw(format!(
        "{} {:.0}/{:.0}s │ ",
        st.phase, st.elapsed_s, st.duration_s
    ))];
    l1.extend(fault_spans(st, theme));
    l1.push(Span::raw(format!(
        " │ recoveries {} max {rec_max:.2}s",
        st.recoveries.len()
    )));
    let (pass, fail, pending) = thresholds_summary(st);
    let mut l2 = vec![Span::raw(format!("thresholds {pass} pass "))];
    if fail.is_empty() {
        l2.push(Span::styled("0 FAIL".to_string(), theme.ok()));
    } else {
        l2.push(Span::styled(
            format!("{} FAIL ({})", fail.len(), fail.join(", ")),
            theme.crit(),
        ));
    }
    l2.push(Span::raw(format!(
        " {pending} pending │ {}",
        checker_text(st)
    )));
    frame.render_widget(Paragraph::new(vec![Line::from(l1), Line::from(l2)]), inner);
}

fn event_line(e: &TimelineEvent, theme: &Theme) -> Line<'static> {
    let (when, style) = match e.end_s {
        Some(end) => (
            format!("{:>6.1}-{:<7}", e.start_s, format!("{end:.1}s")),
            theme.label(),
        ),
        None => (format!("{:>6.1}-{:<7}", e.start_s, "now"), theme.crit()),
    };
    Line::from(vec![
        Span::styled(when, style),
        Span::styled(format!(" {:<14}", e.kind), theme.value()),
        Span::raw(format!(" {}", e.detail)),
    ])
}

fn recovery_line(r: &Recovery, short: bool) -> Line<'static> {
    let f = |v: Option<f64>| v.map(|v| format!("{v:.2}s")).unwrap_or_else(|| "…".into());
    let text = if short {
        format!(
            "{} @{:.1}s: ready {}, first ok {}",
            r.kind,
            r.at_s,
            f(r.ready_after_s),
            f(r.first_success_after_s)
        )
    } else {
        format!(
            "{} at {:.1}s: ready after {}, first success after {}",
            r.kind,
            r.at_s,
            f(r.ready_after_s),
            f(r.first_success_after_s)
        )
    };
    Line::raw(text)
}

fn threshold_line(t: &ThresholdState, theme: &Theme) -> Line<'static> {
    let (word, style) = match t.pass {
        Some(true) => ("pass", theme.ok()),
        Some(false) => ("FAIL", theme.crit()),
        None => ("wait", theme.dim()),
    };
    Line::from(vec![
        Span::styled(format!("{word} "), style),
        Span::raw(format!("{} {}", t.name, t.expression)),
        Span::styled(
            format!(
                "  {}",
                t.value
                    .map(|v| format!("{v:.4}"))
                    .unwrap_or_else(|| "pending".into())
            ),
            theme.dim(),
        ),
    ])
}

fn stress_panel(frame: &mut Frame, area: Rect, st: &StressInfo, ui: &Ui) {
    let theme = &ui.theme;
    if !st.reachable {
        let text = format!(
            "stress status {} unreachable: {}",
            st.source,
            st.error.as_deref().unwrap_or("?")
        );
        frame.render_widget(
            Paragraph::new(Span::styled(text, theme.warn())).block(block("Chaos", theme)),
            area,
        );
        return;
    }
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area);
    let b = block(
        &format!("Chaos · stress run {} ({} users)", st.phase, st.users),
        theme,
    );
    let inner = b.inner(left);
    frame.render_widget(b, left);
    let progress = if st.duration_s > 0.0 {
        st.elapsed_s / st.duration_s
    } else {
        0.0
    };
    let [bar, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    let pid = st
        .server_pid
        .map(|p| p.to_string())
        .unwrap_or_else(|| "-".into());
    let label = format!(
        "{:.0} / {:.0} s  server pid {pid} restarts {}",
        st.elapsed_s, st.duration_s, st.server_restarts
    );
    frame.render_widget(gauge(progress, label, theme.fg(Color::Cyan), theme), bar);
    let unexpected = st.outcome("unexpected");
    let mut lines = vec![
        Line::from(fault_spans(st, theme)),
        Line::from(vec![
            Span::raw(format!(
                "success {}  refused {}  fault {}  ",
                count(st.outcome("success")),
                count(st.outcome("expected_refusal")),
                count(st.outcome("fault_induced"))
            )),
            Span::styled(
                format!("unexpected {}", count(unexpected)),
                if unexpected > 0.0 {
                    theme.crit()
                } else {
                    theme.ok()
                },
            ),
        ]),
    ];
    lines.extend(st.recent_events.iter().rev().map(|e| event_line(e, theme)));
    frame.render_widget(Paragraph::new(lines), rest);

    let b = block("Recoveries · thresholds so far", theme);
    let inner = b.inner(right);
    frame.render_widget(b, right);
    let mut lines: Vec<Line> = st
        .recoveries
        .iter()
        .rev()
        .take(2)
        .map(|r| recovery_line(r, true))
        .collect();
    if st.recoveries.is_empty() {
        lines.push(Line::styled("no recovery yet", theme.dim()));
    }
    lines.push(Line::styled(checker_text(st), theme.dim()));
    let mut ths: Vec<_> = st.thresholds.iter().collect();
    ths.sort_by_key(|t| match t.pass {
        Some(false) => 0,
        Some(true) => 1,
        None => 2,
    });
    lines.extend(ths.into_iter().map(|t| threshold_line(t, theme)));
    frame.render_widget(Paragraph::new(lines), inner);
}

fn alert_line(a: &Alert, theme: &Theme) -> Line<'static> {
    let times = if a.count > 1 {
        format!(" ×{}", a.count)
    } else {
        String::new()
    };
    let (state, style) = if a.active {
        ("", theme.severity(a.severity))
    } else {
        (" (cleared)", theme.dim())
    };
    Line::from(vec![
        Span::styled(format!("{} ", clock(a.last_unix_ms)), theme.dim()),
        Span::styled(format!("{:<4}", a.severity.label()), style),
        Span::styled(
            format!(" {}{times}{state}", a.message),
            if a.active {
                Style::default()
            } else {
                theme.dim()
            },
        ),
    ])
}

fn alerts_panel(frame: &mut Frame, area: Rect, state: &State, ui: &Ui, compact: bool) {
    let theme = &ui.theme;
    let active = state.active_alerts().count();
    let title_style = if active > 0 {
        theme.severity(state.alerts[0].severity)
    } else {
        theme.title()
    };
    let title = Span::styled(format!(" Alerts: {active} active "), title_style);
    let b = if compact {
        Block::default().borders(Borders::TOP).title(title)
    } else {
        Block::bordered().title(title)
    };
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let mut lines: Vec<Line> = state.alerts.iter().map(|a| alert_line(a, theme)).collect();
    if lines.is_empty() {
        lines.push(Line::styled("none: all clear", theme.ok()));
    }
    let scroll = ui.scroll[View::Overview.index()].min(lines.len().saturating_sub(1) as u16);
    frame.render_widget(Paragraph::new(lines).scroll((scroll, 0)), inner);
}

// ------------------------------------------------------------------------------ tools view

fn tools_view(frame: &mut Frame, area: Rect, state: &State, ui: &Ui, compact: bool) {
    let theme = &ui.theme;
    let Some(s) = state.shown() else {
        frame.render_widget(
            Paragraph::new("no data yet").block(block("Tools", theme)),
            area,
        );
        return;
    };
    let mut names: Vec<&String> = s.tools.keys().chain(s.breakers.keys()).collect();
    names.sort();
    names.dedup();
    let scroll = (ui.scroll[View::Tools.index()] as usize).min(names.len().saturating_sub(1));
    let rows: Vec<Row> = names
        .iter()
        .skip(scroll)
        .map(|t| {
            let stats = s.tools.get(*t).cloned().unwrap_or_default();
            let w = state.tools.get(*t).cloned().unwrap_or_default();
            let b = s
                .breakers
                .get(*t)
                .map(|b| b.state.clone())
                .unwrap_or_else(|| "-".into());
            let mark = if w.windowed || w.p50_ms.is_none() {
                ""
            } else {
                "*"
            };
            let mut cells = vec![
                Cell::from((*t).clone()),
                Cell::from(Span::styled(
                    breaker_word(&b).to_string(),
                    theme.breaker(&b),
                )),
                Cell::from(rate_text(w.rps)),
                Cell::from(Span::styled(
                    rate_text(w.errors_ps),
                    if w.errors_ps > 0.0 {
                        theme.warn()
                    } else {
                        Style::default()
                    },
                )),
            ];
            if !compact {
                cells.push(Cell::from(count(stats.requests)));
                cells.push(Cell::from(count(stats.errors)));
                cells.push(Cell::from(count(stats.timeouts)));
            }
            cells.extend([
                Cell::from(format!("{}{mark}", ms_text(w.p50_ms))),
                Cell::from(format!("{}{mark}", ms_text(w.p95_ms))),
                Cell::from(format!("{}{mark}", ms_text(w.p99_ms))),
            ]);
            Row::new(cells)
        })
        .collect();
    let (header, widths): (Vec<&str>, Vec<Constraint>) = if compact {
        (
            vec![
                "tool", "breaker", "req/s", "err/s", "p50 ms", "p95 ms", "p99 ms",
            ],
            vec![
                // Fixed: a growing name column pushes the figures off to the far right.
                Constraint::Length(22),
                Constraint::Length(9),
                Constraint::Length(6),
                Constraint::Length(6),
                Constraint::Length(7),
                Constraint::Length(7),
                Constraint::Length(7),
            ],
        )
    } else {
        (
            vec![
                "tool", "breaker", "req/s", "err/s", "calls", "errors", "timeouts", "p50 ms",
                "p95 ms", "p99 ms",
            ],
            vec![
                Constraint::Length(24),
                Constraint::Length(9),
                Constraint::Length(7),
                Constraint::Length(7),
                Constraint::Length(8),
                Constraint::Length(8),
                Constraint::Length(8),
                Constraint::Length(8),
                Constraint::Length(8),
                Constraint::Length(8),
            ],
        )
    };
    let title = if compact {
        format!("Per tool, last {} s (* lifetime)", LATENCY_WINDOW_MS / 1000)
    } else {
        format!(
            "Per tool: rates and percentiles over the last {} s (* = server lifetime)",
            LATENCY_WINDOW_MS / 1000
        )
    };
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme.label().add_modifier(Modifier::BOLD)))
        .block(block(&title, theme));
    frame.render_widget(table, area);
}

// ------------------------------------------------------------------------------ workers view

fn workers_view(frame: &mut Frame, area: Rect, state: &State, ui: &Ui, compact: bool) {
    let theme = &ui.theme;
    let Some(s) = state.shown().filter(|s| s.server.reachable) else {
        frame.render_widget(
            Paragraph::new("no data yet").block(block("Workers", theme)),
            area,
        );
        return;
    };
    let [mem, pool, table_area] = Layout::vertical([
        Constraint::Length(if compact { 3 } else { 7 }),
        Constraint::Length(3),
        Constraint::Min(3),
    ])
    .areas(area);
    memory_panel(frame, mem, state.last.as_ref(), Some(s), ui, compact);
    let w = &s.workers;
    let by = |m: &std::collections::BTreeMap<String, f64>| {
        if m.is_empty() {
            "none".to_string()
        } else {
            m.iter()
                .map(|(k, v)| format!("{k} {}", count(*v)))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let line = Line::from(
        [
            kv(
                "up",
                format!("{:.0}/{:.0}", w.up, w.size),
                theme.value(),
                theme,
            ),
            kv("  busy", count(w.busy), theme.value(), theme),
            kv("  waiting", count(w.waiting), theme.value(), theme),
            kv(
                "  restarts",
                by(&w.restarts_by_reason),
                theme.value(),
                theme,
            ),
            kv("  kills", by(&w.kills_by_reason), theme.value(), theme),
        ]
        .concat(),
    );
    frame.render_widget(
        Paragraph::new(line)
            .wrap(Wrap { trim: true })
            .block(block("Pool", theme)),
        pool,
    );
    let max_rss = w.slots.iter().map(|x| x.rss_bytes).fold(1.0, f64::max);
    let bar_w = if compact { 8 } else { 16 };
    let scroll = (ui.scroll[View::Workers.index()] as usize).min(w.slots.len().saturating_sub(1));
    let rows: Vec<Row> = w
        .slots
        .iter()
        .skip(scroll)
        .map(|x| {
            let filled = (((x.rss_bytes / max_rss) * bar_w as f64).round() as usize).min(bar_w);
            let bar = format!("{}{}", "█".repeat(filled), "░".repeat(bar_w - filled));
            Row::new(vec![
                Cell::from(format!("#{}", x.slot)),
                Cell::from(x.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into())),
                Cell::from(Span::styled(
                    x.state.clone(),
                    slot_state_style(theme, &x.state),
                )),
                Cell::from(x.tool.clone().unwrap_or_else(|| "-".into())),
                Cell::from(count(x.tasks)),
                Cell::from(Line::from(vec![
                    Span::styled(bar, theme.fg(Color::Cyan)),
                    Span::raw(format!(" {}", bytes_text(x.rss_bytes))),
                ])),
                Cell::from(count(x.restarts)),
                Cell::from(duration_text(x.uptime_s)),
            ])
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(4),
            Constraint::Length(8),
            Constraint::Length(9),
            Constraint::Min(10),
            Constraint::Length(7),
            Constraint::Length(bar_w as u16 + 8),
            Constraint::Length(8),
            Constraint::Length(7),
        ],
    )
    .header(
        Row::new([
            "slot", "pid", "state", "tool", "tasks", "rss", "restarts", "up",
        ])
        .style(theme.label()),
    )
    .block(block("Worker slots", theme));
    frame.render_widget(table, table_area);
}

// ------------------------------------------------------------------------------ events view

fn events_view(frame: &mut Frame, area: Rect, state: &State, ui: &Ui) {
    let theme = &ui.theme;
    let section = |t: &str| Line::styled(t.to_string(), theme.title());
    let mut lines: Vec<Line> = Vec::new();
    if let Some(st) = state.last.as_ref().and_then(|s| s.stress.as_ref()) {
        if st.reachable {
            lines.push(section(&format!(
                "Stress run: {} {:.0}/{:.0} s, {} users, server pid {} ({} restarts)",
                st.phase,
                st.elapsed_s,
                st.duration_s,
                st.users,
                st.server_pid
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "-".into()),
                st.server_restarts
            )));
            lines.push(Line::from(fault_spans(st, theme)));
            lines.push(section("Chaos timeline (newest first)"));
            if st.recent_events.is_empty() {
                lines.push(Line::styled("  none yet", theme.dim()));
            }
            lines.extend(st.recent_events.iter().rev().map(|e| event_line(e, theme)));
            lines.push(section("Recoveries"));
            if st.recoveries.is_empty() {
                lines.push(Line::styled("  none yet", theme.dim()));
            }
            lines.extend(st.recoveries.iter().rev().map(|r| recovery_line(r, false)));
            lines.push(section("Checker"));
            lines.push(Line::raw(checker_text(st)));
            if let Some(problems) = st.checker.as_ref().and_then(|c| c["problems"].as_array()) {
                lines.extend(
                    problems
                        .iter()
                        .take(10)
                        .map(|p| Line::raw(format!("  {}", p.as_str().unwrap_or("?")))),
                );
            }
            lines.push(section("Thresholds so far"));
            lines.extend(st.thresholds.iter().map(|t| threshold_line(t, theme)));
        } else {
            lines.push(Line::styled(
                format!(
                    "stress status {} unreachable: {}",
                    st.source,
                    st.error.as_deref().unwrap_or("?")
                ),
                theme.warn(),
            ));
        }
        lines.push(Line::raw(""));
    }
    lines.push(section("Alerts (active first)"));
    if state.alerts.is_empty() {
        lines.push(Line::styled("  none", theme.ok()));
    }
    for a in &state.alerts {
        let mut l = alert_line(a, theme);
        l.spans.push(Span::styled(
            format!("  since {}", clock(a.first_unix_ms)),
            theme.dim(),
        ));
        lines.push(l);
    }
    lines.push(section("Changes seen (newest first)"));
    if state.events.is_empty() {
        lines.push(Line::styled("  none yet", theme.dim()));
    }
    for e in state.events.iter().rev() {
        lines.push(Line::from(vec![
            Span::styled(format!("{} ", clock(e.unix_ms)), theme.dim()),
            Span::styled(
                format!("{:<4} ", e.severity.label()),
                theme.severity(e.severity),
            ),
            Span::raw(e.text.clone()),
        ]));
    }
    let scroll = ui.scroll[View::Events.index()].min(lines.len().saturating_sub(1) as u16);
    let p = Paragraph::new(lines)
        .scroll((scroll, 0))
        .block(block("Events", theme));
    frame.render_widget(p, area);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::sample::fixtures::*;
    use crate::monitor::state::tests::recorded_state;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn render(state: &State, ui: &Ui, w: u16, h: u16) -> String {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        terminal.draw(|f| draw(f, state, ui)).unwrap();
        let buf = terminal.backend().buffer().clone();
        let mut out = String::new();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                out.push_str(buf[(x, y)].symbol());
            }
            out.push('\n');
        }
        out
    }

    fn ui(view: View) -> Ui {
        let mut ui = Ui::new(Theme { color: false }, Duration::from_secs(1), false);
        ui.view = view;
        ui.now_unix_ms = Some(1_002_000);
        ui
    }

    fn degraded_with_stress() -> State {
        let mut st = recorded_state();
        let mut s = sample(METRICS_DEGRADED, HEALTH_DEGRADED, 1_003_000);
        s.stress = Some(stress(STRESS));
        st.ingest(s);
        st
    }

    const SIZES: [(u16, u16); 2] = [(120, 40), (80, 24)];

    #[test]
    fn overview_healthy_at_both_sizes() {
        let st = recorded_state();
        for (w, h) in SIZES {
            let screen = render(&st, &ui(View::Overview), w, h);
            assert!(screen.contains("HEALTHY"), "{w}x{h}\n{screen}");
            assert!(screen.contains("v0.1.0"), "{screen}");
            assert!(screen.contains("Breakers 13/13 closed"), "{screen}");
            assert!(screen.contains("up 2/2"), "{screen}");
            assert!(screen.contains("#0") && screen.contains("#1"), "{screen}");
            assert!(screen.contains("idle"), "{screen}");
            assert!(screen.contains("20.5"), "req/s from two samples\n{screen}");
            assert!(screen.contains("75.61%"), "success rate 31/41\n{screen}");
            assert!(screen.contains("server+workers"), "{screen}");
            assert!(screen.contains("Alerts: 0 active"), "{screen}");
            assert!(screen.contains("none: all clear"), "{screen}");
            assert!(screen.contains("1:Overview"), "{screen}");
        }
    }

    #[test]
    fn a_running_adversary_shows_beside_the_faults() {
        let mut st = recorded_state();
        let mut s = sample(METRICS_DEGRADED, HEALTH_DEGRADED, 1_003_000);
        let mut stress_info = stress(STRESS);
        stress_info.active_adversaries = vec!["greedy".into(), "garbage".into()];
        s.stress = Some(stress_info);
        st.ingest(s);
        for (w, h) in SIZES {
            let screen = render(&st, &ui(View::Overview), w, h);
            assert!(screen.contains("FAULT NOW: latency"), "{w}x{h}\n{screen}");
            if w >= 120 {
                assert!(
                    screen.contains("ADVERSARY NOW: greedy, garbage"),
                    "{w}x{h}\n{screen}"
                );
            }
        }
    }

    #[test]
    fn overview_degraded_with_stress_at_both_sizes() {
        let st = degraded_with_stress();
        for (w, h) in SIZES {
            let screen = render(&st, &ui(View::Overview), w, h);
            assert!(screen.contains("DEGRADED"), "{w}x{h}\n{screen}");
            assert!(
                screen.contains("key_analysis") && screen.contains("OPEN"),
                "{screen}"
            );
            assert!(screen.contains("half-open"), "{screen}");
            assert!(screen.contains("up 1/2"), "{screen}");
            assert!(screen.contains("dead"), "{screen}");
            assert!(screen.contains("FAULT NOW: latency"), "{screen}");
            assert!(screen.contains("FAIL"), "a failing threshold\n{screen}");
            assert!(
                screen.contains("Alerts:") && screen.contains("active"),
                "{screen}"
            );
            assert!(screen.contains("breaker open: key_analysis"), "{screen}");
            assert!(screen.contains("soft"), "memory pressure\n{screen}");
        }
        let wide = render(&st, &ui(View::Overview), 120, 40);
        assert!(wide.contains("kill_server"), "chaos timeline\n{wide}");
        assert!(wide.contains("first ok 1.62s"), "{wide}");
        assert!(
            wide.contains("chord_analysis") && wide.contains("voice_leading_analysis"),
            "every breaker\n{wide}"
        );
        assert!(wide.contains("FAIL unexpected == 0"), "{wide}");
    }

    #[test]
    fn unreachable_server_says_so() {
        let mut st = recorded_state();
        let mut s = crate::monitor::sample::Sample::unreachable(URL, "connection refused");
        s.taken_unix_ms = 1_004_000;
        st.ingest(s);
        for (w, h) in SIZES {
            let screen = render(&st, &ui(View::Overview), w, h);
            assert!(screen.contains("UNREACHABLE"), "{w}x{h}\n{screen}");
            assert!(screen.contains("is unreachable"), "{screen}");
            assert!(screen.contains("connection refused"), "{screen}");
            assert!(screen.contains("retrying every 1.0 s"), "{screen}");
            assert!(screen.contains("Breakers 13/13 closed (stale)"), "{screen}");
            assert!(screen.contains("Workers (stale)"), "{screen}");
            assert!(screen.contains("Memory (stale)"), "{screen}");
        }
        // Never reached at all.
        let mut fresh = State::new();
        fresh.ingest(crate::monitor::sample::Sample::unreachable(
            URL,
            "connection refused",
        ));
        let screen = render(&fresh, &ui(View::Overview), 80, 24);
        assert!(screen.contains("no answer yet"), "{screen}");
        assert!(screen.contains("no data yet"), "{screen}");
    }

    #[test]
    fn tools_view_lists_every_tool() {
        let st = degraded_with_stress();
        for (w, h) in SIZES {
            let screen = render(&st, &ui(View::Tools), w, h);
            for tool in [
                "key_analysis",
                "score_info",
                "list_scores",
                "voice_leading_analysis",
            ] {
                assert!(screen.contains(tool), "{tool} {w}x{h}\n{screen}");
            }
            assert!(screen.contains("p99 ms"), "{screen}");
            assert!(screen.contains("OPEN"), "{screen}");
        }
    }

    #[test]
    fn workers_view_rows() {
        let st = degraded_with_stress();
        for (w, h) in SIZES {
            let screen = render(&st, &ui(View::Workers), w, h);
            assert!(screen.contains("Worker slots"), "{w}x{h}\n{screen}");
            assert!(
                screen.contains("busy") && screen.contains("dead"),
                "{screen}"
            );
            assert!(screen.contains("deadline 3"), "kills by reason\n{screen}");
            assert!(screen.contains("crashed 2"), "restarts by reason\n{screen}");
        }
    }

    #[test]
    fn events_view_has_timeline_recoveries_and_alerts() {
        let st = degraded_with_stress();
        let screen = render(&st, &ui(View::Events), 120, 40);
        assert!(screen.contains("Chaos timeline"), "{screen}");
        assert!(screen.contains("kill_server"), "{screen}");
        assert!(screen.contains("SIGKILL pid 4100"), "{screen}");
        assert!(screen.contains("47.0-now"), "an ongoing fault\n{screen}");
        assert!(screen.contains("first success after 1.62s"), "{screen}");
        assert!(screen.contains("ready after 1.35s"), "{screen}");
        assert!(screen.contains("checker pending"), "{screen}");
        assert!(
            screen.contains("breaker key_analysis: closed -> open"),
            "{screen}"
        );
        let small = render(&st, &ui(View::Events), 80, 24);
        assert!(small.contains("Chaos timeline"), "{small}");
    }

    #[test]
    fn help_and_pause_and_keys() {
        let st = recorded_state();
        let mut u = ui(View::Overview);
        assert_eq!(
            u.handle_key(KeyEvent::from(KeyCode::Char('?'))),
            Action::Redraw
        );
        assert_eq!(
            u.handle_key(KeyEvent::from(KeyCode::Char('p'))),
            Action::Redraw
        );
        let screen = render(&st, &u, 80, 24);
        assert!(screen.contains("Help"), "{screen}");
        assert!(screen.contains("PAUSED"), "{screen}");
        assert_eq!(u.handle_key(KeyEvent::from(KeyCode::Esc)), Action::Redraw);
        assert!(!u.help);
        u.handle_key(KeyEvent::from(KeyCode::Tab));
        assert_eq!(u.view, View::Tools);
        u.handle_key(KeyEvent::from(KeyCode::BackTab));
        u.handle_key(KeyEvent::from(KeyCode::BackTab));
        assert_eq!(u.view, View::Events);
        u.handle_key(KeyEvent::from(KeyCode::Down));
        assert_eq!(u.scroll[3], 1);
        assert_eq!(
            u.handle_key(KeyEvent::from(KeyCode::Char('q'))),
            Action::Quit
        );
        assert_eq!(
            u.handle_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Action::Interrupt
        );
    }

    #[test]
    fn no_color_means_no_colour() {
        let st = degraded_with_stress();
        let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
        terminal
            .draw(|f| draw(f, &st, &ui(View::Overview)))
            .unwrap();
        let buf = terminal.backend().buffer();
        assert!(buf
            .content
            .iter()
            .all(|c| c.fg == Color::Reset && c.bg == Color::Reset));
        let colored = Ui {
            theme: Theme { color: true },
            ..ui(View::Overview)
        };
        terminal.draw(|f| draw(f, &st, &colored)).unwrap();
        assert!(terminal
            .backend()
            .buffer()
            .content
            .iter()
            .any(|c| c.fg == Color::Red));
    }

    #[test]
    fn tiny_terminal_says_so() {
        let st = recorded_state();
        let screen = render(&st, &ui(View::Overview), 30, 8);
        assert!(screen.contains("too small"), "{screen}");
    }

    /// `cargo test --lib monitor::ui::tests::dump_screens -- --ignored --nocapture` prints
    /// every view at both sizes, for a look.
    #[test]
    #[ignore]
    fn dump_screens() {
        let healthy = recorded_state();
        let degraded = degraded_with_stress();
        for (name, st) in [("healthy", &healthy), ("degraded + stress", &degraded)] {
            for view in View::ALL {
                for (w, h) in SIZES {
                    println!(
                        "== {name}, {}, {w}x{h}\n{}",
                        view.name(),
                        render(st, &ui(view), w, h)
                    );
                }
            }
        }
    }

    #[test]
    fn formatting() {
        assert_eq!(duration_text(42.0), "42s");
        assert_eq!(duration_text(303.0), "5m03s");
        assert_eq!(duration_text(3720.0), "1h02m");
        assert_eq!(bytes_text(14.2 * 1024.0 * 1024.0), "14.2M");
        assert_eq!(clock(3_723_000), "01:02:03");
    }
}
