//! The models, policy by policy: each test plays a short script of commands and checks the answers.

use cachescope_core::{Command, ErrorKind, Event, FlushScope, Micros, Outcome, TtlChange, WriteCondition};

use super::*;

fn get(cache: &mut dyn CacheModel, time: Micros, key: &str) -> Outcome {
    cache.apply(&Event::read(time, key.as_bytes(), Outcome::Unobserved))
}

fn set(cache: &mut dyn CacheModel, time: Micros, key: &str, size: u32, ttl: TtlChange) -> Outcome {
    cache.apply(&Event::write(time, key.as_bytes(), ttl).with_value_size(size).with_outcome(Outcome::Unobserved))
}

#[test]
fn evicts_least_recently_used_first() {
    let mut cache = exact_lru(Some(300));
    for key in ["a", "b", "c"] {
        assert_eq!(set(&mut *cache, 0, key, 99, TtlChange::Persist), Outcome::Ok);
    }
    assert_eq!(get(&mut *cache, 1, "a"), Outcome::Hit);
    set(&mut *cache, 2, "d", 99, TtlChange::Persist);
    assert_eq!(get(&mut *cache, 3, "b"), Outcome::Miss, "b was least recently used");
    assert_eq!(get(&mut *cache, 3, "a"), Outcome::Hit);
    assert_eq!(get(&mut *cache, 3, "c"), Outcome::Hit);
    assert_eq!(get(&mut *cache, 3, "d"), Outcome::Hit);
    assert_eq!(cache.evictions(), 1);
    assert!(cache.used_bytes() <= 300);
}

#[test]
fn ttls_expire_and_free_room() {
    let mut cache = exact_lru(Some(200));
    set(&mut *cache, 0, "a", 99, TtlChange::ExpireIn(1_000));
    set(&mut *cache, 0, "b", 99, TtlChange::Persist);
    assert_eq!(get(&mut *cache, 999_999, "a"), Outcome::Hit);
    assert_eq!(get(&mut *cache, 1_000_000, "a"), Outcome::Miss);
    set(&mut *cache, 2_000_000, "c", 99, TtlChange::Persist);
    assert_eq!(get(&mut *cache, 2_000_000, "b"), Outcome::Hit, "the expired key made room, not b");
    assert_eq!(cache.evictions(), 0);
}

#[test]
fn keep_ttl_and_rewrites() {
    let mut cache = exact_lru(None);
    set(&mut *cache, 0, "a", 1, TtlChange::ExpireIn(1_000));
    set(&mut *cache, 500_000, "a", 1, TtlChange::Keep);
    assert_eq!(get(&mut *cache, 1_000_001, "a"), Outcome::Miss);
    set(&mut *cache, 0, "b", 1, TtlChange::ExpireIn(1_000));
    set(&mut *cache, 500_000, "b", 1, TtlChange::Persist);
    assert_eq!(get(&mut *cache, 5_000_000, "b"), Outcome::Hit);
}

#[test]
fn rewriting_keys_with_ttls_keeps_the_expiry_queue_small() {
    let mut cache = exact_lru(None);
    for round in 0..100_000u64 {
        set(&mut *cache, round, "a", 1, TtlChange::ExpireIn(3_600_000));
    }
    assert_eq!(get(&mut *cache, 100_001, "a"), Outcome::Hit);
}

#[test]
fn conditions_deletes_flushes_and_oversized_values() {
    let mut cache = exact_lru(Some(1_000));
    let nx = |key: &'static str| {
        Event {
            command: Command::Write(WriteCondition::IfAbsent),
            ..Event::write(0, key.as_bytes(), TtlChange::Persist)
        }
        .with_outcome(Outcome::Unobserved)
    };
    assert_eq!(cache.apply(&nx("a")), Outcome::Ok);
    assert_eq!(cache.apply(&nx("a")), Outcome::Miss);
    assert_eq!(cache.apply(&Event { command: Command::Delete, ..nx("a") }), Outcome::Ok);
    assert_eq!(get(&mut *cache, 0, "a"), Outcome::Miss);
    assert_eq!(set(&mut *cache, 0, "big", 5_000, TtlChange::Persist), Outcome::Error(ErrorKind::Oom));
    set(&mut *cache, 0, "x", 1, TtlChange::Persist);
    set(&mut *cache, 0, "y", 1, TtlChange::Persist);
    cache.apply(&Event::keyless(1, Command::Flush(FlushScope::Db)).with_db(1));
    assert_eq!(cache.len(), 2, "db 1 was empty");
    cache.apply(&Event::keyless(1, Command::Flush(FlushScope::All)));
    assert!(cache.is_empty());
    assert_eq!(cache.used_bytes(), 0);
}

/// Plays `script` on a cache of `policy` holding `capacity` unit-size objects and returns what the reads
/// answered (`h`, `m`) and the writes refused (`oom`), space-separated. Script steps: `@S` moves time to S
/// seconds, `+k` writes k without TTL, `+k~T` with a TTL of T seconds, `-k` deletes k, `k` reads it.
fn play(policy: &str, capacity: u64, script: &str) -> String {
    let config = ModelConfig::new(Some(capacity), policy.parse().unwrap()).unit_size(true);
    let mut cache = build(&config);
    let mut now: Micros = 0;
    let mut answers = Vec::new();
    for step in script.split_whitespace() {
        if let Some(seconds) = step.strip_prefix('@') {
            now = seconds.parse::<Micros>().unwrap() * 1_000_000;
        } else if let Some(write) = step.strip_prefix('+') {
            let (key, ttl) = match write.split_once('~') {
                Some((key, seconds)) => (key, TtlChange::ExpireIn(seconds.parse::<u64>().unwrap() * 1_000)),
                None => (write, TtlChange::Persist),
            };
            if let Outcome::Error(ErrorKind::Oom) = cache.apply(&Event::write(now, key.as_bytes(), ttl)) {
                answers.push("oom");
            }
        } else if let Some(key) = step.strip_prefix('-') {
            cache.apply(&Event { command: Command::Delete, ..Event::read(now, key.as_bytes(), Outcome::Unobserved) });
        } else {
            answers.push(match get(&mut *cache, now, step) {
                Outcome::Hit => "h",
                _ => "m",
            });
        }
        assert!(cache.used_bytes() <= capacity, "{policy}: over capacity after {step}");
    }
    answers.join(" ")
}

fn check(policy: &str, capacity: u64, script: &str, expected: &str) {
    assert_eq!(play(policy, capacity, script), expected, "{policy}, capacity {capacity}: {script}");
}

#[test]
fn exact_orders() {
    check("allkeys-lru-exact", 3, "+a +b +c a +d b a c d", "h m h h h");
    check("allkeys-fifo", 3, "+a +b +c a +d a b", "h m h");
    check("allkeys-lfu-exact", 3, "+a +b +c a a b +d c a b d", "h h h m h h h");
    // Only keys with a TTL go, in the same orders.
    check("volatile-lru-exact", 3, "+a +b~100 +c~100 b +d c a b", "h m h h");
    check("volatile-fifo", 3, "+a~100 +b +c~100 a +d a b c", "h m h h");
    check("volatile-lfu-exact", 3, "+a~100 +b~100 +c a a +d b a c", "h h m h h");
    check("volatile-ttl-exact", 3, "+a~30 +b~10 +c~20 +d a b c", "h m h");
}

#[test]
fn nothing_to_evict_refuses_the_write() {
    check("noeviction", 2, "+a +b +c c a -a +c c", "oom m h h");
    check("volatile-lru-exact", 2, "+a +b +c a", "oom h");
    check("volatile-lru", 2, "+a +b~100 +c +d b", "oom m");
}

#[test]
fn ttls_expire_in_every_model() {
    for policy in Policy::all() {
        check(&policy.to_string(), 10, "+a~1 +b @2 a b", "m h");
    }
}

#[test]
fn random_eviction_takes_one_of_the_candidates() {
    let answers = play("allkeys-random", 2, "+a +b +c a b c");
    assert!(["m h h", "h m h"].contains(&answers.as_str()), "{answers}");
    assert_eq!(play("volatile-random", 2, "+a +b~100 +c a b c"), "h m h");
}

#[test]
fn redis_lru_keeps_the_recently_used_on_a_clock_of_seconds() {
    // With no more keys than samples, Redis sees every key: exact, to the second.
    check("allkeys-lru", 3, "+a @1 +b @2 +c @3 a @4 +d b a c d", "h m h h h");
    check("volatile-ttl", 3, "+a~30 +b~10 +c~20 +d a b c", "h m h");
}

#[test]
fn redis_lfu_counters_grow_and_decay() {
    // Read three times, `a` counts more than `b` and `c` (5): one of them goes.
    let answers = play("allkeys-lfu", 3, "+a a a a +b +c +d a b c d");
    assert!(answers.starts_with("h h h h") && answers.matches('m').count() == 1, "{answers}");
    // Five minutes idle take five off `a`'s counter (lfu-decay-time 1): it drops below a new key's 5 and goes.
    check("allkeys-lfu", 2, "+a a a a @300 +b @301 +c a b c", "h h h m h h");
}

#[test]
fn a_rewrite_may_evict_the_key_itself() {
    let mut cache = exact_lru(Some(100));
    assert_eq!(set(&mut *cache, 0, "a", 49, TtlChange::Persist), Outcome::Ok);
    assert_eq!(set(&mut *cache, 1, "b", 49, TtlChange::Persist), Outcome::Ok);
    // `a` grows to 60: `a` is the least recent, so its old value goes first, then `b`.
    assert_eq!(set(&mut *cache, 2, "a", 59, TtlChange::Persist), Outcome::Ok);
    assert_eq!(get(&mut *cache, 3, "a"), Outcome::Hit);
    assert_eq!(get(&mut *cache, 3, "b"), Outcome::Miss);
    assert!(cache.used_bytes() <= 100);
}

#[test]
fn read_through_requests() {
    let mut cache = build(&ModelConfig::new(Some(2), Policy::EXACT_LRU).unit_size(true));
    let hits: Vec<bool> = [1, 2, 1, 3, 1, 2].iter().map(|&id| cache.request(id, 4096, 0)).collect();
    assert_eq!(hits, [false, false, true, false, true, false]);
    assert_eq!(cache.evictions(), 2);
}

#[test]
fn the_journal_says_which_keys_the_cache_removed_and_why() {
    let id = |key: &str| cachescope_core::key_hash(0, key.as_bytes());
    let mut cache = exact_lru(Some(200));
    let mut journal = Vec::new();
    set(&mut *cache, 0, "before", 99, TtlChange::ExpireIn(1));
    cache.keep_journal();
    set(&mut *cache, 0, "a", 99, TtlChange::ExpireIn(1_000));
    set(&mut *cache, 0, "b", 99, TtlChange::Persist);
    cache.drain_journal(&mut journal);
    assert_eq!(journal, [(id("before"), Removal::Evicted)], "room for b");
    journal.clear();
    assert_eq!(get(&mut *cache, 1_000_000, "a"), Outcome::Miss);
    set(&mut *cache, 1_000_001, "c", 99, TtlChange::Persist);
    set(&mut *cache, 1_000_002, "d", 99, TtlChange::Persist);
    cache.drain_journal(&mut journal);
    assert_eq!(journal, [(id("a"), Removal::Expired), (id("b"), Removal::Evicted)]);
    journal.clear();
    cache.apply(&Event::keyless(2_000_000, Command::Flush(FlushScope::All)));
    cache.drain_journal(&mut journal);
    assert!(journal.is_empty(), "flushes and deletes are the caller's: it knows them");
}

#[test]
fn a_model_joining_a_running_cache_presumes_held_what_the_trace_never_changed() {
    let mut cache = build(&ModelConfig::new(Some(200), Policy::EXACT_LRU).start(Start::Running));
    assert_eq!(get(&mut *cache, 0, "old"), Outcome::Hit, "never mentioned: held before the trace");
    assert!(cache.presumed());
    assert_eq!(get(&mut *cache, 1, "old"), Outcome::Hit);
    assert_eq!(cache.len(), 0, "presumed keys take no room: their size is unknown");
    // Written, then evicted: gone for good.
    set(&mut *cache, 2, "a", 99, TtlChange::Persist);
    assert!(!cache.presumed());
    set(&mut *cache, 3, "b", 99, TtlChange::Persist);
    set(&mut *cache, 4, "c", 99, TtlChange::Persist);
    assert_eq!(get(&mut *cache, 5, "a"), Outcome::Miss);
    assert!(!cache.presumed());
    // Deleted: gone.
    cache.apply(&Event { command: Command::Delete, ..Event::read(6, b"old", Outcome::Unobserved) });
    assert_eq!(get(&mut *cache, 7, "old"), Outcome::Miss);
    // A flush of one database ends the presumption there only; a FLUSHALL everywhere.
    cache.apply(&Event::keyless(8, Command::Flush(FlushScope::Db)).with_db(1));
    assert_eq!(cache.apply(&Event::read(9, b"x", Outcome::Unobserved).with_db(1)), Outcome::Miss);
    assert_eq!(get(&mut *cache, 9, "y"), Outcome::Hit);
    cache.apply(&Event::keyless(10, Command::Flush(FlushScope::All)));
    assert_eq!(get(&mut *cache, 11, "z"), Outcome::Miss);

    let mut empty = exact_lru(Some(200));
    assert_eq!(get(&mut *empty, 0, "old"), Outcome::Miss, "an empty cache holds nothing");
    assert!(!empty.presumed());
}
