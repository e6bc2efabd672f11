//! Replaying a trace file. Events with recorded outcomes go to the engine as they are; a trace of requests only
//! (the Twitter CSV, block traces) goes through a cache model first (exact LRU unless `--policy` says otherwise),
//! which answers each request as a cache of `--cache-size` would. A model that joins a running cache
//! (`--cache-start running`) presumes held the keys the trace reads before it writes them, for as long as their
//! pattern's TTL allows ([`Engine::presumption_holds`]).

use anyhow::Result;
use cachescope_core::{Command, Engine, Event, InitialState, Outcome, TtlChange, human, key_hash};
use cachescope_sim::{CacheModel, ModelConfig, Start, build};
use cachescope_trace::{Batch, TraceError, TraceReader};

pub mod blocks;
pub mod shards;
#[cfg(test)]
mod testing;
use indicatif::ProgressBar;

/// What a replay went through.
#[derive(Debug, Default)]
pub struct Replayed {
    /// What reading the trace went through.
    pub read: Read,
    /// Whether a cache model gave outcomes to events that had none.
    pub modelled: bool,
}

/// What reading a whole trace went through ([`each_batch`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct Read {
    pub events: u64,
    /// Malformed lines skipped.
    pub skipped_lines: u64,
    /// The trace was cut short, and read up to the cut.
    pub cut_short: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct ReplayOptions {
    pub skip_bad_lines: bool,
    /// The model for events without outcomes (its capacity: `--cache-size`, else the trace's own
    /// `#cache-capacity`; None: unbounded).
    pub model: ModelConfig,
    /// Each read that misses brings its object into the cache (the trace's header says so).
    pub read_through: bool,
    /// Log the malformed lines skipped (one of several threads reading the same trace does).
    pub log_skipped: bool,
}

/// Errors past the first few skipped lines are counted, not printed.
const SKIPPED_LINES_SHOWN: u64 = 5;

/// Where a replay's events go: an engine, or the engines of several shards ([`shards::Shards`]).
pub trait EventSink {
    /// Events with their outcomes, in order.
    fn observe_batch(&mut self, batch: &Batch<'_>);
    /// An event whose key has this [`key_hash`].
    fn observe(&mut self, event: &Event<'_>, hash: u64);
    /// A read the cache model answered by presuming its key held (a hit, unless it had an observed outcome):
    /// the engine judges whether it may still be ([`observe_presumed_read`]). Returns the outcome, as far as the
    /// sink knows it.
    fn observe_presumed_read(&mut self, event: &Event<'_>, hash: u64, model_answered: bool) -> Outcome;
    /// The key with this hash comes a few events later ([`Engine::prefetch_key`]).
    fn prefetch(&self, _hash: u64) {}
    /// A cache model takes over from here: the engine's initial state, whether the model presumes keys held,
    /// and the cache's memory.
    fn model_started(&mut self, initial_state: InitialState, presumed_held: bool, capacity: Option<u64>);
    fn note_skipped_lines(&mut self, lines: u64);
}

impl EventSink for Engine {
    fn observe_batch(&mut self, batch: &Batch<'_>) {
        match batch.many() {
            Some(many) => self.observe_indexed(many.len(), |index| many.get(index)),
            // One event at a time: nothing to look ahead to.
            None => batch.iter().for_each(|event| {
                self.observe_hashed(&event, key_hash(event.db, event.key));
            }),
        }
    }

    fn observe(&mut self, event: &Event<'_>, hash: u64) {
        Engine::observe_hashed(self, event, hash);
    }

    fn observe_presumed_read(&mut self, event: &Event<'_>, hash: u64, model_answered: bool) -> Outcome {
        observe_presumed_read(self, event, hash, model_answered)
    }

    fn prefetch(&self, hash: u64) {
        self.prefetch_key(hash);
    }

    fn model_started(&mut self, initial_state: InitialState, presumed_held: bool, capacity: Option<u64>) {
        self.set_initial_state(initial_state);
        self.set_presumed_held(presumed_held);
        self.set_cache_capacity(capacity);
    }

    fn note_skipped_lines(&mut self, lines: u64) {
        Engine::note_skipped_lines(self, lines);
    }
}

/// A read a model presumed a hit: observed as such while the presumption may hold (the key's pattern's TTLs),
/// else as the miss the model would have answered. Returns the outcome observed.
pub fn observe_presumed_read(engine: &mut Engine, event: &Event<'_>, hash: u64, model_answered: bool) -> Outcome {
    if engine.presumption_holds_hashed(event, hash) {
        engine.observe_presumed_hashed(event, hash);
        return event.outcome;
    }
    let mut event = *event;
    if model_answered {
        event.outcome = Outcome::Miss;
    }
    engine.observe_hashed(&event, hash);
    event.outcome
}

/// How many events ahead a replay through a model asks for the next keys' state: far enough for memory to
/// answer, near enough that what it brought is still in cache.
const LOOKAHEAD: usize = 8;

pub fn replay(
    reader: &mut TraceReader,
    sink: &mut dyn EventSink,
    options: &ReplayOptions,
    bar: &ProgressBar,
) -> Result<Replayed> {
    let mut model: Option<Box<dyn CacheModel>> = None;
    let skip = if options.skip_bad_lines { Skip::Count { log: options.log_skipped } } else { Skip::Stop };
    // Each event's key hash, for the model, the sink and looking ahead.
    let mut hashes: Vec<u64> = Vec::new();
    let read = each_batch(reader, skip, bar, |batch| {
        if model.is_none() && batch.iter().all(|event| event.outcome != Outcome::Unobserved) {
            sink.observe_batch(batch);
            return;
        }
        // Requests without replies: a cache model answers them (and, once it exists, sees everything).
        let cache = model.get_or_insert_with(|| {
            // The model starts as the options say, whatever the recording said of the cache it watched.
            let running = options.model.start == Start::Running;
            let initial_state = if running { InitialState::Unknown } else { InitialState::Empty };
            sink.model_started(initial_state, running, options.model.capacity.filter(|_| !options.model.unit_size));
            build(&options.model)
        });
        hashes.clear();
        hashes.extend(batch.iter().map(|event| key_hash(event.db, event.key)));
        for &hash in hashes.iter().take(LOOKAHEAD) {
            cache.prefetch(hash);
            sink.prefetch(hash);
        }
        for (index, mut event) in batch.iter().enumerate() {
            if let Some(&ahead) = hashes.get(index + LOOKAHEAD) {
                cache.prefetch(ahead);
                sink.prefetch(ahead);
            }
            let hash = hashes[index];
            let outcome = cache.apply_hashed(&event, hash);
            let model_answered = event.outcome == Outcome::Unobserved;
            if model_answered {
                event.outcome = outcome;
            }
            if cache.presumed() {
                event.outcome = sink.observe_presumed_read(&event, hash, model_answered);
            } else {
                sink.observe(&event, hash);
            }
            // Block traces and libCacheSim's: a miss brings the object in.
            if options.read_through && event.command == Command::Read && event.outcome == Outcome::Miss {
                let mut fill =
                    Event::write(event.time, event.key, TtlChange::Persist).with_value_size(event.value_size);
                fill.client = event.client;
                fill.db = event.db;
                fill.outcome = Outcome::Unobserved;
                fill.outcome = cache.apply_hashed(&fill, hash);
                sink.observe(&fill, hash);
            }
        }
    })?;
    sink.note_skipped_lines(read.skipped_lines);
    Ok(Replayed { read, modelled: model.is_some() })
}

/// What to do with a malformed line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Stop with its error.
    Stop,
    /// Count it, and log the first few when `log`.
    Count { log: bool },
}

impl Skip {
    /// `--skip-bad-lines` or not, logged.
    pub fn from_flag(skip_bad_lines: bool) -> Skip {
        if skip_bad_lines { Skip::Count { log: true } } else { Skip::Stop }
    }

    /// The same, without logging: for a trace read again.
    pub fn quietly(self) -> Skip {
        match self {
            Skip::Stop => Skip::Stop,
            Skip::Count { .. } => Skip::Count { log: false },
        }
    }
}

/// Reads the whole trace, batch by batch, moving `bar` along the file. Malformed lines stop the read or are
/// counted, as `skip` says, and so is a trace cut short read up to the cut.
pub fn each_batch(
    reader: &mut TraceReader,
    skip: Skip,
    bar: &ProgressBar,
    mut handle: impl FnMut(&Batch<'_>),
) -> Result<Read> {
    let (mut events, mut skipped, mut cut_short) = (0u64, 0u64, false);
    let progress = reader.progress();
    loop {
        let batch = match reader.next_batch() {
            Ok(batch) if batch.is_empty() => break,
            Ok(batch) => batch,
            Err(error) if skip != Skip::Stop && error.is_cut_short() => {
                if skip == (Skip::Count { log: true }) {
                    warn_cut_short(&error, Some(events));
                }
                cut_short = true;
                break;
            }
            Err(error) if skip != Skip::Stop && error.is_skippable() => {
                skipped += 1;
                if skip == (Skip::Count { log: true }) && skipped <= SKIPPED_LINES_SHOWN {
                    tracing::warn!("skipped: {error}");
                }
                continue;
            }
            Err(error) => return Err(with_hint(error)),
        };
        handle(&batch);
        let before = events;
        events += batch.len() as u64;
        if before / 65_536 != events / 65_536 {
            bar.set_position(progress.bytes_read());
        }
    }
    if skip == (Skip::Count { log: true }) && skipped > SKIPPED_LINES_SHOWN {
        tracing::warn!("skipped {skipped} malformed lines in all");
    }
    bar.set_position(progress.total_bytes());
    Ok(Read { events, skipped_lines: skipped, cut_short })
}

pub fn with_hint(error: TraceError) -> anyhow::Error {
    let hint = if error.is_cut_short() {
        Some(
            "reading the trace, which was cut short (a recording that did not finish, a copy interrupted): \
             --skip-bad-lines reports on the events before the cut",
        )
    } else if error.is_skippable() {
        Some("reading the trace (--skip-bad-lines counts bad lines and goes on)")
    } else {
        None
    };
    let error = anyhow::Error::new(error);
    match hint {
        Some(hint) => error.context(hint),
        None => error,
    }
}

/// Says that the trace ends early, where `--skip-bad-lines` has the command go on with what came before.
pub fn warn_cut_short(error: &TraceError, events: Option<u64>) {
    let before = events.map_or_else(|| "the events".to_string(), |n| format!("the {} events", human::count(n)));
    tracing::warn!("{error:#}: the trace was cut short; what follows is of {before} before the cut");
}
