//! The report's three charts, drawn with the SVG kit of `svg`: calls per second by outcome
//! (stacked), latency percentiles of successful calls, and resident memory of the server and
//! its workers against the budget. The x axis is seconds since the start of the run; the
//! chaos and adversary events of the timeline are drawn on each, in colours of their own.

use std::fmt::Write as _;

use super::svg::{
    line_path, n, stacked_paths, Band, Events, Frame, Layer, LegendItem, Marker, Scale, Swatch,
    BOTTOM, LEFT, PLOT_W,
};
use crate::stress::results::Results;
use crate::wire::FaultKind;

/// One chart: its SVG and the caption the HTML puts under it.
pub struct Chart {
    pub id: &'static str,
    pub title: &'static str,
    pub svg: String,
    pub caption: String,
}

/// A long run's series is bucketed to at most this many points.
const MAX_POINTS: usize = 1200;

const C_SUCCESS: &str = "#2e7d32";
const C_REFUSED: &str = "#f9a825";
const C_FAULT: &str = "#ef6c00";
const C_UNEXPECTED: &str = "#c62828";
const C_P50: &str = "#1565c0";
const C_P95: &str = "#7b1fa2";
const C_P99: &str = "#c62828";
const C_SERVER: &str = "#1565c0";
const C_WORKERS: &str = "#26a69a";
const C_BUDGET: &str = "#c62828";

/// The colour of a timeline kind: a fault's own, or an adversary's.
fn kind_color(kind: &str) -> &'static str {
    if let Some(fault) = FaultKind::from_name(kind) {
        return fault.color();
    }
    match kind {
        // Adversaries: warm greys and golds, apart from the faults' blues and reds.
        "slowloris" => "#a1887f",
        "connection_flood" => "#8d6e63",
        "session_hog" => "#ffb300",
        "greedy" => "#f4511e",
        "garbage" => "#9e9d24",
        "big_bodies" => "#795548",
        "export_bomb" => "#ff7043",
        _ => "#757575",
    }
}

/// One second of the series (or a bucket of seconds in a long run).
#[derive(Clone, Copy, Debug, Default)]
struct Point {
    t: f64,
    success: f64,
    refused: f64,
    fault: f64,
    unexpected: f64,
    p50: f64,
    p95: f64,
    p99: f64,
    server: f64,
    workers: f64,
}

/// The series as points, bucketed for a long run: rates averaged, latency and memory maxima.
/// Returns the points and the bucket size in seconds.
fn points(r: &Results) -> (Vec<Point>, usize) {
    let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
    let raw: Vec<Point> = r
        .series
        .iter()
        .map(|s| Point {
            t: s.t as f64,
            success: s.success as f64,
            refused: s.expected_refusal as f64,
            fault: s.fault_induced as f64,
            unexpected: s.unexpected as f64,
            p50: finite(s.p50_ms),
            p95: finite(s.p95_ms),
            p99: finite(s.p99_ms),
            server: finite(s.server_rss_mb),
            workers: finite(s.workers_rss_mb),
        })
        .collect();
    if raw.len() <= MAX_POINTS {
        return (raw, 1);
    }
    let size = raw.len().div_ceil(MAX_POINTS);
    let bucketed = raw
        .chunks(size)
        .map(|c| {
            let k = c.len() as f64;
            let mean = |f: fn(&Point) -> f64| c.iter().map(f).sum::<f64>() / k;
            let max = |f: fn(&Point) -> f64| c.iter().map(f).fold(0.0, f64::max);
            Point {
                t: c[c.len() - 1].t,
                success: mean(|p| p.success),
                refused: mean(|p| p.refused),
                fault: mean(|p| p.fault),
                unexpected: mean(|p| p.unexpected),
                p50: max(|p| p.p50),
                p95: max(|p| p.p95),
                p99: max(|p| p.p99),
                server: max(|p| p.server),
                workers: max(|p| p.workers),
            }
        })
        .collect();
    (bucketed, size)
}

/// The end of the x axis: the run, its series and its events all fit.
fn x_extent(r: &Results) -> f64 {
    let mut max = if r.duration_s.is_finite() {
        r.duration_s
    } else {
        0.0
    };
    if let Some(last) = r.series.last() {
        max = max.max(last.t as f64);
    }
    for e in &r.timeline {
        max = max.max(e.start_s).max(e.end_s.unwrap_or(0.0));
    }
    for rec in &r.recoveries {
        max = max.max(rec.at_s);
    }
    if !max.is_finite() || max <= 0.0 {
        1.0
    } else {
        max.ceil()
    }
}

/// The timeline as chart events: instant faults (kills, restarts, disk corruption) as
/// markers, the rest as bands; each kind once in the legend, in order of first appearance.
fn events(r: &Results, x_max: f64) -> Events<'_> {
    let mut ev = Events::default();
    let mut kinds: Vec<&str> = Vec::new();
    for e in &r.timeline {
        if !e.start_s.is_finite() {
            continue;
        }
        let kind = e.kind.as_str();
        let color = kind_color(kind);
        let instant = FaultKind::from_name(kind).is_some_and(FaultKind::is_instant);
        if !kinds.contains(&kind) {
            kinds.push(kind);
            let swatch = if instant {
                Swatch::Marker(color)
            } else {
                Swatch::Band(color)
            };
            ev.legend.push(LegendItem::new(swatch, kind));
        }
        let start = e.start_s.clamp(0.0, x_max);
        let detail = if e.detail.is_empty() {
            String::new()
        } else {
            format!(": {}", e.detail)
        };
        if instant {
            ev.markers.push(Marker {
                kind,
                color,
                at: start,
                tooltip: format!("{kind} at {:.1} s{detail}", e.start_s),
            });
            continue;
        }
        let end = e
            .end_s
            .filter(|v| v.is_finite())
            .unwrap_or(x_max)
            .clamp(start, x_max);
        let until = match e.end_s {
            Some(end) if end.is_finite() => format!("{end:.1} s"),
            _ => "the end of the run (no end recorded)".into(),
        };
        ev.bands.push(Band {
            kind,
            color,
            start,
            end,
            tooltip: format!("{kind} {:.1} s to {until}{detail}", e.start_s),
        });
    }
    ev
}

/// What every chart starts from: the points, the bucket size, the x axis and the events.
struct Series<'a> {
    points: Vec<Point>,
    bucket: usize,
    x_max: f64,
    events: Events<'a>,
}

impl<'a> Series<'a> {
    fn of(r: &'a Results) -> Self {
        let (points, bucket) = points(r);
        let x_max = x_extent(r);
        Series {
            points,
            bucket,
            x_max,
            events: events(r, x_max),
        }
    }

    fn times(&self) -> Vec<f64> {
        self.points.iter().map(|p| p.t).collect()
    }

    fn layer(&self, value: fn(&Point) -> f64, color: &'static str, class: &'static str) -> Layer {
        Layer {
            values: self.points.iter().map(value).collect(),
            color,
            class,
        }
    }

    /// The caption's last words: how the chaos is drawn, and the bucket size of a long run.
    fn caption_tail(&self) -> String {
        let bucket = if self.bucket > 1 {
            format!(
                " Each point covers {} s (rates averaged, latency and memory the maximum).",
                self.bucket
            )
        } else {
            String::new()
        };
        format!("{EVENTS_NOTE}{bucket}")
    }

    fn empty_note(&self) -> Option<&'static str> {
        self.points
            .is_empty()
            .then_some("no time series in this results file")
    }
}

const EVENTS_NOTE: &str =
    "Shaded bands: lasting faults; dashed markers: server kills and restarts, worker kills and \
                           disk corruption (hover over one for its details).";

/// Calls per second by outcome, stacked: the top edge is all calls.
pub fn throughput(r: &Results) -> Chart {
    let series = Series::of(r);
    let max = series
        .points
        .iter()
        .map(|p| p.success + p.refused + p.fault + p.unexpected)
        .fold(0.0, f64::max);
    let layers = [
        series.layer(|p| p.success, C_SUCCESS, "success"),
        series.layer(|p| p.refused, C_REFUSED, "expected_refusal"),
        series.layer(|p| p.fault, C_FAULT, "fault_induced"),
        series.layer(|p| p.unexpected, C_UNEXPECTED, "unexpected"),
    ];
    let legend = vec![
        LegendItem::new(Swatch::Area(C_SUCCESS), "success"),
        LegendItem::new(Swatch::Area(C_REFUSED), "expected refusal"),
        LegendItem::new(Swatch::Area(C_FAULT), "fault-induced"),
        LegendItem::new(Swatch::Area(C_UNEXPECTED), "unexpected"),
    ];
    let frame = Frame {
        id: "chart-throughput",
        title: "Throughput and errors",
        y_label: "calls per second",
        x_max: series.x_max,
        scale: Scale::linear(max),
        events: &series.events,
        legend,
    };
    let body = stacked_paths(&frame, &series.times(), &layers);
    // Unexpected outcomes are rare and thin in the stack: a red tick on the axis too.
    let mut overlay = String::new();
    for p in series.points.iter().filter(|p| p.unexpected > 0.0) {
        let _ = write!(
            overlay,
            r#"<line class="unexpected-tick" x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{C_UNEXPECTED}" stroke-width="2"><title>{} unexpected at {:.0} s</title></line>"#,
            n(BOTTOM - 6.0),
            n(BOTTOM + 4.0),
            format_count(p.unexpected),
            p.t,
            x = n(frame.x(p.t))
        );
    }
    let svg = frame.render(&body, &overlay, series.empty_note());
    Chart {
        id: frame.id,
        title: frame.title,
        svg,
        caption: format!(
            "Calls per second by outcome, stacked: the top edge is all calls; red ticks on the axis mark seconds with \
             unexpected outcomes. {}",
            series.caption_tail()
        ),
    }
}

fn format_count(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// A latency, or none for a second without a successful call.
fn pos(v: f64) -> Option<f64> {
    (v > 0.0).then_some(v)
}

/// Latency percentiles of successful calls, each second.
pub fn latency(r: &Results) -> Chart {
    let series = Series::of(r);
    let positive = series
        .points
        .iter()
        .flat_map(|p| [p.p50, p.p95, p.p99])
        .filter(|v| *v > 0.0);
    let (min, max) = positive.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    // Spread over more than a factor of 30, a linear scale would flatten the p50 into the axis.
    let scale = if max > 0.0 && max / min > 30.0 {
        Scale::log(min, max)
    } else {
        Scale::linear(max)
    };
    let legend = vec![
        LegendItem::new(Swatch::Line(C_P50, false), "p50"),
        LegendItem::new(Swatch::Line(C_P95, false), "p95"),
        LegendItem::new(Swatch::Line(C_P99, false), "p99"),
    ];
    let frame = Frame {
        id: "chart-latency",
        title: "Latency of successful calls",
        y_label: if scale.is_log() {
            "milliseconds (log scale)"
        } else {
            "milliseconds"
        },
        x_max: series.x_max,
        scale,
        events: &series.events,
        legend,
    };
    type Percentile = (fn(&Point) -> f64, &'static str, &'static str, &'static str);
    let lines: [Percentile; 3] = [
        (|p| p.p99, C_P99, "p99", "1.6"),
        (|p| p.p95, C_P95, "p95", "1.6"),
        (|p| p.p50, C_P50, "p50", "2"),
    ];
    let mut body = String::new();
    for (value, color, class, width) in lines {
        let d = line_path(&frame, series.points.iter().map(|p| (p.t, pos(value(p)))));
        if !d.is_empty() {
            let _ = write!(
                body,
                r#"<path class="line line-{class}" d="{d}" fill="none" stroke="{color}" stroke-width="{width}" stroke-linejoin="round" stroke-linecap="round"/>"#
            );
        }
    }
    let empty = series.empty_note().or(if max <= 0.0 {
        Some("no successful calls in the time series")
    } else {
        None
    });
    let svg = frame.render(&body, "", empty);
    Chart {
        id: frame.id,
        title: frame.title,
        svg,
        caption: format!(
            "Latency percentiles (ms) of the calls that succeeded in each second{}; a gap is a second without a \
             successful call. {}",
            if scale.is_log() { ", on a log scale" } else { "" },
            series.caption_tail()
        ),
    }
}

/// How far above the peak the budget may be and still be drawn on the memory chart.
const BUDGET_OFF_SCALE: f64 = 4.0;

/// Resident memory of the server and its workers, against the budget when the file has it.
pub fn memory(r: &Results, budget_mb: Option<f64>) -> Chart {
    let series = Series::of(r);
    let budget = budget_mb.filter(|b| b.is_finite() && *b > 0.0);
    let peak = series
        .points
        .iter()
        .map(|p| p.server + p.workers)
        .fold(0.0, f64::max);
    // A budget far above the peak would flatten the curves into the axis: the chart then
    // scales to the data and says where the budget is instead of drawing it.
    let budget_on_chart = budget.filter(|b| peak <= 0.0 || *b <= peak * BUDGET_OFF_SCALE);
    let max = peak.max(budget_on_chart.unwrap_or(0.0)).max(1.0);
    let mut legend = vec![
        LegendItem::new(Swatch::Area(C_SERVER), "server RSS"),
        LegendItem::new(
            Swatch::Area(C_WORKERS),
            "workers RSS (stacked on the server)",
        ),
    ];
    if let Some(b) = budget_on_chart {
        legend.push(LegendItem::new(
            Swatch::Line(C_BUDGET, true),
            &format!("memory budget ({b:.0} MiB)"),
        ));
    }
    let frame = Frame {
        id: "chart-memory",
        title: "Memory: server and workers",
        y_label: "MiB resident",
        x_max: series.x_max,
        scale: Scale::linear(max * 1.05),
        events: &series.events,
        legend,
    };
    let layers = [
        series.layer(|p| p.server, C_SERVER, "server"),
        series.layer(|p| p.workers, C_WORKERS, "workers"),
    ];
    let body = stacked_paths(&frame, &series.times(), &layers);
    let mut overlay = String::new();
    if let Some((b, y)) = budget_on_chart.and_then(|b| Some((b, frame.scale.y(b)?))) {
        let _ = write!(
            overlay,
            r#"<g class="budget"><line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{C_BUDGET}" stroke-width="2" stroke-dasharray="8 4"/><text x="{}" y="{}" text-anchor="end" fill="{C_BUDGET}">budget {b:.0} MiB</text></g>"#,
            n(LEFT),
            n(LEFT + PLOT_W),
            n(LEFT + PLOT_W - 4.0),
            n(y - 5.0),
            y = n(y)
        );
    }
    let svg = frame.render(&body, &overlay, series.empty_note());
    let budget_text = match (budget, budget_on_chart) {
        (Some(b), Some(_)) => format!(
            "the dashed red line is the memory budget of server and workers together ({b:.0} MiB)."
        ),
        (Some(b), None) => format!(
            "the memory budget of server and workers together ({b:.0} MiB) is far above this chart: \
             the peak, {peak:.0} MiB, is {:.1} % of it.",
            100.0 * peak / b
        ),
        (None, _) => "no budget line: this results file does not record the server's memory budget \
                 (figures.memory_budget_mb)."
            .to_string(),
    };

    Chart {
        id: frame.id,
        title: frame.title,
        svg,
        caption: format!(
            "Resident memory (MiB) of the server, with its workers stacked above it (the top edge is the total); \
             {budget_text} {}",
            series.caption_tail()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::stress::StressConfig;
    use crate::wire::status::TimelineEvent;

    #[test]
    fn the_timeline_becomes_bands_markers_and_one_legend_entry_a_kind() {
        let mut r = Results::blank(StressConfig::default());
        let event = |kind: &str, start_s: f64, end_s: Option<f64>| TimelineEvent {
            kind: kind.into(),
            start_s,
            end_s,
            detail: String::new(),
        };
        r.timeline = vec![
            event("latency", 1.0, Some(5.0)),
            event("kill_server", 2.0, None),
            event("latency", 7.0, None),
            event("greedy", f64::NAN, None),
        ];
        let ev = events(&r, 10.0);
        assert_eq!(ev.bands.len(), 2);
        assert_eq!(ev.markers.len(), 1);
        assert_eq!(ev.legend.len(), 2, "latency once, kill_server once");
        let open = &ev.bands[1];
        assert_eq!(
            (open.start, open.end),
            (7.0, 10.0),
            "an open band runs to the end"
        );
        assert!(open.tooltip.contains("no end recorded"), "{}", open.tooltip);
        assert_eq!(ev.markers[0].color, kind_color("kill_server"));
    }
}
