//! Trace errors: each names the file, the place (line or byte offset) and what was expected.

use std::fmt;
use std::path::PathBuf;

/// Where in a file something went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// 1-based line of a text format.
    Line(u64),
    /// Byte offset (after decompression) of a binary format.
    Offset(u64),
    /// Events read before, in a packet capture (whose records are packets, not events).
    Event(u64),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(line) => write!(f, "{line}"),
            Location::Offset(offset) => write!(f, "byte {offset}"),
            Location::Event(events) => write!(f, "after {events} events"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line or record that does not parse. In text formats reading can go on at the next line.
    #[error("{}:{location}: expected {expected}, found {found}", path.display())]
    Malformed {
        path: PathBuf,
        location: Location,
        expected: String,
        found: String,
        /// The file ends there, inside a record, a block or its header: it was cut short
        /// ([`TraceError::is_cut_short`]).
        cut_short: bool,
    },
    #[error(
        "{}: cannot tell its format ({found}): it is not a cachescope trace (readable or compact), a Twitter \
         cache-trace CSV, an ARC trace, a pcap or pcapng capture, nor named `*.oracleGeneral*`; {what_to_do}",
        path.display()
    )]
    UnknownFormat { path: PathBuf, found: String, what_to_do: String },
    #[error("{}: a plain CSV needs its columns named: --csv-columns key=N[,time=N][,size=N] (1-based)", path.display())]
    CsvColumnsMissing { path: PathBuf },
}

impl TraceError {
    /// Whether the reader can go on past this error (a bad line of a text format).
    pub fn is_skippable(&self) -> bool {
        matches!(self, TraceError::Malformed { location: Location::Line(_), .. })
    }

    /// Whether the file ends early: inside a record, a block or a compressed frame, as a recording that did not
    /// finish or a copy interrupted does. Every event before the cut was read; nothing comes after it.
    pub fn is_cut_short(&self) -> bool {
        match self {
            TraceError::Malformed { cut_short, .. } => *cut_short,
            TraceError::Io { source, .. } => source.kind() == std::io::ErrorKind::UnexpectedEof,
            _ => false,
        }
    }

    /// Whether the input itself is at fault (rather than the file system).
    pub fn is_bad_data(&self) -> bool {
        self.is_cut_short()
            || matches!(
                self,
                TraceError::Malformed { .. } | TraceError::UnknownFormat { .. } | TraceError::CsvColumnsMissing { .. }
            )
    }
}

/// Shows a piece of input in an error: printable and short.
pub(crate) fn shown(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "nothing".to_string();
    }
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(60)]);
    let mut out: String = text.chars().map(|c| if c.is_control() { '?' } else { c }).collect();
    if bytes.len() > 60 {
        out.push('…');
    }
    format!("\"{out}\"")
}
