//! The dashboard's number and time formats (`42s`, `14.2M`, `12:03:04`), shared by the
//! screens and the `--once` summary.

/// `42s`, `5m03s`, `1h02m`, `3d04h`.
pub fn duration_text(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// `512B`, `14.2M`, `1.94G`.
pub fn bytes_text(b: f64) -> String {
    let b = b.max(0.0);
    const K: f64 = 1024.0;
    if b < K {
        format!("{b:.0}B")
    } else if b < K * K {
        format!("{:.0}K", b / K)
    } else if b < K * K * K {
        format!("{:.1}M", b / K / K)
    } else {
        format!("{:.2}G", b / K / K / K)
    }
}

/// Calls a second: `3.5`, `420`, `12k`.
pub fn rate_text(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Milliseconds: `-` when unknown, `12.5`, `340`, `12s`.
pub fn ms_text(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v >= 10_000.0 => format!("{:.0}s", v / 1000.0),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
    }
}

/// `HH:MM:SS` (UTC) of a Unix time in milliseconds.
pub fn clock(unix_ms: u64) -> String {
    let s = (unix_ms / 1000) % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
}

/// A count: `999`, `12.3k`, `1.2M`.
pub fn count(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// A process id, `-` when there is none (a dead slot, a server between restarts).
pub fn pid_text(pid: Option<u64>) -> String {
    pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(duration_text(42.0), "42s");
        assert_eq!(duration_text(303.0), "5m03s");
        assert_eq!(duration_text(3720.0), "1h02m");
        assert_eq!(duration_text(3.5 * 86_400.0), "3d12h");
        assert_eq!(bytes_text(512.0), "512B");
        assert_eq!(bytes_text(14.2 * 1024.0 * 1024.0), "14.2M");
        assert_eq!(bytes_text(1.94 * 1024.0 * 1024.0 * 1024.0), "1.94G");
        assert_eq!(rate_text(3.54), "3.5");
        assert_eq!(rate_text(420.4), "420");
        assert_eq!(rate_text(12_345.0), "12k");
        assert_eq!(ms_text(None), "-");
        assert_eq!(ms_text(Some(12.54)), "12.5");
        assert_eq!(ms_text(Some(12_000.0)), "12s");
        assert_eq!(clock(3_723_000), "01:02:03");
        assert_eq!(count(999.0), "999");
        assert_eq!(count(12_345.0), "12.3k");
        assert_eq!(pid_text(Some(4100)), "4100");
        assert_eq!(pid_text(None), "-");
    }
}
