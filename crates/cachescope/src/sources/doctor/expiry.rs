//! The expiry watch: the sampled keys due to expire within the first half of the watch are followed through
//! their expiry. At its due time each is asked PTTL: gone (-2) means it expired; still there means it was written
//! again first. The gone ones are asked again every [`POLL`] until they come back (written again: in a read-through
//! cache, read and missed) or the watch ends. PTTL neither renews a key nor touches its idle time.

use std::time::{Duration, Instant};

use cachescope_doctor::{ExpiryWatch, SampledKey};
use indicatif::ProgressBar;

/// Keys followed at most: one PTTL each per poll.
const MAX_WATCHED: usize = 500;
/// How often the expired keys are asked whether they came back.
const POLL: Duration = Duration::from_millis(100);
/// Past a key's due time before it is asked: the server expires keys to the millisecond.
const AFTER_DUE: Duration = Duration::from_millis(2);

struct Watched {
    index: usize,
    due: Instant,
    gone_at: Instant,
}

fn pttl<'a>(connection: &mut redis::Connection, keys: impl Iterator<Item = &'a [u8]>) -> redis::RedisResult<Vec<i64>> {
    let mut pipe = redis::pipe();
    let mut any = false;
    for key in keys {
        pipe.cmd("PTTL").arg(key);
        any = true;
    }
    if !any {
        return Ok(Vec::new());
    }
    pipe.query(connection)
}

/// Follows the keys of `sample` due within half of `duration` through their expiry, for `duration`, and
/// records in each what became of it.
pub(super) fn watch(
    connection: &mut redis::Connection,
    sample: &mut [SampledKey],
    duration: Duration,
    bar: &ProgressBar,
) -> redis::RedisResult<()> {
    let horizon_ms = (duration.as_millis() / 2) as i64;
    let mut candidates: Vec<usize> =
        (0..sample.len()).filter(|&i| matches!(sample[i].ttl_ms, Some(ms) if (0..=horizon_ms).contains(&ms))).collect();
    if candidates.len() > MAX_WATCHED {
        // Evenly over the sample (SCAN order is the hash table's: no pattern comes first).
        let step = candidates.len() as f64 / MAX_WATCHED as f64;
        candidates = (0..MAX_WATCHED).map(|i| candidates[(i as f64 * step) as usize]).collect();
    }
    let started = Instant::now();
    let end = started + duration;
    // Sampling took a while: the TTLs left now.
    let ttls = pttl(connection, candidates.iter().map(|&i| sample[i].key.as_slice()))?;
    let mut pending: Vec<Watched> = candidates
        .iter()
        .zip(ttls)
        // -2: gone already, at a time unknown; -1: made persistent meanwhile. Neither is followed.
        .filter(|(_, ttl)| *ttl >= 0)
        .map(|(&index, ttl)| Watched { index, due: started + Duration::from_millis(ttl as u64), gone_at: started })
        .collect();
    pending.sort_by_key(|w| w.due);
    let mut gone: Vec<Watched> = Vec::new();
    let mut last_poll = started;
    loop {
        let now = Instant::now();
        bar.set_position((now.duration_since(started).as_secs_f64() / duration.as_secs_f64() * 1000.0) as u64);
        if now >= end {
            break;
        }
        let due_count = pending.iter().take_while(|w| w.due + AFTER_DUE <= now).count();
        if due_count > 0 {
            let due: Vec<Watched> = pending.drain(..due_count).collect();
            let ttls = pttl(connection, due.iter().map(|w| sample[w.index].key.as_slice()))?;
            let at = Instant::now();
            for (mut watched, ttl) in due.into_iter().zip(ttls) {
                match ttl {
                    -2 => {
                        watched.gone_at = at;
                        gone.push(watched);
                    }
                    // A few milliseconds left: the clocks differ a little; ask again then.
                    0..=20 => {
                        watched.due = at + Duration::from_millis(ttl as u64);
                        let position = pending.partition_point(|w| w.due <= watched.due);
                        pending.insert(position, watched);
                    }
                    _ => sample[watched.index].expiry = Some(ExpiryWatch::Refreshed),
                }
            }
        }
        if !gone.is_empty() && now >= last_poll + POLL {
            let ttls = pttl(connection, gone.iter().map(|w| sample[w.index].key.as_slice()))?;
            let at = Instant::now();
            let mut still = Vec::with_capacity(gone.len());
            for (watched, ttl) in gone.into_iter().zip(ttls) {
                if ttl == -2 {
                    still.push(watched);
                    continue;
                }
                // It came back between the last poll (or its expiry) and this one: count the middle, for its return
                // and for the TTL it was given then.
                let since = last_poll.max(watched.gone_at);
                let half = at.duration_since(since) / 2;
                let after = since.duration_since(watched.gone_at) + half;
                let ttl_ms = u64::try_from(ttl).ok().map(|ms| ms + half.as_millis() as u64);
                sample[watched.index].expiry = Some(ExpiryWatch::Back { after_ms: after.as_millis() as u64, ttl_ms });
            }
            gone = still;
            last_poll = at;
        }
        let mut wake = end;
        if let Some(first) = pending.first() {
            wake = wake.min(first.due + AFTER_DUE);
        }
        if !gone.is_empty() {
            wake = wake.min(last_poll + POLL);
        }
        std::thread::sleep(wake.saturating_duration_since(Instant::now()).min(Duration::from_millis(250)));
    }
    for watched in gone {
        sample[watched.index].expiry =
            Some(ExpiryWatch::StillGone { watched_ms: end.duration_since(watched.gone_at).as_millis() as u64 });
    }
    Ok(())
}
