//! The change a finding suggests, as settings a what-if can replay: a TTL for a pattern, more memory, another
//! policy, a pattern no longer cached. Findings whose fix a cache model cannot play (align two key formats, warm
//! the cache, coalesce refills) have none.

use cachescope_core::report::Finding;

use super::change::{Selector, Settings, TtlOverride};
use crate::model::Policy;

/// The settings `finding`'s suggestion would give, from `current`, and a short label for it.
pub fn suggested_change(finding: &Finding, current: &Settings) -> Option<(String, Settings)> {
    let parameters = &finding.suggestion.parameters;
    let mut changed = current.clone();
    let label = match finding.suggestion.action.as_str() {
        "raise_ttl" => {
            let seconds = parameters.get("ttl_seconds")?.as_u64()?;
            changed.ttls.push(TtlOverride {
                selector: Selector::Pattern(finding.pattern.clone()),
                ttl_ms: seconds.saturating_mul(1_000),
            });
            format!(
                "TTL {} for {}",
                cachescope_core::human::duration_ms(seconds.saturating_mul(1_000)),
                finding.pattern
            )
        }
        "raise_maxmemory" => {
            let bytes = parameters.get("maxmemory_bytes")?.as_u64()?;
            if changed.model.unit_size {
                return None;
            }
            changed.model.capacity = Some(bytes);
            format!("maxmemory {}", cachescope_core::human::bytes(bytes as f64))
        }
        "change_eviction_policy" => {
            let policy: Policy = parameters.get("maxmemory_policy")?.as_str()?.parse().ok()?;
            changed.model.policy = policy;
            format!("maxmemory-policy {policy}")
        }
        "stop_caching" => {
            changed.not_cached.push(Selector::Pattern(finding.pattern.clone()));
            format!("no caching of {}", finding.pattern)
        }
        _ => return None,
    };
    Some((label, changed))
}
