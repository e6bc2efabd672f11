//! The subscription: one connection (TLS for `rediss://`, authenticated with the URL's credentials) that sends
//! `PSUBSCRIBE __keyevent@*__:*` and then only reads. Messages are read in large chunks and decoded in place
//! ([`cachescope_resp::pubsub`]), each turned into an event ([`super::keyevents`]) and handed to the engine in
//! batches. The server publishes an event for every miss and write, so what a message costs here is CPU taken
//! from the server when they share a host, and a subscriber that falls behind is dropped by the server.
//!
//! After a loss (the server dropped the subscriber, the network broke, the server restarted) it reconnects with
//! backoff and records the gap: from when events stopped to when the subscription was confirmed again.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cachescope_core::OwnedEvent;
use cachescope_core::report::EventGap;
use cachescope_live::{EventSink, Message, SourceLosses};
use cachescope_resp::frame::Frame;
use cachescope_resp::pubsub::{self, Other, PubSub};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::nodes::Node;
use super::{BATCH_AGE, BATCH_LEN, FIRST_RETRY, LAST_RETRY, keyevents, now_micros};
use crate::sources::upstream::{Stream, Upstream, connect_authenticated};

/// The channels followed: every database's key events.
const PATTERN: &[u8] = b"__keyevent@*__:*";
/// Bytes read at a time; a message larger than this (a long key) grows the buffer for as long as it needs.
const CHUNK: usize = 256 << 10;
/// How long a read waits when no batch is pending, before checking whether to stop.
const IDLE_WAIT: Duration = Duration::from_millis(200);

/// Subscribes to `node` until `stop`, reconnecting after a loss; returns the gaps and the events received.
pub fn run(
    node: &Node,
    timeout: Duration,
    sink: &EventSink,
    stop: &AtomicBool,
    all_gaps: &AtomicU64,
) -> (Vec<EventGap>, u64) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!("cannot start the subscriber: {error}");
            return (Vec::new(), 0);
        }
    };
    let subscriber = Subscriber { node, timeout, sink, stop, all_gaps, gaps: Vec::new(), events: 0, lost: None };
    runtime.block_on(subscriber.run())
}

struct Subscriber<'a> {
    node: &'a Node,
    timeout: Duration,
    sink: &'a EventSink,
    stop: &'a AtomicBool,
    /// Gaps of every node's subscriber.
    all_gaps: &'a AtomicU64,
    gaps: Vec<EventGap>,
    events: u64,
    /// Since when events have been lost, and why.
    lost: Option<(u64, String)>,
}

/// How one subscription ended.
enum Ended {
    Stopped,
    /// Events are lost from now: why.
    Lost(String),
}

impl<'a> Subscriber<'a> {
    async fn run(mut self) -> (Vec<EventGap>, u64) {
        let upstream = match Upstream::new(&self.node.url, None, self.timeout) {
            Ok(upstream) => upstream,
            Err(error) => {
                tracing::error!("cannot follow keyspace events: {error}");
                self.lost = Some((now_micros(), format!("cannot set up TLS: {error}")));
                self.close_gap();
                return (self.gaps, self.events);
            }
        };
        let mut retry = FIRST_RETRY;
        while !self.stop.load(Ordering::Relaxed) {
            let ended = match connect_authenticated(&upstream, &self.node.url).await {
                Ok(stream) => self.follow(stream, &mut retry).await,
                Err(error) => Ended::Lost(format!("cannot reconnect: {error}")),
            };
            match ended {
                Ended::Stopped => break,
                Ended::Lost(why) => {
                    if self.lost.is_none() {
                        tracing::warn!("keyspace events of {} lost: {why}; reconnecting", self.node.name());
                    }
                    self.lost.get_or_insert_with(|| (now_micros(), why));
                    self.pause(retry).await;
                    retry = (retry * 2).min(LAST_RETRY);
                }
            }
        }
        self.close_gap();
        (self.gaps, self.events)
    }

    /// Sleeps `length`, or less when asked to stop.
    async fn pause(&self, length: Duration) {
        let until = Instant::now() + length;
        while Instant::now() < until && !self.stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(50).min(until - Instant::now())).await;
        }
    }

    /// Ends the current gap, if any, now.
    fn close_gap(&mut self) {
        if let Some((since, why)) = self.lost.take() {
            let until = now_micros();
            let seconds = until.saturating_sub(since) as f64 / 1e6;
            tracing::warn!("keyspace events of {} resumed after {seconds:.1} s lost ({why})", self.node.name());
            let node = (self.node.number != 0).then(|| self.node.name());
            self.gaps.push(EventGap { start_us: since, seconds, reason: why, node });
            // The live layer takes totals: of every node's subscriber.
            let total = self.all_gaps.fetch_add(1, Ordering::Relaxed) + 1;
            let losses = SourceLosses { event_gaps: total, ..SourceLosses::default() };
            self.sink.send_control(Message::Losses(losses));
        }
    }

    /// Subscribes on `stream` and reads until stopped or cut off.
    async fn follow(&mut self, mut stream: Box<dyn Stream>, retry: &mut Duration) -> Ended {
        let command = Frame::command(&[b"PSUBSCRIBE", PATTERN]).to_bytes();
        if let Err(error) = stream.write_all(&command).await {
            return Ended::Lost(format!("cannot subscribe: {error}"));
        }
        let mut buffer = vec![0u8; CHUNK];
        let (mut start, mut end) = (0usize, 0usize);
        let mut batch: Vec<OwnedEvent> = Vec::with_capacity(BATCH_LEN);
        let mut oldest = Instant::now();
        let ended = loop {
            if self.stop.load(Ordering::Relaxed) {
                break Ended::Stopped;
            }
            // Room to read into: move what is left of a message to the front, or grow for a large one.
            if end == buffer.len() {
                if start > 0 {
                    buffer.copy_within(start..end, 0);
                    (start, end) = (0, end - start);
                } else {
                    buffer.resize(buffer.len() * 2, 0);
                }
            }
            let wait = if batch.is_empty() { IDLE_WAIT } else { BATCH_AGE.saturating_sub(oldest.elapsed()) };
            match tokio::time::timeout(wait, stream.read(&mut buffer[end..])).await {
                Err(_) => {}
                Ok(Ok(0)) => break Ended::Lost(dropped("the connection was closed")),
                Ok(Ok(read)) => end += read,
                Ok(Err(error)) => break Ended::Lost(dropped(&error.to_string())),
            }
            let now = now_micros();
            loop {
                match pubsub::parse(&buffer[start..end]) {
                    Ok(Some((message, used))) => {
                        start += used;
                        match message {
                            PubSub::Message { channel, payload, .. } => {
                                if let Some((db, name)) = keyevents::parse_channel(channel)
                                    && let Some(mut event) = keyevents::to_event(now, db, name, payload)
                                {
                                    event.node = self.node.number;
                                    if batch.is_empty() {
                                        oldest = Instant::now();
                                    }
                                    batch.push(event);
                                    self.events += 1;
                                }
                            }
                            PubSub::Subscription { .. } => {
                                *retry = FIRST_RETRY;
                                self.close_gap();
                            }
                            PubSub::Other(Other::Error(text)) => {
                                let text = String::from_utf8_lossy(text).into_owned();
                                self.sink.send_waiting(std::mem::take(&mut batch));
                                return Ended::Lost(format!("cannot subscribe: {text}"));
                            }
                            PubSub::Other(_) => {}
                        }
                    }
                    Ok(None) => break,
                    Err(error) => {
                        self.sink.send_waiting(std::mem::take(&mut batch));
                        return Ended::Lost(format!("the server sent something that is not RESP ({error})"));
                    }
                }
            }
            if start == end {
                (start, end) = (0, 0);
            }
            if batch.len() >= BATCH_LEN || (!batch.is_empty() && oldest.elapsed() >= BATCH_AGE) {
                self.sink.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH_LEN)));
            }
        };
        self.sink.send_waiting(batch);
        ended
    }
}

fn dropped(error: &str) -> String {
    format!(
        "the server closed the subscription ({error}): it drops subscribers that read too slowly \
         (client-output-buffer-limit pubsub), or the network broke"
    )
}
