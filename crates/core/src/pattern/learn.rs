//! Learned folding: a position of a key that takes many different values under one prefix is a variable part,
//! even when its values are not numbers or tokens (`user:alice`, `user:bob`, ... -> `user:{id}`).
//!
//! For every prefix of folded segments (`user:`), the learner keeps the hashes of the distinct literal values
//! seen right after it, up to a threshold. When a prefix reaches the threshold its position becomes variable:
//! from then on the position folds to `{id}`, and the engine merges the patterns learned before into the new one.
//! Memory is bounded: at most `max_prefixes` prefixes are watched, each with at most `threshold` hashes.

use std::collections::HashMap;

use foldhash::fast::FixedState;
use xxhash_rust::xxh3::xxh3_64;

use super::scan::LearnedPositions;

#[derive(Debug)]
enum Position {
    /// Still counting: the hashes of the distinct values seen so far.
    Learning(Vec<u64>),
    Variable,
}

#[derive(Debug)]
pub struct Learner {
    /// Distinct values after which a position is variable.
    threshold: usize,
    /// Bound on the number of prefixes watched.
    max_prefixes: usize,
    positions: HashMap<u64, Position, FixedState>,
    /// Set when a position became variable; the engine takes it to know when to merge patterns.
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

    fn is_variable(&self, prefix: &str) -> bool {
        matches!(
            self.positions.get(&xxh3_64(prefix.as_bytes())),
            Some(Position::Variable)
        )
    }

    /// A view that applies what was learned without learning more: used to re-fold known patterns.
    pub fn apply_only(&self) -> ApplyOnly<'_> {
        ApplyOnly(self)
    }
}

impl LearnedPositions for Learner {
    fn fold_literal(&mut self, prefix: &str, value: &[u8]) -> bool {
        let prefix_hash = xxh3_64(prefix.as_bytes());
        let value_hash = xxh3_64(value);
        if let Some(position) = self.positions.get_mut(&prefix_hash) {
            return match position {
                Position::Variable => true,
                Position::Learning(seen) => {
                    if !seen.contains(&value_hash) {
                        seen.push(value_hash);
                    }
                    if seen.len() >= self.threshold {
                        *position = Position::Variable;
                        self.learned_something = true;
                        true
                    } else {
                        false
                    }
                }
            };
        }
        if self.positions.len() < self.max_prefixes {
            self.positions
                .insert(prefix_hash, Position::Learning(vec![value_hash]));
        }
        false
    }
}

pub struct ApplyOnly<'a>(&'a Learner);

impl LearnedPositions for ApplyOnly<'_> {
    fn fold_literal(&mut self, prefix: &str, _value: &[u8]) -> bool {
        self.0.is_variable(prefix)
    }
}
