//! `ttl_too_short` from the expiry watch. Without the traffic, the doctor cannot count the misses an expiry
//! causes, but it can watch keys expire: in a read-through cache a key comes back when someone reads it after
//! its TTL ran out, and that read was a miss. How soon expired keys come back gives the rate at which a key is
//! read (an exponential wait: returns over the time the keys were watched gone, counting the keys still gone
//! at the end as longer waits); with the TTL `T` and that rate `λ`, a key is read about `λT` times per life and
//! misses once: `1 / (λT + 1)` of its reads are misses the TTL causes. The sampled keys' own idle times cannot
//! tell this: a key still in the cache has always been idle for less than its age, whatever its TTL.
//!
//! A finding needs enough keys seen expiring and coming back, an expiry miss share of the pattern's reads of
//! 2% or more (the corpus's threshold for a material cause), and those misses to be 1% or more of the
//! server's misses over the check.

use cachescope_core::human;
use cachescope_core::report::{Action, Finding, FindingCause, ServerReport, Severity};

use crate::Deltas;
use crate::checks::Draft;
use crate::sample::PatternSample;

/// Keys of a pattern seen expiring during the watch, and of those come back, below which nothing is concluded.
const MIN_EXPIRED: u64 = 5;
const MIN_CAME_BACK: u64 = 3;
/// The share of a pattern's reads its expirations make miss, from which its TTL is too short.
const MIN_EXPIRED_SHARE_OF_READS: f64 = 0.02;
/// The share of the server's misses they must be, not to send someone after a pattern nobody misses.
const MIN_SHARE_OF_ALL_MISSES: f64 = 0.01;
/// The suggestion covers the read after expiry of 90% of the keys (the 90th percentile of the exponential
/// wait, ln 10 / λ, after the TTL), with a tenth more for margin; at least one and a half times the TTL; at
/// most a week (keys read less often than that are not worth keeping).
const COVERED_WAIT_FACTOR: f64 = std::f64::consts::LN_10;
const MIN_FACTOR: f64 = 1.5;
const MAX_SUGGESTED_TTL_MS: u64 = 7 * 86_400_000;

pub(crate) fn ttl_too_short(server: &ServerReport, deltas: Option<Deltas>, patterns: &[PatternSample]) -> Vec<Finding> {
    let Some(deltas) = deltas else { return Vec::new() };
    let interval = server.interval_seconds.max(1e-3);
    let misses_per_second = deltas.misses as f64 / interval;
    let scale = if server.sampled_keys == 0 {
        0.0
    } else {
        server.keys.max(server.sampled_keys) as f64 / server.sampled_keys as f64
    };
    let mut findings = Vec::new();
    for pattern in patterns {
        if pattern.expired < MIN_EXPIRED || pattern.came_back < MIN_CAME_BACK {
            continue;
        }
        // The TTL keys came back with is the one the application sets; without it, the longest TTL left bounds it.
        let Some(rate) = pattern.reread_per_second() else { continue };
        let Some(ttl_ms) = pattern.fresh_ttl_ms.quantile(0.5).or(pattern.ttl_ms.max()) else { continue };
        let ttl = ttl_ms.max(1) as f64 / 1000.0;
        let share_of_reads = 1.0 / (rate * ttl + 1.0);
        // Each key with a TTL expires once a TTL, and keys read again at the rate measured all come back: the
        // misses come at the rate keys expire (the share back within the watch would undercount slow readers).
        let expired_misses_per_second = pattern.with_ttl as f64 * scale / ttl;
        let share_of_misses =
            if misses_per_second > 0.0 { (expired_misses_per_second / misses_per_second).min(1.0) } else { 0.0 };
        if share_of_reads < MIN_EXPIRED_SHARE_OF_READS || share_of_misses < MIN_SHARE_OF_ALL_MISSES {
            continue;
        }
        let needed_ms = ((ttl + COVERED_WAIT_FACTOR / rate) * 1.1 * 1000.0).max(ttl * MIN_FACTOR * 1000.0);
        let suggested_ms = human::round_ttl_up(needed_ms as u64).min(MAX_SUGGESTED_TTL_MS);
        if suggested_ms <= ttl_ms {
            continue;
        }
        let severity = if share_of_misses >= 0.15 {
            Severity::Critical
        } else if share_of_misses >= 0.03 {
            Severity::Warning
        } else {
            Severity::Info
        };
        let back_p50 = pattern.back_after_ms.quantile(0.5).unwrap_or(0);
        let mut draft = Draft::new(FindingCause::TtlTooShort, &pattern.pattern, severity);
        draft.share = share_of_misses;
        draft.evidence = format!(
            "Of {} keys of `{}` seen expiring, {} were written again within {} (a median of {} after expiring): \
             they are read soon after their TTL of {} runs out, so about {} of the pattern's reads miss for it, \
             some {} of the server's misses.",
            pattern.expired,
            pattern.pattern,
            pattern.came_back,
            human::duration_ms(server.expiry_watch.as_ref().map_or(0, |w| (w.seconds * 1000.0) as u64)),
            human::duration_ms(back_p50),
            human::duration_ms(ttl_ms),
            human::percent(share_of_reads),
            human::percent(share_of_misses),
        );
        draft.metric("current_ttl_seconds", ttl);
        draft.metric("keys_expired", pattern.expired);
        draft.metric("keys_came_back", pattern.came_back);
        draft.metric("came_back_p50_seconds", back_p50 as f64 / 1000.0);
        draft.metric("reads_per_key_per_second", (rate * 1e4).round() / 1e4);
        draft.metric("expired_share_of_reads", (share_of_reads * 1e4).round() / 1e4);
        draft.metric("estimated_share_of_misses", (share_of_misses * 1e4).round() / 1e4);
        draft.suggestion = format!(
            "Raise the TTL of `{}` from {} to {}: 90% of its expired keys are read again within that long of \
             being written.",
            pattern.pattern,
            human::duration_ms(ttl_ms),
            human::duration_ms(suggested_ms)
        );
        draft.action = Action::RaiseTtl { ttl_seconds: (suggested_ms / 1000).max(1), current_ttl_seconds: Some(ttl) };
        findings.push(draft.finish());
    }
    findings
}
