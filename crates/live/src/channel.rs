//! The channel from a live source to the engine's thread: it never waits. When the engine falls behind, batches
//! are dropped and counted, and the traffic is never slowed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use cachescope_core::OwnedEvent;

/// Batches waiting for the engine, at most, before new ones are dropped.
const QUEUE: usize = 4096;

/// What a live source tells the engine's thread.
#[derive(Debug)]
pub enum Message {
    Events(Vec<OwnedEvent>),
    /// The cache's memory limit, once the source learns it.
    CacheCapacity(Option<u64>),
    /// The server's own counters as it reports them now (`INFO stats`), for sources that watch it.
    Server(ServerCounters),
    /// What the source could not follow so far (totals since it started).
    Losses(SourceLosses),
}

/// What a source lost, as totals since it started: shown in the metrics and the live line as they grow, so that
/// no loss is silent. Each source fills in what applies to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SourceLosses {
    /// Packets the kernel dropped because a capture fell behind.
    pub kernel_drops: u64,
    /// Holes in a captured connection's bytes that never filled.
    pub stream_gaps: u64,
    /// Times a capture resumed following a connection at a safe point, and the bytes skipped meanwhile.
    pub resyncs: u64,
    pub skipped_bytes: u64,
    /// Times a subscription was lost and events with it (`watch`).
    pub event_gaps: u64,
}

impl SourceLosses {
    pub fn is_empty(&self) -> bool {
        *self == SourceLosses::default()
    }
}

/// Counters the server keeps itself, for the whole server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ServerCounters {
    pub evicted_keys: u64,
    pub expired_keys: u64,
}

/// Hands batches of events to the engine's thread without ever waiting.
#[derive(Clone)]
pub struct EventSink {
    sender: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
}

impl EventSink {
    pub fn send(&self, batch: Vec<OwnedEvent>) {
        if batch.is_empty() {
            return;
        }
        match self.sender.try_send(Message::Events(batch)) {
            Ok(()) => {}
            Err(TrySendError::Full(message)) | Err(TrySendError::Disconnected(message)) => {
                if let Message::Events(batch) = message {
                    self.dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
                }
            }
        }
    }

    /// Sends a batch and waits for room if the engine is behind: for sources that may wait (the demo, which has
    /// no traffic to protect), never for one in a request path.
    pub fn send_waiting(&self, batch: Vec<OwnedEvent>) {
        if !batch.is_empty() && self.sender.send(Message::Events(batch)).is_err() {
            tracing::debug!("the engine's thread is gone: a batch was not delivered");
        }
    }

    /// Sends a message about the cache itself (its memory limit). Never waits, since it runs on the source's
    /// threads: if the engine is that far behind, the message is dropped like events are.
    pub fn send_control(&self, message: Message) {
        if self.sender.try_send(message).is_err() {
            tracing::warn!(
                "the analysis is behind: a message about the upstream (restart, maxmemory, counters) was dropped"
            );
        }
    }
}

/// The receiving end, for the engine's thread, with the count of events dropped.
pub struct EventSource {
    pub receiver: Receiver<Message>,
    pub dropped: Arc<AtomicU64>,
}

/// A sink for the source and the receiving end for the engine's thread.
pub fn channel() -> (EventSink, EventSource) {
    let (sender, receiver) = sync_channel(QUEUE);
    let dropped = Arc::new(AtomicU64::new(0));
    (EventSink { sender, dropped: dropped.clone() }, EventSource { receiver, dropped })
}
