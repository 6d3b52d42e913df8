//! What every panel is made of: a titled block, `label value` figures, gauges, and
//! [`PanelRows`], a panel's lines declared once with the room each one needs.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Gauge, Paragraph};
use ratatui::Frame;

use super::theme::Theme;

/// How much room the screen gives the panels. A compact screen (under 110×34) drops the rows
/// only a wide one shows, uses short labels and gives some panels a title rule instead of a
/// border.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Room {
    Compact,
    Wide,
}

impl Room {
    pub fn of(area: Rect) -> Room {
        if area.width < 110 || area.height < 34 {
            Room::Compact
        } else {
            Room::Wide
        }
    }

    /// `compact` or `wide`, whichever this room takes (a label, a width, a height).
    pub fn pick<T>(self, compact: T, wide: T) -> T {
        match self {
            Room::Compact => compact,
            Room::Wide => wide,
        }
    }

    fn shows(self, shown: Shown) -> bool {
        matches!(
            (self, shown),
            (_, Shown::Always) | (Room::Compact, Shown::Compact) | (Room::Wide, Shown::Wide)
        )
    }
}

/// The rooms a row of a panel shows in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    Always,
    Compact,
    Wide,
}

pub fn block(title: &str, theme: &Theme) -> Block<'static> {
    Block::bordered().title(Span::styled(format!(" {title} "), theme.title()))
}

/// A panel before the server has answered once.
pub fn no_data_yet(frame: &mut Frame, area: Rect, title: &str, theme: &Theme) {
    frame.render_widget(
        Paragraph::new("no data yet").block(block(title, theme)),
        area,
    );
}

/// A block that gives up its border for a title rule when the room is compact.
pub fn room_block(title: Span<'static>, room: Room) -> Block<'static> {
    match room {
        Room::Compact => Block::default().borders(Borders::TOP).title(title),
        Room::Wide => Block::bordered().title(title),
    }
}

pub fn kv(label: &str, value: String, value_style: Style, theme: &Theme) -> Vec<Span<'static>> {
    vec![
        Span::styled(format!("{label} "), theme.label()),
        Span::styled(value, value_style),
    ]
}

/// A figure as a panel shows it: its text and style. The label belongs to the row, since a
/// compact row says less.
pub struct Figure {
    pub text: String,
    pub style: Style,
}

/// One line of `label value` figures.
pub fn figure_line(figures: &[(&str, &Figure)], theme: &Theme) -> Line<'static> {
    Line::from(
        figures
            .iter()
            .flat_map(|(label, f)| kv(label, f.text.clone(), f.style, theme))
            .collect::<Vec<_>>(),
    )
}

pub fn gauge(ratio: f64, label: String, style: Style, theme: &Theme) -> Gauge<'static> {
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

enum RowWidget {
    Text(Line<'static>),
    Gauge(Box<Gauge<'static>>),
}

/// A panel's rows, one line each, top to bottom: declared once for both rooms, each with the
/// rooms it shows in, then drawn as many as fit.
pub struct PanelRows {
    room: Room,
    rows: Vec<RowWidget>,
}

impl PanelRows {
    pub fn new(room: Room) -> Self {
        PanelRows {
            room,
            rows: Vec::new(),
        }
    }

    pub fn text(&mut self, shown: Shown, line: impl Into<Line<'static>>) {
        if self.room.shows(shown) {
            self.rows.push(RowWidget::Text(line.into()));
        }
    }

    pub fn gauge(&mut self, shown: Shown, gauge: Gauge<'static>) {
        if self.room.shows(shown) {
            self.rows.push(RowWidget::Gauge(Box::new(gauge)));
        }
    }

    /// Draws the rows from the top of `area`, as many as fit; returns how many lines they took.
    pub fn draw(self, frame: &mut Frame, area: Rect) -> u16 {
        let mut used = 0;
        for (y, row) in (area.y..area.bottom()).zip(self.rows) {
            let line = Rect {
                y,
                height: 1,
                ..area
            };
            match row {
                RowWidget::Text(text) => frame.render_widget(Paragraph::new(text), line),
                RowWidget::Gauge(gauge) => frame.render_widget(*gauge, line),
            }
            used += 1;
        }
        used
    }
}
