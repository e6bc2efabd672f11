//! Watching the upstream from a connection of its own, with the credentials of `--upstream`: its memory limit
//! (which memory findings compare the working set with) and its run id, whose change means the server restarted
//! and came back empty. Traffic alone cannot show a restart; without it, misses after one would look like
//! evictions.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cachescope_core::{Command, FlushScope, Outcome, OwnedEvent, TtlChange};
use cachescope_resp::frame::Frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::live::{EventSink, Message};
use crate::redis_url::RedisUrl;

/// Sends one command and reads its whole reply.
async fn call(stream: &mut TcpStream, args: &[&[u8]]) -> std::io::Result<Frame> {
    stream.write_all(&Frame::command(args).to_bytes()).await?;
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Ok(Some((frame, _))) = Frame::parse(&buffer) {
            return Ok(frame);
        }
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}

async fn connect(url: &RedisUrl) -> std::io::Result<TcpStream> {
    let mut stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(url.address()))
        .await
        .map_err(|_| std::io::ErrorKind::TimedOut)??;
    if let Some(password) = &url.password {
        let reply = match &url.username {
            Some(user) => call(&mut stream, &[b"AUTH", user.as_bytes(), password.as_bytes()]).await?,
            None => call(&mut stream, &[b"AUTH", password.as_bytes()]).await?,
        };
        if let Frame::Error(text) = reply {
            return Err(std::io::Error::other(String::from_utf8_lossy(&text).into_owned()));
        }
    }
    Ok(stream)
}

/// `run_id` from `INFO server`.
async fn run_id(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let info = match call(stream, &[b"INFO", b"server"]).await? {
        Frame::Bulk(text) | Frame::Verbatim(text) => String::from_utf8_lossy(&text).into_owned(),
        _ => return Ok(None),
    };
    Ok(info.lines().find_map(|line| line.strip_prefix("run_id:")).map(|id| id.trim().to_string()))
}

/// `maxmemory` from `CONFIG GET`, when CONFIG is allowed and a limit is set.
async fn maxmemory(stream: &mut TcpStream) -> Option<u64> {
    match call(stream, &[b"CONFIG", b"GET", b"maxmemory"]).await.ok()? {
        Frame::Array(items) => match items.get(1) {
            Some(Frame::Bulk(value)) => std::str::from_utf8(value).ok()?.parse().ok().filter(|&bytes: &u64| bytes > 0),
            _ => None,
        },
        Frame::Map(pairs) => match pairs.first() {
            Some((_, Frame::Bulk(value))) => {
                std::str::from_utf8(value).ok()?.parse().ok().filter(|&bytes: &u64| bytes > 0)
            }
            _ => None,
        },
        _ => None,
    }
}

/// Watches until `stop` says so, checking every `every`.
pub async fn watch_upstream(url: RedisUrl, every: Duration, sink: EventSink, mut stop: watch::Receiver<bool>) {
    let mut known_run: Option<String> = None;
    let mut known_capacity: Option<Option<u64>> = None;
    let mut connection: Option<TcpStream> = None;
    loop {
        if connection.is_none() {
            connection = connect(&url).await.ok();
        }
        if let Some(stream) = connection.as_mut() {
            match run_id(stream).await {
                Ok(Some(run)) => {
                    if known_run.as_ref().is_some_and(|known| *known != run) {
                        tracing::info!(upstream = %url, "the upstream restarted (new run id): its cache is empty");
                        sink.send_control(Message::Events(vec![restart_event(url.db)]));
                    }
                    known_run = Some(run);
                    let capacity = maxmemory(stream).await;
                    if known_capacity != Some(capacity) {
                        sink.send_control(Message::CacheCapacity(capacity));
                        known_capacity = Some(capacity);
                    }
                }
                Ok(None) => {}
                Err(_) => connection = None,
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}

fn restart_event(db: u32) -> OwnedEvent {
    let time = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
    OwnedEvent {
        time,
        client: 0,
        db,
        command: Command::Flush(FlushScope::Restart),
        key: Vec::new(),
        outcome: Outcome::Ok,
        ttl: TtlChange::Keep,
        value_size: 0,
    }
}
