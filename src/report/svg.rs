//! A small kit for the report's charts, as hand-written inline SVG (no scripts, no fonts, no
//! external references; deterministic output): a plot [`Frame`] with its axes, grid, scale
//! and legends, chaos [`Events`] drawn as shaded bands (lasting) or dashed markers (instant),
//! each with a `<title>` a browser shows on hover, and the paths of lines and stacked areas.
//! What is plotted, and in which colours, is `charts`' business.

use std::fmt::Write as _;

use super::escape::esc;

pub const WIDTH: f64 = 900.0;
pub const LEFT: f64 = 72.0;
const RIGHT: f64 = 24.0;
pub const TOP: f64 = 66.0;
pub const PLOT_H: f64 = 240.0;
pub const PLOT_W: f64 = WIDTH - LEFT - RIGHT;
pub const BOTTOM: f64 = TOP + PLOT_H;
/// A rough width of a character at 12 px, for laying out legends.
const CHAR_W: f64 = 6.8;
const FONT: &str =
    "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";

/// A number for SVG coordinates: one decimal, deterministic.
pub fn n(v: f64) -> String {
    format!("{v:.1}")
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
pub enum Scale {
    /// 0 to `max`, ticks every `step`.
    Linear { max: f64, step: f64 },
    /// 10^`lo` to 10^`hi`.
    Log { lo: i32, hi: i32 },
}

impl Scale {
    pub fn linear(data_max: f64) -> Self {
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

    pub fn log(min_positive: f64, max: f64) -> Self {
        let lo = min_positive.log10().floor() as i32;
        let mut hi = max.log10().ceil() as i32;
        if hi <= lo {
            hi = lo + 1;
        }
        Scale::Log { lo, hi }
    }

    pub fn is_log(&self) -> bool {
        matches!(self, Scale::Log { .. })
    }

    /// The y pixel of a value, or None for a value a log scale cannot show.
    pub fn y(&self, v: f64) -> Option<f64> {
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

pub enum Swatch {
    Area(&'static str),
    Line(&'static str, bool),
    Band(&'static str),
    Marker(&'static str),
}

pub struct LegendItem {
    swatch: Swatch,
    label: String,
}

impl LegendItem {
    pub fn new(swatch: Swatch, label: &str) -> Self {
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

/// A lasting event: a shaded band from `start` to `end` behind the data.
pub struct Band<'a> {
    pub kind: &'a str,
    pub color: &'static str,
    pub start: f64,
    pub end: f64,
    pub tooltip: String,
}

/// An instant event: a dashed marker over the data, a triangle above the plot.
pub struct Marker<'a> {
    pub kind: &'a str,
    pub color: &'static str,
    pub at: f64,
    pub tooltip: String,
}

/// The chaos events of a chart, in the order they happened, and their legend.
#[derive(Default)]
pub struct Events<'a> {
    pub bands: Vec<Band<'a>>,
    pub markers: Vec<Marker<'a>>,
    pub legend: Vec<LegendItem>,
}

/// The frame of one chart: x axis in seconds, a y scale, chaos events and legends.
pub struct Frame<'a> {
    pub id: &'static str,
    pub title: &'static str,
    pub y_label: &'static str,
    pub x_max: f64,
    pub scale: Scale,
    pub events: &'a Events<'a>,
    pub legend: Vec<LegendItem>,
}

/// Where the chaos legend starts, below the x axis.
const EVENTS_LEGEND_X: f64 = LEFT + 52.0;
const EVENTS_LEGEND_Y: f64 = BOTTOM + 62.0;

impl Frame<'_> {
    pub fn x(&self, t: f64) -> f64 {
        LEFT + (t / self.x_max).clamp(0.0, 1.0) * PLOT_W
    }

    /// Wraps the series (`body`, clipped to the plot; `overlay`, not clipped) in the grid,
    /// the chaos events, the axes and the legends; `empty` is said across a plot with no data.
    pub fn render(&self, body: &str, overlay: &str, empty: Option<&str>) -> String {
        let y_ticks = self.scale.ticks();
        let x_ticks = self.x_ticks();
        let mut s = String::new();
        self.open(&mut s);
        self.grid(&mut s, &y_ticks, &x_ticks);
        self.bands(&mut s);
        let _ = write!(
            s,
            r#"<g class="series" clip-path="url(#{}-clip)">{body}</g>"#,
            self.id
        );
        s.push_str(overlay);
        self.markers(&mut s);
        if let Some(msg) = empty {
            let _ = write!(
                s,
                r##"<text x="{}" y="{}" text-anchor="middle" fill="#777" font-size="14">{}</text>"##,
                n(LEFT + PLOT_W / 2.0),
                n(TOP + PLOT_H / 2.0),
                esc(msg)
            );
        }
        self.axes(&mut s, &y_ticks, &x_ticks);
        if !self.events.legend.is_empty() {
            let _ = write!(
                s,
                r##"<text x="{}" y="{}" fill="#555" font-weight="600">chaos</text>"##,
                n(LEFT),
                n(EVENTS_LEGEND_Y)
            );
            draw_legend(
                &mut s,
                &self.events.legend,
                EVENTS_LEGEND_X,
                EVENTS_LEGEND_Y,
                20.0,
            );
        }
        s.push_str("</svg>");
        s
    }

    /// The height of the whole chart: the chaos legend's rows below the axis decide it.
    fn height(&self) -> f64 {
        let rows = layout(&self.events.legend, EVENTS_LEGEND_X)
            .last()
            .map_or(0, |(_, row)| row + 1);
        if rows == 0 {
            BOTTOM + 48.0
        } else {
            EVENTS_LEGEND_Y + (rows - 1) as f64 * 20.0 + 14.0
        }
    }

    /// A long run's axis counts minutes (m:ss) rather than seconds.
    fn long(&self) -> bool {
        self.x_max > 600.0
    }

    fn x_ticks(&self) -> Vec<f64> {
        let step = time_step(self.x_max);
        (0..)
            .map(|i| f64::from(i) * step)
            .take_while(|t| *t <= self.x_max + 1e-9)
            .collect()
    }

    /// The `<svg>` element's start, its title, the plot's clip, the background, the heading and
    /// the series legend.
    fn open(&self, s: &mut String) {
        let height = self.height();
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
        draw_legend(s, &self.legend, LEFT, 46.0, 18.0);
    }

    fn grid(&self, s: &mut String, y_ticks: &[(f64, String)], x_ticks: &[f64]) {
        s.push_str(r##"<g class="grid" stroke="#e4e4e4" stroke-width="1">"##);
        for (v, _) in y_ticks {
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
        for t in x_ticks {
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
    }

    /// Lasting events: shaded bands behind the data.
    fn bands(&self, s: &mut String) {
        let _ = write!(s, r#"<g class="bands" clip-path="url(#{}-clip)">"#, self.id);
        for band in &self.events.bands {
            let x0 = self.x(band.start);
            let w = (self.x(band.end) - x0).max(2.0);
            let _ = write!(
                s,
                r#"<rect class="band band-{}" x="{}" y="{}" width="{}" height="{}" fill="{c}" fill-opacity="0.16"><title>{}</title></rect>"#,
                class_name(band.kind),
                n(x0),
                n(TOP),
                n(w),
                n(PLOT_H),
                esc(&band.tooltip),
                c = band.color,
            );
        }
        s.push_str("</g>");
    }

    /// Instant events: dashed markers over the data, a triangle above the plot.
    fn markers(&self, s: &mut String) {
        s.push_str(r#"<g class="markers">"#);
        for marker in &self.events.markers {
            let x = self.x(marker.at);
            let _ = write!(
                s,
                r#"<g class="marker marker-{}"><title>{}</title><line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{c}" stroke-width="1.6" stroke-dasharray="4 3"/><path d="M{} {}L{} {}L{x} {}Z" fill="{c}"/></g>"#,
                class_name(marker.kind),
                esc(&marker.tooltip),
                n(TOP - 2.0),
                n(BOTTOM),
                n(x - 5.0),
                n(TOP - 10.0),
                n(x + 5.0),
                n(TOP - 10.0),
                n(TOP - 2.0),
                x = n(x),
                c = marker.color,
            );
        }
        s.push_str("</g>");
    }

    fn axes(&self, s: &mut String, y_ticks: &[(f64, String)], x_ticks: &[f64]) {
        let _ = write!(
            s,
            r##"<path d="M{l} {t}L{l} {b}L{r} {b}" fill="none" stroke="#555" stroke-width="1"/>"##,
            l = n(LEFT),
            t = n(TOP),
            b = n(BOTTOM),
            r = n(LEFT + PLOT_W)
        );
        s.push_str(r##"<g class="y-ticks" text-anchor="end" fill="#444">"##);
        for (v, label) in y_ticks {
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
        for t in x_ticks {
            let _ = write!(
                s,
                r#"<text x="{}" y="{}">{}</text>"#,
                n(self.x(*t)),
                n(BOTTOM + 17.0),
                time_label(*t, self.long())
            );
        }
        s.push_str("</g>");
        let x_label = if self.long() {
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
    }
}

/// An SVG path through the points (time, value) whose value is present; a gap where it is
/// not.
pub fn line_path(
    frame: &Frame<'_>,
    points: impl IntoIterator<Item = (f64, Option<f64>)>,
) -> String {
    let mut d = String::new();
    // Points in the current run of present values; a lone point gets a dot (a zero-length
    // segment with round caps), else it would not show.
    let mut run = 0;
    for (t, value) in points {
        match value.and_then(|v| frame.scale.y(v)) {
            Some(y) => {
                let _ = write!(
                    d,
                    "{}{} {}",
                    if run > 0 { "L" } else { "M" },
                    n(frame.x(t)),
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

/// One layer of stacked areas: a value at each time, its colour and CSS class.
pub struct Layer {
    pub values: Vec<f64>,
    pub color: &'static str,
    pub class: &'static str,
}

/// Stacked areas over the times `ts`: one path per layer, each from the cumulative sum below
/// it to its top; a layer that adds nothing draws nothing.
pub fn stacked_paths(frame: &Frame<'_>, ts: &[f64], layers: &[Layer]) -> String {
    let mut out = String::new();
    let mut below = vec![0.0; ts.len()];
    for layer in layers {
        let above: Vec<f64> = layer
            .values
            .iter()
            .zip(&below)
            .map(|(v, b)| b + v.max(0.0))
            .collect();
        if ts.is_empty() || above.iter().zip(&below).all(|(a, b)| a == b) {
            below = above;
            continue;
        }
        let mut d = String::new();
        for (i, (t, v)) in ts.iter().zip(&above).enumerate() {
            let y = frame.scale.y(*v).unwrap_or(BOTTOM);
            let _ = write!(
                d,
                "{}{} {}",
                if i == 0 { "M" } else { "L" },
                n(frame.x(*t)),
                n(y)
            );
        }
        for (t, v) in ts.iter().zip(&below).rev() {
            let y = frame.scale.y(*v).unwrap_or(BOTTOM);
            let _ = write!(d, "L{} {}", n(frame.x(*t)), n(y));
        }
        let (color, class) = (layer.color, layer.class);
        let _ = write!(
            out,
            r#"<path class="area area-{class}" d="{d}Z" fill="{color}" fill-opacity="0.75" stroke="{color}" stroke-width="0.8"/>"#
        );
        below = above;
    }
    out
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

    fn frame<'a>(events: &'a Events<'a>) -> Frame<'a> {
        Frame {
            id: "t",
            title: "t",
            y_label: "",
            x_max: 10.0,
            scale: Scale::linear(10.0),
            events,
            legend: Vec::new(),
        }
    }

    #[test]
    fn gaps_break_the_line_and_a_lone_point_gets_a_dot() {
        let events = Events::default();
        let values = [1.0, 0.0, 3.0, 4.0, 0.0, 5.0];
        let points = values
            .iter()
            .enumerate()
            .map(|(i, v)| (i as f64, (*v > 0.0).then_some(*v)));
        let d = line_path(&frame(&events), points);
        assert_eq!(d.matches('M').count(), 3, "{d}");
        assert_eq!(d.matches("l0.1 0").count(), 2, "{d}");
    }

    #[test]
    fn stacked_layers_start_where_the_one_below_ends() {
        let events = Events::default();
        let layers = [
            Layer {
                values: vec![1.0, 2.0],
                color: "#000",
                class: "low",
            },
            Layer {
                values: vec![0.0, 0.0],
                color: "#111",
                class: "nothing",
            },
            Layer {
                values: vec![3.0, 3.0],
                color: "#222",
                class: "high",
            },
        ];
        let svg = stacked_paths(&frame(&events), &[0.0, 10.0], &layers);
        assert_eq!(
            svg.matches("<path").count(),
            2,
            "an empty layer draws nothing\n{svg}"
        );
        let high = &svg[svg.find("area-high").unwrap()..];
        // The top layer runs from 1+3 and 2+3 back down to 1 and 2.
        let y = |v: f64| n(frame(&events).scale.y(v).unwrap());
        assert!(high.contains(&format!("M{} {}", n(LEFT), y(4.0))), "{high}");
        assert!(high.contains(&format!("L{} {}", n(LEFT), y(1.0))), "{high}");
    }

    #[test]
    fn the_chaos_legend_makes_room_below_the_axis() {
        let quiet = Events::default();
        assert_eq!(frame(&quiet).height(), BOTTOM + 48.0);
        let busy = Events {
            legend: (0..30)
                .map(|i| LegendItem::new(Swatch::Band("#000"), &format!("fault number {i}")))
                .collect(),
            ..Events::default()
        };
        let f = frame(&busy);
        assert!(f.height() > EVENTS_LEGEND_Y + 20.0, "{}", f.height());
        let svg = f.render("", "", Some("nothing <here>"));
        assert!(svg.contains(">chaos</text>"), "{svg}");
        assert!(svg.contains("nothing &lt;here&gt;"), "{svg}");
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
    }
}
