//! The corpus of the live anomaly detector: healthy runs with the noise real traffic has (Zipf popularity with
//! the exponents of Twitter's production clusters, a daily swing of the rates, bursts, patterns with little
//! traffic), and the same kind of runs with one fault injected part-way, whose kind, start and pattern are the
//! truth the detector is judged against.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::keys::{IdKind, KeyFormat};
use super::{
    Burst, Fill, Incident, IncidentKind, KeyChoice, MINUTE, RateShape, SECOND, Scenario, UpdateMode, Workload,
};
use crate::model::Policy;
use cachescope_core::Micros;

const HOUR: Micros = 60 * MINUTE;

/// The faults injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// A deploy shortens a pattern's TTL below its re-read time.
    TtlCut,
    /// maxmemory is lowered below the working set: evictions.
    MemoryCut,
    /// A deploy makes readers ask for another key format than the one written.
    KeyFormatChange,
    /// The server restarts empty.
    Restart,
    /// maxmemory is reached under noeviction: writes are refused.
    WritesFail,
    /// FLUSHALL.
    Flush,
}

impl FaultKind {
    pub const ALL: [FaultKind; 6] = [
        FaultKind::TtlCut,
        FaultKind::MemoryCut,
        FaultKind::KeyFormatChange,
        FaultKind::Restart,
        FaultKind::WritesFail,
        FaultKind::Flush,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::TtlCut => "TTL cut",
            FaultKind::MemoryCut => "maxmemory cut",
            FaultKind::KeyFormatChange => "key format changed",
            FaultKind::Restart => "restart",
            FaultKind::WritesFail => "writes refused",
            FaultKind::Flush => "flush",
        }
    }
}

/// A fault and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Injected {
    pub kind: FaultKind,
    pub at: Micros,
    /// The pattern it hits (`*`: the whole cache). For a key format change, the readers' new pattern.
    pub pattern: String,
}

/// A run of the corpus: the scenario, and the fault it injects, if any. Before the fault, the run is healthy.
#[derive(Debug, Clone)]
pub struct DetectionCase {
    pub scenario: Scenario,
    pub fault: Option<Injected>,
}

impl DetectionCase {
    /// Simulated time without a fault.
    pub fn healthy_time(&self) -> Micros {
        self.fault.as_ref().map_or(self.scenario.duration, |f| f.at)
    }
}

/// Zipf exponents of Twitter's production clusters (twitter-2020Mar-cluster-stats.md), the usable ones.
const ZIPF_ALPHAS: [f64; 24] = [
    0.27, 0.30, 0.43, 0.46, 0.63, 0.64, 0.74, 0.76, 0.82, 0.85, 0.86, 0.99, 1.07, 1.10, 1.14, 1.21, 1.23, 1.28, 1.30,
    1.35, 1.37, 1.41, 1.49, 1.60,
];

const WORDS: [&str; 12] =
    ["user", "session", "product", "cart", "feed", "profile", "price", "stock", "token", "page", "geo", "rank"];

/// How much traffic a case carries: 1 is the bench's, tests use less.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// Reads per second of a busy pattern, at most.
    pub busy_rate: f64,
    /// Patterns, at most.
    pub patterns: usize,
}

impl Scale {
    pub const BENCH: Scale = Scale { busy_rate: 150.0, patterns: 10 };
    pub const TEST: Scale = Scale { busy_rate: 40.0, patterns: 5 };
}

/// A healthy workload: TTLs far past the re-read time, or none.
fn workload(rng: &mut SmallRng, index: usize, busy: bool, scale: Scale) -> Workload {
    let keys = rng.random_range(300..8_000u64);
    let rate = if busy { rng.random_range(scale.busy_rate * 0.3..scale.busy_rate) } else { rng.random_range(0.2..3.0) };
    let alpha = ZIPF_ALPHAS[rng.random_range(0..ZIPF_ALPHAS.len())];
    let format = KeyFormat::new(WORDS[index % WORDS.len()], if index % 2 == 0 { IdKind::Num } else { IdKind::Hex(16) });
    let mut workload = Workload::new(format)
        .keys(KeyChoice::Zipf { keys, exponent: alpha })
        .rate(rate)
        .value_bytes(rng.random_range(100..4_000))
        .fill_latency(rng.random_range(2_000..30_000));
    if rng.random_bool(0.6) {
        workload.ttl = Some(rng.random_range(30..240) * MINUTE);
        workload.ttl_jitter = 0.2;
    }
    if rng.random_bool(0.2) {
        workload.updates = Some((rate * rng.random_range(0.02..0.2), UpdateMode::Write));
    }
    workload
}

/// A healthy run of `hours`.
pub fn healthy(seed: u64, hours: u64, scale: Scale) -> DetectionCase {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0xde7e_c710);
    DetectionCase { scenario: base(&mut rng, seed, hours * HOUR, scale), fault: None }
}

fn base(rng: &mut SmallRng, seed: u64, duration: Micros, scale: Scale) -> Scenario {
    let patterns = rng.random_range(3..=scale.patterns.max(3));
    let workloads: Vec<Workload> = (0..patterns)
        .map(|i| {
            let busy = i < 2 || rng.random_bool(0.5);
            workload(rng, i, busy, scale)
        })
        .collect();
    // Room for every key: a healthy cache barely evicts.
    let bytes: u64 = workloads
        .iter()
        .map(|w| match w.choice {
            KeyChoice::Zipf { keys, .. } => keys * (u64::from(w.value_bytes) + 32),
            _ => 0,
        })
        .sum();
    let mut bursts = Vec::new();
    for _ in 0..rng.random_range(0..=(duration / (2 * HOUR)).max(1)) {
        let start = rng.random_range(0..duration);
        bursts.push(Burst { start, length: rng.random_range(1..6) * MINUTE, factor: rng.random_range(1.5..4.0) });
    }
    Scenario {
        name: format!("detection-{seed}"),
        duration,
        record_from: 0,
        cache_capacity: bytes * 2,
        policy: Policy::EXACT_LRU,
        seed,
        workloads,
        incidents: Vec::new(),
        planted: Vec::new(),
        shape: RateShape { diurnal: rng.random_range(0.2..0.6), phase: rng.random_range(0.0..1.0), bursts },
    }
}

/// A run of `minutes` with `kind` injected between 40% and 70% of it, on a busy pattern where it needs one.
pub fn faulted(seed: u64, kind: FaultKind, minutes: u64, scale: Scale) -> DetectionCase {
    let mut rng = SmallRng::seed_from_u64(seed ^ (kind as u64 + 1).wrapping_mul(0x9e37_79b9));
    let duration = minutes * MINUTE;
    let mut scenario = base(&mut rng, seed, duration, scale);
    scenario.name = format!("detection-{seed}-{}", kind.as_str().replace(' ', "-"));
    let at = (duration as f64 * rng.random_range(0.4..0.7)) as Micros;
    // The busiest pattern carries the per-pattern faults: the first two are busy.
    let target = 0;
    let pattern = scenario.workloads[target].pattern();
    let incident = |what| Incident { at, what };
    let injected = match kind {
        FaultKind::TtlCut => {
            // Written on every change (write-through), as sessions and profiles are, so the new TTL reaches the
            // keys soon: the fault shows from when it is deployed, not from when old keys would have expired.
            let w = &mut scenario.workloads[target];
            w.ttl = Some(2 * HOUR);
            w.updates = Some((w.rate * 0.5, UpdateMode::Write));
            w.choice = KeyChoice::Zipf { keys: 500, exponent: 0.6 };
            // A key is read again every `keys / rate` seconds on average: a TTL of a fifth of it expires first.
            let reread = 500.0 / w.rate;
            let ttl = ((reread / 5.0).max(1.0) * SECOND as f64) as Micros;
            scenario.incidents.push(incident(IncidentKind::Deploy { label: "deploy ttl".into() }));
            scenario.incidents.push(incident(IncidentKind::SetTtl { workload: target, ttl: Some(ttl) }));
            Injected { kind, at, pattern }
        }
        FaultKind::MemoryCut => {
            scenario.incidents.push(incident(IncidentKind::SetCapacity { bytes: scenario.cache_capacity / 50 }));
            Injected { kind, at, pattern: "*".into() }
        }
        FaultKind::KeyFormatChange => {
            let w = &mut scenario.workloads[target];
            let reader = w.key.renamed(format!("{}s", WORDS[target]));
            let pattern = reader.pattern();
            w.mismatch = Some(super::Mismatch { reader, share: 0.0 });
            scenario.incidents.push(incident(IncidentKind::Deploy { label: "deploy v2".into() }));
            scenario.incidents.push(incident(IncidentKind::SetMismatch { workload: target, share: 1.0 }));
            Injected { kind, at, pattern }
        }
        FaultKind::Restart => {
            scenario.incidents.push(incident(IncidentKind::Restart));
            Injected { kind, at, pattern: "*".into() }
        }
        FaultKind::WritesFail => {
            scenario.policy = Policy::NoEviction;
            scenario.incidents.push(incident(IncidentKind::SetCapacity { bytes: 1 }));
            Injected { kind, at, pattern: "*".into() }
        }
        FaultKind::Flush => {
            scenario.incidents.push(incident(IncidentKind::Flush { db: 0 }));
            Injected { kind, at, pattern: "*".into() }
        }
    };
    // Fill paths stay healthy: a refused write is the fault, not a value that fails to serialize.
    for w in &mut scenario.workloads {
        w.fill = Fill::SameKey;
    }
    DetectionCase { scenario, fault: Some(injected) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_case() {
        let a = faulted(3, FaultKind::TtlCut, 60, Scale::TEST);
        let b = faulted(3, FaultKind::TtlCut, 60, Scale::TEST);
        assert_eq!(a.fault, b.fault);
        assert_eq!(a.scenario.workloads.len(), b.scenario.workloads.len());
        let fault = a.fault.unwrap();
        assert!(fault.at >= 24 * MINUTE && fault.at <= 42 * MINUTE, "{fault:?}");
        assert_eq!(healthy(3, 2, Scale::TEST).healthy_time(), 2 * HOUR);
    }

    #[test]
    fn the_rates_swing_over_the_day_and_burst() {
        let shape =
            RateShape { diurnal: 0.5, phase: 0.0, bursts: vec![Burst { start: HOUR, length: MINUTE, factor: 3.0 }] };
        assert!((shape.factor(6 * HOUR) - 1.5).abs() < 1e-9);
        assert!((shape.factor(18 * HOUR) - 0.5).abs() < 1e-9);
        assert!(shape.factor(HOUR + SECOND) > 2.9);
    }
}
