//! How well the live anomaly detector does on the detection corpus (`cachescope_sim::scenario::detection`):
//! each run's events through the live layer's [`Pipeline`] (the code the engine's thread runs, without its
//! thread), its anomalies judged against the fault injected. Before the fault (and all along a healthy run)
//! every anomaly is a false one; after it, the first anomaly that names the fault is its detection, and its
//! delay is counted in windows, the window of the fault being the first (for refused writes, the window of the
//! first write refused: until the application writes, nothing shows).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use cachescope_core::{Engine, EngineConfig, InitialState, Micros, MissCause};
use cachescope_live::{Anomaly, AnomalyKind, Change, CusumConfig, Pipeline, SeriesConfig};
use cachescope_sim::scenario::detection::{DetectionCase, FaultKind, Injected};

/// What one run gave.
#[derive(Debug, Clone)]
pub struct Judged {
    pub name: String,
    pub fault: Option<Injected>,
    /// Simulated hours without a fault.
    pub healthy_hours: f64,
    /// Anomalies opened without a fault.
    pub false_anomalies: Vec<Anomaly>,
    /// The first anomaly naming the fault, and after how many windows (1: in the fault's own window).
    pub detected: Option<(u64, Anomaly)>,
    /// Whether the fault changed anything a detector could see (a maxmemory cut above what the hot keys need
    /// evicts nothing that is read again): immaterial faults are not counted.
    pub material: bool,
    pub events: u64,
}

/// The share of reads that a maxmemory cut made miss (evicted), beyond the share before it, must be at least this
/// for the cut to be material: one point.
const MATERIAL_EVICTED_SHARE: f64 = 0.01;

/// Whether `anomaly` names `fault`.
pub fn names(fault: &Injected, anomaly: &Anomaly) -> bool {
    let on_pattern = anomaly.series == fault.pattern || anomaly.series == "*";
    let cause = |c: MissCause| anomaly.kind == AnomalyKind::CauseJump && anomaly.cause == Some(c);
    match fault.kind {
        FaultKind::TtlCut => on_pattern && (anomaly.kind == AnomalyKind::HitRatioFall || cause(MissCause::Expired)),
        FaultKind::MemoryCut => anomaly.kind == AnomalyKind::HitRatioFall || cause(MissCause::Evicted),
        FaultKind::KeyFormatChange => {
            (anomaly.kind == AnomalyKind::NewPattern && anomaly.series == fault.pattern)
                || (anomaly.series == "*" && anomaly.kind == AnomalyKind::HitRatioFall)
                || cause(MissCause::NeverWritten)
        }
        FaultKind::Restart => anomaly.kind == AnomalyKind::Restart,
        FaultKind::WritesFail => anomaly.kind == AnomalyKind::WriteErrors || cause(MissCause::FailedWrite),
        FaultKind::Flush => anomaly.kind == AnomalyKind::Flush,
    }
}

/// Runs one case through the live layer with windows of `window` and judges it.
pub fn judge(case: &DetectionCase, window: Micros) -> Judged {
    let scenario = &case.scenario;
    let config = EngineConfig {
        initial_state: InitialState::Empty,
        cache_capacity: Some(scenario.cache_capacity),
        ..EngineConfig::default()
    };
    let series = SeriesConfig { window, ..SeriesConfig::default() };
    let mut pipeline = Pipeline::new(Engine::new(config), series, CusumConfig::default());
    let mut opened: Vec<Anomaly> = Vec::new();
    let mut take = |_: Micros, changes: Vec<Change>| {
        opened.extend(changes.into_iter().filter_map(|c| match c {
            Change::Opened(anomaly) => Some(anomaly),
            Change::Closed(_) => None,
        }));
    };
    let mut events = 0u64;
    // Reads and evicted misses, in the ten minutes before the fault and the ten after.
    let mut around = [(0u64, 0u64); 2];
    let fault_at = case.fault.as_ref().map(|f| f.at);
    // Refused writes show from the first write refused: a cache that writes little shows them late.
    let mut first_refused: Option<Micros> = None;
    scenario.run(
        &mut |event, simulated| {
            events += 1;
            pipeline.observe(event, &mut take);
            if first_refused.is_none()
                && fault_at.is_some_and(|at| event.time >= at)
                && matches!(event.command, cachescope_core::Command::Write(_))
                && matches!(event.outcome, cachescope_core::Outcome::Error(_))
            {
                first_refused = Some(event.time);
            }
            if let Some(at) = fault_at
                && event.command == cachescope_core::Command::Read
                && event.time + 10 * 60_000_000 >= at
                && event.time < at + 10 * 60_000_000
            {
                let slot = &mut around[usize::from(event.time >= at)];
                slot.0 += 1;
                if simulated.and_then(|s| s.miss).is_some_and(|m| m.truth.cause == MissCause::Evicted) {
                    slot.1 += 1;
                }
            }
        },
        &mut |_| {},
    );
    let share = |(reads, evicted): (u64, u64)| evicted as f64 / reads.max(1) as f64;
    let material = case.fault.as_ref().is_none_or(|f| {
        f.kind != FaultKind::MemoryCut || share(around[1]) - share(around[0]) >= MATERIAL_EVICTED_SHARE
    });
    pipeline.close_until(scenario.duration + window, &mut take);
    // The window the fault comes in is the fault's: anomalies flagged in it are not false ones.
    let healthy_until = case.fault.as_ref().map_or(scenario.duration + window, |f| f.at - f.at % window);
    let false_anomalies: Vec<Anomaly> = opened.iter().filter(|a| a.flagged_at < healthy_until).cloned().collect();
    let detected = case.fault.as_ref().and_then(|fault| {
        let start = match fault.kind {
            FaultKind::WritesFail => first_refused.unwrap_or(fault.at),
            _ => fault.at,
        };
        let fault_window = start - start % window;
        opened
            .iter()
            .filter(|a| a.flagged_at >= fault_window && names(fault, a))
            .min_by_key(|a| a.flagged_at)
            .map(|a| ((a.flagged_at - fault_window) / window + 1, a.clone()))
    });
    Judged {
        name: scenario.name.clone(),
        fault: case.fault.clone(),
        healthy_hours: case.healthy_time() as f64 / 3.6e9,
        false_anomalies,
        detected,
        material,
        events,
    }
}

/// Judges `cases` on `threads` threads, in the cases' order.
pub fn judge_all(cases: &[DetectionCase], window: Micros, threads: usize, progress: &(dyn Fn() + Sync)) -> Vec<Judged> {
    let results: Mutex<Vec<(usize, Judged)>> = Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(index) else { break };
                    let judged = judge(case, window);
                    results.lock().expect("not poisoned").push((index, judged));
                    progress();
                }
            });
        }
    });
    let mut results = results.into_inner().expect("not poisoned");
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, judged)| judged).collect()
}

/// The windows at the given quantile of `delays` (sorted).
fn quantile(delays: &[u64], q: f64) -> u64 {
    if delays.is_empty() {
        return 0;
    }
    delays[((delays.len() - 1) as f64 * q).round() as usize]
}

/// The Markdown tables of BENCHMARKS.md: per fault, recall within 3 windows and at all, delays; healthy time and
/// its false anomalies.
pub fn render(results: &[Judged], window: Micros) -> String {
    let mut by_kind: BTreeMap<FaultKind, Vec<&Judged>> = BTreeMap::new();
    let mut immaterial = Vec::new();
    for judged in results {
        if let Some(fault) = &judged.fault {
            if judged.material {
                by_kind.entry(fault.kind).or_default().push(judged);
            } else {
                immaterial.push(judged.name.as_str());
            }
        }
    }
    let seconds = window / 1_000_000;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| fault | runs | flagged within 3 windows | flagged at all | delay median | delay p90 | slowest |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    let (mut runs, mut in_time, mut at_all) = (0, 0, 0);
    for (kind, judged) in &by_kind {
        let mut delays: Vec<u64> = judged.iter().filter_map(|j| j.detected.as_ref().map(|(d, _)| *d)).collect();
        delays.sort_unstable();
        let fast = delays.iter().filter(|&&d| d <= 3).count();
        runs += judged.len();
        in_time += fast;
        at_all += delays.len();
        let _ = writeln!(
            out,
            "| {} | {} | {} ({:.0}%) | {} ({:.0}%) | {} windows | {} windows | {} |",
            kind.as_str(),
            judged.len(),
            fast,
            100.0 * fast as f64 / judged.len() as f64,
            delays.len(),
            100.0 * delays.len() as f64 / judged.len() as f64,
            quantile(&delays, 0.5),
            quantile(&delays, 0.9),
            judged
                .iter()
                .filter(|j| j.detected.as_ref().is_none_or(|(d, _)| *d > 3))
                .map(|j| j.name.as_str())
                .next()
                .unwrap_or("-"),
        );
    }
    let _ = writeln!(
        out,
        "| all | {runs} | {in_time} ({:.1}%) | {at_all} ({:.1}%) | | | |",
        100.0 * in_time as f64 / runs.max(1) as f64,
        100.0 * at_all as f64 / runs.max(1) as f64
    );
    if !immaterial.is_empty() {
        let _ = writeln!(
            out,
            "\nNot counted: {} (the fault made fewer than {:.0}% more reads miss: nothing to flag).",
            immaterial.join(", "),
            MATERIAL_EVICTED_SHARE * 100.0
        );
    }
    let hours: f64 = results.iter().map(|j| j.healthy_hours).sum();
    let false_count: usize = results.iter().map(|j| j.false_anomalies.len()).sum();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for anomaly in results.iter().flat_map(|j| &j.false_anomalies) {
        let label = match anomaly.cause {
            Some(cause) => format!("{} ({})", anomaly.kind.as_str(), cause.as_str()),
            None => anomaly.kind.as_str().to_string(),
        };
        *kinds.entry(label).or_default() += 1;
    }
    let listed: Vec<String> = kinds.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    let _ = writeln!(
        out,
        "\nHealthy traffic: {hours:.0} simulated hours (healthy runs, and faulted runs before their fault), windows of \
         {seconds} s: {false_count} false anomalies, {:.2} per 24 hours{}.",
        false_count as f64 * 24.0 / hours.max(1e-9),
        if listed.is_empty() { String::new() } else { format!(" ({})", listed.join(", ")) }
    );
    out
}

/// The wrong runs, each with what went wrong, at most `limit`.
pub fn failures(results: &[Judged], limit: usize) -> String {
    let mut out = String::new();
    for judged in results {
        for anomaly in &judged.false_anomalies {
            let _ = writeln!(out, "{}: false anomaly: {}", judged.name, anomaly.text);
        }
        if let Some(fault) = judged.fault.as_ref().filter(|_| judged.material) {
            match &judged.detected {
                None => {
                    let _ = writeln!(out, "{}: {} on {} not flagged", judged.name, fault.kind.as_str(), fault.pattern);
                }
                Some((windows, anomaly)) if *windows > 3 => {
                    let _ = writeln!(out, "{}: flagged after {windows} windows: {}", judged.name, anomaly.text);
                }
                _ => {}
            }
        }
    }
    out.lines().take(limit).map(|l| format!("{l}\n")).collect()
}

/// The live series' size every `every` of simulated time over a healthy run of `hours`: (hours, points kept,
/// bytes of those points). Flat once the horizon (24 h by default) is reached.
pub fn memory_over(hours: u64, every: Micros, window: Micros) -> Vec<(f64, usize, usize)> {
    let case = cachescope_sim::scenario::detection::healthy(7, hours, cachescope_sim::scenario::detection::Scale::TEST);
    let config = EngineConfig {
        initial_state: InitialState::Empty,
        cache_capacity: Some(case.scenario.cache_capacity),
        ..EngineConfig::default()
    };
    let series = SeriesConfig { window, ..SeriesConfig::default() };
    let mut pipeline = Pipeline::new(Engine::new(config), series, CusumConfig::default());
    let mut next = every;
    let mut samples = Vec::new();
    let size = |pipeline: &Pipeline| {
        let store = pipeline.store();
        let points = store.global.len() + store.patterns().map(|(_, s)| s.len()).sum::<usize>();
        (points, points * std::mem::size_of::<cachescope_live::Point>())
    };
    case.scenario.run(
        &mut |event, _| {
            pipeline.observe(event, &mut |_, _| {});
            if event.time >= next {
                let (points, bytes) = size(&pipeline);
                samples.push((next as f64 / 3.6e9, points, bytes));
                next += every;
            }
        },
        &mut |_| {},
    );
    samples
}
