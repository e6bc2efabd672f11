//! The live layer: what every source that runs until stopped (the proxy; later keyspace events, packet capture,
//! Memcached) shares. Events arrive through a channel that never waits ([`channel`]); the engine runs on a thread
//! of its own ([`spawn`]), which every window takes the window's counts from the engine (without walking its
//! keys), adds them to bounded series ([`series`]), runs the anomaly detector ([`detect`]), and publishes an
//! immutable [`LiveSnapshot`] that any number of sinks (the text sink, the HTTP API, a dashboard, a webhook) read
//! without ever blocking the engine; what changes (a window, an anomaly opened or closed, the findings) is also
//! broadcast as [`LiveEvent`]s. The full report walks every key, so it is built every `report_every` and when a
//! sink asks for one ([`ReportRequests`]), at most every [`REPORT_MIN_INTERVAL`].
//!
//! Threads, no sockets: serving the snapshots is the sinks' business.

pub mod channel;
pub mod detect;
pub mod series;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::TryRecvError;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cachescope_core::report::{FindingCause, Report, Severity};
use cachescope_core::{Engine, Micros, Window};
use cachescope_trace::{TraceFormat, TraceHeader, TraceWriter};
use serde::Serialize;
use tokio::sync::{broadcast, watch};

pub use channel::{EventSink, EventSource, Message, channel};
pub use detect::{Anomaly, AnomalyKind, Change, Detector, cusum::CusumConfig};
pub use series::{Point, Series, SeriesConfig, SeriesStore};

/// How long the thread naps when no event is waiting.
const IDLE: Duration = Duration::from_millis(2);
/// The least time between two reports a sink asked for: a report walks every key.
pub const REPORT_MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Events broadcast and not yet read by the slowest subscriber, at most: past it, that subscriber misses some.
const BROADCAST: usize = 1024;

/// What the live source did.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counters {
    pub events: u64,
    /// Events the engine could not keep up with, dropped rather than slow the traffic.
    pub dropped: u64,
}

/// Everything a sink reads, as of the last window: immutable, shared.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LiveSnapshot {
    /// The end of the last window (event time, µs).
    pub time: Micros,
    pub windows: u64,
    pub window_seconds: f64,
    pub counters: Counters,
    /// Open anomalies, then the recently closed ones, newest first.
    pub anomalies: Vec<Anomaly>,
    #[serde(skip)]
    pub series: Arc<SeriesStore>,
    /// The latest full report (at most `report_every` old, or [`REPORT_MIN_INTERVAL`] when asked for).
    #[serde(skip)]
    pub report: Option<Arc<Report>>,
    /// When that report was built.
    #[serde(skip)]
    pub report_built: Option<Instant>,
}

/// How a sink asks the engine's thread for a fresh report; it comes in the next snapshot.
#[derive(Debug, Clone, Default)]
pub struct ReportRequests(Arc<AtomicBool>);

impl ReportRequests {
    pub fn request(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether a report was asked for since the last call (the engine's side).
    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::Relaxed)
    }
}

/// What changed, for sinks that follow along (server-sent events, webhooks).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    Window { time: Micros, windows: u64 },
    AnomalyOpened { anomaly: Anomaly },
    AnomalyClosed { anomaly: Anomaly },
    FindingsChanged { findings: usize },
}

/// Called with each report whose findings differ from the last one reported.
pub type OnChange = Box<dyn FnMut(&Report, &Counters) + Send>;

/// How the thread runs.
pub struct Options {
    pub series: SeriesConfig,
    pub detector: CusumConfig,
    pub report_every: Duration,
    pub on_change: Option<OnChange>,
    pub record: Option<(PathBuf, TraceFormat, TraceHeader)>,
    /// Event times are the wall clock (a live source): windows also close when no event comes.
    pub wall_clock: bool,
}

/// What the thread gives back when the source stops.
pub struct Final {
    pub report: Report,
    pub counters: Counters,
    /// The recording failed, with why (the analysis went on without it).
    pub record_error: Option<(PathBuf, std::io::Error)>,
}

/// The running live layer: the latest snapshot, the stream of changes, and the thread.
pub struct Live {
    pub snapshots: watch::Receiver<Arc<LiveSnapshot>>,
    pub changes: broadcast::Sender<LiveEvent>,
    pub reports: ReportRequests,
    pub thread: JoinHandle<Final>,
}

impl Live {
    /// Waits for the thread (the source closed its channel) and returns its final report.
    pub fn join(self) -> std::thread::Result<Final> {
        self.thread.join()
    }
}

fn now_micros() -> Micros {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as Micros)
}

/// The state of the thread between windows.
struct Windows {
    store: SeriesStore,
    detector: Detector,
    /// The start of the window being counted; None before the first event.
    start: Option<Micros>,
    count: u64,
    report: Option<Arc<Report>>,
    report_built: Option<Instant>,
}

impl Windows {
    /// Closes the window being counted (and any empty ones until `until`), publishing each.
    fn close_until(&mut self, engine: &mut Engine, until: Micros, publish: &mut dyn FnMut(&Windows, Vec<Change>)) {
        let width = self.store.config().window.max(1);
        while let Some(start) = self.start {
            if until < start + width {
                return;
            }
            let window = engine.take_window();
            self.push(engine, start, &window, publish);
            self.start = Some(start + width);
        }
    }

    fn push(
        &mut self,
        engine: &Engine,
        start: Micros,
        window: &Window,
        publish: &mut dyn FnMut(&Windows, Vec<Change>),
    ) {
        self.store.push(start, window, &|id| engine.pattern_name(id).to_string());
        self.count += 1;
        let changes = self.detector.step(start, window, &self.store, self.report.as_deref());
        publish(self, changes);
    }
}

/// Starts the engine's thread for a live source.
pub fn spawn(mut engine: Engine, source: EventSource, mut options: Options) -> std::io::Result<Live> {
    let mut writer = match &options.record {
        Some((path, format, header)) => Some(TraceWriter::create(path, *format, header)?),
        None => None,
    };
    let record_path = options.record.as_ref().map(|(path, _, _)| path.clone()).unwrap_or_default();
    let (snapshot_sender, snapshots) = watch::channel(Arc::new(LiveSnapshot {
        window_seconds: options.series.window as f64 / 1e6,
        ..LiveSnapshot::default()
    }));
    let (changes, _) = broadcast::channel(BROADCAST);
    let change_sender = changes.clone();
    let reports = ReportRequests::default();
    let requests = reports.clone();
    let thread = std::thread::Builder::new().name("cachescope-engine".into()).spawn(move || {
        let mut counters = Counters::default();
        let mut record_error = None;
        let mut last_signature: Option<Vec<(FindingCause, String, Severity)>> = None;
        let mut next_report = Instant::now() + options.report_every;
        let mut last_report: Option<Instant> = None;
        let width = options.series.window.max(1);
        let mut windows = Windows {
            store: SeriesStore::new(options.series),
            detector: Detector::new(options.detector, width),
            start: None,
            count: 0,
            report: None,
            report_built: None,
        };
        let mut series_shared = Arc::new(SeriesStore::default());
        let mut publish = |w: &Windows, changes: Vec<Change>, counters: &Counters| {
            // Readers hold the previous series for as long as they like: the new one is a copy.
            series_shared = Arc::new(w.store.clone());
            let mut anomalies: Vec<Anomaly> = w.detector.open().cloned().collect();
            anomalies.extend(w.detector.closed().iter().rev().take(50).cloned());
            let time = w.start.unwrap_or(0);
            snapshot_sender.send_replace(Arc::new(LiveSnapshot {
                time,
                windows: w.count,
                window_seconds: width as f64 / 1e6,
                counters: *counters,
                anomalies,
                series: series_shared.clone(),
                report: w.report.clone(),
                report_built: w.report_built,
            }));
            let _ = change_sender.send(LiveEvent::Window { time, windows: w.count });
            for change in changes {
                let event = match change {
                    Change::Opened(anomaly) => LiveEvent::AnomalyOpened { anomaly },
                    Change::Closed(anomaly) => LiveEvent::AnomalyClosed { anomaly },
                };
                let _ = change_sender.send(event);
            }
        };
        loop {
            let message = source.receiver.try_recv();
            match message {
                Ok(Message::CacheCapacity(bytes)) => engine.set_cache_capacity(bytes),
                Ok(Message::Events(batch)) => {
                    for event in &batch {
                        let event = event.as_event();
                        let start = *windows.start.get_or_insert(event.time - event.time % width);
                        if event.time >= start + width {
                            let snapshot_counters = counters;
                            windows.close_until(&mut engine, event.time, &mut |w, changes| {
                                publish(w, changes, &snapshot_counters)
                            });
                        }
                        engine.observe(&event);
                        if let Some(w) = writer.as_mut()
                            && let Err(error) = w.write(&event)
                        {
                            record_error = Some((record_path.clone(), std::io::Error::other(error.to_string())));
                            writer = None;
                        }
                    }
                    counters.events += batch.len() as u64;
                }
                Err(TryRecvError::Empty) => {
                    if options.wall_clock {
                        let snapshot_counters = counters;
                        windows.close_until(&mut engine, now_micros(), &mut |w, changes| {
                            publish(w, changes, &snapshot_counters)
                        });
                    }
                    // Drain what is there, then nap: a receiver blocked on the channel would have every sender
                    // wake it, a system call and a context switch per batch on the source's data path.
                    std::thread::sleep(IDLE.min(next_report.saturating_duration_since(Instant::now())));
                }
                Err(TryRecvError::Disconnected) => break,
            }
            let due = Instant::now() >= next_report;
            let asked = !due && last_report.is_none_or(|at| at.elapsed() >= REPORT_MIN_INTERVAL) && requests.take();
            if due || asked {
                counters.dropped = source.dropped.load(Ordering::Relaxed);
                let report = Arc::new(engine.report());
                let built = Instant::now();
                last_report = Some(built);
                if due {
                    next_report = built + options.report_every;
                    let signature: Vec<_> =
                        report.findings.iter().map(|f| (f.cause, f.pattern.clone(), f.severity)).collect();
                    if last_signature.as_ref() != Some(&signature) && counters.events > 0 {
                        if let Some(on_change) = options.on_change.as_mut() {
                            on_change(&report, &counters);
                        }
                        let _ = change_sender.send(LiveEvent::FindingsChanged { findings: report.findings.len() });
                        last_signature = Some(signature);
                    }
                }
                windows.report = Some(report.clone());
                windows.report_built = Some(built);
                // Published now, not with the next window: whoever asked is waiting for it.
                let previous = snapshot_sender.borrow().clone();
                snapshot_sender.send_replace(Arc::new(LiveSnapshot {
                    report: Some(report),
                    report_built: Some(built),
                    counters,
                    ..(*previous).clone()
                }));
            }
        }
        if let Some(w) = writer
            && let Err(error) = w.finish()
        {
            record_error.get_or_insert((record_path, std::io::Error::other(error.to_string())));
        }
        counters.dropped = source.dropped.load(Ordering::Relaxed);
        Final { report: engine.report(), counters, record_error }
    })?;
    Ok(Live { snapshots, changes, reports, thread })
}
