//! `cold_cache`: a pattern's misses bunch up right after a flush, a restart or a deploy marker, and fade as the
//! cache fills again. For flushes and restarts the misses are attributed exactly (`flushed`); for deploy
//! markers the excess over the miss ratio before the marker is measured on the pattern's timeline. The
//! suggestion is to warm the pattern, hottest keys first.

use crate::engine::{Marker, MarkerKind};
use crate::event::Micros;
use crate::human;
use crate::pattern::PatternId;
use crate::report::{Action, Finding, FindingCause, MissCause};
use crate::sketch::TimelineBucket;

use super::{Analysis, Claims, Draft, PatternView, key_list, quoted, round};

/// Buckets before a marker that set the baseline miss ratio.
const BASELINE_BUCKETS: usize = 10;

pub(crate) fn detect(analysis: &Analysis<'_>, claims: &Claims) -> Vec<(PatternId, Finding)> {
    let mut found = Vec::new();
    for p in &analysis.patterns {
        // A mismatched reader's keys were never there to flush: its misses are the mismatch's.
        if claims.mismatched_readers.contains(&p.id) {
            continue;
        }
        let flushed = flushed_misses(analysis, claims, p);
        let weights: f64 = p.stats.flushed_by_marker.iter().map(|(_, w)| w).sum();
        let largest = p
            .stats
            .flushed_by_marker
            .iter()
            .filter(|(index, _)| (*index as usize) < analysis.markers.len())
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if analysis.material(p, flushed)
            && let Some(&(index, weight)) = largest
        {
            let marker = &analysis.markers[index as usize];
            let from_marker = (flushed as f64 * weight / weights.max(f64::MIN_POSITIVE)).round() as u64;
            found.push((p.id, flush_finding(analysis, p, marker, flushed, from_marker, index)));
            continue;
        }
        // A jump after a deploy that a sharper finding explains (a key format, a TTL or a fill path the deploy
        // changed) is that finding's.
        if claims.with_finding.contains(&p.id) {
            continue;
        }
        let deploys = analysis.markers.iter().filter(|m| m.kind == MarkerKind::Label);
        let best = deploys
            .map(|marker| (marker, recovery(analysis, p.stats.timeline.buckets(), marker.time)))
            .max_by_key(|(_, r)| r.excess_misses);
        if let Some((marker, shape)) = best
            && analysis.material(p, shape.excess_misses)
        {
            found.push((p.id, deploy_finding(analysis, p, marker, &shape)));
        }
    }
    found
}

/// The misses a flush or restart explains. When a model presumed held the keys the trace had not written (it
/// joined a running cache), keys whose fill path is broken were presumed too, and their misses after a flush
/// were never the flush's: of the flushed keys never seen written, only the refilled share counts (those written
/// before the flush were surely there).
fn flushed_misses(analysis: &Analysis<'_>, claims: &Claims, p: &PatternView<'_>) -> u64 {
    let flushed = p.causes.get(MissCause::Flushed);
    if analysis.presumed_held && claims.failed_fill.contains(&p.id) {
        let unwritten = (p.stats.flushed_unwritten.round() as u64).min(flushed);
        flushed - unwritten + (unwritten as f64 * (1.0 - p.unrefilled_share())).round() as u64
    } else {
        flushed
    }
}

fn flush_finding(
    analysis: &Analysis<'_>,
    p: &PatternView<'_>,
    marker: &Marker,
    flushed: u64,
    from_marker: u64,
    index: u16,
) -> Finding {
    let shape = recovery(analysis, p.stats.timeline.buckets(), marker.time);
    let markers_hit = p.stats.flushed_by_marker.len();
    let hot = analysis.top_flushed.top(10, |id| id == p.id);
    // The other patterns it emptied, those it cost most first.
    let mut others: Vec<(f64, &str)> = analysis
        .patterns
        .iter()
        .filter(|o| o.id != p.id)
        .filter_map(|o| {
            let (_, weight) = o.stats.flushed_by_marker.iter().find(|(m, w)| *m == index && *w >= 1.0)?;
            Some((*weight, o.name))
        })
        .collect();
    others.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let others: Vec<String> = others.into_iter().map(|(_, name)| name.to_string()).collect();

    let mut draft = Draft::new(FindingCause::ColdCache, p.name, flushed);
    let which = if markers_hit > 1 {
        format!(
            "{markers_hit} flushes or restarts emptied it, the one that cost most being the {}",
            describe(analysis, marker)
        )
    } else {
        format!("the {} emptied it", describe(analysis, marker))
    };
    draft.evidence = format!(
        "{} of the misses of {} ({}) came after {which}.",
        human::percent(flushed as f64 / p.stats.misses.max(1) as f64),
        quoted(p.name),
        human::count(flushed)
    );
    draft.details.push(shape.sentence(from_marker, analysis.hits_observed));
    if !hot.is_empty() {
        draft.details.push(format!("Hottest keys missed after it: {}.", key_list(&hot, 5)));
    }
    if !others.is_empty() {
        draft
            .details
            .push(format!("It also emptied {}.", others.iter().map(|o| quoted(o)).collect::<Vec<_>>().join(", ")));
    }
    add_metrics(&mut draft, analysis, marker, &shape);
    let keys: Vec<String> = hot.iter().map(|(k, _)| String::from_utf8_lossy(k).into_owned()).collect();
    draft.suggestion = format!(
        "Warm {} after flushes and restarts, hottest keys first{}.",
        quoted(p.name),
        if hot.is_empty() { String::new() } else { format!(": {}", key_list(&hot, 5)) }
    );
    let mut patterns = vec![p.name.to_string()];
    patterns.extend(others.iter().cloned());
    draft.related_patterns = others;
    draft.action = Action::WarmCache { patterns, keys };
    analysis.finding(draft)
}

fn deploy_finding(analysis: &Analysis<'_>, p: &PatternView<'_>, marker: &Marker, shape: &Shape) -> Finding {
    let mut draft = Draft::new(FindingCause::ColdCache, p.name, shape.excess_misses);
    draft.evidence = format!(
        "The misses of {} jumped after the {}: {} more than its usual miss ratio would give.",
        quoted(p.name),
        describe(analysis, marker),
        human::count(shape.excess_misses)
    );
    draft.details.push(shape.sentence(shape.excess_misses, analysis.hits_observed));
    add_metrics(&mut draft, analysis, marker, shape);
    draft.suggestion = format!(
        "Warm {} before traffic reaches a new deploy (or keep its keys stable across deploys).",
        quoted(p.name)
    );
    draft.action = Action::WarmCache { patterns: vec![p.name.to_string()], keys: Vec::new() };
    analysis.finding(draft)
}

fn describe(analysis: &Analysis<'_>, marker: &Marker) -> String {
    let at = human::duration(marker.time.saturating_sub(analysis.first_time));
    match (&marker.kind, &marker.label) {
        (MarkerKind::FlushDb, _) => format!("FLUSHDB of db {} at +{at}", marker.db),
        (MarkerKind::Label, Some(label)) => format!("marker `{label}` at +{at}"),
        (kind, Some(node)) => format!("{} of node {node} at +{at}", kind.describe()),
        (kind, _) => format!("{} at +{at}", kind.describe()),
    }
}

fn add_metrics(draft: &mut Draft, analysis: &Analysis<'_>, marker: &Marker, shape: &Shape) {
    draft.metric("marker_kind", marker.kind.as_str());
    draft.metric("marker_offset_seconds", round(marker.time.saturating_sub(analysis.first_time) as f64 / 1e6, 3));
    // A source that sees misses only (keyspace events) has no miss ratio to give.
    if !analysis.hits_observed {
        return;
    }
    if let Some(before) = shape.before {
        draft.metric("miss_ratio_before", round(before, 4));
    }
    draft.metric("miss_ratio_after", round(shape.peak, 4));
    match shape.recovered_after {
        Some(after) => draft.metric("recovery_seconds", round(after as f64 / 1e6, 3)),
        None => draft.metric("recovery_seconds", serde_json::Value::Null),
    }
}

/// How a pattern's miss ratio behaved around a marker.
struct Shape {
    /// Miss ratio in the buckets before the marker, when there were reads.
    before: Option<f64>,
    /// Highest miss ratio in the first buckets from the marker on.
    peak: f64,
    /// Time from the marker until the miss ratio settled back; None if it never did.
    recovered_after: Option<Micros>,
    /// Misses above the baseline from the marker until it settled.
    excess_misses: u64,
}

impl Shape {
    /// What the misses did after the marker; the miss ratio only when the source sees hits.
    fn sentence(&self, from_marker: u64, hits_observed: bool) -> String {
        if !hits_observed {
            return format!("{} misses followed this one event.", human::count(from_marker));
        }
        let settle = match self.recovered_after {
            Some(after) => format!("took {} to settle back", human::duration(after)),
            None => "had not settled back by the end".to_string(),
        };
        match self.before {
            Some(before) => format!(
                "Its miss ratio went from {} to {} and {settle}; {} misses followed this one event.",
                human::percent(before),
                human::percent(self.peak),
                human::count(from_marker)
            ),
            None => format!(
                "Its miss ratio rose to {} and {settle}; {} misses followed this one event.",
                human::percent(self.peak),
                human::count(from_marker)
            ),
        }
    }
}

fn ratio(buckets: &[TimelineBucket]) -> Option<f64> {
    let (misses, answered) = buckets.iter().fold((0, 0), |(m, a), b| (m + b.misses, a + b.hits + b.misses));
    (answered > 0).then(|| misses as f64 / answered as f64)
}

fn recovery(analysis: &Analysis<'_>, buckets: &[TimelineBucket], at: Micros) -> Shape {
    let width = analysis.bucket_width.max(1);
    let start = (at.saturating_sub(analysis.first_time) / width) as usize;
    let before = ratio(&buckets[start.saturating_sub(BASELINE_BUCKETS).min(buckets.len())..start.min(buckets.len())]);
    let after = buckets.get(start..).unwrap_or_default();
    let late = ratio(&buckets[buckets.len() - buckets.len() / 4..]);
    let baseline = before.or(late).unwrap_or(0.0);
    let peak = after.iter().take(3).filter_map(TimelineBucket::miss_ratio).fold(0.0, f64::max);
    let settled = baseline + (baseline * 0.5).max(0.05);
    let recovered_index =
        after.iter().enumerate().skip(1).find(|(_, b)| b.miss_ratio().is_some_and(|r| r <= settled)).map(|(i, _)| i);
    let until = recovered_index.unwrap_or(after.len());
    let excess: f64 =
        after[..until].iter().map(|b| (b.misses as f64 - baseline * (b.hits + b.misses) as f64).max(0.0)).sum();
    let recovered_after = recovered_index
        .map(|i| ((start + i) as Micros).saturating_mul(width).saturating_add(analysis.first_time).saturating_sub(at));
    Shape { before, peak, recovered_after, excess_misses: excess.round() as u64 }
}
