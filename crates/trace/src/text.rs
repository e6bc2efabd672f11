//! cachescope's readable trace format: a header, then one event per line.
//!
//! ```text
//! #cachescope-trace 1
//! #initial-state unknown
//! 1700000000000000 3 0 read user:42 miss
//! 1700000000004100 3 0 write user:42 ok ttl=60000 size=512
//! ```
//!
//! Fields: time in microseconds, client id, database, command, key (bytes outside `!`..`~` and `%` written as
//! `%XX`; `-` for none), outcome (`hit`, `miss`, `ok`, `err:KIND`, `-` when not observed), then optional
//! `ttl=MILLISECONDS`, `ttl=persist`, `ttl=keep` and `size=BYTES`. Lines starting with `#` are the header before
//! the first event and comments after it. The full description is in `docs/trace-format.md`.

use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use cachescope_core::{Command, ErrorKind, Event, Outcome, TtlChange};

use crate::codes::{command_from_name, command_name, has_key};
use crate::error::{Location, TraceError, shown};
use crate::header::TraceHeader;

/// The first line of every readable trace.
pub const HEADER_LINE: &str = "#cachescope-trace 1";

pub struct TextReader<R> {
    input: R,
    path: PathBuf,
    header: TraceHeader,
    line: Vec<u8>,
    /// The line in `line` was read ahead while reading the header and is not parsed yet.
    pending: bool,
    line_number: u64,
    key: Vec<u8>,
}

impl<R: BufRead> TextReader<R> {
    /// Reads the header; the first event is read by [`TextReader::next_event`].
    pub fn new(input: R, path: &Path) -> Result<Self, TraceError> {
        let mut reader = TextReader {
            input,
            path: path.to_path_buf(),
            header: TraceHeader::default(),
            line: Vec::new(),
            pending: false,
            line_number: 0,
            key: Vec::new(),
        };
        if !reader.read_line()? || trim_end(&reader.line) != HEADER_LINE.as_bytes() {
            return Err(reader.malformed(format!("the first line `{HEADER_LINE}`"), &reader.line.clone()));
        }
        while reader.read_line()? {
            let line = trim_end(&reader.line);
            if !line.starts_with(b"#") {
                reader.pending = true;
                break;
            }
            let text = String::from_utf8_lossy(line).into_owned();
            if let Err((expected, found)) = reader.header.apply_line(&text) {
                return Err(reader.malformed(expected, found.as_bytes()));
            }
        }
        Ok(reader)
    }

    pub fn header(&self) -> &TraceHeader {
        &self.header
    }

    fn read_line(&mut self) -> Result<bool, TraceError> {
        self.line.clear();
        let read = self
            .input
            .read_until(b'\n', &mut self.line)
            .map_err(|source| TraceError::Io { path: self.path.clone(), source })?;
        if read > 0 {
            self.line_number += 1;
        }
        Ok(read > 0)
    }

    fn malformed(&self, expected: impl Into<String>, found: &[u8]) -> TraceError {
        TraceError::Malformed {
            path: self.path.clone(),
            location: Location::Line(self.line_number),
            expected: expected.into(),
            found: shown(found),
            cut_short: false,
        }
    }

    /// The next event, None at the end. After a malformed line the next call reads the line after it.
    pub fn next_event(&mut self) -> Result<Option<Event<'_>>, TraceError> {
        loop {
            if !std::mem::take(&mut self.pending) && !self.read_line()? {
                return Ok(None);
            }
            let line = trim_end(&self.line);
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            break;
        }
        let (event, key_range) = self.parse_line()?;
        Ok(Some(Event { key: &self.key[key_range], ..event }))
    }

    fn parse_line(&mut self) -> Result<(Event<'static>, std::ops::Range<usize>), TraceError> {
        let line = trim_end(&self.line);
        let (event, key_field) = match parse_fields(line) {
            Ok(parsed) => parsed,
            Err((expected, found)) => return Err(self.malformed(expected, found)),
        };
        self.key.clear();
        if has_key(event.command) && key_field != b"-" && !decode_key(key_field, &mut self.key) {
            self.key.clear();
            return Err(self.malformed("a key with %XX escapes", key_field));
        }
        Ok((event, 0..self.key.len()))
    }
}

/// An error while parsing a line: what was expected, and the part of the line found instead.
type FieldError<'a> = (String, &'a [u8]);

/// Parses an event line into the event (key not attached) and its key field.
fn parse_fields(line: &[u8]) -> Result<(Event<'static>, &[u8]), FieldError<'_>> {
    let mut fields = line.split(|b| *b == b' ' || *b == b'\t').filter(|f| !f.is_empty());
    let mut next = |what: &str| fields.next().ok_or_else(|| (format!("{what} (6 fields or more)"), line));
    let time_field = next("a time in microseconds")?;
    let client_field = next("a client id")?;
    let db_field = next("a database number")?;
    let command_field = next("a command")?;
    let key_field = next("a key (or - for none)")?;
    let outcome_field = next("an outcome")?;
    let time = parse_u64(time_field).ok_or(("a time in microseconds".to_string(), time_field))?;
    let client = parse_u32(client_field).ok_or(("a client id".to_string(), client_field))?;
    let db = parse_u32(db_field).ok_or(("a database number".to_string(), db_field))?;
    let command = command_from_name(command_field).ok_or((
        "a command (read, write, write_nx, write_xx, delete, expire, flushdb, flushall, restart, marker)".to_string(),
        command_field,
    ))?;
    let outcome =
        parse_outcome(outcome_field).ok_or(("an outcome (hit, miss, ok, err:KIND or -)".to_string(), outcome_field))?;
    let mut ttl = if matches!(command, Command::Write(_)) { TtlChange::Persist } else { TtlChange::Keep };
    let mut value_size = 0;
    for attribute in fields {
        if let Some(value) = attribute.strip_prefix(b"ttl=") {
            ttl = match value {
                b"persist" => TtlChange::Persist,
                b"keep" => TtlChange::Keep,
                ms => TtlChange::ExpireIn(
                    parse_u64(ms).ok_or(("ttl=MILLISECONDS, ttl=persist or ttl=keep".to_string(), attribute))?,
                ),
            };
        } else if let Some(value) = attribute.strip_prefix(b"size=") {
            value_size = parse_u32(value).ok_or(("size=BYTES".to_string(), attribute))?;
        } else {
            return Err(("ttl=... or size=... after the outcome".to_string(), attribute));
        }
    }
    Ok((Event { time, client, db, node: 0, command, key: b"", outcome, ttl, value_size }, key_field))
}

fn parse_u32(digits: &[u8]) -> Option<u32> {
    parse_u64(digits).and_then(|v| u32::try_from(v).ok())
}

fn trim_end(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    &line[..end]
}

/// Parses a decimal u64 without going through `str`.
pub(crate) fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    let mut value: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(value)
}

fn parse_outcome(field: &[u8]) -> Option<Outcome> {
    Some(match field {
        b"hit" => Outcome::Hit,
        b"miss" => Outcome::Miss,
        b"ok" => Outcome::Ok,
        b"-" => Outcome::Unobserved,
        other => Outcome::Error(ErrorKind::from_reply(other.strip_prefix(b"err:")?)),
    })
}

fn decode_key(field: &[u8], out: &mut Vec<u8>) -> bool {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'%' {
            match (field.get(i + 1).copied().and_then(hex), field.get(i + 2).copied().and_then(hex)) {
                (Some(high), Some(low)) => out.push(high << 4 | low),
                _ => return false,
            }
            i += 3;
        } else {
            out.push(field[i]);
            i += 1;
        }
    }
    true
}

fn encode_key(key: &[u8], out: &mut Vec<u8>) {
    if key.is_empty() {
        out.push(b'-');
        return;
    }
    if key == b"-" {
        out.extend_from_slice(b"%2D");
        return;
    }
    for &b in key {
        if (0x21..=0x7e).contains(&b) && b != b'%' {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
}

/// Writes events in the readable format.
pub struct TextWriter<W: Write> {
    out: W,
    line: Vec<u8>,
}

impl<W: Write> TextWriter<W> {
    pub fn new(mut out: W, header: &TraceHeader) -> io::Result<Self> {
        writeln!(out, "{HEADER_LINE}")?;
        out.write_all(header.to_lines().as_bytes())?;
        Ok(TextWriter { out, line: Vec::with_capacity(128) })
    }

    pub fn write(&mut self, event: &Event<'_>) -> io::Result<()> {
        let line = &mut self.line;
        line.clear();
        line.extend_from_slice(
            format!("{} {} {} {} ", event.time, event.client, event.db, command_name(event.command)).as_bytes(),
        );
        encode_key(if has_key(event.command) { event.key } else { b"" }, line);
        line.push(b' ');
        match event.outcome {
            Outcome::Hit => line.extend_from_slice(b"hit"),
            Outcome::Miss => line.extend_from_slice(b"miss"),
            Outcome::Ok => line.extend_from_slice(b"ok"),
            Outcome::Unobserved => line.push(b'-'),
            Outcome::Error(kind) => line.extend_from_slice(format!("err:{kind}").as_bytes()),
        }
        let default_ttl = if matches!(event.command, Command::Write(_)) { TtlChange::Persist } else { TtlChange::Keep };
        if matches!(event.command, Command::Write(_) | Command::Expire) && event.ttl != default_ttl {
            match event.ttl {
                TtlChange::ExpireIn(ms) => line.extend_from_slice(format!(" ttl={ms}").as_bytes()),
                TtlChange::Persist => line.extend_from_slice(b" ttl=persist"),
                TtlChange::Keep => line.extend_from_slice(b" ttl=keep"),
            }
        }
        if event.value_size > 0 {
            line.extend_from_slice(format!(" size={}", event.value_size).as_bytes());
        }
        line.push(b'\n');
        self.out.write_all(line)
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}
