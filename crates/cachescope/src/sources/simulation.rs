//! The demo's source: a simulated application against the built-in cache model, optionally recorded as a
//! trace.

use anyhow::{Context, Result};
use cachescope_core::{Engine, InitialState};
use cachescope_sim::scenario::Scenario;
use cachescope_trace::{TraceFormat, TraceHeader, TraceWriter};
use indicatif::ProgressBar;
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
            };
            Some(TraceWriter::create(path, format, &header).with_context(|| format!("creating {}", path.display()))?)
        }
        None => None,
    };
    let mut events = 0u64;
    let mut write_error = None;
    scenario.run(
        &mut |event| {
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
    if let Some(error) = write_error {
        return Err(error).context("recording the demo's trace");
    }
    if let (Some(writer), Some((path, _))) = (writer, record) {
        writer.finish().with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(events)
}
