//! A set of keys in fixed memory: a Bloom filter over the model's 64-bit key ids, for a model that joins a
//! running cache and must tell a key the trace never changed from one it has seen written or go.

/// 2^26 bits (8 MiB): with two probes, under 5% of keys are wrongly remembered at 10 million keys.
const BITS_LOG2: u32 = 26;

pub(crate) struct KeyFilter {
    bits: Vec<u64>,
}

impl KeyFilter {
    pub fn new() -> Self {
        KeyFilter { bits: vec![0; 1 << (BITS_LOG2 - 6)] }
    }

    /// Two bit positions from the id's two halves (the id is already a good hash).
    fn probes(id: u64) -> [usize; 2] {
        let mask = (1u64 << BITS_LOG2) - 1;
        [(id & mask) as usize, ((id >> 32).rotate_left(7) & mask) as usize]
    }

    /// Remembers `id`.
    pub fn insert(&mut self, id: u64) {
        for bit in Self::probes(id) {
            self.bits[bit / 64] |= 1u64 << (bit % 64);
        }
    }

    /// Whether `id` was (perhaps wrongly) remembered.
    pub fn contains(&self, id: u64) -> bool {
        Self::probes(id).into_iter().all(|bit| self.bits[bit / 64] & (1u64 << (bit % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cachescope_core::key_hash;

    #[test]
    fn remembers_every_key_it_saw_and_few_it_did_not() {
        let mut filter = KeyFilter::new();
        for i in 0..100_000u32 {
            filter.insert(key_hash(0, format!("user:{i}").as_bytes()));
        }
        for i in 0..100_000u32 {
            assert!(filter.contains(key_hash(0, format!("user:{i}").as_bytes())));
        }
        let wrongly = (0..100_000u32).filter(|i| filter.contains(key_hash(0, format!("post:{i}").as_bytes()))).count();
        assert!(wrongly < 100, "{wrongly} of 100000 unseen keys remembered");
    }
}
