//! The demo's scenarios: an application doing read-through caching against the built-in cache model, with
//! classic faults planted each on its own key pattern beside healthy patterns.
//!
//! [`catalog`] lists them; [`Scenario::named`] builds one; [`Scenario::run`] produces its events in time order.
//! Each scenario states what it plants ([`Scenario::planted`]) so that tests can check the engine finds exactly
//! that.

mod app;
pub mod keys;

use cachescope_core::{FindingCause, Micros};

pub use app::{Fill, KeyChoice, Workload};

const SECOND: Micros = 1_000_000;
const MINUTE: Micros = 60 * SECOND;

/// One entry of the demo's menu.
#[derive(Debug, Clone, Copy)]
pub struct ScenarioInfo {
    pub name: &'static str,
    pub description: &'static str,
}

pub fn catalog() -> Vec<ScenarioInfo> {
    let mut list = vec![
        ScenarioInfo { name: "all", description: "every fault below at once, beside healthy patterns (the default)" },
        ScenarioInfo { name: "healthy", description: "healthy patterns only: nothing to find" },
    ];
    list.extend(faults().into_iter().map(|f| ScenarioInfo { name: f.cause.as_str(), description: f.description }));
    list
}

/// A fault planted on its own pattern.
struct Fault {
    cause: FindingCause,
    description: &'static str,
    workload: fn() -> Workload,
    /// Where the fault needs a flush, when it needs one.
    flush_db_at: Option<(u32, f64)>,
}

fn faults() -> Vec<Fault> {
    vec![
        Fault {
            cause: FindingCause::TtlTooShort,
            description: "sessions live 30s but users come back every minute and a half",
            workload: || {
                Workload::new("session:{token}", |id| keys::token("session", id))
                    .keys(KeyChoice::Periodic { keys: 3_000, interval: 90 * SECOND })
                    .value_bytes(1_024)
                    .ttl(30 * SECOND)
            },
            flush_db_at: None,
        },
        Fault {
            cause: FindingCause::MemoryPressure,
            description: "large image thumbnails whose working set is more than twice the cache",
            workload: || {
                Workload::new("img:{hex}", |id| keys::hex("img", id, 40))
                    .keys(KeyChoice::Uniform { keys: 10_000 })
                    .rate(20.0)
                    .value_bytes(32 * 1_024)
                    .ttl(60 * MINUTE)
            },
            flush_db_at: None,
        },
        Fault {
            cause: FindingCause::KeyMismatch,
            description: "readers ask for users:{id} while the fill path writes user:{id}",
            workload: || {
                Workload::new("users:{num}", |id| keys::num("users", id))
                    .keys(KeyChoice::Zipf { keys: 10_000, exponent: 1.0 })
                    .rate(100.0)
                    .value_bytes(1_024)
                    .ttl(60 * MINUTE)
                    .fill(Fill::OtherKey("user:{num}", |id| keys::num("user", id)))
            },
            flush_db_at: None,
        },
        Fault {
            cause: FindingCause::ColdCache,
            description: "the catalog database is flushed halfway through and must warm up again",
            workload: || {
                Workload::new("catalog:{num}", |id| keys::num("catalog", id))
                    .db(1)
                    .keys(KeyChoice::Zipf { keys: 3_000, exponent: 1.0 })
                    .rate(300.0)
                    .value_bytes(1_024)
            },
            flush_db_at: Some((1, 0.5)),
        },
        Fault {
            cause: FindingCause::FailedWrite,
            description: "60% of reports fail to serialize, so their misses are never refilled",
            workload: || {
                Workload::new("report:{num}", |id| keys::num("report", id))
                    .keys(KeyChoice::Zipf { keys: 2_000, exponent: 1.0 })
                    .rate(60.0)
                    .value_bytes(4_096)
                    .ttl(60 * MINUTE)
                    .fill(Fill::FailsFor(0.6))
            },
            flush_db_at: None,
        },
        Fault {
            cause: FindingCause::Stampede,
            description: "a hot key expires every 10s and every client refills it at once",
            workload: || {
                Workload::new("feed:home", |_| "feed:home".to_string())
                    .keys(KeyChoice::One)
                    .rate(200.0)
                    .value_bytes(8_192)
                    .ttl(10 * SECOND)
                    .fill_latency(300_000)
            },
            flush_db_at: None,
        },
        Fault {
            cause: FindingCause::OneHitWonder,
            description: "search results cached per query, but queries never repeat",
            workload: || {
                Workload::new("search:{hex}", |id| keys::hex("search", id, 32))
                    .keys(KeyChoice::Fresh)
                    .rate(40.0)
                    .value_bytes(4_096)
                    .ttl(10 * MINUTE)
            },
            flush_db_at: None,
        },
    ]
}

fn healthy() -> Vec<Workload> {
    vec![
        Workload::new("product:{num}", |id| keys::num("product", id))
            .keys(KeyChoice::Zipf { keys: 5_000, exponent: 1.0 })
            .rate(400.0)
            .value_bytes(2_048)
            .ttl(60 * MINUTE),
        Workload::new("cart:{uuid}", |id| keys::uuid("cart", id))
            .keys(KeyChoice::Zipf { keys: 1_000, exponent: 0.9 })
            .rate(100.0)
            .value_bytes(1_024)
            .ttl(30 * MINUTE),
        Workload::new("geo:{ip}", |id| keys::ipv4("geo", id))
            .keys(KeyChoice::Zipf { keys: 500, exponent: 1.0 })
            .rate(80.0)
            .value_bytes(200)
            .ttl(24 * 60 * MINUTE),
    ]
}

/// A runnable scenario.
pub struct Scenario {
    pub name: String,
    pub duration: Micros,
    /// Bytes of keys and values the cache model holds.
    pub cache_capacity: u64,
    pub seed: u64,
    workloads: Vec<Workload>,
    planted: Vec<(FindingCause, &'static str)>,
    healthy: Vec<&'static str>,
    flushes: Vec<(u32, Micros)>,
}

impl Scenario {
    /// The scenario called `name` (see [`catalog`]), or None.
    pub fn named(name: &str, seed: u64) -> Option<Scenario> {
        let duration = 30 * MINUTE;
        let faults: Vec<Fault> = match name {
            "all" => faults(),
            "healthy" => Vec::new(),
            _ => faults().into_iter().filter(|f| f.cause.as_str() == name).collect(),
        };
        if faults.is_empty() && name != "healthy" {
            return None;
        }
        let mut workloads = healthy();
        let healthy = workloads.iter().map(|w| w.pattern).collect();
        let mut planted = Vec::new();
        let mut flushes = Vec::new();
        for fault in faults {
            let workload = (fault.workload)();
            planted.push((fault.cause, workload.pattern));
            if let Some((db, at)) = fault.flush_db_at {
                flushes.push((db, (duration as f64 * at) as Micros));
            }
            workloads.push(workload);
        }
        Some(Scenario {
            name: name.to_string(),
            duration,
            cache_capacity: 128 << 20,
            seed,
            workloads,
            planted,
            healthy,
            flushes,
        })
    }

    /// The faults planted, each with the pattern it is planted on.
    pub fn planted(&self) -> &[(FindingCause, &'static str)] {
        &self.planted
    }

    /// Patterns with nothing wrong: no finding should name them.
    pub fn healthy_patterns(&self) -> &[&'static str] {
        &self.healthy
    }

    /// Other patterns a fault involves (the writer's side of a key mismatch).
    pub fn related_patterns(&self) -> Vec<&'static str> {
        self.workloads
            .iter()
            .filter_map(|w| match w.fill {
                Fill::OtherKey(pattern, _) => Some(pattern),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_has_a_scenario_of_its_own() {
        for info in catalog() {
            let scenario = Scenario::named(info.name, 1).expect(info.name);
            match info.name {
                "all" => assert_eq!(scenario.planted().len(), faults().len()),
                "healthy" => assert!(scenario.planted().is_empty()),
                name => assert_eq!(scenario.planted()[0].0.as_str(), name),
            }
        }
        assert!(Scenario::named("nope", 1).is_none());
    }
}
