//! `cachescope mrc TRACE`: the miss ratio an LRU cache would have at every size, for the whole trace and its
//! busiest key patterns, as a table, JSON, or an SVG chart.

use anyhow::{Context, Result};
use cachescope_core::report::SourceInfo;
use cachescope_core::{Command, InitialState};
use cachescope_sim::mrc::{Curve, Mrc, MrcBuilder, MrcConfig, Sampling, log_sizes};
use cachescope_trace::TraceReader;

use crate::cli::{EngineArgs, MrcArgs, OutputFormat};
use crate::config::engine_config;
use crate::contracts::mrc::{CurveReport, PatternPoints, Point, SizeForHitRatio};
use crate::exit::{Exit, OutputError};
use crate::pattern_batches::{Batch, Item, Numbering, Rename};
use crate::sinks::{chart, curve_text, json};
use crate::sources::replay::{Skip, blocks, each_batch};
use crate::terminal;

const CURVE_VERSION: u32 = 1;
const TARGETS: [f64; 5] = [0.5, 0.8, 0.9, 0.95, 0.99];

pub fn run(args: &MrcArgs, color: bool, quiet: bool) -> Result<Exit> {
    let input = &args.input;
    let mut reader = TraceReader::open_with_columns(&input.trace, input.format, input.csv_columns)?;
    let header = reader.header().clone();
    let engine = engine_config(
        &EngineArgs { config: args.config.clone(), key_budget: None, max_patterns: None },
        InitialState::Unknown,
    )?;
    let sampling = match (args.sample_rate, args.sample_keys) {
        (Some(rate), _) => Sampling::FixedRate(rate),
        (None, Some(keys)) => Sampling::FixedSize(keys.max(1)),
        (None, None) => Sampling::Exact,
    };
    let config = MrcConfig {
        sampling,
        unit_size: args.unit_size,
        read_through: header.read_through,
        max_patterns: if args.patterns == 0 { 0 } else { engine.max_patterns },
        fold: engine.fold,
    };
    let bar = terminal::file_progress_bar(reader.progress().total_bytes(), quiet);
    bar.set_message(format!("reading {}", input.trace.display()));
    let skip = Skip::from_flag(input.skip_bad_lines);
    let threads = args.threads.map_or_else(crate::parallel_whatif::available_threads, |n| n as usize);
    let (mrc, cut_short) = build(&mut reader, config, threads, skip, &bar)
        .with_context(|| format!("reading {}", input.trace.display()))?;
    bar.finish_and_clear();

    let current = args.cache_size.or(header.cache_capacity.filter(|_| !args.unit_size));
    let mut format_name = reader.format().name().to_string();
    if reader.is_compressed() {
        format_name.push_str(", zstd");
    }
    let source =
        SourceInfo { kind: "trace".into(), name: input.trace.display().to_string(), format: Some(format_name) };
    let mut report = report(&mrc, sampling, args, current, source);
    report.cut_short = cut_short;

    if let Some(path) = &args.chart {
        chart::write(path, &report, &mrc, args.unit_size)
            .map_err(|source| OutputError { path: path.display().to_string(), source })?;
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.output {
        OutputFormat::Json => json::write(&report, &mut out)?,
        OutputFormat::Text => {
            use std::io::Write;
            let options = curve_text::Options { color, width: terminal::width(), chart: args.chart.clone() };
            out.write_all(curve_text::render(&report, &options).as_bytes())?;
            out.flush()?;
        }
    }
    Ok(Exit::Success)
}

fn report(mrc: &Mrc, sampling: Sampling, args: &MrcArgs, current: Option<u64>, source: SourceInfo) -> CurveReport {
    let max_useful = mrc.curve.max_distance().max(1);
    let mut sizes = if args.sizes.is_empty() {
        log_sizes((max_useful / 10_000).max(1), max_useful, args.points.max(2))
    } else {
        args.sizes.clone()
    };
    if let Some(current) = current {
        sizes.push(current);
        sizes.sort_unstable();
        sizes.dedup();
    }
    let points = |curve: &Curve| -> Vec<Point> {
        sizes
            .iter()
            .map(|&size| {
                let miss_ratio = curve.miss_ratio(size);
                Point { size, miss_ratio, hit_ratio: 1.0 - miss_ratio }
            })
            .collect()
    };
    let best_hit_ratio = 1.0 - mrc.curve.miss_ratio(max_useful);
    let sizes_for_hit_ratio = TARGETS
        .iter()
        .filter(|&&target| target <= best_hit_ratio)
        .filter_map(|&target| {
            size_for(&mrc.curve, target, max_useful).map(|size| SizeForHitRatio { hit_ratio: target, size })
        })
        .collect();
    let patterns = mrc
        .patterns
        .iter()
        .take(args.patterns)
        .map(|p| PatternPoints {
            pattern: p.pattern.clone(),
            reads: p.reads.round() as u64,
            points: points(&p.curve),
            current_hit_ratio: current.map(|size| 1.0 - p.curve.miss_ratio(size)),
        })
        .collect();
    CurveReport {
        version: CURVE_VERSION,
        source,
        method: match sampling {
            Sampling::Exact => "exact",
            Sampling::FixedRate(_) => "shards-fixed-rate",
            Sampling::FixedSize(_) => "shards-fixed-size",
        }
        .to_string(),
        sampling_rate: mrc.rate,
        tracked_keys: mrc.tracked_keys as u64,
        unit: if args.unit_size { "objects" } else { "bytes" }.to_string(),
        reads: mrc.reads,
        max_useful_size: max_useful,
        best_hit_ratio,
        current_size: current,
        current_hit_ratio: current.map(|size| 1.0 - mrc.curve.miss_ratio(size)),
        points: points(&mrc.curve),
        sizes_for_hit_ratio,
        cut_short: false,
        patterns,
    }
}

/// The smallest size at which `curve` hits at least `target`, searching up to `max`.
fn size_for(curve: &Curve, target: f64, max: u64) -> Option<u64> {
    if 1.0 - curve.miss_ratio(max) < target {
        return None;
    }
    let (mut low, mut high) = (1u64, max);
    while low < high {
        let middle = low + (high - low) / 2;
        if 1.0 - curve.miss_ratio(middle) >= target { high = middle } else { low = middle + 1 }
    }
    Some(low)
}

/// The curves of the trace: with patterns on two threads for an exact curve; a sample of a trace in blocks on
/// every thread ([`blocks::curve`]); else on this one. True with them when the trace was cut short and read up
/// to the cut.
fn build(
    reader: &mut TraceReader,
    config: MrcConfig,
    threads: usize,
    skip: Skip,
    bar: &indicatif::ProgressBar,
) -> Result<(Mrc, bool)> {
    if threads > 1 && config.sampling == Sampling::Exact && config.max_patterns > 0 {
        return build_on_two_threads(reader, config, skip, bar);
    }
    if threads > 1
        && reader.has_blocks()
        && let Some(mrc) = blocks::curve::build(reader, MrcBuilder::new(config.clone()), threads, skip, bar)?
    {
        return Ok(mrc);
    }
    let mut builder = MrcBuilder::new(config);
    let read = each_batch(reader, skip, bar, |batch| match batch.many() {
        Some(many) => builder.observe_indexed(many.len(), |index| many.get(index)),
        None => batch.iter().for_each(|event| builder.observe(&event)),
    })?;
    Ok((builder.finish(), read.cut_short))
}

/// An exact curve with patterns on two threads: this one reads the trace and folds each read's key once, the
/// other computes the stack distances, told each read's pattern by its number. The same curve as one thread's.
fn build_on_two_threads(
    reader: &mut TraceReader,
    config: MrcConfig,
    skip: Skip,
    bar: &indicatif::ProgressBar,
) -> Result<(Mrc, bool)> {
    let mut numbering = Numbering::new(&config.fold, config.max_patterns);
    std::thread::scope(|scope| {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<std::sync::Arc<Batch>>(16);
        let worker = scope.spawn(move || {
            let mut builder = MrcBuilder::numbered(config);
            for batch in receiver {
                batch.for_each(true, |item| match item {
                    Item::Rename(Rename::New(name)) => builder.new_pattern(name.clone()),
                    Item::Rename(Rename::Refold(map, names)) => builder.refold_patterns(map, names),
                    Item::Event(event, pattern, hash) => builder.observe_numbered(event, pattern, hash),
                    Item::Ahead(hash) => builder.prefetch(hash),
                });
            }
            builder.finish()
        });
        let read = each_batch(reader, skip, bar, |batch| {
            for event in batch.iter() {
                if let Some(full) = numbering.push(&event, event.command == Command::Read) {
                    // The other thread stops only by panicking: joining it says so.
                    let _ = sender.send(full);
                }
            }
        });
        if read.is_ok()
            && let Some(rest) = numbering.rest()
        {
            let _ = sender.send(rest);
        }
        drop(sender);
        let mrc = worker.join().map_err(|_| anyhow::anyhow!("the stack distances' thread failed"))?;
        read.map(|read| (mrc, read.cut_short))
    })
}
