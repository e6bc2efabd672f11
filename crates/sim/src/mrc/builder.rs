//! A miss-ratio curve from a trace's events, for the whole workload and per key pattern.
//!
//! Reads are the requests; writes put their key on top of the stack; deletes, expired TTLs and flushes take keys
//! out, so that their next read misses at any size (a TTL miss does not depend on memory). A read of a key the
//! stack does not hold misses at any size and, unless the trace is read-through (block traces: a miss brings
//! the object in), leaves it out. Patterns are folded for sampled reads only: their curves and read counts are
//! estimates under SHARDS, exact otherwise.

use cachescope_core::pattern::FoldConfig;
use cachescope_core::{Command, Event, Micros, Removal, TtlChange, key_hash, key_hashes};

use super::curve::Curve;
use super::shards::{SampleCurve, SampleRange, Sampling, Shards};
use crate::by_pattern::{ByPattern, Merge};
use crate::id_map::IdMap;

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
    expiries: IdMap<Micros>,
    patterns: Patterns,
    /// The keys' hashes of a batch ([`MrcBuilder::observe_indexed`]), kept to be reused.
    hashes: Vec<u64>,
}

/// How many events before its own a key's records are asked for.
const AHEAD: usize = 8;

/// The patterns' figures, and who folds the keys.
#[derive(Debug)]
enum Patterns {
    /// The builder folds each sampled read's key.
    Folded(Box<ByPattern<Figures>>),
    /// Another thread folds every read's key and gives its pattern's number ([`MrcBuilder::numbered`]).
    Numbered { figures: Vec<Figures>, names: Vec<String> },
}

impl MrcBuilder {
    pub fn new(config: MrcConfig) -> Self {
        MrcBuilder {
            shards: Shards::new(config.sampling),
            curve: SampleCurve::default(),
            expiries: IdMap::new(),
            patterns: Patterns::Folded(Box::new(ByPattern::new(config.fold.clone(), config.max_patterns))),
            hashes: Vec::new(),
            config,
        }
    }

    /// A builder told each read's pattern by its number ([`MrcBuilder::observe_numbered`]), and of new and merged
    /// patterns ([`MrcBuilder::new_pattern`], [`MrcBuilder::refold_patterns`]), by a thread that folds every
    /// read's key in order. Exact curves only: under SHARDS only sampled reads are folded, which that thread
    /// cannot tell.
    pub fn numbered(config: MrcConfig) -> Self {
        MrcBuilder {
            patterns: Patterns::Numbered { figures: Vec::new(), names: Vec::new() },
            ..MrcBuilder::new(MrcConfig { sampling: Sampling::Exact, ..config })
        }
    }

    /// A pattern numbered next.
    pub fn new_pattern(&mut self, name: String) {
        if let Patterns::Numbered { names, .. } = &mut self.patterns {
            names.push(name);
        }
    }

    /// Patterns merged by learning: where each old number went, and the names now.
    pub fn refold_patterns(&mut self, map: &[usize], now: &[String]) {
        if let Patterns::Numbered { figures, names } = &mut self.patterns {
            crate::by_pattern::refold(figures, map);
            *names = now.to_vec();
        }
    }

    /// [`MrcBuilder::observe`] for a builder made by [`MrcBuilder::numbered`]: `pattern` is the number of a
    /// read's key's pattern (ignored for other events).
    /// `id` is the key's [`key_hash`].
    pub fn observe_numbered(&mut self, event: &Event<'_>, pattern: usize, id: u64) {
        self.observe_with(event, Some(pattern), id);
    }

    /// The key with this [`key_hash`] comes a few events later: its record is asked for now, so that the wait
    /// for memory overlaps the work on the events before.
    #[inline]
    pub fn prefetch(&self, id: u64) {
        self.shards.prefetch(id);
        if !self.expiries.is_empty() {
            self.expiries.prefetch(id);
        }
    }

    fn size(&self, event: &Event<'_>) -> u64 {
        if self.config.unit_size { 1 } else { (event.key.len() as u64 + u64::from(event.value_size)).max(1) }
    }

    pub fn observe(&mut self, event: &Event<'_>) {
        self.observe_with(event, None, key_hash(event.db, event.key));
    }

    /// [`MrcBuilder::observe`] with the key's [`key_hash`] known.
    pub fn observe_hashed(&mut self, event: &Event<'_>, id: u64) {
        self.observe_with(event, None, id);
    }

    /// Under SHARDS, the range of keys the sample may follow, for threads that sort a trace's events for this
    /// one ([`SampleRange`]): they pass on the events of keys in the range, and of the reads of the others only
    /// the hash to count them by ([`MrcBuilder::count_left_out`]); None for an exact curve.
    pub fn sample_range(&self) -> Option<SampleRange> {
        self.shards.range()
    }

    /// The sample's range now ([`SampleRange::narrow`]).
    pub fn sample_threshold(&self) -> u64 {
        self.shards.threshold()
    }

    /// A read of a key outside the sample's range, in its place among the events observed: it only counts.
    #[inline]
    pub fn count_left_out(&mut self, hash: u64) {
        self.shards.count_left_out(hash);
    }

    /// Feeds `len` events in order, taken by their place, as [`MrcBuilder::observe`] does one by one, but with
    /// each key's records asked for [`AHEAD`] events before its own, so that the waits on memory overlap.
    pub fn observe_indexed<'e>(&mut self, len: usize, event: impl Fn(usize) -> Event<'e>) {
        let mut hashes = std::mem::take(&mut self.hashes);
        key_hashes(&mut hashes, len, &event);
        for &hash in hashes.iter().take(AHEAD) {
            self.prefetch(hash);
        }
        for (index, &hash) in hashes.iter().enumerate() {
            if let Some(&ahead) = hashes.get(index + AHEAD) {
                self.prefetch(ahead);
            }
            self.observe_with(&event(index), None, hash);
        }
        self.hashes = hashes;
    }

    fn observe_with(&mut self, event: &Event<'_>, pattern: Option<usize>, id: u64) {
        // A key outside the sample's range never comes in: its reads only count, and nothing else about it
        // matters (a flush still empties the sample).
        if !matches!(event.command, Command::Flush(_))
            && let Some(hash) = self.shards.left_out(id)
        {
            if event.command == Command::Read {
                self.shards.count_left_out(hash);
            }
            return;
        }
        match event.command {
            Command::Read => {
                if !self.expiries.is_empty()
                    && let Some(at) = self.expiries.get(id)
                    && at <= event.time
                {
                    self.expiries.remove(id);
                    self.shards.forget(id);
                }
                let size = self.size(event);
                if let Some(sampled) = self.shards.read(id, size, self.config.read_through) {
                    self.curve.record(sampled);
                    if self.config.max_patterns > 0 {
                        let figures = match (&mut self.patterns, pattern) {
                            (Patterns::Folded(by_pattern), _) => by_pattern.entry(event.key).1,
                            (Patterns::Numbered { figures, .. }, Some(id)) => {
                                if id >= figures.len() {
                                    figures.resize_with(id + 1, Figures::default);
                                }
                                &mut figures[id]
                            }
                            (Patterns::Numbered { .. }, None) => return,
                        };
                        figures.reads += sampled.weight;
                        figures.curve.record(sampled.distance, sampled.weight);
                    }
                }
            }
            Command::Write(_) => {
                self.shards.write(id, self.size(event));
                self.set_ttl(id, event.ttl, event.time);
            }
            Command::Expire => {
                self.set_ttl(id, event.ttl, event.time);
            }
            // An expiry the server saw happens at every size; an eviction depends on the size, which the curve varies.
            Command::Delete | Command::Removed(Removal::Expired) => {
                self.expiries.remove(id);
                self.shards.forget(id);
            }
            // Databases are not told apart here: a flush of one forgets all, an approximation on the safe side.
            Command::Flush(_) => {
                self.expiries = IdMap::new();
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
                    self.expiries.retain(|id, _| shards.tracks(id));
                }
            }
            TtlChange::Persist => {
                self.expiries.remove(id);
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

fn finish_patterns(patterns: Patterns) -> Vec<PatternCurve> {
    let entries = match patterns {
        Patterns::Folded(by_pattern) => (*by_pattern).into_entries(),
        Patterns::Numbered { mut figures, names } => {
            figures.resize_with(names.len(), Figures::default);
            names.into_iter().zip(figures).collect()
        }
    };
    let mut entries: Vec<PatternCurve> = entries
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

    /// Events fed a batch at a time, each key's records asked for ahead, give the curves of events fed one by
    /// one: reads, writes with and without TTLs, expiries, deletes and a flush, over keys of two patterns.
    #[test]
    fn events_fed_by_place_give_the_curves_of_events_one_by_one() {
        let keys: Vec<String> =
            (0..300).map(|i| if i % 3 == 0 { format!("page:{i}") } else { format!("user:{i}") }).collect();
        let mut events = Vec::new();
        let mut state = 7u64;
        for time in 0..20_000u64 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let key = keys[(state % 300) as usize].as_bytes();
            let at = time * 1_000;
            events.push(match state % 23 {
                _ if time == 10_000 => {
                    Event { command: Command::Flush(cachescope_core::FlushScope::All), ..read(at, "") }
                }
                0 => Event::write(at, key, TtlChange::ExpireIn(500)),
                1..=5 => Event::write(at, key, TtlChange::Persist),
                6 => Event { command: Command::Delete, ..Event::write(at, key, TtlChange::Keep) },
                _ => Event { key, value_size: (state % 50) as u32, ..read(at, "") },
            });
        }
        for read_through in [false, true] {
            let mut one_by_one = MrcBuilder::new(config(read_through));
            events.iter().for_each(|event| one_by_one.observe(event));
            let mut by_place = MrcBuilder::new(config(read_through));
            for chunk in events.chunks(777) {
                by_place.observe_indexed(chunk.len(), |index| chunk[index]);
            }
            let (expected, got) = (one_by_one.finish(), by_place.finish());
            assert_eq!(got.reads, expected.reads);
            let sizes: Vec<u64> = (0..=320).collect();
            assert_eq!(got.curve.points(&sizes), expected.curve.points(&sizes), "read-through: {read_through}");
            let patterns = |mrc: &Mrc| {
                mrc.patterns.iter().map(|p| (p.pattern.clone(), p.reads, p.curve.points(&sizes))).collect::<Vec<_>>()
            };
            assert_eq!(patterns(&got), patterns(&expected));
            assert!(expected.curve.miss_ratio(10_000) > 0.0 && expected.curve.miss_ratio(10_000) < 1.0);
        }
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

    /// A sample keeps the expiries of the keys it may follow only, so that its memory follows the sample rather
    /// than the trace; expired keys in the sample still miss, at every size.
    #[test]
    fn a_sample_keeps_the_expiries_of_its_own_keys() {
        for sampling in [Sampling::FixedRate(0.01), Sampling::FixedSize(100)] {
            let mut builder = MrcBuilder::new(MrcConfig { sampling, ..config(false) });
            let keys: Vec<String> = (0..50_000).map(|i| format!("user:{i}")).collect();
            for (i, key) in keys.iter().enumerate() {
                builder.observe(&Event::write(i as Micros, key.as_bytes(), TtlChange::ExpireIn(1_000)));
            }
            // At a fixed rate the sample only grows: its keys, exactly. A fixed size drops keys as it shrinks,
            // whose expiries are pruned now and then.
            let most = match sampling {
                Sampling::FixedRate(_) => builder.shards.keys(),
                _ => 2 * builder.shards.keys() + 4096,
            };
            assert!(
                builder.expiries.len() <= most && builder.shards.keys() > 0,
                "{sampling:?}: {} expiries for {} keys followed",
                builder.expiries.len(),
                builder.shards.keys()
            );
            // Every key read again after its TTL: each sampled read misses at any size.
            let late = 10_000_000_000;
            for key in &keys {
                builder.observe(&read(late, key));
            }
            let mrc = builder.finish();
            assert!(mrc.curve.miss_ratio(1_000_000) > 0.999, "{sampling:?}: {}", mrc.curve.miss_ratio(1_000_000));
        }
    }
}
