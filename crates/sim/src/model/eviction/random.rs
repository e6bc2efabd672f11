//! `allkeys-random`, `volatile-random`: a uniformly random key goes, as Redis picks one. Seeded, so that a
//! simulation gives the same answer twice.

use cachescope_core::Micros;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::members::Members;
use super::{Eviction, group, victim_group};
use crate::model::policy::Scope;

#[derive(Debug)]
pub(crate) struct RandomEviction {
    scope: Scope,
    members: Members,
    rng: SmallRng,
}

impl RandomEviction {
    pub fn new(scope: Scope, seed: u64) -> Self {
        RandomEviction { scope, members: Members::default(), rng: SmallRng::seed_from_u64(seed) }
    }
}

impl Eviction for RandomEviction {
    fn insert(&mut self, slot: u32, expires_at: Micros, _: Micros) {
        self.members.insert(slot, group(self.scope, expires_at));
    }

    fn touch(&mut self, _: u32, _: Micros) {}

    fn expiry_changed(&mut self, slot: u32, _: Micros, new: Micros, _: Micros) {
        self.members.move_to(slot, group(self.scope, new));
    }

    fn remove(&mut self, slot: u32) {
        self.members.remove(slot);
    }

    fn victim(&mut self, _: Micros) -> Option<u32> {
        let candidates = self.members.group(victim_group(self.scope));
        (!candidates.is_empty()).then(|| candidates[self.rng.random_range(0..candidates.len())])
    }
}
