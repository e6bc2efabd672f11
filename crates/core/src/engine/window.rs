//! Counts of the current window, whole cache and per pattern, kept as events come so that a live source can
//! take them every few seconds without walking the key table: reads, hits, misses (and their causes, from the
//! tracked keys, weighted as the report's are), writes, refused writes, deletes.

use serde::{Deserialize, Serialize};

use crate::event::{FlushScope, Micros};
use crate::pattern::PatternId;
use crate::report::MissCause;

/// One window's counts of one series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowCounts {
    pub reads: u64,
    pub hits: u64,
    pub misses: u64,
    /// Misses by cause ([`MissCause::ALL`] order), weighted when keys are sampled: they add up to about the
    /// misses of the tracked keys.
    pub causes: [f64; MissCause::ALL.len()],
    pub writes: u64,
    pub write_errors: u64,
    pub deletes: u64,
}

impl WindowCounts {
    pub fn add(&mut self, other: &WindowCounts) {
        self.reads += other.reads;
        self.hits += other.hits;
        self.misses += other.misses;
        for (ours, theirs) in self.causes.iter_mut().zip(&other.causes) {
            *ours += theirs;
        }
        self.writes += other.writes;
        self.write_errors += other.write_errors;
        self.deletes += other.deletes;
    }

    /// Misses over reads that were answered; None without any.
    pub fn miss_ratio(&self) -> Option<f64> {
        let answered = self.hits + self.misses;
        (answered > 0).then(|| self.misses as f64 / answered as f64)
    }

    pub fn cause(&self, cause: MissCause) -> f64 {
        self.causes[cause.index()]
    }

    pub fn is_empty(&self) -> bool {
        *self == WindowCounts::default()
    }
}

/// What an event adds to a window's counts.
#[derive(Clone, Copy)]
pub(super) enum Counted {
    Hit,
    Miss,
    /// A read whose outcome is not known.
    Read,
    Write,
    WriteError,
    Delete,
}

impl Counted {
    #[inline(always)]
    pub(super) fn add_to(self, counts: &mut WindowCounts) {
        match self {
            Counted::Hit => {
                counts.reads += 1;
                counts.hits += 1;
            }
            Counted::Miss => {
                counts.reads += 1;
                counts.misses += 1;
            }
            Counted::Read => counts.reads += 1,
            Counted::Write => counts.writes += 1,
            Counted::WriteError => counts.write_errors += 1,
            Counted::Delete => counts.deletes += 1,
        }
    }
}

/// What happened between two takes.
#[derive(Debug, Clone, Default)]
pub struct Window {
    /// The time of the first and last events counted (event time); None when there were none.
    pub first_event: Option<Micros>,
    pub last_event: Option<Micros>,
    pub global: WindowCounts,
    /// The patterns with any count, by id (canonical at the time of the take).
    pub patterns: Vec<(PatternId, WindowCounts)>,
    /// Patterns merged since the last take (learned folding joined them): (old id, the id it now counts under).
    /// A series kept by pattern id moves its history to the new id.
    pub merged: Vec<(PatternId, PatternId)>,
    /// Flushes and restarts seen: (time, scope, database).
    pub flushes: Vec<(Micros, FlushScope, u32)>,
    /// Labelled markers seen (deploys): (time, label).
    pub labels: Vec<(Micros, String)>,
}

/// The counts being gathered.
#[derive(Debug, Default)]
pub(crate) struct WindowCounter {
    pub first_event: Option<Micros>,
    pub last_event: Option<Micros>,
    pub global: WindowCounts,
    /// By pattern id.
    pub patterns: Vec<WindowCounts>,
    pub merged: Vec<(PatternId, PatternId)>,
    pub flushes: Vec<(Micros, FlushScope, u32)>,
    pub labels: Vec<(Micros, String)>,
}

impl WindowCounter {
    #[inline]
    pub fn pattern(&mut self, id: PatternId) -> &mut WindowCounts {
        let index = id as usize;
        if index >= self.patterns.len() {
            self.patterns.resize(index + 1, WindowCounts::default());
        }
        &mut self.patterns[index]
    }

    #[inline]
    pub fn saw(&mut self, time: Micros) {
        self.first_event.get_or_insert(time);
        self.last_event = Some(time);
    }

    /// Moves `from`'s counts to `into`, and remembers the merge for the next take.
    pub fn merge(&mut self, from: PatternId, into: PatternId) {
        let moved = std::mem::take(self.pattern(from));
        self.pattern(into).add(&moved);
        self.merged.push((from, into));
    }

    /// The window so far; the counter starts over.
    pub fn take(&mut self) -> Window {
        let patterns = self
            .patterns
            .iter_mut()
            .enumerate()
            .filter(|(_, counts)| !counts.is_empty())
            .map(|(id, counts)| (id as PatternId, std::mem::take(counts)))
            .collect();
        Window {
            first_event: self.first_event.take(),
            last_event: self.last_event.take(),
            global: std::mem::take(&mut self.global),
            patterns,
            merged: std::mem::take(&mut self.merged),
            flushes: std::mem::take(&mut self.flushes),
            labels: std::mem::take(&mut self.labels),
        }
    }
}
