//! Packet captures (pcap, pcapng) as traces: the RESP traffic they hold, followed by `cachescope-capture`, gives
//! events with observed outcomes, as the proxy's. A capture joins a running server: its header says the cache's
//! content before it is unknown.

use std::path::{Path, PathBuf};

use cachescope_capture::{CaptureError, CaptureFile, CaptureStats};
use cachescope_core::{Event, InitialState, OwnedEvent};

use crate::error::{Location, TraceError};
use crate::header::TraceHeader;
use crate::input::Input;

pub struct CaptureReader {
    file: CaptureFile<Input>,
    path: PathBuf,
    header: TraceHeader,
    current: Option<OwnedEvent>,
    events: u64,
}

impl CaptureReader {
    pub fn new(input: Input, path: &Path) -> Result<Self, TraceError> {
        let file = CaptureFile::new(input).map_err(|error| malformed(path, 0, &error))?;
        let header = TraceHeader {
            initial_state: InitialState::Unknown,
            source: Some("packet capture".to_string()),
            ..TraceHeader::default()
        };
        Ok(CaptureReader { file, path: path.to_path_buf(), header, current: None, events: 0 })
    }

    pub fn header(&self) -> &TraceHeader {
        &self.header
    }

    pub fn stats(&self) -> &CaptureStats {
        self.file.stats()
    }

    pub fn ports(&self) -> &[u16] {
        self.file.ports()
    }

    pub fn next_event(&mut self) -> Result<Option<Event<'_>>, TraceError> {
        self.current = self.file.next_event().map_err(|error| malformed(&self.path, self.events, &error))?;
        self.events += 1;
        Ok(self.current.as_ref().map(OwnedEvent::as_event))
    }
}

fn malformed(path: &Path, events: u64, error: &CaptureError) -> TraceError {
    let cut_short = matches!(error, CaptureError::CutShort(_));
    TraceError::Malformed {
        path: path.to_path_buf(),
        location: Location::Event(events),
        expected: if cut_short { "a whole packet" } else { "a pcap or pcapng capture" }.to_string(),
        found: error.to_string(),
        cut_short,
    }
}
