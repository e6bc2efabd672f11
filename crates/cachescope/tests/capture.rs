//! `cachescope analyze` on packet captures. tcpdump records, on loopback, the traffic between the proxy and a
//! real redis-server while a scripted application runs through the proxy: misses and refills under two key
//! formats, a pipeline of thousands of commands, a value of several MB, a transaction, RESP3, pub/sub, and a
//! connection opened before the capture began. Analysed, the capture must give the findings and per-pattern
//! counts of the proxy's own recording of the same traffic.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::redis_server::{Proxy, RedisServer};
use common::{findings, run};
use serde_json::Value;

/// tcpdump writing the traffic of one port on loopback to a file.
struct Tcpdump {
    child: Child,
    path: PathBuf,
}

impl Tcpdump {
    /// Started and listening, or None (and the test says it was skipped) where tcpdump cannot capture.
    fn start(port: u16, path: &Path, test: &str) -> Option<Tcpdump> {
        let spawned = Command::new("tcpdump")
            .args(["-i", "lo", "-U", "-B", "65536", "-w"])
            .arg(path)
            .args(["tcp", "port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let Ok(mut child) = spawned else {
            cachescope_testkit::skip(test, "tcpdump is not installed (scripts/test installs it)");
            return None;
        };
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let _ = stderr.read_line(&mut line);
        if !line.contains("listening on") {
            let _ = child.kill();
            cachescope_testkit::skip(test, &format!("tcpdump cannot capture here ({}): run as root", line.trim()));
            return None;
        }
        std::thread::spawn(move || for _ in stderr.lines() {});
        Some(Tcpdump { child, path: path.to_path_buf() })
    }

    /// Stops it as Ctrl-C does, once the file holds `marker` twice (the last command and its reply: tcpdump
    /// writes packets in order, and may lag behind the traffic on a busy machine), and returns the file.
    fn stop_after(mut self, marker: &[u8]) -> PathBuf {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let bytes = std::fs::read(&self.path).unwrap_or_default();
            let seen = bytes.windows(marker.len()).filter(|w| *w == marker).count();
            if seen >= 2 || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.path.clone()
    }
}

impl Drop for Tcpdump {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().trim_end_matches('/').parse().unwrap()
}

/// The application: read-through under a key format its writer does not share (`users:` read, `user:`
/// written), a healthy pattern, a pipeline, a large value, a transaction, RESP3 and pub/sub.
fn application(proxy: &Proxy, opened_before: &mut redis::Connection) {
    // The connection opened before the capture: a PING first (the capture needs to see the server speak
    // before it can follow a connection it joined), then ordinary traffic.
    let _: String = redis::cmd("PING").query(opened_before).unwrap();
    for id in 0..40 {
        let _: Option<String> = redis::cmd("GET").arg(format!("config:{id}")).query(opened_before).unwrap();
    }

    let mut app = proxy.client();
    for _ in 0..2 {
        for id in 0..150 {
            let found: Option<Vec<u8>> = redis::cmd("GET").arg(format!("users:{id}")).query(&mut app).unwrap();
            if found.is_none() {
                let _: () = redis::cmd("SET").arg(format!("user:{id}")).arg("x".repeat(100)).query(&mut app).unwrap();
            }
        }
        for id in 0..100 {
            let key = format!("product:{id}");
            let found: Option<Vec<u8>> = redis::cmd("GET").arg(&key).query(&mut app).unwrap();
            if found.is_none() {
                let _: () =
                    redis::cmd("SET").arg(&key).arg("p".repeat(300)).arg("EX").arg(3600).query(&mut app).unwrap();
            }
        }
    }
    // A pipeline of 3000 commands: the replies span many segments.
    let mut pipe = redis::pipe();
    for id in 0..3000 {
        pipe.cmd("GET").arg(format!("item:{}", id % 500));
        if id % 3 == 0 {
            pipe.cmd("SET").arg(format!("item:{}", id % 500)).arg("i".repeat(50)).ignore();
        }
    }
    let _: Vec<Option<String>> = pipe.query(&mut app).unwrap();
    // A value of 6 MB, written and read back.
    let blob = vec![b'b'; 6 << 20];
    let _: () = redis::cmd("SET").arg("blob:1").arg(&blob).query(&mut app).unwrap();
    let back: Vec<u8> = redis::cmd("GET").arg("blob:1").query(&mut app).unwrap();
    assert_eq!(back.len(), blob.len());
    // A transaction.
    let _: (Option<String>, ()) =
        redis::pipe().atomic().cmd("GET").arg("cart:1").cmd("SET").arg("cart:1").arg("c").query(&mut app).unwrap();
    drop(app);

    // RESP3.
    let resp3 = redis::Client::open(format!("{}/?protocol=resp3", proxy.url())).unwrap();
    let mut modern = resp3.get_connection().unwrap();
    for id in 0..30 {
        let _: Option<String> = redis::cmd("GET").arg(format!("session:{id}")).query(&mut modern).unwrap();
        let _: () = redis::cmd("SET").arg(format!("session:{id}")).arg("s").query(&mut modern).unwrap();
        let _: Option<String> = redis::cmd("GET").arg(format!("session:{id}")).query(&mut modern).unwrap();
    }
    drop(modern);

    // Pub/sub: the subscriber's connection leaves request-reply; neither side counts its messages.
    let mut subscriber = proxy.client();
    let _: () = redis::cmd("SUBSCRIBE").arg("news").query(&mut subscriber).unwrap();
    let mut publisher = proxy.client();
    let _: i64 = redis::cmd("PUBLISH").arg("news").arg("hello").query(&mut publisher).unwrap();
    std::thread::sleep(Duration::from_millis(100));
}

/// A redis-server behind a proxy that records, and a client connection opened (and used) before any capture.
struct Setup {
    server: RedisServer,
    dir: tempfile::TempDir,
    recording: PathBuf,
    proxy: Proxy,
    opened_before: redis::Connection,
}

fn setup() -> Setup {
    let server = RedisServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("proxy.trace.zst");
    let proxy = Proxy::start(&server.url(), &["--record", recording.to_str().unwrap()]);
    let mut opened_before = proxy.client();
    let _: String = redis::cmd("PING").query(&mut opened_before).unwrap();
    Setup { server, dir, recording, proxy, opened_before }
}

/// Per pattern: reads, hits, misses, writes.
fn counts(report: &Value) -> Vec<(String, u64, u64, u64, u64)> {
    let mut rows: Vec<_> = report["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let n = |field: &str| p[field].as_u64().unwrap_or(0);
            (p["pattern"].as_str().unwrap().to_string(), n("reads"), n("hits"), n("misses"), n("writes"))
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn a_capture_gives_what_the_proxy_recorded() {
    let Setup { server, dir, recording, proxy, mut opened_before } = setup();
    let Some(tcpdump) = Tcpdump::start(
        port_of(&server.url()),
        &dir.path().join("traffic.pcap"),
        "a_capture_gives_what_the_proxy_recorded",
    ) else {
        return;
    };
    application(&proxy, &mut opened_before);
    drop(opened_before);
    let marker = "cachescope-capture-end";
    let _: String = redis::cmd("ECHO").arg(marker).query(&mut proxy.client()).unwrap();
    let capture = tcpdump.stop_after(marker.as_bytes());
    proxy.stop();

    let from_proxy = run(&["analyze", recording.to_str().unwrap(), "-o", "json", "--no-simulation"]);
    let from_capture = run(&["analyze", capture.to_str().unwrap(), "-o", "json", "--no-simulation"]);
    assert_eq!(from_capture.code, 0, "{}", from_capture.stderr);
    let (proxy_report, capture_report) = (from_proxy.json(), from_capture.json());
    let notes = &capture_report["notes"]["capture"];
    assert_eq!(notes["ports"][0], port_of(&server.url()));
    assert_eq!(notes["gaps"], 0, "{notes}");
    // The connection opened before the capture, and the proxy's own INFO connection.
    assert!(notes["joined_open"].as_u64().unwrap() >= 1, "{notes}");
    assert_eq!(notes["unreadable"], 0, "{notes}");
    assert!(capture_report["source"]["format"].as_str().unwrap().starts_with("pcap"));

    assert_eq!(findings(&capture_report), findings(&proxy_report));
    assert!(findings(&proxy_report).contains(&("key_mismatch".into(), "users:{num}".into())), "{proxy_report}");
    assert_eq!(counts(&capture_report), counts(&proxy_report), "{notes}");
    assert_eq!(capture_report["summary"]["reads"], proxy_report["summary"]["reads"]);

    let text = run(&["analyze", capture.to_str().unwrap(), "--no-simulation", "--color", "never"]).stdout;
    assert!(text.contains("The capture held"), "{text}");

    // Converted to the compact format, the capture's events give the same findings and counts, on two threads.
    let converted = dir.path().join("traffic.cst");
    let result = run(&["convert", capture.to_str().unwrap(), converted.to_str().unwrap()]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let converted = run(&["analyze", converted.to_str().unwrap(), "-o", "json", "--no-simulation", "--threads", "2"]);
    assert_eq!(converted.code, 0, "{}", converted.stderr);
    let converted_report = converted.json();
    assert_eq!(findings(&converted_report), findings(&capture_report));
    assert_eq!(counts(&converted_report), counts(&capture_report));
    assert_eq!(converted_report["summary"], capture_report["summary"]);
}

/// `cachescope capture` live, on loopback, while the same application runs.
struct LiveCapture {
    child: Child,
}

impl LiveCapture {
    fn start(port: u16, test: &str) -> Option<LiveCapture> {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("cachescope"))
            .args(["capture", "--interface", "lo", "--port", &port.to_string(), "-o", "json", "--report-every", "1h"])
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let _ = stderr.read_line(&mut line);
        if !line.contains("reading the RESP traffic") {
            let status = child.wait().unwrap();
            assert_eq!(status.code(), Some(77), "only a missing permission may stop it: {line}");
            assert!(line.contains("setcap cap_net_raw+ep"), "{line}");
            cachescope_testkit::skip(test, "capturing needs root or CAP_NET_RAW");
            return None;
        }
        std::thread::spawn(move || for _ in stderr.lines() {});
        Some(LiveCapture { child })
    }

    /// Stops it as Ctrl-C does and returns its report.
    fn stop(mut self) -> Value {
        let _ = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
        let mut stdout = String::new();
        std::io::Read::read_to_string(&mut self.child.stdout.take().unwrap(), &mut stdout).unwrap();
        assert!(self.child.wait().unwrap().success(), "{stdout}");
        serde_json::from_str(&stdout).unwrap()
    }
}

#[test]
fn a_live_capture_gives_what_the_proxy_recorded() {
    let Setup { server, dir: _dir, recording, proxy, mut opened_before } = setup();
    let Some(capture) = LiveCapture::start(port_of(&server.url()), "a_live_capture_gives_what_the_proxy_recorded")
    else {
        return;
    };
    application(&proxy, &mut opened_before);
    drop(opened_before);
    std::thread::sleep(Duration::from_millis(500));
    let live = capture.stop();
    proxy.stop();
    let proxy_report = run(&["analyze", recording.to_str().unwrap(), "-o", "json", "--no-simulation"]).json();

    let notes = &live["notes"]["capture"];
    assert_eq!(notes["kernel_drops"], 0, "{notes}");
    assert_eq!(notes["gaps"], 0, "{notes}");
    assert_eq!(notes["unreadable"], 0, "{notes}");
    assert_eq!(live["source"]["kind"], "capture");
    assert_eq!(findings(&live), findings(&proxy_report));
    assert_eq!(counts(&live), counts(&proxy_report), "{notes}");
}

#[test]
fn without_the_capability_it_says_how_to_grant_it() {
    let cachescope = assert_cmd::cargo::cargo_bin("cachescope");
    // Root keeps every capability but those taken out of its bounding set.
    let output = Command::new("setpriv")
        .args(["--inh-caps=-all", "--bounding-set=-net_raw"])
        .arg(&cachescope)
        .args(["capture", "--interface", "lo", "--duration", "1s"])
        .output();
    let Ok(output) = output else {
        cachescope_testkit::skip("without_the_capability_it_says_how_to_grant_it", "setpriv (util-linux) is missing");
        return;
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(77), "{stderr}");
    assert!(stderr.contains(&format!("sudo setcap cap_net_raw+ep {}", cachescope.display())), "{stderr}");

    let unknown = run(&["capture", "--interface", "no-such-interface0", "--duration", "1s"]);
    if unknown.code != 77 {
        assert_eq!(unknown.code, 64, "{}", unknown.stderr);
        assert!(unknown.stderr.contains("no network interface is called `no-such-interface0`"), "{}", unknown.stderr);
    }
}
