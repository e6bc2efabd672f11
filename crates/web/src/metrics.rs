//! `/metrics`: the live layer's counts in the Prometheus text format, read off the latest snapshot at each
//! scrape. Every name and label is documented in docs/metrics.md; the number of `pattern` label values is capped
//! by the series' pattern cap (`{other}` takes the rest).

use cachescope_core::{MissCause, WindowCounts};
use cachescope_live::LiveSnapshot;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

type Labels = Vec<(&'static str, String)>;

/// The metrics text of `snapshot`.
pub fn render(snapshot: &LiveSnapshot) -> String {
    let mut registry = Registry::with_prefix("cachescope");
    let reads = Family::<Labels, Counter>::default();
    let hits = Family::<Labels, Counter>::default();
    let misses = Family::<Labels, Counter>::default();
    let misses_by_cause = Family::<Labels, Counter<f64, AtomicU64>>::default();
    let writes = Family::<Labels, Counter>::default();
    let write_errors = Family::<Labels, Counter>::default();
    let hit_ratio = Family::<Labels, Gauge<f64, AtomicU64>>::default();
    let anomalies = Family::<Labels, Gauge>::default();
    let events = Counter::<u64>::default();
    let dropped = Counter::<u64>::default();
    let windows = Counter::<u64>::default();

    let series = &snapshot.series;
    let add = |pattern: &str, total: &WindowCounts, last: Option<&WindowCounts>| {
        let labels = vec![("pattern", pattern.to_string())];
        reads.get_or_create(&labels).inc_by(total.reads);
        hits.get_or_create(&labels).inc_by(total.hits);
        misses.get_or_create(&labels).inc_by(total.misses);
        writes.get_or_create(&labels).inc_by(total.writes);
        write_errors.get_or_create(&labels).inc_by(total.write_errors);
        for cause in MissCause::ALL {
            let mut labels = labels.clone();
            labels.push(("cause", cause.as_str().to_string()));
            misses_by_cause.get_or_create(&labels).inc_by(total.cause(cause));
        }
        if let Some(ratio) = last.and_then(WindowCounts::miss_ratio) {
            hit_ratio.get_or_create(&labels).set(1.0 - ratio);
        }
    };
    add("*", series.global_total(), series.global.last(1).next().map(|p| &p.counts));
    for (name, s) in series.patterns() {
        add(name, series.total(name).unwrap_or(&WindowCounts::default()), s.last(1).next().map(|p| &p.counts));
    }
    for anomaly in snapshot.anomalies.iter().filter(|a| a.is_open()) {
        let labels = vec![("kind", anomaly.kind.as_str().to_string()), ("pattern", anomaly.series.clone())];
        anomalies.get_or_create(&labels).inc();
    }
    events.inc_by(snapshot.counters.events);
    dropped.inc_by(snapshot.counters.dropped);
    windows.inc_by(snapshot.windows);

    registry.register("reads", "Reads, whole cache (pattern=\"*\") and per key pattern", reads);
    registry.register("hits", "Reads that hit", hits);
    registry.register("misses", "Reads that missed", misses);
    registry.register(
        "misses_by_cause",
        "Misses by cause (never_written, expired, evicted, deleted, flushed, failed_write, unknown), from the keys followed: scaled when keys are sampled",
        misses_by_cause,
    );
    registry.register("writes", "Writes that stored a value", writes);
    registry.register("write_errors", "Writes answered with an error (OOM, WRONGTYPE...)", write_errors);
    registry.register("hit_ratio", "Hit ratio over the last window", hit_ratio);
    registry.register("anomalies_active", "Anomalies open now, by kind and pattern", anomalies);
    registry.register("events", "Events the engine took", events);
    registry.register("events_dropped", "Events dropped because the analysis fell behind the traffic", dropped);
    registry.register("windows", "Windows closed", windows);
    let mut text = String::new();
    let _ = encode(&mut text, &registry);
    text
}
