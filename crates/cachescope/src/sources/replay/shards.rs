//! A replay analysed on several threads: the reading thread decodes the trace once, hashes each key, and shares
//! each run of events with every shard's thread ([`Shipment`]: copied once, not once per thread). Each thread
//! passes every event, keeps those of its keys (and every flush and marker), and counts what it must know of the
//! events of other keys before each of its own: how many there were, and the latest time they brought the clock to
//! ([`CatchUp`]). Each thread's engine then counts and times exactly as one engine over every event would, and the
//! shards' shares merge into that engine's report ([`Partial`]). The reader does as little per event as it can:
//! with a cache model to run besides, it is the thread the others wait for.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use cachescope_core::{
    CatchUp, Command, Engine, EngineConfig, Event, InitialState, Outcome, Partial, Shard, counts_on_clock, key_hash,
};
use cachescope_trace::Batch;
use cachescope_trace::batch::OwnedBatch;

use super::{EventSink, observe_presumed_read};

/// Events per shipment: large enough that handing one over costs nothing per event, small enough to keep the
/// threads busy together.
const SHIPMENT_EVENTS: usize = 8192;
/// Shipments waiting for a shard's thread, at most: the reader waits beyond (memory stays bounded).
const IN_FLIGHT: usize = 8;

/// A run of the trace's events in order, every key's, their keys in one buffer; read by every shard's thread.
#[derive(Default)]
struct Shipment {
    events: OwnedBatch,
    hashes: Vec<u64>,
    /// The events that are reads a model presumed hits ([`EventSink::observe_presumed_read`]), and whether the
    /// model gave their outcome: those are observed one by one.
    presumed: Vec<(usize, bool)>,
}

impl Shipment {
    fn with_capacity() -> Shipment {
        Shipment {
            events: OwnedBatch::with_capacity(SHIPMENT_EVENTS),
            hashes: Vec::with_capacity(SHIPMENT_EVENTS),
            presumed: Vec::new(),
        }
    }

    fn clear(&mut self) {
        self.events.clear();
        self.hashes.clear();
        self.presumed.clear();
    }

    fn push(&mut self, event: &Event<'_>, hash: u64, presumed: Option<bool>) {
        if let Some(model_answered) = presumed {
            self.presumed.push((self.events.len(), model_answered));
        }
        self.events.push(event);
        self.hashes.push(hash);
    }

    /// A whole batch at once (see [`OwnedBatch::extend`]).
    fn push_batch(&mut self, batch: &Batch<'_>) {
        self.events.extend(batch);
        self.hashes.extend(batch.iter().map(|event| key_hash(event.db, event.key)));
    }

    fn len(&self) -> usize {
        self.events.len()
    }

    fn event(&self, index: usize) -> (Event<'_>, u64) {
        (self.events.get(index), self.hashes[index])
    }
}

enum Message {
    Events(Arc<Shipment>),
    ModelStarted {
        initial_state: InitialState,
        presumed_held: bool,
        capacity: Option<u64>,
    },
    SkippedLines(u64),
    /// The trace is over.
    End,
}

/// The engines of a split of `shard` into one part per thread, fed by the thread that reads.
pub struct Shards {
    senders: Vec<SyncSender<Message>>,
    workers: Vec<JoinHandle<Partial>>,
    shipment: Shipment,
    /// Shipments every thread is done with, emptied, to be filled again: the reader allocates nothing once warm.
    spare: Receiver<Shipment>,
    shard: Shard,
}

impl Shards {
    /// Starts `threads` engines, each for one part of `shard` and an equal part of the key budget.
    pub fn start(config: &EngineConfig, shard: Shard, threads: u32) -> Shards {
        let parts = shard.split(threads);
        let budget = config.key_budget_bytes / parts.len();
        let (mut senders, mut workers) = (Vec::new(), Vec::new());
        let (returns, spare) = channel();
        for &part in &parts {
            let (sender, receiver) = sync_channel(IN_FLIGHT);
            let config = EngineConfig { shard: part, key_budget_bytes: budget, ..config.clone() };
            let returns = returns.clone();
            let worker = std::thread::Builder::new()
                .name(format!("shard {part}"))
                .spawn(move || work(Engine::new(config), receiver, returns))
                .expect("the system starts a thread");
            senders.push(sender);
            workers.push(worker);
        }
        Shards { senders, workers, shipment: Shipment::with_capacity(), spare, shard }
    }

    fn ship(&mut self) {
        if self.shipment.len() > 0 {
            let empty = self.spare.try_recv().unwrap_or_else(|_| Shipment::with_capacity());
            let shipment = Arc::new(std::mem::replace(&mut self.shipment, empty));
            for sender in &self.senders {
                // A thread that stopped has panicked: `finish` reports it.
                let _ = sender.send(Message::Events(Arc::clone(&shipment)));
            }
        }
    }

    fn ship_when_full(&mut self) {
        if self.shipment.len() >= SHIPMENT_EVENTS {
            self.ship();
        }
    }

    fn send_all(&mut self, message: impl Fn() -> Message) {
        self.ship();
        for sender in &self.senders {
            let _ = sender.send(message());
        }
    }

    /// Waits for every engine and merges their shares into the share of `shard`.
    pub fn finish(mut self) -> Result<Partial> {
        self.send_all(|| Message::End);
        self.senders.clear();
        let mut shares = Vec::new();
        for worker in self.workers {
            shares.push(worker.join().map_err(|_| anyhow::anyhow!("an analysis thread failed"))?);
        }
        let mut shares = shares.into_iter();
        let mut whole = shares.next().context("no analysis thread")?;
        for share in shares {
            whole.merge(share).context("merging the threads' shares")?;
        }
        whole.coarsen(self.shard).context("merging the threads' shares")?;
        Ok(whole)
    }
}

impl EventSink for Shards {
    fn observe_batch(&mut self, batch: &Batch<'_>) {
        self.shipment.push_batch(batch);
        self.ship_when_full();
    }

    fn observe(&mut self, event: &Event<'_>, hash: u64) {
        self.shipment.push(event, hash, None);
        self.ship_when_full();
    }

    /// The owner's engine judges the presumption; the reading thread goes on with the model's answer.
    fn observe_presumed_read(&mut self, event: &Event<'_>, hash: u64, model_answered: bool) -> Outcome {
        self.shipment.push(event, hash, Some(model_answered));
        self.ship_when_full();
        event.outcome
    }

    fn model_started(&mut self, initial_state: InitialState, presumed_held: bool, capacity: Option<u64>) {
        self.send_all(|| Message::ModelStarted { initial_state, presumed_held, capacity });
    }

    fn note_skipped_lines(&mut self, lines: u64) {
        self.send_all(|| Message::SkippedLines(lines));
    }
}

/// The trace so far, as a shard's thread counts it passing every event: its first time, its events, the latest
/// time on its clock.
#[derive(Debug, Default)]
struct Passed {
    first: Option<u64>,
    events: u64,
    latest: Option<u64>,
}

impl Passed {
    /// What came before an event at `time`, which is then counted.
    #[inline]
    fn pass(&mut self, time: u64) -> CatchUp {
        let first = *self.first.get_or_insert(time);
        let before = CatchUp { first, events_before: self.events, latest_before: self.latest };
        self.events += 1;
        if counts_on_clock(first, time) {
            self.latest = Some(self.latest.map_or(time, |latest| latest.max(time)));
        }
        before
    }

    /// What came after the last event.
    fn end(&self) -> CatchUp {
        CatchUp { first: self.first.unwrap_or(0), events_before: self.events, latest_before: self.latest }
    }
}

/// Whether the engine of shard `part` observes an event: those of its own keys, and every flush and marker.
#[inline]
fn observes(part: Shard, command: Command, hash: u64) -> bool {
    matches!(command, Command::Flush(_) | Command::Marker) || part.owns(hash)
}

/// One shard's thread: observes its events of every shipment until the reader is done, then hands its share over.
fn work(mut engine: Engine, receiver: Receiver<Message>, returns: Sender<Shipment>) -> Partial {
    let part = engine.config().shard;
    let mut passed = Passed::default();
    // This thread's events of a shipment: their places, and what came before each.
    let mut mine: Vec<(u32, CatchUp)> = Vec::with_capacity(SHIPMENT_EVENTS);
    for message in receiver {
        match message {
            Message::Events(shipment) if shipment.presumed.is_empty() => {
                mine.clear();
                for (index, &hash) in shipment.hashes.iter().enumerate() {
                    let event = shipment.events.get(index);
                    let before = passed.pass(event.time);
                    if observes(part, event.command, hash) {
                        mine.push((index as u32, before));
                    }
                }
                engine.observe_split_indexed(mine.len(), |i| {
                    let (index, before) = mine[i];
                    let (event, hash) = shipment.event(index as usize);
                    (event, hash, before)
                });
                give_back(shipment, &returns);
            }
            Message::Events(shipment) => {
                let mut presumed = shipment.presumed.iter().peekable();
                for index in 0..shipment.len() {
                    let (event, hash) = shipment.event(index);
                    let before = passed.pass(event.time);
                    let presumption = presumed.next_if(|(at, _)| *at == index);
                    if !observes(part, event.command, hash) {
                        continue;
                    }
                    engine.catch_up(before);
                    match presumption {
                        Some(&(_, model_answered)) => {
                            observe_presumed_read(&mut engine, &event, hash, model_answered);
                        }
                        None => {
                            engine.observe_hashed(&event, hash);
                        }
                    }
                }
                give_back(shipment, &returns);
            }
            Message::ModelStarted { initial_state, presumed_held, capacity } => {
                engine.set_initial_state(initial_state);
                engine.set_presumed_held(presumed_held);
                engine.set_cache_capacity(capacity);
            }
            Message::SkippedLines(lines) => engine.note_skipped_lines(lines),
            Message::End => engine.catch_up(passed.end()),
        }
    }
    engine.into_partial()
}

/// The last thread done with a shipment returns it, emptied, to the reader.
fn give_back(shipment: Arc<Shipment>, returns: &Sender<Shipment>) {
    if let Some(mut shipment) = Arc::into_inner(shipment) {
        shipment.clear();
        let _ = returns.send(shipment);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cachescope_core::TtlChange;

    #[test]
    fn a_shipment_gives_back_its_events_with_their_keys() {
        let events = [
            Event::read(1, b"user:1", Outcome::Miss),
            Event::write(2, b"user:1", TtlChange::ExpireIn(1000)).with_value_size(10),
            Event::keyless(3, Command::Marker),
        ];
        let mut shipment = Shipment::default();
        for (i, event) in events.iter().enumerate() {
            shipment.push(event, key_hash(event.db, event.key), (i == 0).then_some(true));
        }
        assert_eq!(shipment.len(), 3);
        assert_eq!(shipment.presumed, vec![(0, true)]);
        for (i, event) in events.iter().enumerate() {
            let (back, hash) = shipment.event(i);
            assert_eq!(back, *event);
            assert_eq!(hash, key_hash(event.db, event.key));
        }
    }

    #[test]
    fn a_thread_counts_every_event_it_passes_and_only_plausible_times() {
        let mut passed = Passed::default();
        assert_eq!(passed.pass(100), CatchUp { first: 100, events_before: 0, latest_before: None });
        // A time before the first does not move the clock.
        assert_eq!(passed.pass(50), CatchUp { first: 100, events_before: 1, latest_before: Some(100) });
        assert_eq!(passed.pass(300), CatchUp { first: 100, events_before: 2, latest_before: Some(100) });
        assert_eq!(passed.pass(200), CatchUp { first: 100, events_before: 3, latest_before: Some(300) });
        assert_eq!(passed.end(), CatchUp { first: 100, events_before: 4, latest_before: Some(300) });
    }
}
