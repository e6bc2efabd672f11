//! The upstream connection that clients sending only stateless commands share, as twemproxy does: one system
//! call carries many clients' commands to Redis, and one read brings their replies back.
//!
//! A [`Link`] is one such connection. Clients hand it whole commands ([`Outgoing`]); its task writes what has
//! gathered in one go, noting in order whose commands they were ([`Route`]), and cuts the reply stream at reply
//! boundaries to give each client its replies ([`Delivery`]), byte for byte, in the order it sent them. Replies on
//! one connection come in the order of the commands, so the routes alone say whose each reply is.
//!
//! Clients that set their connections up alike (`HELLO 3`, `AUTH`, `SELECT`: an [`Opening`]) share a link that
//! ran those commands first; there is one link for each way of opening, the plain one included.
//!
//! When the connection fails, every client with commands on it is told ([`Delivery::gone`]); the next client to
//! need one opens a new link.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use cachescope_resp::{Reply, ReplyScanner};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, WeakUnboundedSender, unbounded_channel};

use super::delivery::Delivery;
use super::opening::Opening;
use crate::sources::upstream::{Connected, Upstream};

/// Ways of opening a connection (other than none) with a shared connection each, at most: past them, clients
/// that open otherwise get connections of their own.
const MAX_OPENINGS: usize = 64;
/// Bytes of an opening, at most, for it to have a shared connection.
const MAX_OPENING_BYTES: usize = 64 << 10;
/// Bytes read from the upstream at a time.
const READ_BUFFER: usize = 64 << 10;
/// Bytes of commands gathered into one write, at most.
const WRITE_BATCH: usize = 256 << 10;

/// Whole commands of one client, to send upstream.
pub struct Outgoing {
    pub bytes: Vec<u8>,
    /// How many commands: each gets exactly one reply.
    pub commands: usize,
    pub to: Arc<Delivery>,
}

/// Replies owed to one client (`to`: where they go), in the order the commands went upstream.
struct Route<T> {
    to: T,
    replies: usize,
}

/// The shared connections of the moment, one for each way clients opened theirs ([`Opening`]), each opened
/// when a client first needs it and again after it fails. The plain one (no opening) stays open between
/// clients; one set up by an opening closes once no client uses it.
pub struct SharedUpstream {
    upstream: Upstream,
    plain: tokio::sync::Mutex<Option<Link>>,
    /// Each opening's link, held weakly (the clients on it hold it), behind a lock of its own: clients that
    /// arrive together with the same opening wait for one connection rather than each open one.
    set_up: Mutex<HashMap<Opening, Arc<OpeningSlot>>>,
}

/// The link of one opening, if it has one, locked while it is being opened.
type OpeningSlot = tokio::sync::Mutex<Option<WeakUnboundedSender<Outgoing>>>;

/// Why a client cannot have a shared connection.
#[derive(Debug)]
pub enum NoLink {
    /// The upstream cannot be reached, in words for the client.
    Unreachable(String),
    /// The commands the client opened with failed on a new connection, or are too long, or too many ways of
    /// opening have a connection already: the client is better on one of its own.
    NotShared(String),
}

/// A handle on one shared connection.
#[derive(Clone)]
pub struct Link {
    outgoing: UnboundedSender<Outgoing>,
}

impl Link {
    /// Hands commands to the connection. Gives them back if it has failed: nothing of them was sent.
    pub fn send(&self, outgoing: Outgoing) -> Result<(), Outgoing> {
        self.outgoing.send(outgoing).map_err(|error| error.0)
    }

    fn alive(&self) -> bool {
        !self.outgoing.is_closed()
    }

    /// Opens a shared connection on `connected`.
    fn start(connected: Connected) -> Link {
        let (outgoing, commands) = unbounded_channel();
        tokio::spawn(run(connected, commands));
        Link { outgoing }
    }
}

impl SharedUpstream {
    pub fn new(upstream: Upstream) -> Self {
        SharedUpstream { upstream, plain: tokio::sync::Mutex::new(None), set_up: Mutex::new(HashMap::new()) }
    }

    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// The shared connection for clients that opened with `opening`, opened now (and set up with `opening`) if
    /// there is none that works.
    pub async fn link(&self, opening: &Opening) -> Result<Link, NoLink> {
        if opening.is_empty() {
            let mut plain = self.plain.lock().await;
            if let Some(link) = plain.as_ref().filter(|link| link.alive()) {
                return Ok(link.clone());
            }
            let link = Link::start(self.upstream.connect().await.map_err(NoLink::Unreachable)?);
            *plain = Some(link.clone());
            return Ok(link);
        }
        if opening.len() > MAX_OPENING_BYTES {
            return Err(NoLink::NotShared(format!("an opening of over {MAX_OPENING_BYTES} bytes")));
        }
        let slot = {
            let mut set_up = self.set_up.lock().expect("no panics while locked");
            // Openings whose connection closed go, unless a client is opening one for them.
            set_up.retain(|_, slot| {
                Arc::strong_count(slot) > 1
                    || slot.try_lock().is_ok_and(|link| link.as_ref().is_some_and(|link| link.strong_count() > 0))
            });
            if !set_up.contains_key(opening) && set_up.len() >= MAX_OPENINGS {
                return Err(NoLink::NotShared(format!(
                    "{MAX_OPENINGS} ways of opening a connection share one already"
                )));
            }
            set_up.entry(opening.clone()).or_default().clone()
        };
        // Only this opening's clients wait while its connection is opened and set up.
        let mut slot = slot.lock().await;
        if let Some(link) = slot.as_ref().and_then(WeakUnboundedSender::upgrade).map(|outgoing| Link { outgoing }) {
            if link.alive() {
                return Ok(link);
            }
        }
        let mut connected = self.upstream.connect().await.map_err(NoLink::Unreachable)?;
        opening.replay(&mut connected).await.map_err(NoLink::NotShared)?;
        let link = Link::start(connected);
        *slot = Some(link.outgoing.downgrade());
        Ok(link)
    }
}

/// One shared connection, until it fails or no client is left to use it.
async fn run(connected: Connected, mut commands: UnboundedReceiver<Outgoing>) {
    let routes = Mutex::new(VecDeque::new());
    match connected {
        Connected::Plain(stream) => {
            let (read, write) = stream.into_split();
            tokio::select! {
                _ = write_commands(write, &mut commands, &routes) => {}
                _ = read_replies(read, &routes) => {}
            }
        }
        Connected::Tls(stream) => {
            let (read, write) = tokio::io::split(stream);
            tokio::select! {
                _ = write_commands(write, &mut commands, &routes) => {}
                _ = read_replies(read, &routes) => {}
            }
        }
    }
    // No command is taken any more; those already taken, written or not, get no reply.
    commands.close();
    let owed = std::mem::take(&mut *routes.lock().expect("no panics while locked"));
    for route in owed {
        route.to.gone();
    }
    while let Ok(outgoing) = commands.try_recv() {
        outgoing.to.gone();
    }
}

/// Writes the commands that have gathered, noting whose they are before they leave. Returns when the upstream
/// fails, or once no client is left and every reply owed has been handed out (a client that left for a
/// connection of its own may still be owed some).
async fn write_commands<W: AsyncWrite + Unpin>(
    write: W,
    commands: &mut UnboundedReceiver<Outgoing>,
    routes: &Mutex<VecDeque<Route<Arc<Delivery>>>>,
) {
    if write_all_commands(write, commands, routes).await.is_err() {
        return;
    }
    while !routes.lock().expect("no panics while locked").is_empty() {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// [`write_commands`] until no client is left, or the upstream fails (Err).
async fn write_all_commands<W: AsyncWrite + Unpin>(
    mut write: W,
    commands: &mut UnboundedReceiver<Outgoing>,
    routes: &Mutex<VecDeque<Route<Arc<Delivery>>>>,
) -> Result<(), ()> {
    let mut batch = Vec::with_capacity(READ_BUFFER);
    while let Some(first) = commands.recv().await {
        batch.clear();
        {
            let mut routes = routes.lock().expect("no panics while locked");
            let mut next = Some(first);
            while let Some(outgoing) = next {
                batch.extend_from_slice(&outgoing.bytes);
                routes.push_back(Route { to: outgoing.to, replies: outgoing.commands });
                next = if batch.len() < WRITE_BATCH { commands.try_recv().ok() } else { None };
            }
        }
        if let Err(error) = write.write_all(&batch).await {
            tracing::warn!("the shared upstream connection failed: {error}");
            return Err(());
        }
    }
    Ok(())
}

/// Cuts the upstream's stream into replies and hands each to the client it belongs to. Returns when the upstream
/// closes or fails, or sends what no command asked for.
async fn read_replies<R: AsyncRead + Unpin>(mut read: R, routes: &Mutex<VecDeque<Route<Arc<Delivery>>>>) {
    let mut buffer = vec![0u8; READ_BUFFER];
    let mut scanner = ReplyScanner::default();
    let mut replies: Vec<Reply> = Vec::new();
    let mut cut = Cut::default();
    let mut events = Vec::new();
    loop {
        let read = match read.read(&mut buffer).await {
            Ok(0) => {
                tracing::info!("the upstream closed the shared connection");
                return;
            }
            Ok(read) => read,
            Err(error) => {
                tracing::warn!("reading the shared upstream connection failed: {error}");
                return;
            }
        };
        replies.clear();
        if let Err(error) = scanner.feed(&buffer[..read], &mut replies) {
            tracing::warn!("the upstream sent what is not RESP on the shared connection: {error}");
            return;
        }
        let mut routes = routes.lock().expect("no panics while locked");
        let deliver = |to: &Arc<Delivery>, bytes: &[u8], complete| to.deliver(bytes, complete, &mut events);
        if let Err(why) = hand_out(&buffer[..read], &replies, &mut cut, &mut routes, deliver) {
            tracing::warn!("closing the shared upstream connection: {why}");
            return;
        }
    }
}

/// Where the cutting of the reply stream is, between reads.
#[derive(Debug, Default)]
struct Cut {
    /// Bytes of the reply under way already handed on (or dropped).
    handed: u64,
    /// The reply under way is a push, which no client asked for: dropped. (A RESP3 connection gets one when a
    /// client elsewhere sends its tracking invalidations there: `CLIENT TRACKING on REDIRECT <its id>`.)
    push: bool,
}

/// Hands `bytes`, holding the ends of `replies` and perhaps the start of the next, to the clients owed them:
/// `deliver` gets where each piece goes, its bytes, and how many replies end in it.
fn hand_out<T>(
    bytes: &[u8],
    replies: &[Reply],
    cut: &mut Cut,
    routes: &mut VecDeque<Route<T>>,
    mut deliver: impl FnMut(&T, &[u8], usize),
) -> Result<(), &'static str> {
    let mut at = 0usize;
    let mut next = 0usize;
    while next < replies.len() {
        if replies[next].push {
            at += (replies[next].bytes - std::mem::take(&mut cut.handed)) as usize;
            cut.push = false;
            next += 1;
            continue;
        }
        let route = routes.front_mut().ok_or("a reply came that no command asked for")?;
        let (mut taken, mut end) = (0, at);
        while taken < route.replies && next + taken < replies.len() && !replies[next + taken].push {
            end += (replies[next + taken].bytes - std::mem::take(&mut cut.handed)) as usize;
            taken += 1;
        }
        deliver(&route.to, &bytes[at..end], taken);
        route.replies -= taken;
        if route.replies == 0 {
            routes.pop_front();
        }
        at = end;
        next += taken;
    }
    if at < bytes.len() {
        if cut.handed == 0 {
            cut.push = bytes[at] == b'>';
        }
        if !cut.push {
            let route = routes.front().ok_or("a reply came that no command asked for")?;
            deliver(&route.to, &bytes[at..], 0);
        }
        cut.handed += (bytes.len() - at) as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Routes for clients `0..` of `owed` replies each.
    fn routes(owed: &[usize]) -> VecDeque<Route<usize>> {
        owed.iter().enumerate().map(|(to, &replies)| Route { to, replies }).collect()
    }

    /// What each client got: its bytes and the replies completed, piece by piece.
    type Received = Vec<Vec<(Vec<u8>, usize)>>;

    /// Hands out one chunk, recording what each client gets into `got`.
    fn hand_out_to(
        got: &mut Received,
        bytes: &[u8],
        replies: &[Reply],
        cut: &mut Cut,
        routes: &mut VecDeque<Route<usize>>,
    ) -> Result<(), &'static str> {
        hand_out(bytes, replies, cut, routes, |&to, bytes, complete| got[to].push((bytes.to_vec(), complete)))
    }

    /// Feeds `chunks` of a reply stream through a scanner and `hand_out`.
    fn check(owed: &[usize], chunks: &[&str], expected: &[&[(&str, usize)]]) {
        let mut routes = routes(owed);
        let mut got = vec![Vec::new(); owed.len()];
        let mut scanner = ReplyScanner::default();
        let mut cut = Cut::default();
        for chunk in chunks {
            let mut replies = Vec::new();
            scanner.feed(chunk.as_bytes(), &mut replies).unwrap();
            hand_out_to(&mut got, chunk.as_bytes(), &replies, &mut cut, &mut routes).unwrap();
        }
        let got: Vec<Vec<(String, usize)>> = got
            .into_iter()
            .map(|pieces| pieces.into_iter().map(|(bytes, c)| (String::from_utf8(bytes).unwrap(), c)).collect())
            .collect();
        let expected: Vec<Vec<(String, usize)>> =
            expected.iter().map(|got| got.iter().map(|(b, c)| (b.to_string(), *c)).collect()).collect();
        assert_eq!(got, expected);
        assert!(routes.is_empty(), "every reply was owed");
    }

    #[test]
    fn replies_go_to_the_clients_in_the_order_of_their_commands() {
        check(
            &[1, 2, 1],
            &["+OK\r\n$1\r\na\r\n$-1\r\n:5\r\n"],
            &[&[("+OK\r\n", 1)], &[("$1\r\na\r\n$-1\r\n", 2)], &[(":5\r\n", 1)]],
        );
    }

    #[test]
    fn a_reply_cut_across_reads_arrives_in_pieces() {
        check(
            &[1, 1],
            &["$5\r\nhel", "lo\r\n*2\r\n$1\r\n", "x\r\n:1\r\n"],
            &[&[("$5\r\nhel", 0), ("lo\r\n", 1)], &[("*2\r\n$1\r\n", 0), ("x\r\n:1\r\n", 1)]],
        );
    }

    #[test]
    fn a_reply_nobody_asked_for_closes_the_link() {
        let mut routes = routes(&[1]);
        let mut replies = Vec::new();
        ReplyScanner::default().feed(b"+OK\r\n+OK\r\n", &mut replies).unwrap();
        let mut got = vec![Vec::new()];
        assert!(hand_out_to(&mut got, b"+OK\r\n+OK\r\n", &replies, &mut Cut::default(), &mut routes).is_err());
    }

    #[test]
    fn pushes_no_client_asked_for_are_dropped() {
        check(
            &[1, 1],
            &["+OK\r\n>2\r\n$10\r\ninvali", "date\r\n*1\r\n$1\r\nk\r\n:1\r\n>1\r\n", "$1\r\nx\r\n"],
            &[&[("+OK\r\n", 1)], &[(":1\r\n", 1)]],
        );
    }

    proptest::proptest! {
        /// However the stream is cut, each client gets exactly the bytes of its replies, in order.
        #[test]
        fn each_client_gets_its_replies_whole_however_the_stream_is_cut(
            sends in proptest::collection::vec(
                (0usize..4, proptest::collection::vec(0usize..300, 1..4), proptest::bool::ANY),
                1..12,
            ),
            cuts in proptest::collection::vec(1usize..200, 1..40),
        ) {
            // Client `c` sends a few commands at a time; each reply is a bulk string of the given length, or an
            // array of two when the length is odd. A push may come before the replies, which no client gets.
            let mut got = vec![Vec::new(); 4];
            let mut routes = VecDeque::new();
            let mut stream = Vec::new();
            let mut expected = vec![Vec::new(); 4];
            for (client, lengths, push) in &sends {
                if *push {
                    stream.extend_from_slice(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nkey\r\n");
                }
                routes.push_back(Route { to: *client, replies: lengths.len() });
                for &length in lengths {
                    let bulk = |n: usize| [format!("${n}\r\n").into_bytes(), vec![b'x'; n], b"\r\n".to_vec()].concat();
                    let reply = if length % 2 == 1 { [b"*2\r\n".to_vec(), bulk(length), bulk(1)].concat() } else { bulk(length) };
                    stream.extend_from_slice(&reply);
                    expected[*client].extend(reply);
                }
            }
            let mut scanner = ReplyScanner::default();
            let mut cutting = Cut::default();
            let mut at = 0;
            for cut in cuts.iter().cycle() {
                if at == stream.len() {
                    break;
                }
                let end = (at + cut).min(stream.len());
                let mut replies = Vec::new();
                scanner.feed(&stream[at..end], &mut replies).unwrap();
                hand_out_to(&mut got, &stream[at..end], &replies, &mut cutting, &mut routes).unwrap();
                at = end;
            }
            proptest::prop_assert!(routes.is_empty());
            for (client, pieces) in got.into_iter().enumerate() {
                let (mut bytes, mut complete) = (Vec::new(), 0);
                for (more, more_complete) in pieces {
                    bytes.extend(more);
                    complete += more_complete;
                }
                let sent: usize = sends.iter().filter(|(c, _, _)| *c == client).map(|(_, l, _)| l.len()).sum();
                proptest::prop_assert_eq!(&bytes, &expected[client]);
                proptest::prop_assert_eq!(complete, sent);
            }
        }
    }
}
