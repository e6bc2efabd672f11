//! Exact LRU stack distances: for each request, how much distinct data was touched since the previous request
//! of the same key (itself included). An LRU cache of size C hits exactly the requests whose distance is at most
//! C, so the distances of a trace give its whole miss-ratio curve in one pass.
//!
//! Each key's last access holds a position; the distance of a request is the size of the keys whose last access
//! lies between its key's position and now. Positions are bits, 64 to a word, and a Fenwick tree sums the
//! sizes word by word: a distance is the tree's sum up to the word of the key's position and a count within that
//! word (a popcount while every size is 1; a sum of the positions' sizes otherwise). The tree has one entry per 64
//! positions, small enough to stay in the processor's caches where a tree over every position would not.
//! Positions are renumbered when they run out, so memory follows the number of distinct keys, not the number of
//! requests. O(log n) per request.

use super::fenwick::Fenwick;
use crate::id_map::IdMap;

const WORD: usize = 64;

#[derive(Debug, Clone, Copy, Default)]
struct Last {
    position: usize,
    size: u64,
}

#[derive(Debug)]
pub struct StackDistances {
    /// One bit a position: set where a key's last access is.
    live: Vec<u64>,
    /// The sum of the sizes at each word's live positions.
    words: Fenwick,
    /// The size at each position, once a size other than 1 has come (empty before: a live bit is then a size
    /// of 1).
    sizes: Vec<u64>,
    last: IdMap<Last>,
    next: usize,
    /// The sum of every key's size: the prefix sum up to `next`, without walking the tree.
    total: u64,
    /// Reused by renumbering: the live positions before each word; the sizes at their new positions.
    before: Vec<usize>,
    spare_sizes: Vec<u64>,
}

impl Default for StackDistances {
    fn default() -> Self {
        StackDistances::new()
    }
}

/// Positions at the start, and at least after each renumbering.
const MIN_POSITIONS: usize = 1 << 16;

impl StackDistances {
    pub fn new() -> Self {
        StackDistances {
            live: vec![0; MIN_POSITIONS / WORD],
            words: Fenwick::with_len(MIN_POSITIONS / WORD),
            sizes: Vec::new(),
            last: IdMap::new(),
            next: 0,
            total: 0,
            before: Vec::new(),
            spare_sizes: Vec::new(),
        }
    }

    /// Distinct keys seen.
    pub fn keys(&self) -> usize {
        self.last.len()
    }

    fn positions(&self) -> usize {
        self.live.len() * WORD
    }

    /// Records a request of `key` of `size` (1 for unit-size objects) and returns its stack distance, or None on
    /// the key's first request (a compulsory miss at any size).
    #[inline]
    pub fn access(&mut self, key: u64, size: u64) -> Option<u64> {
        if self.next == self.positions() {
            self.renumber();
        }
        if size != 1 && self.sizes.is_empty() {
            // Every size so far was 1.
            self.sizes = vec![1; self.positions()];
        }
        let now = self.next;
        self.next += 1;
        let distance = match self.last.insert(key, Last { position: now, size }) {
            Some(previous) => {
                // Every position is before `now`: the sum up to it is the total.
                let between = self.total - self.sum_through(previous.position);
                self.unset(previous);
                Some(between + size)
            }
            None => None,
        };
        self.set(now, size);
        distance
    }

    /// The sum of the sizes at live positions up to `position`, itself included.
    #[inline]
    fn sum_through(&self, position: usize) -> u64 {
        let word = position / WORD;
        let bit = position % WORD;
        let through = if bit == WORD - 1 { u64::MAX } else { (1u64 << (bit + 1)) - 1 };
        let mut bits = self.live[word] & through;
        let within = if self.sizes.is_empty() {
            u64::from(bits.count_ones())
        } else {
            let mut sum = 0u64;
            while bits != 0 {
                sum += self.sizes[word * WORD + bits.trailing_zeros() as usize];
                bits &= bits - 1;
            }
            sum
        };
        self.words.prefix(word) + within
    }

    #[inline]
    fn set(&mut self, position: usize, size: u64) {
        self.live[position / WORD] |= 1 << (position % WORD);
        if !self.sizes.is_empty() {
            self.sizes[position] = size;
        }
        self.words.add(position / WORD, size);
        self.total += size;
    }

    #[inline]
    fn unset(&mut self, last: Last) {
        self.live[last.position / WORD] &= !(1 << (last.position % WORD));
        self.words.add(last.position / WORD, last.size.wrapping_neg());
        self.total -= last.size;
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
            self.unset(previous);
        }
    }

    /// Packs the live positions to the front, in order, and makes room for more.
    /// Linear: the live positions before each word are counted in one pass over the bits, each key's record
    /// takes its new position from that count (a popcount within its word) in one pass over the map, and the
    /// tree is built from the words' sums rather than added to.
    fn renumber(&mut self) {
        self.before.clear();
        let mut live = 0usize;
        for &bits in &self.live {
            self.before.push(live);
            live += bits.count_ones() as usize;
        }
        let sized = !self.sizes.is_empty();
        // A position costs a bit, and 8 bytes more with sizes: without them, room for many more positions than
        // keys makes renumbering rare.
        let room = if sized { 2 } else { 8 };
        let positions = (live * room).max(MIN_POSITIONS).next_multiple_of(WORD);
        let words = positions / WORD;
        if sized {
            self.spare_sizes.clear();
            self.spare_sizes.resize(positions, 1);
        }
        let (old_live, before, new_sizes) = (&self.live, &self.before, &mut self.spare_sizes);
        let last = &mut self.last;
        self.words.rebuild(words, |sums| {
            for (_, record) in last.iter_mut() {
                let (word, bit) = (record.position / WORD, record.position % WORD);
                let position = before[word] + (old_live[word] & ((1u64 << bit) - 1)).count_ones() as usize;
                record.position = position;
                sums[position / WORD] += record.size;
                if sized {
                    new_sizes[position] = record.size;
                }
            }
        });
        if sized {
            std::mem::swap(&mut self.sizes, &mut self.spare_sizes);
        }
        self.live.clear();
        self.live.resize(words, 0);
        for word in 0..live / WORD {
            self.live[word] = u64::MAX;
        }
        if live % WORD != 0 {
            self.live[live / WORD] = (1u64 << (live % WORD)) - 1;
        }
        self.next = live;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy;

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

    /// What a request does to the stack, in the property below.
    #[derive(Debug, Clone)]
    enum Step {
        Access(u64, u64),
        Remove(u64),
    }

    proptest::proptest! {
        /// Accesses and removals of few keys (the positions run out and are renumbered often, from 65,536 on),
        /// with every size 1 or with other sizes among them, and in some runs a flush: the distances of a naive
        /// stack.
        #[test]
        fn matches_a_naive_stack_with_removals(
            steps in proptest::collection::vec(
                proptest::prop_oneof![
                    8 => (0u64..40, proptest::prop_oneof![3 => proptest::strategy::Just(1u64), 1 => 1u64..9])
                        .prop_map(|(k, s)| Step::Access(k, s)),
                    1 => (0u64..40).prop_map(Step::Remove),
                ],
                1..400,
            ),
            repeat in 1usize..400,
            unit in proptest::bool::ANY,
            flush_at in proptest::option::of(0usize..160_000),
        ) {
            let mut distances = StackDistances::new();
            let mut stack: Vec<(u64, u64)> = Vec::new();
            // Repeated so that the positions run out: 400 steps 400 times is past 65,536.
            for (at, step) in steps.iter().cycle().take(steps.len() * repeat).enumerate() {
                // Once in some runs, every key is forgotten (a flush).
                if flush_at == Some(at) {
                    stack.clear();
                    distances.clear();
                }
                match *step {
                    Step::Access(key, size) => {
                        let size = if unit { 1 } else { size };
                        let found = stack.iter().position(|&(k, _)| k == key);
                        let expected = found.map(|at| stack[at + 1..].iter().map(|&(_, s)| s).sum::<u64>() + size);
                        if let Some(at) = found {
                            stack.remove(at);
                        }
                        stack.push((key, size));
                        proptest::prop_assert_eq!(distances.access(key, size), expected);
                    }
                    Step::Remove(key) => {
                        stack.retain(|&(k, _)| k != key);
                        distances.remove(key);
                    }
                }
                proptest::prop_assert_eq!(distances.keys(), stack.len());
            }
        }
    }

    #[test]
    fn unit_sizes() {
        let mut d = StackDistances::new();
        let got: Vec<_> = [1, 2, 3, 1, 1, 3, 2].iter().map(|&k| d.access(k, 1)).collect();
        assert_eq!(got, vec![None, None, None, Some(3), Some(1), Some(2), Some(3)]);
    }
}
