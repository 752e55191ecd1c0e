//! Logging setup. Logs go to stderr so that stdout stays free for the MCP
//! stdio transport.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber; `RUST_LOG` overrides the configured level.
pub fn init(log: &LogConfig) {
    // rmcp logs every stateless request at INFO; keep that out unless asked for.
    let level = if log.level.contains("rmcp") {
        log.level.clone()
    } else {
        format!("{},rmcp=warn", log.level)
    };
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal());
    let result = match log.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Human => builder.compact().try_init(),
    };
    // Already installed (tests, or a second call): keep the first one.
    let _ = result;
}
