//! The observing proxy: applications point at it instead of Redis; it relays every byte both ways unchanged and
//! feeds the engine what it sees.
//!
//! [`serve`] takes an already-bound listener and a shutdown future (tests bind port 0). Clients share one
//! upstream connection while they send only commands that leave a connection as they found it
//! ([`multiplexed`], [`shared`], whose task writes their replies to them itself when it can: [`delivery`]); a
//! client that needs connection state gets an upstream connection of its own
//! ([`relay`]), as every client does with `share_upstream` off. On shutdown the proxy stops accepting, lets each
//! connection finish the commands it has sent (up to `drain_timeout`), then closes the rest. The events of all
//! connections go to the engine in batches ([`gather`]).

pub mod delivery;
pub mod gather;
pub mod multiplexed;
pub mod opening;
pub mod relay;
pub mod shared;
pub mod upstream_watch;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use crate::sources::upstream::{TlsSetupError, Upstream};
use cachescope_live::EventSink;
use gather::Gatherer;
use multiplexed::Outcome;
pub use relay::Ended;
use shared::SharedUpstream;

/// What the proxy did, for the final report and the logs.
#[derive(Debug, Default)]
pub struct ProxyStats {
    pub connections: u64,
    pub unreachable: u64,
    pub upstream_gone: u64,
}

pub struct ProxyOptions {
    pub upstream: Upstream,
    /// The upstream's URL with its credentials, for the watcher's own connection, and how often it looks;
    /// None: no watching.
    pub watch: Option<(crate::redis_url::RedisUrl, Duration)>,
    /// How long connections may take to finish their commands after shutdown is asked.
    pub drain_timeout: Duration,
    /// Connections served at once, at most; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// Whether clients sending only stateless commands share an upstream connection.
    pub share_upstream: bool,
}

/// One client, on the shared upstream connection while it can be, then on one of its own.
async fn serve_client(
    client: TcpStream,
    id: u32,
    upstream: &Upstream,
    shared: Option<&SharedUpstream>,
    events: Arc<Gatherer>,
    stopping: watch::Receiver<bool>,
) -> std::io::Result<Ended> {
    let Some(shared) = shared else { return relay::relay(client, id, upstream, events, stopping).await };
    match multiplexed::serve(client, id, shared, events.clone(), stopping.clone()).await? {
        Outcome::Ended(ended) => Ok(ended),
        Outcome::Pinned { client, opening, unsent } => {
            tracing::debug!(client = id, "client moves to an upstream connection of its own");
            relay::relay_from(client, &opening, unsent, upstream, events, stopping).await
        }
    }
}

/// Serves until `shutdown` completes, then drains.
pub async fn serve(
    listener: TcpListener,
    options: ProxyOptions,
    events: EventSink,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<ProxyStats> {
    let (stop, stopping) = watch::channel(false);
    let next_client = AtomicU32::new(1);
    let unreachable = Arc::new(AtomicU64::new(0));
    let upstream_gone = Arc::new(AtomicU64::new(0));
    let mut connections = JoinSet::new();
    let mut stats = ProxyStats::default();
    let shared = options.share_upstream.then(|| Arc::new(SharedUpstream::new(options.upstream.clone())));
    let gatherer = Arc::new(Gatherer::new(events.clone()));
    let ageing = tokio::spawn({
        let gatherer = gatherer.clone();
        async move { gatherer.age_out().await }
    });
    let watcher = options.watch.clone().map(|(url, every)| {
        let upstream = options.upstream.clone();
        tokio::spawn(upstream_watch::watch_upstream(upstream, url, every, events.clone(), stopping.clone()))
    });
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept(), if connections.len() < options.max_connections => {
                let (client, address) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors or the like: wait a little rather than spin.
                        tracing::warn!("accepting a connection failed: {error}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                stats.connections += 1;
                let id = next_client.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(client = id, %address, "client connected");
                let (upstream, events, stopping) = (options.upstream.clone(), gatherer.clone(), stopping.clone());
                let (unreachable, upstream_gone) = (unreachable.clone(), upstream_gone.clone());
                let shared = shared.clone();
                connections.spawn(async move {
                    match serve_client(client, id, &upstream, shared.as_deref(), events, stopping).await {
                        Ok(Ended::Unreachable) => unreachable.fetch_add(1, Ordering::Relaxed),
                        Ok(Ended::UpstreamGone) => upstream_gone.fetch_add(1, Ordering::Relaxed),
                        Ok(_) => 0,
                        Err(error) => {
                            tracing::debug!(client = id, "connection ended: {error}");
                            0
                        }
                    };
                });
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    if let Some(watcher) = watcher {
        watcher.abort();
    }
    let drained =
        tokio::time::timeout(options.drain_timeout, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still busy after {}: closing them",
            humantime::format_duration(options.drain_timeout)
        );
        connections.shutdown().await;
    }
    ageing.abort();
    gatherer.flush();
    stats.unreachable = unreachable.load(Ordering::Relaxed);
    stats.upstream_gone = upstream_gone.load(Ordering::Relaxed);
    Ok(stats)
}
