//! `cachescope watch`'s source: the server's own keyspace events, with no hop in the request path. One
//! connection subscribes to every database's key events (`__keyevent@*__:*`, `subscriber.rs`) and turns them
//! into the engine's events (`keyevents.rs`); another reads `INFO` every second, for the hit ratio events cannot tell (no event
//! says a read hit) and for restarts (a new run id). The only write, `CONFIG SET notify-keyspace-events`, is made
//! with `--enable-notifications` only, and undone when the watch stops (`notifications.rs`).
//!
//! Pub/sub loses what is published while the subscriber is away: the server drops a subscriber that reads too
//! slowly (`client-output-buffer-limit pubsub`), and a network cut loses events too. The subscriber reconnects
//! with backoff, and every gap (when, how long, why) goes into the report.

pub mod keyevents;
pub mod notifications;
mod subscriber;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cachescope_core::report::EventGap;
use cachescope_doctor::Info;
use cachescope_live::{EventSink, Message, ServerCounters};

use crate::redis_url::RedisUrl;

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

/// What the watch saw of the server itself: its `INFO` when it started and last, and the gaps in its events.
#[derive(Debug, Default)]
pub struct Watched {
    pub first: Option<Info>,
    pub last: Option<Info>,
    /// Run ids seen, in order: more than one means the server restarted.
    pub restarts: u64,
    pub gaps: Vec<EventGap>,
    pub events: u64,
    pub seconds: f64,
}

/// The running watch: its two threads, stopped by [`Watch::stop`].
pub struct Watch {
    stop: Arc<AtomicBool>,
    started: Instant,
    subscriber: JoinHandle<(Vec<EventGap>, u64)>,
    poller: JoinHandle<(Option<Info>, Option<Info>, u64)>,
}

impl Watch {
    pub fn start(url: RedisUrl, timeout: Duration, sink: EventSink) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let subscriber = {
            let (url, sink, stop) = (url.clone(), sink.clone(), stop.clone());
            std::thread::Builder::new()
                .name("cachescope-watch".into())
                .spawn(move || subscriber::run(&url, timeout, &sink, &stop))
                .expect("a thread")
        };
        let poller = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("cachescope-info".into())
                .spawn(move || poll(&url, timeout, &sink, &stop))
                .expect("a thread")
        };
        Watch { stop, started: Instant::now(), subscriber, poller }
    }

    pub fn stop(self) -> Watched {
        self.stop.store(true, Ordering::Relaxed);
        let (gaps, events) = self.subscriber.join().unwrap_or_default();
        let (first, last, restarts) = self.poller.join().unwrap_or_default();
        Watched { first, last, restarts, gaps, events, seconds: self.started.elapsed().as_secs_f64() }
    }
}

/// Reads `INFO` every [`POLL`] until `stop`: the first and last readings, and restarts (a new run id), which go
/// to the engine as a restart event.
fn poll(url: &RedisUrl, timeout: Duration, sink: &EventSink, stop: &AtomicBool) -> (Option<Info>, Option<Info>, u64) {
    let mut first: Option<Info> = None;
    let mut last: Option<Info> = None;
    let mut restarts = 0;
    let mut connection: Option<redis::Connection> = None;
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() < next {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        next += POLL;
        if connection.is_none() {
            connection = connect(url, timeout).ok();
        }
        let Some(open) = connection.as_mut() else { continue };
        let reading = match info(open) {
            Ok(reading) => reading,
            Err(_) => {
                connection = None;
                continue;
            }
        };
        if let (Some(before), Some(now)) = (last.as_ref().and_then(|i| i.get("run_id")), reading.get("run_id"))
            && before != now
        {
            restarts += 1;
            sink.send_waiting(vec![keyevents::restart(now_micros())]);
        }
        if let (Some(evicted_keys), Some(expired_keys)) =
            (reading.number("evicted_keys"), reading.number("expired_keys"))
        {
            sink.send_control(Message::Server(ServerCounters { evicted_keys, expired_keys }));
        }
        if first.is_none() {
            let maxmemory = reading.number("maxmemory").filter(|&bytes| bytes > 0);
            sink.send_control(Message::CacheCapacity(maxmemory));
        }
        // Counters restart with the server: the hit ratio is over the readings since the last restart.
        if first.is_none() || last.as_ref().and_then(|i| i.get("run_id")) != reading.get("run_id") {
            first = Some(reading.clone());
        }
        last = Some(reading);
    }
    (first, last, restarts)
}
