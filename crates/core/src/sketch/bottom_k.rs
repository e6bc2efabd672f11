//! A bottom-k (KMV) sketch: the k smallest distinct hashes of a set.
//!
//! It estimates the number of distinct elements, and, unlike HyperLogLog, the size of the intersection of two
//! sets: that is what tells whether the ids read under one pattern are the ids written under another. Below k
//! elements it is exact.

/// Default size: about 3% relative error on distinct counts, 8 KiB per sketch once full.
pub const DEFAULT_K: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "StoredBottomK")]
pub struct BottomK {
    k: usize,
    /// Sorted ascending, distinct, at most `k` long.
    hashes: Vec<u64>,
}

/// A bottom-k read back from a file: checked before use.
#[derive(serde::Deserialize)]
struct StoredBottomK {
    k: usize,
    hashes: Vec<u64>,
}

impl TryFrom<StoredBottomK> for BottomK {
    type Error = String;

    fn try_from(stored: StoredBottomK) -> Result<Self, String> {
        let sorted = stored.hashes.windows(2).all(|w| w[0] < w[1]);
        if stored.k < 2 || stored.hashes.len() > stored.k || !sorted {
            return Err("a distinct-count sketch that is not sorted or holds more than k hashes".into());
        }
        Ok(BottomK { k: stored.k, hashes: stored.hashes })
    }
}

impl Default for BottomK {
    fn default() -> Self {
        BottomK::new(DEFAULT_K)
    }
}

impl BottomK {
    pub fn new(k: usize) -> Self {
        BottomK { k: k.max(2), hashes: Vec::new() }
    }

    /// Adds the hash of an element. The hash must be uniform over u64 (xxh3 of the element is).
    #[inline]
    pub fn insert(&mut self, hash: u64) {
        if self.hashes.len() == self.k && hash >= *self.hashes.last().expect("k >= 2") {
            return;
        }
        if let Err(at) = self.hashes.binary_search(&hash) {
            self.hashes.insert(at, hash);
            self.hashes.truncate(self.k);
        }
    }

    fn is_full(&self) -> bool {
        self.hashes.len() == self.k
    }

    /// Estimated number of distinct elements inserted.
    pub fn estimate(&self) -> f64 {
        if !self.is_full() {
            return self.hashes.len() as f64;
        }
        let kth = *self.hashes.last().expect("full") as f64 / u64::MAX as f64;
        (self.k - 1) as f64 / kth.max(f64::MIN_POSITIVE)
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    pub fn merge(&mut self, other: &BottomK) {
        let mut merged = Vec::with_capacity(self.k);
        let (mut a, mut b) = (self.hashes.iter().peekable(), other.hashes.iter().peekable());
        while merged.len() < self.k {
            let next = match (a.peek(), b.peek()) {
                (Some(&&x), Some(&&y)) if x == y => {
                    a.next();
                    b.next();
                    x
                }
                (Some(&&x), Some(&&y)) if x < y => *a.next().expect("peeked"),
                (Some(_), Some(_)) => *b.next().expect("peeked"),
                (Some(_), None) => *a.next().expect("peeked"),
                (None, Some(_)) => *b.next().expect("peeked"),
                (None, None) => break,
            };
            merged.push(next);
        }
        self.hashes = merged;
    }

    /// Estimated share of this set's elements that are also in `other` (|A ∩ B| / |A|), in [0, 1].
    pub fn containment_in(&self, other: &BottomK) -> f64 {
        if self.is_empty() || other.is_empty() {
            return 0.0;
        }
        let mut union = self.clone();
        union.merge(other);
        // An element among the union's k smallest is in A exactly when it is in A's sketch, and likewise for B.
        let both = union
            .hashes
            .iter()
            .filter(|h| self.hashes.binary_search(h).is_ok() && other.hashes.binary_search(h).is_ok())
            .count();
        let jaccard = both as f64 / union.hashes.len() as f64;
        let intersection = jaccard * union.estimate();
        (intersection / self.estimate()).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xxhash_rust::xxh3::xxh3_64;

    fn sketch(range: std::ops::Range<u64>) -> BottomK {
        let mut s = BottomK::default();
        for i in range {
            s.insert(xxh3_64(&i.to_le_bytes()));
        }
        s
    }

    #[test]
    fn exact_below_k_and_close_above() {
        assert_eq!(sketch(0..100).estimate(), 100.0);
        let mut repeated = sketch(0..100);
        repeated.merge(&sketch(0..100));
        assert_eq!(repeated.estimate(), 100.0);
        let big = sketch(0..100_000).estimate();
        assert!((big - 100_000.0).abs() / 100_000.0 < 0.2, "{big}");
    }

    #[test]
    fn containment() {
        let a = sketch(0..50_000);
        let b = sketch(25_000..200_000);
        let c = sketch(500_000..600_000);
        assert!((a.containment_in(&b) - 0.5).abs() < 0.15, "{}", a.containment_in(&b));
        assert!(a.containment_in(&c) < 0.05);
        assert!((sketch(0..10).containment_in(&sketch(5..100)) - 0.5).abs() < 1e-9);
        assert_eq!(BottomK::default().containment_in(&a), 0.0);
    }
}
