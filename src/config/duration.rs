//! Durations in the configuration: `"250ms"`, `"90s"`, `"10m"`, `"2h"` (humantime's syntax,
//! so `"1h 30m"` too), read into [`Duration`] when the file is loaded, so that a bad value is
//! an error naming its key before anything runs.
//!
//! They are also written back: the stress harness's `OUT/server.toml` and the `config` object
//! of `results.json`. humantime would write 110 s as `"1m 50s"`; [`text`] writes the largest
//! unit that divides the value (`"110s"`, `"10m"`, `"24h"`), which is how the shipped configs
//! spell them, so a run records its schedule as it was written and the text reads back to
//! the same value.

use std::fmt;
use std::time::Duration;

use humantime_serde::re::humantime;
use serde::{de, Deserializer, Serializer};

/// A duration's text that is not one.
#[derive(Debug, thiserror::Error)]
#[error("`{text}` is not a duration ({reason}); write e.g. 250ms, 90s, 10m or 2h")]
pub struct DurationError {
    text: String,
    reason: humantime::DurationError,
}

/// Reads `250ms`, `90s`, `10m`, `2h` (also for flags such as `stress --duration`).
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    humantime::parse_duration(text).map_err(|reason| DurationError {
        text: text.to_string(),
        reason,
    })
}

/// The duration in the largest unit that divides it: `"110s"`, `"10m"`, `"250ms"`.
pub fn text(d: Duration) -> String {
    const UNITS: [(&str, u128); 6] = [
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ];
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    UNITS
        .iter()
        .find(|(_, size)| nanos.is_multiple_of(*size))
        .map(|(unit, size)| format!("{}{unit}", nanos / size))
        .unwrap_or_else(|| format!("{nanos}ns"))
}

pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&text(*d))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_str(DurationVisitor)
}

struct DurationVisitor;

impl de::Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration such as \"250ms\", \"90s\", \"10m\" or \"2h\"")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse(v).map_err(E::custom)
    }
}

/// The same for an optional key (`every`, a chaos event's `duration`).
pub mod option {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&super::text(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        struct Text(Duration);
        impl<'de> Deserialize<'de> for Text {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                super::deserialize(d).map(Text)
            }
        }
        Ok(Option::<Text>::deserialize(d)?.map(|t| t.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_spellings_parse() {
        assert_eq!(parse("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse("24h").unwrap(), Duration::from_secs(86_400));
        let err = parse("10 parsecs").unwrap_err().to_string();
        assert!(err.contains("10 parsecs") && err.contains("90s"), "{err}");
    }

    #[test]
    fn text_keeps_the_written_unit_and_reads_back() {
        for (written, secs) in [("110s", 110.0), ("10m", 600.0), ("24h", 86_400.0)] {
            assert_eq!(text(Duration::from_secs_f64(secs)), written);
        }
        assert_eq!(text(Duration::from_millis(250)), "250ms");
        assert_eq!(text(Duration::ZERO), "0s");
        for d in [
            Duration::from_millis(1500),
            Duration::from_nanos(1_000_000_007),
            Duration::from_secs(3_600 * 36 + 60),
        ] {
            assert_eq!(parse(&text(d)).unwrap(), d, "{}", text(d));
        }
    }
}
