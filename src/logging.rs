//! Logging on standard error, and client text made safe to log. A leaf: every job uses it.

/// Client-supplied text made safe for a log line (see [`crate::error::printable`]).
pub fn log_safe(text: &str) -> String {
    crate::error::printable(text, 200)
}

/// Sets up logging on standard error, pretty or JSON. `RUST_LOG` overrides the level.
pub fn init(format: &str) {
    init_with(format, "info,rmcp=warn");
}

/// Like [`init`] with another default filter (`RUST_LOG` still wins).
pub fn init_with(format: &str, default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.with_ansi(false).try_init()
    };
}
