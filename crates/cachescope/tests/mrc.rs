//! `cachescope mrc` end to end: curves of made-up traces whose answers are known, the shared OLTP trace against
//! the ARC paper, the chart, and bad input.

mod common;

use common::{run, trace};

/// Ten keys written once, then read in a cycle twenty times: an LRU cache of ten objects hits every read, one of
/// nine none (each key is pushed out just before its turn).
fn cycle_trace(dir: &std::path::Path) -> std::path::PathBuf {
    let mut lines: Vec<String> = (0..10).map(|i| format!("{i} 1 0 write k:{i} ok size=100")).collect();
    for round in 0..20u64 {
        for i in 0..10u64 {
            lines.push(format!("{} 1 0 read k:{i} hit size=100", 100 + round * 10 + i));
        }
    }
    trace(dir, "cycle.trace", "", &lines)
}

fn mrc_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["mrc"];
    all.extend_from_slice(args);
    all.extend(["-o", "json", "--quiet"]);
    let result = run(&all);
    assert_eq!(result.code, 0, "{}", result.stderr);
    result.json()
}

#[test]
fn a_cycle_needs_all_its_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = cycle_trace(dir.path());
    let path = path.to_str().unwrap();
    let report = mrc_json(&[path, "--unit-size", "--cache-size", "10"]);
    assert_eq!(report["reads"], 200);
    assert_eq!(report["unit"], "objects");
    assert_eq!(report["method"], "exact");
    assert_eq!(report["max_useful_size"], 10);
    assert_eq!(report["current_hit_ratio"], 1.0);
    assert_eq!(report["sizes_for_hit_ratio"][0]["size"], 10);
    let report = mrc_json(&[path, "--unit-size", "--cache-size", "9"]);
    assert_eq!(report["current_hit_ratio"], 0.0);
    let report = mrc_json(&[path, "--unit-size", "--sizes", "5,10,20"]);
    let points: Vec<(u64, f64)> = report["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["size"].as_u64().unwrap(), p["hit_ratio"].as_f64().unwrap()))
        .collect();
    assert_eq!(points, [(5, 0.0), (10, 1.0), (20, 1.0)]);
    // In bytes, each object is its key and its value: 103 bytes, 1,030 for the ten (distances are kept to within
    // 0.8%).
    let report = mrc_json(&[path, "--cache-size", "1040"]);
    assert_eq!((report["unit"].as_str(), report["current_hit_ratio"].as_f64()), (Some("bytes"), Some(1.0)));
    assert_eq!(mrc_json(&[path, "--cache-size", "1020"])["current_hit_ratio"], 0.0);
}

#[test]
fn patterns_get_their_own_curves() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    for i in 0..50u64 {
        lines.push(format!("{i} 1 0 write hot:{i} ok size=10"));
    }
    // hot:{num} is read over and over; cold:{num} only once each, never written.
    for round in 0..10u64 {
        for i in 0..50u64 {
            lines.push(format!("{} 1 0 read hot:{i} hit size=10", 1_000 + round * 100 + i));
            if round == 0 {
                lines.push(format!("{} 1 0 read cold:{i} miss", 1_000 + i));
            }
        }
    }
    let path = trace(dir.path(), "two.trace", "", &lines);
    let report = mrc_json(&[path.to_str().unwrap(), "--unit-size", "--cache-size", "50"]);
    let patterns = report["patterns"].as_array().unwrap();
    assert_eq!(patterns[0]["pattern"], "hot:{num}");
    assert_eq!(patterns[0]["reads"], 500);
    assert_eq!(patterns[0]["current_hit_ratio"], 1.0);
    assert_eq!(patterns[1]["pattern"], "cold:{num}");
    assert_eq!(patterns[1]["current_hit_ratio"], 0.0);
    assert!((report["best_hit_ratio"].as_f64().unwrap() - 500.0 / 550.0).abs() < 1e-9);
}

/// On two threads (one reads and folds the keys, one computes the stack distances) the curves are the same,
/// patterns learned mid-trace included, with writes, TTLs, deletes and a flush among the reads.
#[test]
fn threads_change_nothing_in_the_curves() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    for i in 0..20_000u64 {
        // 70 words under `flag:` become `flag:{id}` after 50 of them; ids under `user:` are numbers.
        let key = match i % 3 {
            0 => format!("flag:w{}x", (i / 3) % 70),
            1 => format!("user:{}", (i * 7) % 500),
            _ => format!("page:{}", (i * 13) % 2_000),
        };
        let time = i * 1_000;
        match i % 17 {
            _ if i == 12_000 => lines.push(format!("{time} 1 0 flushall - ok")),
            0 => lines.push(format!("{time} 1 0 write {key} ok ttl=900 size=100")),
            1 | 2 => lines.push(format!("{time} 1 0 write {key} ok size=100")),
            3 => lines.push(format!("{time} 1 0 delete {key} ok")),
            _ => lines.push(format!("{time} 1 0 read {key} hit size=100")),
        }
    }
    let path = trace(dir.path(), "mixed.trace", "", &lines);
    let path = path.to_str().unwrap();
    let one = mrc_json(&[path, "--unit-size", "--threads", "1"]);
    let patterns: Vec<&str> =
        one["patterns"].as_array().unwrap().iter().map(|p| p["pattern"].as_str().unwrap()).collect();
    assert!(patterns.contains(&"flag:{id}"), "{patterns:?}");
    assert_eq!(mrc_json(&[path, "--unit-size", "--threads", "2"]), one);
    let text = run(&["mrc", path, "--unit-size", "--threads", "2", "--color", "never"]);
    assert_eq!(text.code, 0, "{}", text.stderr);

    // In the compact format, whose blocks the threads decode among themselves for a sample: the same curves as
    // one thread's, at a fixed rate and a fixed size, and the same as the readable trace's.
    let compact = dir.path().join("mixed.cst");
    let mut reader = cachescope_trace::TraceReader::open(std::path::Path::new(path), None).unwrap();
    let format = cachescope_trace::TraceFormat::CachescopeCompact;
    let mut writer = cachescope_trace::TraceWriter::create(&compact, format, reader.header()).unwrap();
    while let Some(event) = reader.next_event().unwrap() {
        writer.write(&event).unwrap();
    }
    writer.finish().unwrap();
    let compact = compact.to_str().unwrap();
    let without_source = |mut report: serde_json::Value| {
        report["source"] = serde_json::Value::Null;
        report
    };
    for sample in [["--sample-rate", "0.3"], ["--sample-keys", "400"]] {
        let args = |trace, threads| [trace, "--unit-size", sample[0], sample[1], "--threads", threads];
        let one = without_source(mrc_json(&args(path, "1")));
        assert!(one["tracked_keys"].as_u64().unwrap() > 100, "{one}");
        for threads in ["1", "2", "3"] {
            assert_eq!(without_source(mrc_json(&args(compact, threads))), one, "{sample:?} on {threads} threads");
        }
    }
}

#[test]
fn sampled_curves_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = cycle_trace(dir.path());
    let report = mrc_json(&[path.to_str().unwrap(), "--unit-size", "--sample-rate", "0.5"]);
    assert_eq!(report["method"], "shards-fixed-rate");
    assert!(report["sampling_rate"].as_f64().unwrap() <= 0.5);
    let text = run(&["mrc", path.to_str().unwrap(), "--unit-size", "--sample-rate", "0.5", "--quiet"]);
    assert!(text.stdout.contains("figures are estimates"), "{}", text.stdout);
    assert!(text.stdout.contains("keys are in the sample: the curve may be off"), "{}", text.stdout);
    let exact = run(&["mrc", path.to_str().unwrap(), "--unit-size", "--quiet"]);
    assert!(!exact.stdout.contains("in the sample"), "{}", exact.stdout);
    let result = run(&["mrc", path.to_str().unwrap(), "--sample-rate", "2"]);
    assert_eq!(result.code, 64);
    assert!(result.stderr.contains("not a rate between 0 and 1"), "{}", result.stderr);
}

#[test]
fn text_and_chart() {
    let dir = tempfile::tempdir().unwrap();
    let path = cycle_trace(dir.path());
    let chart = dir.path().join("curve.svg");
    let result = run(&[
        "mrc",
        path.to_str().unwrap(),
        "--unit-size",
        "--cache-size",
        "10",
        "--chart",
        chart.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert!(result.stdout.contains("10 objects ◀ now"), "{}", result.stdout);
    assert!(result.stdout.contains("Now: 10 objects hits 100.0%."), "{}", result.stdout);
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("now: 10 objects") && svg.contains("<polyline"), "{svg}");
    let unwritable = run(&["mrc", path.to_str().unwrap(), "--chart", "/nonexistent/dir/c.svg", "--quiet"]);
    assert_eq!(unwritable.code, 73, "{}", unwritable.stderr);
}

/// The shared OLTP trace: the curve at the ARC paper's cache sizes (Megiddo and Modha, FAST 2003, Table III:
/// LRU hit ratios of 32.83% at 1,000 pages and 64.63% at 15,000).
#[test]
fn oltp_matches_the_arc_paper() {
    let Some(path) = cachescope_testkit::public_trace("OLTP.lis.zst", "mrc at the ARC paper's sizes on OLTP") else {
        return;
    };
    for (pages, published) in [("1000", 0.3283), ("15000", 0.6463)] {
        let report = mrc_json(&[path.to_str().unwrap(), "--unit-size", "--cache-size", pages]);
        let hit_ratio = report["current_hit_ratio"].as_f64().unwrap();
        assert!((hit_ratio - published).abs() < 0.0005, "{pages} pages: {hit_ratio}");
    }
}
