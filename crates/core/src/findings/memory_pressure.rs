//! `memory_pressure`: a material share of a pattern's misses are keys gone before their TTL with no delete or flush seen: the cache
//! evicts them for memory. The finding sizes the working set (the keys read again after a write, across all
//! patterns), compares it with the cache's limit when known, and names the hottest evicted keys.

use crate::human;
use crate::pattern::PatternId;
use crate::report::{Action, Finding, FindingCause, MissCause};

use super::{Analysis, Draft, key_list, quoted, round};

/// Headroom over the working set in the suggested size: fragmentation, bursts, growth.
const HEADROOM: f64 = 1.25;

pub(crate) fn detect(analysis: &Analysis<'_>) -> Vec<(PatternId, Finding)> {
    let total_working_set: f64 = analysis.patterns.iter().map(|p| p.working_set_bytes).sum();
    let mut found = Vec::new();
    for p in &analysis.patterns {
        let evicted = p.causes.get(MissCause::Evicted);
        let evicted_share = p.cause_share(MissCause::Evicted);
        if !analysis.material_steady(p, evicted) {
            continue;
        }
        let hot = analysis.top_evicted.top(5, |id| id == p.id);
        let needed = (total_working_set * HEADROOM) as u64;
        let suggested = human::round_bytes_up(match analysis.cache_capacity {
            Some(capacity) => needed.max(capacity.saturating_mul(3) / 2),
            None => needed,
        });

        let mut draft = Draft::new(FindingCause::MemoryPressure, p.name, evicted);
        draft.evidence = format!(
            "{} of the misses of {} are evictions: its keys were gone before their TTL, with no delete or flush seen.",
            human::percent(evicted_share),
            quoted(p.name)
        );
        let capacity_text = match analysis.cache_capacity {
            Some(capacity) => format!("; the cache holds {}", human::bytes(capacity as f64)),
            None => String::new(),
        };
        draft.details.push(format!(
            "Keys read again after being written take about {} for {}, {} across all patterns (keys and values){capacity_text}.",
            human::bytes(p.working_set_bytes),
            quoted(p.name),
            human::bytes(total_working_set)
        ));
        if !hot.is_empty() {
            draft.details.push(format!("Hottest evicted keys: {}.", key_list(&hot, 5)));
        }
        if let Some(mean) = p.stats.value_bytes.mean() {
            draft.details.push(format!("Its values average {}.", human::bytes(mean)));
        }
        draft.metric("evicted_share", round(evicted_share, 4));
        draft.metric("working_set_bytes", p.working_set_bytes.round() as u64);
        draft.metric("total_working_set_bytes", total_working_set.round() as u64);
        if let Some(capacity) = analysis.cache_capacity {
            draft.metric("cache_capacity_bytes", capacity);
        }
        let hot_keys: Vec<String> = hot.iter().map(|(k, _)| String::from_utf8_lossy(k).into_owned()).collect();
        draft.metric("hot_evicted_keys", hot_keys.clone());
        draft.suggestion = format!(
            "Give the cache at least {} (maxmemory), or store less under {}.",
            human::bytes(suggested as f64),
            quoted(p.name)
        );
        draft.action = Action::RaiseMaxmemory { maxmemory_bytes: suggested, hot_evicted_keys: hot_keys };
        found.push((p.id, analysis.finding(draft)));
    }
    found
}
