//! `ttl_too_short`: most misses of a pattern are expirations, and its keys are read again after their TTL has
//! run out: a longer TTL would have turned those reads into hits. The suggestion names a TTL that covers 90% of
//! the re-accesses, rounded up to a value people write in configuration.

use crate::human;
use crate::pattern::PatternId;
use crate::report::{Finding, FindingCause, MissCause};

use super::{Analysis, Draft, quoted, round};

const MIN_EXPIRED_SHARE: f64 = 0.5;
const MIN_MISS_RATIO: f64 = 0.2;
/// Share of re-accesses that must come after the TTL ran out.
const MIN_LATE_REACCESS_SHARE: f64 = 0.3;
/// Keys read again less often than this are not worth keeping: no TTL suggestion beyond it.
const MAX_SUGGESTED_TTL_MS: u64 = 7 * 86_400_000;

pub(crate) fn detect(analysis: &Analysis<'_>) -> Vec<(PatternId, Finding)> {
    let t = analysis.thresholds;
    let mut found = Vec::new();
    for p in &analysis.patterns {
        let expired = p.causes.get(MissCause::Expired);
        let expired_share = p.cause_share(MissCause::Expired);
        if expired < t.min_misses || expired_share < MIN_EXPIRED_SHARE || p.miss_ratio() < MIN_MISS_RATIO {
            continue;
        }
        let (Some(ttl_ms), Some(reaccess_p50), Some(reaccess_p90)) =
            (p.stats.ttl_ms.quantile(0.5), p.stats.reaccess_ms.quantile(0.5), p.stats.reaccess_ms.quantile(0.9))
        else {
            continue;
        };
        let late_share = 1.0 - p.stats.reaccess_ms.share_at_most(ttl_ms);
        if late_share < MIN_LATE_REACCESS_SHARE || reaccess_p90 > MAX_SUGGESTED_TTL_MS {
            continue;
        }
        let suggested_ms = human::round_ttl_up((reaccess_p90 as f64 * 1.1) as u64).max(human::round_ttl_up(ttl_ms * 2));
        let covered = p.stats.expired_age_ms.share_at_most(suggested_ms);

        let mut draft = Draft::new(FindingCause::TtlTooShort, p.name, expired);
        draft.evidence = format!(
            "{} of the misses of {} are expirations: its keys live {} but are read again every {} (median), {} at the \
             90th percentile.",
            human::percent(expired_share),
            quoted(p.name),
            human::duration_ms(ttl_ms),
            human::duration_ms(reaccess_p50),
            human::duration_ms(reaccess_p90)
        );
        draft.details.push(format!(
            "{} of its re-reads come after the TTL has run out; {} of its expired misses came less than {} after the \
             key was written.",
            human::percent(late_share),
            human::percent(covered),
            human::duration_ms(suggested_ms)
        ));
        draft.metric("expired_share", round(expired_share, 4));
        draft.metric("current_ttl_seconds", round(ttl_ms as f64 / 1000.0, 3));
        draft.metric("reaccess_p50_seconds", round(reaccess_p50 as f64 / 1000.0, 3));
        draft.metric("reaccess_p90_seconds", round(reaccess_p90 as f64 / 1000.0, 3));
        draft.metric("late_reaccess_share", round(late_share, 4));
        draft.metric("expired_misses_within_suggested_ttl", round(covered, 4));
        draft.suggestion = format!(
            "Raise the TTL of {} from {} to {}: it covers 90% of the re-reads.",
            quoted(p.name),
            human::duration_ms(ttl_ms),
            human::duration_ms(suggested_ms)
        );
        draft.action = "raise_ttl";
        draft.parameter("ttl_seconds", suggested_ms / 1000);
        draft.parameter("current_ttl_seconds", round(ttl_ms as f64 / 1000.0, 3));
        found.push((p.id, analysis.finding(draft)));
    }
    found
}
