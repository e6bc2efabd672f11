//! Where each key's last access is, for [`super::stack`]: by the key's hash, or by a number the keys were given
//! in order of first sight ([`KeyNumbers`]), which indexes a plain array. The array spares the thread of the
//! stack distances the lookups of a hash map, when another thread numbers the keys ([`crate::mrc::MrcBuilder::numbered`]).

use crate::id_map::IdMap;

/// A key's last access: its position in the stack, and its size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Last {
    pub position: usize,
    pub size: u64,
}

/// No access: a key numbered but not in the stack.
const NONE: Last = Last { position: usize::MAX, size: 0 };

#[derive(Debug)]
pub enum LastAccess {
    /// Keys are their [`cachescope_core::key_hash`].
    Hashed(IdMap<Last>),
    /// Keys are numbers from 0, dense ([`KeyNumbers`]).
    Numbered { lasts: Vec<Last>, len: usize },
}

impl LastAccess {
    pub fn hashed() -> Self {
        LastAccess::Hashed(IdMap::new())
    }

    pub fn numbered() -> Self {
        LastAccess::Numbered { lasts: Vec::new(), len: 0 }
    }

    /// The same kind, empty.
    pub fn emptied(&self) -> Self {
        match self {
            LastAccess::Hashed(_) => LastAccess::hashed(),
            LastAccess::Numbered { .. } => LastAccess::numbered(),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            LastAccess::Hashed(map) => map.len(),
            LastAccess::Numbered { len, .. } => *len,
        }
    }

    /// Gives `key` its last access; the one before, if any.
    #[inline]
    pub fn insert(&mut self, key: u64, last: Last) -> Option<Last> {
        match self {
            LastAccess::Hashed(map) => map.insert(key, last),
            LastAccess::Numbered { lasts, len } => {
                let index = key as usize;
                if index >= lasts.len() {
                    lasts.resize((index + 1).next_power_of_two(), NONE);
                }
                let before = std::mem::replace(&mut lasts[index], last);
                if before == NONE {
                    *len += 1;
                    None
                } else {
                    Some(before)
                }
            }
        }
    }

    pub fn remove(&mut self, key: u64) -> Option<Last> {
        match self {
            LastAccess::Hashed(map) => map.remove(key),
            LastAccess::Numbered { lasts, len } => {
                let before = std::mem::replace(lasts.get_mut(key as usize)?, NONE);
                (before != NONE).then(|| {
                    *len -= 1;
                    before
                })
            }
        }
    }

    pub fn contains(&self, key: u64) -> bool {
        match self {
            LastAccess::Hashed(map) => map.contains(key),
            LastAccess::Numbered { lasts, .. } => lasts.get(key as usize).is_some_and(|last| *last != NONE),
        }
    }

    /// Asks the processor for `key`'s record, without waiting.
    #[inline]
    pub fn prefetch(&self, key: u64) {
        match self {
            LastAccess::Hashed(map) => map.prefetch(key),
            LastAccess::Numbered { lasts, .. } => {
                if let Some(last) = lasts.get(key as usize) {
                    cachescope_core::prefetch::prefetch(last);
                }
            }
        }
    }

    /// Every last access held, to change.
    pub fn for_each_mut(&mut self, mut change: impl FnMut(&mut Last)) {
        match self {
            LastAccess::Hashed(map) => map.iter_mut().for_each(|(_, last)| change(last)),
            LastAccess::Numbered { lasts, .. } => lasts.iter_mut().filter(|last| **last != NONE).for_each(change),
        }
    }
}

/// Numbers for keys, from 0 in order of first sight, by their [`cachescope_core::key_hash`]: what a thread that
/// reads a trace gives the stack distances' thread ([`LastAccess::Numbered`]). A number is the key's for good,
/// deleted or flushed. Memory follows the number of distinct keys, as an exact stack's does.
#[derive(Debug, Default)]
pub struct KeyNumbers {
    numbers: IdMap<u32>,
}

impl KeyNumbers {
    pub fn new() -> Self {
        KeyNumbers::default()
    }

    /// The number of the key with this hash, given now if it has none.
    #[inline]
    pub fn number(&mut self, hash: u64) -> u32 {
        if let Some(number) = self.numbers.get(hash) {
            return number;
        }
        let number = u32::try_from(self.numbers.len()).expect("fewer than 2^32 distinct keys");
        self.numbers.insert(hash, number);
        number
    }

    /// Asks the processor for where the number of the key with this hash is, without waiting.
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        self.numbers.prefetch(hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_numbered_in_order_of_first_sight_for_good() {
        let mut numbers = KeyNumbers::new();
        let got: Vec<u32> = [0xAAAA, 0, 0xBBBB, 0xAAAA, 0, 7].iter().map(|&hash| numbers.number(hash)).collect();
        assert_eq!(got, [0, 1, 2, 0, 1, 3]);
    }

    #[test]
    fn numbered_and_hashed_hold_the_same() {
        for mut lasts in [LastAccess::hashed(), LastAccess::numbered()] {
            assert_eq!(lasts.insert(3, Last { position: 0, size: 1 }), None);
            assert_eq!(lasts.insert(40, Last { position: 1, size: 5 }), None);
            assert_eq!(lasts.insert(3, Last { position: 2, size: 1 }), Some(Last { position: 0, size: 1 }));
            assert_eq!(lasts.len(), 2);
            assert!(lasts.contains(40) && !lasts.contains(4) && !lasts.contains(1_000));
            assert_eq!(lasts.remove(40), Some(Last { position: 1, size: 5 }));
            assert_eq!(lasts.remove(40), None);
            assert_eq!(lasts.remove(1_000), None);
            assert_eq!(lasts.len(), 1);
            let mut positions = Vec::new();
            lasts.for_each_mut(|last| {
                positions.push(last.position);
                last.position = 9;
            });
            assert_eq!(positions, [2]);
            assert_eq!(lasts.insert(3, Last { position: 10, size: 1 }), Some(Last { position: 9, size: 1 }));
            assert_eq!(lasts.emptied().len(), 0);
        }
    }
}
