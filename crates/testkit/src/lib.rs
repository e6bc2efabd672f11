//! What cachescope's tests share across crates. Tests need some things a fresh clone does not hold (public
//! traces too large for the repository, other server versions): when one is missing, the test says so in one
//! line that `cargo test` shows (it is not captured) and returns, and `scripts/test` lists every such line again
//! at the end. Nothing is skipped silently.

use std::io::Write;
use std::path::PathBuf;

/// The environment variable naming the folder that holds the public traces.
pub const TRACES_VAR: &str = "CACHESCOPE_TRACES";

/// The environment variable naming a file that `scripts/test` reads back: every skip line is appended to it.
pub const SKIPPED_LOG_VAR: &str = "CACHESCOPE_SKIPPED_LOG";

/// Says, in one line that reaches the terminal, that `what` was skipped and `how` to run it. Written to the
/// process's stderr directly (the test harness captures `eprintln!`, not this), and appended to the file
/// `CACHESCOPE_SKIPPED_LOG` names, when set.
pub fn skip(what: &str, how: &str) {
    let line = format!("SKIPPED {what}: {how}");
    let _ = writeln!(std::io::stderr().lock(), "{line}");
    if let Some(log) = std::env::var_os(SKIPPED_LOG_VAR) {
        if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
            let _ = writeln!(file, "{line}");
        }
    }
}

/// A public trace the tests read, with where to get it.
struct PublicTrace {
    file: &'static str,
    what: &'static str,
    source: &'static str,
}

const PUBLIC_TRACES: [PublicTrace; 2] = [
    PublicTrace {
        file: "OLTP.lis.zst",
        what: "the ARC paper's OLTP trace",
        source: "https://github.com/moka-rs/cache-trace/raw/main/arc/OLTP.lis.zst",
    },
    PublicTrace {
        file: "cloudPhysicsIO.oracleGeneral.bin",
        what: "the CloudPhysics block trace, CC-BY-4.0",
        source: "https://github.com/1a1a11a/libCacheSim/raw/develop/data/cloudPhysicsIO.oracleGeneral.bin",
    },
];

/// The path of the public trace `file` in the folder `CACHESCOPE_TRACES` names, or None after a skip line that
/// says which test (`test`) did not run and how to get the trace. A folder named but lacking the file is a
/// mistake worth a failure, not a skip.
pub fn public_trace(file: &str, test: &str) -> Option<PathBuf> {
    let known = PUBLIC_TRACES.iter().find(|t| t.file == file);
    let Some(dir) = std::env::var_os(TRACES_VAR).filter(|d| !d.is_empty()) else {
        let how = match known {
            Some(trace) => format!(
                "needs {file} ({}), which the repository does not ship; put {} in a folder, set {TRACES_VAR} to it",
                trace.what, trace.source
            ),
            None => format!("needs {file}, which the repository does not ship; set {TRACES_VAR} to a folder with it"),
        };
        skip(test, &how);
        return None;
    };
    let path = PathBuf::from(dir).join(file);
    assert!(path.is_file(), "{TRACES_VAR} is set, but {} is not there", path.display());
    Some(path)
}

/// The paths where two JSON values differ, with both values (`.findings[2].pattern: "a" against "b"`): what an
/// equality assertion on two reports should print.
pub fn json_differences(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    fn walk(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                for key in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                    let (u, v) = (x.get(key).unwrap_or(&Value::Null), y.get(key).unwrap_or(&Value::Null));
                    walk(u, v, &format!("{path}.{key}"), out);
                }
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                for (i, (u, v)) in x.iter().zip(y).enumerate() {
                    walk(u, v, &format!("{path}[{i}]"), out);
                }
            }
            _ if a != b => out.push(format!("{path}: {a} against {b}")),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(a, b, "", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_trace_says_where_it_comes_from() {
        for trace in &PUBLIC_TRACES {
            assert!(trace.source.starts_with("https://") && trace.source.ends_with(trace.file), "{}", trace.file);
        }
    }
}
