//! The demo's source: a simulated application against the built-in cache model, optionally recorded as a
//! trace ([`simulate`]), or played in real time into the live layer ([`play`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use cachescope_core::{Engine, InitialState, Micros, OwnedEvent};
use cachescope_live::EventSink;
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

/// Events handed to the live layer at once, at most.
const BATCH: usize = 1024;

/// Plays `scenario` into a live source's channel, paced to `speed` times real time, its clock starting now; stops
/// early when `stop` is set. Returns the events played.
fn play(scenario: &Scenario, sink: &EventSink, speed: f64, stop: &AtomicBool) -> u64 {
    let started = Instant::now();
    let base = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as Micros);
    let mut batch: Vec<OwnedEvent> = Vec::with_capacity(BATCH);
    let mut played = 0u64;
    scenario.run(
        &mut |event, _| {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            // When this event happens in real time; the batch goes when it is full or when the next event is due
            // later than now.
            let due = Duration::from_secs_f64(event.time as f64 / 1e6 / speed);
            if batch.len() >= BATCH || (due > started.elapsed() && !batch.is_empty()) {
                sink.send_waiting(std::mem::take(&mut batch));
                batch.reserve(BATCH);
            }
            // A little early is fine: a nap per event would cost more than it paces.
            let wait = due.saturating_sub(started.elapsed());
            if wait > Duration::from_millis(2) {
                std::thread::sleep(wait);
            }
            let mut owned = OwnedEvent::from(event);
            owned.time = base + event.time;
            batch.push(owned);
            played += 1;
        },
        &mut |_| {},
    );
    sink.send_waiting(batch);
    played
}

/// A scenario playing on a thread of its own into a live source's channel (which closes when it ends).
pub struct Player {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl Player {
    pub fn start(scenario: Scenario, sink: EventSink, speed: f64) -> std::io::Result<Player> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("cachescope-demo".into())
            .spawn(move || play(&scenario, &sink, speed, &flag))?;
        Ok(Player { stop, thread })
    }

    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Stops the scenario where it is (or waits for its end) and returns the events it played.
    pub fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or(0)
    }
}
