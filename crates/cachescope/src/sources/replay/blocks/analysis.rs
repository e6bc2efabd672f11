//! `analyze` on a trace in blocks ([`super`]): one engine per thread, each for a share of the keys. Sorting a
//! block lists each share's events (flushes and markers are every share's): where each record lies, its place in
//! the block, its time and its key's hash. Before a block, each engine learns what it must know of the events of
//! other keys before it ([`CatchUp`]): how many there were and the latest time they brought the clock to, so that
//! every engine counts and times exactly as one engine over every event would (a block with times off the clock
//! catches up before each event). Each engine decodes its events again from the block: cheaper than having
//! their fields written on another core.
//!
//! On one thread there is nothing to sort: the engine observes each block's events as they are decoded
//! ([`analyse_alone`]).
//!
//! Events without outcomes need a cache model, which sees every key in the trace's order: a block holding one
//! stops the run, and the caller replays the trace on one reading thread instead.

use anyhow::{Context, Result};
use cachescope_core::{
    CatchUp, Command, Engine, EngineConfig, Event, Micros, Outcome, Partial, Shard, counts_on_clock, key_hash,
};
use cachescope_trace::{Block, TraceError, TraceReader};
use indicatif::ProgressBar;

use super::{BlockWork, Worked, run};
use crate::sources::replay::shards::{merge_parts, part_configs};
use crate::sources::replay::{Read, Replayed, Skip, warn_cut_short, with_hint};

/// How a replay in blocks ended.
pub enum BlockReplay {
    Done(Box<Partial>, Replayed),
    /// The trace has events without outcomes: it needs a cache model, on one reading thread.
    NeedsModel,
}

/// Analyses the trace of `reader`, which [`TraceReader::has_blocks`], for `shard` on `threads` threads, one
/// engine each; `skip` says whether a trace cut short ends at the cut.
pub fn analyse(
    reader: &mut TraceReader,
    config: &EngineConfig,
    shard: Shard,
    threads: u32,
    skip: Skip,
    bar: &ProgressBar,
) -> Result<BlockReplay> {
    if threads <= 1 {
        return analyse_alone(reader, EngineConfig { shard, ..config.clone() }, skip, bar);
    }
    let configs = part_configs(config, shard, threads);
    let work = Analysis { shard, parts: configs.len() };
    let sorters = configs.iter().map(|_| ()).collect();
    let parts = configs.into_iter().map(|config| (Engine::new(config), Clock::default())).collect();
    let Worked::Done { parts, cut_short } = run(&work, reader, parts, sorters, skip, bar)? else {
        return Ok(BlockReplay::NeedsModel);
    };
    let mut shares = Vec::new();
    let mut events = 0;
    for (mut engine, clock) in parts {
        engine.catch_up(clock.catch_up());
        engine.note_skipped_lines(0);
        events = clock.events;
        shares.push(engine.into_partial());
    }
    let whole = merge_parts(shares, shard).context("merging the threads' shares")?;
    Ok(BlockReplay::Done(
        Box::new(whole),
        Replayed { read: Read { events, skipped_lines: 0, cut_short }, modelled: false },
    ))
}

/// One engine on this thread: each block decoded once, its events observed where they lie (an uncompressed
/// file's blocks are read from the file mapped in memory, copied by no one).
fn analyse_alone(reader: &mut TraceReader, config: EngineConfig, skip: Skip, bar: &ProgressBar) -> Result<BlockReplay> {
    let mut engine = Engine::new(config);
    let (mut block, mut hashes, mut spare) = (Block::default(), Vec::new(), Vec::new());
    let (mut events, mut blocks, mut cut_short) = (0u64, 0u64, false);
    loop {
        match reader.next_block(&mut block) {
            Ok(true) => {}
            Ok(false) => break,
            Err(error) if skip != Skip::Stop && error.is_cut_short() => {
                warn_cut_short(&error, Some(events));
                cut_short = true;
                break;
            }
            Err(error) => return Err(with_hint(error)),
        }
        let mut decoded = events_reusing(spare);
        hashes.clear();
        let mut observed = true;
        block
            .decode_each(|_, event| {
                observed &= event.outcome != Outcome::Unobserved;
                hashes.push(key_hash(event.db, event.key));
                decoded.push(event);
            })
            .map_err(with_hint)?;
        if !observed {
            return Ok(BlockReplay::NeedsModel);
        }
        engine.observe_hashed_indexed(decoded.len(), |i| hashes[i], |i| decoded[i]);
        events += decoded.len() as u64;
        decoded.clear();
        spare = events_reusing(decoded);
        blocks += 1;
        if blocks % 16 == 0 {
            bar.set_position(reader.progress().bytes_read());
        }
    }
    bar.set_position(bar.length().unwrap_or(0));
    engine.note_skipped_lines(0);
    let replayed = Replayed { read: Read { events, skipped_lines: 0, cut_short }, modelled: false };
    Ok(BlockReplay::Done(Box::new(engine.into_partial()), replayed))
}

/// An empty vector of events of another lifetime in the memory of `empty`, so that each block's events go where
/// the block before's went (an empty vector's memory holds no event: collecting from it reuses the memory).
fn events_reusing<'a>(empty: Vec<Event<'_>>) -> Vec<Event<'a>> {
    debug_assert!(empty.is_empty());
    empty.into_iter().map(|_| unreachable!("the vector is empty")).collect()
}

/// A share of the keys for each of `parts` engines.
struct Analysis {
    shard: Shard,
    parts: usize,
}

/// A block's events sorted by the part owning their key.
#[derive(Default)]
struct Sorted {
    /// How many events the block holds.
    events: u64,
    /// The earliest and latest times of the block.
    span: (Micros, Micros),
    /// The events of each part (flushes and markers are every part's), in order.
    parts: Vec<Vec<Entry>>,
}

impl BlockWork for Analysis {
    type Sorted = Sorted;
    type Sorter = ();
    type Part = (Engine, Clock);

    /// Decodes the block and sorts its events; false if an event has no outcome.
    fn sort(&self, _: &mut (), block: &Block, sorted: &mut Sorted) -> Result<bool, TraceError> {
        sorted.parts.resize_with(self.parts, Vec::new);
        sorted.parts.iter_mut().for_each(Vec::clear);
        let (mut index, mut earliest, mut latest, mut observed) = (0u32, Micros::MAX, 0, true);
        let lists = &mut sorted.parts;
        block.decode_each(|at, event| {
            observed &= event.outcome != Outcome::Unobserved;
            let hash = key_hash(event.db, event.key);
            let entry = Entry { at, index, time: event.time, hash };
            index += 1;
            earliest = earliest.min(event.time);
            latest = latest.max(event.time);
            if matches!(event.command, Command::Flush(_) | Command::Marker) {
                lists.iter_mut().for_each(|list| list.push(entry));
            } else if let Some(part) = self.shard.part_owning(self.parts as u32, hash) {
                lists[part].push(entry);
            }
        })?;
        sorted.events = u64::from(index);
        sorted.span = (earliest, latest);
        Ok(observed)
    }

    fn observe(&self, (engine, clock): &mut (Engine, Clock), index: usize, block: &Block, sorted: &Sorted) {
        observe(engine, block, sorted, index, clock);
    }
}

/// What a thread needs to observe one event of a block: where its record is, its place and time, its key's
/// hash. The thread decodes the record again: that is cheaper than having its fields from the other core.
#[derive(Clone, Copy)]
struct Entry {
    /// Where its record starts in the block.
    at: u32,
    /// Its place in the block.
    index: u32,
    time: Micros,
    hash: u64,
}

/// What a thread knows of the trace before the block it observes next: as a single engine's clock would.
#[derive(Default)]
struct Clock {
    /// The time of the trace's first event.
    first: Option<Micros>,
    events: u64,
    /// The latest time that moved the clock ([`counts_on_clock`]).
    latest: Option<Micros>,
}

impl Clock {
    fn catch_up(&self) -> CatchUp {
        CatchUp { first: self.first.unwrap_or(0), events_before: self.events, latest_before: self.latest }
    }
}

/// Observes the events of `part` in a sorted block, each caught up on the events of other keys before it.
fn observe(engine: &mut Engine, block: &Block, sorted: &Sorted, part: usize, clock: &mut Clock) {
    let own = &sorted.parts[part];
    let first = match (clock.first, own.first()) {
        (Some(first), _) => first,
        (None, _) if sorted.events == 0 => return,
        // The block's first event is every part's first (or the trace's first time is the block's earliest
        // time when it is not this part's: found by decoding again).
        (None, Some(entry)) if entry.index == 0 => entry.time,
        (None, _) => first_time(block),
    };
    clock.first = Some(first);
    let base = clock.events;
    let event = |entry: &Entry| block.event_at(entry.at, entry.time).expect("a record decoded once decodes again");
    let (earliest, latest) = sorted.span;
    if counts_on_clock(first, earliest) && counts_on_clock(first, latest) {
        // Every time of the block moves the clock. Each event's own time then moves the engine's clock as
        // catching up on the events before it would have: a time later than its own would only have widened the
        // timeline's buckets sooner, and figures recorded in a bucket and merged when the buckets widen are
        // those recorded in the merged bucket. The count of events is read at the end. So the engine learns
        // where the trace began, where the blocks before left the clock and the count so far, once a block.
        engine.catch_up(CatchUp { first, events_before: base, latest_before: clock.latest });
        engine.observe_hashed_indexed(own.len(), |i| own[i].hash, |i| event(&own[i]));
        clock.latest = Some(clock.latest.map_or(latest, |before| before.max(latest)));
    } else {
        // Some times are off the clock (before the first, or years after): only the others count.
        let mut latest_before = Vec::with_capacity(sorted.events as usize);
        let _ = block.decode_each(|_, event| {
            latest_before.push(clock.latest);
            if counts_on_clock(first, event.time) {
                clock.latest = Some(clock.latest.map_or(event.time, |latest| latest.max(event.time)));
            }
        });
        engine.observe_split_indexed(
            own.len(),
            |i| own[i].hash,
            |i| {
                let entry = &own[i];
                let catch_up = CatchUp {
                    first,
                    events_before: base + u64::from(entry.index),
                    latest_before: latest_before[entry.index as usize],
                };
                (event(entry), catch_up)
            },
        );
    }
    clock.events += sorted.events;
}

/// The time of a block's first event.
fn first_time(block: &Block) -> Micros {
    let mut first = None;
    let _ = block.decode_each(|_, event| {
        first.get_or_insert(event.time);
    });
    first.unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::trace_in_blocks;
    use crate::sources::replay::testing::{events, one_engine};

    fn in_blocks(path: &std::path::Path, shard: Shard, threads: u32) -> BlockReplay {
        let mut reader = TraceReader::open(path, None).unwrap();
        assert!(reader.has_blocks());
        analyse(&mut reader, &EngineConfig::default(), shard, threads, Skip::Stop, &ProgressBar::hidden()).unwrap()
    }

    #[test]
    fn any_number_of_threads_gives_one_engines_report() {
        let dir = tempfile::tempdir().unwrap();
        let events = events();
        let path = trace_in_blocks(&dir, &events, 200);
        let expected = one_engine(&events, Shard::WHOLE);
        assert!(!expected.findings.is_empty());
        for threads in 1..=5 {
            let BlockReplay::Done(share, replayed) = in_blocks(&path, Shard::WHOLE, threads) else {
                panic!("every event has its outcome")
            };
            assert_eq!(replayed.read.events, events.len() as u64);
            assert_eq!(share.report(), expected, "{threads} threads");
        }
        // One share of a split, on threads of its own.
        let shard = Shard::new(1, 3).unwrap();
        let BlockReplay::Done(share, _) = in_blocks(&path, shard, 2) else { panic!("every event has its outcome") };
        assert_eq!(share.report(), one_engine(&events, shard), "shard 2/3 on 2 threads");
    }

    #[test]
    fn an_event_without_outcome_stops_the_threads_for_the_model() {
        let dir = tempfile::tempdir().unwrap();
        let mut events = events();
        events[15_000].outcome = Outcome::Unobserved;
        let path = trace_in_blocks(&dir, &events, 200);
        for threads in [1, 3] {
            assert!(matches!(in_blocks(&path, Shard::WHOLE, threads), BlockReplay::NeedsModel), "{threads} threads");
        }
    }

    #[test]
    fn a_damaged_block_stops_the_threads_with_its_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = trace_in_blocks(&dir, &events(), 200);
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() / 2;
        bytes[at..at + 8].fill(0xff);
        std::fs::write(&path, &bytes).unwrap();
        for threads in [1, 2] {
            let mut reader = TraceReader::open(&path, None).unwrap();
            let config = EngineConfig::default();
            let error = analyse(&mut reader, &config, Shard::WHOLE, threads, Skip::Stop, &ProgressBar::hidden())
                .err()
                .expect("the damaged block is an error");
            assert!(error.to_string().contains("byte"), "{threads} threads: {error}");
        }
    }
}
