//! `cachescope doctor` against real servers it starts itself: what it sees (evictions, TTLs, restarts, refused
//! writes, policies), how it fails (unreachable, wrong password, silence), and that it never writes.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::redis_server::{DOCTOR_COMMANDS, RedisServer, commands_sent_during, free_port};
use common::{Run, findings, run};
use redis::Connection;

fn doctor(url: &str, extra: &[&str]) -> Run {
    let mut args = vec!["doctor", url, "-o", "json", "--quiet"];
    if !extra.contains(&"--interval") {
        args.extend(["--interval", "1s"]);
    }
    if !extra.contains(&"--expiry-watch") {
        args.extend(["--expiry-watch", "1s"]);
    }
    args.extend_from_slice(extra);
    run(&args)
}

fn set(connection: &mut Connection, key: &str, value: &[u8], ttl: Option<u64>) -> redis::RedisResult<()> {
    let mut command = redis::cmd("SET");
    command.arg(key).arg(value);
    if let Some(seconds) = ttl {
        command.arg("EX").arg(seconds);
    }
    command.query(connection)
}

fn get(connection: &mut Connection, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET").arg(key).query(connection).unwrap()
}

/// Runs `traffic` on a thread for `duration` while the doctor measures.
fn during(
    duration: Duration,
    server: &RedisServer,
    traffic: impl Fn(&mut Connection, u64) + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let mut connection = server.client();
    std::thread::spawn(move || {
        let end = Instant::now() + duration;
        let mut i = 0;
        while Instant::now() < end {
            traffic(&mut connection, i);
            i += 1;
        }
    })
}

#[test]
fn a_healthy_server_exits_0() {
    let server = RedisServer::start(&["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"]);
    let mut setup = server.client();
    for id in 0..200 {
        set(&mut setup, &format!("product:{id}"), b"value", Some(3600)).unwrap();
    }
    let traffic = during(Duration::from_secs(2), &server, |c, i| {
        get(c, &format!("product:{}", i % 200));
    });
    let result = doctor(&server.url(), &[]);
    traffic.join().unwrap();
    assert_eq!(result.code, 0, "{}", result.stdout);
    let report = result.json();
    assert!(findings(&report).is_empty());
    let server_report = &report["server"];
    assert!(server_report["hit_ratio_now"].as_f64().unwrap() > 0.99);
    assert_eq!(server_report["maxmemory_policy"], "allkeys-lru");
    assert_eq!(server_report["keys"], 200);
    assert_eq!(report["patterns"][0]["pattern"], "product:{num}");
    assert_eq!(report["patterns"][0]["distinct_keys"], 200);
}

#[test]
fn the_doctor_never_writes() {
    let server = RedisServer::start(&[]);
    let mut setup = server.client();
    for id in 0..50 {
        set(&mut setup, &format!("k:{id}"), b"v", None).unwrap();
    }
    let used = commands_sent_during(&mut setup, || {
        doctor(&server.url(), &[]);
    });
    assert!(used.iter().any(|name| name == "scan"), "the doctor did not sample: {used:?}");
    for command in used {
        assert!(DOCTOR_COMMANDS.contains(&command.as_str()), "the doctor sent {command}");
    }
}

#[test]
fn evictions_at_the_memory_limit() {
    let server = RedisServer::start(&["--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru"]);
    let traffic = during(Duration::from_secs(2), &server, |c, i| {
        let key = format!("img:{}", i % 2_000);
        if get(c, &key).is_none() {
            let _ = set(c, &key, &[b'x'; 16 << 10], Some(3600));
        }
    });
    let result = doctor(&server.url(), &[]);
    traffic.join().unwrap();
    let report = result.json();
    assert!(findings(&report).contains(&("memory_pressure".into(), "*".into())), "{}", result.stdout);
    assert!(report["server"]["evictions_per_second"].as_f64().unwrap() > 0.0);
    assert!(result.code >= 1);
    let suggested =
        report["findings"].as_array().unwrap().iter().find(|f| f["cause"] == "memory_pressure").unwrap()["suggestion"]
            ["parameters"]["maxmemory_bytes"]
            .as_u64()
            .unwrap();
    assert!(suggested >= 8 << 20);
}

#[test]
fn keys_read_again_soon_after_they_expire() {
    let server = RedisServer::start(&[]);
    let mut setup = server.client();
    for id in 0..200 {
        set(&mut setup, &format!("product:{id}"), b"v", Some(3600)).unwrap();
    }
    // A read-through application: sessions live 1 s and each is read about every 0.2 s (a sixth of their reads
    // miss for the TTL); products live an hour.
    let traffic = during(Duration::from_secs(7), &server, |c, i| {
        let key = format!("session:{}", i % 500);
        if get(c, &key).is_none() {
            let _: () = redis::cmd("SET").arg(&key).arg("v").arg("PX").arg(1000).query(c).unwrap();
        }
        get(c, &format!("product:{}", i % 200));
        if i % 100 == 0 {
            sleep(Duration::from_millis(4));
        }
    });
    let result = doctor(&server.url(), &["--expiry-watch", "3s"]);
    traffic.join().unwrap();
    let report = result.json();
    assert_eq!(
        findings(&report),
        vec![("ttl_too_short".to_string(), "session:{num}".to_string())],
        "{}",
        result.stdout
    );
    let finding = &report["findings"][0];
    assert_eq!(finding["suggestion"]["action"], "raise_ttl", "{finding}");
    let suggested = finding["suggestion"]["parameters"]["ttl_seconds"].as_u64().unwrap();
    assert!((2..=30).contains(&suggested), "{finding}");
    let watch = &report["server"]["expiry_watch"];
    assert!(watch["came_back"].as_u64().unwrap() >= 3, "{watch}");
    // Without the watch, nothing is concluded about TTLs.
    let traffic = during(Duration::from_secs(2), &server, |c, i| {
        let key = format!("session:{}", i % 500);
        if get(c, &key).is_none() {
            let _: () = redis::cmd("SET").arg(&key).arg("v").arg("PX").arg(1000).query(c).unwrap();
        }
    });
    let result = doctor(&server.url(), &["--expiry-watch", "0s"]);
    traffic.join().unwrap();
    let report = result.json();
    assert!(findings(&report).is_empty(), "{}", result.stdout);
    assert!(report["server"].get("expiry_watch").is_none());
}

#[test]
fn a_recent_restart_and_a_cold_cache() {
    let mut server = RedisServer::start(&[]);
    server.restart();
    let mut app = server.client();
    for id in 0..300 {
        let key = format!("catalog:{id}");
        if get(&mut app, &key).is_none() {
            set(&mut app, &key, b"v", Some(3600)).unwrap();
        }
    }
    let result = doctor(&server.url(), &[]);
    let report = result.json();
    assert!(findings(&report).contains(&("cold_cache".into(), "*".into())), "{}", result.stdout);
    assert_eq!(result.code, 1);
}

#[test]
fn a_restart_during_the_check() {
    let mut server = RedisServer::start(&[]);
    let url = server.url();
    let doctor = std::thread::spawn(move || doctor(&url, &["--interval", "2s"]));
    sleep(Duration::from_millis(800));
    server.restart();
    let result = doctor.join().unwrap();
    let report = result.json();
    assert!(findings(&report).contains(&("cold_cache".into(), "*".into())), "{}", result.stdout);
    assert!(report["findings"][0]["evidence"]["summary"].as_str().unwrap().contains("restarted during the check"));
}

#[test]
fn writes_refused_with_oom_under_noeviction() {
    let server = RedisServer::start(&["--maxmemory", "2mb", "--maxmemory-policy", "noeviction"]);
    let mut app = server.client();
    let mut refused = 0;
    for id in 0..2_000 {
        if set(&mut app, &format!("cart:{id}"), &[b'c'; 4 << 10], None).is_err() {
            refused += 1;
        }
    }
    assert!(refused > 0);

    // Writes refused while the doctor watches: critical.
    let traffic = during(Duration::from_secs(2), &server, |c, i| {
        let _ = set(c, &format!("cart:new:{i}"), &[b'c'; 4 << 10], None);
        sleep(Duration::from_millis(2));
    });
    let result = doctor(&server.url(), &[]);
    traffic.join().unwrap();
    let report = result.json();
    let found = findings(&report);
    assert!(found.contains(&("failed_write".into(), "*".into())), "{}", result.stdout);
    assert!(found.contains(&("eviction_policy".into(), "*".into())), "{}", result.stdout);
    assert_eq!(result.code, 2, "critical: {}", result.stdout);

    // Only refusals from before the check: still worth saying, no longer critical.
    let result = doctor(&server.url(), &[]);
    let report = result.json();
    let refusal = report["findings"].as_array().unwrap().iter().find(|f| f["cause"] == "failed_write").unwrap();
    assert_eq!(refusal["severity"], "info", "{refusal}");
    assert_eq!(refusal["evidence"]["metrics"]["count_during_check"], 0);
    assert!(refusal["evidence"]["metrics"]["count"].as_u64().unwrap() >= refused);
    assert_eq!(result.code, 1, "the full noeviction cache is still a warning: {}", result.stdout);
}

#[test]
fn wrongtype_replies() {
    let server = RedisServer::start(&[]);
    let mut app = server.client();
    set(&mut app, "profile:1", b"v", None).unwrap();
    for _ in 0..5 {
        assert!(redis::cmd("LPUSH").arg("profile:1").arg("x").query::<i64>(&mut app).is_err());
    }
    let report = doctor(&server.url(), &[]).json();
    let failed =
        report["findings"].as_array().unwrap().iter().find(|f| f["cause"] == "failed_write").expect("a failed_write");
    assert_eq!(failed["evidence"]["metrics"]["error_kind"], "WRONGTYPE");
    assert_eq!(failed["evidence"]["metrics"]["count"], 5);
}

#[test]
fn volatile_policy_with_keys_that_have_no_ttl() {
    let server = RedisServer::start(&["--maxmemory", "4mb", "--maxmemory-policy", "volatile-lru"]);
    let mut app = server.client();
    for id in 0.. {
        if set(&mut app, &format!("blob:{id}"), &[b'b'; 8 << 10], None).is_err() {
            break;
        }
        if id > 2_000 {
            break;
        }
    }
    let result = doctor(&server.url(), &[]);
    let report = result.json();
    let policy = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["cause"] == "eviction_policy")
        .expect("a policy finding");
    assert!(policy["evidence"]["summary"].as_str().unwrap().contains("no TTL"), "{}", result.stdout);
    assert_eq!(policy["suggestion"]["parameters"]["patterns_without_ttl"][0], "blob:{num}");
}

#[test]
fn disabled_commands_are_skipped_and_said() {
    let server = RedisServer::start(&[
        "--rename-command",
        "MEMORY",
        "",
        "--rename-command",
        "OBJECT",
        "",
        "--rename-command",
        "CONFIG",
        "",
    ]);
    let mut app = server.client();
    for id in 0..30 {
        set(&mut app, &format!("k:{id}"), b"v", None).unwrap();
    }
    let result = doctor(&server.url(), &[]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let report = result.json();
    let skipped = report["server"]["skipped"].to_string();
    assert!(skipped.contains("MEMORY USAGE refused") && skipped.contains("OBJECT IDLETIME refused"), "{skipped}");
    assert_eq!(report["patterns"][0]["distinct_keys"], 30);
    let text = run(&["doctor", &server.url(), "--interval", "1s", "--quiet", "--color", "never"]).stdout;
    assert!(text.contains("MEMORY USAGE refused"), "{text}");
}

#[test]
fn an_unreachable_server_is_a_one_line_error() {
    let result = doctor(&format!("redis://127.0.0.1:{}", free_port()), &["--timeout", "2s"]);
    assert_eq!(result.code, 69);
    assert_eq!(result.stderr.trim().lines().count(), 1, "{}", result.stderr);
    assert!(result.stderr.contains("cannot reach redis://127.0.0.1:"), "{}", result.stderr);
}

#[test]
fn a_wrong_password_is_a_one_line_error() {
    let server = RedisServer::start(&["--requirepass", "s3cret"]);
    let result = doctor(&format!("redis://:wrong@127.0.0.1:{}", server.port), &[]);
    assert_eq!(result.code, 77, "{}", result.stderr);
    assert_eq!(result.stderr.trim().lines().count(), 1, "{}", result.stderr);
    assert!(result.stderr.contains("refused the credentials"), "{}", result.stderr);
    assert!(!result.stderr.contains("wrong"), "the password is not printed: {}", result.stderr);
    let ok = doctor(&format!("redis://:s3cret@127.0.0.1:{}", server.port), &[]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
}

#[test]
fn a_server_that_never_answers_times_out() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let (mut stream, _) = silent.accept().unwrap();
        sleep(Duration::from_secs(4));
        let _ = stream.write_all(b"");
    });
    let started = Instant::now();
    let result = doctor(&format!("redis://127.0.0.1:{port}"), &["--timeout", "1s"]);
    assert_eq!(result.code, 69, "{}", result.stderr);
    assert!(started.elapsed() < Duration::from_secs(4), "gave up after its timeout");
    held.join().unwrap();
}

#[test]
fn tls_with_rediss_urls() {
    let server = RedisServer::start_tls(&[]);
    let port = server.tls_port.unwrap();
    let insecure = doctor(&format!("rediss://127.0.0.1:{port}#insecure"), &[]);
    let refused = doctor(&format!("rediss://127.0.0.1:{port}"), &[]);
    drop(server);
    assert_eq!(insecure.code, 0, "{}", insecure.stderr);
    assert!(insecure.json()["server"]["version"].as_str().unwrap().starts_with("redis"));
    assert_eq!(refused.code, 69);
    assert!(refused.stderr.contains("#insecure"), "the error says how to accept the certificate: {}", refused.stderr);
}

#[test]
fn statistics_reset_during_the_check() {
    let server = RedisServer::start(&[]);
    let mut app = server.client();
    set(&mut app, "k", b"v", None).unwrap();
    for _ in 0..500 {
        get(&mut app, "k");
    }
    let mut resetter = server.client();
    let reset = std::thread::spawn(move || {
        sleep(Duration::from_millis(600));
        let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query(&mut resetter).unwrap();
    });
    let report = doctor(&server.url(), &["--interval", "1500ms"]).json();
    reset.join().unwrap();
    assert_eq!(report["server"]["hit_ratio_now"], serde_json::Value::Null);
    assert!(report["server"]["notes"].to_string().contains("reset"), "{}", report["server"]);
}

#[test]
fn a_replica_is_said_to_be_one() {
    let primary = RedisServer::start(&["--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru"]);
    let replica = RedisServer::start(&["--replicaof", "127.0.0.1", &primary.port.to_string()]);
    let report = doctor(&replica.url(), &[]).json();
    assert_eq!(report["server"]["role"], "slave");
    assert!(report["server"]["notes"].to_string().contains("replica"), "{}", report["server"]);
    assert!(findings(&report).iter().all(|(cause, _)| cause != "memory_pressure" && cause != "eviction_policy"));
}
