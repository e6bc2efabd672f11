//! Anomalies, as they happen: each window goes through a change detector per series ([`cusum`]), and what they
//! flag becomes an anomaly an operator can act on, with its start, its size, the finding that explains it, and
//! the deploy marker it follows, if any. It closes when the series is back to its baseline, and says so.
//!
//! The kinds: a fall of the hit ratio (the whole cache's, or a pattern's); a jump in the share of reads that miss
//! for one cause (expired, evicted, never written, failed write: an eviction storm is a jump in evictions); a new
//! pattern that only misses (a deploy that changed a key format); refused writes appearing; a restart or a flush
//! (from the source itself: opened at once, closed when the hit ratio is back).

pub mod cusum;
mod explain;

use std::collections::BTreeMap;

use cachescope_core::report::Report;
use cachescope_core::{FlushScope, Micros, MissCause, Window};
use serde::{Deserialize, Serialize};

use crate::series::SeriesStore;
use cusum::{Cusum, CusumConfig, Step};

pub use explain::clock;

/// What kind of anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    HitRatioFall,
    /// The share of reads that miss for one cause jumped (evicted: an eviction storm).
    CauseJump,
    /// A pattern new in the traffic whose reads nearly all miss.
    NewPattern,
    WriteErrors,
    Restart,
    Flush,
}

impl AnomalyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyKind::HitRatioFall => "hit_ratio_fall",
            AnomalyKind::CauseJump => "cause_jump",
            AnomalyKind::NewPattern => "new_pattern",
            AnomalyKind::WriteErrors => "write_errors",
            AnomalyKind::Restart => "restart",
            AnomalyKind::Flush => "flush",
        }
    }
}

/// An anomaly, open or closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    pub id: u64,
    pub kind: AnomalyKind,
    /// `*` for the whole cache, else the pattern.
    pub series: String,
    /// For a cause jump: the cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<MissCause>,
    /// When it started (the first window of the shift), and when it was flagged and closed (event time, µs).
    pub started_at: Micros,
    pub flagged_at: Micros,
    pub closed_at: Option<Micros>,
    /// The rate watched (a miss ratio, or a share of reads) before, at its worst, and now.
    pub baseline: f64,
    pub peak: f64,
    pub current: f64,
    /// The deploy marker it follows, and how many windows after it it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_marker: Option<(String, u64)>,
    /// What happened and what to do, in one sentence.
    pub text: String,
}

impl Anomaly {
    pub fn is_open(&self) -> bool {
        self.closed_at.is_none()
    }
}

/// What changed with a window.
#[derive(Debug, Clone)]
pub enum Change {
    Opened(Anomaly),
    Closed(Anomaly),
}

/// The causes whose share of reads is watched.
const WATCHED_CAUSES: [MissCause; 4] =
    [MissCause::Expired, MissCause::Evicted, MissCause::NeverWritten, MissCause::FailedWrite];

/// Which detector an open anomaly belongs to: its series and, for a cause jump, the cause (None for those
/// opened from events, such as a restart).
type DetectorKey = Option<(AnomalyKind, String, Option<MissCause>)>;

/// The least rise of one pattern's miss ratio that is an anomaly: ten points.
const PATTERN_MIN_EFFECT: f64 = 0.10;

/// Refused writes beyond the baseline that make an anomaly, at least, and the write attempts a judgement needs.
const WRITE_ERRORS_MIN_EXCESS: f64 = 3.0;
const WRITE_ERRORS_MIN_ATTEMPTS: u64 = 3;

/// Closed anomalies kept for the API.
const KEPT_CLOSED: usize = 200;

/// Every series' detector, and the anomalies.
#[derive(Debug, Default)]
pub struct Detector {
    config: CusumConfig,
    window: Micros,
    global: Cusum,
    causes: BTreeMap<MissCause, Cusum>,
    write_errors: Cusum,
    patterns: BTreeMap<String, Cusum>,
    /// Patterns seen so far, and the window each was first seen.
    seen: BTreeMap<String, u64>,
    windows: u64,
    /// The latest deploy marker: its label and window.
    marker: Option<(String, u64)>,
    open: Vec<(Anomaly, DetectorKey)>,
    closed: Vec<Anomaly>,
    next_id: u64,
    /// A restart or a flush under way, whose consequences are its own and not anomalies apart.
    emptied: Option<Emptied>,
}

/// A restart or a flush whose anomaly is open.
#[derive(Debug)]
struct Emptied {
    id: u64,
    /// When it happened, and the whole cache's miss ratio before it.
    at: Micros,
    before: f64,
    /// The series whose miss ratio rose with it, most first.
    hit: Vec<String>,
}

/// Whether a flush or a restart caused most of a series' misses beyond its baseline miss ratio, in its last
/// window.
fn flush_explains(series: &SeriesStore, name: &str, baseline: f64) -> bool {
    let one = if name == "*" { Some(&series.global) } else { series.pattern(name) };
    let Some(point) = one.and_then(|s| s.last(1).next()) else { return false };
    let c = &point.counts;
    let excess = c.misses as f64 - baseline * (c.hits + c.misses) as f64;
    excess > 0.0 && c.cause(MissCause::Flushed) >= 0.5 * excess
}

impl Detector {
    pub fn new(config: CusumConfig, window: Micros) -> Self {
        Detector { config, window, ..Detector::default() }
    }

    pub fn open(&self) -> impl Iterator<Item = &Anomaly> {
        self.open.iter().map(|(a, _)| a)
    }

    pub fn closed(&self) -> &[Anomaly] {
        &self.closed
    }

    /// Takes the window that starts at `start` (already added to `series`), with the latest full report for the
    /// findings that explain what is flagged.
    pub fn step(
        &mut self,
        start: Micros,
        window: &Window,
        series: &SeriesStore,
        report: Option<&Report>,
    ) -> Vec<Change> {
        self.windows += 1;
        let config = self.config;
        let mut changes = Vec::new();
        if let Some((_, label)) = window.labels.last() {
            self.marker = Some((label.clone(), self.windows));
        }
        let g = &window.global;
        let answered = g.hits + g.misses;

        // Restarts and flushes are seen, not inferred.
        if let Some(&(time, scope, db)) = window.flushes.last() {
            let kind = if scope == FlushScope::Restart { AnomalyKind::Restart } else { AnomalyKind::Flush };
            let before = self.global.baseline(&config).unwrap_or(0.0);
            let what = match scope {
                FlushScope::Restart => "the server restarted".to_string(),
                FlushScope::All => "FLUSHALL".to_string(),
                FlushScope::Db => format!("FLUSHDB of db {db}"),
            };
            let anomaly = self.anomaly(kind, "*", None, time, start, before, g.miss_ratio().unwrap_or(before));
            let mut anomaly = anomaly;
            anomaly.text = format!(
                "{what} at {}: the cache is empty and refills; misses will be high until it is warm",
                clock(time)
            );
            self.emptied = Some(Emptied { id: anomaly.id, at: time, before, hit: Vec::new() });
            changes.push(Change::Opened(anomaly.clone()));
            self.open.push((anomaly, None));
        }
        // Back once a whole window after it is: the window of the flush itself may hold a second of it.
        if let Some(emptied) = &self.emptied
            && start >= emptied.at
            && let Some(rate) = g.miss_ratio()
            && answered >= config.min_reads
            && rate <= emptied.before + config.min_effect / 2.0
        {
            let Emptied { id, hit, .. } = self.emptied.take().expect("checked just above");
            let why = match hit.as_slice() {
                [] => "the hit ratio is back".to_string(),
                names => {
                    let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
                    let more = if names.len() > 5 { format!(" and {} more", names.len() - 5) } else { String::new() };
                    format!("the hit ratio is back (it fell most on {}{more})", shown.join(", "))
                }
            };
            if let Some(closed) = self.close(id, start + self.window, rate, &why) {
                changes.push(Change::Closed(closed));
            }
        }

        // The whole cache's miss ratio.
        let step = self.global.step(g.misses as f64, answered, &config);
        changes.extend(self.judge(step, AnomalyKind::HitRatioFall, "*", None, start, series, report));
        // The share of reads that miss for each cause.
        for cause in WATCHED_CAUSES {
            let detector = self.causes.entry(cause).or_default();
            let step = detector.step(g.cause(cause), answered, &config);
            changes.extend(self.judge(step, AnomalyKind::CauseJump, "*", Some(cause), start, series, report));
        }
        // Refused writes.
        let attempts = g.writes + g.write_errors;
        // A healthy cache refuses no write: a handful of refusals is already news, also where writes are few.
        let write_config =
            CusumConfig { min_excess: WRITE_ERRORS_MIN_EXCESS, min_reads: WRITE_ERRORS_MIN_ATTEMPTS, ..config };
        let step = self.write_errors.step(g.write_errors as f64, attempts, &write_config);
        changes.extend(self.judge(step, AnomalyKind::WriteErrors, "*", None, start, series, report));
        // Each pattern's miss ratio, and patterns new and only missing.
        for (name, pattern_series) in series.patterns() {
            let Some(point) = pattern_series.last(1).next() else { continue };
            let c = &point.counts;
            let answered = c.hits + c.misses;
            let first_seen = *self.seen.entry(name.clone()).or_insert(if answered > 0 { self.windows } else { 0 });
            if first_seen == 0 && answered > 0 {
                self.seen.insert(name.clone(), self.windows);
            }
            let detector = self.patterns.entry(name.clone()).or_default();
            // One pattern's fall must be larger than the whole cache's to matter on its own.
            let pattern_config = CusumConfig { min_effect: config.min_effect.max(PATTERN_MIN_EFFECT), ..config };
            let step = detector.step(c.misses as f64, answered, &pattern_config);
            changes.extend(self.judge(step, AnomalyKind::HitRatioFall, name, None, start, series, report));
            let new = self.windows > u64::from(config.warmup) && self.seen[name] + 2 >= self.windows;
            let only_misses = answered >= config.min_reads && c.misses as f64 >= 0.9 * answered as f64;
            let flagged = self.open.iter().any(|(a, _)| a.series == *name && a.kind == AnomalyKind::NewPattern)
                || self.closed.iter().any(|a| a.series == *name && a.kind == AnomalyKind::NewPattern);
            if new && only_misses && !flagged {
                let rate = c.misses as f64 / answered as f64;
                let mut anomaly = self.anomaly(AnomalyKind::NewPattern, name, None, start, start, 0.0, rate);
                anomaly.text = explain::new_pattern(&anomaly, report);
                changes.push(Change::Opened(anomaly.clone()));
                self.open.push((anomaly, Some((AnomalyKind::NewPattern, name.clone(), None))));
            }
        }
        // A new pattern's anomaly closes when it stops only missing (or goes quiet).
        let closing: Vec<(u64, f64)> = self
            .open
            .iter()
            .filter(|(a, _)| a.kind == AnomalyKind::NewPattern)
            .filter_map(|(a, _)| {
                let point = series.pattern(&a.series)?.last(1).next()?;
                let rate = point.counts.miss_ratio().unwrap_or(0.0);
                (rate < 0.5).then_some((a.id, rate))
            })
            .collect();
        for (id, rate) in closing {
            if let Some(closed) = self.close(id, start + self.window, rate, "its reads hit again") {
                changes.push(Change::Closed(closed));
            }
        }
        changes
    }

    #[allow(clippy::too_many_arguments)]
    fn judge(
        &mut self,
        step: Step,
        kind: AnomalyKind,
        name: &str,
        cause: Option<MissCause>,
        start: Micros,
        series: &SeriesStore,
        report: Option<&Report>,
    ) -> Vec<Change> {
        let key = (kind, name.to_string(), cause);
        match step {
            Step::Quiet => Vec::new(),
            // A series falling because a flush or a restart emptied it is that event's consequence, not an
            // anomaly of its own: the event's anomaly names it.
            Step::Opened { baseline, .. }
                if kind == AnomalyKind::HitRatioFall
                    && self.emptied.is_some()
                    && flush_explains(series, name, baseline) =>
            {
                if let Some(emptied) = self.emptied.as_mut()
                    && name != "*"
                {
                    emptied.hit.push(name.to_string());
                }
                Vec::new()
            }
            Step::Opened { start_offset, baseline, rate } => {
                let started = start.saturating_sub(u64::from(start_offset) * self.window);
                let mut anomaly = self.anomaly(kind, name, cause, started, start, baseline, rate);
                anomaly.text = explain::opened(&anomaly, series, report);
                self.open.push((anomaly.clone(), Some(key)));
                vec![Change::Opened(anomaly)]
            }
            Step::Ongoing { rate } => {
                if let Some((anomaly, _)) = self.open.iter_mut().find(|(_, k)| k.as_ref() == Some(&key)) {
                    anomaly.current = rate;
                    anomaly.peak = anomaly.peak.max(rate);
                }
                Vec::new()
            }
            Step::Closed { rate } => {
                let id = self.open.iter().find(|(_, k)| k.as_ref() == Some(&key)).map(|(a, _)| a.id);
                let closed = id.and_then(|id| self.close(id, start + self.window, rate, "back to its baseline"));
                closed.map(Change::Closed).into_iter().collect()
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn anomaly(
        &mut self,
        kind: AnomalyKind,
        series: &str,
        cause: Option<MissCause>,
        started_at: Micros,
        flagged_at: Micros,
        baseline: f64,
        rate: f64,
    ) -> Anomaly {
        self.next_id += 1;
        let after_marker = self.marker.as_ref().map(|(label, at)| (label.clone(), self.windows.saturating_sub(*at)));
        Anomaly {
            id: self.next_id,
            kind,
            series: series.to_string(),
            cause,
            started_at,
            flagged_at,
            closed_at: None,
            baseline,
            peak: rate,
            current: rate,
            after_marker: after_marker.filter(|(_, windows)| *windows <= 6),
            text: String::new(),
        }
    }

    fn close(&mut self, id: u64, at: Micros, rate: f64, why: &str) -> Option<Anomaly> {
        let index = self.open.iter().position(|(a, _)| a.id == id)?;
        let (mut anomaly, _) = self.open.remove(index);
        anomaly.closed_at = Some(at);
        anomaly.current = rate;
        anomaly.text = format!("{} Closed at {}: {why}.", anomaly.text, clock(at));
        self.closed.push(anomaly.clone());
        if self.closed.len() > KEPT_CLOSED {
            self.closed.remove(0);
        }
        Some(anomaly)
    }
}
