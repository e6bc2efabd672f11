//! Shards: the keys split by hash so that several engines (threads, or machines) each analyse a share of a
//! trace and their results merge into the report of one engine over the whole ([`super::Partial`]).
//!
//! Every shard reads every event: the clock, the markers and the event count are the trace's, the same in each.
//! Only the key events of its own keys reach its shadow state and its statistics. A key belongs to one shard by
//! the low half of its hash; the key budget samples keys by the high half, so the two choices are independent.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Shard `index` of `count` (counted from 0; `Shard::WHOLE` is the only shard of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Every key: an engine that is not sharded.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    pub fn new(index: u32, count: u32) -> Option<Shard> {
        (count > 0 && index < count).then_some(Shard { index, count })
    }

    /// Every shard of `count`.
    pub fn all(count: u32) -> impl Iterator<Item = Shard> {
        (0..count.max(1)).map(move |index| Shard { index, count: count.max(1) })
    }

    /// Whether the key with this hash is this shard's.
    #[inline]
    pub fn owns(self, hash: u64) -> bool {
        self.count == 1 || ((hash & 0xffff_ffff) * u64::from(self.count)) >> 32 == u64::from(self.index)
    }

    /// This share cut into `parts` equal ones (shards of a finer split): together they own exactly its keys,
    /// so their merged result is this shard's. For the threads of one shard.
    pub fn split(self, parts: u32) -> Vec<Shard> {
        let parts = parts.max(1);
        (0..parts).map(|part| Shard { index: self.index * parts + part, count: self.count * parts }).collect()
    }

    /// Which of this shard's [`Shard::split`] into `parts` owns the key with this hash, if this shard does.
    #[inline]
    pub fn part_owning(self, parts: u32, hash: u64) -> Option<usize> {
        let parts = u64::from(parts.max(1));
        let owner = ((hash & 0xffff_ffff) * (u64::from(self.count) * parts)) >> 32;
        // Without a division: the reader asks this of every event.
        let first = u64::from(self.index) * parts;
        (owner >= first && owner < first + parts).then(|| (owner - first) as usize)
    }
}

impl Default for Shard {
    fn default() -> Self {
        Shard::WHOLE
    }
}

/// Written as people count: shard 3 of 16 is `3/16`, the first is `1/16`.
impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index + 1, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let usage = || format!("`{text}` is not a shard: write I/N, the I-th of N shards, from 1/N to N/N (as 3/16)");
        let (index, count) = text.split_once('/').ok_or_else(usage)?;
        let index: u32 = index.trim().parse().map_err(|_| usage())?;
        let count: u32 = count.trim().parse().map_err(|_| usage())?;
        if count == 0 || index == 0 || index > count {
            return Err(usage());
        }
        Ok(Shard { index: index - 1, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_one_shard() {
        for count in [1u32, 2, 3, 16] {
            let mut seen = vec![0u32; count as usize];
            for i in 0..10_000u64 {
                let hash = crate::engine::key_hash(0, format!("key:{i}").as_bytes());
                let owners: Vec<Shard> = Shard::all(count).filter(|s| s.owns(hash)).collect();
                assert_eq!(owners.len(), 1, "{count} shards");
                seen[owners[0].index as usize] += 1;
            }
            // Even: each shard within 15% of its share.
            let share = 10_000 / count;
            assert!(seen.iter().all(|&n| n.abs_diff(share) * 100 <= share * 15), "{seen:?}");
        }
    }

    #[test]
    fn a_shard_split_owns_its_keys_and_no_other() {
        let shard = Shard { index: 2, count: 5 };
        let parts = shard.split(3);
        assert_eq!(parts.len(), 3);
        for i in 0..20_000u64 {
            let hash = crate::engine::key_hash(0, format!("key:{i}").as_bytes());
            let owners: Vec<usize> = (0..parts.len()).filter(|&p| parts[p].owns(hash)).collect();
            assert_eq!(owners.len(), usize::from(shard.owns(hash)), "key:{i}");
            assert_eq!(shard.part_owning(3, hash), owners.first().copied(), "key:{i}");
        }
    }

    #[test]
    fn written_and_read_as_people_count() {
        assert_eq!("3/16".parse::<Shard>(), Ok(Shard { index: 2, count: 16 }));
        assert_eq!(Shard { index: 2, count: 16 }.to_string(), "3/16");
        for bad in ["0/4", "5/4", "1/0", "x/2", "3", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
