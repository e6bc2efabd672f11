//! A fixed-size hash table from key hash to [`KeyState`], for the shadow state of keys.
//!
//! Open addressing with linear probing and no tombstones: removing keys in bulk (when the sampling rate halves)
//! compacts the probe chains in place, so the table never reallocates and its memory is exactly what it was
//! given. It lives in an anonymous memory mapping: zeroed, handed out by the operating system page by page as
//! keys land in it, and on Linux backed by huge pages where the system allows, because lookups are random over
//! the whole table and with small pages nearly each one would also miss the TLB.

use super::keys::KeyState;

/// Slots are at most this full; past it probing gets long.
const MAX_LOAD: f64 = 0.75;

#[derive(Clone, Copy, bytemuck::Zeroable, bytemuck::Pod)]
#[repr(C)]
struct Slot {
    /// The key hash, or 0 for an empty slot (a key hashing to 0 is stored as 1).
    hash: u64,
    state: KeyState,
}

pub(crate) struct KeyTable {
    /// Owns the slots' memory, which never moves or changes size while the table lives: `slots` points into it.
    _memory: Memory,
    /// The slots, cast once from `memory` rather than at each access (every event looks a key up, and a cast
    /// checks the memory's alignment and size each time).
    slots: std::ptr::NonNull<Slot>,
    slot_count: usize,
    len: usize,
}

// SAFETY: the table owns its slots as a `Vec<Slot>` would (`slots` points into `_memory`, which it owns and
// nothing else reaches): it may move to another thread, and shared references to it only read.
unsafe impl Send for KeyTable {}
unsafe impl Sync for KeyTable {}

/// The slots' memory: a mapping, or a vector where mapping is not possible.
enum Memory {
    Mapped(memmap2::MmapMut),
    Heap(Vec<Slot>),
}

impl KeyTable {
    /// The largest table within `budget_bytes` (at least 16 slots). When the system refuses that much memory the
    /// table is halved until it fits (see [`KeyTable::allocated_bytes`]): tracking fewer keys, by sampling, is
    /// better than failing.
    pub fn with_budget(budget_bytes: usize) -> Self {
        let mut slots = (budget_bytes / Self::SLOT_BYTES).max(16);
        let mut memory = loop {
            match memmap2::MmapOptions::new().len(slots * Self::SLOT_BYTES).map_anon() {
                Ok(map) => {
                    #[cfg(target_os = "linux")]
                    let _ = map.advise(memmap2::Advice::HugePage);
                    break Memory::Mapped(map);
                }
                Err(_) if slots > 1 << 16 => slots /= 2,
                Err(_) => break Memory::Heap(bytemuck::zeroed_vec(slots)),
            }
        };
        let cast: &mut [Slot] = match &mut memory {
            Memory::Mapped(map) => bytemuck::cast_slice_mut(&mut map[..]),
            Memory::Heap(slots) => slots,
        };
        let slot_count = cast.len();
        let pointer = std::ptr::NonNull::from(cast).cast::<Slot>();
        KeyTable { _memory: memory, slots: pointer, slot_count, len: 0 }
    }

    #[inline]
    fn slots(&self) -> &[Slot] {
        // SAFETY: `slots` points to `slot_count` initialised slots in `_memory`, which lives as long as the table
        // and which nothing else reaches; `&self` borrows them shared.
        unsafe { std::slice::from_raw_parts(self.slots.as_ptr(), self.slot_count) }
    }

    #[inline]
    fn slots_mut(&mut self) -> &mut [Slot] {
        // SAFETY: as in `slots`, and `&mut self` borrows them exclusively.
        unsafe { std::slice::from_raw_parts_mut(self.slots.as_ptr(), self.slot_count) }
    }

    pub const SLOT_BYTES: usize = std::mem::size_of::<Slot>();

    pub fn allocated_bytes(&self) -> usize {
        self.slots().len() * Self::SLOT_BYTES
    }

    /// Keys the table holds before it must be thinned.
    pub fn max_len(&self) -> usize {
        (self.slots().len() as f64 * MAX_LOAD) as usize
    }

    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn stored(hash: u64) -> u64 {
        hash.max(1)
    }

    /// The home slot of a hash: mixed (tracked hashes are all small once sampled) and mapped onto the table
    /// without a modulo.
    #[inline]
    fn home(&self, hash: u64) -> usize {
        let mixed = hash.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29) ^ hash;
        ((u128::from(mixed.wrapping_mul(0xBF58_476D_1CE4_E5B9)) * self.slots().len() as u128) >> 64) as usize
    }

    #[inline]
    fn next(&self, i: usize) -> usize {
        if i + 1 == self.slots().len() { 0 } else { i + 1 }
    }

    /// Where `hash` is: `Ok(slot)` when present, `Err(slot)` with the empty slot it would go to.
    #[inline]
    pub fn find(&self, hash: u64) -> Result<usize, usize> {
        let hash = Self::stored(hash);
        let slots = self.slots();
        let mut i = self.home(hash);
        loop {
            match slots[i].hash {
                0 => return Err(i),
                h if h == hash => return Ok(i),
                _ => i = if i + 1 == slots.len() { 0 } else { i + 1 },
            }
        }
    }

    /// Asks the processor to bring the home slot of `hash` (both its cache lines) into its cache, without
    /// waiting for it: issued a group of events ahead, the memory's latency hides behind the work on the group
    /// before.
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        crate::prefetch::prefetch(&self.slots()[self.home(Self::stored(hash))]);
    }

    #[inline]
    pub fn state(&self, slot: usize) -> &KeyState {
        &self.slots()[slot].state
    }

    #[inline]
    pub fn state_mut(&mut self, slot: usize) -> &mut KeyState {
        &mut self.slots_mut()[slot].state
    }

    #[cfg(test)]
    pub fn get(&self, hash: u64) -> Option<&KeyState> {
        self.find(hash).ok().map(|i| self.state(i))
    }

    /// Puts a key into the empty slot [`KeyTable::find`] gave for it. The caller keeps `len() < max_len()`.
    pub fn insert_at(&mut self, slot: usize, hash: u64, state: KeyState) {
        debug_assert!(self.slots()[slot].hash == 0 && self.len < self.slots().len());
        self.slots_mut()[slot] = Slot { hash: Self::stored(hash), state };
        self.len += 1;
    }

    #[cfg(test)]
    pub fn insert(&mut self, hash: u64, state: KeyState) {
        if let Err(slot) = self.find(hash) {
            self.insert_at(slot, hash, state);
        }
    }

    /// Keeps the keys whose hash `keep` accepts, and repairs the probe chains in place.
    pub fn retain(&mut self, keep: impl Fn(u64) -> bool) {
        // No chain crosses a slot that is empty now, so the repair below can start from one. (The table is never
        // full: MAX_LOAD < 1.)
        let Some(start) = self.slots().iter().position(|s| s.hash == 0) else {
            return;
        };
        let mut removed = 0;
        for slot in self.slots_mut().iter_mut() {
            if slot.hash != 0 && !keep(slot.hash) {
                slot.hash = 0;
                removed += 1;
            }
        }
        self.len -= removed;
        // Removing keys can cut a chain between a key and its home slot. Walking once around the table from
        // `start` and putting every key back from its home fixes that: each key moves only backwards along its
        // own chain, which lies between `start` and the key, into slots already settled.
        let mut i = self.next(start);
        while i != start {
            let slot = self.slots()[i];
            if slot.hash != 0 {
                self.slots_mut()[i].hash = 0;
                let mut j = self.home(slot.hash);
                while self.slots()[j].hash != 0 {
                    j = self.next(j);
                }
                self.slots_mut()[j] = slot;
            }
            i = self.next(i);
        }
    }

    pub fn values(&self) -> impl Iterator<Item = &KeyState> {
        self.slots().iter().filter(|s| s.hash != 0).map(|s| &s.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// After any inserts and a bulk removal, exactly the kept keys are found.
        #[test]
        fn finds_exactly_what_it_keeps(hashes in proptest::collection::hash_set(any::<u64>(), 0..300), cut in any::<u64>()) {
            let mut table = KeyTable::with_budget(400 * KeyTable::SLOT_BYTES);
            for &h in &hashes {
                table.insert(h, KeyState::new((h % 1000) as u32, 1));
            }
            table.retain(|h| h <= cut.max(1));
            for &h in &hashes {
                let kept = KeyTable::stored(h) <= cut.max(1);
                prop_assert_eq!(table.get(h).map(|s| s.pattern), kept.then_some((h % 1000) as u32));
            }
            prop_assert_eq!(table.len(), table.values().count());
        }
    }
}
