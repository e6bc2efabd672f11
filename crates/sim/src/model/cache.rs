//! The cache every model shares: keys, sizes, TTLs and the commands' effects, with the eviction order plugged
//! in ([`super::eviction`]).
//!
//! Expired keys behave as in Redis: a read after the TTL misses, and expired keys are removed as time passes
//! (Redis's active expiry) so they do not take room from live ones. A write that needs room evicts first, in the
//! policy's order, until the new object fits; when the policy has nothing it may evict (`noeviction`, or
//! `volatile-*` with no key that has a TTL), the write is refused with `OOM`, as Redis refuses it. An object's
//! size is its key's length plus its value's size, or 1 when objects are counted rather than sized.
//!
//! Keys are identified by a 64-bit hash of database and key bytes: two keys colliding is a 2^-64 event per pair.

use cachescope_core::{Command, ErrorKind, Event, FlushScope, Micros, Outcome, TtlChange, WriteCondition};

use super::eviction::Eviction;
use super::expiries::Expiries;
use super::key_filter::KeyFilter;
use super::{CacheModel, Removal, Start};
use crate::id_map::IdMap;

const MICROS_PER_MILLI: Micros = 1_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    id: u64,
    db: u32,
    size: u64,
    /// 0 = no TTL.
    expires_at: Micros,
    /// Bumped whenever `expires_at` changes, so stale expiry-queue entries are recognised.
    generation: u32,
}

pub(crate) struct Cache<E> {
    capacity: Option<u64>,
    /// Every object counts 1: capacity is in objects.
    unit_size: bool,
    used: u64,
    index: IdMap<u32>,
    entries: Vec<Entry>,
    free: Vec<u32>,
    eviction: E,
    /// (expiry time, slot, generation) of every TTL set, earliest first.
    expiries: Expiries,
    evictions: u64,
    /// The keys the cache removed by itself, and why, when a simulator asked for them.
    journal: Option<Vec<(u64, Removal)>>,
    /// Joining a running cache ([`Start::Running`]): the keys the trace has changed (written, deleted, expired),
    /// so that a read of any other is presumed to find what the cache held before. None once a flush of every
    /// database emptied it.
    changed: Option<KeyFilter>,
    /// Databases flushed since: what they held before is gone.
    flushed_dbs: Vec<u32>,
    /// Whether the last read was answered by that presumption.
    presumed: bool,
}

impl<E: Eviction> Cache<E> {
    pub fn new(capacity: Option<u64>, unit_size: bool, eviction: E) -> Self {
        Cache {
            capacity,
            unit_size,
            used: 0,
            index: IdMap::new(),
            entries: Vec::new(),
            free: Vec::new(),
            eviction,
            expiries: Expiries::default(),
            evictions: 0,
            journal: None,
            changed: None,
            flushed_dbs: Vec::new(),
            presumed: false,
        }
    }

    pub fn starting(mut self, start: Start) -> Self {
        self.changed = (start == Start::Running).then(KeyFilter::new);
        self
    }

    /// Joining a running cache: whether a read of `id`, which the model does not hold, finds what the cache held
    /// before the trace (a key the trace never changed). Other commands remember their key as changed; a flush
    /// ends the presumption.
    fn presume(&mut self, event: &Event<'_>, id: u64) -> bool {
        let Some(changed) = &mut self.changed else { return false };
        match event.command {
            Command::Read => !self.index.contains(id) && !self.flushed_dbs.contains(&event.db) && !changed.contains(id),
            Command::Flush(FlushScope::Db) => {
                self.flushed_dbs.push(event.db);
                false
            }
            Command::Flush(FlushScope::All | FlushScope::Restart) => {
                self.changed = None;
                false
            }
            Command::Marker => false,
            _ => {
                changed.insert(id);
                false
            }
        }
    }

    fn remove(&mut self, slot: u32) {
        self.eviction.remove(slot);
        let entry = self.entries[slot as usize];
        self.used -= entry.size;
        self.index.remove(entry.id);
        self.entries[slot as usize].generation = entry.generation.wrapping_add(1);
        self.free.push(slot);
    }

    /// Removes every key whose TTL has run out by `now`.
    #[inline]
    fn expire_due(&mut self, now: Micros) {
        while let Some((at, slot, generation)) = self.expiries.pop_due(now) {
            let entry = self.entries[slot as usize];
            if entry.generation == generation && entry.expires_at == at && self.index.get(entry.id) == Some(slot) {
                self.remove(slot);
                if let Some(journal) = &mut self.journal {
                    journal.push((entry.id, Removal::Expired));
                }
            }
        }
    }

    fn set_expiry(&mut self, slot: u32, expires_at: Micros, now: Micros) {
        let entry = &mut self.entries[slot as usize];
        let old = entry.expires_at;
        if old == expires_at {
            return;
        }
        entry.expires_at = expires_at;
        entry.generation = entry.generation.wrapping_add(1);
        let generation = entry.generation;
        self.eviction.expiry_changed(slot, old, expires_at, now);
        if expires_at != 0 {
            self.expiries.push((expires_at, slot, generation));
        }
        // Rewrites leave stale entries behind until their time comes; past twice the keys, drop them now, so the
        // queue stays in proportion to the cache.
        if self.expiries.len() > 2 * self.index.len() + 1024 {
            let entries = &self.entries;
            self.expiries.retain(|(at, slot, generation)| {
                let entry = &entries[*slot as usize];
                entry.generation == *generation && entry.expires_at == *at
            });
        }
    }

    /// Evicts until an object of `size` fits, counting the room `slot` (the key being rewritten) gives back.
    /// Returns false when the policy has nothing left it may evict. `slot` may itself be evicted, and is then
    /// None.
    fn make_room(&mut self, size: u64, slot: &mut Option<u32>, now: Micros) -> bool {
        let Some(capacity) = self.capacity else { return true };
        loop {
            let given_back = slot.map_or(0, |slot| self.entries[slot as usize].size);
            if self.used - given_back + size <= capacity {
                return true;
            }
            let Some(victim) = self.eviction.victim(now) else { return false };
            if Some(victim) == *slot {
                *slot = None;
            }
            if let Some(journal) = &mut self.journal {
                journal.push((self.entries[victim as usize].id, Removal::Evicted));
            }
            self.remove(victim);
            self.evictions += 1;
            self.prefetch_victims();
        }
    }

    /// After an eviction, asks for what the next ones will wait on, where the order can name its next victims:
    /// the entry and the order's record of the victim after next, and the index bucket of the next one, whose
    /// entry was asked for at the eviction before. A cache that evicts at every write (most of a small cache's life)
    /// would otherwise wait on memory three times to remove each victim.
    #[inline]
    fn prefetch_victims(&self) {
        let [next, after] = self.eviction.next_victims();
        if let Some(after) = after {
            cachescope_core::prefetch::prefetch(&self.entries[after as usize]);
            self.eviction.prefetch(after);
        }
        if let Some(next) = next {
            self.index.prefetch(self.entries[next as usize].id);
        }
    }

    fn object_size(&self, key_len: usize, value_size: u64) -> u64 {
        if self.unit_size { 1 } else { (key_len as u64 + value_size).max(1) }
    }

    fn write(
        &mut self,
        id: u64,
        db: u32,
        size: u64,
        ttl: TtlChange,
        condition: WriteCondition,
        now: Micros,
    ) -> Outcome {
        let mut existing = self.index.get(id);
        match (condition, existing) {
            (WriteCondition::IfAbsent, Some(_)) | (WriteCondition::IfPresent, None) => return Outcome::Miss,
            _ => {}
        }
        if self.capacity.is_some_and(|capacity| size > capacity) {
            return Outcome::Error(ErrorKind::Oom);
        }
        if !self.make_room(size, &mut existing, now) {
            return Outcome::Error(ErrorKind::Oom);
        }
        let kept_expiry = existing.map_or(0, |slot| self.entries[slot as usize].expires_at);
        let expires_at = match ttl {
            TtlChange::ExpireIn(ms) => now.saturating_add(ms.saturating_mul(MICROS_PER_MILLI)).max(1),
            TtlChange::Persist => 0,
            TtlChange::Keep => kept_expiry,
        };
        match existing {
            Some(slot) => {
                let entry = &mut self.entries[slot as usize];
                self.used = self.used - entry.size + size;
                entry.size = size;
                self.eviction.touch(slot, now);
                self.set_expiry(slot, expires_at, now);
            }
            None => {
                let slot = match self.free.pop() {
                    Some(slot) => slot,
                    None => {
                        self.entries.push(Entry { id, db, size, expires_at: 0, generation: 0 });
                        (self.entries.len() - 1) as u32
                    }
                };
                let generation = self.entries[slot as usize].generation;
                self.entries[slot as usize] = Entry { id, db, size, expires_at: 0, generation };
                self.index.insert(id, slot);
                self.used += size;
                self.eviction.insert(slot, 0, now);
                self.set_expiry(slot, expires_at, now);
            }
        }
        Outcome::Ok
    }

    fn flush(&mut self, scope: FlushScope, db: u32) {
        let mut doomed: Vec<u32> = self
            .index
            .values()
            .filter(|&slot| scope != FlushScope::Db || self.entries[slot as usize].db == db)
            .collect();
        // In the order of the slots, whatever the index's: slots freed are given out again in this order.
        doomed.sort_unstable();
        for slot in doomed {
            self.remove(slot);
        }
    }
}

impl<E: Eviction> CacheModel for Cache<E> {
    /// The key's bucket in the index and, joining a running cache, its block in the filter of changed keys
    /// (read for every read the model does not hold and written for every write).
    #[inline]
    fn prefetch(&self, id: u64) {
        self.index.prefetch(id);
        if let Some(changed) = &self.changed {
            changed.prefetch(id);
        }
    }

    #[inline]
    fn prefetch_held(&self, id: u64) {
        if let Some(slot) = self.index.get(id) {
            cachescope_core::prefetch::prefetch(&self.entries[slot as usize]);
            self.eviction.prefetch(slot);
        }
    }

    fn apply_hashed(&mut self, event: &Event<'_>, id: u64) -> Outcome {
        let now = event.time;
        self.expire_due(now);
        self.presumed = self.presume(event, id);
        if self.presumed {
            return Outcome::Hit;
        }
        match event.command {
            Command::Read => match self.index.get(id) {
                Some(slot) => {
                    self.eviction.touch(slot, now);
                    Outcome::Hit
                }
                None => Outcome::Miss,
            },
            Command::Write(condition) => {
                let size = self.object_size(event.key.len(), u64::from(event.value_size));
                self.write(id, event.db, size, event.ttl, condition, now)
            }
            Command::Delete => match self.index.get(id) {
                Some(slot) => {
                    self.remove(slot);
                    Outcome::Ok
                }
                None => Outcome::Miss,
            },
            Command::Expire => match self.index.get(id) {
                Some(slot) => {
                    let expires_at = match event.ttl {
                        TtlChange::ExpireIn(ms) => now.saturating_add(ms.saturating_mul(MICROS_PER_MILLI)),
                        TtlChange::Persist => 0,
                        TtlChange::Keep => self.entries[slot as usize].expires_at,
                    };
                    if expires_at != 0 && expires_at <= now {
                        self.remove(slot);
                    } else {
                        self.eviction.touch(slot, now);
                        self.set_expiry(slot, expires_at, now);
                    }
                    Outcome::Ok
                }
                None => Outcome::Miss,
            },
            Command::Flush(scope) => {
                self.flush(scope, event.db);
                Outcome::Ok
            }
            // The server's expirations are the TTLs' and happen here too; its evictions are its memory's, and the
            // model evicts by its own.
            Command::Removed(Removal::Expired) => match self.index.get(id) {
                Some(slot) => {
                    self.remove(slot);
                    Outcome::Ok
                }
                None => Outcome::Miss,
            },
            Command::Removed(Removal::Evicted) | Command::Marker => Outcome::Ok,
        }
    }

    #[inline]
    fn request(&mut self, id: u64, size: u64, now: Micros) -> bool {
        self.expire_due(now);
        if let Some(slot) = self.index.get(id) {
            self.eviction.touch(slot, now);
            return true;
        }
        let size = if self.unit_size { 1 } else { size.max(1) };
        self.write(id, 0, size, TtlChange::Keep, WriteCondition::Always, now);
        false
    }

    fn used_bytes(&self) -> u64 {
        self.used
    }

    fn set_capacity(&mut self, capacity: Option<u64>) {
        self.capacity = capacity;
    }

    fn capacity(&self) -> Option<u64> {
        self.capacity
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn evictions(&self) -> u64 {
        self.evictions
    }

    fn presumed(&self) -> bool {
        self.presumed
    }

    fn keep_journal(&mut self) {
        self.journal.get_or_insert_with(Vec::new);
    }

    fn drain_journal(&mut self, out: &mut Vec<(u64, Removal)>) {
        if let Some(journal) = &mut self.journal {
            out.append(journal);
        }
    }
}
