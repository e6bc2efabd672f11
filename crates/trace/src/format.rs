//! The formats, their names on the command line, and how a file's format is recognised.

use std::fmt;
use std::str::FromStr;

use crate::compact::MAGIC_PREFIX;
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
    /// The ARC traces' `start_block n_blocks ignore request_no` (the OLTP trace).
    Arc,
    /// libCacheSim's `oracleGeneral` binary records.
    OracleGeneral,
    /// Any CSV, with its columns named by `--csv-columns`.
    Csv,
    /// A packet capture (pcap or pcapng, as tcpdump and Wireshark write them) of RESP traffic.
    Pcap,
}

impl TraceFormat {
    pub const ALL: [TraceFormat; 7] = [
        TraceFormat::Cachescope,
        TraceFormat::CachescopeCompact,
        TraceFormat::TwitterCsv,
        TraceFormat::Arc,
        TraceFormat::OracleGeneral,
        TraceFormat::Csv,
        TraceFormat::Pcap,
    ];

    /// Whether traces can be written in this format: cachescope's own two. The others hold requests without
    /// outcomes, or packets.
    pub fn is_written(self) -> bool {
        matches!(self, TraceFormat::Cachescope | TraceFormat::CachescopeCompact)
    }

    pub fn name(self) -> &'static str {
        match self {
            TraceFormat::Cachescope => "cachescope",
            TraceFormat::CachescopeCompact => "cachescope-compact",
            TraceFormat::TwitterCsv => "twitter-csv",
            TraceFormat::Arc => "arc",
            TraceFormat::OracleGeneral => "oracle-general",
            TraceFormat::Csv => "csv",
            TraceFormat::Pcap => "pcap",
        }
    }

    /// Recognises a format from the first bytes of a (decompressed) file and its name (libCacheSim's binary
    /// traces carry no magic; their names say `oracleGeneral`).
    pub fn detect_file(head: &[u8], name: &str) -> Option<TraceFormat> {
        if name.contains("oracleGeneral") {
            return Some(TraceFormat::OracleGeneral);
        }
        TraceFormat::detect(head)
    }

    /// Recognises a format from the first bytes of a (decompressed) file.
    pub fn detect(head: &[u8]) -> Option<TraceFormat> {
        if head.starts_with(MAGIC_PREFIX) {
            return Some(TraceFormat::CachescopeCompact);
        }
        if cachescope_capture::is_capture(head) {
            return Some(TraceFormat::Pcap);
        }
        if head.starts_with(HEADER_LINE.as_bytes()) {
            return Some(TraceFormat::Cachescope);
        }
        let mut lines = head.split(|&b| b == b'\n');
        let mut first_line = lines.next().unwrap_or_default();
        if first_line.starts_with(b"timestamp") {
            first_line = lines.next().unwrap_or_default();
        }
        if twitter::looks_like_line(first_line) {
            return Some(TraceFormat::TwitterCsv);
        }
        crate::arc::looks_like_line(first_line).then_some(TraceFormat::Arc)
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
