//! Miss attribution on hand-built event sequences whose answer is known.
//!
//! Scripts have one event per line: `SECONDS COMMAND [KEY] [OUTCOME] [ttl=SECONDS|persist|keep] [db=N] [node=N]`,
//! with commands `get`, `set`, `setnx`, `del`, `expire`, `flushdb`, `flushall`, `restart`, `marker`, and what the
//! server says it removed: `expired`, `evicted`.

use crate::event::{
    Command, ErrorKind, Event, FlushScope, MICROS_PER_SEC, Outcome, Removal, TtlChange, WriteCondition,
};
use crate::report::{MissCause, MissCauses, Report};

use super::{Engine, EngineConfig, InitialState};

pub(crate) fn run_script(config: EngineConfig, script: &str) -> Report {
    let mut engine = Engine::new(config);
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("//")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let time = (words[0].parse::<f64>().expect("seconds") * MICROS_PER_SEC as f64) as u64;
        let command = match words[1] {
            "get" => Command::Read,
            "set" => Command::Write(WriteCondition::Always),
            "setnx" => Command::Write(WriteCondition::IfAbsent),
            "del" => Command::Delete,
            "expire" => Command::Expire,
            "flushdb" => Command::Flush(FlushScope::Db),
            "flushall" => Command::Flush(FlushScope::All),
            "restart" => Command::Flush(FlushScope::Restart),
            "marker" => Command::Marker,
            "expired" => Command::Removed(Removal::Expired),
            "evicted" => Command::Removed(Removal::Evicted),
            other => panic!("unknown command {other}"),
        };
        let mut event = Event::keyless(time, command);
        let mut rest = &words[2..];
        if !matches!(command, Command::Flush(_)) {
            event.key = rest[0].as_bytes();
            rest = &rest[1..];
        }
        for word in rest {
            match *word {
                "hit" => event.outcome = Outcome::Hit,
                "miss" => event.outcome = Outcome::Miss,
                "ok" => event.outcome = Outcome::Ok,
                "oom" => event.outcome = Outcome::Error(ErrorKind::Oom),
                "err" => event.outcome = Outcome::Error(ErrorKind::Other),
                "ttl=persist" => event.ttl = TtlChange::Persist,
                "ttl=keep" => event.ttl = TtlChange::Keep,
                w if w.starts_with("ttl=") => {
                    event.ttl = TtlChange::ExpireIn((w[4..].parse::<f64>().expect("ttl") * 1000.0) as u64)
                }
                w if w.starts_with("db=") => event.db = w[3..].parse().expect("db"),
                w if w.starts_with("node=") => event.node = w[5..].parse().expect("node"),
                w if w.starts_with("size=") => event.value_size = w[5..].parse().expect("size"),
                other => panic!("unknown word {other}"),
            }
        }
        if command == Command::Write(WriteCondition::Always) && !rest.iter().any(|w| w.starts_with("ttl=")) {
            event.ttl = TtlChange::Persist;
        }
        engine.observe(&event);
    }
    engine.report()
}

#[track_caller]
fn check_with(initial_state: InitialState, script: &str, expected: &[MissCause]) {
    let config = EngineConfig { initial_state, ..EngineConfig::default() };
    let report = run_script(config, script);
    let mut want = MissCauses::default();
    for &cause in expected {
        *want.get_mut(cause) += 1;
    }
    assert_eq!(report.summary.miss_causes, want, "script:\n{script}");
    assert_eq!(report.summary.misses, expected.len() as u64);
}

#[track_caller]
fn check(script: &str, expected: &[MissCause]) {
    check_with(InitialState::Empty, script, expected);
}

use MissCause::*;

#[test]
fn never_written() {
    check("0 get user:1 miss", &[NeverWritten]);
    check("0 get user:1 miss\n1 get user:1 miss", &[NeverWritten, NeverWritten]);
}

#[test]
fn unknown_before_observation_began() {
    check_with(InitialState::Unknown, "0 get user:1 miss", &[Unknown]);
    // Found missing and not written since: from then on nobody writes it.
    check_with(InitialState::Unknown, "0 get user:1 miss\n5 get user:1 miss", &[Unknown, NeverWritten]);
    // Seen present, then gone without a write, delete or flush seen: why is not known.
    check_with(InitialState::Unknown, "0 get user:1 hit\n5 get user:1 miss", &[Unknown]);
}

#[test]
fn expired() {
    check("0 set user:1 ok ttl=10\n5 get user:1 hit\n11 get user:1 miss", &[Expired]);
    // The TTL counts from the last write, not from reads.
    check("0 set user:1 ok ttl=10\n8 set user:1 ok ttl=10\n15 get user:1 hit", &[]);
    check("0 set user:1 ok ttl=10\n8 set user:1 ok ttl=10\n19 get user:1 miss", &[Expired]);
}

#[test]
fn expire_and_persist_change_the_ttl() {
    check("0 set user:1 ok\n1 expire user:1 ok ttl=5\n7 get user:1 miss", &[Expired]);
    check("0 set user:1 ok ttl=5\n1 expire user:1 ok ttl=persist\n7 get user:1 miss", &[Evicted]);
}

#[test]
fn evicted() {
    check("0 set user:1 ok\n100 get user:1 miss", &[Evicted]);
    check("0 set user:1 ok ttl=60\n10 get user:1 miss", &[Evicted]);
}

#[test]
fn deleted() {
    check("0 set user:1 ok\n1 del user:1 ok\n2 get user:1 miss", &[Deleted]);
    check("0 del user:1 ok\n2 get user:1 miss", &[Deleted]);
    check("0 set user:1 ok\n1 del user:1 ok\n2 set user:1 ok\n3 get user:1 hit", &[]);
}

#[test]
fn flushed_by_flushdb_flushall_and_restart() {
    check("0 set user:1 ok\n1 flushdb\n2 get user:1 miss", &[Flushed]);
    check("0 set user:1 ok\n1 flushall\n2 get user:1 miss", &[Flushed]);
    check("0 set user:1 ok\n1 restart\n2 get user:1 miss", &[Flushed]);
    // FLUSHDB empties only its database.
    check("0 set user:1 ok db=1\n1 flushdb db=2\n2 get user:1 miss db=1", &[Evicted]);
    // Written again after the flush: a later miss is not the flush's doing.
    check("0 set user:1 ok\n1 flushdb\n1 set user:1 ok ttl=1\n5 get user:1 miss", &[Expired]);
}

/// A node of a cluster holds its own keys: its restart empties those, not the other nodes'.
#[test]
fn a_restart_of_one_node_empties_that_node_only() {
    let script = "0 set a ok node=1\n0 set b ok node=2\n1 restart node=1\n2 get a miss node=1\n2 get b miss node=2";
    check(script, &[Flushed, Evicted]);
    // A restart of the whole server (node 0) empties every node's keys.
    check(
        "0 set a ok node=1\n0 set b ok node=2\n1 restart\n2 get a miss node=1\n2 get b miss node=2",
        &[Flushed, Flushed],
    );
    // A whole restart, then a node's: each key is judged by the latest that emptied it.
    check("0 set a ok node=1\n1 restart\n1 set a ok node=1\n2 restart node=2\n3 get a miss node=1", &[Evicted]);
}

/// The latest event that would have removed the key is the cause: a flush empties a key whether or not its TTL
/// had run out before (a longer TTL would not have kept it through the flush).
#[test]
fn a_flush_after_an_expiry_is_the_cause() {
    check("0 set k ok ttl=1\n60 flushall\n61 get k miss", &[Flushed]);
    check("0 set k ok ttl=100\n60 flushall\n61 get k miss", &[Flushed]);
}

#[test]
fn keepttl_on_a_key_already_gone_keeps_no_ttl() {
    // The key expired at 10 s; an HSET at 20 s recreates it without a TTL; missing at 100 s, it was evicted.
    check("0 set k ok ttl=10\n20 set k ok ttl=keep\n100 get k miss", &[Evicted]);
    // Still there at 5 s: KEEPTTL keeps the expiry at 10 s.
    check("0 set k ok ttl=10\n5 set k ok ttl=keep\n100 get k miss", &[Expired]);
    check("0 set k ok ttl=100\n1 flushall\n2 set k ok ttl=keep\n200 get k miss", &[Evicted]);
}

#[test]
fn a_hit_after_a_delete_means_an_unseen_write() {
    check("0 set k ok\n1 del k ok\n2 get k hit\n3 get k miss", &[Unknown]);
    check("0 set k ok ttl=100\n1 set k oom\n2 get k hit\n300 get k miss", &[Expired]);
}

#[test]
fn failed_write() {
    check("0 get user:1 miss\n0.1 set user:1 oom\n1 get user:1 miss", &[NeverWritten, FailedWrite]);
    check("0 set user:1 ok\n1 set user:1 err\n2 get user:1 hit", &[]);
    // A later successful write clears it.
    check("0 set user:1 err\n1 set user:1 ok ttl=1\n3 get user:1 miss", &[Expired]);
}

#[test]
fn a_cause_persists_until_the_key_is_written() {
    check(
        "0 set user:1 ok ttl=1\n2 get user:1 miss\n3 get user:1 miss\n3.1 set user:1 ok\n4 get user:1 hit",
        &[Expired, Expired],
    );
}

#[test]
fn conditional_writes_that_store_nothing_change_nothing() {
    check("0 setnx user:1 miss\n1 get user:1 miss", &[NeverWritten]);
}

#[test]
fn a_hit_on_a_key_believed_gone_corrects_the_belief() {
    check("0 set user:1 ok ttl=1\n2 get user:1 miss\n3 get user:1 hit\n4 get user:1 miss", &[Expired, Unknown]);
}

#[test]
fn sampled_causes_still_add_up_to_the_misses() {
    let mut script = String::new();
    for i in 0..20_000 {
        script.push_str(&format!("{} set k:{i} ok ttl=1\n", i as f64 * 0.001));
    }
    for i in 0..20_000 {
        script.push_str(&format!("{} get k:{i} miss\n", 100.0 + i as f64 * 0.001));
    }
    let config = EngineConfig { key_budget_bytes: 64 << 10, ..EngineConfig::default() };
    let report = run_script(config, &script);
    let sampling = report.notes.sampling.expect("sampled");
    assert!(sampling.rate < 0.25, "{sampling:?}");
    assert_eq!(report.summary.misses, 20_000);
    assert_eq!(report.summary.miss_causes.expired, 20_000);
}

#[test]
fn empty_input_gives_an_empty_report() {
    let report = run_script(EngineConfig::default(), "");
    assert_eq!(report.summary.reads, 0);
    assert_eq!(report.summary.hit_ratio, None);
    assert!(report.patterns.is_empty() && report.findings.is_empty());
}

/// Windows add up to the report, whole cache and per pattern, and announce the patterns merged meanwhile.
#[test]
fn windows_count_what_the_report_counts_and_announce_merges() {
    let mut engine = Engine::new(EngineConfig::default());
    let mut windows = Vec::new();
    let names: Vec<String> =
        (0..60).map(|i| format!("user:{}", ["alice", "bob", "carol", "dave"][i % 4].repeat(i / 4 + 1))).collect();
    for (i, name) in names.iter().enumerate() {
        let time = i as u64 * MICROS_PER_SEC;
        engine.observe(&Event::read(time, name.as_bytes(), Outcome::Miss));
        engine.observe(&Event::write(time + 1, name.as_bytes(), TtlChange::ExpireIn(1)).with_outcome(Outcome::Ok));
        engine.observe(&Event::read(time + 2, b"order:7", Outcome::Hit));
        if i % 10 == 9 {
            windows.push(engine.take_window());
        }
    }
    let report = engine.report();
    let total = windows.iter().fold(crate::WindowCounts::default(), |mut sum, w| {
        sum.add(&w.global);
        sum
    });
    assert_eq!((total.reads, total.hits, total.misses, total.writes), (120, 60, 60, 60));
    assert_eq!(total.reads, report.summary.reads);
    assert_eq!(total.cause(MissCause::NeverWritten), 60.0, "every miss is of a key never written before");
    // Learned folding joined the users' patterns into one: the windows say which ids moved where.
    let merged: Vec<_> = windows.iter().flat_map(|w| w.merged.iter().copied()).collect();
    assert!(!merged.is_empty(), "no merge announced");
    let users = merged.last().unwrap().1;
    assert_eq!(engine.pattern_name(users), "user:{id}");
    for (old, _) in &merged {
        assert_eq!(engine.pattern_name(*old), "user:{id}", "an old id names its pattern now");
    }
    let user_reads: u64 = windows
        .iter()
        .flat_map(|w| w.patterns.iter())
        .filter(|(id, _)| engine.pattern_name(*id) == "user:{id}")
        .map(|(_, c)| c.reads)
        .sum();
    assert_eq!(user_reads, 60);
    assert!(engine.take_window().global.is_empty(), "a take starts a new window");
}

#[test]
fn removals_the_server_reports_are_facts() {
    // Joining a running cache: a key never seen, expired or evicted by the server, then missed.
    check_with(InitialState::Unknown, "0 expired user:1\n1 get user:1 miss", &[Expired]);
    check_with(InitialState::Unknown, "0 evicted user:1\n1 get user:1 miss", &[Evicted]);
    // Whatever the TTL we saw says: evicted before it ran out, or expired by a TTL set unseen.
    check("0 set user:1 ok ttl=10\n2 evicted user:1\n3 get user:1 miss", &[Evicted]);
    check("0 set user:1 ok\n2 expired user:1\n3 get user:1 miss", &[Expired]);
    // Written again since: present, and the next removal is what counts.
    check("0 set k ok\n1 evicted k\n2 set k ok\n3 expired k\n4 get k miss\n5 get k miss", &[Expired, Expired]);
    // A flush after the removal empties it anyway, but it was already gone: the removal stands.
    check("0 set k ok\n1 evicted k\n2 flushall\n3 get k miss", &[Evicted]);
}

/// A read a model presumed a hit, then the key's first write a moment later: the read was a miss, refilled.
/// Later, or after the key was written before, the presumed hit stands.
#[test]
fn a_presumed_hit_refilled_at_once_was_a_miss() {
    let mut engine = Engine::new(EngineConfig { initial_state: InitialState::Unknown, ..EngineConfig::default() });
    let at = |seconds: f64| (seconds * MICROS_PER_SEC as f64) as u64;
    let presumed = |key: &'static [u8], time| Event::read(time, key, Outcome::Hit);
    let write = |key: &'static [u8], time| Event::write(time, key, TtlChange::Persist);
    engine.observe_presumed(&presumed(b"user:1", at(0.0)));
    engine.observe(&write(b"user:1", at(0.02)));
    engine.observe_presumed(&presumed(b"user:2", at(0.0)));
    engine.observe(&write(b"user:2", at(5.0)));
    engine.observe_presumed(&presumed(b"user:3", at(0.0)));
    engine.observe(&Event::read(at(0.01), b"user:3", Outcome::Hit));
    engine.observe(&write(b"user:3", at(0.02)));
    let report = engine.report();
    assert_eq!((report.summary.reads, report.summary.hits, report.summary.misses), (4, 3, 1));
    assert_eq!(report.summary.miss_causes, MissCauses { unknown: 1, ..MissCauses::default() });
    assert_eq!(
        report.patterns[0].timeline.iter().map(|b| (b.hits, b.misses)).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1)),
        (3, 1)
    );
    assert_eq!(report.timeline.buckets[0].misses, 1, "counted when the read happened");
}

/// A flushed miss of a key the source only saw read (a hit a model may have presumed) is counted apart from one
/// of a key it saw written: cold_cache weighs the first by how often the pattern's misses are refilled.
#[test]
fn flushed_misses_of_keys_never_seen_written_are_counted_apart() {
    let script = "0 get user:1 hit\n0 set user:2 ok\n1 flushall\n2 get user:1 miss\n2 get user:2 miss";
    let mut engine = Engine::new(EngineConfig::default());
    for line in script.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let time = words[0].parse::<u64>().unwrap() * MICROS_PER_SEC;
        let event = match (words[1], words.get(2).map(|k| k.as_bytes())) {
            ("get", Some(key)) => Event::read(time, key, if words[3] == "hit" { Outcome::Hit } else { Outcome::Miss }),
            ("set", Some(key)) => Event::write(time, key, TtlChange::Persist),
            _ => Event::keyless(time, Command::Flush(FlushScope::All)),
        };
        engine.observe(&event);
    }
    let flushed: f64 = engine.stats.iter().map(|s| s.cause_weights[MissCause::Flushed.index()]).sum();
    let unwritten: f64 = engine.stats.iter().map(|s| s.flushed_unwritten).sum();
    assert_eq!((flushed, unwritten), (2.0, 1.0));
}
