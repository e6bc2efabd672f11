//! How right cachescope's diagnosis is. Scenarios of the seeded corpus ([`cachescope_sim::scenario::corpus`])
//! run through the engine as a source would feed them ([`measure`]), and what the engine says is compared with
//! what the simulator knows ([`expect`]): every miss's cause, and every finding. The engine never sees the
//! truth, and the truth is never computed with the engine's code.
//!
//! `cargo run --release -p cachescope-accuracy` measures the corpus (`bench/accuracy.sh` writes the figures
//! into BENCHMARKS.md); `--seed N` replays one scenario and says what went wrong with it.

pub mod detection;
pub mod expect;
pub mod live;
pub mod measure;
pub mod render;
pub mod suggestions;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use cachescope_core::{FindingCause, MissCause};
use cachescope_sim::scenario::corpus;

pub use measure::{CaseResult, Confusion, Judged, Source, Verdict, measure};

/// Counts of judged findings for one cause.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub found: u64,
    pub missed: u64,
    pub invented: u64,
    pub accepted: u64,
}

impl Counts {
    pub fn add(&mut self, verdict: Verdict) {
        match verdict {
            Verdict::Found => self.found += 1,
            Verdict::Missed => self.missed += 1,
            Verdict::Invented => self.invented += 1,
            Verdict::Accepted => self.accepted += 1,
        }
    }

    pub fn recall(&self) -> Option<f64> {
        let all = self.found + self.missed;
        (all > 0).then(|| self.found as f64 / all as f64)
    }

    pub fn precision(&self) -> Option<f64> {
        let all = self.found + self.invented;
        (all > 0).then(|| self.found as f64 / all as f64)
    }
}

/// Results over many scenarios, for one source.
#[derive(Debug)]
pub struct Summary {
    pub source: Source,
    pub scenarios: u64,
    pub confusion: Confusion,
    pub unexplainable: [u64; MissCause::ALL.len()],
    pub outcome_disagreements: u64,
    pub reads: u64,
    pub by_cause: Vec<(FindingCause, Counts)>,
    /// The same, only on patterns with several material faults.
    pub several_faults: Counts,
    pub all: Counts,
    /// Scenarios where a finding named a healthy pattern.
    pub findings_on_healthy: u64,
    /// Through the cache model, the findings of recordings that joined a running cache, apart: a trace of
    /// requests only cannot tell a key the cache held from one that was never written (a model starts empty),
    /// so those are judged apart from the rest.
    pub warm_model: Counts,
    pub warm_model_by_cause: Vec<(FindingCause, Counts)>,
    pub warm_model_scenarios: u64,
    /// Of those, broken fill paths only the server's replies would show.
    pub hidden_failed_fills: u64,
    /// Every wrong case: (seed, what was wrong).
    pub failures: Vec<(u64, Vec<Judged>)>,
    /// The suggestions played, on the scenarios they were played for.
    pub played: Vec<suggestions::Played>,
}

impl Summary {
    pub fn new(source: Source) -> Self {
        Summary {
            source,
            scenarios: 0,
            confusion: Default::default(),
            unexplainable: [0; MissCause::ALL.len()],
            outcome_disagreements: 0,
            reads: 0,
            by_cause: expect::CAUSES.iter().map(|&c| (c, Counts::default())).collect(),
            several_faults: Counts::default(),
            all: Counts::default(),
            findings_on_healthy: 0,
            warm_model: Counts::default(),
            warm_model_by_cause: expect::CAUSES.iter().map(|&c| (c, Counts::default())).collect(),
            warm_model_scenarios: 0,
            hidden_failed_fills: 0,
            failures: Vec::new(),
            played: Vec::new(),
        }
    }

    pub fn add(&mut self, case: &CaseResult) {
        if case.source == Source::Model && case.warm {
            // Counted with all, and apart: what a model that joins a running cache must presume.
            self.warm_model_scenarios += 1;
            self.hidden_failed_fills += case.hidden_failed_fills;
            for judged in &case.judged {
                self.warm_model.add(judged.verdict);
                if let Some((_, counts)) = self.warm_model_by_cause.iter_mut().find(|(c, _)| *c == judged.cause) {
                    counts.add(judged.verdict);
                }
            }
        }
        self.scenarios += 1;
        self.add_attribution(case);
        for judged in &case.judged {
            if let Some((_, counts)) = self.by_cause.iter_mut().find(|(c, _)| *c == judged.cause) {
                counts.add(judged.verdict);
            }
            self.all.add(judged.verdict);
            if judged.several_faults {
                self.several_faults.add(judged.verdict);
            }
        }
        self.findings_on_healthy += u64::from(case.finding_on_healthy);
        let wrong: Vec<Judged> =
            case.judged.iter().filter(|j| matches!(j.verdict, Verdict::Missed | Verdict::Invented)).cloned().collect();
        if !wrong.is_empty() {
            self.failures.push((case.seed, wrong));
        }
    }

    fn add_attribution(&mut self, case: &CaseResult) {
        for (row, case_row) in self.confusion.iter_mut().zip(&case.confusion) {
            for (cell, n) in row.iter_mut().zip(case_row) {
                *cell += n;
            }
        }
        for (cell, n) in self.unexplainable.iter_mut().zip(&case.unexplainable) {
            *cell += n;
        }
        self.outcome_disagreements += case.outcome_disagreements;
        self.reads += case.reads;
    }

    /// Share of the explainable misses attributed to their true cause.
    pub fn attribution(&self) -> f64 {
        let total: u64 = self.confusion.iter().flatten().sum();
        let right: u64 = (0..MissCause::ALL.len()).map(|i| self.confusion[i][i]).sum();
        if total == 0 { 1.0 } else { right as f64 / total as f64 }
    }

    /// Per true cause: (misses, share attributed right).
    pub fn attribution_by_cause(&self) -> Vec<(MissCause, u64, f64)> {
        MissCause::ALL
            .iter()
            .map(|&cause| {
                let row = &self.confusion[cause.index()];
                let total: u64 = row.iter().sum();
                let right = row[cause.index()];
                (cause, total, if total == 0 { 1.0 } else { right as f64 / total as f64 })
            })
            .filter(|(_, total, _)| *total > 0)
            .collect()
    }
}

/// Measures the scenarios of `seeds` for each of `sources`, on `threads` threads, calling `progress` after each.
/// The suggestions of the findings with outcomes are played for the first `play_suggestions` seeds.
pub fn measure_corpus(
    seeds: &[u64],
    sources: &[Source],
    play_suggestions: usize,
    threads: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Vec<Summary> {
    let summaries: Vec<Mutex<Summary>> = sources.iter().map(|&s| Mutex::new(Summary::new(s))).collect();
    let next = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(&seed) = seeds.get(index) else { break };
                    let scenario = corpus::generate(seed);
                    for (source, summary) in sources.iter().zip(&summaries) {
                        let case = measure(&scenario, *source);
                        let played = if *source == Source::Outcomes && index < play_suggestions {
                            suggestions::play(&scenario, &case.report)
                        } else {
                            Vec::new()
                        };
                        let mut summary = summary.lock().expect("not poisoned");
                        summary.add(&case);
                        summary.played.extend(played);
                    }
                    progress(index as u64 + 1);
                }
            });
        }
    });
    summaries
        .into_iter()
        .map(|m| {
            let mut summary = m.into_inner().expect("not poisoned");
            summary.failures.sort_by_key(|(seed, _)| *seed);
            summary.played.sort_by_key(|p| p.seed);
            summary
        })
        .collect()
}
