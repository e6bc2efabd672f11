//! A distribution of values (intervals in milliseconds, sizes in bytes) with quantiles, on an HDR histogram.
//! Allocated on the first value so that patterns that never record one cost nothing.

use hdrhistogram::Histogram;

/// Two significant digits (under 1% relative error): a 60 s interval reads as 1m, not 1m1s. With 32-bit counts
/// and values up to 2^36 (two years in milliseconds, 64 GiB in bytes) a histogram takes 15 KiB.
const SIGNIFICANT_DIGITS: u8 = 2;
const HIGHEST: u64 = 1 << 36;

#[derive(Clone, Default)]
pub struct Distribution {
    histogram: Option<Box<Histogram<u32>>>,
    sum: u128,
}

impl std::fmt::Debug for Distribution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Distribution").field("count", &self.count()).field("mean", &self.mean()).finish()
    }
}

impl Distribution {
    #[inline]
    pub fn record(&mut self, value: u64) {
        let histogram = self.histogram.get_or_insert_with(|| {
            Box::new(Histogram::new_with_bounds(1, HIGHEST, SIGNIFICANT_DIGITS).expect("valid histogram bounds"))
        });
        // A bucket past 4 billion counts stops counting rather than fail: the quantiles are unaffected.
        let _ = histogram.record(value.clamp(1, HIGHEST));
        self.sum += u128::from(value);
    }

    #[inline]
    pub fn count(&self) -> u64 {
        self.histogram.as_ref().map_or(0, |h| h.len())
    }

    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// The value at quantile `q` (0.5 = median), or None when nothing was recorded: the middle of its bucket,
    /// to the three significant digits the histogram can vouch for (a TTL of 1000 ms reads 1000, not 1003).
    pub fn quantile(&self, q: f64) -> Option<u64> {
        self.histogram
            .as_ref()
            .filter(|h| !h.is_empty())
            .map(|h| round_significant(h.median_equivalent(h.value_at_quantile(q)), 3))
    }

    pub fn mean(&self) -> Option<f64> {
        let count = self.count();
        (count > 0).then(|| self.sum as f64 / count as f64)
    }

    pub fn max(&self) -> Option<u64> {
        self.histogram.as_ref().filter(|h| !h.is_empty()).map(|h| h.max())
    }

    /// Share of the recorded values that are at most `value`.
    pub fn share_at_most(&self, value: u64) -> f64 {
        match self.histogram.as_ref().filter(|h| !h.is_empty()) {
            Some(h) => h.count_between(0, value) as f64 / h.len() as f64,
            None => 0.0,
        }
    }

    pub fn merge(&mut self, other: &Distribution) {
        if let Some(theirs) = &other.histogram {
            match &mut self.histogram {
                Some(ours) => ours.add(theirs.as_ref()).expect("same bounds"),
                None => self.histogram = Some(theirs.clone()),
            }
        }
        self.sum += other.sum;
    }
}

/// Stored as its sum and the counts of its non-empty buckets, each under the highest value of the bucket (a
/// shard's share of an analysis, written to a file): read back, every bucket holds what it held.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredDistribution {
    sum: u128,
    buckets: Vec<(u64, u32)>,
}

impl serde::Serialize for Distribution {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let buckets = match &self.histogram {
            Some(h) => h.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect(),
            None => Vec::new(),
        };
        StoredDistribution { sum: self.sum, buckets }.serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for Distribution {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = StoredDistribution::deserialize(deserializer)?;
        let mut distribution = Distribution::default();
        for (value, count) in stored.buckets {
            let histogram = distribution.histogram.get_or_insert_with(|| {
                Box::new(Histogram::new_with_bounds(1, HIGHEST, SIGNIFICANT_DIGITS).expect("valid histogram bounds"))
            });
            histogram
                .record_n(value.clamp(1, HIGHEST), count)
                .map_err(|_| serde::de::Error::custom(format!("a histogram bucket out of range: {value}")))?;
        }
        distribution.sum = stored.sum;
        Ok(distribution)
    }
}

/// `value` to `digits` significant digits.
fn round_significant(value: u64, digits: u32) -> u64 {
    let magnitude = value.checked_ilog10().unwrap_or(0) + 1;
    if magnitude <= digits {
        return value;
    }
    let unit = 10u64.pow(magnitude - digits);
    (value / unit + u64::from(value % unit >= unit / 2)).saturating_mul(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_values_read_round() {
        for value in [1_000u64, 60_000, 30_000, 3_600_000, 7, 250] {
            let mut d = Distribution::default();
            d.record(value);
            assert_eq!(d.quantile(0.5), Some(value));
        }
        assert_eq!(round_significant(1_234_567, 3), 1_230_000);
        assert_eq!(round_significant(999, 3), 999);
        assert_eq!(round_significant(u64::MAX, 3), 18_400_000_000_000_000_000);
    }

    #[test]
    fn quantiles_within_a_few_percent() {
        let mut d = Distribution::default();
        assert_eq!(d.quantile(0.5), None);
        for v in 1..=10_000 {
            d.record(v);
        }
        let p90 = d.quantile(0.9).unwrap() as f64;
        assert!((p90 - 9_000.0).abs() / 9_000.0 < 0.01, "{p90}");
        assert!((d.share_at_most(5_000) - 0.5).abs() < 0.05);
        let mut other = Distribution::default();
        other.record(1_000_000);
        d.merge(&other);
        assert_eq!(d.count(), 10_001);
        assert!(d.max().unwrap() >= 950_000);
    }
}
