//! Serves the HTTP API and the dashboard over a made-up live layer of 500 patterns and 24 hours of 10 s windows,
//! for `bench/dashboard.sh` to time: `cargo run --release -p cachescope-web --example synthetic -- PORT`.

use std::sync::Arc;

use cachescope_core::{MissCause, Window, WindowCounts};
use cachescope_live::{Anomaly, AnomalyKind, LiveSnapshot, ReportRequests, SeriesConfig, SeriesStore, channel};
use cachescope_web::{AppState, serve};
use tokio::sync::{broadcast, watch};

const PATTERNS: u64 = 500;
const WINDOW: u64 = 10_000_000;
const WINDOWS: u64 = 24 * 360;

fn main() {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(9188);
    let mut store =
        SeriesStore::new(SeriesConfig { window: WINDOW, max_patterns: PATTERNS as usize, ..SeriesConfig::default() });
    for w in 0..WINDOWS {
        let mut global = WindowCounts::default();
        let patterns: Vec<(u32, WindowCounts)> = (0..PATTERNS)
            .map(|p| {
                let reads = 10 + (p * 7 + w) % 50;
                let misses = reads * ((p + w) % 10) / 40;
                let mut counts =
                    WindowCounts { reads, hits: reads - misses, misses, writes: misses, ..WindowCounts::default() };
                counts.causes[MissCause::Expired.index()] = misses as f64;
                global.add(&counts);
                (p as u32, counts)
            })
            .collect();
        let window = Window { global, patterns, ..Window::default() };
        store.push(1_764_000_000_000_000 + w * WINDOW, &window, &|id| format!("pattern{id}:{{num}}"));
    }
    let anomalies = (0..20)
        .map(|i| Anomaly {
            id: i,
            kind: AnomalyKind::HitRatioFall,
            series: format!("pattern{i}:{{num}}"),
            cause: None,
            started_at: 1_764_000_000_000_000 + i * 3_600_000_000,
            flagged_at: 1_764_000_000_000_000 + i * 3_600_000_000,
            closed_at: Some(1_764_000_000_000_000 + i * 3_600_000_000 + 600_000_000),
            baseline: 0.1,
            peak: 0.5,
            current: 0.1,
            after_marker: None,
            text: format!("hit ratio of pattern{i}:{{num}} 90% -> 50%; back to its baseline."),
        })
        .collect();
    let snapshot = LiveSnapshot {
        time: 1_764_000_000_000_000 + (WINDOWS - 1) * WINDOW,
        windows: WINDOWS,
        window_seconds: 10.0,
        series: Arc::new(store),
        anomalies,
        ..LiveSnapshot::default()
    };
    let (_keep, snapshots) = watch::channel(Arc::new(snapshot));
    let (changes, _) = broadcast::channel(16);
    let (sink, _source) = channel();
    let state = AppState {
        snapshots,
        changes,
        reports: ReportRequests::default(),
        markers: Some(sink),
        token: None,
        redact_keys: false,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        eprintln!("serving 500 patterns x 24 h on http://127.0.0.1:{port}");
        serve(listener, state, std::future::pending()).await.unwrap();
    });
}
