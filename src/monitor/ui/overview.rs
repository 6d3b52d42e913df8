//! The overview: traffic, breakers, workers, memory, the busiest tools, the stress run's
//! chaos and the alerts, on one screen.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph, Sparkline, Wrap};
use ratatui::Frame;

use super::events::{alert_line, chaos_panel};
use super::panel::{block, figure_line, no_data_yet, room_block, Figure, PanelRows, Room, Shown};
use super::theme::{breaker_word, Theme};
use super::tools::busiest_tools_panel;
use super::workers::{memory_panel, workers_panel};
use super::{Ui, View};
use crate::monitor::fmt::{clock, count, rate_text};
use crate::monitor::sample::ServerSample;
use crate::monitor::state::{DashboardState, LATENCY_WINDOW_MS};

/// The heights of the traffic, middle, memory and chaos rows; the alerts take the rest.
fn row_heights(room: Room, with_stress: bool) -> [u16; 4] {
    match (room, with_stress) {
        (Room::Compact, true) => [6, 7, 3, 3],
        (Room::Compact, false) => [6, 8, 3, 0],
        (Room::Wide, true) => [8, 8, 6, 9],
        (Room::Wide, false) => [10, 9, 7, 0],
    }
}

pub(super) fn draw(frame: &mut Frame, area: Rect, state: &DashboardState, ui: &Ui, room: Room) {
    let theme = &ui.theme;
    let shown = state.shown();
    let stress = state.last.as_ref().and_then(|s| s.stress.as_ref());
    let [traffic_h, mid_h, mem_h, stress_h] = row_heights(room, stress.is_some());
    // Give up the chaos row before anything else when the height is short.
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
        traffic_panel(frame, traffic, state, theme, room);
    } else {
        unreachable_banner(frame, traffic, state, ui);
    }
    // Wide: room for two columns of breakers.
    let split = room.pick(50, 57);
    let columns = Layout::horizontal([
        Constraint::Percentage(split),
        Constraint::Percentage(100 - split),
    ]);
    let [left, right] = columns.areas(mid);
    breakers_panel(frame, left, shown, theme, state.reachable());
    workers_panel(frame, right, shown, theme, room, state.reachable());
    match room {
        Room::Compact => memory_panel(frame, mem, state.last.as_ref(), shown, theme, room),
        Room::Wide => {
            let [left, right] = columns.areas(mem);
            memory_panel(frame, left, state.last.as_ref(), shown, theme, room);
            busiest_tools_panel(frame, right, state, theme);
        }
    }
    if let (Some(st), true) = (stress, stress_h > 0) {
        chaos_panel(frame, chaos, st, theme, room);
    }
    alerts_panel(frame, alerts, state, ui, room);
}

fn unreachable_banner(frame: &mut Frame, area: Rect, state: &DashboardState, ui: &Ui) {
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

fn traffic_panel(frame: &mut Frame, area: Rect, state: &DashboardState, theme: &Theme, room: Room) {
    let [chart_area, now_area] =
        Layout::horizontal([Constraint::Min(20), Constraint::Length(room.pick(34, 42))])
            .areas(area);
    traffic_chart(frame, chart_area, state, theme, room.pick(60.0, 120.0));
    if let Some(last) = state.last.as_ref() {
        now_panel(frame, now_area, state, last, theme, room);
    }
}

/// Calls and errors a second over the last `window_s` seconds.
fn traffic_chart(
    frame: &mut Frame,
    area: Rect,
    state: &DashboardState,
    theme: &Theme,
    window_s: f64,
) {
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
            // Without colour, the marker tells the errors from the calls.
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
    frame.render_widget(chart, area);
}

/// The traffic figures of the moment, with the success rate over time below them.
fn now_panel(
    frame: &mut Frame,
    area: Rect,
    state: &DashboardState,
    last: &ServerSample,
    theme: &Theme,
    room: Room,
) {
    let b = block("Now", theme);
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let used = now_rows(state, last, theme, room).draw(frame, inner);
    if inner.height > used {
        let spark: Vec<u64> = state
            .points
            .iter()
            .rev()
            .take(inner.width as usize)
            .rev()
            .map(|p| (p.success_rate.unwrap_or(1.0) * 1000.0) as u64)
            .collect();
        let rect = Rect {
            y: inner.y + used,
            height: inner.height - used,
            ..inner
        };
        frame.render_widget(
            Sparkline::default().data(spark).max(1000).style(theme.ok()),
            rect,
        );
    }
}

fn now_rows(state: &DashboardState, last: &ServerSample, theme: &Theme, room: Room) -> PanelRows {
    let t = &last.traffic;
    let point = state.points.back();
    // Success over the trailing window: steadier than one second's.
    let recent: Vec<_> = state
        .points
        .iter()
        .filter(|p| p.t_ms + LATENCY_WINDOW_MS > last.taken_unix_ms)
        .collect();
    let calls: f64 = recent.iter().map(|p| p.rps).sum();
    let success = (calls > 0.0).then(|| recent.iter().map(|p| p.ok_ps).sum::<f64>() / calls);
    let err_now = point.map(|p| p.errors_ps);
    let rate = |v: Option<f64>| v.map(rate_text).unwrap_or_else(|| "-".into());
    let plain = |v: f64| Figure {
        text: count(v),
        style: theme.value(),
    };
    let should_be_zero = |v: f64| Figure {
        text: count(v),
        style: theme.should_be_zero(v),
    };
    let rps = Figure {
        text: rate(point.map(|p| p.rps)),
        style: theme.value(),
    };
    let success_rate = Figure {
        text: success
            .map(|r| format!("{:.2}%", r * 100.0))
            .unwrap_or_else(|| "-".into()),
        style: theme.success_rate(success),
    };
    let errors_now = Figure {
        text: rate(err_now),
        style: theme.should_be_zero(err_now.unwrap_or(0.0)),
    };
    let errors = plain(t.errors_total);
    let in_flight = plain(t.in_flight);
    let queue = should_be_zero(t.queue_depth);
    let shed = should_be_zero(t.shed_total);
    let rate_limited = should_be_zero(t.rate_limited_total);
    let timeouts = should_be_zero(t.timeouts_total);
    let shed_reasons = t
        .shed_by_reason
        .iter()
        .filter(|(_, v)| **v > 0.0)
        .map(|(k, v)| format!("{k} {}", count(*v)))
        .collect::<Vec<_>>()
        .join(", ");

    let mut rows = PanelRows::new(room);
    let line = |figures: &[(&str, &Figure)]| figure_line(figures, theme);
    rows.text(
        Shown::Compact,
        line(&[("req/s", &rps), ("  ok", &success_rate)]),
    );
    rows.text(Shown::Wide, line(&[("requests/s    ", &rps)]));
    rows.text(Shown::Wide, line(&[("success 10s   ", &success_rate)]));
    rows.text(
        Shown::Always,
        line(&[
            (room.pick("err/s", "errors/s      "), &errors_now),
            (room.pick("  errors", "  total"), &errors),
        ]),
    );
    rows.text(
        Shown::Always,
        line(&[
            (room.pick("in-flight", "in flight     "), &in_flight),
            ("  queue", &queue),
        ]),
    );
    rows.text(
        Shown::Compact,
        line(&[("shed", &shed), (" rl", &rate_limited), (" t/o", &timeouts)]),
    );
    rows.text(
        Shown::Wide,
        line(&[("rate-limited  ", &rate_limited), ("  timeouts", &timeouts)]),
    );
    let mut shed_line = line(&[("shed          ", &shed)]);
    shed_line.spans.push(Span::styled(
        if shed_reasons.is_empty() {
            String::new()
        } else {
            format!(" ({shed_reasons})")
        },
        theme.dim(),
    ));
    rows.text(Shown::Wide, shed_line);
    rows.text(
        Shown::Wide,
        line(&[
            ("calls         ", &plain(t.requests_total)),
            ("  sessions", &plain(last.server.sessions)),
        ]),
    );
    rows
}

fn breakers_panel(
    frame: &mut Frame,
    area: Rect,
    s: Option<&ServerSample>,
    theme: &Theme,
    fresh: bool,
) {
    let Some(s) = s.filter(|s| s.server.reachable) else {
        return no_data_yet(frame, area, "Breakers", theme);
    };
    let rank = |st: &str| match st {
        "open" => 0,
        "half_open" => 1,
        "closed" => 3,
        _ => 2,
    };
    let mut list: Vec<(&str, &str)> = s
        .breakers
        .iter()
        .map(|(t, b)| (t.as_str(), b.state.as_str()))
        .collect();
    list.sort_by_key(|(t, st)| (rank(st), *t));
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
    let cell = |t: &str, st: &str| -> Vec<Span<'static>> {
        vec![
            Span::raw(format!("{t:<name_w$} ")),
            Span::styled(format!("{:<9}", breaker_word(st)), theme.breaker(st)),
            Span::raw("  "),
        ]
    };
    let cell_w = name_w + 1 + 9 + 2;
    let cols = ((inner.width as usize + 2) / cell_w).max(1);
    let rows = inner.height as usize;
    if list.len() <= cols * rows {
        let per_col = list.len().div_ceil(cols);
        let lines: Vec<Line> = (0..per_col)
            .map(|r| {
                let cells = (0..cols).filter_map(|c| list.get(c * per_col + r));
                Line::from(cells.flat_map(|(t, st)| cell(t, st)).collect::<Vec<_>>())
            })
            .collect();
        frame.render_widget(Paragraph::new(lines), inner);
        return;
    }
    // Not closed first, one a line; then the closed ones by name, packed.
    let not_closed: Vec<_> = list.iter().filter(|(_, st)| *st != "closed").collect();
    let shown = not_closed.len().min(rows.saturating_sub(1));
    let mut lines: Vec<Line> = not_closed
        .iter()
        .take(shown)
        .map(|(t, st)| Line::from(cell(t, st)))
        .collect();
    if shown < not_closed.len() {
        lines.push(Line::styled(
            format!("+{} more not closed (Tools view)", not_closed.len() - shown),
            theme.warn(),
        ));
    }
    let names: Vec<&str> = list
        .iter()
        .filter(|(_, st)| *st == "closed")
        .map(|(t, _)| *t)
        .collect();
    if !names.is_empty() && lines.len() < rows {
        lines.push(Line::from(vec![
            Span::styled(format!("closed ({}): ", names.len()), theme.ok()),
            Span::raw(names.join(", ")),
        ]));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
}

fn alerts_panel(frame: &mut Frame, area: Rect, state: &DashboardState, ui: &Ui, room: Room) {
    let theme = &ui.theme;
    let active = state.active_alerts().count();
    let title_style = if active > 0 {
        theme.severity(state.alerts[0].severity)
    } else {
        theme.title()
    };
    let b = room_block(
        Span::styled(format!(" Alerts: {active} active "), title_style),
        room,
    );
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let mut lines: Vec<Line> = state.alerts.iter().map(|a| alert_line(a, theme)).collect();
    if lines.is_empty() {
        lines.push(Line::styled("none: all clear", theme.ok()));
    }
    let scroll = ui.scroll_of(View::Overview, lines.len());
    frame.render_widget(Paragraph::new(lines).scroll((scroll, 0)), inner);
}
