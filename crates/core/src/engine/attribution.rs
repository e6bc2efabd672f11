//! Miss attribution: the one cause of a miss, from the shadow state of its key.

use crate::event::Micros;
use crate::report::MissCause;

use super::keys::{KeyState, Stamps, flags};

/// What the engine knows beyond the key itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MissContext {
    pub now: Micros,
    /// Time of the last flush or restart that emptied the key's database, if any.
    pub flushed_at: Option<Micros>,
    /// Whether keys may have existed before the first event (a live source joining a running cache).
    pub initial_state_unknown: bool,
    pub stamps: Stamps,
}

/// The cause of a miss on a key in state `state` (None: never seen).
pub(crate) fn attribute(state: Option<&KeyState>, context: MissContext) -> MissCause {
    let Some(state) = state else {
        return never_seen(context);
    };
    let flushed_after = |time: Micros| context.flushed_at.is_some_and(|flush| flush >= time);
    let expired_by_now = state.expires_at != 0 && state.expires_at <= context.now;
    if let Some(cause) = state.absence() {
        // Still missing since a miss established why, unless a later event would have removed it anyway: a
        // flush since its last write (which came after that miss, or that miss would have been the flush's),
        // or, for a key evicted before its TTL, the TTL running out. A key found missing and not written since
        // is, from then on, a key that nobody writes.
        return match cause {
            MissCause::Flushed | MissCause::NeverWritten => cause,
            _ if state.has(flags::WRITTEN) && flushed_after(state.last_write) => MissCause::Flushed,
            MissCause::Evicted if expired_by_now => MissCause::Expired,
            MissCause::Unknown => MissCause::NeverWritten,
            _ => cause,
        };
    }
    if state.has(flags::WRITE_FAILED) {
        return MissCause::FailedWrite;
    }
    if state.has(flags::DELETED) {
        return MissCause::Deleted;
    }
    if !state.has(flags::WRITTEN) {
        // Seen only through reads. A hit proves it existed: it went away unseen (flushed if a flush came after).
        if let Some(last_read) = context.stamps.time(state.last_read) {
            return if flushed_after(last_read) { MissCause::Flushed } else { MissCause::Unknown };
        }
        return never_seen(context);
    }
    // The cause is the latest event that removed the key, or would have had it still been there: a flush after
    // its last write empties it whether or not its TTL had run out (a longer TTL would not have kept it), and a
    // key whose TTL has run out is expired whether or not it was evicted first (more memory would not have kept
    // it).
    if context.flushed_at.is_some_and(|flush| flush >= state.last_write) {
        return MissCause::Flushed;
    }
    if expired_by_now {
        return MissCause::Expired;
    }
    MissCause::Evicted
}

fn never_seen(context: MissContext) -> MissCause {
    if context.initial_state_unknown { MissCause::Unknown } else { MissCause::NeverWritten }
}
