//! One client connection as the proxy sees it: commands one way, replies the other, paired in order.
//!
//! Replies come in the order of their commands (pipelining included), except that `CLIENT REPLY OFF|SKIP`
//! silences some, a transaction answers `+QUEUED` and gives the real replies in `EXEC`'s array, `UNSUBSCRIBE`
//! outside subscribe mode answers once per channel, and RESP3 pushes arrive without a command. Pub/sub and
//! `MONITOR` leave request-reply altogether: analysis stops there, as it does on anything the scanners cannot
//! follow. Stopping analysis never touches the bytes, which the proxy forwards whatever happens here.
//!
//! Connection state that affects later commands (`SELECT`, `RESET`, `DISCARD` of a transaction that selected a
//! database) takes effect when the command is sent, as the server applies it before the commands pipelined
//! after it.

use std::collections::VecDeque;

use cachescope_core::{Micros, OwnedEvent};

use crate::commands::{Access, CommandSpec, Control, key_indexes, lookup, sets_up_connection, shares_connection};
use crate::interpret::{Context, interpret};
use crate::reply::{Reply, ReplyScanner, Value};
use crate::request::{Request, RequestScanner};

/// Commands waiting for their replies, at most: past it the client is not reading replies, and following it
/// would cost memory without bound.
const MAX_PENDING: usize = 10_000;
/// Arguments that are not keys are kept only up to this length (options, counts); longer ones (values) keep
/// only their length.
const KEPT_NON_KEY: usize = 64;

#[derive(Debug)]
struct Pending {
    request: Request,
    spec: Option<&'static CommandSpec>,
    /// The database the command runs in.
    db: u32,
    /// Replies it gets: 0 under `CLIENT REPLY OFF` or `SKIP`, one per channel for UNSUBSCRIBE, else 1.
    replies: u32,
}

/// A whole command the client sent, as a proxy that frames the stream needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Its bytes on the wire (with any empty requests just before it): the commands' sizes add up to the stream's.
    pub bytes: u64,
    /// Whether it may run on an upstream connection shared with other clients ([`shares_connection`]).
    pub shares_connection: bool,
    /// Whether it sets the connection up the same way each time it runs ([`sets_up_connection`]).
    pub sets_up_connection: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReplyMode {
    On,
    Off,
    /// The next command gets no reply.
    Skip,
}

#[derive(Debug)]
pub struct Connection {
    client: u32,
    requests: RequestScanner,
    replies: ReplyScanner,
    parsed_requests: Vec<Request>,
    parsed_replies: Vec<Reply>,
    pending: VecDeque<Pending>,
    /// Replies the pending commands still get (kept as a count: checked after every reply).
    awaiting: usize,
    /// Commands queued since MULTI, once its `+OK` came.
    transaction: Option<Vec<Pending>>,
    /// The database of the next command.
    db: u32,
    /// The database when MULTI was sent: DISCARD returns to it.
    db_before_multi: Option<u32>,
    reply_mode: ReplyMode,
    /// Why analysis stopped, once it did.
    stopped: Option<&'static str>,
    /// Whether it stopped because the streams could not be followed (not RESP, a reply no command asked for),
    /// rather than because the client left request-reply.
    out_of_step: bool,
    /// Set when the client left request-reply (SUBSCRIBE, MONITOR): the commands sent before still get their
    /// replies, then analysis stops.
    leaving: Option<&'static str>,
    commands: u64,
}

impl Connection {
    pub fn new(client: u32) -> Self {
        Connection {
            client,
            requests: RequestScanner::default(),
            replies: ReplyScanner::default(),
            parsed_requests: Vec::new(),
            parsed_replies: Vec::new(),
            pending: VecDeque::new(),
            awaiting: 0,
            transaction: None,
            db: 0,
            db_before_multi: None,
            reply_mode: ReplyMode::On,
            stopped: None,
            out_of_step: false,
            leaving: None,
            commands: 0,
        }
    }

    /// Why analysis of this connection stopped (the bytes still flow), if it did.
    pub fn stopped(&self) -> Option<&'static str> {
        self.stopped
    }

    /// Whether analysis stopped because the streams could not be followed: bytes that are not RESP, a reply no
    /// command asked for. A capture that joined mid-stream or lost bytes takes it as out of step, not as the
    /// client's doing.
    pub fn out_of_step(&self) -> bool {
        self.out_of_step
    }

    pub fn commands(&self) -> u64 {
        self.commands
    }

    /// Replies the commands sent still get.
    pub fn awaiting_replies(&self) -> usize {
        self.awaiting
    }

    /// Whether the server's stream sits between two replies: a reply can be inserted there.
    pub fn between_replies(&self) -> bool {
        self.replies.at_boundary()
    }

    fn stop(&mut self, why: &'static str) {
        if self.stopped.is_none() {
            self.stopped = Some(why);
            self.pending.clear();
            self.awaiting = 0;
            self.transaction = None;
        }
    }

    /// Whether the commands are still followed: neither stopped nor leaving request-reply. Until then
    /// [`Connection::from_client_framed`] tells where each command ends.
    pub fn follows_commands(&self) -> bool {
        self.stopped.is_none() && self.leaving.is_none()
    }

    /// Bytes the client sent.
    pub fn from_client(&mut self, bytes: &[u8]) {
        self.client_bytes(bytes, None);
    }

    /// Bytes the client sent; each command they complete is appended to `sent`, with its size, in order. Nothing
    /// is appended once the commands are no longer followed ([`Connection::follows_commands`]), nor for bytes
    /// that are not RESP.
    pub fn from_client_framed(&mut self, bytes: &[u8], sent: &mut Vec<Sent>) {
        self.client_bytes(bytes, Some(sent));
    }

    fn client_bytes(&mut self, bytes: &[u8], mut sent: Option<&mut Vec<Sent>>) {
        if !self.follows_commands() {
            return;
        }
        let mut requests = std::mem::take(&mut self.parsed_requests);
        if self.requests.feed(bytes, &mut requests).is_err() {
            self.out_of_step = true;
            self.stop("the client's stream is not RESP");
        }
        for request in requests.drain(..) {
            let spec = request.args.first().and_then(|name| lookup(&name.bytes));
            if let Some(sent) = sent.as_deref_mut() {
                let shares = match spec {
                    Some(spec) => spec.shares_connection(),
                    None => request.args.first().is_some_and(|name| shares_connection(&name.bytes)),
                };
                sent.push(Sent {
                    bytes: request.bytes,
                    shares_connection: shares,
                    // Only commands that act on the connection can set it up: stateless ones are not looked at.
                    sets_up_connection: !shares && sets_up_connection(&request.args),
                });
            }
            self.command(request, spec);
        }
        self.parsed_requests = requests;
    }

    fn command(&mut self, mut request: Request, spec: Option<&'static CommandSpec>) {
        if self.stopped.is_some() || self.leaving.is_some() {
            return;
        }
        self.commands += 1;
        let mut replies = u32::from(self.reply_mode == ReplyMode::On);
        if self.reply_mode == ReplyMode::Skip {
            self.reply_mode = ReplyMode::On;
        }
        let db = self.db;
        match spec.map(|s| s.access) {
            Some(Access::Control(Control::LeavesRequestReply)) => {
                self.leaving = Some("the client subscribed or ran MONITOR");
                if self.awaiting == 0 {
                    self.stop("the client subscribed or ran MONITOR");
                }
                return;
            }
            Some(Access::Control(Control::Unsubscribe)) => {
                // Outside subscribe mode each channel gets its own reply (one when none is named).
                replies *= (request.args.len() as u32).saturating_sub(1).max(1);
            }
            Some(Access::Control(Control::Client))
                if request.arg(1).is_some_and(|a| a.eq_ignore_ascii_case(b"REPLY")) =>
            {
                match request.arg(2).map(|a| a.to_ascii_uppercase()).as_deref() {
                    Some(b"OFF") => {
                        self.reply_mode = ReplyMode::Off;
                        replies = 0;
                    }
                    Some(b"SKIP") if self.reply_mode != ReplyMode::Off => {
                        self.reply_mode = ReplyMode::Skip;
                        replies = 0;
                    }
                    Some(b"ON") => {
                        self.reply_mode = ReplyMode::On;
                        replies = 1;
                    }
                    _ => {}
                }
            }
            Some(Access::Control(Control::Select)) => {
                if let Some(selected) = request.arg(1).and_then(|a| std::str::from_utf8(a).ok()?.parse().ok()) {
                    self.db = selected;
                }
            }
            Some(Access::Control(Control::Multi)) => self.db_before_multi = Some(self.db),
            Some(Access::Control(Control::Discard)) => {
                if let Some(db) = self.db_before_multi.take() {
                    self.db = db;
                }
            }
            Some(Access::Control(Control::Exec)) => self.db_before_multi = None,
            Some(Access::Control(Control::Reset)) => {
                // RESET is answered even under CLIENT REPLY OFF, and returns the connection to its defaults.
                self.db = 0;
                self.db_before_multi = None;
                self.reply_mode = ReplyMode::On;
                replies = 1;
            }
            _ => {}
        }
        compact(&mut request, spec);
        if self.pending.len() >= MAX_PENDING {
            self.stop("the client does not read its replies");
            return;
        }
        self.awaiting += replies as usize;
        self.pending.push_back(Pending { request, spec, db, replies });
    }

    /// Bytes the server sent; the events of the replies they complete go to `out`. `now` is the wall clock in
    /// microseconds since the Unix epoch.
    pub fn from_server(&mut self, bytes: &[u8], now: Micros, out: &mut Vec<OwnedEvent>) {
        if self.stopped.is_some() {
            return;
        }
        let mut replies = std::mem::take(&mut self.parsed_replies);
        if self.replies.feed(bytes, &mut replies).is_err() {
            self.out_of_step = true;
            self.stop("the server's stream is not RESP");
        }
        for reply in replies.drain(..) {
            self.reply(reply, now, out);
        }
        self.parsed_replies = replies;
    }

    fn reply(&mut self, reply: Reply, now: Micros, out: &mut Vec<OwnedEvent>) {
        if self.stopped.is_some() || reply.push {
            return;
        }
        while self.pending.front().is_some_and(|p| p.replies == 0) {
            self.pending.pop_front();
        }
        let Some(front) = self.pending.front_mut() else {
            self.out_of_step = self.leaving.is_none();
            self.stop(self.leaving.unwrap_or("a reply came that no command asked for"));
            return;
        };
        self.awaiting -= 1;
        front.replies -= 1;
        if front.replies > 0 {
            return; // one of several replies (UNSUBSCRIBE of several channels)
        }
        let pending = self.pending.pop_front().expect("just looked");
        if let Some(why) = self.leaving
            && self.awaiting == 0
        {
            self.stop(why);
        }
        let context = Context { time: now, client: self.client, db: pending.db, unix_ms: now / 1000 };
        let access = pending.spec.map(|s| s.access);
        match access {
            Some(Access::Control(Control::Multi)) => {
                if matches!(reply.value, Value::Simple(_)) {
                    self.transaction = Some(Vec::new());
                }
            }
            Some(Access::Control(Control::Discard)) => self.transaction = None,
            Some(Access::Control(Control::Reset)) => self.transaction = None,
            Some(Access::Control(Control::Exec)) => {
                let Some(queued) = self.transaction.take() else { return };
                if !matches!(reply.value, Value::Aggregate(_)) {
                    return; // aborted (WATCH) or refused (EXECABORT)
                }
                // EXEC's array holds each queued command's reply, in order: every queued command takes its place,
                // known or not. Nested arrays (MGET inside MULTI) are summarised, so their per-key details are not
                // known and such reads are left out.
                for (pending, value) in queued.into_iter().zip(reply.elements) {
                    if let Some(spec) = pending.spec {
                        let inner = Reply { value, elements: Vec::new(), push: false, bytes: 0 };
                        let context = Context { db: pending.db, ..context };
                        interpret(spec, &pending.request, &inner, &context, out);
                    }
                }
            }
            // Queued commands run at EXEC; one the server refused to queue never runs.
            _ if self.transaction.is_some() => {
                if matches!(&reply.value, Value::Simple(text) if text == b"QUEUED") {
                    self.transaction.as_mut().expect("checked").push(pending);
                }
            }
            Some(_) => interpret(pending.spec.expect("matched Some"), &pending.request, &reply, &context, out),
            None => {}
        }
    }
}

/// Drops the bytes a pending command does not need: values and other long arguments that are not keys keep
/// only their length, so that a pipeline of large writes is not held twice in memory.
fn compact(request: &mut Request, spec: Option<&'static CommandSpec>) {
    let args = request.args.len();
    let is_key = |index: usize| spec.is_some_and(|s| key_indexes(s.keys, args).any(|key| key == index));
    for (index, argument) in request.args.iter_mut().enumerate().skip(1) {
        if argument.bytes.len() > KEPT_NON_KEY && !is_key(index) {
            argument.bytes = Vec::new();
        }
    }
}
