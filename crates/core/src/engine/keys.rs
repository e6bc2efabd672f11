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
}

/// No absence recorded: the key is believed present, or was never found missing.
const PRESENT: u8 = u8::MAX;

/// What the engine knows of one key: 48 bytes. All zeroes is a valid (empty) state, so the table can be
/// allocated zeroed.
#[derive(Debug, Clone, Copy, bytemuck::Zeroable)]
#[repr(C)]
pub(crate) struct KeyState {
    pub pattern: PatternId,
    pub value_size: u32,
    /// When its last stored write happened; 0 when none was seen.
    pub last_write: Micros,
    /// When it expires; 0 when it does not (or no TTL was seen).
    pub expires_at: Micros,
    /// When it was last read; 0 when never.
    pub last_read: Micros,
    /// When the first miss not yet followed by a write happened.
    pub first_pending_miss: Micros,
    /// Misses since the last stored write: refilled when a write comes, never refilled otherwise.
    pub pending_misses: u16,
    pub key_len: u16,
    pub flags: u8,
    /// The cause of the key's current absence, once a miss established it, or [`PRESENT`].
    absence: u8,
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
        }
    }

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

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

    #[inline]
    pub fn get(&self, hash: u64) -> Option<&KeyState> {
        self.table.get(hash)
    }

    #[inline]
    pub fn get_mut(&mut self, hash: u64) -> Option<&mut KeyState> {
        self.table.get_mut(hash)
    }

    /// Starts tracking a key, lowering the sampling rate first if the table is full. Returns None when, after
    /// that, the key is no longer sampled.
    pub fn insert(&mut self, hash: u64, state: KeyState) -> Option<&mut KeyState> {
        while self.table.len() >= self.table.max_len() {
            self.halve_rate();
        }
        if !self.is_sampled(hash) {
            return None;
        }
        Some(self.table.insert(hash, state))
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
        assert_eq!(std::mem::size_of::<KeyState>(), 48);
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
