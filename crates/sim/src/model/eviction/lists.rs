//! Exact LRU and FIFO: keys in recency (or insertion) order in intrusive doubly linked lists, one per group.
//! O(1) per operation. Under `allkeys` every key is in one list; under `volatile` keys with a TTL have their
//! own, and a key that gains or loses its TTL moves to the front of the other list, as if just used (setting a
//! TTL touches a key in Redis too).

use cachescope_core::Micros;

use super::{Eviction, ensure, group, prefetch_slot, victim_group};
use crate::model::policy::Scope;

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Link {
    prev: u32,
    next: u32,
    group: u8,
}

const UNLINKED: Link = Link { prev: NIL, next: NIL, group: 0 };

#[derive(Debug)]
pub(crate) struct Lists {
    scope: Scope,
    /// FIFO: reads and rewrites leave a key where it is.
    fifo: bool,
    links: Vec<Link>,
    /// Most recent first.
    heads: [u32; 2],
    /// The next to go.
    tails: [u32; 2],
}

impl Lists {
    pub fn lru(scope: Scope) -> Self {
        Lists { scope, fifo: false, links: Vec::new(), heads: [NIL; 2], tails: [NIL; 2] }
    }

    pub fn fifo(scope: Scope) -> Self {
        Lists { fifo: true, ..Lists::lru(scope) }
    }

    #[inline]
    fn unlink(&mut self, slot: u32) {
        let Link { prev, next, group } = self.links[slot as usize];
        let group = group as usize;
        match prev {
            NIL => self.heads[group] = next,
            p => self.links[p as usize].next = next,
        }
        match next {
            NIL => self.tails[group] = prev,
            n => self.links[n as usize].prev = prev,
        }
    }

    #[inline]
    fn push_front(&mut self, slot: u32, group: usize) {
        let head = self.heads[group];
        self.links[slot as usize] = Link { prev: NIL, next: head, group: group as u8 };
        match head {
            NIL => self.tails[group] = slot,
            h => self.links[h as usize].prev = slot,
        }
        self.heads[group] = slot;
    }
}

impl Eviction for Lists {
    #[inline]
    fn insert(&mut self, slot: u32, expires_at: Micros, _: Micros) {
        ensure(&mut self.links, slot, UNLINKED);
        self.push_front(slot, group(self.scope, expires_at));
    }

    #[inline]
    fn touch(&mut self, slot: u32, _: Micros) {
        if !self.fifo && self.heads[self.links[slot as usize].group as usize] != slot {
            let group = self.links[slot as usize].group as usize;
            self.unlink(slot);
            self.push_front(slot, group);
        }
    }

    fn expiry_changed(&mut self, slot: u32, _: Micros, new: Micros, _: Micros) {
        let group = group(self.scope, new);
        if self.links[slot as usize].group as usize != group {
            self.unlink(slot);
            self.push_front(slot, group);
        }
    }

    #[inline]
    fn remove(&mut self, slot: u32) {
        self.unlink(slot);
    }

    #[inline]
    fn victim(&mut self, _: Micros) -> Option<u32> {
        Some(self.tails[victim_group(self.scope)]).filter(|&slot| slot != NIL)
    }

    #[inline]
    fn prefetch(&self, slot: u32) {
        prefetch_slot(&self.links, slot);
    }

    /// The tail, and the key before it.
    #[inline]
    fn next_victims(&self) -> [Option<u32>; 2] {
        let next = self.tails[victim_group(self.scope)];
        if next == NIL {
            return [None, None];
        }
        let after = self.links[next as usize].prev;
        [Some(next), Some(after).filter(|&slot| slot != NIL)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Random uses of 12 keys, LRU and FIFO, in both scopes, against plain vectors in order (most recent
        /// first): the same victim, and the same two next as asked for ahead.
        #[test]
        fn the_lists_name_the_victims_of_plain_vectors(
            fifo: bool,
            volatile: bool,
            operations in proptest::collection::vec((0u32..12, 0u8..4, proptest::bool::ANY), 1..300),
        ) {
            let scope = if volatile { Scope::Volatile } else { Scope::AllKeys };
            let mut lists = if fifo { Lists::fifo(scope) } else { Lists::lru(scope) };
            let mut reference: [Vec<u32>; 2] = Default::default();
            let find = |reference: &[Vec<u32>; 2], slot: u32| {
                (0..2).find_map(|g| reference[g].iter().position(|&s| s == slot).map(|at| (g, at)))
            };
            for (slot, operation, with_ttl) in operations {
                let expires_at = if with_ttl { 1_000 } else { 0 };
                match (find(&reference, slot), operation) {
                    (None, _) => {
                        lists.insert(slot, expires_at, 0);
                        reference[group(scope, expires_at)].insert(0, slot);
                    }
                    (Some((g, at)), 0 | 1) => {
                        lists.touch(slot, 0);
                        if !fifo {
                            reference[g].remove(at);
                            reference[g].insert(0, slot);
                        }
                    }
                    (Some((g, at)), 2) => {
                        lists.expiry_changed(slot, 0, expires_at, 0);
                        let new = group(scope, expires_at);
                        if new != g {
                            reference[g].remove(at);
                            reference[new].insert(0, slot);
                        }
                    }
                    (Some((g, at)), _) => {
                        lists.remove(slot);
                        reference[g].remove(at);
                    }
                }
                let mut next = reference[victim_group(scope)].iter().rev().copied();
                let expected = [next.next(), next.next()];
                proptest::prop_assert_eq!(lists.victim(0), expected[0]);
                proptest::prop_assert_eq!(lists.next_victims(), expected);
            }
        }
    }
}
