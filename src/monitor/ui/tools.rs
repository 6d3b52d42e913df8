//! Per-tool figures: the tools view (every tool, its breaker, rates, counts and latency
//! percentiles) and the overview's panel of the busiest tools.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, Table};
use ratatui::Frame;

use super::panel::{block, no_data_yet, Room};
use super::theme::{breaker_word, Theme};
use super::{Ui, View};
use crate::monitor::fmt::{count, ms_text, rate_text};
use crate::monitor::state::{DashboardState, ToolWindow, LATENCY_WINDOW_MS};

/// The tools view's columns: header, and width when compact (`None`: only a wide screen
/// shows it) and when wide.
const COLUMNS: [(&str, Option<u16>, u16); 10] = [
    // Fixed: a growing name column pushes the figures off to the far right.
    ("tool", Some(22), 24),
    ("breaker", Some(9), 9),
    ("req/s", Some(6), 7),
    ("err/s", Some(6), 7),
    ("calls", None, 8),
    ("errors", None, 8),
    ("timeouts", None, 8),
    ("p50 ms", Some(7), 8),
    ("p95 ms", Some(7), 8),
    ("p99 ms", Some(7), 8),
];

/// The p50, p95 and p99 of a tool; `*` marks the server-lifetime ones (no window yet).
fn percentile_cells(w: &ToolWindow) -> [Cell<'static>; 3] {
    let mark = if w.windowed || w.p50_ms.is_none() {
        ""
    } else {
        "*"
    };
    [w.p50_ms, w.p95_ms, w.p99_ms].map(|p| Cell::from(format!("{}{mark}", ms_text(p))))
}

pub(super) fn draw(frame: &mut Frame, area: Rect, state: &DashboardState, ui: &Ui, room: Room) {
    let theme = &ui.theme;
    let Some(s) = state.shown() else {
        return no_data_yet(frame, area, "Tools", theme);
    };
    let shown = |width: Option<u16>| room == Room::Wide || width.is_some();
    let mut names: Vec<&String> = s.tools.keys().chain(s.breakers.keys()).collect();
    names.sort();
    names.dedup();
    let scroll = ui.scroll_of(View::Tools, names.len()) as usize;
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
            let errors_style = if w.errors_ps > 0.0 {
                theme.warn()
            } else {
                Style::default()
            };
            let [p50, p95, p99] = percentile_cells(&w);
            let cells = [
                Cell::from((*t).clone()),
                Cell::from(Span::styled(
                    breaker_word(&b).to_string(),
                    theme.breaker(&b),
                )),
                Cell::from(rate_text(w.rps)),
                Cell::from(Span::styled(rate_text(w.errors_ps), errors_style)),
                Cell::from(count(stats.requests)),
                Cell::from(count(stats.errors)),
                Cell::from(count(stats.timeouts)),
                p50,
                p95,
                p99,
            ];
            let shown_cells = COLUMNS.iter().zip(cells);
            Row::new(
                shown_cells
                    .filter(|((_, compact, _), _)| shown(*compact))
                    .map(|(_, c)| c),
            )
        })
        .collect();
    let columns = COLUMNS.iter().filter(|(_, compact, _)| shown(*compact));
    let header: Vec<&str> = columns.clone().map(|(name, _, _)| *name).collect();
    let widths: Vec<Constraint> = columns
        .map(|(_, compact, wide)| Constraint::Length(room.pick(compact.unwrap_or(0), *wide)))
        .collect();
    let title = match room {
        Room::Compact => format!("Per tool, last {} s (* lifetime)", LATENCY_WINDOW_MS / 1000),
        Room::Wide => format!(
            "Per tool: rates and percentiles over the last {} s (* = server lifetime)",
            LATENCY_WINDOW_MS / 1000
        ),
    };
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme.label().add_modifier(Modifier::BOLD)))
        .block(block(&title, theme));
    frame.render_widget(table, area);
}

/// The overview's latency panel: the tools with the most calls a second first.
pub(super) fn busiest_tools_panel(
    frame: &mut Frame,
    area: Rect,
    state: &DashboardState,
    theme: &Theme,
) {
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
            let [p50, p95, p99] = percentile_cells(&w);
            Row::new(vec![
                Cell::from((*t).clone()),
                Cell::from(rate_text(*rps)),
                p50,
                p95,
                p99,
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
