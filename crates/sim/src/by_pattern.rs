//! Figures kept by key pattern, for the simulator's reports. Keys are folded as the engine folds them; when the
//! folder learns that a position varies (`user:alice`, `user:bob` become `user:{id}`), the names known so far
//! are folded again and figures that now share a name are merged. At most `max` patterns, the rest under
//! `{other}`.

use std::collections::HashMap;

use foldhash::fast::FixedState;

use cachescope_core::pattern::{FoldConfig, PatternFolder};

pub const OTHER: &str = "{other}";

/// Figures that add up when two patterns turn out to be one.
pub trait Merge {
    fn merge(&mut self, other: Self);
}

/// Key patterns numbered in the order they appear: what [`ByPattern`] keeps its figures by, and what a replay
/// split over threads folds once, handing the numbers to the threads.
#[derive(Debug)]
pub struct PatternIndex {
    folder: PatternFolder,
    ids: HashMap<String, usize, FixedState>,
    names: Vec<String>,
    max: usize,
    /// The numbers of recently folded keys, by key hash: most requests are for keys seen a moment ago, and
    /// folding costs far more than a lookup. Entries of before the last refold (an older `generation`) are stale.
    recent: Vec<Recent>,
    generation: u32,
    /// The number of `{num}`, which every key that is a number alone has, as of a generation.
    number: Option<(usize, u32)>,
}

/// A key's pattern number, as of a generation of the numbering.
#[derive(Debug, Clone, Copy)]
struct Recent {
    hash: u64,
    id: u32,
    generation: u32,
}

/// Slots of [`PatternIndex::recent`]: a power of two.
const RECENT_SLOTS: usize = 1 << 14;

/// Where a key's pattern is.
#[derive(Debug, PartialEq, Eq)]
pub struct Indexed {
    pub id: usize,
    /// Learning merged patterns before this key: the number each pattern known so far has now (old to new).
    pub refold: Option<Vec<usize>>,
}

impl PatternIndex {
    pub fn new(fold: FoldConfig, max: usize) -> Self {
        PatternIndex {
            folder: PatternFolder::new(fold),
            ids: HashMap::default(),
            names: Vec::new(),
            max: max.max(1),
            recent: vec![Recent { hash: 0, id: 0, generation: u32::MAX }; RECENT_SLOTS],
            generation: 0,
            number: None,
        }
    }

    /// The number of `key`'s pattern (a new one gets the next number).
    pub fn index(&mut self, key: &[u8]) -> Indexed {
        let number = self.folder.is_number_alone(key);
        if number
            && let Some((id, generation)) = self.number
            && generation == self.generation
        {
            return Indexed { id, refold: None };
        }
        let hash = xxhash_rust::xxh3::xxh3_64(key);
        let slot = (hash as usize) & (RECENT_SLOTS - 1);
        let recent = self.recent[slot];
        if recent.hash == hash && recent.generation == self.generation {
            return Indexed { id: recent.id as usize, refold: None };
        }
        let id = self.id(key, true);
        let indexed = if self.folder.take_learned() {
            let map = self.refold();
            self.generation = self.generation.wrapping_add(1) % u32::MAX;
            Indexed { id: self.id(key, false), refold: Some(map) }
        } else {
            Indexed { id, refold: None }
        };
        self.recent[slot] = Recent { hash, id: indexed.id as u32, generation: self.generation };
        if number {
            self.number = Some((indexed.id, self.generation));
        }
        indexed
    }

    pub fn name(&self, id: usize) -> &str {
        &self.names[id]
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    fn id(&mut self, key: &[u8], learn: bool) -> usize {
        let folded = if learn { self.folder.fold(key) } else { self.folder.fold_known(key) };
        if let Some(&id) = self.ids.get(folded.pattern) {
            return id;
        }
        let name = if self.names.len() + 1 >= self.max { OTHER } else { folded.pattern };
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let name = name.to_string();
        self.names.push(name.clone());
        self.ids.insert(name, self.names.len() - 1);
        self.names.len() - 1
    }

    /// Folds the names again with what was learned; names that become one are merged. Returns where each old
    /// number went.
    fn refold(&mut self) -> Vec<usize> {
        let mut names: Vec<String> = Vec::with_capacity(self.names.len());
        let mut ids: HashMap<String, usize, FixedState> = HashMap::default();
        let mut map = Vec::with_capacity(self.names.len());
        for mut name in std::mem::take(&mut self.names) {
            if name != OTHER {
                name = self.folder.refold(&name).to_string();
            }
            let id = *ids.entry(name.clone()).or_insert_with(|| {
                names.push(name);
                names.len() - 1
            });
            map.push(id);
        }
        self.names = names;
        self.ids = ids;
        map
    }
}

/// Figures moved to the patterns they belong to after a refold (see [`Indexed::refold`]): those that now
/// share a pattern merged, in the order of the old numbers.
pub fn refold<T: Default + Merge>(figures: &mut Vec<T>, map: &[usize]) {
    let len = map.iter().map(|&id| id + 1).max().unwrap_or(0);
    let mut moved: Vec<T> = (0..len).map(|_| T::default()).collect();
    for (old, figures) in std::mem::take(figures).into_iter().enumerate() {
        if let Some(&new) = map.get(old) {
            moved[new].merge(figures);
        }
    }
    *figures = moved;
}

#[derive(Debug)]
pub struct ByPattern<T> {
    index: PatternIndex,
    figures: Vec<T>,
}

impl<T: Default + Merge> ByPattern<T> {
    pub fn new(fold: FoldConfig, max: usize) -> Self {
        ByPattern { index: PatternIndex::new(fold, max), figures: Vec::new() }
    }

    /// The figures of `key`'s pattern, and its name.
    pub fn entry(&mut self, key: &[u8]) -> (&str, &mut T) {
        let Indexed { id, refold: map } = self.index.index(key);
        if let Some(map) = map {
            refold(&mut self.figures, &map);
        }
        if id >= self.figures.len() {
            self.figures.resize_with(id + 1, T::default);
        }
        (self.index.name(id), &mut self.figures[id])
    }

    pub fn into_entries(mut self) -> Vec<(String, T)> {
        self.figures.resize_with(self.index.names.len(), T::default);
        self.index.names.into_iter().zip(self.figures).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default)]
    struct Count(u64);

    impl Merge for Count {
        fn merge(&mut self, other: Count) {
            self.0 += other.0;
        }
    }

    #[test]
    fn learned_names_merge_their_figures() {
        let mut counts: ByPattern<Count> =
            ByPattern::new(FoldConfig { learn_threshold: 3, ..FoldConfig::default() }, 10);
        for name in ["alice", "bob", "carol", "dave"] {
            counts.entry(format!("user:{name}").as_bytes()).1.0 += 1;
        }
        let entries: Vec<(String, u64)> = counts.into_entries().into_iter().map(|(n, c)| (n, c.0)).collect();
        assert_eq!(entries, [("user:{id}".to_string(), 4)]);
    }

    /// Keys that are numbers alone skip folding: they keep `{num}` when learning renumbers the patterns, and
    /// go under `{other}` as any key would once the patterns are full.
    #[test]
    fn numbers_alone_keep_their_pattern_through_refolds() {
        let mut index = PatternIndex::new(FoldConfig { learn_threshold: 3, ..FoldConfig::default() }, 10);
        let mut refolds = 0;
        for name in ["alice", "bob"] {
            index.index(format!("user:{name}").as_bytes());
        }
        let id = index.index(b"12").id;
        assert_eq!(index.name(id), "{num}");
        assert_eq!(index.names(), ["user:alice", "user:bob", "{num}"]);
        for (i, name) in ["carol", "dave", "erin"].iter().enumerate() {
            refolds += usize::from(index.index(format!("user:{name}").as_bytes()).refold.is_some());
            for number in [i, 1_000 + i, 7] {
                let id = index.index(number.to_string().as_bytes()).id;
                assert_eq!(index.name(id), "{num}", "after user:{name}");
            }
        }
        // Learning merged user:alice and user:bob, numbered before {num}: {num}'s number changed.
        assert_eq!(refolds, 1);
        assert_eq!(index.names(), ["user:{id}", "{num}"]);

        let mut full = PatternIndex::new(FoldConfig::default(), 2);
        full.index(b"a:x");
        for number in ["1", "22", "1"] {
            let id = full.index(number.as_bytes()).id;
            assert_eq!(full.name(id), OTHER);
        }
    }

    #[test]
    fn past_the_limit_patterns_go_under_other() {
        let mut counts: ByPattern<Count> = ByPattern::new(FoldConfig::default(), 3);
        for key in ["a:1", "b:1", "c:1", "d:1"] {
            counts.entry(key.as_bytes()).1.0 += 1;
        }
        let names: Vec<String> = counts.into_entries().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["a:{num}", "b:{num}", OTHER]);
    }
}
