//! Exact `volatile-ttl`: the key that would expire soonest goes first. Keys with a TTL sit in an ordered set by
//! expiry: O(log n) per change of TTL, nothing per read.

use std::collections::BTreeSet;

use cachescope_core::Micros;

use super::Eviction;

#[derive(Debug, Default)]
pub(crate) struct NearestExpiry {
    order: BTreeSet<(Micros, u32)>,
    /// Each slot's expiry, to find it in the set (0: none).
    expiry: Vec<Micros>,
}

impl Eviction for NearestExpiry {
    fn insert(&mut self, slot: u32, expires_at: Micros, _: Micros) {
        super::ensure(&mut self.expiry, slot, 0);
        self.expiry[slot as usize] = expires_at;
        if expires_at != 0 {
            self.order.insert((expires_at, slot));
        }
    }

    fn touch(&mut self, _: u32, _: Micros) {}

    fn expiry_changed(&mut self, slot: u32, old: Micros, new: Micros, now: Micros) {
        if old != 0 {
            self.order.remove(&(old, slot));
        }
        self.insert(slot, new, now);
    }

    fn remove(&mut self, slot: u32) {
        let expiry = std::mem::take(&mut self.expiry[slot as usize]);
        if expiry != 0 {
            self.order.remove(&(expiry, slot));
        }
    }

    fn victim(&mut self, _: Micros) -> Option<u32> {
        self.order.first().map(|&(_, slot)| slot)
    }
}
