//! `cachescope demo`: a simulated application with planted faults, and what cachescope finds in it; `live.rs`
//! plays it in real time through the live layer.

mod live;

use std::fmt::Write as _;

use anyhow::{Result, bail};
use cachescope_core::report::{Report, SourceInfo};
use cachescope_core::{Engine, InitialState};
use cachescope_sim::scenario::{Scenario, catalog};
use comfy_table::Table;
use comfy_table::presets::NOTHING;
use owo_colors::OwoColorize;

use cachescope_sim::whatif::Settings;
use cachescope_sim::{ModelConfig, Policy};

use crate::cli::DemoArgs;
use crate::config::engine_config;
use crate::exit::{Exit, UsageError};
use crate::simulated_gains;
use crate::sources::simulation::simulate;
use crate::terminal;

pub fn run(args: &DemoArgs, color: bool, quiet: bool) -> Result<Exit> {
    if args.list {
        let mut table = Table::new();
        table.load_preset(NOTHING).set_header(vec!["scenario", "what it plants"]);
        for info in catalog() {
            table.add_row(vec![info.name, info.description]);
        }
        println!("{table}\n\nRun one with `cachescope demo --scenario NAME`.");
        return Ok(Exit::Success);
    }
    let live_only = args.live_options.http.http.is_some() || args.live_options.webhook.is_some();
    if live_only && !args.live {
        bail!(UsageError("--http and --webhook serve a live run: add --live".into()));
    }
    let named = if args.live {
        Scenario::staged(&args.scenario, args.seed)
    } else {
        Scenario::named(&args.scenario, args.seed)
    };
    let Some(scenario) = named else {
        let names: Vec<_> = catalog().iter().map(|s| s.name).collect();
        bail!(UnknownScenario(format!(
            "there is no scenario `{}`; the scenarios are: {} (`cachescope demo --list` describes them)",
            args.scenario,
            names.join(", ")
        )));
    };
    if args.live {
        return live::run(args, scenario, color);
    }
    let mut config = engine_config(&args.engine, InitialState::Empty)?;
    config.cache_capacity = Some(scenario.cache_capacity);
    let mut engine = Engine::new(config.clone());

    let bar = terminal::progress_bar(1000, "of simulated time", quiet);
    bar.set_message(format!("simulating `{}`", scenario.name));
    simulate(
        &scenario,
        &mut engine,
        args.recording.record.as_deref().map(|p| (p, args.recording.record_format)),
        &bar,
    )?;
    bar.finish_and_clear();

    let mut report = engine.report();
    report.source = Some(SourceInfo { kind: "demo".into(), name: scenario.name.clone(), format: None });
    if !args.no_simulation {
        // The scenario's cache is an exact LRU of its capacity; the same run again feeds the suggestions' replays.
        let current = Settings::new(ModelConfig::new(Some(scenario.cache_capacity), Policy::EXACT_LRU));
        let bar = terminal::progress_bar(1000, "of simulated time", quiet);
        bar.set_message("simulating the suggestions");
        simulated_gains::attach(&mut report, current, &config, false, |observe| {
            scenario.run(&mut |event, _| observe(event), &mut |done| bar.set_position((done * 1000.0) as u64));
            Ok(())
        })?;
        bar.finish_and_clear();
    }
    let footer = planted_footer(&scenario, &report, color, args.recording.record.as_deref());
    super::emit(&report, &args.output, color, Some(footer))?;
    Ok(Exit::Success)
}

/// The usage error of a scenario name that does not exist.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UnknownScenario(pub String);

/// What the scenario planted, and whether the report found each: the demo's point.
fn planted_footer(scenario: &Scenario, report: &Report, color: bool, record: Option<&std::path::Path>) -> String {
    let mut out = String::new();
    if scenario.planted().is_empty() {
        let _ = writeln!(out, "\nThis scenario plants nothing: a healthy cache gets no findings.");
    } else {
        let _ = writeln!(out, "\nPlanted in this scenario:");
        for planted in scenario.planted() {
            let (cause, pattern) = (planted.cause, &planted.pattern);
            let found = report.findings.iter().any(|f| f.cause == cause && f.pattern == *pattern);
            let mark = match (found, color) {
                (true, true) => "found".green().to_string(),
                (true, false) => "found".to_string(),
                (false, true) => "MISSED".red().bold().to_string(),
                (false, false) => "MISSED".to_string(),
            };
            let _ = writeln!(out, "  {:<16} on {:<18} {mark}", cause.as_str(), pattern);
        }
    }
    if let Some(path) = record {
        let _ = writeln!(
            out,
            "\nThe traffic was recorded to {}: `cachescope analyze {}` reads it.",
            path.display(),
            path.display()
        );
    }
    out
}
