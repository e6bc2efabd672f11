//! `/metrics`: the live layer's counts in the Prometheus text format, read off the latest snapshot at each
//! scrape. Every name and label is documented in docs/metrics.md; the number of `pattern` label values is capped
//! by the series' pattern cap (`{other}` takes the rest).

use std::sync::atomic::AtomicU64;

use cachescope_core::{MissCause, WindowCounts};
use cachescope_live::LiveSnapshot;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;
type FloatCounter = Counter<f64, AtomicU64>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// Every metric exported, with the labels it takes: what docs/metrics.md lists and deploy/ may query.
pub const NAMES: &[&str] = &[
    "cachescope_reads_total",
    "cachescope_hits_total",
    "cachescope_misses_total",
    "cachescope_misses_by_cause_total",
    "cachescope_writes_total",
    "cachescope_write_errors_total",
    "cachescope_hit_ratio",
    "cachescope_server_evicted_keys_total",
    "cachescope_server_expired_keys_total",
    "cachescope_markers_total",
    "cachescope_anomalies_opened_total",
    "cachescope_anomalies_active",
    "cachescope_events_total",
    "cachescope_events_dropped_total",
    "cachescope_source_kernel_drops_total",
    "cachescope_source_stream_gaps_total",
    "cachescope_source_resyncs_total",
    "cachescope_source_skipped_bytes_total",
    "cachescope_source_event_gaps_total",
    "cachescope_windows_total",
    "cachescope_window_seconds",
];

/// The metrics text of `snapshot`.
pub fn render(snapshot: &LiveSnapshot) -> String {
    let mut registry = Registry::with_prefix("cachescope");
    register_patterns(&mut registry, snapshot);
    register_anomalies(&mut registry, snapshot);
    register_source(&mut registry, snapshot);
    let mut text = String::new();
    let _ = encode(&mut text, &registry);
    text
}

/// Per pattern (and `*`, the whole cache): the counts of every closed window, and the last window's hit ratio.
fn register_patterns(registry: &mut Registry, snapshot: &LiveSnapshot) {
    let reads = Family::<Labels, Counter>::default();
    let hits = Family::<Labels, Counter>::default();
    let misses = Family::<Labels, Counter>::default();
    let misses_by_cause = Family::<Labels, FloatCounter>::default();
    let writes = Family::<Labels, Counter>::default();
    let write_errors = Family::<Labels, Counter>::default();
    let hit_ratio = Family::<Labels, FloatGauge>::default();
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
    let series = &snapshot.series;
    add("*", series.global_total(), series.global.last(1).next().map(|p| &p.counts));
    for (name, s) in series.patterns() {
        add(name, series.total(name).unwrap_or(&WindowCounts::default()), s.last(1).next().map(|p| &p.counts));
    }
    // A source that sees misses only (watch) knows no reads, hits or hit ratio: absent, not 0.
    if !snapshot.misses_only {
        registry.register("reads", "Reads, whole cache (pattern=\"*\") and per key pattern", reads);
        registry.register("hits", "Reads that hit", hits);
    }
    registry.register("misses", "Reads that missed", misses);
    registry.register(
        "misses_by_cause",
        "Misses by cause (never_written, expired, evicted, deleted, flushed, failed_write, unknown), from the keys \
         followed: scaled when keys are sampled",
        misses_by_cause,
    );
    registry.register("writes", "Writes that stored a value", writes);
    registry.register("write_errors", "Writes answered with an error (OOM, WRONGTYPE...)", write_errors);
    if !snapshot.misses_only {
        registry.register("hit_ratio", "Hit ratio over the last window", hit_ratio);
    }
}

fn register_anomalies(registry: &mut Registry, snapshot: &LiveSnapshot) {
    let active = Family::<Labels, Gauge>::default();
    for anomaly in snapshot.anomalies.iter().filter(|a| a.is_open()) {
        let labels = vec![("kind", anomaly.kind.as_str().to_string()), ("pattern", anomaly.series.clone())];
        active.get_or_create(&labels).inc();
    }
    let opened = Family::<Labels, Counter>::default();
    for (kind, count) in &snapshot.tallies.anomalies_opened {
        opened.get_or_create(&vec![("kind", kind.to_string())]).inc_by(*count);
    }
    registry.register("anomalies_active", "Anomalies open now, by kind and pattern", active);
    registry.register("anomalies_opened", "Anomalies opened, by kind", opened);
}

/// The source and the engine: events, drops, windows, markers, and the server's own counters when watched.
fn register_source(registry: &mut Registry, snapshot: &LiveSnapshot) {
    let counter = |value: u64| {
        let counter = Counter::<u64>::default();
        counter.inc_by(value);
        counter
    };
    if let Some(server) = snapshot.tallies.server {
        registry.register(
            "server_evicted_keys",
            "Keys the server evicted (INFO evicted_keys), summed over its restarts",
            counter(server.evicted_keys),
        );
        registry.register(
            "server_expired_keys",
            "Keys the server expired (INFO expired_keys), summed over its restarts",
            counter(server.expired_keys),
        );
    }
    let markers = Family::<Labels, Counter>::default();
    for (kind, count) in &snapshot.tallies.markers {
        markers.get_or_create(&vec![("kind", kind.clone())]).inc_by(*count);
    }
    registry.register("markers", "Markers recorded (cachescope mark), by kind", markers);
    registry.register("events", "Events the engine took", counter(snapshot.counters.events));
    registry.register(
        "events_dropped",
        "Events dropped because the analysis fell behind the traffic (the traffic itself is never touched)",
        counter(snapshot.counters.dropped),
    );
    let losses = snapshot.counters.source;
    if !losses.is_empty() {
        let lost = [
            ("kernel_drops", "Packets the kernel dropped because the capture fell behind", losses.kernel_drops),
            ("stream_gaps", "Holes in captured connections' bytes that never filled", losses.stream_gaps),
            ("resyncs", "Times the capture resumed following a connection at a safe point", losses.resyncs),
            ("skipped_bytes", "Bytes the capture skipped while resynchronising", losses.skipped_bytes),
            ("event_gaps", "Times the keyspace-event subscription was lost, and events with it", losses.event_gaps),
        ];
        for (name, help, value) in lost {
            registry.register(format!("source_{name}"), help, counter(value));
        }
    }
    registry.register("windows", "Windows closed", counter(snapshot.windows));
    let window = FloatGauge::default();
    window.set(snapshot.window_seconds);
    registry.register("window_seconds", "The length of one window", window);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use cachescope_core::{Window, WindowCounts};
    use cachescope_live::{Anomaly, AnomalyKind, LiveSnapshot, SeriesConfig, SeriesStore, ServerCounters, Tallies};

    use super::{NAMES, render};

    /// The names of the metrics in a text, from their `# TYPE` lines (a counter's samples end in `_total`).
    fn exported(text: &str) -> BTreeSet<String> {
        text.lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .map(|rest| match rest.split_once(' ') {
                Some((name, "counter")) => format!("{name}_total"),
                Some((name, _)) => name.to_string(),
                None => rest.to_string(),
            })
            .collect()
    }

    #[test]
    fn the_list_of_names_is_what_a_full_snapshot_exports() {
        let mut store = SeriesStore::new(SeriesConfig::default());
        let counts = WindowCounts { reads: 10, hits: 9, misses: 1, ..WindowCounts::default() };
        store.push(0, &Window { global: counts, patterns: vec![(1, counts)], ..Window::default() }, &|_| {
            "a:{num}".into()
        });
        let mut tallies =
            Tallies { server: Some(ServerCounters { evicted_keys: 3, expired_keys: 4 }), ..Tallies::default() };
        tallies.markers.insert("deploy".into(), 1);
        tallies.anomalies_opened.insert("flush", 1);
        let anomaly = Anomaly {
            id: 1,
            kind: AnomalyKind::Flush,
            series: "*".into(),
            cause: None,
            started_at: 0,
            flagged_at: 0,
            closed_at: None,
            baseline: 0.1,
            peak: 1.0,
            current: 1.0,
            after_marker: None,
            text: "the cache was flushed".into(),
        };
        let source = cachescope_live::SourceLosses { kernel_drops: 5, event_gaps: 1, ..Default::default() };
        let snapshot = LiveSnapshot {
            series: Arc::new(store),
            tallies,
            counters: cachescope_live::Counters { source, ..Default::default() },
            windows: 1,
            anomalies: vec![anomaly],
            ..LiveSnapshot::default()
        };
        let text = render(&snapshot);
        let names: BTreeSet<String> = NAMES.iter().map(|n| n.to_string()).collect();
        assert_eq!(exported(&text), names, "{text}");
        assert!(text.contains("cachescope_server_evicted_keys_total 3"), "{text}");
        assert!(text.contains("cachescope_source_kernel_drops_total 5"), "{text}");
        assert!(text.contains("cachescope_markers_total{kind=\"deploy\"} 1"), "{text}");
        assert!(text.contains("cachescope_anomalies_opened_total{kind=\"flush\"} 1"), "{text}");
    }

    #[test]
    fn server_counters_are_absent_when_the_source_does_not_watch_the_server() {
        let text = render(&LiveSnapshot::default());
        assert!(!text.contains("cachescope_server_"), "{text}");
        assert!(!text.contains("cachescope_source_"), "a source that lost nothing shows no loss counters: {text}");
    }
}
