//! Events handed from a reading thread to others with their keys' patterns already numbered: the reading thread
//! folds each key once ([`PatternIndex`]), and the threads that simulate (`whatif`'s runs, `mrc`'s stack) get
//! batches that hold the events, their keys in one buffer, their patterns' numbers, and what changed in the
//! numbering before each event. Whoever consumes a batch keeps the names by number from those changes.

use std::collections::VecDeque;
use std::sync::Arc;

use cachescope_core::pattern::FoldConfig;
use cachescope_core::{Event, PackedEvents, key_hash};
use cachescope_sim::by_pattern::{Indexed, PatternIndex};

/// Events handed over at a time.
pub const BATCH: usize = 4096;
/// Batches handed out that the reading thread keeps, to fill again once every consumer is done with them: more
/// than the consumers' queues hold, so that the oldest is free by the time it is looked at.
const KEPT: usize = 32;

/// Events in order (see the module's documentation).
#[derive(Default)]
pub struct Batch {
    /// The events, each with its key's [`key_hash`] (computed here, on the reading thread, once for every
    /// consumer) and its pattern's number (0 when not numbered).
    events: PackedEvents<usize>,
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
    fn with_capacity() -> Self {
        Batch { events: PackedEvents::with_capacity(BATCH, BATCH * 16), renames: Vec::new() }
    }

    fn clear(&mut self) {
        self.events.clear();
        self.renames.clear();
    }

    fn is_full(&self, key_len: usize) -> bool {
        self.events.is_full(BATCH, key_len)
    }

    fn push(&mut self, event: &Event<'_>, pattern: usize) {
        self.events.push(event, key_hash(event.db, event.key), pattern);
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Visits the events in order, each with its pattern's number, after the renames that come before it, and,
    /// when `look_ahead`, each key's hash [`LOOKAHEAD`] events before its event (for a consumer to prefetch what
    /// it will look at: worth it when that is far larger than the processor's caches, a cost otherwise).
    pub fn for_each(&self, look_ahead: bool, mut visit: impl FnMut(Item<'_>)) {
        let mut renames = self.renames.iter().peekable();
        let len = self.events.len();
        if look_ahead {
            for at in 0..LOOKAHEAD.min(len) {
                visit(Item::Ahead(self.events.hash(at)));
            }
        }
        for at in 0..len {
            if look_ahead && at + LOOKAHEAD < len {
                visit(Item::Ahead(self.events.hash(at + LOOKAHEAD)));
            }
            while let Some((_, change)) = renames.next_if(|(before, _)| *before == at) {
                visit(Item::Rename(change));
            }
            let (event, hash, pattern) = self.events.get(at);
            visit(Item::Event(&event, pattern, hash));
        }
    }
}

/// How many events before its own the hash of a key is visited.
const LOOKAHEAD: usize = 8;

/// What [`Batch::for_each`] visits.
pub enum Item<'a> {
    Rename(&'a Rename),
    /// An event, its pattern's number and its key's [`key_hash`].
    Event(&'a Event<'a>, usize, u64),
    /// The [`key_hash`] of a key whose event comes a few items later.
    Ahead(u64),
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

/// The reading thread's side: numbers the patterns and fills batches. A batch handed out is shared by the
/// consumers; once they have all let it go, it is filled again (allocating and growing a batch each time cost
/// a tenth of the reading thread).
pub struct Numbering {
    patterns: PatternIndex,
    batch: Batch,
    /// The batches handed out, oldest first.
    handed: VecDeque<Arc<Batch>>,
}

impl Numbering {
    pub fn new(fold: &FoldConfig, max_patterns: usize) -> Self {
        Numbering {
            patterns: PatternIndex::new(fold.clone(), max_patterns),
            batch: Batch::with_capacity(),
            handed: VecDeque::with_capacity(KEPT),
        }
    }

    /// Adds `event`, numbering its key's pattern when `numbered` (not for flushes and markers, nor for what the
    /// consumer does not count by pattern). Returns the batch before, when it was full, to be handed out.
    #[inline]
    pub fn push(&mut self, event: &Event<'_>, numbered: bool) -> Option<Arc<Batch>> {
        let full = self.batch.is_full(event.key.len()).then(|| self.hand_out());
        let mut pattern = 0;
        if numbered {
            let known = self.patterns.names().len();
            let Indexed { id, refold } = self.patterns.index(event.key);
            let at = self.batch.len();
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
        full
    }

    /// What is left: the last batch, if it holds events.
    pub fn rest(&mut self) -> Option<Arc<Batch>> {
        (self.batch.len() > 0).then(|| self.hand_out())
    }

    /// The batch filled so far, shared; a free one (or a new one) takes its place.
    fn hand_out(&mut self) -> Arc<Batch> {
        let next = self.free_batch().unwrap_or_else(Batch::with_capacity);
        let full = Arc::new(std::mem::replace(&mut self.batch, next));
        if self.handed.len() >= KEPT {
            self.handed.pop_front();
        }
        self.handed.push_back(full.clone());
        full
    }

    /// The oldest batch handed out, emptied, if no consumer holds it any more.
    fn free_batch(&mut self) -> Option<Batch> {
        // Only this thread can add a holder, so a count of one stays one.
        if Arc::strong_count(self.handed.front()?) > 1 {
            return None;
        }
        let mut batch = Arc::into_inner(self.handed.pop_front()?)?;
        batch.clear();
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use cachescope_core::Outcome;

    use super::*;

    fn read(key: &str) -> Event<'_> {
        Event::read(0, key.as_bytes(), Outcome::Hit)
    }

    /// Batches come full, in order, with each event's key and pattern; once the consumers let one go, it is
    /// filled again rather than a new batch allocated, and one still held is not.
    #[test]
    fn batches_hold_the_events_and_are_filled_again_once_let_go() {
        let mut numbering = Numbering::new(&FoldConfig::default(), 10);
        let keys: Vec<String> =
            (0..BATCH * 4).map(|i| if i % 2 == 0 { format!("user:{i}") } else { i.to_string() }).collect();
        let (mut names, mut seen, mut memory, mut held) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut ahead_of_events = Vec::new();
        let mut consume = |batch: Arc<Batch>| {
            assert_eq!(batch.len(), BATCH);
            // Where the batch keeps its keys: a batch filled again keeps them where it did.
            memory.push(batch.events.get(0).0.key.as_ptr());
            batch.for_each(true, |item| match item {
                Item::Rename(rename) => follow(&mut names, rename, |_| {}),
                Item::Event(event, pattern, hash) => {
                    assert_eq!(hash, key_hash(0, event.key));
                    seen.push((String::from_utf8(event.key.to_vec()).unwrap(), names[pattern].clone()));
                    ahead_of_events.push(None);
                }
                Item::Ahead(hash) => ahead_of_events.push(Some(hash)),
            });
            // Without looking ahead, the same events and no hashes ahead of them.
            let mut plain = 0;
            batch.for_each(false, |item| match item {
                Item::Ahead(_) => panic!("a hash ahead when not looking ahead"),
                Item::Event(..) => plain += 1,
                Item::Rename(_) => {}
            });
            assert_eq!(plain, BATCH);
            // The consumer holds the third batch; it lets the others go.
            if memory.len() == 3 {
                held.push(batch);
            }
        };
        // A batch is handed out when the event after its last comes, or when the trace ends.
        for key in &keys {
            if let Some(batch) = numbering.push(&read(key), true) {
                consume(batch);
            }
        }
        consume(numbering.rest().expect("the last batch"));
        assert!(numbering.rest().is_none());
        let expected: Vec<(String, String)> = keys
            .iter()
            .map(|key| (key.clone(), if key.starts_with("user") { "user:{num}" } else { "{num}" }.to_string()))
            .collect();
        assert_eq!(seen, expected);
        // Each batch visits every key's hash, LOOKAHEAD events before its event: the first LOOKAHEAD at once.
        for batch in ahead_of_events.chunks(BATCH * 2) {
            let hashes: Vec<u64> = batch.iter().flatten().copied().collect();
            let events: Vec<usize> = (0..batch.len()).filter(|&at| batch[at].is_none()).collect();
            assert_eq!(hashes.len(), BATCH);
            for (index, &at) in events.iter().enumerate() {
                let announced = batch[..at].iter().flatten().count();
                assert_eq!(announced, (index + 1 + LOOKAHEAD).min(BATCH), "event {index} of a batch");
            }
        }
        // The first two alternate; the third, held, is not filled again: the fourth is the second's memory.
        assert_eq!(memory[2], memory[0]);
        assert_eq!(memory[3], memory[1]);
        assert_ne!(memory[3], memory[2]);
    }
}
