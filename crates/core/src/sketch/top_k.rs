//! The hottest keys of a stream, by the Space-Saving algorithm: a fixed number of counters; a new key takes the
//! place of the smallest one and inherits its count as possible overestimate.
//!
//! Counters sit in one small array (the minimum is a scan over a few cache lines) and keep their key buffers, so
//! replacing a key allocates nothing once warm: evicted misses of a long tail of keys hit this on every event.

use std::collections::HashMap;

use foldhash::fast::FixedState;

use crate::pattern::PatternId;

#[derive(Debug, Clone)]
struct Counter {
    count: f64,
    pattern: PatternId,
    hash: u64,
    key: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct KeyTopK {
    capacity: usize,
    counters: Vec<Counter>,
    /// Key hash to index in `counters`.
    index: HashMap<u64, usize, FixedState>,
    /// Calls of [`KeyTopK::insert_sampled`].
    calls: u64,
}

impl KeyTopK {
    pub fn new(capacity: usize) -> Self {
        KeyTopK {
            capacity: capacity.max(1),
            counters: Vec::new(),
            index: HashMap::with_hasher(FixedState::default()),
            calls: 0,
        }
    }

    /// Counts `key` like [`KeyTopK::insert`], but past the first 65,536 counts only one call in eight, with
    /// eight times the weight: hot keys come often enough to be counted, and a long tail of keys costs less.
    pub fn insert_sampled(&mut self, hash: u64, key: &[u8], pattern: PatternId, weight: f64) {
        self.calls += 1;
        if self.calls <= 1 << 16 {
            self.insert(hash, key, pattern, weight);
        } else if self.calls % 8 == 0 {
            self.insert(hash, key, pattern, weight * 8.0);
        }
    }

    /// Counts `key` (whose hash is `hash`) with `weight`.
    pub fn insert(&mut self, hash: u64, key: &[u8], pattern: PatternId, weight: f64) {
        if let Some(&at) = self.index.get(&hash) {
            self.counters[at].count += weight;
            return;
        }
        if self.counters.len() < self.capacity {
            self.index.insert(hash, self.counters.len());
            self.counters.push(Counter { count: weight, pattern, hash, key: key.to_vec() });
            return;
        }
        let (at, _) = self
            .counters
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.count.total_cmp(&b.1.count))
            .expect("capacity is at least 1");
        let counter = &mut self.counters[at];
        self.index.remove(&counter.hash);
        counter.count += weight;
        counter.pattern = pattern;
        counter.hash = hash;
        counter.key.clear();
        counter.key.extend_from_slice(key);
        self.index.insert(hash, at);
    }

    /// The keys with the highest counts, for the patterns `keep` accepts, highest first.
    pub fn top(&self, n: usize, keep: impl Fn(PatternId) -> bool) -> Vec<(&[u8], f64)> {
        let mut keys: Vec<_> =
            self.counters.iter().filter(|c| keep(c.pattern)).map(|c| (&c.key[..], c.count)).collect();
        keys.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        keys.truncate(n);
        keys
    }

    /// Re-labels keys of a pattern merged into another.
    pub fn relabel(&mut self, from: PatternId, to: PatternId) {
        for counter in &mut self.counters {
            if counter.pattern == from {
                counter.pattern = to;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_heavy_hitters_among_noise() {
        // Space-Saving keeps every key more frequent than total / capacity: 11,500 / 32 < 500.
        let mut top = KeyTopK::new(32);
        let mut insert =
            |key: &str, pattern| top.insert(xxhash_rust::xxh3::xxh3_64(key.as_bytes()), key.as_bytes(), pattern, 1.0);
        for i in 0..10_000u32 {
            insert(&format!("noise:{i}"), 0);
            if i % 10 == 0 {
                insert("hot:1", 1);
            }
            if i % 20 == 0 {
                insert("hot:2", 1);
            }
        }
        let hot: Vec<_> = top.top(2, |p| p == 1).into_iter().map(|(k, _)| k.to_vec()).collect();
        assert_eq!(hot, vec![b"hot:1".to_vec(), b"hot:2".to_vec()]);
        assert!(top.top(100, |_| true).len() <= 32);
    }
}
