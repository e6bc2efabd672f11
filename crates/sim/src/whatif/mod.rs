//! What-if: replays a trace through several cache models at once (the current settings and changed ones) and
//! counts, per run, the reads that hit, for the whole cache and per key pattern.
//!
//! A recorded trace holds the application's own reaction to each miss (the write that refills the key). When a
//! run misses where the recording hit, the application would have refilled the key: the run writes it back with
//! the size the read saw and the pattern's usual TTL. When a run hits where the recording missed, the refill in
//! the trace still happens: a rewrite of a key already there, which costs nothing. Request-only traces (block
//! traces) are read-through: every miss brings its object in.

mod change;
mod suggest;
pub mod tune;

pub use change::{BadSelector, Selector, Settings, TtlOverride};
pub use suggest::suggested_change;

use cachescope_core::pattern::FoldConfig;
use cachescope_core::{Command, ErrorKind, Event, Outcome, TtlChange, WriteCondition};

use crate::by_pattern::{Indexed, Merge, PatternIndex};
use crate::model::{CacheModel, build};

/// Reads and the hits among them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reads {
    pub reads: u64,
    pub hits: u64,
}

impl Reads {
    pub fn hit_ratio(&self) -> Option<f64> {
        (self.reads > 0).then(|| self.hits as f64 / self.reads as f64)
    }

    fn count(&mut self, hit: bool) {
        self.reads += 1;
        self.hits += u64::from(hit);
    }

    fn add(&mut self, other: Reads) {
        self.reads += other.reads;
        self.hits += other.hits;
    }
}

/// One pattern's figures while replaying.
#[derive(Debug, Default)]
struct PatternFigures {
    /// What the recording said, where it said it.
    observed: Reads,
    runs: Vec<Reads>,
    /// The TTL the application last wrote keys of this pattern with: refills get it.
    usual_ttl: Option<u64>,
}

impl Merge for PatternFigures {
    fn merge(&mut self, other: PatternFigures) {
        self.observed.add(other.observed);
        self.runs.resize(self.runs.len().max(other.runs.len()), Reads::default());
        for (ours, theirs) in self.runs.iter_mut().zip(other.runs) {
            ours.add(theirs);
        }
        self.usual_ttl = self.usual_ttl.or(other.usual_ttl);
    }
}

struct Run {
    settings: Settings,
    model: Box<dyn CacheModel>,
    reads: Reads,
    refused_writes: u64,
}

/// One run's results.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub settings: Settings,
    pub reads: Reads,
    pub evictions: u64,
    /// Writes the model refused (OOM: nothing it may evict).
    pub refused_writes: u64,
}

#[derive(Debug, Clone)]
pub struct PatternResult {
    pub pattern: String,
    pub observed: Reads,
    /// In the order of the runs.
    pub runs: Vec<Reads>,
}

#[derive(Debug, Clone)]
pub struct WhatIfResult {
    pub observed: Reads,
    pub runs: Vec<RunResult>,
    /// Most read first.
    pub patterns: Vec<PatternResult>,
}

/// A what-if on one thread: folds each key's pattern and plays every run.
pub struct WhatIf {
    patterns: PatternIndex,
    runs: Runs,
}

impl WhatIf {
    /// Runs for each of `settings`, in that order. `read_through`: the trace's misses bring their objects in.
    pub fn new(settings: Vec<Settings>, fold: FoldConfig, max_patterns: usize, read_through: bool) -> Self {
        WhatIf { patterns: PatternIndex::new(fold, max_patterns), runs: Runs::new(settings, read_through) }
    }

    pub fn observe(&mut self, event: &Event<'_>) {
        if matches!(event.command, Command::Flush(_) | Command::Marker) {
            self.runs.observe(event, 0, "");
            return;
        }
        let Indexed { id, refold } = self.patterns.index(event.key);
        if let Some(map) = refold {
            self.runs.refold(&map);
        }
        self.runs.observe(event, id, self.patterns.name(id));
    }

    pub fn finish(self) -> WhatIfResult {
        self.runs.finish(self.patterns.names())
    }
}

/// The runs of a what-if, fed each event with the number of its pattern (as a [`PatternIndex`] gives it, once
/// for all the threads that share the runs out) and the pattern's name, which selectors may name.
pub struct Runs {
    runs: Vec<Run>,
    /// By pattern number.
    patterns: Vec<PatternFigures>,
    observed: Reads,
    read_through: bool,
    /// The hashes last announced ([`Runs::prefetch`]), oldest next: their index buckets were asked for, and
    /// once [`HELD_LAG`] more have come, their entries are.
    announced: [Option<u64>; HELD_LAG],
    next_announced: usize,
}

/// Announcements between asking for a key's index bucket and asking for its entry, which the bucket names.
const HELD_LAG: usize = 4;

impl Runs {
    pub fn new(settings: Vec<Settings>, read_through: bool) -> Self {
        let runs = settings
            .into_iter()
            .map(|settings| Run { model: build(&settings.model), settings, reads: Reads::default(), refused_writes: 0 })
            .collect();
        Runs {
            runs,
            patterns: Vec::new(),
            observed: Reads::default(),
            read_through,
            announced: [None; HELD_LAG],
            next_announced: 0,
        }
    }

    /// Patterns were merged (see [`Indexed::refold`]): their figures too.
    pub fn refold(&mut self, map: &[usize]) {
        crate::by_pattern::refold(&mut self.patterns, map);
    }

    /// The keys held by the model that holds most.
    pub fn most_keys_held(&self) -> usize {
        self.runs.iter().map(|run| run.model.len()).max().unwrap_or(0)
    }

    /// The key with this hash comes a few events later: each model asks for what it will look at, in two
    /// steps: the key's index bucket now, and its entry [`HELD_LAG`] announcements later, when the bucket that
    /// says where the entry is has come.
    #[inline]
    pub fn prefetch(&mut self, hash: u64) {
        let earlier = self.announced[self.next_announced].replace(hash);
        self.next_announced = (self.next_announced + 1) % HELD_LAG;
        for run in &self.runs {
            run.model.prefetch(hash);
            if let Some(earlier) = earlier {
                run.model.prefetch_held(earlier);
            }
        }
    }

    /// Plays `event`, of pattern number `id` named `pattern` (both ignored for flushes and markers).
    pub fn observe(&mut self, event: &Event<'_>, id: usize, pattern: &str) {
        self.observe_hashed(event, cachescope_core::key_hash(event.db, event.key), id, pattern);
    }

    /// [`Runs::observe`] with the key's [`cachescope_core::key_hash`] known.
    pub fn observe_hashed(&mut self, event: &Event<'_>, hash: u64, id: usize, pattern: &str) {
        if matches!(event.command, Command::Flush(_) | Command::Marker) {
            for run in &mut self.runs {
                run.model.apply(event);
            }
            return;
        }
        if id >= self.patterns.len() {
            self.patterns.resize_with(id + 1, PatternFigures::default);
        }
        let figures = &mut self.patterns[id];
        figures.runs.resize(self.runs.len(), Reads::default());
        match (event.command, event.ttl) {
            (Command::Write(_), TtlChange::ExpireIn(ms)) => figures.usual_ttl = Some(ms),
            (Command::Write(_), TtlChange::Persist) => figures.usual_ttl = None,
            _ => {}
        }
        let observed_hit = match (event.command, event.outcome) {
            (Command::Read, Outcome::Hit) => Some(true),
            (Command::Read, Outcome::Miss) => Some(false),
            _ => None,
        };
        if let Some(hit) = observed_hit {
            self.observed.count(hit);
            figures.observed.count(hit);
        }
        for (index, run) in self.runs.iter_mut().enumerate() {
            let settings = &run.settings;
            let mut changed = *event;
            // Selectors are only looked at for what they change: writes, EXPIREs, refills.
            if matches!(event.command, Command::Write(_) | Command::Expire) {
                if matches!(event.command, Command::Write(_)) && !settings.is_cached(event.key, pattern) {
                    continue;
                }
                if event.ttl != TtlChange::Keep
                    && let Some(ms) = settings.ttl_for(event.key, pattern)
                {
                    changed.ttl = TtlChange::ExpireIn(ms);
                }
            }
            let outcome = run.model.apply_hashed(&changed, hash);
            match event.command {
                Command::Read => {
                    let hit = outcome == Outcome::Hit;
                    run.reads.count(hit);
                    figures.runs[index].count(hit);
                    let refill = !hit && (self.read_through || observed_hit == Some(true));
                    if refill && settings.is_cached(event.key, pattern) {
                        let ttl = match settings.ttl_for(event.key, pattern).or(figures.usual_ttl) {
                            Some(ms) => TtlChange::ExpireIn(ms),
                            None => TtlChange::Persist,
                        };
                        let fill = Event {
                            command: Command::Write(WriteCondition::Always),
                            ttl,
                            value_size: event.value_size,
                            ..*event
                        };
                        if run.model.apply_hashed(&fill, hash) == Outcome::Error(ErrorKind::Oom) {
                            run.refused_writes += 1;
                        }
                    }
                }
                Command::Write(_) if outcome == Outcome::Error(ErrorKind::Oom) => run.refused_writes += 1,
                _ => {}
            }
        }
    }

    /// The results, with the patterns' names by number.
    pub fn finish(mut self, names: &[String]) -> WhatIfResult {
        let runs_count = self.runs.len();
        self.patterns.resize_with(names.len(), PatternFigures::default);
        let mut patterns: Vec<PatternResult> = names
            .iter()
            .cloned()
            .zip(self.patterns)
            .map(|(pattern, mut figures)| {
                figures.runs.resize(runs_count, Reads::default());
                PatternResult { pattern, observed: figures.observed, runs: figures.runs }
            })
            .filter(|p| p.runs.iter().any(|r| r.reads > 0) || p.observed.reads > 0)
            .collect();
        patterns.sort_by(|a, b| {
            let reads = |p: &PatternResult| p.runs.first().map_or(0, |r| r.reads);
            reads(b).cmp(&reads(a)).then_with(|| a.pattern.cmp(&b.pattern))
        });
        WhatIfResult {
            observed: self.observed,
            runs: self
                .runs
                .into_iter()
                .map(|run| RunResult {
                    evictions: run.model.evictions(),
                    settings: run.settings,
                    reads: run.reads,
                    refused_writes: run.refused_writes,
                })
                .collect(),
            patterns,
        }
    }
}

#[cfg(test)]
mod tests;
