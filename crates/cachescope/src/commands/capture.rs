//! `cachescope capture`: read the RESP traffic off the network until stopped, analysing it live, then report.
//! Opens the packet socket first, so that a missing permission is said before anything else starts.

use anyhow::Result;
use cachescope_capture::bpf;
use cachescope_core::report::SourceInfo;
use cachescope_core::{Engine, InitialState};
use cachescope_trace::TraceHeader;

use crate::cli::CaptureArgs;
use crate::config::{engine_config, live_config};
use crate::exit::{Exit, NoPermission, OutputError, UsageError};
use crate::sources::capture::socket::{OpenError, PacketSocket};
use crate::sources::capture::{self, Capture};
use crate::{logging, shutdown, sinks};

pub fn run(args: &CaptureArgs, color: bool) -> Result<Exit> {
    let mut ports = args.port.clone();
    ports.sort_unstable();
    ports.dedup();
    if ports.len() > bpf::MAX_PORTS {
        return Err(UsageError(format!("--port: at most {} ports in one capture", bpf::MAX_PORTS)).into());
    }
    let socket = PacketSocket::open(Some(&args.interface), &bpf::port_filter(&ports), capture::WAIT).map_err(
        |error| -> anyhow::Error {
            match error {
                OpenError::Permission { .. } => NoPermission(error.to_string()).into(),
                OpenError::NoInterface(_) => UsageError(error.to_string()).into(),
                OpenError::Other(_) => error.into(),
            }
        },
    )?;

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let http = sinks::http::bind(&runtime, &args.live.http)?;
    sinks::webhook::check(&args.live)?;
    let config = engine_config(&args.engine, InitialState::Unknown)?;
    let (sink, source) = cachescope_live::channel();
    let output = args.output.output;
    let shown_ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    let name = format!("interface {}, port {}", args.interface, shown_ports.join(", "));
    let record = args.record.as_ref().map(|path| {
        let header = TraceHeader {
            initial_state: InitialState::Unknown,
            cache_capacity: None,
            source: Some(format!("cachescope capture, {name}")),
            read_through: false,
        };
        (path.clone(), args.record_format, header)
    });
    let analysis = cachescope_live::spawn(
        Engine::new(config),
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
    let outlets_source = sinks::outlets::Source { command: "capture", name: &name, markers: sink.clone() };
    let mut outlets = sinks::outlets::start(&runtime, &args.live, http, outlets_source, &analysis, output, color)?;
    let running = Capture::start(socket, ports.clone(), sink);
    logging::status(&format!(
        "cachescope capture: reading the RESP traffic on {name}. Ctrl-C (or SIGTERM) stops and prints the report."
    ));
    runtime.block_on(shutdown::requested(args.duration));
    let captured = running.stop();
    outlets.stop_serving();
    drop(runtime);
    let cachescope_live::Final { mut report, counters, record_error } =
        analysis.join().map_err(|_| anyhow::anyhow!("the analysis thread failed"))?;
    outlets.finish();
    if counters.dropped > 0 {
        logging::warning(&format!("{} events were dropped because the analysis fell behind", counters.dropped));
    }
    if captured.kernel_drops > 0 {
        logging::warning(&format!(
            "the kernel dropped {} of {} packets because the capture fell behind: connections that lost bytes \
             were followed again from a safe point (see the report's notes)",
            captured.kernel_drops,
            captured.packets + captured.kernel_drops
        ));
    }
    if captured.stats.connections == 0 {
        logging::warning(&format!("no connection to port {} was seen on {}", shown_ports.join(", "), args.interface));
    }
    let mut notes = captured.stats.notes(&captured.ports);
    notes.kernel_drops = Some(captured.kernel_drops);
    report.notes.capture = Some(notes);
    report.source = Some(SourceInfo { kind: "capture".into(), name, format: None });
    super::emit(&report, &args.output, color, None)?;
    if let Some((path, error)) = record_error {
        return Err(OutputError { path: path.display().to_string(), source: error }.into());
    }
    Ok(Exit::Success)
}
