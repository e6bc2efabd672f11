//! Puts a number on suggestions: the findings whose fix a cache model can play (a TTL, memory, a policy, a
//! pattern no longer cached) are replayed, all in one more pass over the same traffic (the runs spread over the
//! cores), through the cache as it is and as each suggestion would change it; the hit ratios, whole and of the
//! finding's pattern, go into the finding. A suggested TTL or memory size is tuned on the way
//! (`cachescope_sim::whatif::tune`): a ladder of values is played and the suggestion becomes the smallest that
//! brings 90% of the best gain.

use anyhow::Result;
use cachescope_core::report::{Report, SimulatedGain};
use cachescope_core::{EngineConfig, Event};
use cachescope_sim::whatif::tune::{MAX_TUNED, Playbook};
use cachescope_sim::whatif::{Settings, suggested_change};

use crate::parallel_whatif;

/// Fills `simulated` in the findings of `report` that have a playable suggestion, tuning TTLs and memory sizes.
/// `replay` feeds the same events again to the closure it is given.
pub fn attach(
    report: &mut Report,
    current: Settings,
    engine: &EngineConfig,
    read_through: bool,
    replay: impl FnOnce(&mut dyn FnMut(&Event<'_>)) -> Result<()>,
) -> Result<()> {
    let playbook = Playbook::new(&report.findings, &current, MAX_TUNED);
    if playbook.is_empty() {
        return Ok(());
    }
    let threads = parallel_whatif::available_threads();
    let result =
        parallel_whatif::play(playbook.runs.clone(), &engine.fold, engine.max_patterns, read_through, threads, replay)?;
    let ratios: Vec<Option<f64>> = result.runs.iter().map(|run| run.reads.hit_ratio()).collect();
    let Some(baseline) = ratios[0] else { return Ok(()) };
    for (index, run) in playbook.settle(&mut report.findings, &ratios) {
        let finding = &mut report.findings[index];
        let (Some((label, _)), Some(after)) = (suggested_change(finding, &current), ratios[run]) else { continue };
        let pattern = result.patterns.iter().find(|p| p.pattern == finding.pattern);
        finding.simulated = Some(SimulatedGain {
            change: label,
            hit_ratio_before: baseline,
            hit_ratio_after: after,
            pattern_hit_ratio_before: pattern.and_then(|p| p.runs[0].hit_ratio()),
            pattern_hit_ratio_after: pattern.and_then(|p| p.runs[run].hit_ratio()),
        });
    }
    Ok(())
}
