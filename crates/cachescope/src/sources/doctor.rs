//! The doctor's source: reads a live server without writing to it. `INFO all` twice, an interval apart (nothing
//! else is sent meanwhile: TYPE and PTTL count as keyspace hits and would skew the hit ratio being measured),
//! then a bounded, throttled SCAN with TYPE, PTTL, MEMORY USAGE and OBJECT IDLETIME (or OBJECT FREQ under an LFU
//! policy) pipelined per batch. A command the server refuses (managed services disable some) is skipped and
//! said so; only a refused INFO stops the check.

use std::time::{Duration, Instant};

use cachescope_doctor::{Info, SampledKey, Snapshot};
use indicatif::ProgressBar;
use redis::Value;

use crate::exit::{NoPermission, Unavailable};
use crate::redis_url::RedisUrl;

pub struct DoctorOptions {
    pub url: RedisUrl,
    pub interval: Duration,
    pub sample: usize,
    pub timeout: Duration,
}

/// Keys per SCAN call and pipeline.
const BATCH: usize = 500;
/// Pause between batches, so a large sample never hogs the server.
const PAUSE: Duration = Duration::from_millis(5);

/// Turns a connection or command error into the error a user should see, with its exit code.
fn explain(url: &RedisUrl, error: redis::RedisError) -> anyhow::Error {
    let text = error.to_string();
    if error.kind() == redis::ErrorKind::AuthenticationFailed || text.contains("WRONGPASS") || text.contains("NOAUTH") {
        return NoPermission(format!(
            "{url} refused the credentials: {text} (put them in the URL: redis://user:password@host:port)"
        ))
        .into();
    }
    if text.contains("certificate") {
        return Unavailable(format!(
            "cannot reach {url}: {text} (for a self-signed certificate, add #insecure to the URL: {url}#insecure)"
        ))
        .into();
    }
    if error.is_timeout() {
        return Unavailable(format!("{url} did not answer in time: {text}")).into();
    }
    Unavailable(format!("cannot reach {url}: {text}")).into()
}

fn info(connection: &mut redis::Connection, url: &RedisUrl) -> anyhow::Result<Info> {
    let text: String = redis::cmd("INFO").arg("all").query(connection).map_err(|e| match e.kind() {
        redis::ErrorKind::Io => explain(url, e),
        _ => Unavailable(format!("{url} refused INFO ({e}): the doctor cannot work without it")).into(),
    })?;
    Ok(Info::parse(&text))
}

pub fn collect(options: &DoctorOptions, measuring: &ProgressBar, sampling: &ProgressBar) -> anyhow::Result<Snapshot> {
    let url = &options.url;
    if url.tls {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let client = redis::Client::open(url.original.as_str()).map_err(|e| explain(url, e))?;
    let mut connection = client.get_connection_with_timeout(options.timeout).map_err(|e| explain(url, e))?;
    connection.set_read_timeout(Some(options.timeout)).map_err(|e| explain(url, e))?;
    connection.set_write_timeout(Some(options.timeout)).map_err(|e| explain(url, e))?;
    let _: String = redis::cmd("PING").query(&mut connection).map_err(|e| explain(url, e))?;

    let before = info(&mut connection, url)?;
    let started = Instant::now();
    let step = Duration::from_millis(100);
    while started.elapsed() < options.interval {
        std::thread::sleep(step.min(options.interval.saturating_sub(started.elapsed())));
        measuring
            .set_position((started.elapsed().as_secs_f64() / options.interval.as_secs_f64().max(1e-9) * 1000.0) as u64);
    }
    // A restart during the interval breaks the connection: reconnect once to see the new server.
    let after = match info(&mut connection, url) {
        Ok(after) => after,
        Err(_) => {
            connection = client.get_connection_with_timeout(options.timeout).map_err(|e| explain(url, e))?;
            connection.set_read_timeout(Some(options.timeout)).map_err(|e| explain(url, e))?;
            info(&mut connection, url)?
        }
    };
    let interval_seconds = started.elapsed().as_secs_f64();
    measuring.finish_and_clear();

    let mut skipped = Vec::new();
    let lfu = after.get("maxmemory_policy").is_some_and(|p| p.contains("lfu"));
    let sample = sample_keys(&mut connection, options.sample, lfu, &mut skipped, sampling);
    sampling.finish_and_clear();
    Ok(Snapshot { before, after, interval_seconds, db: url.db, sample, skipped })
}

fn sample_keys(
    connection: &mut redis::Connection,
    wanted: usize,
    lfu: bool,
    skipped: &mut Vec<String>,
    bar: &ProgressBar,
) -> Vec<SampledKey> {
    let mut sample: Vec<SampledKey> = Vec::new();
    let mut cursor: u64 = 0;
    let mut refused: [Option<String>; 4] = Default::default();
    loop {
        let scanned: redis::RedisResult<(u64, Vec<Vec<u8>>)> =
            redis::cmd("SCAN").arg(cursor).arg("COUNT").arg(BATCH).query(connection);
        let (next, keys) = match scanned {
            Ok(page) => page,
            Err(error) => {
                skipped.push(format!("SCAN refused ({error}): no key sample, so no per-pattern checks"));
                return sample;
            }
        };
        let keys: Vec<Vec<u8>> = keys.into_iter().take(wanted - sample.len()).collect();
        if !keys.is_empty() {
            let mut pipe = redis::pipe();
            pipe.ignore_errors();
            for key in &keys {
                pipe.cmd("TYPE").arg(key);
                pipe.cmd("PTTL").arg(key);
                pipe.cmd("MEMORY").arg("USAGE").arg(key);
                pipe.cmd("OBJECT").arg(if lfu { "FREQ" } else { "IDLETIME" }).arg(key);
            }
            match pipe.query::<Vec<Value>>(connection) {
                Ok(values) => {
                    for (key, answers) in keys.into_iter().zip(values.chunks(4)) {
                        let mut note = |index: usize, value: &Value| match value {
                            Value::ServerError(error) => {
                                refused[index].get_or_insert_with(|| format!("{error:?}"));
                                None
                            }
                            Value::Int(n) => Some(*n),
                            _ => None,
                        };
                        let kind = match &answers[0] {
                            Value::SimpleString(kind) => Some(kind.clone()),
                            Value::BulkString(kind) => Some(String::from_utf8_lossy(kind).into_owned()),
                            other => {
                                note(0, other);
                                None
                            }
                        };
                        let ttl_ms = note(1, &answers[1]).filter(|&ms| ms != -2);
                        let memory = note(2, &answers[2]).map(|b| b.max(0) as u64);
                        let usage = note(3, &answers[3]).map(|n| n.max(0) as u64);
                        sample.push(SampledKey {
                            key,
                            kind,
                            ttl_ms,
                            memory,
                            idle_seconds: if lfu { None } else { usage },
                        });
                    }
                }
                Err(error) => {
                    skipped.push(format!("the key details were refused ({error}): no per-pattern memory or TTLs"));
                    return sample;
                }
            }
        }
        bar.set_position(sample.len() as u64);
        cursor = next;
        if cursor == 0 || sample.len() >= wanted {
            break;
        }
        std::thread::sleep(PAUSE);
    }
    for (index, refusal) in refused.into_iter().enumerate() {
        if let Some(error) = refusal {
            let (command, lost) = [
                ("TYPE", "key types"),
                ("PTTL", "TTLs per pattern"),
                ("MEMORY USAGE", "memory per pattern"),
                (if lfu { "OBJECT FREQ" } else { "OBJECT IDLETIME" }, "idle times per pattern"),
            ][index];
            skipped.push(format!("{command} refused ({error}): no {lost}"));
        }
    }
    sample
}
