//! `cachescope capture`: read the RESP traffic off the network until stopped, analysing it live, then report.
//! Opens the packet socket first, so that a missing permission is said before anything else starts.

use anyhow::Result;
use cachescope_capture::bpf;
use cachescope_core::InitialState;
use cachescope_core::report::SourceInfo;
use cachescope_trace::TraceHeader;

use super::live_session;
use crate::cli::CaptureArgs;
use crate::config::engine_config;
use crate::exit::{Exit, NoPermission, UsageError};
use crate::sources::capture::Capture;
use crate::sources::capture::socket::{OpenError, PacketSocket};
use crate::{logging, shutdown};

pub fn run(args: &CaptureArgs, color: bool) -> Result<Exit> {
    let mut ports = args.port.clone();
    ports.sort_unstable();
    ports.dedup();
    if ports.len() > bpf::MAX_PORTS {
        return Err(UsageError(format!("--port: at most {} ports in one capture", bpf::MAX_PORTS)).into());
    }
    let socket =
        PacketSocket::open(Some(&args.interface), &bpf::port_filter(&ports)).map_err(|error| -> anyhow::Error {
            match error {
                OpenError::Permission { .. } => NoPermission(error.to_string()).into(),
                OpenError::NoInterface(_) => UsageError(error.to_string()).into(),
                OpenError::Other(_) => error.into(),
            }
        })?;

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let http = live_session::prepare(&runtime, &args.live)?;
    let shown_ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    let name = format!("interface {}, port {}", args.interface, shown_ports.join(", "));
    let record = args.recording.with_header(TraceHeader {
        initial_state: InitialState::Unknown,
        cache_capacity: None,
        source: Some(format!("cachescope capture, {name}")),
        read_through: false,
    });
    let options = live_session::Options {
        command: "capture",
        name: &name,
        live: &args.live,
        engine: &args.engine,
        config: engine_config(&args.engine, InitialState::Unknown)?,
        report_every: args.report_every,
        record,
        output: args.output.output,
        color,
    };
    let (session, sink) = live_session::start(&runtime, http, options, || {})?;
    let running = Capture::start(socket, ports.clone(), sink);
    logging::status(&format!(
        "cachescope capture: reading the RESP traffic on {name}. Ctrl-C (or SIGTERM) stops and prints the report."
    ));
    runtime.block_on(shutdown::requested(args.duration));
    let captured = running.stop();
    let (mut report, record_error) = session.finish(runtime)?;
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
    live_session::record_failed(record_error)?;
    Ok(Exit::Success)
}
