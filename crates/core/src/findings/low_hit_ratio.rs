//! `low_hit_ratio`: a pattern whose hit ratio is far below the rest of the cache, with no finding above to
//! explain it. The report shows its miss causes so the operator knows where to look.

use crate::human;
use crate::pattern::PatternId;
use crate::report::{Finding, FindingCause, MissCause};

use super::{Analysis, Claims, Draft, quoted, round};

pub(crate) fn detect(analysis: &Analysis<'_>, claims: &Claims) -> Vec<(PatternId, Finding)> {
    let t = analysis.thresholds;
    let min_reads = t.min_reads.max((analysis.reads as f64 * t.low_hit_ratio_min_read_share) as u64);
    let mut found = Vec::new();
    if !analysis.hits_observed {
        return found;
    }
    for p in &analysis.patterns {
        if claims.with_finding.contains(&p.id)
            || claims.mismatched_writers.contains(&p.id)
            || p.stats.reads < min_reads
            || p.stats.misses < t.min_misses
        {
            continue;
        }
        let Some(hit_ratio) = p.stats.hit_ratio() else {
            continue;
        };
        // Misses of keys whose history predates the recording (a trace that joined a running cache) say nothing
        // of the pattern yet: most of them unknown, there is nothing to point at.
        if p.cause_share(MissCause::Unknown) >= 0.5 {
            continue;
        }
        let (rest_hits, rest_answered) =
            (analysis.hits - p.stats.hits, (analysis.hits + analysis.misses) - (p.stats.hits + p.stats.misses));
        if rest_answered == 0 {
            continue;
        }
        let rest = rest_hits as f64 / rest_answered as f64;
        if hit_ratio > rest - t.low_hit_ratio_gap {
            continue;
        }
        let causes: Vec<String> = MissCause::ALL
            .iter()
            .filter(|&&c| p.causes.get(c) > 0)
            .map(|&c| format!("{c} {}", human::percent(p.cause_share(c))))
            .collect();
        let mut draft = Draft::new(FindingCause::LowHitRatio, p.name, p.stats.misses);
        draft.evidence = format!(
            "{} hits {} of its reads, against {} for the rest of the cache, and no single cause explains it.",
            quoted(p.name),
            human::percent(hit_ratio),
            human::percent(rest)
        );
        draft.details.push(format!("Its misses: {}.", causes.join(", ")));
        draft.metric("hit_ratio", round(hit_ratio, 4));
        draft.metric("rest_hit_ratio", round(rest, 4));
        draft.suggestion = format!(
            "Look at how {} is read and written: its miss causes above say where its misses come from.",
            quoted(p.name)
        );
        found.push((p.id, analysis.finding(draft)));
    }
    found
}
