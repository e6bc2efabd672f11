//! Exact LRU stack distances: for each request, how much distinct data was touched since the previous request
//! of the same key (itself included). An LRU cache of size C hits exactly the requests whose distance is at most
//! C, so the distances of a trace give its whole miss-ratio curve in one pass.
//!
//! Each key's size sits at the position of its last access in a Fenwick tree; the distance of a request is the
//! sum between that position and now. Positions are renumbered when the tree fills up, so memory follows the
//! number of distinct keys, not the number of requests. O(log n) per request.

use super::fenwick::Fenwick;
use crate::id_map::IdMap;

#[derive(Debug, Clone, Copy, Default)]
struct Last {
    position: usize,
    size: u64,
}

#[derive(Debug)]
pub struct StackDistances {
    tree: Fenwick,
    /// The key at each position, for renumbering (u64::MAX: none).
    at: Vec<u64>,
    last: IdMap<Last>,
    next: usize,
    /// The sum of every key's size: the prefix sum up to `next`, without walking the tree.
    total: u64,
    /// Where each position went at the last renumbering (kept to be reused).
    moved_to: Vec<u32>,
}

impl Default for StackDistances {
    fn default() -> Self {
        StackDistances::new()
    }
}

impl StackDistances {
    pub fn new() -> Self {
        let capacity = 1 << 16;
        StackDistances {
            tree: Fenwick::with_len(capacity),
            at: vec![u64::MAX; capacity],
            last: IdMap::new(),
            next: 0,
            total: 0,
            moved_to: Vec::new(),
        }
    }

    /// Distinct keys seen.
    pub fn keys(&self) -> usize {
        self.last.len()
    }

    /// Records a request of `key` of `size` (1 for unit-size objects) and returns its stack distance, or None on
    /// the key's first request (a compulsory miss at any size).
    #[inline]
    pub fn access(&mut self, key: u64, size: u64) -> Option<u64> {
        if self.next == self.tree.len() {
            self.renumber();
        }
        let now = self.next;
        self.next += 1;
        let distance = match self.last.insert(key, Last { position: now, size }) {
            Some(previous) => {
                // Every position is before `now`: the sum up to it is the total.
                let between = self.total - self.tree.prefix(previous.position + 1);
                self.tree.add(previous.position, previous.size.wrapping_neg());
                self.total -= previous.size;
                self.at[previous.position] = u64::MAX;
                Some(between + size)
            }
            None => None,
        };
        self.tree.add(now, size);
        self.total += size;
        self.at[now] = key;
        distance
    }

    /// Whether `key` is in the stack.
    pub fn contains(&self, key: u64) -> bool {
        self.last.contains(key)
    }

    /// Asks the processor for `key`'s record ahead of [`StackDistances::access`], without waiting.
    #[inline]
    pub fn prefetch(&self, key: u64) {
        self.last.prefetch(key);
    }

    /// Forgets every key (a flush).
    pub fn clear(&mut self) {
        *self = StackDistances::new();
    }

    /// Forgets a key (deleted, expired): its next request is a first one again.
    pub fn remove(&mut self, key: u64) {
        if let Some(previous) = self.last.remove(key) {
            self.tree.add(previous.position, previous.size.wrapping_neg());
            self.total -= previous.size;
            self.at[previous.position] = u64::MAX;
        }
    }

    /// Packs the live positions to the front, in order, and makes room for as many again. Linear in the
    /// positions, and in place when the room needed is the same: where each old position goes is counted in one
    /// pass, the keys' records are updated in one pass over the map (not a lookup each), and the tree is built
    /// from the sizes rather than added to.
    fn renumber(&mut self) {
        self.moved_to.clear();
        self.moved_to.resize(self.at.len(), u32::MAX);
        let mut live = 0usize;
        for old in 0..self.at.len() {
            let key = self.at[old];
            if key != u64::MAX {
                self.moved_to[old] = u32::try_from(live).expect("fewer than 2^32 keys");
                self.at[live] = key;
                live += 1;
            }
        }
        let capacity = (live * 2).max(1 << 16);
        self.at.truncate(live);
        self.at.resize(capacity, u64::MAX);
        let (last, moved_to) = (&mut self.last, &self.moved_to);
        self.tree.rebuild(capacity, |sizes| {
            for (_, record) in last.iter_mut() {
                let position = moved_to[record.position] as usize;
                record.position = position;
                sizes[position] = record.size;
            }
        });
        self.next = live;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The distances of a naive LRU stack, for comparison.
    fn naive(requests: &[(u64, u64)]) -> Vec<Option<u64>> {
        let mut stack: Vec<(u64, u64)> = Vec::new();
        requests
            .iter()
            .map(|&(key, size)| {
                let found = stack.iter().position(|&(k, _)| k == key);
                let distance = found.map(|at| stack[at..].iter().map(|&(_, s)| s).sum::<u64>() - stack[at].1 + size);
                if let Some(at) = found {
                    stack.remove(at);
                }
                stack.push((key, size));
                distance
            })
            .collect()
    }

    #[test]
    fn matches_a_naive_stack_across_renumbering() {
        let mut state = 12345u64;
        let mut requests = Vec::new();
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            requests.push((state % 300, 1 + state % 7));
        }
        let mut distances = StackDistances::new();
        let fast: Vec<_> = requests.iter().map(|&(k, s)| distances.access(k, s)).collect();
        assert_eq!(fast, naive(&requests), "the tree renumbers every 65,536 requests: distances survive it");
        assert_eq!(distances.keys(), 300);
    }

    /// Keys read in a cycle: from the second round on, every distance is the size of all of them, through
    /// renumberings of a tree grown past its first size (40,000 keys, 80,000 positions).
    #[test]
    fn a_cycle_over_many_keys_keeps_its_distance_across_renumbering() {
        const KEYS: u64 = 40_000;
        let size = |key: u64| 1 + key % 5;
        let all: u64 = (0..KEYS).map(size).sum();
        let mut distances = StackDistances::new();
        for round in 0..8 {
            for key in 0..KEYS {
                let expected = (round > 0).then_some(all);
                assert_eq!(distances.access(key, size(key)), expected, "round {round}, key {key}");
            }
        }
        assert_eq!(distances.keys(), KEYS as usize);
        // A key forgotten: its next read is a first one, and the others' distances lose its size.
        distances.remove(7);
        assert_eq!(distances.keys(), KEYS as usize - 1);
        assert_eq!(distances.access(0, size(0)), Some(all - size(7)));
        assert_eq!(distances.access(7, size(7)), None);
    }

    #[test]
    fn unit_sizes() {
        let mut d = StackDistances::new();
        let got: Vec<_> = [1, 2, 3, 1, 1, 3, 2].iter().map(|&k| d.access(k, 1)).collect();
        assert_eq!(got, vec![None, None, None, Some(3), Some(1), Some(2), Some(3)]);
    }
}
