//! The formats, their names on the command line, and how a file's format is recognised.

use std::fmt;
use std::str::FromStr;

use crate::compact::MAGIC;
use crate::text::HEADER_LINE;
use crate::twitter;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceFormat {
    /// cachescope's readable format: one event per line (`docs/trace-format.md`).
    Cachescope,
    /// cachescope's compact binary format: varint-coded records.
    CachescopeCompact,
    /// Twitter's cache-trace CSV: `timestamp,key,key size,value size,client id,operation,TTL`.
    TwitterCsv,
}

impl TraceFormat {
    pub const ALL: [TraceFormat; 3] =
        [TraceFormat::Cachescope, TraceFormat::CachescopeCompact, TraceFormat::TwitterCsv];

    pub fn name(self) -> &'static str {
        match self {
            TraceFormat::Cachescope => "cachescope",
            TraceFormat::CachescopeCompact => "cachescope-compact",
            TraceFormat::TwitterCsv => "twitter-csv",
        }
    }

    /// Recognises a format from the first bytes of a (decompressed) file.
    pub fn detect(head: &[u8]) -> Option<TraceFormat> {
        if head.starts_with(MAGIC) {
            return Some(TraceFormat::CachescopeCompact);
        }
        if head.starts_with(HEADER_LINE.as_bytes()) {
            return Some(TraceFormat::Cachescope);
        }
        let mut lines = head.split(|&b| b == b'\n');
        let mut first_line = lines.next().unwrap_or_default();
        if first_line.starts_with(b"timestamp") {
            first_line = lines.next().unwrap_or_default();
        }
        twitter::looks_like_line(first_line).then_some(TraceFormat::TwitterCsv)
    }
}

impl fmt::Display for TraceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TraceFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TraceFormat::ALL.into_iter().find(|f| f.name() == s).ok_or_else(|| {
            let names: Vec<_> = TraceFormat::ALL.iter().map(|f| f.name()).collect();
            format!("unknown trace format `{s}`; known: {}", names.join(", "))
        })
    }
}
