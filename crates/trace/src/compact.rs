//! cachescope's compact trace format: the same events as the readable format, varint-coded.
//!
//! ```text
//! magic        9 bytes  \xC5 "cstrace" \x02 (version 1: \x01, no blocks)
//! header       varint length, then the readable header's `#name value` lines
//! block*       length   u32, little-endian: the bytes of the block's records (version 2 only)
//!              record*  tag      u8: command code (bits 0-3), outcome code (bits 4-6), extras follow (bit 7)
//!                       time     zigzag varint: microseconds since the record before in the block (the first:
//!                                since 0)
//!                       client   varint
//!                       db       varint
//!                       key      varint length, then the key's bytes
//!                       extras   when bit 7: u8 flags (1 ttl ms follows, 2 ttl persist, 4 ttl keep, 8 size
//!                                follows, 16 error kind follows), then the varints and byte they announce
//! ```
//!
//! Without extras a write removes the TTL (as SET does) and other commands keep it; the value size is 0.
//!
//! Version 2 groups records in blocks of about 64 KiB, each decodable without the ones before it
//! ([`Block`]), so that several threads can decode one trace. Version 1 (records one after the other, each
//! time since the record before) is still read.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::{Mmap, UncheckedAdvice};

use cachescope_core::{Command, Event, Outcome, TtlChange};

use crate::batch::Batch;
use crate::codes::{command_code, command_from_code, error_code, error_from_code, has_key, outcome_code};
use crate::error::{Location, TraceError};
use crate::header::TraceHeader;

/// What every compact trace starts with, before its version byte.
pub const MAGIC_PREFIX: &[u8] = b"\xC5cstrace";
/// The magic bytes of the version written: records in blocks.
pub const MAGIC: &[u8] = b"\xC5cstrace\x02";
/// The magic bytes of version 1: records without blocks.
pub const MAGIC_V1: &[u8] = b"\xC5cstrace\x01";

/// The size a writer closes its block at (a block holds at least one record, so it may end past it).
pub const BLOCK_BYTES: usize = 1 << 16;
/// A block's length beyond the largest record (a key of 512 MiB) means a corrupt file.
const MAX_BLOCK: u64 = MAX_KEY + (1 << 20);

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
    /// Version 2: the records come in blocks.
    blocked: bool,
    /// The bytes of the current block not decoded yet (version 2).
    block_left: usize,
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

const ENDS_INSIDE_BLOCK: &str = "a record that ends where its block does (one runs past its block's end)";

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
            blocked: false,
            block_left: 0,
            pending_error: None,
            decoded: Vec::new(),
        };
        reader.fill(MAGIC.len() + 10)?;
        let magic = &reader.available()[..MAGIC.len().min(reader.available().len())];
        if magic == MAGIC {
            reader.blocked = true;
        } else if magic != MAGIC_V1 {
            let expected = if magic.len() == MAGIC.len() && magic.starts_with(MAGIC_PREFIX) {
                "a compact trace of version 1 or 2 (a newer cachescope wrote this one: read it with that version)"
            } else {
                "the compact trace magic bytes"
            };
            return Err(reader.malformed(expected, 0));
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
            return Err(reader.cut_short("the whole header (the file ends inside it)", 0));
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

    /// Whether the records come in blocks that decode on their own (version 2): [`CompactReader::next_block`].
    pub fn has_blocks(&self) -> bool {
        self.blocked
    }

    fn available(&self) -> &[u8] {
        &self.buffer[self.start..self.end]
    }

    fn malformed(&self, expected: &str, at: usize) -> TraceError {
        offset_error(&self.path, self.offset + (self.start + at) as u64, expected, false)
    }

    /// The file ends at `at`, inside what `expected` names.
    fn cut_short(&self, expected: &str, at: usize) -> TraceError {
        offset_error(&self.path, self.offset + (self.start + at) as u64, expected, true)
    }

    /// Makes at least `want` bytes available from `start`, unless the input ends first. The buffer grows
    /// with what the input holds, not with what a corrupt length asks for.
    fn fill(&mut self, want: usize) -> Result<(), TraceError> {
        if self.end - self.start >= want || self.eof {
            return Ok(());
        }
        self.buffer.copy_within(self.start..self.end, 0);
        self.offset += self.start as u64;
        self.end -= self.start;
        self.start = 0;
        while self.end < want {
            if self.end == self.buffer.len() {
                let grown = (self.buffer.len() * 2).min(want.next_power_of_two());
                self.buffer.resize(grown, 0);
            }
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

    /// Version 2, between blocks: reads the next block's length. False at the end of the trace.
    fn begin_block(&mut self) -> Result<bool, TraceError> {
        while self.block_left == 0 {
            self.fill(4)?;
            match *self.available() {
                [] => return Ok(false),
                [a, b, c, d, ..] => {
                    let length = u64::from(u32::from_le_bytes([a, b, c, d]));
                    if length > MAX_BLOCK {
                        return Err(self.malformed("a block's length of at most 513 MiB", 0));
                    }
                    self.start += 4;
                    self.block_left = length as usize;
                    self.last_time = 0;
                }
                _ => return Err(self.cut_short("a block's length (the file ends inside it)", 0)),
            }
        }
        Ok(true)
    }

    /// Version 2: makes the rest of the current block available. A block is handed out whole or not at all, so
    /// that a trace cut short gives the same events however it is read (event by event, in batches, or block by
    /// block on several threads): those of the blocks before the cut.
    fn whole_block(&mut self) -> Result<(), TraceError> {
        if self.blocked {
            self.fill(self.block_left)?;
            if self.end - self.start < self.block_left {
                return Err(self.cut_short("the rest of the block (the file ends inside it)", 0));
            }
        }
        Ok(())
    }

    /// Where the records that may be decoded now end in `buffer` (a version 2 block's end, if it is there),
    /// and whether that is the end of the current block.
    fn decodable_end(&self) -> (usize, bool) {
        if self.blocked && self.start + self.block_left <= self.end {
            (self.start + self.block_left, true)
        } else {
            (self.end, false)
        }
    }

    /// The events of as many whole records as the buffer holds (at least one unless the trace ended; in
    /// version 2, from one block), so that a consumer can look ahead. An error after some records comes with
    /// the next call.
    pub fn next_batch(&mut self) -> Result<Batch<'_>, TraceError> {
        if let Some(error) = self.pending_error.take() {
            return Err(error);
        }
        self.decoded.clear();
        if self.blocked && !self.begin_block()? {
            return Ok(Batch::new(&self.buffer, &self.decoded));
        }
        self.whole_block()?;
        let mut want = BATCH_BYTES;
        loop {
            self.fill(want)?;
            let (stop, block_end) = self.decodable_end();
            let mut at = self.start;
            let mut last_time = self.last_time;
            while at < stop {
                match decode(&self.buffer[at..stop], last_time) {
                    Ok((event, key, used)) => {
                        self.decoded.push((event, at + key.start..at + key.end));
                        last_time = event.time;
                        at += used;
                    }
                    Err(Short::Need(_)) if !self.eof && !block_end => break,
                    Err(short) => {
                        let error = match short {
                            Short::Need(_) if block_end => self.malformed(ENDS_INSIDE_BLOCK, at - self.start),
                            Short::Need(_) => {
                                self.cut_short("a whole record (the file ends inside one)", at - self.start)
                            }
                            Short::Bad(what) => self.malformed(what, at - self.start),
                        };
                        if self.decoded.is_empty() {
                            return Err(error);
                        }
                        self.pending_error = Some(error);
                        break;
                    }
                }
            }
            if !self.decoded.is_empty() || self.start == self.end {
                if self.blocked {
                    if self.decoded.is_empty() {
                        // The file ends inside a block.
                        return Err(self.cut_short("the rest of the block (the file ends inside it)", 0));
                    }
                    self.block_left -= at - self.start;
                }
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
        if self.blocked && !self.begin_block()? {
            return Ok(None);
        }
        self.whole_block()?;
        let mut want = 64;
        loop {
            self.fill(want)?;
            if self.start == self.end {
                if self.blocked {
                    return Err(self.cut_short("the rest of the block (the file ends inside it)", 0));
                }
                return Ok(None);
            }
            let (stop, block_end) = self.decodable_end();
            match decode(&self.buffer[self.start..stop], self.last_time) {
                Ok((event, key, used)) => {
                    let key = self.start + key.start..self.start + key.end;
                    self.start += used;
                    if self.blocked {
                        self.block_left -= used;
                    }
                    self.last_time = event.time;
                    return Ok(Some(Event { key: &self.buffer[key], ..event }));
                }
                Err(Short::Need(_)) if block_end => return Err(self.malformed(ENDS_INSIDE_BLOCK, 0)),
                Err(Short::Need(bytes)) if !self.eof && bytes > self.end - self.start => want = bytes,
                Err(Short::Need(_)) => return Err(self.cut_short("a whole record (the file ends inside one)", 0)),
                Err(Short::Bad(what)) => return Err(self.malformed(what, 0)),
            }
        }
    }

    /// Where the next record (or block) starts in the file (decompressed).
    pub(crate) fn position(&self) -> u64 {
        self.offset + self.start as u64
    }

    /// Version 2: the next block's bytes, undecoded, into `block` (for a thread to decode: [`Block::decode_each`]).
    /// False at the end of the trace. Call it only between blocks: from the start, or after other blocks.
    pub fn next_block(&mut self, block: &mut Block) -> Result<bool, TraceError> {
        debug_assert_eq!(self.block_left, 0, "next_block between blocks, not inside one");
        if !self.blocked {
            return Err(self.malformed("a compact trace of version 2 (blocks)", 0));
        }
        if !self.begin_block()? {
            return Ok(false);
        }
        self.whole_block()?;
        let records = &self.buffer[self.start..self.start + self.block_left];
        match &mut block.bytes {
            BlockBytes::Owned(bytes) => {
                bytes.clear();
                bytes.extend_from_slice(records);
            }
            mapped => *mapped = BlockBytes::Owned(records.to_vec()),
        }
        block.offset = self.offset + self.start as u64;
        if block.path != self.path {
            block.path.clone_from(&self.path);
        }
        self.start += self.block_left;
        self.block_left = 0;
        Ok(true)
    }
}

/// One block of a version 2 compact trace, decodable without the blocks before it: the reading thread copies
/// its bytes ([`CompactReader::next_block`]), another decodes them ([`Block::decode_each`]), and any thread
/// can decode one record again from its place ([`Block::event_at`]).
#[derive(Default)]
pub struct Block {
    bytes: BlockBytes,
    /// Where the block's records start in the file (decompressed), for errors.
    offset: u64,
    path: PathBuf,
}

/// A block's records: copied from the reader's buffer (a compressed file), or where they lie in the file
/// mapped in memory, which no thread then copies or writes.
enum BlockBytes {
    Owned(Vec<u8>),
    Mapped(Arc<Mmap>, std::ops::Range<usize>),
}

impl Default for BlockBytes {
    fn default() -> Self {
        BlockBytes::Owned(Vec::new())
    }
}

impl BlockBytes {
    #[inline]
    fn get(&self) -> &[u8] {
        match self {
            BlockBytes::Owned(bytes) => bytes,
            BlockBytes::Mapped(map, range) => &map[range.clone()],
        }
    }
}

/// A version 2 trace file mapped in memory, read block by block from `position`.
pub(crate) struct MappedBlocks {
    map: Arc<Mmap>,
    position: usize,
    /// The pages before this have been let go: memory stays flat whatever the file's size.
    dropped: usize,
}

/// How far behind the blocks handed out the file's pages stay mapped in, for the blocks still in flight.
const KEEP_MAPPED: usize = 4 << 20;

impl MappedBlocks {
    /// Maps `file` to read its blocks from `position` (the end of the header), if the system maps it.
    pub(crate) fn new(file: &std::fs::File, position: u64) -> Option<MappedBlocks> {
        // Safety: the map is only read. A file truncated by another process while it is mapped would end the
        // process (SIGBUS), as it would any program reading a trace that way; a file appended to is read up
        // to its size when mapped, as when it was opened.
        let map = unsafe { Mmap::map(file) }.ok()?;
        let _ = map.advise(memmap2::Advice::Sequential);
        Some(MappedBlocks { map: Arc::new(map), position: usize::try_from(position).ok()?, dropped: 0 })
    }

    /// How far reading has got.
    pub(crate) fn position(&self) -> u64 {
        self.position as u64
    }

    /// Takes the pages well behind the blocks handed out out of the process's memory (they stay in the
    /// system's file cache), so that its resident memory does not grow with the file.
    fn let_go_behind(&mut self) {
        if self.position < self.dropped + 2 * KEEP_MAPPED {
            return;
        }
        // Aligned for any page size up to 64 KiB (the map itself starts on a page).
        let end = (self.position - KEEP_MAPPED) & !0xffff;
        // Safety: the map is a read-only view of the file: pages let go come back with the same bytes should a
        // thread still read there, so no borrow of the map sees its contents change.
        let _ = unsafe { self.map.unchecked_advise_range(UncheckedAdvice::DontNeed, self.dropped, end - self.dropped) };
        self.dropped = end;
    }

    /// The next block, as [`CompactReader::next_block`] gives it, without copying its bytes.
    pub(crate) fn next_block(&mut self, path: &Path, block: &mut Block) -> Result<bool, TraceError> {
        loop {
            let rest = self.map.get(self.position..).unwrap_or_default();
            let length = match *rest {
                [] => return Ok(false),
                [a, b, c, d, ..] => u64::from(u32::from_le_bytes([a, b, c, d])),
                _ => {
                    let expected = "a block's length (the file ends inside it)";
                    return Err(offset_error(path, self.position as u64, expected, true));
                }
            };
            if length > MAX_BLOCK {
                return Err(offset_error(path, self.position as u64, "a block's length of at most 513 MiB", false));
            }
            let start = self.position + 4;
            if ((rest.len() - 4) as u64) < length {
                return Err(offset_error(path, start as u64, "the rest of the block (the file ends inside it)", true));
            }
            self.position = start + length as usize;
            self.let_go_behind();
            if length > 0 {
                block.bytes = BlockBytes::Mapped(Arc::clone(&self.map), start..self.position);
                block.offset = start as u64;
                if block.path != path {
                    block.path = path.to_path_buf();
                }
                return Ok(true);
            }
        }
    }
}

impl Block {
    /// Decodes every record of the block in order, giving each event with the place its record starts at; an
    /// error names the byte it met it at.
    pub fn decode_each<'b>(&'b self, mut each: impl FnMut(u32, Event<'b>)) -> Result<(), TraceError> {
        let (bytes, mut at, mut last_time) = (self.bytes.get(), 0, 0);
        while at < bytes.len() {
            match decode(&bytes[at..], last_time) {
                Ok((event, key, used)) => {
                    each(at as u32, Event { key: &bytes[at + key.start..at + key.end], ..event });
                    last_time = event.time;
                    at += used;
                }
                Err(short) => {
                    let expected = match short {
                        Short::Need(_) => ENDS_INSIDE_BLOCK,
                        Short::Bad(what) => what,
                    };
                    return Err(offset_error(&self.path, self.offset + at as u64, expected, false));
                }
            }
        }
        Ok(())
    }

    /// The event whose record starts at `at`, as [`Block::decode_each`] gave it, with its `time` (a record
    /// holds only the time since the one before). None if no record starts there.
    #[inline(always)]
    pub fn event_at(&self, at: u32, time: u64) -> Option<Event<'_>> {
        let (bytes, at) = (self.bytes.get(), at as usize);
        let (event, key, _) = decode(bytes.get(at..)?, 0).ok()?;
        Some(Event { time, key: &bytes[at + key.start..at + key.end], ..event })
    }
}

/// A malformed record or block at byte `offset` of the file; `cut_short` when the file ends there.
fn offset_error(path: &Path, offset: u64, expected: &str, cut_short: bool) -> TraceError {
    TraceError::Malformed {
        path: path.to_path_buf(),
        location: Location::Offset(offset),
        expected: expected.to_string(),
        found: "something else".to_string(),
        cut_short,
    }
}

#[inline]
fn varint(bytes: &[u8]) -> Result<(u64, usize), Short> {
    // Most values (clients, databases, small deltas, key lengths) fit in one byte, most time deltas in two.
    match bytes {
        [b, ..] if *b < 0x80 => Ok((u64::from(*b), 1)),
        [b0, b1, ..] if *b1 < 0x80 => Ok((u64::from(b0 & 0x7f) | u64::from(*b1) << 7, 2)),
        _ => long_varint(bytes),
    }
}

/// A varint of three bytes or more, or cut short.
#[inline(never)]
fn long_varint(bytes: &[u8]) -> Result<(u64, usize), Short> {
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
    // One byte, the most common, without building a slice.
    if let Some(&b) = bytes.get(*at)
        && b < 0x80
    {
        *at += 1;
        return Ok(u64::from(b));
    }
    let (value, used) = varint(bytes.get(*at..).unwrap_or_default()).map_err(|e| match e {
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

/// Writes events in the compact format, version 2: in blocks of about [`BLOCK_BYTES`].
pub struct CompactWriter<W: Write> {
    out: W,
    record: Vec<u8>,
    last_time: u64,
    /// The records of the block being written; None: version 1, each record written as it comes.
    block: Option<Vec<u8>>,
    block_bytes: usize,
}

impl<W: Write> CompactWriter<W> {
    pub fn new(out: W, header: &TraceHeader) -> io::Result<Self> {
        CompactWriter::with_blocks(out, header, Some(BLOCK_BYTES))
    }

    /// Blocks closed at `block_bytes`, or version 1 without blocks (None): for tests of the reader.
    #[doc(hidden)]
    pub fn with_blocks(mut out: W, header: &TraceHeader, block_bytes: Option<usize>) -> io::Result<Self> {
        out.write_all(if block_bytes.is_some() { MAGIC } else { MAGIC_V1 })?;
        let lines = header.to_lines();
        let mut length = Vec::new();
        put_varint(&mut length, lines.len() as u64);
        out.write_all(&length)?;
        out.write_all(lines.as_bytes())?;
        let block_bytes = block_bytes.unwrap_or(0);
        let block = (block_bytes > 0).then(|| Vec::with_capacity(block_bytes + 128));
        Ok(CompactWriter { out, record: Vec::with_capacity(128), last_time: 0, block, block_bytes })
    }

    /// Writes the block so far, if any: its length, then its records.
    fn close_block(&mut self) -> io::Result<()> {
        if let Some(block) = self.block.as_mut().filter(|block| !block.is_empty()) {
            let length = u32::try_from(block.len())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a record too large for a block"))?;
            self.out.write_all(&length.to_le_bytes())?;
            self.out.write_all(block)?;
            block.clear();
            self.last_time = 0;
        }
        Ok(())
    }

    pub fn write(&mut self, event: &Event<'_>) -> io::Result<()> {
        if self.block.as_ref().is_some_and(|block| block.len() >= self.block_bytes) {
            self.close_block()?;
        }
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
        match self.block.as_mut() {
            Some(block) => {
                block.extend_from_slice(record);
                Ok(())
            }
            None => self.out.write_all(record),
        }
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.close_block()?;
        self.out.flush()?;
        Ok(self.out)
    }
}
