//! The engine: takes events one at a time and keeps what it needs to explain every miss.
//!
//! For each event it finds the key's pattern (from the key's state when it is tracked, from a small cache of
//! recent folds, or by folding the key), counts the event on the pattern, and, when the key is tracked, updates
//! the key's shadow state and attributes a miss to its cause. [`Engine::report`] turns all of it into a
//! [`Report`] with findings; it can be called as often as wanted, live sources call it periodically.
//!
//! The engine does no I/O, reads no clock and never fails: odd input is counted, not an error.

mod attribution;
mod key_table;
mod keys;
mod markers;
mod partial;
mod shard;
mod snapshot;
mod stats;
mod window;

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::event::{Command, Event, MICROS_PER_MILLI, MICROS_PER_SEC, Micros, Outcome, Removal, TtlChange};
use crate::findings::Thresholds;
use crate::pattern::{FoldConfig, PatternFolder, PatternId, PatternTable};
use crate::report::{MissCause, Report};
use crate::sketch::{KeyTopK, Timeline, timeline::MAX_BUCKETS};

use attribution::{MissContext, attribute};
use keys::{KeyState, KeyStates, Lookup, Stamp, Stamps, flags};
use markers::Markers;
use stats::PatternStats;

pub(crate) use markers::{Marker, MarkerKind};
pub use partial::{MergeError, Partial};
pub use shard::Shard;
pub(crate) use stats::PatternStats as Stats;
use window::{Counted, WindowCounter};
pub use window::{Window, WindowCounts};

/// What the cache held before the first event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitialState {
    /// Empty: a simulation, or a trace replayed through a cache model from scratch. A miss on a key never seen
    /// is `never_written`.
    #[default]
    Empty,
    /// Unknown: a live source that joined a running cache. A first miss on a key never seen is `unknown`.
    Unknown,
}

impl InitialState {
    pub fn as_str(self) -> &'static str {
        match self {
            InitialState::Empty => "empty",
            InitialState::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub fold: FoldConfig,
    /// Patterns kept at most; the rest go to `{other}`.
    pub max_patterns: usize,
    /// Bytes of per-key state at most; past it keys are sampled.
    pub key_budget_bytes: usize,
    pub initial_state: InitialState,
    /// The cache's memory limit when the source knows it (maxmemory, `--cache-size`): memory findings compare
    /// the working set with it.
    pub cache_capacity: Option<u64>,
    pub thresholds: Thresholds,
    /// Whether the source sees hits. Keyspace notifications tell misses and not hits: the report then gives no
    /// hit ratio rather than 0%.
    pub hits_observed: bool,
    /// A cache model joined a running cache and answered the first read of each key the trace had not mentioned
    /// as a hit ([`InitialState::Unknown`] replayed through a model): a hit on a key the trace never wrote is a
    /// presumption, not an observation, and a pattern never written has no known misses.
    pub presumed_held: bool,
    /// The share of the keys this engine analyses ([`Shard::WHOLE`]: all of them). It still reads every event.
    pub shard: Shard,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            fold: FoldConfig::default(),
            max_patterns: 500,
            key_budget_bytes: 64 << 20,
            initial_state: InitialState::Empty,
            cache_capacity: None,
            thresholds: Thresholds::default(),
            hits_observed: true,
            presumed_held: false,
            shard: Shard::WHOLE,
        }
    }
}

/// How soon after a presumed hit a first write of its key shows the read missed and was refilled: an
/// application refills within milliseconds of its miss (computing the value), far sooner than it rewrites a key
/// it found.
pub const REFILL_WINDOW: Micros = MICROS_PER_SEC;

/// Recent folds, by key hash: most events are for keys seen a moment ago, and folding costs more than a lookup
/// (about 2,400 instructions). Keys the engine does not track (sampled out) are folded at each event, so the
/// cache serves them most: 131,072 slots (3 MiB) made a sampled run 10% faster than 16,384 did, and an exact one
/// no slower.
const FOLD_CACHE_SLOTS: usize = 1 << 17;

#[derive(Debug, Clone, Copy)]
struct CachedFold {
    hash: u64,
    pattern: PatternId,
    ids: u64,
}

const EMPTY_FOLD: CachedFold = CachedFold { hash: 0, pattern: PatternId::MAX, ids: 0 };

/// The start and the bucket width shared by every timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Clock {
    first: Option<Micros>,
    last: Micros,
    bucket_width: Micros,
}

/// The timeline bucket of the latest event, and the times it spans: most events fall in the bucket of the
/// one before, and are placed without a division.
#[derive(Debug, Clone, Copy)]
struct LastBucket {
    start: Micros,
    end: Micros,
    index: usize,
}

impl LastBucket {
    const NONE: LastBucket = LastBucket { start: 1, end: 0, index: 0 };
}

pub struct Engine {
    config: EngineConfig,
    last_bucket: LastBucket,
    folder: PatternFolder,
    table: PatternTable,
    /// Indexed by pattern id; merged-away patterns are left empty.
    stats: Vec<PatternStats>,
    keys: KeyStates,
    fold_cache: Vec<CachedFold>,
    /// The key hashes of the events being observed ([`Engine::observe_indexed`]), kept for their memory.
    hashes: Vec<u64>,
    clock: Clock,
    timeline: Timeline,
    markers: Markers,
    /// Hottest keys among evicted and flushed misses: what to give memory to, what to warm first.
    top_evicted: KeyTopK,
    top_flushed: KeyTopK,
    events: u64,
    skipped_lines: u64,
    /// The counts since the last [`Engine::take_window`].
    window: WindowCounter,
    /// The event being observed is a read a cache model presumed a hit ([`Engine::observe_presumed`]).
    presuming: bool,
}

impl Engine {
    pub fn new(config: EngineConfig) -> Self {
        Engine {
            folder: PatternFolder::new(config.fold.clone()),
            table: PatternTable::new(config.max_patterns),
            stats: Vec::new(),
            keys: KeyStates::new(config.key_budget_bytes),
            fold_cache: vec![EMPTY_FOLD; FOLD_CACHE_SLOTS],
            hashes: Vec::new(),
            clock: Clock { first: None, last: 0, bucket_width: MICROS_PER_SEC },
            last_bucket: LastBucket::NONE,
            timeline: Timeline::default(),
            markers: Markers::default(),
            top_evicted: KeyTopK::new(64),
            top_flushed: KeyTopK::new(64),
            events: 0,
            skipped_lines: 0,
            window: WindowCounter::default(),
            presuming: false,
            config,
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Sets the cache's memory limit once a source learns it.
    pub fn set_cache_capacity(&mut self, bytes: Option<u64>) {
        self.config.cache_capacity = bytes;
    }

    /// Sets what the cache held before the first event, once the source knows (a replay that turns out to need a
    /// cache model starts from an empty one). Meant for before the first event.
    pub fn set_initial_state(&mut self, state: InitialState) {
        self.config.initial_state = state;
    }

    /// See [`EngineConfig::presumed_held`].
    pub fn set_presumed_held(&mut self, presumed: bool) {
        self.config.presumed_held = presumed;
    }

    /// Counts input lines a source skipped as malformed, so that the report can say so.
    pub fn note_skipped_lines(&mut self, lines: u64) {
        self.skipped_lines += lines;
    }

    pub fn events(&self) -> u64 {
        self.events
    }

    /// The counts since the last call (or since the start), whole cache and per pattern, and the patterns merged
    /// meanwhile: for a live source's windows. Cheap: it walks the patterns, not the keys.
    pub fn take_window(&mut self) -> Window {
        self.window.take()
    }

    /// The name of a pattern (of the id it counts under now).
    pub fn pattern_name(&self, id: PatternId) -> &str {
        self.table.name(self.table.canonical(id))
    }

    /// Bytes held by per-key state now (bounded by the key budget).
    pub fn key_state_bytes(&self) -> usize {
        self.keys.allocated_bytes()
    }

    /// Feeds one event.
    pub fn observe(&mut self, event: &Event<'_>) {
        self.observe_hashed(event, key_hash(event.db, event.key));
    }

    /// Feeds one event, as [`Engine::observe`] does, and returns the cause a read miss was attributed to, when
    /// its key is tracked (all keys, unless the key budget made the engine sample them). For measuring
    /// attribution against a known truth.
    pub fn observe_attributed(&mut self, event: &Event<'_>) -> Option<MissCause> {
        self.observe_hashed(event, key_hash(event.db, event.key))
    }

    /// Feeds a read that a cache model answered by presuming its key held before the trace began (it is counted
    /// as the hit it probably was). If the key's first write follows within [`REFILL_WINDOW`], before any other
    /// read of it, that write was the refill of a miss: the read is counted as the miss it was, then.
    pub fn observe_presumed(&mut self, event: &Event<'_>) -> Option<MissCause> {
        self.observe_presumed_hashed(event, key_hash(event.db, event.key))
    }

    /// [`Engine::observe_presumed`] with the key's [`key_hash`] known.
    pub fn observe_presumed_hashed(&mut self, event: &Event<'_>, hash: u64) -> Option<MissCause> {
        self.presuming = true;
        let cause = self.observe_hashed(event, hash);
        self.presuming = false;
        cause
    }

    /// For a replay through a cache model that joined a running cache ([`EngineConfig::presumed_held`]): whether
    /// a read of a key the trace has never changed may still find what the cache held before the trace began.
    /// Not later than the longest TTL its pattern's keys are written with (and some slack): a key held then
    /// would have expired since and been refilled, and the refill would be in the trace.
    pub fn presumption_holds(&mut self, event: &Event<'_>) -> bool {
        self.presumption_holds_hashed(event, key_hash(event.db, event.key))
    }

    /// [`Engine::presumption_holds`] with the key's [`key_hash`] known.
    pub fn presumption_holds_hashed(&mut self, event: &Event<'_>, hash: u64) -> bool {
        let Some(first) = self.clock.first else { return true };
        if !self.config.shard.owns(hash) {
            return true;
        }
        let (pattern, _) = self.fold(hash, event.key);
        let stats = &self.stats[pattern as usize];
        match stats.ttl_ms.max() {
            Some(ms) if stats.writes_without_ttl == 0 => {
                let lifetime = ms.saturating_mul(MICROS_PER_MILLI) / 4 * 5 + 2 * MICROS_PER_SEC;
                event.time.saturating_sub(first) <= lifetime
            }
            _ => true,
        }
    }

    /// Feeds events in order, as [`Engine::observe`] does one by one, but faster: per-key state is looked up in
    /// a table far larger than the CPU's caches, so each lookup waits on memory. The events are taken by their
    /// place, `len` of them; each key is hashed once, and the state of the key [`AHEAD`] events on is asked for
    /// before an event is observed, so that the waits overlap the work.
    pub fn observe_indexed<'e>(&mut self, len: usize, event: impl Fn(usize) -> Event<'e>) {
        let mut hashes = std::mem::take(&mut self.hashes);
        key_hashes(&mut hashes, len, &event);
        self.observe_ahead(len, |index| hashes[index], |index| (event(index), None));
        self.hashes = hashes;
    }

    /// [`Engine::observe_indexed`], with the key hashes known (`hash` gives the key hash of the event at a place).
    pub fn observe_hashed_indexed<'e>(
        &mut self,
        len: usize,
        hash: impl Fn(usize) -> u64,
        event: impl Fn(usize) -> Event<'e>,
    ) {
        self.observe_ahead(len, hash, |index| (event(index), None));
    }

    /// [`Engine::observe_indexed`], with the key hashes known (`hash` gives the key hash of the event at a place), for an engine fed only the events of its shard's
    /// keys (and every flush and marker) by a reader that splits the trace: before each event,
    /// [`Engine::catch_up`] with what the reader says of the events of other keys before it.
    pub fn observe_split_indexed<'e>(
        &mut self,
        len: usize,
        hash: impl Fn(usize) -> u64,
        event: impl Fn(usize) -> (Event<'e>, CatchUp),
    ) {
        self.observe_ahead(len, hash, |index| {
            let (event, catch_up) = event(index);
            (event, Some(catch_up))
        });
    }

    fn observe_ahead<'e>(
        &mut self,
        len: usize,
        hash: impl Fn(usize) -> u64,
        event: impl Fn(usize) -> (Event<'e>, Option<CatchUp>),
    ) {
        for index in 0..len.min(AHEAD) {
            self.prefetch_key(hash(index));
        }
        for index in 0..len {
            if index + AHEAD < len {
                self.prefetch_key(hash(index + AHEAD));
            }
            let (event, catch_up) = event(index);
            if let Some(catch_up) = catch_up {
                self.catch_up(catch_up);
            }
            self.observe_hashed(&event, hash(index));
        }
    }

    /// For an engine fed only its own keys' events: accounts for the events of other keys that came before the
    /// next one as observing them would have (see [`Shard`]): they count, and they move the clock. The count is
    /// read only at the end, and a time on the clock moves it as a later one would, only less far (the
    /// timelines' buckets widen later, and figures recorded then merged when they widen are the same), so an
    /// engine whose next events all have times on the clock may catch up once before them rather than before
    /// each: only a time off the clock falls back on the latest time before it.
    pub fn catch_up(&mut self, catch_up: CatchUp) {
        self.clock.first.get_or_insert(catch_up.first);
        // A time the clock has passed changes nothing.
        if let Some(time) = catch_up.latest_before.filter(|&time| time > self.clock.last) {
            self.bucket_of(time);
        }
        self.events = self.events.max(catch_up.events_before);
    }

    /// Prefetches the state of the keys with these hashes that this engine keeps.
    #[inline]
    fn prefetch(&self, hashes: impl Iterator<Item = u64>) {
        let shard = self.config.shard;
        for hash in hashes.filter(|&hash| shard.owns(hash)) {
            if self.keys.is_sampled(hash) {
                self.keys.prefetch(hash);
            } else {
                // A key sampled out is folded at each event: its fold is what it needs.
                crate::prefetch::prefetch(&self.fold_cache[fold_slot(hash)]);
            }
        }
    }

    /// Asks the processor for the state of the key with this [`key_hash`], without waiting: a caller that feeds
    /// events one by one ([`Engine::observe_hashed`]) and knows the next ones names them a few events ahead, as
    /// [`Engine::observe_indexed`] does itself.
    #[inline]
    pub fn prefetch_key(&self, hash: u64) {
        self.prefetch(std::iter::once(hash));
    }

    /// [`Engine::observe_attributed`] with the key's [`key_hash`] known.
    pub fn observe_hashed(&mut self, event: &Event<'_>, hash: u64) -> Option<MissCause> {
        self.events += 1;
        let bucket = self.bucket_of(event.time);
        match event.command {
            Command::Flush(scope) => {
                let name =
                    (event.node != 0 && !event.key.is_empty()).then(|| String::from_utf8_lossy(event.key).into_owned());
                self.markers.flush(event.time, scope, event.db, event.node, name);
                self.window.flushes.push((event.time, scope, event.db));
            }
            Command::Marker => {
                let label = String::from_utf8_lossy(event.key).into_owned();
                self.window.labels.push((event.time, label.clone()));
                self.markers.label(event.time, label);
            }
            Command::Read | Command::Write(_) | Command::Delete | Command::Expire | Command::Removed(_) => {
                // Another shard's key: it still moved the clock.
                if !self.config.shard.owns(hash) {
                    return None;
                }
                return self.on_key_event(event, hash, bucket);
            }
        }
        None
    }

    /// The timeline bucket of `time`, widening every timeline's buckets when the trace outgrows them. A time
    /// before the first event, or absurdly far after it (a corrupt timestamp), goes to the bucket of the latest
    /// time instead of stretching the timeline.
    #[inline]
    fn bucket_of(&mut self, time: Micros) -> usize {
        // Most events fall in the bucket of the event before.
        let last = self.last_bucket;
        if time >= last.start
            && time < last.end
            && let Some(first) = self.clock.first
            && counts_on_clock(first, time)
        {
            self.clock.last = self.clock.last.max(time);
            return last.index;
        }
        self.bucket_of_slow(time)
    }

    #[inline(never)]
    fn bucket_of_slow(&mut self, time: Micros) -> usize {
        let first = *self.clock.first.get_or_insert(time);
        let time = if counts_on_clock(first, time) { time } else { self.clock.last.max(first) };
        self.clock.last = self.clock.last.max(time);
        let last = self.last_bucket;
        if time >= last.start && time < last.end {
            return last.index;
        }
        loop {
            let width = self.clock.bucket_width;
            let index = (time.saturating_sub(first) / width) as usize;
            if index < MAX_BUCKETS {
                let start = first + index as Micros * width;
                self.last_bucket = LastBucket { start, end: start.saturating_add(width), index };
                return index;
            }
            self.last_bucket = LastBucket::NONE;
            self.clock.bucket_width *= 2;
            self.timeline.halve();
            for stats in &mut self.stats {
                stats.timeline.halve();
            }
        }
    }

    /// The pattern and ids of a key, from the fold cache or by folding it. Only sampled keys teach the learner:
    /// a uniform sample of keys shows the same varying positions, and the rest fold faster.
    fn fold(&mut self, hash: u64, key: &[u8]) -> (PatternId, u64) {
        let slot = fold_slot(hash);
        let cached = self.fold_cache[slot];
        if cached.hash == hash && cached.pattern != PatternId::MAX {
            return (self.table.canonical(cached.pattern), cached.ids);
        }
        let folded = if self.keys.is_sampled(hash) { self.folder.fold(key) } else { self.folder.fold_known(key) };
        let ids = folded.ids;
        let pattern = self.table.intern(folded.pattern, folded.from_rule);
        if self.table.len() > self.stats.len() {
            self.stats.resize_with(self.table.len(), PatternStats::default);
        }
        if self.folder.take_learned() {
            self.apply_learning();
        }
        self.fold_cache[slot] = CachedFold { hash, pattern, ids };
        (self.table.canonical(pattern), ids)
    }

    /// Folds every known pattern again with what the learner knows now and merges those that changed.
    fn apply_learning(&mut self) {
        let candidates: Vec<PatternId> = self.table.live_ids().filter(|&id| !self.table.is_from_rule(id)).collect();
        for id in candidates {
            let name = self.table.name(id).to_owned();
            let refolded = self.folder.refold(&name);
            if refolded == name {
                continue;
            }
            let refolded = refolded.to_owned();
            let target = self.table.merge_into(id, &refolded);
            if target == id {
                continue;
            }
            if self.table.len() > self.stats.len() {
                self.stats.resize_with(self.table.len(), PatternStats::default);
            }
            let merged = std::mem::take(&mut self.stats[id as usize]);
            self.stats[target as usize].merge(merged);
            self.window.merge(id, target);
            self.top_evicted.relabel(id, target);
            self.top_flushed.relabel(id, target);
        }
    }

    fn on_key_event(&mut self, event: &Event<'_>, hash: u64, bucket: usize) -> Option<MissCause> {
        let lookup = self.keys.lookup(hash);
        let known = match lookup {
            Lookup::Found(slot) => {
                let state = self.keys.at(slot);
                Some((state.pattern, state.flags))
            }
            Lookup::Vacant(_) | Lookup::Untracked => None,
        };
        let (pattern, mut ids) = match known {
            Some((pattern, _)) => (self.table.canonical(pattern), None),
            None => {
                let (pattern, ids) = self.fold(hash, event.key);
                (pattern, Some(ids))
            }
        };
        let ids_flag = match (event.command, event.outcome) {
            (Command::Read, Outcome::Hit | Outcome::Miss) => flags::IDS_READ,
            (Command::Write(_), Outcome::Ok) => flags::IDS_WRITTEN,
            _ => 0,
        };
        if let Some((_, key_flags)) = known
            && ids_flag != 0
            && key_flags & ids_flag == 0
        {
            ids = Some(self.fold(hash, event.key).1);
        }

        if let (Command::Write(_), Outcome::Ok, Lookup::Found(slot)) = (event.command, event.outcome, lookup) {
            self.unpresume(slot, pattern, event.time);
        }
        self.count(event, pattern, ids, hash, bucket);
        if lookup == Lookup::Untracked {
            return None;
        }
        self.track(event, lookup, hash, pattern, ids_flag)
    }

    /// A write of a key whose last read was presumed a hit, never written before and read a moment ago: the
    /// write refills a miss, and the read is counted as that miss (cause unknown: the trace cannot tell why the
    /// key was missing), pending until this write settles it as refilled.
    fn unpresume(&mut self, slot: usize, pattern: PatternId, now: Micros) {
        let stamps = self.stamps();
        let state = *self.keys.at(slot);
        if !state.has(flags::PRESUMED_READ) || state.has(flags::WRITTEN) {
            return;
        }
        let Some(read_at) = stamps.time(state.last_read) else { return };
        let state = self.keys.at_mut(slot);
        state.flags &= !flags::PRESUMED_READ;
        if now.saturating_sub(read_at) > REFILL_WINDOW {
            return;
        }
        state.pending_misses = 1;
        state.first_pending_miss = state.last_read;
        let cause = if self.config.initial_state == InitialState::Unknown {
            MissCause::Unknown
        } else {
            MissCause::NeverWritten
        };
        let bucket = self.bucket_of(read_at);
        let weight = self.keys.weight();
        let stats = &mut self.stats[pattern as usize];
        stats.hits = stats.hits.saturating_sub(1);
        stats.misses += 1;
        stats.cause_weights[cause.index()] += weight;
        for counts in [self.timeline.bucket_mut(bucket), stats.timeline.bucket_mut(bucket)] {
            counts.hits = counts.hits.saturating_sub(1);
            counts.misses += 1;
        }
    }

    /// Counts the event on its pattern and on the global timeline: exact, for every event.
    fn count(&mut self, event: &Event<'_>, pattern: PatternId, ids: Option<u64>, hash: u64, bucket: usize) {
        self.count_window(event, pattern);
        let stats = &mut self.stats[pattern as usize];
        let global = self.timeline.bucket_mut(bucket);
        let local = stats.timeline.bucket_mut(bucket);
        stats.distinct.insert(hash);
        match event.command {
            Command::Read => {
                stats.reads += 1;
                global.reads += 1;
                local.reads += 1;
                match event.outcome {
                    Outcome::Hit => {
                        stats.hits += 1;
                        global.hits += 1;
                        local.hits += 1;
                    }
                    Outcome::Miss => {
                        stats.misses += 1;
                        global.misses += 1;
                        local.misses += 1;
                    }
                    Outcome::Error(_) | Outcome::Ok => stats.read_errors += 1,
                    Outcome::Unobserved => stats.unobserved += 1,
                }
                if let Some(ids) = ids.filter(|&ids| ids != 0) {
                    stats.ids_read.insert(ids);
                }
            }
            Command::Write(_) => match event.outcome {
                Outcome::Ok => {
                    stats.writes += 1;
                    global.writes += 1;
                    local.writes += 1;
                    if event.value_size > 0 {
                        stats.value_bytes.record(u64::from(event.value_size));
                    }
                    match event.ttl {
                        TtlChange::ExpireIn(ms) => stats.ttl_ms.record(ms),
                        TtlChange::Persist => stats.writes_without_ttl += 1,
                        TtlChange::Keep => {}
                    }
                    if let Some(ids) = ids.filter(|&ids| ids != 0) {
                        stats.ids_written.insert(ids);
                    }
                }
                Outcome::Miss | Outcome::Hit => stats.writes_not_stored += 1,
                Outcome::Error(kind) => {
                    stats.write_errors += 1;
                    stats.error_kinds[kind.index()] += 1;
                }
                Outcome::Unobserved => stats.unobserved += 1,
            },
            Command::Delete => match event.outcome {
                Outcome::Unobserved => stats.unobserved += 1,
                _ => stats.deletes += 1,
            },
            Command::Expire => match event.outcome {
                Outcome::Unobserved => stats.unobserved += 1,
                _ => stats.expires += 1,
            },
            Command::Removed(Removal::Expired) => stats.removed_expired += 1,
            Command::Removed(Removal::Evicted) => stats.removed_evicted += 1,
            Command::Flush(_) | Command::Marker => {}
        }
    }

    /// Counts the event in the current window, whole cache and pattern.
    #[inline]
    fn count_window(&mut self, event: &Event<'_>, pattern: PatternId) {
        let window = &mut self.window;
        window.saw(event.time);
        let counted = match (event.command, event.outcome) {
            (Command::Read, Outcome::Hit) => Counted::Hit,
            (Command::Read, Outcome::Miss) => Counted::Miss,
            (Command::Read, _) => Counted::Read,
            (Command::Write(_), Outcome::Ok) => Counted::Write,
            (Command::Write(_), Outcome::Error(_)) => Counted::WriteError,
            (Command::Delete, Outcome::Ok) => Counted::Delete,
            _ => return,
        };
        counted.add_to(&mut window.global);
        counted.add_to(window.pattern(pattern));
    }

    /// Updates the shadow state of a tracked key and attributes its misses: the cause of a read miss.
    fn track(
        &mut self,
        event: &Event<'_>,
        lookup: Lookup,
        hash: u64,
        pattern: PatternId,
        ids_flag: u8,
    ) -> Option<MissCause> {
        let now = event.time;
        let stamps = self.stamps();
        let stamp = stamps.stamp(now);
        let weight = self.keys.weight();
        let thresholds = &self.config.thresholds;
        let stats = &mut self.stats[pattern as usize];
        let new_state = || KeyState::new(pattern, event.key.len());

        if event.command == Command::Read && event.outcome == Outcome::Miss {
            let last_flush = self.markers.last_flush(event.db, event.node);
            let context = MissContext {
                now,
                flushed_at: last_flush.map(|(time, _)| time),
                initial_state_unknown: self.config.initial_state == InitialState::Unknown,
                stamps,
            };
            let known = match lookup {
                Lookup::Found(slot) => Some(*self.keys.at(slot)),
                _ => None,
            };
            let cause = attribute(known.as_ref(), context);
            let state = self.keys.get_or_track(lookup, hash, new_state)?;
            stats.cause_weights[cause.index()] += weight;
            self.window.global.causes[cause.index()] += weight;
            self.window.pattern(pattern).causes[cause.index()] += weight;
            match cause {
                MissCause::Expired => {
                    stats.expired_age_ms.record(now.saturating_sub(state.last_write) / MICROS_PER_MILLI)
                }
                MissCause::Evicted => self.top_evicted.insert_sampled(hash, event.key, pattern, weight),
                MissCause::Flushed => {
                    if let Some((_, marker)) = last_flush {
                        stats.add_flushed(marker, weight);
                    }
                    if !known.is_some_and(|state| state.has(flags::WRITTEN)) {
                        stats.flushed_unwritten += weight;
                    }
                    self.top_flushed.insert(hash, event.key, pattern, weight);
                }
                _ => {}
            }
            if state.absence().is_none() {
                state.set_absence(Some(cause));
            }
            if state.last_read > 0 && stamp < Stamp::MAX {
                stats.reaccess_ms.record(u64::from(stamp.saturating_sub(state.last_read)));
            }
            if state.has(flags::WRITTEN) {
                state.flags |= flags::REREAD;
            }
            state.flags |= flags::READ_SINCE_WRITE | ids_flag;
            state.flags &= !flags::PRESUMED_READ;
            state.last_read = stamp;
            if state.pending_misses == 0 {
                state.first_pending_miss = stamp;
            }
            state.pending_misses = state.pending_misses.saturating_add(1);
            let since_first = u64::from(stamp.saturating_sub(state.first_pending_miss)) * MICROS_PER_MILLI;
            // Past 49 days stamps stop advancing (see `Stamp`): no interval can be told then.
            if state.pending_misses > 1 && stamp < Stamp::MAX && since_first <= thresholds.stampede_window {
                state.piled = state.piled.saturating_add(1);
            }
            return Some(cause);
        }

        match (event.command, event.outcome) {
            (Command::Read, Outcome::Hit) => {
                let state = self.keys.get_or_track(lookup, hash, new_state)?;
                if state.last_read > 0 && stamp < Stamp::MAX {
                    stats.reaccess_ms.record(u64::from(stamp.saturating_sub(state.last_read)));
                }
                if state.absence().is_some() || state.has(flags::DELETED) {
                    // Back without a write we saw: someone wrote it unseen, with a TTL we do not know.
                    state.set_absence(None);
                    state.pending_misses = 0;
                    state.flags &= !(flags::WRITTEN | flags::DELETED);
                    state.expires_at = 0;
                }
                // Present: whatever failed to write it last, the value is there.
                state.flags &= !flags::WRITE_FAILED;
                if state.has(flags::WRITTEN) {
                    state.flags |= flags::REREAD;
                }
                if state.value_size == 0 {
                    state.value_size = event.value_size;
                }
                state.flags |= flags::READ_SINCE_WRITE | ids_flag;
                if self.presuming {
                    state.flags |= flags::PRESUMED_READ;
                } else {
                    state.flags &= !flags::PRESUMED_READ;
                }
                state.last_read = stamp;
            }
            (Command::Write(_), Outcome::Ok) => {
                let state = self.keys.get_or_track(lookup, hash, new_state)?;
                if state.has(flags::WRITTEN) && !state.has(flags::READ_SINCE_WRITE) {
                    stats.unread_writes += weight;
                }
                if state.pending_misses > 0 {
                    settle_refill(stats, state, stamp, true, weight, thresholds, event.key);
                }
                // KEEPTTL keeps a TTL only if the key is still there: not known missing, deleted, expired or
                // flushed since its last write.
                let last_flush = self.markers.last_flush(event.db, event.node).map(|(flush, _)| flush);
                let flushed_since = last_flush.is_some_and(|flush| flush >= state.last_write);
                let was_present = state.absence().is_none()
                    && !state.has(flags::DELETED)
                    && state.has(flags::WRITTEN)
                    && (state.expires_at == 0 || state.expires_at > now)
                    && !flushed_since;
                state.set_absence(None);
                state.flags &= !(flags::READ_SINCE_WRITE | flags::DELETED | flags::WRITE_FAILED);
                state.flags |= flags::WRITTEN | ids_flag;
                // A write in the same microsecond as a flush came after it: keep it strictly later.
                state.last_write = match last_flush {
                    Some(flush) if flush >= now => flush + 1,
                    _ => now,
                };
                state.expires_at = match event.ttl {
                    TtlChange::ExpireIn(ms) => now.saturating_add(ms.saturating_mul(MICROS_PER_MILLI)).max(1),
                    TtlChange::Persist => 0,
                    TtlChange::Keep if was_present => state.expires_at,
                    TtlChange::Keep => 0,
                };
                if event.value_size > 0 {
                    state.value_size = event.value_size;
                }
                stats.tracked_writes += weight;
            }
            (Command::Write(_), Outcome::Error(_)) => {
                if let Some(state) = self.keys.get_or_track(lookup, hash, new_state) {
                    // Whatever made it missing before, the next miss is the failed write's. The refill was
                    // attempted: the misses waiting for it were not refilled, and the next ones pile up anew.
                    state.set_absence(None);
                    state.flags |= flags::WRITE_FAILED;
                    if state.pending_misses > 0 {
                        settle_refill(stats, state, stamp, false, weight, thresholds, event.key);
                    }
                }
            }
            (Command::Delete, Outcome::Ok) => {
                let state = self.keys.get_or_track(lookup, hash, new_state)?;
                if state.has(flags::WRITTEN) && !state.has(flags::READ_SINCE_WRITE) {
                    stats.unread_writes += weight;
                }
                state.set_absence(None);
                state.flags &= !(flags::WRITTEN | flags::WRITE_FAILED | flags::PRESUMED_READ);
                state.flags |= flags::DELETED;
                state.expires_at = 0;
            }
            (Command::Removed(removal), _) => {
                // The server said why the key went: the next miss is that, whatever the TTL we inferred says.
                let state = self.keys.get_or_track(lookup, hash, new_state)?;
                if state.has(flags::WRITTEN) && !state.has(flags::READ_SINCE_WRITE) {
                    stats.unread_writes += weight;
                }
                // A source that sees writes but not their TTLs (keyspace events) learns the TTL from the key's
                // life: from its write to the server's expiry of it.
                if removal == Removal::Expired && state.has(flags::WRITTEN) && state.expires_at == 0 {
                    stats.ttl_ms.record(now.saturating_sub(state.last_write) / MICROS_PER_MILLI);
                }
                state.set_absence(Some(match removal {
                    Removal::Expired => MissCause::Expired,
                    Removal::Evicted => MissCause::Evicted,
                }));
                state.flags &= !(flags::WRITTEN | flags::WRITE_FAILED | flags::DELETED | flags::PRESUMED_READ);
            }
            (Command::Expire, Outcome::Ok) => {
                if let Lookup::Found(slot) = lookup {
                    let state = self.keys.at_mut(slot);
                    state.expires_at = match event.ttl {
                        TtlChange::ExpireIn(ms) => now.saturating_add(ms.saturating_mul(MICROS_PER_MILLI)).max(1),
                        TtlChange::Persist => 0,
                        TtlChange::Keep => state.expires_at,
                    };
                }
            }
            _ => {}
        }
        None
    }

    /// Millisecond stamps counted from the first event.
    fn stamps(&self) -> Stamps {
        Stamps { origin: self.clock.first.unwrap_or(0) }
    }

    /// Builds the report of everything observed so far.
    pub fn report(&self) -> Report {
        snapshot::build_from_engine(self)
    }
}

/// A write of a key with pending misses came at `stamp`, `stored` or refused. Within the refill window of the
/// first miss it was their refill (refused or not); later, it is an update, and the misses were not refilled.
/// The misses that piled up within the stampede window count as a pile-up when the refill came soon after (within
/// twice the window): a burst waits for its refill, and a write much later is more likely an update.
fn settle_refill(
    stats: &mut PatternStats,
    state: &mut KeyState,
    stamp: Stamp,
    stored: bool,
    weight: f64,
    thresholds: &Thresholds,
    key: &[u8],
) {
    let since_first = u64::from(stamp.saturating_sub(state.first_pending_miss)) * MICROS_PER_MILLI;
    let is_refill = since_first <= thresholds.refill_window;
    let pending = f64::from(state.pending_misses) * weight;
    if is_refill && stored {
        stats.refilled_misses += pending;
    } else {
        stats.unrefilled_misses += pending;
    }
    // A write long after the burst is more likely an update than the refill the burst waited for.
    let refilled_burst = since_first <= 2 * thresholds.stampede_window;
    if is_refill && refilled_burst && state.piled > 0 {
        stats.pileup_misses += f64::from(state.piled) * weight;
        let burst = state.piled.saturating_add(1);
        if burst >= thresholds.stampede_min_burst {
            stats.bursts += weight;
        }
        if burst > stats.max_burst {
            stats.max_burst = burst;
            stats.max_burst_key = Some(key.into());
        }
    }
    state.pending_misses = 0;
    state.piled = 0;
}

/// Whether an event at `time` moves the clock of a trace that began at `first`: a time before the first event, or
/// absurdly far after it (a corrupt timestamp), does not.
#[inline]
pub fn counts_on_clock(first: Micros, time: Micros) -> bool {
    const MAX_SPAN: Micros = 10 * 366 * 86_400 * MICROS_PER_SEC;
    time >= first && time - first <= MAX_SPAN
}

/// What a reader that splits a trace among shards tells a shard's engine of the events of other keys before
/// the next event it hands it (see [`Engine::catch_up`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatchUp {
    /// The time of the trace's first event.
    pub first: Micros,
    /// Events of the trace before this one, every key's.
    pub events_before: u64,
    /// The latest of their times that moves the clock ([`counts_on_clock`]), if any.
    pub latest_before: Option<Micros>,
}

/// The fold cache's slot for a key hash.
#[inline]
fn fold_slot(hash: u64) -> usize {
    (hash as usize) & (FOLD_CACHE_SLOTS - 1)
}

/// How many events ahead [`Engine::observe_indexed`] asks for a key's state: far enough for memory to answer,
/// near enough that what it brought is still in cache (measured: 12 to 20 do alike, 6 is slower).
const AHEAD: usize = 16;

/// The hash that identifies a key: its bytes, seeded with its database.
#[inline]
pub fn key_hash(db: u32, key: &[u8]) -> u64 {
    xxh3_64_with_seed(key, u64::from(db))
}

/// The [`key_hash`] of each of `len` events taken by their place, into `hashes` (emptied first, its memory
/// reused): for a consumer that looks `len` events ahead.
pub fn key_hashes<'e>(hashes: &mut Vec<u64>, len: usize, event: impl Fn(usize) -> Event<'e>) {
    hashes.clear();
    hashes.extend((0..len).map(|index| {
        let event = event(index);
        key_hash(event.db, event.key)
    }));
}

#[cfg(test)]
pub(crate) mod tests;
