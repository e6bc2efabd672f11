//! cachescope's compact trace format: the same events as the readable format, varint-coded.
//!
//! ```text
//! magic        9 bytes  \xC5 "cstrace" \x01
//! header       varint length, then the readable header's `#name value` lines
//! record*      tag      u8: command code (bits 0-3), outcome code (bits 4-6), extras follow (bit 7)
//!              time     zigzag varint: microseconds since the previous record (the first: since 0)
//!              client   varint
//!              db       varint
//!              key      varint length, then the key's bytes
//!              extras   when bit 7: u8 flags (1 ttl ms follows, 2 ttl persist, 4 ttl keep, 8 size follows,
//!                       16 error kind follows), then the varints and byte they announce
//! ```
//!
//! Without extras a write removes the TTL (as SET does) and other commands keep it; the value size is 0.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use cachescope_core::{Command, Event, Outcome, TtlChange};

use crate::batch::Batch;
use crate::codes::{command_code, command_from_code, error_code, error_from_code, has_key, outcome_code};
use crate::error::{Location, TraceError};
use crate::header::TraceHeader;

pub const MAGIC: &[u8] = b"\xC5cstrace\x01";

const EXTRA_TTL_MS: u8 = 1;
const EXTRA_TTL_PERSIST: u8 = 2;
const EXTRA_TTL_KEEP: u8 = 4;
const EXTRA_SIZE: u8 = 8;
const EXTRA_ERROR: u8 = 16;
/// A header longer than this is not a header.
const MAX_HEADER: u64 = 1 << 20;
/// Keys longer than Redis allows (512 MB) mean a corrupt file, not a key.
const MAX_KEY: u64 = 512 << 20;

pub struct CompactReader<R> {
    input: R,
    path: PathBuf,
    header: TraceHeader,
    buffer: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes of the input before `buffer[0]`.
    offset: u64,
    eof: bool,
    last_time: u64,
    /// An error met while decoding a batch, returned by the next call.
    pending_error: Option<TraceError>,
    /// The records of the last batch: events without their keys, and where their keys lie in `buffer`.
    decoded: Vec<(Event<'static>, std::ops::Range<usize>)>,
}

/// Bytes decoded per batch.
const BATCH_BYTES: usize = 1 << 16;

/// Why a record could not be decoded from the bytes at hand.
enum Short {
    /// More bytes are needed: at least this many from the record's start.
    Need(usize),
    Bad(&'static str),
}

impl<R: Read> CompactReader<R> {
    pub fn new(input: R, path: &Path) -> Result<Self, TraceError> {
        let mut reader = CompactReader {
            input,
            path: path.to_path_buf(),
            header: TraceHeader::default(),
            buffer: vec![0; 1 << 16],
            start: 0,
            end: 0,
            offset: 0,
            eof: false,
            last_time: 0,
            pending_error: None,
            decoded: Vec::new(),
        };
        reader.fill(MAGIC.len() + 10)?;
        if !reader.available().starts_with(MAGIC) {
            return Err(reader.malformed("the compact trace magic bytes", 0));
        }
        reader.start += MAGIC.len();
        let (length, used) = match varint(reader.available()) {
            Ok(v) => v,
            Err(_) => return Err(reader.malformed("the header's length", 0)),
        };
        if length > MAX_HEADER {
            return Err(reader.malformed("a header shorter than 1 MiB", 0));
        }
        reader.start += used;
        reader.fill(length as usize)?;
        if reader.available().len() < length as usize {
            return Err(reader.malformed("the whole header (the file ends inside it)", 0));
        }
        let text = String::from_utf8_lossy(&reader.available()[..length as usize]).into_owned();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Err((expected, _)) = reader.header.apply_line(line) {
                return Err(reader.malformed(&expected, 0));
            }
        }
        reader.start += length as usize;
        Ok(reader)
    }

    pub fn header(&self) -> &TraceHeader {
        &self.header
    }

    fn available(&self) -> &[u8] {
        &self.buffer[self.start..self.end]
    }

    fn malformed(&self, expected: &str, at: usize) -> TraceError {
        TraceError::Malformed {
            path: self.path.clone(),
            location: Location::Offset(self.offset + (self.start + at) as u64),
            expected: expected.to_string(),
            found: "something else".to_string(),
        }
    }

    /// Makes at least `want` bytes available from `start`, unless the input ends first.
    fn fill(&mut self, want: usize) -> Result<(), TraceError> {
        if self.end - self.start >= want || self.eof {
            return Ok(());
        }
        self.buffer.copy_within(self.start..self.end, 0);
        self.offset += self.start as u64;
        self.end -= self.start;
        self.start = 0;
        if self.buffer.len() < want {
            self.buffer.resize(want.next_power_of_two(), 0);
        }
        while self.end < want {
            let read = match self.input.read(&mut self.buffer[self.end..]) {
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(TraceError::Io { path: self.path.clone(), source }),
            };
            if read == 0 {
                self.eof = true;
                break;
            }
            self.end += read;
        }
        Ok(())
    }

    /// The events of as many whole records as the buffer holds (at least one unless the trace ended), so that a
    /// consumer can look ahead. An error after some records comes with the next call.
    pub fn next_batch(&mut self) -> Result<Batch<'_>, TraceError> {
        if let Some(error) = self.pending_error.take() {
            return Err(error);
        }
        self.decoded.clear();
        let mut want = BATCH_BYTES;
        loop {
            self.fill(want)?;
            let mut at = self.start;
            let mut last_time = self.last_time;
            while at < self.end {
                match decode(&self.buffer[at..self.end], last_time) {
                    Ok((event, key, used)) => {
                        self.decoded.push((event, at + key.start..at + key.end));
                        last_time = event.time;
                        at += used;
                    }
                    Err(Short::Need(_)) if !self.eof => break,
                    Err(short) => {
                        let what = match short {
                            Short::Need(_) => "a whole record (the file ends inside one)",
                            Short::Bad(what) => what,
                        };
                        let error = self.malformed(what, at - self.start);
                        if self.decoded.is_empty() {
                            return Err(error);
                        }
                        self.pending_error = Some(error);
                        break;
                    }
                }
            }
            if !self.decoded.is_empty() || self.start == self.end {
                self.start = at;
                self.last_time = last_time;
                break;
            }
            // Not one whole record in the buffer: a key larger than it.
            want = (self.end - self.start) * 2;
        }
        Ok(Batch::new(&self.buffer, &self.decoded))
    }

    /// The next event, None at the end. A malformed record ends the trace: the format cannot resynchronise.
    pub fn next_event(&mut self) -> Result<Option<Event<'_>>, TraceError> {
        if let Some(error) = self.pending_error.take() {
            return Err(error);
        }
        let mut want = 64;
        loop {
            self.fill(want)?;
            if self.start == self.end {
                return Ok(None);
            }
            match decode(self.available(), self.last_time) {
                Ok((event, key, used)) => {
                    let key = self.start + key.start..self.start + key.end;
                    self.start += used;
                    self.last_time = event.time;
                    return Ok(Some(Event { key: &self.buffer[key], ..event }));
                }
                Err(Short::Need(bytes)) if !self.eof && bytes > self.end - self.start => want = bytes,
                Err(Short::Need(_)) => return Err(self.malformed("a whole record (the file ends inside one)", 0)),
                Err(Short::Bad(what)) => return Err(self.malformed(what, 0)),
            }
        }
    }
}

#[inline]
fn varint(bytes: &[u8]) -> Result<(u64, usize), Short> {
    // Most values (clients, databases, small deltas, key lengths) fit in one byte, most time deltas in two.
    match bytes {
        [b, ..] if *b < 0x80 => return Ok((u64::from(*b), 1)),
        [b0, b1, ..] if *b1 < 0x80 => return Ok((u64::from(b0 & 0x7f) | u64::from(*b1) << 7, 2)),
        _ => {}
    }
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if i == 9 && b > 1 {
                return Err(Short::Bad("a varint of at most 64 bits"));
            }
            return Ok((value, i + 1));
        }
    }
    if bytes.len() >= 10 { Err(Short::Bad("a varint of at most 10 bytes")) } else { Err(Short::Need(bytes.len() + 1)) }
}

/// The varint at `*at` in `bytes`, moving `at` past it; a shortage is counted from the start of `bytes`.
#[inline(always)]
fn varint_at(bytes: &[u8], at: &mut usize) -> Result<u64, Short> {
    let (value, used) = varint(&bytes[*at..]).map_err(|e| match e {
        Short::Need(n) => Short::Need(*at + n),
        bad => bad,
    })?;
    *at += used;
    Ok(value)
}

/// Decodes one record from `bytes`: the event (its key not attached yet), where its key lies, bytes used.
#[inline(always)]
fn decode(bytes: &[u8], last_time: u64) -> Result<(Event<'static>, std::ops::Range<usize>, usize), Short> {
    let mut at = 0;
    let next = |at: &mut usize| varint_at(bytes, at);
    let tag = *bytes.first().ok_or(Short::Need(1))?;
    at += 1;
    let command = command_from_code(tag & 0x0f).ok_or(Short::Bad("a record tag with a known command code"))?;
    let outcome_code = (tag >> 4) & 0x07;
    let delta = next(&mut at)?;
    // Differences wrap around like the writer's, so any sequence of u64 times comes back exactly.
    let delta = ((delta >> 1) as i64) ^ -((delta & 1) as i64);
    let time = last_time.wrapping_add(delta as u64);
    let client = u32::try_from(next(&mut at)?).map_err(|_| Short::Bad("a client id that fits in 32 bits"))?;
    let db = u32::try_from(next(&mut at)?).map_err(|_| Short::Bad("a database number that fits in 32 bits"))?;
    let key_len = next(&mut at)?;
    if key_len > MAX_KEY {
        return Err(Short::Bad("a key shorter than 512 MiB"));
    }
    let key_start = at;
    at += key_len as usize;
    if bytes.len() < at {
        return Err(Short::Need(at + 1));
    }
    let mut ttl = if matches!(command, Command::Write(_)) { TtlChange::Persist } else { TtlChange::Keep };
    let mut value_size = 0;
    let mut error_kind = None;
    if tag & 0x80 != 0 {
        let flags = *bytes.get(at).ok_or(Short::Need(at + 1))?;
        at += 1;
        if flags & EXTRA_TTL_MS != 0 {
            ttl = TtlChange::ExpireIn(next(&mut at)?);
        } else if flags & EXTRA_TTL_PERSIST != 0 {
            ttl = TtlChange::Persist;
        } else if flags & EXTRA_TTL_KEEP != 0 {
            ttl = TtlChange::Keep;
        }
        if flags & EXTRA_SIZE != 0 {
            value_size = u32::try_from(next(&mut at)?).map_err(|_| Short::Bad("a value size that fits in 32 bits"))?;
        }
        if flags & EXTRA_ERROR != 0 {
            error_kind = Some(error_from_code(*bytes.get(at).ok_or(Short::Need(at + 1))?));
            at += 1;
        }
    }
    let outcome = match outcome_code {
        0 => Outcome::Unobserved,
        1 => Outcome::Hit,
        2 => Outcome::Miss,
        3 => Outcome::Ok,
        4 => Outcome::Error(error_kind.unwrap_or(cachescope_core::ErrorKind::Other)),
        _ => return Err(Short::Bad("a record tag with a known outcome code")),
    };
    let key = if has_key(command) { key_start..key_start + key_len as usize } else { key_start..key_start };
    Ok((Event { time, client, db, node: 0, command, key: b"", outcome, ttl, value_size }, key, at))
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Writes events in the compact format.
pub struct CompactWriter<W: Write> {
    out: W,
    record: Vec<u8>,
    last_time: u64,
}

impl<W: Write> CompactWriter<W> {
    pub fn new(mut out: W, header: &TraceHeader) -> io::Result<Self> {
        out.write_all(MAGIC)?;
        let lines = header.to_lines();
        let mut length = Vec::new();
        put_varint(&mut length, lines.len() as u64);
        out.write_all(&length)?;
        out.write_all(lines.as_bytes())?;
        Ok(CompactWriter { out, record: Vec::with_capacity(128), last_time: 0 })
    }

    pub fn write(&mut self, event: &Event<'_>) -> io::Result<()> {
        let record = &mut self.record;
        record.clear();
        let default_ttl = if matches!(event.command, Command::Write(_)) { TtlChange::Persist } else { TtlChange::Keep };
        let mut flags = 0;
        match event.ttl {
            _ if event.ttl == default_ttl || !matches!(event.command, Command::Write(_) | Command::Expire) => {}
            TtlChange::ExpireIn(_) => flags |= EXTRA_TTL_MS,
            TtlChange::Persist => flags |= EXTRA_TTL_PERSIST,
            TtlChange::Keep => flags |= EXTRA_TTL_KEEP,
        }
        if event.value_size > 0 {
            flags |= EXTRA_SIZE;
        }
        if matches!(event.outcome, Outcome::Error(_)) {
            flags |= EXTRA_ERROR;
        }
        let tag = command_code(event.command) | (outcome_code(event.outcome) << 4) | if flags != 0 { 0x80 } else { 0 };
        record.push(tag);
        let delta = event.time.wrapping_sub(self.last_time) as i64;
        put_varint(record, ((delta << 1) ^ (delta >> 63)) as u64);
        self.last_time = event.time;
        put_varint(record, u64::from(event.client));
        put_varint(record, u64::from(event.db));
        let key = if has_key(event.command) { event.key } else { b"" };
        put_varint(record, key.len() as u64);
        record.extend_from_slice(key);
        if flags != 0 {
            record.push(flags);
            if let TtlChange::ExpireIn(ms) = event.ttl
                && flags & EXTRA_TTL_MS != 0
            {
                put_varint(record, ms);
            }
            if flags & EXTRA_SIZE != 0 {
                put_varint(record, u64::from(event.value_size));
            }
            if let Outcome::Error(kind) = event.outcome {
                record.push(error_code(kind));
            }
        }
        self.out.write_all(record)
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}
