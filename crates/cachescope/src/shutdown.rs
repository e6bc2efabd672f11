//! When a command that runs until stopped stops: Ctrl-C (SIGINT), SIGTERM (what systemd and Kubernetes send),
//! or the end of `--duration`. All three drain the same way: final report printed, recording flushed.

use std::time::Duration;

/// Completes when the command should stop.
pub async fn requested(limit: Option<Duration>) {
    let after = async {
        match limit {
            Some(duration) => tokio::time::sleep(duration).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = after => tracing::info!("--duration reached: stopping"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: stopping"),
        _ = terminated() => tracing::info!("SIGTERM: stopping"),
    }
}

#[cfg(unix)]
async fn terminated() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut signal) => {
            signal.recv().await;
        }
        Err(error) => {
            tracing::warn!("cannot catch SIGTERM ({error}): it will stop the command without its report");
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(not(unix))]
async fn terminated() {
    std::future::pending::<()>().await;
}
