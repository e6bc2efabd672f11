//! `cachescope analyze TRACE`: replays a trace and reports why it missed.

use anyhow::{Context, Result};
use cachescope_core::report::SourceInfo;
use cachescope_core::{Engine, InitialState};
use cachescope_sim::whatif::Settings;
use cachescope_sim::{Policy, Start};
use cachescope_trace::{TraceFormat, TraceReader};

use crate::cli::AnalyzeArgs;
use crate::config::engine_config;
use crate::exit::Exit;
use crate::simulated_gains;
use crate::sources::replay::{ReplayOptions, each_batch, replay};
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
    let mut engine = Engine::new(config.clone());

    let bar = terminal::progress_bar(reader.progress().total_bytes().max(1), "of the file", quiet);
    bar.set_message(format!("reading {}", args.input.trace.display()));
    let model_size = args.model.cache_size.or(reader.header().cache_capacity);
    let policy = args.policy.unwrap_or(Policy::EXACT_LRU);
    let options = ReplayOptions {
        skip_bad_lines: args.input.skip_bad_lines,
        model: args.model.config(model_size, policy).start(start),
        read_through: reader.header().read_through,
    };
    let replayed = replay(&mut reader, &mut engine, &options, &bar)
        .with_context(|| format!("analysing {}", args.input.trace.display()))?;
    bar.finish_and_clear();
    tracing::info!(
        events = replayed.events,
        skipped = replayed.skipped_lines,
        modelled = replayed.modelled,
        "replayed"
    );

    let mut report = engine.report();
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
            each_batch(&mut again, input.skip_bad_lines, &bar, |batch| {
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
