//! A client whose commands go down the upstream connection shared with other clients ([`super::shared`]), for
//! as long as every command it sends leaves a connection as it found it. At the first that does not (`SELECT`,
//! `AUTH`, `MULTI`, a blocking command, a subscription: see `cachescope_resp::commands::shares_connection`), or
//! at bytes that are not RESP, it waits for the replies still owed on the shared connection and moves to an
//! upstream connection of its own, that command first ([`Outcome::Pinned`]), for the rest of its life.
//!
//! Commands that set a connection up (`HELLO 3`, `AUTH`, `SELECT`, `CLIENT SETNAME`/`SETINFO`), sent before any
//! other with no reply owed, are the exception: the client moves to the shared connection of the clients that
//! opened the same way ([`Opening`]), which ran them first, and they go there too, one at a time, each reply
//! awaited before anything else of the client's goes on. One that fails sends the client back to the connection
//! of its opening before it, as its own connection would have stayed. A connection of its own, if it needs one
//! later, is set up the same way before its commands go on.
//!
//! Only whole commands are handed on, so no client's command is ever cut by another's (a command too big to hold
//! whole moves its client to a connection of its own too). The bytes are those the client sent, and each reply
//! those Redis sent, in order.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use super::gather::Gatherer;
use cachescope_resp::{Connection, Sent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio::sync::watch;

use super::delivery::{CLIENT_CLOSED, DRAINING, Delivery, Flow, GONE, NO_REPLY, PINNING, SENDING, ToClient};
use super::opening::Opening;
use super::relay::{self, BUFFER, CLOSING_TIMEOUT, Client, Ended, drain_asked, drain_seen, upstream_gone};
use super::shared::{Link, NoLink, Outgoing, SharedUpstream};

/// Commands of one client awaiting their replies on the shared connection, at most: past it the client is not
/// read until replies are delivered, so a client that does not read its replies holds no more than these.
const MAX_IN_FLIGHT: usize = 256;

/// Bytes of one command, at most, held until it is whole: a client sending a larger one (a big value) moves to a
/// connection of its own, where its bytes stream through as they come.
const MAX_UNSENT: usize = 1 << 20;

/// How a client left the shared connection.
pub enum Outcome {
    Ended(Ended),
    /// It needs a connection of its own, set up with `opening`: `unsent` are bytes it sent (analysed already)
    /// that must go first.
    Pinned {
        client: Client,
        opening: Opening,
        unsent: Vec<u8>,
    },
}

/// Serves a client on the shared connection until it leaves or needs a connection of its own.
pub async fn serve(
    client: TcpStream,
    id: u32,
    shared: &SharedUpstream,
    events: Arc<Gatherer>,
    shutdown: watch::Receiver<bool>,
) -> io::Result<Outcome> {
    let _ = client.set_nodelay(true);
    let (read, mut write) = client.into_split();
    let link = match shared.link(&Opening::default()).await {
        Ok(link) => link,
        Err(NoLink::Unreachable(why) | NoLink::NotShared(why)) => {
            relay::unreachable(shared.upstream(), id, &why, &mut write).await;
            return Ok(Outcome::Ended(Ended::Unreachable));
        }
    };
    let state = Arc::new(Mutex::new(Connection::new(id)));
    let (queue, replies) = unbounded_channel();
    let delivery = Arc::new(Delivery::new(write, queue, state.clone(), events));
    let outcome = {
        let sender = Sender { link, opening: Opening::default(), shared, delivery: &delivery };
        let commands = send_commands(read, sender, delivery.state(), shutdown, &delivery.flow);
        let replies = deliver_replies(replies, &delivery);
        tokio::pin!(commands, replies);
        tokio::select! {
            delivered = &mut replies => Ok(Outcome::Ended(ended(delivered?))),
            (read, opening, unsent) = &mut commands => {
                let delivered = if delivery.flow.phase() == CLIENT_CLOSED {
                    match tokio::time::timeout(CLOSING_TIMEOUT, &mut replies).await {
                        Ok(delivered) => delivered?,
                        Err(_) => Delivered::Ended(Ended::ClientDone),
                    }
                } else {
                    replies.await?
                };
                Ok(match delivered {
                    Delivered::Ended(ended) => Outcome::Ended(ended),
                    Delivered::Pinning(write) => {
                        Outcome::Pinned { client: Client { id, read, write, state }, opening, unsent }
                    }
                })
            }
        }
    };
    // Closed, if the client's replies' side gave up on it before it was done.
    drop(delivery.take_write());
    outcome
}

fn ended(delivered: Delivered) -> Ended {
    match delivered {
        Delivered::Ended(ended) => ended,
        // Only once the commands' side has stopped.
        Delivered::Pinning(_) => Ended::ClientDone,
    }
}

/// What a client's commands go through.
struct Sender<'a> {
    link: Link,
    /// How `link` was set up: as the client set its connection up.
    opening: Opening,
    shared: &'a SharedUpstream,
    /// Where the replies go; it holds the queue's sender, so the replies' side never sees the queue closed.
    delivery: &'a Arc<Delivery>,
}

impl Sender<'_> {
    /// Hands whole commands to the shared connection. When it has failed with none of the client's commands on it,
    /// they go to a new one; otherwise the client's commands on it get no reply, and neither do these.
    async fn send(&mut self, bytes: Vec<u8>, commands: usize, in_flight: usize) -> Result<(), ()> {
        let outgoing = Outgoing { bytes, commands, to: self.delivery.clone() };
        let Err(outgoing) = self.link.send(outgoing) else { return Ok(()) };
        if in_flight > 0 {
            return Err(());
        }
        self.link =
            self.shared.link(&self.opening).await.map_err(|why| tracing::warn!("no new shared connection: {why:?}"))?;
        self.link.send(outgoing).map_err(|_| ())
    }

    /// Runs the command of `size` bytes at the start of `unsent`, which sets the connection up, with none of the
    /// client's replies owed: alone, on the shared connection set up as the client's is so far and then by this
    /// command, its reply awaited. The client stays there if the command succeeded; if it failed (a wrong
    /// password, a database that does not exist), its connection would be as before, and so is the one it goes
    /// back to. On failure, the phase to end in (for `PINNING`, the command is still in `unsent`).
    async fn set_up(
        &mut self,
        unsent: &mut Vec<u8>,
        size: usize,
        flow: &Flow,
        drain: &mut Pin<&mut impl Future<Output = ()>>,
    ) -> Result<(), u8> {
        let opening = self.opening.then(&unsent[..size], 1);
        let link = self.shared.link(&opening).await.map_err(|why| {
            tracing::debug!("a client's opening gets a connection of its own: {why:?}");
            PINNING
        })?;
        let bytes = unsent.drain(..size).collect();
        flow.set_up_reply.store(NO_REPLY, Ordering::Release);
        flow.in_flight.fetch_add(1, Ordering::AcqRel);
        if link.send(Outgoing { bytes, commands: 1, to: self.delivery.clone() }).is_err() {
            flow.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(GONE);
        }
        while flow.owed() > 0 {
            tokio::select! {
                biased;
                _ = drain.as_mut() => return Err(DRAINING),
                _ = flow.delivered.notified() => {}
            }
        }
        if matches!(flow.set_up_reply.load(Ordering::Acquire), b'-' | b'!') {
            self.link = self.shared.link(&self.opening).await.map_err(|_| GONE)?;
        } else {
            (self.link, self.opening) = (link, opening);
        }
        Ok(())
    }
}

/// Client to the shared connection. Returns when the client stops sending, the proxy drains, the client needs a
/// connection of its own or the shared one failed, with the client's read side, how its connection is set up
/// and the bytes not sent.
async fn send_commands(
    mut read: OwnedReadHalf,
    mut sender: Sender<'_>,
    state: &Mutex<Connection>,
    shutdown: watch::Receiver<bool>,
    flow: &Flow,
) -> (OwnedReadHalf, Opening, Vec<u8>) {
    let mut buffer = vec![0u8; BUFFER];
    // Made once (see `drain_asked`); polled no more once it completed: every branch on it leaves the loop.
    let drain = drain_asked(shutdown.clone());
    tokio::pin!(drain);
    let mut unsent = Vec::new();
    let mut sent: Vec<Sent> = Vec::new();
    // Whether the client sent a command that does not set the connection up: set-up commands after it pin it.
    let mut opened = false;
    let phase = 'reading: loop {
        while flow.owed() >= MAX_IN_FLIGHT {
            tokio::select! {
                biased;
                _ = drain.as_mut() => break 'reading DRAINING,
                _ = flow.delivered.notified() => {}
            }
        }
        // Bytes waiting are read without polling `drain`, which costs more than the read; a drain asked is still
        // seen between reads, however fast the client sends.
        if drain_seen(&shutdown) {
            break DRAINING;
        }
        let read = tokio::select! {
            biased;
            read = read.read(&mut buffer) => read,
            _ = drain.as_mut() => break DRAINING,
        };
        let read = match read {
            Ok(0) | Err(_) => break CLIENT_CLOSED,
            Ok(read) => read,
        };
        unsent.extend_from_slice(&buffer[..read]);
        sent.clear();
        let follows = {
            let mut state = state.lock().expect("no panics while locked");
            state.from_client_framed(&buffer[..read], &mut sent);
            state.follows_commands()
        };
        let setting_up = if opened { 0 } else { sent.iter().take_while(|command| command.sets_up_connection).count() };
        // Replies owed on the connection of the opening so far: they come from there, so the client stays.
        if setting_up > 0 && flow.owed() > 0 {
            break PINNING;
        }
        for command in &sent[..setting_up] {
            if let Err(phase) = sender.set_up(&mut unsent, command.bytes as usize, flow, &mut drain).await {
                break 'reading phase;
            }
        }
        let shareable = sent[setting_up..].iter().take_while(|command| command.shares_connection).count();
        opened |= shareable > 0;
        if shareable > 0 {
            let size =
                sent[setting_up..setting_up + shareable].iter().map(|command| command.bytes as usize).sum::<usize>();
            let bytes = if size == unsent.len() { std::mem::take(&mut unsent) } else { unsent.drain(..size).collect() };
            let in_flight = flow.in_flight.fetch_add(shareable, Ordering::AcqRel);
            if sender.send(bytes, shareable, in_flight).await.is_err() {
                flow.in_flight.fetch_sub(shareable, Ordering::AcqRel);
                break GONE;
            }
        }
        if setting_up + shareable < sent.len() || !follows || unsent.len() > MAX_UNSENT {
            break PINNING;
        }
    };
    flow.set_phase(phase);
    (read, sender.opening, unsent)
}

/// What the replies' side ended with.
enum Delivered {
    Ended(Ended),
    /// Every reply owed on the shared connection is delivered: the client's write side, for its own connection.
    Pinning(OwnedWriteHalf),
}

/// The client's queue to the client: the replies the shared connection could not write itself, analysed and
/// written in order. Returns once the commands' side has stopped and every reply owed is delivered, or when the
/// shared connection fails.
async fn deliver_replies(mut replies: UnboundedReceiver<ToClient>, delivery: &Delivery) -> io::Result<Delivered> {
    let flow = &delivery.flow;
    let mut batch = Vec::new();
    // One wait on the phase, re-armed only when it fires (see `drain_asked`).
    let changed = flow.changed.notified();
    tokio::pin!(changed);
    loop {
        let phase = flow.phase();
        if phase != SENDING && flow.owed() == 0 {
            // Nothing is owed the client here: the shared connection writes to it no more.
            let Some(mut write) = delivery.take_write() else { return Ok(Delivered::Ended(Ended::ClientDone)) };
            match phase {
                PINNING => return Ok(Delivered::Pinning(write)),
                GONE => return Ok(Delivered::Ended(gone(delivery.state(), &mut write).await)),
                _ => {
                    let _ = write.shutdown().await;
                    return Ok(Delivered::Ended(Ended::ClientDone));
                }
            }
        }
        let message = tokio::select! {
            biased;
            message = replies.recv() => message,
            _ = &mut changed => {
                changed.set(flow.changed.notified());
                continue;
            }
        };
        match message {
            Some(ToClient::Replies { bytes, complete, analysed }) => {
                if !analysed {
                    delivery.analyse(&bytes, &mut batch);
                }
                let Some(mut write) = delivery.take_write() else { return Ok(Delivered::Ended(Ended::ClientDone)) };
                write.write_all(&bytes).await?;
                delivery.written(write, complete);
            }
            // (The queue cannot close: the delivery holds its sender.)
            Some(ToClient::Gone) | None => {
                let Some(mut write) = delivery.take_write() else { return Ok(Delivered::Ended(Ended::UpstreamGone)) };
                return Ok(Delivered::Ended(gone(delivery.state(), &mut write).await));
            }
        }
    }
}

/// The shared connection failed: the client gets an error for each command still waiting, then is closed.
async fn gone(state: &Mutex<Connection>, write: &mut OwnedWriteHalf) -> Ended {
    let _ = tokio::time::timeout(CLOSING_TIMEOUT, upstream_gone(state, write)).await;
    let _ = write.shutdown().await;
    Ended::UpstreamGone
}
