//! `cachescope doctor [URL]`: a read-only check of a live server, with an exit code for cron and CI.

use anyhow::Result;
use cachescope_core::InitialState;
use cachescope_core::report::SourceInfo;

use crate::cli::DoctorArgs;
use crate::config::engine_config;
use crate::exit::Exit;
use crate::redis_url::RedisUrl;
use crate::sources::doctor::{DoctorOptions, Progress, collect};
use crate::terminal;

pub fn run(args: &DoctorArgs, color: bool, quiet: bool) -> Result<Exit> {
    let url = RedisUrl::parse(&args.url)?;
    let fold = engine_config(&args.engine, InitialState::Unknown)?.fold;
    let options = DoctorOptions {
        url: url.clone(),
        interval: args.interval,
        sample: args.sample.max(1),
        timeout: args.timeout,
        expiry_watch: args.expiry_watch,
    };
    let measuring = terminal::progress_bar(1000, "of the interval", quiet);
    measuring.set_message(format!("measuring {url} for {}", humantime::format_duration(args.interval)));
    let sampling = terminal::progress_bar(options.sample as u64, "of the key sample", quiet);
    sampling.set_message("sampling keys");
    let watching = terminal::progress_bar(1000, "of the expiry watch", quiet);
    let snapshot = collect(&options, &Progress { measuring, sampling, watching })?;
    let mut report = cachescope_doctor::diagnose(&snapshot, fold);
    report.source = Some(SourceInfo { kind: "doctor".into(), name: url.to_string(), format: None });
    super::emit(&report, &args.output, color, None)?;
    Ok(Exit::for_severity(report.findings.iter().map(|f| f.severity).max()))
}
