//! `cachescope demo --live`: the scenario played through the live layer, as a newcomer runs it, with the HTTP API
//! and a webhook, no server.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::http::{http, wait_for, webhook_receiver};
use common::redis_server::free_port;

#[test]
fn the_live_demo_opens_and_closes_anomalies_serves_metrics_and_calls_the_webhook() {
    let address = format!("127.0.0.1:{}", free_port());
    let (hook, received) = webhook_receiver();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("cachescope"))
        .args(["demo", "--live", "--speed", "600", "--color", "never", "--http", &address, "--webhook", &hook])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs the demo");
    let stderr = Arc::new(Mutex::new(String::new()));
    let collected = stderr.clone();
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            collected.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
    let mut stdout = child.stdout.take().unwrap();
    let printed = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        text
    });
    // 30 simulated minutes at 600x: a few seconds, then it keeps serving its last state.
    let mut waited = 0;
    while !stderr.lock().unwrap().contains("the scenario is over") {
        std::thread::sleep(Duration::from_millis(200));
        waited += 1;
        assert!(waited < 600, "the demo did not end: {}", stderr.lock().unwrap());
    }
    let (status, metrics) = http(&address, "GET", "/metrics", None, "");
    assert_eq!(status, 200);
    assert!(metrics.contains("cachescope_markers_total{kind=\"deploy\"} 3"), "{metrics}");
    assert!(metrics.contains("cachescope_anomalies_opened_total{kind=\"new_pattern\"} 1"), "{metrics}");
    let (status, body) = http(&address, "GET", "/api/report", None, "");
    assert_eq!(status, 200, "the last report stays served: {body}");
    let (_, anomalies) = http(&address, "GET", "/api/anomalies", None, "");
    let anomalies: serde_json::Value = serde_json::from_str(&anomalies).unwrap();
    let kinds: Vec<&str> = anomalies.as_array().unwrap().iter().map(|a| a["kind"].as_str().unwrap()).collect();
    for kind in ["new_pattern", "flush", "restart", "hit_ratio_fall"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    // `top` attached to the running instance draws the same state.
    let frame = common::run(&["top", &format!("http://{address}"), "--dump", "100x30", "--color", "never"]);
    assert_eq!(frame.code, 0, "{}", frame.stderr);
    assert!(
        frame.stdout.contains(&format!("http://{address}")) && frame.stdout.contains("users:{num}"),
        "{}",
        frame.stdout
    );

    let mut hooks = Vec::new();
    wait_for("the webhook's messages", || {
        while let Ok(body) = received.try_recv() {
            hooks.push(body);
        }
        hooks.iter().any(|b| b["text"].as_str().unwrap_or("").contains("users:{num}"))
    });

    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    assert!(child.wait().unwrap().success());
    let stdout = printed.join().unwrap();
    let new_pattern = stdout.lines().find(|l| l.starts_with("ANOMALY: new pattern users:{num}")).unwrap_or_else(|| {
        panic!("no anomaly line for the key format the deploy changed:\n{stdout}");
    });
    assert!(new_pattern.contains("after deploy v1.2.3"), "{new_pattern}");
    assert!(stdout.contains("RESOLVED: new pattern users:{num}"), "the rollback closes it:\n{stdout}");
    assert!(stdout.contains("ANOMALY: the server restarted"), "{stdout}");
    assert!(stdout.contains("key_mismatch"), "the final report:\n{stdout}");
}

#[test]
fn http_and_webhook_need_live() {
    let run = common::run(&["demo", "--http", "127.0.0.1:0"]);
    assert_eq!(run.code, 64, "{}", run.stderr);
    assert!(run.stderr.contains("--live"), "{}", run.stderr);
}

/// Whether `text` names a key of the demo (`user:1457`, `img:03a9…`) rather than only patterns (`user:{num}`).
fn names_a_key(text: &str) -> Option<String> {
    for prefix in ["user:", "users:", "img:", "catalog:", "product:", "report:", "session:", "search:"] {
        for (at, _) in text.match_indices(prefix) {
            let next = text[at + prefix.len()..].chars().next();
            if next.is_some_and(|c| c.is_ascii_alphanumeric()) {
                return Some(text[at..(at + prefix.len() + 12).min(text.len())].to_string());
            }
        }
    }
    None
}

#[test]
fn redact_keys_serves_patterns_and_no_key_name() {
    let address = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("cachescope"))
        .args(["demo", "--live", "--speed", "600", "--http", &address, "--redact-keys", "-o", "json"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("the scenario is over") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "the demo ended early");
    }
    let (_, report) = http(&address, "GET", "/api/report", None, "");
    assert!(report.contains("\"findings\"") && report.contains("catalog:{num}"), "{report}");
    for path in ["/api/report", "/api/anomalies", "/api/overview", "/"] {
        let (status, body) = http(&address, "GET", path, None, "");
        assert_eq!(status, 200, "{path}");
        assert_eq!(names_a_key(&body), None, "{path} names a key");
    }
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    child.wait().unwrap();
}
