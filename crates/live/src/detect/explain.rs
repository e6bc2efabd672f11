//! The sentence of an anomaly: what moved, from when, what the new misses are, and the fix of the finding that
//! explains them (`hit ratio 95% -> 61% from 14:02:10; 83% of the new misses are expired on session:{uuid};
//! raise its TTL ...`).

use cachescope_core::human;
use cachescope_core::report::{FindingCause, Report};
use cachescope_core::{Micros, MissCause, WindowCounts};

use super::{Anomaly, AnomalyKind};
use crate::series::{OTHER, SeriesStore};

/// A time of day, UTC, from microseconds since the epoch (or since the start of a trace).
pub fn clock(time: Micros) -> String {
    let seconds = time / 1_000_000 % 86_400;
    format!("{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60)
}

/// The finding of `cause` on `pattern`, or any finding on it.
fn fix<'r>(report: Option<&'r Report>, pattern: &str, cause: Option<MissCause>) -> Option<&'r str> {
    let report = report?;
    let wanted = match cause {
        Some(MissCause::Expired) => Some(FindingCause::TtlTooShort),
        Some(MissCause::Evicted) => Some(FindingCause::MemoryPressure),
        Some(MissCause::Flushed) => Some(FindingCause::ColdCache),
        Some(MissCause::FailedWrite) => Some(FindingCause::FailedWrite),
        _ => None,
    };
    let on_pattern = |f: &&cachescope_core::report::Finding| f.pattern == pattern;
    report
        .findings
        .iter()
        .filter(on_pattern)
        .find(|f| wanted.is_none_or(|w| f.cause == w))
        .or_else(|| report.findings.iter().find(on_pattern))
        .map(|f| f.suggestion.summary.as_str())
}

/// The misses of the anomaly's windows above those of as many windows before it, by (pattern, cause): the
/// largest, and its share of all the excess.
fn new_misses(anomaly: &Anomaly, series: &SeriesStore) -> Option<(String, MissCause, f64)> {
    let mut best: Option<(String, MissCause, f64)> = None;
    let mut total = 0.0;
    let wanted = |name: &str| anomaly.series == "*" || anomaly.series == name;
    for (name, pattern) in series.patterns().filter(|(n, _)| wanted(n) && n.as_str() != OTHER) {
        let (mut during, mut before) = (WindowCounts::default(), WindowCounts::default());
        let (mut windows_during, mut windows_before) = (0u32, 0u32);
        let points: Vec<_> = pattern.last(usize::MAX).collect();
        let during_from = points.iter().position(|p| p.start >= anomaly.started_at).unwrap_or(points.len());
        for point in &points[during_from..] {
            during.add(&point.counts);
            windows_during += 1;
        }
        for point in points[..during_from].iter().rev().take(windows_during.max(1) as usize) {
            before.add(&point.counts);
            windows_before += 1;
        }
        let scale = f64::from(windows_during) / f64::from(windows_before.max(1));
        for cause in MissCause::ALL {
            let excess = during.cause(cause) - before.cause(cause) * scale;
            if excess <= 0.0 {
                continue;
            }
            total += excess;
            if best.as_ref().is_none_or(|(_, _, b)| excess > *b) {
                best = Some((name.clone(), cause, excess));
            }
        }
    }
    best.filter(|_| total > 0.0).map(|(name, cause, excess)| (name, cause, excess / total))
}

fn marker_text(anomaly: &Anomaly) -> String {
    match &anomaly.after_marker {
        Some((label, 0)) => format!(" (right after {label})"),
        Some((label, 1)) => format!(" (1 window after {label})"),
        Some((label, windows)) => format!(" ({windows} windows after {label})"),
        None => String::new(),
    }
}

/// The sentence of an anomaly just opened.
pub(super) fn opened(anomaly: &Anomaly, series: &SeriesStore, report: Option<&Report>) -> String {
    let whose = if anomaly.series == "*" { String::new() } else { format!(" of {}", anomaly.series) };
    let from = format!("from {}{}", clock(anomaly.started_at), marker_text(anomaly));
    let mut text = match anomaly.kind {
        AnomalyKind::HitRatioFall => format!(
            "hit ratio{whose} {} -> {} {from}",
            human::percent(1.0 - anomaly.baseline),
            human::percent(1.0 - anomaly.peak)
        ),
        AnomalyKind::CauseJump => format!(
            "{} misses{whose} jumped from {} to {} of reads {from}",
            anomaly.cause.map_or("", MissCause::as_str),
            human::percent(anomaly.baseline),
            human::percent(anomaly.peak)
        ),
        AnomalyKind::WriteErrors => format!(
            "refused writes went from {} to {} of writes {from}",
            human::percent(anomaly.baseline),
            human::percent(anomaly.peak)
        ),
        _ => format!("{} {from}", anomaly.kind.as_str()),
    };
    let mut explained_by = (anomaly.series.clone(), anomaly.cause);
    if let Some((pattern, cause, share)) = new_misses(anomaly, series) {
        let on = if anomaly.series == "*" { format!(" on {pattern}") } else { String::new() };
        text.push_str(&format!("; {} of the new misses are {}{on}", human::percent(share), cause.as_str()));
        explained_by = (pattern, Some(cause));
    }
    if let Some(fix) = fix(report, &explained_by.0, explained_by.1) {
        text.push_str("; ");
        text.push_str(fix.trim_end_matches('.'));
    }
    text.push('.');
    text
}

/// The sentence of a pattern new in the traffic that only misses.
pub(super) fn new_pattern(anomaly: &Anomaly, report: Option<&Report>) -> String {
    let mut text = format!(
        "new pattern {} appeared at {}{} and {} of its reads miss: a key format changed?",
        anomaly.series,
        clock(anomaly.started_at),
        marker_text(anomaly),
        human::percent(anomaly.peak)
    );
    if let Some(fix) = fix(report, &anomaly.series, None) {
        text.push(' ');
        text.push_str(fix);
    }
    text
}
