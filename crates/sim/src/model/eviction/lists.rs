//! Exact LRU and FIFO: keys in recency (or insertion) order in intrusive doubly linked lists, one per group.
//! O(1) per operation. Under `allkeys` every key is in one list; under `volatile` keys with a TTL have their
//! own, and a key that gains or loses its TTL moves to the front of the other list, as if just used (setting a
//! TTL touches a key in Redis too).

use cachescope_core::Micros;

use super::{Eviction, ensure, group, victim_group};
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
}
