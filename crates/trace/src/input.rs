//! Opening a trace: decompressing zstd transparently, recognising the format, counting bytes for progress.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cachescope_core::Event;

use crate::arc::ArcReader;
use crate::capture::CaptureReader;
use crate::columns::{Columns, ColumnsReader};
use crate::compact::{Block, CompactReader, MappedBlocks};
use crate::error::{TraceError, shown};
use crate::format::TraceFormat;
use crate::header::TraceHeader;
use crate::oracle::OracleReader;
use crate::text::TextReader;
use crate::twitter::TwitterReader;

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The decompressed bytes of a trace file.
pub type Input = BufReader<Box<dyn Read + Send>>;

/// Counts the bytes read from the file (compressed), for progress.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// How far reading a file has got.
#[derive(Debug, Clone)]
pub struct Progress {
    read: Arc<AtomicU64>,
    total: u64,
}

impl Progress {
    /// Bytes of the file read so far (compressed bytes for a `.zst`).
    pub fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    pub fn total_bytes(&self) -> u64 {
        self.total
    }
}

/// Events read at once (see [`TraceReader::next_batch`]).
pub enum Batch<'a> {
    Many(crate::batch::Batch<'a>),
    One(Option<Event<'a>>),
}

impl<'a> Batch<'a> {
    pub fn len(&self) -> usize {
        match self {
            Batch::Many(batch) => batch.len(),
            Batch::One(event) => usize::from(event.is_some()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The events decoded many at a time, as a format of records gives them; None for formats read one event
    /// at a time.
    pub fn many(&self) -> Option<&crate::batch::Batch<'a>> {
        match self {
            Batch::Many(batch) => Some(batch),
            Batch::One(_) => None,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = Event<'a>> + Clone + '_ {
        let (many, one) = match self {
            Batch::Many(batch) => (Some(batch.iter()), None),
            Batch::One(event) => (None, *event),
        };
        many.into_iter().flatten().chain(one)
    }
}

enum Reader {
    Text(TextReader<Input>),
    Compact(CompactReader<Input>),
    Twitter(TwitterReader<Input>),
    Arc(ArcReader<Input>),
    Oracle(OracleReader<Input>),
    Columns(ColumnsReader<Input>),
    Capture(Box<CaptureReader>),
}

/// A trace being read, whatever its format.
pub struct TraceReader {
    reader: Reader,
    format: TraceFormat,
    compressed: bool,
    progress: Progress,
    path: std::path::PathBuf,
    /// Whether [`TraceReader::next_block`] has tried mapping the file.
    map_tried: bool,
    mapped: Option<MappedBlocks>,
}

impl TraceReader {
    /// Opens `path`, recognising its format unless `format` names it. `.zst` files (any name: the content
    /// tells) are decompressed on the fly.
    pub fn open(path: &Path, format: Option<TraceFormat>) -> Result<TraceReader, TraceError> {
        TraceReader::open_with_columns(path, format, None)
    }

    /// Opens `path` as [`TraceReader::open`] does; `columns` says what the columns of a plain CSV hold (needed for
    /// [`TraceFormat::Csv`]).
    pub fn open_with_columns(
        path: &Path,
        format: Option<TraceFormat>,
        columns: Option<Columns>,
    ) -> Result<TraceReader, TraceError> {
        let io_error = |source| TraceError::Io { path: path.to_path_buf(), source };
        let mut file = File::open(path).map_err(io_error)?;
        let total = file.metadata().map_err(io_error)?.len();
        let mut magic = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            match file.read(&mut magic[got..]).map_err(io_error)? {
                0 => break,
                n => got += n,
            }
        }
        file.seek(SeekFrom::Start(0)).map_err(io_error)?;
        let read = Arc::new(AtomicU64::new(0));
        let counted = Counting { inner: file, read: read.clone() };
        let compressed = got == 4 && magic == ZSTD_MAGIC;
        let stream: Box<dyn Read + Send> =
            if compressed { Box::new(zstd::Decoder::new(counted).map_err(io_error)?) } else { Box::new(counted) };
        let mut input = BufReader::with_capacity(1 << 16, stream);
        let format = match format {
            Some(format) => format,
            None => {
                let head = input.fill_buf().map_err(io_error)?;
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                TraceFormat::detect_file(head, &name).ok_or_else(|| {
                    let first_line = head.split(|&b| b == b'\n').next().unwrap_or_default();
                    TraceError::UnknownFormat {
                        path: path.to_path_buf(),
                        found: match first_line {
                            [] => "it is empty".to_string(),
                            line => format!("it starts with {}", shown(line)),
                        },
                        what_to_do: csv_columns_from_header(first_line).map_or_else(
                            || "name the format with --format (csv needs --csv-columns)".to_string(),
                            |columns| format!("it looks like a CSV with a header: read it with --format csv --csv-columns {columns}"),
                        ),
                    }
                })?
            }
        };
        let reader = match format {
            TraceFormat::Cachescope => Reader::Text(TextReader::new(input, path)?),
            TraceFormat::CachescopeCompact => Reader::Compact(CompactReader::new(input, path)?),
            TraceFormat::TwitterCsv => Reader::Twitter(TwitterReader::new(input, path)),
            TraceFormat::Arc => Reader::Arc(ArcReader::new(input, path)),
            TraceFormat::OracleGeneral => Reader::Oracle(OracleReader::new(input, path)),
            TraceFormat::Pcap => Reader::Capture(Box::new(CaptureReader::new(input, path)?)),
            TraceFormat::Csv => match columns {
                Some(columns) => Reader::Columns(ColumnsReader::new(input, path, columns)),
                None => {
                    return Err(TraceError::CsvColumnsMissing { path: path.to_path_buf() });
                }
            },
        };
        Ok(TraceReader {
            reader,
            format,
            compressed,
            progress: Progress { read, total },
            path: path.to_path_buf(),
            map_tried: false,
            mapped: None,
        })
    }

    pub fn format(&self) -> TraceFormat {
        self.format
    }

    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    pub fn header(&self) -> &TraceHeader {
        match &self.reader {
            Reader::Text(r) => r.header(),
            Reader::Compact(r) => r.header(),
            Reader::Twitter(r) => r.header(),
            Reader::Arc(r) => r.header(),
            Reader::Oracle(r) => r.header(),
            Reader::Columns(r) => r.header(),
            Reader::Capture(r) => r.header(),
        }
    }

    /// The next event; None at the end. After an error that [`TraceError::is_skippable`] says can be skipped,
    /// the next call goes on with the next line.
    pub fn next_event(&mut self) -> Result<Option<Event<'_>>, TraceError> {
        match &mut self.reader {
            Reader::Text(r) => r.next_event(),
            Reader::Compact(r) => r.next_event(),
            Reader::Twitter(r) => r.next_event(),
            Reader::Arc(r) => r.next_event(),
            Reader::Oracle(r) => r.next_event(),
            Reader::Columns(r) => r.next_event(),
            Reader::Capture(r) => r.next_event(),
        }
    }

    /// The next events: many at once from the compact format, oracleGeneral and Twitter's CSV, one from the others; an empty batch at the end.
    /// Errors as for [`TraceReader::next_event`].
    pub fn next_batch(&mut self) -> Result<Batch<'_>, TraceError> {
        Ok(match &mut self.reader {
            Reader::Compact(r) => Batch::Many(r.next_batch()?),
            Reader::Text(r) => Batch::One(r.next_event()?),
            Reader::Twitter(r) => Batch::Many(r.next_batch()?),
            Reader::Arc(r) => Batch::One(r.next_event()?),
            Reader::Oracle(r) => Batch::Many(r.next_batch()?),
            Reader::Columns(r) => Batch::One(r.next_event()?),
            Reader::Capture(r) => Batch::One(r.next_event()?),
        })
    }

    /// For a packet capture: what it saw beyond its events (connections, losses, resynchronisations, TLS).
    pub fn capture_stats(&self) -> Option<&cachescope_capture::CaptureStats> {
        match &self.reader {
            Reader::Capture(r) => Some(r.stats()),
            _ => None,
        }
    }

    /// For a packet capture: the cache's ports, as found in the traffic.
    pub fn capture_ports(&self) -> &[u16] {
        match &self.reader {
            Reader::Capture(r) => r.ports(),
            _ => &[],
        }
    }

    /// Whether the trace comes in blocks that threads can decode each on their own (the compact format,
    /// version 2): read them with [`TraceReader::next_block`].
    pub fn has_blocks(&self) -> bool {
        matches!(&self.reader, Reader::Compact(r) if r.has_blocks())
    }

    /// The next block's bytes, undecoded, into `block` ([`Block::decode_each`] decodes them); false at the end.
    /// For a trace that [`TraceReader::has_blocks`], read from its start with this call only. An uncompressed
    /// file is mapped in memory and its blocks handed out where they lie, copied by no one.
    pub fn next_block(&mut self, block: &mut Block) -> Result<bool, TraceError> {
        let Reader::Compact(reader) = &mut self.reader else { return Ok(false) };
        if !self.compressed && !self.map_tried {
            self.map_tried = true;
            let file = File::open(&self.path).ok();
            self.mapped = file.and_then(|file| MappedBlocks::new(&file, reader.position()));
        }
        match &mut self.mapped {
            Some(mapped) => {
                let more = mapped.next_block(&self.path, block)?;
                self.progress.read.store(mapped.position(), Ordering::Relaxed);
                Ok(more)
            }
            None => reader.next_block(block),
        }
    }

    pub fn progress(&self) -> Progress {
        self.progress.clone()
    }
}

/// Column names that say what a CSV header's columns hold, lower case.
const KEY_NAMES: [&str; 9] = ["key", "lbn", "obj_id", "object_id", "id", "block", "anonymized key", "object", "obj"];
const TIME_NAMES: [&str; 4] = ["time", "timestamp", "ts", "clock_time"];
const SIZE_NAMES: [&str; 5] = ["size", "obj_size", "value_size", "value size", "bytes"];

/// `--csv-columns` for a CSV whose first line names its columns (`version,time,op,size,lbn` gives
/// `key=5,time=2,size=4`), when one of them names the key.
fn csv_columns_from_header(line: &[u8]) -> Option<String> {
    let line = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
    let names: Vec<String> = line.split(',').map(|name| name.trim().to_ascii_lowercase()).collect();
    let is_name = |name: &String| name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    if names.len() < 2 || !names.iter().all(is_name) {
        return None;
    }
    let find = |wanted: &[&str]| names.iter().position(|name| wanted.contains(&name.as_str())).map(|at| at + 1);
    let mut columns = vec![format!("key={}", find(&KEY_NAMES)?)];
    columns.extend(find(&TIME_NAMES).map(|at| format!("time={at}")));
    columns.extend(find(&SIZE_NAMES).map(|at| format!("size={at}")));
    Some(columns.join(","))
}

#[cfg(test)]
mod header_tests {
    use super::csv_columns_from_header;

    fn check(line: &str, expected: Option<&str>) {
        assert_eq!(csv_columns_from_header(line.as_bytes()).as_deref(), expected, "{line}");
    }

    #[test]
    fn csv_headers_name_their_columns() {
        check("version,time,op,size,lbn", Some("key=5,time=2,size=4"));
        check("Timestamp, Key, Value Size\r", Some("key=2,time=1,size=3"));
        check("obj_id,obj_size", Some("key=1,size=2"));
        check("time,op,size", None);
        check("1,5633898,2a,512,42932745", None);
        check("hello world", None);
    }
}
