//! `--redact-keys`: key names hidden from everything served, for dashboards on shared screens. Keys reach the
//! report only as examples (hottest evicted keys, keys to warm, keys refilled at once) and in sentences built from
//! them; each is replaced by its pattern (`user:1457` -> `user:{num}`), which says as much about where to look
//! and nothing about whose data it is. Patterns stay: they are the point.

use cachescope_core::pattern::fold_key;
use cachescope_core::report::{Action, Report};
use cachescope_live::Anomaly;

/// The keys a report names, with what replaces each.
#[derive(Debug, Default)]
pub struct Redactor {
    /// Longest first, so that a key that contains another is replaced whole.
    keys: Vec<(String, String)>,
}

impl Redactor {
    pub fn of(report: Option<&Report>) -> Self {
        let mut keys: Vec<String> = Vec::new();
        for finding in report.iter().flat_map(|r| &r.findings) {
            match &finding.suggestion.action {
                Action::RaiseMaxmemory { hot_evicted_keys, .. } => keys.extend(hot_evicted_keys.iter().cloned()),
                Action::WarmCache { keys: warm, .. } => keys.extend(warm.iter().cloned()),
                Action::CoalesceRefills { keys: hot } => keys.extend(hot.iter().cloned()),
                _ => {}
            }
            for (name, value) in &finding.evidence.metrics {
                if name.contains("key")
                    && let Some(list) = value.as_array()
                {
                    keys.extend(list.iter().filter_map(|v| v.as_str()).map(str::to_string));
                }
            }
        }
        keys.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        keys.dedup();
        let keys = keys
            .into_iter()
            .map(|key| {
                let pattern = fold_key(key.as_bytes());
                (key, pattern)
            })
            .filter(|(key, pattern)| key != pattern)
            .collect();
        Redactor { keys }
    }

    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (key, pattern) in &self.keys {
            if out.contains(key.as_str()) {
                out = out.replace(key.as_str(), pattern);
            }
        }
        out
    }

    pub fn report(&self, report: &mut Report) {
        for finding in &mut report.findings {
            finding.evidence.summary = self.text(&finding.evidence.summary);
            for detail in &mut finding.evidence.details {
                *detail = self.text(detail);
            }
            for value in finding.evidence.metrics.values_mut() {
                if let Some(list) = value.as_array_mut() {
                    for item in list.iter_mut() {
                        if let Some(text) = item.as_str() {
                            *item = self.text(text).into();
                        }
                    }
                }
            }
            finding.suggestion.summary = self.text(&finding.suggestion.summary);
            let hide = |list: &mut Vec<String>| list.iter_mut().for_each(|key| *key = fold_key(key.as_bytes()));
            match &mut finding.suggestion.action {
                Action::RaiseMaxmemory { hot_evicted_keys, .. } => hide(hot_evicted_keys),
                Action::WarmCache { keys, .. } | Action::CoalesceRefills { keys } => hide(keys),
                _ => {}
            }
            if let Some(gain) = &mut finding.simulated {
                gain.change = self.text(&gain.change);
            }
        }
    }

    pub fn anomalies(&self, anomalies: &mut [Anomaly]) {
        for anomaly in anomalies {
            anomaly.text = self.text(&anomaly.text);
        }
    }
}

#[cfg(test)]
mod tests {
    use cachescope_core::report::{Action, FindingCause, FindingDraft};
    use cachescope_core::{Engine, EngineConfig};

    use super::Redactor;

    #[test]
    fn keys_become_their_pattern_and_patterns_stay() {
        let mut report = Engine::new(EngineConfig::default()).report();
        let mut draft = FindingDraft::new(FindingCause::ColdCache, "user:{num}", 10);
        draft.details.push("Hottest keys missed after it: user:1457, user:14570.".into());
        draft.suggestion = "Warm `user:{num}`, hottest keys first: user:1457, user:14570.".into();
        draft.action = Action::WarmCache {
            patterns: vec!["user:{num}".into()],
            keys: vec!["user:1457".into(), "user:14570".into()],
        };
        draft.metric("hottest_keys", vec!["user:1457", "user:14570"]);
        report.findings.push(draft.finish(10));
        let redactor = Redactor::of(Some(&report));
        redactor.report(&mut report);
        let json = serde_json::to_string(&report).unwrap();
        assert!(!json.contains("1457"), "{json}");
        let finding = &report.findings[0];
        assert_eq!(finding.suggestion.summary, "Warm `user:{num}`, hottest keys first: user:{num}, user:{num}.");
        assert_eq!(finding.evidence.details[0], "Hottest keys missed after it: user:{num}, user:{num}.");
        assert_eq!(redactor.text("new pattern users:{num}"), "new pattern users:{num}");
    }
}
