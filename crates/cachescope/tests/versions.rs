//! The doctor and the proxy against every server version at hand: Redis 6 and 7, Valkey 8.
//!
//! `CACHESCOPE_TEST_SERVERS` lists the server binaries to try, separated by `:` (`scripts/test --all` installs
//! Redis 6.2 and Valkey 8 and sets it, as CI does); without it, `redis-server` alone is tried, and the test says
//! what it left out.

mod common;

use common::redis_server::{DOCTOR_COMMANDS, Proxy, RedisServer, commands_sent_during};
use common::{findings, run};

fn servers() -> Vec<String> {
    match std::env::var("CACHESCOPE_TEST_SERVERS") {
        Ok(list) => list.split(':').filter(|s| !s.is_empty()).map(str::to_string).collect(),
        Err(_) => {
            cachescope_testkit::skip(
                "doctor and proxy against Redis 6.2 and Valkey 8 (redis-server alone tried)",
                "`scripts/test --all` installs both, or set CACHESCOPE_TEST_SERVERS to server binaries joined by `:`",
            );
            vec!["redis-server".to_string()]
        }
    }
}

#[test]
fn doctor_and_proxy_work_with_every_server_version() {
    let mut tested = Vec::new();
    for binary in servers() {
        let server = RedisServer::start_binary(&binary, &["--maxmemory", "32mb", "--maxmemory-policy", "allkeys-lru"]);
        let mut setup = server.client();
        for id in 0..100 {
            let _: () =
                redis::cmd("SET").arg(format!("user:{id}")).arg("v").arg("EX").arg(3600).query(&mut setup).unwrap();
        }
        let mut doctor = None;
        let sent = commands_sent_during(&mut setup, || {
            doctor = Some(run(&["doctor", &server.url(), "--interval", "500ms", "-o", "json", "--quiet"]));
        });
        let doctor = doctor.unwrap();
        for command in sent {
            assert!(DOCTOR_COMMANDS.contains(&command.as_str()), "{binary}: the doctor sent {command}");
        }
        assert_eq!(doctor.code, 0, "{binary}: {} {}", doctor.stdout, doctor.stderr);
        let report = doctor.json();
        let version = report["server"]["version"].as_str().unwrap().to_string();
        assert_eq!(report["server"]["keys"], 100, "{binary}");
        assert_eq!(report["patterns"][0]["pattern"], "user:{num}", "{binary}");
        assert!(report["patterns"][0]["memory_bytes"].as_u64().unwrap() > 0, "{binary}: MEMORY USAGE read");

        let proxy = Proxy::start(&server.url(), &[]);
        let mut app = proxy.client();
        for id in 0..120 {
            let _: Option<String> = redis::cmd("GET").arg(format!("user:{id}")).query(&mut app).unwrap();
        }
        drop(app);
        let report = proxy.stop();
        assert_eq!(report["summary"]["hits"], 100, "{binary}");
        assert_eq!(report["summary"]["misses"], 20, "{binary}");
        assert!(findings(&report).iter().all(|(cause, _)| cause != "failed_write"), "{binary}");
        tested.push(version);
    }
    eprintln!("tested against: {}", tested.join(", "));
    assert!(!tested.is_empty());
}
