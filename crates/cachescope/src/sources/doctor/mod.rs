//! The doctor's source: reads a live server without writing to it. `INFO all` twice, an interval apart (nothing
//! else is sent meanwhile: TYPE and PTTL count as keyspace hits and would skew the hit ratio being measured),
//! then a bounded, throttled SCAN with TYPE, PTTL, MEMORY USAGE and OBJECT IDLETIME (not under an LFU policy,
//! which keeps no idle times) pipelined per batch. A command the server refuses (managed services disable some)
//! is not sent again and the report says so; only a refused INFO stops the check. Last, the sampled keys due to
//! expire soon are followed through their expiry (`expiry.rs`).

mod expiry;

use std::time::{Duration, Instant};

use cachescope_doctor::{Info, SampledKey, Snapshot};
use indicatif::ProgressBar;
use redis::Value;

use crate::exit::Unavailable;
use crate::redis_url::{RedisUrl, explain};

pub struct DoctorOptions {
    pub url: RedisUrl,
    pub interval: Duration,
    pub sample: usize,
    pub timeout: Duration,
    /// How long to follow the sampled keys due to expire through their expiry (zero: not at all).
    pub expiry_watch: Duration,
}

/// Keys per SCAN call and pipeline.
const BATCH: usize = 500;
/// Pause between batches, so a large sample never hogs the server.
const PAUSE: Duration = Duration::from_millis(5);

fn info(connection: &mut redis::Connection, url: &RedisUrl) -> anyhow::Result<Info> {
    let text: String = redis::cmd("INFO").arg("all").query(connection).map_err(|e| match e.kind() {
        redis::ErrorKind::Io => explain(url, e),
        _ => Unavailable(format!("{url} refused INFO ({e}): the doctor cannot work without it")).into(),
    })?;
    Ok(Info::parse(&text))
}

/// The progress bars of the three phases.
pub struct Progress {
    pub measuring: ProgressBar,
    pub sampling: ProgressBar,
    pub watching: ProgressBar,
}

pub fn collect(options: &DoctorOptions, progress: &Progress) -> anyhow::Result<Snapshot> {
    let Progress { measuring, sampling, watching } = progress;
    let url = &options.url;
    if url.tls {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let client = url.connection_info().and_then(redis::Client::open).map_err(|e| explain(url, e))?;
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
    let mut sample = sample_keys(&mut connection, options.sample, lfu, &mut skipped, sampling);
    sampling.finish_and_clear();
    let expiry_watch_seconds = if options.expiry_watch.is_zero() {
        0.0
    } else {
        watching.set_message(format!(
            "following keys through their expiry for {}",
            humantime::format_duration(options.expiry_watch)
        ));
        match expiry::watch(&mut connection, &mut sample, options.expiry_watch, watching) {
            Ok(()) => options.expiry_watch.as_secs_f64(),
            Err(error) => {
                skipped.push(format!("the expiry watch failed ({error}): no TTL check per pattern"));
                0.0
            }
        }
    };
    watching.finish_and_clear();
    Ok(Snapshot { before, after, interval_seconds, db: url.db, sample, expiry_watch_seconds, skipped })
}

fn sample_keys(
    connection: &mut redis::Connection,
    wanted: usize,
    lfu: bool,
    skipped: &mut Vec<String>,
    bar: &ProgressBar,
) -> Vec<SampledKey> {
    let details: [(&str, &str); 4] = [
        ("TYPE", "key types"),
        ("PTTL", "TTLs per pattern"),
        ("MEMORY USAGE", "memory per pattern"),
        ("OBJECT IDLETIME", "idle times per pattern"),
    ];
    let mut sample: Vec<SampledKey> = Vec::new();
    let mut cursor: u64 = 0;
    // A command refused once (disabled, renamed, not allowed by an ACL) is not sent again.
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
        // Under an LFU policy the server keeps no idle times (OBJECT IDLETIME is an error there).
        let asked: Vec<usize> = (0..details.len()).filter(|&i| refused[i].is_none() && !(lfu && i == 3)).collect();
        if !keys.is_empty() && asked.is_empty() {
            sample.extend(keys.into_iter().map(|key| SampledKey { key, ..SampledKey::default() }));
        } else if !keys.is_empty() {
            let mut pipe = redis::pipe();
            pipe.ignore_errors();
            for key in &keys {
                for &detail in &asked {
                    match detail {
                        0 => pipe.cmd("TYPE").arg(key),
                        1 => pipe.cmd("PTTL").arg(key),
                        2 => pipe.cmd("MEMORY").arg("USAGE").arg(key),
                        _ => pipe.cmd("OBJECT").arg("IDLETIME").arg(key),
                    };
                }
            }
            let values = match pipe.query::<Vec<Value>>(connection) {
                Ok(values) => values,
                Err(error) => {
                    skipped.push(format!("the key details were refused ({error}): no per-pattern memory or TTLs"));
                    return sample;
                }
            };
            for (key, answers) in keys.into_iter().zip(values.chunks(asked.len())) {
                let mut answer: [Option<&Value>; 4] = [None; 4];
                for (&detail, value) in asked.iter().zip(answers) {
                    if let Value::ServerError(error) = value {
                        refused[detail].get_or_insert_with(|| format!("{error:?}"));
                    } else {
                        answer[detail] = Some(value);
                    }
                }
                let number = |value: Option<&Value>| match value {
                    Some(Value::Int(n)) => Some(*n),
                    _ => None,
                };
                let kind = match answer[0] {
                    Some(Value::SimpleString(kind)) => Some(kind.clone()),
                    Some(Value::BulkString(kind)) => Some(String::from_utf8_lossy(kind).into_owned()),
                    _ => None,
                };
                // -2: the key went away between SCAN and PTTL; its TTL is unknown, not absent.
                let ttl_ms = number(answer[1]).filter(|&ms| ms != -2);
                let memory = number(answer[2]).map(|b| b.max(0) as u64);
                let idle_seconds = number(answer[3]).map(|n| n.max(0) as u64);
                sample.push(SampledKey { key, kind, ttl_ms, memory, idle_seconds, expiry: None });
            }
        }
        bar.set_position(sample.len() as u64);
        cursor = next;
        if cursor == 0 || sample.len() >= wanted {
            break;
        }
        std::thread::sleep(PAUSE);
    }
    for ((command, lost), refusal) in details.into_iter().zip(refused) {
        if let Some(error) = refusal {
            skipped.push(format!("{command} refused ({error}): no {lost}"));
        }
    }
    sample
}
