//! `cachescope-accuracy`: measures the diagnosis on the corpus, or replays one scenario.

use std::io::Write;

use cachescope_accuracy::{Source, Verdict, measure, measure_corpus, render};
use cachescope_sim::scenario::corpus;
use clap::Parser;

#[derive(Parser)]
#[command(about = "How right cachescope's diagnosis is, on a seeded corpus of simulated scenarios")]
struct Args {
    /// Scenarios to measure.
    #[arg(long, default_value_t = 300)]
    scenarios: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    first_seed: u64,
    /// Replay this one scenario and show what was expected and what was found.
    #[arg(long)]
    seed: Option<u64>,
    /// Threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Wrong cases listed at most.
    #[arg(long, default_value_t = 20)]
    failures: usize,
    /// Play the suggestions of this many scenarios (the first ones) through the what-if simulator.
    #[arg(long, default_value_t = 60)]
    suggestions: usize,
    /// Replay this many scenarios (the first ones) against a real redis-server and judge `cachescope doctor` on
    /// them (about 40 s each).
    #[arg(long, default_value_t = 0)]
    doctor: u64,
    /// The redis-server to replay against.
    #[arg(long, default_value = "redis-server")]
    redis_server: String,
    /// Write each scenario's doctor report here, as `doctor-SEED.json`.
    #[arg(long, value_name = "DIR")]
    doctor_reports: Option<std::path::PathBuf>,
    /// The cachescope binary whose doctor is judged.
    #[arg(long, default_value = "target/release/cachescope")]
    cachescope: std::path::PathBuf,
}

fn main() {
    let args = Args::parse();
    if let Some(seed) = args.seed {
        replay(seed);
        return;
    }
    let seeds: Vec<u64> = (args.first_seed..args.first_seed + args.scenarios).collect();
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let total = seeds.len();
    let summaries = measure_corpus(&seeds, &[Source::Outcomes, Source::Model], args.suggestions, threads, &|done| {
        eprint!("\r{done}/{total} scenarios");
        let _ = std::io::stderr().flush();
    });
    eprintln!();
    if args.doctor > 0 {
        doctor(&args);
    }
    for summary in &summaries {
        println!("### {}\n", render::heading(summary.source));
        println!("{}", render::attribution(summary));
        println!("{}", render::findings(summary));
        let failures = render::failures(summary, args.failures);
        if !failures.is_empty() {
            println!("Wrong cases:\n\n```text\n{failures}```\n");
        }
        let played = render::suggestions(summary, args.failures);
        if !played.is_empty() {
            println!("{played}");
        }
    }
}

fn replay(seed: u64) {
    let scenario = corpus::generate(seed);
    println!("{scenario:#?}\n");
    for source in [Source::Outcomes, Source::Model] {
        let case = measure(&scenario, source);
        println!("== {}", source.as_str());
        for finding in &case.report.findings {
            println!(
                "finding {} on {} ({} misses): {}",
                finding.cause.as_str(),
                finding.pattern,
                finding.misses_explained.count,
                finding.evidence.summary
            );
        }
        for (truth, row) in case.confusion.iter().enumerate() {
            for (said, &n) in row.iter().enumerate() {
                if truth != said && n > 0 {
                    let name = |i: usize| cachescope_core::MissCause::ALL[i].as_str();
                    println!("misattributed: {n} misses {} said {}", name(truth), name(said));
                }
            }
        }
        for judged in &case.judged {
            println!("{:?} {} on {}", judged.verdict, judged.cause.as_str(), judged.pattern);
        }
        for pattern in &case.report.patterns {
            let q = |q: &Option<cachescope_core::report::Quantiles>| {
                q.as_ref().map_or("-".to_string(), |q| format!("p50 {:.1}s p90 {:.1}s", q.p50, q.p90))
            };
            println!(
                "pattern {}: {} reads, {} misses, {} writes, causes {:?}, ttl {}, re-read {}",
                pattern.pattern,
                pattern.reads,
                pattern.misses,
                pattern.writes,
                pattern.miss_causes,
                q(&pattern.ttl_seconds),
                q(&pattern.reaccess_seconds)
            );
        }
        for (pattern, truth) in &case.truth.patterns {
            println!("truth {pattern}: {truth:?}");
        }
        println!();
    }
}

fn doctor(args: &Args) {
    let mut counts: std::collections::BTreeMap<&'static str, cachescope_accuracy::Counts> = Default::default();
    let mut wrong = Vec::new();
    for seed in args.first_seed..args.first_seed + args.doctor {
        eprint!("\rdoctor on live servers: scenario {seed}");
        let scenario = corpus::generate(seed);
        match cachescope_accuracy::live::doctor_case(&scenario, &args.redis_server, &args.cachescope) {
            Ok(case) => {
                if let (Some(dir), Some(report)) = (&args.doctor_reports, &case.report) {
                    let path = dir.join(format!("doctor-{seed}.json"));
                    let written = std::fs::create_dir_all(dir)
                        .and_then(|()| std::fs::write(&path, serde_json::to_string_pretty(report).unwrap_or_default()));
                    if let Err(error) = written {
                        eprintln!("cannot write {}: {error}", path.display());
                    }
                }
                if let Some(error) = case.error {
                    wrong.push(format!("seed {seed}: {error}"));
                }
                for judged in &case.judged {
                    counts.entry(judged.cause.as_str()).or_default().add(judged.verdict);
                    if matches!(judged.verdict, Verdict::Missed | Verdict::Invented) {
                        wrong.push(format!(
                            "seed {seed}: {:?} {} on {}",
                            judged.verdict,
                            judged.cause.as_str(),
                            judged.pattern
                        ));
                    }
                }
            }
            Err(error) => wrong.push(format!("seed {seed}: {error}")),
        }
    }
    eprintln!();
    println!("### The doctor on live servers\n");
    println!("{}", render::doctor(&counts, args.doctor));
    if !wrong.is_empty() {
        println!("```text\n{}\n```\n", wrong.join("\n"));
    }
}
