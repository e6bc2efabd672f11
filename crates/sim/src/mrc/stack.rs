//! Exact LRU stack distances: for each request, how much distinct data was touched since the previous request
//! of the same key (itself included). An LRU cache of size C hits exactly the requests whose distance is at most
//! C, so the distances of a trace give its whole miss-ratio curve in one pass.
//!
//! Each key's size sits at the position of its last access in a Fenwick tree; the distance of a request is the
//! sum between that position and now. Positions are renumbered when the tree fills up, so memory follows the
//! number of distinct keys, not the number of requests. O(log n) per request.

use std::collections::HashMap;

use foldhash::fast::FixedState;

use super::fenwick::Fenwick;

#[derive(Debug, Clone, Copy)]
struct Last {
    position: usize,
    size: u64,
}

#[derive(Debug)]
pub struct StackDistances {
    tree: Fenwick,
    /// The key at each position, for renumbering (u64::MAX: none).
    at: Vec<u64>,
    last: HashMap<u64, Last, FixedState>,
    next: usize,
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
            last: HashMap::with_hasher(FixedState::default()),
            next: 0,
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
                let between = self.tree.prefix(now) - self.tree.prefix(previous.position + 1);
                self.tree.add(previous.position, previous.size.wrapping_neg());
                self.at[previous.position] = u64::MAX;
                Some(between + size)
            }
            None => None,
        };
        self.tree.add(now, size);
        self.at[now] = key;
        distance
    }

    /// Whether `key` is in the stack.
    pub fn contains(&self, key: u64) -> bool {
        self.last.contains_key(&key)
    }

    /// Forgets every key (a flush).
    pub fn clear(&mut self) {
        *self = StackDistances::new();
    }

    /// Forgets a key (deleted, expired): its next request is a first one again.
    pub fn remove(&mut self, key: u64) {
        if let Some(previous) = self.last.remove(&key) {
            self.tree.add(previous.position, previous.size.wrapping_neg());
            self.at[previous.position] = u64::MAX;
        }
    }

    /// Packs the live positions to the front, in order, and makes room for as many again.
    fn renumber(&mut self) {
        let live: Vec<u64> = self.at.iter().copied().filter(|&k| k != u64::MAX).collect();
        let capacity = (live.len() * 2).max(1 << 16);
        self.tree = Fenwick::with_len(capacity);
        self.at = vec![u64::MAX; capacity];
        for (position, key) in live.into_iter().enumerate() {
            let last = self.last.get_mut(&key).expect("a live position has its key");
            last.position = position;
            self.tree.add(position, last.size);
            self.at[position] = key;
            self.next = position + 1;
        }
        if self.last.is_empty() {
            self.next = 0;
        }
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

    #[test]
    fn unit_sizes() {
        let mut d = StackDistances::new();
        let got: Vec<_> = [1, 2, 3, 1, 1, 3, 2].iter().map(|&k| d.access(k, 1)).collect();
        assert_eq!(got, vec![None, None, None, Some(3), Some(1), Some(2), Some(3)]);
    }
}
