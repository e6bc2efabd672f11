//! What one frame shows: the live overview, the latest report (for findings and the detail view), where it comes
//! from, and whether it is stale.

use cachescope_core::report::Report;
use cachescope_live::Overview;

#[derive(Debug, Clone, Default)]
pub struct Screen {
    pub overview: Overview,
    pub report: Option<Report>,
    /// `http://127.0.0.1:9180`, `demo all (live)`.
    pub source: String,
    /// Why the data is old (the instance cannot be reached), with since when.
    pub stale: Option<String>,
}

#[cfg(test)]
pub(crate) mod tests {
    use cachescope_core::report::{Action, FindingCause, FindingDraft};
    use cachescope_core::{Engine, EngineConfig, MissCause, WindowCounts};
    use cachescope_live::overview::{PatternRow, Tick};
    use cachescope_live::{Anomaly, AnomalyKind, Overview};

    use super::Screen;

    const T0: u64 = 1_764_400_000_000_000;
    const WINDOW: u64 = 10_000_000;

    fn counts(reads: u64, misses: u64, cause: MissCause) -> WindowCounts {
        let mut counts =
            WindowCounts { reads, hits: reads - misses, misses, writes: misses, ..WindowCounts::default() };
        counts.causes[cause.index()] = misses as f64;
        counts
    }

    /// A fixed screen: an hour of windows with the hit ratio falling from 95% to 60% ten minutes ago, after a
    /// deploy; three patterns; one open anomaly; one finding.
    pub(crate) fn example() -> Screen {
        let global: Vec<Tick> = (0..360)
            .map(|i| {
                let misses = if i >= 300 { 400 } else { 50 + (i * 7 % 11) };
                Tick { start: T0 + i * WINDOW, span: WINDOW, counts: counts(1_000, misses, MissCause::Expired) }
            })
            .collect();
        let row = |name: &str, total: WindowCounts, last: WindowCounts, ratios: Vec<Option<f64>>| PatternRow {
            name: name.into(),
            total,
            last,
            miss_ratios: ratios,
        };
        let patterns = vec![
            row(
                "user:{num}",
                counts(200_000, 10_000, MissCause::NeverWritten),
                counts(500, 40, MissCause::NeverWritten),
                vec![Some(0.05); 60],
            ),
            row(
                "session:{token}",
                counts(120_000, 30_000, MissCause::Expired),
                counts(400, 350, MissCause::Expired),
                (0..60).map(|i| Some(if i >= 50 { 0.85 } else { 0.05 })).collect(),
            ),
            row(
                "product:{num}",
                counts(80_000, 800, MissCause::Evicted),
                counts(100, 10, MissCause::Evicted),
                vec![Some(0.01); 60],
            ),
        ];
        let anomaly = Anomaly {
            id: 3,
            kind: AnomalyKind::HitRatioFall,
            series: "session:{token}".into(),
            cause: None,
            started_at: T0 + 300 * WINDOW,
            flagged_at: T0 + 301 * WINDOW,
            closed_at: None,
            baseline: 0.05,
            peak: 0.88,
            current: 0.85,
            after_marker: Some(("deploy v1.2.4".into(), 1)),
            text: "hit ratio of session:{token} 95% -> 15% from 14:50:00 (1 window after deploy v1.2.4); 100% of \
                   the new misses are expired; raise its TTL to 10m"
                .into(),
        };
        let mut report = Engine::new(EngineConfig::default()).report();
        let mut draft = FindingDraft::new(FindingCause::TtlTooShort, "session:{token}", 30_000);
        draft.evidence = "87% of the misses of `session:{token}` are expirations: keys expire 30 s after their write \
                          and are read again after 90 s (p50)."
            .into();
        draft.suggestion = "Raise the TTL of `session:{token}` to 10m.".into();
        draft.action = Action::RaiseTtl { ttl_seconds: 600, current_ttl_seconds: Some(30.0) };
        report.findings.push(draft.finish(40_800));
        Screen {
            overview: Overview {
                time: T0 + 359 * WINDOW,
                windows: 360,
                window_seconds: 10.0,
                misses_only: false,
                events: 1_234_567,
                dropped: 0,
                global,
                patterns,
                anomalies: vec![anomaly],
                markers: vec![(T0 + 299 * WINDOW + 4_000_000, "deploy v1.2.4".into())],
            },
            report: Some(report),
            source: "http://127.0.0.1:9180".into(),
            stale: None,
        }
    }
}
