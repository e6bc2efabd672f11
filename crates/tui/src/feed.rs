//! Where the dashboard's data comes from: a running instance's HTTP API (`/api/overview` every refresh,
//! `/api/report` every few seconds), or a live layer in the same process. A feed that fails keeps the last screen
//! and says since when it is stale; it tries again at every refresh, so a restarted instance is picked up again.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cachescope_core::report::Report;
use cachescope_live::detect::clock;
use cachescope_live::{LiveSnapshot, Overview, ReportRequests};
use tokio::sync::watch;

use crate::screen::Screen;

/// How often the report (findings, pattern statistics) is fetched again; it walks every key on the other side.
const REPORT_EVERY: Duration = Duration::from_secs(5);

pub trait Feed {
    /// The latest data; an error says what went wrong, in a line.
    fn fetch(&mut self) -> Result<Screen, String>;
}

/// A running instance served with `--http`.
pub struct HttpFeed {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
    report: Option<Report>,
    report_at: Option<Instant>,
}

impl HttpFeed {
    pub fn new(base: &str, token: Option<String>) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(3)))
            .http_status_as_error(false)
            .build()
            .into();
        HttpFeed { base: base.trim_end_matches('/').to_string(), token, agent, report: None, report_at: None }
    }

    fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        let mut request = self.agent.get(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        let mut response = request.call().map_err(|e| format!("cannot reach {}: {e}", self.base))?;
        match response.status().as_u16() {
            200 => {}
            401 => return Err(format!("{} wants a bearer token: give --http-token", self.base)),
            status => return Err(format!("{}{path} answered {status}", self.base)),
        }
        let text = response.body_mut().read_to_string().map_err(|e| format!("{}{path}: {e}", self.base))?;
        serde_json::from_str(&text).map_err(|e| format!("{}{path} is not what cachescope serves: {e}", self.base))
    }
}

impl Feed for HttpFeed {
    fn fetch(&mut self) -> Result<Screen, String> {
        let overview: Overview = self.get("/api/overview")?;
        if self.report_at.is_none_or(|at| at.elapsed() >= REPORT_EVERY) {
            self.report_at = Some(Instant::now());
            if let Ok(report) = self.get::<Report>("/api/report") {
                self.report = Some(report);
            }
        }
        Ok(Screen { overview, report: self.report.clone(), source: self.base.clone(), stale: None })
    }
}

/// A live layer in this process (`cachescope top --demo`).
pub struct LocalFeed {
    pub snapshots: watch::Receiver<Arc<LiveSnapshot>>,
    pub reports: ReportRequests,
    pub source: String,
    asked: Option<Instant>,
}

impl LocalFeed {
    pub fn new(snapshots: watch::Receiver<Arc<LiveSnapshot>>, reports: ReportRequests, source: String) -> Self {
        LocalFeed { snapshots, reports, source, asked: None }
    }
}

impl Feed for LocalFeed {
    fn fetch(&mut self) -> Result<Screen, String> {
        if self.asked.is_none_or(|at| at.elapsed() >= REPORT_EVERY) {
            self.asked = Some(Instant::now());
            self.reports.request();
        }
        let snapshot = self.snapshots.borrow().clone();
        Ok(Screen {
            overview: Overview::of(&snapshot),
            report: snapshot.report.as_deref().cloned(),
            source: self.source.clone(),
            stale: None,
        })
    }
}

/// Keeps the last good screen and marks it stale while the feed fails.
#[derive(Default)]
pub struct Keeper {
    pub screen: Screen,
    failing_since: Option<u64>,
}

impl Keeper {
    pub fn refresh(&mut self, feed: &mut dyn Feed) {
        match feed.fetch() {
            Ok(screen) => {
                self.screen = screen;
                self.failing_since = None;
            }
            Err(why) => {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
                let since = *self.failing_since.get_or_insert(now);
                self.screen.stale = Some(format!("{why} (since {}, retrying)", clock(since)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers from a script: a screen, or why not.
    struct Scripted(Vec<Result<u64, &'static str>>);

    impl Feed for Scripted {
        fn fetch(&mut self) -> Result<Screen, String> {
            let next = self.0.remove(0);
            next.map(|events| Screen { overview: Overview { events, ..Overview::default() }, ..Screen::default() })
                .map_err(str::to_string)
        }
    }

    #[test]
    fn a_failing_feed_keeps_the_last_screen_marked_stale_until_it_answers_again() {
        let mut feed = Scripted(vec![Ok(10), Err("cannot reach x"), Err("cannot reach x"), Ok(30)]);
        let mut keeper = Keeper::default();
        keeper.refresh(&mut feed);
        assert_eq!((keeper.screen.overview.events, keeper.screen.stale.is_none()), (10, true));
        keeper.refresh(&mut feed);
        let first = keeper.screen.stale.clone().expect("stale");
        keeper.refresh(&mut feed);
        assert_eq!(keeper.screen.stale.as_ref(), Some(&first), "since when it failed, not since the last try");
        assert!(first.starts_with("cannot reach x (since ") && first.ends_with(", retrying)"), "{first}");
        assert_eq!(keeper.screen.overview.events, 10);
        keeper.refresh(&mut feed);
        assert_eq!((keeper.screen.overview.events, keeper.screen.stale.is_none()), (30, true));
    }
}
