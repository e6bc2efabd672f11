//! The JSON contract of `cachescope mrc` (docs/report-schema.md): built by `commands::mrc`, rendered by the
//! sinks.

use cachescope_core::human;
use cachescope_core::report::SourceInfo;
use serde::Serialize;

/// The JSON contract of `cachescope mrc` (docs/report-schema.md).
#[derive(Debug, Clone, Serialize)]
pub struct CurveReport {
    pub version: u32,
    pub source: SourceInfo,
    /// `exact`, `shards-fixed-rate` or `shards-fixed-size`.
    pub method: String,
    /// The share of keys followed at the end (1 when exact).
    pub sampling_rate: f64,
    pub tracked_keys: u64,
    /// `bytes` or `objects`.
    pub unit: String,
    pub reads: u64,
    /// Past this size nothing more hits: the reads that still miss are first reads, or of keys expired, deleted
    /// or never written.
    pub max_useful_size: u64,
    /// The hit ratio at `max_useful_size`.
    pub best_hit_ratio: f64,
    pub current_size: Option<u64>,
    pub current_hit_ratio: Option<f64>,
    pub points: Vec<Point>,
    /// The smallest size reaching each hit ratio, for the hit ratios within reach.
    pub sizes_for_hit_ratio: Vec<SizeForHitRatio>,
    pub patterns: Vec<PatternPoints>,
    /// The trace was cut short and read up to the cut (`--skip-bad-lines`): the curves are of the reads before it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cut_short: bool,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Point {
    pub size: u64,
    pub miss_ratio: f64,
    pub hit_ratio: f64,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct SizeForHitRatio {
    pub hit_ratio: f64,
    pub size: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PatternPoints {
    pub pattern: String,
    /// Reads of the pattern (estimated under sampling).
    pub reads: u64,
    pub points: Vec<Point>,
    /// The pattern's hit ratio at the current size.
    pub current_hit_ratio: Option<f64>,
}

/// A size in the curve's unit, for people.
pub fn size_text(size: u64, objects: bool) -> String {
    if objects { format!("{} objects", human::count(size)) } else { human::bytes(size as f64) }
}
