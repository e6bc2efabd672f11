//! `detection`: measures the live anomaly detector on the detection corpus: recall and delay per fault, false
//! anomalies per 24 hours of healthy traffic. `bench/detection.sh` writes its tables into BENCHMARKS.md.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use cachescope_accuracy::detection::{failures, judge, judge_all, memory_over, render};
use cachescope_sim::scenario::detection::{FaultKind, Scale, faulted, healthy};
use clap::Parser;

#[derive(Parser)]
#[command(about = "How well the live anomaly detector finds faults, and how quiet it stays without them")]
struct Args {
    /// Healthy runs (one seed each).
    #[arg(long, default_value_t = 10)]
    healthy: u64,
    /// Simulated hours of each healthy run.
    #[arg(long, default_value_t = 24)]
    hours: u64,
    /// Faulted runs per fault kind.
    #[arg(long, default_value_t = 20)]
    faulted: u64,
    /// Simulated minutes of each faulted run (the fault comes between 40% and 70% of it).
    #[arg(long, default_value_t = 120)]
    minutes: u64,
    /// Window length in seconds.
    #[arg(long, default_value_t = 10)]
    window: u64,
    /// Threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Wrong runs listed at most.
    #[arg(long, default_value_t = 20)]
    failures: usize,
    /// Instead: measure the live series' memory over a healthy run of this many simulated hours.
    #[arg(long)]
    memory_hours: Option<u64>,
    /// Instead: replay the faulted run of this seed (with --kind) and list every anomaly it opened.
    #[arg(long, requires = "kind")]
    replay: Option<u64>,
    /// The fault of --replay, as the tables name it ("TTL cut", "writes refused", ...).
    #[arg(long)]
    kind: Option<String>,
}

fn main() {
    let args = Args::parse();
    if let (Some(seed), Some(kind)) = (args.replay, &args.kind) {
        let Some(kind) = FaultKind::ALL.into_iter().find(|k| k.as_str() == kind) else {
            let kinds: Vec<&str> = FaultKind::ALL.iter().map(|k| k.as_str()).collect();
            eprintln!("no fault `{kind}`; the faults are: {}", kinds.join(", "));
            std::process::exit(64);
        };
        let case = faulted(seed, kind, args.minutes, Scale::BENCH);
        let judged = judge(&case, args.window * 1_000_000);
        println!("{:#?}\n\nfalse: {:#?}\n\ndetected: {:#?}", case.fault, judged.false_anomalies, judged.detected);
        return;
    }
    if let Some(hours) = args.memory_hours {
        memory(hours, args.window * 1_000_000);
        return;
    }
    let mut cases = Vec::new();
    for seed in 0..args.healthy {
        cases.push(healthy(seed, args.hours, Scale::BENCH));
    }
    for kind in FaultKind::ALL {
        for seed in 0..args.faulted {
            cases.push(faulted(seed, kind, args.minutes, Scale::BENCH));
        }
    }
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let done = AtomicUsize::new(0);
    let total = cases.len();
    let window = args.window * 1_000_000;
    let results = judge_all(&cases, window, threads, &|| {
        let done = done.fetch_add(1, Ordering::Relaxed) + 1;
        eprint!("\r{done}/{total} runs");
        let _ = std::io::stderr().flush();
    });
    eprintln!();
    let events: u64 = results.iter().map(|r| r.events).sum();
    println!("{}", render(&results, window));
    println!(
        "{} healthy runs of {} h and {} faulted runs of {} min per fault ({} events).\n",
        args.healthy, args.hours, args.faulted, args.minutes, events
    );
    let wrong = failures(&results, args.failures);
    if !wrong.is_empty() {
        println!("Wrong runs:\n\n```text\n{wrong}```");
    }
}

fn memory(hours: u64, window: u64) {
    let samples = memory_over(hours, 4 * 3_600_000_000, window);
    println!(
        "Memory of the live series over a healthy run of {hours} simulated hours (windows of {} s):\n",
        window / 1_000_000
    );
    println!("| simulated hours | points kept | bytes |\n|---:|---:|---:|");
    for (hour, points, bytes) in samples {
        println!("| {hour:.0} | {points} | {bytes} |");
    }
    println!();
}
