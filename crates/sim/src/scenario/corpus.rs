//! A seeded corpus of varied scenarios, for measuring how right the diagnosis is: each seed gives one
//! application (3 to 15 key patterns with their own popularity, sizes, TTLs, read and write mixes and rates)
//! against one server, with 0 to 3 faults planted per pattern, often several on one pattern, some starting
//! part-way, and healthy patterns placed near the thresholds. Recordings last from 30 seconds to hours, and half
//! of them join a cache that was already running.
//!
//! Ranges follow the production caches described by Yang, Yue and Rashmi, "A large scale analysis of hundreds of
//! in-memory cache clusters at Twitter" (OSDI 2020; per-cluster figures in Twitter's `cache-trace` repository,
//! `stat/2020Mar.md`): values from tens of bytes to tens of kilobytes (log-uniform, most of a few hundred bytes),
//! Zipf popularity with exponents mostly between 0.6 and 1.4, TTLs from seconds to days, reads outnumbering
//! writes, a few clusters mostly writing.
//!
//! [`generate`] is a pure function of the seed: a case that fails is replayed from its seed alone. What was
//! planted is in [`Scenario::planted`]; what it caused, miss by miss, comes from running the scenario.

use cachescope_core::{FindingCause, Micros};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::keys::{IdKind, KeyFormat};
use super::{
    Fill, Incident, IncidentKind, KeyChoice, MINUTE, Planted, RateShape, SECOND, Scenario, UpdateMode, Workload,
};
use crate::model::Policy;

/// Words applications name their keys with.
const WORDS: [&str; 48] = [
    "user", "session", "cart", "product", "order", "feed", "profile", "price", "stock", "review", "comment", "post",
    "page", "report", "config", "flag", "geo", "quote", "invoice", "payment", "ticket", "job", "notif", "msg", "chat",
    "friend", "follow", "like", "tag", "category", "brand", "store", "coupon", "promo", "banner", "campaign", "metric",
    "score", "rank", "badge", "device", "route", "ride", "driver", "thumb", "search", "token", "weather",
];

/// How long the recording lasts, and how often each length is drawn.
const DURATIONS: [(Micros, u32); 7] = [
    (30 * SECOND, 2),
    (2 * MINUTE, 2),
    (10 * MINUTE, 3),
    (30 * MINUTE, 3),
    (60 * MINUTE, 2),
    (3 * 60 * MINUTE, 1),
    (6 * 60 * MINUTE, 1),
];

/// A pattern being put together.
struct Draft {
    workload: Workload,
    /// The mean time between two reads of one of its keys: what TTLs are measured against.
    reread: f64,
}

/// The scenario of `seed`.
pub fn generate(seed: u64) -> Scenario {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x00c0_ffee);
    let duration = pick_weighted(&mut rng, &DURATIONS);
    let warm_start = rng.random_bool(0.5);
    let warmup = if warm_start { duration.min(30 * MINUTE) } else { 0 };
    let total = warmup + duration;
    let seconds = total as f64 / SECOND as f64;
    // Reads in all: enough to say something, few enough to simulate in a second or two.
    let budget = rng.random_range(150_000.0..900_000.0);
    let total_rate = budget / seconds;

    let count = rng.random_range(3..=15usize);
    let mut words = WORDS.to_vec();
    words.shuffle(&mut rng);
    let weights: Vec<f64> = (0..count).map(|_| rng.random_range(0.15f64..1.0).powi(2)).collect();
    let weight_sum: f64 = weights.iter().sum();

    let mut drafts: Vec<Draft> = Vec::new();
    let mut planted = Vec::new();
    let mut incidents = Vec::new();
    for (index, weight) in weights.iter().enumerate() {
        let rate = (total_rate * weight / weight_sum).max(0.5);
        drafts.push(healthy_pattern(&mut rng, words[index], rate, seconds));
    }

    // Faults on patterns: 0 to 3 each.
    let window = Window { from: warmup, duration, total_rate };
    for (index, draft) in drafts.iter_mut().enumerate() {
        let faults = match rng.random_range(0..100) {
            0..45 => 0,
            45..75 => 1,
            75..92 => 2,
            _ => 3,
        };
        let mut kinds = [Fault::Ttl, Fault::Mismatch, Fault::Fill, Fault::Stampede, Fault::OneHit, Fault::Flush];
        kinds.shuffle(&mut rng);
        for kind in kinds.into_iter().take(faults) {
            if let Some(fault) = plant(&mut rng, kind, faults, index, draft, &window, &mut incidents) {
                planted.push(fault);
            }
        }
    }

    // The server: memory for the working set or less, and now and then a restart.
    let working_set = drafts.iter().map(|d| d.working_set(seconds)).sum::<f64>().max(64.0 * 1024.0);
    let pressure = rng.random_bool(0.35);
    let capacity = if pressure {
        working_set * rng.random_range(0.2..0.8)
    } else if rng.random_bool(0.3) {
        // Near the threshold: a little eviction, or none.
        working_set * rng.random_range(0.9..1.3)
    } else {
        working_set * rng.random_range(1.5..4.0)
    };
    let refuses = !pressure && rng.random_bool(0.06);
    let policy = if refuses { Policy::NoEviction } else { Policy::EXACT_LRU };
    let capacity = if refuses { working_set * rng.random_range(0.3..0.7) } else { capacity };
    let workloads: Vec<Workload> = drafts.into_iter().map(|d| d.workload).collect();
    let every_pattern = |cause: FindingCause, planted: &mut Vec<Planted>| {
        for workload in &workloads {
            if workload.rate > 0.0 && !planted.iter().any(|p| p.cause == cause && p.pattern == workload.pattern()) {
                planted.push(Planted { cause, pattern: workload.pattern(), related: None });
            }
        }
    };
    if pressure {
        every_pattern(FindingCause::MemoryPressure, &mut planted);
    }
    if refuses {
        every_pattern(FindingCause::FailedWrite, &mut planted);
    }
    if rng.random_bool(0.2) {
        incidents.push(Incident { at: window.part_way(&mut rng), what: IncidentKind::Restart });
        every_pattern(FindingCause::ColdCache, &mut planted);
    }
    incidents.sort_by_key(|i| i.at);

    Scenario {
        name: format!("corpus-{seed}"),
        duration: total,
        record_from: warmup,
        cache_capacity: capacity as u64,
        policy,
        seed,
        workloads,
        incidents,
        planted,
        shape: RateShape::default(),
    }
}

/// The faults a pattern can have.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Ttl,
    Mismatch,
    Fill,
    Stampede,
    OneHit,
    Flush,
}

/// The recorded part of a scenario.
struct Window {
    from: Micros,
    duration: Micros,
    /// Reads per second of all patterns.
    total_rate: f64,
}

impl Window {
    /// A time part-way through the recording, for a fault that starts there.
    fn part_way(&self, rng: &mut SmallRng) -> Micros {
        self.from + (self.duration as f64 * rng.random_range(0.2..0.7)) as Micros
    }
}

/// Plants `kind` on the pattern `draft` (the `index`-th workload, with `faults` faults in all), when it suits it.
fn plant(
    rng: &mut SmallRng,
    kind: Fault,
    faults: usize,
    index: usize,
    draft: &mut Draft,
    window: &Window,
    incidents: &mut Vec<Incident>,
) -> Option<Planted> {
    let pattern = draft.workload.pattern();
    let planted = |cause| Some(Planted { cause, pattern: pattern.clone(), related: None });
    // A setting changed part-way, by a deploy (marked or not), or there from the start.
    let mut change = |rng: &mut SmallRng, what: IncidentKind| -> bool {
        if !rng.random_bool(0.3) {
            return false;
        }
        let at = window.part_way(rng);
        if rng.random_bool(0.5) {
            let label = format!("v1.{}.{}", rng.random_range(0..40), rng.random_range(0..10));
            incidents.push(Incident { at, what: IncidentKind::Deploy { label } });
        }
        incidents.push(Incident { at, what });
        true
    };
    match kind {
        Fault::Ttl if !matches!(draft.workload.choice, KeyChoice::Fresh | KeyChoice::One) => {
            let ttl = seconds_to_micros((draft.reread * rng.random_range(0.05..0.5)).max(1.0));
            if !change(rng, IncidentKind::SetTtl { workload: index, ttl: Some(ttl) }) {
                draft.workload.ttl = Some(ttl);
            }
            planted(FindingCause::TtlTooShort)
        }
        Fault::Mismatch if draft.workload.choice_reads_ids() => {
            let reader = mismatched_format(rng, &draft.workload.key);
            let share = if rng.random_bool(0.3) { 1.0 } else { rng.random_range(0.1..0.9) };
            let later = change(rng, IncidentKind::SetMismatch { workload: index, share });
            draft.workload = draft.workload.clone().mismatch(reader.clone(), if later { 0.0 } else { share });
            Some(Planted { cause: FindingCause::KeyMismatch, pattern: reader.pattern(), related: Some(pattern) })
        }
        Fault::Fill if draft.workload.choice_reads_ids() => {
            let fill = Fill::FailsFor(rng.random_range(0.15..0.9));
            if !change(rng, IncidentKind::SetFill { workload: index, fill }) {
                draft.workload.fill = fill;
            }
            planted(FindingCause::FailedWrite)
        }
        Fault::Stampede if faults == 1 => {
            // A hot key that expires often and takes long to compute: every client refills it at once.
            let format = KeyFormat::new(format!("{}:home", draft.workload.key.prefix), IdKind::Fixed);
            draft.workload = Workload::new(format.clone())
                .keys(KeyChoice::One)
                .rate(rng.random_range(40.0..300.0f64).min(window.total_rate))
                .value_bytes(value_bytes(rng))
                .ttl(seconds_to_micros(rng.random_range(5.0..60.0)))
                .fill_latency(rng.random_range(150_000..600_000));
            draft.reread = 0.0;
            Some(Planted { cause: FindingCause::Stampede, pattern: format.pattern(), related: None })
        }
        Fault::OneHit if faults == 1 => {
            draft.workload.choice = KeyChoice::Fresh;
            draft.workload.updates = None;
            draft.workload.ttl = Some(seconds_to_micros(rng.random_range(60.0..3_600.0)));
            planted(FindingCause::OneHitWonder)
        }
        Fault::Flush => {
            let db = rng.random_range(1..=3);
            draft.workload.db = db;
            if !incidents.iter().any(|i| matches!(i.what, IncidentKind::Flush { db: d } if d == db)) {
                incidents.push(Incident { at: window.part_way(rng), what: IncidentKind::Flush { db } });
            }
            planted(FindingCause::ColdCache)
        }
        _ => None,
    }
}

/// A pattern with nothing wrong, some of them close to a threshold.
fn healthy_pattern(rng: &mut SmallRng, word: &str, rate: f64, seconds: f64) -> Draft {
    let id = match rng.random_range(0..100) {
        0..40 => IdKind::Num,
        40..55 => IdKind::Uuid,
        55..70 => IdKind::Token,
        70..85 => IdKind::Hex(if rng.random_bool(0.5) { 32 } else { 40 }),
        _ => IdKind::Ipv4,
    };
    let reads = rate * seconds;
    // Keys: from a hundred to a few hundred thousand, read a few times to thousands of times each.
    let keys = (reads / rng.random_range(2.0f64..200.0)).clamp(50.0, 300_000.0) as u64;
    let choice = match rng.random_range(0..100) {
        0..65 => KeyChoice::Zipf { keys, exponent: rng.random_range(0.6..1.4) },
        65..80 => KeyChoice::Uniform { keys },
        _ => {
            // Sessions: each comes back about every interval.
            let interval = seconds_to_micros((keys as f64 / rate).clamp(1.0, seconds / 2.0));
            KeyChoice::Periodic { keys, interval }
        }
    };
    let per_key_rate = match choice {
        KeyChoice::Periodic { keys, interval } => {
            let _ = keys;
            1.0 / (interval as f64 / SECOND as f64)
        }
        _ => rate / keys as f64,
    };
    let reread = 1.0 / per_key_rate;
    let mut workload = Workload::new(KeyFormat::new(word, id))
        .keys(choice)
        .rate(rate)
        .value_bytes(value_bytes(rng))
        .fill_latency(rng.random_range(2_000..50_000));
    // TTLs well past the re-read time, or none; some close to it (a few expirations).
    match rng.random_range(0..100) {
        0..25 => {}
        25..75 => workload.ttl = Some(seconds_to_micros((reread * rng.random_range(8.0..50.0)).max(60.0))),
        _ => workload.ttl = Some(seconds_to_micros((reread * rng.random_range(1.5..4.0)).max(2.0))),
    }
    match rng.random_range(0..100) {
        0..15 => workload.updates = Some((rate * rng.random_range(0.02..0.3), UpdateMode::Write)),
        15..25 => workload.updates = Some((rate * rng.random_range(0.01..0.1), UpdateMode::Invalidate)),
        _ => {}
    }
    if rng.random_bool(0.08) {
        // A few values that do not serialize: errors, but not a broken fill path.
        workload.fill = Fill::FailsFor(rng.random_range(0.002..0.02));
    }
    Draft { workload, reread }
}

impl Draft {
    /// Bytes of the keys the pattern is likely to touch over the run and keep (rough: for sizing the server).
    fn working_set(&self, seconds: f64) -> f64 {
        let w = &self.workload;
        let key_bytes = w.key.key(1).len() as f64;
        let object = key_bytes + f64::from(w.value_bytes);
        let reads = w.rate * seconds;
        let touched = match w.choice {
            KeyChoice::Zipf { keys, .. } | KeyChoice::Uniform { keys } | KeyChoice::Periodic { keys, .. } => {
                let keys = keys as f64;
                keys * (1.0 - (-reads / keys).exp())
            }
            KeyChoice::One => 1.0,
            KeyChoice::Fresh => {
                let ttl = w.ttl.map_or(seconds, |t| t as f64 / SECOND as f64).min(seconds);
                w.rate * ttl
            }
        };
        touched * object
    }
}

impl Workload {
    /// Whether reads pick among ids (so that a mismatch or a fill failure affects some ids and not others).
    fn choice_reads_ids(&self) -> bool {
        !matches!(self.choice, KeyChoice::One | KeyChoice::Fresh)
    }
}

/// Another way to write `format`'s keys, as a second code path would: a plural, a namespace, a version.
fn mismatched_format(rng: &mut SmallRng, format: &KeyFormat) -> KeyFormat {
    let prefix = &format.prefix;
    let other = match rng.random_range(0..3) {
        0 => format!("{prefix}s"),
        1 => format!("app:{prefix}"),
        _ => format!("{prefix}:v2"),
    };
    format.renamed(other)
}

fn value_bytes(rng: &mut SmallRng) -> u32 {
    rng.random_range(20f64.ln()..20_000f64.ln()).exp() as u32
}

fn seconds_to_micros(seconds: f64) -> Micros {
    (seconds * SECOND as f64) as Micros
}

fn pick_weighted<T: Copy>(rng: &mut SmallRng, choices: &[(T, u32)]) -> T {
    let total: u32 = choices.iter().map(|(_, w)| w).sum();
    let mut draw = rng.random_range(0..total);
    for &(value, weight) in choices {
        if draw < weight {
            return value;
        }
        draw -= weight;
    }
    choices[choices.len() - 1].0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_scenario() {
        for seed in 0..50 {
            let (a, b) = (generate(seed), generate(seed));
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "seed {seed}");
        }
        assert_ne!(format!("{:?}", generate(1)), format!("{:?}", generate(2)));
    }

    #[test]
    fn the_corpus_is_varied() {
        let scenarios: Vec<Scenario> = (0..300).map(generate).collect();
        let faults_on_one_pattern = scenarios
            .iter()
            .filter(|s| s.workloads.iter().any(|w| s.planted.iter().filter(|p| p.pattern == w.pattern()).count() >= 2))
            .count();
        assert!(faults_on_one_pattern >= 60, "{faults_on_one_pattern} scenarios with several faults on a pattern");
        // Every cause the corpus plants: all but low_hit_ratio and the doctor's eviction_policy.
        for &cause in &FindingCause::ALL[..7] {
            let with = scenarios.iter().filter(|s| s.planted.iter().any(|p| p.cause == cause)).count();
            assert!(with >= 15, "{cause:?} planted in {with} scenarios");
        }
        assert!(scenarios.iter().any(|s| s.duration - s.record_from <= 30 * SECOND && s.record_from > 0));
        assert!(scenarios.iter().any(|s| s.duration >= 3 * 60 * MINUTE));
        assert!(scenarios.iter().all(|s| (3..=15).contains(&s.workloads.len())));
    }
}
