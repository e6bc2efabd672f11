//! `analyze --threads` and `analyze --shard` with `merge`, as a user runs them: the report does not depend on how
//! the work was split.

mod common;

use std::path::{Path, PathBuf};

use common::{json_differences, run, trace};
use serde_json::Value;

/// A trace with findings of several kinds: a TTL too short, a reader and a writer that disagree on the key
/// format, a restart that empties the cache, a fill path that fails, and a prefix whose 60 literal values are
/// learned as one pattern (each shard sees only some of them).
fn app_trace(dir: &Path) -> PathBuf {
    let second = 1_000_000u64;
    let words: Vec<String> =
        (0..60).map(|i| format!("w{}x", ["ab", "cd", "ef", "gh", "ij", "kl"][i % 6].repeat(1 + i / 6))).collect();
    let mut lines = Vec::new();
    for minute in 0..30u64 {
        if minute == 15 {
            lines.push(format!("{} 0 0 restart - ok", minute * 60 * second));
        }
        for id in 0..200u64 {
            let t = minute * 60 * second + id * 1_000 + 10;
            let fresh = minute == 0 || minute == 15;
            let outcome = if fresh { "miss" } else { "hit" };
            lines.push(format!("{t} 1 0 read product:{id} {outcome} size=2048"));
            if fresh {
                lines.push(format!("{} 1 0 write product:{id} ok ttl=3600000 size=2048", t + 5));
            }
            // Sessions live 10 s and come back every minute.
            lines.push(format!("{} 2 0 read session:{id} miss", t + 100));
            lines.push(format!("{} 2 0 write session:{id} ok ttl=10000 size=512", t + 200));
            // Readers and writers disagree on the key format.
            lines.push(format!("{} 3 0 read users:{id} miss", t + 300));
            lines.push(format!("{} 3 0 write user:{id} ok ttl=600000 size=256", t + 400));
            // A fill path that fails for a third of the carts.
            let cart = id % 50;
            lines.push(format!("{} 4 0 read cart:{cart} miss", t + 500));
            let written = if cart % 3 == 0 { "err:OOM" } else { "ok" };
            lines.push(format!("{} 4 0 write cart:{cart} {written} ttl=1000 size=128", t + 510));
            let word = &words[(id as usize * 7 + minute as usize) % words.len()];
            lines.push(format!("{} 5 0 read feature:{word} {outcome}", t + 600));
            if fresh {
                lines.push(format!("{} 5 0 write feature:{word} ok size=64", t + 610));
            }
        }
    }
    trace(dir, "app.trace", "#initial-state empty\n", &lines)
}

/// The report without the keys its findings name as hottest. Those come from a sketch of 64 keys (Space-Saving)
/// shared by every pattern: when more keys than that compete, one engine and several shards can name different
/// keys among equally hot ones. Everything else must be equal. Returns the keys taken out, by finding.
fn without_key_lists(report: &mut Value) -> Vec<(String, Vec<String>)> {
    let mut taken = Vec::new();
    for finding in report["findings"].as_array_mut().unwrap() {
        let pattern = finding["pattern"].as_str().unwrap().to_string();
        let mut keys = Vec::new();
        for (section, field) in [
            ("evidence", "metrics", "hot_evicted_keys"),
            ("suggestion", "parameters", "hot_evicted_keys"),
            ("suggestion", "parameters", "keys"),
        ]
        .map(|(a, b, c)| ((a, b), c))
        {
            let Some(list) = finding[section.0][section.1].get_mut(field) else { continue };
            keys.extend(list.as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()));
            *list = Value::Null;
        }
        let summary = &mut finding["suggestion"]["summary"];
        let cut = summary.as_str().unwrap().split(", hottest keys first").next().unwrap().to_string();
        *summary = Value::String(cut);
        if let Some(details) = finding["evidence"]["details"].as_array_mut() {
            details.retain(|d| !d.as_str().unwrap().starts_with("Hottest"));
        }
        taken.push((pattern, keys));
    }
    taken
}

/// Equal but for the keys named hottest; those are of the finding's pattern in both.
#[track_caller]
fn assert_same_report(mut report: Value, mut expected: Value, what: &str) {
    for keys in [without_key_lists(&mut report), without_key_lists(&mut expected)] {
        for (pattern, keys) in keys {
            let prefix = pattern.split('{').next().unwrap().to_string();
            assert!(keys.iter().all(|k| k.starts_with(&prefix)), "{what}: {pattern} names {keys:?}");
        }
    }
    let differences = json_differences(&report, &expected);
    assert!(differences.is_empty(), "{what}:\n{}", differences.join("\n"));
}

fn analyze(path: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["analyze", path.to_str().unwrap(), "-o", "json", "--no-simulation"];
    args.extend_from_slice(extra);
    let result = run(&args);
    assert_eq!(result.code, 0, "{}", result.stderr);
    result.json()
}

#[test]
fn threads_change_nothing_in_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let path = app_trace(dir.path());
    let one = analyze(&path, &["--threads", "1"]);
    let causes: Vec<&str> = one["findings"].as_array().unwrap().iter().map(|f| f["cause"].as_str().unwrap()).collect();
    for cause in ["ttl_too_short", "key_mismatch", "cold_cache", "failed_write"] {
        assert!(causes.contains(&cause), "{cause} in {causes:?}");
    }
    let patterns: Vec<&str> =
        one["patterns"].as_array().unwrap().iter().map(|p| p["pattern"].as_str().unwrap()).collect();
    assert!(patterns.contains(&"feature:{id}"), "the 60 words are learned as one pattern: {patterns:?}");
    for threads in ["2", "3", "7"] {
        assert_same_report(analyze(&path, &["--threads", threads]), one.clone(), &format!("{threads} threads"));
    }
}

/// A trace of requests only goes through a cache model, which runs once on the reading thread: the shards get its
/// answers. From an empty cache that is the same report on any number of threads; joining a running cache, the
/// replay runs on one thread whatever is asked (its presumptions read every key's TTLs).
#[test]
fn requests_replayed_through_a_model_give_the_same_report_on_threads() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cluster.csv");
    let mut file = std::fs::File::create(&path).unwrap();
    // Sessions live 30 s and come back every 50 s; products loop over more than the cache holds.
    for second in 0..600u64 {
        for i in 0..20u64 {
            let session = (second * 20 + i) % 1000;
            writeln!(file, "{second},session:{session},10,200,1,get,0").unwrap();
            writeln!(file, "{second},session:{session},10,200,1,set,30").unwrap();
            let product = (second * 7 + i * 13) % 3000;
            writeln!(file, "{second},product:{product},10,900,2,get,0").unwrap();
            writeln!(file, "{second},product:{product},10,900,2,set,0").unwrap();
        }
    }
    drop(file);
    let args = |threads: &'static str, start: &'static str| {
        analyze(&path, &["--cache-size", "1MB", "--cache-start", start, "--threads", threads])
    };
    let one = args("1", "empty");
    let causes: Vec<&str> = one["findings"].as_array().unwrap().iter().map(|f| f["cause"].as_str().unwrap()).collect();
    assert!(causes.contains(&"memory_pressure") && causes.contains(&"ttl_too_short"), "{causes:?}");
    assert_same_report(args("3", "empty"), one, "3 threads from an empty cache");
    assert_eq!(args("3", "running"), args("1", "running"), "joining a running cache: one thread either way");
}

#[test]
fn shards_written_apart_merge_into_the_whole_report() {
    let dir = tempfile::tempdir().unwrap();
    let path = app_trace(dir.path());
    let whole = analyze(&path, &["--threads", "1"]);
    let mut shares = Vec::new();
    for i in 1..=4 {
        let share = dir.path().join(format!("part{i}.cs"));
        let shard = format!("{i}/4");
        // One shard on two threads: its file is still shard I of 4.
        let threads = if i == 2 { "2" } else { "1" };
        let result = run(&[
            "analyze",
            path.to_str().unwrap(),
            "--shard",
            &shard,
            "--threads",
            threads,
            "--share-file",
            share.to_str().unwrap(),
        ]);
        assert_eq!(result.code, 0, "{}", result.stderr);
        assert!(result.stdout.is_empty(), "a shard writes its file, not a report: {}", result.stdout);
        assert!(result.stderr.contains(&format!("shard {shard}")), "{}", result.stderr);
        shares.push(share);
    }
    // In any order.
    shares.reverse();
    let mut args = vec!["merge", "-o", "json"];
    args.extend(shares.iter().map(|p| p.to_str().unwrap()));
    let merged = run(&args);
    assert_eq!(merged.code, 0, "{}", merged.stderr);
    assert_same_report(merged.json(), whole.clone(), "merged");

    let text = run(&["merge", shares[0].to_str().unwrap(), shares[1].to_str().unwrap()]);
    assert_eq!(text.code, 64, "{}", text.stderr);
    assert!(text.stderr.contains("shards 1/4, 2/4") && text.stderr.contains("are missing"), "{}", text.stderr);
    let partial = run(&["merge", "--allow-missing", "-o", "json", shares[0].to_str().unwrap()]);
    assert_eq!(partial.code, 0, "{}", partial.stderr);
    let reads = |r: &Value| r["summary"]["reads"].as_u64().unwrap();
    assert!(reads(&partial.json()) < reads(&whole), "one share counts its keys only");

    let twice = run(&["merge", shares[0].to_str().unwrap(), shares[0].to_str().unwrap()]);
    assert_eq!(twice.code, 65, "{}", twice.stderr);
    assert!(twice.stderr.contains("given twice"), "{}", twice.stderr);
}

#[test]
fn shares_of_other_traces_and_other_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = app_trace(dir.path());
    let other = trace(dir.path(), "other.trace", "", &["1 1 0 read a:1 miss".to_string()]);
    let first = dir.path().join("a.cs");
    let second = dir.path().join("b.cs");
    for (trace, shard, file) in [(&path, "1/2", &first), (&other, "2/2", &second)] {
        let result =
            run(&["analyze", trace.to_str().unwrap(), "--shard", shard, "--share-file", file.to_str().unwrap()]);
        assert_eq!(result.code, 0, "{}", result.stderr);
    }
    let mixed = run(&["merge", first.to_str().unwrap(), second.to_str().unwrap()]);
    assert_eq!(mixed.code, 65, "{}", mixed.stderr);
    assert!(mixed.stderr.contains("different traces"), "{}", mixed.stderr);

    let junk = dir.path().join("junk.cs");
    std::fs::write(&junk, "not a share").unwrap();
    let refused = run(&["merge", junk.to_str().unwrap()]);
    assert_eq!(refused.code, 65, "{}", refused.stderr);
    assert!(refused.stderr.contains("is not a share written by `cachescope analyze --shard`"), "{}", refused.stderr);
    let missing = run(&["merge", dir.path().join("nowhere.cs").to_str().unwrap()]);
    assert_eq!(missing.code, 66, "{}", missing.stderr);

    let bad = run(&["analyze", path.to_str().unwrap(), "--shard", "0/4"]);
    assert_eq!(bad.code, 64, "{}", bad.stderr);
    assert!(bad.stderr.contains("from 1/N to N/N"), "{}", bad.stderr);
}

/// The events of a readable trace, with each event changed by `change`.
fn events_of(
    path: &Path,
    mut change: impl FnMut(usize, &mut cachescope_core::OwnedEvent),
) -> Vec<cachescope_core::OwnedEvent> {
    let mut reader = cachescope_trace::TraceReader::open(path, None).unwrap();
    let mut events = Vec::new();
    while let Some(event) = reader.next_event().unwrap() {
        let mut event = cachescope_core::OwnedEvent::from(&event);
        change(events.len(), &mut event);
        events.push(event);
    }
    events
}

/// Writes `events` as a compact trace (blocks of about 64 KiB), compressed when the name ends in `.zst`.
fn compact(
    dir: &Path,
    name: &str,
    header: &cachescope_trace::TraceHeader,
    events: &[cachescope_core::OwnedEvent],
) -> PathBuf {
    let path = dir.join(name);
    let format = cachescope_trace::TraceFormat::CachescopeCompact;
    let mut writer = cachescope_trace::TraceWriter::create(&path, format, header).unwrap();
    events.iter().for_each(|event| writer.write(&event.as_event()).unwrap());
    writer.finish().unwrap();
    path
}

/// The report without what names the file.
fn without_source(mut report: Value) -> Value {
    report["source"] = Value::Null;
    report
}

/// A compact trace comes in blocks that the threads decode among themselves, each observing its own keys' events
/// of every block: the same report as one thread, and as the readable trace, mapped from a file or decompressed.
#[test]
fn a_trace_in_blocks_gives_the_same_report_on_threads() {
    let dir = tempfile::tempdir().unwrap();
    let text = app_trace(dir.path());
    let events = events_of(&text, |_, _| {});
    let header = cachescope_trace::TraceHeader::default();
    let size = std::fs::metadata(compact(dir.path(), "size.cst", &header, &events)).unwrap().len();
    assert!(size > 8 << 16, "several blocks: {size} bytes");
    let one = without_source(analyze(&text, &["--threads", "1"]));
    for name in ["app.cst", "app.cst.zst"] {
        let path = compact(dir.path(), name, &header, &events);
        assert_eq!(without_source(analyze(&path, &["--threads", "1"])), one, "{name}, one thread");
        for threads in ["2", "3"] {
            let report = without_source(analyze(&path, &["--threads", threads]));
            assert_same_report(report, one.clone(), &format!("{name}, {threads} threads"));
        }
    }

    // Times off the clock (before the trace's first, or years after it) in some blocks, and times minutes ahead
    // of the events after them: the threads count only the times on the clock, and each moves it for every
    // thread from its place on, as one engine does.
    let odd = events_of(&text, |index, event| {
        if index % 997 == 5 {
            event.time = match index % 3 {
                0 => 1,
                1 => event.time + 20 * 366 * 86_400 * 1_000_000,
                _ => event.time + 10 * 60 * 1_000_000,
            };
        }
    });
    let path = compact(dir.path(), "odd.cst", &header, &odd);
    let one = analyze(&path, &["--threads", "1"]);
    assert_same_report(analyze(&path, &["--threads", "2"]), one, "times off the clock, 2 threads");
}

/// Events without outcomes in a trace in blocks need the cache model, which sees every key in order: the threads
/// stop at the first such block and the replay starts again on one reading thread, giving the same report as
/// one thread, whether every event or only the later ones lack outcomes.
#[test]
fn a_trace_in_blocks_without_outcomes_goes_through_the_model_on_threads() {
    let dir = tempfile::tempdir().unwrap();
    let text = app_trace(dir.path());
    let header = cachescope_trace::TraceHeader::default();
    let total = events_of(&text, |_, _| {}).len();
    for (name, from) in [("none.cst", 0), ("later.cst", total / 2)] {
        let events = events_of(&text, |index, event| {
            if index >= from {
                event.outcome = cachescope_core::Outcome::Unobserved;
            }
        });
        let path = compact(dir.path(), name, &header, &events);
        let one = analyze(&path, &["--threads", "1", "--cache-size", "1MB"]);
        assert!(one["source"]["format"].as_str().unwrap().contains("cache model"), "{name}: {}", one["source"]);
        let two = analyze(&path, &["--threads", "2", "--cache-size", "1MB"]);
        assert_same_report(two, one, &format!("{name}, 2 threads"));
    }
}
