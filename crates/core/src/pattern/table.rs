//! The pattern table: interns pattern names to small ids, bounds how many there are, and records merges.
//!
//! Ids are never reused: per-key state refers to them. When learned folding merges `user:alice` into
//! `user:{id}`, the old id is redirected to the new one and [`PatternTable::canonical`] follows the redirect.
//! Past `max_patterns` live patterns every new name maps to the single overflow pattern.

use std::collections::HashMap;

use foldhash::fast::FixedState;

pub type PatternId = u32;

/// The name of the pattern that takes every key once the table is full.
pub const OVERFLOW_PATTERN: &str = "{other}";

#[derive(Debug)]
struct Entry {
    name: Box<str>,
    /// Set when this pattern was merged into another.
    merged_into: Option<PatternId>,
    /// Named by a user rule: learned folding leaves it alone.
    from_rule: bool,
}

#[derive(Debug)]
pub struct PatternTable {
    by_name: HashMap<Box<str>, PatternId, FixedState>,
    entries: Vec<Entry>,
    live: usize,
    max_patterns: usize,
    overflow: Option<PatternId>,
    /// Distinct names that went to the overflow pattern (counted once each only while they are few).
    overflowed_names: u64,
}

impl PatternTable {
    pub fn new(max_patterns: usize) -> Self {
        PatternTable {
            by_name: HashMap::with_hasher(FixedState::default()),
            entries: Vec::new(),
            live: 0,
            max_patterns: max_patterns.max(1),
            overflow: None,
            overflowed_names: 0,
        }
    }

    /// The id of `name`, creating it if there is room, else the overflow pattern's.
    pub fn intern(&mut self, name: &str, from_rule: bool) -> PatternId {
        if let Some(&id) = self.by_name.get(name) {
            return self.canonical(id);
        }
        if self.live >= self.max_patterns {
            self.overflowed_names += 1;
            return self.overflow_id();
        }
        self.insert(name, from_rule)
    }

    fn insert(&mut self, name: &str, from_rule: bool) -> PatternId {
        let id = self.entries.len() as PatternId;
        self.entries.push(Entry { name: name.into(), merged_into: None, from_rule });
        self.by_name.insert(name.into(), id);
        self.live += 1;
        id
    }

    fn overflow_id(&mut self) -> PatternId {
        if let Some(id) = self.overflow {
            return id;
        }
        let id = self.entries.len() as PatternId;
        self.entries.push(Entry { name: OVERFLOW_PATTERN.into(), merged_into: None, from_rule: true });
        self.overflow = Some(id);
        id
    }

    /// Redirects `from` to the pattern named `into` (created if needed, even past the bound: the merge frees
    /// `from`'s place) and returns the target's id.
    pub fn merge_into(&mut self, from: PatternId, into: &str) -> PatternId {
        let target = match self.by_name.get(into) {
            Some(&id) => self.canonical(id),
            None => self.insert(into, false),
        };
        if target != from {
            self.entries[from as usize].merged_into = Some(target);
            self.live -= 1;
        }
        target
    }

    /// The id that `id` stands for now, after merges.
    pub fn canonical(&self, mut id: PatternId) -> PatternId {
        while let Some(next) = self.entries[id as usize].merged_into {
            id = next;
        }
        id
    }

    pub fn name(&self, id: PatternId) -> &str {
        &self.entries[id as usize].name
    }

    pub fn is_from_rule(&self, id: PatternId) -> bool {
        self.entries[id as usize].from_rule
    }

    pub fn is_overflow(&self, id: PatternId) -> bool {
        self.overflow == Some(id)
    }

    /// Ids of the patterns not merged away, the overflow pattern included once it exists.
    pub fn live_ids(&self) -> impl Iterator<Item = PatternId> + '_ {
        (0..self.entries.len() as PatternId).filter(|&id| self.entries[id as usize].merged_into.is_none())
    }

    /// How many ids were ever handed out: the length per-pattern arrays need.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn max_patterns(&self) -> usize {
        self.max_patterns
    }

    /// Whether some names went to the overflow pattern, and how many times a new name did.
    pub fn overflowed(&self) -> Option<u64> {
        self.overflow.map(|_| self.overflowed_names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_with_overflow_and_merges_free_room() {
        let mut table = PatternTable::new(2);
        let a = table.intern("a:{num}", false);
        let b = table.intern("b:x", false);
        assert_eq!(table.intern("a:{num}", false), a);
        let c = table.intern("c:{num}", false);
        assert_eq!(table.name(c), OVERFLOW_PATTERN);
        assert_eq!(table.overflowed(), Some(1));
        let merged = table.merge_into(b, "b:{id}");
        assert_eq!(table.canonical(b), merged);
        assert_eq!(table.intern("b:x", false), merged);
        assert_eq!(table.live_ids().filter(|&id| !table.is_overflow(id)).count(), 2);
    }
}
