//! A trace in blocks (the compact format, version 2) worked on by several threads that share its decoding. A
//! thread takes the file's next block, decodes it and sorts its events for the parts that observe them
//! ([`BlockWork::sort`]); then each part, on a thread of its own, observes its events of every block, block
//! after block, in the trace's order, where the sorting thread left them ([`BlockWork::observe`]). A thread
//! whose next block is not ready, or that has no part, decodes the next one. No event is copied from one thread
//! to another, which a single reading thread handing events out cannot avoid.
//!
//! `analysis.rs`: `analyze`'s engines, one part per thread, each a share of the keys. `curve.rs`: `mrc`'s
//! sampled curve, one part, every thread decoding and sorting out the events of keys outside the sample.

pub mod analysis;
pub mod curve;

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use anyhow::Result;
use cachescope_trace::{Block, TraceError, TraceReader};
use indicatif::ProgressBar;

use super::{Skip, warn_cut_short, with_hint};

/// What threads do with a trace in blocks.
pub trait BlockWork: Sync {
    /// A block's events, sorted for the parts.
    type Sorted: Default + Send + Sync;
    /// What each thread keeps of its own while it sorts blocks.
    type Sorter: Send;
    /// What observes one part's events (an engine).
    type Part: Send;

    /// Decodes `block` and sorts its events into `sorted` (emptied first). False stops every thread: the trace
    /// cannot be worked on in blocks.
    fn sort(&self, sorter: &mut Self::Sorter, block: &Block, sorted: &mut Self::Sorted) -> Result<bool, TraceError>;

    /// Observes part `index`'s events of a block, after the blocks before.
    fn observe(&self, part: &mut Self::Part, index: usize, block: &Block, sorted: &Self::Sorted);
}

/// How a run ended.
pub enum Worked<W: BlockWork> {
    /// Every block observed: the parts, and whether the trace was cut short (and read up to the cut).
    Done { parts: Vec<W::Part>, cut_short: bool },
    /// [`BlockWork::sort`] said a block cannot be worked on in blocks.
    Stopped,
}

/// Blocks decoded or being decoded, at most, per thread: enough that no thread waits for another's decoding,
/// while each block's memory (64 KiB of records, its sorted events) stays small.
const BLOCKS_PER_THREAD: usize = 4;

/// Runs `work` over the trace of `reader` (which [`TraceReader::has_blocks`]) on one thread per sorter, thread
/// `i` observing part `i` (with fewer parts than sorters, the other threads only decode). With `skip` other than
/// [`Skip::Stop`], a trace cut short ends at the cut, said in a warning.
pub fn run<W: BlockWork>(
    work: &W,
    reader: &mut TraceReader,
    parts: Vec<W::Part>,
    sorters: Vec<W::Sorter>,
    skip: Skip,
    bar: &ProgressBar,
) -> Result<Worked<W>> {
    assert!(parts.len() <= sorters.len(), "a thread for every part");
    let threads = sorters.len();
    let shared = Shared {
        ring: Mutex::new(Ring {
            slots: (0..BLOCKS_PER_THREAD * threads).map(|_| Slot::Free).collect(),
            spare: (0..threads).map(|_| Vec::new()).collect(),
            next_read: 0,
            reading: false,
            end: None,
            cut_short: false,
            stop: None,
        }),
        changed: Condvar::new(),
        reader: Mutex::new(reader),
        parts: parts.len(),
        work,
        skip,
        bar,
    };
    let mut parts = parts.into_iter();
    let results: Vec<std::thread::Result<Left<W>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = sorters
            .into_iter()
            .enumerate()
            .map(|(thread, sorter)| {
                let (shared, part) = (&shared, parts.next());
                std::thread::Builder::new()
                    .name(format!("blocks {}", thread + 1))
                    .spawn_scoped(scope, move || worker(shared, thread, part, sorter))
                    .expect("the system starts a thread")
            })
            .collect();
        workers.into_iter().map(|worker| worker.join()).collect()
    });
    let ring = shared.ring.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
    match ring.stop {
        Some(Stop::Sorted) => return Ok(Worked::Stopped),
        Some(Stop::Failed(error)) => return Err(with_hint(error)),
        Some(Stop::Panicked) | None => {}
    }
    let mut parts = Vec::new();
    for result in results {
        let (part, _) = result.map_err(|_| anyhow::anyhow!("a thread reading the trace failed"))?;
        parts.extend(part);
    }
    bar.set_position(bar.length().unwrap_or(0));
    Ok(Worked::Done { parts, cut_short: ring.cut_short })
}

/// What a thread leaves when it is done: its part, if it had one, and its sorter.
type Left<W> = (Option<<W as BlockWork>::Part>, <W as BlockWork>::Sorter);

/// What the threads share: the blocks in flight and the file.
struct Shared<'a, W: BlockWork> {
    ring: Mutex<Ring<W::Sorted>>,
    /// Signalled when a block is ready, a slot is free, the file may be read, or the run ends.
    changed: Condvar,
    /// Read by one thread at a time ([`Ring::reading`]), so that blocks are numbered in the file's order.
    reader: Mutex<&'a mut TraceReader>,
    /// How many parts observe each block.
    parts: usize,
    work: &'a W,
    skip: Skip,
    bar: &'a ProgressBar,
}

struct Ring<S> {
    /// Block `n` is in slot `n % slots.len()`.
    slots: Vec<Slot<S>>,
    /// Blocks no thread needs any more, by the thread that sorted them, which fills them again: their memory
    /// stays in that thread's caches.
    spare: Vec<Vec<Sorted<S>>>,
    /// The number of the next block to read from the file.
    next_read: u64,
    /// A thread is reading the file.
    reading: bool,
    /// The number of blocks, once the file has ended.
    end: Option<u64>,
    /// The file ended inside a block, and the blocks before were read.
    cut_short: bool,
    stop: Option<Stop>,
}

/// A block and its events sorted for the parts.
#[derive(Default)]
struct Sorted<S> {
    block: Block,
    sorted: S,
    /// The thread that sorted it.
    owner: usize,
}

enum Slot<S> {
    Free,
    /// Being read and sorted.
    Taken,
    /// Block `seq`, sorted; `left` parts have still to observe it.
    Ready {
        seq: u64,
        sorted: Arc<Sorted<S>>,
        left: usize,
    },
}

/// Why the threads stopped before the end of the file.
enum Stop {
    Failed(TraceError),
    /// [`BlockWork::sort`] returned false.
    Sorted,
    Panicked,
}

impl<W: BlockWork> Shared<'_, W> {
    fn lock(&self) -> MutexGuard<'_, Ring<W::Sorted>> {
        self.ring.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn wait<'g>(&self, ring: MutexGuard<'g, Ring<W::Sorted>>) -> MutexGuard<'g, Ring<W::Sorted>> {
        self.changed.wait(ring).unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn stop(&self, ring: &mut Ring<W::Sorted>, why: Stop) {
        ring.stop.get_or_insert(why);
        self.changed.notify_all();
    }
}

/// Stops the other threads if this one panics, rather than leaving them waiting for its part.
struct PanicGuard<'s, 'a, W: BlockWork>(&'s Shared<'a, W>);

impl<W: BlockWork> Drop for PanicGuard<'_, '_, W> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop(&mut self.0.lock(), Stop::Panicked);
        }
    }
}

/// One thread: observes its part of each block in order, if it has one, and reads and sorts the next block
/// whenever its own next one is not ready.
fn worker<W: BlockWork>(
    shared: &Shared<'_, W>,
    thread: usize,
    mut part: Option<W::Part>,
    mut sorter: W::Sorter,
) -> Left<W> {
    let _guard = PanicGuard(shared);
    let mut next = 0u64;
    let mut ring = shared.lock();
    let slots = ring.slots.len() as u64;
    loop {
        let done = match part {
            Some(_) => ring.end == Some(next),
            None => ring.end.is_some(),
        };
        if ring.stop.is_some() || done {
            return (part, sorter);
        }
        let slot = (next % slots) as usize;
        if let Some(part) = part.as_mut()
            && let Slot::Ready { seq, sorted, .. } = &ring.slots[slot]
            && *seq == next
        {
            let sorted = Arc::clone(sorted);
            drop(ring);
            shared.work.observe(part, thread, &sorted.block, &sorted.sorted);
            drop(sorted);
            ring = shared.lock();
            release(&mut ring, slot);
            shared.changed.notify_all();
            next += 1;
            continue;
        }
        let free = (ring.next_read % slots) as usize;
        if !ring.reading && ring.end.is_none() && matches!(ring.slots[free], Slot::Free) {
            ring = read_and_sort(shared, ring, free, thread, &mut sorter);
            continue;
        }
        ring = shared.wait(ring);
    }
}

/// Reads the file's next block into slot `free` and sorts it, without holding the lock while sorting.
fn read_and_sort<'g, W: BlockWork>(
    shared: &'g Shared<'_, W>,
    mut ring: MutexGuard<'g, Ring<W::Sorted>>,
    free: usize,
    thread: usize,
    sorter: &mut W::Sorter,
) -> MutexGuard<'g, Ring<W::Sorted>> {
    let seq = ring.next_read;
    ring.next_read += 1;
    ring.reading = true;
    ring.slots[free] = Slot::Taken;
    let mut sorted = ring.spare[thread].pop().unwrap_or_default();
    sorted.owner = thread;
    drop(ring);
    let read = {
        let mut reader = shared.reader.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let read = reader.next_block(&mut sorted.block);
        if seq % 16 == 0 {
            shared.bar.set_position(reader.progress().bytes_read());
        }
        read
    };
    // A trace cut short ends at the cut, when the user said to go on past bad data.
    let (read, cut_short) = match read {
        Err(error) if shared.skip != Skip::Stop && error.is_cut_short() => {
            warn_cut_short(&error, None);
            (Ok(false), true)
        }
        read => (read, false),
    };
    let mut ring = shared.lock();
    ring.reading = false;
    ring.cut_short |= cut_short;
    match read {
        Ok(true) => {
            shared.changed.notify_all();
            drop(ring);
            let outcome = shared.work.sort(sorter, &sorted.block, &mut sorted.sorted);
            let mut ring = shared.lock();
            match outcome {
                Ok(true) if shared.parts == 0 => {
                    ring.slots[free] = Slot::Free;
                    ring.spare[thread].push(sorted);
                    shared.changed.notify_all();
                }
                Ok(true) => {
                    let sorted = Arc::new(sorted);
                    ring.slots[free] = Slot::Ready { seq, sorted, left: shared.parts };
                    shared.changed.notify_all();
                }
                Ok(false) => shared.stop(&mut ring, Stop::Sorted),
                Err(error) => shared.stop(&mut ring, Stop::Failed(error)),
            }
            ring
        }
        Ok(false) => {
            ring.end = Some(seq);
            ring.slots[free] = Slot::Free;
            ring.spare[thread].push(sorted);
            shared.changed.notify_all();
            ring
        }
        Err(error) => {
            shared.stop(&mut ring, Stop::Failed(error));
            ring
        }
    }
}

/// A part is done with the block in `slot`: the last frees it for the next block.
fn release<S>(ring: &mut Ring<S>, slot: usize) {
    let Slot::Ready { left, .. } = &mut ring.slots[slot] else { unreachable!("a block observed is ready") };
    *left -= 1;
    if *left == 0
        && let Slot::Ready { sorted, .. } = std::mem::replace(&mut ring.slots[slot], Slot::Free)
        && let Ok(sorted) = Arc::try_unwrap(sorted)
    {
        ring.spare[sorted.owner].push(sorted);
    }
}

/// Writes `events` as a compact trace in blocks closed at `block_bytes`, for tests: small blocks have the
/// threads take turns often and the blocks in flight wrap around their slots many times.
#[cfg(test)]
fn trace_in_blocks(
    dir: &tempfile::TempDir,
    events: &[cachescope_core::OwnedEvent],
    block_bytes: usize,
) -> std::path::PathBuf {
    use cachescope_trace::TraceHeader;
    use cachescope_trace::compact::CompactWriter;
    let path = dir.path().join("t.cst");
    let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut writer = CompactWriter::with_blocks(file, &TraceHeader::default(), Some(block_bytes)).unwrap();
    events.iter().for_each(|event| writer.write(&event.as_event()).unwrap());
    std::io::Write::flush(&mut writer.finish().unwrap()).unwrap();
    path
}
