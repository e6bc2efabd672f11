//! Figures kept by key pattern, for the simulator's reports. Keys are folded as the engine folds them; when the
//! folder learns that a position varies (`user:alice`, `user:bob` become `user:{id}`), the names known so far
//! are folded again and figures that now share a name are merged. At most `max` patterns, the rest under
//! `{other}`.

use std::collections::HashMap;

use cachescope_core::pattern::{FoldConfig, PatternFolder};

pub const OTHER: &str = "{other}";

/// Figures that add up when two patterns turn out to be one.
pub trait Merge {
    fn merge(&mut self, other: Self);
}

#[derive(Debug)]
pub struct ByPattern<T> {
    folder: PatternFolder,
    ids: HashMap<String, usize>,
    entries: Vec<(String, T)>,
    max: usize,
}

impl<T: Default + Merge> ByPattern<T> {
    pub fn new(fold: FoldConfig, max: usize) -> Self {
        ByPattern { folder: PatternFolder::new(fold), ids: HashMap::new(), entries: Vec::new(), max: max.max(1) }
    }

    /// The figures of `key`'s pattern, and its name.
    pub fn entry(&mut self, key: &[u8]) -> (&str, &mut T) {
        let mut id = self.id(key, true);
        if self.folder.take_learned() {
            self.refold();
            id = self.id(key, false);
        }
        let (name, figures) = &mut self.entries[id];
        (name.as_str(), figures)
    }

    fn id(&mut self, key: &[u8], learn: bool) -> usize {
        let folded = if learn { self.folder.fold(key) } else { self.folder.fold_known(key) };
        if let Some(&id) = self.ids.get(folded.pattern) {
            return id;
        }
        let name = if self.entries.len() + 1 >= self.max { OTHER } else { folded.pattern };
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let name = name.to_string();
        self.entries.push((name.clone(), T::default()));
        self.ids.insert(name, self.entries.len() - 1);
        self.entries.len() - 1
    }

    fn refold(&mut self) {
        let mut merged: Vec<(String, T)> = Vec::with_capacity(self.entries.len());
        let mut ids: HashMap<String, usize> = HashMap::new();
        for (mut name, figures) in std::mem::take(&mut self.entries) {
            if name != OTHER {
                name = self.folder.refold(&name).to_string();
            }
            match ids.get(&name) {
                Some(&id) => merged[id].1.merge(figures),
                None => {
                    ids.insert(name.clone(), merged.len());
                    merged.push((name, figures));
                }
            }
        }
        self.entries = merged;
        self.ids = ids;
    }

    pub fn into_entries(self) -> Vec<(String, T)> {
        self.entries
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
