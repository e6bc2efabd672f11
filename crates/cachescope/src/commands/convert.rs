//! `cachescope convert TRACE OUTPUT`: rewrites a recording (readable or compact, of any version) or a packet
//! capture in one of cachescope's formats, by default the compact format in blocks, which `analyze` and `mrc`
//! read on every core. Every event is kept, in its order, under the trace's header. The output is written under
//! a temporary name beside it and renamed once whole: a failed run leaves no half trace under the name asked for.

use std::path::{Path, PathBuf};

use anyhow::Result;
use cachescope_core::human;
use cachescope_trace::{TraceFormat, TraceReader, TraceWriter};

use crate::cli::ConvertArgs;
use crate::exit::{Exit, OutputError, UsageError};
use crate::sources::replay::{Skip, each_batch};
use crate::terminal;

pub fn run(args: &ConvertArgs, quiet: bool) -> Result<Exit> {
    let mut reader = TraceReader::open(&args.trace, args.format)?;
    let format = reader.format();
    if !format.is_written() && format != TraceFormat::Pcap {
        return Err(UsageError(format!(
            "{} is in the {} format: requests without outcomes, which analyze, whatif and mrc read as they are. \
             convert rewrites cachescope's own recordings and packet captures",
            args.trace.display(),
            format.name()
        ))
        .into());
    }
    check_output(&args.trace, &args.output, args.force)?;

    let partial = partial_name(&args.output);
    let output_error = |source| OutputError { path: args.output.display().to_string(), source };
    let compressed = TraceWriter::compressed_name(&args.output);
    let mut writer =
        TraceWriter::create_compressed(&partial, args.to, reader.header(), compressed).map_err(output_error)?;
    let bar = terminal::file_progress_bar(reader.progress().total_bytes(), quiet);
    bar.set_message(format!("converting {}", args.trace.display()));
    let mut write_error = None;
    let read = each_batch(&mut reader, Skip::from_flag(args.skip_bad_lines), &bar, |batch| {
        if write_error.is_none() {
            write_error = batch.iter().try_for_each(|event| writer.write(&event)).err();
        }
    });
    bar.finish_and_clear();
    let written = match (read, write_error) {
        (Ok(read), None) => writer.finish().map(|()| read).map_err(|error| output_error(error).into()),
        (Err(error), _) => Err(error),
        (Ok(_), Some(error)) => Err(output_error(error).into()),
    };
    let read = match written.and_then(|read| {
        std::fs::rename(&partial, &args.output).map_err(output_error)?;
        Ok(read)
    }) {
        Ok(read) => read,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            return Err(error);
        }
    };

    if let Some(stats) = reader.capture_stats() {
        let notes = stats.notes(reader.capture_ports());
        if notes.gaps + notes.resyncs + notes.unreadable + notes.tls_connections > 0 {
            tracing::warn!(
                gaps = notes.gaps,
                gap_bytes = notes.gap_bytes,
                resyncs = notes.resyncs,
                unreadable = notes.unreadable,
                tls_connections = notes.tls_connections,
                "the capture missed some traffic; the converted trace holds the events read, without this account"
            );
        }
    }
    if !quiet {
        eprintln!(
            "Converted {} events{}{}: {} ({}, {}) to {} ({}, {}).",
            human::count(read.events),
            if read.cut_short { " (up to where the trace was cut short)" } else { "" },
            if read.skipped_lines > 0 {
                format!(" ({} malformed lines left out)", human::count(read.skipped_lines))
            } else {
                String::new()
            },
            args.trace.display(),
            describe(format, &reader),
            file_size(&args.trace),
            args.output.display(),
            args.to.name(),
            file_size(&args.output),
        );
    }
    Ok(Exit::Success)
}

/// Refuses to write over the trace being read, or over any other file without `--force`.
fn check_output(trace: &Path, output: &Path, force: bool) -> Result<(), UsageError> {
    if !output.exists() {
        return Ok(());
    }
    let same = match (trace.canonicalize(), output.canonicalize()) {
        (Ok(trace), Ok(output)) => trace == output,
        _ => false,
    };
    if same {
        return Err(UsageError(format!("{} is the trace being converted: name another file", output.display())));
    }
    if !force {
        return Err(UsageError(format!("{} exists: --force replaces it", output.display())));
    }
    Ok(())
}

/// Where the output is written until it is whole: a hidden name beside it.
fn partial_name(output: &Path) -> PathBuf {
    let name = output.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    output.with_file_name(format!(".{name}.converting-{}", std::process::id()))
}

fn describe(format: TraceFormat, reader: &TraceReader) -> String {
    if format == TraceFormat::CachescopeCompact && !reader.has_blocks() {
        format!("{}, version 1: without blocks", format.name())
    } else {
        format.name().to_string()
    }
}

fn file_size(path: &Path) -> String {
    std::fs::metadata(path).map(|meta| human::bytes(meta.len() as f64)).unwrap_or_else(|_| "?".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partial_file_is_hidden_beside_the_output() {
        let partial = partial_name(Path::new("/data/traces/big.cst.zst"));
        assert_eq!(partial.parent(), Some(Path::new("/data/traces")));
        let name = partial.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with(".big.cst.zst.converting-"), "{name}");
    }
}
