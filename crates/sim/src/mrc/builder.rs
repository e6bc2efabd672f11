//! A miss-ratio curve from a trace's events, for the whole workload and per key pattern.
//!
//! Reads are the requests; writes put their key on top of the stack; deletes, expired TTLs and flushes take keys
//! out, so that their next read misses at any size (a TTL miss does not depend on memory). A read of a key the
//! stack does not hold misses at any size and, unless the trace is read-through (block traces: a miss brings
//! the object in), leaves it out. Patterns are folded for sampled reads only: their curves and read counts are
//! estimates under SHARDS, exact otherwise.

use std::collections::HashMap;

use cachescope_core::pattern::FoldConfig;
use cachescope_core::{Command, Event, Micros, Removal, TtlChange, key_hash};
use foldhash::fast::FixedState;

use super::curve::Curve;
use super::shards::{SampleCurve, Sampling, Shards};
use crate::by_pattern::{ByPattern, Merge};

const MICROS_PER_MILLI: Micros = 1_000;

#[derive(Debug, Clone)]
pub struct MrcConfig {
    pub sampling: Sampling,
    /// Every object counts 1: sizes are numbers of objects.
    pub unit_size: bool,
    /// A read's miss brings its object in (block traces, libCacheSim's).
    pub read_through: bool,
    /// Curves per pattern, for at most this many patterns (the rest under `{other}`); 0 for none.
    pub max_patterns: usize,
    pub fold: FoldConfig,
}

/// One pattern's curve.
#[derive(Debug, Clone)]
pub struct PatternCurve {
    pub pattern: String,
    /// Reads of the pattern (estimated under SHARDS).
    pub reads: f64,
    pub curve: Curve,
}

/// What [`MrcBuilder::finish`] gives.
#[derive(Debug, Clone)]
pub struct Mrc {
    pub curve: Curve,
    pub reads: u64,
    /// The sampling rate at the end (1 when exact).
    pub rate: f64,
    /// Keys the stack held at the end.
    pub tracked_keys: usize,
    /// Most read first.
    pub patterns: Vec<PatternCurve>,
}

#[derive(Debug)]
pub struct MrcBuilder {
    config: MrcConfig,
    shards: Shards,
    curve: SampleCurve,
    /// When the tracked keys with a TTL expire.
    expiries: HashMap<u64, Micros, FixedState>,
    patterns: ByPattern<Figures>,
}

impl MrcBuilder {
    pub fn new(config: MrcConfig) -> Self {
        MrcBuilder {
            shards: Shards::new(config.sampling),
            curve: SampleCurve::default(),
            expiries: HashMap::with_hasher(FixedState::default()),
            patterns: ByPattern::new(config.fold.clone(), config.max_patterns),
            config,
        }
    }

    fn size(&self, event: &Event<'_>) -> u64 {
        if self.config.unit_size { 1 } else { (event.key.len() as u64 + u64::from(event.value_size)).max(1) }
    }

    pub fn observe(&mut self, event: &Event<'_>) {
        match event.command {
            Command::Read => {
                let id = key_hash(event.db, event.key);
                if !self.expiries.is_empty()
                    && let Some(&at) = self.expiries.get(&id)
                    && at <= event.time
                {
                    self.expiries.remove(&id);
                    self.shards.forget(id);
                }
                let size = self.size(event);
                if let Some(sampled) = self.shards.read(id, size, self.config.read_through) {
                    self.curve.record(sampled);
                    if self.config.max_patterns > 0 {
                        let (_, figures) = self.patterns.entry(event.key);
                        figures.reads += sampled.weight;
                        figures.curve.record(sampled.distance, sampled.weight);
                    }
                }
            }
            Command::Write(_) => {
                let id = key_hash(event.db, event.key);
                self.shards.write(id, self.size(event));
                self.set_ttl(id, event.ttl, event.time);
            }
            Command::Expire => {
                let id = key_hash(event.db, event.key);
                self.set_ttl(id, event.ttl, event.time);
            }
            // An expiry the server saw happens at every size; an eviction depends on the size, which the curve varies.
            Command::Delete | Command::Removed(Removal::Expired) => {
                let id = key_hash(event.db, event.key);
                self.expiries.remove(&id);
                self.shards.forget(id);
            }
            // Databases are not told apart here: a flush of one forgets all, an approximation on the safe side.
            Command::Flush(_) => {
                self.expiries.clear();
                self.shards.forget_all();
            }
            Command::Marker | Command::Removed(Removal::Evicted) => {}
        }
    }

    fn set_ttl(&mut self, id: u64, ttl: TtlChange, now: Micros) {
        match ttl {
            TtlChange::ExpireIn(ms) => {
                self.expiries.insert(id, now.saturating_add(ms.saturating_mul(MICROS_PER_MILLI)));
                // Keys that left a fixed-size sample keep no expiry here for long.
                if self.expiries.len() > 2 * self.shards.keys() + 4096 {
                    let shards = &self.shards;
                    self.expiries.retain(|id, _| shards.tracks(*id));
                }
            }
            TtlChange::Persist => {
                self.expiries.remove(&id);
            }
            TtlChange::Keep => {}
        }
    }

    pub fn finish(self) -> Mrc {
        Mrc {
            curve: self.shards.curve(self.curve),
            reads: self.shards.requests(),
            rate: self.shards.rate(),
            tracked_keys: self.shards.keys(),
            patterns: finish_patterns(self.patterns),
        }
    }
}

/// A pattern's reads and curve, while building.
#[derive(Debug, Default)]
struct Figures {
    reads: f64,
    curve: Curve,
}

impl Merge for Figures {
    fn merge(&mut self, other: Figures) {
        self.reads += other.reads;
        self.curve.merge(&other.curve);
    }
}

fn finish_patterns(patterns: ByPattern<Figures>) -> Vec<PatternCurve> {
    let mut entries: Vec<PatternCurve> = patterns
        .into_entries()
        .into_iter()
        .map(|(pattern, figures)| PatternCurve { pattern, reads: figures.reads, curve: figures.curve })
        .collect();
    entries.sort_by(|a, b| b.reads.total_cmp(&a.reads).then_with(|| a.pattern.cmp(&b.pattern)));
    entries
}

#[cfg(test)]
mod tests {
    use cachescope_core::Outcome;

    use super::*;

    fn config(read_through: bool) -> MrcConfig {
        MrcConfig {
            sampling: Sampling::Exact,
            unit_size: true,
            read_through,
            max_patterns: 100,
            fold: FoldConfig::default(),
        }
    }

    fn read(time: Micros, key: &str) -> Event<'_> {
        Event::read(time, key.as_bytes(), Outcome::Unobserved)
    }

    #[test]
    fn reads_of_keys_never_written_miss_at_any_size() {
        let mut builder = MrcBuilder::new(config(false));
        for event in [
            Event::write(0, b"user:1", TtlChange::Persist),
            read(1, "user:1"),
            read(2, "user:2"),
            read(3, "user:2"),
            Event::write(4, b"user:2", TtlChange::Persist),
            read(5, "user:2"),
        ] {
            builder.observe(&event);
        }
        let mrc = builder.finish();
        assert_eq!(mrc.reads, 4);
        // Hits at size 1: user:1 (distance 1), and user:2 after its write; its two reads before never hit.
        assert!((mrc.curve.miss_ratio(1) - 2.0 / 4.0).abs() < 1e-9, "{}", mrc.curve.miss_ratio(1));
        assert!((mrc.curve.miss_ratio(1_000) - 2.0 / 4.0).abs() < 1e-9);
    }

    #[test]
    fn expired_and_deleted_keys_miss_at_any_size() {
        let mut builder = MrcBuilder::new(config(false));
        builder.observe(&Event::write(0, b"a", TtlChange::ExpireIn(1_000)));
        builder.observe(&Event::write(0, b"b", TtlChange::Persist));
        builder.observe(&read(500_000, "a"));
        builder.observe(&read(2_000_000, "a"));
        builder.observe(&Event { command: Command::Delete, ..Event::write(3_000_000, b"b", TtlChange::Keep) });
        builder.observe(&read(4_000_000, "b"));
        let mrc = builder.finish();
        assert!((mrc.curve.miss_ratio(1_000) - 2.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn read_through_reads_bring_keys_in_and_patterns_split_the_curve() {
        let mut builder = MrcBuilder::new(config(true));
        for (time, key) in ["user:1", "user:1", "page:1", "user:1", "page:1"].iter().enumerate() {
            builder.observe(&read(time as Micros, key));
        }
        let mrc = builder.finish();
        assert_eq!(mrc.reads, 5);
        let names: Vec<(&str, f64)> = mrc.patterns.iter().map(|p| (p.pattern.as_str(), p.reads)).collect();
        assert_eq!(names, [("user:{num}", 3.0), ("page:{num}", 2.0)]);
        // At size 1 only user:1's immediate re-read hits; at size 2 every re-read does.
        assert!((mrc.patterns[0].curve.miss_ratio(1) - 2.0 / 3.0).abs() < 1e-9);
        assert!((mrc.patterns[0].curve.miss_ratio(2) - 1.0 / 3.0).abs() < 1e-9);
        assert!((mrc.patterns[1].curve.miss_ratio(2) - 1.0 / 2.0).abs() < 1e-9);
    }
}
