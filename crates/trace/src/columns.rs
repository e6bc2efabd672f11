//! Plain CSV with chosen columns: any trace of requests, one per line, whose columns are named on the command
//! line (`--csv-columns key=5,time=2,size=4`, 1-based). The key is required; time (in `--csv-time-unit`) and
//! size are optional. A first line whose key column is not a key (a header) is skipped. No outcomes: every line is
//! a read that caches its object on a miss (read-through).

use std::io::BufRead;
use std::path::Path;
use std::str::FromStr;

use cachescope_core::{Command, Event, Outcome, TtlChange};

use crate::error::TraceError;
use crate::header::TraceHeader;
use crate::lines::Lines;
use crate::text::parse_u64;

/// Which columns hold what, 0-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Columns {
    pub key: usize,
    pub time: Option<usize>,
    pub size: Option<usize>,
    pub delimiter: u8,
    /// Microseconds per unit of the time column.
    pub time_unit: u64,
}

impl Default for Columns {
    fn default() -> Self {
        Columns { key: 0, time: None, size: None, delimiter: b',', time_unit: 1_000_000 }
    }
}

impl FromStr for Columns {
    type Err = String;

    /// `key=5,time=2,size=4` (1-based).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut columns = Columns::default();
        let mut key = None;
        for part in text.split(',') {
            let (name, number) = part.split_once('=').ok_or_else(|| format!("`{part}` is not NAME=COLUMN"))?;
            let number: usize = number
                .trim()
                .parse()
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| format!("column `{number}` is not a number from 1"))?;
            match name.trim() {
                "key" => key = Some(number - 1),
                "time" => columns.time = Some(number - 1),
                "size" => columns.size = Some(number - 1),
                other => return Err(format!("unknown column name `{other}` (key, time, size)")),
            }
        }
        columns.key = key.ok_or("the key column is required: key=N")?;
        Ok(columns)
    }
}

pub struct ColumnsReader<R> {
    lines: Lines<R>,
    columns: Columns,
    header: TraceHeader,
    key_range: std::ops::Range<usize>,
}

impl<R: BufRead> ColumnsReader<R> {
    pub fn new(input: R, path: &Path, columns: Columns) -> Self {
        ColumnsReader {
            lines: Lines::new(input, path),
            columns,
            header: TraceHeader { read_through: true, ..TraceHeader::default() },
            key_range: 0..0,
        }
    }

    pub fn header(&self) -> &TraceHeader {
        &self.header
    }

    pub fn next_event(&mut self) -> Result<Option<Event<'_>>, TraceError> {
        loop {
            if !self.lines.advance()? {
                return Ok(None);
            }
            let line = self.lines.line();
            if line.is_empty() {
                continue;
            }
            let columns = self.columns;
            let mut fields: Vec<(usize, usize)> = Vec::with_capacity(8);
            let mut start = 0;
            for (at, &b) in line.iter().enumerate() {
                if b == columns.delimiter {
                    fields.push((start, at));
                    start = at + 1;
                }
            }
            fields.push((start, line.len()));
            let field = |index: usize| fields.get(index).map(|&(a, b)| &line[a..b]);
            let malformed = |expected: String, found: &[u8]| self.lines.malformed(expected, found);
            let wanted = [Some(columns.key), columns.time, columns.size].into_iter().flatten().max().unwrap_or(0) + 1;
            if fields.len() < wanted {
                return Err(malformed(format!("at least {wanted} columns"), line));
            }
            let number = |index: Option<usize>, what: &str| -> Result<Option<u64>, TraceError> {
                match index.and_then(field) {
                    None => Ok(None),
                    Some(text) => parse_u64(text)
                        .map(Some)
                        .ok_or_else(|| malformed(format!("{what} in column {}", index.unwrap() + 1), text)),
                }
            };
            let (time, size) = match (number(columns.time, "a time"), number(columns.size, "a size")) {
                (Ok(time), Ok(size)) => (time, size),
                // A header line: the first line, with words where numbers go.
                (Err(_), _) | (_, Err(_)) if self.lines.number() == 1 => continue,
                (Err(error), _) | (_, Err(error)) => return Err(error),
            };
            let (a, b) = fields[columns.key];
            self.key_range = a..b;
            let time = time.map_or(self.lines.number(), |t| t.saturating_mul(columns.time_unit));
            let key_len = (b - a) as u64;
            let value_size = size.map_or(0, |s| s.saturating_sub(key_len).min(u64::from(u32::MAX)) as u32);
            return Ok(Some(Event {
                time,
                client: 0,
                db: 0,
                node: 0,
                command: Command::Read,
                key: &self.lines.line()[self.key_range.clone()],
                outcome: Outcome::Unobserved,
                ttl: TtlChange::Keep,
                value_size,
            }));
        }
    }
}
