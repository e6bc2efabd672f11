//! A shard's result: what one engine over a share of the keys knows at the end of a trace, in a form that merges
//! with the other shards' into the result of one engine over every key.
//!
//! Counts add up; the sketches merge (bottom-k and histograms exactly, the top keys by keeping the largest of
//! disjoint keys); the walk over the tracked keys is done by each shard before it hands its share over. What
//! is the trace's rather than the keys' (the clock, the markers, the events read) is the same in every shard:
//! a merge checks it and refuses shares of different traces. Learned folding is merged too, and the patterns a
//! shard had not learned yet are folded again, so a prefix whose values were split between shards is learned
//! as one engine would have.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::pattern::learn::Learner;
use crate::pattern::{FoldConfig, KeyRules, PatternFolder, PatternId};
use crate::report::{Report, Sampling};
use crate::sketch::{KeyTopK, Timeline};

use super::markers::UNLISTED;
use super::shard::Shard;
use super::snapshot::{self, KeyTotals, Parts, PatternPart};
use super::stats::PatternStats;
use super::{Clock, Engine, EngineConfig, InitialState, Marker};

/// One pattern of a share.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct PartialPattern {
    pub name: String,
    pub from_rule: bool,
    pub stats: PatternStats,
    pub totals: KeyTotals,
}

/// The key state a shard kept: how many keys it tracked, at what rate, in what budget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct KeySample {
    pub rate: f64,
    pub tracked_keys: u64,
    pub budget_bytes: u64,
}

/// The result of one or more shards of an analysis (see the module's documentation).
#[derive(Debug)]
pub struct Partial {
    pub(crate) config: EngineConfig,
    /// The shards it holds, in order.
    pub(crate) shards: Vec<Shard>,
    pub(crate) folder: PatternFolder,
    pub(crate) clock: Clock,
    pub(crate) events: u64,
    pub(crate) skipped_lines: u64,
    pub(crate) markers: Vec<Marker>,
    pub(crate) timeline: Timeline,
    /// The patterns; the top keys are labelled with their index here.
    pub(crate) patterns: Vec<PartialPattern>,
    pub(crate) top_evicted: KeyTopK,
    pub(crate) top_flushed: KeyTopK,
    pub(crate) keys: Vec<KeySample>,
    pub(crate) max_patterns: u64,
    pub(crate) overflowed_keys: Option<u64>,
}

/// Why two shares do not merge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("shard {0} is given twice")]
    SameShard(Shard),
    #[error(
        "shard {ours} and shard {theirs} split the keys differently: every share must come from the same number of shards"
    )]
    ShardCounts { ours: Shard, theirs: Shard },
    #[error("the shares are of different traces ({what} differ): each must read the same whole trace")]
    OtherTrace { what: &'static str },
    #[error("the shares were analysed with different settings ({what} differ): run every shard with the same options")]
    OtherSettings { what: &'static str },
}

impl Engine {
    /// Ends this engine's share: walks its tracked keys and keeps what the report of all shards needs.
    pub fn into_partial(self) -> Partial {
        let totals = self.key_totals();
        let mut index_of: HashMap<PatternId, PatternId> = HashMap::new();
        let mut patterns = Vec::new();
        let mut stats = self.stats;
        for id in self.table.live_ids() {
            let Some(pattern_stats) = stats.get_mut(id as usize) else { continue };
            index_of.insert(id, patterns.len() as PatternId);
            patterns.push(PartialPattern {
                name: self.table.name(id).to_string(),
                from_rule: self.table.is_from_rule(id),
                stats: std::mem::take(pattern_stats),
                totals: totals.get(id as usize).copied().unwrap_or_default(),
            });
        }
        let table = &self.table;
        let relabel = |id: PatternId| index_of.get(&table.canonical(id)).copied().unwrap_or(PatternId::MAX);
        let (mut top_evicted, mut top_flushed) = (self.top_evicted, self.top_flushed);
        top_evicted.relabel_all(relabel);
        top_flushed.relabel_all(relabel);
        Partial {
            shards: vec![self.config.shard],
            folder: self.folder,
            clock: self.clock,
            events: self.events,
            skipped_lines: self.skipped_lines,
            markers: self.markers.list,
            timeline: self.timeline,
            patterns,
            top_evicted,
            top_flushed,
            keys: vec![KeySample {
                rate: self.keys.rate(),
                tracked_keys: self.keys.len() as u64,
                budget_bytes: self.keys.budget_bytes() as u64,
            }],
            max_patterns: self.table.max_patterns() as u64,
            overflowed_keys: self.table.overflowed(),
            config: self.config,
        }
    }
}

impl Partial {
    /// The shards this share holds.
    pub fn shards(&self) -> &[Shard] {
        &self.shards
    }

    /// Events read (by every shard: the whole trace).
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The shards missing from a complete split.
    pub fn missing(&self) -> Vec<Shard> {
        let count = self.shards.first().map_or(1, |s| s.count);
        Shard::all(count).filter(|s| !self.shards.contains(s)).collect()
    }

    /// Names the parts of `shard` merged here as `shard` itself, once every part of [`Shard::split`] is here:
    /// the threads of one shard give one share.
    pub fn coarsen(&mut self, shard: Shard) -> Result<(), MergeError> {
        let parts = self.shards.first().map_or(1, |s| s.count) / shard.count.max(1);
        let expected = shard.split(parts);
        if self.shards != expected {
            let ours = self.shards.first().copied().unwrap_or(Shard::WHOLE);
            return Err(MergeError::ShardCounts { ours, theirs: shard });
        }
        self.shards = vec![shard];
        self.config.shard = shard;
        Ok(())
    }

    /// Whether every shard of the split is here: its report is the whole trace's.
    pub fn is_complete(&self) -> bool {
        self.shards.first().is_some_and(|s| s.count as usize == self.shards.len())
    }

    /// Adds another share of the same trace.
    pub fn merge(&mut self, other: Partial) -> Result<(), MergeError> {
        self.check_compatible(&other)?;
        self.shards.extend(other.shards.iter().copied());
        self.shards.sort_by_key(|s| s.index);
        let relearn = self.folder.merge_learned(&other.folder);

        let mut by_name: HashMap<String, usize> =
            self.patterns.iter().enumerate().map(|(index, p)| (p.name.clone(), index)).collect();
        let mut index_of = Vec::with_capacity(other.patterns.len());
        for pattern in other.patterns {
            match by_name.get(&pattern.name) {
                Some(&index) => {
                    let ours = &mut self.patterns[index];
                    ours.stats.merge(pattern.stats);
                    ours.totals.add(&pattern.totals);
                    index_of.push(index as PatternId);
                }
                None => {
                    by_name.insert(pattern.name.clone(), self.patterns.len());
                    index_of.push(self.patterns.len() as PatternId);
                    self.patterns.push(pattern);
                }
            }
        }
        let relabel = |id: PatternId| index_of.get(id as usize).copied().unwrap_or(PatternId::MAX);
        self.top_evicted.merge_disjoint(&other.top_evicted, relabel);
        self.top_flushed.merge_disjoint(&other.top_flushed, relabel);
        self.timeline.merge(&other.timeline);
        self.keys.extend(other.keys);
        self.overflowed_keys = match (self.overflowed_keys, other.overflowed_keys) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        if relearn || !self.patterns.is_empty() {
            self.refold();
        }
        Ok(())
    }

    fn check_compatible(&self, other: &Partial) -> Result<(), MergeError> {
        let (ours, theirs) = (self.shards[0], other.shards[0]);
        if ours.count != theirs.count {
            return Err(MergeError::ShardCounts { ours, theirs });
        }
        if let Some(&twice) = other.shards.iter().find(|s| self.shards.contains(s)) {
            return Err(MergeError::SameShard(twice));
        }
        let trace = |what| Err(MergeError::OtherTrace { what });
        if self.events != other.events {
            return trace("the numbers of events");
        }
        if self.clock != other.clock {
            return trace("the first and last times");
        }
        if self.markers.len() != other.markers.len()
            || self.markers.iter().zip(&other.markers).any(|(a, b)| a.time != b.time || a.kind != b.kind)
        {
            return trace("the flushes, restarts and markers");
        }
        let settings = |what| Err(MergeError::OtherSettings { what });
        let (a, b) = (&self.config, &other.config);
        if a.initial_state != b.initial_state || a.presumed_held != b.presumed_held {
            return settings("the cache's initial state");
        }
        if a.hits_observed != b.hits_observed {
            return settings("what the source observes");
        }
        if a.cache_capacity != b.cache_capacity {
            return settings("the cache sizes");
        }
        if a.max_patterns != b.max_patterns || a.fold.learn_threshold != b.fold.learn_threshold {
            return settings("the pattern settings");
        }
        Ok(())
    }

    /// Folds every pattern name again with what the shards learned together and merges those that change, as
    /// one engine merges patterns when it learns.
    fn refold(&mut self) {
        let mut target_of: Vec<PatternId> = (0..self.patterns.len() as PatternId).collect();
        let mut by_name: HashMap<String, usize> =
            self.patterns.iter().enumerate().map(|(index, p)| (p.name.clone(), index)).collect();
        for index in 0..self.patterns.len() {
            if self.patterns[index].from_rule {
                continue;
            }
            let refolded = self.folder.refold(&self.patterns[index].name);
            if refolded == self.patterns[index].name {
                continue;
            }
            let refolded = refolded.to_string();
            let target = match by_name.get(&refolded) {
                Some(&target) => target,
                None => {
                    by_name.insert(refolded.clone(), self.patterns.len());
                    target_of.push(self.patterns.len() as PatternId);
                    self.patterns.push(PartialPattern {
                        name: refolded,
                        from_rule: false,
                        stats: PatternStats::default(),
                        totals: KeyTotals::default(),
                    });
                    self.patterns.len() - 1
                }
            };
            if target == index {
                continue;
            }
            let stats = std::mem::take(&mut self.patterns[index].stats);
            let totals = std::mem::take(&mut self.patterns[index].totals);
            self.patterns[target].stats.merge(stats);
            self.patterns[target].totals.add(&totals);
            target_of[index] = target as PatternId;
        }
        // Follow chains (a pattern merged into one merged later), then drop the emptied ones.
        let resolve = |mut id: PatternId| {
            while target_of[id as usize] != id {
                id = target_of[id as usize];
            }
            id
        };
        let merged: Vec<bool> = (0..self.patterns.len()).map(|i| resolve(i as PatternId) != i as PatternId).collect();
        let mut new_index = vec![PatternId::MAX; self.patterns.len()];
        let mut next = 0;
        for (index, &gone) in merged.iter().enumerate() {
            if !gone {
                new_index[index] = next;
                next += 1;
            }
        }
        let relabel = |id: PatternId| if id == PatternId::MAX { id } else { new_index[resolve(id) as usize] };
        self.top_evicted.relabel_all(relabel);
        self.top_flushed.relabel_all(relabel);
        let mut index = 0;
        self.patterns.retain(|_| {
            let keep = !merged[index];
            index += 1;
            keep
        });
    }

    /// The report of the shards merged so far: with every shard, the report of one engine over the whole
    /// trace.
    pub fn report(&self) -> Report {
        let patterns = self
            .patterns
            .iter()
            .enumerate()
            .map(|(index, p)| PatternPart { id: index as PatternId, name: &p.name, stats: &p.stats, totals: p.totals })
            .collect();
        snapshot::build(Parts {
            config: &self.config,
            clock: self.clock,
            events: self.events,
            skipped_lines: self.skipped_lines,
            markers: &self.markers,
            timeline: &self.timeline,
            patterns,
            top_evicted: &self.top_evicted,
            top_flushed: &self.top_flushed,
            sampling: self.sampling(),
            pattern_overflow: self.overflowed_keys.map(|overflowed_keys| crate::report::PatternOverflow {
                max_patterns: self.max_patterns,
                overflowed_keys,
            }),
        })
    }

    /// The shards' key sampling together: the share of all keys tracked, when some shard sampled.
    fn sampling(&self) -> Option<Sampling> {
        if self.keys.iter().all(|k| k.rate >= 1.0) {
            return None;
        }
        let tracked: u64 = self.keys.iter().map(|k| k.tracked_keys).sum();
        let standing_for: f64 = self.keys.iter().map(|k| k.tracked_keys as f64 / k.rate).sum();
        Some(Sampling {
            rate: if standing_for > 0.0 { tracked as f64 / standing_for } else { 1.0 },
            tracked_keys: tracked,
            budget_bytes: self.keys.iter().map(|k| k.budget_bytes).sum(),
        })
    }
}

/// The settings a share was analysed with that its report depends on: stored with it, checked by a merge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoredSettings {
    initial_state: InitialState,
    hits_observed: bool,
    presumed_held: bool,
    cache_capacity: Option<u64>,
    max_patterns: usize,
    learn_threshold: usize,
    learn_max_prefixes: usize,
}

/// A share as it is written (see docs/shards.md): every field of [`Partial`] but the settings that only
/// matter while reading a trace (rules, budgets).
#[derive(Serialize)]
struct StoredRef<'a> {
    shards: &'a [Shard],
    settings: StoredSettings,
    learner: Option<&'a Learner>,
    clock: &'a Clock,
    events: u64,
    skipped_lines: u64,
    markers: &'a [Marker],
    timeline: &'a Timeline,
    patterns: &'a [PartialPattern],
    top_evicted: &'a KeyTopK,
    top_flushed: &'a KeyTopK,
    keys: &'a [KeySample],
    max_patterns: u64,
    overflowed_keys: Option<u64>,
}

/// A share as it is read back.
#[derive(Deserialize)]
struct Stored {
    shards: Vec<Shard>,
    settings: StoredSettings,
    learner: Option<Learner>,
    clock: Clock,
    events: u64,
    skipped_lines: u64,
    markers: Vec<Marker>,
    timeline: Timeline,
    patterns: Vec<PartialPattern>,
    top_evicted: KeyTopK,
    top_flushed: KeyTopK,
    keys: Vec<KeySample>,
    max_patterns: u64,
    overflowed_keys: Option<u64>,
}

impl Serialize for Partial {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let config = &self.config;
        StoredRef {
            shards: &self.shards,
            settings: StoredSettings {
                initial_state: config.initial_state,
                hits_observed: config.hits_observed,
                presumed_held: config.presumed_held,
                cache_capacity: config.cache_capacity,
                max_patterns: config.max_patterns,
                learn_threshold: config.fold.learn_threshold,
                learn_max_prefixes: config.fold.learn_max_prefixes,
            },
            learner: self.folder.learner(),
            clock: &self.clock,
            events: self.events,
            skipped_lines: self.skipped_lines,
            markers: &self.markers,
            timeline: &self.timeline,
            patterns: &self.patterns,
            top_evicted: &self.top_evicted,
            top_flushed: &self.top_flushed,
            keys: &self.keys,
            max_patterns: self.max_patterns,
            overflowed_keys: self.overflowed_keys,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Partial {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = Stored::deserialize(deserializer)?;
        Partial::try_from(stored).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<Stored> for Partial {
    type Error = String;

    /// Checks what a report would index by: a damaged or hand-edited share is refused, not trusted.
    fn try_from(stored: Stored) -> Result<Partial, String> {
        let Some(&first) = stored.shards.first() else { return Err("it names no shard".into()) };
        if stored.shards.iter().any(|s| s.count != first.count || s.index >= s.count) {
            return Err("its shards do not split the keys one way".into());
        }
        let markers = stored.markers.len();
        let bad_marker = stored
            .patterns
            .iter()
            .any(|p| p.stats.flushed_by_marker.iter().any(|&(m, _)| m != UNLISTED && m as usize >= markers));
        if bad_marker {
            return Err("a pattern refers to a flush that is not listed".into());
        }
        let settings = stored.settings;
        let fold = FoldConfig {
            rules: KeyRules::default(),
            learn_threshold: settings.learn_threshold,
            learn_max_prefixes: settings.learn_max_prefixes,
        };
        let config = EngineConfig {
            initial_state: settings.initial_state,
            hits_observed: settings.hits_observed,
            presumed_held: settings.presumed_held,
            cache_capacity: settings.cache_capacity,
            max_patterns: settings.max_patterns,
            fold,
            shard: first,
            ..EngineConfig::default()
        };
        Ok(Partial {
            config,
            shards: stored.shards,
            folder: PatternFolder::with_learner(KeyRules::default(), stored.learner),
            clock: stored.clock,
            events: stored.events,
            skipped_lines: stored.skipped_lines,
            markers: stored.markers,
            timeline: stored.timeline,
            patterns: stored.patterns,
            top_evicted: stored.top_evicted,
            top_flushed: stored.top_flushed,
            keys: stored.keys,
            max_patterns: stored.max_patterns,
            overflowed_keys: stored.overflowed_keys,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{
        Command, ErrorKind, Event, FlushScope, MICROS_PER_SEC, Outcome, OwnedEvent, Removal, TtlChange,
    };

    /// A trace with a bit of everything the findings look at: TTLs that expire under readers, evictions the
    /// server reports, a restart, a deploy marker, failing writes, a reader and a writer that disagree on the key
    /// format, one-hit wonders, a prefix whose 80 literal values a shard sees only part of, and more keys than the
    /// top-key sketches hold.
    fn trace() -> Vec<OwnedEvent> {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let features = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta"];
        let mut events = Vec::new();
        let mut present = std::collections::HashSet::new();
        for i in 0..300_000u64 {
            let time = 1_000 * MICROS_PER_SEC + i * 2_000;
            if i == 1_000 {
                for hot in 0..12u64 {
                    let key = format!("session:{}", 900_000 + hot);
                    events.push(OwnedEvent::from(&Event::write(time + hot, key.as_bytes(), TtlChange::Persist)));
                }
                continue;
            }
            if i == 150_000 {
                events.push(OwnedEvent::from(&Event::keyless(time, Command::Flush(FlushScope::Restart))));
                present.clear();
                // A dozen hot keys missed again and again until refilled: what a warm-up list should name, in
                // order. Each is above the share of all flushed misses (1/64) that the top-key sketch is sure
                // to keep, alone or in shards; below it, which of the lukewarm keys are named depends on order.
                let mut at = time;
                for hot in 0..12u64 {
                    let key = format!("session:{}", 900_000 + hot);
                    for _ in 0..600 + 20 * hot {
                        at += 1;
                        events.push(OwnedEvent::from(&Event::read(at, key.as_bytes(), Outcome::Miss)));
                    }
                    at += 1;
                    events.push(OwnedEvent::from(&Event::write(at, key.as_bytes(), TtlChange::Persist)));
                }
                continue;
            }
            if i == 200_000 {
                events.push(OwnedEvent::from(&keyed(Event::keyless(time, Command::Marker), b"deploy v2")));
                continue;
            }
            let key = match next(10) {
                0..=3 => format!("user:{}", next(5_000)),
                4 => format!("feature:{}{}", features[next(8) as usize], next(10)),
                5 => format!("cart:{}", next(2_000)),
                6 => format!("once:{i}"),
                7 => format!("product:{}", next(300)),
                _ => format!("session:{}", next(20_000)),
            };
            let mut push = |event: Event<'_>| events.push(OwnedEvent::from(&event));
            if let Some(id) = key.strip_prefix("product:") {
                // Written as `product:N`, read as `products:N`: never found.
                push(Event::write(time, key.as_bytes(), TtlChange::Persist));
                push(Event::read(time + 1, format!("products:{id}").as_bytes(), Outcome::Miss));
                continue;
            }
            if key.starts_with("session:") && next(40) == 0 && present.remove(&key) {
                push(keyed(Event::keyless(time, Command::Removed(Removal::Evicted)), key.as_bytes()));
                continue;
            }
            let hit = present.contains(&key);
            push(Event::read(time, key.as_bytes(), if hit { Outcome::Hit } else { Outcome::Miss }));
            if !hit {
                if key.starts_with("cart:") && next(3) == 0 {
                    push(
                        Event::write(time + 500, key.as_bytes(), TtlChange::Persist)
                            .with_outcome(Outcome::Error(ErrorKind::Oom)),
                    );
                } else {
                    let ttl = if key.starts_with("user:") { TtlChange::ExpireIn(20_000) } else { TtlChange::Persist };
                    push(Event::write(time + 500, key.as_bytes(), ttl).with_value_size(100 + next(900) as u32));
                    present.insert(key.clone());
                }
            }
            if key.starts_with("user:") && next(8) == 0 {
                present.remove(&key);
                push(keyed(Event::keyless(time + 700, Command::Removed(Removal::Expired)), key.as_bytes()));
            }
        }
        events
    }

    fn keyed<'a>(mut event: Event<'a>, key: &'a [u8]) -> Event<'a> {
        event.key = key;
        event
    }

    fn analyse(events: &[OwnedEvent], shard: Shard) -> Engine {
        let mut engine = Engine::new(EngineConfig { shard, ..EngineConfig::default() });
        engine.observe_indexed(events.len(), |index| events[index].as_event());
        engine
    }

    fn json(report: &Report) -> serde_json::Value {
        serde_json::to_value(report).expect("a report serialises")
    }

    #[track_caller]
    fn assert_same(merged: &Report, whole: &Report, what: &str) {
        let out = cachescope_testkit::json_differences(&json(merged), &json(whole));
        assert!(out.is_empty(), "{what}: the merged report differs from one engine's:\n{}", out.join("\n"));
    }

    #[test]
    fn shards_merged_report_what_one_engine_does() {
        let events = trace();
        let whole = analyse(&events, Shard::WHOLE).report();
        assert!(whole.findings.len() >= 4, "the trace should give findings: {:#?}", whole.findings);
        for count in [2u32, 3, 5] {
            let mut parts = Shard::all(count).map(|shard| analyse(&events, shard).into_partial());
            let mut merged = parts.next().expect("one shard at least");
            assert!(!merged.is_complete() || count == 1);
            for part in parts {
                merged.merge(part).expect("shares of one trace merge");
            }
            assert!(merged.is_complete());
            assert_same(&merged.report(), &whole, &format!("{count} shards"));
        }
    }

    /// However the events come (by their place, all at once or in batches; one by one), the report is the same.
    #[test]
    fn events_by_place_or_one_by_one_give_one_report() {
        let events = trace();
        let at_once = analyse(&events, Shard::WHOLE).report();
        let mut in_batches = Engine::new(EngineConfig::default());
        for chunk in events.chunks(777) {
            in_batches.observe_indexed(chunk.len(), |index| chunk[index].as_event());
        }
        assert_same(&in_batches.report(), &at_once, "in batches");
        let mut one_by_one = Engine::new(EngineConfig::default());
        for event in &events {
            one_by_one.observe(&event.as_event());
        }
        assert_same(&one_by_one.report(), &at_once, "one by one");
    }

    /// Written and read back (as `cachescope analyze --shard` and `cachescope merge` do), the shares still
    /// merge into one engine's report.
    #[test]
    fn shares_written_and_read_back_merge_alike() {
        let events = trace();
        let whole = analyse(&events, Shard::WHOLE).report();
        let mut parts = Shard::all(4).map(|shard| {
            let text = serde_json::to_string(&analyse(&events, shard).into_partial()).expect("a share serialises");
            serde_json::from_str::<Partial>(&text).expect("a share reads back")
        });
        let mut merged = parts.next().expect("four shards");
        for part in parts {
            merged.merge(part).expect("shares of one trace merge");
        }
        assert_same(&merged.report(), &whole, "4 shards through files");
    }

    #[test]
    fn a_damaged_share_is_refused() {
        let events = trace();
        let text = serde_json::to_string(&analyse(&events[..5000], Shard::WHOLE).into_partial()).unwrap();
        let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
        value["shards"] = serde_json::json!([{ "index": 3, "count": 2 }]);
        let error = serde_json::from_value::<Partial>(value).unwrap_err().to_string();
        assert!(error.contains("do not split the keys"), "{error}");
        assert!(serde_json::from_str::<Partial>("{\"shards\": []}").is_err());
    }

    #[test]
    fn one_shard_alone_is_its_share() {
        let events = trace();
        let whole = analyse(&events, Shard::WHOLE).report();
        let half = analyse(&events, Shard { index: 0, count: 2 }).into_partial();
        assert!(!half.is_complete());
        let report = half.report();
        assert_eq!(report.window.events, whole.window.events);
        assert!(report.summary.reads < whole.summary.reads * 2 / 3, "a half reads about half");
    }

    #[test]
    fn shares_of_other_traces_or_splits_do_not_merge() {
        let events = trace();
        let first = || analyse(&events, Shard { index: 0, count: 2 }).into_partial();
        let mut part = first();
        assert_eq!(part.merge(first()), Err(MergeError::SameShard(Shard { index: 0, count: 2 })));
        let mut part = first();
        let other_split = analyse(&events, Shard { index: 1, count: 3 }).into_partial();
        assert!(matches!(part.merge(other_split), Err(MergeError::ShardCounts { .. })));
        let mut part = first();
        let shorter = analyse(&events[..1000], Shard { index: 1, count: 2 }).into_partial();
        assert!(matches!(part.merge(shorter), Err(MergeError::OtherTrace { .. })));
    }
}
