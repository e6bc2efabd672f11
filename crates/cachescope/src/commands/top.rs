//! `cachescope top`: the terminal dashboard (`crates/tui`), attached to a running instance's HTTP API, or fed
//! by the demo played live in this process.

use std::time::Duration;

use anyhow::{Result, bail};
use cachescope_core::{Engine, EngineConfig, InitialState};
use cachescope_sim::scenario::Scenario;
use cachescope_tui::{App, Feed, HttpFeed, Keeper, LocalFeed, Theme};

use crate::cli::TopArgs;
use crate::exit::{Exit, Unavailable, UsageError};
use crate::sources::simulation::Player;

pub fn run(args: &TopArgs, color: bool) -> Result<Exit> {
    let dump = args.dump.as_deref().map(parse_size).transpose()?;
    let theme = Theme { color };
    if args.demo {
        return demo(args, dump, theme);
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
    let live = cachescope_live::spawn(
        Engine::new(config),
        source,
        cachescope_live::Options {
            series: cachescope_live::SeriesConfig::default(),
            detector: cachescope_live::CusumConfig::default(),
            report_every: Duration::from_secs(5),
            on_change: None,
            record: None,
            wall_clock: false,
        },
    )?;
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
