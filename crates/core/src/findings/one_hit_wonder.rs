//! `one_hit_wonder`: the keys written under a pattern are almost never read before they are overwritten,
//! expire, get evicted or deleted. Caching them only costs memory (and evicts keys that would be read).

use crate::human;
use crate::pattern::PatternId;
use crate::report::{Action, Finding, FindingCause, MissCause};

use super::{Analysis, Claims, Draft, quoted, round};

pub(crate) fn detect(analysis: &Analysis<'_>, claims: &Claims) -> Vec<(PatternId, Finding)> {
    let t = analysis.thresholds;
    let mut found = Vec::new();
    // Reads that hit are what shows a write was read: without them every write looks unread.
    if !analysis.hits_observed {
        return found;
    }
    for p in &analysis.patterns {
        if claims.mismatched_writers.contains(&p.id) {
            continue;
        }
        let writes = p.stats.tracked_writes;
        if writes < t.one_hit_min_writes {
            continue;
        }
        let unread_share = (p.unread_writes / writes).min(1.0);
        if unread_share < t.one_hit_min_unread_share {
            continue;
        }
        let written_bytes = p.stats.value_bytes.mean().unwrap_or(0.0) * p.stats.writes as f64;
        let explained = p.causes.get(MissCause::NeverWritten);
        let mut draft = Draft::new(FindingCause::OneHitWonder, p.name, explained);
        draft.evidence = format!(
            "{} of the {} writes to {} were never read before the key was overwritten, expired, evicted or deleted.",
            human::percent(unread_share),
            human::count(p.stats.writes),
            quoted(p.name)
        );
        draft.details.push(format!(
            "{} distinct keys{}; its misses are first requests that no cache size would avoid.",
            human::count(p.stats.distinct.estimate().round() as u64),
            if written_bytes > 0.0 {
                format!(", about {} of values written", human::bytes(written_bytes))
            } else {
                String::new()
            }
        ));
        draft.metric("unread_write_share", round(unread_share, 4));
        draft.metric("writes", p.stats.writes);
        draft.metric("written_bytes", written_bytes.round() as u64);
        draft.suggestion = format!(
            "Stop caching {}, or cache an entry only on its second request: that frees memory for keys that are read.",
            quoted(p.name)
        );
        draft.action = Action::StopCaching { pattern: p.name.to_string() };
        found.push((p.id, analysis.finding(draft)));
    }
    found
}
