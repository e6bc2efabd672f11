//! The checks on made-up snapshots: each test states the INFO fields and sampled keys a server would give, and
//! the findings (cause, severity) and notes the doctor must draw from them.

use cachescope_core::pattern::FoldConfig;
use cachescope_core::report::Action;

use super::*;

/// INFO text from `field:value` pairs.
fn info(fields: &[(&str, &str)]) -> Info {
    Info::parse(&fields.iter().map(|(name, value)| format!("{name}:{value}\r\n")).collect::<String>())
}

/// A healthy primary's counters, overridden by `fields`.
fn server(fields: &[(&str, &str)]) -> Info {
    let mut all: Vec<(&str, &str)> = vec![
        ("run_id", "abc"),
        ("role", "master"),
        ("uptime_in_seconds", "100000"),
        ("used_memory", "500000000"),
        ("maxmemory", "1000000000"),
        ("maxmemory_policy", "allkeys-lru"),
        ("keyspace_hits", "9000"),
        ("keyspace_misses", "1000"),
        ("evicted_keys", "0"),
        ("expired_keys", "0"),
        ("total_commands_processed", "20000"),
        ("total_error_replies", "0"),
    ];
    for (name, value) in fields {
        all.retain(|(existing, _)| existing != name);
        all.push((name, value));
    }
    info(&all)
}

fn keys(count: usize, ttl_ms: Option<i64>) -> Vec<SampledKey> {
    (0..count)
        .map(|id| SampledKey {
            key: format!("user:{id}").into_bytes(),
            kind: Some("string".into()),
            ttl_ms,
            memory: Some(100),
            idle_seconds: Some(5),
            expiry: None,
        })
        .collect()
}

/// The findings as `cause/severity`, and the server notes.
fn check(before: Info, after: Info, sample: Vec<SampledKey>, expected_findings: &[&str], expected_notes: &[&str]) {
    let snapshot = Snapshot {
        before,
        after,
        interval_seconds: 10.0,
        db: 0,
        sample,
        expiry_watch_seconds: 10.0,
        skipped: Vec::new(),
    };
    let report = diagnose(&snapshot, FoldConfig::default());
    let findings: Vec<String> =
        report.findings.iter().map(|f| format!("{}/{}", f.cause.as_str(), f.severity.as_str())).collect();
    assert_eq!(findings, expected_findings, "{:#?}", report.findings);
    let notes = &report.server.as_ref().unwrap().notes;
    assert_eq!(notes.len(), expected_notes.len(), "{notes:?}");
    for (note, expected) in notes.iter().zip(expected_notes) {
        assert!(note.contains(expected), "{note:?} lacks {expected:?}");
    }
}

#[test]
fn a_healthy_server_has_nothing_to_say() {
    check(
        server(&[]),
        server(&[("keyspace_hits", "18000"), ("keyspace_misses", "1010")]),
        keys(50, Some(60_000)),
        &[],
        &[],
    );
}

#[test]
fn refused_writes_during_the_check_are_critical_old_ones_informational() {
    let during = [("errorstat_OOM", "count=10"), ("keyspace_hits", "18000")];
    check(server(&[("errorstat_OOM", "count=4")]), server(&during), vec![], &["failed_write/critical"], &[]);
    let old = [("errorstat_OOM", "count=4"), ("keyspace_hits", "18000")];
    check(server(&[("errorstat_OOM", "count=4")]), server(&old), vec![], &["failed_write/info"], &[]);
    let wrongtype = [("errorstat_WRONGTYPE", "count=3"), ("keyspace_hits", "18000")];
    check(server(&[]), server(&wrongtype), vec![], &["failed_write/warning"], &[]);
}

#[test]
fn noeviction_is_critical_only_while_it_refuses_writes() {
    let full = [("maxmemory_policy", "noeviction"), ("used_memory", "990000000")];
    let refusing = [full.as_slice(), &[("errorstat_OOM", "count=7")]].concat();
    check(server(&full), server(&refusing), vec![], &["eviction_policy/critical", "failed_write/critical"], &[]);
    let refused_long_ago = [full.as_slice(), &[("errorstat_OOM", "count=7")]].concat();
    check(
        server(&refused_long_ago),
        server(&refused_long_ago),
        vec![],
        &["eviction_policy/warning", "failed_write/info"],
        &[],
    );
}

#[test]
fn a_ttl_the_server_would_not_tell_is_not_a_missing_ttl() {
    let volatile = [("maxmemory_policy", "volatile-lru"), ("used_memory", "900000000")];
    check(server(&volatile), server(&volatile), keys(100, Some(-1)), &["eviction_policy/warning"], &[]);
    // PTTL refused (or the keys vanished): nothing is known about TTLs, so nothing is concluded.
    check(server(&volatile), server(&volatile), keys(100, None), &[], &[]);
    let mut mixed = keys(100, None);
    mixed.extend(keys(10, Some(60_000)));
    check(server(&volatile), server(&volatile), mixed, &[], &[]);
}

#[test]
fn a_statistics_reset_is_noted_only_when_counters_go_backwards() {
    check(
        server(&[]),
        server(&[("keyspace_hits", "10"), ("keyspace_misses", "0")]),
        vec![],
        &[],
        &["statistics were reset"],
    );
    // A counter missing from one reading (an old server, a proxy in between) is not a reset.
    let before = info(&[("run_id", "abc"), ("role", "master"), ("uptime_in_seconds", "100000")]);
    check(before, server(&[]), vec![], &[], &[]);
}

/// `count` keys of `session:` with a TTL of `ttl_ms` (their PTTL spread over it), of which the first `watched`
/// were seen expiring: `back[i]` milliseconds later they came back, or (None) were still gone after 5 s.
fn expiring(count: usize, ttl_ms: i64, back: &[Option<u64>]) -> Vec<SampledKey> {
    (0..count)
        .map(|id| SampledKey {
            key: format!("session:{id}").into_bytes(),
            kind: Some("string".into()),
            ttl_ms: Some(ttl_ms * (id as i64 + 1) / count as i64),
            memory: Some(100),
            idle_seconds: Some(0),
            expiry: back.get(id).map(|after| match after {
                Some(after_ms) => ExpiryWatch::Back { after_ms: *after_ms, ttl_ms: Some(ttl_ms as u64) },
                None => ExpiryWatch::StillGone { watched_ms: 5_000 },
            }),
        })
        .collect()
}

#[test]
fn keys_read_again_soon_after_they_expire_have_a_ttl_too_short() {
    // A TTL of 2 s and keys back about 1 s after expiring: a third of their reads miss.
    let busy = [("keyspace_hits", "19000"), ("keyspace_misses", "2000")];
    let back_soon: Vec<Option<u64>> = (0..20).map(|i| Some(500 + i * 50)).collect();
    check(server(&[]), server(&busy), expiring(200, 2_000, &back_soon), &["ttl_too_short/critical"], &[]);
    let report = diagnose(
        &Snapshot {
            before: server(&[]),
            after: server(&busy),
            interval_seconds: 10.0,
            db: 0,
            sample: expiring(200, 2_000, &back_soon),
            expiry_watch_seconds: 10.0,
            skipped: Vec::new(),
        },
        FoldConfig::default(),
    );
    let finding = &report.findings[0];
    assert_eq!(finding.pattern, "session:{num}");
    assert!(finding.evidence.summary.starts_with("Of 20 keys of `session:{num}` seen expiring, 20 were written again"));
    // Back within 1.5 s at the 90th percentile of an exponential wait: 2 s + ln 10 / λ, with a tenth more.
    match &finding.suggestion.action {
        Action::RaiseTtl { ttl_seconds, current_ttl_seconds } => {
            assert!((current_ttl_seconds.unwrap() - 2.0).abs() < 0.05, "{current_ttl_seconds:?}");
            assert!((4..=10).contains(ttl_seconds), "{ttl_seconds}");
        }
        other => panic!("{other:?}"),
    }
    let watch = report.server.unwrap().expiry_watch.unwrap();
    assert_eq!((watch.watched_keys, watch.expired, watch.came_back), (20, 20, 20));
}

#[test]
fn keys_not_read_again_or_read_often_in_a_long_life_are_fine() {
    let busy = [("keyspace_hits", "19000"), ("keyspace_misses", "2000")];
    // Nobody reads them after expiry: nothing misses for it.
    let never: Vec<Option<u64>> = vec![None; 20];
    check(server(&[]), server(&busy), expiring(200, 2_000, &never), &[], &[]);
    // Read about every 100 ms for an hour: one miss in 36,000 reads.
    let hot: Vec<Option<u64>> = (0..20).map(|_| Some(100)).collect();
    check(server(&[]), server(&busy), expiring(200, 3_600_000, &hot), &[], &[]);
    // Too few keys seen expiring to say.
    let few: Vec<Option<u64>> = (0..4).map(|_| Some(500)).collect();
    check(server(&[]), server(&busy), expiring(200, 2_000, &few), &[], &[]);
    // A pattern of ten keys on a server missing 20,000 times a second: not 1% of its misses.
    let flood = [("keyspace_hits", "2000000"), ("keyspace_misses", "200000")];
    check(server(&[]), server(&flood), expiring(10, 2_000, &[Some(500); 10]), &[], &[]);
}
