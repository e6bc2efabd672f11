//! A small fixed subset of the detection corpus (the bench runs hundreds of hours, bench/detection.sh): each
//! fault flagged within three windows of its start, by an anomaly that names it, and a healthy run with its
//! daily swing and bursts left without a false anomaly.

use cachescope_accuracy::detection::{Judged, judge};
use cachescope_sim::scenario::detection::{FaultKind, Scale, faulted, healthy};

const WINDOW: u64 = 10_000_000;

fn describe(judged: &Judged) -> String {
    let false_ones: Vec<&str> = judged.false_anomalies.iter().map(|a| a.text.as_str()).collect();
    format!("{}: detected {:?}, false {false_ones:?}", judged.name, judged.detected.as_ref().map(|(w, a)| (w, &a.text)))
}

#[test]
fn each_fault_is_flagged_within_three_windows() {
    for kind in FaultKind::ALL {
        let judged = judge(&faulted(1, kind, 60, Scale::TEST), WINDOW);
        let windows = judged.detected.as_ref().map(|(windows, _)| *windows);
        assert!(windows.is_some_and(|w| w <= 3), "{}", describe(&judged));
        assert!(judged.false_anomalies.is_empty(), "{}", describe(&judged));
    }
}

#[test]
fn a_healthy_day_with_its_swing_and_bursts_raises_nothing() {
    let judged = judge(&healthy(2, 6, Scale::TEST), WINDOW);
    assert!(judged.false_anomalies.is_empty(), "{}", describe(&judged));
    assert!(judged.events > 100_000, "{}", judged.events);
}
