//! `--webhook`: anomalies posted to a URL by `cachescope-web`'s webhook thread, which follows the live layer.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use cachescope_live::Live;
use cachescope_web::webhook::{self, WebhookConfig};

use crate::cli::LiveArgs;
use crate::exit::UsageError;

/// How long a stopping command waits for the last webhook messages.
const FLUSH: Duration = Duration::from_secs(5);

/// The webhook's URL, checked before anything starts.
pub fn check(args: &LiveArgs) -> Result<()> {
    if let Some(url) = &args.webhook
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        bail!(UsageError(format!("--webhook {url} is not an http:// or https:// URL")));
    }
    if args.webhook.is_some() && args.webhook_per_minute == 0 {
        bail!(UsageError("--webhook-per-minute must be at least 1".into()));
    }
    Ok(())
}

/// Starts the webhook thread if asked; `source` names this instance in the messages.
pub fn start(args: &LiveArgs, source: &str, live: &Live) -> Result<Option<JoinHandle<()>>> {
    let Some(url) = &args.webhook else { return Ok(None) };
    let config = WebhookConfig {
        burst: args.webhook_per_minute,
        period: Duration::from_secs(60),
        ..WebhookConfig::new(url, source)
    };
    crate::logging::status(&format!("cachescope: posting anomalies to the webhook {}", redact(url)));
    Ok(Some(webhook::spawn(config, live.changes.subscribe())?))
}

/// Waits, a bounded time, for the webhook to send what waits once the live layer stopped.
pub fn finish(thread: Option<JoinHandle<()>>) {
    let Some(thread) = thread else { return };
    let deadline = Instant::now() + FLUSH;
    while !thread.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if thread.is_finished() {
        let _ = thread.join();
    } else {
        crate::logging::warning("the webhook did not answer in time: its last messages were not delivered");
    }
}

/// A webhook URL without its path, which is often the secret (Slack's are).
fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split('/').next().unwrap_or(rest);
            if rest.len() > host.len() { format!("{scheme}://{host}/…") } else { url.to_string() }
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_path_of_a_webhook_is_not_printed() {
        assert_eq!(super::redact("https://hooks.slack.com/services/T0/B0/XYZ"), "https://hooks.slack.com/…");
        assert_eq!(super::redact("http://127.0.0.1:9000"), "http://127.0.0.1:9000");
    }
}
