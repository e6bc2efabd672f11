//! The events of all the proxy's connections, gathered into batches on their way to the engine's thread, as the
//! capture and keyspace sources batch theirs: one hand-over, one allocation and one wake of the engine's side a
//! batch, not one for each reply read (one command, without pipelining). A batch leaves when it holds
//! [`BATCH_LEN`] events or [`BATCH_AGE`] after its first event, whichever comes first, and what is left when the
//! proxy stops leaves with the last.

use std::sync::Mutex;
use std::time::Duration;

use cachescope_core::OwnedEvent;
use cachescope_live::EventSink;
use tokio::sync::Notify;

/// Events a batch holds, at most.
const BATCH_LEN: usize = 1024;
/// How long the first event of a batch waits for the batch to fill, at most.
const BATCH_AGE: Duration = Duration::from_millis(50);

/// Shared by every connection of one proxy.
pub struct Gatherer {
    sink: EventSink,
    pending: Mutex<Vec<OwnedEvent>>,
    /// A batch was begun.
    begun: Notify,
}

impl Gatherer {
    pub fn new(sink: EventSink) -> Self {
        Gatherer { sink, pending: Mutex::new(Vec::with_capacity(BATCH_LEN)), begun: Notify::new() }
    }

    /// Takes `events` (leaving the vector empty, its room kept for the next read), and hands the batch on if
    /// it is full.
    pub fn add(&self, events: &mut Vec<OwnedEvent>) {
        if events.is_empty() {
            return;
        }
        let (begun, full) = {
            let mut pending = self.pending.lock().expect("no panics while locked");
            let begun = pending.is_empty();
            pending.append(events);
            let full = pending.len() >= BATCH_LEN;
            (begun && !full, full.then(|| std::mem::replace(&mut *pending, Vec::with_capacity(BATCH_LEN))))
        };
        if let Some(batch) = full {
            self.sink.send(batch);
        } else if begun {
            self.begun.notify_one();
        }
    }

    /// Hands on what has gathered.
    pub fn flush(&self) {
        let batch = std::mem::take(&mut *self.pending.lock().expect("no panics while locked"));
        self.sink.send(batch);
    }

    /// Hands each batch on [`BATCH_AGE`] after it was begun, if it did not fill before. Runs until dropped;
    /// idle while no event comes.
    pub async fn age_out(&self) {
        loop {
            self.begun.notified().await;
            tokio::time::sleep(BATCH_AGE).await;
            self.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cachescope_core::{Event, Outcome};
    use cachescope_live::{Message, channel};

    /// `n` reads, at times `first`, `first + 1`...
    fn events(n: usize, first: u64) -> Vec<OwnedEvent> {
        (first..first + n as u64).map(|time| OwnedEvent::from(&Event::read(time, b"k", Outcome::Hit))).collect()
    }

    /// The times of each batch received so far.
    fn received(source: &cachescope_live::EventSource) -> Vec<Vec<u64>> {
        let mut batches = Vec::new();
        while let Ok(Message::Events(batch)) = source.receiver.try_recv() {
            batches.push(batch.iter().map(|e| e.time).collect());
        }
        batches
    }

    #[test]
    fn full_batches_leave_at_once_in_order_and_the_rest_on_flush() {
        let (sink, source) = channel();
        let gatherer = Gatherer::new(sink);
        let mut read = Vec::new();
        for start in (0..2500).step_by(100) {
            read.extend(events(100, start));
            gatherer.add(&mut read);
            assert!(read.is_empty(), "the events were taken");
        }
        let batches = received(&source);
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [1100, 1100]);
        gatherer.flush();
        let rest = received(&source);
        assert_eq!(rest.iter().map(Vec::len).collect::<Vec<_>>(), [300]);
        let times: Vec<u64> = batches.into_iter().chain(rest).flatten().collect();
        assert_eq!(times, (0..2500).collect::<Vec<_>>());
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_that_does_not_fill_leaves_after_its_age() {
        let (sink, source) = channel();
        let gatherer = std::sync::Arc::new(Gatherer::new(sink));
        let ageing = tokio::spawn({
            let gatherer = gatherer.clone();
            async move { gatherer.age_out().await }
        });
        tokio::task::yield_now().await;
        gatherer.add(&mut events(3, 0));
        tokio::time::sleep(BATCH_AGE / 2).await;
        gatherer.add(&mut events(2, 3));
        assert!(received(&source).is_empty(), "too young to leave");
        tokio::time::sleep(BATCH_AGE / 2 + Duration::from_millis(1)).await;
        assert_eq!(received(&source), [vec![0, 1, 2, 3, 4]]);
        // Nothing gathered: nothing leaves, however long.
        tokio::time::sleep(BATCH_AGE * 4).await;
        assert!(received(&source).is_empty());
        gatherer.add(&mut events(1, 5));
        tokio::time::sleep(BATCH_AGE + Duration::from_millis(1)).await;
        assert_eq!(received(&source), [vec![5]]);
        ageing.abort();
    }
}
