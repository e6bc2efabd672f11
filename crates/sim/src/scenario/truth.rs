//! Ground truth: why each key the simulated server lacks is missing, known from the server itself (the cache
//! model's journal of what it expired and evicted, and the deletes, flushes and refused writes the simulator
//! sent), never inferred from the traffic. Accuracy measurements compare the engine's attribution with it; the
//! engine never sees it.

use std::collections::HashMap;

use cachescope_core::{Command, Event, FlushScope, Micros, MissCause, Outcome, key_hash};
use foldhash::fast::FixedState;

use crate::model::{CacheModel, Removal};

#[derive(Debug, Clone, Copy)]
struct KeyTruth {
    db: u32,
    present: bool,
    /// When absent: why, and when that happened.
    cause: MissCause,
    since: Micros,
    /// An event of the key was recorded (from `recording_from` on).
    recorded: bool,
}

/// Why one miss happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissTruth {
    pub cause: MissCause,
    /// Whether the recording holds what explains it: the removal happened while recording, or the key was seen
    /// in the recording before (so a source that joined a running cache can know). Misses that are not
    /// explainable can only honestly be called `unknown`.
    pub explainable: bool,
}

/// The simulated server's keys, as far as why they are missing goes.
#[derive(Debug, Default)]
pub struct Truth {
    keys: HashMap<u64, KeyTruth, FixedState>,
    journal: Vec<(u64, Removal)>,
    recording_from: Micros,
}

impl Truth {
    /// Truth for a server whose traffic is recorded from `recording_from` on (0: from its start, empty).
    pub fn new(recording_from: Micros) -> Self {
        Truth { recording_from, ..Truth::default() }
    }

    /// Takes in `event`, just applied to `cache` with `outcome`, and returns the truth of a read miss. Call it
    /// after every event applied to the cache, in order.
    pub fn after(&mut self, cache: &mut dyn CacheModel, event: &Event<'_>, outcome: Outcome) -> Option<MissTruth> {
        let now = event.time;
        cache.drain_journal(&mut self.journal);
        for (id, removal) in self.journal.drain(..) {
            if let Some(key) = self.keys.get_mut(&id) {
                key.present = false;
                key.cause = match removal {
                    Removal::Expired => MissCause::Expired,
                    Removal::Evicted => MissCause::Evicted,
                };
                key.since = now;
            }
        }
        let recorded = now >= self.recording_from;
        match event.command {
            Command::Flush(scope) => {
                for key in self.keys.values_mut().filter(|k| k.present && (scope != FlushScope::Db || k.db == event.db))
                {
                    key.present = false;
                    key.cause = MissCause::Flushed;
                    key.since = now;
                }
                None
            }
            Command::Marker => None,
            Command::Read | Command::Write(_) | Command::Delete | Command::Expire => {
                let id = key_hash(event.db, event.key);
                let key = self.keys.entry(id).or_insert(KeyTruth {
                    db: event.db,
                    present: false,
                    cause: MissCause::NeverWritten,
                    since: 0,
                    recorded: false,
                });
                let seen_before = key.recorded;
                key.recorded |= recorded;
                match (event.command, outcome) {
                    (Command::Read, Outcome::Miss) => {
                        debug_assert!(!key.present, "the cache missed a key it holds");
                        let explainable = self.recording_from == 0
                            || seen_before
                            || (key.cause != MissCause::NeverWritten && key.since >= self.recording_from);
                        return Some(MissTruth { cause: key.cause, explainable });
                    }
                    (Command::Write(_), Outcome::Ok) => key.present = true,
                    (Command::Write(_), Outcome::Error(_)) if !key.present => {
                        key.cause = MissCause::FailedWrite;
                        key.since = now;
                    }
                    (Command::Delete, Outcome::Ok) => {
                        key.present = false;
                        key.cause = MissCause::Deleted;
                        key.since = now;
                    }
                    _ => {}
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cachescope_core::TtlChange;

    use super::*;
    use crate::model::exact_lru;

    /// Plays `script` (time, command, key) against a cache of three 100-byte objects and returns the truth of
    /// every miss, as `key=cause` (with `?` when not explainable).
    fn check(recording_from: Micros, script: &[(Micros, &str, &str)], expected: &str) {
        let mut cache = exact_lru(Some(330));
        cache.keep_journal();
        let mut truth = Truth::new(recording_from);
        let mut said = Vec::new();
        for &(time, command, key) in script {
            let event = match command {
                "get" => Event::read(time, key.as_bytes(), Outcome::Unobserved),
                "set" => Event::write(time, key.as_bytes(), TtlChange::Persist).with_value_size(98),
                "setex" => Event::write(time, key.as_bytes(), TtlChange::ExpireIn(1)).with_value_size(98),
                "del" => Event { command: Command::Delete, ..Event::read(time, key.as_bytes(), Outcome::Unobserved) },
                "flush" => Event::keyless(time, Command::Flush(FlushScope::All)),
                other => panic!("{other}"),
            };
            let outcome = cache.apply(&event);
            if let Some(miss) = truth.after(&mut *cache, &event, outcome) {
                said.push(format!("{key}={}{}", miss.cause.as_str(), if miss.explainable { "" } else { "?" }));
            }
        }
        assert_eq!(said.join(" "), expected);
    }

    #[test]
    fn every_cause_from_the_server_itself() {
        check(
            0,
            &[
                (0, "get", "a"),
                (1, "setex", "a"),
                (1, "set", "b"),
                (1, "set", "c"),
                (2_000, "get", "a"),
                (2_000, "set", "d"),
                (2_000, "set", "e"),
                (2_001, "get", "b"),
                (2_002, "del", "c"),
                (2_003, "get", "c"),
                (2_004, "flush", ""),
                (2_005, "get", "d"),
            ],
            "a=never_written a=expired b=evicted c=deleted d=flushed",
        );
    }

    #[test]
    fn what_happened_before_the_recording_is_not_explainable() {
        check(
            1_000,
            &[
                (0, "set", "a"),
                (0, "set", "b"),
                (10, "del", "a"),
                (1_000, "get", "a"),
                (1_001, "get", "a"),
                (1_002, "get", "never"),
                (1_003, "get", "never"),
                (1_004, "del", "b"),
                (1_005, "get", "b"),
            ],
            "a=deleted? a=deleted never=never_written? never=never_written b=deleted",
        );
    }
}
