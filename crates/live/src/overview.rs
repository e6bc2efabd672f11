//! What a dashboard shows, in one value: the whole cache's points over the horizon, each pattern's totals and
//! last window, the anomalies and the recent markers. Built from a snapshot; served as `/api/overview` and read
//! back by `cachescope top` attached to a running instance, so that both views show the same numbers.

use cachescope_core::{Micros, WindowCounts};
use serde::{Deserialize, Serialize};

use crate::{Anomaly, LiveSnapshot};

/// One point of a series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Tick {
    pub start: Micros,
    pub span: Micros,
    #[serde(flatten)]
    pub counts: WindowCounts,
}

/// A pattern's miss ratios an overview carries: its last ten minutes of 10 s windows (an overview is fetched
/// every second by every dashboard; a pattern's whole series is at `/api/series`).
pub const RECENT_RATIOS: usize = 60;

/// One pattern: its counts since the start, in its last window, and its miss ratio window by window (the last
/// [`RECENT_RATIOS`] windows), oldest first (None where it had no answered read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatternRow {
    pub name: String,
    pub total: WindowCounts,
    pub last: WindowCounts,
    pub miss_ratios: Vec<Option<f64>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    /// The start of the last window closed (event time, µs), and the windows closed so far.
    pub time: Micros,
    pub windows: u64,
    pub window_seconds: f64,
    /// The source sees misses but not hits: no hit ratio is known (reads count misses only).
    #[serde(default)]
    pub misses_only: bool,
    pub events: u64,
    pub dropped: u64,
    /// The whole cache over the horizon, oldest first (points older than an hour cover several windows).
    pub global: Vec<Tick>,
    pub patterns: Vec<PatternRow>,
    /// Open anomalies, then the recently closed, newest first.
    pub anomalies: Vec<Anomaly>,
    /// The recent markers (time, label), oldest first.
    pub markers: Vec<(Micros, String)>,
}

impl Overview {
    pub fn of(snapshot: &LiveSnapshot) -> Overview {
        let series = &snapshot.series;
        let patterns = series
            .patterns()
            .map(|(name, s)| PatternRow {
                name: name.clone(),
                total: series.total(name).copied().unwrap_or_default(),
                last: s.last(1).next().map(|p| p.counts).unwrap_or_default(),
                miss_ratios: s.last(RECENT_RATIOS).map(|p| p.counts.miss_ratio()).collect(),
            })
            .collect();
        Overview {
            time: snapshot.time,
            windows: snapshot.windows,
            window_seconds: snapshot.window_seconds,
            misses_only: snapshot.misses_only,
            events: snapshot.counters.events,
            dropped: snapshot.counters.dropped,
            global: series.global.points().map(|p| Tick { start: p.start, span: p.span, counts: p.counts }).collect(),
            patterns,
            anomalies: snapshot.anomalies.clone(),
            markers: snapshot.tallies.recent_markers.iter().cloned().collect(),
        }
    }
}
