//! `cachescope merge SHARE...`: the report of an analysis run in shards (`cachescope analyze --shard I/N`),
//! the same as one `analyze` over the whole trace would give (without simulated gains, which need the trace).

use anyhow::{Context, Result};

use crate::cli::MergeArgs;
use crate::exit::{Exit, UsageError};
use crate::shares;

pub fn run(args: &MergeArgs, color: bool) -> Result<Exit> {
    let mut files = Vec::with_capacity(args.shares.len());
    for path in &args.shares {
        files.push((path, shares::read(path)?));
    }
    let mut files = files.into_iter();
    let (first_path, first) = files.next().context("no share given")?;
    let (source, capture, mut share) = (first.source, first.capture, first.share);
    let mut cut_short = first.cut_short;
    for (path, file) in files {
        cut_short |= file.cut_short;
        if file.source.name != source.name {
            tracing::warn!(
                "{} is a share of {}, {} of {}: merged as one trace since their events agree",
                path.display(),
                file.source.name,
                first_path.display(),
                source.name
            );
        }
        share.merge(file.share).with_context(|| format!("merging {} with the shares before it", path.display()))?;
    }
    let missing = share.missing();
    if !missing.is_empty() && !args.allow_missing {
        let names: Vec<String> = missing.iter().map(ToString::to_string).collect();
        return Err(UsageError(format!(
            "shard{} {} of {} {} missing: a report of some shards counts only their keys. Give every share, or \
             --allow-missing to report on those given",
            if missing.len() > 1 { "s" } else { "" },
            names.join(", "),
            source.name,
            if missing.len() > 1 { "are" } else { "is" },
        ))
        .into());
    }
    let mut report = share.report();
    report.notes.capture = capture;
    report.notes.cut_short = cut_short;
    report.source = Some(source);
    super::emit(&report, &args.output, color, None)?;
    Ok(super::exit_for(&report, args.fail_on))
}
