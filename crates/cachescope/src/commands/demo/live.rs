//! `cachescope demo --live`: the scenario played in (accelerated) real time through the live layer, as the proxy
//! feeds it, with its faults starting part-way: anomalies open and close on the terminal, and with --http the
//! metrics, the API and a dashboard move as they would on a real cache; with --webhook, it fires. No server.

use std::time::Duration;

use anyhow::{Result, bail};
use cachescope_core::report::SourceInfo;
use cachescope_core::{Engine, InitialState};
use cachescope_sim::scenario::Scenario;
use cachescope_trace::TraceHeader;

use crate::cli::DemoArgs;
use crate::config::{engine_config, live_config};
use crate::exit::{Exit, OutputError, UsageError};
use crate::sources::simulation::Player;
use crate::{logging, shutdown, sinks};

pub fn run(args: &DemoArgs, scenario: Scenario, color: bool) -> Result<Exit> {
    if !(args.speed.is_finite() && args.speed > 0.0) {
        bail!(UsageError(format!("--speed {} must be a positive factor (10: ten times real time)", args.speed)));
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let http = sinks::http::bind(&runtime, &args.live_options.http)?;
    sinks::webhook::check(&args.live_options)?;
    let mut config = engine_config(&args.engine, InitialState::Empty)?;
    config.cache_capacity = Some(scenario.cache_capacity);
    let (sink, source) = cachescope_live::channel();
    let output = args.output.output;
    let record = args.recording.with_header(TraceHeader {
        initial_state: InitialState::Empty,
        cache_capacity: Some(scenario.cache_capacity),
        source: Some(format!("cachescope demo --live --scenario {} --seed {}", scenario.name, scenario.seed)),
        read_through: false,
    });
    let live = cachescope_live::spawn(
        Engine::new(config),
        source,
        cachescope_live::Options {
            report_every: Duration::from_secs(5),
            on_change: Some(Box::new(move |report, counters| sinks::live::print(report, counters, output))),
            record,
            ..cachescope_live::Options::new(live_config(&args.live_options, &args.engine)?)
        },
    )
    .map_err(|source| OutputError {
        path: args.recording.record.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
        source,
    })?;
    if output == crate::cli::OutputFormat::Text {
        sinks::live::follow_anomalies(live.changes.subscribe(), color);
    }
    // Markers are the scenario's own deploys, in simulated time: none come through the API.
    let serving = http.map(|bound| bound.serve(&runtime, "demo", &live, None));
    let webhook = sinks::webhook::start(&args.live_options, &format!("demo {}", scenario.name), &live)?;
    let minutes = scenario.duration as f64 / 60e6;
    logging::status(&format!(
        "cachescope demo: playing `{}` live, {minutes:.0} simulated minutes at {}x ({:.0} s); its faults start \
         part-way. Ctrl-C stops and prints the report.",
        scenario.name,
        args.speed,
        minutes * 60.0 / args.speed
    ));

    let player = Player::start(scenario, sink, args.speed)?;
    let interrupted = runtime.block_on(async {
        tokio::select! {
            _ = async { while !player.is_finished() { tokio::time::sleep(Duration::from_millis(50)).await } } => false,
            _ = shutdown::requested(None) => true,
        }
    });
    player.stop();
    let cachescope_live::Final { mut report, record_error, .. } =
        live.join().map_err(|_| anyhow::anyhow!("the analysis thread failed"))?;
    report.source = Some(SourceInfo { kind: "demo".into(), name: format!("{} (live)", args.scenario), format: None });
    super::super::emit(&report, &args.output, color, None)?;
    if let Some(serving) = serving {
        if !interrupted {
            logging::status("cachescope demo: the scenario is over; still serving its last state until Ctrl-C.");
            runtime.block_on(shutdown::requested(None));
        }
        serving.stop();
    }
    drop(runtime);
    sinks::webhook::finish(webhook);
    if let Some((path, error)) = record_error {
        return Err(OutputError { path: path.display().to_string(), source: error }.into());
    }
    Ok(Exit::Success)
}
