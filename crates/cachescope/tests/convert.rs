//! `cachescope convert`, as a user runs it: a recording rewritten in another of cachescope's formats holds the
//! same events under the same header and gives the same report; what cannot or should not be written is refused
//! with a message, and a failed run leaves no file behind.

mod common;

use std::path::{Path, PathBuf};

use cachescope_core::OwnedEvent;
use cachescope_trace::compact::CompactWriter;
use cachescope_trace::{TraceHeader, TraceReader};
use common::{run, small_app_trace, trace};
use serde_json::Value;

/// The events and header of a trace, as any command reads them.
fn contents(path: &Path) -> (TraceHeader, Vec<OwnedEvent>) {
    let mut reader = TraceReader::open(path, None).unwrap();
    let mut events = Vec::new();
    while let Some(event) = reader.next_event().unwrap() {
        events.push(OwnedEvent::from(&event));
    }
    (reader.header().clone(), events)
}

fn convert(args: &[&Path], options: &[&str]) -> common::Run {
    let mut all: Vec<&str> = vec!["convert"];
    all.extend(args.iter().map(|path| path.to_str().unwrap()));
    all.extend(options);
    run(&all)
}

fn report(path: &Path, threads: &str) -> Value {
    let result = run(&["analyze", path.to_str().unwrap(), "-o", "json", "--no-simulation", "--threads", threads]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let mut report = result.json();
    report["source"] = Value::Null;
    report
}

/// A compact trace without blocks (version 1), as recordings were written before blocks.
fn version_1(dir: &Path, from: &Path) -> PathBuf {
    let path = dir.join("old.cst");
    let (header, events) = contents(from);
    let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut writer = CompactWriter::with_blocks(file, &header, None).unwrap();
    events.iter().for_each(|event| writer.write(&event.as_event()).unwrap());
    std::io::Write::flush(&mut writer.finish().unwrap()).unwrap();
    path
}

#[test]
fn a_version_1_recording_becomes_blocks_with_the_same_events_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let readable = small_app_trace(dir.path());
    let old = version_1(dir.path(), &readable);
    assert!(!TraceReader::open(&old, None).unwrap().has_blocks());

    let new = dir.path().join("new.cst");
    let result = convert(&[&old, &new], &[]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert!(result.stderr.contains("Converted") && result.stderr.contains("version 1"), "{}", result.stderr);
    assert!(TraceReader::open(&new, None).unwrap().has_blocks());
    assert_eq!(contents(&new), contents(&old));
    let expected = report(&old, "1");
    assert!(!expected["findings"].as_array().unwrap().is_empty(), "{expected}");
    for threads in ["1", "2"] {
        assert_eq!(report(&new, threads), expected, "{threads} threads");
    }
}

#[test]
fn readable_and_compact_convert_both_ways_keeping_every_event_and_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let readable = small_app_trace(dir.path());
    let (header, events) = contents(&readable);
    assert!(header.cache_capacity.is_some() || header.source.is_some() || !events.is_empty());

    let compressed = dir.path().join("app.cst.zst");
    assert_eq!(convert(&[&readable, &compressed], &["--quiet"]).code, 0);
    let magic = zstd::decode_all(std::fs::File::open(&compressed).unwrap()).unwrap();
    assert!(magic.starts_with(b"\xC5cstrace"), "compressed compact trace");
    assert_eq!(contents(&compressed), (header.clone(), events.clone()));

    let back = dir.path().join("back.trace");
    let result = convert(&[&compressed, &back], &["--to", "cachescope"]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert!(std::fs::read_to_string(&back).unwrap().starts_with("#cachescope-trace"));
    assert_eq!(contents(&back), (header, events));
    assert_eq!(report(&back, "1"), report(&readable, "1"));
}

#[test]
fn malformed_lines_stop_it_or_are_left_out_with_skip_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (0..100u64)
        .map(|i| if i == 50 { "not an event".to_string() } else { format!("{} 1 0 read k:{i} miss", i * 1_000) })
        .collect();
    let readable = trace(dir.path(), "bad.trace", "", &lines);
    let output = dir.path().join("out.cst");

    let stopped = convert(&[&readable, &output], &[]);
    assert_eq!(stopped.code, 65, "{}", stopped.stderr);
    assert!(
        stopped.stderr.contains("bad.trace:52") && stopped.stderr.contains("--skip-bad-lines"),
        "{}",
        stopped.stderr
    );
    assert_eq!(files_in(dir.path()), ["bad.trace"], "nothing written");

    let skipped = convert(&[&readable, &output], &["--skip-bad-lines"]);
    assert_eq!(skipped.code, 0, "{}", skipped.stderr);
    assert!(skipped.stderr.contains("99 events (1 malformed lines left out)"), "{}", skipped.stderr);
    assert_eq!(contents(&output).1.len(), 99);
}

#[test]
fn a_damaged_trace_leaves_nothing_under_the_output_name() {
    let dir = tempfile::tempdir().unwrap();
    let readable = small_app_trace(dir.path());
    let whole = dir.path().join("whole.cst");
    assert_eq!(convert(&[&readable, &whole], &["-q"]).code, 0);
    let bytes = std::fs::read(&whole).unwrap();
    let cut = dir.path().join("cut.cst");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();

    let output = dir.path().join("out.cst");
    let result = convert(&[&cut, &output], &[]);
    assert_eq!(result.code, 65, "{}", result.stderr);
    assert!(result.stderr.contains("cut.cst") && result.stderr.contains("byte"), "{}", result.stderr);
    let mut left = files_in(dir.path());
    left.retain(|name| name.contains("out.cst"));
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn it_refuses_what_it_cannot_or_should_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let readable = small_app_trace(dir.path());
    let output = dir.path().join("out.cst");

    // Requests without outcomes are read as they are: converted, they would lose how they are replayed.
    let csv = dir.path().join("twitter.csv");
    std::fs::write(&csv, "0,user:1,6,100,1,get,0\n1,user:2,6,100,1,set,60\n").unwrap();
    let refused = convert(&[&csv, &output], &["--format", "twitter-csv"]);
    assert_eq!(refused.code, 64, "{}", refused.stderr);
    assert!(refused.stderr.contains("requests without outcomes"), "{}", refused.stderr);
    assert!(!output.exists());

    let refused = convert(&[&readable, &output], &["--to", "twitter-csv"]);
    assert_eq!(refused.code, 64, "{}", refused.stderr);
    assert!(refused.stderr.contains("cachescope or cachescope-compact"), "{}", refused.stderr);

    // Never over the trace being read, even with --force.
    let before = std::fs::read(&readable).unwrap();
    let same = convert(&[&readable, &readable], &["--force"]);
    assert_eq!(same.code, 64, "{}", same.stderr);
    assert!(same.stderr.contains("the trace being converted"), "{}", same.stderr);
    assert_eq!(std::fs::read(&readable).unwrap(), before);

    // Over another file only with --force.
    std::fs::write(&output, "keep me").unwrap();
    let exists = convert(&[&readable, &output], &[]);
    assert_eq!(exists.code, 64, "{}", exists.stderr);
    assert!(exists.stderr.contains("--force"), "{}", exists.stderr);
    assert_eq!(std::fs::read_to_string(&output).unwrap(), "keep me");
    assert_eq!(convert(&[&readable, &output], &["--force", "-q"]).code, 0);
    assert_eq!(contents(&output), contents(&readable));

    // A folder that is not there: the output cannot be created.
    let nowhere = dir.path().join("missing").join("out.cst");
    let result = convert(&[&readable, &nowhere], &[]);
    assert_eq!(result.code, 73, "{}", result.stderr);
    assert_eq!(result.stderr.matches("No such file").count(), 1, "said once: {}", result.stderr);
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().file_name().to_string_lossy().into()).collect();
    names.sort();
    names
}

/// A recording cut short, as a proxy killed mid-write leaves it: uncompressed, cut inside a block, and
/// compressed, cut inside its zstd frame.
#[test]
fn a_recording_cut_short_reports_up_to_the_cut_with_skip_bad_lines_on_any_threads() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (0..40_000u64)
        .map(|i| match i % 4 {
            0 => format!("{} 1 0 write item:{} ok ttl=60000 size=300", i * 1_000, i % 5_000),
            _ => format!("{} 1 0 read item:{} {}", i * 1_000, i % 5_000, if i % 3 == 0 { "miss" } else { "hit" }),
        })
        .collect();
    let readable = trace(dir.path(), "app.trace", "#initial-state empty\n", &lines);
    let whole = dir.path().join("whole.cst");
    let compressed = dir.path().join("whole.cst.zst");
    for output in [&whole, &compressed] {
        assert_eq!(convert(&[&readable, output], &["-q"]).code, 0);
    }
    let cut = |from: &Path, name: &str| {
        let bytes = std::fs::read(from).unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes[..bytes.len() * 3 / 5]).unwrap();
        path
    };
    let whole_reads = report(&whole, "1")["summary"]["reads"].as_u64().unwrap();
    for cut in [cut(&whole, "cut.cst"), cut(&compressed, "cut.cst.zst")] {
        let stopped = run(&["analyze", cut.to_str().unwrap(), "--no-simulation"]);
        assert_eq!(stopped.code, 65, "{}", stopped.stderr);
        assert!(
            stopped.stderr.contains("cut short") && stopped.stderr.contains("--skip-bad-lines"),
            "{}",
            stopped.stderr
        );

        let skipping = |threads: &str| {
            let args = ["analyze", cut.to_str().unwrap(), "-o", "json", "--no-simulation", "--skip-bad-lines"];
            let result = run(&[&args[..], &["--threads", threads]].concat());
            assert_eq!(result.code, 0, "{}", result.stderr);
            assert!(result.stderr.contains("cut short"), "said: {}", result.stderr);
            let mut report = result.json();
            report["source"] = Value::Null;
            report
        };
        let mut one = skipping("1");
        let reads = one["summary"]["reads"].as_u64().unwrap();
        assert!(reads > 0 && reads < whole_reads, "{reads} of {whole_reads}");
        assert_eq!(one["notes"]["cut_short"], true, "the report says so: {}", one["notes"]);
        for threads in ["2", "3"] {
            assert_eq!(skipping(threads), one, "{} on {threads} threads", cut.display());
        }
        let text = run(&["analyze", cut.to_str().unwrap(), "--no-simulation", "--skip-bad-lines", "-q"]);
        assert!(text.stdout.contains("The trace was cut short"), "{}", text.stdout);

        // The curves and the what-if say so too, on one thread and on two, in JSON and in text.
        for command in [&["mrc"][..], &["mrc", "--sample-rate", "0.5"], &["whatif", "--policy", "allkeys-fifo"]] {
            for threads in ["1", "2"] {
                let args = [command, &[cut.to_str().unwrap(), "--skip-bad-lines", "-q", "--threads", threads]].concat();
                let json = run(&[&args[..], &["-o", "json"]].concat());
                assert_eq!(json.code, 0, "{command:?}: {}", json.stderr);
                assert_eq!(json.json()["cut_short"], true, "{command:?} on {threads} threads");
                let text = run(&args);
                assert!(text.stdout.contains("The trace was cut short"), "{command:?}: {}", text.stdout);
                let whole = [command, &[whole.to_str().unwrap(), "-q", "-o", "json", "--threads", threads]].concat();
                assert_eq!(run(&whole).json().get("cut_short"), None, "{command:?} of the whole trace");
            }
        }

        // In shards: each share says so, and so does their merge.
        let shares: Vec<String> = (1..=2)
            .map(|i| {
                let share = dir.path().join(format!("share-{i}.cs"));
                let shard = format!("{i}/2");
                let args = ["analyze", cut.to_str().unwrap(), "--skip-bad-lines", "-q", "--shard", &shard];
                let result = run(&[&args[..], &["--share-file", share.to_str().unwrap()]].concat());
                assert_eq!(result.code, 0, "{}", result.stderr);
                share.to_str().unwrap().to_string()
            })
            .collect();
        let merged = run(&["merge", &shares[0], &shares[1], "-o", "json"]);
        assert_eq!(merged.code, 0, "{}", merged.stderr);
        assert_eq!(merged.json()["notes"]["cut_short"], true, "{}", merged.json()["notes"]);
        one["notes"].as_object_mut().unwrap().remove("cut_short");

        // Salvaged: the events before the cut, in a whole file, give that report without a warning.
        let salvaged = dir.path().join("salvaged.cst");
        let result = convert(&[&cut, &salvaged], &["--skip-bad-lines", "--force"]);
        assert_eq!(result.code, 0, "{}", result.stderr);
        let again = run(&["analyze", salvaged.to_str().unwrap(), "-o", "json", "--no-simulation"]);
        assert!(!again.stderr.contains("cut short"), "{}", again.stderr);
        assert_eq!(again.json()["notes"].get("cut_short"), None, "a whole file: {}", again.json()["notes"]);
        assert_eq!(report(&salvaged, "2"), one);
    }
}
