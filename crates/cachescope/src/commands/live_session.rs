//! What every live source's command shares around its source (`proxy`, `watch`, `capture`): the analysis thread
//! (recording with `--record`), the outlets (`--http`, `--webhook`, anomalies on the terminal) and the end, in the
//! order that lets each finish: stop serving, end the runtime (its HTTP tasks hold a sender of the source's
//! channel), wait for the analysis, let the webhook deliver what is left.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use cachescope_core::{Engine, EngineConfig, Report};
use cachescope_live::{EventSink, Live};
use cachescope_trace::{TraceFormat, TraceHeader};
use tokio::runtime::Runtime;

use crate::cli::{EngineArgs, LiveArgs, OutputFormat};
use crate::config::live_config;
use crate::exit::OutputError;
use crate::logging;
use crate::sinks::{self, http::Bound, outlets::Outlets};

/// How a live command runs its analysis.
pub struct Options<'a> {
    /// `proxy`, `watch`, `capture`.
    pub command: &'a str,
    /// What it follows, as the outlets name it (`redis://cache:6379`).
    pub name: &'a str,
    pub live: &'a LiveArgs,
    pub engine: &'a EngineArgs,
    pub config: EngineConfig,
    pub report_every: Duration,
    /// `--record`: where, in which format, with which header.
    pub record: Option<(PathBuf, TraceFormat, TraceHeader)>,
    pub output: OutputFormat,
    pub color: bool,
}

/// The analysis and its outlets, running.
pub struct Session {
    live: Live,
    outlets: Outlets,
}

/// Binds `--http` and checks `--webhook` before anything starts: a taken port or a bad URL fails first.
pub fn prepare(runtime: &Runtime, live: &LiveArgs) -> Result<Option<Bound>> {
    let http = sinks::http::bind(runtime, &live.http)?;
    sinks::webhook::check(live)?;
    Ok(http)
}

/// Starts the analysis, then calls `announce` (the command's first status line, once nothing can fail before it),
/// then the outlets; returns them and the sink the source feeds. `http` is the address bound before anything
/// started, so that a taken port fails first.
pub fn start(
    runtime: &Runtime,
    http: Option<Bound>,
    options: Options<'_>,
    announce: impl FnOnce(),
) -> Result<(Session, EventSink)> {
    let (sink, source) = cachescope_live::channel();
    let output = options.output;
    let record_path = options.record.as_ref().map(|(path, ..)| path.display().to_string()).unwrap_or_default();
    let live = cachescope_live::spawn(
        Engine::new(options.config),
        source,
        cachescope_live::Options {
            report_every: options.report_every,
            on_change: Some(Box::new(move |report, counters| sinks::live::print(report, counters, output))),
            record: options.record,
            wall_clock: true,
            ..cachescope_live::Options::new(live_config(options.live, options.engine)?)
        },
    )
    .map_err(|source| OutputError { path: record_path, source })?;
    announce();
    let markers = sink.clone();
    let source = sinks::outlets::Source { command: options.command, name: options.name, markers };
    let outlets = sinks::outlets::start(runtime, options.live, http, source, &live, output, options.color)?;
    Ok((Session { live, outlets }, sink))
}

impl Session {
    /// Once the source has stopped (and dropped its sink): the final report, and the recording's error if it
    /// failed (the analysis went on without it).
    pub fn finish(mut self, runtime: Runtime) -> Result<(Report, Option<(PathBuf, std::io::Error)>)> {
        self.outlets.stop_serving();
        drop(runtime);
        let cachescope_live::Final { report, counters, record_error } =
            self.live.join().map_err(|_| anyhow::anyhow!("the analysis thread failed"))?;
        self.outlets.finish();
        if counters.dropped > 0 {
            logging::warning(&format!("{} events were dropped because the analysis fell behind", counters.dropped));
        }
        Ok((report, record_error))
    }
}

/// The error for a recording that failed, to return after the report was printed.
pub fn record_failed(record_error: Option<(PathBuf, std::io::Error)>) -> Result<()> {
    match record_error {
        Some((path, error)) => Err(OutputError { path: path.display().to_string(), source: error }.into()),
        None => Ok(()),
    }
}
