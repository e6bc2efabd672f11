//! The report as JSON: the contract documented in docs/report-schema.md.

use std::io::Write;

use anyhow::Result;
use cachescope_core::Report;

pub fn write(report: &Report, out: &mut impl Write) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}
