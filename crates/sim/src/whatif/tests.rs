//! What-if replays of small made-up traces whose answers are known.

use cachescope_core::{Event, Micros, Outcome, TtlChange};

use super::*;
use crate::model::{ModelConfig, Policy};

const SECOND: Micros = 1_000_000;

fn settings(capacity: Option<u64>) -> Settings {
    Settings::new(ModelConfig::new(capacity, Policy::EXACT_LRU).unit_size(true))
}

fn replay(events: &[Event<'_>], runs: Vec<Settings>, read_through: bool) -> WhatIfResult {
    let mut whatif = WhatIf::new(runs, FoldConfig::default(), 100, read_through);
    for event in events {
        whatif.observe(event);
    }
    whatif.finish()
}

fn hits(result: &WhatIfResult) -> Vec<u64> {
    result.runs.iter().map(|r| r.reads.hits).collect()
}

/// Sessions written with a 10 s TTL and read every minute (miss, refill), ten times, for 20 sessions.
fn short_ttl_sessions() -> Vec<Event<'static>> {
    let keys: Vec<&'static [u8]> =
        (0..20).map(|i| Box::leak(format!("session:{i}").into_boxed_str()).as_bytes()).collect();
    let mut events = Vec::new();
    for minute in 0..10u64 {
        for key in &keys {
            let t = minute * 60 * SECOND;
            events.push(Event::read(t, key, Outcome::Miss));
            events.push(Event::write(t + 1, key, TtlChange::ExpireIn(10_000)).with_outcome(Outcome::Ok));
        }
    }
    events
}

#[test]
fn a_longer_ttl_turns_expirations_into_hits() {
    let events = short_ttl_sessions();
    let mut longer = settings(None);
    longer.ttls.push(TtlOverride { selector: Selector::parse("session:*").unwrap(), ttl_ms: 600_000 });
    let result = replay(&events, vec![settings(None), longer], false);
    assert_eq!(result.observed, Reads { reads: 200, hits: 0 });
    // Each session misses once, then its refill lives ten minutes.
    assert_eq!(hits(&result), [0, 180]);
    assert_eq!(result.patterns[0].pattern, "session:{num}");
    assert_eq!(result.patterns[0].runs[1], Reads { reads: 200, hits: 180 });
}

#[test]
fn a_pattern_selector_works_like_a_glob() {
    let events = short_ttl_sessions();
    let mut longer = settings(None);
    longer.ttls.push(TtlOverride { selector: Selector::parse("session:{num}").unwrap(), ttl_ms: 600_000 });
    assert_eq!(hits(&replay(&events, vec![longer], false)), [180]);
}

#[test]
fn a_smaller_cache_misses_and_the_application_refills() {
    // 10 keys cached long ago and read in a cycle: all hits in the recording.
    let keys: Vec<String> = (0..10).map(|i| format!("k:{i}")).collect();
    let mut events: Vec<Event<'_>> =
        keys.iter().map(|k| Event::write(0, k.as_bytes(), TtlChange::Persist).with_outcome(Outcome::Ok)).collect();
    for round in 0..5u64 {
        for (i, key) in keys.iter().enumerate() {
            events.push(Event::read(1 + round * 10 + i as u64, key.as_bytes(), Outcome::Hit));
        }
    }
    let result = replay(&events, vec![settings(Some(10)), settings(Some(9)), settings(Some(5))], false);
    // Nine or five objects for a cycle of ten: LRU misses every read, and each miss refills its key.
    assert_eq!(hits(&result), [50, 0, 0]);
    assert!(result.runs[1].evictions >= 45, "{}", result.runs[1].evictions);
    // The refills keep a cycle of five of the ten keys hot enough once the cache is made to hold them all.
    let mut half = events.clone();
    half.retain(|e| e.key != b"k:5" && e.key != b"k:6" && e.key != b"k:7" && e.key != b"k:8" && e.key != b"k:9");
    assert_eq!(hits(&replay(&half, vec![settings(Some(5))], false)), [25]);
}

#[test]
fn keys_no_longer_cached_always_miss() {
    let events = short_ttl_sessions();
    let mut not_cached = settings(None);
    not_cached.not_cached.push(Selector::parse("session:*").unwrap());
    not_cached.ttls.push(TtlOverride { selector: Selector::parse("session:*").unwrap(), ttl_ms: 600_000 });
    assert_eq!(hits(&replay(&events, vec![not_cached], false)), [0]);
}

#[test]
fn request_only_traces_are_read_through() {
    let keys = [b"1", b"2", b"1", b"3", b"1", b"2"];
    let events: Vec<Event<'_>> =
        keys.iter().enumerate().map(|(t, k)| Event::read(t as Micros, *k, Outcome::Unobserved)).collect();
    let result = replay(&events, vec![settings(Some(2)), settings(Some(3))], true);
    assert_eq!(result.observed.reads, 0, "nothing was observed");
    assert_eq!(hits(&result), [2, 3]);
}

#[test]
fn noeviction_refuses_writes_that_do_not_fit() {
    let keys: Vec<String> = (0..10).map(|i| format!("k:{i}")).collect();
    let events: Vec<Event<'_>> =
        keys.iter().map(|k| Event::write(0, k.as_bytes(), TtlChange::Persist).with_outcome(Outcome::Ok)).collect();
    let full = Settings::new(ModelConfig::new(Some(4), Policy::NoEviction).unit_size(true));
    let result = replay(&events, vec![full], false);
    assert_eq!(result.runs[0].refused_writes, 6);
}

/// Keys announced ahead of their events, as a replay on several threads announces them (each model asks for the
/// key's index bucket, then its entry a few announcements later, keys held or not, some evicted and expired in
/// between), leave every run's figures as they were.
#[test]
fn keys_announced_ahead_change_nothing() {
    let keys: Vec<Vec<u8>> = (0..3_000).map(|i| format!("user:{i}").into_bytes()).collect();
    let mut state = 11u64;
    let events: Vec<Event<'_>> = (0..40_000u64)
        .map(|at| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let key = &keys[((state >> 24) % 3_000) as usize];
            match state % 5 {
                0 => Event::write(at * 1_000, key, TtlChange::ExpireIn(200))
                    .with_value_size(100)
                    .with_outcome(Outcome::Ok),
                1 => Event::write(at * 1_000, key, TtlChange::Persist).with_value_size(100).with_outcome(Outcome::Ok),
                _ => Event::read(at * 1_000, key, Outcome::Unobserved),
            }
        })
        .collect();
    let runs = || {
        ["allkeys-lru-exact", "allkeys-lru", "allkeys-lfu", "volatile-ttl"]
            .into_iter()
            .map(|policy| Settings::new(ModelConfig::new(Some(150_000), policy.parse().unwrap())))
            .collect::<Vec<_>>()
    };
    let play = |announce: bool| {
        let mut played = Runs::new(runs(), false);
        for (index, event) in events.iter().enumerate() {
            if announce && let Some(ahead) = events.get(index + 8) {
                played.prefetch(cachescope_core::key_hash(ahead.db, ahead.key));
            }
            played.observe(event, 0, "user:{num}");
        }
        played.finish(&["user:{num}".to_string()])
    };
    let (plain, announced) = (play(false), play(true));
    let figures = |result: &WhatIfResult| {
        result.runs.iter().map(|run| (run.reads, run.evictions, run.refused_writes)).collect::<Vec<_>>()
    };
    assert_eq!(figures(&announced), figures(&plain));
    assert!(plain.runs.iter().all(|run| run.evictions > 0 && run.reads.hits > 0), "{:?}", figures(&plain));
}
