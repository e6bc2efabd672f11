//! A map from key ids to small values (a cache model's slots, a stack's last positions): open addressing with
//! linear probing, over ids that are already 64-bit hashes ([`cachescope_core::key_hash`]).
//!
//! A general hash map would do the same job, but gives no way to ask for a key's bucket ahead of use: a replay
//! of a trace with millions of keys waits on memory for each lookup, and [`IdMap::prefetch`] lets it name the
//! keys of the next events a few events ahead so that the waits overlap. Deletion shifts the entries after it
//! back, so there are no tombstones and lookups stay short however many keys come and go.

/// An entry; `id` 0 marks an empty bucket (the id 0 itself is kept aside, in [`IdMap::zero`]).
#[derive(Debug, Clone, Copy, Default)]
struct Bucket<V> {
    id: u64,
    value: V,
}

#[derive(Debug)]
pub struct IdMap<V> {
    buckets: Vec<Bucket<V>>,
    /// 64 less log2 of the number of buckets: a key's home is the top bits of its id, mixed.
    shift: u32,
    /// Entries in `buckets`.
    len: usize,
    /// The value of the id 0, if held.
    zero: Option<V>,
}

/// Buckets to begin with (a power of two).
const INITIAL_BUCKETS: usize = 16;

impl<V: Copy + Default> Default for IdMap<V> {
    fn default() -> Self {
        IdMap::new()
    }
}

impl<V: Copy + Default> IdMap<V> {
    pub fn new() -> Self {
        IdMap {
            buckets: vec![Bucket::default(); INITIAL_BUCKETS],
            shift: 64 - INITIAL_BUCKETS.trailing_zeros(),
            len: 0,
            zero: None,
        }
    }

    /// The top bits of the id multiplied by an odd constant, which depend on all of its bits: ids are hashes,
    /// but a sample of keys taken by hash (those below a threshold) has its top bits all zero.
    #[inline]
    fn home(&self, id: u64) -> usize {
        (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    #[inline]
    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }

    /// Where `id` is, or the empty bucket where it would go.
    #[inline]
    fn find(&self, id: u64) -> Result<usize, usize> {
        let mask = self.mask();
        let mut at = self.home(id);
        loop {
            match self.buckets[at].id {
                found if found == id => return Ok(at),
                0 => return Err(at),
                _ => at = (at + 1) & mask,
            }
        }
    }

    pub fn len(&self) -> usize {
        self.len + usize::from(self.zero.is_some())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub fn get(&self, id: u64) -> Option<V> {
        if id == 0 {
            return self.zero;
        }
        self.find(id).ok().map(|at| self.buckets[at].value)
    }

    #[inline]
    pub fn contains(&self, id: u64) -> bool {
        self.get(id).is_some()
    }

    /// Asks the processor for `id`'s home bucket, without waiting.
    #[inline]
    pub fn prefetch(&self, id: u64) {
        cachescope_core::prefetch::prefetch(&self.buckets[self.home(id)]);
    }

    /// Gives `id` the value `value`; the value it had, if any.
    pub fn insert(&mut self, id: u64, value: V) -> Option<V> {
        if id == 0 {
            return self.zero.replace(value);
        }
        match self.find(id) {
            Ok(at) => Some(std::mem::replace(&mut self.buckets[at].value, value)),
            Err(at) => {
                self.buckets[at] = Bucket { id, value };
                self.len += 1;
                // At most 5 of 8 buckets taken: probes stay short.
                if self.len * 8 > self.buckets.len() * 5 {
                    self.grow();
                }
                None
            }
        }
    }

    /// Removes `id`; its value, if it was held.
    pub fn remove(&mut self, id: u64) -> Option<V> {
        if id == 0 {
            return self.zero.take();
        }
        let mut hole = self.find(id).ok()?;
        let value = self.buckets[hole].value;
        self.len -= 1;
        // Each entry after the hole that could sit in it (its home is not between the hole and it) moves back,
        // so that no lookup stops short of an entry at an empty bucket.
        let mask = self.mask();
        let mut at = hole;
        loop {
            at = (at + 1) & mask;
            let bucket = self.buckets[at];
            if bucket.id == 0 {
                break;
            }
            let home = self.home(bucket.id);
            let distance_from_home = at.wrapping_sub(home) & mask;
            let distance_to_hole = at.wrapping_sub(hole) & mask;
            if distance_from_home >= distance_to_hole {
                self.buckets[hole] = bucket;
                hole = at;
            }
        }
        self.buckets[hole] = Bucket::default();
        Some(value)
    }

    /// Every value held, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = V> + '_ {
        self.buckets.iter().filter(|bucket| bucket.id != 0).map(|bucket| bucket.value).chain(self.zero)
    }

    /// Every (id, value) held, the values to change, in no particular order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (u64, &mut V)> + '_ {
        let zero = self.zero.as_mut().map(|value| (0, value));
        self.buckets.iter_mut().filter(|bucket| bucket.id != 0).map(|bucket| (bucket.id, &mut bucket.value)).chain(zero)
    }

    /// Keeps the entries for which `keep` says so, in one pass that builds the table again.
    pub fn retain(&mut self, mut keep: impl FnMut(u64, V) -> bool) {
        let old = std::mem::take(self);
        for bucket in old.buckets.into_iter().filter(|bucket| bucket.id != 0) {
            if keep(bucket.id, bucket.value) {
                self.insert(bucket.id, bucket.value);
            }
        }
        if let Some(value) = old.zero.filter(|&value| keep(0, value)) {
            self.zero = Some(value);
        }
    }

    fn grow(&mut self) {
        let doubled = vec![Bucket::default(); self.buckets.len() * 2];
        let old = std::mem::replace(&mut self.buckets, doubled);
        self.shift -= 1;
        for bucket in old.into_iter().filter(|bucket| bucket.id != 0) {
            let at = self.find(bucket.id).expect_err("ids are distinct");
            self.buckets[at] = bucket;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64, u32),
        Remove(u64),
        Get(u64),
        /// Keeps the entries whose value is even.
        RetainEven,
    }

    /// Ids from a small set, with many sharing their top bits (the same home) and 0 among them: collisions,
    /// runs that wrap around the end of the table, and removals inside runs.
    fn id() -> impl Strategy<Value = u64> {
        prop_oneof![
            Just(0u64),
            (0u64..8, 0u64..4).prop_map(|(top, low)| (top << 61) | low | 1),
            (0u64..40).prop_map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            Just(u64::MAX),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (id(), any::<u32>()).prop_map(|(id, slot)| Op::Insert(id, slot)),
            id().prop_map(Op::Remove),
            id().prop_map(Op::Get),
            Just(Op::RetainEven),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any sequence of inserts, removals and lookups gives what a hash map gives, through growth.
        #[test]
        fn behaves_as_a_hash_map(ops in proptest::collection::vec(op(), 0..400)) {
            let mut index: IdMap<u32> = IdMap::new();
            let mut map: HashMap<u64, u32> = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(id, slot) => prop_assert_eq!(index.insert(id, slot), map.insert(id, slot)),
                    Op::Remove(id) => prop_assert_eq!(index.remove(id), map.remove(&id)),
                    Op::Get(id) => prop_assert_eq!(index.get(id), map.get(&id).copied()),
                    Op::RetainEven => {
                        index.retain(|_, slot| slot % 2 == 0);
                        map.retain(|_, slot| *slot % 2 == 0);
                    }
                }
                prop_assert_eq!(index.len(), map.len());
            }
            for (&id, &slot) in &map {
                prop_assert_eq!(index.get(id), Some(slot));
            }
            let mut slots: Vec<u32> = index.values().collect();
            let mut expected: Vec<u32> = map.values().copied().collect();
            slots.sort_unstable();
            expected.sort_unstable();
            prop_assert_eq!(slots, expected);
        }
    }

    /// How far the entry furthest from its home is.
    fn longest_probe<V: Copy + Default>(map: &IdMap<V>) -> usize {
        let mask = map.mask();
        (0..map.buckets.len())
            .filter(|&at| map.buckets[at].id != 0)
            .map(|at| at.wrapping_sub(map.home(map.buckets[at].id)) & mask)
            .max()
            .unwrap_or(0)
    }

    /// Ids of a sample taken by hash (below a threshold: the top bits all zero) or counted from 1 spread over
    /// the table as hashes do: no long runs to probe.
    #[test]
    fn ids_with_their_top_bits_zero_spread_as_others() {
        for (what, ids) in [
            (
                "a sample below a threshold",
                (0..100_000u64).map(|i| cachescope_core::key_hash(0, &i.to_le_bytes()) >> 24).collect::<Vec<_>>(),
            ),
            ("counted from 1", (1..100_001u64).collect()),
            ("hashes", (0..100_000u64).map(|i| cachescope_core::key_hash(0, &i.to_le_bytes())).collect()),
        ] {
            let mut map: IdMap<u32> = IdMap::new();
            for (slot, &id) in ids.iter().enumerate() {
                map.insert(id, slot as u32);
            }
            assert!(longest_probe(&map) < 100, "{what}: an entry {} buckets from home", longest_probe(&map));
        }
    }

    #[test]
    fn a_million_keys_in_and_half_out() {
        let mut index: IdMap<u32> = IdMap::new();
        let id = |i: u64| cachescope_core::key_hash(0, &i.to_le_bytes());
        for i in 0..1_000_000u64 {
            index.insert(id(i), i as u32);
        }
        for i in (0..1_000_000u64).step_by(2) {
            assert_eq!(index.remove(id(i)), Some(i as u32));
        }
        assert_eq!(index.len(), 500_000);
        for i in 0..1_000_000u64 {
            assert_eq!(index.get(id(i)), (i % 2 == 1).then_some(i as u32), "key {i}");
        }
    }
}
