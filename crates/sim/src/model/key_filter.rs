//! A set of keys in fixed memory: a Bloom filter over the model's 64-bit key ids, for a model that joins a
//! running cache and must tell a key the trace never changed from one it has seen written or go.
//!
//! The filter is blocked: all of a key's bits are in one 64-byte block, so that remembering or looking up a
//! key costs one cache miss rather than one per bit (it is looked up on every read the model does not hold,
//! and written on every write, over 8 MiB that do not stay in cache).

/// 2^26 bits (8 MiB) in blocks of 2^9 bits.
const BITS_LOG2: u32 = 26;
const BLOCK_BITS_LOG2: u32 = 9;
/// Bits set per key, all in its block: with three, under 6% of keys are wrongly remembered at 10 million keys.
const PROBES: usize = 3;

/// 8 words, on one cache line.
#[derive(Clone, Copy)]
#[repr(align(64))]
struct Block([u64; 8]);

pub(crate) struct KeyFilter {
    blocks: Vec<Block>,
}

impl KeyFilter {
    pub fn new() -> Self {
        KeyFilter { blocks: vec![Block([0; 8]); 1 << (BITS_LOG2 - BLOCK_BITS_LOG2)] }
    }

    /// The key's block (from the top bits of the id multiplied by an odd constant, which depend on all of its
    /// bits: a sample of keys taken by hash, below a threshold, has its own top bits all zero) and its bits there
    /// (from the id's low bits, which are a hash's).
    #[inline]
    fn probes(id: u64) -> (usize, [u32; PROBES]) {
        let block = (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - (BITS_LOG2 - BLOCK_BITS_LOG2))) as usize;
        let bit = |i: usize| ((id >> (i as u32 * BLOCK_BITS_LOG2)) & ((1 << BLOCK_BITS_LOG2) - 1)) as u32;
        (block, std::array::from_fn(bit))
    }

    /// Remembers `id`.
    #[inline]
    pub fn insert(&mut self, id: u64) {
        let (block, bits) = Self::probes(id);
        let block = &mut self.blocks[block].0;
        for bit in bits {
            block[(bit / 64) as usize] |= 1u64 << (bit % 64);
        }
    }

    /// Asks the processor for `id`'s block ahead of [`KeyFilter::contains`] or [`KeyFilter::insert`].
    #[inline]
    pub fn prefetch(&self, id: u64) {
        cachescope_core::prefetch::prefetch(&self.blocks[Self::probes(id).0]);
    }

    /// Whether `id` was (perhaps wrongly) remembered.
    #[inline]
    pub fn contains(&self, id: u64) -> bool {
        let (block, bits) = Self::probes(id);
        let block = &self.blocks[block].0;
        bits.into_iter().all(|bit| block[(bit / 64) as usize] & (1u64 << (bit % 64)) != 0)
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

    /// Keys of a sample taken by hash (below a threshold) have their top bits all zero: they spread over the
    /// blocks all the same.
    #[test]
    fn a_sample_below_a_threshold_spreads_over_the_filter() {
        let mut filter = KeyFilter::new();
        let id = |i: u64| key_hash(0, &i.to_le_bytes()) >> 20;
        for i in 0..1_000_000u64 {
            filter.insert(id(i));
        }
        let wrongly = (1_000_000..1_100_000u64).filter(|&i| filter.contains(id(i))).count();
        assert!(wrongly < 500, "{wrongly} of 100000 unseen keys remembered at 1 M keys");
    }

    #[test]
    fn few_false_positives_at_ten_million_keys() {
        let mut filter = KeyFilter::new();
        let id = |i: u64| key_hash(0, &i.to_le_bytes());
        for i in 0..10_000_000u64 {
            filter.insert(id(i));
        }
        let wrongly = (10_000_000..10_100_000u64).filter(|&i| filter.contains(id(i))).count();
        assert!(wrongly < 6_000, "{wrongly} of 100000 unseen keys remembered at 10 M keys");
    }
}
