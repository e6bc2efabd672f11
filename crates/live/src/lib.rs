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
pub mod overview;
pub mod pipeline;
mod runner;
pub mod series;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cachescope_core::report::Report;
use cachescope_core::{Engine, Micros};
use cachescope_trace::{TraceFormat, TraceHeader};
use serde::Serialize;
use tokio::sync::{broadcast, watch};

pub use channel::{EventSink, EventSource, Message, ServerCounters, SourceLosses, channel};
pub use detect::{Anomaly, AnomalyKind, Change, Detector, cusum::CusumConfig};
pub use overview::Overview;
pub use pipeline::Pipeline;
pub use series::{Point, Series, SeriesConfig, SeriesStore};

/// How long the thread naps when no event is waiting, at first.
const IDLE: Duration = Duration::from_millis(2);
/// How long it naps, at most, when none has come for a while: an idle source's engine wakes 20 times a second
/// rather than 500, and a burst after a quiet spell waits no longer than this (the channel holds far more).
const IDLE_LONGEST: Duration = Duration::from_millis(50);
/// The least time between two reports a sink asked for: a report walks every key.
pub const REPORT_MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Markers a snapshot keeps for dashboards.
pub const MARKERS_KEPT: usize = 50;
/// Events broadcast and not yet read by the slowest subscriber, at most: past it, that subscriber misses some.
const BROADCAST: usize = 1024;

/// What the live source did.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counters {
    pub events: u64,
    /// Events the engine could not keep up with, dropped rather than slow the traffic.
    pub dropped: u64,
    /// What the source itself lost, as it last said.
    pub source: SourceLosses,
}

/// Running totals beside the windows' counts, for metrics.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tallies {
    /// Markers taken, by kind (the first word of their label: `deploy`).
    pub markers: BTreeMap<String, u64>,
    /// Anomalies opened, by kind.
    pub anomalies_opened: BTreeMap<&'static str, u64>,
    /// The last markers (time, label), oldest first, at most [`MARKERS_KEPT`].
    pub recent_markers: std::collections::VecDeque<(Micros, String)>,
    /// The server's own counters, summed over its restarts since the start; None when the source does not
    /// watch the server.
    pub server: Option<ServerCounters>,
}

/// Everything a sink reads, as of the last window: immutable, shared.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LiveSnapshot {
    /// The end of the last window (event time, µs).
    pub time: Micros,
    pub windows: u64,
    pub window_seconds: f64,
    /// The source sees misses but not hits (keyspace notifications): reads count misses only, and no hit ratio
    /// is known.
    pub misses_only: bool,
    pub counters: Counters,
    pub tallies: Tallies,
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

impl Options {
    /// Windows as `series` says, the default detector, a report every 10 s; no callback, no recording, event
    /// time only. Sources set what they need on top.
    pub fn new(series: SeriesConfig) -> Self {
        Options {
            series,
            detector: CusumConfig::default(),
            report_every: Duration::from_secs(10),
            on_change: None,
            record: None,
            wall_clock: false,
        }
    }
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

/// Starts the engine's thread for a live source.
pub fn spawn(engine: Engine, source: EventSource, options: Options) -> std::io::Result<Live> {
    let (snapshot_sender, snapshots) = watch::channel(Arc::new(LiveSnapshot {
        window_seconds: options.series.window as f64 / 1e6,
        ..LiveSnapshot::default()
    }));
    let (changes, _) = broadcast::channel(BROADCAST);
    let reports = ReportRequests::default();
    let pipeline = Pipeline::new(engine, options.series, options.detector);
    let runner = runner::Runner::new(pipeline, options, snapshot_sender, changes.clone(), reports.clone())?;
    let thread = std::thread::Builder::new().name("cachescope-engine".into()).spawn(move || runner.run(source))?;
    Ok(Live { snapshots, changes, reports, thread })
}
