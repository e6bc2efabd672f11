//! Puts a number on suggestions: the findings whose fix a cache model can play (a TTL, memory, a policy, a
//! pattern no longer cached) are replayed, all in one more pass over the same traffic (the runs spread over the
//! cores), through the cache as it is and as each suggestion would change it; the hit ratios, whole and of the finding's pattern, go into the
//! finding.

use anyhow::Result;
use cachescope_core::report::{Report, SimulatedGain};
use cachescope_core::{EngineConfig, Event};
use cachescope_sim::whatif::{Settings, suggested_change};

use crate::parallel_whatif;

/// Fills `simulated` in the findings of `report` that have a playable suggestion. `replay` feeds the same
/// events again to the closure it is given.
pub fn attach(
    report: &mut Report,
    current: Settings,
    engine: &EngineConfig,
    read_through: bool,
    replay: impl FnOnce(&mut dyn FnMut(&Event<'_>)) -> Result<()>,
) -> Result<()> {
    let candidates: Vec<(usize, String, Settings)> = report
        .findings
        .iter()
        .enumerate()
        .filter_map(|(index, finding)| {
            suggested_change(finding, &current).map(|(label, settings)| (index, label, settings))
        })
        .collect();
    if candidates.is_empty() {
        return Ok(());
    }
    let mut runs = vec![current];
    runs.extend(candidates.iter().map(|(_, _, settings)| settings.clone()));
    let threads = parallel_whatif::available_threads();
    let result = parallel_whatif::play(runs, &engine.fold, engine.max_patterns, read_through, threads, replay)?;
    let baseline = result.runs[0].reads.hit_ratio();
    for (run, (index, label, _)) in candidates.into_iter().enumerate().map(|(i, c)| (i + 1, c)) {
        let finding = &mut report.findings[index];
        let pattern = result.patterns.iter().find(|p| p.pattern == finding.pattern);
        let (Some(before), Some(after)) = (baseline, result.runs[run].reads.hit_ratio()) else { continue };
        finding.simulated = Some(SimulatedGain {
            change: label,
            hit_ratio_before: before,
            hit_ratio_after: after,
            pattern_hit_ratio_before: pattern.and_then(|p| p.runs[0].hit_ratio()),
            pattern_hit_ratio_after: pattern.and_then(|p| p.runs[run].hit_ratio()),
        });
    }
    Ok(())
}
