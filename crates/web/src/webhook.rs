//! `--webhook URL`: each anomaly opened and closed, POSTed as JSON with a `text` field (what a Slack-style
//! incoming webhook shows) on a thread of its own, so that a slow or dead receiver holds up nothing.
//!
//! - Rate-limited: a bucket of `burst` messages refilled at `burst` a `period`; what comes past it waits and
//!   goes out as one digest when a message may go again.
//! - Retried: a failed delivery (no answer within the timeout, a 5xx, a 429) is retried with exponential
//!   backoff (a 429's `Retry-After` respected), `attempts` times in all, then given up with a warning.
//! - Never blocking: it follows the live layer's broadcast; when it falls that far behind, the changes it
//!   missed are counted and the next message says so.

use std::collections::VecDeque;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cachescope_live::{Anomaly, LiveEvent};
use serde::Serialize;
use tokio::sync::broadcast::{self, error::TryRecvError};

/// How a webhook is driven.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub url: String,
    /// Names the instance in each message (`proxy 127.0.0.1:6380 -> redis://cache:6379`).
    pub source: String,
    /// Messages that may go at once, and again every `period`.
    pub burst: u32,
    pub period: Duration,
    /// Deliveries tried per message, the first included.
    pub attempts: u32,
    /// The wait before the first retry; doubled at each.
    pub backoff: Duration,
    /// How long one delivery may take.
    pub timeout: Duration,
}

impl WebhookConfig {
    pub fn new(url: impl Into<String>, source: impl Into<String>) -> Self {
        WebhookConfig {
            url: url.into(),
            source: source.into(),
            burst: 10,
            period: Duration::from_secs(60),
            attempts: 5,
            backoff: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
        }
    }
}

/// What the receiver gets.
#[derive(Debug, Serialize)]
pub struct Message {
    /// One line (a digest: a line per anomaly) for chat tools.
    pub text: String,
    /// `anomaly_opened`, `anomaly_closed`, or `digest` when the rate limit held several back.
    pub event: &'static str,
    pub source: String,
    pub anomalies: Vec<Anomaly>,
    /// Changes this webhook fell too far behind to see, since the last message.
    pub missed: u64,
}

/// The anomalies of a digest listed in its text, at most.
const DIGEST_LINES: usize = 10;
/// How often the thread looks for changes when there are none.
const POLL: Duration = Duration::from_millis(50);

fn line(event: &LiveEvent) -> Option<(&'static str, &Anomaly)> {
    match event {
        LiveEvent::AnomalyOpened { anomaly } => Some(("opened", anomaly)),
        LiveEvent::AnomalyClosed { anomaly } => Some(("closed", anomaly)),
        _ => None,
    }
}

/// The message for what waited: one change alone, or a digest.
fn compose(source: &str, waiting: &[LiveEvent], missed: u64) -> Message {
    let lines: Vec<(&str, &Anomaly)> = waiting.iter().filter_map(line).collect();
    let missed_note =
        if missed > 0 { format!(" ({missed} changes were missed: the webhook fell behind)") } else { String::new() };
    let (text, event) = match lines.as_slice() {
        [(state, anomaly)] => (
            format!("cachescope {source}: anomaly {state}: {}{missed_note}", anomaly.text),
            if *state == "opened" { "anomaly_opened" } else { "anomaly_closed" },
        ),
        _ => {
            let mut text = format!("cachescope {source}: {} anomaly changes{missed_note}", lines.len());
            for (state, anomaly) in lines.iter().take(DIGEST_LINES) {
                text.push_str(&format!("\n- {state}: {}", anomaly.text));
            }
            if lines.len() > DIGEST_LINES {
                text.push_str(&format!("\n- and {} more", lines.len() - DIGEST_LINES));
            }
            (text, "digest")
        }
    };
    Message {
        text,
        event,
        source: source.to_string(),
        anomalies: lines.into_iter().map(|(_, a)| a.clone()).collect(),
        missed,
    }
}

/// A bucket of `burst` tokens refilled at `burst` a `period`.
struct Bucket {
    tokens: f64,
    burst: f64,
    per_second: f64,
    at: Instant,
}

impl Bucket {
    fn new(burst: u32, period: Duration) -> Self {
        let burst = f64::from(burst.max(1));
        Bucket { tokens: burst, burst, per_second: burst / period.as_secs_f64().max(1e-3), at: Instant::now() }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.per_second).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Why a delivery failed, and whether to try again (after how long, when the receiver said).
enum Failure {
    Retry(Option<Duration>, String),
    GiveUp(String),
}

fn deliver(agent: &ureq::Agent, url: &str, message: &Message) -> Result<(), Failure> {
    match agent.post(url).send_json(message) {
        Ok(response) => {
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            match status {
                200..=299 => Ok(()),
                429 => Err(Failure::Retry(retry_after, "429 Too Many Requests".into())),
                500..=599 => Err(Failure::Retry(retry_after, format!("answered {status}"))),
                _ => Err(Failure::GiveUp(format!("answered {status}"))),
            }
        }
        Err(error) => Err(Failure::Retry(None, error.to_string())),
    }
}

/// Follows `changes` and posts anomalies to the webhook until the live layer stops (every sender dropped); then
/// sends what still waits, and ends.
pub fn spawn(config: WebhookConfig, changes: broadcast::Receiver<LiveEvent>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("cachescope-webhook".into()).spawn(move || run(config, changes))
}

fn run(config: WebhookConfig, mut changes: broadcast::Receiver<LiveEvent>) {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(config.timeout)).http_status_as_error(false).build().into();
    let mut bucket = Bucket::new(config.burst, config.period);
    let mut waiting: VecDeque<LiveEvent> = VecDeque::new();
    let mut missed = 0u64;
    let mut open = true;
    while open || !waiting.is_empty() {
        match changes.try_recv() {
            Ok(change) if line(&change).is_some() => {
                waiting.push_back(change);
                continue;
            }
            Ok(_) => continue,
            Err(TryRecvError::Lagged(count)) => {
                missed += count;
                continue;
            }
            Err(TryRecvError::Closed) => open = false,
            Err(TryRecvError::Empty) => {}
        }
        if waiting.is_empty() || !bucket.take() {
            if open {
                std::thread::sleep(POLL);
                continue;
            }
            if waiting.is_empty() {
                break;
            }
            // Stopping: what waits goes in one last message, past the limit.
        }
        let batch: Vec<LiveEvent> = waiting.drain(..).collect();
        let message = compose(&config.source, &batch, missed);
        missed = 0;
        send_with_retries(&agent, &config, &message);
    }
}

/// Delivers `message`, retrying with backoff.
fn send_with_retries(agent: &ureq::Agent, config: &WebhookConfig, message: &Message) {
    let attempts = config.attempts.max(1);
    let mut wait = config.backoff;
    for attempt in 1..=attempts {
        match deliver(agent, &config.url, message) {
            Ok(()) => return,
            Err(Failure::GiveUp(why)) => {
                tracing::warn!(url = %config.url, "the webhook refused a message ({why}); not retried");
                return;
            }
            Err(Failure::Retry(after, why)) if attempt < attempts => {
                let pause = after.unwrap_or(wait);
                tracing::info!(url = %config.url, "webhook delivery failed ({why}); retrying in {pause:?}");
                std::thread::sleep(pause);
                wait *= 2;
            }
            Err(Failure::Retry(_, why)) => {
                tracing::warn!(url = %config.url, "webhook delivery failed {attempts} times ({why}); message dropped");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anomaly(text: &str) -> Anomaly {
        Anomaly {
            id: 1,
            kind: cachescope_live::AnomalyKind::HitRatioFall,
            series: "*".into(),
            cause: None,
            started_at: 0,
            flagged_at: 0,
            closed_at: None,
            baseline: 0.05,
            peak: 0.4,
            current: 0.4,
            after_marker: None,
            text: text.into(),
        }
    }

    #[test]
    fn one_change_is_one_line_and_several_a_digest() {
        let opened = LiveEvent::AnomalyOpened { anomaly: anomaly("hit ratio 95% -> 61%") };
        let alone = compose("proxy a -> b", std::slice::from_ref(&opened), 0);
        assert_eq!(alone.text, "cachescope proxy a -> b: anomaly opened: hit ratio 95% -> 61%");
        assert_eq!(alone.event, "anomaly_opened");
        let many: Vec<LiveEvent> = (0..12).map(|_| opened.clone()).collect();
        let digest = compose("p", &many, 3);
        assert_eq!(digest.event, "digest");
        assert_eq!(digest.anomalies.len(), 12);
        assert!(digest.text.starts_with("cachescope p: 12 anomaly changes (3 changes were missed"), "{}", digest.text);
        assert!(digest.text.ends_with("\n- and 2 more"), "{}", digest.text);
    }

    #[test]
    fn the_bucket_lets_a_burst_through_then_refills() {
        let mut bucket = Bucket::new(2, Duration::from_millis(100));
        assert!(bucket.take() && bucket.take());
        assert!(!bucket.take());
        std::thread::sleep(Duration::from_millis(60));
        assert!(bucket.take());
    }
}
