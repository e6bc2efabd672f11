//! cachescope's doctor: what a live Redis says about its own hit ratio, without watching its traffic.
//!
//! The source (`cachescope doctor`) reads `INFO` twice, an interval apart, and samples keys with a bounded SCAN
//! (TYPE, PTTL, MEMORY USAGE, OBJECT IDLETIME), then follows the sampled keys due to expire soon through their
//! expiry (whether they come back, and how soon: a read after expiry refills them). [`diagnose`] turns that [`Snapshot`] into the same [`Report`]
//! as every other source, with a `server` section, patterns from the sample, and findings under the same cause
//! ids where they apply. No I/O here.

mod checks;
mod expiry;
pub mod info;
pub mod sample;
pub mod server;

use std::collections::BTreeMap;

use cachescope_core::pattern::FoldConfig;
use cachescope_core::report::{
    ExpiryWatchReport, MissCauses, Notes, PatternReport, Quantiles, REPORT_VERSION, Report, ServerReport, Summary,
    TimelineReport, Window,
};
use cachescope_core::sketch::Distribution;

pub use info::Info;
pub use sample::{ExpiryWatch, SampledKey};
pub use server::{Deltas, server_report};

/// What the doctor read from the server.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// `INFO all` at the start and at the end of the interval.
    pub before: Info,
    pub after: Info,
    pub interval_seconds: f64,
    /// The database sampled.
    pub db: u32,
    pub sample: Vec<SampledKey>,
    /// How long the keys of the sample due to expire were watched through it (0: not watched).
    pub expiry_watch_seconds: f64,
    /// What could not be done, and why (`MEMORY USAGE refused: ERR unknown command`).
    pub skipped: Vec<String>,
}

impl Snapshot {
    /// Whether the server restarted between the two readings.
    pub(crate) fn restarted_during(&self) -> bool {
        server::restarted(&self.before, &self.after)
    }

    /// Whether a counter present in both readings went backwards without a restart: CONFIG RESETSTAT.
    pub(crate) fn statistics_reset_during(&self) -> bool {
        !self.restarted_during()
            && ["keyspace_hits", "keyspace_misses", "evicted_keys", "expired_keys", "total_commands_processed"]
                .iter()
                .any(|name| matches!((self.before.number(name), self.after.number(name)), (Some(a), Some(b)) if b < a))
    }

    /// The errors answered during the interval, by kind (`OOM`). After a reset or a restart, those counted since.
    pub(crate) fn errors_during(&self) -> BTreeMap<String, u64> {
        let before = self.before.error_counts();
        let fresh = self.restarted_during() || self.statistics_reset_during();
        self.after
            .error_counts()
            .into_iter()
            .map(|(kind, count)| {
                let earlier = if fresh { 0 } else { before.get(&kind).copied().unwrap_or(0) };
                (kind, count.saturating_sub(earlier))
            })
            .filter(|(_, count)| *count > 0)
            .collect()
    }

    /// The counters' growth over the interval; None when they went backwards (CONFIG RESETSTAT, a restart).
    pub(crate) fn deltas(&self) -> Option<Deltas> {
        Deltas::between(&self.before, &self.after)
    }
}

/// The report of a snapshot. Keys are folded with `fold` (the user's rules, if any).
pub fn diagnose(snapshot: &Snapshot, fold: FoldConfig) -> Report {
    let info = &snapshot.after;
    let deltas = snapshot.deltas();
    let ratio = |hits: u64, misses: u64| (hits + misses > 0).then(|| hits as f64 / (hits + misses) as f64);
    let keys = info.db_keys(snapshot.db);
    let patterns = sample::by_pattern(&snapshot.sample, fold);
    let scale = if snapshot.sample.is_empty() {
        0.0
    } else {
        keys.max(snapshot.sample.len() as u64) as f64 / snapshot.sample.len() as f64
    };

    let mut notes = Vec::new();
    if info.get("role") == Some("slave") {
        notes.push("This is a replica: its hit ratio is that of the reads it serves; memory and eviction checks belong to the primary.".to_string());
    }
    if snapshot.statistics_reset_during() {
        notes.push(
            "The statistics were reset during the check (CONFIG RESETSTAT): the hit ratio now is unknown.".to_string(),
        );
    }
    if !info.has_error_stats() {
        notes.push(
            "The server reports no error statistics (Redis before 6.2): refused writes cannot be counted.".to_string(),
        );
    }
    let server = ServerReport {
        sampled_keys: snapshot.sample.len() as u64,
        expiry_watch: (snapshot.expiry_watch_seconds > 0.0).then(|| {
            let watched: Vec<ExpiryWatch> = snapshot.sample.iter().filter_map(|k| k.expiry).collect();
            ExpiryWatchReport {
                seconds: snapshot.expiry_watch_seconds,
                watched_keys: watched.len() as u64,
                expired: watched.iter().filter(|w| !matches!(w, ExpiryWatch::Refreshed)).count() as u64,
                came_back: watched.iter().filter(|w| matches!(w, ExpiryWatch::Back { .. })).count() as u64,
            }
        }),
        skipped: snapshot.skipped.clone(),
        notes,
        ..server::server_report(&snapshot.before, info, snapshot.interval_seconds, keys)
    };

    let findings = checks::run(snapshot, &server, deltas, &patterns);
    let (hits, misses) = deltas.map_or((0, 0), |d| (d.hits, d.misses));
    let summary = Summary {
        reads: hits + misses,
        hits,
        misses,
        hit_ratio: ratio(hits, misses),
        writes: 0,
        write_errors: 0,
        deletes: 0,
        // The server does not say why its misses happened: they are all `unknown` here.
        miss_causes: MissCauses { unknown: misses, ..MissCauses::default() },
        patterns: patterns.len() as u64,
    };
    let quantiles = |d: &Distribution, scale: f64| -> Option<Quantiles> {
        (!d.is_empty()).then(|| Quantiles {
            count: d.count(),
            mean: d.mean().unwrap_or(0.0) * scale,
            p50: d.quantile(0.5).unwrap_or(0) as f64 * scale,
            p90: d.quantile(0.9).unwrap_or(0) as f64 * scale,
            p99: d.quantile(0.99).unwrap_or(0) as f64 * scale,
            max: d.max().unwrap_or(0) as f64 * scale,
        })
    };
    let patterns = patterns
        .iter()
        .map(|p| PatternReport {
            pattern: p.pattern.clone(),
            distinct_keys: (p.keys as f64 * scale).round() as u64,
            value_bytes: quantiles(&p.memory, 1.0),
            ttl_seconds: quantiles(&p.ttl_ms, 1e-3),
            writes_without_ttl_share: (p.ttl_known > 0).then(|| p.without_ttl() as f64 / p.ttl_known as f64),
            memory_bytes: (!p.memory.is_empty()).then(|| (p.memory_total as f64 * scale).round() as u64),
            idle_seconds: quantiles(&p.idle_seconds, 1.0),
            ..PatternReport::default()
        })
        .collect();
    Report {
        version: REPORT_VERSION,
        source: None,
        window: Window {
            events: deltas.map_or(0, |d| d.commands),
            first_event_us: None,
            last_event_us: None,
            duration_seconds: snapshot.interval_seconds,
        },
        summary,
        patterns,
        findings,
        markers: Vec::new(),
        timeline: TimelineReport::default(),
        notes: Notes {
            initial_state: "unknown".to_string(),
            cache_capacity_bytes: (server.maxmemory_bytes > 0).then_some(server.maxmemory_bytes),
            ..Notes::default()
        },
        server: Some(server),
    }
}

#[cfg(test)]
mod tests;
