//! Miss-ratio curves from all requests or from a spatial sample of keys (SHARDS, Waldspurger et al., FAST 2015).
//!
//! A key is in the sample when its hash, taken modulo P = 2^24, is below a threshold T: the sample rate is
//! R = T/P. Sampled keys go through exact stack distances; each distance (less the key's own size, which is
//! there for sure) stands for 1/R times as much data, and each request for 1/R requests.
//! - fixed rate: T is set once;
//! - fixed size: at most `max_keys` keys are followed; when one more comes, the key with the largest hash leaves
//!   and T drops to that hash, so the rate adapts to the trace and memory stays fixed.
//!
//! A sample rarely stands for exactly the requests of the trace (a few very hot keys fall in it or not): the
//! difference between the requests seen and the requests the sample stands for is added as hits at distance zero
//! (the paper's SHARDS_adj, written there for a fixed rate; with a fixed size the weights change over time, and
//! the same difference, requests minus total weight, is the correction).

use std::collections::BinaryHeap;

use xxhash_rust::xxh3::xxh3_64;

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
}

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
}

/// The position of a key in hash space.
#[inline]
fn spot(key: u64) -> u64 {
    xxh3_64(&key.to_le_bytes()) % P
}

impl Shards {
    pub fn new(sampling: Sampling) -> Self {
        let threshold = match sampling {
            Sampling::Exact | Sampling::FixedSize(_) => P,
            Sampling::FixedRate(rate) => ((rate.clamp(0.0, 1.0) * P as f64).round() as u64).max(1),
        };
        Shards { sampling, threshold, stack: StackDistances::new(), keys: BinaryHeap::new(), requests: 0, weight: 0.0 }
    }

    /// The current sampling rate.
    pub fn rate(&self) -> f64 {
        self.threshold as f64 / P as f64
    }

    /// Reads seen, sampled or not.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Whether `key` is followed now.
    pub fn tracks(&self, key: u64) -> bool {
        self.stack.contains(key)
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
        let spot = if exact { 0 } else { spot(key) };
        if spot >= self.threshold {
            return None;
        }
        let distance = if read_through || self.stack.contains(key) { self.place(key, size) } else { None };
        if spot >= self.threshold {
            // The key joined a fixed-size sample, which shrank past it.
            return None;
        }
        let rate = if exact { 1.0 } else { self.rate() };
        self.weight += 1.0 / rate;
        // The distance counts the key itself, which is there for sure; only the others stand for 1/R as many.
        let scale = |d: u64| size + ((d.saturating_sub(size)) as f64 / rate).round() as u64;
        Some(Sampled { distance: distance.map(scale), weight: 1.0 / rate })
    }

    /// A write of `key` of `size`: the key moves to the top of the stack; not a request.
    #[inline]
    pub fn write(&mut self, key: u64, size: u64) {
        if self.sampling == Sampling::Exact || spot(key) < self.threshold {
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
            self.keys.push((spot(key), key));
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
        }
        distance
    }

    /// Applies the correction to a curve built from this sample (nothing for an exact curve).
    pub fn adjust(&self, curve: &mut Curve) {
        if self.sampling != Sampling::Exact {
            curve.add_hits_at_zero(self.requests as f64 - self.weight);
        }
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
        let mut curve = Curve::default();
        for &key in requests {
            if let Some(s) = shards.access(key, 1) {
                curve.record(s.distance, s.weight);
            }
        }
        shards.adjust(&mut curve);
        (curve, shards)
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
}
