//! `cachescope whatif` end to end, and the simulated gains `analyze` puts on its findings.

mod common;

use common::{run, small_app_trace};

fn json(args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json", "--quiet"]);
    let result = run(&all);
    assert_eq!(result.code, 0, "{}", result.stderr);
    result.json()
}

fn pattern<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["patterns"].as_array().unwrap().iter().find(|p| p["pattern"] == name).unwrap()
}

#[test]
fn a_longer_ttl_for_the_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_app_trace(dir.path());
    let report = json(&["whatif", path.to_str().unwrap(), "--ttl", "session:*=10m"]);
    assert_eq!(report["after"]["ttls"][0]["keys"], "session:*");
    assert_eq!(report["after"]["ttls"][0]["ttl_seconds"], 600.0);
    let sessions = pattern(&report, "session:{num}");
    assert_eq!(sessions["before"]["hit_ratio"], 0.0);
    // 40 sessions read 20 times: the first read of each misses, the rest hit.
    assert_eq!(sessions["after"]["hits"], 40 * 19);
    let products = pattern(&report, "product:{num}");
    assert_eq!(products["before"]["hits"], products["after"]["hits"], "other patterns unchanged");
    assert!(report["summary"]["change_points"].as_f64().unwrap() > 30.0);
    assert_eq!(report["patterns"][0]["pattern"], "session:{num}", "most changed first");

    let text = run(&["whatif", path.to_str().unwrap(), "--ttl", "session:{num}=600", "--quiet"]);
    assert!(text.stdout.contains("TTL 10m for session:{num}"), "{}", text.stdout);
    assert!(text.stdout.contains("+95.0 points"), "{}", text.stdout);
}

#[test]
fn threads_change_nothing_in_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_app_trace(dir.path());
    let args = |threads| {
        json(&[
            "whatif",
            path.to_str().unwrap(),
            "--ttl",
            "session:*=10m",
            "--maxmemory",
            "64KiB",
            "--threads",
            threads,
        ])
    };
    let one = args("1");
    assert!(one["patterns"].as_array().is_some_and(|p| !p.is_empty()));
    assert_eq!(args("2"), one);
    assert_eq!(args("5"), one);
}

#[test]
fn less_memory_and_another_policy() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_app_trace(dir.path());
    let report = json(&["whatif", path.to_str().unwrap(), "--maxmemory", "20kb", "--policy", "allkeys-lfu"]);
    assert_eq!(report["before"]["maxmemory"], serde_json::Value::Null);
    assert_eq!(report["after"]["maxmemory"], 20 << 10);
    assert_eq!(report["after"]["policy"], "allkeys-lfu");
    assert!(report["evictions"]["after"].as_u64().unwrap() > 0);
    assert!(report["summary"]["change_points"].as_f64().unwrap() < 0.0);
    let refused = json(&["whatif", path.to_str().unwrap(), "--maxmemory", "20kb", "--policy", "noeviction"]);
    assert!(refused["refused_writes"]["after"].as_u64().unwrap() > 0);
}

#[test]
fn usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_app_trace(dir.path());
    let path = path.to_str().unwrap();
    let nothing = run(&["whatif", path]);
    assert_eq!(nothing.code, 64);
    assert!(nothing.stderr.contains("nothing to change"), "{}", nothing.stderr);
    for (bad, says) in [
        (vec!["--ttl", "session:*"], "not SELECTOR=DURATION"),
        (vec!["--ttl", "session:*=soon"], "not a duration"),
        (vec!["--ttl", "session:*=0"], "--no-cache"),
        (vec!["--policy", "allkeys-mru"], "unknown eviction policy"),
        (vec!["--no-cache", "a["], "selects no keys"),
    ] {
        let mut args = vec!["whatif", path];
        args.extend(bad);
        let result = run(&args);
        assert_eq!(result.code, 64, "{args:?}");
        assert!(result.stderr.contains(says), "{args:?}: {}", result.stderr);
    }
}

#[test]
fn analyze_puts_numbers_on_its_suggestions() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_app_trace(dir.path());
    let report = json(&["analyze", path.to_str().unwrap()]);
    let finding = report["findings"].as_array().unwrap().iter().find(|f| f["cause"] == "ttl_too_short").unwrap();
    let gain = &finding["simulated"];
    // The detector says 1m30s (90% of the expired misses came within it); replayed, 1m brings as much: the
    // suggestion is the shorter.
    assert!(gain["change"].as_str().unwrap().starts_with("TTL 1m for session:{num}"), "{gain}");
    assert_eq!(finding["suggestion"]["parameters"]["ttl_seconds"], 60, "{finding}");
    assert!(finding["suggestion"]["summary"].as_str().unwrap().contains("the shortest TTL"), "{finding}");
    assert_eq!(gain["pattern_hit_ratio_before"], 0.0);
    assert!(gain["pattern_hit_ratio_after"].as_f64().unwrap() > 0.9, "{gain}");
    assert!(gain["hit_ratio_after"].as_f64().unwrap() > gain["hit_ratio_before"].as_f64().unwrap());
    // The key mismatch has no change a cache model could play.
    let mismatch = report["findings"].as_array().unwrap().iter().find(|f| f["cause"] == "key_mismatch").unwrap();
    assert!(mismatch.get("simulated").is_none());
    let plain = json(&["analyze", path.to_str().unwrap(), "--no-simulation"]);
    assert!(plain["findings"].as_array().unwrap().iter().all(|f| f.get("simulated").is_none()));
}

/// Through the command line, the ARC paper's OLTP figures (Megiddo and Modha, FAST 2003, Table III): exact LRU
/// hits 32.83% with 1,000 pages and 64.63% with 15,000.
#[test]
fn oltp_from_1000_to_15000_pages() {
    let Some(path) = cachescope_testkit::public_trace("OLTP.lis.zst", "whatif at the ARC paper's sizes on OLTP") else {
        return;
    };
    let report = json(&[
        "whatif",
        path.to_str().unwrap(),
        "--unit-size",
        "--cache-size",
        "1000",
        "--current-policy",
        "allkeys-lru-exact",
        "--maxmemory",
        "15000",
    ]);
    let before = report["summary"]["before"]["hit_ratio"].as_f64().unwrap();
    let after = report["summary"]["after"]["hit_ratio"].as_f64().unwrap();
    assert!((before - 0.3283).abs() < 0.00005, "{before}");
    assert!((after - 0.6463).abs() < 0.00005, "{after}");
    assert_eq!(report["observed_hit_ratio"], serde_json::Value::Null, "a block trace records no outcomes");
}
