//! `cachescope proxy`: relay an application's traffic to Redis, analyse it live, report when stopped.

use std::time::Duration;

use anyhow::{Result, bail};
use cachescope_core::report::SourceInfo;
use cachescope_core::{Engine, InitialState};
use cachescope_trace::TraceHeader;

use crate::cli::ProxyArgs;
use crate::config::{engine_config, live_config};
use crate::exit::{Exit, OutputError, Unavailable, UsageError};
use crate::redis_url::RedisUrl;
use crate::sources::proxy::{self, ProxyOptions, Upstream};
use crate::{logging, shutdown, sinks};

pub fn run(args: &ProxyArgs, color: bool) -> Result<Exit> {
    let upstream = RedisUrl::parse(&args.upstream)?;
    if args.upstream_ca.is_some() && !upstream.tls {
        bail!(UsageError(format!("--upstream-ca is for a TLS upstream, and {upstream} is plain TCP: write rediss://")));
    }
    let relay_to = Upstream::new(&upstream, args.upstream_ca.as_deref(), Duration::from_secs(5))?;
    // A thousand clients take two thousand sockets.
    if let Err(error) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::warn!("could not raise the open-files limit: {error}");
    }
    // One thread, as twemproxy: relaying is system calls, and on a host shared with the application a second
    // thread costs more CPU in wake-ups than it saves (a third less CPU a command unpipelined, measured).
    let runtime = match args.threads {
        0 | 1 => tokio::runtime::Builder::new_current_thread().enable_all().build()?,
        threads => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .thread_name("cachescope-proxy")
            .build()?,
    };
    let listener = runtime.block_on(tokio::net::TcpListener::bind(&args.listen)).map_err(|error| {
        Unavailable(format!("cannot listen on {}: {error} (is another process using it? choose --listen)", args.listen))
    })?;
    let listening = listener.local_addr()?;
    let http = sinks::http::bind(&runtime, &args.live.http)?;
    sinks::webhook::check(&args.live)?;

    let config = engine_config(&args.engine, InitialState::Unknown)?;
    let engine = Engine::new(config);
    let (sink, source) = cachescope_live::channel();
    let output = args.output.output;
    let record = args.record.as_ref().map(|path| {
        let header = TraceHeader {
            initial_state: InitialState::Unknown,
            cache_capacity: None,
            source: Some(format!("cachescope proxy {listening} -> {upstream}")),
            read_through: false,
        };
        (path.clone(), args.record_format, header)
    });
    let analysis = cachescope_live::spawn(
        engine,
        source,
        cachescope_live::Options {
            report_every: args.report_every,
            on_change: Some(Box::new(move |report, counters| sinks::live::print(report, counters, output))),
            record,
            wall_clock: true,
            ..cachescope_live::Options::new(live_config(&args.live, &args.engine)?)
        },
    )
    .map_err(|source| OutputError {
        path: args.record.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
        source,
    })?;

    logging::status(&format!(
        "cachescope proxy: listening on {listening}, relaying to {upstream}. Point the application at {listening}; \
         Ctrl-C (or SIGTERM) stops and prints the report."
    ));
    let source = format!("{listening} -> {upstream}");
    let outlets_source = sinks::outlets::Source { command: "proxy", name: &source, markers: sink.clone() };
    let mut outlets = sinks::outlets::start(&runtime, &args.live, http, outlets_source, &analysis, output, color)?;
    // A wrong port or an untrusted certificate shows now, not when the first client connects.
    if let Err(why) = runtime.block_on(relay_to.connect()) {
        logging::warning(&format!(
            "cannot reach the upstream {upstream} now: {why}. Clients get an error reply until it answers."
        ));
    }
    let options = ProxyOptions {
        upstream: relay_to,
        watch: Some((upstream.clone(), Duration::from_secs(1))),
        drain_timeout: Duration::from_secs(5),
        max_connections: args.max_connections.max(1),
    };
    let stats = runtime.block_on(proxy::serve(listener, options, sink, shutdown::requested(args.duration)))?;
    outlets.stop_serving();
    drop(runtime);
    tracing::info!(connections = stats.connections, unreachable = stats.unreachable, "proxy stopped");

    let cachescope_live::Final { mut report, counters, record_error } =
        analysis.join().map_err(|_| anyhow::anyhow!("the analysis thread failed"))?;
    outlets.finish();
    report.source = Some(SourceInfo { kind: "proxy".into(), name: source, format: None });
    if counters.dropped > 0 {
        logging::warning(&format!(
            "{} events were dropped because the analysis fell behind the traffic",
            counters.dropped
        ));
    }
    if stats.unreachable > 0 {
        logging::warning(&format!("{} client connections could not reach the upstream {upstream}", stats.unreachable));
    }
    super::emit(&report, &args.output, color, None)?;
    if let Some((path, error)) = record_error {
        return Err(OutputError { path: path.display().to_string(), source: error }.into());
    }
    Ok(Exit::Success)
}
