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

    /// Reads the next line; false at the end of the input. The end of the line is looked for in the input's
    /// buffer with `memchr`, which is quicker on lines of tens of bytes than `BufRead::read_until`'s search.
    pub(crate) fn advance(&mut self) -> Result<bool, TraceError> {
        self.line.clear();
        let mut read_any = false;
        loop {
            let available = match self.input.fill_buf() {
                Ok(available) => available,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(TraceError::Io { path: self.path.clone(), source }),
            };
            if available.is_empty() {
                break;
            }
            read_any = true;
            match memchr::memchr(b'\n', available) {
                Some(at) => {
                    self.line.extend_from_slice(&available[..at]);
                    self.input.consume(at + 1);
                    break;
                }
                None => {
                    let all = available.len();
                    self.line.extend_from_slice(available);
                    self.input.consume(all);
                }
            }
        }
        if !read_any {
            return Ok(false);
        }
        self.number += 1;
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
            cut_short: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the input and however small the buffer it is read through, the lines are those that
        /// `read_until` cuts, without their ends, numbered from 1.
        #[test]
        fn lines_are_read_until_cut_them(
            bytes in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b','), Just(b'\r'), Just(b'\n')], 0..200),
            capacity in 1usize..16,
        ) {
            let mut expected = Vec::new();
            let mut input = &bytes[..];
            loop {
                let mut line = Vec::new();
                if input.read_until(b'\n', &mut line).unwrap() == 0 {
                    break;
                }
                if line.last() == Some(&b'\n') {
                    line.pop();
                }
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                expected.push(line);
            }
            let mut lines = Lines::new(std::io::BufReader::with_capacity(capacity, &bytes[..]), Path::new("t"));
            let mut got = Vec::new();
            while lines.advance().unwrap() {
                prop_assert_eq!(lines.number(), got.len() as u64 + 1);
                got.push(lines.line().to_vec());
            }
            prop_assert_eq!(got, expected);
        }
    }
}
