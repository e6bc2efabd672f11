//! Real servers for tests: a `redis-server` started on a free port with the configuration a test needs, and a
//! `cachescope proxy` in front of it. Both are stopped when dropped. Never port 6379, never a fixed port.
//!
//! The server binary is `redis-server` from the PATH, or `CACHESCOPE_TEST_REDIS_SERVER` (a `valkey-server`,
//! another Redis version).

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn server_binary() -> String {
    std::env::var("CACHESCOPE_TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_string())
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("binds a port").local_addr().unwrap().port()
}

pub struct RedisServer {
    child: Option<Child>,
    binary: String,
    pub port: u16,
    /// With [`RedisServer::start_tls`]: the port that speaks TLS (the plain one stays open beside it).
    pub tls_port: Option<u16>,
    dir: tempfile::TempDir,
    config: Vec<String>,
}

/// A certificate authority and a server certificate it signed, for `localhost` and 127.0.0.1, made with rcgen
/// (nothing to install).
pub struct Certificates {
    pub ca: std::path::PathBuf,
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

impl Certificates {
    pub fn make(dir: &std::path::Path) -> Certificates {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
        let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
        ca_params.distinguished_name.push(DnType::CommonName, "cachescope test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let ca_key = KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "localhost");
        params.is_ca = IsCa::ExplicitNoCa;
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();

        let write = |name: &str, pem: String| {
            let path = dir.join(name);
            std::fs::write(&path, pem).unwrap();
            path
        };
        Certificates {
            ca: write("ca.pem", ca.pem()),
            cert: write("cert.pem", cert.pem()),
            key: write("key.pem", key.serialize_pem()),
        }
    }
}

impl RedisServer {
    /// Starts a server with `config` (`["--maxmemory", "4mb"]`), keeping nothing on disk. A free port can be
    /// taken between finding it and using it: then another is tried.
    pub fn start(config: &[&str]) -> RedisServer {
        RedisServer::start_binary(&server_binary(), config)
    }

    /// Starts `binary` (a path or a name on the PATH) with `config`.
    pub fn start_binary(binary: &str, config: &[&str]) -> RedisServer {
        RedisServer::start_with(binary, config, false)
    }

    /// Starts a server that also speaks TLS on `tls_port`, with a certificate signed by [`RedisServer::ca`].
    pub fn start_tls(config: &[&str]) -> RedisServer {
        RedisServer::start_with(&server_binary(), config, true)
    }

    /// The CA that signed a TLS server's certificate.
    pub fn ca(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn start_with(binary: &str, config: &[&str], tls: bool) -> RedisServer {
        let mut server = RedisServer {
            child: None,
            binary: binary.to_string(),
            port: 0,
            tls_port: None,
            dir: tempfile::tempdir().expect("a temporary directory"),
            config: config.iter().map(|s| s.to_string()).collect(),
        };
        if tls {
            let files = Certificates::make(server.dir.path());
            for (flag, file) in
                [("--tls-cert-file", &files.cert), ("--tls-key-file", &files.key), ("--tls-ca-cert-file", &files.ca)]
            {
                server.config.extend([flag.to_string(), file.display().to_string()]);
            }
            server.config.extend(["--tls-auth-clients".to_string(), "no".to_string()]);
        }
        for _ in 0..5 {
            server.port = free_port();
            if tls {
                server.tls_port = Some(free_port());
            }
            if server.launch() {
                return server;
            }
            server.stop();
        }
        panic!("{} did not start; is it installed? (apt-get install redis-server)", server.binary);
    }

    /// Starts the process on `self.port`; false if it did not come up.
    fn launch(&mut self) -> bool {
        let mut args = vec![
            "--port".to_string(),
            self.port.to_string(),
            "--bind".to_string(),
            "127.0.0.1".to_string(),
            "--save".to_string(),
            String::new(),
            "--appendonly".to_string(),
            "no".to_string(),
            "--dir".to_string(),
            self.dir.path().display().to_string(),
        ];
        if let Some(tls_port) = self.tls_port {
            args.extend(["--tls-port".to_string(), tls_port.to_string()]);
        }
        args.extend(self.config.iter().cloned());
        let child = Command::new(&self.binary)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}; install redis-server", self.binary));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.ping() {
                return true;
            }
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Whether the server answers: PONG, or NOAUTH when it wants a password.
    fn ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && (&reply == b"+PONG\r\n" || reply.starts_with(b"-NOAUTH"))
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url()).unwrap().get_connection().expect("connects to the test server")
    }

    /// Stops the server (its data is lost) and starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.launch() {
            assert!(Instant::now() < deadline, "the server did not come back on port {}", self.port);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `cachescope proxy` process in front of an upstream.
pub struct Proxy {
    child: Option<Child>,
    pub address: String,
    stdout: Option<std::process::ChildStdout>,
    /// Everything it wrote on stderr so far, the first line included.
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Proxy {
    /// Starts a proxy on a free port; `extra` are more flags. It reports only at the end (JSON).
    pub fn start(upstream: &str, extra: &[&str]) -> Proxy {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("cachescope"))
            .args(["proxy", "--listen", "127.0.0.1:0", "--upstream", upstream, "-o", "json", "--report-every", "1h"])
            .args(extra)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runs the proxy");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).expect("the proxy says where it listens");
        let address = line
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .to_string();
        // Keep draining stderr so the proxy never blocks on it.
        let collected = std::sync::Arc::new(std::sync::Mutex::new(line.clone()));
        let sink = collected.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            while stderr.read_line(&mut line).is_ok_and(|n| n > 0) {
                sink.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        let stdout = child.stdout.take();
        Proxy { child: Some(child), address, stdout, stderr: collected }
    }

    /// What it wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn url(&self) -> String {
        format!("redis://{}", self.address)
    }

    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url()).unwrap().get_connection().expect("connects through the proxy")
    }

    /// Stops the proxy as Ctrl-C does and returns its final report.
    pub fn stop(self) -> serde_json::Value {
        self.stop_with("INT")
    }

    /// Stops the proxy with a signal (`INT`, `TERM`) and returns its final report.
    pub fn stop_with(mut self, signal: &str) -> serde_json::Value {
        let mut child = self.child.take().unwrap();
        let status = Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let mut stdout = String::new();
        self.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "the proxy exited with {status}: {stdout}");
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("the final report is not JSON ({e}): {stdout}"))
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What the doctor may send, as `INFO commandstats` names them: Redis 7.0 counts subcommands under their command
/// (`object`), later versions apart (`object|idletime`). `info` includes the test's own INFO.
pub const DOCTOR_COMMANDS: [&str; 9] =
    ["ping", "info", "scan", "type", "pttl", "memory", "memory|usage", "object", "object|idletime"];

/// The commands (as `INFO commandstats` names them) whose call counts grew while `action` ran. Commands a server
/// does not know are not counted by it.
pub fn commands_sent_during(connection: &mut redis::Connection, action: impl FnOnce()) -> Vec<String> {
    let calls = |connection: &mut redis::Connection| -> HashMap<String, u64> {
        let info: String = redis::cmd("INFO").arg("commandstats").query(connection).unwrap();
        info.lines()
            .filter_map(|line| line.strip_prefix("cmdstat_"))
            .filter_map(|line| {
                let (name, stats) = line.split_once(':')?;
                let calls = stats.split(',').find_map(|field| field.strip_prefix("calls="))?.parse().ok()?;
                Some((name.to_string(), calls))
            })
            .collect()
    };
    let before = calls(connection);
    action();
    let mut grown: Vec<String> = calls(connection)
        .into_iter()
        .filter(|(name, count)| before.get(name).copied().unwrap_or(0) < *count)
        .map(|(name, _)| name)
        .collect();
    grown.sort();
    grown
}
