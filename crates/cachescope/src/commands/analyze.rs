//! `cachescope analyze TRACE`: replays a trace and reports why it missed.

use anyhow::{Context, Result};
use cachescope_core::report::SourceInfo;
use cachescope_core::{Engine, EngineConfig, InitialState, Partial, Shard};
use cachescope_sim::whatif::Settings;
use cachescope_sim::{Policy, Start};
use cachescope_trace::{TraceFormat, TraceReader};
use indicatif::ProgressBar;

use crate::cli::AnalyzeArgs;
use crate::config::engine_config;
use crate::exit::Exit;
use crate::shares::{self, ShareFile};
use crate::simulated_gains;
use crate::sources::replay::blocks::analysis::{self, BlockReplay};
use crate::sources::replay::shards::Shards;
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

    let bar = terminal::file_progress_bar(reader.progress().total_bytes(), quiet);
    bar.set_message(format!("reading {}", args.input.trace.display()));
    let model_size = args.model.cache_size.or(reader.header().cache_capacity);
    let policy = args.policy.unwrap_or(Policy::EXACT_LRU);
    let options = ReplayOptions {
        skip_bad_lines: args.input.skip_bad_lines,
        model: args.model.config(model_size, policy).start(start),
        read_through: reader.header().read_through,
        log_skipped: true,
    };
    // A model that presumes keys held judges each presumption by the TTLs of every key of the pattern written so
    // far: one engine sees them all, a shard only its own. Such a replay runs on one thread, so that the report
    // is one engine's; split with --shard, its presumptions are each shard's (docs/shards.md).
    let presumes = requests_only && start == Start::Running;
    let threads = if presumes { 1 } else { threads_for(args.threads) };
    if presumes && args.threads.is_some_and(|t| t > 1) {
        tracing::info!("a replay that presumes keys held runs on one thread (--cache-start empty runs on several)");
    }
    if threads > 1 && !quiet {
        suggest_blocks(&args.input.trace, &reader);
    }
    let shard = args.shard.unwrap_or(Shard::WHOLE);
    let reopen = || {
        let input = &args.input;
        Ok(TraceReader::open_with_columns(&input.trace, input.format, input.csv_columns)?)
    };
    let (share, replayed) = analyse(&mut reader, reopen, &config, &options, shard, threads, &bar)
        .with_context(|| format!("analysing {}", args.input.trace.display()))?;
    bar.finish_and_clear();
    tracing::info!(
        events = replayed.read.events,
        skipped = replayed.read.skipped_lines,
        modelled = replayed.modelled,
        threads,
        "replayed"
    );
    let source = source_info(args, &reader, replayed.modelled, model_size, policy);
    let capture = reader.capture_stats().map(|stats| stats.notes(reader.capture_ports()));
    if args.shard.is_some() {
        return write_share(args, share, source, capture, replayed.read.cut_short, quiet);
    }

    let mut report = share.report();
    report.notes.capture = capture;
    report.notes.cut_short = replayed.read.cut_short;
    if !args.no_simulation {
        // The cache as it is: the model that replayed the trace, or Redis's LRU where the trace has outcomes.
        let policy = args.policy.unwrap_or(if replayed.modelled { Policy::EXACT_LRU } else { Policy::REDIS_LRU });
        let current = Settings::new(args.model.config(model_size, policy));
        let bar = terminal::file_progress_bar(reader.progress().total_bytes(), quiet);
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
    report.source = Some(source);
    super::emit(&report, &args.output, color, None)?;
    Ok(super::exit_for(&report, args.fail_on))
}

/// How the report names the trace: its path, its format, and the model that replayed it.
fn source_info(
    args: &AnalyzeArgs,
    reader: &TraceReader,
    modelled: bool,
    model_size: Option<u64>,
    policy: Policy,
) -> SourceInfo {
    let mut format_name = reader.format().name().to_string();
    if reader.is_compressed() {
        format_name.push_str(", zstd");
    }
    if modelled {
        let size = match model_size {
            None => "unbounded".to_string(),
            Some(objects) if args.model.unit_size => format!("{} objects", cachescope_core::human::count(objects)),
            Some(bytes) => cachescope_core::human::bytes(bytes as f64),
        };
        format_name.push_str(&format!(", replayed through a cache model: {policy}, {size}"));
    }
    SourceInfo { kind: "trace".into(), name: args.input.trace.display().to_string(), format: Some(format_name) }
}

/// `--shard`: writes the share for `cachescope merge`, and says where.
fn write_share(
    args: &AnalyzeArgs,
    share: Partial,
    source: SourceInfo,
    capture: Option<cachescope_core::report::CaptureNotes>,
    cut_short: bool,
    quiet: bool,
) -> Result<Exit> {
    let shard = share.shards()[0];
    let path = args.share_file.clone().unwrap_or_else(|| shares::default_path(shard));
    let events = share.events();
    let file = ShareFile { format: shares::FORMAT.into(), version: shares::VERSION, source, capture, cut_short, share };
    shares::write(&path, &file)?;
    if !quiet {
        eprintln!(
            "Wrote shard {shard} of {} ({} events read) to {}: `cachescope merge` the {} shards' files for the report.",
            args.input.trace.display(),
            cachescope_core::human::count(events),
            path.display(),
            shard.count,
        );
    }
    Ok(Exit::Success)
}

/// Recordings at least this big, decoded by one thread, are worth converting to blocks.
const WORTH_CONVERTING: u64 = 256 << 20;

/// Says how to have every core read a big recording that one thread must decode: a readable one, or a compact
/// one from before blocks.
fn suggest_blocks(trace: &std::path::Path, reader: &TraceReader) {
    let one_reader = match reader.format() {
        TraceFormat::Cachescope => "readable",
        TraceFormat::CachescopeCompact if !reader.has_blocks() => "compact without blocks (version 1)",
        _ => return,
    };
    let size = reader.progress().total_bytes();
    if size >= WORTH_CONVERTING {
        tracing::warn!(
            "{} ({}, {one_reader}) is decoded by one thread for the others: `cachescope convert {} {}` once rewrites \
             it in blocks that every core reads",
            trace.display(),
            cachescope_core::human::bytes(size as f64),
            trace.display(),
            converted_name(trace).display(),
        );
    }
}

/// Where `convert` could write a trace's blocks: beside it, as `NAME.cst` (`.cst.zst` if it is compressed).
fn converted_name(trace: &std::path::Path) -> std::path::PathBuf {
    let name = trace.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let compressed = name.ends_with(".zst");
    let stem = name.trim_end_matches(".zst");
    let stem = stem.rsplit_once('.').map_or(stem, |(stem, _)| stem);
    trace.with_file_name(format!("{stem}{}", if compressed { ".blocks.cst.zst" } else { ".blocks.cst" }))
}

/// Threads for the analysis: as asked, else one per core.
fn threads_for(asked: Option<u32>) -> u32 {
    asked.unwrap_or_else(|| crate::parallel_whatif::available_threads() as u32)
}

/// Replays the trace into one engine for `shard` (all keys, or one share), or, on several threads, into one
/// engine per part of that share, the parts merged: each thread decoding blocks of the trace where it has them
/// ([`analysis`]), else fed by one reading thread ([`Shards`]).
fn analyse(
    reader: &mut TraceReader,
    reopen: impl Fn() -> Result<TraceReader>,
    config: &EngineConfig,
    options: &ReplayOptions,
    shard: Shard,
    threads: u32,
    bar: &ProgressBar,
) -> Result<(Partial, Replayed)> {
    if reader.has_blocks() {
        let skip = Skip::from_flag(options.skip_bad_lines);
        match analysis::analyse(reader, config, shard, threads, skip, bar)? {
            BlockReplay::Done(share, replayed) => return Ok((*share, replayed)),
            BlockReplay::NeedsModel => {
                // Events without outcomes go through a model, which sees every key in order: read again.
                tracing::info!("the trace has events without outcomes: replaying it through a cache model");
                *reader = reopen()?;
                bar.set_position(0);
            }
        }
    }
    if threads <= 1 {
        let mut engine = Engine::new(EngineConfig { shard, ..config.clone() });
        let replayed = replay(reader, &mut engine, options, bar)?;
        return Ok((engine.into_partial(), replayed));
    }
    let mut shards = Shards::start(config, shard, threads);
    let replayed = replay(reader, &mut shards, options, bar)?;
    Ok((shards.finish()?, replayed))
}

#[cfg(test)]
mod tests {
    use super::converted_name;
    use std::path::Path;

    #[test]
    fn a_converted_trace_is_named_beside_its_recording() {
        for (trace, converted) in [
            ("/data/traffic.trace.zst", "/data/traffic.blocks.cst.zst"),
            ("/data/old.cst", "/data/old.blocks.cst"),
            ("capture", "capture.blocks.cst"),
        ] {
            assert_eq!(converted_name(Path::new(trace)), Path::new(converted), "{trace}");
        }
    }
}
