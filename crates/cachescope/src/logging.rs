//! Logs and status lines on stderr: text for people (the default), or one JSON object a line for log collectors
//! (`--log-format json`), in which case the status lines a command prints (listening on, serving on, warnings
//! at the end) become log records too, so that nothing on stderr is left unparsed.

use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Installs the logger: `-v` for details, `-vv` for debugging, RUST_LOG overrides.
pub fn init(verbose: u8, format: LogFormat) {
    let _ = FORMAT.set(format);
    let default = match (verbose, format) {
        (0, LogFormat::Text) => "warn",
        (0, LogFormat::Json) | (1, _) => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

fn json() -> bool {
    FORMAT.get() == Some(&LogFormat::Json)
}

/// A status line for the person who started the command (`listening on ...`).
pub fn status(message: &str) {
    if json() {
        tracing::info!("{message}");
    } else {
        eprintln!("{message}");
    }
}

/// A warning about the run (`12 events were dropped ...`).
pub fn warning(message: &str) {
    if json() {
        tracing::warn!("{message}");
    } else {
        eprintln!("warning: {message}");
    }
}

/// The error that stopped the command.
pub fn error(message: &str) {
    if json() {
        tracing::error!("{message}");
    } else {
        eprintln!("error: {message}");
    }
}
