//! Where a live command's analysis goes while it runs, the same for every live source (`proxy`, `watch`): the
//! anomalies on the terminal, `--http` (metrics, the API, markers into the source's channel) and `--webhook`.

use std::thread::JoinHandle;

use anyhow::Result;
use cachescope_live::{EventSink, Live};
use tokio::runtime::Runtime;

use super::http::{Bound, Serving};
use crate::cli::{LiveArgs, OutputFormat};

/// The outlets started, to stop when the command stops.
pub struct Outlets {
    serving: Option<Serving>,
    webhook: Option<JoinHandle<()>>,
}

/// The live source the outlets serve.
pub struct Source<'a> {
    /// `proxy`, `watch`.
    pub command: &'a str,
    /// What it watches, as webhook posts name it (`redis://cache:6379`).
    pub name: &'a str,
    /// Its channel, for `POST /api/markers`.
    pub markers: EventSink,
}

/// Starts the outlets of `live`. `http` is the address bound before the source started, so that a taken port
/// fails first.
pub fn start(
    runtime: &Runtime,
    args: &LiveArgs,
    http: Option<Bound>,
    source: Source<'_>,
    live: &Live,
    output: OutputFormat,
    color: bool,
) -> Result<Outlets> {
    if output == OutputFormat::Text {
        super::live::follow_anomalies(live.changes.subscribe(), color);
    }
    let serving = http.map(|bound| bound.serve(runtime, source.command, live, Some(source.markers)));
    let webhook = super::webhook::start(args, &format!("{} {}", source.command, source.name), live)?;
    Ok(Outlets { serving, webhook })
}

impl Outlets {
    /// Stops serving HTTP. The served tasks hold a marker sender until their runtime is dropped.
    pub fn stop_serving(&mut self) {
        if let Some(serving) = self.serving.take() {
            serving.stop();
        }
    }

    /// After the analysis ended: lets the webhook deliver what is left, for a while.
    pub fn finish(self) {
        super::webhook::finish(self.webhook);
    }
}
