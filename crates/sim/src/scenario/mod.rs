//! Simulated applications against a simulated server, with faults planted: the demo's scenarios
//! ([`demo`]) and a seeded corpus of varied ones for measuring accuracy ([`corpus`]).
//!
//! A [`Scenario`] is workloads (key formats read and written by an application), a server (a cache model of
//! some capacity and policy) and incidents (flushes, restarts, deploys, a TTL or fill path changed part-way).
//! [`Scenario::run`] produces its events in time order, each read miss with its true cause from the server
//! itself ([`truth`]); [`Scenario::planted`] says which faults were planted on which patterns, so that tests and
//! measurements can check what the engine finds. The engine never sees either.

mod app;
pub mod corpus;
pub mod demo;
pub mod detection;
pub mod keys;
pub mod truth;

use cachescope_core::{FindingCause, Micros};

use crate::model::Policy;

pub use app::{Fill, KeyChoice, Mismatch, Simulated, SimulatedMiss, UpdateMode, Workload};
pub use demo::{ScenarioInfo, catalog};
pub use keys::{IdKind, KeyFormat};
pub use truth::MissTruth;

pub(crate) const SECOND: Micros = 1_000_000;
pub(crate) const MINUTE: Micros = 60 * SECOND;

/// A fault planted on a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planted {
    pub cause: FindingCause,
    pub pattern: String,
    /// The other pattern it involves (the writer's side of a key mismatch).
    pub related: Option<String>,
}

/// Something that happens at a point of a scenario.
#[derive(Debug, Clone)]
pub struct Incident {
    pub at: Micros,
    pub what: IncidentKind,
}

#[derive(Debug, Clone)]
pub enum IncidentKind {
    /// FLUSHDB of one database.
    Flush { db: u32 },
    /// The server restarts empty.
    Restart,
    /// A deploy marker with its label.
    Deploy { label: String },
    /// A workload's TTL changes (a deploy with a new setting).
    SetTtl { workload: usize, ttl: Option<Micros> },
    /// A workload's fill path changes.
    SetFill { workload: usize, fill: Fill },
    /// The share of a workload's clients reading the mismatched key format changes.
    SetMismatch { workload: usize, share: f64 },
    /// The server's memory limit changes (`CONFIG SET maxmemory`): it evicts down to it on the next writes.
    SetCapacity { bytes: u64 },
}

/// How the request rates move over time, the same for every workload: a daily swing and bursts.
#[derive(Debug, Clone, Default)]
pub struct RateShape {
    /// The rate swings between (1 - diurnal) and (1 + diurnal) times its mean over 24 hours (0: flat).
    pub diurnal: f64,
    /// The phase of the swing at time 0, as a fraction of a day.
    pub phase: f64,
    /// Bursts: from `start`, for `length`, the rate is `factor` times what it would be.
    pub bursts: Vec<Burst>,
}

#[derive(Debug, Clone, Copy)]
pub struct Burst {
    pub start: Micros,
    pub length: Micros,
    pub factor: f64,
}

impl RateShape {
    /// What the rates are multiplied by at `time`.
    pub fn factor(&self, time: Micros) -> f64 {
        let day = 86_400.0 * 1e6;
        let angle = std::f64::consts::TAU * (time as f64 / day + self.phase);
        let mut factor = 1.0 + self.diurnal * angle.sin();
        for burst in &self.bursts {
            if time >= burst.start && time < burst.start + burst.length {
                factor *= burst.factor;
            }
        }
        factor.max(0.01)
    }
}

/// A runnable scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub duration: Micros,
    /// Events before this time happen but are not recorded: a source joining a running cache. 0: recorded from
    /// the start, the cache empty.
    pub record_from: Micros,
    /// Bytes of keys and values the server holds.
    pub cache_capacity: u64,
    pub policy: Policy,
    pub seed: u64,
    pub workloads: Vec<Workload>,
    pub incidents: Vec<Incident>,
    pub planted: Vec<Planted>,
    /// How the rates move over time (flat by default).
    pub shape: RateShape,
}

impl Scenario {
    /// The scenario of the demo called `name` (see [`catalog`]), or None.
    pub fn named(name: &str, seed: u64) -> Option<Scenario> {
        demo::scenario(name, seed, false)
    }

    /// The same scenario with its faults starting part-way, one after the other, as a live run shows them.
    pub fn staged(name: &str, seed: u64) -> Option<Scenario> {
        demo::scenario(name, seed, true)
    }

    /// The faults planted, each with the pattern it is planted on.
    pub fn planted(&self) -> &[Planted] {
        &self.planted
    }

    /// Patterns with nothing planted: no finding should name them.
    pub fn healthy_patterns(&self) -> Vec<String> {
        self.patterns()
            .into_iter()
            .filter(|p| !self.planted.iter().any(|f| f.pattern == *p || f.related.as_ref() == Some(p)))
            .collect()
    }

    /// Every pattern the scenario's keys fold to: written formats, and mismatched readers' formats.
    pub fn patterns(&self) -> Vec<String> {
        let mut patterns = Vec::new();
        for workload in &self.workloads {
            patterns.push(workload.pattern());
            if let Some(mismatch) = &workload.mismatch {
                patterns.push(mismatch.reader.pattern());
            }
        }
        patterns.dedup();
        patterns
    }

    /// Other patterns a fault involves (the writer's side of a key mismatch).
    pub fn related_patterns(&self) -> Vec<String> {
        self.planted.iter().filter_map(|p| p.related.clone()).collect()
    }
}
