//! Text traces read a line at a time, with the line's number for errors: what every line-based reader shares.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::error::{Location, TraceError, shown};

pub(crate) struct Lines<R> {
    input: R,
    path: PathBuf,
    /// The current line, without its end (`\n` or `\r\n`).
    line: Vec<u8>,
    /// 1-based number of the current line, for errors.
    number: u64,
}

impl<R: BufRead> Lines<R> {
    pub(crate) fn new(input: R, path: &Path) -> Self {
        Lines { input, path: path.to_path_buf(), line: Vec::new(), number: 0 }
    }

    /// Reads the next line; false at the end of the input.
    pub(crate) fn advance(&mut self) -> Result<bool, TraceError> {
        self.line.clear();
        let read = self
            .input
            .read_until(b'\n', &mut self.line)
            .map_err(|source| TraceError::Io { path: self.path.clone(), source })?;
        if read == 0 {
            return Ok(false);
        }
        self.number += 1;
        if self.line.last() == Some(&b'\n') {
            self.line.pop();
        }
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        Ok(true)
    }

    pub(crate) fn line(&self) -> &[u8] {
        &self.line
    }

    pub(crate) fn number(&self) -> u64 {
        self.number
    }

    /// The error for the current line: what was `expected`, and the piece `found` instead.
    pub(crate) fn malformed(&self, expected: impl Into<String>, found: &[u8]) -> TraceError {
        TraceError::Malformed {
            path: self.path.clone(),
            location: Location::Line(self.number),
            expected: expected.into(),
            found: shown(found),
        }
    }
}
