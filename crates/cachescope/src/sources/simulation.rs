//! The demo's source: a simulated application against the built-in cache model, optionally recorded as a
//! trace.

use anyhow::Result;
use cachescope_core::{Engine, InitialState};
use cachescope_sim::scenario::Scenario;
use cachescope_trace::{TraceFormat, TraceHeader, TraceWriter};
use indicatif::ProgressBar;

use crate::exit::OutputError;
use std::path::Path;

pub fn simulate(
    scenario: &Scenario,
    engine: &mut Engine,
    record: Option<(&Path, TraceFormat)>,
    bar: &ProgressBar,
) -> Result<u64> {
    let mut writer = match record {
        Some((path, format)) => {
            let header = TraceHeader {
                initial_state: InitialState::Empty,
                cache_capacity: Some(scenario.cache_capacity),
                source: Some(format!("cachescope demo --scenario {} --seed {}", scenario.name, scenario.seed)),
                read_through: false,
            };
            Some(
                TraceWriter::create(path, format, &header)
                    .map_err(|source| OutputError { path: path.display().to_string(), source })?,
            )
        }
        None => None,
    };
    let mut events = 0u64;
    let mut write_error = None;
    scenario.run(
        &mut |event, _| {
            engine.observe(event);
            events += 1;
            if let Some(writer) = writer.as_mut()
                && write_error.is_none()
                && let Err(error) = writer.write(event)
            {
                write_error = Some(error);
            }
        },
        &mut |done| bar.set_position((done * 1000.0) as u64),
    );
    let output_error =
        |source| OutputError { path: record.map(|(p, _)| p.display().to_string()).unwrap_or_default(), source };
    if let Some(error) = write_error {
        return Err(output_error(error).into());
    }
    if let Some(writer) = writer {
        writer.finish().map_err(output_error)?;
    }
    Ok(events)
}
