//! Miss-ratio curves from all requests or from a spatial sample of keys (SHARDS, Waldspurger et al., FAST 2015).
//!
//! A key is in the sample when its hash, taken modulo P = 2^24, is below a threshold T: the sample rate is
//! R = T/P. Sampled keys go through exact stack distances; each distance (less the key's own size, which is
//! there for sure) stands for 1/R times as much data, and each request for 1/R requests.
//! - fixed rate: T is set once;
//! - fixed size: at most `max_keys` keys are followed; when one more comes, the key with the largest hash leaves
//!   and T drops to that hash, so the rate adapts to the trace and memory stays fixed.
//!
//! Two corrections use what every request shows, sampled or not (a [`SampleCurve`] applies both at the end):
//! - first reads: how many distinct keys are read is counted over all reads with a HyperLogLog sketch (12 KiB,
//!   under 1% error), and the sample's first reads are scaled to that count. Where keys are read a few times each,
//!   the number of keys that fall in a 1% sample varies by several percent, and with it the level of the whole
//!   curve: on the CloudPhysics trace this halves the error at rate 0.01;
//! - the rest: a sample rarely stands for exactly the requests of the trace (a few very hot keys fall in it or
//!   not); the difference between the requests seen and the requests the sample stands for is added as hits at
//!   distance zero (the paper's SHARDS_adj, written there for a fixed rate; with a fixed size the weights change
//!   over time, and the same difference, requests minus total weight, is the correction).

use std::collections::{BinaryHeap, HashSet};

use cardinality_estimator::CardinalityEstimator;
use foldhash::fast::FixedState;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::curve::Curve;
use super::stack::StackDistances;

const P: u64 = 1 << 24;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    /// Every request: exact.
    Exact,
    /// Keys sampled at this rate, in (0, 1].
    FixedRate(f64),
    /// At most this many keys followed.
    FixedSize(usize),
}

/// One request of the sample, ready to record in a curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampled {
    /// The stack distance, scaled to the whole trace; None for a key's first request.
    pub distance: Option<u64>,
    /// The requests it stands for.
    pub weight: f64,
    /// The key's first read in the trace.
    pub first_read: bool,
}

/// Distinct keys read, over all reads: 2^14 registers, 0.8% standard error.
type DistinctCount = CardinalityEstimator<u64, std::hash::DefaultHasher, 14, 6>;

#[derive(Debug)]
pub struct Shards {
    sampling: Sampling,
    threshold: u64,
    stack: StackDistances,
    /// Fixed size: the sampled keys by hash, largest on top.
    keys: BinaryHeap<(u64, u64)>,
    requests: u64,
    /// The requests the sampled ones stand for.
    weight: f64,
    /// Every key read, sampled or not: what the sample's first reads are scaled to.
    distinct_reads: DistinctCount,
    /// The sampled keys read at least once, to tell a first read (a stack forgets deleted keys).
    read_keys: HashSet<u64, FixedState>,
    /// Which keys a rate samples: another seed draws another sample, to see how much a curve owes to it.
    seed: u64,
}

/// A key's hash: the low bits place it in the sample's hash space, all of them go to the distinct count.
#[inline]
fn hash(key: u64, seed: u64) -> u64 {
    xxh3_64_with_seed(&key.to_le_bytes(), seed)
}

/// The range of keys a sample may follow, for other threads to sort events by (the threads that decode a trace
/// for the thread that builds the curve): a key outside it never comes in, and its events change nothing but
/// the count of reads, which the builder still takes in the trace's order ([`Shards::count_left_out`]).
#[derive(Debug, Clone, Copy)]
pub struct SampleRange {
    seed: u64,
    /// The sample's range as last known: the sample's own may only be narrower, never wider.
    threshold: u64,
}

impl SampleRange {
    /// The sample's range has narrowed to `threshold` ([`Shards::threshold`]).
    pub fn narrow(&mut self, threshold: u64) {
        self.threshold = self.threshold.min(threshold);
    }

    /// Whether `key` may be in the sample (else nothing about it matters to the curve but its reads' count).
    #[inline]
    pub fn may_track(&self, key: u64) -> bool {
        hash(key, self.seed) % P < self.threshold
    }

    /// For a read of `key` outside the sample's range, the hash the sample counts it by
    /// ([`Shards::count_left_out`]); None when the key may be in it.
    #[inline]
    pub fn left_out(&self, key: u64) -> Option<u64> {
        let hash = hash(key, self.seed);
        (hash % P >= self.threshold).then_some(hash)
    }
}

impl Shards {
    pub fn new(sampling: Sampling) -> Self {
        Shards::with_seed(sampling, 0)
    }

    /// A sample drawn with `seed` (0 for the one [`Shards::new`] draws).
    pub fn with_seed(sampling: Sampling, seed: u64) -> Self {
        let threshold = match sampling {
            Sampling::Exact | Sampling::FixedSize(_) => P,
            Sampling::FixedRate(rate) => ((rate.clamp(0.0, 1.0) * P as f64).round() as u64).max(1),
        };
        Shards {
            sampling,
            threshold,
            stack: StackDistances::new(),
            keys: BinaryHeap::new(),
            requests: 0,
            weight: 0.0,
            distinct_reads: DistinctCount::new(),
            read_keys: HashSet::with_hasher(FixedState::default()),
            seed,
        }
    }

    /// The position of a key in hash space.
    #[inline]
    fn spot(&self, key: u64) -> u64 {
        hash(key, self.seed) % P
    }

    /// The current sampling rate.
    pub fn rate(&self) -> f64 {
        self.threshold as f64 / P as f64
    }

    /// Reads seen, sampled or not.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// The range of keys this sample may follow, for other threads ([`SampleRange`]); None when exact.
    #[inline]
    pub fn range(&self) -> Option<SampleRange> {
        (self.sampling != Sampling::Exact).then_some(SampleRange { seed: self.seed, threshold: self.threshold })
    }

    /// The sample's range now: a key is in it when its spot is below this ([`SampleRange::narrow`]).
    pub fn threshold(&self) -> u64 {
        self.threshold
    }

    /// For a key outside the sample's range, the hash a read of it counts by ([`Shards::count_left_out`]); None
    /// when exact or when the key may be in the sample.
    #[inline]
    pub fn left_out(&self, key: u64) -> Option<u64> {
        self.range()?.left_out(key)
    }

    /// A read of a key outside the sample's range, by the hash [`SampleRange::left_out`] gave: counted as
    /// [`Shards::read`] counts it, and nothing else.
    #[inline]
    pub fn count_left_out(&mut self, hash: u64) {
        self.requests += 1;
        self.distinct_reads.insert_hash(hash);
    }

    /// Whether `key` may be followed now or later: every key when exact, else a key in the sample's range (the
    /// range only shrinks, so a key outside it never comes in).
    #[inline]
    pub fn may_track(&self, key: u64) -> bool {
        self.range().is_none_or(|range| range.may_track(key))
    }

    /// Whether `key` is followed now.
    pub fn tracks(&self, key: u64) -> bool {
        self.stack.contains(key)
    }

    /// Asks the processor for what a request of `key` will look at, without waiting (all keys are followed
    /// when exact; a sample's keys would have to be hashed first, and are not asked for).
    #[inline]
    pub fn prefetch(&self, key: u64) {
        if self.sampling == Sampling::Exact {
            self.stack.prefetch(key);
        }
    }

    /// Keys followed now: the memory used is in proportion.
    pub fn keys(&self) -> usize {
        self.stack.keys()
    }

    /// A request of `key` of `size` that brings the key in when absent (read-through): Some when the key is in
    /// the sample.
    #[inline]
    pub fn access(&mut self, key: u64, size: u64) -> Option<Sampled> {
        self.read(key, size, true)
    }

    /// A read of `key` of `size`: Some when the key is in the sample. A key absent from the stack misses at any
    /// size (distance None); with `read_through` the read brings it in, else only a write does.
    #[inline]
    pub fn read(&mut self, key: u64, size: u64, read_through: bool) -> Option<Sampled> {
        self.requests += 1;
        let exact = self.sampling == Sampling::Exact;
        let spot = if exact {
            0
        } else {
            let hash = hash(key, self.seed);
            self.distinct_reads.insert_hash(hash);
            hash % P
        };
        if spot >= self.threshold {
            return None;
        }
        let distance = if read_through || self.stack.contains(key) { self.place(key, size) } else { None };
        if spot >= self.threshold {
            // The key joined a fixed-size sample, which shrank past it.
            return None;
        }
        if exact {
            self.weight += 1.0;
            return Some(Sampled { distance, weight: 1.0, first_read: false });
        }
        let first_read = self.read_keys.insert(key);
        let rate = self.rate();
        self.weight += 1.0 / rate;
        // The distance counts the key itself, which is there for sure; only the others stand for 1/R as many.
        let scale = |d: u64| size + ((d.saturating_sub(size)) as f64 / rate).round() as u64;
        Some(Sampled { distance: distance.map(scale), weight: 1.0 / rate, first_read })
    }

    /// A write of `key` of `size`: the key moves to the top of the stack; not a request.
    #[inline]
    pub fn write(&mut self, key: u64, size: u64) {
        if self.may_track(key) {
            self.place(key, size);
        }
    }

    /// A key deleted or expired: its next read misses at any size.
    pub fn forget(&mut self, key: u64) {
        self.stack.remove(key);
    }

    /// Every key flushed.
    pub fn forget_all(&mut self) {
        self.stack.clear();
        self.keys.clear();
    }

    /// Puts `key` on top of the stack and returns its distance; a fixed-size sample makes room for a new key.
    fn place(&mut self, key: u64, size: u64) -> Option<u64> {
        let distance = self.stack.access(key, size);
        if let (Sampling::FixedSize(max_keys), None) = (self.sampling, distance) {
            self.keys.push((self.spot(key), key));
            while self.stack.keys() > max_keys.max(1) {
                // The largest hash leaves; the threshold drops to it, and every key at or above it leaves too.
                let (largest, _) = *self.keys.peek().expect("keys are in the heap");
                self.threshold = largest;
                while let Some(&(hash, evicted)) = self.keys.peek() {
                    if hash < self.threshold {
                        break;
                    }
                    self.keys.pop();
                    self.stack.remove(evicted);
                }
            }
            // Keys forgotten and placed again leave duplicates behind: keep the heap in proportion.
            if self.keys.len() > 2 * max_keys.max(1) + 1024 {
                let stack = &self.stack;
                let mut live: Vec<(u64, u64)> = self.keys.drain().filter(|&(_, k)| stack.contains(k)).collect();
                live.sort_unstable();
                live.dedup();
                self.keys = live.into();
            }
            // Keys that left the sample never come back (the threshold only drops): forget that they were read.
            if self.read_keys.len() > 2 * max_keys.max(1) + 1024 {
                let (threshold, seed) = (self.threshold, self.seed);
                self.read_keys.retain(|&k| hash(k, seed) % P < threshold);
            }
        }
        distance
    }

    /// The curve of the whole trace from the requests `sample` recorded, with both corrections applied (none
    /// for an exact curve).
    pub fn curve(&self, sample: SampleCurve) -> Curve {
        let SampleCurve { mut curve, first_reads } = sample;
        if self.sampling == Sampling::Exact {
            curve.merge(&first_reads);
            return curve;
        }
        let distinct = self.distinct_reads.estimate() as f64;
        // With no first read in the sample there is nothing to scale: the remainder goes to hits at zero.
        let factor = if first_reads.requests() > 0.0 { distinct / first_reads.requests() } else { 1.0 };
        curve.merge_scaled(&first_reads, factor);
        let stood_for = self.weight - first_reads.requests() + first_reads.requests() * factor;
        curve.add_hits_at_zero(self.requests as f64 - stood_for);
        curve
    }
}

/// The sampled requests of a trace, first reads apart, until [`Shards::curve`] puts them together.
#[derive(Debug, Clone, Default)]
pub struct SampleCurve {
    curve: Curve,
    first_reads: Curve,
}

impl SampleCurve {
    #[inline]
    pub fn record(&mut self, sampled: Sampled) {
        let curve = if sampled.first_read { &mut self.first_reads } else { &mut self.curve };
        curve.record(sampled.distance, sampled.weight);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mrc::curve::{log_sizes, mean_absolute_error};

    fn zipf_like(n: usize, keys: u64) -> Vec<u64> {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let u = (state >> 11) as f64 / (1u64 << 53) as f64;
                // A skewed choice: small ids far more often.
                ((keys as f64).powf(u) - 1.0) as u64
            })
            .collect()
    }

    fn curve(requests: &[u64], sampling: Sampling) -> (Curve, Shards) {
        let mut shards = Shards::new(sampling);
        let mut sample = SampleCurve::default();
        for &key in requests {
            if let Some(s) = shards.access(key, 1) {
                sample.record(s);
            }
        }
        (shards.curve(sample), shards)
    }

    #[test]
    fn sampled_curves_follow_the_exact_one() {
        let requests = zipf_like(400_000, 200_000);
        let (exact, _) = curve(&requests, Sampling::Exact);
        let sizes = log_sizes(100, 200_000, 40);
        let (fixed_rate, _) = curve(&requests, Sampling::FixedRate(0.05));
        let (fixed_size, sample) = curve(&requests, Sampling::FixedSize(4_000));
        let rate_error = mean_absolute_error(&exact, &fixed_rate, &sizes);
        let size_error = mean_absolute_error(&exact, &fixed_size, &sizes);
        assert!(rate_error < 0.02, "fixed rate: {rate_error}");
        assert!(size_error < 0.03, "fixed size: {size_error}");
        assert!(sample.keys() <= 4_000 && sample.rate() < 1.0);
    }

    /// Every key read twice, a loop apart: half the reads are first reads. A 1% sample of 20,000 keys holds
    /// 200 ± 14 of them, so that unscaled the level past the loop would be off by up to 3.5 points; scaled to
    /// the distinct count, it stays at one half.
    #[test]
    fn first_reads_are_scaled_to_the_distinct_count() {
        let keys = 20_000u64;
        let requests: Vec<u64> = (0..keys).chain(0..keys).collect();
        for seed in 0..8 {
            let mut shards = Shards::with_seed(Sampling::FixedRate(0.01), seed);
            let mut sample = SampleCurve::default();
            for &key in &requests {
                if let Some(s) = shards.access(key, 1) {
                    sample.record(s);
                }
            }
            let curve = shards.curve(sample);
            assert!((curve.requests() - 40_000.0).abs() < 1e-6, "seed {seed}: {}", curve.requests());
            let level = curve.miss_ratio(10 * keys);
            assert!((level - 0.5).abs() < 0.01, "seed {seed}: past the loop the miss ratio is {level}");
            // Inside the loop every read misses; a sample short of re-reads leaves the difference as hits at
            // zero (SHARDS_adj), a few percent here.
            let inside = curve.miss_ratio(keys / 2);
            assert!(inside > 0.95, "seed {seed}: inside the loop the miss ratio is {inside}");
        }
    }
}
