//! When the model's keys expire: a queue of (expiry time, slot, generation), taken earliest first.
//!
//! One heap of every TTL set would do, but with millions of keys each take walks a heap far larger than the
//! caches. Entries are kept instead by the second their time falls in (2^20 µs): those of the earliest second
//! due are in a small heap, the later seconds in unordered lists, each turned into the heap when its turn comes.
//! Entries come out in exactly the order one heap would give: by time, then slot, then generation.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use cachescope_core::Micros;

/// (expiry time, slot, generation).
pub(crate) type Expiry = (Micros, u32, u32);

/// Microseconds in a bucket, as a power of two: about a second.
const BUCKET_LOG2: u32 = 20;

#[derive(Debug, Default)]
pub(crate) struct Expiries {
    /// The entries of seconds up to `current`, earliest first.
    due: BinaryHeap<Reverse<Expiry>>,
    /// The second (time >> [`BUCKET_LOG2`]) last moved into `due`; entries of later ones wait in `later`.
    current: u64,
    later: BTreeMap<u64, Vec<Expiry>>,
    /// Entries in `later`.
    later_len: usize,
    /// No entry is due before this time (a bound, not always the earliest entry's time): a take before it
    /// answers at once, without looking at the queue. 0 until first worked out.
    not_before: Micros,
}

impl Expiries {
    pub fn len(&self) -> usize {
        self.due.len() + self.later_len
    }

    pub fn push(&mut self, entry: Expiry) {
        self.not_before = self.not_before.min(entry.0);
        let bucket = entry.0 >> BUCKET_LOG2;
        if bucket <= self.current {
            self.due.push(Reverse(entry));
        } else {
            self.later.entry(bucket).or_default().push(entry);
            self.later_len += 1;
        }
    }

    /// Takes the earliest entry if it is due by `now`. A model asks at every event, and most of the time
    /// nothing is due: that answer costs one comparison.
    #[inline]
    pub fn pop_due(&mut self, now: Micros) -> Option<Expiry> {
        if now < self.not_before {
            return None;
        }
        let taken = self.take_due(now);
        self.not_before = self.earliest();
        taken
    }

    /// When the earliest entry is due at the soonest: its time when the current second's entries are in the
    /// heap, else the start of the first second waiting.
    fn earliest(&self) -> Micros {
        match self.due.peek() {
            Some(&Reverse(entry)) => entry.0,
            None => self.later.keys().next().map_or(Micros::MAX, |&bucket| bucket << BUCKET_LOG2),
        }
    }

    #[inline(never)]
    fn take_due(&mut self, now: Micros) -> Option<Expiry> {
        if self.later_len == 0 && self.due.is_empty() {
            return None;
        }
        loop {
            if let Some(&Reverse(entry)) = self.due.peek() {
                // Every entry waiting in `later` is later than every one in `due`.
                return (entry.0 <= now).then(|| {
                    self.due.pop();
                    entry
                });
            }
            let mut first = self.later.first_entry()?;
            if *first.key() > now >> BUCKET_LOG2 {
                return None;
            }
            self.current = *first.key();
            let entries = std::mem::take(first.get_mut());
            first.remove();
            self.later_len -= entries.len();
            self.due = BinaryHeap::from(entries.into_iter().map(Reverse).collect::<Vec<_>>());
        }
    }

    /// Keeps only the entries `keep` says to.
    pub fn retain(&mut self, mut keep: impl FnMut(&Expiry) -> bool) {
        self.due.retain(|Reverse(entry)| keep(entry));
        self.later.retain(|_, entries| {
            entries.retain(&mut keep);
            !entries.is_empty()
        });
        self.later_len = self.later.values().map(Vec::len).sum();
        self.not_before = self.earliest();
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        /// An entry this far after the time now (times never go back, and nothing is set to expire before now).
        Push(u64, u32, u32),
        /// Time moves on by this much, and every entry due is taken.
        Advance(u64),
        /// Entries whose slot is odd are dropped.
        DropOdd,
    }

    fn op() -> impl Strategy<Value = Op> {
        let ahead = prop_oneof![0u64..10, 0u64..3_000_000, Just(1 << 20), 0u64..100_000_000];
        prop_oneof![
            4 => (ahead.clone(), 0u32..20, 0u32..3).prop_map(|(ahead, slot, generation)| Op::Push(ahead, slot, generation)),
            2 => ahead.prop_map(Op::Advance),
            1 => Just(Op::DropOdd),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Entries come out when due, in the order of one heap of them all.
        #[test]
        fn takes_entries_as_one_heap_would(start in 0u64..(1 << 22), ops in proptest::collection::vec(op(), 0..300)) {
            let mut queue = Expiries::default();
            let mut heap: BinaryHeap<Reverse<Expiry>> = BinaryHeap::new();
            let mut now = start;
            for op in ops {
                match op {
                    Op::Push(ahead, slot, generation) => {
                        queue.push((now + ahead, slot, generation));
                        heap.push(Reverse((now + ahead, slot, generation)));
                    }
                    Op::Advance(by) => {
                        now += by;
                        loop {
                            let expected = heap.peek().filter(|Reverse(e)| e.0 <= now).map(|Reverse(e)| *e);
                            if expected.is_some() {
                                heap.pop();
                            }
                            prop_assert_eq!(queue.pop_due(now), expected);
                            if expected.is_none() {
                                break;
                            }
                        }
                    }
                    Op::DropOdd => {
                        queue.retain(|e| e.1 % 2 == 0);
                        heap.retain(|Reverse(e)| e.1 % 2 == 0);
                    }
                }
                prop_assert_eq!(queue.len(), heap.len());
            }
        }
    }
}
