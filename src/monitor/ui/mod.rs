//! The dashboard's screens, drawn with ratatui from a [`DashboardState`]: the overview, the
//! tools, workers and events views, the help overlay and the unreachable-server banner.
//! Panels lay out their rows once for both sizes of screen ([`panel::Room`]) and shrink to fit
//! down to 80×24; without colour (NO_COLOR) states are shown by words and bold/reversed text.
//!
//! A view is a function of the state, the user's choices ([`Ui`]) and an area; `draw` picks
//! the view, and the header, footer and help are the frame around it.

mod events;
mod overview;
mod panel;
mod theme;
mod tools;
mod workers;

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::monitor::fmt::{clock, duration_text};
use crate::monitor::state::{DashboardState, LATENCY_WINDOW_MS};
use panel::{block, Room};
pub use theme::Theme;

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

    /// The scroll offset of `view`, kept within `lines`.
    fn scroll_of(&self, view: View, lines: usize) -> u16 {
        self.scroll[view.index()].min(lines.saturating_sub(1) as u16)
    }
}

/// Draws the whole dashboard.
pub fn draw(frame: &mut Frame, state: &DashboardState, ui: &Ui) {
    let area = frame.area();
    if area.width < 40 || area.height < 12 {
        let text = format!(
            "terminal too small ({}×{}); the dashboard needs 80×24",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return;
    }
    let room = Room::of(area);
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(frame, header, state, ui, room);
    match ui.view {
        View::Overview => overview::draw(frame, body, state, ui, room),
        View::Tools => tools::draw(frame, body, state, ui, room),
        View::Workers => workers::draw(frame, body, state, ui, room),
        View::Events => events::draw(frame, body, state, ui),
    }
    draw_footer(frame, footer, ui);
    if ui.help {
        help(frame, area, ui);
    }
}

fn now_ms(state: &DashboardState, ui: &Ui) -> u64 {
    ui.now_unix_ms
        .or_else(|| state.last.as_ref().map(|s| s.taken_unix_ms))
        .unwrap_or_else(crate::monitor::sample::now_unix_ms)
}

fn draw_header(frame: &mut Frame, area: Rect, state: &DashboardState, ui: &Ui, room: Room) {
    let theme = &ui.theme;
    let sep = || Span::styled(" │ ", theme.dim());
    let mut spans = Vec::new();
    if room == Room::Wide {
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

fn draw_footer(frame: &mut Frame, area: Rect, ui: &Ui) {
    let theme = &ui.theme;
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

#[cfg(test)]
mod tests;
