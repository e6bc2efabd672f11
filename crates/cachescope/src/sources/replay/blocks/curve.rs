//! `mrc` with a sample (SHARDS) on a trace in blocks ([`super`]): every thread decodes blocks, hashes their keys
//! and sorts out the events of keys outside the sample, which change nothing but the count of reads; one thread
//! builds the curve from the others, and counts each read left out by the hash the sorting thread computed, in
//! its place (the distinct keys read are a HyperLogLog, whose estimate depends on the order of its inserts).
//! Decoding and hashing, most of the work when a sample follows a key in a hundred, are shared.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Result;
use cachescope_core::{Command, Micros, Removal, key_hash};
use cachescope_sim::mrc::{Mrc, MrcBuilder, SampleRange};
use cachescope_trace::{Block, TraceError, TraceReader};
use indicatif::ProgressBar;

use super::{BlockWork, Worked, run};
use crate::sources::replay::Skip;

/// The curve of the trace of `reader` (which [`TraceReader::has_blocks`]) built by `builder`, which samples,
/// with `threads` threads decoding, and whether the trace was cut short (and read up to the cut); None, the
/// trace untouched, if `builder` follows every key.
pub fn build(
    reader: &mut TraceReader,
    builder: MrcBuilder,
    threads: usize,
    skip: Skip,
    bar: &ProgressBar,
) -> Result<Option<(Mrc, bool)>> {
    let Some(range) = builder.sample_range() else { return Ok(None) };
    let work = SampledCurve { threshold: AtomicU64::new(builder.sample_threshold()) };
    let sorters = vec![range; threads.max(1)];
    let Worked::Done { mut parts, cut_short } = run(&work, reader, vec![builder], sorters, skip, bar)? else {
        unreachable!("a sample's events are all worked on in blocks")
    };
    Ok(Some((parts.pop().expect("the one part").finish(), cut_short)))
}

/// The sample's range as the builder last made it: it only narrows, so a thread that sorts with an older one
/// passes on more events than it needs to, never fewer.
struct SampledCurve {
    threshold: AtomicU64,
}

/// An event of a block for the builder.
#[derive(Clone, Copy)]
enum Entry {
    /// An event of a key the sample may follow: where its record is, its time, its key's hash.
    Event { at: u32, time: Micros, id: u64 },
    /// A read of a key outside the sample, by the hash it counts by.
    LeftOut(u64),
}

impl BlockWork for SampledCurve {
    type Sorted = Vec<Entry>;
    type Sorter = SampleRange;
    type Part = MrcBuilder;

    fn sort(&self, range: &mut SampleRange, block: &Block, sorted: &mut Vec<Entry>) -> Result<bool, TraceError> {
        range.narrow(self.threshold.load(Ordering::Relaxed));
        sorted.clear();
        block.decode_each(|at, event| {
            let id = key_hash(event.db, event.key);
            let entry = match event.command {
                Command::Flush(_) => Entry::Event { at, time: event.time, id },
                Command::Read => match range.left_out(id) {
                    Some(hash) => Entry::LeftOut(hash),
                    None => Entry::Event { at, time: event.time, id },
                },
                Command::Marker | Command::Removed(Removal::Evicted) => return,
                _ if range.may_track(id) => Entry::Event { at, time: event.time, id },
                _ => return,
            };
            sorted.push(entry);
        })?;
        Ok(true)
    }

    fn observe(&self, builder: &mut MrcBuilder, _: usize, block: &Block, sorted: &Vec<Entry>) {
        for &entry in sorted {
            match entry {
                Entry::Event { at, time, id } => {
                    let event = block.event_at(at, time).expect("a record decoded once decodes again");
                    builder.observe_hashed(&event, id);
                }
                Entry::LeftOut(hash) => builder.count_left_out(hash),
            }
        }
        self.threshold.store(builder.sample_threshold(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cachescope_core::pattern::FoldConfig;
    use cachescope_core::{Event, OwnedEvent, TtlChange};
    use cachescope_sim::mrc::{MrcConfig, Sampling};

    use super::super::trace_in_blocks;

    /// Reads, writes with and without TTLs, deletes, expiries the server reported and a flush, over 20,000 keys
    /// of two patterns.
    fn events() -> Vec<OwnedEvent> {
        let mut events = Vec::new();
        let mut state = 11u64;
        for time in 0..60_000u64 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let key =
                if state % 3 == 0 { format!("page:{}", state % 20_000) } else { format!("user:{}", state % 20_000) };
            let at = time * 1_000;
            let event = match state % 19 {
                _ if time == 40_000 => Event::keyless(at, Command::Flush(cachescope_core::FlushScope::All)),
                0 => Event::write(at, key.as_bytes(), TtlChange::ExpireIn(2_000)),
                1..=4 => Event::write(at, key.as_bytes(), TtlChange::Persist),
                5 => Event { command: Command::Delete, ..Event::write(at, key.as_bytes(), TtlChange::Keep) },
                6 => Event {
                    command: Command::Removed(Removal::Expired),
                    ..Event::write(at, key.as_bytes(), TtlChange::Keep)
                },
                _ => Event::read(at, key.as_bytes(), cachescope_core::Outcome::Hit),
            };
            events.push(OwnedEvent::from(&event.with_value_size((state % 500) as u32)));
        }
        events
    }

    fn config(sampling: Sampling, read_through: bool) -> MrcConfig {
        MrcConfig { sampling, unit_size: false, read_through, max_patterns: 10, fold: FoldConfig::default() }
    }

    /// The curves of a sample built from events sorted on other threads, over many small blocks, are the
    /// curves of one builder fed every event.
    #[test]
    fn every_thread_decoding_gives_one_builders_curves() {
        let dir = tempfile::tempdir().unwrap();
        let events = events();
        let path = trace_in_blocks(&dir, &events, 300);
        let sizes: Vec<u64> = (0..40).map(|i| 1u64 << (i / 2) << 8).collect();
        let figures = |mrc: &Mrc| {
            let patterns: Vec<_> =
                mrc.patterns.iter().map(|p| (p.pattern.clone(), p.reads, p.curve.points(&sizes))).collect();
            (mrc.reads, mrc.rate, mrc.tracked_keys, mrc.curve.points(&sizes), patterns)
        };
        for sampling in [Sampling::FixedRate(0.1), Sampling::FixedSize(300)] {
            for read_through in [false, true] {
                let mut one = MrcBuilder::new(config(sampling, read_through));
                events.iter().for_each(|event| one.observe(&event.as_event()));
                let expected = figures(&one.finish());
                assert!(expected.2 > 100, "{sampling:?}: {} keys sampled", expected.2);
                for threads in 1..=4 {
                    let mut reader = TraceReader::open(&path, None).unwrap();
                    let builder = MrcBuilder::new(config(sampling, read_through));
                    let (mrc, cut_short) =
                        build(&mut reader, builder, threads, Skip::Stop, &ProgressBar::hidden()).unwrap().unwrap();
                    assert_eq!(figures(&mrc), expected, "{sampling:?}, read-through {read_through}, {threads} threads");
                    assert!(!cut_short, "a whole trace");
                }
            }
        }
    }

    #[test]
    fn an_exact_curve_is_not_built_here() {
        let dir = tempfile::tempdir().unwrap();
        let path = trace_in_blocks(&dir, &[], 300);
        let mut reader = TraceReader::open(&path, None).unwrap();
        let builder = MrcBuilder::new(config(Sampling::Exact, false));
        assert!(build(&mut reader, builder, 2, Skip::Stop, &ProgressBar::hidden()).unwrap().is_none());
    }
}
