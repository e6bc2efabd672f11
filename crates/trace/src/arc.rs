//! The ARC traces' format (Megiddo and Modha, FAST 2003; the OLTP trace): `start_block n_blocks ignore
//! request_no` per line, separated by spaces. A line stands for `n_blocks` page requests, `start_block` to
//! `start_block + n_blocks - 1`. There are no outcomes and no times: every request is a read that caches its page
//! on a miss (read-through), and request i happens at i microseconds.

use std::io::BufRead;
use std::path::Path;

use cachescope_core::{Command, Event, Outcome, TtlChange};

use crate::error::TraceError;
use crate::header::TraceHeader;
use crate::lines::Lines;
use crate::text::parse_u64;

pub struct ArcReader<R> {
    lines: Lines<R>,
    header: TraceHeader,
    /// Pages of the current line still to hand out.
    next_block: u64,
    end_block: u64,
    requests: u64,
    key: Vec<u8>,
}

/// Whether a line looks like one of this format.
pub fn looks_like_line(line: &[u8]) -> bool {
    let fields: Vec<&[u8]> = line.split(|b| *b == b' ').filter(|f| !f.is_empty()).collect();
    fields.len() == 4 && fields.iter().all(|f| parse_u64(f.strip_suffix(b"\r").unwrap_or(f)).is_some())
}

impl<R: BufRead> ArcReader<R> {
    pub fn new(input: R, path: &Path) -> Self {
        ArcReader {
            lines: Lines::new(input, path),
            header: TraceHeader { read_through: true, ..TraceHeader::default() },
            next_block: 0,
            end_block: 0,
            requests: 0,
            key: Vec::new(),
        }
    }

    pub fn header(&self) -> &TraceHeader {
        &self.header
    }

    pub fn next_event(&mut self) -> Result<Option<Event<'_>>, TraceError> {
        while self.next_block == self.end_block {
            if !self.lines.advance()? {
                return Ok(None);
            }
            let line = self.lines.line();
            if line.is_empty() {
                continue;
            }
            let mut fields = line.split(|b| *b == b' ').filter(|f| !f.is_empty());
            let (start, count) = match (fields.next().and_then(parse_u64), fields.next().and_then(parse_u64)) {
                (Some(start), Some(count)) => (start, count),
                _ => {
                    return Err(self
                        .lines
                        .malformed("`start_block n_blocks ignore request_no` (numbers separated by spaces)", line));
                }
            };
            self.next_block = start;
            self.end_block = start.saturating_add(count);
        }
        let block = self.next_block;
        self.next_block += 1;
        self.requests += 1;
        self.key.clear();
        self.key.extend_from_slice(itoa::Buffer::new().format(block).as_bytes());
        Ok(Some(Event {
            time: self.requests,
            client: 0,
            db: 0,
            node: 0,
            command: Command::Read,
            key: &self.key,
            outcome: Outcome::Unobserved,
            ttl: TtlChange::Keep,
            value_size: 0,
        }))
    }
}
