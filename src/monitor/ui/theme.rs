//! The dashboard's colours. Without colour (NO_COLOR, `TERM=dumb`) every state still shows:
//! by its word, or by bold, dim and reversed text.

use ratatui::style::{Color, Modifier, Style};

use crate::monitor::state::Severity;

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

    /// A colour that carries no meaning of its own, so it may simply go without colour.
    pub fn fg(&self, c: Color) -> Style {
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

    /// A count that should stay at zero (sheds, timeouts, kills): a warning once it is not.
    pub fn should_be_zero(&self, v: f64) -> Style {
        if v > 0.0 {
            self.warn()
        } else {
            self.value()
        }
    }

    /// The share of successful calls.
    pub fn success_rate(&self, rate: Option<f64>) -> Style {
        match rate {
            Some(r) if r < 0.95 => self.crit(),
            Some(r) if r < 0.999 => self.warn(),
            _ => self.ok(),
        }
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

    /// A worker slot's state (`idle`, `busy`, `dead`, or starting).
    pub fn slot(&self, state: &str) -> Style {
        match state {
            "idle" => self.ok(),
            "busy" => self.fg(Color::Cyan),
            "dead" => self.crit(),
            _ => self.warn(),
        }
    }

    /// How full a memory gauge is, or the server's own word for its pressure.
    pub fn pressure(&self, ratio: f64, pressure: Option<&str>) -> Style {
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
