//! Redis's approximated LRU, LFU and volatile-ttl (`evict.c`): to make room, Redis samples `maxmemory-samples`
//! random keys, scores each by how good a victim it is, keeps the best candidates in a pool of 16 across
//! evictions, and evicts the best one. Scores are taken when a key is sampled and are not refreshed: a pooled key
//! read since can still be evicted, as in Redis.
//!
//! - LRU: the time since last use, on Redis's clock of seconds (`LRU_CLOCK_RESOLUTION` 1000 ms), so keys used in
//!   the same second are equals.
//! - LFU: 255 minus an 8-bit counter that starts at 5 (`LFU_INIT_VAL`), grows by one with probability
//!   1 / ((counter - 5) * lfu-log-factor + 1) on each use, and loses one per `lfu-decay-time` minutes unused.
//! - TTL: the nearest expiry.
//!
//! Time is the events' time, never a clock; random draws come from a seeded generator.

use cachescope_core::Micros;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::members::Members;
use super::{Eviction, ensure, group, prefetch_slot, victim_group};
use crate::model::policy::{Rank, RedisTuning, Scope};

/// `EVPOOL_SIZE`.
const POOL_SIZE: usize = 16;
/// `LFU_INIT_VAL`.
const LFU_INITIAL: u8 = 5;
const MICROS_PER_SECOND: Micros = 1_000_000;
const MICROS_PER_MINUTE: Micros = 60 * MICROS_PER_SECOND;

#[derive(Debug, Clone, Copy, Default)]
struct Object {
    /// LRU: the second of the last use. LFU: the minute of the last counter update (`ldt`).
    clock: u64,
    /// LFU: the logarithmic counter.
    counter: u8,
    expires_at: Micros,
}

#[derive(Debug)]
pub(crate) struct RedisSampled {
    scope: Scope,
    rank: Rank,
    tuning: RedisTuning,
    members: Members,
    objects: Vec<Object>,
    /// (score, slot), best victim last: at most POOL_SIZE.
    pool: Vec<(u64, u32)>,
    rng: SmallRng,
}

impl RedisSampled {
    pub fn new(scope: Scope, rank: Rank, tuning: RedisTuning, seed: u64) -> Self {
        debug_assert!(matches!(rank, Rank::Lru | Rank::Lfu | Rank::Ttl));
        RedisSampled {
            scope,
            rank,
            tuning,
            members: Members::default(),
            objects: Vec::new(),
            pool: Vec::with_capacity(POOL_SIZE),
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    /// `LFUDecrAndReturn`: the counter after the decay due by `now`.
    fn decayed(&self, object: &Object, now: Micros) -> u8 {
        if self.tuning.lfu_decay_minutes == 0 {
            return object.counter;
        }
        let periods = (now / MICROS_PER_MINUTE).saturating_sub(object.clock) / u64::from(self.tuning.lfu_decay_minutes);
        object.counter.saturating_sub(periods.min(255) as u8)
    }

    /// `LFULogIncr`.
    fn incremented(&mut self, counter: u8) -> u8 {
        if counter == u8::MAX {
            return counter;
        }
        let base = f64::from(counter.saturating_sub(LFU_INITIAL));
        let chance = 1.0 / (base * f64::from(self.tuning.lfu_log_factor) + 1.0);
        if self.rng.random::<f64>() < chance { counter + 1 } else { counter }
    }

    /// How good a victim the key is: higher goes first.
    fn score(&self, slot: u32, now: Micros) -> u64 {
        let object = &self.objects[slot as usize];
        match self.rank {
            Rank::Lfu => 255 - u64::from(self.decayed(object, now)),
            Rank::Ttl => u64::MAX - object.expires_at,
            _ => (now / MICROS_PER_SECOND).saturating_sub(object.clock),
        }
    }

    /// `evictionPoolPopulate`: a sampled key joins the pool if it beats its worst candidate or there is room.
    fn offer(&mut self, score: u64, slot: u32) {
        let at = self.pool.partition_point(|&(pooled, _)| pooled < score);
        if self.pool.len() < POOL_SIZE {
            self.pool.insert(at, (score, slot));
        } else if at > 0 {
            self.pool.remove(0);
            self.pool.insert(at - 1, (score, slot));
        }
    }
}

impl Eviction for RedisSampled {
    fn insert(&mut self, slot: u32, expires_at: Micros, now: Micros) {
        ensure(&mut self.objects, slot, Object::default());
        let clock = match self.rank {
            Rank::Lfu => now / MICROS_PER_MINUTE,
            _ => now / MICROS_PER_SECOND,
        };
        self.objects[slot as usize] = Object { clock, counter: LFU_INITIAL, expires_at };
        self.members.insert(slot, group(self.scope, expires_at));
    }

    #[inline]
    fn prefetch(&self, slot: u32) {
        prefetch_slot(&self.objects, slot);
        // A write that changes the key's TTL may move it between the keys with one and those without.
        self.members.prefetch(slot);
    }

    fn touch(&mut self, slot: u32, now: Micros) {
        match self.rank {
            Rank::Lru => self.objects[slot as usize].clock = now / MICROS_PER_SECOND,
            Rank::Lfu => {
                let decayed = self.decayed(&self.objects[slot as usize], now);
                let counter = self.incremented(decayed);
                self.objects[slot as usize] =
                    Object { clock: now / MICROS_PER_MINUTE, counter, ..self.objects[slot as usize] };
            }
            _ => {}
        }
    }

    fn expiry_changed(&mut self, slot: u32, _: Micros, new: Micros, _: Micros) {
        self.objects[slot as usize].expires_at = new;
        self.members.move_to(slot, group(self.scope, new));
    }

    fn remove(&mut self, slot: u32) {
        self.members.remove(slot);
        self.pool.retain(|&(_, pooled)| pooled != slot);
    }

    fn victim(&mut self, now: Micros) -> Option<u32> {
        let candidates = self.members.group(victim_group(self.scope)).len();
        if candidates == 0 {
            return None;
        }
        let samples = (self.tuning.samples.max(1) as usize).min(candidates);
        // Distinct keys, as `dictGetSomeKeys` returns: distinct places among the members, all drawn first, so
        // that the keys' records are asked for together rather than waited for one after the other.
        let mut drawn = [0usize; 64];
        let mut taken = 0;
        while taken < samples.min(drawn.len()) {
            let index = if samples == candidates { taken } else { self.rng.random_range(0..candidates) };
            if !drawn[..taken].contains(&index) {
                drawn[taken] = index;
                taken += 1;
            }
        }
        let members = self.members.group(victim_group(self.scope));
        let mut sampled = [u32::MAX; 64];
        for (at, &index) in drawn[..taken].iter().enumerate() {
            sampled[at] = members[index];
            cachescope_core::prefetch::prefetch(&self.objects[members[index] as usize]);
        }
        for &slot in &sampled[..taken] {
            let score = self.score(slot, now);
            self.offer(score, slot);
        }
        self.pool.pop().map(|(_, slot)| slot)
    }

    /// The best candidates left in the pool: the next victim unless the next samples beat them.
    #[inline]
    fn next_victims(&self) -> [Option<u32>; 2] {
        let mut best = self.pool.iter().rev().map(|&(_, slot)| slot);
        [best.next(), best.next()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Evicting one key after another from Redis's sampled LRU, the pool's best candidates are named next: often
    /// the next victim is the one named (about half the time here, where keys' ages are spread evenly and new
    /// samples often beat the pool; a guess among the 1,000 keys would be right once), and a key named is always
    /// one the cache still holds.
    #[test]
    fn the_pool_names_the_likely_next_victim() {
        let mut lru = RedisSampled::new(Scope::AllKeys, Rank::Lru, RedisTuning::default(), 7);
        let mut held = std::collections::HashSet::new();
        for slot in 0..1_000u32 {
            // One key a second: the older, the better a victim.
            lru.insert(slot, 0, u64::from(slot) * MICROS_PER_SECOND);
            held.insert(slot);
        }
        let now = 2_000 * MICROS_PER_SECOND;
        let (mut named, mut right) = (0, 0);
        for _ in 0..500 {
            let next = lru.next_victims();
            for slot in next.into_iter().flatten() {
                assert!(held.contains(&slot), "slot {slot} is named but no longer held");
            }
            let victim = lru.victim(now).expect("keys left");
            if next[0].is_some() {
                named += 1;
                right += usize::from(next[0] == Some(victim));
            }
            lru.remove(victim);
            held.remove(&victim);
        }
        assert!(named >= 499, "named before {named} of 500 evictions");
        assert!(right * 3 > named, "right {right} times of {named}");
    }
}
