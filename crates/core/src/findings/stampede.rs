//! `stampede`: many misses of one key within a short window, before the first of them could refill it: every
//! client that missed goes to the backend for the same value (typically right after a hot key expires).

use crate::human;
use crate::pattern::PatternId;
use crate::report::{Action, Finding, FindingCause, Severity};

use super::{Analysis, Claims, Draft, quoted, round};

pub(crate) fn detect(analysis: &Analysis<'_>, claims: &Claims) -> Vec<(PatternId, Finding)> {
    let t = analysis.thresholds;
    let mut found = Vec::new();
    for p in &analysis.patterns {
        if claims.mismatched_readers.contains(&p.id) {
            continue;
        }
        // Sampled figures are scaled estimates: never more than the misses counted.
        let pileup = (p.stats.pileup_misses.round() as u64).min(p.stats.misses);
        let bursts = (p.stats.bursts.round() as u64).min(pileup);
        if pileup < t.stampede_min_pileup
            || !(bursts >= t.stampede_min_bursts || p.stats.max_burst >= t.stampede_large_burst)
        {
            continue;
        }
        let key = p.stats.max_burst_key.as_deref().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default();
        let window = human::duration(t.stampede_window);
        let mut draft = Draft::new(FindingCause::Stampede, p.name, pileup);
        if p.stats.max_burst >= t.stampede_large_burst {
            draft.severity_floor = Severity::Warning;
        }
        draft.evidence = format!(
            "{} of misses on single keys of {}: up to {} misses of `{key}` within {window}, before a refill \
             landed.",
            if bursts == 1 { "1 burst".to_string() } else { format!("{} bursts", human::count(bursts)) },
            quoted(p.name),
            p.stats.max_burst
        );
        draft.details.push(format!(
            "{} misses in all piled onto keys that were already being refilled, each one a request to the backend.",
            human::count(pileup)
        ));
        draft.metric("bursts", bursts);
        draft.metric("max_burst", p.stats.max_burst);
        draft.metric("max_burst_key", key.clone());
        draft.metric("pileup_misses", pileup);
        draft.metric("window_seconds", round(t.stampede_window as f64 / 1e6, 3));
        draft.suggestion = format!(
            "Coalesce concurrent refills of {} (single flight, or a short lock per key), or refresh hot keys before \
             they expire and add jitter to their TTLs.",
            quoted(p.name)
        );
        draft.action = Action::CoalesceRefills { keys: vec![key] };
        found.push((p.id, analysis.finding(draft)));
    }
    found
}
