//! Events handed from a reading thread to others with their keys' patterns already numbered: the reading thread
//! folds each key once ([`PatternIndex`]), and the threads that simulate (`whatif`'s runs, `mrc`'s stack) get
//! batches that hold the events, their keys in one buffer, their patterns' numbers, and what changed in the
//! numbering before each event. Whoever consumes a batch keeps the names by number from those changes.

use std::ops::Range;

use cachescope_core::Event;
use cachescope_core::pattern::FoldConfig;
use cachescope_sim::by_pattern::{Indexed, PatternIndex};

/// Events handed over at a time.
pub const BATCH: usize = 4096;

/// Events in order (see the module's documentation).
#[derive(Default)]
pub struct Batch {
    keys: Vec<u8>,
    /// The event (its key left empty), where its key is in `keys`, its pattern's number (0 when not numbered).
    events: Vec<(Event<'static>, Range<usize>, usize)>,
    /// Before event `.0`: a pattern got the next number, or patterns were merged.
    renames: Vec<(usize, Rename)>,
}

/// A change in the numbering of patterns.
pub enum Rename {
    /// A new pattern, numbered next.
    New(String),
    /// Patterns merged by learning: where each old number went, and the names now.
    Refold(Vec<usize>, Vec<String>),
}

impl Batch {
    fn push(&mut self, event: &Event<'_>, pattern: usize) {
        let start = self.keys.len();
        self.keys.extend_from_slice(event.key);
        self.events.push((Event { key: &[], ..*event }, start..self.keys.len(), pattern));
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Visits the events in order, each with its pattern's number, after the renames that come before it.
    pub fn for_each(&self, mut visit: impl FnMut(Item<'_>)) {
        let mut renames = self.renames.iter().peekable();
        for (at, (event, key, pattern)) in self.events.iter().enumerate() {
            while let Some((_, change)) = renames.next_if(|(before, _)| *before == at) {
                visit(Item::Rename(change));
            }
            visit(Item::Event(&Event { key: &self.keys[key.clone()], ..*event }, *pattern));
        }
    }
}

/// What [`Batch::for_each`] visits.
pub enum Item<'a> {
    Rename(&'a Rename),
    /// An event and its pattern's number.
    Event(&'a Event<'a>, usize),
}

/// Names by number, kept from the renames a consumer sees; `on_refold` is told of each merge first.
pub fn follow(names: &mut Vec<String>, rename: &Rename, mut on_refold: impl FnMut(&[usize])) {
    match rename {
        Rename::New(name) => names.push(name.clone()),
        Rename::Refold(map, now) => {
            on_refold(map);
            names.clone_from(now);
        }
    }
}

/// The reading thread's side: numbers the patterns and fills batches.
pub struct Numbering {
    patterns: PatternIndex,
    batch: Batch,
}

impl Numbering {
    pub fn new(fold: &FoldConfig, max_patterns: usize) -> Self {
        Numbering { patterns: PatternIndex::new(fold.clone(), max_patterns), batch: Batch::default() }
    }

    /// Adds `event`, numbering its key's pattern when `numbered` (not for flushes and markers, nor for what the
    /// consumer does not count by pattern). Returns a full batch, to be handed out.
    pub fn push(&mut self, event: &Event<'_>, numbered: bool) -> Option<Batch> {
        let mut pattern = 0;
        if numbered {
            let known = self.patterns.names().len();
            let Indexed { id, refold } = self.patterns.index(event.key);
            let at = self.batch.events.len();
            match refold {
                Some(map) => self.batch.renames.push((at, Rename::Refold(map, self.patterns.names().to_vec()))),
                None if self.patterns.names().len() > known => {
                    self.batch.renames.push((at, Rename::New(self.patterns.name(id).to_string())))
                }
                None => {}
            }
            pattern = id;
        }
        self.batch.push(event, pattern);
        (self.batch.len() >= BATCH).then(|| std::mem::take(&mut self.batch))
    }

    /// What is left: the last batch, if it holds events.
    pub fn rest(&mut self) -> Option<Batch> {
        (self.batch.len() > 0).then(|| std::mem::take(&mut self.batch))
    }
}
