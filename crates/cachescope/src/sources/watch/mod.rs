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

mod followers;
pub mod keyevents;
pub mod nodes;
pub mod notifications;
mod subscriber;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cachescope_core::report::EventGap;
use cachescope_doctor::Info;
use cachescope_live::{EventSink, Message, ServerCounters};

use crate::redis_url::RedisUrl;
use followers::Followers;
use nodes::Node;

/// Events handed to the engine at most this long after they arrive, or in batches of this many.
const BATCH_AGE: Duration = Duration::from_millis(50);
const BATCH_LEN: usize = 1024;
/// How often the server's counters are read.
const POLL: Duration = Duration::from_secs(1);
/// How often a cluster's primaries are read again.
const REDISCOVER: Duration = Duration::from_secs(5);
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
    followers: Arc<Followers>,
    started: Instant,
    poller: JoinHandle<Polled>,
}

impl Watch {
    /// Follows `nodes`; with `cluster`, also reads the cluster's primaries again every [`REDISCOVER`], follows
    /// new ones (a failover promoted a replica, a node was added) and stops following those that became
    /// replicas.
    pub fn start(nodes: Vec<Node>, cluster: bool, timeout: Duration, sink: EventSink) -> Watch {
        let followers = Arc::new(Followers::new(timeout, sink.clone()));
        for node in &nodes {
            followers.follow(node.clone());
        }
        let poller = {
            let followers = followers.clone();
            std::thread::Builder::new()
                .name("cachescope-info".into())
                .spawn(move || poll(nodes, cluster, timeout, &sink, &followers))
                .expect("a thread")
        };
        Watch { followers, started: Instant::now(), poller }
    }

    pub fn stop(self) -> Watched {
        self.followers.stop_all();
        let polled = self.poller.join().unwrap_or_default();
        let (gaps, events, nodes) = self.followers.join();
        Watched {
            first: polled.first,
            last: polled.last,
            restarts: polled.restarts,
            gaps,
            events,
            seconds: self.started.elapsed().as_secs_f64(),
            nodes,
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
struct Polling {
    node: Node,
    /// No longer followed (it became a replica): its readings so far still count.
    retired: bool,
    connection: Option<redis::Connection>,
    /// Its reading at the start (or since its last restart: counters start again with the server), and last.
    first: Option<Info>,
    last: Option<Info>,
}

impl Polling {
    fn new(node: Node) -> Self {
        Polling { node, retired: false, connection: None, first: None, last: None }
    }

    /// Reads `INFO`; whether the node restarted since the last reading (a new run id).
    fn read(&mut self, timeout: Duration) -> Option<bool> {
        if self.retired {
            return None;
        }
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

/// Reads every node's `INFO` every [`POLL`] until the watch stops: the hit ratio and counters summed over the
/// nodes, and the restarts (a new run id), which go to the engine as the restart of that node. For a cluster,
/// follows its primaries as they change.
fn poll(nodes: Vec<Node>, cluster: bool, timeout: Duration, sink: &EventSink, followers: &Followers) -> Polled {
    let mut polling: Vec<Polling> = nodes.into_iter().map(Polling::new).collect();
    let mut restarts = Vec::new();
    let mut capacity_sent = false;
    let mut next = Instant::now();
    let mut next_discovery = Instant::now() + REDISCOVER;
    while !followers.stopping() {
        if Instant::now() < next {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        next += POLL;
        if cluster && Instant::now() >= next_discovery {
            next_discovery = Instant::now() + REDISCOVER;
            rediscover(&mut polling, followers);
        }
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
        if !capacity_sent && last.len() == polling.iter().filter(|n| !n.retired).count() {
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

/// Reads `CLUSTER NODES` from a node that answers, and follows the primaries it lists that are not followed yet;
/// stops following nodes it lists as replicas (they publish their primary's writes again).
fn rediscover(polling: &mut Vec<Polling>, followers: &Followers) {
    let Some(listed) = polling
        .iter_mut()
        .filter(|n| !n.retired)
        .find_map(|n| redis::cmd("CLUSTER").arg("NODES").query::<String>(n.connection.as_mut()?).ok())
    else {
        return;
    };
    let seed = polling[0].node.url.clone();
    let at = |node: &Node, (host, port): &(String, u16)| node.url.host == *host && node.url.port == *port;
    for replica in nodes::listed(&listed, &seed.host, nodes::Role::Replica) {
        for node in polling.iter_mut().filter(|n| !n.retired && at(&n.node, &replica)) {
            crate::logging::status(&format!(
                "cachescope watch: {} is a replica now: no longer followed (its primary's events are)",
                node.node.name()
            ));
            node.retired = true;
            node.connection = None;
            followers.unfollow(node.node.number);
        }
    }
    for primary in nodes::listed(&listed, &seed.host, nodes::Role::Primary) {
        if polling.iter().any(|n| !n.retired && at(&n.node, &primary)) {
            continue;
        }
        let Ok(url) = seed.at(&primary.0, primary.1) else { continue };
        let number = polling.iter().map(|n| n.node.number).max().unwrap_or(0) + 1;
        let node = Node { number, url };
        crate::logging::status(&format!(
            "cachescope watch: {} is a primary now (a failover, or a node added): following it too",
            node.name()
        ));
        followers.follow(node.clone());
        polling.push(Polling::new(node));
    }
}
