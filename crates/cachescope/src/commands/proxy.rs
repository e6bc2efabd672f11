//! `cachescope proxy`: relay an application's traffic to Redis, analyse it live, report when stopped.

use std::time::Duration;

use anyhow::{Result, bail};
use cachescope_core::InitialState;
use cachescope_core::report::SourceInfo;
use cachescope_trace::TraceHeader;

use super::live_session;
use crate::cli::ProxyArgs;
use crate::config::engine_config;
use crate::exit::{Exit, Unavailable, UsageError};
use crate::redis_url::RedisUrl;
use crate::sources::proxy::{self, ProxyOptions, Upstream};
use crate::{logging, shutdown};

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
    let http = live_session::prepare(&runtime, &args.live)?;
    let record = args.recording.with_header(TraceHeader {
        initial_state: InitialState::Unknown,
        cache_capacity: None,
        source: Some(format!("cachescope proxy {listening} -> {upstream}")),
        read_through: false,
    });
    let source = format!("{listening} -> {upstream}");
    let options = live_session::Options {
        command: "proxy",
        name: &source,
        live: &args.live,
        engine: &args.engine,
        config: engine_config(&args.engine, InitialState::Unknown)?,
        report_every: args.report_every,
        record,
        output: args.output.output,
        color,
    };
    let (session, sink) = live_session::start(&runtime, http, options, || {
        logging::status(&format!(
            "cachescope proxy: listening on {listening}, relaying to {upstream}. Point the application at \
             {listening}; Ctrl-C (or SIGTERM) stops and prints the report."
        ))
    })?;
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
        share_upstream: !args.dedicated_upstream,
    };
    let stats = runtime.block_on(proxy::serve(listener, options, sink, shutdown::requested(args.duration)))?;
    tracing::info!(connections = stats.connections, unreachable = stats.unreachable, "proxy stopped");
    let (mut report, record_error) = session.finish(runtime)?;
    report.source = Some(SourceInfo { kind: "proxy".into(), name: source, format: None });
    if stats.unreachable > 0 {
        logging::warning(&format!("{} client connections could not reach the upstream {upstream}", stats.unreachable));
    }
    super::emit(&report, &args.output, color, None)?;
    live_session::record_failed(record_error)?;
    Ok(Exit::Success)
}
