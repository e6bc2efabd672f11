//! Tuning a suggested TTL or memory size on the traffic itself. A detector's value comes from its statistics (the
//! ages of the expired misses, the working set), which say how far a fix reaches but not where its gain levels
//! off: a longer TTL also keeps keys that push others out, and past some memory every key fits. The what-if
//! simulator plays a ladder of values (each twice the one before, from one and a half times the current value,
//! with the detector's own among them) and the suggestion becomes the smallest that brings 90% of the best gain
//! any of them brings: enough to fix the problem, no more memory than it needs.

use cachescope_core::human;
use cachescope_core::report::{Action, Finding};

use super::change::{Selector, Settings, TtlOverride};
use super::suggest::suggested_change;

/// Findings whose value is tuned at most, the most severe first: each plays a ladder of some twenty values.
pub const MAX_TUNED: usize = 6;
/// Share of the best gain the tuned value must bring.
pub const SUFFICIENT: f64 = 0.9;
/// Steps of the ladder, and its bounds.
const STEP: f64 = 2.0;
const MAX_TTL_MS: u64 = 7 * 86_400_000;
const MEMORY_STEPS: i32 = 9;

/// A value tried, and the settings that play it (`None` as a value: no memory limit, the best memory can do).
#[derive(Debug, Clone)]
pub struct Rung {
    pub value: Option<u64>,
    pub settings: Settings,
}

/// The values to try for `finding`'s TTL or memory size, smallest first; empty when its suggestion is neither.
pub fn ladder(finding: &Finding, current: &Settings) -> Vec<Rung> {
    let mut values: Vec<Option<u64>> = Vec::new();
    match finding.suggestion.action {
        Action::RaiseTtl { ttl_seconds, current_ttl_seconds } => {
            let now_ms = current_ttl_seconds.map_or(0.0, |s| s * 1000.0);
            let mut value = (now_ms * 1.5).max(1000.0);
            while (value as u64) < MAX_TTL_MS {
                values.push(Some(human::round_ttl_up(value as u64).min(MAX_TTL_MS)));
                value *= STEP;
            }
            values.push(Some(MAX_TTL_MS));
            values.push(Some(ttl_seconds.saturating_mul(1000)));
        }
        Action::RaiseMaxmemory { maxmemory_bytes, .. } => {
            let Some(capacity) = current.model.capacity.filter(|_| !current.model.unit_size) else {
                return Vec::new();
            };
            for step in 1..=MEMORY_STEPS {
                values.push(Some(round_mib_up(capacity as f64 * 1.5 * STEP.powi(step - 1))));
            }
            values.push(Some(maxmemory_bytes));
            values.push(None);
        }
        _ => return Vec::new(),
    }
    values.sort_by_key(|v| v.unwrap_or(u64::MAX));
    values.dedup();
    values
        .into_iter()
        .map(|value| {
            let mut settings = current.clone();
            match (&finding.suggestion.action, value) {
                (Action::RaiseTtl { .. }, Some(ms)) => {
                    settings.ttls.push(TtlOverride { selector: Selector::Pattern(finding.pattern.clone()), ttl_ms: ms })
                }
                (_, bytes) => settings.model.capacity = bytes,
            }
            Rung { value, settings }
        })
        .collect()
}

/// The rung of the detector's own value (every ladder has it).
pub fn own(finding: &Finding, rungs: &[Rung]) -> Option<usize> {
    let value = match finding.suggestion.action {
        Action::RaiseTtl { ttl_seconds, .. } => ttl_seconds.saturating_mul(1000),
        Action::RaiseMaxmemory { maxmemory_bytes, .. } => maxmemory_bytes,
        _ => return None,
    };
    rungs.iter().position(|r| r.value == Some(value))
}

fn round_mib_up(bytes: f64) -> u64 {
    const MIB: f64 = (1 << 20) as f64;
    ((bytes / MIB).ceil() * MIB) as u64
}

/// The index of the smallest rung whose gain reaches [`SUFFICIENT`] of the best, among rungs with a value; None
/// when none gains.
pub fn pick(rungs: &[Rung], gains: &[f64]) -> Option<usize> {
    let best = gains.iter().copied().fold(0.0, f64::max);
    if best <= 0.0 {
        return None;
    }
    rungs.iter().zip(gains).position(|(rung, &gain)| rung.value.is_some() && gain >= SUFFICIENT * best)
}

/// Puts the tuned `value` into `finding`: its action and its suggestion's sentence, which says how it was chosen
/// (the gain itself goes into the finding's simulated gain).
pub fn apply(finding: &mut Finding, value: u64) {
    match &mut finding.suggestion.action {
        Action::RaiseTtl { ttl_seconds, current_ttl_seconds } => {
            *ttl_seconds = (value / 1000).max(1);
            let from = current_ttl_seconds
                .map(|s| format!(" from {}", human::duration_ms((s * 1000.0) as u64)))
                .unwrap_or_default();
            finding.suggestion.summary = format!(
                "Raise the TTL of `{}`{from} to {}: replayed on this traffic, the shortest TTL that brings 90% of \
                 what any longer one would.",
                finding.pattern,
                human::duration_ms(value)
            );
        }
        Action::RaiseMaxmemory { maxmemory_bytes, .. } => {
            *maxmemory_bytes = value;
            finding.suggestion.summary = format!(
                "Raise maxmemory to {}: replayed on this traffic, the least memory that brings 90% of what unlimited \
                 memory would.",
                human::bytes(value as f64)
            );
        }
        _ => {}
    }
}

/// The run that plays `settings`: one already planned with them, or a new one.
fn run_of(runs: &mut Vec<Settings>, settings: &Settings) -> usize {
    match runs.iter().position(|run| run == settings) {
        Some(run) => run,
        None => {
            runs.push(settings.clone());
            runs.len() - 1
        }
    }
}

/// What is played for one finding.
enum Plan {
    /// Its suggestion as it is, in run `run`.
    Single { finding: usize, run: usize },
    /// A ladder of values, each played in the run at the same place in `runs`, the detector's own value in run
    /// `own`.
    Ladder { finding: usize, runs: Vec<usize>, rungs: Vec<Rung>, own: usize },
}

/// The runs that play the findings' suggestions (run 0: the cache as it is), ladders for the TTLs and memory
/// sizes of the first `max_tuned` findings that have one; then, from the hit ratios the runs gave, the tuned
/// findings and the run of each suggestion. Settings are played once: findings of several patterns that all
/// suggest memory share one ladder of runs.
pub struct Playbook {
    pub runs: Vec<Settings>,
    plans: Vec<Plan>,
}

impl Playbook {
    pub fn new(findings: &[Finding], current: &Settings, max_tuned: usize) -> Playbook {
        let mut runs = vec![current.clone()];
        let mut plans = Vec::new();
        for (index, finding) in findings.iter().enumerate() {
            let tuned = plans.iter().filter(|p| matches!(p, Plan::Ladder { .. })).count();
            let rungs = if tuned < max_tuned { ladder(finding, current) } else { Vec::new() };
            if let Some(own) = own(finding, &rungs) {
                let played: Vec<usize> = rungs.iter().map(|r| run_of(&mut runs, &r.settings)).collect();
                plans.push(Plan::Ladder { finding: index, own: played[own], runs: played, rungs });
            } else if let Some((_, settings)) = suggested_change(finding, current) {
                plans.push(Plan::Single { finding: index, run: run_of(&mut runs, &settings) });
            }
        }
        Playbook { runs, plans }
    }

    /// Whether there is anything to play.
    pub fn is_empty(&self) -> bool {
        self.plans.is_empty()
    }

    /// Tunes `findings` from the whole cache's hit ratio of every run (None: no reads), and returns each playable
    /// finding's index with the run of its suggestion as it now stands.
    pub fn settle(&self, findings: &mut [Finding], hit_ratios: &[Option<f64>]) -> Vec<(usize, usize)> {
        let baseline = hit_ratios.first().copied().flatten().unwrap_or(0.0);
        let ratio = |run: usize| hit_ratios.get(run).copied().flatten().unwrap_or(baseline);
        self.plans
            .iter()
            .map(|plan| match plan {
                &Plan::Single { finding, run } => (finding, run),
                Plan::Ladder { finding, runs, rungs, own } => {
                    let gains: Vec<f64> = runs.iter().map(|&run| ratio(run) - baseline).collect();
                    match pick(rungs, &gains) {
                        Some(i) => {
                            apply(&mut findings[*finding], rungs[i].value.expect("picked rungs have a value"));
                            (*finding, runs[i])
                        }
                        None => (*finding, *own),
                    }
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use cachescope_core::report::{FindingCause, FindingDraft, Severity};

    use super::*;
    use crate::model::{ModelConfig, Policy};

    fn finding(action: Action) -> Finding {
        let mut draft = FindingDraft::new(FindingCause::TtlTooShort, "session:{num}", 10);
        draft.action = action;
        draft.finish_as(Severity::Warning, 0.5)
    }

    #[test]
    fn ladders_double_from_half_again_the_current_value() {
        let current = Settings::new(ModelConfig::new(Some(64 << 20), Policy::EXACT_LRU));
        let ttl = ladder(&finding(Action::RaiseTtl { ttl_seconds: 45, current_ttl_seconds: Some(10.0) }), &current);
        let values: Vec<u64> = ttl.iter().map(|r| r.value.unwrap() / 1000).collect();
        assert_eq!(&values[..5], &[15, 30, 45, 60, 120]);
        assert_eq!(*values.last().unwrap(), 7 * 86_400);
        assert!(values.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(ttl[2].settings.ttls[0].ttl_ms, 45_000);
        let own_ttl = finding(Action::RaiseTtl { ttl_seconds: 45, current_ttl_seconds: Some(10.0) });
        assert_eq!(own(&own_ttl, &ttl), Some(2));
        let memory =
            ladder(&finding(Action::RaiseMaxmemory { maxmemory_bytes: 200 << 20, hot_evicted_keys: vec![] }), &current);
        assert_eq!(memory[0].value, Some(96 << 20));
        assert_eq!(memory.last().unwrap().value, None);
        assert!(memory.iter().any(|r| r.value == Some(200 << 20)));
        assert!(ladder(&finding(Action::StopCaching { pattern: "x".into() }), &current).is_empty());
    }

    /// Memory is the cache's: findings of several patterns that suggest it play one ladder, and each is tuned
    /// from it.
    #[test]
    fn findings_that_suggest_the_same_memory_share_their_runs() {
        let current = Settings::new(ModelConfig::new(Some(64 << 20), Policy::EXACT_LRU));
        let memory = |pattern: &str| {
            let mut f = finding(Action::RaiseMaxmemory { maxmemory_bytes: 200 << 20, hot_evicted_keys: vec![] });
            f.pattern = pattern.to_string();
            f
        };
        let ttl = finding(Action::RaiseTtl { ttl_seconds: 45, current_ttl_seconds: Some(10.0) });
        let mut findings = vec![memory("a:{num}"), memory("b:{num}"), ttl, memory("c:{num}")];
        let playbook = Playbook::new(&findings, &current, MAX_TUNED);
        let rungs = ladder(&findings[0], &current).len() + ladder(&findings[2], &current).len();
        assert_eq!(playbook.runs.len(), 1 + rungs, "the cache as it is, one memory ladder, one TTL ladder");
        // The gain levels off at 4x the memory: every memory finding is tuned to it.
        let ratios: Vec<Option<f64>> = playbook
            .runs
            .iter()
            .map(|run| Some(run.model.capacity.map_or(0.9, |c| if c >= 256 << 20 { 0.9 } else { 0.5 })))
            .collect();
        let settled = playbook.settle(&mut findings, &ratios);
        assert_eq!(settled.len(), 4);
        for index in [0, 1, 3] {
            assert_eq!(
                findings[index].suggestion.action,
                Action::RaiseMaxmemory { maxmemory_bytes: 384 << 20, hot_evicted_keys: vec![] },
                "finding {index}"
            );
        }
        assert_eq!(settled[0].1, settled[1].1, "played once");
    }

    #[test]
    fn the_smallest_value_near_the_best_gain_is_picked() {
        let current = Settings::new(ModelConfig::new(Some(64 << 20), Policy::EXACT_LRU));
        let rungs = ladder(&finding(Action::RaiseMaxmemory { maxmemory_bytes: 1, hot_evicted_keys: vec![] }), &current);
        let mut gains = vec![0.0; rungs.len()];
        gains[2] = 0.05;
        gains[3] = 0.091;
        for gain in gains.iter_mut().skip(4) {
            *gain = 0.1;
        }
        assert_eq!(pick(&rungs, &gains), Some(3));
        assert_eq!(pick(&rungs, &vec![0.0; rungs.len()]), None);
        // Unlimited memory is the yardstick, never the answer.
        let mut only_unlimited = vec![0.0; rungs.len()];
        *only_unlimited.last_mut().unwrap() = 0.1;
        assert_eq!(pick(&rungs, &only_unlimited), None);
    }
}
