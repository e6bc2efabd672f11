//! `cachescope watch`'s source: the server's own keyspace events, with no hop in the request path. One
//! connection per server subscribes to every database's key events (`__keyevent@*__:*`, `subscriber.rs`) and
//! turns them into the engine's events (`keyevents.rs`); a Redis Cluster is followed node by node (`nodes.rs`),
//! each event carrying its node. Another connection per server reads `INFO` every second, for the hit ratio events
//! cannot tell (no event says a read hit) and for restarts (a new run id), each the restart of its node only. The only write, `CONFIG SET notify-keyspace-events`, is made
//! with `--enable-notifications` only, and undone when the watch stops (`notifications.rs`).
//!
//! Pub/sub loses what is published while the subscriber is away: the server drops a subscriber that reads too
//! slowly (`client-output-buffer-limit pubsub`), and a network cut loses events too. The subscriber reconnects
//! with backoff, and every gap (when, how long, why) goes into the report.

pub mod keyevents;
pub mod nodes;
pub mod notifications;
mod subscriber;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cachescope_core::report::EventGap;
use cachescope_doctor::Info;
use cachescope_live::{EventSink, Message, ServerCounters};

use crate::redis_url::RedisUrl;
use nodes::Node;

/// Events handed to the engine at most this long after they arrive, or in batches of this many.
const BATCH_AGE: Duration = Duration::from_millis(50);
const BATCH_LEN: usize = 1024;
/// How often the server's counters are read.
const POLL: Duration = Duration::from_secs(1);
/// Reconnection backoff.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(5);

pub fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// A connection with the URL's credentials and the timeouts set.
pub fn connect(url: &RedisUrl, timeout: Duration) -> redis::RedisResult<redis::Connection> {
    let client = redis::Client::open(url.connection_info()?)?;
    let connection = client.get_connection_with_timeout(timeout)?;
    connection.set_read_timeout(Some(timeout))?;
    connection.set_write_timeout(Some(timeout))?;
    Ok(connection)
}

pub fn info(connection: &mut redis::Connection) -> redis::RedisResult<Info> {
    let text: String = redis::cmd("INFO").arg("all").query(connection)?;
    Ok(Info::parse(&text))
}

/// What the watch saw of the servers: their `INFO` (summed over the nodes of a cluster) when it started and
/// last, their restarts and the gaps in their events.
#[derive(Debug, Default)]
pub struct Watched {
    pub first: Option<Info>,
    pub last: Option<Info>,
    /// The nodes that restarted during the watch (a new run id), by name, each as often as it did.
    pub restarts: Vec<String>,
    pub gaps: Vec<EventGap>,
    pub events: u64,
    pub seconds: f64,
    /// The nodes followed.
    pub nodes: Vec<String>,
}

/// The running watch: a subscriber per node and one `INFO` poller for all, stopped by [`Watch::stop`].
pub struct Watch {
    stop: Arc<AtomicBool>,
    started: Instant,
    subscribers: Vec<JoinHandle<(Vec<EventGap>, u64)>>,
    poller: JoinHandle<Polled>,
    nodes: Vec<String>,
}

impl Watch {
    pub fn start(nodes: Vec<Node>, timeout: Duration, sink: EventSink) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let all_gaps = Arc::new(AtomicU64::new(0));
        let subscribers = nodes
            .iter()
            .map(|node| {
                let (node, sink, stop, all_gaps) = (node.clone(), sink.clone(), stop.clone(), all_gaps.clone());
                std::thread::Builder::new()
                    .name(format!("cachescope-watch-{}", node.number))
                    .spawn(move || subscriber::run(&node, timeout, &sink, &stop, &all_gaps))
                    .expect("a thread")
            })
            .collect();
        let names = nodes.iter().map(Node::name).collect();
        let poller = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("cachescope-info".into())
                .spawn(move || poll(&nodes, timeout, &sink, &stop))
                .expect("a thread")
        };
        Watch { stop, started: Instant::now(), subscribers, poller, nodes: names }
    }

    pub fn stop(self) -> Watched {
        self.stop.store(true, Ordering::Relaxed);
        let (mut gaps, mut events) = (Vec::new(), 0);
        for subscriber in self.subscribers {
            let (node_gaps, node_events) = subscriber.join().unwrap_or_default();
            gaps.extend(node_gaps);
            events += node_events;
        }
        gaps.sort_by_key(|gap| gap.start_us);
        let polled = self.poller.join().unwrap_or_default();
        Watched {
            first: polled.first,
            last: polled.last,
            restarts: polled.restarts,
            gaps,
            events,
            seconds: self.started.elapsed().as_secs_f64(),
            nodes: self.nodes,
        }
    }
}

/// What the poller read: every node's readings summed, and the restarts.
#[derive(Debug, Default)]
struct Polled {
    first: Option<Info>,
    last: Option<Info>,
    restarts: Vec<String>,
}

/// One node as the poller follows it.
struct Polling<'a> {
    node: &'a Node,
    connection: Option<redis::Connection>,
    /// Its reading at the start (or since its last restart: counters start again with the server), and last.
    first: Option<Info>,
    last: Option<Info>,
}

impl Polling<'_> {
    /// Reads `INFO`; whether the node restarted since the last reading (a new run id).
    fn read(&mut self, timeout: Duration) -> Option<bool> {
        if self.connection.is_none() {
            self.connection = connect(&self.node.url, timeout).ok();
        }
        let reading = match info(self.connection.as_mut()?) {
            Ok(reading) => reading,
            Err(_) => {
                self.connection = None;
                return None;
            }
        };
        let run_id = |info: &Option<Info>| info.as_ref().and_then(|i| i.get("run_id").map(str::to_string));
        let restarted = self.last.is_some() && run_id(&self.last) != reading.get("run_id").map(str::to_string);
        if self.first.is_none() || restarted {
            self.first = Some(reading.clone());
        }
        self.last = Some(reading);
        Some(restarted)
    }
}

/// Reads every node's `INFO` every [`POLL`] until `stop`: the hit ratio and counters summed over the nodes, and
/// the restarts (a new run id), which go to the engine as the restart of that node.
fn poll(nodes: &[Node], timeout: Duration, sink: &EventSink, stop: &AtomicBool) -> Polled {
    let mut polling: Vec<Polling> =
        nodes.iter().map(|node| Polling { node, connection: None, first: None, last: None }).collect();
    let mut restarts = Vec::new();
    let mut capacity_sent = false;
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() < next {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        next += POLL;
        for node in &mut polling {
            if node.read(timeout) == Some(true) {
                restarts.push(node.node.name());
                let name = (node.node.number != 0).then(|| node.node.name());
                sink.send_waiting(vec![keyevents::restart(now_micros(), node.node.number, name)]);
            }
        }
        let last: Vec<Info> = polling.iter().filter_map(|n| n.last.clone()).collect();
        if last.is_empty() {
            continue;
        }
        let sum = Info::summed(&last);
        if let (Some(evicted_keys), Some(expired_keys)) = (sum.number("evicted_keys"), sum.number("expired_keys")) {
            sink.send_control(Message::Server(ServerCounters { evicted_keys, expired_keys }));
        }
        // The cache's size: every node's maxmemory, once all answered (0 on any: no limit).
        if !capacity_sent && last.len() == polling.len() {
            capacity_sent = true;
            let unlimited = last.iter().any(|info| info.number("maxmemory").is_none_or(|bytes| bytes == 0));
            let maxmemory = sum.number("maxmemory").filter(|_| !unlimited);
            sink.send_control(Message::CacheCapacity(maxmemory));
        }
    }
    let summed = |pick: fn(&Polling) -> Option<Info>| {
        let readings: Vec<Info> = polling.iter().filter_map(pick).collect();
        (!readings.is_empty()).then(|| Info::summed(&readings))
    };
    Polled { first: summed(|n| n.first.clone()), last: summed(|n| n.last.clone()), restarts }
}
