//! One module per subcommand: each wires a source to the engine and the engine's report to a sink.

pub mod analyze;
pub mod capture;
pub mod convert;
pub mod demo;
pub mod doctor;
mod live_session;
pub mod mark;
pub mod merge;
pub mod mrc;
pub mod proxy;
pub mod top;
pub mod watch;
pub mod whatif;

use std::io::Write;

use anyhow::Result;
use cachescope_core::Report;

use crate::cli::{OutputArgs, OutputFormat};
use crate::exit::Exit;
use crate::sinks::{json, text};
use crate::terminal;

/// Writes the report to stdout in the format asked for.
/// The exit code a report deserves with `--fail-on`: 1 or 2 when a finding is at least that severe.
pub fn exit_for(report: &Report, fail_on: Option<crate::cli::FailOn>) -> Exit {
    let Some(level) = fail_on else { return Exit::Success };
    let threshold = match level {
        crate::cli::FailOn::Warning => cachescope_core::Severity::Warning,
        crate::cli::FailOn::Critical => cachescope_core::Severity::Critical,
    };
    let worst = report.findings.iter().map(|f| f.severity).max();
    Exit::for_severity(worst.filter(|&w| w >= threshold))
}

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
