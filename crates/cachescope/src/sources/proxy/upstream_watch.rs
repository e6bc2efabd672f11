//! Watching the upstream from a connection of its own, with the credentials of `--upstream`: its memory limit
//! (which memory findings compare the working set with), its eviction and expiration counters (for metrics), and
//! its run id, whose change means the server restarted
//! and came back empty. Traffic alone cannot show a restart; without it, misses after one would look like
//! evictions. Both come from `INFO`, which managed services allow where they disable CONFIG. Every call has a
//! timeout: a frozen upstream must not hold the proxy's shutdown.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cachescope_core::{Command, FlushScope, Outcome, OwnedEvent, TtlChange};
use cachescope_resp::frame::Frame;
use tokio::sync::watch;

use crate::redis_url::RedisUrl;
use crate::sources::upstream::{Stream, Upstream, call, connect_authenticated as connect};
use cachescope_live::{EventSink, Message, ServerCounters};

/// What one reading of `INFO` tells.
struct Info {
    run_id: Option<String>,
    /// `maxmemory`, None when 0 (no limit).
    maxmemory: Option<u64>,
    counters: Option<ServerCounters>,
}

/// Reads `INFO server`, `INFO memory` and `INFO stats`.
async fn read_info(stream: &mut Box<dyn Stream>) -> std::io::Result<Info> {
    let mut fields = String::new();
    for section in [&b"server"[..], b"memory", b"stats"] {
        match call(stream, &[b"INFO", section]).await? {
            Frame::Bulk(text) | Frame::Verbatim(text) => fields.push_str(&String::from_utf8_lossy(&text)),
            _ => {}
        }
    }
    let field = |name: &str| fields.lines().find_map(|line| line.strip_prefix(name)).map(|v| v.trim().to_string());
    let number = |name: &str| field(name).and_then(|v| v.parse::<u64>().ok());
    let counters = match (number("evicted_keys:"), number("expired_keys:")) {
        (Some(evicted_keys), Some(expired_keys)) => Some(ServerCounters { evicted_keys, expired_keys }),
        _ => None,
    };
    Ok(Info { run_id: field("run_id:"), maxmemory: number("maxmemory:").filter(|&bytes| bytes > 0), counters })
}

/// Watches until `stop` says so, checking every `every`, connecting as the proxy does and authenticating with
/// the credentials of `url`.
pub async fn watch_upstream(
    upstream: Upstream,
    url: RedisUrl,
    every: Duration,
    sink: EventSink,
    mut stop: watch::Receiver<bool>,
) {
    let mut known_run: Option<String> = None;
    let mut known_capacity: Option<Option<u64>> = None;
    let mut connection: Option<Box<dyn Stream>> = None;
    loop {
        let check = async {
            if connection.is_none() {
                connection = connect(&upstream, &url).await.ok();
            }
            let Some(stream) = connection.as_mut() else { return };
            match read_info(stream).await {
                Ok(Info { run_id, maxmemory: capacity, counters }) => {
                    if let Some(run) = run_id {
                        if known_run.as_ref().is_some_and(|known| *known != run) {
                            tracing::info!(upstream = %url, "the upstream restarted (new run id): its cache is empty");
                            sink.send_control(Message::Events(vec![restart_event(url.db)]));
                        }
                        known_run = Some(run);
                    }
                    if known_capacity != Some(capacity) {
                        sink.send_control(Message::CacheCapacity(capacity));
                        known_capacity = Some(capacity);
                    }
                    if let Some(counters) = counters {
                        sink.send_control(Message::Server(counters));
                    }
                }
                Err(_) => connection = None,
            }
        };
        tokio::select! {
            _ = check => {}
            _ = stop.changed() => return,
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
        node: 0,
        command: Command::Flush(FlushScope::Restart),
        key: Vec::new(),
        outcome: Outcome::Ok,
        ttl: TtlChange::Keep,
        value_size: 0,
    }
}
