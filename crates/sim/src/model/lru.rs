//! Exact LRU with a byte capacity and TTLs.
//!
//! Expired keys behave as in Redis: a read after the TTL misses, and expired keys are removed as time passes
//! (Redis's active expiry) so they do not take room from live ones. When a write needs room, the least recently
//! used keys go first. An object's size is its key's length plus its value's size; an object larger than the
//! whole cache is refused with `OOM`, as Redis refuses a write it cannot make room for.
//!
//! Keys are identified by a 64-bit hash of database and key bytes: two keys colliding is a 2^-64 event per pair.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use cachescope_core::{Command, ErrorKind, Event, FlushScope, Micros, Outcome, TtlChange, WriteCondition, key_hash};
use foldhash::fast::FixedState;

use super::CacheModel;

const NIL: u32 = u32::MAX;
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
    prev: u32,
    next: u32,
}

#[derive(Debug)]
pub struct LruCache {
    capacity: Option<u64>,
    used: u64,
    index: HashMap<u64, u32, FixedState>,
    entries: Vec<Entry>,
    free: Vec<u32>,
    /// Most recently used.
    head: u32,
    /// Least recently used: the next to go.
    tail: u32,
    /// (expiry time, slot, generation) of every TTL set, earliest first.
    expiries: BinaryHeap<Reverse<(Micros, u32, u32)>>,
    evictions: u64,
}

impl LruCache {
    /// A cache holding at most `capacity` bytes of keys and values; None for no limit.
    pub fn new(capacity: Option<u64>) -> Self {
        LruCache {
            capacity,
            used: 0,
            index: HashMap::with_hasher(FixedState::default()),
            entries: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            expiries: BinaryHeap::new(),
            evictions: 0,
        }
    }

    fn unlink(&mut self, slot: u32) {
        let Entry { prev, next, .. } = self.entries[slot as usize];
        match prev {
            NIL => self.head = next,
            p => self.entries[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.entries[n as usize].prev = prev,
        }
    }

    fn push_front(&mut self, slot: u32) {
        let old_head = self.head;
        {
            let entry = &mut self.entries[slot as usize];
            entry.prev = NIL;
            entry.next = old_head;
        }
        match old_head {
            NIL => self.tail = slot,
            h => self.entries[h as usize].prev = slot,
        }
        self.head = slot;
    }

    fn remove(&mut self, slot: u32) {
        self.unlink(slot);
        let entry = self.entries[slot as usize];
        self.used -= entry.size;
        self.index.remove(&entry.id);
        self.entries[slot as usize].generation = entry.generation.wrapping_add(1);
        self.free.push(slot);
    }

    /// Removes every key whose TTL has run out by `now`.
    fn expire_due(&mut self, now: Micros) {
        while let Some(&Reverse((at, slot, generation))) = self.expiries.peek() {
            if at > now {
                break;
            }
            self.expiries.pop();
            let entry = self.entries[slot as usize];
            if entry.generation == generation && entry.expires_at == at && self.index.get(&entry.id) == Some(&slot) {
                self.remove(slot);
            }
        }
    }

    fn set_expiry(&mut self, slot: u32, expires_at: Micros) {
        let entry = &mut self.entries[slot as usize];
        entry.expires_at = expires_at;
        entry.generation = entry.generation.wrapping_add(1);
        if expires_at != 0 {
            self.expiries.push(Reverse((expires_at, slot, entry.generation)));
        }
        // Rewrites leave stale entries behind until their time comes; past twice the keys, drop them now, so the
        // queue stays in proportion to the cache.
        if self.expiries.len() > 2 * self.index.len() + 1024 {
            let entries = &self.entries;
            self.expiries.retain(|Reverse((at, slot, generation))| {
                let entry = &entries[*slot as usize];
                entry.generation == *generation && entry.expires_at == *at
            });
        }
    }

    fn make_room(&mut self) {
        let Some(capacity) = self.capacity else { return };
        while self.used > capacity && self.tail != NIL && self.tail != self.head {
            self.remove(self.tail);
            self.evictions += 1;
        }
    }

    fn write(&mut self, event: &Event<'_>, id: u64, condition: WriteCondition) -> Outcome {
        let existing = self.index.get(&id).copied();
        match (condition, existing) {
            (WriteCondition::IfAbsent, Some(_)) | (WriteCondition::IfPresent, None) => return Outcome::Miss,
            _ => {}
        }
        let size = (event.key.len() as u64 + u64::from(event.value_size)).max(1);
        if self.capacity.is_some_and(|capacity| size > capacity) {
            return Outcome::Error(ErrorKind::Oom);
        }
        let now = event.time;
        let slot = match existing {
            Some(slot) => {
                self.unlink(slot);
                self.used -= self.entries[slot as usize].size;
                self.entries[slot as usize].size = size;
                slot
            }
            None => {
                let entry = Entry { id, db: event.db, size, expires_at: 0, generation: 0, prev: NIL, next: NIL };
                let slot = match self.free.pop() {
                    Some(slot) => {
                        let generation = self.entries[slot as usize].generation;
                        self.entries[slot as usize] = Entry { generation, ..entry };
                        slot
                    }
                    None => {
                        self.entries.push(entry);
                        (self.entries.len() - 1) as u32
                    }
                };
                self.index.insert(id, slot);
                slot
            }
        };
        self.used += size;
        self.push_front(slot);
        let expires_at = match event.ttl {
            TtlChange::ExpireIn(ms) => now.saturating_add(ms.saturating_mul(MICROS_PER_MILLI)).max(1),
            TtlChange::Persist => 0,
            TtlChange::Keep => existing.map_or(0, |_| self.entries[slot as usize].expires_at),
        };
        self.set_expiry(slot, expires_at);
        self.make_room();
        Outcome::Ok
    }

    fn flush(&mut self, scope: FlushScope, db: u32) {
        let doomed: Vec<u32> = self
            .index
            .values()
            .copied()
            .filter(|&slot| scope != FlushScope::Db || self.entries[slot as usize].db == db)
            .collect();
        for slot in doomed {
            self.remove(slot);
        }
    }
}

impl CacheModel for LruCache {
    fn apply(&mut self, event: &Event<'_>) -> Outcome {
        self.expire_due(event.time);
        let id = key_hash(event.db, event.key);
        match event.command {
            Command::Read => match self.index.get(&id).copied() {
                Some(slot) => {
                    self.unlink(slot);
                    self.push_front(slot);
                    Outcome::Hit
                }
                None => Outcome::Miss,
            },
            Command::Write(condition) => self.write(event, id, condition),
            Command::Delete => match self.index.get(&id).copied() {
                Some(slot) => {
                    self.remove(slot);
                    Outcome::Ok
                }
                None => Outcome::Miss,
            },
            Command::Expire => match self.index.get(&id).copied() {
                Some(slot) => {
                    let expires_at = match event.ttl {
                        TtlChange::ExpireIn(ms) => event.time.saturating_add(ms.saturating_mul(MICROS_PER_MILLI)),
                        TtlChange::Persist => 0,
                        TtlChange::Keep => self.entries[slot as usize].expires_at,
                    };
                    if expires_at != 0 && expires_at <= event.time {
                        self.remove(slot);
                    } else {
                        self.set_expiry(slot, expires_at);
                    }
                    Outcome::Ok
                }
                None => Outcome::Miss,
            },
            Command::Flush(scope) => {
                self.flush(scope, event.db);
                Outcome::Ok
            }
            Command::Marker => Outcome::Ok,
        }
    }

    fn used_bytes(&self) -> u64 {
        self.used
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(cache: &mut LruCache, time: Micros, key: &str) -> Outcome {
        cache.apply(&Event::read(time, key.as_bytes(), Outcome::Unobserved))
    }

    fn set(cache: &mut LruCache, time: Micros, key: &str, size: u32, ttl: TtlChange) -> Outcome {
        cache.apply(&Event::write(time, key.as_bytes(), ttl).with_value_size(size).with_outcome(Outcome::Unobserved))
    }

    #[test]
    fn evicts_least_recently_used_first() {
        let mut cache = LruCache::new(Some(300));
        for key in ["a", "b", "c"] {
            assert_eq!(set(&mut cache, 0, key, 99, TtlChange::Persist), Outcome::Ok);
        }
        assert_eq!(get(&mut cache, 1, "a"), Outcome::Hit);
        set(&mut cache, 2, "d", 99, TtlChange::Persist);
        assert_eq!(get(&mut cache, 3, "b"), Outcome::Miss, "b was least recently used");
        assert_eq!(get(&mut cache, 3, "a"), Outcome::Hit);
        assert_eq!(get(&mut cache, 3, "c"), Outcome::Hit);
        assert_eq!(get(&mut cache, 3, "d"), Outcome::Hit);
        assert_eq!(cache.evictions(), 1);
        assert!(cache.used_bytes() <= 300);
    }

    #[test]
    fn ttls_expire_and_free_room() {
        let mut cache = LruCache::new(Some(200));
        set(&mut cache, 0, "a", 99, TtlChange::ExpireIn(1_000));
        set(&mut cache, 0, "b", 99, TtlChange::Persist);
        assert_eq!(get(&mut cache, 999_999, "a"), Outcome::Hit);
        assert_eq!(get(&mut cache, 1_000_000, "a"), Outcome::Miss);
        set(&mut cache, 2_000_000, "c", 99, TtlChange::Persist);
        assert_eq!(get(&mut cache, 2_000_000, "b"), Outcome::Hit, "the expired key made room, not b");
        assert_eq!(cache.evictions(), 0);
    }

    #[test]
    fn keep_ttl_and_rewrites() {
        let mut cache = LruCache::new(None);
        set(&mut cache, 0, "a", 1, TtlChange::ExpireIn(1_000));
        set(&mut cache, 500_000, "a", 1, TtlChange::Keep);
        assert_eq!(get(&mut cache, 1_000_001, "a"), Outcome::Miss);
        set(&mut cache, 0, "b", 1, TtlChange::ExpireIn(1_000));
        set(&mut cache, 500_000, "b", 1, TtlChange::Persist);
        assert_eq!(get(&mut cache, 5_000_000, "b"), Outcome::Hit);
    }

    #[test]
    fn rewriting_keys_with_ttls_keeps_the_expiry_queue_small() {
        let mut cache = LruCache::new(None);
        for round in 0..100_000u64 {
            set(&mut cache, round, "a", 1, TtlChange::ExpireIn(3_600_000));
        }
        assert!(cache.expiries.len() <= 2 * cache.len() + 1025, "{}", cache.expiries.len());
        assert_eq!(get(&mut cache, 100_001, "a"), Outcome::Hit);
    }

    #[test]
    fn conditions_deletes_flushes_and_oversized_values() {
        let mut cache = LruCache::new(Some(1_000));
        let nx = |key: &'static str| {
            Event {
                command: Command::Write(WriteCondition::IfAbsent),
                ..Event::write(0, key.as_bytes(), TtlChange::Persist)
            }
            .with_outcome(Outcome::Unobserved)
        };
        assert_eq!(cache.apply(&nx("a")), Outcome::Ok);
        assert_eq!(cache.apply(&nx("a")), Outcome::Miss);
        assert_eq!(cache.apply(&Event { command: Command::Delete, ..nx("a") }), Outcome::Ok);
        assert_eq!(get(&mut cache, 0, "a"), Outcome::Miss);
        assert_eq!(set(&mut cache, 0, "big", 5_000, TtlChange::Persist), Outcome::Error(ErrorKind::Oom));
        set(&mut cache, 0, "x", 1, TtlChange::Persist);
        set(&mut cache, 0, "y", 1, TtlChange::Persist);
        cache.apply(&Event::keyless(1, Command::Flush(FlushScope::Db)).with_db(1));
        assert_eq!(cache.len(), 2, "db 1 was empty");
        cache.apply(&Event::keyless(1, Command::Flush(FlushScope::All)));
        assert!(cache.is_empty());
        assert_eq!(cache.used_bytes(), 0);
    }
}
