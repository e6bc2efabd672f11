//! One client connection through the proxy: its own upstream connection, bytes copied both ways untouched, and
//! a copy of each direction scanned into events.
//!
//! The two directions run as two loops so that neither waits on the other: a client that writes a long pipeline
//! before reading any reply cannot deadlock the proxy. A command is scanned before it is forwarded, so its reply
//! always finds it waiting.

use std::io;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cachescope_resp::Connection;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Notify, watch};

use super::gather::Gatherer;
use super::opening::Opening;
use crate::sources::upstream::{Connected, Upstream};

/// Bytes read at a time in each direction: small enough for thousands of connections, large enough for
/// pipelines.
pub(super) const BUFFER: usize = 16 << 10;
/// Replies a closed upstream is answered for, at most, with an error each.
const MAX_ERROR_REPLIES: usize = 10_000;
/// How long a client that stopped reading may hold up the error replies, or a closing upstream its last replies.
pub(super) const CLOSING_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the client-to-upstream direction stopped.
const SENDING: u8 = 0;
/// The client closed its side: the upstream is told the same way.
const CLIENT_CLOSED: u8 = 1;
/// The proxy is draining: replies owed are still delivered.
const DRAINING: u8 = 2;

/// How a relayed connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The client left (or the proxy drained) and every reply it waited for was delivered.
    ClientDone,
    /// The upstream closed or failed; the client got errors for what it still waited for.
    UpstreamGone,
    /// The upstream could not be reached; the client got an error.
    Unreachable,
}

/// The wall clock in microseconds since the Unix epoch: events carry real time.
pub(super) fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// Completes once the proxy is asked to drain (or is gone). Made once for a connection and polled in each of
/// its `select!`s, it stays registered with the signal between polls: a fresh `changed()` in every loop would
/// register and unregister a waiter each time, a lock and a list update per command.
pub(super) async fn drain_asked(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|&drain| drain).await;
}

/// Whether a drain was asked (or the proxy is gone), looked at without waiting: one atomic load.
pub(super) fn drain_seen(shutdown: &watch::Receiver<bool>) -> bool {
    shutdown.has_changed().unwrap_or(true)
}

/// Relays one client until it leaves, the upstream goes, or `shutdown` asks to drain.
pub async fn relay(
    client: TcpStream,
    client_id: u32,
    upstream: &Upstream,
    events: Arc<Gatherer>,
    shutdown: watch::Receiver<bool>,
) -> io::Result<Ended> {
    let _ = client.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let state = Arc::new(Mutex::new(Connection::new(client_id)));
    let client = Client { id: client_id, read: client_read, write: client_write, state };
    relay_from(client, &Opening::default(), Vec::new(), upstream, events, shutdown).await
}

/// A client connection as the relay takes it over: its halves and what its commands did so far.
pub struct Client {
    pub id: u32,
    pub read: OwnedReadHalf,
    pub write: OwnedWriteHalf,
    pub state: Arc<Mutex<Connection>>,
}

/// Relays a client on an upstream connection of its own, set up first with `opening` (how the client set up
/// the shared connection it leaves), `unsent` (bytes it sent that are already analysed) going first.
pub async fn relay_from(
    mut client: Client,
    opening: &Opening,
    unsent: Vec<u8>,
    upstream: &Upstream,
    events: Arc<Gatherer>,
    shutdown: watch::Receiver<bool>,
) -> io::Result<Ended> {
    let mut server = match upstream.connect().await {
        Ok(server) => server,
        Err(why) => {
            unreachable(upstream, client.id, &why, &mut client.write).await;
            return Ok(Ended::Unreachable);
        }
    };
    if let Err(why) = opening.replay(&mut server).await {
        let why = format!("setting up a connection as the client did failed: {why}");
        unreachable(upstream, client.id, &why, &mut client.write).await;
        return Ok(Ended::Unreachable);
    }
    match server {
        // Owned halves of a TCP stream need no lock between the two directions.
        Connected::Plain(server) => {
            let (server_read, server_write) = server.into_split();
            relay_halves(client, unsent, server_read, server_write, events, shutdown).await
        }
        Connected::Tls(server) => {
            let (server_read, server_write) = tokio::io::split(server);
            relay_halves(client, unsent, server_read, server_write, events, shutdown).await
        }
    }
}

/// Tells the client the upstream cannot be reached, and closes its connection.
pub async fn unreachable(upstream: &Upstream, client_id: u32, why: &str, client_write: &mut OwnedWriteHalf) {
    tracing::warn!(upstream = %upstream.shown, client = client_id, "cannot reach the upstream: {why}");
    let message = format!("-ERR cachescope proxy: cannot reach the upstream {}: {why}\r\n", upstream.shown);
    let _ = client_write.write_all(message.as_bytes()).await;
    let _ = client_write.shutdown().await;
}

/// Both directions of one connection, until it ends.
async fn relay_halves<R, W>(
    client: Client,
    unsent: Vec<u8>,
    server_read: R,
    server_write: W,
    events: Arc<Gatherer>,
    shutdown: watch::Receiver<bool>,
) -> io::Result<Ended>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let Client { id: client_id, read: client_read, write: client_write, state } = client;
    let sending = Arc::new(AtomicU8::new(SENDING));
    let wake = Arc::new(Notify::new());

    let requests =
        forward_requests(client_read, server_write, unsent, state.clone(), shutdown, sending.clone(), wake.clone());
    let replies = forward_replies(server_read, client_write, state, events, sending.clone(), wake);
    tokio::pin!(requests, replies);
    let (ended, requests_result) = tokio::select! {
        ended = &mut replies => (ended, None),
        (result, mut server_write) = &mut requests => {
            let ended = if sending.load(Ordering::Acquire) == CLIENT_CLOSED {
                // As a client of Redis directly would: its leaving frees it there (a BLPOP waiting for it must
                // not take the next job). What the upstream still sends is forwarded while it closes.
                let _ = server_write.shutdown().await;
                tokio::time::timeout(CLOSING_TIMEOUT, &mut replies).await.unwrap_or(Ok(Ended::ClientDone))
            } else {
                // Draining: the upstream's write side stays open, or it would drop the replies it owes.
                let ended = replies.await;
                drop(server_write);
                ended
            };
            (ended, Some(result))
        }
    };
    let ended = ended?;
    if let Some(Err(error)) = requests_result
        && ended == Ended::ClientDone
    {
        tracing::debug!(client = client_id, "client connection ended: {error}");
    }
    Ok(ended)
}

/// Client to upstream, `unsent` first. Returns when the client stops sending (or the proxy drains), with the
/// upstream's write side, which must stay open until the replies still owed arrive.
async fn forward_requests<W: AsyncWrite + Unpin>(
    mut client_read: OwnedReadHalf,
    mut server_write: W,
    unsent: Vec<u8>,
    state: Arc<Mutex<Connection>>,
    shutdown: watch::Receiver<bool>,
    sending: Arc<AtomicU8>,
    wake: Arc<Notify>,
) -> (io::Result<()>, W) {
    let mut buffer = vec![0u8; BUFFER];
    let mut why = CLIENT_CLOSED;
    let drain = drain_asked(shutdown.clone());
    tokio::pin!(drain);
    let result = async {
        if !unsent.is_empty() {
            server_write.write_all(&unsent).await?;
        }
        loop {
            // Bytes waiting are read without polling `drain` (polled no more once it completed: the loop
            // returns); a drain asked is still seen between reads.
            if drain_seen(&shutdown) {
                why = DRAINING;
                return Ok(());
            }
            let read = tokio::select! {
                biased;
                read = client_read.read(&mut buffer) => read?,
                _ = &mut drain => {
                    why = DRAINING;
                    return Ok(());
                }
            };
            if read == 0 {
                return Ok(());
            }
            state.lock().expect("no panics while locked").from_client(&buffer[..read]);
            server_write.write_all(&buffer[..read]).await?;
        }
    }
    .await;
    sending.store(why, Ordering::Release);
    wake.notify_one();
    (result, server_write)
}

/// Upstream to client, scanning replies into events. Returns when the client has stopped sending and has every
/// reply it waited for, or when the upstream goes.
async fn forward_replies<R: AsyncRead + Unpin>(
    mut server_read: R,
    mut client_write: OwnedWriteHalf,
    state: Arc<Mutex<Connection>>,
    events: Arc<Gatherer>,
    sending: Arc<AtomicU8>,
    wake: Arc<Notify>,
) -> io::Result<Ended> {
    let mut buffer = vec![0u8; BUFFER];
    let mut batch = Vec::new();
    // One wait on `wake`, re-armed only when it fires (see `drain_asked`).
    let woken = wake.notified();
    tokio::pin!(woken);
    loop {
        if sending.load(Ordering::Acquire) == DRAINING {
            let settled = {
                let state = state.lock().expect("no panics while locked");
                state.awaiting_replies() == 0 && state.between_replies()
            };
            if settled {
                let _ = client_write.shutdown().await;
                return Ok(Ended::ClientDone);
            }
        }
        let read = tokio::select! {
            biased;
            read = server_read.read(&mut buffer) => read,
            _ = &mut woken => {
                woken.set(wake.notified());
                continue;
            }
        };
        let read = match read {
            Ok(0) | Err(_) if sending.load(Ordering::Acquire) == CLIENT_CLOSED => return Ok(Ended::ClientDone),
            Ok(0) | Err(_) => {
                let _ = tokio::time::timeout(CLOSING_TIMEOUT, upstream_gone(&state, &mut client_write)).await;
                let _ = client_write.shutdown().await;
                return Ok(Ended::UpstreamGone);
            }
            Ok(read) => read,
        };
        state.lock().expect("no panics while locked").from_server(&buffer[..read], now_micros(), &mut batch);
        events.add(&mut batch);
        client_write.write_all(&buffer[..read]).await?;
    }
}

/// The upstream closed: answer each command still waiting with an error (when the stream sits between replies,
/// where one can be inserted), so that the client sees an error rather than a hang. The caller bounds the time
/// this may take and closes the client.
pub(super) async fn upstream_gone(state: &Mutex<Connection>, client_write: &mut OwnedWriteHalf) {
    let owed = {
        let state = state.lock().expect("no panics while locked");
        if state.between_replies() { state.awaiting_replies().min(MAX_ERROR_REPLIES) } else { 0 }
    };
    let error = b"-ERR cachescope proxy: the upstream closed the connection\r\n";
    for _ in 0..owed {
        if client_write.write_all(error).await.is_err() {
            break;
        }
    }
}
