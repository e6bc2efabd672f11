//! Connections to the cache, followed from their packets: each direction reassembled ([`crate::stream`]), the
//! two paired by the same RESP machinery as the proxy's ([`cachescope_resp::Connection`]), cache events out.
//!
//! A connection is followed from its SYN, or, when it was open before the capture began or lost bytes to a
//! gap, from the first point where pairing cannot go wrong: a client segment that starts a command, sent when
//! the server had acknowledged every byte the client sent before it, right after the server's last segment.
//! Until then its bytes are skipped and counted. Replies are paired in order, as the proxy pairs them; errors
//! (`MOVED`, `ASK`) are errors, never misses. Traffic that starts with a TLS handshake cannot be read: the
//! connection is counted as such and left alone.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

use cachescope_core::{Micros, OwnedEvent};
use cachescope_resp::Connection;

use crate::packet::Segment;
use crate::stream::{Chunk, Stream, StreamStats};

/// Connections followed at once, at most: past it the one idle longest is dropped (and counted).
const MAX_CONNECTIONS: usize = 100_000;

/// What a capture saw, beyond its events: what a report and metrics must say, so that no loss is silent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CaptureStats {
    /// TCP segments to or from the cache's ports.
    pub segments: u64,
    /// Frames that were not TCP to or from those ports.
    pub other_frames: u64,
    pub connections: u64,
    /// Connections already open when the capture began.
    pub joined_open: u64,
    /// Connections that began with a TLS handshake: encrypted, not read.
    pub tls_connections: u64,
    /// Times following resumed at a safe point, after a join or a gap.
    pub resyncs: u64,
    /// Bytes skipped while waiting for a safe point.
    pub skipped_bytes: u64,
    /// Streams the RESP scanners could not follow (not RESP, or a command the pairing cannot place).
    pub unreadable: u64,
    /// Connections dropped from the table to keep memory bounded.
    pub dropped_connections: u64,
    pub commands: u64,
    pub streams: StreamStats,
}

impl CaptureStats {
    /// The report's account of the capture, with the cache's `ports`.
    pub fn notes(&self, ports: &[u16]) -> cachescope_core::report::CaptureNotes {
        cachescope_core::report::CaptureNotes {
            ports: ports.to_vec(),
            connections: self.connections,
            joined_open: self.joined_open,
            tls_connections: self.tls_connections,
            gaps: self.streams.gaps,
            gap_bytes: self.streams.gap_bytes,
            out_of_order: self.streams.out_of_order,
            retransmitted: self.streams.retransmitted,
            resyncs: self.resyncs,
            skipped_bytes: self.skipped_bytes,
            unreadable: self.unreadable,
            commands: self.commands,
            kernel_drops: None,
        }
    }

    fn add_stream(&mut self, stats: &StreamStats) {
        self.streams.out_of_order += stats.out_of_order;
        self.streams.retransmitted += stats.retransmitted;
        self.streams.gaps += stats.gaps;
        self.streams.gap_bytes += stats.gap_bytes;
    }
}

struct Flow {
    client_id: u32,
    to_server: Stream,
    to_client: Stream,
    connection: Connection,
    /// Following: the RESP connection is in step with the streams.
    synced: bool,
    /// The acknowledgement number of the server's last segment: the client bytes it had received.
    server_ack: Option<u32>,
    /// Whether the last segment with data was the server's.
    server_spoke_last: bool,
    tls: bool,
    /// Whether the first client bytes were looked at for TLS.
    checked_tls: bool,
    last_seen: Micros,
    fins: u8,
}

/// Follows every connection to the cache's ports.
pub struct Tracker {
    ports: Vec<u16>,
    /// Learn the ports: a port that receives a command is the cache's.
    learn: bool,
    /// Connections whose SYN was seen before their port was known to be the cache's.
    syns: HashSet<(SocketAddr, SocketAddr)>,
    flows: HashMap<(SocketAddr, SocketAddr), Flow>,
    next_client: u32,
    stats: CaptureStats,
}

impl Tracker {
    /// Follows the connections to `ports`.
    pub fn new(ports: &[u16]) -> Self {
        Tracker {
            ports: ports.to_vec(),
            learn: false,
            syns: HashSet::new(),
            flows: HashMap::new(),
            next_client: 1,
            stats: CaptureStats::default(),
        }
    }

    /// Follows the connections to any port that receives a RESP command: for capture files, whose filter
    /// already chose the traffic.
    pub fn learning() -> Self {
        Tracker { learn: true, ..Tracker::new(&[]) }
    }

    /// The cache's ports, given or learnt.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    pub fn stats(&self) -> &CaptureStats {
        &self.stats
    }

    /// A frame that held no TCP segment for the cache.
    pub fn other_frame(&mut self) {
        self.stats.other_frames += 1;
    }

    /// Takes one segment captured at `time`; the events it completes go to `out`.
    pub fn segment(&mut self, time: Micros, segment: &Segment<'_>, out: &mut Vec<OwnedEvent>) {
        let mut to_server = self.ports.contains(&segment.destination.port());
        if !to_server && !self.ports.contains(&segment.source.port()) {
            if self.learn && segment.syn && segment.ack == 0 {
                if self.syns.len() >= MAX_CONNECTIONS {
                    self.syns.clear();
                }
                self.syns.insert((segment.source, segment.destination));
            }
            if !(self.learn && starts_a_command(segment.payload)) {
                self.stats.other_frames += 1;
                return;
            }
            self.ports.push(segment.destination.port());
            to_server = true;
        }
        self.stats.segments += 1;
        let key = if to_server { (segment.source, segment.destination) } else { (segment.destination, segment.source) };
        if !self.flows.contains_key(&key) {
            // What follows a connection's end (its last ACK, a late RST) opens nothing.
            if segment.rst || (segment.payload.is_empty() && !segment.syn) {
                return;
            }
            let from_syn = (to_server && segment.syn && segment.ack == 0) || self.syns.remove(&key);
            self.open(key, time, from_syn);
        }
        let flow = self.flows.get_mut(&key).expect("just opened");
        flow.last_seen = time;
        let stats = &mut self.stats;
        // What the segment acknowledges of the other direction: a hole there that the peer received is lost to
        // the capture for good.
        if segment.has_ack {
            let mut chunks = Vec::new();
            let other = if to_server { &mut flow.to_client } else { &mut flow.to_server };
            other.acked(segment.ack, &mut |chunk| chunks.push(owned(chunk)));
            for chunk in chunks {
                if to_server {
                    server_chunk(flow, chunk, time, stats, out);
                } else {
                    client_chunk(flow, chunk, stats);
                }
            }
        }
        if to_server {
            let Flow { to_server: stream, .. } = flow;
            let mut chunks = Vec::new();
            stream.push(time, segment.seq, (segment.syn, segment.fin), segment.payload, &mut |chunk| {
                chunks.push(owned(chunk))
            });
            for chunk in chunks {
                client_chunk(flow, chunk, stats);
            }
        } else {
            flow.server_ack = Some(segment.ack);
            let Flow { to_client: stream, .. } = flow;
            let mut chunks = Vec::new();
            stream.push(time, segment.seq, (segment.syn, segment.fin), segment.payload, &mut |chunk| {
                chunks.push(owned(chunk))
            });
            for chunk in chunks {
                server_chunk(flow, chunk, time, stats, out);
            }
        }
        if segment.rst {
            self.close(key, time, out);
        } else if segment.fin {
            let flow = self.flows.get_mut(&key).expect("still open");
            flow.fins += 1;
            if flow.fins >= 2 {
                self.close(key, time, out);
            }
        }
    }

    /// Ends every connection: what waited behind holes is given up, and the counts are final.
    pub fn finish(&mut self, time: Micros, out: &mut Vec<OwnedEvent>) {
        let keys: Vec<_> = self.flows.keys().copied().collect();
        for key in keys {
            self.close(key, time, out);
        }
    }

    fn open(&mut self, key: (SocketAddr, SocketAddr), time: Micros, from_syn: bool) {
        if self.flows.len() >= MAX_CONNECTIONS
            && let Some(idle) = self.flows.iter().min_by_key(|(_, f)| f.last_seen).map(|(k, _)| *k)
        {
            let flow = self.flows.remove(&idle).expect("just found");
            self.stats.add_stream(&flow.to_server.stats);
            self.stats.add_stream(&flow.to_client.stats);
            self.stats.dropped_connections += 1;
        }
        self.stats.connections += 1;
        if !from_syn {
            self.stats.joined_open += 1;
        }
        let client_id = self.next_client;
        self.next_client = self.next_client.wrapping_add(1);
        self.flows.insert(
            key,
            Flow {
                client_id,
                to_server: Stream::default(),
                to_client: Stream::default(),
                connection: Connection::new(client_id),
                synced: from_syn,
                server_ack: None,
                server_spoke_last: false,
                tls: false,
                checked_tls: false,
                last_seen: time,
                fins: 0,
            },
        );
    }

    fn close(&mut self, key: (SocketAddr, SocketAddr), time: Micros, out: &mut Vec<OwnedEvent>) {
        let Some(mut flow) = self.flows.remove(&key) else { return };
        let stats = &mut self.stats;
        let mut chunks = Vec::new();
        flow.to_server.finish(&mut |chunk| chunks.push(owned(chunk)));
        for chunk in chunks.drain(..) {
            client_chunk(&mut flow, chunk, stats);
        }
        flow.to_client.finish(&mut |chunk| chunks.push(owned(chunk)));
        for chunk in chunks {
            server_chunk(&mut flow, chunk, time, stats, out);
        }
        stats.add_stream(&flow.to_server.stats);
        stats.add_stream(&flow.to_client.stats);
        stats.commands += flow.connection.commands();
    }
}

/// A chunk held until the flow can take it (the stream borrows the flow while it pushes).
enum Owned {
    Data { seq: u32, bytes: Vec<u8> },
    Gap,
}

fn owned(chunk: Chunk<'_>) -> Owned {
    match chunk {
        Chunk::Data { seq, bytes } => Owned::Data { seq, bytes: bytes.to_vec() },
        Chunk::Gap { .. } => Owned::Gap,
    }
}

fn lose_step(flow: &mut Flow, stats: &mut CaptureStats) {
    if flow.synced {
        flow.synced = false;
        stats.commands += flow.connection.commands();
        flow.connection = Connection::new(flow.client_id);
    }
}

fn client_chunk(flow: &mut Flow, chunk: Owned, stats: &mut CaptureStats) {
    let Owned::Data { seq, bytes } = chunk else {
        lose_step(flow, stats);
        return;
    };
    if !flow.checked_tls {
        flow.checked_tls = true;
        // A TLS record: handshake (22), version 3.x.
        if bytes.len() >= 2 && bytes[0] == 0x16 && bytes[1] == 0x03 {
            flow.tls = true;
            stats.tls_connections += 1;
        }
    }
    if flow.tls {
        return;
    }
    if !flow.synced {
        let safe = flow.server_spoke_last && flow.server_ack == Some(seq) && starts_a_command(&bytes);
        if !safe {
            stats.skipped_bytes += bytes.len() as u64;
            flow.server_spoke_last = false;
            return;
        }
        flow.synced = true;
        stats.resyncs += 1;
    }
    flow.server_spoke_last = false;
    flow.connection.from_client(&bytes);
    if flow.connection.out_of_step() {
        stats.unreadable += 1;
        lose_step(flow, stats);
    }
}

fn server_chunk(flow: &mut Flow, chunk: Owned, time: Micros, stats: &mut CaptureStats, out: &mut Vec<OwnedEvent>) {
    let Owned::Data { bytes, .. } = chunk else {
        lose_step(flow, stats);
        return;
    };
    flow.server_spoke_last = true;
    if flow.tls {
        return;
    }
    if !flow.synced {
        stats.skipped_bytes += bytes.len() as u64;
        return;
    }
    flow.connection.from_server(&bytes, time, out);
    if flow.connection.out_of_step() {
        stats.unreadable += 1;
        lose_step(flow, stats);
    }
}

/// Whether `bytes` begin a command as clients send them: `*<count>\r\n$`.
fn starts_a_command(bytes: &[u8]) -> bool {
    let Some(rest) = bytes.strip_prefix(b"*") else { return false };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    digits > 0 && rest[digits..].starts_with(b"\r\n") && rest.get(digits + 2).is_none_or(|&b| b == b'$')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{Link, segment};
    use proptest::prelude::*;

    proptest! {
        /// Whatever the frames (noise, or segments with arbitrary numbers, flags and payloads), the tracker
        /// neither panics nor holds more than its bounds.
        #[test]
        fn never_panics(frames in prop::collection::vec((
            any::<bool>(), any::<u32>(), any::<u32>(), any::<u8>(),
            prop::collection::vec(prop::sample::select(b"*$:+-\r\n0123GETSEabc".to_vec()), 0..60),
        ), 0..60), noise in prop::collection::vec(any::<u8>(), 0..80)) {
            let mut tracker = Tracker::learning();
            let mut out = Vec::new();
            let _ = segment(Link::Ethernet, &noise);
            let _ = segment(Link::LinuxSll2, &noise);
            let client: SocketAddr = "10.0.0.1:5000".parse().unwrap();
            let server: SocketAddr = "10.0.0.2:6379".parse().unwrap();
            for (i, (to_server, seq, ack, flags, payload)) in frames.iter().enumerate() {
                let (source, destination) = if *to_server { (client, server) } else { (server, client) };
                let seg = Segment {
                    source, destination, seq: *seq % 4096, ack: *ack % 4096, has_ack: flags & 1 != 0,
                    syn: flags & 2 != 0, fin: flags & 4 != 0, rst: flags & 8 != 0, payload,
                };
                tracker.segment(i as Micros * 1000, &seg, &mut out);
            }
            tracker.finish(1 << 40, &mut out);
            prop_assert!(tracker.flows.is_empty());
        }
    }
}
