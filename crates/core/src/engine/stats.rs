//! Per-pattern statistics: exact counters for everything seen, weighted estimates for what comes from the
//! sampled key state, and bounded sketches. Two patterns' statistics merge when learned folding joins them.

use crate::event::ErrorKind;
use crate::report::MissCause;
use crate::sketch::{BottomK, Distribution, Timeline};

/// An index into the engine's list of markers.
pub(crate) type MarkerIndex = u16;

#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct PatternStats {
    // Exact counts of every event.
    pub reads: u64,
    pub hits: u64,
    pub misses: u64,
    pub read_errors: u64,
    /// Writes that stored a value.
    pub writes: u64,
    /// Conditional writes whose condition failed (SET NX on an existing key, memcached `add`).
    pub writes_not_stored: u64,
    pub write_errors: u64,
    pub error_kinds: [u64; ErrorKind::ALL.len()],
    pub deletes: u64,
    pub expires: u64,
    pub unobserved: u64,
    /// Keys the server said it expired or evicted (keyspace notifications).
    pub removed_expired: u64,
    pub removed_evicted: u64,

    /// Misses by cause, from tracked keys, each weighted by the keys it stands for.
    pub cause_weights: [f64; MissCause::ALL.len()],
    /// Flushed misses by the flush or restart that emptied the key.
    pub flushed_by_marker: Vec<(MarkerIndex, f64)>,
    /// Of the flushed misses, those of keys the source never saw written, only read (hits before the flush, which
    /// a model may have presumed) (weighted).
    pub flushed_unwritten: f64,

    /// Hashes of the keys: distinct count.
    pub distinct: BottomK,
    /// Hashes of the ids (placeholder values) read and written: a reader and a writer of the same ids under two
    /// patterns disagree on the key format.
    pub ids_read: BottomK,
    pub ids_written: BottomK,

    pub value_bytes: Distribution,
    pub ttl_ms: Distribution,
    pub writes_without_ttl: u64,
    /// Time between two reads of a key.
    pub reaccess_ms: Distribution,
    /// At an expired miss, the time since the key's last write.
    pub expired_age_ms: Distribution,

    /// Misses followed by a write of their key within the refill window (weighted).
    pub refilled_misses: f64,
    /// Misses not refilled: their key was written again only after the refill window (by an update, not by a
    /// refill), or its refill was refused (weighted). Those still pending at the end are counted when the report
    /// is built.
    pub unrefilled_misses: f64,
    /// Writes overwritten, deleted or flushed without having been read (weighted).
    pub unread_writes: f64,
    /// Stored writes of tracked keys (weighted): the base of `unread_writes`.
    pub tracked_writes: f64,

    /// Misses of a key that was already being refilled, within the stampede window (weighted).
    pub pileup_misses: f64,
    /// Keys whose pending misses reached the stampede threshold (weighted).
    pub bursts: f64,
    pub max_burst: u16,
    pub max_burst_key: Option<Box<[u8]>>,

    pub timeline: Timeline,
}

impl PatternStats {
    pub fn add_flushed(&mut self, marker: MarkerIndex, weight: f64) {
        match self.flushed_by_marker.iter_mut().find(|(m, _)| *m == marker) {
            Some((_, total)) => *total += weight,
            None => self.flushed_by_marker.push((marker, weight)),
        }
    }

    pub fn merge(&mut self, other: PatternStats) {
        self.reads += other.reads;
        self.hits += other.hits;
        self.misses += other.misses;
        self.read_errors += other.read_errors;
        self.writes += other.writes;
        self.writes_not_stored += other.writes_not_stored;
        self.write_errors += other.write_errors;
        for (ours, theirs) in self.error_kinds.iter_mut().zip(other.error_kinds) {
            *ours += theirs;
        }
        self.deletes += other.deletes;
        self.removed_expired += other.removed_expired;
        self.removed_evicted += other.removed_evicted;
        self.expires += other.expires;
        self.unobserved += other.unobserved;
        for (ours, theirs) in self.cause_weights.iter_mut().zip(other.cause_weights) {
            *ours += theirs;
        }
        for (marker, weight) in other.flushed_by_marker {
            self.add_flushed(marker, weight);
        }
        self.flushed_unwritten += other.flushed_unwritten;
        self.distinct.merge(&other.distinct);
        self.ids_read.merge(&other.ids_read);
        self.ids_written.merge(&other.ids_written);
        self.value_bytes.merge(&other.value_bytes);
        self.ttl_ms.merge(&other.ttl_ms);
        self.writes_without_ttl += other.writes_without_ttl;
        self.reaccess_ms.merge(&other.reaccess_ms);
        self.expired_age_ms.merge(&other.expired_age_ms);
        self.refilled_misses += other.refilled_misses;
        self.unrefilled_misses += other.unrefilled_misses;
        self.unread_writes += other.unread_writes;
        self.tracked_writes += other.tracked_writes;
        self.pileup_misses += other.pileup_misses;
        self.bursts += other.bursts;
        if other.max_burst > self.max_burst {
            self.max_burst = other.max_burst;
            self.max_burst_key = other.max_burst_key;
        }
        self.timeline.merge(&other.timeline);
    }

    pub fn is_empty(&self) -> bool {
        self.reads + self.writes + self.writes_not_stored + self.write_errors + self.deletes + self.expires == 0
            && self.unobserved == 0
            && self.removed_expired + self.removed_evicted == 0
    }

    pub fn hit_ratio(&self) -> Option<f64> {
        let answered = self.hits + self.misses;
        (answered > 0).then(|| self.hits as f64 / answered as f64)
    }

    pub fn miss_ratio(&self) -> f64 {
        self.hit_ratio().map_or(0.0, |h| 1.0 - h)
    }
}
