//! The report: what the engine concludes, as plain data. Serialised to JSON it is a contract other tools read,
//! documented in `docs/report-schema.md`; bump [`REPORT_VERSION`] on any change that is not an addition.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::sketch::TimelineBucket;

pub const REPORT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// Schema version of this document.
    pub version: u32,
    /// What fed the engine; filled in by the program that ran it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceInfo>,
    pub window: Window,
    pub summary: Summary,
    /// Most misses first.
    pub patterns: Vec<PatternReport>,
    /// Most severe first, then most misses explained.
    pub findings: Vec<Finding>,
    /// Flushes, restarts and deploy markers seen, in time order.
    pub markers: Vec<MarkerReport>,
    pub timeline: TimelineReport,
    pub notes: Notes,
    /// What `cachescope doctor` read from the server itself; absent for traces and the proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerReport>,
}

/// A live server's state, as `cachescope doctor` measured it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ServerReport {
    /// `redis 7.0.15`, `valkey 8.0.1`.
    pub version: String,
    /// `master` or `slave`, as INFO says.
    pub role: String,
    pub uptime_seconds: u64,
    pub used_memory_bytes: u64,
    /// 0: no limit.
    pub maxmemory_bytes: u64,
    pub maxmemory_policy: String,
    /// Over the sampling interval: hits / (hits + misses); null without reads.
    pub hit_ratio_now: Option<f64>,
    /// Since the server started or its statistics were reset.
    pub hit_ratio_since_start: Option<f64>,
    pub evictions_per_second: f64,
    pub expirations_per_second: f64,
    pub commands_per_second: f64,
    pub interval_seconds: f64,
    /// Keys in the database checked, and how many of them were sampled.
    pub keys: u64,
    pub sampled_keys: u64,
    /// Sampled keys due to expire soon, watched through their expiry; absent when the watch was off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_watch: Option<ExpiryWatchReport>,
    /// `watch`: the times its key events were lost (disconnected, or dropped by the server as a slow subscriber).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<EventGap>,
    /// Commands the server refused (disabled or renamed on managed services), and what was skipped for it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
    /// Facts worth knowing that are not findings (a replica, statistics reset during the check).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// What a packet capture could and could not follow, beyond its events: so that no loss is silent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CaptureNotes {
    /// The cache's ports, given or found in the traffic.
    pub ports: Vec<u16>,
    pub connections: u64,
    /// Connections already open when the capture began: followed from their first safe point.
    pub joined_open: u64,
    /// Connections that began with a TLS handshake: encrypted, not read.
    pub tls_connections: u64,
    /// Holes in a connection's bytes that never filled (packets the capture dropped), and their bytes.
    pub gaps: u64,
    pub gap_bytes: u64,
    /// Segments that came out of order, and those that came again (retransmissions).
    pub out_of_order: u64,
    pub retransmitted: u64,
    /// Times following resumed after a join or a gap, and the bytes skipped meanwhile.
    pub resyncs: u64,
    pub skipped_bytes: u64,
    /// Streams the RESP scanners could not follow.
    pub unreadable: u64,
    pub commands: u64,
    /// Live capture only: packets the kernel dropped because the capture could not keep up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_drops: Option<u64>,
}

/// A time a live source lost events.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EventGap {
    /// When the loss began, in microseconds since the Unix epoch.
    pub start_us: u64,
    pub seconds: f64,
    pub reason: String,
    /// The node whose events were lost (`host:port`), when several are followed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// The doctor's expiry watch: sampled keys due to expire, followed through it for `seconds`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ExpiryWatchReport {
    pub seconds: f64,
    /// Keys followed, those that expired, and those of them written again before the watch ended.
    pub watched_keys: u64,
    pub expired: u64,
    pub came_back: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceInfo {
    /// `trace`, `demo`, `proxy`, `doctor`.
    pub kind: String,
    /// The trace's path, the scenario's name, the upstream's address.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Window {
    /// Events the engine received (keyed and keyless).
    pub events: u64,
    /// Time of the first and last event, in microseconds, in the source's time origin.
    pub first_event_us: Option<u64>,
    pub last_event_us: Option<u64>,
    pub duration_seconds: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub reads: u64,
    pub hits: u64,
    pub misses: u64,
    /// hits / (hits + misses); null when there was no read with an outcome.
    pub hit_ratio: Option<f64>,
    /// Writes that stored a value.
    pub writes: u64,
    /// Writes answered with an error.
    pub write_errors: u64,
    pub deletes: u64,
    pub miss_causes: MissCauses,
    pub patterns: u64,
}

/// Misses by cause. When keys are sampled these are estimates that still add up to the misses counted.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MissCauses {
    pub never_written: u64,
    pub expired: u64,
    pub evicted: u64,
    pub deleted: u64,
    pub flushed: u64,
    pub failed_write: u64,
    pub unknown: u64,
}

impl MissCauses {
    pub fn get(&self, cause: MissCause) -> u64 {
        match cause {
            MissCause::NeverWritten => self.never_written,
            MissCause::Expired => self.expired,
            MissCause::Evicted => self.evicted,
            MissCause::Deleted => self.deleted,
            MissCause::Flushed => self.flushed,
            MissCause::FailedWrite => self.failed_write,
            MissCause::Unknown => self.unknown,
        }
    }

    pub fn get_mut(&mut self, cause: MissCause) -> &mut u64 {
        match cause {
            MissCause::NeverWritten => &mut self.never_written,
            MissCause::Expired => &mut self.expired,
            MissCause::Evicted => &mut self.evicted,
            MissCause::Deleted => &mut self.deleted,
            MissCause::Flushed => &mut self.flushed,
            MissCause::FailedWrite => &mut self.failed_write,
            MissCause::Unknown => &mut self.unknown,
        }
    }

    pub fn total(&self) -> u64 {
        MissCause::ALL.iter().map(|&c| self.get(c)).sum()
    }

    pub fn add(&mut self, other: &MissCauses) {
        for cause in MissCause::ALL {
            *self.get_mut(cause) += other.get(cause);
        }
    }

    /// The cause with the most misses, and its share of all misses.
    pub fn dominant(&self) -> Option<(MissCause, f64)> {
        let total = self.total();
        MissCause::ALL
            .into_iter()
            .max_by_key(|&c| self.get(c))
            .filter(|_| total > 0)
            .map(|c| (c, self.get(c) as f64 / total as f64))
    }
}

/// Why one miss happened. The ids are a contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissCause {
    /// No write of the key was seen since observation began (or since it was last found missing).
    NeverWritten,
    /// Its TTL ran out.
    Expired,
    /// Gone before its TTL with no delete or flush seen: the cache evicted it for memory.
    Evicted,
    /// A DEL, UNLINK or GETDEL removed it.
    Deleted,
    /// FLUSHDB, FLUSHALL or a restart emptied it.
    Flushed,
    /// Its last write was answered with an error.
    FailedWrite,
    /// Its state dates from before observation began.
    Unknown,
}

impl MissCause {
    pub const ALL: [MissCause; 7] = [
        MissCause::NeverWritten,
        MissCause::Expired,
        MissCause::Evicted,
        MissCause::Deleted,
        MissCause::Flushed,
        MissCause::FailedWrite,
        MissCause::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MissCause::NeverWritten => "never_written",
            MissCause::Expired => "expired",
            MissCause::Evicted => "evicted",
            MissCause::Deleted => "deleted",
            MissCause::Flushed => "flushed",
            MissCause::FailedWrite => "failed_write",
            MissCause::Unknown => "unknown",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for MissCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PatternReport {
    pub pattern: String,
    pub reads: u64,
    pub hits: u64,
    pub misses: u64,
    pub hit_ratio: Option<f64>,
    pub writes: u64,
    pub write_errors: u64,
    pub deletes: u64,
    /// Estimated distinct keys (exact below 256).
    pub distinct_keys: u64,
    pub miss_causes: MissCauses,
    /// Value sizes written, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_bytes: Option<Quantiles>,
    /// TTLs set by writes, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<Quantiles>,
    /// Share of writes that left the key without a TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes_without_ttl_share: Option<f64>,
    /// Time between two reads of the same key, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reaccess_seconds: Option<Quantiles>,
    /// Per bucket of the report's timeline.
    pub timeline: Vec<TimelineBucket>,
    /// `doctor` only: the keys' memory (MEMORY USAGE), estimated for the whole database from the sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// `doctor` only: time since the keys were last used (OBJECT IDLETIME), in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_seconds: Option<Quantiles>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Quantiles {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// What a finding is about. The ids are a contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingCause {
    TtlTooShort,
    MemoryPressure,
    KeyMismatch,
    ColdCache,
    FailedWrite,
    Stampede,
    OneHitWonder,
    LowHitRatio,
    /// `doctor`: the maxmemory-policy works against the keys (noeviction reaching its limit, volatile-* with keys
    /// that have no TTL).
    EvictionPolicy,
}

impl FindingCause {
    pub const ALL: [FindingCause; 9] = [
        FindingCause::TtlTooShort,
        FindingCause::MemoryPressure,
        FindingCause::KeyMismatch,
        FindingCause::ColdCache,
        FindingCause::FailedWrite,
        FindingCause::Stampede,
        FindingCause::OneHitWonder,
        FindingCause::LowHitRatio,
        FindingCause::EvictionPolicy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingCause::TtlTooShort => "ttl_too_short",
            FindingCause::MemoryPressure => "memory_pressure",
            FindingCause::KeyMismatch => "key_mismatch",
            FindingCause::ColdCache => "cold_cache",
            FindingCause::FailedWrite => "failed_write",
            FindingCause::Stampede => "stampede",
            FindingCause::OneHitWonder => "one_hit_wonder",
            FindingCause::LowHitRatio => "low_hit_ratio",
            FindingCause::EvictionPolicy => "eviction_policy",
        }
    }
}

impl fmt::Display for FindingCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    pub cause: FindingCause,
    pub pattern: String,
    /// Other patterns the finding names: the writer's pattern of a key mismatch, the other patterns a restart
    /// emptied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related_patterns: Vec<String>,
    pub severity: Severity,
    pub misses_explained: MissesExplained,
    pub evidence: Evidence,
    pub suggestion: Suggestion,
    /// The suggestion replayed through a cache model, where one can play it (a TTL, memory, a policy, a
    /// pattern no longer cached): what it would change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulated: Option<SimulatedGain>,
}

/// A suggestion's effect, from replaying the same traffic through a cache model as it is and as changed: both
/// sides simulated alike, so that the model's approximations cancel out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SimulatedGain {
    /// The change, in words: `TTL 300 s for session:{token}`.
    pub change: String,
    /// The whole cache's hit ratio, as it is and as changed.
    pub hit_ratio_before: f64,
    pub hit_ratio_after: f64,
    /// The finding's pattern's hit ratio (absent for whole-cache findings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern_hit_ratio_before: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern_hit_ratio_after: Option<f64>,
    /// The share of keys replayed, when the traffic has too many keys to replay them all within bounded memory
    /// (the cache's memory scaled alike); absent when every key was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampled_keys: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct MissesExplained {
    pub count: u64,
    /// Share of all misses of the report.
    pub share: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Evidence {
    /// One sentence.
    pub summary: String,
    /// Further facts, one sentence each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// The numbers behind the sentences, by name; documented per cause in the schema.
    #[serde(default)]
    pub metrics: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Suggestion {
    /// What to change, in one sentence.
    pub summary: String,
    /// The kind of change and its values: in JSON, `action` (a stable id) and `parameters`.
    #[serde(flatten)]
    pub action: Action,
}

/// A change a finding suggests, with its values typed: what the what-if simulator plays, and what the JSON
/// carries as `action` (the variant's id, such as `raise_ttl`) and `parameters` (its fields).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "action", content = "parameters", rename_all = "snake_case")]
pub enum Action {
    /// A longer TTL for the finding's pattern.
    RaiseTtl {
        ttl_seconds: u64,
        /// The TTL its keys have now, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        current_ttl_seconds: Option<f64>,
    },
    /// More memory for the cache.
    RaiseMaxmemory {
        maxmemory_bytes: u64,
        #[serde(default)]
        hot_evicted_keys: Vec<String>,
    },
    /// Another `maxmemory-policy`, or TTLs for the patterns that have none under a `volatile-*` policy.
    ChangeEvictionPolicy {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        maxmemory_policy: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        patterns_without_ttl: Option<Vec<String>>,
    },
    /// One key format for the reader and the writer.
    AlignKeyFormat { read_pattern: String, write_pattern: String },
    /// Warm these patterns (and keys, hottest first) after flushes, restarts and deploys.
    WarmCache {
        patterns: Vec<String>,
        #[serde(default)]
        keys: Vec<String>,
    },
    /// Repair the fill path; the errors its writes got, by kind.
    FixFillPath { error_kinds: BTreeMap<String, u64> },
    /// Coalesce concurrent refills of these keys.
    CoalesceRefills { keys: Vec<String> },
    /// Stop caching the pattern (or cache on the second request).
    StopCaching { pattern: String },
    /// Nothing to set: look at the evidence.
    Investigate {},
}

impl Action {
    /// The stable id, as in the JSON.
    pub fn id(&self) -> &'static str {
        match self {
            Action::RaiseTtl { .. } => "raise_ttl",
            Action::RaiseMaxmemory { .. } => "raise_maxmemory",
            Action::ChangeEvictionPolicy { .. } => "change_eviction_policy",
            Action::AlignKeyFormat { .. } => "align_key_format",
            Action::WarmCache { .. } => "warm_cache",
            Action::FixFillPath { .. } => "fix_fill_path",
            Action::CoalesceRefills { .. } => "coalesce_refills",
            Action::StopCaching { .. } => "stop_caching",
            Action::Investigate {} => "investigate",
        }
    }
}

/// A finding being put together, by the engine's detectors and the doctor's checks alike: what it says, and
/// the misses it explains. [`FindingDraft::finish`] works out its share of all misses and its severity.
#[derive(Debug, Clone)]
pub struct FindingDraft {
    pub cause: FindingCause,
    pub pattern: String,
    pub related_patterns: Vec<String>,
    pub misses_explained: u64,
    /// The severity at least, whatever the share of misses.
    pub severity_floor: Severity,
    pub evidence: String,
    pub details: Vec<String>,
    pub metrics: BTreeMap<String, serde_json::Value>,
    pub suggestion: String,
    pub action: Action,
}

impl FindingDraft {
    pub fn new(cause: FindingCause, pattern: impl Into<String>, misses_explained: u64) -> Self {
        FindingDraft {
            cause,
            pattern: pattern.into(),
            related_patterns: Vec::new(),
            misses_explained,
            severity_floor: Severity::Info,
            evidence: String::new(),
            details: Vec::new(),
            metrics: BTreeMap::new(),
            suggestion: String::new(),
            action: Action::Investigate {},
        }
    }

    pub fn metric(&mut self, name: &str, value: impl Into<serde_json::Value>) {
        self.metrics.insert(name.to_string(), value.into());
    }

    /// The finding, with its share of `all_misses` and a severity from that share (15% or more: critical; 3% or
    /// more: warning), raised to the floor.
    pub fn finish(self, all_misses: u64) -> Finding {
        let share = if all_misses == 0 { 0.0 } else { self.misses_explained as f64 / all_misses as f64 };
        let by_share = if share >= 0.15 {
            Severity::Critical
        } else if share >= 0.03 {
            Severity::Warning
        } else {
            Severity::Info
        };
        let severity = by_share.max(self.severity_floor);
        self.finish_as(severity, share)
    }

    /// The finding with the severity and the share of misses a source judged from its own figures (the doctor
    /// reads them off the server's statistics).
    pub fn finish_as(self, severity: Severity, share: f64) -> Finding {
        Finding {
            cause: self.cause,
            pattern: self.pattern,
            related_patterns: self.related_patterns,
            severity,
            misses_explained: MissesExplained { count: self.misses_explained, share },
            evidence: Evidence { summary: self.evidence, details: self.details, metrics: self.metrics },
            suggestion: Suggestion { summary: self.suggestion, action: self.action },
            simulated: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MarkerReport {
    /// Seconds since the first event.
    pub offset_seconds: f64,
    pub time_us: u64,
    /// `flushdb`, `flushall`, `restart` or `marker` (a deploy or other label).
    pub kind: String,
    /// The database flushed, for `flushdb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db: Option<u32>,
    /// The cluster node flushed or restarted, as the source numbers them (from 1); absent when the flush
    /// emptied the whole server. Its name is the label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<u16>,
    /// A marker's label (a deploy), or the name of the node flushed or restarted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TimelineReport {
    pub bucket_seconds: f64,
    pub buckets: Vec<TimelineBucket>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Notes {
    /// Set when per-key state outgrew its budget and keys were sampled: miss causes, refill and re-access
    /// figures are then estimates scaled from the sampled keys; reads, hits, misses and writes stay exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling: Option<Sampling>,
    /// Set when there were more patterns than the bound: the rest went to the pattern `{other}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern_overflow: Option<PatternOverflow>,
    /// Input lines skipped as malformed (`--skip-bad-lines`).
    #[serde(default)]
    pub skipped_lines: u64,
    /// True when the trace was cut short (a recording that did not finish, a copy interrupted) and read up to
    /// the cut (`--skip-bad-lines`): the figures are of the events before it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub cut_short: bool,
    /// Events whose outcome was not observed and which no model replayed.
    #[serde(default)]
    pub unobserved_events: u64,
    /// Whether the cache's content before the first event was known (empty) or not.
    pub initial_state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_capacity_bytes: Option<u64>,
    /// False when the source cannot see hits (keyspace notifications): hit ratios are then null, and reads
    /// count only misses.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub hits_observed: bool,
    /// True when a cache model replayed a trace that joined a running cache: the first read of a key the trace
    /// had not mentioned counted as a hit, and a pattern never written has no known misses.
    #[serde(default, skip_serializing_if = "is_false")]
    pub presumed_held: bool,
    /// For a packet capture: what it could and could not follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<CaptureNotes>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn yes() -> bool {
    true
}

impl Default for Notes {
    fn default() -> Self {
        Notes {
            sampling: None,
            pattern_overflow: None,
            skipped_lines: 0,
            cut_short: false,
            unobserved_events: 0,
            initial_state: String::new(),
            cache_capacity_bytes: None,
            hits_observed: true,
            presumed_held: false,
            capture: None,
        }
    }
}

fn is_true(value: &bool) -> bool {
    *value
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Sampling {
    pub rate: f64,
    pub tracked_keys: u64,
    pub budget_bytes: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct PatternOverflow {
    pub max_patterns: u64,
    /// Times a key's pattern was new but the table was full.
    pub overflowed_keys: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed suggestion is, in JSON, the `action` id and its `parameters`, as docs/report-schema.md says.
    #[test]
    fn suggestions_are_an_action_and_its_parameters_in_json() {
        let check = |action: Action, json: serde_json::Value| {
            let suggestion = Suggestion { summary: "Do it.".into(), action };
            let written = serde_json::to_value(&suggestion).unwrap();
            assert_eq!(written, json);
            assert_eq!(serde_json::from_value::<Suggestion>(written).unwrap(), suggestion);
        };
        check(
            Action::RaiseTtl { ttl_seconds: 600, current_ttl_seconds: Some(30.0) },
            serde_json::json!({"summary": "Do it.", "action": "raise_ttl",
                "parameters": {"ttl_seconds": 600, "current_ttl_seconds": 30.0}}),
        );
        check(
            Action::AlignKeyFormat { read_pattern: "users:{num}".into(), write_pattern: "user:{num}".into() },
            serde_json::json!({"summary": "Do it.", "action": "align_key_format",
                "parameters": {"read_pattern": "users:{num}", "write_pattern": "user:{num}"}}),
        );
        check(
            Action::Investigate {},
            serde_json::json!({"summary": "Do it.", "action": "investigate", "parameters": {}}),
        );
        for action in [
            Action::RaiseMaxmemory { maxmemory_bytes: 1, hot_evicted_keys: vec![] },
            Action::ChangeEvictionPolicy { maxmemory_policy: Some("allkeys-lru".into()), patterns_without_ttl: None },
            Action::WarmCache { patterns: vec![], keys: vec![] },
            Action::FixFillPath { error_kinds: BTreeMap::new() },
            Action::CoalesceRefills { keys: vec![] },
            Action::StopCaching { pattern: "p".into() },
        ] {
            let json = serde_json::to_value(Suggestion { summary: String::new(), action: action.clone() }).unwrap();
            assert_eq!(json["action"], action.id());
        }
    }
}
