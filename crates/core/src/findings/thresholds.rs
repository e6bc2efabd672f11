//! Every threshold a detector decides with, in one place, each with its reason. They are calibrated on the
//! accuracy corpus (`crates/accuracy`, figures in BENCHMARKS.md), whose truth uses the same notion of a fault
//! worth a finding: a cause must explain enough misses, in count and in share, for the report to lead with it.
//! The values of the fixes (how long a TTL, how much memory) are worked out by the detectors themselves.

use crate::event::{MICROS_PER_SEC, Micros};

#[derive(Debug, Clone)]
pub struct Thresholds {
    // What makes a cause material (`Analysis::material`), for every detector.
    /// Reads a pattern needs before its hit ratio says anything: below it, one unlucky key decides.
    pub min_reads: u64,
    /// Misses a finding must explain at least: fewer is a handful of keys, not a behaviour.
    pub min_misses: u64,
    /// Share of the pattern's misses a cause must explain: beside a larger cause, a cause under 5% is a
    /// footnote, while two sharp causes on one pattern (a TTL too short and evictions) are both reported.
    pub min_share_of_pattern_misses: f64,
    /// For the causes that are a steady cost of running a cache (expirations, evictions): the share of the
    /// pattern's reads they must turn into misses. One read in fifty or fewer is what a TTL set for freshness
    /// or a rare eviction costs, not something to fix. Events (a flush, a restart) and bugs (a key mismatch, a
    /// broken fill path) are judged without it: a restart costs its misses once, in a burst.
    pub min_share_of_pattern_reads: f64,
    /// Share of all misses a cause must explain: a report leads with what matters to the whole cache. The same
    /// share of all write attempts makes refused writes worth a finding.
    pub min_share_of_all_misses: f64,

    // failed_write
    /// Time within which a write after a miss is its refill: an application fills a miss in milliseconds to
    /// seconds; a write that comes later is an update (write-through), not the fill path working.
    pub refill_window: Micros,
    /// Share of a pattern's write attempts refused for its writes to be failing: one in twenty is a writer or a
    /// server that refuses, not one value too large.
    pub min_write_error_share: f64,

    // stampede
    /// Misses of one key closer than this to the first unrefilled miss pile up: refills take milliseconds to a
    /// few hundred of them, so a second holds a burst and not two.
    pub stampede_window: Micros,
    /// Misses of one key within the window that make a burst: five clients at once going to the backend for
    /// one value.
    pub stampede_min_burst: u16,
    /// Bursts that make a stampede, or one burst this large: a habit, or one event too large to ignore.
    pub stampede_min_bursts: u64,
    pub stampede_large_burst: u16,
    /// Misses piled up in all: three bursts of five give twelve.
    pub stampede_min_pileup: u64,

    // one_hit_wonder
    /// Writes of a pattern, and the share of them never requested again, that make its caching a waste: four
    /// in five written for nothing, over enough writes to say so.
    pub one_hit_min_writes: f64,
    pub one_hit_min_unread_share: f64,

    // key_mismatch
    /// Share of the reader's ids found among the writer's ids that links them: random ids of two unrelated
    /// entities share almost none, small numbers share some, a mismatch shares them all.
    pub mismatch_min_id_overlap: f64,
    /// A writer spelled like the reader (`promos:{hex}`, `promo:{hex}`) needs fewer shared ids: its own fill
    /// path may fail for some values, so that not all the ids read were written.
    pub mismatch_min_id_overlap_spelled_alike: f64,
    pub mismatch_spelled_alike: f64,
    /// Spelling similarity that links two patterns without ids (`config:main` and `configs:main`).
    pub mismatch_spelling_without_ids: f64,

    // low_hit_ratio
    /// Points of hit ratio below the rest of the cache that make a pattern stand out, and the share of all reads
    /// it needs to be worth a finding of its own.
    pub low_hit_ratio_gap: f64,
    pub low_hit_ratio_min_read_share: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            min_reads: 50,
            min_misses: 30,
            min_share_of_pattern_misses: 0.05,
            min_share_of_pattern_reads: 0.02,
            min_share_of_all_misses: 0.01,
            refill_window: 10 * MICROS_PER_SEC,
            min_write_error_share: 0.05,
            stampede_window: MICROS_PER_SEC,
            stampede_min_burst: 5,
            stampede_min_bursts: 3,
            stampede_large_burst: 20,
            stampede_min_pileup: 10,
            one_hit_min_writes: 100.0,
            one_hit_min_unread_share: 0.8,
            mismatch_min_id_overlap: 0.3,
            mismatch_min_id_overlap_spelled_alike: 0.1,
            mismatch_spelled_alike: 0.7,
            mismatch_spelling_without_ids: 0.8,
            low_hit_ratio_gap: 0.3,
            low_hit_ratio_min_read_share: 0.01,
        }
    }
}
