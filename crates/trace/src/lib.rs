//! Trace formats for cachescope.
//!
//! - cachescope's own format records observed outcomes (hit, miss, ok, error), as live sources see them; it has
//!   a readable encoding ([`text`]) and a compact one ([`compact`]);
//! - Twitter's cache-trace CSV ([`twitter`]) records requests only: a cache model gives them outcomes;
//! - packet captures (pcap, pcapng) of RESP traffic are followed by `cachescope-capture` into events with
//!   observed outcomes, as the proxy's.
//!
//! [`TraceReader::open`] recognises the format and decompresses zstd; [`TraceWriter::create`] records. Errors
//! name the file and the line (or byte) and say what was expected there.

pub mod arc;
pub mod batch;
mod capture;
mod codes;
pub mod columns;
pub mod compact;
mod error;
mod format;
mod header;
mod input;
mod lines;
pub mod oracle;
mod output;
pub mod text;
pub mod twitter;

pub use columns::Columns;
pub use compact::Block;
pub use error::{Location, TraceError};
pub use format::TraceFormat;
pub use header::TraceHeader;
pub use input::{Batch, Progress, TraceReader};
pub use output::TraceWriter;
