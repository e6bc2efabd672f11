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
    if let Some(cause) = state.absence() {
        // Still missing since a miss established why; a key found missing and not written since is, from then
        // on, a key that nobody writes.
        return if cause == MissCause::Unknown { MissCause::NeverWritten } else { cause };
    }
    if state.has(flags::WRITE_FAILED) {
        return MissCause::FailedWrite;
    }
    if state.has(flags::DELETED) {
        return MissCause::Deleted;
    }
    let flushed_after = |time: Micros| context.flushed_at.is_some_and(|flush| flush >= time);
    if !state.has(flags::WRITTEN) {
        // Seen only through reads. A hit proves it existed: it went away unseen (flushed if a flush came after).
        if let Some(last_read) = context.stamps.time(state.last_read) {
            return if flushed_after(last_read) { MissCause::Flushed } else { MissCause::Unknown };
        }
        return never_seen(context);
    }
    // A flush empties what was there: a key whose TTL had already run out by then expired, it was not flushed.
    let expired_by = |time: Micros| state.expires_at != 0 && state.expires_at <= time;
    if let Some(flush) = context.flushed_at.filter(|&flush| flush >= state.last_write && !expired_by(flush)) {
        debug_assert!(flush >= state.last_write);
        return MissCause::Flushed;
    }
    if expired_by(context.now) {
        return MissCause::Expired;
    }
    MissCause::Evicted
}

fn never_seen(context: MissContext) -> MissCause {
    if context.initial_state_unknown { MissCause::Unknown } else { MissCause::NeverWritten }
}
