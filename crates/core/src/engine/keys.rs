//! Shadow state of the keys: what was written when, with which TTL, and what happened since. It is what lets
//! the engine say why a key was missing.
//!
//! Memory is bounded by a budget. The table is allocated once at the largest size within the budget (pages are
//! only touched as keys arrive) and never grows: when it is nearly full, the sampling rate halves and only the
//! keys whose hash falls under the new threshold are kept (spatial sampling, as in SHARDS). A key is tracked or
//! not by its hash alone, so a tracked key is seen in full and its figures, scaled by the inverse of the rate,
//! estimate the whole.

use crate::event::Micros;

use super::key_table::KeyTable;
use crate::pattern::PatternId;
use crate::report::MissCause;

/// Bit flags of a [`KeyState`].
pub(crate) mod flags {
    /// A write of the key was stored since observation began.
    pub const WRITTEN: u8 = 1 << 0;
    /// The key was read (hit or miss) since its last stored write.
    pub const READ_SINCE_WRITE: u8 = 1 << 1;
    /// The last thing that happened to the key was a delete.
    pub const DELETED: u8 = 1 << 2;
    /// The last write of the key was answered with an error.
    pub const WRITE_FAILED: u8 = 1 << 3;
    /// The key was read after having been written at least once: it belongs to the working set.
    pub const REREAD: u8 = 1 << 4;
    /// The ids of the key were added to its pattern's set of ids read.
    pub const IDS_READ: u8 = 1 << 5;
    /// The ids of the key were added to its pattern's set of ids written.
    pub const IDS_WRITTEN: u8 = 1 << 6;
    /// Its last read was a hit a cache model presumed (the key held before the trace began), not observed.
    pub const PRESUMED_READ: u8 = 1 << 7;
}

/// No absence recorded: the key is believed present, or was never found missing.
const PRESENT: u8 = u8::MAX;

/// A time to the millisecond, counted from the engine's first event, plus one: 0 means never. 32 bits hold 49
/// days; later times stay at the last value. Used where a millisecond is precise enough (intervals between reads,
/// the stampede window), to keep the state small.
pub(crate) type Stamp = u32;

/// Converts between event times and [`Stamp`]s.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamps {
    pub origin: Micros,
}

impl Stamps {
    #[inline]
    pub fn stamp(self, time: Micros) -> Stamp {
        (time.saturating_sub(self.origin) / 1_000 + 1).min(u64::from(Stamp::MAX)) as Stamp
    }

    /// The time of a stamp (the start of its millisecond); None for "never".
    #[inline]
    pub fn time(self, stamp: Stamp) -> Option<Micros> {
        (stamp > 0).then(|| self.origin + u64::from(stamp - 1) * 1_000)
    }
}

/// What the engine knows of one key: 40 bytes. All zeroes is a valid (empty) state, so the table can be
/// allocated zeroed.
#[derive(Debug, Clone, Copy, bytemuck::Zeroable, bytemuck::Pod)]
#[repr(C)]
pub(crate) struct KeyState {
    pub pattern: PatternId,
    pub value_size: u32,
    /// When its last stored write happened; 0 when none was seen.
    pub last_write: Micros,
    /// When it expires; 0 when it does not (or no TTL was seen).
    pub expires_at: Micros,
    /// When it was last read; 0 when never.
    pub last_read: Stamp,
    /// When the first miss not yet followed by a write happened.
    pub first_pending_miss: Stamp,
    /// Misses since the last stored write: refilled when a write comes, never refilled otherwise.
    pub pending_misses: u16,
    pub key_len: u16,
    pub flags: u8,
    /// The cause of the key's current absence, once a miss established it, or [`PRESENT`].
    absence: u8,
    /// Pending misses within the stampede window of the first: counted as a pile-up when the refill is
    /// attempted (a key nobody refills is a broken fill path, not a stampede).
    pub piled: u16,
}

impl KeyState {
    pub fn new(pattern: PatternId, key_len: usize) -> Self {
        KeyState {
            pattern,
            value_size: 0,
            last_write: 0,
            expires_at: 0,
            last_read: 0,
            first_pending_miss: 0,
            pending_misses: 0,
            key_len: key_len.min(u16::MAX as usize) as u16,
            flags: 0,
            absence: PRESENT,
            piled: 0,
        }
    }

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    #[inline]
    pub fn absence(&self) -> Option<MissCause> {
        MissCause::ALL.get(self.absence as usize).copied()
    }

    pub fn set_absence(&mut self, cause: Option<MissCause>) {
        self.absence = cause.map_or(PRESENT, |c| c.index() as u8);
    }

    /// Bytes the key and its value take, as far as the engine knows.
    pub fn size(&self) -> u64 {
        u64::from(self.key_len) + u64::from(self.value_size)
    }
}

#[derive(Debug)]
pub(crate) struct KeyStates {
    table: KeyTable,
    /// Keys whose hash is at most this are tracked.
    threshold: u64,
    rate: f64,
    budget_bytes: usize,
}

impl std::fmt::Debug for KeyTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyTable").field("len", &self.len()).finish()
    }
}

/// Where a key's state is (see [`KeyStates::lookup`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    Found(usize),
    /// Tracked but not there yet: the slot it would take.
    Vacant(usize),
    /// Not in the sample.
    Untracked,
}

impl KeyStates {
    pub fn new(budget_bytes: usize) -> Self {
        KeyStates { table: KeyTable::with_budget(budget_bytes), threshold: u64::MAX, rate: 1.0, budget_bytes }
    }

    #[inline]
    pub fn is_sampled(&self, hash: u64) -> bool {
        hash <= self.threshold
    }

    /// The number of keys each tracked key stands for.
    #[inline]
    pub fn weight(&self) -> f64 {
        1.0 / self.rate
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn budget_bytes(&self) -> usize {
        self.budget_bytes
    }

    /// Bytes the table holds (it never grows).
    pub fn allocated_bytes(&self) -> usize {
        self.table.allocated_bytes()
    }

    /// Where a key's state is, or would go.
    #[inline]
    pub fn lookup(&self, hash: u64) -> Lookup {
        if !self.is_sampled(hash) {
            return Lookup::Untracked;
        }
        match self.table.find(hash) {
            Ok(slot) => Lookup::Found(slot),
            Err(slot) => Lookup::Vacant(slot),
        }
    }

    /// See [`KeyTable::prefetch`].
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        if self.is_sampled(hash) {
            self.table.prefetch(hash);
        }
    }

    /// The state at a slot [`KeyStates::lookup`] found.
    #[inline]
    pub fn at(&self, slot: usize) -> &KeyState {
        self.table.state(slot)
    }

    #[inline]
    pub fn at_mut(&mut self, slot: usize) -> &mut KeyState {
        self.table.state_mut(slot)
    }

    /// The state of the key `lookup` found, or a new one for it if it is tracked (lowering the sampling rate
    /// first if the table is full; None when, after that, the key is no longer sampled).
    pub fn get_or_track(&mut self, lookup: Lookup, hash: u64, new: impl FnOnce() -> KeyState) -> Option<&mut KeyState> {
        let slot = match lookup {
            Lookup::Found(slot) => return Some(self.table.state_mut(slot)),
            Lookup::Untracked => return None,
            Lookup::Vacant(slot) if self.table.len() < self.table.max_len() => slot,
            Lookup::Vacant(_) => {
                while self.table.len() >= self.table.max_len() {
                    self.halve_rate();
                }
                match self.lookup(hash) {
                    Lookup::Vacant(slot) => slot,
                    Lookup::Found(slot) => return Some(self.table.state_mut(slot)),
                    Lookup::Untracked => return None,
                }
            }
        };
        self.table.insert_at(slot, hash, new());
        Some(self.table.state_mut(slot))
    }

    /// Starts tracking a key, as [`KeyStates::get_or_track`] does.
    #[cfg(test)]
    pub fn insert(&mut self, hash: u64, state: KeyState) -> Option<&mut KeyState> {
        let lookup = self.lookup(hash);
        self.get_or_track(lookup, hash, || state)
    }

    fn halve_rate(&mut self) {
        self.rate /= 2.0;
        self.threshold /= 2;
        let threshold = self.threshold;
        self.table.retain(|hash| hash <= threshold);
    }

    pub fn iter(&self) -> impl Iterator<Item = &KeyState> {
        self.table.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_is_small() {
        assert_eq!(std::mem::size_of::<KeyState>(), 40);
    }

    #[test]
    fn memory_stays_within_budget_and_sampling_keeps_a_share() {
        let budget = 1 << 20;
        let mut states = KeyStates::new(budget);
        let allocated = states.allocated_bytes();
        assert!(allocated <= budget && allocated > budget * 9 / 10, "{allocated}");
        for i in 0..200_000u64 {
            let hash = xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes());
            if states.is_sampled(hash) {
                states.insert(hash, KeyState::new(0, 8));
            }
        }
        assert_eq!(states.allocated_bytes(), allocated, "the table grew");
        assert!(states.rate() < 1.0);
        let estimated = states.len() as f64 * states.weight();
        assert!((estimated - 200_000.0).abs() / 200_000.0 < 0.1, "{estimated}");
    }
}
