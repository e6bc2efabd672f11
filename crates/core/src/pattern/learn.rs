//! Learned folding: a position of a key that takes many different values under one prefix is a variable part,
//! even when its values are not numbers or tokens (`user:alice`, `user:bob`, ... -> `user:{id}`).
//!
//! For every prefix of folded segments (`user:`), the learner keeps the hashes of the distinct literal values
//! seen right after it, up to a threshold. When a prefix reaches the threshold its position becomes variable:
//! from then on the position folds to `{id}`, and the engine merges the patterns learned before into the new one.
//! A second, quicker rule: under a prefix where at least [`MIN_SIBLINGS`] values folded to `{token}` or `{hex}`,
//! a literal of that shape folds to the same placeholder (a random token the static rule missed, say).
//! Memory is bounded: at most `max_prefixes` prefixes are watched, each with at most `threshold` hashes.

use std::collections::HashMap;

use foldhash::fast::FixedState;
use xxhash_rust::xxh3::xxh3_64;

use super::scan::{Learned, LearnedPositions};
use super::tokens::looks_like;

/// Placeholders seen under a prefix before a literal of their shape joins them.
pub const MIN_SIBLINGS: u32 = 20;

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Position {
    /// Hashes of the distinct literal values seen so far, until the position is variable.
    literals: Vec<u64>,
    variable: bool,
    /// The placeholder whole segments at this position folded to most recently, and how often in a row.
    #[serde(with = "placeholder_run")]
    sibling: Option<(&'static str, u32)>,
    /// The letters every token at this position began with so far, and how many tokens there were.
    glued: Option<(Vec<u8>, u32)>,
}

/// Letters a token must begin with, in every one of [`MIN_SIBLINGS`] tokens or more, to be a glued word: two
/// letters shared by twenty random tokens happen about never.
const MIN_GLUED_LETTERS: usize = 2;

impl Position {
    fn sibling_for(&self, value: &[u8]) -> Option<&'static str> {
        self.sibling.filter(|&(name, seen)| seen >= MIN_SIBLINGS && looks_like(name, value)).map(|(name, _)| name)
    }
}

/// A placeholder's name, written as itself and read back as the built-in name it is.
mod placeholder_run {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::pattern::tokens::PLACEHOLDERS;

    pub fn serialize<S: Serializer>(run: &Option<(&'static str, u32)>, serializer: S) -> Result<S::Ok, S::Error> {
        run.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<(&'static str, u32)>, D::Error> {
        let run: Option<(String, u32)> = Option::deserialize(deserializer)?;
        run.map(|(name, seen)| match PLACEHOLDERS.iter().find(|p| **p == name) {
            Some(known) => Ok((*known, seen)),
            None => Err(serde::de::Error::custom(format!("`{name}` is not a placeholder"))),
        })
        .transpose()
    }
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Learner {
    /// Distinct values after which a position is variable.
    threshold: usize,
    /// Bound on the number of prefixes watched.
    max_prefixes: usize,
    positions: HashMap<u64, Position, FixedState>,
    /// Set when a position became variable; the engine takes it to know when to merge patterns.
    #[serde(skip)]
    learned_something: bool,
}

impl Learner {
    pub fn new(threshold: usize, max_prefixes: usize) -> Self {
        Learner {
            threshold: threshold.max(2),
            max_prefixes,
            positions: HashMap::with_hasher(FixedState::default()),
            learned_something: false,
        }
    }

    /// Whether a position became variable since the last call.
    pub fn take_learned(&mut self) -> bool {
        std::mem::take(&mut self.learned_something)
    }

    fn learned_of(&self, prefix: &str) -> Learned<'_> {
        let Some(position) = self.positions.get(&xxh3_64(prefix.as_bytes())) else {
            return Learned::default();
        };
        let glued_word = match &position.glued {
            Some((word, seen)) if *seen >= MIN_SIBLINGS && word.len() >= MIN_GLUED_LETTERS => Some(&word[..]),
            _ => None,
        };
        let sibling = position.sibling.filter(|&(_, seen)| seen >= MIN_SIBLINGS).map(|(name, _)| name);
        Learned { sibling, glued_word }
    }

    fn apply(&self, prefix: &str, value: &[u8]) -> Option<&'static str> {
        let position = self.positions.get(&xxh3_64(prefix.as_bytes()))?;
        position.sibling_for(value).or(position.variable.then_some("id"))
    }

    /// Adds what another learner saw (a shard's, over other keys of the same trace): a position is variable
    /// when it was in either, or when their distinct values together reach the threshold; runs of placeholders
    /// and the words glued to tokens add up. Returns whether a position became variable or learned a shape.
    pub fn merge(&mut self, other: &Learner) -> bool {
        let mut learned = false;
        for (&prefix, theirs) in &other.positions {
            let room = self.positions.len() < self.max_prefixes;
            let ours = match self.positions.get_mut(&prefix) {
                Some(ours) => ours,
                None if room => {
                    self.positions.insert(prefix, Position::default());
                    self.positions.get_mut(&prefix).expect("just inserted")
                }
                None => continue,
            };
            if !ours.variable {
                if theirs.variable {
                    ours.variable = true;
                } else {
                    for hash in &theirs.literals {
                        if !ours.literals.contains(hash) {
                            ours.literals.push(*hash);
                        }
                    }
                    ours.variable = ours.literals.len() >= self.threshold;
                }
                if ours.variable {
                    ours.literals = Vec::new();
                    learned = true;
                }
            }
            ours.sibling = match (ours.sibling, theirs.sibling) {
                (Some((a, n)), Some((b, m))) if a == b => Some((a, n.saturating_add(m))),
                (Some((a, n)), Some((b, m))) => Some(if m > n { (b, m) } else { (a, n) }),
                (ours, theirs) => ours.or(theirs),
            };
            learned |= ours.sibling.is_some_and(|(_, seen)| seen >= MIN_SIBLINGS);
            if let Some((word, count)) = &theirs.glued {
                match &mut ours.glued {
                    Some((ours_word, ours_count)) => {
                        let shared = ours_word.iter().zip(word).take_while(|(a, b)| a == b).count();
                        ours_word.truncate(shared);
                        *ours_count = ours_count.saturating_add(*count);
                    }
                    None => ours.glued = Some((word.clone(), *count)),
                }
            }
        }
        learned
    }

    /// A view that applies what was learned without learning more: used to re-fold known patterns.
    pub fn apply_only(&self) -> ApplyOnly<'_> {
        ApplyOnly(self)
    }
}

impl LearnedPositions for Learner {
    fn fold_literal(&mut self, prefix: &str, value: &[u8]) -> Option<&'static str> {
        let prefix_hash = xxh3_64(prefix.as_bytes());
        let room = self.positions.len() < self.max_prefixes;
        let position = match self.positions.get_mut(&prefix_hash) {
            Some(position) => position,
            None if room => self.positions.entry(prefix_hash).or_default(),
            None => return None,
        };
        if let Some(name) = position.sibling_for(value) {
            return Some(name);
        }
        if position.variable {
            return Some("id");
        }
        let value_hash = xxh3_64(value);
        if !position.literals.contains(&value_hash) {
            position.literals.push(value_hash);
        }
        if position.literals.len() >= self.threshold {
            position.variable = true;
            position.literals = Vec::new();
            self.learned_something = true;
            return Some("id");
        }
        None
    }

    fn saw_placeholder(&mut self, prefix: &str, name: &'static str, value: &[u8]) {
        let prefix_hash = xxh3_64(prefix.as_bytes());
        if self.positions.len() >= self.max_prefixes && !self.positions.contains_key(&prefix_hash) {
            return;
        }
        let position = self.positions.entry(prefix_hash).or_default();
        let seen = match position.sibling {
            Some((last, seen)) if last == name => seen.saturating_add(1),
            _ => 1,
        };
        if seen == MIN_SIBLINGS {
            self.learned_something = true;
        }
        position.sibling = Some((name, seen));
        if name == "token" {
            let letters = &value[..value.iter().take_while(|b| b.is_ascii_alphabetic()).count().min(32)];
            let (word, count) = position.glued.get_or_insert_with(|| (letters.to_vec(), 0));
            let shared = word.iter().zip(letters).take_while(|(a, b)| a == b).count();
            word.truncate(shared);
            *count = count.saturating_add(1);
            if *count == MIN_SIBLINGS && word.len() >= MIN_GLUED_LETTERS {
                self.learned_something = true;
            }
        }
    }

    fn learned(&self, prefix: &str) -> Learned<'_> {
        self.learned_of(prefix)
    }
}

pub struct ApplyOnly<'a>(&'a Learner);

impl LearnedPositions for ApplyOnly<'_> {
    fn fold_literal(&mut self, prefix: &str, value: &[u8]) -> Option<&'static str> {
        self.0.apply(prefix, value)
    }

    fn saw_placeholder(&mut self, _prefix: &str, _name: &'static str, _value: &[u8]) {}

    fn learned(&self, prefix: &str) -> Learned<'_> {
        self.0.learned_of(prefix)
    }
}
