//! `cachescope whatif TRACE`: replays a trace twice at once, with the cache as it is and as changed (TTLs,
//! memory, policy, keys no longer cached), and compares the hit ratios, whole and per pattern.

use anyhow::{Context, Result};
use cachescope_core::InitialState;
use cachescope_core::report::SourceInfo;
use cachescope_sim::whatif::{RunResult, Settings, WhatIfResult};
use cachescope_sim::{ModelConfig, Policy};
use cachescope_trace::{TraceHeader, TraceReader};

use crate::cli::{ModelArgs, OutputFormat, WhatifArgs};
use crate::config::engine_config;
use crate::contracts::whatif::{BeforeAfter, Comparison, PatternComparison, SettingsReport, TtlReport, WhatifReport};
use crate::exit::Exit;
use crate::parallel_whatif;
use crate::sinks::{json, whatif_text};
use crate::sources::replay::{Skip, each_batch};
use crate::terminal;

/// Nothing to compare: no change was given.
#[derive(Debug, thiserror::Error)]
#[error("nothing to change: give --ttl, --maxmemory, --policy or --no-cache (see cachescope whatif --help)")]
pub struct NoChange;

const WHATIF_VERSION: u32 = 1;

/// The cache as it is: `--cache-size` (else the trace's capacity), `--current-policy` (else Redis's
/// allkeys-lru).
pub fn current_settings(model: &ModelArgs, policy: Option<Policy>, header: &TraceHeader) -> Settings {
    let capacity = model.cache_size.or(header.cache_capacity.filter(|_| !model.unit_size));
    Settings::new(model.config(capacity, policy.unwrap_or(Policy::REDIS_LRU)))
}

pub fn run(args: &WhatifArgs, color: bool, quiet: bool) -> Result<Exit> {
    if args.ttls.is_empty() && args.maxmemory.is_none() && args.policy.is_none() && args.not_cached.is_empty() {
        return Err(NoChange.into());
    }
    let input = &args.input;
    let mut reader = TraceReader::open_with_columns(&input.trace, input.format, input.csv_columns)?;
    let header = reader.header().clone();
    let engine = engine_config(&args.engine, InitialState::Unknown)?;
    let before = current_settings(&args.model, args.current_policy, &header);
    let mut after = before.clone();
    after.model.capacity = args.maxmemory.or(after.model.capacity);
    after.model.policy = args.policy.unwrap_or(after.model.policy);
    after.ttls.extend(args.ttls.iter().cloned());
    after.not_cached.extend(args.not_cached.iter().cloned());

    let bar = terminal::file_progress_bar(reader.progress().total_bytes(), quiet);
    bar.set_message(format!("replaying {}", input.trace.display()));
    let threads = args.threads.map_or_else(parallel_whatif::available_threads, |n| n as usize);
    let (fold, max_patterns) = (&engine.fold, engine.max_patterns);
    let mut cut_short = false;
    let result =
        parallel_whatif::play(vec![before, after], fold, max_patterns, header.read_through, threads, |observe| {
            each_batch(&mut reader, Skip::from_flag(input.skip_bad_lines), &bar, |batch| {
                for event in batch.iter() {
                    observe(&event);
                }
            })
            .map(|read| cut_short = read.cut_short)
        })
        .with_context(|| format!("replaying {}", input.trace.display()))?;
    bar.finish_and_clear();

    let mut format_name = reader.format().name().to_string();
    if reader.is_compressed() {
        format_name.push_str(", zstd");
    }
    let source =
        SourceInfo { kind: "trace".into(), name: input.trace.display().to_string(), format: Some(format_name) };
    let mut report = report(result, source);
    report.cut_short = cut_short;

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.output.output {
        OutputFormat::Json => json::write(&report, &mut out)?,
        OutputFormat::Text => {
            use std::io::Write;
            let options = whatif_text::Options { color, width: terminal::width(), top: args.output.top };
            out.write_all(whatif_text::render(&report, &options).as_bytes())?;
            out.flush()?;
        }
    }
    Ok(Exit::Success)
}

fn settings_report(run: &RunResult) -> SettingsReport {
    let settings = &run.settings;
    let ModelConfig { capacity, policy, unit_size, .. } = settings.model;
    SettingsReport {
        maxmemory: capacity,
        unit: if unit_size { "objects" } else { "bytes" }.to_string(),
        policy: policy.to_string(),
        ttls: settings
            .ttls
            .iter()
            .map(|o| TtlReport { keys: o.selector.to_string(), ttl_seconds: o.ttl_ms as f64 / 1000.0 })
            .collect(),
        not_cached: settings.not_cached.iter().map(ToString::to_string).collect(),
    }
}

fn report(result: WhatIfResult, source: SourceInfo) -> WhatifReport {
    let [before, after] = [&result.runs[0], &result.runs[1]];
    let mut patterns: Vec<PatternComparison> = result
        .patterns
        .iter()
        .map(|p| PatternComparison {
            pattern: p.pattern.clone(),
            reads: p.runs[0].reads,
            comparison: Comparison::between(p.runs[0], p.runs[1]),
        })
        .collect();
    let moved = |p: &PatternComparison| p.comparison.after.hits.abs_diff(p.comparison.before.hits);
    patterns
        .sort_by(|a, b| moved(b).cmp(&moved(a)).then(b.reads.cmp(&a.reads)).then_with(|| a.pattern.cmp(&b.pattern)));
    WhatifReport {
        version: WHATIF_VERSION,
        source,
        before: settings_report(before),
        after: settings_report(after),
        reads: before.reads.reads,
        observed_hit_ratio: result.observed.hit_ratio(),
        summary: Comparison::between(before.reads, after.reads),
        evictions: BeforeAfter { before: before.evictions, after: after.evictions },
        refused_writes: BeforeAfter { before: before.refused_writes, after: after.refused_writes },
        patterns,
        cut_short: false,
    }
}
