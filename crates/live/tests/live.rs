//! The live layer end to end, on simulated time: events through the channel, windows, anomalies opened and
//! closed, snapshots read while the engine runs.

use std::time::Duration;

use cachescope_core::{Engine, EngineConfig, Event, Outcome, OwnedEvent, TtlChange};
use cachescope_live::{AnomalyKind, CusumConfig, LiveEvent, Options, SeriesConfig, channel, spawn};

const WINDOW: u64 = 10_000_000;

/// `windows` windows of 200 reads of `user:{n}` each, missing `miss_share` of the time (a miss is refilled),
/// from window `from`.
fn traffic(from: u64, windows: u64, miss_share: f64) -> Vec<OwnedEvent> {
    let mut events = Vec::new();
    for w in from..from + windows {
        for i in 0..200u64 {
            let time = 1_700_000_000_000_000 + w * WINDOW + i * (WINDOW / 200);
            let key = format!("user:{}", i % 50);
            let miss = (i as f64 / 200.0) < miss_share;
            let outcome = if miss { Outcome::Miss } else { Outcome::Hit };
            events.push(OwnedEvent::from(&Event::read(time, key.as_bytes(), outcome)));
            if miss {
                let write = Event::write(time + 1, key.as_bytes(), TtlChange::ExpireIn(1)).with_outcome(Outcome::Ok);
                events.push(OwnedEvent::from(&write));
            }
        }
    }
    events
}

#[test]
fn a_fall_of_the_hit_ratio_opens_an_anomaly_within_three_windows_and_closes_when_it_recovers() {
    let (sink, source) = channel();
    let options = Options {
        series: SeriesConfig { window: WINDOW, ..SeriesConfig::default() },
        detector: CusumConfig::default(),
        report_every: Duration::from_millis(50),
        on_change: None,
        record: None,
        wall_clock: false,
    };
    let live = spawn(Engine::new(EngineConfig::default()), source, options).unwrap();
    let mut changes = live.changes.subscribe();
    // A subscriber that never reads: it must not hold anything up.
    let _stalled = live.changes.subscribe();
    for events in [traffic(0, 60, 0.05), traffic(60, 10, 0.6), traffic(70, 20, 0.05)] {
        for batch in events.chunks(500) {
            sink.send(batch.to_vec());
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    drop(sink);
    let done = live.join().unwrap();
    assert_eq!(done.counters.dropped, 0);
    let mut opened = Vec::new();
    let mut closed = Vec::new();
    while let Ok(change) = changes.try_recv() {
        match change {
            LiveEvent::AnomalyOpened { anomaly } => opened.push(anomaly),
            LiveEvent::AnomalyClosed { anomaly } => closed.push(anomaly),
            _ => {}
        }
    }
    let fall = opened.iter().find(|a| a.kind == AnomalyKind::HitRatioFall && a.series == "*").expect("the fall");
    let start = 1_700_000_000_000_000 + 60 * WINDOW;
    assert!(fall.flagged_at >= start && fall.flagged_at < start + 3 * WINDOW, "{fall:?}");
    assert!(fall.started_at <= fall.flagged_at && fall.started_at >= start - WINDOW, "{fall:?}");
    assert!(fall.text.starts_with("hit ratio 95% -> 40% from"), "{}", fall.text);
    assert!(closed.iter().any(|a| a.id == fall.id), "it closes once the hit ratio is back: {closed:?}");
    let spurious: Vec<_> = opened.iter().filter(|a| a.started_at < start - WINDOW).collect();
    assert!(spurious.is_empty(), "anomalies before the fall: {spurious:?}");
}
