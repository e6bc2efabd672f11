//! The JSON contract of `cachescope whatif` (docs/report-schema.md): built by `commands::whatif` and the
//! simulated gains, rendered by the sinks.

use cachescope_core::human;
use cachescope_core::report::SourceInfo;
use cachescope_sim::whatif::Reads;
use serde::Serialize;

/// The JSON contract of `cachescope whatif` (docs/report-schema.md).
#[derive(Debug, Clone, Serialize)]
pub struct WhatifReport {
    pub version: u32,
    pub source: SourceInfo,
    pub before: SettingsReport,
    pub after: SettingsReport,
    pub reads: u64,
    /// The hit ratio the trace recorded, when it recorded outcomes.
    pub observed_hit_ratio: Option<f64>,
    pub summary: Comparison,
    pub evictions: BeforeAfter,
    pub refused_writes: BeforeAfter,
    /// Most changed first.
    pub patterns: Vec<PatternComparison>,
    /// The trace was cut short and read up to the cut (`--skip-bad-lines`): the figures are of the reads before it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cut_short: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SettingsReport {
    /// Bytes, or objects when `unit` is `objects`; null: unbounded.
    pub maxmemory: Option<u64>,
    pub unit: String,
    pub policy: String,
    pub ttls: Vec<TtlReport>,
    pub not_cached: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TtlReport {
    pub keys: String,
    pub ttl_seconds: f64,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct HitRatio {
    pub hits: u64,
    pub hit_ratio: Option<f64>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Comparison {
    pub before: HitRatio,
    pub after: HitRatio,
    /// After minus before, in percentage points.
    pub change_points: Option<f64>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct BeforeAfter {
    pub before: u64,
    pub after: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PatternComparison {
    pub pattern: String,
    pub reads: u64,
    #[serde(flatten)]
    pub comparison: Comparison,
}

impl Comparison {
    /// Before and after, from the reads of two runs.
    pub fn between(before: Reads, after: Reads) -> Comparison {
        let side = |reads: Reads| HitRatio { hits: reads.hits, hit_ratio: reads.hit_ratio() };
        let change_points = match (before.hit_ratio(), after.hit_ratio()) {
            (Some(b), Some(a)) => Some(100.0 * (a - b)),
            _ => None,
        };
        Comparison { before: side(before), after: side(after), change_points }
    }
}

/// Settings as a person reads them: `allkeys-lru, 128 MiB`.
pub fn settings_text(settings: &SettingsReport) -> String {
    let memory = match (settings.maxmemory, settings.unit.as_str()) {
        (None, _) => "unbounded".to_string(),
        (Some(objects), "objects") => format!("{} objects", human::count(objects)),
        (Some(bytes), _) => human::bytes(bytes as f64),
    };
    let mut parts = vec![format!("{}, {memory}", settings.policy)];
    parts.extend(
        settings.ttls.iter().map(|t| format!("TTL {} for {}", human::duration((t.ttl_seconds * 1e6) as u64), t.keys)),
    );
    parts.extend(settings.not_cached.iter().map(|k| format!("{k} not cached")));
    parts.join(" · ")
}
