//! The worker pool and memory: the workers view (memory, the pool's counts, every slot) and
//! the overview's workers and memory panels.

use std::collections::BTreeMap;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::panel::{
    block, figure_line, gauge, no_data_yet, room_block, Figure, PanelRows, Room, Shown,
};
use super::theme::Theme;
use super::{Ui, View};
use crate::monitor::fmt::{bytes_text, count, duration_text, pid_text};
use crate::monitor::sample::{ServerSample, Slot};
use crate::monitor::state::DashboardState;

pub(super) fn draw(frame: &mut Frame, area: Rect, state: &DashboardState, ui: &Ui, room: Room) {
    let theme = &ui.theme;
    let Some(s) = state.shown().filter(|s| s.server.reachable) else {
        return no_data_yet(frame, area, "Workers", theme);
    };
    let [mem, pool, slots] = Layout::vertical([
        Constraint::Length(room.pick(3, 7)),
        Constraint::Length(3),
        Constraint::Min(3),
    ])
    .areas(area);
    memory_panel(frame, mem, state.last.as_ref(), Some(s), theme, room);
    pool_panel(frame, pool, s, theme);
    slots_table(frame, slots, s, ui, room);
}

fn pool_panel(frame: &mut Frame, area: Rect, s: &ServerSample, theme: &Theme) {
    let w = &s.workers;
    let by_reason = |m: &BTreeMap<String, f64>| Figure {
        text: if m.is_empty() {
            "none".to_string()
        } else {
            m.iter()
                .map(|(k, v)| format!("{k} {}", count(*v)))
                .collect::<Vec<_>>()
                .join(", ")
        },
        style: theme.value(),
    };
    let plain = |text: String| Figure {
        text,
        style: theme.value(),
    };
    let line = figure_line(
        &[
            ("up", &plain(format!("{:.0}/{:.0}", w.up, w.size))),
            ("  busy", &plain(count(w.busy))),
            ("  waiting", &plain(count(w.waiting))),
            ("  restarts", &by_reason(&w.restarts_by_reason)),
            ("  kills", &by_reason(&w.kills_by_reason)),
        ],
        theme,
    );
    frame.render_widget(
        Paragraph::new(line)
            .wrap(Wrap { trim: true })
            .block(block("Pool", theme)),
        area,
    );
}

/// A slot's number, pid and state, the first cells of both slot tables.
fn slot_cells(x: &Slot, theme: &Theme) -> [Cell<'static>; 3] {
    [
        Cell::from(format!("#{}", x.slot)),
        Cell::from(pid_text(x.pid)),
        Cell::from(Span::styled(x.state.clone(), theme.slot(&x.state))),
    ]
}

fn slots_table(frame: &mut Frame, area: Rect, s: &ServerSample, ui: &Ui, room: Room) {
    let theme = &ui.theme;
    let w = &s.workers;
    let max_rss = w.slots.iter().map(|x| x.rss_bytes).fold(1.0, f64::max);
    let bar_w = room.pick(8, 16);
    let scroll = ui.scroll_of(View::Workers, w.slots.len()) as usize;
    let rows: Vec<Row> = w
        .slots
        .iter()
        .skip(scroll)
        .map(|x| {
            let filled = (((x.rss_bytes / max_rss) * bar_w as f64).round() as usize).min(bar_w);
            let bar = format!("{}{}", "█".repeat(filled), "░".repeat(bar_w - filled));
            let mut cells = Vec::from(slot_cells(x, theme));
            cells.extend([
                Cell::from(x.tool.clone().unwrap_or_else(|| "-".into())),
                Cell::from(count(x.tasks)),
                Cell::from(Line::from(vec![
                    Span::styled(bar, theme.fg(Color::Cyan)),
                    Span::raw(format!(" {}", bytes_text(x.rss_bytes))),
                ])),
                Cell::from(count(x.restarts)),
                Cell::from(duration_text(x.uptime_s)),
            ]);
            Row::new(cells)
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
    frame.render_widget(table, area);
}

/// The overview's workers panel: the pool's counts and as many slots as fit.
pub(super) fn workers_panel(
    frame: &mut Frame,
    area: Rect,
    s: Option<&ServerSample>,
    theme: &Theme,
    room: Room,
    fresh: bool,
) {
    let Some(s) = s.filter(|s| s.server.reachable) else {
        return no_data_yet(frame, area, "Workers", theme);
    };
    let w = &s.workers;
    let up = Figure {
        text: format!("{:.0}/{:.0}", w.up, w.size),
        style: if w.up < w.size {
            if w.up == 0.0 {
                theme.crit()
            } else {
                theme.warn()
            }
        } else {
            theme.ok()
        },
    };
    let figure = |v: f64, style| Figure {
        text: count(v),
        style,
    };
    let summary = figure_line(
        &[
            ("up", &up),
            (" busy", &figure(w.busy, theme.value())),
            (
                room.pick(" rst", " restarts"),
                &figure(w.restarts_total, theme.value()),
            ),
            (
                " kills",
                &figure(w.kills_total, theme.should_be_zero(w.kills_total)),
            ),
        ],
        theme,
    );
    let b = block(if fresh { "Workers" } else { "Workers (stale)" }, theme);
    let inner = b.inner(area);
    frame.render_widget(b, area);
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
            let mut cells = Vec::from(slot_cells(x, theme));
            cells.extend([
                Cell::from(bytes_text(x.rss_bytes)),
                Cell::from(count(x.restarts)),
                Cell::from(x.tool.clone().unwrap_or_default()),
            ]);
            Row::new(cells)
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

/// Memory: the server's budget, the machine's memory and CPU, and the store. `last` is the
/// latest sample, `shown` the one whose figures are on screen (the last good one while the
/// server is unreachable).
pub(super) fn memory_panel(
    frame: &mut Frame,
    area: Rect,
    last: Option<&ServerSample>,
    shown: Option<&ServerSample>,
    theme: &Theme,
    room: Room,
) {
    let stale = !last.is_some_and(|l| l.server.reachable) && shown.is_some();
    let title = if stale { "Memory (stale)" } else { "Memory" };
    let b = room_block(Span::styled(format!(" {title} "), theme.title()), room);
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let system = last
        .and_then(|l| l.system.as_ref())
        .or(shown.and_then(|s| s.system.as_ref()));
    let server = shown.filter(|s| s.server.reachable);
    let mut rows = PanelRows::new(room);
    if let Some(s) = server {
        let m = &s.memory;
        let ratio = s.memory_ratio().unwrap_or(0.0);
        let label = format!(
            "server+workers {} / {} budget ({:.0}%) {}",
            bytes_text(m.total_bytes),
            bytes_text(m.budget_bytes),
            ratio * 100.0,
            m.pressure.as_deref().unwrap_or("")
        );
        let style = theme.pressure(ratio, m.pressure.as_deref());
        rows.gauge(Shown::Always, gauge(ratio, label, style, theme));
        let limit = |v: Option<f64>| v.map(bytes_text).unwrap_or_else(|| "-".into());
        let split = format!(
            "server {}  workers {}  soft {}  hard {}",
            bytes_text(m.server_bytes),
            bytes_text(m.workers_bytes),
            limit(m.soft_limit_bytes),
            limit(m.hard_limit_bytes)
        );
        rows.text(Shown::Wide, Span::styled(split, theme.dim()));
    }
    let store = server.map(|s| &s.store);
    let store_text = store.map(|st| {
        format!(
            "store {} scores, {}, {} evicted",
            count(st.scores),
            bytes_text(st.bytes),
            count(st.evictions_total)
        )
    });
    let mut digest = Vec::new();
    if let Some(sys) = system {
        digest.push(format!(
            "sys {}/{} cpu {}",
            bytes_text(sys.total_bytes.saturating_sub(sys.available_bytes) as f64),
            bytes_text(sys.total_bytes as f64),
            sys.cpu_percent
                .map(|c| format!("{c:.0}%"))
                .unwrap_or_else(|| "-".into())
        ));
    }
    digest.extend(store_text.clone());
    rows.text(Shown::Compact, Line::raw(digest.join(" │ ")));
    if let Some(sys) = system {
        let used = sys.total_bytes.saturating_sub(sys.available_bytes) as f64;
        let total = sys.total_bytes.max(1) as f64;
        let label = format!(
            "system {} used / {} ({:.0}%)",
            bytes_text(used),
            bytes_text(total),
            100.0 * used / total
        );
        let ratio = used / total;
        rows.gauge(
            Shown::Wide,
            gauge(ratio, label, theme.pressure(ratio, None), theme),
        );
        let cpu = sys.cpu_percent.map(|c| c as f64 / 100.0);
        let label = match cpu {
            Some(c) => format!("cpu {:.0}% of {} cores", c * 100.0, sys.cpus),
            None => format!("cpu - of {} cores", sys.cpus),
        };
        let c = cpu.unwrap_or(0.0);
        rows.gauge(Shown::Wide, gauge(c, label, theme.pressure(c, None), theme));
    }
    if let (Some(text), Some(st)) = (store_text, store) {
        rows.text(
            Shown::Wide,
            Line::raw(format!(
                "{text}; limits {} scores, {}",
                st.max_scores.map(count).unwrap_or_else(|| "-".into()),
                st.max_bytes.map(bytes_text).unwrap_or_else(|| "-".into())
            )),
        );
    }
    rows.draw(frame, inner);
}
