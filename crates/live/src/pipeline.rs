//! Events into windows, windows into series and the detector: the live layer's logic, synchronous and free of
//! threads and clocks, so that the engine's thread ([`crate::spawn`]) and the detection measurements (the
//! accuracy crate) run the same code.

use std::sync::Arc;

use cachescope_core::{Engine, Event, Micros, Report};

use crate::detect::{Change, Detector, cusum::CusumConfig};
use crate::series::{SeriesConfig, SeriesStore};

/// The engine, its windows, their series and the detector.
pub struct Pipeline {
    pub engine: Engine,
    store: SeriesStore,
    detector: Detector,
    width: Micros,
    /// The start of the window being counted; None before the first event.
    start: Option<Micros>,
    windows: u64,
    /// The latest full report, whose findings explain what the detector flags.
    report: Option<Arc<Report>>,
}

impl Pipeline {
    pub fn new(engine: Engine, series: SeriesConfig, detector: CusumConfig) -> Self {
        let width = series.window.max(1);
        Pipeline {
            engine,
            store: SeriesStore::new(series),
            detector: Detector::new(detector, width),
            width,
            start: None,
            windows: 0,
            report: None,
        }
    }

    /// Takes one event (in time order), first closing the windows that end before it; `closed` gets each
    /// closed window's start and what changed with it.
    pub fn observe(&mut self, event: &Event, closed: &mut dyn FnMut(Micros, Vec<Change>)) {
        let start = *self.start.get_or_insert(event.time - event.time % self.width);
        if event.time >= start + self.width {
            self.close_until(event.time, closed);
        }
        self.engine.observe(event);
    }

    /// Observes events in time order while they fall in the window being counted, as [`Pipeline::observe`] would
    /// one by one, but each key's state asked for ahead ([`Engine::observe_indexed`]): the first `len` of them at
    /// most, up to the first that would close the window (which [`Pipeline::observe`] then takes). Returns how
    /// many it observed; none before the first event.
    pub fn observe_in_window<'e>(&mut self, len: usize, event: impl Fn(usize) -> Event<'e>) -> usize {
        let Some(start) = self.start else { return 0 };
        let end = start + self.width;
        let within = (0..len).position(|index| event(index).time >= end).unwrap_or(len);
        self.engine.observe_indexed(within, event);
        within
    }

    /// Closes the window being counted, and the empty ones after it, until `until`.
    pub fn close_until(&mut self, until: Micros, closed: &mut dyn FnMut(Micros, Vec<Change>)) {
        while let Some(start) = self.start {
            if until < start + self.width {
                return;
            }
            let window = self.engine.take_window();
            let engine = &self.engine;
            self.store.push(start, &window, &|id| engine.pattern_name(id).to_string());
            self.windows += 1;
            let changes = self.detector.step(start, &window, &self.store, self.report.as_deref());
            self.start = Some(start + self.width);
            closed(start, changes);
        }
    }

    pub fn set_report(&mut self, report: Option<Arc<Report>>) {
        self.report = report;
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn store(&self) -> &SeriesStore {
        &self.store
    }

    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// Windows closed so far.
    pub fn windows(&self) -> u64 {
        self.windows
    }

    /// The length of a window.
    pub fn width(&self) -> Micros {
        self.width
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cachescope_core::{EngineConfig, Outcome, OwnedEvent, TtlChange};

    const WINDOW: Micros = 10_000_000;

    /// Reads of 300 keys over `windows` windows, a fifth missing (and refilled) and the misses rising from the
    /// middle on; a marker now and then, a window with no event, and events a little out of order.
    fn traffic(windows: u64) -> Vec<OwnedEvent> {
        let mut events = Vec::new();
        for w in (0..windows).filter(|&w| w != windows / 3) {
            for i in 0..400u64 {
                let time = 1_700_000_000_000_000 + w * WINDOW + i * (WINDOW / 400) - (i % 7) * 1_000;
                let key = format!("user:{}", (i * 7919 + w) % 300);
                let miss = i % 5 == 0 || (w > windows / 2 && i % 2 == 0);
                let outcome = if miss { Outcome::Miss } else { Outcome::Hit };
                events.push(OwnedEvent::from(&Event::read(time, key.as_bytes(), outcome)));
                if miss {
                    let write = Event::write(time + 1, key.as_bytes(), TtlChange::ExpireIn(5_000));
                    events.push(OwnedEvent::from(&write.with_outcome(Outcome::Ok)));
                }
                if i == 199 && w % 4 == 0 {
                    events.push(OwnedEvent::from(&Event::keyless(time + 2, cachescope_core::Command::Marker)));
                }
            }
        }
        events
    }

    fn pipeline() -> Pipeline {
        let series = SeriesConfig { window: WINDOW, ..SeriesConfig::default() };
        Pipeline::new(Engine::new(EngineConfig::default()), series, CusumConfig::default())
    }

    /// What a pipeline ended with, to compare: the report, the windows and their series, and what changed with
    /// each window.
    fn outcome(pipeline: &Pipeline, changes: &[(Micros, String)]) -> String {
        format!("{:?}\n{}\n{:?}\n{changes:?}", pipeline.engine().report(), pipeline.windows(), pipeline.store())
    }

    #[test]
    fn events_observed_a_window_at_a_time_end_as_one_by_one() {
        let events = traffic(24);
        let mut one_by_one = pipeline();
        let mut changes = Vec::new();
        for event in &events {
            one_by_one.observe(&event.as_event(), &mut |start, c| changes.push((start, format!("{c:?}"))));
        }
        let expected = outcome(&one_by_one, &changes);
        // As the engine's thread takes a batch: an event on its own (it may close windows), then those after it
        // in its window together; in batches of several sizes, so that runs end at batches' ends too.
        for batch_size in [1, 7, 500, events.len()] {
            let mut together = pipeline();
            let mut changes = Vec::new();
            let mut observed = 0;
            for batch in events.chunks(batch_size) {
                let mut at = 0;
                while at < batch.len() {
                    together.observe(&batch[at].as_event(), &mut |start, c| changes.push((start, format!("{c:?}"))));
                    at += 1;
                    let within = together.observe_in_window(batch.len() - at, |i| batch[at + i].as_event());
                    observed += within;
                    at += within;
                }
            }
            assert_eq!(outcome(&together, &changes), expected, "batches of {batch_size}");
            if batch_size > 1 {
                assert!(observed > events.len() / 2, "most events go together: {observed}");
            }
        }
    }
}
