//! Counts per time bucket. All timelines of an engine share one origin and one bucket width; when the trace
//! outgrows [`MAX_BUCKETS`] the engine doubles the width and every timeline merges its buckets in pairs, so a
//! timeline has a bounded size whatever the length of the trace.

use serde::{Deserialize, Serialize};

pub const MAX_BUCKETS: usize = 120;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineBucket {
    pub reads: u64,
    pub hits: u64,
    pub misses: u64,
    pub writes: u64,
}

impl TimelineBucket {
    fn add(&mut self, other: &TimelineBucket) {
        self.reads += other.reads;
        self.hits += other.hits;
        self.misses += other.misses;
        self.writes += other.writes;
    }

    pub fn miss_ratio(&self) -> Option<f64> {
        (self.hits + self.misses > 0).then(|| self.misses as f64 / (self.hits + self.misses) as f64)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timeline {
    buckets: Vec<TimelineBucket>,
}

impl Timeline {
    #[inline]
    pub fn bucket_mut(&mut self, index: usize) -> &mut TimelineBucket {
        if index >= self.buckets.len() {
            self.buckets.resize(index + 1, TimelineBucket::default());
        }
        &mut self.buckets[index]
    }

    /// Merges buckets in pairs: the width has doubled.
    pub fn halve(&mut self) {
        let merged = self
            .buckets
            .chunks(2)
            .map(|pair| {
                let mut bucket = pair[0];
                if let Some(second) = pair.get(1) {
                    bucket.add(second);
                }
                bucket
            })
            .collect();
        self.buckets = merged;
    }

    pub fn merge(&mut self, other: &Timeline) {
        for (index, bucket) in other.buckets.iter().enumerate() {
            self.bucket_mut(index).add(bucket);
        }
    }

    pub fn buckets(&self) -> &[TimelineBucket] {
        &self.buckets
    }
}
