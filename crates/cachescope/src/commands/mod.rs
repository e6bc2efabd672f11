//! One module per subcommand: each wires a source to the engine and the engine's report to a sink.

pub mod analyze;
pub mod capture;
pub mod demo;
pub mod doctor;
mod live_session;
pub mod mark;
pub mod mrc;
pub mod proxy;
pub mod top;
pub mod watch;
pub mod whatif;

use std::io::Write;

use anyhow::Result;
use cachescope_core::Report;

use crate::cli::{OutputArgs, OutputFormat};
use crate::sinks::{json, text};
use crate::terminal;

/// Writes the report to stdout in the format asked for.
pub fn emit(report: &Report, output: &OutputArgs, color: bool, extra_text: Option<String>) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match output.output {
        OutputFormat::Json => json::write(report, &mut out),
        OutputFormat::Text => {
            let options = text::TextOptions { color, width: terminal::width(), top: output.top };
            out.write_all(text::render(report, &options).as_bytes())?;
            if let Some(extra) = extra_text {
                out.write_all(extra.as_bytes())?;
            }
            out.flush()?;
            Ok(())
        }
    }
}
