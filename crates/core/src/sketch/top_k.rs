//! The hottest keys of a stream, by the Space-Saving algorithm: a fixed number of counters; a new key takes the
//! place of the smallest one and inherits its count as possible overestimate. Keys are ranked by the count they
//! are sure to have (their count less what they inherited): a long tail of keys seen once each inflates the
//! counts of the latest of them, never their sure counts, so they do not push the truly hot keys out of a list.
//!
//! Counters sit in one small array and keep their key buffers, so replacing a key allocates nothing once warm:
//! evicted misses of a long tail of keys hit this on every event. Their counts are also kept side by side in an
//! array of their own, so that finding the smallest is a scan over a few cache lines, not over every counter.

use std::collections::HashMap;

use foldhash::fast::FixedState;

use crate::pattern::PatternId;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Counter {
    count: f64,
    /// What the key inherited from the one it replaced: its count is at most this much too high.
    error: f64,
    pattern: PatternId,
    hash: u64,
    key: Vec<u8>,
}

impl Counter {
    /// Highest sure count first, then highest count, then the key.
    fn rank(a: &Counter, b: &Counter) -> std::cmp::Ordering {
        (b.count - b.error)
            .total_cmp(&(a.count - a.error))
            .then(b.count.total_cmp(&a.count))
            .then_with(|| a.key.cmp(&b.key))
    }
}

/// A count's bits, ordered as `f64::total_cmp` orders counts.
fn ordered(count: f64) -> i64 {
    let bits = count.to_bits() as i64;
    bits ^ (((bits >> 63) as u64) >> 1) as i64
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(from = "StoredTopK")]
pub struct KeyTopK {
    capacity: usize,
    counters: Vec<Counter>,
    /// Key hash to index in `counters`.
    #[serde(skip)]
    index: HashMap<u64, usize, FixedState>,
    /// `counters[i].count` at `i`, for the scan for the smallest.
    #[serde(skip)]
    counts: Vec<f64>,
    /// Where the first smallest count was last found, and that count ([`ordered`]); every counter before it
    /// has more.
    #[serde(skip)]
    least: Option<(usize, i64)>,
    /// Calls of [`KeyTopK::insert_sampled`].
    calls: u64,
}

/// A sketch read back from a file: its index is rebuilt.
#[derive(serde::Deserialize)]
struct StoredTopK {
    capacity: usize,
    counters: Vec<Counter>,
    calls: u64,
}

impl From<StoredTopK> for KeyTopK {
    fn from(stored: StoredTopK) -> Self {
        let mut counters = stored.counters;
        counters.truncate(stored.capacity.max(1));
        let mut top = KeyTopK {
            capacity: stored.capacity.max(1),
            counters,
            index: HashMap::default(),
            counts: Vec::new(),
            least: None,
            calls: stored.calls,
        };
        top.reindex();
        top
    }
}

impl KeyTopK {
    pub fn new(capacity: usize) -> Self {
        KeyTopK {
            capacity: capacity.max(1),
            counters: Vec::new(),
            index: HashMap::with_hasher(FixedState::default()),
            counts: Vec::new(),
            least: None,
            calls: 0,
        }
    }

    /// Rebuilds what is derived from the counters: the index and the counts side by side.
    fn reindex(&mut self) {
        self.index = self.counters.iter().enumerate().map(|(at, c)| (c.hash, at)).collect();
        self.counts = self.counters.iter().map(|c| c.count).collect();
        self.least = None;
    }

    /// The first counter with the smallest count (by `f64::total_cmp`). Counts only grow, so the smallest
    /// found last is still the least any counter has: the first counter from where it was that still has it is
    /// the answer, and only when none has is a scan of all needed. A long tail of keys seen once leaves many
    /// counters with the same smallest count, taken one after the other.
    fn smallest(&mut self) -> usize {
        if let Some((from, least)) = self.least
            && let Some(found) = self.counts[from..].iter().position(|&count| ordered(count) == least)
        {
            self.least = Some((from + found, least));
            return from + found;
        }
        let (mut at, mut least) = (0, i64::MAX);
        for (i, &count) in self.counts.iter().enumerate() {
            let key = ordered(count);
            if key < least {
                (at, least) = (i, key);
            }
        }
        self.least = Some((at, least));
        at
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
            self.counts[at] = self.counters[at].count;
            return;
        }
        if self.counters.len() < self.capacity {
            self.index.insert(hash, self.counters.len());
            self.counters.push(Counter { count: weight, error: 0.0, pattern, hash, key: key.to_vec() });
            self.counts.push(weight);
            return;
        }
        let at = self.smallest();
        let counter = &mut self.counters[at];
        self.index.remove(&counter.hash);
        counter.error = counter.count;
        counter.count += weight;
        self.counts[at] = counter.count;
        counter.pattern = pattern;
        counter.hash = hash;
        counter.key.clear();
        counter.key.extend_from_slice(key);
        self.index.insert(hash, at);
    }

    /// The keys with the highest sure counts, for the patterns `keep` accepts, highest first, with their
    /// counts.
    pub fn top(&self, n: usize, keep: impl Fn(PatternId) -> bool) -> Vec<(&[u8], f64)> {
        let mut keys: Vec<&Counter> = self.counters.iter().filter(|c| keep(c.pattern)).collect();
        keys.sort_by(|a, b| Counter::rank(a, b));
        keys.into_iter().take(n).map(|c| (&c.key[..], c.count)).collect()
    }

    /// Adds the counters of a sketch over other keys (another shard's), their patterns renamed by `relabel`,
    /// and keeps the largest: when each holds its keys' exact counts, so does the result.
    pub fn merge_disjoint(&mut self, other: &KeyTopK, relabel: impl Fn(PatternId) -> PatternId) {
        self.calls += other.calls;
        for counter in &other.counters {
            match self.index.get(&counter.hash) {
                Some(&at) => self.counters[at].count += counter.count,
                None => self.counters.push(Counter { pattern: relabel(counter.pattern), ..counter.clone() }),
            }
        }
        self.counters.sort_by(Counter::rank);
        self.counters.truncate(self.capacity);
        self.reindex();
    }

    /// Re-labels every key's pattern.
    pub fn relabel_all(&mut self, relabel: impl Fn(PatternId) -> PatternId) {
        for counter in &mut self.counters {
            counter.pattern = relabel(counter.pattern);
        }
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

    /// A few hot keys early, then a long tail seen once each: the tail's inflated counts do not outrank them.
    #[test]
    fn a_long_tail_after_hot_keys_does_not_hide_them() {
        let mut top = KeyTopK::new(16);
        let mut insert = |key: &str| top.insert(xxhash_rust::xxh3::xxh3_64(key.as_bytes()), key.as_bytes(), 0, 1.0);
        for hot in 0..4u32 {
            for _ in 0..300 + 10 * hot {
                insert(&format!("hot:{hot}"));
            }
        }
        for i in 0..3_000u32 {
            insert(&format!("cold:{i}"));
        }
        let listed: Vec<String> =
            top.top(4, |_| true).into_iter().map(|(k, _)| String::from_utf8_lossy(k).into_owned()).collect();
        assert_eq!(listed, ["hot:3", "hot:2", "hot:1", "hot:0"]);
    }

    proptest::proptest! {
        /// Space-Saving as written plainly (each new key takes the first counter of smallest count, found by
        /// walking the counters) keeps the same keys, counts and errors, also after being stored and read back.
        #[test]
        fn keeps_what_plain_space_saving_keeps(
            stream in proptest::collection::vec((0u32..40, 1u32..4), 0..400),
            stored_at in 0usize..400,
        ) {
            let mut top = KeyTopK::new(8);
            let mut plain: Vec<(u32, f64, f64)> = Vec::new();
            for (at, &(key, weight)) in stream.iter().enumerate() {
                if at == stored_at {
                    top = serde_json::from_str(&serde_json::to_string(&top).unwrap()).unwrap();
                }
                let name = format!("k:{key}");
                top.insert(xxhash_rust::xxh3::xxh3_64(name.as_bytes()), name.as_bytes(), 0, f64::from(weight));
                let weight = f64::from(weight);
                if let Some(counter) = plain.iter_mut().find(|c| c.0 == key) {
                    counter.1 += weight;
                } else if plain.len() < 8 {
                    plain.push((key, weight, 0.0));
                } else {
                    let smallest = plain.iter().enumerate().min_by(|a, b| a.1.1.total_cmp(&b.1.1)).unwrap().0;
                    let count = plain[smallest].1;
                    plain[smallest] = (key, count + weight, count);
                }
            }
            let kept: Vec<(String, f64, f64)> = top
                .counters
                .iter()
                .map(|c| (String::from_utf8(c.key.clone()).unwrap(), c.count, c.error))
                .collect();
            let expected: Vec<(String, f64, f64)> =
                plain.iter().map(|&(key, count, error)| (format!("k:{key}"), count, error)).collect();
            proptest::prop_assert_eq!(kept, expected);
        }
    }
}
