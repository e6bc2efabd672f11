//! Findings on hand-built event sequences whose answer is known.
//!
//! Each scenario is a small generator of script lines (see `engine::tests` for the grammar); most take the one
//! number that decides whether their detector fires, so that the same scenario serves just under and at the
//! threshold. [`check`] asserts the exact set of (cause, pattern) findings and the invariants every finding
//! keeps.

use std::fmt::Write as _;

use serde_json::Value;

use crate::engine::EngineConfig;
use crate::engine::tests::run_script;
use crate::report::{Finding, FindingCause, PatternReport, Report};

use FindingCause::*;

/// Script lines with their times, rendered in time order (stable: lines at one time keep their order).
#[derive(Default)]
struct Script(Vec<(f64, String)>);

impl Script {
    fn at(&mut self, secs: f64, event: impl Into<String>) {
        self.0.push((secs, event.into()));
    }

    /// The lines of several scenarios in one trace.
    fn merge(scripts: impl IntoIterator<Item = Script>) -> Script {
        Script(scripts.into_iter().flat_map(|s| s.0).collect())
    }

    /// The script without the lines that mention `needle`.
    fn without(mut self, needle: &str) -> Script {
        self.0.retain(|(_, line)| !line.contains(needle));
        self
    }

    fn text(&self) -> String {
        let mut lines: Vec<&(f64, String)> = self.0.iter().collect();
        lines.sort_by(|a, b| a.0.total_cmp(&b.0));
        lines.iter().map(|(secs, line)| format!("{secs:.3} {line}\n")).collect()
    }
}

fn describe(report: &Report) -> String {
    let mut out = String::from("findings:\n");
    for f in &report.findings {
        let _ = writeln!(
            out,
            "  {} on {} ({:?}, explains {} = {:.3}): {}",
            f.cause.as_str(),
            f.pattern,
            f.severity,
            f.misses_explained.count,
            f.misses_explained.share,
            f.evidence.summary
        );
    }
    out.push_str("patterns:\n");
    for p in &report.patterns {
        let _ = writeln!(
            out,
            "  {}: {} reads, {} hits, {} misses, {} writes, {} write errors; causes {:?}",
            p.pattern, p.reads, p.hits, p.misses, p.writes, p.write_errors, p.miss_causes
        );
    }
    out
}

/// Runs `script` and asserts its findings are exactly `expected` (in any order).
#[track_caller]
fn check_with(config: EngineConfig, script: &Script, expected: &[(FindingCause, &str)]) -> Report {
    let report = run_script(config, &script.text());
    let mut got: Vec<(FindingCause, &str)> = report.findings.iter().map(|f| (f.cause, f.pattern.as_str())).collect();
    let mut want = expected.to_vec();
    got.sort();
    want.sort();
    assert_eq!(got, want, "\n{}", describe(&report));
    check_invariants(&report);
    report
}

#[track_caller]
fn check(script: &Script, expected: &[(FindingCause, &str)]) -> Report {
    check_with(EngineConfig::default(), script, expected)
}

/// Nothing just under the threshold `at` of `scenario`, exactly `expected` at it.
#[track_caller]
fn check_threshold(scenario: impl Fn(usize) -> Script, at: usize, expected: &[(FindingCause, &str)]) {
    check(&scenario(at - 1), &[]);
    check(&scenario(at), expected);
}

#[track_caller]
fn check_invariants(report: &Report) {
    let misses = report.summary.misses;
    for f in &report.findings {
        let explained = f.misses_explained;
        assert!((0.0..=1.0).contains(&explained.share), "share out of [0, 1]\n{}", describe(report));
        assert!(explained.count <= misses, "explains more than all misses\n{}", describe(report));
        let share = if misses == 0 { 0.0 } else { explained.count as f64 / misses as f64 };
        assert!((explained.share - share).abs() < 1e-9, "share is not count / misses\n{}", describe(report));
    }
}

/// Every sentence of every finding, with its suggestion's action and parameters.
fn sentences(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        let suggestion = serde_json::to_value(&f.suggestion).expect("serialises");
        let _ =
            writeln!(out, "{} {} ({:?}, {} misses)", f.cause.as_str(), f.pattern, f.severity, f.misses_explained.count);
        let _ = writeln!(out, "  {}", f.evidence.summary);
        for detail in &f.evidence.details {
            let _ = writeln!(out, "  · {detail}");
        }
        let _ = writeln!(out, "  Fix: {}", f.suggestion.summary);
        let _ = writeln!(out, "  {} {}\n", suggestion["action"], suggestion["parameters"]);
    }
    out
}

fn finding(report: &Report, cause: FindingCause) -> &Finding {
    report.findings.iter().find(|f| f.cause == cause).expect("finding")
}

fn pattern<'a>(report: &'a Report, name: &str) -> &'a PatternReport {
    report.patterns.iter().find(|p| p.pattern == name).expect("pattern")
}

/// A parameter of the finding's suggestion, as the JSON report carries it.
fn parameter(finding: &Finding, name: &str) -> Value {
    let json = serde_json::to_value(&finding.suggestion).expect("serialises");
    json["parameters"].get(name).cloned().unwrap_or_else(|| panic!("no parameter {name} in {json}"))
}

// Scenarios.

/// `keys` tokens read and refilled with a TTL of 30 s, then read again `rereads` times every 80 to 100 s: each
/// re-read finds them expired.
fn ttl_too_short(keys: usize, rereads: usize) -> Script {
    let mut s = Script::default();
    for i in 0..keys {
        let mut t = i as f64 * 0.5;
        for r in 0..=rereads {
            if r > 0 {
                t += 80.0 + 10.0 * ((i + r) % 3) as f64;
            }
            s.at(t, format!("get token:{i} miss"));
            s.at(t + 0.1, format!("set token:{i} ok ttl=30"));
        }
    }
    s
}

/// `keys` items of 4 KiB written without a TTL and read, gone 100 s later with no delete, refilled and read.
fn memory_pressure(keys: usize) -> Script {
    let mut s = Script::default();
    for i in 0..keys {
        let t = i as f64 * 0.5;
        s.at(t, format!("set item:{i} ok size=4096"));
        s.at(t + 10.0, format!("get item:{i} hit"));
        s.at(t + 100.0, format!("get item:{i} miss"));
        s.at(t + 100.1, format!("set item:{i} ok size=4096"));
        s.at(t + 110.0, format!("get item:{i} hit"));
    }
    s
}

/// `ids` reads of `users:{i}`, all missing, each followed by a write of `user:{i}` that nobody reads.
fn key_mismatch(ids: usize) -> Script {
    let mut s = Script::default();
    for i in 0..ids {
        let t = i as f64 * 0.5;
        s.at(t, format!("get users:{i} miss"));
        s.at(t + 0.1, format!("set user:{i} ok ttl=300"));
    }
    s
}

/// `keys` sessions (with `db`) written and hit, emptied at 20 s by `flush`, then missed, refilled and hit.
fn cold_cache(keys: usize, flush: &str, db: &str) -> Script {
    let mut s = Script::default();
    for i in 0..keys {
        let t = i as f64 * 0.1;
        s.at(t, format!("set session:{i} ok {db}"));
        s.at(t + 5.0, format!("get session:{i} hit {db}"));
        s.at(t + 10.0, format!("get session:{i} hit {db}"));
        s.at(t + 21.0, format!("get session:{i} miss {db}"));
        s.at(t + 21.05, format!("set session:{i} ok {db}"));
        s.at(t + 30.0, format!("get session:{i} hit {db}"));
    }
    s.at(20.0, flush);
    s
}

/// 30 pages hit every second; at 21 s (a deploy marker at `marker_at`) the application reads 30 new pages,
/// which miss once and are refilled.
fn deploy(marker_at: Option<f64>) -> Script {
    let mut s = Script::default();
    for i in 0..30 {
        let offset = i as f64 * 0.01;
        s.at(offset, format!("set page:{i} ok"));
        for t in 1..21 {
            s.at(t as f64 + offset, format!("get page:{i} hit"));
        }
        let new = 100 + i;
        s.at(21.0 + offset, format!("get page:{new} miss"));
        s.at(21.5 + offset, format!("set page:{new} ok"));
        for t in 22..40 {
            s.at(t as f64 + offset, format!("get page:{new} hit"));
        }
    }
    if let Some(at) = marker_at {
        s.at(at, "marker deploy:v2");
    }
    s
}

/// `keys` carts missed, whose refill is answered with `outcome` (`oom`, `err`), missed again 2 s later and
/// refused again: two write errors per key.
fn failed_writes(keys: usize, outcome: &str) -> Script {
    let mut s = Script::default();
    for i in 0..keys {
        let t = i as f64 * 0.5;
        s.at(t, format!("get cart:{i} miss"));
        s.at(t + 0.1, format!("set cart:{i} {outcome}"));
        s.at(t + 2.0, format!("get cart:{i} miss"));
        s.at(t + 2.1, format!("set cart:{i} {outcome}"));
    }
    s
}

/// `keys` quotes missed; only one in three is written after its miss (and then hit).
fn unrefilled(keys: usize) -> Script {
    let mut s = Script::default();
    for i in 0..keys {
        let t = i as f64 * 0.5;
        s.at(t, format!("get quote:{i} miss"));
        if i % 3 == 0 {
            s.at(t + 0.1, format!("set quote:{i} ok"));
            s.at(t + 10.0, format!("get quote:{i} hit"));
        }
    }
    s
}

/// `reads` reads of distinct quotes, all missing, never written.
fn never_written(reads: usize) -> Script {
    let mut s = Script::default();
    for i in 0..reads {
        s.at(i as f64 * 0.5, format!("get quote:{i} miss"));
    }
    s
}

/// One hot product with a TTL of 10 s hit 20 times a second; when it expires, `burst` (at most 50) clients
/// miss it within a second before one refills it.
fn stampede(burst: usize) -> Script {
    let mut s = Script::default();
    s.at(0.0, "set product:42 ok ttl=10");
    for i in 1..200 {
        s.at(i as f64 * 0.05, "get product:42 hit");
    }
    for j in 0..burst {
        s.at(10.0 + j as f64 * 0.02, "get product:42 miss");
    }
    s.at(11.0, "set product:42 ok ttl=10");
    for i in 1..100 {
        s.at(11.0 + i as f64 * 0.05, "get product:42 hit");
    }
    s
}

/// `writes` feed entries written once and never read.
fn one_hit_wonder(writes: usize) -> Script {
    let mut s = Script::default();
    for i in 0..writes {
        s.at(i as f64 * 0.5, format!("set feed:{i} ok ttl=600"));
    }
    s
}

/// 40 profiles with a TTL of 5 minutes read every 5 s for half an hour; a read that finds one expired refills
/// it: one read in sixty misses, what a TTL costs.
fn healthy() -> Script {
    let mut s = Script::default();
    for i in 0..40 {
        let offset = i as f64 * 0.1;
        let mut expires_at = 0.0;
        for r in 0..360 {
            let t = offset + r as f64 * 5.0;
            if t < expires_at {
                s.at(t, format!("get profile:{i} hit"));
            } else {
                s.at(t, format!("get profile:{i} miss"));
                s.at(t + 0.05, format!("set profile:{i} ok ttl=300"));
                expires_at = t + 0.05 + 300.0;
            }
        }
    }
    s
}

/// 78 orders, each hit and missed once, the misses split between four causes, none with enough misses or a
/// large enough share for a detector of its own; beside them 50 accounts that always hit.
fn low_hit_ratio() -> Script {
    let mut s = Script::default();
    for i in 0..78 {
        let t = i as f64;
        let key = format!("order:{i}");
        match i % 4 {
            0 => {
                s.at(t, format!("set {key} ok"));
                s.at(t + 1.0, format!("get {key} hit"));
                s.at(t + 2.0, format!("del {key} ok"));
            }
            1 => {}
            2 => {
                s.at(t, format!("set {key} ok ttl=5"));
                s.at(t + 1.0, format!("get {key} hit"));
            }
            _ => {
                s.at(t, format!("set {key} ok"));
                s.at(t + 1.0, format!("get {key} hit"));
            }
        }
        s.at(t + 10.0, format!("get {key} miss"));
        s.at(t + 10.1, format!("set {key} ok"));
        s.at(t + 20.0, format!("get {key} hit"));
    }
    for i in 0..50 {
        s.at(i as f64, format!("set account:{i} ok"));
        for r in 1..=10 {
            s.at(i as f64 + r as f64 * 5.0, format!("get account:{i} hit"));
        }
    }
    s
}

// One positive test per cause.

#[test]
fn ttl_too_short_suggests_a_ttl_covering_the_reaccesses() {
    let report = check(&ttl_too_short(20, 3), &[(TtlTooShort, "token:{num}")]);
    let f = finding(&report, TtlTooShort);
    let suggested = parameter(f, "ttl_seconds").as_u64().expect("seconds");
    let p90 = pattern(&report, "token:{num}").reaccess_seconds.expect("re-accesses").p90;
    assert!(p90 >= 80.0, "re-accesses are 80 to 100 s apart, p90 {p90}");
    assert!(suggested as f64 >= p90, "suggested {suggested} s below the p90 re-access {p90} s");
    assert_eq!(f.misses_explained.count, 60, "every re-read is an expired miss");
}

#[test]
fn memory_pressure_sizes_the_cache() {
    let report = check(&memory_pressure(30), &[(MemoryPressure, "item:{num}")]);
    let f = finding(&report, MemoryPressure);
    let maxmemory = parameter(f, "maxmemory_bytes").as_u64().expect("bytes");
    assert!(maxmemory >= 30 * 4096, "maxmemory {maxmemory} below the working set");
    assert_eq!(f.misses_explained.count, 30);
}

#[test]
fn key_mismatch_names_the_writer() {
    let report = check(&key_mismatch(60), &[(KeyMismatch, "users:{num}")]);
    let f = finding(&report, KeyMismatch);
    assert_eq!(f.related_patterns, ["user:{num}"]);
    assert_eq!(f.misses_explained.count, 60);
}

#[test]
fn cold_cache_after_a_flush_or_restart() {
    for (flush, db) in [("flushdb db=1", "db=1"), ("flushall", ""), ("restart", "")] {
        let report = check(&cold_cache(30, flush, db), &[(ColdCache, "session:{num}")]);
        assert_eq!(finding(&report, ColdCache).misses_explained.count, 30, "{flush}");
    }
}

#[test]
fn cold_cache_after_a_deploy_marker() {
    let report = check(&deploy(Some(21.0)), &[(ColdCache, "page:{num}")]);
    assert_eq!(finding(&report, ColdCache).misses_explained.count, 30);
    // The same trace without the marker, or with it where nothing changes, has nothing to say.
    check(&deploy(None), &[]);
    check(&deploy(Some(10.0)), &[]);
}

#[test]
fn failed_write_when_writes_are_refused() {
    for (outcome, kind) in [("oom", "OOM"), ("err", "ERR")] {
        let report = check(&failed_writes(30, outcome), &[(FailedWrite, "cart:{num}")]);
        let kinds = parameter(finding(&report, FailedWrite), "error_kinds");
        assert_eq!(kinds[kind], 60, "{outcome}: {kinds}");
    }
}

#[test]
fn failed_write_when_misses_are_not_refilled() {
    let report = check(&unrefilled(90), &[(FailedWrite, "quote:{num}")]);
    assert_eq!(finding(&report, FailedWrite).misses_explained.count, 60, "two misses in three are not refilled");
    check(&never_written(60), &[(FailedWrite, "quote:{num}")]);
}

#[test]
fn stampede_on_a_hot_key_expiring() {
    let report = check(&stampede(30), &[(Stampede, "product:{num}")]);
    let f = finding(&report, Stampede);
    assert_eq!(parameter(f, "keys"), serde_json::json!(["product:42"]));
    assert_eq!(f.misses_explained.count, 29, "every miss after the first piles up");
}

#[test]
fn one_hit_wonder_on_keys_never_read() {
    check(&one_hit_wonder(150), &[(OneHitWonder, "feed:{num}")]);
}

#[test]
fn low_hit_ratio_when_no_single_cause_stands_out() {
    let report = check(&low_hit_ratio(), &[(LowHitRatio, "order:{num}")]);
    let causes = pattern(&report, "order:{num}").miss_causes;
    assert_eq!((causes.deleted, causes.never_written, causes.expired, causes.evicted), (20, 20, 19, 19));
}

// Negative tests.

#[test]
fn a_healthy_pattern_has_no_finding() {
    let report = check(&healthy(), &[]);
    let profile = pattern(&report, "profile:{num}");
    assert!(profile.misses > 40 && profile.miss_causes.expired > 20, "the scenario has refilled misses");
}

/// A cause needs 30 misses (see `Thresholds`).
#[test]
fn nothing_just_under_the_thresholds() {
    check_threshold(|n| ttl_too_short(n, 1), 30, &[(TtlTooShort, "token:{num}")]);
    check_threshold(memory_pressure, 30, &[(MemoryPressure, "item:{num}")]);
    check_threshold(key_mismatch, 30, &[(KeyMismatch, "users:{num}")]);
    check_threshold(|n| cold_cache(n, "restart", ""), 30, &[(ColdCache, "session:{num}")]);
    // Two misses per key, neither refilled: 28, then 30.
    check_threshold(|n| failed_writes(n, "oom"), 15, &[(FailedWrite, "cart:{num}")]);
    // One burst of 20 misses of a key is a stampede, as docs/report-schema.md says; 19 is not.
    check_threshold(stampede, 20, &[(Stampede, "product:{num}")]);
    check_threshold(one_hit_wonder, 100, &[(OneHitWonder, "feed:{num}")]);
}

/// Misses in the last 5% of the trace may still be refilled: 32 reads leave 30 unrefilled misses, 31 leave 29.
#[test]
fn a_cause_with_too_few_misses_gets_nothing() {
    check_threshold(never_written, 32, &[(FailedWrite, "quote:{num}")]);
}

/// Two sharp causes on one pattern are both reported, each with the misses it explains.
#[test]
fn two_causes_on_one_pattern_give_two_findings() {
    let mut script = ttl_too_short(40, 1);
    for i in 0..40 {
        let t = 2_000.0 + i as f64 * 0.5;
        script.at(t, format!("set token:{i} ok size=4096"));
        script.at(t + 10.0, format!("get token:{i} hit"));
        script.at(t + 100.0, format!("get token:{i} miss"));
        script.at(t + 100.1, format!("set token:{i} ok size=4096"));
    }
    let report = check(&script, &[(TtlTooShort, "token:{num}"), (MemoryPressure, "token:{num}")]);
    assert_eq!(finding(&report, TtlTooShort).misses_explained.count, 40);
    assert_eq!(finding(&report, MemoryPressure).misses_explained.count, 40);
}

#[test]
fn the_writer_of_a_key_mismatch_is_not_a_one_hit_wonder() {
    // Alone, the writer's keys are written and never read.
    check(&key_mismatch(150).without("users:"), &[(OneHitWonder, "user:{num}")]);
    check(&key_mismatch(150), &[(KeyMismatch, "users:{num}")]);
}

#[test]
fn a_flush_of_another_database_is_no_cold_cache() {
    check(&cold_cache(30, "flushdb db=2", "db=1"), &[(MemoryPressure, "session:{num}")]);
}

#[test]
fn findings_of_many_patterns_share_the_misses() {
    let script = Script::merge([
        ttl_too_short(20, 3),
        memory_pressure(30),
        key_mismatch(60),
        cold_cache(30, "flushdb db=1", "db=1"),
        failed_writes(30, "oom"),
        stampede(30),
        one_hit_wonder(150),
        healthy(),
    ]);
    let report = check(
        &script,
        &[
            (TtlTooShort, "token:{num}"),
            (MemoryPressure, "item:{num}"),
            (KeyMismatch, "users:{num}"),
            (ColdCache, "session:{num}"),
            (FailedWrite, "cart:{num}"),
            (Stampede, "product:{num}"),
            (OneHitWonder, "feed:{num}"),
        ],
    );
    // What each finding says, word for word: the evidence and the fix are what an operator reads.
    insta::assert_snapshot!(sentences(&report));
    // Each finding is about misses of its own pattern: together they explain at most all of them.
    let explained: u64 = report.findings.iter().map(|f| f.misses_explained.count).sum();
    assert!(explained <= report.summary.misses, "\n{}", describe(&report));
    let shares: f64 = report.findings.iter().map(|f| f.misses_explained.share).sum();
    assert!(shares <= 1.0 + 1e-9, "\n{}", describe(&report));
}
