//! Building a [`Report`] from the engine's state: estimated miss causes, a walk over the tracked keys for what
//! only the end of the trace can tell (misses never refilled, writes never read, the working set), the
//! findings, and the serialisable figures. The same build serves one engine and shards merged
//! ([`super::Partial`]): both hand it their [`Parts`].

use crate::event::{MICROS_PER_SEC, Micros};
use crate::findings::{self, Analysis, PatternView};
use crate::pattern::PatternId;
use crate::report::{
    MarkerReport, MissCause, MissCauses, Notes, PatternOverflow, PatternReport, Quantiles, REPORT_VERSION, Report,
    Sampling, Summary, TimelineReport, Window,
};
use crate::sketch::{Distribution, KeyTopK, Timeline};

use super::keys::flags;
use super::stats::PatternStats;
use super::{Clock, Engine, EngineConfig, Marker, MarkerKind};

/// What the walk over tracked keys finds for one pattern (weighted).
#[derive(Debug, Default, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct KeyTotals {
    pub unrefilled_misses: f64,
    pub unread_writes: f64,
    pub working_set_bytes: f64,
}

impl KeyTotals {
    pub fn add(&mut self, other: &KeyTotals) {
        self.unrefilled_misses += other.unrefilled_misses;
        self.unread_writes += other.unread_writes;
        self.working_set_bytes += other.working_set_bytes;
    }
}

/// One pattern as the report sees it: `id` is what the top-key sketches label its keys with.
pub(crate) struct PatternPart<'a> {
    pub id: PatternId,
    pub name: &'a str,
    pub stats: &'a PatternStats,
    pub totals: KeyTotals,
}

/// Everything a report is built from.
pub(crate) struct Parts<'a> {
    pub config: &'a EngineConfig,
    pub clock: Clock,
    pub events: u64,
    pub skipped_lines: u64,
    pub markers: &'a [Marker],
    pub timeline: &'a Timeline,
    pub patterns: Vec<PatternPart<'a>>,
    pub top_evicted: &'a KeyTopK,
    pub top_flushed: &'a KeyTopK,
    pub sampling: Option<Sampling>,
    pub pattern_overflow: Option<PatternOverflow>,
}

/// Misses and writes this close to the end may still be refilled or read: not counted against the pattern.
/// Returns the grace for refills and the one for reads.
pub(crate) fn graces(clock: &Clock) -> (Micros, Micros) {
    let duration = clock.last.saturating_sub(clock.first.unwrap_or(0));
    ((5 * MICROS_PER_SEC).min(duration / 20), (60 * MICROS_PER_SEC).min(duration / 10))
}

impl Engine {
    /// The walk over the tracked keys, per pattern id.
    pub(crate) fn key_totals(&self) -> Vec<KeyTotals> {
        let (refill_grace, unread_grace) = graces(&self.clock);
        walk_keys(self, self.clock.last, refill_grace, unread_grace)
    }

    pub(crate) fn sampling(&self) -> Option<Sampling> {
        (self.keys.rate() < 1.0).then(|| Sampling {
            rate: self.keys.rate(),
            tracked_keys: self.keys.len() as u64,
            budget_bytes: self.keys.budget_bytes() as u64,
        })
    }

    pub(crate) fn pattern_overflow(&self) -> Option<PatternOverflow> {
        self.table
            .overflowed()
            .map(|overflowed_keys| PatternOverflow { max_patterns: self.table.max_patterns() as u64, overflowed_keys })
    }
}

pub(super) fn build_from_engine(engine: &Engine) -> Report {
    let totals = engine.key_totals();
    let patterns = engine
        .table
        .live_ids()
        .filter_map(|id| {
            let stats = engine.stats.get(id as usize)?;
            let totals = totals.get(id as usize).copied().unwrap_or_default();
            Some(PatternPart { id, name: engine.table.name(id), stats, totals })
        })
        .collect();
    build(Parts {
        config: &engine.config,
        clock: engine.clock,
        events: engine.events,
        skipped_lines: engine.skipped_lines,
        markers: &engine.markers.list,
        timeline: &engine.timeline,
        patterns,
        top_evicted: &engine.top_evicted,
        top_flushed: &engine.top_flushed,
        sampling: engine.sampling(),
        pattern_overflow: engine.pattern_overflow(),
    })
}

pub(crate) fn build(parts: Parts<'_>) -> Report {
    let first = parts.clock.first.unwrap_or(0);
    let last = parts.clock.last;
    let duration = last.saturating_sub(first);

    let mut views = Vec::new();
    for part in parts.patterns.iter().filter(|p| !p.stats.is_empty()) {
        let (stats, key_totals) = (part.stats, part.totals);
        views.push(PatternView {
            id: part.id,
            name: part.name,
            stats,
            causes: estimate_causes(stats),
            unrefilled_misses: key_totals.unrefilled_misses + stats.unrefilled_misses,
            unread_writes: stats.unread_writes + key_totals.unread_writes,
            working_set_bytes: key_totals.working_set_bytes,
        });
    }

    let mut summary = Summary::default();
    for view in &views {
        summary.reads += view.stats.reads;
        summary.hits += view.stats.hits;
        summary.misses += view.stats.misses;
        summary.writes += view.stats.writes;
        summary.write_errors += view.stats.write_errors;
        summary.deletes += view.stats.deletes;
        summary.miss_causes.add(&view.causes);
    }
    let config = parts.config;
    let hits_observed = config.hits_observed;
    summary.hit_ratio = ratio(summary.hits, summary.hits + summary.misses).filter(|_| hits_observed);
    summary.patterns = views.len() as u64;

    let analysis = Analysis {
        reads: summary.reads,
        hits: summary.hits,
        misses: summary.misses,
        write_attempts: summary.writes + summary.write_errors,
        markers: parts.markers,
        first_time: first,
        bucket_width: parts.clock.bucket_width,
        cache_capacity: config.cache_capacity,
        thresholds: &config.thresholds,
        top_evicted: parts.top_evicted,
        top_flushed: parts.top_flushed,
        hits_observed,
        presumed_held: config.presumed_held,
        patterns: views,
    };
    let findings = findings::detect(&analysis);

    let mut patterns: Vec<PatternReport> = analysis
        .patterns
        .iter()
        .map(|view| PatternReport {
            hit_ratio: view.stats.hit_ratio().filter(|_| hits_observed),
            ..pattern_report(view)
        })
        .collect();
    patterns
        .sort_by(|a, b| b.misses.cmp(&a.misses).then(b.reads.cmp(&a.reads)).then_with(|| a.pattern.cmp(&b.pattern)));

    let unobserved = analysis.patterns.iter().map(|p| p.stats.unobserved).sum();
    Report {
        version: REPORT_VERSION,
        source: None,
        window: Window {
            events: parts.events,
            first_event_us: parts.clock.first,
            last_event_us: parts.clock.first.map(|_| last),
            duration_seconds: duration as f64 / 1e6,
        },
        summary,
        patterns,
        findings,
        markers: parts
            .markers
            .iter()
            .map(|m| MarkerReport {
                offset_seconds: m.time.saturating_sub(first) as f64 / 1e6,
                time_us: m.time,
                kind: m.kind.as_str().to_string(),
                db: (m.kind == MarkerKind::FlushDb).then_some(m.db),
                node: (m.node != 0).then_some(m.node),
                label: m.label.clone(),
            })
            .collect(),
        timeline: TimelineReport {
            bucket_seconds: parts.clock.bucket_width as f64 / 1e6,
            buckets: parts.timeline.buckets().to_vec(),
        },
        notes: Notes {
            sampling: parts.sampling,
            pattern_overflow: parts.pattern_overflow,
            skipped_lines: parts.skipped_lines,
            cut_short: false,
            unobserved_events: unobserved,
            hits_observed,
            presumed_held: config.presumed_held,
            capture: None,
            initial_state: config.initial_state.as_str().to_string(),
            cache_capacity_bytes: config.cache_capacity,
        },
        server: None,
    }
}

fn walk_keys(engine: &Engine, last: Micros, refill_grace: Micros, unread_grace: Micros) -> Vec<KeyTotals> {
    let weight = engine.keys.weight();
    let stamps = engine.stamps();
    let mut totals = vec![KeyTotals::default(); engine.table.len()];
    for state in engine.keys.iter() {
        let pattern = engine.table.canonical(state.pattern) as usize;
        let Some(total) = totals.get_mut(pattern) else {
            continue;
        };
        let first_pending_miss = stamps.time(state.first_pending_miss).unwrap_or(0);
        if state.pending_misses > 0 && first_pending_miss.saturating_add(refill_grace) <= last {
            total.unrefilled_misses += f64::from(state.pending_misses) * weight;
        }
        if state.has(flags::WRITTEN)
            && !state.has(flags::READ_SINCE_WRITE)
            && state.last_write.saturating_add(unread_grace) <= last
        {
            total.unread_writes += weight;
        }
        // The working set: keys read again after a write and still there, as far as the engine knows (not found
        // missing, deleted or expired since).
        let live = state.absence().is_none()
            && !state.has(flags::DELETED)
            && (state.expires_at == 0 || state.expires_at > last);
        if state.has(flags::REREAD) && live {
            total.working_set_bytes += state.size() as f64 * weight;
        }
    }
    totals
}

/// Misses by cause: the tracked keys' weighted causes, scaled to the pattern's exact miss count (largest
/// remainders, so they add up).
fn estimate_causes(stats: &PatternStats) -> MissCauses {
    let mut causes = MissCauses::default();
    let weights = stats.cause_weights;
    let total: f64 = weights.iter().sum();
    if stats.misses == 0 {
        return causes;
    }
    if total <= 0.0 {
        causes.unknown = stats.misses;
        return causes;
    }
    let exact: Vec<f64> = weights.iter().map(|w| w / total * stats.misses as f64).collect();
    let mut counts: Vec<u64> = exact.iter().map(|e| e.floor() as u64).collect();
    let mut rest = stats.misses - counts.iter().sum::<u64>();
    let mut order: Vec<usize> = (0..exact.len()).collect();
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())));
    for i in order {
        if rest == 0 {
            break;
        }
        if exact[i] > 0.0 {
            counts[i] += 1;
            rest -= 1;
        }
    }
    for (cause, count) in MissCause::ALL.into_iter().zip(counts) {
        *causes.get_mut(cause) = count;
    }
    causes
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn quantiles(distribution: &Distribution, scale: f64) -> Option<Quantiles> {
    let q = |p: f64| distribution.quantile(p).unwrap_or(0) as f64 * scale;
    (!distribution.is_empty()).then(|| Quantiles {
        count: distribution.count(),
        mean: distribution.mean().unwrap_or(0.0) * scale,
        p50: q(0.5),
        p90: q(0.9),
        p99: q(0.99),
        max: distribution.max().unwrap_or(0) as f64 * scale,
    })
}

fn pattern_report(view: &PatternView<'_>) -> PatternReport {
    let stats = view.stats;
    let ttl_writes = stats.ttl_ms.count() + stats.writes_without_ttl;
    PatternReport {
        pattern: view.name.to_string(),
        reads: stats.reads,
        hits: stats.hits,
        misses: stats.misses,
        hit_ratio: stats.hit_ratio(),
        writes: stats.writes,
        write_errors: stats.write_errors,
        deletes: stats.deletes,
        distinct_keys: stats.distinct.estimate().round() as u64,
        miss_causes: view.causes,
        value_bytes: quantiles(&stats.value_bytes, 1.0),
        ttl_seconds: quantiles(&stats.ttl_ms, 1e-3),
        writes_without_ttl_share: ratio(stats.writes_without_ttl, ttl_writes),
        reaccess_seconds: quantiles(&stats.reaccess_ms, 1e-3),
        timeline: stats.timeline.buckets().to_vec(),
        memory_bytes: None,
        idle_seconds: None,
    }
}
