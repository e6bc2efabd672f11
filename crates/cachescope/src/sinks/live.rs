//! Live updates: while a live source runs, the findings each time they change (text for a terminal, or one JSON
//! report per line with `--output json` for a program following along), and, on a terminal, each anomaly as it
//! opens and closes.

use std::fmt::Write as _;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use cachescope_core::human;
use cachescope_core::report::Report;
use owo_colors::OwoColorize;
use tokio::sync::broadcast::error::RecvError;

use crate::cli::OutputFormat;
use cachescope_live::{Counters, LiveEvent};

pub fn print(report: &Report, counters: &Counters, format: OutputFormat) {
    let text = match format {
        OutputFormat::Json => match serde_json::to_string(report) {
            Ok(json) => json + "\n",
            Err(_) => return,
        },
        OutputFormat::Text => render(report, counters),
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

fn render(report: &Report, counters: &Counters) -> String {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) % 86_400;
    let clock = format!("{:02}:{:02}:{:02} UTC", seconds / 3600, seconds / 60 % 60, seconds % 60);
    let summary = &report.summary;
    let mut out = format!(
        "{clock} · {} events · hit ratio {} · {} findings",
        human::count(counters.events),
        summary.hit_ratio.map_or("-".to_string(), human::percent),
        report.findings.len()
    );
    if counters.dropped > 0 {
        let _ = write!(out, " · {} events dropped (the analysis fell behind)", human::count(counters.dropped));
    }
    let losses = counters.source;
    if losses.kernel_drops > 0 {
        let _ = write!(out, " · {} packets dropped by the kernel", human::count(losses.kernel_drops));
    }
    if losses.stream_gaps > 0 {
        let _ = write!(out, " · {} holes in captured streams", human::count(losses.stream_gaps));
    }
    if losses.event_gaps > 0 {
        let _ = write!(out, " · events lost {} times", human::count(losses.event_gaps));
    }
    out.push('\n');
    for finding in &report.findings {
        let _ = writeln!(
            out,
            "  {:<8} {} {} · {} of misses · {}",
            finding.severity.as_str().to_uppercase(),
            finding.cause,
            finding.pattern,
            human::percent(finding.misses_explained.share),
            finding.suggestion.summary
        );
    }
    out
}

/// Prints each anomaly opened and closed as it comes (text output only: JSON stdout stays one report a line),
/// on a thread of its own that ends with the live layer.
pub fn follow_anomalies(mut changes: tokio::sync::broadcast::Receiver<LiveEvent>, color: bool) {
    let spawned = std::thread::Builder::new().name("cachescope-anomalies".into()).spawn(move || {
        loop {
            let line = match changes.blocking_recv() {
                Ok(LiveEvent::AnomalyOpened { anomaly }) => anomaly_line("anomaly", &anomaly.text, color),
                Ok(LiveEvent::AnomalyClosed { anomaly }) => anomaly_line("resolved", &anomaly.text, color),
                Ok(_) | Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            };
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        }
    });
    if let Err(error) = spawned {
        tracing::warn!("cannot follow anomalies: {error}");
    }
}

fn anomaly_line(what: &str, text: &str, color: bool) -> String {
    let label = match (what, color) {
        ("anomaly", true) => format!("{}", what.red().bold()),
        (_, true) => format!("{}", what.green().bold()),
        _ => what.to_uppercase(),
    };
    format!("{label}: {text}\n")
}
