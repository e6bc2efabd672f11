//! Puts a number on suggestions: the findings whose fix a cache model can play (a TTL, memory, a policy, a
//! pattern no longer cached) are replayed, all in one more pass over the same traffic (the runs spread over the
//! cores), through the cache as it is and as each suggestion would change it; the hit ratios, whole and of the
//! finding's pattern, go into the finding. A suggested TTL or memory size is tuned on the way
//! (`cachescope_sim::whatif::tune`): a ladder of values is played and the suggestion becomes the smallest that
//! brings 90% of the best gain.
//!
//! Each run's model holds the keys its cache would: with many runs over millions of keys that is gigabytes. Past
//! [`KEY_BUDGET`] distinct keys, the runs play a sample of the keys, chosen by hash, with the cache's memory
//! scaled by the same share (the spatial sampling SHARDS uses for miss-ratio curves): memory stays bounded and
//! hit ratios are estimated; the findings say on what share they were.

use anyhow::Result;
use cachescope_core::report::{Report, SimulatedGain};
use cachescope_core::{Command, EngineConfig, Event, key_hash};
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
    let keys: u64 = report.patterns.iter().map(|p| p.distinct_keys).sum();
    let rate = sample_rate(keys);
    let mut runs = playbook.runs.clone();
    for run in &mut runs {
        run.model.capacity = run.model.capacity.map(|capacity| ((capacity as f64 * rate).round() as u64).max(1));
    }
    let threshold = (rate * u64::MAX as f64) as u64;
    let sampled = |event: &Event<'_>| {
        rate >= 1.0 || matches!(event.command, Command::Flush(_) | Command::Marker) || {
            key_hash(event.db, event.key) <= threshold
        }
    };
    let threads = parallel_whatif::available_threads();
    let result = parallel_whatif::play(runs, &engine.fold, engine.max_patterns, read_through, threads, |observe| {
        replay(&mut |event| {
            if sampled(event) {
                observe(event);
            }
        })
    })?;
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
            sampled_keys: (rate < 1.0).then_some(rate),
        });
    }
    Ok(())
}

/// Distinct keys past which the runs play a sample of them: each run's model then holds at most about this many
/// keys (tens of MB), whatever the traffic.
const KEY_BUDGET: u64 = 200_000;

/// The share of keys to play for `keys` distinct keys.
fn sample_rate(keys: u64) -> f64 {
    if keys <= KEY_BUDGET { 1.0 } else { KEY_BUDGET as f64 / keys as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_budget_a_share_of_the_keys_is_played() {
        assert_eq!(sample_rate(0), 1.0);
        assert_eq!(sample_rate(KEY_BUDGET), 1.0);
        assert_eq!(sample_rate(KEY_BUDGET * 10), 0.1);
    }
}
