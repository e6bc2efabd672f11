//! One client connection as the proxy sees it: commands one way, replies the other, paired in order.
//!
//! Replies come in the order of their commands (pipelining included), except that `CLIENT REPLY OFF|SKIP`
//! silences some, a transaction answers `+QUEUED` and gives the real replies in `EXEC`'s array, and RESP3 pushes
//! arrive without a command. Pub/sub and `MONITOR` leave request-reply altogether: analysis stops there, as it
//! does on anything the scanners cannot follow. Stopping analysis never touches the bytes, which the proxy
//! forwards whatever happens here.

use std::collections::VecDeque;

use cachescope_core::{Micros, OwnedEvent};

use crate::commands::{Access, CommandSpec, Control, lookup};
use crate::interpret::{Context, interpret};
use crate::reply::{Reply, ReplyScanner, Value};
use crate::request::{Request, RequestScanner};

/// Commands waiting for their replies, at most: past it the client is not reading replies, and following it
/// would cost memory without bound.
const MAX_PENDING: usize = 100_000;

#[derive(Debug)]
struct Pending {
    request: Request,
    spec: Option<&'static CommandSpec>,
    /// The database the command runs in.
    db: u32,
    /// False under `CLIENT REPLY OFF` or `SKIP`: the server sends nothing back.
    expects_reply: bool,
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
    /// Commands queued since MULTI, once its `+OK` came.
    transaction: Option<Vec<Pending>>,
    /// The database of the next command (SELECT takes effect for the commands sent after it).
    db: u32,
    reply_mode: ReplyMode,
    /// Why analysis stopped, once it did.
    stopped: Option<&'static str>,
    /// Set when the client left request-reply (SUBSCRIBE, MONITOR): the commands sent before still get their
    /// replies, then analysis stops.
    leaving: Option<&'static str>,
    commands: u64,
    replies_seen: u64,
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
            transaction: None,
            db: 0,
            reply_mode: ReplyMode::On,
            stopped: None,
            leaving: None,
            commands: 0,
            replies_seen: 0,
        }
    }

    /// Why analysis of this connection stopped (the bytes still flow), if it did.
    pub fn stopped(&self) -> Option<&'static str> {
        self.stopped
    }

    pub fn commands(&self) -> u64 {
        self.commands
    }

    /// Commands sent and not answered yet (those that expect an answer).
    pub fn awaiting_replies(&self) -> usize {
        self.pending.iter().filter(|p| p.expects_reply).count()
    }

    /// Whether the server's stream sits between two replies: a reply can be inserted there.
    pub fn between_replies(&self) -> bool {
        self.replies.at_boundary()
    }

    fn stop(&mut self, why: &'static str) {
        if self.stopped.is_none() {
            self.stopped = Some(why);
            self.pending.clear();
            self.transaction = None;
        }
    }

    /// Bytes the client sent.
    pub fn from_client(&mut self, bytes: &[u8]) {
        if self.stopped.is_some() || self.leaving.is_some() {
            return;
        }
        let mut requests = std::mem::take(&mut self.parsed_requests);
        if self.requests.feed(bytes, &mut requests).is_err() {
            self.stop("the client's stream is not RESP");
        }
        for request in requests.drain(..) {
            self.command(request);
        }
        self.parsed_requests = requests;
    }

    fn command(&mut self, request: Request) {
        if self.stopped.is_some() || self.leaving.is_some() {
            return;
        }
        self.commands += 1;
        let spec = request.args.first().and_then(|name| lookup(&name.bytes));
        let mut expects_reply = self.reply_mode == ReplyMode::On;
        if self.reply_mode == ReplyMode::Skip {
            self.reply_mode = ReplyMode::On;
        }
        match spec.map(|s| s.access) {
            Some(Access::Control(Control::LeavesRequestReply)) => {
                self.leaving = Some("the client subscribed or ran MONITOR");
                if self.awaiting_replies() == 0 {
                    self.stop("the client subscribed or ran MONITOR");
                }
                return;
            }
            Some(Access::Control(Control::Client))
                if request.arg(1).is_some_and(|a| a.eq_ignore_ascii_case(b"REPLY")) =>
            {
                match request.arg(2).map(|a| a.to_ascii_uppercase()).as_deref() {
                    Some(b"OFF") => {
                        self.reply_mode = ReplyMode::Off;
                        expects_reply = false;
                    }
                    Some(b"SKIP") => {
                        self.reply_mode = ReplyMode::Skip;
                        expects_reply = false;
                    }
                    Some(b"ON") => {
                        self.reply_mode = ReplyMode::On;
                        expects_reply = true;
                    }
                    _ => {}
                }
            }
            Some(Access::Control(Control::Select)) => {
                if let Some(db) = request.arg(1).and_then(|a| std::str::from_utf8(a).ok()?.parse().ok()) {
                    // Inside a transaction SELECT runs at EXEC; commands queued after it still use it.
                    let db_of_this = self.db;
                    self.db = db;
                    self.push(Pending { request, spec, db: db_of_this, expects_reply });
                    return;
                }
            }
            _ => {}
        }
        let db = self.db;
        self.push(Pending { request, spec, db, expects_reply });
    }

    fn push(&mut self, pending: Pending) {
        if self.pending.len() >= MAX_PENDING {
            self.stop("the client does not read its replies");
            return;
        }
        self.pending.push_back(pending);
    }

    /// Bytes the server sent; the events of the replies they complete go to `out`. `now` is the wall clock in
    /// microseconds since the Unix epoch.
    pub fn from_server(&mut self, bytes: &[u8], now: Micros, out: &mut Vec<OwnedEvent>) {
        if self.stopped.is_some() {
            return;
        }
        let mut replies = std::mem::take(&mut self.parsed_replies);
        if self.replies.feed(bytes, &mut replies).is_err() {
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
        self.replies_seen += 1;
        while self.pending.front().is_some_and(|p| !p.expects_reply) {
            self.pending.pop_front();
        }
        let Some(pending) = self.pending.pop_front() else {
            self.stop(self.leaving.unwrap_or("a reply came that no command asked for"));
            return;
        };
        if let Some(why) = self.leaving
            && self.awaiting_replies() == 0
        {
            self.stop(why);
        }
        let context = Context { time: now, client: self.client, db: pending.db, unix_ms: now / 1000 };
        let Some(spec) = pending.spec else {
            return;
        };
        match spec.access {
            Access::Control(Control::Multi) => {
                if matches!(reply.value, Value::Simple(_)) {
                    self.transaction = Some(Vec::new());
                }
            }
            Access::Control(Control::Discard) => self.transaction = None,
            Access::Control(Control::Reset) => {
                self.transaction = None;
                self.db = 0;
                self.reply_mode = ReplyMode::On;
            }
            Access::Control(Control::Exec) => {
                let Some(queued) = self.transaction.take() else { return };
                if !matches!(reply.value, Value::Aggregate(_)) {
                    return; // aborted (WATCH) or refused (EXECABORT)
                }
                // EXEC's array holds each queued command's reply; nested arrays (MGET inside MULTI) are summarised,
                // so per-key details of those are not known.
                for (pending, value) in queued.into_iter().zip(reply.elements) {
                    if let Some(spec) = pending.spec {
                        let inner = Reply { value, elements: Vec::new(), push: false, bytes: 0 };
                        let context = Context { db: pending.db, ..context };
                        interpret(spec, &pending.request, &inner, &context, out);
                    }
                }
            }
            _ if self.transaction.is_some() => {
                if reply.value == Value::Simple(b"QUEUED".to_vec()) {
                    self.transaction.as_mut().expect("checked").push(pending);
                }
            }
            _ => interpret(spec, &pending.request, &reply, &context, out),
        }
    }
}
