//! The proxy with `--http`: metrics, the API and markers while it relays real traffic to a real redis-server.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::http::{http, wait_for, webhook_receiver};
use common::redis_server::{Proxy, RedisServer, free_port};
use common::run;

#[test]
fn metrics_api_and_markers_while_relaying() {
    let server = RedisServer::start(&[]);
    let address = format!("127.0.0.1:{}", free_port());
    let proxy = Proxy::start(&server.url(), &["--http", &address, "--http-token", "t0ken", "--window", "1s"]);
    let mut app = proxy.client();
    for id in 0..50 {
        let _: Option<String> = redis::cmd("GET").arg(format!("user:{id}")).query(&mut app).unwrap();
        let _: () = redis::cmd("SET").arg(format!("user:{id}")).arg("v").query(&mut app).unwrap();
        let _: Option<String> = redis::cmd("GET").arg(format!("user:{id}")).query(&mut app).unwrap();
    }
    assert_eq!(http(&address, "GET", "/metrics", None, "").0, 401, "the token is required");
    // Metrics count closed windows (of 1 s here): wait for the reads to show.
    wait_for("the reads in /metrics", || {
        let (status, text) = http(&address, "GET", "/metrics", Some("t0ken"), "");
        status == 200
            && text.contains("cachescope_reads_total{pattern=\"*\"} 100")
            && text.contains("cachescope_misses_total{pattern=\"user:{num}\"} 50")
    });
    let (status, body) = http(&address, "GET", "/api/report", Some("t0ken"), "");
    assert_eq!(status, 200, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["summary"]["reads"], 100);

    let marked =
        run(&["mark", "deploy", "--note", "v1.2.3", "--url", &format!("http://{address}"), "--http-token", "t0ken"]);
    assert_eq!(marked.code, 0, "{}", marked.stderr);
    let refused = run(&["mark", "deploy", "--url", &format!("http://{address}")]);
    assert_eq!(refused.code, 77, "no token: {}", refused.stderr);
    assert!(refused.stderr.contains("--http-token"), "{}", refused.stderr);
    drop(app);
    let report = proxy.stop();
    let labels: Vec<&str> = report["markers"].as_array().unwrap().iter().filter_map(|m| m["label"].as_str()).collect();
    assert_eq!(labels, ["deploy v1.2.3"]);
}

#[test]
fn http_beyond_loopback_needs_a_token() {
    let server = RedisServer::start(&[]);
    let result = run(&[
        "proxy",
        "--listen",
        &format!("127.0.0.1:{}", free_port()),
        "--upstream",
        &server.url(),
        "--http",
        &format!("0.0.0.0:{}", free_port()),
        "--duration",
        "1s",
    ]);
    assert_eq!(result.code, 64, "{}", result.stderr);
    assert!(result.stderr.contains("--http-token"), "{}", result.stderr);
}

#[test]
fn mark_says_when_nothing_listens() {
    let result = run(&["mark", "deploy", "--url", &format!("http://127.0.0.1:{}", free_port())]);
    assert_eq!(result.code, 69, "{}", result.stderr);
    assert!(result.stderr.contains("cannot reach"), "{}", result.stderr);
}

#[test]
fn sigterm_drains_like_ctrl_c_with_the_recording_flushed_and_json_logs() {
    let server = RedisServer::start(&[]);
    let folder = tempfile::tempdir().unwrap();
    let recording = folder.path().join("traffic.csv");
    let proxy = Proxy::start(&server.url(), &["--record", recording.to_str().unwrap(), "--log-format", "json"]);
    let mut app = proxy.client();
    for id in 0..30 {
        let _: Option<String> = redis::cmd("GET").arg(format!("item:{id}")).query(&mut app).unwrap();
    }
    drop(app);
    let stderr_before = proxy.stderr();
    let report = proxy.stop_with("TERM");
    assert_eq!(report["summary"]["reads"], 30, "the final report, as after Ctrl-C");
    let replayed = run(&["analyze", recording.to_str().unwrap(), "-o", "json"]);
    assert_eq!(replayed.code, 0, "{}", replayed.stderr);
    let replayed: serde_json::Value = serde_json::from_str(&replayed.stdout).unwrap();
    assert_eq!(replayed["summary"]["reads"], 30, "the recording was flushed");
    for line in stderr_before.lines() {
        let record: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(record["level"].is_string() && record["message"].is_string(), "{line}");
    }
    assert!(stderr_before.contains("listening on"), "{stderr_before}");
}

#[test]
fn a_flush_posts_an_anomaly_to_the_webhook() {
    let server = RedisServer::start(&[]);
    let (url, received) = webhook_receiver();
    let proxy = Proxy::start(&server.url(), &["--window", "1s", "--webhook", &url]);
    let mut app = proxy.client();
    for id in 0..20 {
        let _: () = redis::cmd("SET").arg(format!("user:{id}")).arg("v").query(&mut app).unwrap();
    }
    let _: () = redis::cmd("FLUSHALL").query(&mut app).unwrap();
    let body = received.recv_timeout(Duration::from_secs(20)).expect("the webhook is called within a few windows");
    assert_eq!(body["event"], "anomaly_opened", "{body}");
    assert_eq!(body["anomalies"][0]["kind"], "flush", "{body}");
    let text = body["text"].as_str().unwrap();
    assert!(text.starts_with("cachescope proxy ") && text.contains("FLUSHALL at"), "{text}");
    drop(app);
    proxy.stop();
}

#[test]
fn a_hanging_webhook_and_a_stalled_event_stream_do_not_hold_up_the_traffic_or_the_analysis() {
    let server = RedisServer::start(&[]);
    // Accepts, never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hook = format!("http://{}/hook", silent.local_addr().unwrap());
    let address = format!("127.0.0.1:{}", free_port());
    let proxy = Proxy::start(&server.url(), &["--window", "1s", "--http", &address, "--webhook", &hook]);
    // Subscribes to the live events and never reads them.
    let mut stalled = TcpStream::connect(&address).unwrap();
    stalled.write_all(format!("GET /api/events HTTP/1.1\r\nHost: {address}\r\n\r\n").as_bytes()).unwrap();
    let mut app = proxy.client();
    let rounds = 200;
    for round in 0..rounds {
        let mut pipe = redis::pipe();
        for id in 0..100 {
            pipe.cmd("GET").arg(format!("k:{id}"));
        }
        if round % 50 == 49 {
            pipe.cmd("FLUSHALL");
        }
        let _: Vec<redis::Value> = pipe.query(&mut app).unwrap();
    }
    wait_for("the metrics of every read", || {
        let (_, text) = http(&address, "GET", "/metrics", None, "");
        text.contains(&format!("cachescope_reads_total{{pattern=\"*\"}} {}", rounds * 100))
    });
    drop(app);
    let stderr = proxy.stderr();
    let report = proxy.stop();
    assert_eq!(report["summary"]["reads"], rounds * 100);
    assert!(!stderr.contains("dropped"), "{stderr}");
    drop(stalled);
}
