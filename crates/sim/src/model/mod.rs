//! Cache models: what a cache would have answered to a sequence of requests.
//!
//! A trace of requests without replies (the Twitter traces, say) goes through a model before the engine, which
//! then sees the same events as from a live cache; the what-if simulator replays a trace through a model with
//! other settings. Every model is a [`Cache`](cache) (keys, sizes, TTLs, the commands' effects) with an
//! [`eviction`] order plugged in, chosen by [`Policy`] and built by [`build`].

mod cache;
mod eviction;
mod expiries;
mod key_filter;
pub mod policy;

pub use policy::{Algorithm, Policy, Rank, RedisTuning, Scope, UnknownPolicy};

use cachescope_core::{Event, Micros, Outcome};

use cache::Cache;
use eviction::{ExactLfu, Lists, NearestExpiry, NoEviction, RandomEviction, RedisSampled};

pub trait CacheModel: Send {
    /// Applies `event` to the cache and returns the outcome the cache gives it.
    fn apply(&mut self, event: &Event<'_>) -> Outcome {
        self.apply_hashed(event, cachescope_core::key_hash(event.db, event.key))
    }

    /// [`CacheModel::apply`] for an event whose key hash ([`cachescope_core::key_hash`]) is known: several models
    /// fed the same events hash each key once.
    fn apply_hashed(&mut self, event: &Event<'_>, id: u64) -> Outcome;

    /// Asks the processor for what [`CacheModel::apply_hashed`] will look at for key `id` and cannot find in its
    /// caches, without waiting: a replay names the events a few ahead, so that the waits overlap.
    fn prefetch(&self, _id: u64) {}

    /// Asks for what [`CacheModel::apply_hashed`] will look at for key `id` once found: its entry, which only
    /// the index says where to find. For a key whose [`CacheModel::prefetch`] came a few events earlier (its
    /// index bucket is in the caches by now).
    fn prefetch_held(&self, _id: u64) {}

    /// A read-through request of object `id` (already a hash) of `size`: true on a hit; on a miss the object is
    /// cached. The fast path for request-only traces and miss-ratio work.
    fn request(&mut self, id: u64, size: u64, now: Micros) -> bool;

    /// Bytes (or objects, when counted) of keys and values held now.
    fn used_bytes(&self) -> u64;

    /// The limit, if any.
    fn capacity(&self) -> Option<u64>;

    /// Changes the limit; a cache over the new one evicts down to it on its next writes, as Redis does after
    /// `CONFIG SET maxmemory`.
    fn set_capacity(&mut self, capacity: Option<u64>);

    /// Keys held now.
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the last event, a read, was answered by presuming the key held before the trace began
    /// ([`Start::Running`]) rather than by what the model holds.
    fn presumed(&self) -> bool {
        false
    }

    /// Keys evicted to make room so far.
    fn evictions(&self) -> u64;

    /// Starts a journal of the keys the cache removes by itself (expired, evicted), for a simulator that must
    /// know why each key went. Off unless asked: replays need none.
    fn keep_journal(&mut self) {}

    /// Moves the journal's entries, (key id as [`cachescope_core::key_hash`] gives it, why), in the order the
    /// removals happened, into `out`.
    fn drain_journal(&mut self, _out: &mut Vec<(u64, Removal)>) {}
}

/// Why the cache removed a key by itself: the same as a server says it.
pub use cachescope_core::Removal;

/// What to build.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelConfig {
    /// Bytes (or objects under `unit_size`); None for no limit.
    pub capacity: Option<u64>,
    pub policy: Policy,
    pub tuning: RedisTuning,
    /// Every object counts 1 and `capacity` is in objects: for traces whose objects are counted, not sized.
    pub unit_size: bool,
    /// Seeds the random draws of random and sampled policies, so that a simulation is repeatable.
    pub seed: u64,
    /// What the cache held before the first request: see [`Start`].
    pub start: Start,
}

/// What a model holds before the first request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Start {
    /// Nothing: the trace begins with the cache (a simulation, a recording from the server's start). A read of a
    /// key never written is a miss.
    #[default]
    Empty,
    /// The trace joined a cache that was already running, whose content it cannot know. A read of a key the
    /// trace has never written, deleted or expired is presumed to find it (until a flush): the likeliest answer
    /// for a key read and never written, where a miss would turn every key the cache held into a broken fill
    /// path. Those presumed keys take no room in the model, which knows neither their size nor their TTL. The
    /// keys changed are remembered in a fixed-size filter (8 MiB), so memory stays bounded; a key it wrongly
    /// remembers is answered as by an empty cache.
    Running,
}

impl ModelConfig {
    pub fn new(capacity: Option<u64>, policy: Policy) -> Self {
        ModelConfig {
            capacity,
            policy,
            tuning: RedisTuning::default(),
            unit_size: false,
            seed: 0x5eed,
            start: Start::Empty,
        }
    }

    pub fn start(self, start: Start) -> Self {
        ModelConfig { start, ..self }
    }

    pub fn unit_size(self, unit_size: bool) -> Self {
        ModelConfig { unit_size, ..self }
    }
}

/// A model of `config`.
pub fn build(config: &ModelConfig) -> Box<dyn CacheModel> {
    let ModelConfig { capacity, policy, tuning, unit_size, seed, start } = *config;
    let Policy::Evict { scope, rank, algorithm } = policy else {
        return Box::new(Cache::new(capacity, unit_size, NoEviction).starting(start));
    };
    match (rank, algorithm) {
        (Rank::Random, _) => {
            Box::new(Cache::new(capacity, unit_size, RandomEviction::new(scope, seed)).starting(start))
        }
        (Rank::Fifo, _) => Box::new(Cache::new(capacity, unit_size, Lists::fifo(scope)).starting(start)),
        (Rank::Lru, Algorithm::Exact) => Box::new(Cache::new(capacity, unit_size, Lists::lru(scope)).starting(start)),
        (Rank::Lfu, Algorithm::Exact) => {
            Box::new(Cache::new(capacity, unit_size, ExactLfu::new(scope)).starting(start))
        }
        (Rank::Ttl, Algorithm::Exact) => {
            Box::new(Cache::new(capacity, unit_size, NearestExpiry::default()).starting(start))
        }
        (rank, Algorithm::RedisSampled) => {
            Box::new(Cache::new(capacity, unit_size, RedisSampled::new(scope, rank, tuning, seed)).starting(start))
        }
    }
}

/// Exact LRU over all keys: the model for replaying request-only traces.
pub fn exact_lru(capacity: Option<u64>) -> Box<dyn CacheModel> {
    build(&ModelConfig::new(capacity, Policy::EXACT_LRU))
}

#[cfg(test)]
mod tests;
