//! libCacheSim's `oracleGeneral` binary format: packed little-endian records of 24 bytes,
//! `{ u32 clock_time; u64 obj_id; u32 obj_size; i64 next_access_vtime }` (next_access_vtime is the index of the
//! object's next request, -1 for none; cachescope does not need it). No header, no outcomes: every record is a
//! read that caches its object on a miss (read-through); clock_time is in seconds.

use std::io::{ErrorKind, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};

use cachescope_core::{Command, Event, Outcome, TtlChange};

use crate::batch::Batch;
use crate::error::{Location, TraceError};
use crate::header::TraceHeader;

const RECORD: usize = 24;
/// Records decoded per batch: 64 KiB of them.
const BATCH_RECORDS: usize = (1 << 16) / RECORD;

pub struct OracleReader<R> {
    input: R,
    path: PathBuf,
    header: TraceHeader,
    records: u64,
    key: Vec<u8>,
    /// Records read for a batch.
    buffer: Vec<u8>,
    /// The keys of the last batch, one after the other.
    keys: Vec<u8>,
    /// The events of the last batch (keys left empty), and where their keys lie in `keys`.
    decoded: Vec<(Event<'static>, Range<usize>)>,
    /// The file ends inside a record, which the next call reports, after the whole records before it.
    pending_error: Option<TraceError>,
}

impl<R: Read> OracleReader<R> {
    pub fn new(input: R, path: &Path) -> Self {
        OracleReader {
            input,
            path: path.to_path_buf(),
            header: TraceHeader { read_through: true, ..TraceHeader::default() },
            records: 0,
            key: Vec::new(),
            buffer: vec![0; BATCH_RECORDS * RECORD],
            keys: Vec::new(),
            decoded: Vec::new(),
            pending_error: None,
        }
    }

    pub fn header(&self) -> &TraceHeader {
        &self.header
    }

    /// Reads into `buffer` until it is full or the input ends: how many bytes it holds.
    fn fill(&mut self, buffer_len: usize) -> Result<usize, TraceError> {
        let mut got = 0;
        while got < buffer_len {
            match self.input.read(&mut self.buffer[got..buffer_len]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(source) => return Err(TraceError::Io { path: self.path.clone(), source }),
            }
        }
        Ok(got)
    }

    fn cut_short(&self, got: usize) -> TraceError {
        TraceError::Malformed {
            path: self.path.clone(),
            location: Location::Offset(self.records * RECORD as u64),
            expected: "a whole 24-byte record (the file ends inside one)".into(),
            found: format!("{got} bytes"),
            cut_short: true,
        }
    }

    pub fn next_event(&mut self) -> Result<Option<Event<'_>>, TraceError> {
        if let Some(error) = self.pending_error.take() {
            return Err(error);
        }
        let got = self.fill(RECORD)?;
        if got == 0 {
            return Ok(None);
        }
        if got < RECORD {
            return Err(self.cut_short(got));
        }
        self.records += 1;
        let record: &[u8; RECORD] = self.buffer[..RECORD].try_into().expect("a record");
        self.key.clear();
        let event = decode(record, &mut self.key);
        Ok(Some(Event { key: &self.key, ..event }))
    }

    /// The events of the records that fill a buffer (fewer at the end of the file; none after it). A file that
    /// ends inside a record gets the error after the events of the records before it.
    pub fn next_batch(&mut self) -> Result<Batch<'_>, TraceError> {
        if let Some(error) = self.pending_error.take() {
            return Err(error);
        }
        let got = self.fill(self.buffer.len())?;
        self.keys.clear();
        self.decoded.clear();
        for record in self.buffer[..got].chunks_exact(RECORD) {
            let start = self.keys.len();
            let event = decode(record.try_into().expect("a record"), &mut self.keys);
            self.decoded.push((event, start..self.keys.len()));
        }
        self.records += self.decoded.len() as u64;
        if got % RECORD != 0 {
            let error = self.cut_short(got % RECORD);
            if self.decoded.is_empty() {
                return Err(error);
            }
            self.pending_error = Some(error);
        }
        Ok(Batch::new(&self.keys, &self.decoded))
    }
}

/// A record's event, its id written in digits at the end of `keys` (the event's own key is left empty).
fn decode(record: &[u8; RECORD], keys: &mut Vec<u8>) -> Event<'static> {
    let time = u32::from_le_bytes(record[0..4].try_into().expect("4 bytes"));
    let id = u64::from_le_bytes(record[4..12].try_into().expect("8 bytes"));
    let size = u32::from_le_bytes(record[12..16].try_into().expect("4 bytes"));
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(id).as_bytes();
    keys.extend_from_slice(digits);
    Event {
        time: u64::from(time) * 1_000_000,
        client: 0,
        db: 0,
        node: 0,
        command: Command::Read,
        key: &[],
        outcome: Outcome::Unobserved,
        ttl: TtlChange::Keep,
        value_size: size.saturating_sub(digits.len() as u32),
    }
}
