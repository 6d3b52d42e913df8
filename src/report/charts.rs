//! The report's charts, as hand-written inline SVG (no scripts, no fonts, no external
//! references; deterministic). The x axis is seconds since the start of the run; chaos
//! events from the timeline are drawn as shaded bands (lasting faults) or dashed markers
//! (kills, restarts, disk corruption), each with a `<title>` that a browser shows on hover.
//!
//! Three charts: calls per second by outcome (stacked), latency percentiles of successful
//! calls, and resident memory of the server and its workers against the budget.

use std::fmt::Write as _;

use super::escape::esc;
use crate::stress::results::Results;
use crate::wire::FaultKind;

/// One chart: its SVG and the caption the HTML puts under it.
pub struct Chart {
    pub id: &'static str,
    pub title: &'static str,
    pub svg: String,
    pub caption: String,
}

const WIDTH: f64 = 900.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 66.0;
const PLOT_H: f64 = 240.0;
const PLOT_W: f64 = WIDTH - LEFT - RIGHT;
const BOTTOM: f64 = TOP + PLOT_H;
/// A long run's series is bucketed to at most this many points.
const MAX_POINTS: usize = 1200;
/// A rough width of a character at 12 px, for laying out legends.
const CHAR_W: f64 = 6.8;
const FONT: &str =
    "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";

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

/// A kind as a CSS class name: letters, digits, `_` and `-` only.
pub fn class_name(kind: &str) -> String {
    let s: String = kind
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if s.is_empty() {
        "unknown".into()
    } else {
        s
    }
}

/// A number for SVG coordinates: one decimal, deterministic.
fn n(v: f64) -> String {
    format!("{v:.1}")
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

fn time_step(max: f64) -> f64 {
    const STEPS: [f64; 20] = [
        1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0, 900.0, 1200.0,
        1800.0, 3600.0, 7200.0, 10_800.0, 21_600.0, 43_200.0,
    ];
    let raw = max / 10.0;
    STEPS
        .iter()
        .copied()
        .find(|s| *s >= raw)
        .unwrap_or(86_400.0)
}

fn time_label(t: f64, long: bool) -> String {
    if !long {
        return format!("{t:.0}");
    }
    let s = t.round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

#[derive(Clone, Copy, Debug)]
enum Scale {
    /// 0 to `max`, ticks every `step`.
    Linear { max: f64, step: f64 },
    /// 10^`lo` to 10^`hi`.
    Log { lo: i32, hi: i32 },
}

impl Scale {
    fn linear(data_max: f64) -> Self {
        let max = if data_max.is_finite() && data_max > 0.0 {
            data_max
        } else {
            1.0
        };
        let raw = max / 5.0;
        let mag = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|m| m * mag)
            .find(|s| *s >= raw)
            .unwrap_or(10.0 * mag);
        Scale::Linear {
            max: (max / step).ceil() * step,
            step,
        }
    }

    fn log(min_positive: f64, max: f64) -> Self {
        let lo = min_positive.log10().floor() as i32;
        let mut hi = max.log10().ceil() as i32;
        if hi <= lo {
            hi = lo + 1;
        }
        Scale::Log { lo, hi }
    }

    fn is_log(&self) -> bool {
        matches!(self, Scale::Log { .. })
    }

    /// The y pixel of a value, or None for a value a log scale cannot show.
    fn y(&self, v: f64) -> Option<f64> {
        match *self {
            Scale::Linear { max, .. } => Some(BOTTOM - (v / max).clamp(0.0, 1.05) * PLOT_H),
            Scale::Log { lo, hi } => {
                if v <= 0.0 || !v.is_finite() {
                    return None;
                }
                let f = (v.log10() - f64::from(lo)) / f64::from(hi - lo);
                Some(BOTTOM - f.clamp(0.0, 1.0) * PLOT_H)
            }
        }
    }

    fn ticks(&self) -> Vec<(f64, String)> {
        match *self {
            Scale::Linear { max, step } => {
                let decimals = if step >= 1.0 {
                    0
                } else {
                    (-step.log10()).ceil() as usize
                };
                let count = (max / step).round() as i64;
                (0..=count)
                    .map(|i| {
                        let v = i as f64 * step;
                        (v, format!("{v:.decimals$}"))
                    })
                    .collect()
            }
            Scale::Log { lo, hi } => {
                let mults: &[f64] = if hi - lo <= 3 {
                    &[1.0, 2.0, 5.0]
                } else {
                    &[1.0]
                };
                let mut out = Vec::new();
                for k in lo..=hi {
                    for m in mults {
                        let v = m * 10f64.powi(k);
                        if v > 10f64.powi(hi) * 1.0001 {
                            continue;
                        }
                        let decimals = if k >= 0 { 0 } else { (-k) as usize };
                        out.push((v, format!("{v:.decimals$}")));
                    }
                }
                out
            }
        }
    }
}

enum Swatch {
    Area(&'static str),
    Line(&'static str, bool),
    Band(&'static str),
    Marker(&'static str),
}

struct LegendItem {
    swatch: Swatch,
    label: String,
}

impl LegendItem {
    fn new(swatch: Swatch, label: &str) -> Self {
        Self {
            swatch,
            label: label.to_string(),
        }
    }

    fn width(&self) -> f64 {
        16.0 + 6.0 + self.label.chars().count() as f64 * CHAR_W + 18.0
    }
}

/// Lays out legend items in rows from `x0` to the right edge: (x, row) of each.
fn layout(items: &[LegendItem], x0: f64) -> Vec<(f64, usize)> {
    let mut out = Vec::new();
    let (mut x, mut row) = (x0, 0);
    for item in items {
        let w = item.width();
        if x + w > WIDTH - RIGHT && x > x0 {
            x = x0;
            row += 1;
        }
        out.push((x, row));
        x += w;
    }
    out
}

fn draw_legend(out: &mut String, items: &[LegendItem], x0: f64, y0: f64, row_h: f64) {
    for (item, (x, row)) in items.iter().zip(layout(items, x0)) {
        let y = y0 + row as f64 * row_h;
        let _ = match item.swatch {
            Swatch::Area(c) => write!(
                out,
                r#"<rect x="{}" y="{}" width="16" height="10" fill="{c}" fill-opacity="0.75"/>"#,
                n(x),
                n(y - 9.0)
            ),
            Swatch::Line(c, dashed) => write!(
                out,
                r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{c}" stroke-width="2.5"{}/>"#,
                n(x),
                n(y - 4.0),
                n(x + 16.0),
                n(y - 4.0),
                if dashed {
                    r#" stroke-dasharray="5 3""#
                } else {
                    ""
                }
            ),
            Swatch::Band(c) => write!(
                out,
                r#"<rect x="{}" y="{}" width="16" height="12" fill="{c}" fill-opacity="0.22" stroke="{c}" stroke-opacity="0.5"/>"#,
                n(x),
                n(y - 10.0)
            ),
            Swatch::Marker(c) => write!(
                out,
                r#"<line x1="{x1}" y1="{}" x2="{x1}" y2="{}" stroke="{c}" stroke-width="2" stroke-dasharray="3 2"/><path d="M{} {}L{} {}L{x1} {}Z" fill="{c}"/>"#,
                n(y - 5.0),
                n(y + 2.0),
                n(x + 4.0),
                n(y - 12.0),
                n(x + 12.0),
                n(y - 12.0),
                n(y - 5.0),
                x1 = n(x + 8.0),
            ),
        };
        let _ = write!(
            out,
            r#"<text x="{}" y="{}">{}</text>"#,
            n(x + 22.0),
            n(y),
            esc(&item.label)
        );
    }
}

/// The chaos events to draw, in the order they happened.
struct Events<'a> {
    /// (kind, start, end, tooltip)
    bands: Vec<(&'a str, f64, f64, String)>,
    /// (kind, at, tooltip)
    markers: Vec<(&'a str, f64, String)>,
    /// Kinds in order of first appearance, and whether each is instant.
    kinds: Vec<(&'a str, bool)>,
}

fn events(r: &Results, x_max: f64) -> Events<'_> {
    let mut ev = Events {
        bands: Vec::new(),
        markers: Vec::new(),
        kinds: Vec::new(),
    };
    for e in &r.timeline {
        if !e.start_s.is_finite() {
            continue;
        }
        let kind = e.kind.as_str();
        let instant = FaultKind::from_name(kind).is_some_and(FaultKind::is_instant);
        if !ev.kinds.iter().any(|(k, _)| *k == kind) {
            ev.kinds.push((kind, instant));
        }
        let start = e.start_s.clamp(0.0, x_max);
        let end = e
            .end_s
            .filter(|v| v.is_finite())
            .unwrap_or(x_max)
            .clamp(start, x_max);
        let until = match e.end_s {
            Some(end) if end.is_finite() => format!("{end:.1} s"),
            _ => "the end of the run (no end recorded)".into(),
        };
        let detail = if e.detail.is_empty() {
            String::new()
        } else {
            format!(": {}", e.detail)
        };
        if instant {
            ev.markers
                .push((kind, start, format!("{kind} at {:.1} s{detail}", e.start_s)));
        } else {
            ev.bands.push((
                kind,
                start,
                end,
                format!("{kind} {:.1} s to {until}{detail}", e.start_s),
            ));
        }
    }
    ev
}

/// The frame of one chart: x axis in seconds, a y scale, chaos events and legends.
struct Frame<'a> {
    id: &'static str,
    title: &'static str,
    y_label: &'static str,
    x_max: f64,
    scale: Scale,
    events: &'a Events<'a>,
    legend: Vec<LegendItem>,
}

impl Frame<'_> {
    fn x(&self, t: f64) -> f64 {
        LEFT + (t / self.x_max).clamp(0.0, 1.0) * PLOT_W
    }

    /// Wraps the series (`body`, clipped to the plot; `overlay`, not clipped) in the grid,
    /// the chaos events, the axes and the legends.
    fn render(&self, body: &str, overlay: &str, empty: Option<&str>) -> String {
        let event_items: Vec<LegendItem> = self
            .events
            .kinds
            .iter()
            .map(|(kind, instant)| {
                let color = kind_color(kind);
                LegendItem::new(
                    if *instant {
                        Swatch::Marker(color)
                    } else {
                        Swatch::Band(color)
                    },
                    kind,
                )
            })
            .collect();
        let legend_x0 = LEFT + 52.0;
        let event_rows = layout(&event_items, legend_x0)
            .last()
            .map_or(0, |(_, row)| row + 1);
        let legend_y0 = BOTTOM + 62.0;
        let height = if event_rows == 0 {
            BOTTOM + 48.0
        } else {
            legend_y0 + (event_rows - 1) as f64 * 20.0 + 14.0
        };

        let mut s = String::new();
        let _ = write!(
            s,
            r##"<svg class="chart" id="{id}" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-labelledby="{id}-title" font-family="{FONT}" font-size="12" fill="#222">"##,
            id = self.id,
            w = n(WIDTH),
            h = n(height)
        );
        let _ = write!(
            s,
            r#"<title id="{}-title">{}</title>"#,
            self.id,
            esc(self.title)
        );
        let _ = write!(
            s,
            r#"<defs><clipPath id="{}-clip"><rect x="{}" y="{}" width="{}" height="{}"/></clipPath></defs>"#,
            self.id,
            n(LEFT),
            n(TOP - 1.0),
            n(PLOT_W),
            n(PLOT_H + 1.0)
        );
        let _ = write!(
            s,
            r##"<rect x="0" y="0" width="{}" height="{}" fill="#fff"/>"##,
            n(WIDTH),
            n(height)
        );
        let _ = write!(
            s,
            r#"<text x="{}" y="22" font-size="15" font-weight="600">{}</text>"#,
            n(LEFT),
            esc(self.title)
        );
        draw_legend(&mut s, &self.legend, LEFT, 46.0, 18.0);

        // Grid.
        s.push_str(r##"<g class="grid" stroke="#e4e4e4" stroke-width="1">"##);
        let ticks = self.scale.ticks();
        for (v, _) in &ticks {
            if let Some(y) = self.scale.y(*v) {
                let _ = write!(
                    s,
                    r#"<line x1="{}" y1="{}" x2="{}" y2="{}"/>"#,
                    n(LEFT),
                    n(y),
                    n(LEFT + PLOT_W),
                    n(y)
                );
            }
        }
        let step = time_step(self.x_max);
        let long = self.x_max > 600.0;
        let x_ticks: Vec<f64> = (0..)
            .map(|i| f64::from(i) * step)
            .take_while(|t| *t <= self.x_max + 1e-9)
            .collect();
        for t in &x_ticks {
            let x = self.x(*t);
            let _ = write!(
                s,
                r#"<line x1="{}" y1="{}" x2="{}" y2="{}"/>"#,
                n(x),
                n(TOP),
                n(x),
                n(BOTTOM)
            );
        }
        s.push_str("</g>");

        // Lasting faults: shaded bands behind the data.
        let _ = write!(s, r#"<g class="bands" clip-path="url(#{}-clip)">"#, self.id);
        for (kind, start, end, title) in &self.events.bands {
            let x0 = self.x(*start);
            let w = (self.x(*end) - x0).max(2.0);
            let c = kind_color(kind);
            let _ = write!(
                s,
                r#"<rect class="band band-{}" x="{}" y="{}" width="{}" height="{}" fill="{c}" fill-opacity="0.16"><title>{}</title></rect>"#,
                class_name(kind),
                n(x0),
                n(TOP),
                n(w),
                n(PLOT_H),
                esc(title)
            );
        }
        s.push_str("</g>");

        let _ = write!(
            s,
            r#"<g class="series" clip-path="url(#{}-clip)">{body}</g>"#,
            self.id
        );
        s.push_str(overlay);

        // Instant events: dashed markers over the data, a triangle above the plot.
        s.push_str(r#"<g class="markers">"#);
        for (kind, at, title) in &self.events.markers {
            let x = self.x(*at);
            let c = kind_color(kind);
            let _ = write!(
                s,
                r#"<g class="marker marker-{}"><title>{}</title><line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{c}" stroke-width="1.6" stroke-dasharray="4 3"/><path d="M{} {}L{} {}L{x} {}Z" fill="{c}"/></g>"#,
                class_name(kind),
                esc(title),
                n(TOP - 2.0),
                n(BOTTOM),
                n(x - 5.0),
                n(TOP - 10.0),
                n(x + 5.0),
                n(TOP - 10.0),
                n(TOP - 2.0),
                x = n(x),
            );
        }
        s.push_str("</g>");

        if let Some(msg) = empty {
            let _ = write!(
                s,
                r##"<text x="{}" y="{}" text-anchor="middle" fill="#777" font-size="14">{}</text>"##,
                n(LEFT + PLOT_W / 2.0),
                n(TOP + PLOT_H / 2.0),
                esc(msg)
            );
        }

        // Axes and labels.
        let _ = write!(
            s,
            r##"<path d="M{l} {t}L{l} {b}L{r} {b}" fill="none" stroke="#555" stroke-width="1"/>"##,
            l = n(LEFT),
            t = n(TOP),
            b = n(BOTTOM),
            r = n(LEFT + PLOT_W)
        );
        s.push_str(r##"<g class="y-ticks" text-anchor="end" fill="#444">"##);
        for (v, label) in &ticks {
            if let Some(y) = self.scale.y(*v) {
                let _ = write!(
                    s,
                    r#"<text x="{}" y="{}">{}</text>"#,
                    n(LEFT - 8.0),
                    n(y + 4.0),
                    esc(label)
                );
            }
        }
        s.push_str("</g>");
        s.push_str(r##"<g class="x-ticks" text-anchor="middle" fill="#444">"##);
        for t in &x_ticks {
            let _ = write!(
                s,
                r#"<text x="{}" y="{}">{}</text>"#,
                n(self.x(*t)),
                n(BOTTOM + 17.0),
                time_label(*t, long)
            );
        }
        s.push_str("</g>");
        let x_label = if long {
            "time since the start of the run (m:ss)"
        } else {
            "seconds since the start of the run"
        };
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" text-anchor="middle" fill="#333">{x_label}</text>"##,
            n(LEFT + PLOT_W / 2.0),
            n(BOTTOM + 36.0)
        );
        let _ = write!(
            s,
            r##"<text x="18" y="{y}" text-anchor="middle" fill="#333" transform="rotate(-90 18 {y})">{}</text>"##,
            esc(self.y_label),
            y = n(TOP + PLOT_H / 2.0)
        );
        if !event_items.is_empty() {
            let _ = write!(
                s,
                r##"<text x="{}" y="{}" fill="#555" font-weight="600">chaos</text>"##,
                n(LEFT),
                n(legend_y0)
            );
            draw_legend(&mut s, &event_items, legend_x0, legend_y0, 20.0);
        }
        s.push_str("</svg>");
        s
    }
}

/// A latency, or none for a second without a successful call.
fn pos(v: f64) -> Option<f64> {
    (v > 0.0).then_some(v)
}

/// An SVG path through the points whose value is present; a gap where it is not.
fn line_path(frame: &Frame<'_>, pts: &[Point], value: fn(&Point) -> Option<f64>) -> String {
    let mut d = String::new();
    // Points in the current run of present values; a lone point gets a dot (a zero-length
    // segment with round caps), else it would not show.
    let mut run = 0;
    for p in pts {
        match value(p).and_then(|v| frame.scale.y(v)) {
            Some(y) => {
                let _ = write!(
                    d,
                    "{}{} {}",
                    if run > 0 { "L" } else { "M" },
                    n(frame.x(p.t)),
                    n(y)
                );
                run += 1;
            }
            None => {
                if run == 1 {
                    d.push_str("l0.1 0");
                }
                run = 0;
            }
        }
    }
    if run == 1 {
        d.push_str("l0.1 0");
    }
    d
}

/// A line: its value (None for a gap), colour, class and stroke width.
type Line = (
    fn(&Point) -> Option<f64>,
    &'static str,
    &'static str,
    &'static str,
);

/// A stacked area: its value, colour and class.
type Layer = (fn(&Point) -> f64, &'static str, &'static str);

/// Stacked areas: one path per layer, each from the cumulative sum below it to its top.
fn stacked_paths(frame: &Frame<'_>, pts: &[Point], layers: &[Layer]) -> String {
    let mut out = String::new();
    let mut below = vec![0.0; pts.len()];
    for (value, color, class) in layers {
        let above: Vec<f64> = pts
            .iter()
            .zip(&below)
            .map(|(p, b)| b + value(p).max(0.0))
            .collect();
        if pts.is_empty() || above.iter().zip(&below).all(|(a, b)| a == b) {
            below = above;
            continue;
        }
        let mut d = String::new();
        for (i, (p, v)) in pts.iter().zip(&above).enumerate() {
            let y = frame.scale.y(*v).unwrap_or(BOTTOM);
            let _ = write!(
                d,
                "{}{} {}",
                if i == 0 { "M" } else { "L" },
                n(frame.x(p.t)),
                n(y)
            );
        }
        for (p, v) in pts.iter().zip(&below).rev() {
            let y = frame.scale.y(*v).unwrap_or(BOTTOM);
            let _ = write!(d, "L{} {}", n(frame.x(p.t)), n(y));
        }
        let _ = write!(
            out,
            r#"<path class="area area-{class}" d="{d}Z" fill="{color}" fill-opacity="0.75" stroke="{color}" stroke-width="0.8"/>"#
        );
        below = above;
    }
    out
}

fn bucket_note(bucket: usize) -> String {
    if bucket > 1 {
        format!(" Each point covers {bucket} s (rates averaged, latency and memory the maximum).")
    } else {
        String::new()
    }
}

const EVENTS_NOTE: &str =
    "Shaded bands: lasting faults; dashed markers: server kills and restarts, worker kills and \
                           disk corruption (hover over one for its details).";

/// Calls per second by outcome, stacked: the top edge is all calls.
pub fn throughput(r: &Results) -> Chart {
    let (pts, bucket) = points(r);
    let x_max = x_extent(r);
    let ev = events(r, x_max);
    let max = pts
        .iter()
        .map(|p| p.success + p.refused + p.fault + p.unexpected)
        .fold(0.0, f64::max);
    let layers: [Layer; 4] = [
        (|p| p.success, C_SUCCESS, "success"),
        (|p| p.refused, C_REFUSED, "expected_refusal"),
        (|p| p.fault, C_FAULT, "fault_induced"),
        (|p| p.unexpected, C_UNEXPECTED, "unexpected"),
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
        x_max,
        scale: Scale::linear(max),
        events: &ev,
        legend,
    };
    let body = stacked_paths(&frame, &pts, &layers);
    let empty = pts
        .is_empty()
        .then_some("no time series in this results file");
    // Unexpected outcomes are rare and thin in the stack: a red tick on the axis too.
    let mut overlay = String::new();
    for p in pts.iter().filter(|p| p.unexpected > 0.0) {
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
    let svg = frame.render(&body, &overlay, empty);
    Chart {
        id: frame.id,
        title: frame.title,
        svg,
        caption: format!(
            "Calls per second by outcome, stacked: the top edge is all calls; red ticks on the axis mark seconds with \
             unexpected outcomes. {EVENTS_NOTE}{}",
            bucket_note(bucket)
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

/// Latency percentiles of successful calls, each second.
pub fn latency(r: &Results) -> Chart {
    let (pts, bucket) = points(r);
    let x_max = x_extent(r);
    let ev = events(r, x_max);
    let positive = pts
        .iter()
        .flat_map(|p| [p.p50, p.p95, p.p99])
        .filter(|v| *v > 0.0);
    let (min, max) = positive.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
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
        x_max,
        scale,
        events: &ev,
        legend,
    };
    let lines: [Line; 3] = [
        (|p| pos(p.p99), C_P99, "p99", "1.6"),
        (|p| pos(p.p95), C_P95, "p95", "1.6"),
        (|p| pos(p.p50), C_P50, "p50", "2"),
    ];
    let mut body = String::new();
    for (value, color, class, width) in lines {
        let d = line_path(&frame, &pts, value);
        if !d.is_empty() {
            let _ = write!(
                body,
                r#"<path class="line line-{class}" d="{d}" fill="none" stroke="{color}" stroke-width="{width}" stroke-linejoin="round" stroke-linecap="round"/>"#
            );
        }
    }
    let empty = if pts.is_empty() {
        Some("no time series in this results file")
    } else if max <= 0.0 {
        Some("no successful calls in the time series")
    } else {
        None
    };
    let svg = frame.render(&body, "", empty);
    Chart {
        id: frame.id,
        title: frame.title,
        svg,
        caption: format!(
            "Latency percentiles (ms) of the calls that succeeded in each second{}; a gap is a second without a \
             successful call. {EVENTS_NOTE}{}",
            if scale.is_log() { ", on a log scale" } else { "" },
            bucket_note(bucket)
        ),
    }
}

/// How far above the peak the budget may be and still be drawn on the memory chart.
const BUDGET_OFF_SCALE: f64 = 4.0;

/// Resident memory of the server and its workers, against the budget when the file has it.
pub fn memory(r: &Results, budget_mb: Option<f64>) -> Chart {
    let (pts, bucket) = points(r);
    let x_max = x_extent(r);
    let ev = events(r, x_max);
    let budget = budget_mb.filter(|b| b.is_finite() && *b > 0.0);
    let peak = pts.iter().map(|p| p.server + p.workers).fold(0.0, f64::max);
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
        x_max,
        scale: Scale::linear(max * 1.05),
        events: &ev,
        legend,
    };
    let layers: [Layer; 2] = [
        (|p| p.server, C_SERVER, "server"),
        (|p| p.workers, C_WORKERS, "workers"),
    ];
    let body = stacked_paths(&frame, &pts, &layers);
    let mut overlay = String::new();
    if let Some(b) = budget_on_chart {
        if let Some(y) = frame.scale.y(b) {
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
    }
    let empty = pts
        .is_empty()
        .then_some("no time series in this results file");
    let svg = frame.render(&body, &overlay, empty);
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
             {budget_text} {EVENTS_NOTE}{}",
            bucket_note(bucket)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_and_ticks() {
        let Scale::Linear { max, step } = Scale::linear(93.0) else {
            panic!()
        };
        assert_eq!((max, step), (100.0, 20.0));
        let Scale::Linear { max, .. } = Scale::linear(0.0) else {
            panic!()
        };
        assert_eq!(max, 1.0);
        let log = Scale::log(3.2, 450.0);
        assert!(matches!(log, Scale::Log { lo: 0, hi: 3 }));
        assert_eq!(log.y(1.0), Some(BOTTOM));
        assert_eq!(log.y(1000.0), Some(TOP));
        assert_eq!(log.y(0.0), None);
        assert_eq!(time_step(95.0), 10.0);
        assert_eq!(time_step(3600.0), 600.0);
        assert_eq!(time_label(3725.0, true), "1:02:05");
        assert_eq!(class_name("kill server<x>"), "kill-server-x-");
    }

    #[test]
    fn gaps_break_the_line_and_a_lone_point_gets_a_dot() {
        let ev = Events {
            bands: Vec::new(),
            markers: Vec::new(),
            kinds: Vec::new(),
        };
        let frame = Frame {
            id: "t",
            title: "t",
            y_label: "",
            x_max: 10.0,
            scale: Scale::linear(10.0),
            events: &ev,
            legend: Vec::new(),
        };
        let pts: Vec<Point> = [1.0, 0.0, 3.0, 4.0, 0.0, 5.0]
            .iter()
            .enumerate()
            .map(|(i, v)| Point {
                t: i as f64,
                p50: *v,
                ..Point::default()
            })
            .collect();
        let d = line_path(&frame, &pts, |p| pos(p.p50));
        assert_eq!(d.matches('M').count(), 3, "{d}");
        assert_eq!(d.matches("l0.1 0").count(), 2, "{d}");
    }
}
