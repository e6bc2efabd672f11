//! Redis's sampled policies against their exact counterparts on a Zipf workload: close, with the difference
//! printed (and quoted in BENCHMARKS.md).

use cachescope_sim::model::RedisTuning;
use cachescope_sim::{ModelConfig, Policy, build};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand_distr::{Distribution, Zipf};

const KEYS: u64 = 100_000;
const REQUESTS: usize = 2_000_000;

/// Zipf(0.9) requests over KEYS keys, 2,000 a second: Redis's LRU clock ticks once a second, so many requests
/// share a tick, as on a busy server.
fn workload() -> Vec<(u64, u64)> {
    let mut rng = SmallRng::seed_from_u64(7);
    let zipf = Zipf::new(KEYS as f64, 0.9).unwrap();
    (0..REQUESTS).map(|i| (zipf.sample(&mut rng) as u64 ^ 0x9e37_79b9, i as u64 * 500)).collect()
}

fn hit_ratio(requests: &[(u64, u64)], policy: &str, capacity: u64, samples: u32) -> f64 {
    let mut config = ModelConfig::new(Some(capacity), policy.parse::<Policy>().unwrap()).unit_size(true);
    config.tuning = RedisTuning { samples, ..RedisTuning::default() };
    let mut cache = build(&config);
    let hits = requests.iter().filter(|&&(id, now)| cache.request(id, 1, now)).count();
    hits as f64 / requests.len() as f64
}

fn compare(approximation: &str, exact: &str, samples: u32, bound: f64) -> f64 {
    let requests = workload();
    let mut worst: f64 = 0.0;
    for capacity in [1_000, 5_000, 20_000] {
        let approximated = hit_ratio(&requests, approximation, capacity, samples);
        let exact_ratio = hit_ratio(&requests, exact, capacity, samples);
        let difference = approximated - exact_ratio;
        eprintln!(
            "{approximation} (maxmemory-samples {samples}) vs {exact}, {capacity} of {KEYS} keys: {:.2}% vs {:.2}% ({:+.2} points)",
            100.0 * approximated,
            100.0 * exact_ratio,
            100.0 * difference
        );
        assert!(difference.abs() < bound, "{approximation} vs {exact} at {capacity}: {difference:+.4}");
        worst = worst.max(difference.abs());
    }
    worst
}

#[test]
fn redis_lru_is_close_to_exact_lru() {
    let with_5 = compare("allkeys-lru", "allkeys-lru-exact", 5, 0.03);
    let with_10 = compare("allkeys-lru", "allkeys-lru-exact", 10, 0.02);
    assert!(with_10 <= with_5 + 0.002, "more samples, closer: {with_10} vs {with_5}");
}

#[test]
fn redis_lfu_is_close_to_exact_lfu() {
    compare("allkeys-lfu", "allkeys-lfu-exact", 5, 0.03);
}

#[test]
fn sampled_policies_beat_random() {
    let requests = workload();
    let random = hit_ratio(&requests, "allkeys-random", 5_000, 5);
    let lru = hit_ratio(&requests, "allkeys-lru", 5_000, 5);
    eprintln!("allkeys-random {:.2}%, allkeys-lru {:.2}%", 100.0 * random, 100.0 * lru);
    assert!(lru > random + 0.01);
}
