//! `failed_write`: the fill path of a pattern is broken. Either its writes are answered with errors, or its
//! misses are not followed by a write of their key (the application computes the value, then fails to store
//! it: a value that does not serialize, an exception swallowed after the miss).

use crate::event::ErrorKind;
use crate::human;
use crate::pattern::PatternId;
use crate::report::{Action, Finding, FindingCause, MissCause, Severity};

use super::{Analysis, Claims, Draft, quoted, round};

pub(crate) fn detect(analysis: &Analysis<'_>, claims: &mut Claims) -> Vec<(PatternId, Finding)> {
    let t = analysis.thresholds;
    let mut found = Vec::new();
    for p in &analysis.patterns {
        // A reader of a key mismatch is never refilled under its own keys: the mismatch explains it.
        if claims.mismatched_readers.contains(&p.id) {
            continue;
        }
        let attempts = p.stats.writes + p.stats.write_errors;
        let error_share = if attempts == 0 { 0.0 } else { p.stats.write_errors as f64 / attempts as f64 };
        // Writes the server refuses are a finding of their own, even when nobody reads those keys again.
        let failing_writes = p.stats.write_errors >= t.min_misses
            && error_share >= t.min_write_error_share
            && p.stats.write_errors as f64 >= t.min_share_of_all_misses * analysis.write_attempts as f64;
        let unrefilled_share = p.unrefilled_share();
        let unrefilled = p.unrefilled_misses.round() as u64;
        let explained = unrefilled.max(p.causes.get(MissCause::FailedWrite)).min(p.stats.misses);
        let broken_fill = analysis.material(p, explained) && unrefilled as f64 >= 0.5 * explained as f64;
        if !failing_writes && !broken_fill {
            continue;
        }
        claims.failed_fill.insert(p.id);
        let mut draft = Draft::new(FindingCause::FailedWrite, p.name, explained);
        draft.severity_floor = Severity::Warning;
        let kinds: Vec<(ErrorKind, u64)> =
            ErrorKind::ALL.into_iter().map(|k| (k, p.stats.error_kinds[k.index()])).filter(|(_, n)| *n > 0).collect();
        let kinds_text = kinds.iter().map(|(k, n)| format!("{k} {}", human::count(*n))).collect::<Vec<_>>().join(", ");
        if failing_writes {
            draft.evidence = format!(
                "{} of the writes to {} were answered with an error ({kinds_text}).",
                human::percent(error_share),
                quoted(p.name)
            );
            // With every write refused, that its misses are not refilled goes without saying.
            if broken_fill && p.stats.writes > 0 {
                draft.details.push(format!(
                    "{} {}",
                    quoted(p.name),
                    unrefilled_sentence(unrefilled_share, p.stats.writes)
                ));
            }
        } else {
            draft.evidence = format!("{} {}", quoted(p.name), unrefilled_sentence(unrefilled_share, p.stats.writes));
        }
        draft.details.push(format!(
            "{} reads, {} misses ({} of reads).",
            human::count(p.stats.reads),
            human::count(p.stats.misses),
            human::percent(p.miss_ratio())
        ));
        draft.metric("write_errors", p.stats.write_errors);
        draft.metric("write_error_share", round(error_share, 4));
        draft.metric("unrefilled_share", round(unrefilled_share, 4));
        draft.metric("unrefilled_misses", unrefilled);
        let error_kinds: std::collections::BTreeMap<String, u64> =
            kinds.iter().map(|(k, n)| (k.as_str().to_string(), *n)).collect();
        draft.metric("error_kinds", serde_json::to_value(&error_kinds).unwrap_or_default());
        draft.suggestion = suggestion(p.name, &kinds);
        draft.action = Action::FixFillPath { error_kinds };
        found.push((p.id, analysis.finding(draft)));
    }
    found
}

fn unrefilled_sentence(unrefilled_share: f64, writes: u64) -> String {
    if writes == 0 {
        "is read and missed, but never written: no miss was followed by a write of its key (unless these reads are \
         existence checks that are meant to miss)."
            .to_string()
    } else {
        format!(
            "misses are not followed by a write of their key {} of the time: the value is fetched but not stored.",
            human::percent(unrefilled_share)
        )
    }
}

fn suggestion(pattern: &str, kinds: &[(ErrorKind, u64)]) -> String {
    let top = kinds.iter().max_by_key(|(_, n)| *n).map(|(k, _)| *k);
    let why = match top {
        Some(ErrorKind::Oom) => {
            "the server refuses writes for lack of memory: raise maxmemory or choose an evicting \
                                 maxmemory-policy"
        }
        Some(ErrorKind::WrongType) => "another writer stores a different type under these keys",
        Some(ErrorKind::ReadOnly) => "writes go to a replica: point the writer at the primary",
        Some(ErrorKind::NoAuth) => "the writer is not allowed to write: check its credentials and ACL",
        Some(ErrorKind::Busy) | Some(ErrorKind::Timeout) => "the server is busy or slow: check for slow commands",
        Some(ErrorKind::Other) | None => {
            "look for values that fail to serialize, size limits, and errors swallowed between the miss and the write"
        }
    };
    format!("Fix the fill path of {}: {why}.", quoted(pattern))
}
