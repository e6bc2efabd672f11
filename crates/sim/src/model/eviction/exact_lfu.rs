//! Exact LFU: the key read or written the fewest times since it was cached goes first, the least recent among
//! equals. O(1) per operation: keys sit in buckets by use count, each bucket a list from least to most recently
//! used, and the buckets of one group in a list by count. A use moves a key to the tail of the next bucket up,
//! which is where its new (count, last use) places it, so each bucket stays in order of last use.
//!
//! A key that gains or loses its TTL under a `volatile` scope keeps its count and its last use, and is placed
//! among the other group's keys of its count by its last use: a walk from the most recent end, short in
//! practice, as such keys were mostly just used.

use cachescope_core::Micros;

use super::{Eviction, ensure, group, prefetch_slot, victim_group};
use crate::model::policy::Scope;

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Entry {
    count: u32,
    /// A counter of uses, for order among equal counts.
    last: u64,
    bucket: u32,
    /// Less recently used in the same bucket.
    prev: u32,
    /// More recently used in the same bucket.
    next: u32,
    group: u8,
}

const UNUSED: Entry = Entry { count: 0, last: 0, bucket: NIL, prev: NIL, next: NIL, group: 0 };

/// The keys of one group used `count` times.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    count: u32,
    /// The bucket of the next lower and higher counts in the group.
    lower: u32,
    higher: u32,
    /// The least and the most recently used key.
    oldest: u32,
    newest: u32,
}

#[derive(Debug)]
pub(crate) struct ExactLfu {
    scope: Scope,
    entries: Vec<Entry>,
    buckets: Vec<Bucket>,
    free_buckets: Vec<u32>,
    /// The bucket of the lowest count, per group.
    lowest: [u32; 2],
    clock: u64,
}

impl ExactLfu {
    pub fn new(scope: Scope) -> Self {
        ExactLfu {
            scope,
            entries: Vec::new(),
            buckets: Vec::new(),
            free_buckets: Vec::new(),
            lowest: [NIL; 2],
            clock: 0,
        }
    }

    /// A bucket for `count` in `group`, between `lower` and `higher`.
    fn new_bucket(&mut self, group: usize, count: u32, lower: u32, higher: u32) -> u32 {
        let bucket = Bucket { count, lower, higher, oldest: NIL, newest: NIL };
        let index = match self.free_buckets.pop() {
            Some(index) => {
                self.buckets[index as usize] = bucket;
                index
            }
            None => {
                self.buckets.push(bucket);
                (self.buckets.len() - 1) as u32
            }
        };
        match lower {
            NIL => self.lowest[group] = index,
            lower => self.buckets[lower as usize].higher = index,
        }
        if higher != NIL {
            self.buckets[higher as usize].lower = index;
        }
        index
    }

    /// Takes `slot` out of its bucket, and the bucket out of its group when it is left empty.
    fn detach(&mut self, slot: u32) {
        if self.unlink(slot) {
            let Entry { bucket, group, .. } = self.entries[slot as usize];
            self.drop_bucket(bucket, group as usize);
        }
    }

    /// Takes `slot` out of its bucket's list; true when the bucket is left empty.
    fn unlink(&mut self, slot: u32) -> bool {
        let Entry { bucket, prev, next, .. } = self.entries[slot as usize];
        let b = bucket as usize;
        match prev {
            NIL => self.buckets[b].oldest = next,
            prev => self.entries[prev as usize].next = next,
        }
        match next {
            NIL => self.buckets[b].newest = prev,
            next => self.entries[next as usize].prev = prev,
        }
        self.buckets[b].oldest == NIL
    }

    /// Takes an empty bucket out of its group.
    fn drop_bucket(&mut self, bucket: u32, group: usize) {
        let Bucket { lower, higher, .. } = self.buckets[bucket as usize];
        match lower {
            NIL => self.lowest[group] = higher,
            lower => self.buckets[lower as usize].higher = higher,
        }
        if higher != NIL {
            self.buckets[higher as usize].lower = lower;
        }
        self.free_buckets.push(bucket);
    }

    /// Puts `slot` in `bucket` after `after` (NIL: as its least recent).
    fn attach_after(&mut self, slot: u32, bucket: u32, after: u32) {
        let next = match after {
            NIL => self.buckets[bucket as usize].oldest,
            after => self.entries[after as usize].next,
        };
        let entry = &mut self.entries[slot as usize];
        (entry.bucket, entry.prev, entry.next) = (bucket, after, next);
        match after {
            NIL => self.buckets[bucket as usize].oldest = slot,
            after => self.entries[after as usize].next = slot,
        }
        match next {
            NIL => self.buckets[bucket as usize].newest = slot,
            next => self.entries[next as usize].prev = slot,
        }
    }

    /// Puts `slot` in `bucket` as its most recent.
    fn attach_newest(&mut self, slot: u32, bucket: u32) {
        self.attach_after(slot, bucket, self.buckets[bucket as usize].newest);
    }

    /// The bucket of `count` in `group`, made if there is none.
    fn bucket_of(&mut self, group: usize, count: u32) -> u32 {
        let (mut lower, mut at) = (NIL, self.lowest[group]);
        while at != NIL && self.buckets[at as usize].count < count {
            (lower, at) = (at, self.buckets[at as usize].higher);
        }
        if at != NIL && self.buckets[at as usize].count == count {
            return at;
        }
        self.new_bucket(group, count, lower, at)
    }
}

impl Eviction for ExactLfu {
    fn insert(&mut self, slot: u32, expires_at: Micros, _: Micros) {
        ensure(&mut self.entries, slot, UNUSED);
        self.clock += 1;
        let group = group(self.scope, expires_at);
        self.entries[slot as usize] = Entry { count: 1, last: self.clock, group: group as u8, ..UNUSED };
        let lowest = self.lowest[group];
        let bucket = if lowest != NIL && self.buckets[lowest as usize].count == 1 {
            lowest
        } else {
            self.new_bucket(group, 1, NIL, lowest)
        };
        self.attach_newest(slot, bucket);
    }

    fn touch(&mut self, slot: u32, _: Micros) {
        self.clock += 1;
        let Entry { count, bucket, group, .. } = self.entries[slot as usize];
        self.entries[slot as usize].last = self.clock;
        if count == u32::MAX {
            // The count is at its ceiling: the key only becomes the most recent of its bucket.
            self.unlink(slot);
            self.attach_newest(slot, bucket);
            return;
        }
        let higher = self.buckets[bucket as usize].higher;
        let target = if higher != NIL && self.buckets[higher as usize].count == count + 1 {
            higher
        } else {
            self.new_bucket(group as usize, count + 1, bucket, higher)
        };
        // The target is in the group's list before the bucket left may go from it.
        self.detach(slot);
        self.entries[slot as usize].count = count + 1;
        self.attach_newest(slot, target);
    }

    fn expiry_changed(&mut self, slot: u32, _: Micros, new: Micros, _: Micros) {
        let group = group(self.scope, new);
        let Entry { count, last, group: old_group, .. } = self.entries[slot as usize];
        if old_group as usize == group {
            return;
        }
        self.detach(slot);
        self.entries[slot as usize].group = group as u8;
        let bucket = self.bucket_of(group, count);
        let mut after = self.buckets[bucket as usize].newest;
        while after != NIL && self.entries[after as usize].last > last {
            after = self.entries[after as usize].prev;
        }
        self.attach_after(slot, bucket, after);
    }

    fn remove(&mut self, slot: u32) {
        self.detach(slot);
    }

    fn victim(&mut self, _: Micros) -> Option<u32> {
        let lowest = self.lowest[victim_group(self.scope)];
        (lowest != NIL).then(|| self.buckets[lowest as usize].oldest)
    }

    #[inline]
    fn prefetch(&self, slot: u32) {
        prefetch_slot(&self.entries, slot);
    }

    /// The oldest of the lowest count, and the key after it: the next oldest of that count, or the oldest of
    /// the next count up.
    #[inline]
    fn next_victims(&self) -> [Option<u32>; 2] {
        let lowest = self.lowest[victim_group(self.scope)];
        if lowest == NIL {
            return [None, None];
        }
        let bucket = self.buckets[lowest as usize];
        let after = match self.entries[bucket.oldest as usize].next {
            NIL => (bucket.higher != NIL).then(|| self.buckets[bucket.higher as usize].oldest),
            after => Some(after),
        };
        [Some(bucket.oldest), after]
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    /// What exact LFU means, kept the plain way: each group an ordered set of (count, last use, slot).
    #[derive(Default)]
    struct Reference {
        clock: u64,
        keys: BTreeMap<u32, (u32, u64, usize)>,
        order: [BTreeSet<(u32, u64, u32)>; 2],
    }

    impl Reference {
        fn insert(&mut self, slot: u32, group: usize) {
            self.clock += 1;
            self.keys.insert(slot, (1, self.clock, group));
            self.order[group].insert((1, self.clock, slot));
        }

        fn touch(&mut self, slot: u32) {
            self.clock += 1;
            let (count, last, group) = self.keys[&slot];
            self.order[group].remove(&(count, last, slot));
            let count = count.saturating_add(1);
            self.keys.insert(slot, (count, self.clock, group));
            self.order[group].insert((count, self.clock, slot));
        }

        fn regroup(&mut self, slot: u32, group: usize) {
            let (count, last, old) = self.keys[&slot];
            self.order[old].remove(&(count, last, slot));
            self.keys.insert(slot, (count, last, group));
            self.order[group].insert((count, last, slot));
        }

        fn remove(&mut self, slot: u32) {
            let (count, last, group) = self.keys.remove(&slot).unwrap();
            self.order[group].remove(&(count, last, slot));
        }
    }

    /// The keys of `group`, first to go first.
    fn order(lfu: &ExactLfu, group: usize) -> Vec<u32> {
        let mut keys = Vec::new();
        let mut bucket = lfu.lowest[group];
        let mut count = 0;
        while bucket != NIL {
            let b = lfu.buckets[bucket as usize];
            assert!(b.count > count, "buckets in order of count");
            count = b.count;
            assert_ne!(b.oldest, NIL, "no empty bucket is kept");
            let mut slot = b.oldest;
            while slot != NIL {
                keys.push(slot);
                slot = lfu.entries[slot as usize].next;
            }
            bucket = b.higher;
        }
        keys
    }

    proptest::proptest! {
        /// Random uses of 12 keys, in both scopes: the buckets hold the keys in the order of the plain ordered
        /// sets, and name the same victim and the same two next.
        #[test]
        fn the_buckets_keep_the_order_of_count_then_last_use(
            volatile: bool,
            operations in proptest::collection::vec((0u32..12, 0u8..4, proptest::bool::ANY), 1..300),
        ) {
            let scope = if volatile { Scope::Volatile } else { Scope::AllKeys };
            let mut lfu = ExactLfu::new(scope);
            let mut reference = Reference::default();
            for (slot, operation, with_ttl) in operations {
                let expires_at = if with_ttl { 1_000 } else { 0 };
                let present = reference.keys.contains_key(&slot);
                match (present, operation) {
                    (false, _) => {
                        lfu.insert(slot, expires_at, 0);
                        reference.insert(slot, group(scope, expires_at));
                    }
                    (true, 0 | 1) => {
                        lfu.touch(slot, 0);
                        reference.touch(slot);
                    }
                    (true, 2) => {
                        lfu.expiry_changed(slot, 0, expires_at, 0);
                        reference.regroup(slot, group(scope, expires_at));
                    }
                    (true, _) => {
                        lfu.remove(slot);
                        reference.remove(slot);
                    }
                }
                for group in 0..2 {
                    let expected: Vec<u32> = reference.order[group].iter().map(|&(_, _, slot)| slot).collect();
                    proptest::prop_assert_eq!(order(&lfu, group), expected);
                }
                let victim = reference.order[victim_group(scope)].first().map(|&(_, _, slot)| slot);
                proptest::prop_assert_eq!(lfu.victim(0), victim);
                // The next two victims, as asked for ahead: the first two to go.
                let mut next = reference.order[victim_group(scope)].iter().map(|&(_, _, slot)| slot);
                proptest::prop_assert_eq!(lfu.next_victims(), [next.next(), next.next()]);
            }
        }
    }

    #[test]
    fn a_count_at_its_ceiling_only_moves_the_key_to_the_most_recent() {
        let mut lfu = ExactLfu::new(Scope::AllKeys);
        lfu.insert(0, 0, 0);
        lfu.insert(1, 0, 0);
        for slot in [0, 1] {
            lfu.entries[slot].count = u32::MAX - 1;
        }
        // Counts of u32::MAX - 1 in the bucket of 1: fix the buckets by hand to match.
        let bucket = lfu.entries[0].bucket;
        lfu.buckets[bucket as usize].count = u32::MAX - 1;
        lfu.touch(0, 0);
        lfu.touch(1, 0);
        lfu.touch(0, 0);
        assert_eq!(lfu.entries[0].count, u32::MAX);
        assert_eq!(order(&lfu, 0), [1, 0], "at the ceiling, the least recent goes first");
    }
}
