//! The engine's thread: takes what the source sends, closes windows (by event time, and by the wall clock when
//! the traffic stops), runs the detector, builds reports when due or asked, and publishes snapshots.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::TryRecvError;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cachescope_core::report::{FindingCause, Severity};
use cachescope_core::{Command, Event, Micros, Report};
use cachescope_trace::TraceWriter;
use tokio::sync::{broadcast, watch};

use crate::detect::{Anomaly, Change};
use crate::pipeline::Pipeline;
use crate::series::SeriesStore;
use crate::{
    Counters, EventSource, Final, IDLE, IDLE_LONGEST, LiveEvent, LiveSnapshot, MARKERS_KEPT, Message, Options,
    REPORT_MIN_INTERVAL, ReportRequests, ServerCounters, Tallies,
};

/// Anomalies closed that a snapshot keeps, newest first.
const CLOSED_KEPT: usize = 50;

pub(crate) struct Runner {
    options: Options,
    snapshots: watch::Sender<Arc<LiveSnapshot>>,
    changes: broadcast::Sender<LiveEvent>,
    requests: ReportRequests,
    writer: Option<TraceWriter>,
    record_error: Option<(PathBuf, std::io::Error)>,
    counters: Counters,
    tallies: Tallies,
    /// The server's counters as last read, to add their increase (a restart starts them again at 0).
    server_last: Option<ServerCounters>,
    pipeline: Pipeline,
    /// The latest report, and when it was built.
    report: Option<(Arc<Report>, Instant)>,
    next_report: Instant,
    /// What the last report due found, to tell the findings changed.
    last_signature: Option<Vec<(FindingCause, String, Severity)>>,
}

/// The nap after `nap` found nothing waiting: twice as long, up to [`IDLE_LONGEST`].
fn longer_nap(nap: Duration) -> Duration {
    (nap * 2).min(IDLE_LONGEST)
}

fn now_micros() -> Micros {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as Micros)
}

impl Runner {
    pub(crate) fn new(
        pipeline: Pipeline,
        options: Options,
        snapshots: watch::Sender<Arc<LiveSnapshot>>,
        changes: broadcast::Sender<LiveEvent>,
        requests: ReportRequests,
    ) -> std::io::Result<Runner> {
        let writer = match &options.record {
            Some((path, format, header)) => Some(TraceWriter::create(path, *format, header)?),
            None => None,
        };
        Ok(Runner {
            pipeline,
            snapshots,
            changes,
            requests,
            writer,
            record_error: None,
            counters: Counters::default(),
            tallies: Tallies::default(),
            server_last: None,
            report: None,
            next_report: Instant::now() + options.report_every,
            last_signature: None,
            options,
        })
    }

    pub(crate) fn run(mut self, source: EventSource) -> Final {
        let mut nap = IDLE;
        loop {
            let received = source.receiver.try_recv();
            if received.is_ok() {
                nap = IDLE;
            }
            match received {
                Ok(Message::CacheCapacity(bytes)) => self.pipeline.engine.set_cache_capacity(bytes),
                Ok(Message::Server(counters)) => self.server(counters),
                Ok(Message::Losses(losses)) => self.counters.source = losses,
                Ok(Message::Events(batch)) => {
                    let mut at = 0;
                    while at < batch.len() {
                        // An event that may close windows, on its own; then those after it in the same window,
                        // together, their keys' state asked for ahead.
                        self.event(&batch[at].as_event());
                        at += 1;
                        let within = self.pipeline.observe_in_window(batch.len() - at, |i| batch[at + i].as_event());
                        for event in &batch[at..at + within] {
                            self.observed(&event.as_event());
                        }
                        at += within;
                    }
                    self.counters.events += batch.len() as u64;
                }
                Err(TryRecvError::Empty) => {
                    if self.options.wall_clock {
                        self.close_until(now_micros());
                    }
                    // Drain what is there, then nap: a receiver blocked on the channel would have every sender
                    // wake it, a system call and a context switch per batch on the source's data path.
                    std::thread::sleep(nap.min(self.next_report.saturating_duration_since(Instant::now())));
                    nap = longer_nap(nap);
                }
                Err(TryRecvError::Disconnected) => break,
            }
            self.counters.dropped = source.dropped.load(Ordering::Relaxed);
            self.report_if_wanted();
        }
        if let Some(writer) = self.writer.take()
            && let Err(error) = writer.finish()
        {
            let path = self.record_path();
            self.record_error.get_or_insert((path, std::io::Error::other(error.to_string())));
        }
        self.counters.dropped = source.dropped.load(Ordering::Relaxed);
        // The last word stays readable by sinks that outlive the source (a dashboard after the demo ends).
        let report = self.pipeline.engine.report();
        self.report = Some((Arc::new(report.clone()), Instant::now()));
        let previous = self.snapshots.borrow().clone();
        self.snapshots.send_replace(Arc::new(self.snapshot(previous.time, previous.series.clone())));
        Final { report, counters: self.counters, record_error: self.record_error }
    }

    fn record_path(&self) -> PathBuf {
        self.options.record.as_ref().map(|(path, _, _)| path.clone()).unwrap_or_default()
    }

    fn event(&mut self, event: &Event) {
        self.tally(event);
        let mut closed = Vec::new();
        self.pipeline.observe(event, &mut |start, changes| closed.push((start, changes)));
        for (start, changes) in closed {
            self.publish_window(start, changes);
        }
        self.record(event);
    }

    /// An event the pipeline observed with others ([`Pipeline::observe_in_window`]): no window closed among them.
    fn observed(&mut self, event: &Event) {
        self.tally(event);
        self.record(event);
    }

    fn tally(&mut self, event: &Event) {
        if event.command == Command::Marker {
            let label = String::from_utf8_lossy(event.key);
            let kind = label.split_whitespace().next().unwrap_or("marker").to_string();
            *self.tallies.markers.entry(kind).or_default() += 1;
            self.tallies.recent_markers.push_back((event.time, label.into_owned()));
            if self.tallies.recent_markers.len() > MARKERS_KEPT {
                self.tallies.recent_markers.pop_front();
            }
        }
    }

    fn record(&mut self, event: &Event) {
        if let Some(writer) = self.writer.as_mut()
            && let Err(error) = writer.write(event)
        {
            self.record_error = Some((self.record_path(), std::io::Error::other(error.to_string())));
            self.writer = None;
        }
    }

    fn close_until(&mut self, until: Micros) {
        let mut closed = Vec::new();
        self.pipeline.close_until(until, &mut |start, changes| closed.push((start, changes)));
        for (start, changes) in closed {
            self.publish_window(start, changes);
        }
    }

    /// Adds the increase of the server's counters since the last reading.
    fn server(&mut self, now: ServerCounters) {
        let increase = |now: u64, before: Option<u64>| match before {
            // Lower than before: the server restarted and counts again from 0.
            Some(before) if now >= before => now - before,
            Some(_) => now,
            None => 0,
        };
        let total = self.tallies.server.get_or_insert_with(ServerCounters::default);
        total.evicted_keys += increase(now.evicted_keys, self.server_last.map(|l| l.evicted_keys));
        total.expired_keys += increase(now.expired_keys, self.server_last.map(|l| l.expired_keys));
        self.server_last = Some(now);
    }

    fn snapshot(&self, time: Micros, series: Arc<SeriesStore>) -> LiveSnapshot {
        let detector = self.pipeline.detector();
        let mut anomalies: Vec<Anomaly> = detector.open().cloned().collect();
        anomalies.extend(detector.closed().iter().rev().take(CLOSED_KEPT).cloned());
        LiveSnapshot {
            time,
            windows: self.pipeline.windows(),
            window_seconds: self.pipeline.width() as f64 / 1e6,
            misses_only: !self.pipeline.engine().config().hits_observed,
            counters: self.counters,
            tallies: self.tallies.clone(),
            anomalies,
            series,
            report: self.report.as_ref().map(|(report, _)| report.clone()),
            report_built: self.report.as_ref().map(|(_, built)| *built),
        }
    }

    fn publish_window(&mut self, start: Micros, changes: Vec<Change>) {
        for change in &changes {
            if let Change::Opened(anomaly) = change {
                *self.tallies.anomalies_opened.entry(anomaly.kind.as_str()).or_default() += 1;
            }
        }
        // Readers hold the previous series for as long as they like: the new one is a copy.
        let series = Arc::new(self.pipeline.store().clone());
        self.snapshots.send_replace(Arc::new(self.snapshot(start, series)));
        let _ = self.changes.send(LiveEvent::Window { time: start, windows: self.pipeline.windows() });
        for change in changes {
            let event = match change {
                Change::Opened(anomaly) => LiveEvent::AnomalyOpened { anomaly },
                Change::Closed(anomaly) => LiveEvent::AnomalyClosed { anomaly },
            };
            let _ = self.changes.send(event);
        }
    }

    /// Builds the report when due (every `report_every`, telling `on_change` when the findings changed) or when
    /// a sink asked and the last is older than [`REPORT_MIN_INTERVAL`], and publishes it at once.
    fn report_if_wanted(&mut self) {
        let due = Instant::now() >= self.next_report;
        let recent = self.report.as_ref().is_some_and(|(_, built)| built.elapsed() < REPORT_MIN_INTERVAL);
        let asked = !due && !recent && self.requests.take();
        if !due && !asked {
            return;
        }
        let report = Arc::new(self.pipeline.engine.report());
        self.pipeline.set_report(Some(report.clone()));
        let built = Instant::now();
        if due {
            self.next_report = built + self.options.report_every;
            let signature: Vec<_> = report.findings.iter().map(|f| (f.cause, f.pattern.clone(), f.severity)).collect();
            if self.last_signature.as_ref() != Some(&signature) && self.counters.events > 0 {
                if let Some(on_change) = self.options.on_change.as_mut() {
                    on_change(&report, &self.counters);
                }
                let _ = self.changes.send(LiveEvent::FindingsChanged { findings: report.findings.len() });
                self.last_signature = Some(signature);
            }
        }
        self.report = Some((report, built));
        // Published now, not with the next window: whoever asked is waiting for it.
        let previous = self.snapshots.borrow().clone();
        self.snapshots.send_replace(Arc::new(self.snapshot(previous.time, previous.series.clone())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naps_lengthen_while_nothing_comes_up_to_the_longest() {
        let mut nap = IDLE;
        let mut naps = Vec::new();
        for _ in 0..8 {
            naps.push(nap.as_millis());
            nap = longer_nap(nap);
        }
        assert_eq!(naps, [2, 4, 8, 16, 32, 50, 50, 50]);
    }
}
