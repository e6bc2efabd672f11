//! The engine's thread for a live source: it takes event batches from the channel, feeds the engine, records
//! them when asked, and every `report_every` reports the findings if they changed. When the source stops (the
//! channel closes) it returns the final report.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Result;
use cachescope_core::Engine;
use cachescope_core::report::{FindingCause, Report, Severity};
use cachescope_trace::{TraceFormat, TraceHeader, TraceWriter};

use super::Message;
use crate::exit::OutputError;

/// How long the thread naps when no event is waiting.
const IDLE: Duration = Duration::from_millis(2);

/// Called with each report whose findings differ from the last one reported.
pub type OnChange = Box<dyn FnMut(&Report, &Counters) + Send>;

/// What the thread does beside feeding the engine.
pub struct Options {
    pub report_every: Duration,
    pub on_change: OnChange,
    pub record: Option<(PathBuf, TraceFormat, TraceHeader)>,
}

/// What the live source did, for the live reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    pub events: u64,
    /// Events the engine could not keep up with, dropped rather than slow the traffic.
    pub dropped: u64,
}

/// Starts the thread. Recording errors end the recording (and are returned), not the analysis.
pub fn spawn(
    mut engine: Engine,
    receiver: Receiver<Message>,
    dropped: Arc<AtomicU64>,
    mut options: Options,
) -> Result<JoinHandle<(Report, Counters, Option<OutputError>)>> {
    let mut writer = match &options.record {
        Some((path, format, header)) => Some(
            TraceWriter::create(path, *format, header)
                .map_err(|source| OutputError { path: path.display().to_string(), source })?,
        ),
        None => None,
    };
    let record_path = options.record.as_ref().map(|(path, _, _)| path.display().to_string()).unwrap_or_default();
    let handle = std::thread::Builder::new().name("cachescope-engine".into()).spawn(move || {
        let mut counters = Counters::default();
        let mut record_error = None;
        let mut last_signature: Option<Vec<(FindingCause, String, Severity)>> = None;
        let mut next_report = Instant::now() + options.report_every;
        loop {
            // Drain what is there, then nap: a receiver blocked on the channel would have every sender wake it,
            // a system call and a context switch per batch on the proxy's data path.
            let message = match receiver.try_recv() {
                Ok(message) => Ok(message),
                Err(TryRecvError::Empty) => {
                    std::thread::sleep(IDLE.min(next_report.saturating_duration_since(Instant::now())));
                    Err(RecvTimeoutError::Timeout)
                }
                Err(TryRecvError::Disconnected) => Err(RecvTimeoutError::Disconnected),
            };
            match message {
                Ok(Message::CacheCapacity(bytes)) => engine.set_cache_capacity(bytes),
                Ok(Message::Events(batch)) => {
                    for event in &batch {
                        let event = event.as_event();
                        engine.observe(&event);
                        if let Some(w) = writer.as_mut()
                            && let Err(source) = w.write(&event)
                        {
                            record_error = Some(OutputError { path: record_path.clone(), source });
                            writer = None;
                        }
                    }
                    counters.events += batch.len() as u64;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if Instant::now() >= next_report {
                next_report = Instant::now() + options.report_every;
                counters.dropped = dropped.load(Ordering::Relaxed);
                let report = engine.report();
                let signature: Vec<_> =
                    report.findings.iter().map(|f| (f.cause, f.pattern.clone(), f.severity)).collect();
                if last_signature.as_ref() != Some(&signature) && counters.events > 0 {
                    (options.on_change)(&report, &counters);
                    last_signature = Some(signature);
                }
            }
        }
        if let Some(w) = writer
            && let Err(source) = w.finish()
        {
            record_error.get_or_insert(OutputError { path: record_path, source });
        }
        counters.dropped = dropped.load(Ordering::Relaxed);
        (engine.report(), counters, record_error)
    })?;
    Ok(handle)
}
