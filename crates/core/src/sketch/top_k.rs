//! The hottest keys of a stream, by the Space-Saving algorithm: a fixed number of counters; a new key takes the
//! place of the smallest one and inherits its count as possible overestimate.

use std::collections::HashMap;

use foldhash::fast::FixedState;

use crate::pattern::PatternId;

#[derive(Debug, Clone)]
struct Counter {
    count: f64,
    pattern: PatternId,
}

#[derive(Debug, Clone)]
pub struct KeyTopK {
    capacity: usize,
    counters: HashMap<Box<[u8]>, Counter, FixedState>,
}

impl KeyTopK {
    pub fn new(capacity: usize) -> Self {
        KeyTopK { capacity: capacity.max(1), counters: HashMap::with_hasher(FixedState::default()) }
    }

    pub fn insert(&mut self, key: &[u8], pattern: PatternId, weight: f64) {
        if let Some(counter) = self.counters.get_mut(key) {
            counter.count += weight;
            return;
        }
        let mut count = weight;
        if self.counters.len() >= self.capacity {
            let smallest = self
                .counters
                .iter()
                .min_by(|a, b| a.1.count.total_cmp(&b.1.count))
                .map(|(key, counter)| (key.clone(), counter.count));
            if let Some((key, smallest_count)) = smallest {
                self.counters.remove(&key);
                count += smallest_count;
            }
        }
        self.counters.insert(key.into(), Counter { count, pattern });
    }

    /// The keys with the highest counts, for the patterns `keep` accepts, highest first.
    pub fn top(&self, n: usize, keep: impl Fn(PatternId) -> bool) -> Vec<(&[u8], f64)> {
        let mut keys: Vec<_> = self
            .counters
            .iter()
            .filter(|(_, counter)| keep(counter.pattern))
            .map(|(key, counter)| (&key[..], counter.count))
            .collect();
        keys.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        keys.truncate(n);
        keys
    }

    /// Re-labels keys of a pattern merged into another.
    pub fn relabel(&mut self, from: PatternId, to: PatternId) {
        for counter in self.counters.values_mut() {
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
        for i in 0..10_000u32 {
            top.insert(format!("noise:{i}").as_bytes(), 0, 1.0);
            if i % 10 == 0 {
                top.insert(b"hot:1", 1, 1.0);
            }
            if i % 20 == 0 {
                top.insert(b"hot:2", 1, 1.0);
            }
        }
        let hot: Vec<_> = top.top(2, |p| p == 1).into_iter().map(|(k, _)| k.to_vec()).collect();
        assert_eq!(hot, vec![b"hot:1".to_vec(), b"hot:2".to_vec()]);
    }
}
