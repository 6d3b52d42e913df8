//! The stress run and what happened: the events view (the run, its chaos timeline,
//! recoveries, checker and thresholds; the alerts and the changes seen) and the overview's
//! chaos panel, built from the same lines.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::panel::{block, gauge, room_block, Room};
use super::theme::Theme;
use super::{Ui, View};
use crate::monitor::fmt::{clock, count, pid_text};
use crate::monitor::sample::{StressInfo, ThresholdState};
use crate::monitor::state::{Alert, DashboardState};
use crate::wire::status::{Recovery, TimelineEvent};

pub(super) fn draw(frame: &mut Frame, area: Rect, state: &DashboardState, ui: &Ui) {
    let theme = &ui.theme;
    let mut lines: Vec<Line> = Vec::new();
    if let Some(st) = state.last.as_ref().and_then(|s| s.stress.as_ref()) {
        if st.reachable {
            stress_run_lines(&mut lines, st, theme);
        } else {
            lines.push(Line::styled(unreachable_text(st, true), theme.warn()));
        }
        lines.push(Line::raw(""));
    }
    lines.push(section("Alerts (active first)", theme));
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
    lines.push(section("Changes seen (newest first)", theme));
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
    let scroll = ui.scroll_of(View::Events, lines.len());
    let p = Paragraph::new(lines)
        .scroll((scroll, 0))
        .block(block("Events", theme));
    frame.render_widget(p, area);
}

fn section(title: &str, theme: &Theme) -> Line<'static> {
    Line::styled(title.to_string(), theme.title())
}

/// The stress run in full, for the events view.
fn stress_run_lines(lines: &mut Vec<Line<'static>>, st: &StressInfo, theme: &Theme) {
    lines.push(section(
        &format!(
            "Stress run: {} {:.0}/{:.0} s, {} users, server pid {} ({} restarts)",
            st.phase,
            st.elapsed_s,
            st.duration_s,
            st.users,
            pid_text(st.server_pid),
            st.server_restarts
        ),
        theme,
    ));
    lines.push(Line::from(fault_spans(st, theme)));
    lines.push(section("Chaos timeline (newest first)", theme));
    if st.recent_events.is_empty() {
        lines.push(Line::styled("  none yet", theme.dim()));
    }
    lines.extend(st.recent_events.iter().rev().map(|e| event_line(e, theme)));
    lines.push(section("Recoveries", theme));
    if st.recoveries.is_empty() {
        lines.push(Line::styled("  none yet", theme.dim()));
    }
    lines.extend(st.recoveries.iter().rev().map(|r| recovery_line(r, false)));
    lines.push(section("Checker", theme));
    lines.push(Line::raw(checker_text(st)));
    if let Some(problems) = st.checker.as_ref().and_then(|c| c["problems"].as_array()) {
        lines.extend(
            problems
                .iter()
                .take(10)
                .map(|p| Line::raw(format!("  {}", p.as_str().unwrap_or("?")))),
        );
    }
    lines.push(section("Thresholds so far", theme));
    lines.extend(st.thresholds.iter().map(|t| threshold_line(t, theme)));
}

/// The overview's chaos row: on a compact screen a two-line digest, on a wide one the run's
/// progress and latest events beside its recoveries and thresholds.
pub(super) fn chaos_panel(
    frame: &mut Frame,
    area: Rect,
    st: &StressInfo,
    theme: &Theme,
    room: Room,
) {
    if !st.reachable {
        let b = room_block(Span::styled(" Chaos ", theme.title()), room);
        let inner = b.inner(area);
        frame.render_widget(b, area);
        let text = unreachable_text(st, room == Room::Wide);
        frame.render_widget(Paragraph::new(Span::styled(text, theme.warn())), inner);
        return;
    }
    match room {
        Room::Compact => chaos_digest(frame, area, st, theme),
        Room::Wide => {
            let [left, right] =
                Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                    .areas(area);
            chaos_progress(frame, left, st, theme);
            chaos_verdict_so_far(frame, right, st, theme);
        }
    }
}

fn unreachable_text(st: &StressInfo, with_source: bool) -> String {
    let source = if with_source {
        format!(" {}", st.source)
    } else {
        String::new()
    };
    format!(
        "stress status{source} unreachable: {}",
        st.error.as_deref().unwrap_or("?")
    )
}

/// Two lines: the progress, faults and recoveries; the thresholds and the checker.
fn chaos_digest(frame: &mut Frame, area: Rect, st: &StressInfo, theme: &Theme) {
    let b = room_block(Span::styled(" Chaos ", theme.title()), Room::Compact);
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let slowest = st
        .recoveries
        .iter()
        .filter_map(|r| r.first_success_after_s)
        .fold(0.0, f64::max);
    let mut progress = vec![Span::raw(format!(
        "{} {:.0}/{:.0}s │ ",
        st.phase, st.elapsed_s, st.duration_s
    ))];
    progress.extend(fault_spans(st, theme));
    progress.push(Span::raw(format!(
        " │ recoveries {} max {slowest:.2}s",
        st.recoveries.len()
    )));
    let (pass, fail, pending) = thresholds_summary(st);
    let mut verdict = vec![Span::raw(format!("thresholds {pass} pass "))];
    if fail.is_empty() {
        verdict.push(Span::styled("0 FAIL".to_string(), theme.ok()));
    } else {
        verdict.push(Span::styled(
            format!("{} FAIL ({})", fail.len(), fail.join(", ")),
            theme.crit(),
        ));
    }
    verdict.push(Span::raw(format!(
        " {pending} pending │ {}",
        checker_text(st)
    )));
    frame.render_widget(
        Paragraph::new(vec![Line::from(progress), Line::from(verdict)]),
        inner,
    );
}

/// The run's progress bar, faults, outcomes and latest chaos events.
fn chaos_progress(frame: &mut Frame, area: Rect, st: &StressInfo, theme: &Theme) {
    let b = block(
        &format!("Chaos · stress run {} ({} users)", st.phase, st.users),
        theme,
    );
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let progress = if st.duration_s > 0.0 {
        st.elapsed_s / st.duration_s
    } else {
        0.0
    };
    let [bar, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    let label = format!(
        "{:.0} / {:.0} s  server pid {} restarts {}",
        st.elapsed_s,
        st.duration_s,
        pid_text(st.server_pid),
        st.server_restarts
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
}

/// The latest recoveries, the checker and the thresholds, failing first.
fn chaos_verdict_so_far(frame: &mut Frame, area: Rect, st: &StressInfo, theme: &Theme) {
    let b = block("Recoveries · thresholds so far", theme);
    let inner = b.inner(area);
    frame.render_widget(b, area);
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

/// How many thresholds pass, which fail, and how many wait for their figure.
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

pub(super) fn alert_line(a: &Alert, theme: &Theme) -> Line<'static> {
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
