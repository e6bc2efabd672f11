//! Exact LFU: the key read or written the fewest times since it was cached goes first, the least recent among
//! equals. Keys sit in an ordered set by (count, last use), one set per group: O(log n) per operation.

use std::collections::BTreeSet;

use cachescope_core::Micros;

use super::{Eviction, ensure, group, victim_group};
use crate::model::policy::Scope;

#[derive(Debug, Clone, Copy, Default)]
struct Use {
    count: u32,
    /// A global counter of uses, for recency among equal counts.
    last: u64,
    group: u8,
}

#[derive(Debug)]
pub(crate) struct ExactLfu {
    scope: Scope,
    uses: Vec<Use>,
    order: [BTreeSet<(u32, u64, u32)>; 2],
    clock: u64,
}

impl ExactLfu {
    pub fn new(scope: Scope) -> Self {
        ExactLfu { scope, uses: Vec::new(), order: [BTreeSet::new(), BTreeSet::new()], clock: 0 }
    }

    fn key(&self, slot: u32) -> (u32, u64, u32) {
        let usage = self.uses[slot as usize];
        (usage.count, usage.last, slot)
    }
}

impl Eviction for ExactLfu {
    fn insert(&mut self, slot: u32, expires_at: Micros, _: Micros) {
        ensure(&mut self.uses, slot, Use::default());
        self.clock += 1;
        let group = group(self.scope, expires_at);
        self.uses[slot as usize] = Use { count: 1, last: self.clock, group: group as u8 };
        self.order[group].insert(self.key(slot));
    }

    fn touch(&mut self, slot: u32, _: Micros) {
        let group = self.uses[slot as usize].group as usize;
        self.order[group].remove(&self.key(slot));
        self.clock += 1;
        let usage = &mut self.uses[slot as usize];
        usage.count = usage.count.saturating_add(1);
        usage.last = self.clock;
        self.order[group].insert(self.key(slot));
    }

    fn expiry_changed(&mut self, slot: u32, _: Micros, new: Micros, _: Micros) {
        let group = group(self.scope, new);
        let old_group = self.uses[slot as usize].group as usize;
        if old_group != group {
            let key = self.key(slot);
            self.order[old_group].remove(&key);
            self.order[group].insert(key);
            self.uses[slot as usize].group = group as u8;
        }
    }

    fn remove(&mut self, slot: u32) {
        let group = self.uses[slot as usize].group as usize;
        self.order[group].remove(&self.key(slot));
    }

    fn victim(&mut self, _: Micros) -> Option<u32> {
        self.order[victim_group(self.scope)].first().map(|&(_, _, slot)| slot)
    }
}
