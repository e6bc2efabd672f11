//! A replay analysed on several threads: the reading thread decodes the trace once, hashes each key, and hands
//! each shard's thread the events of its keys (and every flush and marker) in shipments, each with what its
//! engine must know of the events of other keys before it: how many there were, and the latest time they brought
//! the clock to ([`CatchUp`]), once a shipment, and again before each event whose time is off the clock (see
//! [`Engine::catch_up`]). Each thread's engine then counts and times exactly as one engine over every event
//! would, and the shards' shares merge into that engine's report ([`Partial`]).

use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use cachescope_core::{
    CatchUp, Command, Engine, EngineConfig, Event, InitialState, Outcome, PackedEvents, Partial, Shard,
    counts_on_clock, key_hash,
};
use cachescope_trace::Batch;

use super::{EventSink, observe_presumed_read};

/// Events per shipment: large enough that handing one over costs nothing per event, small enough to keep the
/// threads busy together.
const SHIPMENT_EVENTS: usize = 4096;
/// Shipments waiting for a shard's thread, at most: the reader waits beyond (memory stays bounded).
const IN_FLIGHT: usize = 8;

/// One shard's events in order, with what came before them of other keys' events ([`CatchUp`]).
#[derive(Default)]
struct Shipment {
    events: PackedEvents<()>,
    /// What came before the first event.
    start: Option<CatchUp>,
    /// The events whose times are off the clock, by place, each with what came before it: the engine falls back
    /// on the latest time before such an event, where an event on the clock moves the clock itself.
    off_clock: Vec<(usize, CatchUp)>,
    /// The events that are reads a model presumed hits ([`EventSink::observe_presumed_read`]), and whether the
    /// model gave their outcome: those are observed one by one.
    presumed: Vec<(usize, bool)>,
}

impl Shipment {
    fn with_capacity() -> Shipment {
        Shipment {
            events: PackedEvents::with_capacity(SHIPMENT_EVENTS, SHIPMENT_EVENTS * 32),
            start: None,
            off_clock: Vec::new(),
            presumed: Vec::new(),
        }
    }

    fn clear(&mut self) {
        self.events.clear();
        self.start = None;
        self.off_clock.clear();
        self.presumed.clear();
    }

    /// Whether the shipment must go before an event with a key of `key_len` bytes joins it.
    fn is_full(&self, key_len: usize) -> bool {
        self.events.is_full(SHIPMENT_EVENTS, key_len)
    }

    /// An event, after what `catch_up` says came before it; `on_clock` if its time moves the clock.
    fn push(&mut self, event: &Event<'_>, hash: u64, catch_up: CatchUp, on_clock: bool, presumed: Option<bool>) {
        if let Some(model_answered) = presumed {
            self.presumed.push((self.events.len(), model_answered));
        }
        self.start.get_or_insert(catch_up);
        if !on_clock {
            self.off_clock.push((self.events.len(), catch_up));
        }
        self.events.push(event, hash, ());
    }

    fn len(&self) -> usize {
        self.events.len()
    }

    #[inline]
    fn hash(&self, index: usize) -> u64 {
        self.events.hash(index)
    }

    #[inline]
    fn event(&self, index: usize) -> (Event<'_>, u64) {
        let (event, hash, ()) = self.events.get(index);
        (event, hash)
    }
}

enum Message {
    Events(Shipment),
    ModelStarted {
        initial_state: InitialState,
        presumed_held: bool,
        capacity: Option<u64>,
    },
    SkippedLines(u64),
    /// The trace is over: the events of other keys after the last one handed over.
    End(CatchUp),
}

/// The engines of a split of `shard` into one part per thread, fed by the thread that reads.
pub struct Shards {
    senders: Vec<SyncSender<Message>>,
    workers: Vec<JoinHandle<Partial>>,
    shipments: Vec<Shipment>,
    /// Shipments the threads are done with, emptied, to be filled again: the reader allocates nothing once warm.
    spare: Receiver<Shipment>,
    shard: Shard,
    /// The trace so far: its first time, its events, the latest time on its clock.
    first: Option<u64>,
    events: u64,
    latest: Option<u64>,
}

impl Shards {
    /// Starts `threads` engines, each for one part of `shard` and an equal part of the key budget.
    pub fn start(config: &EngineConfig, shard: Shard, threads: u32) -> Shards {
        let configs = part_configs(config, shard, threads);
        let (mut senders, mut workers) = (Vec::new(), Vec::new());
        let (returns, spare) = channel();
        for config in &configs {
            let (sender, receiver) = sync_channel(IN_FLIGHT);
            let config = config.clone();
            let returns = returns.clone();
            let worker = std::thread::Builder::new()
                .name(format!("shard {}", config.shard))
                .spawn(move || work(Engine::new(config), receiver, returns))
                .expect("the system starts a thread");
            senders.push(sender);
            workers.push(worker);
        }
        let shipments = configs.iter().map(|_| Shipment::with_capacity()).collect();
        Shards { senders, workers, shipments, spare, shard, first: None, events: 0, latest: None }
    }

    fn ship(&mut self, part: usize) {
        if self.shipments[part].len() > 0 {
            let empty = self.spare.try_recv().unwrap_or_else(|_| Shipment::with_capacity());
            let shipment = std::mem::replace(&mut self.shipments[part], empty);
            // A thread that stopped has panicked: `finish` reports it.
            let _ = self.senders[part].send(Message::Events(shipment));
        }
    }

    fn ship_all(&mut self) {
        for part in 0..self.shipments.len() {
            self.ship(part);
        }
    }

    fn send_all(&mut self, message: impl Fn() -> Message) {
        self.ship_all();
        for sender in &self.senders {
            let _ = sender.send(message());
        }
    }

    fn catch_up(&self) -> CatchUp {
        CatchUp { first: self.first.unwrap_or(0), events_before: self.events, latest_before: self.latest }
    }

    /// An event whose key has this [`key_hash`], to the shipment of the shard owning it.
    fn push(&mut self, event: &Event<'_>, hash: u64, presumed: Option<bool>) {
        let first = *self.first.get_or_insert(event.time);
        let catch_up = self.catch_up();
        self.events += 1;
        let on_clock = counts_on_clock(first, event.time);
        if on_clock {
            self.latest = Some(self.latest.map_or(event.time, |latest| latest.max(event.time)));
        }
        if matches!(event.command, Command::Flush(_) | Command::Marker) {
            for part in 0..self.shipments.len() {
                self.push_to(part, event, hash, catch_up, on_clock, presumed);
            }
            return;
        }
        let Some(part) = self.shard.part_owning(self.shipments.len() as u32, hash) else { return };
        self.push_to(part, event, hash, catch_up, on_clock, presumed);
    }

    #[inline]
    fn push_to(
        &mut self,
        part: usize,
        event: &Event<'_>,
        hash: u64,
        catch_up: CatchUp,
        on_clock: bool,
        presumed: Option<bool>,
    ) {
        if self.shipments[part].is_full(event.key.len()) {
            self.ship(part);
        }
        self.shipments[part].push(event, hash, catch_up, on_clock, presumed);
    }

    /// Waits for every engine and merges their shares into the share of `shard`.
    pub fn finish(mut self) -> Result<Partial> {
        let end = self.catch_up();
        self.send_all(|| Message::End(end));
        self.senders.clear();
        let mut shares = Vec::new();
        for worker in self.workers {
            shares.push(worker.join().map_err(|_| anyhow::anyhow!("an analysis thread failed"))?);
        }
        merge_parts(shares, self.shard).context("merging the threads' shares")
    }
}

/// The engines' configurations for `shard` split into one part per thread, each with an equal part of the key
/// budget.
pub fn part_configs(config: &EngineConfig, shard: Shard, threads: u32) -> Vec<EngineConfig> {
    let parts = shard.split(threads);
    let budget = config.key_budget_bytes / parts.len();
    parts.into_iter().map(|part| EngineConfig { shard: part, key_budget_bytes: budget, ..config.clone() }).collect()
}

/// The shares of a [`part_configs`] split merged into the share of `shard`.
pub fn merge_parts(shares: Vec<Partial>, shard: Shard) -> Result<Partial> {
    let mut shares = shares.into_iter();
    let mut whole = shares.next().context("no analysis thread")?;
    for share in shares {
        whole.merge(share)?;
    }
    whole.coarsen(shard)?;
    Ok(whole)
}

impl EventSink for Shards {
    fn observe_batch(&mut self, batch: &Batch<'_>) {
        for event in batch.iter() {
            self.push(&event, key_hash(event.db, event.key), None);
        }
    }

    fn observe(&mut self, event: &Event<'_>, hash: u64) {
        self.push(event, hash, None);
    }

    /// The owner's engine judges the presumption; the reading thread goes on with the model's answer.
    fn observe_presumed_read(&mut self, event: &Event<'_>, hash: u64, model_answered: bool) -> Outcome {
        self.push(event, hash, Some(model_answered));
        event.outcome
    }

    fn model_started(&mut self, initial_state: InitialState, presumed_held: bool, capacity: Option<u64>) {
        self.send_all(|| Message::ModelStarted { initial_state, presumed_held, capacity });
    }

    fn note_skipped_lines(&mut self, lines: u64) {
        self.send_all(|| Message::SkippedLines(lines));
    }
}

/// One shard's thread: observes every shipment until the reader is done, then hands its share over.
fn work(mut engine: Engine, receiver: Receiver<Message>, returns: Sender<Shipment>) -> Partial {
    for message in receiver {
        match message {
            Message::Events(mut shipment) if shipment.presumed.is_empty() && shipment.off_clock.is_empty() => {
                engine.catch_up(shipment.start.expect("a shipment has events"));
                engine.observe_hashed_indexed(shipment.len(), |i| shipment.hash(i), |i| shipment.event(i).0);
                shipment.clear();
                let _ = returns.send(shipment);
            }
            Message::Events(shipment) => {
                engine.catch_up(shipment.start.expect("a shipment has events"));
                let mut presumed = shipment.presumed.iter().peekable();
                let mut off_clock = shipment.off_clock.iter().peekable();
                for index in 0..shipment.len() {
                    let (event, hash) = shipment.event(index);
                    if let Some(&(_, catch_up)) = off_clock.next_if(|(at, _)| *at == index) {
                        engine.catch_up(catch_up);
                    }
                    match presumed.next_if(|(at, _)| *at == index) {
                        Some(&(_, model_answered)) => {
                            observe_presumed_read(&mut engine, &event, hash, model_answered);
                        }
                        None => {
                            engine.observe_hashed(&event, hash);
                        }
                    }
                }
            }
            Message::ModelStarted { initial_state, presumed_held, capacity } => {
                engine.set_initial_state(initial_state);
                engine.set_presumed_held(presumed_held);
                engine.set_cache_capacity(capacity);
            }
            Message::SkippedLines(lines) => engine.note_skipped_lines(lines),
            Message::End(catch_up) => engine.catch_up(catch_up),
        }
    }
    engine.into_partial()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cachescope_core::TtlChange;

    /// Any number of threads gives one engine's report exactly: shipments wrap many times (a few events of
    /// each fill one), times jump back and ahead, some are off the clock.
    #[test]
    fn any_number_of_threads_gives_one_engines_report() {
        let events = crate::sources::replay::testing::events();
        let expected = crate::sources::replay::testing::one_engine(&events, Shard::WHOLE);
        for threads in 1..=5 {
            let mut shards = Shards::start(&EngineConfig::default(), Shard::WHOLE, threads);
            for event in &events {
                let event = event.as_event();
                shards.observe(&event, key_hash(event.db, event.key));
            }
            assert_eq!(shards.finish().unwrap().report(), expected, "{threads} threads");
        }
    }

    #[test]
    fn a_shipment_gives_back_its_events_with_their_keys() {
        let events = [
            Event::read(1, b"user:1", Outcome::Miss),
            Event::write(2, b"user:1", TtlChange::ExpireIn(1000)).with_value_size(10),
            Event::keyless(3, Command::Marker),
        ];
        let mut shipment = Shipment::default();
        let catch_up = |i: usize| CatchUp { first: 1, events_before: i as u64, latest_before: Some(i as u64) };
        for (i, event) in events.iter().enumerate() {
            shipment.push(event, key_hash(event.db, event.key), catch_up(i), i != 1, (i == 0).then_some(true));
        }
        assert_eq!(shipment.len(), 3);
        assert_eq!(shipment.presumed, vec![(0, true)]);
        assert_eq!(shipment.start, Some(catch_up(0)));
        assert_eq!(shipment.off_clock, vec![(1, catch_up(1))]);
        for (i, event) in events.iter().enumerate() {
            let (back, hash) = shipment.event(i);
            assert_eq!(back, *event);
            assert_eq!(hash, key_hash(event.db, event.key));
        }
    }
}
