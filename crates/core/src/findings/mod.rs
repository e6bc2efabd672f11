//! Findings: from per-pattern statistics to statements an operator can act on.
//!
//! Each detector sits in its own file and looks at an [`Analysis`]: the patterns with their estimated miss
//! causes and key-state totals. Detectors run in a fixed order; a pattern claimed by one (both sides of a key
//! mismatch) is left alone by those that would describe the same problem less precisely. Every finding says
//! which share of all misses it explains, and the report leads with the most severe and the largest.

mod cold_cache;
mod failed_write;
mod key_mismatch;
mod low_hit_ratio;
mod memory_pressure;
mod one_hit_wonder;
mod stampede;
mod thresholds;
mod ttl_too_short;

pub use thresholds::Thresholds;

use std::collections::HashSet;

use crate::engine::{Marker, Stats};
use crate::event::Micros;
use crate::pattern::PatternId;
use crate::report::{Finding, MissCauses};
use crate::sketch::KeyTopK;

/// One pattern, as the detectors see it.
pub(crate) struct PatternView<'a> {
    pub id: PatternId,
    pub name: &'a str,
    pub stats: &'a Stats,
    /// Misses by cause, estimated from the tracked keys and adding up to the pattern's misses.
    pub causes: MissCauses,
    /// Misses whose key was not written again within the refill window (weighted), beside
    /// `stats.refilled_misses`.
    pub unrefilled_misses: f64,
    /// Writes never read (weighted): overwritten unread, plus those still unread at the end.
    pub unread_writes: f64,
    /// Bytes of keys and values read again after a write (weighted): the pattern's working set.
    pub working_set_bytes: f64,
}

impl PatternView<'_> {
    pub fn miss_ratio(&self) -> f64 {
        self.stats.miss_ratio()
    }

    /// Share of this pattern's misses with a cause.
    pub fn cause_share(&self, cause: crate::report::MissCause) -> f64 {
        if self.stats.misses == 0 { 0.0 } else { self.causes.get(cause) as f64 / self.stats.misses as f64 }
    }

    /// Share of the misses not followed by a write of their key: how often the fill path fails.
    pub fn unrefilled_share(&self) -> f64 {
        let total = self.unrefilled_misses + self.stats.refilled_misses;
        if total <= 0.0 { 0.0 } else { self.unrefilled_misses / total }
    }
}

/// Everything the detectors look at.
pub(crate) struct Analysis<'a> {
    pub patterns: Vec<PatternView<'a>>,
    pub reads: u64,
    pub hits: u64,
    pub misses: u64,
    /// Writes stored or refused, all patterns.
    pub write_attempts: u64,
    pub markers: &'a [Marker],
    pub first_time: Micros,
    pub bucket_width: Micros,
    pub cache_capacity: Option<u64>,
    pub thresholds: &'a Thresholds,
    pub top_evicted: &'a KeyTopK,
    pub top_flushed: &'a KeyTopK,
    /// False when the source sees misses only: no hit ratio to judge.
    pub hits_observed: bool,
    /// Hits on keys the trace never wrote are a model's presumption (see `EngineConfig::presumed_held`).
    pub presumed_held: bool,
}

impl Analysis<'_> {
    /// Whether a cause that explains `explained` misses of `p` is worth a finding (see [`Thresholds`]).
    pub fn material(&self, p: &PatternView<'_>, explained: u64) -> bool {
        let t = self.thresholds;
        let e = explained as f64;
        explained >= t.min_misses
            && e >= t.min_share_of_pattern_misses * p.stats.misses as f64
            && e >= t.min_share_of_all_misses * self.misses as f64
    }

    /// The same for a steady cost of running a cache (expirations, evictions): it must also miss a share of the
    /// pattern's reads.
    pub fn material_steady(&self, p: &PatternView<'_>, explained: u64) -> bool {
        self.material(p, explained)
            && explained as f64 >= self.thresholds.min_share_of_pattern_reads * p.stats.reads as f64
    }

    /// The finding, with its share of all misses and a severity from it.
    pub fn finding(&self, draft: Draft) -> Finding {
        draft.finish(self.misses)
    }
}

/// A finding before its share and severity are worked out: the one builder the doctor's checks use too.
pub(crate) type Draft = crate::report::FindingDraft;

/// Patterns a detector has explained: later, vaguer detectors skip them.
#[derive(Default)]
pub(crate) struct Claims {
    pub mismatched_readers: HashSet<PatternId>,
    pub mismatched_writers: HashSet<PatternId>,
    pub failed_fill: HashSet<PatternId>,
    pub with_finding: HashSet<PatternId>,
}

/// Runs every detector and orders the findings: most severe first, then most misses explained.
pub(crate) fn detect(analysis: &Analysis<'_>) -> Vec<Finding> {
    let mut claims = Claims::default();
    let mut findings = Vec::new();
    let mut run = |found: Vec<(PatternId, Finding)>, claims: &mut Claims| {
        for (id, finding) in found {
            claims.with_finding.insert(id);
            findings.push(finding);
        }
    };
    run(key_mismatch::detect(analysis, &mut claims), &mut claims);
    run(failed_write::detect(analysis, &mut claims), &mut claims);
    run(ttl_too_short::detect(analysis), &mut claims);
    run(memory_pressure::detect(analysis), &mut claims);
    run(cold_cache::detect(analysis, &claims), &mut claims);
    run(stampede::detect(analysis, &claims), &mut claims);
    run(one_hit_wonder::detect(analysis, &claims), &mut claims);
    run(low_hit_ratio::detect(analysis, &claims), &mut claims);
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.misses_explained.count.cmp(&a.misses_explained.count))
            .then_with(|| a.pattern.cmp(&b.pattern))
            .then(a.cause.cmp(&b.cause))
    });
    findings
}

/// Renders a pattern for a sentence.
pub(crate) fn quoted(pattern: &str) -> String {
    format!("`{pattern}`")
}

/// Renders keys for a sentence: the first few, lossily decoded.
pub(crate) fn key_list(keys: &[(&[u8], f64)], shown: usize) -> String {
    let mut names: Vec<String> =
        keys.iter().take(shown).map(|(k, _)| String::from_utf8_lossy(k).into_owned()).collect();
    if keys.len() > shown {
        names.push("…".to_string());
    }
    names.join(", ")
}

pub(crate) fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests;
