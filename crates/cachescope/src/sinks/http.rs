//! `--http`: the live layer served over HTTP (metrics, the API, live events, markers) by `cachescope-web`, on the
//! command's runtime, beside its source.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Result, bail};
use cachescope_live::{EventSink, Live};
use tokio::runtime::Runtime;
use tokio::sync::watch;

use crate::cli::HttpArgs;
use crate::exit::{Unavailable, UsageError};

/// The address bound, before the live layer runs: a taken port or a missing token stops the command at once.
pub struct Bound {
    listener: tokio::net::TcpListener,
    token: Option<Arc<str>>,
    redact_keys: bool,
}

/// The server running; [`Serving::stop`] ends it (it also ends with the runtime).
pub struct Serving {
    stop: watch::Sender<bool>,
}

/// Binds `--http` if given. An address other hosts can reach needs a token.
pub fn bind(runtime: &Runtime, args: &HttpArgs) -> Result<Option<Bound>> {
    let Some(address) = &args.http else { return Ok(None) };
    let listener = runtime.block_on(tokio::net::TcpListener::bind(address)).map_err(|error| {
        Unavailable(format!("cannot serve HTTP on {address}: {error} (is another process using it? choose --http)"))
    })?;
    let bound = listener.local_addr()?;
    let token = args.http_token.as_deref().filter(|t| !t.is_empty());
    if !bound.ip().is_loopback() && token.is_none() {
        bail!(UsageError(format!(
            "--http {address} can be reached from other hosts: give --http-token (or CACHESCOPE_HTTP_TOKEN), or \
             serve on 127.0.0.1"
        )));
    }
    Ok(Some(Bound { listener, token: token.map(Arc::from), redact_keys: args.redact_keys }))
}

impl Bound {
    pub fn address(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Serves `live` (and takes markers into `markers`, the source's channel) until stopped.
    pub fn serve(self, runtime: &Runtime, command: &str, live: &Live, markers: Option<EventSink>) -> Serving {
        crate::logging::status(&format!(
            "cachescope {command}: serving metrics and the API on http://{}{}",
            self.address(),
            if self.token.is_some() { " (a bearer token is required)" } else { "" }
        ));
        let state = cachescope_web::AppState {
            snapshots: live.snapshots.clone(),
            changes: live.changes.clone(),
            reports: live.reports.clone(),
            markers,
            token: self.token,
            redact_keys: self.redact_keys,
        };
        let (stop, mut stopped) = watch::channel(false);
        let listener = self.listener;
        runtime.spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            if let Err(error) = cachescope_web::serve(listener, state, shutdown).await {
                tracing::warn!("the HTTP server stopped: {error}");
            }
        });
        Serving { stop }
    }
}

impl Serving {
    pub fn stop(self) {
        let _ = self.stop.send(true);
    }
}
