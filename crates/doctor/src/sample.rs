//! The key sample: keys found by a bounded SCAN, with what TYPE, PTTL, MEMORY USAGE and OBJECT IDLETIME said of
//! each, folded into the same patterns the engine uses.

use std::collections::BTreeMap;

use cachescope_core::pattern::{FoldConfig, PatternFolder};
use cachescope_core::sketch::Distribution;

/// One sampled key. Fields are None where the server refused the command or the key vanished meanwhile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SampledKey {
    pub key: Vec<u8>,
    /// `string`, `hash`, ...
    pub kind: Option<String>,
    /// PTTL: milliseconds left, or -1 without a TTL. None when unknown (refused, or the key went away).
    pub ttl_ms: Option<i64>,
    /// MEMORY USAGE, in bytes.
    pub memory: Option<u64>,
    /// OBJECT IDLETIME, in seconds (only under LRU and other non-LFU policies).
    pub idle_seconds: Option<u64>,
    /// What became of the key when its TTL ran out, for keys due to expire during the expiry watch.
    pub expiry: Option<ExpiryWatch>,
}

/// A key watched through its expiry: whether it expired, and whether (and how soon) it was written again. In a
/// read-through cache a key comes back when it is read after expiring: each return is a miss the TTL caused, and
/// the time to it says how often the key is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryWatch {
    /// Still there at its due time with a new TTL: written again before it expired.
    Refreshed,
    /// Gone at its due time and written again `after_ms` later, with a TTL of `ttl_ms` (None: without one).
    Back { after_ms: u64, ttl_ms: Option<u64> },
    /// Gone at its due time and still gone `watched_ms` later, when the watch ended.
    StillGone { watched_ms: u64 },
}

/// One pattern's keys in the sample.
#[derive(Debug, Default)]
pub struct PatternSample {
    pub pattern: String,
    pub keys: u64,
    /// Keys whose PTTL is known: shares of keys with or without a TTL are over these, so that a refused PTTL
    /// does not read as "no TTL".
    pub ttl_known: u64,
    /// Keys with a TTL.
    pub with_ttl: u64,
    pub ttl_ms: Distribution,
    pub memory: Distribution,
    pub memory_total: u64,
    pub idle_seconds: Distribution,
    pub kinds: BTreeMap<String, u64>,
    /// Keys seen expiring during the expiry watch, and those written again before it ended.
    pub expired: u64,
    pub came_back: u64,
    /// How long after expiring the keys that came back did (milliseconds).
    pub back_after_ms: Distribution,
    /// The TTLs keys came back with: the TTL the application sets, which the TTLs left of a sample only bound.
    pub fresh_ttl_ms: Distribution,
    /// Milliseconds the expired keys were watched while gone: the exposure over which returns are counted.
    pub gone_ms: u64,
}

/// The sample by pattern, most memory first.
pub fn by_pattern(sample: &[SampledKey], fold: FoldConfig) -> Vec<PatternSample> {
    let mut folder = PatternFolder::new(fold);
    // Fold every key once so the learner sees them all, then again with what it learned.
    for key in sample {
        folder.fold(&key.key);
    }
    let mut patterns: BTreeMap<String, PatternSample> = BTreeMap::new();
    for key in sample {
        let name = folder.fold_known(&key.key).pattern.to_string();
        let entry =
            patterns.entry(name.clone()).or_insert_with(|| PatternSample { pattern: name, ..Default::default() });
        entry.keys += 1;
        if let Some(ms) = key.ttl_ms {
            entry.ttl_known += 1;
            if ms >= 0 {
                entry.with_ttl += 1;
                entry.ttl_ms.record(ms as u64);
            }
        }
        if let Some(bytes) = key.memory {
            entry.memory.record(bytes);
            entry.memory_total += bytes;
        }
        if let Some(idle) = key.idle_seconds {
            entry.idle_seconds.record(idle);
        }
        if let Some(kind) = &key.kind {
            *entry.kinds.entry(kind.clone()).or_default() += 1;
        }
        match key.expiry {
            Some(ExpiryWatch::Back { after_ms, ttl_ms }) => {
                if let Some(ttl) = ttl_ms {
                    entry.fresh_ttl_ms.record(ttl);
                }
                entry.expired += 1;
                entry.came_back += 1;
                entry.back_after_ms.record(after_ms);
                entry.gone_ms += after_ms;
            }
            Some(ExpiryWatch::StillGone { watched_ms }) => {
                entry.expired += 1;
                entry.gone_ms += watched_ms;
            }
            Some(ExpiryWatch::Refreshed) | None => {}
        }
    }
    let mut patterns: Vec<PatternSample> = patterns.into_values().collect();
    patterns.sort_by(|a, b| b.memory_total.cmp(&a.memory_total).then(b.keys.cmp(&a.keys)));
    patterns
}

impl PatternSample {
    /// Keys known to have no TTL.
    pub fn without_ttl(&self) -> u64 {
        self.ttl_known - self.with_ttl
    }

    /// The rate at which an expired key is read again (per second), from the watched keys: returns over the
    /// time they were watched gone (the maximum-likelihood rate of an exponential wait, with the keys still gone
    /// at the end counted as waits longer than their watch). None without any return.
    pub fn reread_per_second(&self) -> Option<f64> {
        (self.came_back > 0 && self.gone_ms > 0).then(|| self.came_back as f64 / (self.gone_ms as f64 / 1000.0))
    }
}
