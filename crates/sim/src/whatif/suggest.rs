//! The change a finding suggests, as settings a what-if can replay: a TTL for a pattern, more memory, another
//! policy, a pattern no longer cached. Findings whose fix a cache model cannot play (align two key formats, warm
//! the cache, coalesce refills) have none.

use cachescope_core::report::{Action, Finding};

use super::change::{Selector, Settings, TtlOverride};
use crate::model::Policy;

/// The settings `finding`'s suggestion would give, from `current`, and a short label for it.
pub fn suggested_change(finding: &Finding, current: &Settings) -> Option<(String, Settings)> {
    let mut changed = current.clone();
    let label = match &finding.suggestion.action {
        &Action::RaiseTtl { ttl_seconds, .. } => {
            changed.ttls.push(TtlOverride {
                selector: Selector::Pattern(finding.pattern.clone()),
                ttl_ms: ttl_seconds.saturating_mul(1_000),
            });
            format!(
                "TTL {} for {}",
                cachescope_core::human::duration_ms(ttl_seconds.saturating_mul(1_000)),
                finding.pattern
            )
        }
        &Action::RaiseMaxmemory { maxmemory_bytes, .. } => {
            // Raising memory whose size is unknown (a trace that does not say it) plays nothing: the model as it
            // is holds every key.
            if changed.model.unit_size || changed.model.capacity.is_none() {
                return None;
            }
            changed.model.capacity = Some(maxmemory_bytes);
            format!("maxmemory {}", cachescope_core::human::bytes(maxmemory_bytes as f64))
        }
        Action::ChangeEvictionPolicy { maxmemory_policy: Some(policy), .. } => {
            let policy: Policy = policy.parse().ok()?;
            changed.model.policy = policy;
            format!("maxmemory-policy {policy}")
        }
        Action::StopCaching { pattern } => {
            changed.not_cached.push(Selector::Pattern(pattern.clone()));
            format!("no caching of {pattern}")
        }
        Action::ChangeEvictionPolicy { maxmemory_policy: None, .. }
        | Action::AlignKeyFormat { .. }
        | Action::WarmCache { .. }
        | Action::FixFillPath { .. }
        | Action::CoalesceRefills { .. }
        | Action::Investigate {} => return None,
    };
    Some((label, changed))
}
