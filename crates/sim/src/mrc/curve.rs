//! A miss-ratio curve: the distribution of stack distances (weighted, so that sampled requests can stand for
//! many), with the first requests of keys counted apart as misses at every size.
//!
//! Distances fall in buckets of under 0.8% relative width (exact below 256): 7,424 buckets cover all of u64.
//! Within a bucket, distances are taken as spread evenly.

const EXACT: u64 = 256;
const HALF: u64 = 128;
const BUCKETS: usize = 256 + (64 - 8) * 128;

#[derive(Debug, Clone)]
pub struct Curve {
    buckets: Vec<f64>,
    /// Requests that were a key's first: misses whatever the size.
    cold: f64,
    total: f64,
}

impl Default for Curve {
    fn default() -> Self {
        Curve { buckets: vec![0.0; BUCKETS], cold: 0.0, total: 0.0 }
    }
}

fn bucket(distance: u64) -> usize {
    if distance < EXACT {
        return distance as usize;
    }
    let exponent = 63 - distance.leading_zeros() as u64;
    let shift = exponent - 7;
    let mantissa = distance >> shift;
    (EXACT + (exponent - 8) * HALF + (mantissa - HALF)) as usize
}

/// The smallest distance in a bucket.
fn low(index: usize) -> u64 {
    let index = index as u64;
    if index < EXACT {
        return index;
    }
    let exponent = (index - EXACT) / HALF + 8;
    let mantissa = (index - EXACT) % HALF + HALF;
    mantissa << (exponent - 7)
}

impl Curve {
    /// Records a request of stack distance `distance` (None: a key's first request), standing for `weight`
    /// requests.
    #[inline]
    pub fn record(&mut self, distance: Option<u64>, weight: f64) {
        match distance {
            Some(d) => self.buckets[bucket(d)] += weight,
            None => self.cold += weight,
        }
        self.total += weight;
    }

    /// Adds `weight` requests as hits at any size (SHARDS's correction for a sample short of its expected size).
    pub fn add_hits_at_zero(&mut self, weight: f64) {
        self.buckets[0] += weight;
        self.total += weight;
    }

    pub fn requests(&self) -> f64 {
        self.total
    }

    /// The miss ratio of an LRU cache of `size` (in the distances' unit).
    pub fn miss_ratio(&self, size: u64) -> f64 {
        if self.total <= 0.0 {
            return 0.0;
        }
        let last = bucket(size);
        // Distances are spread evenly within a bucket: the share of the last one that fits counts.
        let start = low(last);
        let end = if last + 1 < BUCKETS { low(last + 1) } else { u64::MAX };
        let fitting = (size + 1).saturating_sub(start) as f64 / (end - start) as f64;
        let hits = self.buckets[..last].iter().sum::<f64>() + self.buckets[last] * fitting.min(1.0);
        (1.0 - hits / self.total).clamp(0.0, 1.0)
    }

    /// The largest distance recorded: the size past which the curve is flat.
    pub fn max_distance(&self) -> u64 {
        self.buckets.iter().rposition(|&w| w > 0.0).map_or(0, |i| low(i + 1).saturating_sub(1).max(low(i)))
    }

    /// The curve's points at `sizes`.
    pub fn points(&self, sizes: &[u64]) -> Vec<(u64, f64)> {
        sizes.iter().map(|&size| (size, self.miss_ratio(size))).collect()
    }

    pub fn merge(&mut self, other: &Curve) {
        self.merge_scaled(other, 1.0);
    }

    /// Adds `other` with every weight multiplied by `factor`.
    pub fn merge_scaled(&mut self, other: &Curve, factor: f64) {
        for (ours, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            *ours += theirs * factor;
        }
        self.cold += other.cold * factor;
        self.total += other.total * factor;
    }

    /// The same curve with distances multiplied by `factor` (SHARDS: a sample's distances stand for 1/rate times
    /// as much data).
    pub fn scaled(&self, factor: f64) -> Curve {
        let mut scaled = Curve { cold: self.cold, total: self.total, ..Curve::default() };
        for (index, &weight) in self.buckets.iter().enumerate() {
            if weight > 0.0 {
                let distance = ((low(index) as f64) * factor).round().min(u64::MAX as f64) as u64;
                scaled.buckets[bucket(distance)] += weight;
            }
        }
        scaled
    }
}

/// Mean absolute difference of two curves at `sizes`.
pub fn mean_absolute_error(a: &Curve, b: &Curve, sizes: &[u64]) -> f64 {
    if sizes.is_empty() {
        return 0.0;
    }
    sizes.iter().map(|&s| (a.miss_ratio(s) - b.miss_ratio(s)).abs()).sum::<f64>() / sizes.len() as f64
}

/// `count` sizes spread evenly from `max / count` to `max`: every cache size weighs the same, as in the SHARDS
/// paper's error figures.
pub fn linear_sizes(max: u64, count: usize) -> Vec<u64> {
    let count = count.max(1) as u64;
    let mut sizes: Vec<u64> = (1..=count).map(|i| (i * max.max(1)).div_ceil(count)).collect();
    sizes.dedup();
    sizes
}

/// `count` sizes spread evenly on a log scale from `min` to `max`.
pub fn log_sizes(min: u64, max: u64, count: usize) -> Vec<u64> {
    let (min, max) = (min.max(1) as f64, max.max(min.max(1) + 1) as f64);
    let mut sizes: Vec<u64> =
        (0..count).map(|i| (min * (max / min).powf(i as f64 / (count.max(2) - 1) as f64)).round() as u64).collect();
    sizes.dedup();
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_tight() {
        let mut previous = 0;
        for d in (0..2_000_000u64).step_by(7).chain([u64::MAX / 3, u64::MAX]) {
            let b = bucket(d);
            assert!(b >= previous, "{d}");
            assert!(low(b) <= d, "{d}: low {}", low(b));
            assert!(d - low(b) <= d / 128 + 1, "{d}: bucket too wide");
            previous = b;
        }
        assert!(bucket(u64::MAX) < BUCKETS);
    }

    #[test]
    fn a_curve() {
        let mut c = Curve::default();
        c.record(None, 1.0);
        for d in [1, 2, 3, 10] {
            c.record(Some(d), 1.0);
        }
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-12, "{a} != {b}");
        close(c.miss_ratio(0), 1.0);
        close(c.miss_ratio(1), 0.8);
        close(c.miss_ratio(3), 0.4);
        close(c.miss_ratio(1000), 0.2);
        close(c.scaled(10.0).miss_ratio(30), 0.4);
    }
}
