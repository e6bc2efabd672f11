//! Ground truth: why each key the simulated server lacks is missing, known from the server itself (the cache
//! model's journal of what it expired and evicted, and the deletes, flushes and refused writes the simulator
//! sent), never inferred from the traffic. Accuracy measurements compare the engine's attribution with it; the
//! engine never sees it.
//!
//! The cause of a miss is the latest event that removed the key, or would have removed it had it still been
//! there: a key evicted before its TTL ran out but read after it would have expired anyway (more memory would
//! not have kept it), and a key gone for any reason before a flush or a restart would have been emptied by it
//! (a longer TTL or more memory would not have kept it either).

use std::collections::HashMap;

use cachescope_core::{Command, Event, FlushScope, Micros, MissCause, Outcome, TtlChange, key_hash};
use foldhash::fast::FixedState;

use crate::model::{CacheModel, Removal};

#[derive(Debug, Clone, Copy)]
struct KeyTruth {
    db: u32,
    present: bool,
    /// When absent: why, and when that happened.
    cause: MissCause,
    since: Micros,
    /// The last write that stored a value, and when its TTL runs out (0: none): None before any.
    written: Option<(Micros, Micros)>,
    /// An event of the key was recorded (from `recording_from` on).
    recorded: bool,
    /// A recorded event showed the key present (a hit, a stored write).
    recorded_present: bool,
    /// The flush that emptied it was a restart.
    by_restart: bool,
}

/// Why one miss happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissTruth {
    pub cause: MissCause,
    /// Whether the recording holds what explains it, so that a source that joined a running cache can know:
    /// for an expiry or an eviction, the key's last write; for a flush, the flush and an earlier event showing
    /// the key present (a hit, a write); for a delete or a refused write, that event; for a key never written, an earlier miss of it.
    /// Everything is explainable in a recording that starts with the server. Misses that are not can only
    /// honestly be called `unknown`.
    pub explainable: bool,
    /// A `flushed` miss whose flush was a server restart (which traces of requests alone do not show).
    pub by_restart: bool,
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
                let emptied = |k: &KeyTruth| k.written.is_some() && (scope != FlushScope::Db || k.db == event.db);
                for key in self.keys.values_mut().filter(|k| emptied(k)) {
                    key.present = false;
                    key.cause = MissCause::Flushed;
                    key.since = now;
                    key.by_restart = scope == FlushScope::Restart;
                }
                None
            }
            Command::Marker | Command::Removed(_) => None,
            Command::Read | Command::Write(_) | Command::Delete | Command::Expire => {
                let id = key_hash(event.db, event.key);
                let key = self.keys.entry(id).or_insert(KeyTruth {
                    db: event.db,
                    present: false,
                    cause: MissCause::NeverWritten,
                    since: 0,
                    written: None,
                    recorded: false,
                    recorded_present: false,
                    by_restart: false,
                });
                let seen_before = key.recorded;
                let seen_present = key.recorded_present;
                key.recorded |= recorded;
                if recorded && matches!(outcome, Outcome::Hit)
                    || recorded && matches!(event.command, Command::Write(_)) && outcome == Outcome::Ok
                {
                    key.recorded_present = true;
                }
                match (event.command, outcome) {
                    (Command::Read, Outcome::Miss) => {
                        debug_assert!(!key.present, "the cache missed a key it holds");
                        if let (MissCause::Evicted, Some((_, expires_at))) = (key.cause, key.written)
                            && expires_at != 0
                            && expires_at <= now
                        {
                            key.cause = MissCause::Expired;
                        }
                        let from = self.recording_from;
                        let explainable = from == 0
                            || match key.cause {
                                MissCause::Expired | MissCause::Evicted => {
                                    key.written.is_some_and(|(at, _)| at >= from)
                                }
                                MissCause::Flushed => key.since >= from && seen_present,
                                MissCause::Deleted | MissCause::FailedWrite => key.since >= from,
                                MissCause::NeverWritten | MissCause::Unknown => seen_before,
                            };
                        let by_restart = key.cause == MissCause::Flushed && key.by_restart;
                        return Some(MissTruth { cause: key.cause, explainable, by_restart });
                    }
                    (Command::Write(_), Outcome::Ok) => {
                        key.present = true;
                        let expires_at = match event.ttl {
                            TtlChange::ExpireIn(ms) => now.saturating_add(ms.saturating_mul(1_000)),
                            TtlChange::Persist => 0,
                            TtlChange::Keep => key.written.map_or(0, |(_, at)| at),
                        };
                        key.written = Some((now, expires_at));
                    }
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
            "a=deleted? a=deleted? never=never_written? never=never_written b=deleted",
        );
    }

    #[test]
    fn the_latest_event_that_would_have_removed_the_key_is_the_cause() {
        check(
            0,
            &[
                // x is evicted before its TTL runs out, and read after: it would have expired anyway.
                (0, "setex", "x"),
                (0, "set", "a"),
                (0, "set", "b"),
                (0, "set", "c"),
                (2_000, "get", "x"),
                // y is evicted, then the server is flushed: more memory would not have kept it.
                (3_000, "set", "y"),
                (3_000, "set", "d"),
                (3_000, "set", "e"),
                (3_000, "set", "f"),
                (4_000, "flush", ""),
                (5_000, "get", "y"),
            ],
            "x=expired y=flushed",
        );
    }
}
