//! libCacheSim's `oracleGeneral` binary format: packed little-endian records of 24 bytes,
//! `{ u32 clock_time; u64 obj_id; u32 obj_size; i64 next_access_vtime }` (next_access_vtime is the index of the
//! object's next request, -1 for none; cachescope does not need it). No header, no outcomes: every record is a
//! read that caches its object on a miss (read-through); clock_time is in seconds.

use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use cachescope_core::{Command, Event, Outcome, TtlChange};

use crate::error::{Location, TraceError};
use crate::header::TraceHeader;

const RECORD: usize = 24;

pub struct OracleReader<R> {
    input: R,
    path: PathBuf,
    header: TraceHeader,
    records: u64,
    key: Vec<u8>,
}

impl<R: Read> OracleReader<R> {
    pub fn new(input: R, path: &Path) -> Self {
        OracleReader {
            input,
            path: path.to_path_buf(),
            header: TraceHeader { read_through: true, ..TraceHeader::default() },
            records: 0,
            key: Vec::new(),
        }
    }

    pub fn header(&self) -> &TraceHeader {
        &self.header
    }

    pub fn next_event(&mut self) -> Result<Option<Event<'_>>, TraceError> {
        let mut record = [0u8; RECORD];
        let mut got = 0;
        while got < RECORD {
            match self.input.read(&mut record[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(source) => return Err(TraceError::Io { path: self.path.clone(), source }),
            }
        }
        if got == 0 {
            return Ok(None);
        }
        if got < RECORD {
            return Err(TraceError::Malformed {
                path: self.path.clone(),
                location: Location::Offset(self.records * RECORD as u64),
                expected: "a whole 24-byte record (the file ends inside one)".into(),
                found: format!("{got} bytes"),
            });
        }
        self.records += 1;
        let time = u32::from_le_bytes(record[0..4].try_into().expect("4 bytes"));
        let id = u64::from_le_bytes(record[4..12].try_into().expect("8 bytes"));
        let size = u32::from_le_bytes(record[12..16].try_into().expect("4 bytes"));
        self.key.clear();
        self.key.extend_from_slice(itoa::Buffer::new().format(id).as_bytes());
        Ok(Some(Event {
            time: u64::from(time) * 1_000_000,
            client: 0,
            db: 0,
            node: 0,
            command: Command::Read,
            key: &self.key,
            outcome: Outcome::Unobserved,
            ttl: TtlChange::Keep,
            value_size: size.saturating_sub(self.key.len() as u32),
        }))
    }
}
