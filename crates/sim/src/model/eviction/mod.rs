//! Eviction orders: which key a full cache gives up first. The cache ([`super::Cache`]) holds keys, sizes and
//! TTLs and tells its eviction order what happens to each key, by slot; the order keeps its own per-slot state
//! and names the victim when room is needed.
//!
//! Every order keeps keys in one of two groups when its scope is `volatile` (with a TTL or not) so that a victim
//! is found among the right keys without a scan; under `allkeys` every key is in the first group.

mod exact_lfu;
mod lists;
mod members;
mod nearest_expiry;
mod random;
mod redis_sampled;

pub(crate) use exact_lfu::ExactLfu;
pub(crate) use lists::Lists;
pub(crate) use nearest_expiry::NearestExpiry;
pub(crate) use random::RandomEviction;
pub(crate) use redis_sampled::RedisSampled;

use cachescope_core::Micros;

use super::policy::Scope;

pub(crate) trait Eviction: Send {
    /// A key arrived in `slot`; `expires_at` is 0 without a TTL.
    fn insert(&mut self, slot: u32, expires_at: Micros, now: Micros);
    /// The key was read or written.
    fn touch(&mut self, slot: u32, now: Micros);
    /// The key's expiry changed from `old` to `new` (0: none).
    fn expiry_changed(&mut self, slot: u32, old: Micros, new: Micros, now: Micros);
    /// The key left (expired, deleted, evicted).
    fn remove(&mut self, slot: u32);
    /// The key to evict now, or None when none may go.
    fn victim(&mut self, now: Micros) -> Option<u32>;
    /// Asks the processor for what [`Eviction::touch`] will look at for `slot`, without waiting.
    fn prefetch(&self, _slot: u32) {}
    /// The keys [`Eviction::victim`] will likely name next and after it, as far as the order knows them without a
    /// search or a draw (none by default): their state can be asked for before they go. Exact orders know them;
    /// Redis's sampled policies name the best candidates of their pool, which the next samples may beat. A
    /// wrong name costs a fetch for nothing, never a different result.
    fn next_victims(&self) -> [Option<u32>; 2] {
        [None, None]
    }
}

/// Never evicts: `noeviction`.
pub(crate) struct NoEviction;

impl Eviction for NoEviction {
    fn insert(&mut self, _: u32, _: Micros, _: Micros) {}
    fn touch(&mut self, _: u32, _: Micros) {}
    fn expiry_changed(&mut self, _: u32, _: Micros, _: Micros, _: Micros) {}
    fn remove(&mut self, _: u32) {}
    fn victim(&mut self, _: Micros) -> Option<u32> {
        None
    }
}

/// The group a key belongs to: 1 for a key with a TTL under a `volatile` scope, else 0.
#[inline]
pub(crate) fn group(scope: Scope, expires_at: Micros) -> usize {
    usize::from(scope == Scope::Volatile && expires_at != 0)
}

/// The group victims come from: under `volatile`, only keys with a TTL.
#[inline]
pub(crate) fn victim_group(scope: Scope) -> usize {
    usize::from(scope == Scope::Volatile)
}

/// Asks the processor for `slot`'s record in a per-slot vector, if it has one, without waiting.
#[inline]
pub(crate) fn prefetch_slot<T>(values: &[T], slot: u32) {
    if let Some(value) = values.get(slot as usize) {
        cachescope_core::prefetch::prefetch(value);
    }
}

/// Grows a per-slot vector to hold `slot`.
#[inline]
pub(crate) fn ensure<T: Clone>(values: &mut Vec<T>, slot: u32, fill: T) {
    if values.len() <= slot as usize {
        values.resize(slot as usize + 1, fill);
    }
}
