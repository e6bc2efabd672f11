//! One scenario through the engine, as a source would feed it, scored against the simulator's truth.

use cachescope_core::{
    Command, Engine, EngineConfig, FindingCause, FlushScope, InitialState, MissCause, Outcome, Report,
};
use cachescope_sim::scenario::Scenario;
use cachescope_sim::{ModelConfig, Start, build};

use crate::expect::{Expected, Truth};

/// How the engine gets the traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// With the server's answers, as the proxy (or a recording of it) gives them.
    Outcomes,
    /// Requests only, as in the Twitter traces: a cache model of the server's size and policy answers them
    /// first, starting empty, as `cachescope analyze` does.
    Model,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Outcomes => "with outcomes",
            Source::Model => "through the cache model",
        }
    }
}

/// Counts of misses by (true cause, attributed cause).
pub type Confusion = [[u64; MissCause::ALL.len()]; MissCause::ALL.len()];

/// How one finding, or one material fault, was judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    pub cause: FindingCause,
    pub pattern: String,
    pub verdict: Verdict,
    /// The pattern has two material faults or more.
    pub several_faults: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A finding on a material fault.
    Found,
    /// A material fault with no finding.
    Missed,
    /// A finding on a negligible fault.
    Invented,
    /// A finding on a fault at the edge: neither right nor wrong.
    Accepted,
}

/// One scenario's result.
#[derive(Debug)]
pub struct CaseResult {
    pub seed: u64,
    pub source: Source,
    /// The recording joined a cache that was already running.
    pub warm: bool,
    /// Misses whose truth the recording explains: by (true cause, attributed cause).
    pub confusion: Confusion,
    /// Misses the recording cannot explain (the key's history predates it): by what the engine said.
    pub unexplainable: [u64; MissCause::ALL.len()],
    /// Through the model: reads the server and the model answered differently.
    pub outcome_disagreements: u64,
    pub reads: u64,
    pub judged: Vec<Judged>,
    /// A finding named a pattern with no fault worth one, nor any on the edge.
    pub finding_on_healthy: bool,
    /// Broken fill paths the source cannot show (requests alone, keys presumed held).
    pub hidden_failed_fills: u64,
    pub report: Report,
    /// What the simulator knows, pattern by pattern.
    pub truth: Truth,
}

/// Runs `scenario` into a fresh engine fed as `source` feeds it, and scores the findings.
pub fn measure(scenario: &Scenario, source: Source) -> CaseResult {
    // A recording knows whether it began with the server or joined it running, and says so in its header; a
    // model replaying it starts as the server did.
    let (initial, start) = if scenario.record_from > 0 {
        (InitialState::Unknown, Start::Running)
    } else {
        (InitialState::Empty, Start::Empty)
    };
    let mut engine = Engine::new(EngineConfig {
        initial_state: initial,
        presumed_held: source == Source::Model && start == Start::Running,
        cache_capacity: Some(scenario.cache_capacity),
        ..EngineConfig::default()
    });
    let mut model = build(&ModelConfig::new(Some(scenario.cache_capacity), scenario.policy).start(start));
    let mut truth = Truth::new(scenario, source == Source::Outcomes);
    if source == Source::Model && start == Start::Running {
        truth = truth.presuming_held(scenario.record_from);
    }
    let mut confusion: Confusion = Default::default();
    let mut unexplainable = [0u64; MissCause::ALL.len()];
    let mut outcome_disagreements = 0;
    let mut reads = 0;
    scenario.run(
        &mut |event, simulated| {
            truth.observe(scenario, event, simulated);
            if source == Source::Model && event.command == Command::Flush(FlushScope::Restart) {
                // A trace of requests does not see the server restart.
                return;
            }
            let mut fed = *event;
            let mut presumed = false;
            if source == Source::Model && !matches!(event.command, Command::Flush(_) | Command::Marker) {
                fed.outcome = model.apply(&event.with_outcome(Outcome::Unobserved));
                presumed = model.presumed();
                if presumed && !engine.presumption_holds(&fed) {
                    (fed.outcome, presumed) = (Outcome::Miss, false);
                }
            }
            if source == Source::Model && matches!(event.command, Command::Flush(_)) {
                model.apply(event);
            }
            let attributed = if presumed { engine.observe_presumed(&fed) } else { engine.observe_attributed(&fed) };
            if event.command != Command::Read {
                return;
            }
            reads += 1;
            if fed.outcome != event.outcome {
                outcome_disagreements += 1;
            }
            let (Some(attributed), Some(miss)) = (attributed, simulated.and_then(|s| s.miss)) else { return };
            if fed.outcome != Outcome::Miss {
                return;
            }
            let explainable = miss.truth.explainable && (source == Source::Outcomes || !miss.truth.by_restart);
            if explainable {
                confusion[miss.truth.cause.index()][attributed.index()] += 1;
            } else {
                unexplainable[attributed.index()] += 1;
            }
        },
        &mut |_| {},
    );
    truth.finish();
    let report = engine.report();
    let (judged, finding_on_healthy) = judge(&truth, &report);
    CaseResult {
        seed: scenario.seed,
        source,
        warm: scenario.record_from > 0,
        confusion,
        unexplainable,
        outcome_disagreements,
        reads,
        judged,
        finding_on_healthy,
        hidden_failed_fills: truth.hidden_failed_fills(),
        report,
        truth,
    }
}

/// Every finding, and every material fault, judged.
fn judge(truth: &Truth, report: &Report) -> (Vec<Judged>, bool) {
    let material = truth.material();
    let several = |pattern: &str| material.iter().filter(|(_, p)| p == pattern).count() >= 2;
    let mut judged = Vec::new();
    let mut on_healthy = false;
    for finding in &report.findings {
        let verdict = match truth.expected(finding.cause, &finding.pattern) {
            Expected::Material => Verdict::Found,
            Expected::Either => Verdict::Accepted,
            Expected::Negligible => Verdict::Invented,
        };
        on_healthy |= truth.healthy(&finding.pattern);
        judged.push(Judged {
            cause: finding.cause,
            pattern: finding.pattern.clone(),
            verdict,
            several_faults: several(&finding.pattern),
        });
    }
    for (cause, pattern) in &material {
        if !report.findings.iter().any(|f| f.cause == *cause && f.pattern == *pattern) {
            judged.push(Judged {
                cause: *cause,
                pattern: pattern.clone(),
                verdict: Verdict::Missed,
                several_faults: several(pattern),
            });
        }
    }
    (judged, on_healthy)
}
