//! Twitter's cache-trace CSV (github.com/twitter/cache-trace):
//! `timestamp,anonymized key,key size,value size,client id,operation,TTL`, one request per line, timestamps in
//! seconds, TTL in seconds (0: none). It records requests, not replies: every event comes out `Unobserved` and
//! a cache model gives it its outcome.
//!
//! The key is taken as everything between the first comma and the fifth comma from the end, so a key with
//! commas in it still reads right. Keys are anonymised, so their length is not the original's: the value size
//! given to the engine is adjusted so that key and value together take the trace's key size plus value size,
//! which is what a cache model charges.

use std::io::BufRead;
use std::ops::Range;
use std::path::Path;

use cachescope_core::{Command, Event, Outcome, TtlChange, WriteCondition};

use crate::batch::Batch;
use crate::error::TraceError;
use crate::header::TraceHeader;
use crate::lines::Lines;
use crate::text::parse_u64;

const FIELDS: &str = "7 comma-separated fields (timestamp,key,key size,value size,client id,operation,TTL)";
const OPERATIONS: &str = "an operation (get, gets, set, add, replace, cas, append, prepend, delete, incr, decr)";

pub fn operation(name: &[u8]) -> Option<Command> {
    Some(match name {
        b"get" | b"gets" => Command::Read,
        b"set" => Command::Write(WriteCondition::Always),
        b"add" => Command::Write(WriteCondition::IfAbsent),
        b"replace" | b"cas" | b"append" | b"prepend" | b"incr" | b"decr" => Command::Write(WriteCondition::IfPresent),
        b"delete" => Command::Delete,
        _ => return None,
    })
}

/// The fields of a line: timestamp, key, key size, value size, client, operation, TTL. The key may hold commas;
/// the other fields cannot. They are a few bytes each, so their commas are looked for byte by byte: a vectorised
/// search, set up again for each field, cost more than it saved on so few bytes (370 instructions a line against
/// 265, counted with callgrind).
fn split(line: &[u8]) -> Option<[&[u8]; 7]> {
    let first = line.iter().position(|&b| b == b',')?;
    // The last five commas, from the end of the line back, each after the first.
    let mut commas = [0usize; 5];
    let mut found = 5;
    let mut at = line.len();
    while found > 0 {
        at -= 1;
        if at <= first {
            return None;
        }
        if line[at] == b',' {
            found -= 1;
            commas[found] = at;
        }
    }
    let field = |i: usize| &line[commas[i] + 1..commas.get(i + 1).copied().unwrap_or(line.len())];
    Some([&line[..first], &line[first + 1..commas[0]], field(0), field(1), field(2), field(3), field(4)])
}

/// Whether a line looks like one of this format (used to recognise a file).
pub fn looks_like_line(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    split(line).is_some_and(|f| parse_u64(f[0]).is_some() && operation(f[5]).is_some())
}

/// Lines parsed at once by [`TwitterReader::next_batch`]: enough for a consumer to look ahead.
const BATCH_LINES: usize = 256;

pub struct TwitterReader<R> {
    lines: Lines<R>,
    header: TraceHeader,
    /// The keys of a batch, one after the other.
    keys: Vec<u8>,
    decoded: Vec<(Event<'static>, Range<usize>)>,
    /// A malformed line met after some of a batch's: the next call's error.
    pending_error: Option<TraceError>,
}

impl<R: BufRead> TwitterReader<R> {
    pub fn new(input: R, path: &Path) -> Self {
        TwitterReader {
            lines: Lines::new(input, path),
            header: TraceHeader::default(),
            keys: Vec::new(),
            decoded: Vec::with_capacity(BATCH_LINES),
            pending_error: None,
        }
    }

    /// The cache starts empty: the model replaying the trace does.
    pub fn header(&self) -> &TraceHeader {
        &self.header
    }

    /// The events of the next lines, up to [`BATCH_LINES`]; an empty batch at the end. A malformed line after
    /// some events comes as the next call's error, and the call after it goes on with the line after it.
    pub fn next_batch(&mut self) -> Result<Batch<'_>, TraceError> {
        if let Some(error) = self.pending_error.take() {
            return Err(error);
        }
        self.keys.clear();
        self.decoded.clear();
        while self.decoded.len() < BATCH_LINES {
            let parsed = match next_line(&mut self.lines) {
                Ok(true) => parse_line(&self.lines),
                Ok(false) => Ok(None),
                Err(error) => Err(error),
            };
            match parsed {
                Ok(Some(event)) => {
                    let at = self.keys.len();
                    self.keys.extend_from_slice(event.key);
                    let key = at..self.keys.len();
                    self.decoded.push((Event { key: b"", ..event }, key));
                }
                Ok(None) => break,
                Err(error) if self.decoded.is_empty() => return Err(error),
                Err(error) => {
                    self.pending_error = Some(error);
                    break;
                }
            }
        }
        Ok(Batch::new(&self.keys, &self.decoded))
    }

    pub fn next_event(&mut self) -> Result<Option<Event<'_>>, TraceError> {
        if let Some(error) = self.pending_error.take() {
            return Err(error);
        }
        if !next_line(&mut self.lines)? {
            return Ok(None);
        }
        parse_line(&self.lines)
    }
}

/// Moves to the next line that holds a request (past empty lines and a header); false at the end.
fn next_line<R: BufRead>(lines: &mut Lines<R>) -> Result<bool, TraceError> {
    loop {
        if !lines.advance()? {
            return Ok(false);
        }
        let line = lines.line();
        let is_header = lines.number() == 1 && line.starts_with(b"timestamp");
        if !line.is_empty() && !is_header {
            return Ok(true);
        }
    }
}

/// The request on the current line.
fn parse_line<R: BufRead>(lines: &Lines<R>) -> Result<Option<Event<'_>>, TraceError> {
    let malformed = |expected: &str, found: &[u8]| lines.malformed(expected, found);
    let line = lines.line();
    let [time, key, key_size, value_size, client, op, ttl] = split(line).ok_or_else(|| malformed(FIELDS, line))?;
    let seconds = parse_u64(time).ok_or_else(|| malformed("a timestamp in seconds", time))?;
    let value_size = parse_u64(value_size)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| malformed("a value size", value_size))?;
    let key_size = parse_u64(key_size).ok_or_else(|| malformed("a key size", key_size))?;
    let value_size =
        (u64::from(value_size) + key_size).saturating_sub(key.len() as u64).min(u64::from(u32::MAX)) as u32;
    let client = parse_u64(client).ok_or_else(|| malformed("a client id", client))?;
    let command = operation(op).ok_or_else(|| malformed(OPERATIONS, op))?;
    let ttl_seconds = parse_u64(ttl).ok_or_else(|| malformed("a TTL in seconds", ttl))?;
    let ttl = match (command, ttl_seconds) {
        (Command::Write(_), 0) => TtlChange::Persist,
        (Command::Write(_), seconds) => TtlChange::ExpireIn(seconds.saturating_mul(1_000)),
        _ => TtlChange::Keep,
    };
    Ok(Some(Event {
        time: seconds.saturating_mul(1_000_000),
        client: client as u32,
        db: 0,
        node: 0,
        command,
        key,
        outcome: Outcome::Unobserved,
        ttl,
        value_size,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The fields as the first comma and the last five cut them, found by plain searches.
    fn fields_by_search(line: &[u8]) -> Option<Vec<&[u8]>> {
        let first = memchr::memchr(b',', line)?;
        let mut tail = Vec::new();
        let mut end = line.len();
        for _ in 0..5 {
            let comma = memchr::memrchr(b',', &line[..end]).filter(|&comma| comma > first)?;
            tail.insert(0, &line[comma + 1..end]);
            end = comma;
        }
        Some([vec![&line[..first], &line[first + 1..end]], tail].concat())
    }

    #[test]
    fn a_key_may_hold_commas() {
        let fields = split(b"5,a,b,c,3,10,7,get,0").unwrap();
        assert_eq!(fields, [&b"5"[..], b"a,b,c", b"3", b"10", b"7", b"get", b"0"]);
        assert_eq!(split(b"5,k,3,10,7,get"), None, "one field short");
    }

    proptest! {
        #[test]
        fn fields_are_those_the_first_and_last_five_commas_cut(
            line in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b','), Just(b'1')], 0..40),
        ) {
            prop_assert_eq!(split(&line).map(|fields| fields.to_vec()), fields_by_search(&line));
        }
    }
}
