//! `cachescope watch` against real servers it starts itself: the setting it needs (refused without it, set and
//! put back with --enable-notifications), the causes the server tells (expired, evicted, deleted), no hit ratio
//! where no hit was seen, and the events lost when the server drops the subscriber.

mod common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use common::http::{http, wait_for};
use common::redis_server::{RedisServer, free_port};
use common::{findings, run};
use redis::Connection;

fn flags(connection: &mut Connection) -> String {
    let pair: Vec<String> = redis::cmd("CONFIG").arg("GET").arg("notify-keyspace-events").query(connection).unwrap();
    pair[1].clone()
}

/// A read-through application on its own thread for `duration`: `key(i)` read, and written with `ttl_ms` when
/// missing.
fn read_through(
    server: &RedisServer,
    duration: Duration,
    key: impl Fn(u64) -> String + Send + 'static,
    ttl_ms: Option<u64>,
    value: usize,
) -> std::thread::JoinHandle<()> {
    let mut connection = server.client();
    std::thread::spawn(move || {
        let end = Instant::now() + duration;
        let payload = vec![b'v'; value];
        let mut i = 0;
        while Instant::now() < end {
            let key = key(i);
            let found: Option<Vec<u8>> = redis::cmd("GET").arg(&key).query(&mut connection).unwrap();
            if found.is_none() {
                let mut set = redis::cmd("SET");
                set.arg(&key).arg(&payload);
                if let Some(ms) = ttl_ms {
                    set.arg("PX").arg(ms);
                }
                let _: redis::RedisResult<()> = set.query(&mut connection);
            }
            i += 1;
            if i % 50 == 0 {
                sleep(Duration::from_millis(2));
            }
        }
    })
}

#[test]
fn without_notifications_it_says_how_to_turn_them_on() {
    let server = RedisServer::start(&[]);
    let result = run(&["watch", &server.url(), "--duration", "1s"]);
    assert_eq!(result.code, 78, "{}", result.stderr);
    assert!(result.stderr.contains("CONFIG SET notify-keyspace-events AEm"), "{}", result.stderr);
    assert!(result.stderr.contains("--enable-notifications"), "{}", result.stderr);
    assert_eq!(flags(&mut server.client()), "");
}

#[test]
fn enable_notifications_sets_them_and_puts_them_back() {
    let server = RedisServer::start(&["--notify-keyspace-events", "Kx"]);
    // Sessions live 300 ms and are read again about every 100 ms: most misses are expirations.
    let before = flags(&mut server.client());
    let traffic = read_through(&server, Duration::from_secs(4), |i| format!("session:{}", i % 200), Some(300), 10);
    let result = run(&["watch", &server.url(), "--enable-notifications", "--duration", "3s", "-o", "json"]);
    traffic.join().unwrap();
    assert_eq!(result.code, 0, "{}", result.stderr);
    // The server writes the classes in its own order (`xK`).
    let address = server.url().trim_start_matches("redis://").to_string();
    let set = format!("set to \"{before}AEm\" on {address} (was \"{before}\")");
    assert!(result.stderr.contains(&set), "{}", result.stderr);
    assert!(result.stderr.contains(&format!("back to \"{before}\"")), "{}", result.stderr);
    assert_eq!(flags(&mut server.client()), before);
    let report = result.json();
    // No hit is seen: no hit ratio, rather than 0%. The server's own is there.
    assert!(report["summary"]["hit_ratio"].is_null(), "{}", report["summary"]);
    assert_eq!(report["notes"]["hits_observed"], false);
    let server_ratio = report["server"]["hit_ratio_now"].as_f64().unwrap();
    assert!(server_ratio > 0.2 && server_ratio < 1.0, "{server_ratio}");
    let session = &report["patterns"][0];
    assert_eq!(session["pattern"], "session:{num}");
    assert!(session["hit_ratio"].is_null());
    let misses = session["misses"].as_u64().unwrap();
    let expired = session["miss_causes"]["expired"].as_u64().unwrap();
    assert!(misses > 100 && expired * 10 >= misses * 7, "{session}");
    assert!(findings(&report).contains(&("ttl_too_short".into(), "session:{num}".into())), "{}", result.stdout);
}

#[test]
fn evictions_and_deletes_the_server_tells() {
    let server = RedisServer::start(&[
        "--notify-keyspace-events",
        "AEm",
        "--maxmemory",
        "4mb",
        "--maxmemory-policy",
        "allkeys-lru",
    ]);
    let traffic = read_through(&server, Duration::from_secs(4), |i| format!("img:{}", i % 1500), None, 16 << 10);
    let deleter = {
        let mut connection = server.client();
        std::thread::spawn(move || {
            for round in 0..30 {
                for id in 0..20 {
                    let _: () = redis::cmd("SET").arg(format!("cart:{id}")).arg("v").query(&mut connection).unwrap();
                    let _: () = redis::cmd("DEL").arg(format!("cart:{id}")).query(&mut connection).unwrap();
                    let _: Option<String> = redis::cmd("GET").arg(format!("cart:{id}")).query(&mut connection).unwrap();
                }
                sleep(Duration::from_millis(100 + round));
            }
        })
    };
    let result = run(&["watch", &server.url(), "--duration", "3s", "-o", "json"]);
    traffic.join().unwrap();
    deleter.join().unwrap();
    let report = result.json();
    let pattern = |name: &str| {
        report["patterns"].as_array().unwrap().iter().find(|p| p["pattern"] == name).cloned().unwrap_or_default()
    };
    let images = pattern("img:{num}");
    let evicted = images["miss_causes"]["evicted"].as_u64().unwrap();
    assert!(evicted * 2 > images["misses"].as_u64().unwrap(), "{images}");
    let carts = pattern("cart:{num}");
    // All deleted, but for a delete the watch may have started just after.
    let deleted = carts["miss_causes"]["deleted"].as_u64().unwrap();
    assert!(deleted > 100 && deleted + 2 >= carts["misses"].as_u64().unwrap(), "{carts}");
    assert!(findings(&report).contains(&("memory_pressure".into(), "img:{num}".into())), "{}", result.stdout);
}

#[test]
fn a_dropped_subscriber_is_a_gap_in_the_report() {
    let server = RedisServer::start(&["--notify-keyspace-events", "AEm"]);
    let traffic = read_through(&server, Duration::from_secs(5), |i| format!("user:{}", i % 300), Some(200), 10);
    let killer = {
        let mut connection = server.client();
        std::thread::spawn(move || {
            sleep(Duration::from_millis(1500));
            // What the server does to a subscriber past client-output-buffer-limit pubsub.
            let _: i64 = redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub").query(&mut connection).unwrap();
        })
    };
    let result = run(&["watch", &server.url(), "--duration", "4s", "-o", "json"]);
    traffic.join().unwrap();
    killer.join().unwrap();
    let report = result.json();
    let gaps = report["server"]["gaps"].as_array().expect("a gap");
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert!(gaps[0]["seconds"].as_f64().unwrap() < 2.0, "{gaps:?}");
    assert!(gaps[0]["reason"].as_str().unwrap().contains("closed the subscription"), "{gaps:?}");
    assert!(result.stderr.contains("keyspace events of 127.0.0.1:"), "{}", result.stderr);
    assert!(result.stderr.contains(" lost: "), "{}", result.stderr);
    // Events came again after it.
    assert!(report["summary"]["misses"].as_u64().unwrap() > 100);
}

#[test]
fn live_metrics_and_overview_know_no_hits() {
    let server = RedisServer::start(&["--notify-keyspace-events", "AEm"]);
    let address = format!("127.0.0.1:{}", free_port());
    let watch = std::process::Command::new(env!("CARGO_BIN_EXE_cachescope"))
        .args(["watch", &server.url(), "--http", &address, "--window", "1s", "--duration", "6s", "-o", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let traffic = read_through(&server, Duration::from_secs(4), |i| format!("user:{}", i % 300), Some(200), 10);
    wait_for("the HTTP API", || std::net::TcpStream::connect(&address).is_ok());
    wait_for("misses in /metrics", || {
        let (status, text) = http(&address, "GET", "/metrics", None, "");
        status == 200 && text.contains("cachescope_misses_total{pattern=\"user:{num}\"}")
    });
    let (_, metrics) = http(&address, "GET", "/metrics", None, "");
    // Nothing measured, nothing exported: no hits, reads or hit ratio at 0.
    assert!(!metrics.contains("cachescope_hit_ratio"), "{metrics}");
    assert!(!metrics.contains("cachescope_hits_total"), "{metrics}");
    assert!(
        metrics.contains("cachescope_misses_by_cause_total{pattern=\"user:{num}\",cause=\"expired\"}"),
        "{metrics}"
    );
    let (status, overview) = http(&address, "GET", "/api/overview", None, "");
    assert_eq!(status, 200);
    let overview: serde_json::Value = serde_json::from_str(&overview).unwrap();
    assert_eq!(overview["misses_only"], true);
    traffic.join().unwrap();
    // --duration 6s: it stops by itself, with its report.
    let mut watch = watch;
    let deadline = Instant::now() + Duration::from_secs(30);
    while watch.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = watch.kill();
            panic!("watch did not stop at the end of --duration");
        }
        sleep(Duration::from_millis(100));
    }
    let output = watch.wait_with_output().unwrap();
    assert!(output.status.success());
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(report["summary"]["misses"].as_u64().unwrap() > 0);
}

/// `cachescope watch` with `args` (the URL and options), running while the test drives the servers.
fn start_watch(args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_cachescope"))
        .arg("watch")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for a watch started by [`start_watch`] (with `-o json`): its report and what it said on stderr.
fn finish_watch(watch: std::process::Child) -> (serde_json::Value, String) {
    let output = watch.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    (report, stderr)
}

#[test]
fn a_restart_during_the_watch_empties_the_cache_and_is_a_gap() {
    let mut server = RedisServer::start(&["--notify-keyspace-events", "AEm"]);
    let watch = start_watch(&[&server.url(), "--duration", "7s", "-o", "json"]);
    sleep(Duration::from_millis(1500));
    let mut app = server.client();
    for id in 0..100 {
        let _: () = redis::cmd("SET").arg(format!("page:{id}")).arg("v").query(&mut app).unwrap();
    }
    sleep(Duration::from_millis(1200));
    server.restart();
    // The restarted server keeps its notifications (given on its command line): the watch resubscribes.
    sleep(Duration::from_millis(2000));
    let mut app = server.client();
    for id in 0..100 {
        let _: Option<String> = redis::cmd("GET").arg(format!("page:{id}")).query(&mut app).unwrap();
    }
    let (report, _) = finish_watch(watch);
    let page = &report["patterns"][0];
    assert_eq!(page["pattern"], "page:{num}");
    assert_eq!(page["miss_causes"]["flushed"], 100, "{page}");
    assert_eq!(report["markers"][0]["kind"], "restart", "{}", report["markers"]);
    assert!(!report["server"]["gaps"].as_array().unwrap().is_empty());
    assert!(findings(&report).contains(&("cold_cache".into(), "page:{num}".into())), "{}", report["findings"]);
}

/// A cluster node on a free port (its bus port too), key events on, failures told within a second.
fn cluster_node() -> (RedisServer, String) {
    let bus = free_port().to_string();
    let node = RedisServer::start(&[
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
        "--cluster-port",
        &bus,
        "--cluster-node-timeout",
        "1000",
        "--notify-keyspace-events",
        "AEm",
    ]);
    (node, bus)
}

/// A Redis Cluster of `n` primaries, slots split evenly.
fn cluster(n: usize) -> Vec<RedisServer> {
    let (nodes, buses): (Vec<RedisServer>, Vec<String>) = (0..n).map(|_| cluster_node()).unzip();
    for (i, node) in nodes.iter().enumerate() {
        let mut add = redis::cmd("CLUSTER");
        add.arg("ADDSLOTS");
        for slot in 16384 * i / n..16384 * (i + 1) / n {
            add.arg(slot);
        }
        let () = add.query(&mut node.client()).unwrap();
    }
    let mut first = nodes[0].client();
    for (node, bus) in nodes.iter().zip(&buses).skip(1) {
        let () = redis::cmd("CLUSTER").arg("MEET").arg("127.0.0.1").arg(node.port).arg(bus).query(&mut first).unwrap();
    }
    wait_for_cluster(&nodes);
    nodes
}

fn wait_for_cluster(nodes: &[RedisServer]) {
    wait_for("the cluster to be up", || {
        nodes.iter().all(|node| {
            let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut node.client()).unwrap();
            let known: String = redis::cmd("CLUSTER").arg("NODES").query(&mut node.client()).unwrap();
            info.contains("cluster_state:ok") && known.lines().filter(|l| l.contains("master")).count() == nodes.len()
        })
    });
}

/// The node of `nodes` (split as [`cluster`] splits them) that holds `key` (the last node must be up).
fn owner(nodes: &[RedisServer], key: &str) -> usize {
    let last = nodes.last().expect("a node");
    let slot: usize = redis::cmd("CLUSTER").arg("KEYSLOT").arg(key).query(&mut last.client()).unwrap();
    (0..nodes.len()).find(|&i| slot < 16384 * (i + 1) / nodes.len()).unwrap()
}

#[test]
fn a_cluster_is_followed_node_by_node_and_a_node_restart_empties_its_keys_only() {
    let mut nodes = cluster(3);
    // One node's URL: watch finds the others.
    let watch = start_watch(&[&nodes[0].url(), "--duration", "9s", "--report-every", "1h", "-o", "json"]);
    sleep(Duration::from_millis(1500));
    let keys: Vec<(String, usize)> =
        (0..300).map(|id| format!("page:{id}")).map(|k| (k.clone(), owner(&nodes, &k))).collect();
    let mut on = vec![0; 3];
    for (key, node) in &keys {
        let () = redis::cmd("SET").arg(key).arg("v").query(&mut nodes[*node].client()).unwrap();
        on[*node] += 1;
    }
    assert!(on.iter().all(|&n| n > 50), "{on:?}");
    sleep(Duration::from_millis(1200));
    nodes[1].restart();
    wait_for_cluster(&nodes);
    sleep(Duration::from_millis(1500));
    let mut missed = 0;
    for (key, node) in &keys {
        let found: Option<String> = redis::cmd("GET").arg(key).query(&mut nodes[*node].client()).unwrap();
        missed += u64::from(found.is_none());
    }
    assert_eq!(missed, on[1], "only the restarted node lost its keys");
    let (report, stderr) = finish_watch(watch);
    assert!(stderr.contains("following its 3 primaries"), "{stderr}");
    // Every node's events: the writes of all three, the misses of the one that restarted, all `flushed`.
    assert_eq!(report["summary"]["writes"], 300, "{}", report["summary"]);
    assert_eq!(report["summary"]["misses"], on[1], "{}", report["summary"]);
    assert_eq!(report["summary"]["miss_causes"]["flushed"], on[1], "{}", report["summary"]);
    let name = format!("127.0.0.1:{}", nodes[1].port);
    let markers = report["markers"].as_array().unwrap();
    assert_eq!(markers.len(), 1, "{markers:?}");
    assert_eq!(markers[0]["kind"], "restart");
    assert!(matches!(markers[0]["node"].as_u64(), Some(1..=3)), "{markers:?}");
    assert_eq!(markers[0]["label"], name.as_str());
    // The node's subscription was lost while it was down: a gap, of that node.
    let gaps = report["server"]["gaps"].as_array().unwrap();
    assert!(gaps.iter().any(|gap| gap["node"] == name.as_str()), "{gaps:?}");
    let notes = report["server"]["notes"].to_string();
    assert!(notes.contains("3 nodes followed") && notes.contains(&format!("The node {name} restarted")), "{notes}");
    let cold = report["findings"].as_array().unwrap().iter().find(|f| f["cause"] == "cold_cache").expect("cold_cache");
    assert!(cold["evidence"]["summary"].as_str().unwrap().contains(&format!("restart of node {name}")), "{cold}");
    // With no hits to see, no miss ratio is made up.
    assert!(cold["evidence"]["metrics"].get("miss_ratio_after").is_none(), "{cold}");
}

/// A replica of the cluster's first primary, in sync.
fn replica_of_first(nodes: &[RedisServer]) -> RedisServer {
    let (replica, bus) = cluster_node();
    let () = redis::cmd("CLUSTER")
        .arg("MEET")
        .arg("127.0.0.1")
        .arg(replica.port)
        .arg(&bus)
        .query(&mut nodes[0].client())
        .unwrap();
    let id: String = redis::cmd("CLUSTER").arg("MYID").query(&mut nodes[0].client()).unwrap();
    wait_for("the replica to know the primary", || {
        let known: String = redis::cmd("CLUSTER").arg("NODES").query(&mut replica.client()).unwrap();
        known.contains(&id)
    });
    let () = redis::cmd("CLUSTER").arg("REPLICATE").arg(&id).query(&mut replica.client()).unwrap();
    wait_for("the replica to be in sync", || {
        let info: String = redis::cmd("INFO").arg("replication").query(&mut replica.client()).unwrap();
        info.contains("master_link_status:up")
    });
    replica
}

#[test]
fn after_a_failover_the_promoted_replica_is_followed() {
    // Three primaries: a failover needs a majority of them to vote.
    let mut nodes = cluster(3);
    let replica = replica_of_first(&nodes);
    let watch = start_watch(&[&nodes[1].url(), "--duration", "18s", "--report-every", "1h", "-o", "json"]);
    sleep(Duration::from_millis(1500));
    nodes[0].stop();
    let replica_id: String = redis::cmd("CLUSTER").arg("MYID").query(&mut replica.client()).unwrap();
    wait_for("the replica to be promoted", || {
        let known: String = redis::cmd("CLUSTER").arg("NODES").query(&mut nodes[1].client()).unwrap();
        known.lines().any(|l| l.starts_with(&replica_id) && l.contains("master") && !l.contains("fail"))
    });
    // The watch reads the primaries again every 5 s.
    sleep(Duration::from_millis(6500));
    let mut written = 0;
    for id in 0..400 {
        let key = format!("order:{id}");
        if owner(&nodes, &key) == 0 {
            let () = redis::cmd("SET").arg(&key).arg("v").query(&mut replica.client()).unwrap();
            written += 1;
        }
    }
    assert!(written > 100, "{written}");
    let (report, stderr) = finish_watch(watch);
    let promoted = format!("127.0.0.1:{}", replica.port);
    assert!(stderr.contains(&format!("{promoted} is a primary now")), "{stderr}");
    assert_eq!(report["summary"]["writes"], written, "{}", report["summary"]);
    let notes = report["server"]["notes"].to_string();
    assert!(notes.contains(&promoted), "{notes}");
}
