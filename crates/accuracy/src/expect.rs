//! What a scenario's findings must be, from what the simulator knows happened (never from the engine).
//!
//! A planted fault is only worth a finding when it did enough harm. For each finding cause, a pattern's truth
//! says how many misses the fault explains (E), and the fault is:
//! - **material** (a finding must name it) when E ≥ 30 misses, E ≥ 5% of the pattern's misses and E ≥ 1% of all
//!   misses (the report leads with what matters), and, for the causes that are a steady cost of running a cache
//!   (expirations, evictions), E ≥ 2% of the pattern's reads (one miss in fifty reads or fewer is what a TTL set
//!   for freshness or a rare eviction costs, not something to fix; a flush, a restart or a bug is judged without
//!   it: a restart costs its misses once, in a burst);
//! - **negligible** (a finding would be wrong) when E < 10, or below a quarter of any of those shares;
//! - in between, either answer is accepted: a fault on the edge is neither missed nor invented.
//!
//! What E counts, by cause:
//! - `ttl_too_short`: misses the server says were expirations, but for those piled on a refill already under
//!   way (a TTL explains the first miss after an expiry; the others are a stampede's); `memory_pressure`:
//!   evictions; `cold_cache`:
//!   keys flushed or emptied by a restart (each counted only when the recording holds what explains it, see
//!   [`cachescope_sim::scenario::MissTruth`]);
//! - `key_mismatch`: misses of clients reading a key format nobody writes (on the reader's pattern);
//! - `failed_write`: misses of keys whose fill fails, and misses of keys whose write the server refused (not
//!   counting the misses of mismatched clients, which the mismatch explains); through a model that presumes held
//!   what a recording of a running cache reads before writing it, only the misses the requests can show: of a
//!   key written (or refused) earlier in the recording, or unwritten for longer than its TTL (a key read again
//!   and again, never written, with no TTL, is what a cache that held it all along shows too: those misses make
//!   the fault on the edge at most); or, by themselves, the writes the
//!   server refused (material at 30 or more, 5% of the pattern's write attempts and 1% of all of them: a server
//!   refusing writes is worth a finding even for keys nobody reads again);
//! - `stampede`: misses of a key while the refill of an earlier miss had not landed; material when at least
//!   three times five or more misses piled up on one key and E ≥ 30 (a stampede hurts the backend even when it
//!   is a small share of the misses), negligible with no such burst or E < 10;
//! - `one_hit_wonder`: writes whose key was never requested again (no read, hit or miss, before the next write
//!   or the end: a key that expired before its next read is a TTL's problem, not a one-hit wonder); material
//!   when at least 90% of the pattern's writes (at least 200, and 1% of all writes) were never requested again,
//!   negligible under 50%; never expected of the writer of a key mismatch, whose writes are unread because the
//!   readers look elsewhere (stopping caching it would be the wrong fix).
//!
//! A `low_hit_ratio` finding is right on a pattern with a material fault, wrong on one with none (a healthy
//! pattern), and accepted otherwise.

use std::collections::{BTreeMap, HashMap};

use cachescope_core::{Command, Event, FindingCause, Micros, MissCause, Outcome};
use cachescope_sim::scenario::{Scenario, Simulated};

/// Where a (cause, pattern) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    Material,
    Either,
    Negligible,
}

/// The causes a finding can have in the corpus: all but the doctor's `eviction_policy`.
pub const CAUSES: &[FindingCause] = FindingCause::ALL.as_slice().split_at(8).0;

/// The sharp causes: all of those but `low_hit_ratio`, which is right where one of them is material.
const SHARP: &[FindingCause] = FindingCause::ALL.as_slice().split_at(7).0;

/// One pattern's truth.
#[derive(Debug, Default, Clone)]
pub struct PatternTruth {
    pub reads: u64,
    pub misses: u64,
    /// Explainable misses by their true cause.
    pub causes: [u64; MissCause::ALL.len()],
    /// Explainable expirations that were not piled on a refill under way (those are the stampede's).
    pub expired_first: u64,
    pub mismatched_misses: u64,
    pub failed_fill_misses: u64,
    /// Of those, the misses a model presuming held what was never written cannot tell from hits.
    pub failed_fill_hidden: u64,
    pub piled_up_misses: u64,
    /// Runs of five or more misses piled on one key.
    pub bursts: u64,
    pub writes: u64,
    /// Writes the server refused.
    pub refused_writes: u64,
    pub unread_writes: u64,
}

/// A scenario's truth, pattern by pattern, gathered while it runs.
#[derive(Debug, Default)]
pub struct Truth {
    pub patterns: BTreeMap<String, PatternTruth>,
    keys: HashMap<Vec<u8>, KeyTruth>,
    pub all_misses: u64,
    pub all_writes: u64,
    pub all_refused: u64,
    /// The writer pattern of each mismatched reader pattern.
    pub writers: BTreeMap<String, String>,
    /// The source shows server restarts (a trace of requests alone does not: its flushed misses are then not
    /// explainable).
    pub sees_restarts: bool,
    /// The source replays requests alone through a model that presumes held what a recording of a running cache
    /// reads before writing it: from when the recording starts (0: it does not).
    presumed_from: Option<Micros>,
}

/// One key as far as the expectations go.
#[derive(Debug)]
struct KeyTruth {
    pattern: String,
    /// Written, and not requested since.
    unread: bool,
    /// Misses piled since the last one that was not.
    piled: u32,
    /// A write of it (stored or refused) is in the recording.
    write_seen: bool,
}

impl Truth {
    pub fn new(scenario: &Scenario, sees_restarts: bool) -> Self {
        let mut truth = Truth { sees_restarts, ..Truth::default() };
        for workload in &scenario.workloads {
            truth.patterns.entry(workload.pattern()).or_default();
            if let Some(mismatch) = &workload.mismatch {
                truth.patterns.entry(mismatch.reader.pattern()).or_default();
                truth.writers.insert(mismatch.reader.pattern(), workload.pattern());
            }
        }
        truth
    }

    /// The source is a model that presumes held, from `recording_from`, the keys read before they are written.
    pub fn presuming_held(mut self, recording_from: Micros) -> Self {
        self.presumed_from = Some(recording_from);
        self
    }

    /// Takes in one recorded event and what the simulator knows of it.
    pub fn observe(&mut self, scenario: &Scenario, event: &Event<'_>, simulated: Option<Simulated>) {
        let Some(simulated) = simulated else { return };
        let workload = &scenario.workloads[simulated.workload];
        let pattern = match (&workload.mismatch, simulated.mismatched) {
            (Some(mismatch), true) => mismatch.reader.pattern(),
            _ => workload.pattern(),
        };
        let key = self.keys.entry(event.key.to_vec()).or_insert_with(|| KeyTruth {
            pattern: pattern.clone(),
            unread: false,
            piled: 0,
            write_seen: false,
        });
        // A key never written in the recording, with no TTL or not yet past it, may be one the cache held all
        // along, for all its requests show.
        let ttl = workload.ttl.map(|ttl| (ttl as f64 * (1.0 + workload.ttl_jitter)) as Micros);
        let hidden = self
            .presumed_from
            .is_some_and(|from| !key.write_seen && ttl.is_none_or(|ttl| event.time.saturating_sub(from) <= ttl));
        if matches!(event.command, Command::Write(_)) {
            key.write_seen = true;
        }
        let key = (&mut key.unread, &mut key.piled);
        let p = self.patterns.entry(pattern).or_default();
        match (event.command, event.outcome) {
            (Command::Read, Outcome::Hit) => {
                p.reads += 1;
                *key.0 = false;
                *key.1 = 0;
            }
            (Command::Read, Outcome::Miss) => {
                // Requested again: whether the cache kept it is another matter.
                *key.0 = false;
                p.reads += 1;
                p.misses += 1;
                self.all_misses += 1;
                let Some(miss) = simulated.miss else { return };
                if miss.truth.explainable && (self.sees_restarts || !miss.truth.by_restart) {
                    p.causes[miss.truth.cause.index()] += 1;
                    if miss.truth.cause == MissCause::Expired && !miss.piled_up {
                        p.expired_first += 1;
                    }
                }
                if simulated.mismatched {
                    p.mismatched_misses += 1;
                }
                // A mismatched client's miss is the mismatch's, whatever its fill does.
                if !simulated.mismatched && (miss.fill_fails || miss.truth.cause == MissCause::FailedWrite) {
                    p.failed_fill_misses += 1;
                    if hidden {
                        p.failed_fill_hidden += 1;
                    }
                }
                if miss.piled_up {
                    p.piled_up_misses += 1;
                    *key.1 += 1;
                    if *key.1 == 4 {
                        p.bursts += 1;
                    }
                } else {
                    *key.1 = 0;
                }
            }
            (Command::Write(_), Outcome::Error(_)) => {
                p.refused_writes += 1;
                self.all_refused += 1;
            }
            (Command::Write(_), Outcome::Ok) => {
                p.writes += 1;
                self.all_writes += 1;
                if *key.0 {
                    p.unread_writes += 1;
                }
                *key.0 = true;
            }
            _ => {}
        }
    }

    /// Writes still unread at the end count as unread.
    pub fn finish(&mut self) {
        for (_, key) in self.keys.drain() {
            if key.unread
                && let Some(p) = self.patterns.get_mut(&key.pattern)
            {
                p.unread_writes += 1;
            }
        }
    }

    /// Where (cause, pattern) stands.
    pub fn expected(&self, cause: FindingCause, pattern: &str) -> Expected {
        let Some(p) = self.patterns.get(pattern) else { return Expected::Negligible };
        match cause {
            FindingCause::TtlTooShort => self.by_misses(p, p.expired_first, true),
            FindingCause::MemoryPressure => self.by_misses(p, p.causes[MissCause::Evicted.index()], true),
            FindingCause::ColdCache => self.by_misses(p, p.causes[MissCause::Flushed.index()], false),
            FindingCause::KeyMismatch => self.by_misses(p, p.mismatched_misses, false),
            FindingCause::FailedWrite => {
                // Material when the misses the source can show are; negligible when all of them would be.
                let by_misses = match (
                    self.by_misses(p, p.failed_fill_misses - p.failed_fill_hidden, false),
                    self.by_misses(p, p.failed_fill_misses, false),
                ) {
                    (Expected::Material, _) => Expected::Material,
                    (_, Expected::Negligible) => Expected::Negligible,
                    _ => Expected::Either,
                };
                let by_refusals = self.by_refusals(p);
                if by_misses == Expected::Material || by_refusals == Expected::Material {
                    Expected::Material
                } else if by_misses == Expected::Negligible && by_refusals == Expected::Negligible {
                    Expected::Negligible
                } else {
                    Expected::Either
                }
            }
            FindingCause::Stampede => {
                if p.bursts >= 3 && p.piled_up_misses >= 30 {
                    Expected::Material
                } else if p.bursts == 0 || p.piled_up_misses < 10 {
                    Expected::Negligible
                } else {
                    Expected::Either
                }
            }
            FindingCause::OneHitWonder => {
                // The writer of a key mismatch writes for readers who look elsewhere: the mismatch explains its
                // unread writes, and "stop caching it" would be the wrong advice.
                if self.writers.iter().any(|(reader, writer)| {
                    writer == pattern && self.expected(FindingCause::KeyMismatch, reader) != Expected::Negligible
                }) {
                    return Expected::Negligible;
                }
                let share = if p.writes == 0 { 0.0 } else { p.unread_writes as f64 / p.writes as f64 };
                if share >= 0.9 && p.writes >= 200 && p.writes as f64 >= 0.01 * self.all_writes as f64 {
                    Expected::Material
                } else if share < 0.5 || p.writes < 50 {
                    Expected::Negligible
                } else {
                    Expected::Either
                }
            }
            FindingCause::LowHitRatio => {
                let states: Vec<Expected> = SHARP.iter().map(|&c| self.expected(c, pattern)).collect();
                if states.contains(&Expected::Material) {
                    Expected::Material
                } else if states.iter().all(|s| *s == Expected::Negligible) {
                    Expected::Negligible
                } else {
                    Expected::Either
                }
            }
            FindingCause::EvictionPolicy => Expected::Negligible,
        }
    }

    /// Refused writes: material at 30 or more, 5% of the pattern's write attempts and 1% of all of them.
    fn by_refusals(&self, p: &PatternTruth) -> Expected {
        let refused = p.refused_writes as f64;
        let (of_pattern, of_all) =
            (0.05 * (p.writes + p.refused_writes) as f64, 0.01 * (self.all_writes + self.all_refused) as f64);
        if p.refused_writes >= 30 && refused >= of_pattern && refused >= of_all {
            Expected::Material
        } else if p.refused_writes < 10 || refused < of_pattern / 4.0 || refused < of_all / 4.0 {
            Expected::Negligible
        } else {
            Expected::Either
        }
    }

    fn by_misses(&self, p: &PatternTruth, explained: u64, steady: bool) -> Expected {
        let e = explained as f64;
        let of_reads = if steady { 0.02 * p.reads as f64 } else { 0.0 };
        let (of_pattern, of_all) = (0.05 * p.misses as f64, 0.01 * self.all_misses as f64);
        if explained >= 30 && e >= of_pattern && e >= of_reads && e >= of_all {
            Expected::Material
        } else if explained < 10 || e < of_pattern / 4.0 || e < of_reads / 4.0 || e < of_all / 4.0 {
            Expected::Negligible
        } else {
            Expected::Either
        }
    }

    /// Broken fill paths that would be material but for the misses the source cannot tell from hits (see
    /// [`Truth::presuming_held`]): judged on the edge.
    pub fn hidden_failed_fills(&self) -> u64 {
        self.patterns
            .values()
            .filter(|p| {
                p.failed_fill_hidden > 0
                    && self.by_misses(p, p.failed_fill_misses, false) == Expected::Material
                    && self.by_misses(p, p.failed_fill_misses - p.failed_fill_hidden, false) != Expected::Material
                    && self.by_refusals(p) != Expected::Material
            })
            .count() as u64
    }

    /// Every (cause, pattern) a finding must name.
    pub fn material(&self) -> Vec<(FindingCause, String)> {
        let mut out = Vec::new();
        for pattern in self.patterns.keys() {
            for cause in SHARP {
                if self.expected(*cause, pattern) == Expected::Material {
                    out.push((*cause, pattern.clone()));
                }
            }
        }
        out
    }

    /// Patterns with no fault worth a finding, nor any on the edge.
    pub fn healthy(&self, pattern: &str) -> bool {
        self.expected(FindingCause::LowHitRatio, pattern) == Expected::Negligible
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One pattern `p` of `reads` reads and `misses` misses among `all_misses`; `set` fills in the rest.
    fn truth(reads: u64, misses: u64, all_misses: u64, set: impl FnOnce(&mut PatternTruth)) -> Truth {
        let mut p = PatternTruth { reads, misses, ..PatternTruth::default() };
        set(&mut p);
        let mut truth = Truth { all_misses, all_writes: p.writes, ..Truth::default() };
        truth.patterns.insert("p".to_string(), p);
        truth
    }

    #[track_caller]
    fn check(truth: &Truth, cause: FindingCause, expected: Expected) {
        assert_eq!(truth.expected(cause, "p"), expected, "{cause:?}");
    }

    #[test]
    fn a_cause_is_material_past_every_threshold_and_negligible_well_below_one() {
        use Expected::*;
        use FindingCause::*;
        // Expirations: 30 misses, 5% of the pattern's, 2% of its reads, 1% of all.
        check(&truth(1_500, 600, 3_000, |p| p.expired_first = 30), TtlTooShort, Material);
        check(&truth(1_500, 600, 3_000, |p| p.expired_first = 29), TtlTooShort, Either);
        check(&truth(1_600, 600, 3_000, |p| p.expired_first = 30), TtlTooShort, Either);
        check(&truth(1_500, 600, 3_000, |p| p.expired_first = 9), TtlTooShort, Negligible);
        check(&truth(100_000, 600, 3_000, |p| p.expired_first = 300), TtlTooShort, Negligible);
        // A flush is an event: no share of reads needed.
        check(&truth(100_000, 600, 3_000, |p| p.causes[MissCause::Flushed.index()] = 300), ColdCache, Material);
        // A stampede: three bursts and 30 misses piled.
        check(&truth(10_000, 100, 100_000, |p| (p.bursts, p.piled_up_misses) = (3, 30)), Stampede, Material);
        check(&truth(10_000, 100, 100_000, |p| (p.bursts, p.piled_up_misses) = (0, 30)), Stampede, Negligible);
        // Writes never requested again.
        check(&truth(0, 0, 0, |p| (p.writes, p.unread_writes) = (1_000, 950)), OneHitWonder, Material);
        check(&truth(0, 0, 0, |p| (p.writes, p.unread_writes) = (1_000, 400)), OneHitWonder, Negligible);
        // Refused writes, alone.
        check(&truth(0, 0, 0, |p| (p.writes, p.refused_writes) = (500, 100)), FailedWrite, Material);
        // A broken fill path: material on the misses the source shows, on the edge on those it cannot.
        check(&truth(1_500, 600, 3_000, |p| p.failed_fill_misses = 300), FailedWrite, Material);
        let hidden = truth(1_500, 600, 3_000, |p| (p.failed_fill_misses, p.failed_fill_hidden) = (300, 290));
        check(&hidden, FailedWrite, Either);
        assert_eq!(hidden.hidden_failed_fills(), 1);
        check(
            &truth(1_500, 600, 3_000, |p| (p.failed_fill_misses, p.failed_fill_hidden) = (9, 9)),
            FailedWrite,
            Negligible,
        );
        // Any material cause makes a low hit ratio finding right; none, wrong.
        check(&truth(1_500, 600, 3_000, |p| p.expired_first = 30), LowHitRatio, Material);
        check(&truth(1_500, 600, 3_000, |_| {}), LowHitRatio, Negligible);
    }
}
