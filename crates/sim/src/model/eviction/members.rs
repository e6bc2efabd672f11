//! The keys of each group in a dense array, so that a uniformly random key is one index away: what the random
//! and the sampled orders draw from. Removal swaps the last member into the hole.

use super::ensure;

const NONE: u32 = u32::MAX;

#[derive(Debug, Default)]
pub(crate) struct Members {
    groups: [Vec<u32>; 2],
    /// (group, index in it) of each slot; NONE when absent.
    position: Vec<(u8, u32)>,
}

impl Members {
    pub fn insert(&mut self, slot: u32, group: usize) {
        ensure(&mut self.position, slot, (0, NONE));
        self.position[slot as usize] = (group as u8, self.groups[group].len() as u32);
        self.groups[group].push(slot);
    }

    pub fn remove(&mut self, slot: u32) {
        let (group, index) = self.position[slot as usize];
        if index == NONE {
            return;
        }
        let members = &mut self.groups[group as usize];
        let last = members.pop().expect("a member is present");
        if last != slot {
            members[index as usize] = last;
            self.position[last as usize].1 = index;
        }
        self.position[slot as usize] = (0, NONE);
    }

    pub fn move_to(&mut self, slot: u32, group: usize) {
        if self.position[slot as usize].0 as usize != group {
            self.remove(slot);
            self.insert(slot, group);
        }
    }

    /// Asks the processor for where `slot` is, without waiting.
    #[inline]
    pub fn prefetch(&self, slot: u32) {
        super::prefetch_slot(&self.position, slot);
    }

    pub fn group(&self, group: usize) -> &[u32] {
        &self.groups[group]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_move_remove() {
        let mut members = Members::default();
        for slot in 0..5 {
            members.insert(slot, 0);
        }
        members.move_to(1, 1);
        members.remove(0);
        members.remove(0);
        let mut left = members.group(0).to_vec();
        left.sort();
        assert_eq!(left, [2, 3, 4]);
        assert_eq!(members.group(1), [1]);
        members.remove(1);
        assert!(members.group(1).is_empty());
    }
}
