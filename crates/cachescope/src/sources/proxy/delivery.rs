//! Where a shared connection puts one client's replies ([`Delivery`]).
//!
//! Straight onto the client's socket, from the shared connection's own task, when nothing of the client's is
//! waiting to be written before them and the socket takes them whole: the usual case, a client sending one
//! command and waiting, whose task is then not woken for its reply at all. Otherwise (the socket is full, or
//! the client's task is writing) into the client's queue, which its task writes in order. Either way the
//! replies are analysed once, in the order they came, by whichever side writes them first.
//!
//! With several relaying threads (`--threads`), every reply goes through the queue: the client's task analyses
//! and writes it, so that this work spreads over the threads rather than falling on the shared connection's.
//!
//! Also what the client's two directions and the shared connection share about the client ([`Flow`]).

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use cachescope_core::OwnedEvent;
use cachescope_resp::Connection;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Notify;
use tokio::sync::mpsc::UnboundedSender;

use super::gather::Gatherer;
use super::relay::now_micros;

/// The client's commands go to the shared connection.
pub const SENDING: u8 = 0;
/// The client closed its side.
pub const CLIENT_CLOSED: u8 = 1;
/// The proxy is draining.
pub const DRAINING: u8 = 2;
/// The client sent a command that needs a connection of its own.
pub const PINNING: u8 = 3;
/// The shared connection failed under commands not yet sent.
pub const GONE: u8 = 4;

/// No reply yet (no reply begins with a zero byte).
pub const NO_REPLY: u8 = 0;

/// What a client's task is told through its queue.
#[derive(Debug)]
pub enum ToClient {
    /// Bytes of the client's replies, in order; `complete` replies end in them (a long reply comes in pieces);
    /// `analysed` when the shared connection's task analysed them already (it wrote what came before them).
    Replies { bytes: Vec<u8>, complete: usize, analysed: bool },
    /// The upstream connection failed: the client's commands on it get no reply.
    Gone,
}

/// What the two directions of one client, and the shared connection delivering its replies, share.
pub struct Flow {
    /// One of [`SENDING`], [`CLIENT_CLOSED`], [`DRAINING`], [`PINNING`], [`GONE`].
    pub phase: AtomicU8,
    /// Commands sent upstream whose replies the client has not been given yet.
    pub in_flight: AtomicUsize,
    /// Replies were delivered.
    pub delivered: Notify,
    /// The phase changed, or the last reply owed was delivered after it did.
    pub changed: Notify,
    /// The first byte of the first reply delivered since a set-up command was sent alone ([`NO_REPLY`] until
    /// then): its reply's type, `-` or `!` for an error.
    pub set_up_reply: AtomicU8,
}

impl Flow {
    fn new() -> Self {
        Flow {
            phase: AtomicU8::new(SENDING),
            in_flight: AtomicUsize::new(0),
            delivered: Notify::new(),
            changed: Notify::new(),
            set_up_reply: AtomicU8::new(NO_REPLY),
        }
    }

    /// Sets the phase; the replies' side is told.
    pub fn set_phase(&self, phase: u8) {
        // SeqCst, as in `replied`: of a phase set while the last replies are written, either the replies' side
        // sees none owed, or the writer sees the phase and tells it.
        self.phase.store(phase, Ordering::SeqCst);
        self.changed.notify_one();
    }

    pub fn phase(&self) -> u8 {
        self.phase.load(Ordering::SeqCst)
    }

    pub fn owed(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// `complete` replies were written to the client.
    fn replied(&self, complete: usize) {
        if complete == 0 {
            return;
        }
        self.in_flight.fetch_sub(complete, Ordering::SeqCst);
        self.delivered.notify_one();
        // Once the client is leaving, its replies' side waits for the last reply owed: it may have looked just
        // before this one was written (from the shared connection's task).
        if self.phase.load(Ordering::SeqCst) != SENDING {
            self.changed.notify_one();
        }
    }
}

/// One client's replies' way: its socket's write side when free, and its queue.
pub struct Delivery {
    direct: Mutex<Direct>,
    queue: UnboundedSender<ToClient>,
    state: Arc<Mutex<Connection>>,
    events: Arc<Gatherer>,
    pub flow: Flow,
}

struct Direct {
    /// The client's write side, while its task is not writing with it (and until the client leaves).
    write: Option<OwnedWriteHalf>,
    /// Messages in the queue not yet written by the client's task: replies wait behind them.
    queued: usize,
    /// Whether the shared connection's task may write (one relaying thread).
    allowed: bool,
}

impl Delivery {
    pub fn new(
        write: OwnedWriteHalf,
        queue: UnboundedSender<ToClient>,
        state: Arc<Mutex<Connection>>,
        events: Arc<Gatherer>,
    ) -> Self {
        let allowed = tokio::runtime::Handle::try_current()
            .is_ok_and(|runtime| runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread);
        Delivery {
            direct: Mutex::new(Direct { write: Some(write), queued: 0, allowed }),
            queue,
            state,
            events,
            flow: Flow::new(),
        }
    }

    /// From the shared connection's task: `bytes` of the client's replies, `complete` of which end in them.
    /// `scratch` is the caller's, empty, for the events.
    pub fn deliver(&self, bytes: &[u8], complete: usize, scratch: &mut Vec<OwnedEvent>) {
        let mut direct = self.direct.lock().expect("no panics while locked");
        let (rest, analysed) = match &direct.write {
            Some(write) if direct.queued == 0 && direct.allowed => {
                self.analyse(bytes, scratch);
                // An error leaves the bytes to the client's task, which meets it too and ends the client.
                let written = write.try_write(bytes).unwrap_or(0);
                if written == bytes.len() {
                    drop(direct);
                    self.flow.replied(complete);
                    return;
                }
                (&bytes[written..], true)
            }
            _ => (bytes, false),
        };
        direct.queued += 1;
        let _ = self.queue.send(ToClient::Replies { bytes: rest.to_vec(), complete, analysed });
    }

    /// From the shared connection's task: it failed, with replies owed to the client.
    pub fn gone(&self) {
        let _ = self.queue.send(ToClient::Gone);
    }

    /// The client's connection as analysed.
    pub fn state(&self) -> &Mutex<Connection> {
        &self.state
    }

    /// Takes the events in `bytes` (replies, in order) and notes a set-up command's reply.
    pub fn analyse(&self, bytes: &[u8], scratch: &mut Vec<OwnedEvent>) {
        // Only while a set-up command awaits its reply (a plain load otherwise, not a locked exchange).
        if let Some(&first) = bytes.first()
            && self.flow.set_up_reply.load(Ordering::Acquire) == NO_REPLY
        {
            let _ = self.flow.set_up_reply.compare_exchange(NO_REPLY, first, Ordering::AcqRel, Ordering::Acquire);
        }
        self.state.lock().expect("no panics while locked").from_server(bytes, now_micros(), scratch);
        self.events.add(scratch);
    }

    /// The write side, for the client's task: to write a queued message, given back with [`Self::written`]
    /// before anything else is written; or for good, when the client leaves the shared connection (nothing is
    /// owed it there any more) or is closed. None once taken for good.
    pub fn take_write(&self) -> Option<OwnedWriteHalf> {
        self.direct.lock().expect("no panics while locked").write.take()
    }

    /// The write side back after a queued message of `complete` replies was written.
    pub fn written(&self, write: OwnedWriteHalf, complete: usize) {
        {
            let mut direct = self.direct.lock().expect("no panics while locked");
            direct.write = Some(write);
            direct.queued -= 1;
        }
        self.flow.replied(complete);
    }
}
