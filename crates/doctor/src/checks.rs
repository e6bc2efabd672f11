//! The doctor's checks: each reads the server's statistics and the key sample, and reports what an operator
//! would conclude after grepping INFO by hand, with a concrete fix. Findings that concern the whole cache name
//! the pattern `*`. They come from statistics, not from misses attributed one by one: `misses_explained` is
//! only set where the statistics measure it.

use cachescope_core::human;
use cachescope_core::report::{Action, Finding, FindingCause, FindingDraft, ServerReport, Severity};

use crate::sample::PatternSample;
use crate::{Deltas, Snapshot};

/// A finding of the doctor: the engine's builder, with the severity the check judges from the server's figures.
pub(crate) struct Draft {
    finding: FindingDraft,
    severity: Severity,
    pub(crate) share: f64,
}

impl Draft {
    pub(crate) fn new(cause: FindingCause, pattern: &str, severity: Severity) -> Draft {
        Draft { finding: FindingDraft::new(cause, pattern, 0), severity, share: 0.0 }
    }

    pub(crate) fn finish(self) -> Finding {
        self.finding.finish_as(self.severity, self.share)
    }
}

impl std::ops::Deref for Draft {
    type Target = FindingDraft;
    fn deref(&self) -> &FindingDraft {
        &self.finding
    }
}

impl std::ops::DerefMut for Draft {
    fn deref_mut(&mut self) -> &mut FindingDraft {
        &mut self.finding
    }
}

pub(crate) fn run(
    snapshot: &Snapshot,
    server: &ServerReport,
    deltas: Option<Deltas>,
    patterns: &[PatternSample],
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let primary = server.role != "slave";
    let fill =
        if server.maxmemory_bytes > 0 { server.used_memory_bytes as f64 / server.maxmemory_bytes as f64 } else { 0.0 };
    let policy = server.maxmemory_policy.as_str();
    // Errors since the server started may be old news; those answered during the check are happening now.
    let errors_since_start = snapshot.after.error_counts();
    let errors_now = snapshot.errors_during();
    let oom_now = errors_now.get("OOM").copied().unwrap_or(0);

    // A restart empties the cache: it shows as a recent start and a hit ratio still low since then.
    let still_cold = server.uptime_seconds < 3_600 && server.hit_ratio_since_start.is_some_and(|r| r < 0.8);
    if snapshot.restarted_during() || still_cold {
        let severity =
            if snapshot.restarted_during() || server.uptime_seconds < 600 { Severity::Warning } else { Severity::Info };
        let mut draft = Draft::new(FindingCause::ColdCache, "*", severity);
        draft.evidence = if snapshot.restarted_during() {
            "The server restarted during the check (its run id changed): its cache started empty.".to_string()
        } else {
            format!(
                "The server started {} ago: its cache started empty and is still filling.",
                human::duration(server.uptime_seconds * 1_000_000)
            )
        };
        if let Some(since_start) = server.hit_ratio_since_start {
            draft.details.push(format!("Hit ratio since it started: {}.", human::percent(since_start)));
        }
        draft.metric("uptime_seconds", server.uptime_seconds);
        let warm: Vec<String> = patterns.iter().take(5).map(|p| p.pattern.clone()).collect();
        draft.suggestion = if warm.is_empty() {
            "Warm the cache after restarts (replay the most read keys), and find out why it restarted.".to_string()
        } else {
            format!(
                "Warm the cache after restarts, largest patterns first ({}), and find out why it restarted.",
                warm.join(", ")
            )
        };
        draft.action = Action::WarmCache { patterns: warm, keys: Vec::new() };
        findings.push(draft.finish());
    }

    // Evicting at the memory limit.
    if primary && server.maxmemory_bytes > 0 && server.evictions_per_second > 0.0 && policy != "noeviction" {
        let severity =
            if server.hit_ratio_now.is_some_and(|r| r < 0.8) { Severity::Critical } else { Severity::Warning };
        let mut draft = Draft::new(FindingCause::MemoryPressure, "*", severity);
        draft.evidence = format!(
            "The server evicts {:.0} keys per second at {} of its maxmemory ({} of {}, {policy}): keys go before they are read again.",
            server.evictions_per_second,
            human::percent(fill.min(1.0)),
            human::bytes(server.used_memory_bytes as f64),
            human::bytes(server.maxmemory_bytes as f64)
        );
        let idle: Vec<u64> = patterns.iter().filter_map(|p| p.idle_seconds.quantile(0.9)).collect();
        if let Some(&idle_p90) = idle.iter().max() {
            draft.details.push(format!(
                "The keys still in memory were used within the last {} (90th percentile): any key left alone longer is evicted.",
                human::duration(idle_p90 * 1_000_000)
            ));
            draft.metric("idle_p90_seconds", idle_p90);
        }
        let biggest: Vec<String> = patterns.iter().take(3).map(|p| p.pattern.clone()).collect();
        if !biggest.is_empty() {
            draft.details.push(format!("Patterns taking the most memory in the sample: {}.", biggest.join(", ")));
        }
        let suggested = human::round_bytes_up(server.maxmemory_bytes.saturating_mul(2));
        draft.metric("evictions_per_second", server.evictions_per_second);
        draft.metric("maxmemory_bytes", server.maxmemory_bytes);
        draft.metric("used_memory_bytes", server.used_memory_bytes);
        draft.suggestion = format!(
            "Give the cache more memory (maxmemory {} would double it), or store less: shorter TTLs or smaller values under {}.",
            human::bytes(suggested as f64),
            if biggest.is_empty() { "the largest patterns".to_string() } else { biggest.join(", ") }
        );
        draft.action = Action::RaiseMaxmemory { maxmemory_bytes: suggested, hot_evicted_keys: Vec::new() };
        findings.push(draft.finish());
    }

    // A policy that works against the keys.
    if primary && server.maxmemory_bytes > 0 && policy == "noeviction" && (fill >= 0.95 || oom_now > 0) {
        let severity = if oom_now > 0 { Severity::Critical } else { Severity::Warning };
        let mut draft = Draft::new(FindingCause::EvictionPolicy, "*", severity);
        draft.evidence = format!(
            "maxmemory-policy is noeviction and the server is at {} of its maxmemory: once full it refuses writes (OOM) instead of evicting.",
            human::percent(fill.min(1.0))
        );
        draft.metric("fill", fill);
        draft.suggestion =
            "For a cache, set maxmemory-policy to allkeys-lru (or allkeys-lfu), so that old keys make room."
                .to_string();
        draft.action = Action::ChangeEvictionPolicy {
            maxmemory_policy: Some("allkeys-lru".to_string()),
            patterns_without_ttl: None,
        };
        findings.push(draft.finish());
    }
    let ttl_known: u64 = patterns.iter().map(|p| p.ttl_known).sum();
    let without_ttl: u64 = patterns.iter().map(|p| p.without_ttl()).sum();
    if primary && policy.starts_with("volatile-") && ttl_known > 0 && without_ttl * 2 >= ttl_known && fill >= 0.8 {
        let share = without_ttl as f64 / ttl_known as f64;
        let culprits: Vec<String> = patterns
            .iter()
            .filter(|p| p.ttl_known > 0 && p.with_ttl * 2 < p.ttl_known)
            .take(5)
            .map(|p| p.pattern.clone())
            .collect();
        let mut draft = Draft::new(FindingCause::EvictionPolicy, "*", Severity::Warning);
        draft.evidence = format!(
            "{} of the sampled keys have no TTL, and maxmemory-policy {policy} can only evict keys that have one: at {} of maxmemory, the rest cannot make room.",
            human::percent(share),
            human::percent(fill.min(1.0))
        );
        draft.details.push(format!("Patterns mostly without a TTL: {}.", culprits.join(", ")));
        draft.metric("keys_without_ttl_share", share);
        draft.suggestion = format!(
            "Give TTLs to {} or switch maxmemory-policy to allkeys-lru.",
            if culprits.is_empty() { "the keys".to_string() } else { culprits.join(", ") }
        );
        draft.action = Action::ChangeEvictionPolicy { maxmemory_policy: None, patterns_without_ttl: Some(culprits) };
        findings.push(draft.finish());
    }

    // Writes the server refused.
    for (kind, severity, why) in [
        ("OOM", Severity::Critical, "the server is out of memory and its policy cannot evict"),
        (
            "WRONGTYPE",
            Severity::Warning,
            "a writer stores another type under keys that readers expect (or the reverse)",
        ),
    ] {
        let count = errors_since_start.get(kind).copied().unwrap_or(0);
        let now = errors_now.get(kind).copied().unwrap_or(0);
        if count == 0 && now == 0 {
            continue;
        }
        let mut draft = Draft::new(FindingCause::FailedWrite, "*", if now > 0 { severity } else { Severity::Info });
        draft.evidence = if now > 0 {
            format!(
                "{} commands were answered {kind} during the {} check ({} since the server started): {why}.",
                human::count(now),
                human::duration((server.interval_seconds * 1e6) as u64),
                human::count(count.max(now))
            )
        } else {
            format!(
                "{} commands were answered {kind} since the server started, none during the check: {why}, at some point.",
                human::count(count)
            )
        };
        draft.metric("error_kind", kind);
        draft.metric("count", count.max(now));
        draft.metric("count_during_check", now);
        draft.suggestion = match kind {
            "OOM" => "Raise maxmemory or choose an evicting maxmemory-policy (allkeys-lru); meanwhile every refused write is a miss later.".to_string(),
            _ => "Find the commands of the wrong type: `cachescope proxy` shows the failing writes by pattern.".to_string(),
        };
        draft.action = Action::FixFillPath { error_kinds: [(kind.to_string(), count)].into() };
        findings.push(draft.finish());
    }

    // Keys read again soon after their TTL runs out.
    findings.extend(crate::expiry::ttl_too_short(server, deltas, patterns));

    // A low hit ratio that nothing above explains.
    if let (Some(now), Some(d)) = (server.hit_ratio_now, deltas)
        && d.hits + d.misses >= 100
        && now < 0.8
        && !findings.iter().any(|f| matches!(f.cause, FindingCause::MemoryPressure | FindingCause::ColdCache))
    {
        let mut draft =
            Draft::new(FindingCause::LowHitRatio, "*", if now < 0.5 { Severity::Critical } else { Severity::Warning });
        draft.evidence = format!(
            "The hit ratio over the last {} is {} ({} hits, {} misses), with {:.0} expirations and {:.0} evictions per second.",
            human::duration((server.interval_seconds * 1e6) as u64),
            human::percent(now),
            human::count(d.hits),
            human::count(d.misses),
            server.expirations_per_second,
            server.evictions_per_second
        );
        draft.misses_explained = d.misses;
        draft.share = 1.0;
        draft.suggestion =
            "Run `cachescope proxy` in front of the server to see which key patterns miss and why.".to_string();
        findings.push(draft.finish());
    }
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.pattern.cmp(&b.pattern)));
    findings
}
