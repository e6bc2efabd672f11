//! Live analysis: sources that run until stopped (the proxy) hand events to the engine on a thread of its own,
//! which records them, reports findings as they change, and gives the final report when the source stops.

pub mod engine_thread;

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
}

/// Hands batches of events to the engine's thread without ever waiting: when the engine falls behind, batches
/// are dropped and counted, and the traffic is never slowed.
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

    /// Sends a message about the cache itself (a restart, its memory limit). Never waits, since it runs on the
    /// proxy's threads: if the engine is that far behind, the message is dropped like events are.
    pub fn send_control(&self, message: Message) {
        if self.sender.try_send(message).is_err() {
            tracing::warn!("the analysis is behind: a message about the upstream (restart, maxmemory) was dropped");
        }
    }
}

/// A sink and the receiving end for the engine's thread, with the count of events dropped.
pub fn channel() -> (EventSink, Receiver<Message>, Arc<AtomicU64>) {
    let (sender, receiver) = sync_channel(QUEUE);
    let dropped = Arc::new(AtomicU64::new(0));
    (EventSink { sender, dropped: dropped.clone() }, receiver, dropped)
}
