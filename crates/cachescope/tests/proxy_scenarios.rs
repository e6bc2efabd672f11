//! The five causes reproduced by an application against a real Redis, through the proxy: the proxy must report
//! the right cause on the right pattern, and nothing for a healthy application.

mod common;

use std::thread::sleep;
use std::time::Duration;

use common::findings;
use common::redis_server::{Proxy, RedisServer};
use redis::Connection;

fn get(connection: &mut Connection, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET").arg(key).query(connection).expect("GET works")
}

fn set_ex(connection: &mut Connection, key: &str, value: &[u8], seconds: u64) -> redis::RedisResult<()> {
    redis::cmd("SET").arg(key).arg(value).arg("EX").arg(seconds).query(connection)
}

/// Read-through: the value from the cache, or computed and stored under `write_key` (the same key unless the
/// application has the key-mismatch bug).
fn read_through(connection: &mut Connection, key: &str, write_key: &str, size: usize, ttl: u64) {
    if get(connection, key).is_none() {
        let _ = set_ex(connection, write_key, &vec![b'v'; size], ttl);
    }
}

#[track_caller]
fn assert_findings(report: &serde_json::Value, expected: &[(&str, &str)]) {
    let expected: Vec<(String, String)> = expected.iter().map(|(c, p)| (c.to_string(), p.to_string())).collect();
    assert_eq!(findings(report), expected, "report: {}", serde_json::to_string_pretty(&report["patterns"]).unwrap());
}

#[test]
fn a_healthy_application_gets_no_finding() {
    let server = RedisServer::start(&[]);
    let proxy = Proxy::start(&server.url(), &[]);
    let mut app = proxy.client();
    for _ in 0..10 {
        for id in 0..50 {
            read_through(&mut app, &format!("product:{id}"), &format!("product:{id}"), 200, 3600);
        }
    }
    drop(app);
    let report = proxy.stop();
    assert_findings(&report, &[]);
    assert_eq!(report["summary"]["reads"], 500);
    assert_eq!(report["summary"]["writes"], 50);
}

#[test]
fn a_ttl_shorter_than_the_reaccess_interval() {
    let server = RedisServer::start(&[]);
    let proxy = Proxy::start(&server.url(), &[]);
    let mut app = proxy.client();
    for round in 0..4 {
        if round > 0 {
            sleep(Duration::from_millis(1_300));
        }
        for id in 0..40 {
            read_through(&mut app, &format!("session:{id}"), &format!("session:{id}"), 100, 1);
        }
    }
    drop(app);
    let report = proxy.stop();
    assert_findings(&report, &[("ttl_too_short", "session:{num}")]);
    let finding = &report["findings"][0];
    assert_eq!(finding["suggestion"]["parameters"]["current_ttl_seconds"], 1.0);
    assert!(finding["suggestion"]["parameters"]["ttl_seconds"].as_u64().unwrap() >= 2);
}

#[test]
fn a_maxmemory_too_small_for_the_working_set() {
    let server = RedisServer::start(&["--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru"]);
    let proxy = Proxy::start(&server.url(), &[]);
    sleep(Duration::from_millis(1_500)); // the proxy's watcher reads maxmemory
    let mut app = proxy.client();
    for _ in 0..3 {
        for id in 0..600 {
            read_through(&mut app, &format!("img:{id}"), &format!("img:{id}"), 16 << 10, 3600);
        }
    }
    drop(app);
    let report = proxy.stop();
    assert_findings(&report, &[("memory_pressure", "img:{num}")]);
    assert_eq!(report["notes"]["cache_capacity_bytes"], 4 << 20, "the proxy learned maxmemory");
    let suggested = report["findings"][0]["suggestion"]["parameters"]["maxmemory_bytes"].as_u64().unwrap();
    assert!(suggested > 8 << 20, "suggests room for the ~10 MB working set: {suggested}");
}

#[test]
fn readers_and_writers_that_disagree_on_the_key() {
    let server = RedisServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("traffic.trace.zst");
    let proxy = Proxy::start(&server.url(), &["--record", recording.to_str().unwrap()]);
    let mut app = proxy.client();
    for _ in 0..2 {
        for id in 0..100 {
            read_through(&mut app, &format!("users:{id}"), &format!("user:{id}"), 100, 3600);
        }
    }
    drop(app);
    let report = proxy.stop();
    assert_findings(&report, &[("key_mismatch", "users:{num}")]);
    assert_eq!(report["findings"][0]["related_patterns"][0], "user:{num}");

    // The recording analysed later gives the same diagnosis.
    let replayed = common::run(&["analyze", recording.to_str().unwrap(), "-o", "json"]).json();
    assert_eq!(replayed["findings"], report["findings"]);
    assert_eq!(replayed["summary"], report["summary"]);
    assert_eq!(replayed["notes"]["initial_state"], "unknown");
}

#[test]
fn findings_print_live_when_they_change() {
    use std::io::Read;
    let server = RedisServer::start(&[]);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("cachescope"))
        .args([
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &server.url(),
            "-o",
            "json",
            "--report-every",
            "200ms",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    let address = line.split("listening on ").nth(1).unwrap().split(',').next().unwrap().to_string();
    let mut app = redis::Client::open(format!("redis://{address}")).unwrap().get_connection().unwrap();
    for id in 0..100 {
        read_through(&mut app, &format!("users:{id}"), &format!("user:{id}"), 100, 3600);
    }
    sleep(Duration::from_millis(800));
    for id in 0..100 {
        read_through(&mut app, &format!("users:{id}"), &format!("user:{id}"), 100, 3600);
    }
    sleep(Duration::from_millis(800));
    drop(app);
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    assert!(child.wait().unwrap().success());
    let documents: Vec<serde_json::Value> =
        serde_json::Deserializer::from_str(&stdout).into_iter().collect::<Result<_, _>>().unwrap();
    assert!(documents.len() >= 2, "live updates, then the final report: {stdout}");
    // A live update only when the findings changed: not one per tick.
    assert!(documents.len() < 8, "{} documents", documents.len());
    assert_findings(&documents[0], &[("key_mismatch", "users:{num}")]);
    assert!(stdout.lines().next().unwrap().ends_with('}'), "live updates are one JSON document per line");
}

#[test]
fn a_restart_followed_by_traffic() {
    let mut server = RedisServer::start(&[]);
    let proxy = Proxy::start(&server.url(), &[]);
    let mut app = proxy.client();
    for _ in 0..3 {
        for id in 0..200 {
            read_through(&mut app, &format!("catalog:{id}"), &format!("catalog:{id}"), 100, 3600);
        }
    }
    drop(app);
    server.restart();
    sleep(Duration::from_millis(2_500)); // the proxy's watcher notices the new run id
    let mut app = proxy.client();
    for _ in 0..3 {
        for id in 0..200 {
            read_through(&mut app, &format!("catalog:{id}"), &format!("catalog:{id}"), 100, 3600);
        }
    }
    drop(app);
    let report = proxy.stop();
    assert_findings(&report, &[("cold_cache", "catalog:{num}")]);
    assert!(report["markers"].as_array().unwrap().iter().any(|m| m["kind"] == "restart"));
    assert_eq!(report["summary"]["miss_causes"]["flushed"], 200);
}

#[test]
fn a_fill_path_whose_writes_fail() {
    let server = RedisServer::start(&["--maxmemory", "3mb", "--maxmemory-policy", "noeviction"]);
    // Fill the server directly (not through the proxy) until it refuses writes.
    let mut direct = server.client();
    for id in 0.. {
        if set_ex(&mut direct, &format!("filler:{id}"), &vec![b'x'; 64 << 10], 3600).is_err() {
            break;
        }
    }
    let proxy = Proxy::start(&server.url(), &[]);
    let mut app = proxy.client();
    for _ in 0..2 {
        for id in 0..100 {
            read_through(&mut app, &format!("cart:{id}"), &format!("cart:{id}"), 1 << 10, 3600);
        }
    }
    drop(app);
    let report = proxy.stop();
    assert_findings(&report, &[("failed_write", "cart:{num}")]);
    let metrics = &report["findings"][0]["evidence"]["metrics"];
    assert_eq!(metrics["error_kinds"]["OOM"], 200, "every write was refused: {metrics}");
    assert_eq!(report["summary"]["write_errors"], 200);
}
