//! The server's side of a report from two `INFO` readings, an interval apart: what the doctor and `watch` both
//! say of a live server (its version, memory, policy, and the hit ratio, evictions and expirations between the
//! readings).

use cachescope_core::report::ServerReport;

use crate::Info;

/// Counters between two INFO readings.
#[derive(Debug, Clone, Copy)]
pub struct Deltas {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    pub expirations: u64,
    pub commands: u64,
}

impl Deltas {
    /// The counters' growth from `before` to `after`; None when they went backwards (CONFIG RESETSTAT) or the
    /// server restarted in between (a new run id).
    pub fn between(before: &Info, after: &Info) -> Option<Deltas> {
        if restarted(before, after) {
            return None;
        }
        let delta = |name: &str| after.number(name)?.checked_sub(before.number(name).unwrap_or(0));
        Some(Deltas {
            hits: delta("keyspace_hits")?,
            misses: delta("keyspace_misses")?,
            evictions: delta("evicted_keys")?,
            expirations: delta("expired_keys")?,
            commands: delta("total_commands_processed")?,
        })
    }
}

/// Whether the server restarted between the two readings.
pub fn restarted(before: &Info, after: &Info) -> bool {
    matches!((before.get("run_id"), after.get("run_id")), (Some(a), Some(b)) if a != b)
}

fn ratio(hits: u64, misses: u64) -> Option<f64> {
    (hits + misses > 0).then(|| hits as f64 / (hits + misses) as f64)
}

/// The server section from `INFO` `before` and `after`, `seconds` apart, with `keys` keys in what was checked.
/// Sampling, the expiry watch, gaps, notes and skipped commands are the caller's to fill.
pub fn server_report(before: &Info, after: &Info, seconds: f64, keys: u64) -> ServerReport {
    let deltas = Deltas::between(before, after);
    let interval = seconds.max(1e-3);
    ServerReport {
        version: after.version(),
        role: after.get("role").unwrap_or("master").to_string(),
        uptime_seconds: after.number("uptime_in_seconds").unwrap_or(0),
        used_memory_bytes: after.number("used_memory").unwrap_or(0),
        maxmemory_bytes: after.number("maxmemory").unwrap_or(0),
        maxmemory_policy: after.get("maxmemory_policy").unwrap_or("unknown").to_string(),
        hit_ratio_now: deltas.and_then(|d| ratio(d.hits, d.misses)),
        hit_ratio_since_start: ratio(
            after.number("keyspace_hits").unwrap_or(0),
            after.number("keyspace_misses").unwrap_or(0),
        ),
        evictions_per_second: deltas.map_or(0.0, |d| d.evictions as f64 / interval),
        expirations_per_second: deltas.map_or(0.0, |d| d.expirations as f64 / interval),
        commands_per_second: deltas.map_or(0.0, |d| d.commands as f64 / interval),
        interval_seconds: seconds,
        keys,
        sampled_keys: 0,
        expiry_watch: None,
        gaps: Vec::new(),
        skipped: Vec::new(),
        notes: Vec::new(),
    }
}
