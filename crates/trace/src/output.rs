//! Writing a trace: readable or compact, zstd-compressed when the file name ends in `.zst`.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use cachescope_core::Event;

use crate::compact::CompactWriter;
use crate::format::TraceFormat;
use crate::header::TraceHeader;
use crate::text::TextWriter;

enum Sink {
    Plain(BufWriter<File>),
    Zstd(zstd::Encoder<'static, BufWriter<File>>),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Zstd(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Zstd(w) => w.flush(),
        }
    }
}

impl Sink {
    fn finish(self) -> io::Result<()> {
        match self {
            Sink::Plain(mut w) => w.flush(),
            Sink::Zstd(w) => w.finish()?.flush(),
        }
    }
}

enum Writer {
    Text(TextWriter<Sink>),
    Compact(CompactWriter<Sink>),
}

/// A trace being written. Call [`TraceWriter::finish`]: it flushes and ends the compressed frame.
pub struct TraceWriter {
    writer: Writer,
}

impl TraceWriter {
    /// Creates `path` in `format`, zstd-compressed when its name ends in `.zst` (only cachescope's formats can
    /// be written).
    pub fn create(path: &Path, format: TraceFormat, header: &TraceHeader) -> io::Result<TraceWriter> {
        TraceWriter::create_compressed(path, format, header, TraceWriter::compressed_name(path))
    }

    /// Whether a trace named `path` is written zstd-compressed: its name ends in `.zst`.
    pub fn compressed_name(path: &Path) -> bool {
        path.extension().is_some_and(|e| e == "zst")
    }

    /// Creates `path` in `format`, zstd-compressed or not whatever its name: for a file written under another
    /// name than its final one.
    pub fn create_compressed(
        path: &Path,
        format: TraceFormat,
        header: &TraceHeader,
        compressed: bool,
    ) -> io::Result<TraceWriter> {
        if !format.is_written() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "traces are written in the cachescope formats; the others have no outcomes, or are packets",
            ));
        }
        let file = BufWriter::with_capacity(1 << 16, File::create(path)?);
        let sink = if compressed { Sink::Zstd(zstd::Encoder::new(file, 3)?) } else { Sink::Plain(file) };
        let writer = match format {
            TraceFormat::Cachescope => Writer::Text(TextWriter::new(sink, header)?),
            TraceFormat::CachescopeCompact => Writer::Compact(CompactWriter::new(sink, header)?),
            TraceFormat::TwitterCsv
            | TraceFormat::Arc
            | TraceFormat::OracleGeneral
            | TraceFormat::Csv
            | TraceFormat::Pcap => unreachable!("only cachescope's formats are written"),
        };
        Ok(TraceWriter { writer })
    }

    pub fn write(&mut self, event: &Event<'_>) -> io::Result<()> {
        match &mut self.writer {
            Writer::Text(w) => w.write(event),
            Writer::Compact(w) => w.write(event),
        }
    }

    pub fn finish(self) -> io::Result<()> {
        match self.writer {
            Writer::Text(w) => w.finish()?.finish(),
            Writer::Compact(w) => w.finish()?.finish(),
        }
    }
}
