//! One client connection through the proxy: its own upstream connection, bytes copied both ways untouched, and
//! a copy of each direction scanned into events.
//!
//! The two directions run as two loops so that neither waits on the other: a client that writes a long pipeline
//! before reading any reply cannot deadlock the proxy. A command is scanned before it is forwarded, so its reply
//! always finds it waiting.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cachescope_resp::Connection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Notify, watch};

use crate::live::EventSink;

/// Bytes read at a time in each direction: small enough for thousands of connections, large enough for
/// pipelines.
const BUFFER: usize = 16 << 10;
/// Replies a closed upstream is answered for, at most, with an error each.
const MAX_ERROR_REPLIES: usize = 10_000;

/// Where the upstream is and how long to try reaching it.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub address: String,
    /// As shown to people (no password).
    pub shown: String,
    pub connect_timeout: Duration,
}

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
fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// Relays one client until it leaves, the upstream goes, or `shutdown` asks to drain.
pub async fn relay(
    client: TcpStream,
    client_id: u32,
    upstream: &Upstream,
    events: EventSink,
    shutdown: watch::Receiver<bool>,
) -> io::Result<Ended> {
    let _ = client.set_nodelay(true);
    let server = match tokio::time::timeout(upstream.connect_timeout, TcpStream::connect(&upstream.address)).await {
        Ok(Ok(server)) => server,
        failed => {
            let why = match failed {
                Ok(Err(error)) => error.to_string(),
                _ => format!("no answer within {}", humantime::format_duration(upstream.connect_timeout)),
            };
            tracing::warn!(upstream = %upstream.shown, client = client_id, "cannot reach the upstream: {why}");
            let (_, mut client_write) = client.into_split();
            let message = format!("-ERR cachescope proxy: cannot reach the upstream {}: {why}\r\n", upstream.shown);
            let _ = client_write.write_all(message.as_bytes()).await;
            let _ = client_write.shutdown().await;
            return Ok(Ended::Unreachable);
        }
    };
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let state = Arc::new(Mutex::new(Connection::new(client_id)));
    let requests_done = Arc::new(AtomicBool::new(false));
    let wake = Arc::new(Notify::new());

    let requests =
        forward_requests(client_read, server_write, state.clone(), shutdown, requests_done.clone(), wake.clone());
    let replies = forward_replies(server_read, client_write, state, events, requests_done, wake);
    tokio::pin!(requests, replies);
    // The replies decide when the connection is over: they drain after the client stops sending.
    let (ended, requests_result) = tokio::select! {
        ended = &mut replies => (ended, None),
        (result, server_write) = &mut requests => {
            // Closing the upstream's write side would make it drop the replies it still owes: keep it open.
            let ended = replies.await;
            drop(server_write);
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

/// Client to upstream. Returns when the client stops sending (or the proxy drains), with the upstream's write
/// side, which must stay open until the replies still owed arrive.
async fn forward_requests(
    mut client_read: OwnedReadHalf,
    mut server_write: OwnedWriteHalf,
    state: Arc<Mutex<Connection>>,
    mut shutdown: watch::Receiver<bool>,
    done: Arc<AtomicBool>,
    wake: Arc<Notify>,
) -> (io::Result<()>, OwnedWriteHalf) {
    let mut buffer = vec![0u8; BUFFER];
    let result = async {
        loop {
            let read = tokio::select! {
                biased;
                _ = shutdown.changed() => return Ok(()),
                read = client_read.read(&mut buffer) => read?,
            };
            if read == 0 {
                return Ok(());
            }
            state.lock().expect("no panics while locked").from_client(&buffer[..read]);
            server_write.write_all(&buffer[..read]).await?;
        }
    }
    .await;
    done.store(true, Ordering::Release);
    wake.notify_one();
    (result, server_write)
}

/// Upstream to client, scanning replies into events. Returns when the client has stopped sending and has every
/// reply it waited for, or when the upstream goes.
async fn forward_replies(
    mut server_read: OwnedReadHalf,
    mut client_write: OwnedWriteHalf,
    state: Arc<Mutex<Connection>>,
    events: EventSink,
    requests_done: Arc<AtomicBool>,
    wake: Arc<Notify>,
) -> io::Result<Ended> {
    let mut buffer = vec![0u8; BUFFER];
    let mut batch = Vec::new();
    loop {
        if requests_done.load(Ordering::Acquire) {
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
            read = server_read.read(&mut buffer) => read,
            _ = wake.notified() => continue,
        };
        let read = match read {
            Ok(0) | Err(_) => {
                upstream_gone(&state, &mut client_write).await;
                return Ok(Ended::UpstreamGone);
            }
            Ok(read) => read,
        };
        state.lock().expect("no panics while locked").from_server(&buffer[..read], now_micros(), &mut batch);
        events.send(std::mem::take(&mut batch));
        client_write.write_all(&buffer[..read]).await?;
    }
}

/// The upstream closed: answer each command still waiting with an error (when the stream sits between replies,
/// where one can be inserted), then close the client, so that it sees an error rather than a hang.
async fn upstream_gone(state: &Mutex<Connection>, client_write: &mut OwnedWriteHalf) {
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
    let _ = client_write.shutdown().await;
}
