//! A trace in blocks (the compact format, version 2) analysed on several threads, each both a reader and a
//! shard. A thread takes the file's next block, decodes it, hashes its keys and lists which events each shard
//! owns; then every thread observes its own keys' events of each block, block after block, in the trace's
//! order, where the decoding thread left them. Decoding is shared among the threads and no event is copied
//! from one thread to another, which is what a single reading thread ([`super::shards`]) cannot avoid.
//!
//! Each event comes with what its shard must know of the events of other keys before it ([`CatchUp`]): how
//! many there were (the blocks before, then its place in its block) and the latest time they brought the clock
//! to, so that every engine counts and times exactly as one engine over every event would.
//!
//! Events without outcomes need a cache model, which sees every key in the trace's order: a block holding one
//! stops the run, and the caller replays the trace on one reading thread instead.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use anyhow::{Context, Result};
use cachescope_core::{
    CatchUp, Command, Engine, EngineConfig, Micros, Outcome, Partial, Shard, counts_on_clock, key_hash,
};
use cachescope_trace::{Block, TraceError, TraceReader};
use indicatif::ProgressBar;

use super::Replayed;
use super::shards::{merge_parts, part_configs};

/// Blocks decoded or being decoded, at most, per thread: enough that no thread waits for another's decoding
/// while each block's memory (about 64 KiB of records and 300 KiB decoded) stays small.
const BLOCKS_PER_THREAD: usize = 4;

/// How a replay in blocks ended.
pub enum BlockReplay {
    Done(Box<Partial>, Replayed),
    /// The trace has events without outcomes: it needs a cache model, on one reading thread.
    NeedsModel,
}

/// Analyses the trace of `reader`, which [`TraceReader::has_blocks`], for `shard` on `threads` threads, one
/// engine each.
pub fn analyse(
    reader: &mut TraceReader,
    config: &EngineConfig,
    shard: Shard,
    threads: u32,
    bar: &ProgressBar,
) -> Result<BlockReplay> {
    let configs = part_configs(config, shard, threads);
    let blocks = BLOCKS_PER_THREAD * configs.len();
    let shared = Shared {
        ring: Mutex::new(Ring {
            slots: (0..blocks).map(|_| Slot::Free).collect(),
            spare: (0..configs.len()).map(|_| Vec::new()).collect(),
            next_read: 0,
            reading: false,
            end: None,
            stop: None,
        }),
        changed: Condvar::new(),
        reader: Mutex::new(reader),
        shard,
        parts: configs.len(),
        bar,
    };
    let results: Vec<std::thread::Result<(Engine, Clock)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = configs
            .into_iter()
            .enumerate()
            .map(|(part, config)| {
                let shared = &shared;
                std::thread::Builder::new()
                    .name(format!("shard {}", config.shard))
                    .spawn_scoped(scope, move || work(shared, part, Engine::new(config)))
                    .expect("the system starts a thread")
            })
            .collect();
        workers.into_iter().map(|worker| worker.join()).collect()
    });
    let ring = shared.ring.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
    match ring.stop {
        Some(Stop::NeedsModel) => return Ok(BlockReplay::NeedsModel),
        Some(Stop::Failed(error)) => return Err(error.into()),
        Some(Stop::Panicked) | None => {}
    }
    let mut shares = Vec::new();
    let mut events = 0;
    for result in results {
        let (mut engine, clock) = result.map_err(|_| anyhow::anyhow!("an analysis thread failed"))?;
        engine.catch_up(clock.catch_up());
        engine.note_skipped_lines(0);
        events = clock.events;
        shares.push(engine.into_partial());
    }
    bar.set_position(bar.length().unwrap_or(0));
    let whole = merge_parts(shares, shard).context("merging the threads' shares")?;
    Ok(BlockReplay::Done(Box::new(whole), Replayed { events, skipped_lines: 0, modelled: false }))
}

/// What the threads share: the blocks in flight and the file.
struct Shared<'a> {
    ring: Mutex<Ring>,
    /// Signalled when a block is ready, a slot is free, the file may be read, or the run ends.
    changed: Condvar,
    /// Read by one thread at a time ([`Ring::reading`]), so blocks are numbered in the file's order.
    reader: Mutex<&'a mut TraceReader>,
    shard: Shard,
    parts: usize,
    bar: &'a ProgressBar,
}

struct Ring {
    /// Block `n` is in slot `n % slots.len()`.
    slots: Vec<Slot>,
    /// Decoded blocks no thread needs any more, to be filled again, by the thread that decoded them.
    spare: Vec<Vec<Decoded>>,
    /// The number of the next block to read from the file.
    next_read: u64,
    /// A thread is reading the file.
    reading: bool,
    /// The number of blocks, once the file has ended.
    end: Option<u64>,
    stop: Option<Stop>,
}

enum Slot {
    Free,
    /// Being read and decoded.
    Taken,
    /// Block `seq`, decoded; `left` threads have still to observe their part of it.
    Ready {
        seq: u64,
        decoded: Arc<Decoded>,
        left: usize,
    },
}

/// Why the threads stopped before the end of the file.
enum Stop {
    Failed(TraceError),
    NeedsModel,
    Panicked,
}

impl Shared<'_> {
    fn lock(&self) -> MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn wait<'g>(&self, ring: MutexGuard<'g, Ring>) -> MutexGuard<'g, Ring> {
        self.changed.wait(ring).unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn stop(&self, ring: &mut Ring, why: Stop) {
        ring.stop.get_or_insert(why);
        self.changed.notify_all();
    }
}

/// A block decoded, its events sorted by the part owning their key.
#[derive(Default)]
struct Decoded {
    block: Block,
    /// The thread that decoded it, which fills it again: its memory stays in that thread's caches.
    owner: usize,
    /// How many events the block holds.
    events: u64,
    /// The earliest and latest times of the block.
    span: (Micros, Micros),
    /// The events of each part (flushes and markers are every part's), in order.
    parts: Vec<Vec<Entry>>,
}

/// What a thread needs to observe one event of a block: where it is, and what it knows of the events before.
/// The thread decodes the record again: that is cheaper than having its fields from the other core.
#[derive(Clone, Copy)]
struct Entry {
    /// Where its record starts in the block.
    at: u32,
    /// Its place in the block.
    index: u32,
    time: Micros,
    /// The latest time of the events before it in the block (0 for the first).
    latest_before: Micros,
    hash: u64,
}

impl Decoded {
    /// Decodes the block and sorts its events. False if an event has no outcome.
    fn decode(&mut self, shard: Shard, parts: usize) -> Result<bool, TraceError> {
        self.parts.resize_with(parts, Vec::new);
        self.parts.iter_mut().for_each(Vec::clear);
        let (mut index, mut earliest, mut latest, mut observed) = (0u32, Micros::MAX, 0, true);
        let lists = &mut self.parts;
        self.block.decode_each(|at, event| {
            observed &= event.outcome != Outcome::Unobserved;
            let hash = key_hash(event.db, event.key);
            let entry = Entry { at, index, time: event.time, latest_before: latest, hash };
            index += 1;
            earliest = earliest.min(event.time);
            latest = latest.max(event.time);
            if matches!(event.command, Command::Flush(_) | Command::Marker) {
                lists.iter_mut().for_each(|list| list.push(entry));
            } else if let Some(part) = shard.part_owning(parts as u32, hash) {
                lists[part].push(entry);
            }
        })?;
        self.events = u64::from(index);
        self.span = (earliest, latest);
        Ok(observed)
    }
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

/// Stops the other threads if this one panics, rather than leaving them waiting for its part.
struct PanicGuard<'s, 'a>(&'s Shared<'a>);

impl Drop for PanicGuard<'_, '_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop(&mut self.0.lock(), Stop::Panicked);
        }
    }
}

/// One thread: observes its part of each block in order, reading and decoding the next block whenever its
/// own next one is not ready.
fn work(shared: &Shared<'_>, part: usize, mut engine: Engine) -> (Engine, Clock) {
    let _guard = PanicGuard(shared);
    let mut clock = Clock::default();
    let mut next = 0u64;
    let mut ring = shared.lock();
    let slots = ring.slots.len() as u64;
    loop {
        if ring.stop.is_some() || ring.end == Some(next) {
            return (engine, clock);
        }
        let slot = (next % slots) as usize;
        if let Slot::Ready { seq, decoded, .. } = &ring.slots[slot]
            && *seq == next
        {
            let decoded = Arc::clone(decoded);
            drop(ring);
            observe(&mut engine, &decoded, part, &mut clock);
            drop(decoded);
            ring = shared.lock();
            release(&mut ring, slot);
            shared.changed.notify_all();
            next += 1;
            continue;
        }
        let free = (ring.next_read % slots) as usize;
        if !ring.reading && ring.end.is_none() && matches!(ring.slots[free], Slot::Free) {
            ring = read_and_decode(shared, ring, free, part);
            continue;
        }
        ring = shared.wait(ring);
    }
}

/// Reads the file's next block into slot `free` and decodes it, without holding the lock while decoding.
fn read_and_decode<'g>(
    shared: &'g Shared<'_>,
    mut ring: MutexGuard<'g, Ring>,
    free: usize,
    part: usize,
) -> MutexGuard<'g, Ring> {
    let seq = ring.next_read;
    ring.next_read += 1;
    ring.reading = true;
    ring.slots[free] = Slot::Taken;
    let mut decoded = ring.spare[part].pop().unwrap_or_default();
    decoded.owner = part;
    drop(ring);
    let read = {
        let mut reader = shared.reader.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let read = reader.next_block(&mut decoded.block);
        if seq % 16 == 0 {
            shared.bar.set_position(reader.progress().bytes_read());
        }
        read
    };
    let mut ring = shared.lock();
    ring.reading = false;
    match read {
        Ok(true) => {
            shared.changed.notify_all();
            drop(ring);
            let sorted = decoded.decode(shared.shard, shared.parts);
            let mut ring = shared.lock();
            match sorted {
                Ok(true) => {
                    let decoded = Arc::new(decoded);
                    ring.slots[free] = Slot::Ready { seq, decoded, left: shared.parts };
                    shared.changed.notify_all();
                }
                Ok(false) => shared.stop(&mut ring, Stop::NeedsModel),
                Err(error) => shared.stop(&mut ring, Stop::Failed(error)),
            }
            ring
        }
        Ok(false) => {
            ring.end = Some(seq);
            ring.slots[free] = Slot::Free;
            ring.spare[part].push(decoded);
            shared.changed.notify_all();
            ring
        }
        Err(error) => {
            shared.stop(&mut ring, Stop::Failed(error));
            ring
        }
    }
}

/// One thread is done with the block in `slot`: the last to be frees it for the next block.
fn release(ring: &mut Ring, slot: usize) {
    let Slot::Ready { left, .. } = &mut ring.slots[slot] else { unreachable!("a block observed is ready") };
    *left -= 1;
    if *left == 0
        && let Slot::Ready { decoded, .. } = std::mem::replace(&mut ring.slots[slot], Slot::Free)
        && let Ok(decoded) = Arc::try_unwrap(decoded)
    {
        ring.spare[decoded.owner].push(decoded);
    }
}

/// Observes the events of `part` in a decoded block, each caught up on the events of other keys before it.
fn observe(engine: &mut Engine, decoded: &Decoded, part: usize, clock: &mut Clock) {
    let own = &decoded.parts[part];
    let first = match (clock.first, own.first()) {
        (Some(first), _) => first,
        (None, _) if decoded.events == 0 => return,
        // The block's first event is every part's first (or the trace's first time is the block's earliest
        // time when it is not this part's: found by decoding again).
        (None, Some(entry)) if entry.index == 0 => entry.time,
        (None, _) => first_time(&decoded.block),
    };
    clock.first = Some(first);
    let base = clock.events;
    let block = &decoded.block;
    let event = |entry: &Entry| block.event_at(entry.at, entry.time).expect("a record decoded once decodes again");
    let (earliest, latest) = decoded.span;
    if counts_on_clock(first, earliest) && counts_on_clock(first, latest) {
        // Every time of the block moves the clock: the latest before an event is the latest of the block
        // before it, or of the blocks before.
        let before = clock.latest;
        engine.observe_split_indexed(
            own.len(),
            |i| own[i].hash,
            |i| {
                let entry = &own[i];
                let latest_before = match (entry.index, before) {
                    (0, before) => before,
                    (_, None) => Some(entry.latest_before),
                    (_, Some(before)) => Some(before.max(entry.latest_before)),
                };
                (event(entry), CatchUp { first, events_before: base + u64::from(entry.index), latest_before })
            },
        );
        clock.latest = Some(clock.latest.map_or(latest, |before| before.max(latest)));
    } else {
        // Some times are off the clock (before the first, or years after): only the others count.
        let mut latest_before = Vec::with_capacity(decoded.events as usize);
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
    clock.events += decoded.events;
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
    use cachescope_core::{Event, OwnedEvent, TtlChange};
    use cachescope_trace::TraceHeader;
    use cachescope_trace::compact::CompactWriter;

    /// Events over 60 keys (few enough that every sketch holds them all, so that any split gives the very same
    /// report): reads that hit and miss, writes with TTLs, failed writes, deletes, a flush and a marker part-way,
    /// times mostly forward with jumps back, jumps ahead, and times off the clock.
    fn events() -> Vec<OwnedEvent> {
        let mut events = Vec::new();
        let mut time = 1_000_000_000u64;
        for i in 0..20_000u64 {
            time += 1 + (i * 7919) % 5_000;
            let key = format!("{}:{}", ["user", "session", "cart"][(i % 3) as usize], (i * 31) % 20);
            let mut event = match i % 7 {
                0 | 3 => Event::write(time, key.as_bytes(), TtlChange::ExpireIn(30_000 + i % 5 * 10_000)),
                5 => Event { command: Command::Delete, ..Event::read(time, key.as_bytes(), Outcome::Ok) },
                _ => Event::read(time, key.as_bytes(), if i % 4 == 0 { Outcome::Miss } else { Outcome::Hit }),
            };
            event.outcome = match event.command {
                Command::Write(_) if i % 11 == 0 => Outcome::Error(cachescope_core::ErrorKind::Oom),
                Command::Write(_) => Outcome::Ok,
                _ => event.outcome,
            };
            event.client = (i % 5) as u32;
            event.time = match i % 1009 {
                17 => 5,                                // before the first: off the clock
                18 => time + 30 * 366 * 86_400_000_000, // decades ahead: off the clock
                19 => time + 600_000_000,               // ten minutes ahead of the events after it
                20 => 5,                                // off the clock just after: counted at its latest
                21 => time.saturating_sub(60_000_000),  // a minute back
                _ => event.time,
            };
            events.push(OwnedEvent::from(&event.with_value_size(100 + (i % 13) as u32)));
            if i == 9_000 {
                events.push(OwnedEvent::from(&Event::keyless(time, Command::Flush(cachescope_core::FlushScope::All))));
            }
            if i == 12_000 {
                events.push(OwnedEvent::from(&Event { key: b"deploy:v2", ..Event::keyless(time, Command::Marker) }));
            }
        }
        events
    }

    /// Writes `events` in blocks closed at `block_bytes`: many small blocks, so that the threads take turns
    /// often and the blocks in flight wrap around their slots many times.
    fn write(dir: &tempfile::TempDir, events: &[OwnedEvent], block_bytes: usize) -> std::path::PathBuf {
        let path = dir.path().join("t.cst");
        let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let mut writer = CompactWriter::with_blocks(file, &TraceHeader::default(), Some(block_bytes)).unwrap();
        events.iter().for_each(|event| writer.write(&event.as_event()).unwrap());
        std::io::Write::flush(&mut writer.finish().unwrap()).unwrap();
        path
    }

    fn one_engine(events: &[OwnedEvent], shard: Shard) -> cachescope_core::Report {
        let mut engine = Engine::new(EngineConfig { shard, ..EngineConfig::default() });
        events.iter().for_each(|event| engine.observe(&event.as_event()));
        engine.into_partial().report()
    }

    fn in_blocks(path: &std::path::Path, shard: Shard, threads: u32) -> BlockReplay {
        let mut reader = TraceReader::open(path, None).unwrap();
        assert!(reader.has_blocks());
        analyse(&mut reader, &EngineConfig::default(), shard, threads, &ProgressBar::hidden()).unwrap()
    }

    #[test]
    fn any_number_of_threads_gives_one_engines_report() {
        let dir = tempfile::tempdir().unwrap();
        let events = events();
        let path = write(&dir, &events, 200);
        let expected = one_engine(&events, Shard::WHOLE);
        assert!(!expected.findings.is_empty());
        for threads in 1..=5 {
            let BlockReplay::Done(share, replayed) = in_blocks(&path, Shard::WHOLE, threads) else {
                panic!("every event has its outcome")
            };
            assert_eq!(replayed.events, events.len() as u64);
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
        let path = write(&dir, &events, 200);
        assert!(matches!(in_blocks(&path, Shard::WHOLE, 3), BlockReplay::NeedsModel));
    }

    #[test]
    fn a_damaged_block_stops_the_threads_with_its_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, &events(), 200);
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() / 2;
        bytes[at..at + 8].fill(0xff);
        std::fs::write(&path, &bytes).unwrap();
        let mut reader = TraceReader::open(&path, None).unwrap();
        let error = analyse(&mut reader, &EngineConfig::default(), Shard::WHOLE, 2, &ProgressBar::hidden())
            .err()
            .expect("the damaged block is an error");
        assert!(error.to_string().contains("byte"), "{error}");
    }
}
