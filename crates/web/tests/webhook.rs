//! The webhook against a real local HTTP server: delivered, retried, rate-limited into a digest, and never
//! stuck on a receiver that does not answer.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use cachescope_live::{Anomaly, AnomalyKind, LiveEvent};
use cachescope_web::webhook::{WebhookConfig, spawn};
use tokio::sync::broadcast;

/// A receiver that answers `failures` requests with 500, then 200, and keeps the bodies of all.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    _runtime: tokio::runtime::Runtime,
}

#[derive(Clone)]
struct Shared {
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    failures: Arc<Mutex<u32>>,
}

async fn take(State(shared): State<Shared>, body: String) -> StatusCode {
    shared.bodies.lock().unwrap().push(serde_json::from_str(&body).expect("the webhook posts JSON"));
    let mut failures = shared.failures.lock().unwrap();
    if *failures > 0 {
        *failures -= 1;
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

fn receiver(failures: u32) -> Receiver {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let shared = Shared { bodies: bodies.clone(), failures: Arc::new(Mutex::new(failures)) };
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Router::new().route("/hook", post(take)).with_state(shared);
    runtime.spawn(async move { axum::serve(listener, app).await });
    Receiver { url, bodies, _runtime: runtime }
}

fn anomaly(id: u64, text: &str) -> Anomaly {
    Anomaly {
        id,
        kind: AnomalyKind::HitRatioFall,
        series: "*".into(),
        cause: None,
        started_at: 0,
        flagged_at: 0,
        closed_at: None,
        baseline: 0.05,
        peak: 0.4,
        current: 0.4,
        after_marker: None,
        text: text.into(),
    }
}

fn config(url: &str) -> WebhookConfig {
    WebhookConfig {
        backoff: Duration::from_millis(20),
        timeout: Duration::from_millis(500),
        ..WebhookConfig::new(url, "test")
    }
}

#[test]
fn an_anomaly_is_delivered_with_its_sentence_and_retried_after_a_server_error() {
    let receiver = receiver(1);
    let (changes, listening) = broadcast::channel(16);
    let thread = spawn(config(&receiver.url), listening).unwrap();
    changes.send(LiveEvent::Window { time: 0, windows: 1 }).unwrap();
    changes.send(LiveEvent::AnomalyOpened { anomaly: anomaly(1, "hit ratio 95% -> 61% from 14:02:10") }).unwrap();
    drop(changes);
    thread.join().unwrap();
    let bodies = receiver.bodies.lock().unwrap();
    assert_eq!(bodies.len(), 2, "a 500, then delivered: {bodies:?}");
    assert_eq!(bodies[0], bodies[1]);
    assert_eq!(bodies[1]["text"], "cachescope test: anomaly opened: hit ratio 95% -> 61% from 14:02:10");
    assert_eq!(bodies[1]["event"], "anomaly_opened");
    assert_eq!(bodies[1]["anomalies"][0]["kind"], "hit_ratio_fall");
}

/// Waits until `receiver` has `count` bodies (or 5 s).
fn wait_for_bodies(receiver: &Receiver, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while receiver.bodies.lock().unwrap().len() < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn past_the_rate_limit_anomalies_wait_and_go_out_as_one_digest() {
    let receiver = receiver(0);
    let (changes, listening) = broadcast::channel(64);
    let config = WebhookConfig { burst: 2, period: Duration::from_millis(600), ..config(&receiver.url) };
    let thread = spawn(config, listening).unwrap();
    for id in 0..2 {
        changes.send(LiveEvent::AnomalyOpened { anomaly: anomaly(id, &format!("anomaly {id}")) }).unwrap();
        wait_for_bodies(&receiver, id as usize + 1);
    }
    // The burst is spent: these wait for the bucket to refill (a third of the period), then go out together,
    // while the live layer still runs.
    for id in 2..6 {
        changes.send(LiveEvent::AnomalyOpened { anomaly: anomaly(id, &format!("anomaly {id}")) }).unwrap();
    }
    wait_for_bodies(&receiver, 3);
    let bodies = receiver.bodies.lock().unwrap().clone();
    let events: Vec<&str> = bodies.iter().map(|b| b["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["anomaly_opened", "anomaly_opened", "digest"]);
    assert_eq!(bodies[2]["anomalies"].as_array().unwrap().len(), 4);
    assert!(bodies[2]["text"].as_str().unwrap().contains("\n- opened: anomaly 5"), "{}", bodies[2]["text"]);
    drop(changes);
    thread.join().unwrap();
}

#[test]
fn a_receiver_that_never_answers_costs_a_timeout_not_a_hang() {
    // Accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", silent.local_addr().unwrap());
    let (changes, listening) = broadcast::channel(4);
    let config = WebhookConfig { attempts: 2, timeout: Duration::from_millis(200), ..config(&url) };
    let thread = spawn(config, listening).unwrap();
    let started = Instant::now();
    // More changes than the channel holds: sending never waits, the webhook counts what it missed.
    for id in 0..100 {
        changes.send(LiveEvent::AnomalyOpened { anomaly: anomaly(id, "x") }).unwrap();
    }
    assert!(started.elapsed() < Duration::from_millis(100), "sending never waits on the webhook");
    drop(changes);
    thread.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "it gave up: {:?}", started.elapsed());
}
