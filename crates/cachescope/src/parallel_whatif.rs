//! What-if runs on several threads: the runs' cache models are independent, so they split into groups, one
//! thread each, all fed the same events from one pass over the traffic. The reading thread folds each key's
//! pattern once for all of them and hands out batches that hold the events, their keys in one buffer and their
//! patterns' numbers. The result is the one a single [`WhatIf`] would give (every model is deterministic, and the
//! patterns come from one folder that saw every event in order).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::sync_channel;

use anyhow::{Result, anyhow};
use cachescope_core::pattern::FoldConfig;
use cachescope_core::{Command, Event};
use cachescope_sim::whatif::{PatternResult, Runs, Settings, WhatIf, WhatIfResult};

use crate::pattern_batches::{Batch, Item, Numbering, follow};

/// Batches waiting per thread, at most: the replay waits for the slowest thread rather than fill memory.
const QUEUE: usize = 16;

/// The threads worth using: one a core.
pub fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Keys a model holds past which the next keys' state is asked for ahead of use: its index and entries no
/// longer fit the processor's own caches (a few MiB).
const PREFETCH_PAST_KEYS: usize = 1 << 16;

/// Plays a batch into `runs`, keeping `names` (by number) up to date.
fn play_batch(batch: &Batch, runs: &mut Runs, names: &mut Vec<String>) {
    batch.for_each(runs.most_keys_held() > PREFETCH_PAST_KEYS, |item| match item {
        Item::Rename(rename) => follow(names, rename, |map| runs.refold(map)),
        Item::Event(event, pattern, hash) => {
            runs.observe_hashed(event, hash, pattern, names.get(pattern).map_or("", String::as_str))
        }
        Item::Ahead(hash) => runs.prefetch(hash),
    });
}

/// Plays `runs` over the events `replay` feeds, on up to `threads` threads.
pub fn play(
    runs: Vec<Settings>,
    fold: &FoldConfig,
    max_patterns: usize,
    read_through: bool,
    threads: usize,
    replay: impl FnOnce(&mut dyn FnMut(&Event<'_>)) -> Result<()>,
) -> Result<WhatIfResult> {
    let threads = threads.clamp(1, runs.len().max(1));
    if threads == 1 {
        let mut whatif = WhatIf::new(runs, fold.clone(), max_patterns, read_through);
        replay(&mut |event| whatif.observe(event))?;
        return Ok(whatif.finish());
    }
    // Run i goes to thread i % threads: the first thread has the baseline, and groups differ by one at most.
    let groups: Vec<Vec<usize>> = (0..threads).map(|t| (t..runs.len()).step_by(threads).collect()).collect();
    let results = std::thread::scope(|scope| -> Result<Vec<WhatIfResult>> {
        let mut senders = Vec::with_capacity(threads);
        let mut workers = Vec::with_capacity(threads);
        for group in &groups {
            let (sender, receiver) = sync_channel::<Arc<Batch>>(QUEUE);
            let mut played = Runs::new(group.iter().map(|&run| runs[run].clone()).collect(), read_through);
            workers.push(scope.spawn(move || {
                let mut names = Vec::new();
                for batch in receiver {
                    play_batch(&batch, &mut played, &mut names);
                }
                played.finish(&names)
            }));
            senders.push(sender);
        }
        let hand_out = |batch: Arc<Batch>| {
            for sender in &senders {
                // A thread that is gone panicked: joining it below says so.
                let _ = sender.send(batch.clone());
            }
        };
        let mut numbering = Numbering::new(fold, max_patterns);
        let replayed = replay(&mut |event| {
            let numbered = !matches!(event.command, Command::Flush(_) | Command::Marker);
            if let Some(batch) = numbering.push(event, numbered) {
                hand_out(batch);
            }
        });
        if replayed.is_ok()
            && let Some(batch) = numbering.rest()
        {
            hand_out(batch);
        }
        drop(senders);
        let results = workers
            .into_iter()
            .map(|worker| worker.join().map_err(|_| anyhow!("a simulation thread failed")))
            .collect::<Result<Vec<_>>>()?;
        replayed.map(|()| results)
    })?;
    Ok(merge(results, &groups, runs.len()))
}

/// One result from the groups' results, runs back in their order.
fn merge(results: Vec<WhatIfResult>, groups: &[Vec<usize>], run_count: usize) -> WhatIfResult {
    let observed = results[0].observed;
    let mut runs = vec![None; run_count];
    let mut patterns: Vec<PatternResult> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (result, group) in results.into_iter().zip(groups) {
        for (run, &slot) in result.runs.into_iter().zip(group) {
            runs[slot] = Some(run);
        }
        for pattern in result.patterns {
            let at = *index.entry(pattern.pattern.clone()).or_insert_with(|| {
                patterns.push(PatternResult {
                    pattern: pattern.pattern.clone(),
                    observed: pattern.observed,
                    runs: vec![Default::default(); run_count],
                });
                patterns.len() - 1
            });
            for (reads, &slot) in pattern.runs.into_iter().zip(group) {
                patterns[at].runs[slot] = reads;
            }
        }
    }
    patterns.sort_by(|a, b| {
        let reads = |p: &PatternResult| p.runs.first().map_or(0, |r| r.reads);
        reads(b).cmp(&reads(a)).then_with(|| a.pattern.cmp(&b.pattern))
    });
    WhatIfResult {
        observed,
        runs: runs.into_iter().map(|run| run.expect("every run belongs to a group")).collect(),
        patterns,
    }
}

#[cfg(test)]
mod tests {
    use cachescope_core::{Outcome, OwnedEvent, TtlChange};
    use cachescope_sim::whatif::{Selector, TtlOverride};
    use cachescope_sim::{ModelConfig, Policy};

    use super::*;

    /// Sessions read and written with short TTLs, pages with none, in a cache too small for all: every run of
    /// every policy and TTL, on one thread or three, gives the same figures, whole and per pattern.
    #[test]
    fn threads_change_nothing_in_the_result() {
        let mut events = Vec::new();
        for i in 0..60_000u64 {
            // Team names are words: the folder learns `team:{id}` part-way, merging the patterns it named before.
            let word: String = (0..3).map(|d| char::from(b'a' + ((i / 5 % 700) / 26u64.pow(d) % 26) as u8)).collect();
            let key = match i % 5 {
                0 | 3 => format!("session:{}", i % 500),
                4 => format!("team:{word}"),
                _ => format!("page:{}", (i * 7919) % 3_000),
            };
            let time = i * 1_000;
            let hit = i % 4 != 0;
            events.push(OwnedEvent::from(&Event::read(
                time,
                key.as_bytes(),
                if hit { Outcome::Hit } else { Outcome::Miss },
            )));
            if !hit {
                let ttl = if key.starts_with("session") { TtlChange::ExpireIn(2_000) } else { TtlChange::Persist };
                events.push(OwnedEvent::from(&Event::write(time + 1, key.as_bytes(), ttl)));
            }
        }
        let model = |policy| ModelConfig::new(Some(200_000), policy);
        let mut longer = Settings::new(model(Policy::EXACT_LRU));
        longer.ttls.push(TtlOverride { selector: Selector::parse("session:*").unwrap(), ttl_ms: 600_000 });
        // A pattern's name, known only once learned, selects too.
        longer.not_cached.push(Selector::parse("team:{id}").unwrap());
        let runs = vec![
            Settings::new(model(Policy::EXACT_LRU)),
            longer,
            Settings::new(model(Policy::REDIS_LRU)),
            Settings::new(ModelConfig::new(Some(2_000_000), Policy::EXACT_LRU)),
        ];
        let play_on = |threads| {
            play(runs.clone(), &FoldConfig::default(), 100, false, threads, |observe| {
                events.iter().for_each(|event| observe(&event.as_event()));
                Ok(())
            })
            .unwrap()
        };
        let (one, three) = (play_on(1), play_on(3));
        let figures = |result: &WhatIfResult| {
            let runs: Vec<_> = result.runs.iter().map(|r| (r.reads, r.evictions, r.refused_writes)).collect();
            let patterns: Vec<_> =
                result.patterns.iter().map(|p| (p.pattern.clone(), p.observed, p.runs.clone())).collect();
            (result.observed, runs, patterns)
        };
        assert_eq!(figures(&one), figures(&three));
        let names: Vec<&str> = one.patterns.iter().map(|p| p.pattern.as_str()).collect();
        assert_eq!(names, ["page:{num}", "session:{num}", "team:{id}"]);
        let team = &one.patterns[2];
        assert!(team.runs[1].hits < team.runs[0].hits, "not caching team:{{id}} in the second run: {team:?}");
        assert_ne!(one.runs[0].reads, one.runs[1].reads, "the runs differ, so that the order of runs is tested");
    }
}
