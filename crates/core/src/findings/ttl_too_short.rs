//! `ttl_too_short`: a material share of a pattern's misses are expirations: its keys are read again after
//! their TTL has run out, and a longer TTL would have turned those reads into hits.
//!
//! The suggestion covers the expired misses: 90% of them came within the suggested TTL of their key's write
//! (with a tenth more for margin), and it is at least one and a half times the current TTL, rounded up to a value people write
//! in configuration and never above a week. Keys read steadily still expire one TTL after each write (reads do
//! not renew a TTL), so their expirations fall in proportion to the TTL; the evidence says so. The corpus
//! checks the suggestion against the smallest TTL the what-if simulator finds reaching 90% of the best gain
//! (BENCHMARKS.md).

use crate::human;
use crate::pattern::PatternId;
use crate::report::{Action, Finding, FindingCause, MissCause};

use super::{Analysis, Draft, quoted, round};

/// Keys read again less often than this are not worth keeping: no TTL suggestion beyond it.
const MAX_SUGGESTED_TTL_MS: u64 = 7 * 86_400_000;
/// A suggestion at least one and a half times the current TTL: less is not worth a configuration change.
const MIN_FACTOR_PERCENT: u64 = 150;
/// Share of the expired misses the suggestion must cover, by the time since their key's write.
const COVERED: f64 = 0.9;

pub(crate) fn detect(analysis: &Analysis<'_>) -> Vec<(PatternId, Finding)> {
    let mut found = Vec::new();
    for p in &analysis.patterns {
        // Misses piled on a refill already under way are a stampede's: the TTL explains the first after expiry.
        let piled = (p.stats.pileup_misses.round() as u64).min(p.stats.misses);
        let expired = p.causes.get(MissCause::Expired).saturating_sub(piled);
        if !analysis.material_steady(p, expired) {
            continue;
        }
        let (Some(ttl_ms), Some(age_p90)) = (p.stats.ttl_ms.quantile(0.5), p.stats.expired_age_ms.quantile(COVERED))
        else {
            continue;
        };
        if ttl_ms >= MAX_SUGGESTED_TTL_MS {
            continue;
        }
        let needed = ((age_p90 as f64 * 1.1) as u64).max(ttl_ms.saturating_mul(MIN_FACTOR_PERCENT) / 100);
        let suggested_ms = human::round_ttl_up(needed).min(MAX_SUGGESTED_TTL_MS);
        let covered = p.stats.expired_age_ms.share_at_most(suggested_ms);
        let expired_share = p.cause_share(MissCause::Expired);
        let reread = match (p.stats.reaccess_ms.quantile(0.5), p.stats.reaccess_ms.quantile(0.9)) {
            (Some(p50), Some(p90)) => format!(
                "its keys live {} but are read again every {} (median), {} at the 90th percentile",
                human::duration_ms(ttl_ms),
                human::duration_ms(p50),
                human::duration_ms(p90)
            ),
            _ => format!("its keys live {}", human::duration_ms(ttl_ms)),
        };

        let mut draft = Draft::new(FindingCause::TtlTooShort, p.name, expired);
        // Without hits seen, reads are misses only: their share says nothing.
        let of_reads = if analysis.hits_observed {
            format!(" ({} of its reads)", human::percent(expired as f64 / p.stats.reads.max(1) as f64))
        } else {
            String::new()
        };
        draft.evidence = format!(
            "{} of the misses of {} are expirations{of_reads}: {reread}.",
            human::percent(expired_share),
            quoted(p.name),
        );
        draft.details.push(format!(
            "{} of its expired misses came less than {} after the key was written (reads do not renew a TTL: a key \
             read steadily still expires {} after each write).",
            human::percent(covered),
            human::duration_ms(suggested_ms),
            human::duration_ms(ttl_ms)
        ));
        // Under memory pressure a longer TTL keeps more keys, which push out others: the memory comes with it.
        let evicted: u64 = analysis.patterns.iter().map(|o| o.causes.get(MissCause::Evicted)).sum();
        if evicted as f64 >= analysis.thresholds.min_share_of_all_misses * analysis.misses as f64 {
            let size = match p.stats.value_bytes.mean() {
                Some(mean) if mean > 0.0 => format!(" ({} of value each, on average)", human::bytes(mean)),
                _ => String::new(),
            };
            draft.details.push(format!(
                "The cache also evicts keys for memory: a longer TTL keeps more of {}'s keys{size}, which push \
                 others out unless memory grows with it.",
                quoted(p.name)
            ));
        }
        draft.metric("expired_share", round(expired_share, 4));
        draft.metric("current_ttl_seconds", round(ttl_ms as f64 / 1000.0, 3));
        if let (Some(p50), Some(p90)) = (p.stats.reaccess_ms.quantile(0.5), p.stats.reaccess_ms.quantile(0.9)) {
            draft.metric("reaccess_p50_seconds", round(p50 as f64 / 1000.0, 3));
            draft.metric("reaccess_p90_seconds", round(p90 as f64 / 1000.0, 3));
        }
        draft.metric("expired_age_p90_seconds", round(age_p90 as f64 / 1000.0, 3));
        draft.metric("expired_misses_within_suggested_ttl", round(covered, 4));
        draft.suggestion = format!(
            "Raise the TTL of {} from {} to {}: it covers {} of the expired misses, and keys read steadily expire \
             {} times less often.",
            quoted(p.name),
            human::duration_ms(ttl_ms),
            human::duration_ms(suggested_ms),
            human::percent(covered),
            (suggested_ms / ttl_ms.max(1)).max(1)
        );
        draft.action = Action::RaiseTtl {
            ttl_seconds: suggested_ms / 1000,
            current_ttl_seconds: Some(round(ttl_ms as f64 / 1000.0, 3)),
        };
        found.push((p.id, analysis.finding(draft)));
    }
    found
}
