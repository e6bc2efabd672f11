//! `cachescope-accuracy`: measures the diagnosis on the corpus, or replays one scenario.

use std::io::Write;

use cachescope_accuracy::{Source, measure, measure_corpus, render};
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
