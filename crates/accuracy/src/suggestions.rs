//! Whether the fixes the findings suggest work: each suggestion the what-if simulator can play (a TTL, more
//! memory, another policy, a pattern no longer cached) is replayed on the scenario's traffic, and its gain on the
//! whole cache's hit ratio measured. It works when it raises the hit ratio; to stop caching a pattern whose
//! keys are never read again works when the hit ratio does not fall (it frees memory, which raises the hit
//! ratio only where memory is short). For a TTL or a memory size, the simulator also searches the smallest value
//! that reaches 90% of the best gain any value gives (on a grid of steps of 1.5x), and the suggested value is
//! compared with it: within 2x is the target.

use cachescope_core::pattern::FoldConfig;
use cachescope_core::report::{Action, Finding, Report};
use cachescope_sim::scenario::Scenario;
use cachescope_sim::whatif::tune::{MAX_TUNED, Playbook};
use cachescope_sim::whatif::{Selector, Settings, TtlOverride, WhatIf, suggested_change};
use cachescope_sim::{ModelConfig, Policy};

/// Grid step of the search.
const STEP: f64 = 1.5;
/// TTLs searched up to a week; memory up to fifty times the cache's, and unbounded.
const MAX_TTL_SECONDS: f64 = 7.0 * 86_400.0;
const MEMORY_STEPS: i32 = 10;
/// Share of the best gain the smallest sufficient value must reach.
const SUFFICIENT: f64 = 0.9;

/// One suggestion, played.
#[derive(Debug, Clone)]
pub struct Played {
    pub seed: u64,
    pub finding: String,
    /// The whole cache's hit ratio, as simulated with the suggestion, less as simulated without.
    pub gain: f64,
    /// The suggestion only frees memory (stop caching a pattern).
    pub frees_memory: bool,
    /// For a TTL or a memory size: the suggested value, the smallest on the grid that reaches 90% of the best
    /// gain (None when no value gains anything), and the best gain.
    pub search: Option<Search>,
}

#[derive(Debug, Clone)]
pub struct Search {
    /// The value now (a TTL), when known.
    pub current: Option<f64>,
    pub suggested: f64,
    /// The detector's own value, before the simulator tuned it (what a live source, with no replay, gives).
    pub detector: f64,
    pub smallest_sufficient: Option<f64>,
    pub best_gain: f64,
}

impl Played {
    /// Whether the suggestion does what it says.
    pub fn works(&self) -> bool {
        self.gain > 0.0 || (self.frees_memory && self.gain >= 0.0)
    }
}

impl Search {
    /// Whether the suggested value is within 2x of the smallest sufficient one.
    pub fn within_2x(&self) -> Option<bool> {
        let smallest = self.smallest_sufficient?;
        Some(self.suggested <= 2.0 * smallest && self.suggested >= smallest / 2.0)
    }

    /// The same for the detector's value before tuning.
    pub fn detector_within_2x(&self) -> Option<bool> {
        let smallest = self.smallest_sufficient?;
        Some(self.detector <= 2.0 * smallest && self.detector >= smallest / 2.0)
    }
}

/// What to run for one finding: the suggestion, then the values searched.
struct Plan {
    finding: String,
    suggested: usize,
    /// Indices into the settings and the value each stands for.
    grid: Vec<(usize, f64)>,
    suggested_value: Option<f64>,
    /// The detector's value before tuning.
    detector_value: Option<f64>,
    current_value: Option<f64>,
    frees_memory: bool,
}

/// Plays every playable suggestion of `report` (findings of `scenario`'s traffic) in one pass over the traffic.
pub fn play(scenario: &Scenario, report: &Report) -> Vec<Played> {
    let base = Settings::new(ModelConfig::new(Some(scenario.cache_capacity), scenario.policy));
    // The suggestions as the product gives them: TTLs and memory sizes tuned on the traffic, as `analyze` does.
    let mut findings = report.findings.clone();
    let playbook = Playbook::new(&findings, &base, MAX_TUNED);
    if !playbook.is_empty() {
        let mut whatif = WhatIf::new(playbook.runs.clone(), FoldConfig::default(), 500, false);
        scenario.run(&mut |event, _| whatif.observe(event), &mut |_| {});
        let ratios: Vec<Option<f64>> = whatif.finish().runs.iter().map(|run| run.reads.hit_ratio()).collect();
        playbook.settle(&mut findings, &ratios);
    }
    let mut settings = vec![base.clone()];
    let mut plans = Vec::new();
    for (finding, detected) in findings.iter().zip(&report.findings) {
        let Some((_, changed)) = suggested_change(finding, &base) else { continue };
        let mut plan = Plan {
            finding: format!("{} on {}", finding.cause.as_str(), finding.pattern),
            suggested: settings.len(),
            grid: Vec::new(),
            suggested_value: None,
            detector_value: None,
            current_value: None,
            frees_memory: matches!(finding.suggestion.action, Action::StopCaching { .. }),
        };
        settings.push(changed);
        grid(finding, &base, &mut settings, &mut plan);
        plan.detector_value = match detected.suggestion.action {
            Action::RaiseTtl { ttl_seconds, .. } => Some(ttl_seconds as f64),
            Action::RaiseMaxmemory { maxmemory_bytes, .. } => Some(maxmemory_bytes as f64),
            _ => None,
        };
        plans.push(plan);
    }
    if plans.is_empty() {
        return Vec::new();
    }
    let mut whatif = WhatIf::new(settings, FoldConfig::default(), 500, false);
    scenario.run(&mut |event, _| whatif.observe(event), &mut |_| {});
    let result = whatif.finish();
    let ratio = |index: usize| result.runs[index].reads.hit_ratio().unwrap_or(0.0);
    let before = ratio(0);
    plans
        .into_iter()
        .map(|plan| {
            let search = plan.suggested_value.map(|suggested| {
                let gains: Vec<(f64, f64)> = plan.grid.iter().map(|&(i, value)| (value, ratio(i) - before)).collect();
                let best_gain = gains.iter().map(|&(_, g)| g).fold(0.0, f64::max);
                let smallest_sufficient = (best_gain > 0.0)
                    .then(|| gains.iter().find(|&&(_, g)| g >= SUFFICIENT * best_gain).map(|&(v, _)| v))
                    .flatten();
                Search {
                    current: plan.current_value,
                    suggested,
                    detector: plan.detector_value.unwrap_or(suggested),
                    smallest_sufficient,
                    best_gain,
                }
            });
            Played {
                seed: scenario.seed,
                finding: plan.finding,
                gain: ratio(plan.suggested) - before,
                frees_memory: plan.frees_memory,
                search,
            }
        })
        .collect()
}

/// Adds the values searched for a TTL or a memory suggestion, smallest first.
fn grid(finding: &Finding, base: &Settings, settings: &mut Vec<Settings>, plan: &mut Plan) {
    match finding.suggestion.action {
        Action::RaiseTtl { ttl_seconds, current_ttl_seconds } => {
            plan.suggested_value = Some(ttl_seconds as f64);
            plan.current_value = current_ttl_seconds;
            let mut value = current_ttl_seconds.unwrap_or(1.0).max(1.0) * STEP;
            while value <= MAX_TTL_SECONDS * STEP {
                let seconds = value.min(MAX_TTL_SECONDS);
                let mut changed = base.clone();
                changed.ttls.push(TtlOverride {
                    selector: Selector::Pattern(finding.pattern.clone()),
                    ttl_ms: (seconds * 1_000.0) as u64,
                });
                plan.grid.push((settings.len(), seconds));
                settings.push(changed);
                value *= STEP;
            }
        }
        Action::RaiseMaxmemory { maxmemory_bytes, .. } => {
            plan.suggested_value = Some(maxmemory_bytes as f64);
            let capacity = base.model.capacity.unwrap_or(maxmemory_bytes) as f64;
            for step in 1..=MEMORY_STEPS {
                let bytes = capacity * STEP.powi(step);
                let mut changed = base.clone();
                changed.model = ModelConfig { capacity: Some(bytes as u64), ..base.model };
                plan.grid.push((settings.len(), bytes));
                settings.push(changed);
            }
            // No limit at all: the best any memory can do.
            let mut unbounded = base.clone();
            unbounded.model = ModelConfig { capacity: None, policy: Policy::EXACT_LRU, ..base.model };
            plan.grid.push((settings.len(), f64::INFINITY));
            settings.push(unbounded);
        }
        _ => {}
    }
}
