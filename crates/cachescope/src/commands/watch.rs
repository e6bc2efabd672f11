//! `cachescope watch URL`: follow a live server through its keyspace notifications until stopped, then report.
//! Checks `notify-keyspace-events` first, and sets it (then puts it back) only with `--enable-notifications`.

use anyhow::Result;
use cachescope_core::InitialState;
use cachescope_core::report::{ServerReport, SourceInfo};
use cachescope_doctor::Info;

use super::live_session;
use crate::cli::WatchArgs;
use crate::config::engine_config;
use crate::exit::{Exit, ServerSettingMissing};
use crate::redis_url::{RedisUrl, explain};
use crate::sources::watch::nodes::{self, Node};
use crate::sources::watch::{self, Watch, Watched, notifications};
use crate::{logging, shutdown};

const SETTING: &str = "notify-keyspace-events";

/// Puts `notify-keyspace-events` back as it was when dropped: on the way out, whatever the way.
struct Restore {
    url: RedisUrl,
    timeout: std::time::Duration,
    previous: String,
}

impl Drop for Restore {
    fn drop(&mut self) {
        let restored = watch::connect(&self.url, self.timeout).and_then(|mut connection| {
            redis::cmd("CONFIG").arg("SET").arg(SETTING).arg(&self.previous).query::<()>(&mut connection)
        });
        match restored {
            Ok(()) => logging::status(&format!("cachescope watch: {SETTING} is back to \"{}\"", self.previous)),
            Err(error) => logging::warning(&format!(
                "could not put {SETTING} back to \"{}\" ({error}): run redis-cli CONFIG SET {SETTING} \"{}\"",
                self.previous, self.previous
            )),
        }
    }
}

/// Checks the setting on `url`; sets it when asked. Returns what to restore.
fn prepare(args: &WatchArgs, url: &RedisUrl, connection: &mut redis::Connection) -> Result<Option<Restore>> {
    let current: redis::RedisResult<Vec<String>> = redis::cmd("CONFIG").arg("GET").arg(SETTING).query(connection);
    let flags = match current {
        Ok(pair) if pair.len() == 2 => pair[1].clone(),
        Ok(_) | Err(_) => {
            logging::warning(&format!(
                "cannot read {SETTING} (CONFIG GET is refused, as on managed services): make sure it includes \
                 \"AEm\" (its parameter group's {SETTING}), or watch sees nothing"
            ));
            return Ok(None);
        }
    };
    if notifications::missing(&flags).is_empty() {
        return Ok(None);
    }
    if !args.enable_notifications {
        return Err(ServerSettingMissing(format!("{}: {}", url.address(), notifications::how_to_set(&flags))).into());
    }
    let wanted = notifications::with_needed(&flags);
    redis::cmd("CONFIG").arg("SET").arg(SETTING).arg(&wanted).query::<()>(connection).map_err(|error| {
        ServerSettingMissing(format!(
            "--enable-notifications: CONFIG SET {SETTING} {wanted} was refused by {} ({error}); set it as an \
             administrator (redis.conf or the service's parameter group)",
            url.address()
        ))
    })?;
    logging::status(&format!(
        "cachescope watch: {SETTING} set to \"{wanted}\" on {} (was \"{flags}\"); put back on exit",
        url.address()
    ));
    Ok(Some(Restore { url: url.clone(), timeout: args.timeout, previous: flags }))
}

/// The servers to follow: the URLs given, or, from one node of a Redis Cluster, every primary it lists (and
/// then true: the primaries are followed as they change).
fn nodes(given: Vec<RedisUrl>, timeout: std::time::Duration) -> Result<(Vec<Node>, bool)> {
    if given.len() > 1 {
        return Ok((nodes::numbered(given), false));
    }
    let seed = &given[0];
    let mut connection = watch::connect(seed, timeout).map_err(|e| explain(seed, e))?;
    let info: String = redis::cmd("INFO").arg("cluster").query(&mut connection).map_err(|e| explain(seed, e))?;
    if Info::parse(&info).get("cluster_enabled") != Some("1") {
        return Ok((nodes::numbered(given), false));
    }
    let listed: String = redis::cmd("CLUSTER").arg("NODES").query(&mut connection).map_err(|e| explain(seed, e))?;
    let primaries = nodes::primaries(&listed, &seed.host);
    if primaries.is_empty() {
        anyhow::bail!(
            "{seed} is a Redis Cluster node, but CLUSTER NODES lists no primary in service: give the URL of each \
             node to follow (cachescope watch redis://host1:7000 redis://host2:7001 ...)"
        );
    }
    let urls = primaries.iter().map(|(host, port)| seed.at(host, *port)).collect::<Result<Vec<_>, _>>()?;
    logging::status(&format!(
        "cachescope watch: {seed} is a Redis Cluster node; following its {} primaries ({}): each publishes the \
         events of its own keys",
        urls.len(),
        urls.iter().map(RedisUrl::address).collect::<Vec<_>>().join(", ")
    ));
    // Numbered from 1 even when there is one primary: a primary added later is another node.
    Ok((urls.into_iter().zip(1u16..).map(|(url, number)| Node { number, url }).collect(), true))
}

pub fn run(args: &WatchArgs, color: bool) -> Result<Exit> {
    let given = args.urls.iter().map(|url| RedisUrl::parse(url)).collect::<Result<Vec<_>, _>>()?;
    if given.iter().any(|url| url.tls) {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let (nodes, cluster) = nodes(given, args.timeout)?;
    let several = nodes.len() > 1;
    let mut restore = Vec::new();
    for node in &nodes {
        let unreachable = |error| {
            let error = explain(&node.url, error);
            if several {
                error.context(format!(
                    "cannot reach the cluster node {}: if the cluster announces addresses this host cannot reach, \
                     give the URL of each node yourself",
                    node.name()
                ))
            } else {
                error
            }
        };
        let mut connection = watch::connect(&node.url, args.timeout).map_err(unreachable)?;
        let _: String = redis::cmd("PING").query(&mut connection).map_err(unreachable)?;
        restore.extend(prepare(args, &node.url, &mut connection)?);
    }

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let http = live_session::prepare(&runtime, &args.live)?;
    let mut config = engine_config(&args.engine, InitialState::Unknown)?;
    config.hits_observed = false;
    let name = match nodes.as_slice() {
        [one] => one.url.to_string(),
        [first, ..] => format!("{} ({} nodes)", first.url, nodes.len()),
        [] => unreachable!("at least one URL"),
    };
    let options = live_session::Options {
        command: "watch",
        name: &name,
        live: &args.live,
        engine: &args.engine,
        config,
        report_every: args.report_every,
        record: None,
        output: args.output.output,
        color,
    };
    let (session, sink) = live_session::start(&runtime, http, options, || {})?;
    let started = Watch::start(nodes, cluster, args.timeout, sink);
    logging::status(&format!(
        "cachescope watch: following the keyspace events of {name}. Ctrl-C (or SIGTERM) stops and prints the \
         report."
    ));
    runtime.block_on(shutdown::requested(args.duration));
    let watched = started.stop();
    drop(restore);
    let (mut report, _) = session.finish(runtime)?;
    if watched.events == 0 {
        logging::warning(
            "no keyspace event arrived: is anything using the server, and does notify-keyspace-events include \"AEm\"?",
        );
    }
    report.source = Some(SourceInfo { kind: "watch".into(), name, format: None });
    report.server = Some(server_report(&watched));
    super::emit(&report, &args.output, color, None)?;
    Ok(Exit::Success)
}

/// The server's side of the watch: its hit ratio over it (from INFO: events tell no hits), and the gaps.
fn server_report(watched: &Watched) -> ServerReport {
    let empty = Info::default();
    let (first, last) = (watched.first.as_ref().unwrap_or(&empty), watched.last.as_ref().unwrap_or(&empty));
    let mut notes = vec![format!(
        "Keyspace events tell every miss and why the key was gone, not hits: the hit ratio is the server's own, and \
         per pattern the report gives misses and their causes ({} events followed).",
        watched.events
    )];
    if watched.nodes.len() > 1 {
        notes.push(format!(
            "{} nodes followed ({}): their counters are summed, and a node's restart empties its own keys only.",
            watched.nodes.len(),
            watched.nodes.join(", ")
        ));
    }
    let mut restarted: Vec<(&String, usize)> = Vec::new();
    for name in &watched.restarts {
        match restarted.iter_mut().find(|(n, _)| *n == name) {
            Some((_, times)) => *times += 1,
            None => restarted.push((name, 1)),
        }
    }
    for (name, times) in restarted {
        let who = if watched.nodes.len() > 1 { format!("The node {name}") } else { "The server".to_string() };
        notes.push(format!("{who} restarted {times} time(s) during the watch."));
    }
    let lost: f64 = watched.gaps.iter().map(|g| g.seconds).sum();
    if !watched.gaps.is_empty() {
        notes.push(format!(
            "Events were lost {} time(s), {lost:.1} s in all: misses in those times are not counted.",
            watched.gaps.len()
        ));
    }
    let keys = (0..16).map(|db| last.db_keys(db)).sum();
    ServerReport {
        gaps: watched.gaps.clone(),
        notes,
        ..cachescope_doctor::server_report(first, last, watched.seconds, keys)
    }
}
