//! `cachescope analyze TRACE`: replays a trace and reports why it missed.

use anyhow::{Context, Result};
use cachescope_core::report::SourceInfo;
use cachescope_core::{Engine, EngineConfig, InitialState, Report, Shard};
use cachescope_sim::whatif::Settings;
use cachescope_sim::{Policy, Start};
use cachescope_trace::{TraceFormat, TraceReader};
use indicatif::ProgressBar;

use crate::cli::AnalyzeArgs;
use crate::config::engine_config;
use crate::exit::Exit;
use crate::simulated_gains;
use crate::sources::replay::{ReplayOptions, Replayed, Skip, each_batch, replay};
use crate::terminal;

pub fn run(args: &AnalyzeArgs, color: bool, quiet: bool) -> Result<Exit> {
    let mut reader = TraceReader::open_with_columns(&args.input.trace, args.input.format, args.input.csv_columns)?;
    let format = reader.format();
    // A trace of requests only is replayed through a model, which starts as the cache did: running for
    // production traces (Twitter's) and recordings that joined a running server, empty for miss-ratio traces
    // (each miss brings its object in) and recordings from the server's start.
    let requests_only = format == TraceFormat::TwitterCsv || reader.header().read_through;
    let start = args.cache_start.map(Start::from).unwrap_or(
        if !reader.header().read_through
            && (format == TraceFormat::TwitterCsv || reader.header().initial_state == InitialState::Unknown)
        {
            Start::Running
        } else {
            Start::Empty
        },
    );
    let initial_state = match (requests_only, start) {
        (true, Start::Running) => InitialState::Unknown,
        (true, Start::Empty) => InitialState::Empty,
        (false, _) => reader.header().initial_state,
    };
    let mut config = engine_config(&args.engine, initial_state)?;
    // Objects counted rather than sized say nothing of bytes.
    config.cache_capacity =
        if requests_only { args.model.cache_size } else { args.model.cache_size.or(reader.header().cache_capacity) }
            .filter(|_| !args.model.unit_size);

    let bar = terminal::progress_bar(reader.progress().total_bytes().max(1), "of the file", quiet);
    bar.set_message(format!("reading {}", args.input.trace.display()));
    let model_size = args.model.cache_size.or(reader.header().cache_capacity);
    let policy = args.policy.unwrap_or(Policy::EXACT_LRU);
    let options = ReplayOptions {
        skip_bad_lines: args.input.skip_bad_lines,
        model: args.model.config(model_size, policy).start(start),
        read_through: reader.header().read_through,
        log_skipped: true,
    };
    let threads = threads_for(args.threads, &args.input.trace);
    let (mut report, replayed) = analyse(&mut reader, args, &config, &options, threads, &bar)
        .with_context(|| format!("analysing {}", args.input.trace.display()))?;
    bar.finish_and_clear();
    tracing::info!(
        events = replayed.events,
        skipped = replayed.skipped_lines,
        modelled = replayed.modelled,
        threads,
        "replayed"
    );

    report.notes.capture = reader.capture_stats().map(|stats| stats.notes(reader.capture_ports()));
    if !args.no_simulation {
        // The cache as it is: the model that replayed the trace, or Redis's LRU where the trace has outcomes.
        let policy = args.policy.unwrap_or(if replayed.modelled { Policy::EXACT_LRU } else { Policy::REDIS_LRU });
        let current = Settings::new(args.model.config(model_size, policy));
        let bar = terminal::progress_bar(reader.progress().total_bytes().max(1), "of the file", quiet);
        bar.set_message("simulating the suggestions");
        simulated_gains::attach(&mut report, current, &config, options.read_through, |observe| {
            let input = &args.input;
            let mut again = TraceReader::open_with_columns(&input.trace, input.format, input.csv_columns)?;
            // The first pass logged the lines skipped.
            each_batch(&mut again, Skip::from_flag(input.skip_bad_lines).quietly(), &bar, |batch| {
                for event in batch.iter() {
                    observe(&event);
                }
            })?;
            Ok(())
        })?;
        bar.finish_and_clear();
    }
    let mut format_name = format.name().to_string();
    if reader.is_compressed() {
        format_name.push_str(", zstd");
    }
    if replayed.modelled {
        let size = match model_size {
            None => "unbounded".to_string(),
            Some(objects) if args.model.unit_size => format!("{} objects", cachescope_core::human::count(objects)),
            Some(bytes) => cachescope_core::human::bytes(bytes as f64),
        };
        format_name.push_str(&format!(", replayed through a cache model: {policy}, {size}"));
    }
    report.source = Some(SourceInfo {
        kind: "trace".into(),
        name: args.input.trace.display().to_string(),
        format: Some(format_name),
    });
    super::emit(&report, &args.output, color, None)?;

    let worst = report.findings.iter().map(|f| f.severity).max();
    Ok(match args.fail_on {
        Some(level) => {
            let threshold = match level {
                crate::cli::FailOn::Warning => cachescope_core::Severity::Warning,
                crate::cli::FailOn::Critical => cachescope_core::Severity::Critical,
            };
            Exit::for_severity(worst.filter(|&w| w >= threshold))
        }
        None => Exit::Success,
    })
}

/// Threads for the analysis: as asked, else one per core; one when the trace cannot be opened again by each
/// (a pipe).
fn threads_for(asked: Option<u32>, trace: &std::path::Path) -> u32 {
    let reopenable = std::fs::metadata(trace).is_ok_and(|m| m.is_file());
    match asked {
        _ if !reopenable => 1,
        Some(threads) => threads,
        None => crate::parallel_whatif::available_threads() as u32,
    }
}

/// Replays the trace into one engine, or into one per thread, each with a share of the keys and of the key
/// budget, reading the whole trace (`reader` for the first, the file opened again for the others), their
/// shares merged.
fn analyse(
    reader: &mut TraceReader,
    args: &AnalyzeArgs,
    config: &EngineConfig,
    options: &ReplayOptions,
    threads: u32,
    bar: &ProgressBar,
) -> Result<(Report, Replayed)> {
    if threads <= 1 {
        let mut engine = Engine::new(config.clone());
        let replayed = replay(reader, &mut engine, options, bar)?;
        return Ok((engine.report(), replayed));
    }
    let input = &args.input;
    let shard_config = |shard: Shard| EngineConfig {
        shard,
        key_budget_bytes: config.key_budget_bytes / threads as usize,
        ..config.clone()
    };
    let results = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for shard in Shard::all(threads).skip(1) {
            let config = shard_config(shard);
            let options = ReplayOptions { log_skipped: false, ..*options };
            handles.push(scope.spawn(move || -> Result<_> {
                let mut reader = TraceReader::open_with_columns(&input.trace, input.format, input.csv_columns)?;
                let mut engine = Engine::new(config);
                replay(&mut reader, &mut engine, &options, &ProgressBar::hidden())?;
                Ok(engine.into_partial())
            }));
        }
        let mut engine = Engine::new(shard_config(Shard { index: 0, count: threads }));
        let first = replay(reader, &mut engine, options, bar).map(|replayed| (engine.into_partial(), replayed));
        let others: Vec<Result<_>> =
            handles.into_iter().map(|h| h.join().expect("an analysis thread panicked")).collect();
        (first, others)
    });
    let (first, others) = results;
    let (mut whole, replayed) = first?;
    for part in others {
        whole.merge(part?).context("merging the threads' shares")?;
    }
    Ok((whole.report(), replayed))
}
