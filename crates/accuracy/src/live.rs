//! The doctor against live servers put into the corpus's fault states: a scenario's traffic is replayed against
//! a real `redis-server` (the part before the last 40 seconds as fast as the server takes it, TTLs adjusted, to
//! build its state; the last 40 seconds in real time, restarts and flushes included), and `cachescope doctor`
//! checks the server while the traffic runs. Its findings are judged against what the server itself showed
//! during the check (evictions, refused writes, a restart, the hit ratio, read off `INFO` and the replies by
//! the replaying client, not by the doctor) and, for TTLs per pattern, against the scenario's truth.

use std::io::Read as _;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cachescope_core::report::Report;
use cachescope_core::{Command as Cmd, Event, FindingCause, FlushScope, Micros, OwnedEvent, TtlChange};
use cachescope_sim::Policy;
use cachescope_sim::scenario::Scenario;

use crate::expect::{Expected, Truth};
use crate::measure::{Judged, Verdict};

/// The part replayed in real time, and when the doctor's check starts and how long it measures.
const LIVE: Duration = Duration::from_secs(40);
const CHECK_AFTER: Duration = Duration::from_secs(6);
const CHECK_INTERVAL: Duration = Duration::from_secs(15);

/// A `redis-server` on a free port, stopped when dropped.
struct Server {
    binary: String,
    port: u16,
    args: Vec<String>,
    child: Option<Child>,
    dir: std::path::PathBuf,
}

impl Server {
    fn start(binary: &str, args: Vec<String>) -> std::io::Result<Server> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let dir = std::env::temp_dir().join(format!("cachescope-accuracy-{port}"));
        std::fs::create_dir_all(&dir)?;
        let mut server = Server { binary: binary.to_string(), port, args, child: None, dir };
        server.launch()?;
        Ok(server)
    }

    fn launch(&mut self) -> std::io::Result<()> {
        let child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.connection().is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(std::io::Error::other(format!("{} did not start on port {}", self.binary, self.port)))
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn connection(&self) -> redis::RedisResult<redis::Connection> {
        let mut connection = redis::Client::open(self.url())?.get_connection()?;
        redis::cmd("PING").query::<String>(&mut connection)?;
        Ok(connection)
    }

    /// The server restarts empty, as after a crash.
    fn restart(&mut self) -> std::io::Result<()> {
        self.stop();
        self.launch()
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What the server showed during the doctor's check.
#[derive(Debug, Default, Clone, Copy)]
struct Observed {
    reads: u64,
    misses: u64,
    writes: u64,
    refused: u64,
    evictions: u64,
    restarted: bool,
}

/// One scenario's doctor, judged.
#[derive(Debug)]
pub struct DoctorCase {
    pub seed: u64,
    pub judged: Vec<Judged>,
    pub report: Option<Report>,
    /// Why the doctor gave no report, when it did not.
    pub error: Option<String>,
}

/// Replays `scenario` against a `redis_server` and runs `cachescope doctor` (the binary at `cachescope`) during
/// its last 40 seconds.
pub fn doctor_case(scenario: &Scenario, redis_server: &str, cachescope: &Path) -> std::io::Result<DoctorCase> {
    let mut events = Vec::new();
    let mut truth = Truth::new(scenario, true);
    scenario.run(
        &mut |event, simulated| {
            events.push(OwnedEvent::from(event));
            truth.observe(scenario, event, simulated);
        },
        &mut |_| {},
    );
    truth.finish();
    let policy = match scenario.policy {
        Policy::NoEviction => "noeviction",
        _ => "allkeys-lru",
    };
    // Redis counts a key's bookkeeping too (some 50 to 90 bytes): room for the objects the model counts.
    let maxmemory = (scenario.cache_capacity as f64 * 1.6) as u64 + (4 << 20);
    let mut server = Server::start(
        redis_server,
        vec!["--maxmemory".into(), maxmemory.to_string(), "--maxmemory-policy".into(), policy.into()],
    )?;
    let end = events.last().map_or(0, |e| e.time);
    let live_from = end.saturating_sub(LIVE.as_micros() as Micros);
    let io = std::io::Error::other;
    let mut replay = Replay::new(&server).map_err(io)?;
    replay.prefill(&events, live_from).map_err(io)?;

    let started = Instant::now();
    let mut doctor: Option<Child> = None;
    let mut before = None;
    let mut observed = Observed::default();
    for event in events.iter().filter(|e| e.time >= live_from) {
        let due = Duration::from_micros(event.time - live_from);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            replay.flush(&mut observed).map_err(io)?;
            std::thread::sleep(wait);
        }
        let checking = doctor.is_some() && started.elapsed() < CHECK_AFTER + CHECK_INTERVAL;
        if doctor.is_none() && started.elapsed() >= CHECK_AFTER {
            replay.flush(&mut observed).map_err(io)?;
            before = Some(replay.evictions().map_err(io)?);
            doctor = Some(
                Command::new(cachescope)
                    .args(["doctor", &server.url(), "--interval"])
                    .arg(format!("{}s", CHECK_INTERVAL.as_secs()))
                    .args(["-o", "json", "--quiet"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()?,
            );
        }
        if event.command == Cmd::Flush(FlushScope::Restart) {
            replay.flush(&mut observed).map_err(io)?;
            server.restart()?;
            replay = Replay::new(&server).map_err(io)?;
            // Evictions before the restart are lost with the server's counters: count them from zero.
            before = before.map(|_| 0);
            observed.restarted |= checking;
            continue;
        }
        replay.send(&event.as_event(), checking).map_err(io)?;
        if doctor.is_some() && started.elapsed() >= CHECK_AFTER + CHECK_INTERVAL && before.is_some() {
            replay.flush(&mut observed).map_err(io)?;
            let after = replay.evictions().map_err(io)?;
            observed.evictions += after.saturating_sub(before.take().unwrap_or(after));
        }
    }
    replay.flush(&mut observed).map_err(io)?;
    let Some(mut doctor) = doctor else {
        return Ok(DoctorCase {
            seed: scenario.seed,
            judged: Vec::new(),
            report: None,
            error: Some("too short".into()),
        });
    };
    let mut stdout = String::new();
    doctor.stdout.take().expect("piped").read_to_string(&mut stdout)?;
    doctor.wait()?;
    let report: Report = match serde_json::from_str(&stdout) {
        Ok(report) => report,
        Err(e) => {
            return Ok(DoctorCase {
                seed: scenario.seed,
                judged: Vec::new(),
                report: None,
                error: Some(format!("the doctor's report is not JSON ({e})")),
            });
        }
    };
    let judged = judge(&report, &truth, observed, policy);
    Ok(DoctorCase { seed: scenario.seed, judged, report: Some(report), error: None })
}

/// The doctor's findings against what the server showed and the scenario's truth.
fn judge(report: &Report, truth: &Truth, seen: Observed, policy: &str) -> Vec<Judged> {
    let share = |part: u64, whole: u64| if whole == 0 { 0.0 } else { part as f64 / whole as f64 };
    let by = |material: bool, negligible: bool| {
        if material {
            Expected::Material
        } else if negligible {
            Expected::Negligible
        } else {
            Expected::Either
        }
    };
    let hit_ratio_low = seen.reads >= 100 && share(seen.misses, seen.reads) > 0.2;
    let mut expected: Vec<(FindingCause, String, Expected)> = vec![
        (
            FindingCause::MemoryPressure,
            "*".into(),
            by(seen.evictions >= 30 && share(seen.evictions, seen.reads) >= 0.01, seen.evictions == 0),
        ),
        (
            FindingCause::EvictionPolicy,
            "*".into(),
            by(policy == "noeviction" && seen.refused >= 30, policy != "noeviction"),
        ),
        (
            FindingCause::FailedWrite,
            "*".into(),
            by(seen.refused >= 30 && share(seen.refused, seen.writes) >= 0.01, seen.refused == 0),
        ),
        // Every server here started with the replay: a cold start is never wrong to mention.
        (FindingCause::ColdCache, "*".into(), by(seen.restarted, false)),
        (FindingCause::LowHitRatio, "*".into(), by(false, !hit_ratio_low)),
    ];
    for pattern in truth.patterns.keys() {
        expected.push((FindingCause::TtlTooShort, pattern.clone(), truth.expected(FindingCause::TtlTooShort, pattern)));
    }
    let mut judged = Vec::new();
    for finding in &report.findings {
        let state = expected
            .iter()
            .find(|(c, p, _)| *c == finding.cause && *p == finding.pattern)
            .map_or(Expected::Negligible, |(_, _, e)| *e);
        let verdict = match state {
            Expected::Material => Verdict::Found,
            Expected::Either => Verdict::Accepted,
            Expected::Negligible => Verdict::Invented,
        };
        judged.push(Judged { cause: finding.cause, pattern: finding.pattern.clone(), verdict, several_faults: false });
    }
    for (cause, pattern, state) in expected {
        if state == Expected::Material && !report.findings.iter().any(|f| f.cause == cause && f.pattern == pattern) {
            judged.push(Judged { cause, pattern, verdict: Verdict::Missed, several_faults: false });
        }
    }
    judged
}

/// A client replaying events, one connection per database, pipelined; the replies of the commands sent
/// during the check are counted.
struct Replay {
    server_url: String,
    connections: Vec<Batch>,
    value: Vec<u8>,
}

struct Batch {
    db: u32,
    connection: redis::Connection,
    pipe: redis::Pipeline,
    /// Each command's kind, and whether its reply counts.
    sent: Vec<(Kind, bool)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
    Other,
}

impl Replay {
    fn new(server: &Server) -> redis::RedisResult<Replay> {
        Ok(Replay { server_url: server.url(), connections: Vec::new(), value: vec![b'v'; 1 << 20] })
    }

    fn batch(&mut self, db: u32) -> redis::RedisResult<&mut Batch> {
        let index = match self.connections.iter().position(|b| b.db == db) {
            Some(index) => index,
            None => {
                let mut connection = redis::Client::open(self.server_url.as_str())?.get_connection()?;
                redis::cmd("SELECT").arg(db).query::<()>(&mut connection)?;
                let mut pipe = redis::pipe();
                pipe.ignore_errors();
                self.connections.push(Batch { db, connection, pipe, sent: Vec::new() });
                self.connections.len() - 1
            }
        };
        Ok(&mut self.connections[index])
    }

    /// The part before the live window, as fast as the server takes it: writes whose TTL would have run out by
    /// then are skipped, the others get what remains of it; a restart empties the server.
    fn prefill(&mut self, events: &[OwnedEvent], until: Micros) -> redis::RedisResult<()> {
        let mut sink = Observed::default();
        for event in events.iter().take_while(|e| e.time < until) {
            let mut event = event.as_event();
            if let (Cmd::Write(_), TtlChange::ExpireIn(ms)) = (event.command, event.ttl) {
                let expires = event.time + ms * 1_000;
                if expires <= until {
                    continue;
                }
                event.ttl = TtlChange::ExpireIn(((expires - until) / 1_000).max(1));
            }
            if event.command == Cmd::Flush(FlushScope::Restart) {
                self.flush(&mut sink)?;
                let batch = self.batch(0)?;
                redis::cmd("FLUSHALL").query::<()>(&mut batch.connection)?;
                continue;
            }
            self.send(&event, false)?;
            if self.connections.iter().any(|b| b.sent.len() >= 1_000) {
                self.flush(&mut sink)?;
            }
        }
        self.flush(&mut sink)
    }

    /// Queues `event`; `counted`: its reply counts in what the server showed during the check.
    fn send(&mut self, event: &Event<'_>, counted: bool) -> redis::RedisResult<()> {
        let size = (event.value_size as usize).min(self.value.len());
        let value = self.value[..size].to_vec();
        let batch = self.batch(event.db)?;
        let kind = match event.command {
            Cmd::Read => {
                batch.pipe.cmd("GET").arg(event.key);
                Kind::Read
            }
            Cmd::Write(_) => {
                let mut set = redis::cmd("SET");
                set.arg(event.key).arg(value);
                if let TtlChange::ExpireIn(ms) = event.ttl {
                    set.arg("PX").arg(ms.max(1));
                }
                batch.pipe.add_command(set);
                Kind::Write
            }
            Cmd::Delete => {
                batch.pipe.cmd("DEL").arg(event.key);
                Kind::Other
            }
            Cmd::Flush(_) => {
                batch.pipe.cmd("FLUSHDB");
                Kind::Other
            }
            Cmd::Expire | Cmd::Marker | Cmd::Removed(_) => return Ok(()),
        };
        batch.sent.push((kind, counted));
        Ok(())
    }

    /// Sends what is queued and counts the replies that count into `observed`.
    fn flush(&mut self, observed: &mut Observed) -> redis::RedisResult<()> {
        for batch in &mut self.connections {
            if batch.sent.is_empty() {
                continue;
            }
            let replies: Vec<redis::RedisResult<redis::Value>> = batch.pipe.query(&mut batch.connection)?;
            for ((kind, counted), reply) in batch.sent.iter().zip(replies) {
                if !counted {
                    continue;
                }
                match (kind, reply) {
                    (Kind::Read, Ok(redis::Value::Nil)) => {
                        observed.reads += 1;
                        observed.misses += 1;
                    }
                    (Kind::Read, _) => observed.reads += 1,
                    (Kind::Write, Ok(_)) => observed.writes += 1,
                    (Kind::Write, Err(_)) => {
                        observed.writes += 1;
                        observed.refused += 1;
                    }
                    (Kind::Other, _) => {}
                }
            }
            batch.pipe.clear();
            batch.pipe.ignore_errors();
            batch.sent.clear();
        }
        Ok(())
    }

    fn evictions(&mut self) -> redis::RedisResult<u64> {
        let batch = self.batch(0)?;
        let info: String = redis::cmd("INFO").arg("stats").query(&mut batch.connection)?;
        Ok(info.lines().find_map(|l| l.strip_prefix("evicted_keys:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0))
    }
}
