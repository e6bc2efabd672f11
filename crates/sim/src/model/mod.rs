//! Cache models: what a cache would have answered to a sequence of requests.
//!
//! A trace of requests without replies (the Twitter traces, say) goes through a model before the engine, which
//! then sees the same events as from a live cache. Every model implements [`CacheModel`]; more eviction policies
//! plug in behind it.

mod lru;

pub use lru::LruCache;

use cachescope_core::{Event, Outcome};

pub trait CacheModel {
    /// Applies `event` to the cache and returns the outcome the cache gives it.
    fn apply(&mut self, event: &Event<'_>) -> Outcome;

    /// Bytes of keys and values held now.
    fn used_bytes(&self) -> u64;

    /// The byte limit, if any.
    fn capacity(&self) -> Option<u64>;

    /// Keys held now.
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keys evicted to make room so far.
    fn evictions(&self) -> u64;
}
