//! Helpers shared by the end-to-end tests: run the binary, read its JSON, write small traces.

#![allow(dead_code)]

pub mod http;
pub mod redis_server;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

/// The binary, with a clean environment for colour and logs.
pub fn cachescope() -> Command {
    let mut command = Command::cargo_bin("cachescope").expect("the binary is built");
    command.env_remove("NO_COLOR").env_remove("RUST_LOG").env("TERM", "xterm");
    command
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }
}

pub fn run(args: &[&str]) -> Run {
    let output = cachescope().args(args).output().expect("runs");
    Run {
        code: output.status.code().expect("exited"),
        stdout: String::from_utf8(output.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("utf-8 stderr"),
    }
}

/// (cause, pattern) of every finding.
pub fn findings(report: &Value) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| (f["cause"].as_str().unwrap().to_string(), f["pattern"].as_str().unwrap().to_string()))
        .collect();
    found.sort();
    found
}

/// Writes a readable cachescope trace from event lines (`TIME CLIENT DB COMMAND KEY OUTCOME [ttl=..]`).
pub fn trace(dir: &Path, name: &str, header: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    let mut text = format!("#cachescope-trace 1\n{header}");
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    std::fs::write(&path, text).expect("writes the trace");
    path
}

/// A small application in trace form: a healthy pattern, a TTL that is too short, and a key mismatch.
pub fn small_app_trace(dir: &Path) -> PathBuf {
    let mut lines = Vec::new();
    let second = 1_000_000u64;
    for minute in 0..20u64 {
        let t = minute * 60 * second;
        for id in 0..40 {
            let time = t + id * 1_000;
            if minute == 0 {
                lines.push(format!("{time} 1 0 read product:{id} miss"));
                lines.push(format!("{} 1 0 write product:{id} ok ttl=3600000 size=2048", time + 10));
            } else {
                lines.push(format!("{time} 1 0 read product:{id} hit size=2048"));
            }
            // Sessions live 10 s and come back every minute.
            lines.push(format!("{} 2 0 read session:{id} miss", time + 100));
            lines.push(format!("{} 2 0 write session:{id} ok ttl=10000 size=512", time + 200));
            // Readers and writers disagree on the key format.
            lines.push(format!("{} 3 0 read users:{id} miss", time + 300));
            lines.push(format!("{} 3 0 write user:{id} ok ttl=600000 size=256", time + 400));
        }
    }
    trace(dir, "app.trace", "#initial-state empty\n", &lines)
}

#[allow(unused_imports)]
pub use cachescope_testkit::json_differences;
