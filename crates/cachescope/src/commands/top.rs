//! `cachescope top`: the terminal dashboard (`crates/tui`), attached to a running instance's HTTP API, or fed
//! in this process by the demo played live or by a proxy in front of a server (`--upstream`).

use std::time::Duration;

use anyhow::{Result, bail};
use cachescope_core::{Engine, EngineConfig, InitialState};
use cachescope_sim::scenario::Scenario;
use cachescope_tui::{App, Feed, HttpFeed, Keeper, LocalFeed, Theme};

use crate::cli::TopArgs;
use crate::exit::{Exit, Unavailable, UsageError};
use crate::redis_url::RedisUrl;
use crate::sources::proxy::{self, ProxyOptions, Upstream};
use crate::sources::simulation::Player;

pub fn run(args: &TopArgs, color: bool) -> Result<Exit> {
    let dump = args.dump.as_deref().map(parse_size).transpose()?;
    let theme = Theme { color };
    if args.demo {
        return demo(args, dump, theme);
    }
    if let Some(upstream) = &args.upstream {
        return proxied(upstream, args, dump, theme);
    }
    if !(args.url.starts_with("http://") || args.url.starts_with("https://")) {
        bail!(UsageError(format!(
            "{} is not an http:// URL: give the address the instance serves with --http",
            args.url
        )));
    }
    let mut feed = HttpFeed::new(&args.url, args.http_token.clone());
    // A first fetch says at once when nothing is there, rather than a dashboard of nothing.
    let first =
        feed.fetch().map_err(|why| Unavailable(format!("{why} (is it running with --http on that address?)")))?;
    match dump {
        Some((width, height)) => {
            print!("{}", cachescope_tui::render(&App::default(), &first, width, height, theme));
        }
        None => cachescope_tui::run(&mut feed, theme)?,
    }
    Ok(Exit::Success)
}

fn demo(args: &TopArgs, dump: Option<(u16, u16)>, theme: Theme) -> Result<Exit> {
    if !(args.speed.is_finite() && args.speed > 0.0) {
        bail!(UsageError(format!("--speed {} must be a positive factor", args.speed)));
    }
    let scenario = Scenario::staged("all", 1).expect("the demo's scenario exists");
    let config = EngineConfig {
        initial_state: InitialState::Empty,
        cache_capacity: Some(scenario.cache_capacity),
        ..EngineConfig::default()
    };
    let (sink, source) = cachescope_live::channel();
    let live = cachescope_live::spawn(Engine::new(config), source, live_options(false))?;
    let mut feed = LocalFeed::new(live.snapshots.clone(), live.reports.clone(), "demo all (live)".into());
    let player = Player::start(scenario, sink, args.speed)?;
    match dump {
        Some((width, height)) => {
            // One frame once the scenario has played and its final report is in, for tests and screenshots.
            while !player.is_finished() {
                std::thread::sleep(Duration::from_millis(50));
            }
            player.stop();
            let _ = live.join();
            let mut keeper = Keeper::default();
            keeper.refresh(&mut feed);
            print!("{}", cachescope_tui::render(&App::default(), &keeper.screen, width, height, theme));
        }
        None => {
            cachescope_tui::run(&mut feed, theme)?;
            player.stop();
            let _ = live.join();
        }
    }
    Ok(Exit::Success)
}

fn parse_size(text: &str) -> Result<(u16, u16)> {
    let parsed = text.split_once('x').and_then(|(w, h)| Some((w.parse::<u16>().ok()?, h.parse::<u16>().ok()?)));
    match parsed {
        Some((width, height)) if width >= 20 && height >= 8 => Ok((width, height)),
        _ => bail!(UsageError(format!("--dump {text}: give WIDTHxHEIGHT, at least 20x8 (`120x40`)"))),
    }
}

/// `top --upstream`: the proxy in this process, the dashboard on its traffic.
fn proxied(upstream: &str, args: &TopArgs, dump: Option<(u16, u16)>, theme: Theme) -> Result<Exit> {
    let url = RedisUrl::parse(upstream)?;
    let relay_to = Upstream::new(&url, None, Duration::from_secs(5))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind(&args.listen)).map_err(|error| {
        Unavailable(format!("cannot listen on {}: {error} (is another process using it? choose --listen)", args.listen))
    })?;
    let listening = listener.local_addr()?;
    let config = EngineConfig { initial_state: InitialState::Unknown, ..EngineConfig::default() };
    let (sink, source) = cachescope_live::channel();
    let live = cachescope_live::spawn(Engine::new(config), source, live_options(true))?;
    let mut feed = LocalFeed::new(live.snapshots.clone(), live.reports.clone(), format!("proxy {listening} -> {url}"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = ProxyOptions {
        upstream: relay_to,
        watch: Some((url.clone(), Duration::from_secs(1))),
        drain_timeout: Duration::from_secs(5),
        max_connections: 10_000,
        share_upstream: true,
    };
    let proxy = std::thread::Builder::new().name("cachescope-proxy".into()).spawn(move || {
        runtime.block_on(proxy::serve(listener, options, sink, async {
            let _ = stopped.await;
        }))
    })?;
    match dump {
        Some((width, height)) => {
            // A frame once a window has closed (or after two windows' time), for tests.
            let mut keeper = Keeper::default();
            let deadline = std::time::Instant::now() + Duration::from_secs(25);
            keeper.refresh(&mut feed);
            while keeper.screen.overview.windows == 0 && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(200));
                keeper.refresh(&mut feed);
            }
            print!("{}", cachescope_tui::render(&App::default(), &keeper.screen, width, height, theme));
        }
        None => cachescope_tui::run(&mut feed, theme)?,
    }
    let _ = stop.send(());
    let stats = proxy.join().map_err(|_| anyhow::anyhow!("the proxy thread failed"))??;
    let done = live.join().map_err(|_| anyhow::anyhow!("the analysis thread failed"))?;
    eprintln!(
        "cachescope top: the proxy on {listening} served {} connections; {} events analysed",
        stats.connections, done.counters.events
    );
    Ok(Exit::Success)
}

/// The live layer of an in-process source: a report every 5 s, for the dashboard's findings.
fn live_options(wall_clock: bool) -> cachescope_live::Options {
    cachescope_live::Options {
        report_every: Duration::from_secs(5),
        wall_clock,
        ..cachescope_live::Options::new(cachescope_live::SeriesConfig::default())
    }
}
