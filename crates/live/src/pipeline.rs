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
