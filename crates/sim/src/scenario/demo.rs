//! The demo's scenarios: an application doing read-through caching, with classic faults planted each on its
//! own key pattern beside healthy patterns. [`catalog`] lists them.

use cachescope_core::FindingCause;

use super::keys::{IdKind, KeyFormat};
use super::{
    Fill, Incident, IncidentKind, KeyChoice, MINUTE, Planted, RateShape, SECOND, Scenario, UpdateMode, Workload,
};
use crate::model::Policy;
use cachescope_core::Micros;

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

fn format(prefix: &str, id: IdKind) -> KeyFormat {
    KeyFormat::new(prefix, id)
}

fn faults() -> Vec<Fault> {
    vec![
        Fault {
            cause: FindingCause::TtlTooShort,
            description: "sessions live 30s but users come back every minute and a half",
            workload: || {
                Workload::new(format("session", IdKind::Token))
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
                Workload::new(format("img", IdKind::Hex(40)))
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
                Workload::new(format("user", IdKind::Num))
                    .keys(KeyChoice::Zipf { keys: 10_000, exponent: 1.0 })
                    .rate(100.0)
                    .value_bytes(1_024)
                    .ttl(60 * MINUTE)
                    .mismatch(format("user", IdKind::Num).renamed("users"), 1.0)
            },
            flush_db_at: None,
        },
        Fault {
            cause: FindingCause::ColdCache,
            description: "the catalog database is flushed halfway through and must warm up again",
            workload: || {
                Workload::new(format("catalog", IdKind::Num))
                    .db(1)
                    .keys(KeyChoice::Zipf { keys: 6_000, exponent: 0.7 })
                    .rate(300.0)
                    .value_bytes(256)
            },
            flush_db_at: Some((1, 0.5)),
        },
        Fault {
            cause: FindingCause::FailedWrite,
            description: "60% of reports fail to serialize, so their misses are never refilled",
            workload: || {
                Workload::new(format("report", IdKind::Num))
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
                Workload::new(format("feed:home", IdKind::Fixed))
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
                Workload::new(format("search", IdKind::Hex(32)))
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
        Workload::new(format("product", IdKind::Num))
            .keys(KeyChoice::Zipf { keys: 5_000, exponent: 1.0 })
            .rate(400.0)
            .value_bytes(2_048)
            .ttl(60 * MINUTE),
        Workload::new(format("cart", IdKind::Uuid))
            .keys(KeyChoice::Zipf { keys: 1_000, exponent: 0.9 })
            .rate(100.0)
            .value_bytes(1_024)
            .ttl(30 * MINUTE),
        Workload::new(format("geo", IdKind::Ipv4))
            .keys(KeyChoice::Zipf { keys: 500, exponent: 1.0 })
            .rate(80.0)
            .value_bytes(200)
            .ttl(24 * 60 * MINUTE),
    ]
}

/// The scenario called `name` (see [`catalog`]), or None. `staged`: the faults a deploy or an incident causes
/// start part-way, one after the other, as a live run shows them (see [`stage`]); otherwise from the start.
pub(super) fn scenario(name: &str, seed: u64, staged: bool) -> Option<Scenario> {
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
    let mut planted = Vec::new();
    let mut incidents = Vec::new();
    for fault in faults {
        let workload = (fault.workload)();
        let (pattern, related) = match &workload.mismatch {
            Some(mismatch) => (mismatch.reader.pattern(), Some(workload.pattern())),
            None => (workload.pattern(), None),
        };
        planted.push(Planted { cause: fault.cause, pattern, related });
        if let Some((db, at)) = fault.flush_db_at {
            incidents.push(Incident { at: (duration as f64 * at) as u64, what: IncidentKind::Flush { db } });
        }
        workloads.push(workload);
    }
    let mut scenario = Scenario {
        name: name.to_string(),
        duration,
        record_from: 0,
        cache_capacity: 128 << 20,
        policy: Policy::EXACT_LRU,
        seed,
        workloads,
        incidents,
        planted,
        shape: RateShape::default(),
    };
    if staged {
        stage(&mut scenario);
    }
    Some(scenario)
}

/// A timeline for a live run: a healthy start, then, as fractions of the run, `deploy v1.2.3` makes readers of
/// users ask for `users:{id}` (20%), the catalog's database is flushed (40%), `deploy v1.2.4` cuts the session
/// TTL from an hour to 30 s (50%), `deploy v1.2.5` rolls the key format back (65%), and the server restarts
/// (80%). Steady faults (memory, failing writes, stampede, one-hit wonders) run throughout. Faults a scenario
/// does not have are left out.
fn stage(scenario: &mut Scenario) {
    let at = |share: f64| (scenario.duration as f64 * share) as Micros;
    let deploy =
        |share: f64, label: &str| Incident { at: at(share), what: IncidentKind::Deploy { label: label.into() } };
    let mut incidents = Vec::new();
    for (index, workload) in scenario.workloads.iter_mut().enumerate() {
        if let Some(mismatch) = workload.mismatch.as_mut() {
            let share = mismatch.share;
            mismatch.share = 0.0;
            incidents.push(deploy(0.2, "deploy v1.2.3"));
            incidents.push(Incident { at: at(0.2), what: IncidentKind::SetMismatch { workload: index, share } });
            incidents.push(deploy(0.65, "deploy v1.2.5"));
            incidents.push(Incident { at: at(0.65), what: IncidentKind::SetMismatch { workload: index, share: 0.0 } });
        }
        if workload.pattern() == "session:{token}" && workload.ttl.is_some() {
            // Sessions are written on every change (write-through), so a new TTL reaches the keys in minutes.
            let ttl = workload.ttl;
            workload.ttl = Some(60 * MINUTE);
            workload.updates = Some((20.0, UpdateMode::Write));
            incidents.push(deploy(0.5, "deploy v1.2.4"));
            incidents.push(Incident { at: at(0.5), what: IncidentKind::SetTtl { workload: index, ttl } });
        }
    }
    for incident in &mut scenario.incidents {
        if matches!(incident.what, IncidentKind::Flush { .. }) {
            incident.at = at(0.4);
        }
    }
    if scenario.planted.len() > 1 {
        incidents.push(Incident { at: at(0.8), what: IncidentKind::Restart });
    }
    scenario.incidents.extend(incidents);
    scenario.incidents.sort_by_key(|incident| incident.at);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_has_a_scenario_of_its_own() {
        for info in catalog() {
            let scenario = Scenario::named(info.name, 1).expect(info.name);
            assert_eq!(Scenario::staged(info.name, 1).unwrap().planted(), scenario.planted());
            match info.name {
                "all" => assert_eq!(scenario.planted().len(), faults().len()),
                "healthy" => assert!(scenario.planted().is_empty()),
                name => assert_eq!(scenario.planted()[0].cause.as_str(), name),
            }
        }
        assert!(Scenario::named("nope", 1).is_none());
    }
}
