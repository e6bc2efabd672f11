//! Reports as JSON: the contracts documented in docs/report-schema.md.

use std::io::Write;

use anyhow::Result;

pub fn write(report: &impl serde::Serialize, out: &mut impl Write) -> Result<()> {
    // Serialised first, written after: an I/O error (a closed pipe) then stays an I/O error.
    let mut text = serde_json::to_vec_pretty(report)?;
    text.push(b'\n');
    out.write_all(&text)?;
    out.flush()?;
    Ok(())
}
