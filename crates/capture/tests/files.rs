//! Capture files the tests write themselves (crafted frames in pcap and pcapng), read back: the events must be
//! those of the traffic, whatever happened to its packets, and what could not be followed must be counted.

use std::borrow::Cow;
use std::io::BufReader;
use std::time::Duration;

use cachescope_capture::{CaptureError, CaptureFile, CaptureStats, is_capture};
use cachescope_core::{Command, Outcome, OwnedEvent};
use etherparse::{LinuxSllPacketType, PacketBuilder};
use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;

#[derive(Clone, Copy, PartialEq)]
enum Framing {
    Ethernet,
    LinuxSll,
    Null,
    Ipv6,
}

/// One TCP segment of the scripted connection.
#[derive(Clone)]
struct Seg {
    to_server: bool,
    /// Offset of the payload in its direction's stream (0 = first byte after the SYN).
    offset: u32,
    payload: Vec<u8>,
    syn: bool,
    fin: bool,
    /// Acknowledgement: the other direction's offset received.
    ack: u32,
}

const CLIENT_ISN: u32 = 4_294_967_000; // wraps during the connection
const SERVER_ISN: u32 = 7_000;

struct Script {
    client_port: u16,
    segments: Vec<Seg>,
    /// Bytes written so far each way.
    sent: [u32; 2],
}

impl Script {
    fn new(client_port: u16) -> Self {
        Script { client_port, segments: Vec::new(), sent: [0, 0] }
    }

    fn handshake(mut self) -> Self {
        self.segments.push(Seg { to_server: true, offset: 0, payload: vec![], syn: true, fin: false, ack: 0 });
        self.segments.push(Seg { to_server: false, offset: 0, payload: vec![], syn: true, fin: false, ack: 0 });
        self
    }

    /// `bytes` one way, in one segment.
    fn send(mut self, to_server: bool, bytes: &[u8]) -> Self {
        let (me, other) = if to_server { (0, 1) } else { (1, 0) };
        self.segments.push(Seg {
            to_server,
            offset: self.sent[me],
            payload: bytes.to_vec(),
            syn: false,
            fin: false,
            ack: self.sent[other],
        });
        self.sent[me] += bytes.len() as u32;
        self
    }

    fn command(self, args: &[&str]) -> Self {
        self.send(true, &command(args))
    }

    fn reply(self, bytes: &str) -> Self {
        self.send(false, bytes.as_bytes())
    }

    fn close(mut self) -> Self {
        for to_server in [true, false] {
            let (me, other) = if to_server { (0, 1) } else { (1, 0) };
            let (offset, ack) = (self.sent[me], self.sent[other]);
            self.segments.push(Seg { to_server, offset, payload: vec![], syn: false, fin: true, ack });
        }
        self
    }

    fn frame(&self, seg: &Seg, framing: Framing) -> Vec<u8> {
        let (client, server) = ([10, 0, 0, 1], [10, 0, 0, 2]);
        let (src, dst, sport, dport) = if seg.to_server {
            (client, server, self.client_port, 6379)
        } else {
            (server, client, 6379, self.client_port)
        };
        let (isn, other_isn) = if seg.to_server { (CLIENT_ISN, SERVER_ISN) } else { (SERVER_ISN, CLIENT_ISN) };
        let seq = if seg.syn { isn } else { isn.wrapping_add(1).wrapping_add(seg.offset) };
        let ack = if seg.syn && seg.to_server { 0 } else { other_isn.wrapping_add(1).wrapping_add(seg.ack) };
        let mut frame = Vec::new();
        let tcp = |builder: etherparse::PacketBuilderStep<etherparse::IpHeaders>, frame: &mut Vec<u8>| {
            let mut step = builder.tcp(sport, dport, seq, 65535);
            if seg.syn {
                step = step.syn();
            }
            if seg.fin {
                step = step.fin();
            }
            if ack != 0 {
                step = step.ack(ack);
            }
            step.write(frame, &seg.payload).unwrap();
        };
        match framing {
            Framing::Ethernet => tcp(PacketBuilder::ethernet2([1; 6], [2; 6]).ipv4(src, dst, 64), &mut frame),
            Framing::LinuxSll => {
                tcp(PacketBuilder::linux_sll(LinuxSllPacketType::HOST, 6, [0; 8]).ipv4(src, dst, 64), &mut frame)
            }
            Framing::Null => {
                frame.extend_from_slice(&2u32.to_le_bytes());
                tcp(PacketBuilder::ipv4(src, dst, 64), &mut frame);
            }
            Framing::Ipv6 => {
                let six = |v4: [u8; 4]| {
                    let mut a = [0u8; 16];
                    a[0] = 0xfd;
                    a[12..].copy_from_slice(&v4);
                    a
                };
                tcp(PacketBuilder::ethernet2([1; 6], [2; 6]).ipv6(six(src), six(dst), 64), &mut frame)
            }
        }
        frame
    }
}

fn command(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
    }
    out
}

/// Writes `segments` (in this order) as a pcap file of `framing` and reads it back, learning the cache's port.
fn read(script: &Script, segments: &[Seg], framing: Framing) -> (Vec<OwnedEvent>, CaptureStats) {
    read_with_ports(script, segments, framing, &[])
}

/// The same, with the cache's ports given (none: learnt).
fn read_with_ports(
    script: &Script,
    segments: &[Seg],
    framing: Framing,
    ports: &[u16],
) -> (Vec<OwnedEvent>, CaptureStats) {
    let link = match framing {
        Framing::Ethernet | Framing::Ipv6 => DataLink::ETHERNET,
        Framing::LinuxSll => DataLink::LINUX_SLL,
        Framing::Null => DataLink::NULL,
    };
    let file = pcap_of(script, segments, framing, link);
    assert!(is_capture(&file));
    events_of(&file, ports)
}

/// `segments` as a pcap file of link type `link`, a packet each 100 µs.
fn pcap_of(script: &Script, segments: &[Seg], framing: Framing, link: DataLink) -> Vec<u8> {
    let mut file = Vec::new();
    let header = PcapHeader { datalink: link, ..Default::default() };
    let mut writer = PcapWriter::with_header(&mut file, header).unwrap();
    for (i, seg) in segments.iter().enumerate() {
        let data = script.frame(seg, framing);
        let time = Duration::from_micros(1_000_000 + i as u64 * 100);
        writer.write_packet(&PcapPacket::new(time, data.len() as u32, &data)).unwrap();
    }
    writer.into_writer();
    file
}

/// The script's segments as a pcapng file of one Ethernet interface, the `i`th packet at `time(i)`.
fn pcapng_of(script: &Script, time: impl Fn(usize) -> Duration) -> Vec<u8> {
    let mut file = Vec::new();
    let mut writer = PcapNgWriter::new(&mut file).unwrap();
    let interface = InterfaceDescriptionBlock { linktype: DataLink::ETHERNET, snaplen: 0, options: vec![] };
    writer.write_pcapng_block(interface).unwrap();
    for (i, seg) in script.segments.iter().enumerate() {
        let data = script.frame(seg, Framing::Ethernet);
        let packet = EnhancedPacketBlock {
            interface_id: 0,
            timestamp: time(i),
            original_len: data.len() as u32,
            data: Cow::Owned(data),
            options: vec![],
        };
        writer.write_pcapng_block(packet).unwrap();
    }
    writer.into_inner();
    file
}

fn events_of(file: &[u8], ports: &[u16]) -> (Vec<OwnedEvent>, CaptureStats) {
    let mut capture = CaptureFile::new(BufReader::new(file)).unwrap();
    if !ports.is_empty() {
        capture = capture.with_ports(ports);
    }
    let mut events = Vec::new();
    while let Some(event) = capture.next_event().unwrap() {
        events.push(event);
    }
    (events, capture.stats().clone())
}

/// Events as `read key miss`, `write key ok`.
fn shown(events: &[OwnedEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let command = match e.command {
                Command::Read => "read",
                Command::Write(_) => "write",
                Command::Delete => "delete",
                _ => "other",
            };
            let outcome = match e.outcome {
                Outcome::Hit => "hit",
                Outcome::Miss => "miss",
                Outcome::Ok => "ok",
                Outcome::Error(_) => "error",
                Outcome::Unobserved => "?",
            };
            format!("{command} {} {outcome}", String::from_utf8_lossy(&e.key))
        })
        .collect()
}

/// A session: a miss, its refill, a hit, a pipeline of three whose replies split across segments, a MOVED.
fn session() -> Script {
    Script::new(50_000)
        .handshake()
        .command(&["GET", "user:1"])
        .reply("$-1\r\n")
        .command(&["SET", "user:1", "alice"])
        .reply("+OK\r\n")
        .command(&["GET", "user:1"])
        .reply("$5\r\nalice\r\n")
        .send(true, &[command(&["GET", "a"]), command(&["GET", "b"]), command(&["GET", "user:1"])].concat())
        .reply("$-1\r\n$1\r\nx\r")
        .reply("\n$5\r\nalice\r\n")
        .command(&["GET", "moved:1"])
        .reply("-MOVED 3999 10.0.0.3:6379\r\n")
        .close()
}

const SESSION: [&str; 8] = [
    "read user:1 miss",
    "write user:1 ok",
    "read user:1 hit",
    "read a miss",
    "read b hit",
    "read user:1 hit",
    "read moved:1 error",
    "",
];

fn session_events() -> Vec<String> {
    SESSION.iter().filter(|s| !s.is_empty()).map(|s| s.to_string()).collect()
}

#[test]
fn every_link_type_and_ip_version_gives_the_session() {
    let script = session();
    for framing in [Framing::Ethernet, Framing::LinuxSll, Framing::Null, Framing::Ipv6] {
        let (events, stats) = read(&script, &script.segments, framing);
        assert_eq!(shown(&events), session_events());
        assert_eq!(stats.connections, 1);
        assert_eq!(stats.joined_open, 0);
        assert_eq!(stats.skipped_bytes, 0);
        assert_eq!(stats.streams.gaps, 0);
        assert_eq!(stats.commands, 7);
    }
}

#[test]
fn reordered_and_duplicated_segments_give_the_same_events() {
    let script = session();
    let mut segments = script.segments.clone();
    // The SET's segment cut in two, the halves swapped; the hit's reply sent twice; the pipeline's second reply
    // segment before its first.
    let set = segments.iter().position(|s| s.payload.starts_with(b"*3")).unwrap();
    let whole = segments.remove(set);
    let (a, b) = whole.payload.split_at(10);
    let second = Seg { offset: whole.offset + 10, payload: b.to_vec(), ..whole.clone() };
    let first = Seg { payload: a.to_vec(), ..whole.clone() };
    segments.insert(set, first);
    segments.insert(set, second);
    let hit = segments.iter().position(|s| s.payload == b"$5\r\nalice\r\n").unwrap();
    segments.insert(hit + 1, segments[hit].clone());
    let split = segments.iter().position(|s| s.payload == b"$-1\r\n$1\r\nx\r").unwrap();
    segments.swap(split, split + 1);
    let (events, stats) = read(&script, &segments, Framing::Ethernet);
    assert_eq!(shown(&events), session_events());
    assert_eq!(stats.streams.retransmitted, 1);
    assert_eq!(stats.streams.out_of_order, 2);
    assert_eq!(stats.streams.gaps, 0);
}

#[test]
fn a_lost_segment_is_a_gap_then_following_resumes_without_mispairing() {
    let script = session();
    // The server's reply to the SET never made it into the capture.
    let segments: Vec<Seg> = script.segments.iter().filter(|s| s.payload != b"+OK\r\n").cloned().collect();
    let (events, stats) = read(&script, &segments, Framing::Ethernet);
    let shown = shown(&events);
    // The miss before the gap; nothing paired across it; following resumes at the next safe command.
    assert_eq!(shown[0], "read user:1 miss");
    assert!(!shown.iter().any(|s| s.starts_with("write")), "{shown:?}");
    assert!(shown.ends_with(&["read moved:1 error".to_string()]), "{shown:?}");
    for event in &shown[1..] {
        assert!(session_events().contains(event), "{event} was not in the traffic");
    }
    assert_eq!(stats.streams.gaps, 1);
    assert_eq!(stats.streams.gap_bytes, 5);
    assert!(stats.resyncs >= 1 && stats.skipped_bytes > 0, "{stats:?}");
}

#[test]
fn a_connection_open_before_the_capture_is_followed_from_a_safe_point() {
    let script = session();
    // The capture starts after the handshake and the first command.
    let segments: Vec<Seg> = script.segments[3..].to_vec();
    let (events, stats) = read(&script, &segments, Framing::Ethernet);
    assert_eq!(stats.joined_open, 1);
    assert_eq!(stats.resyncs, 1);
    let shown = shown(&events);
    // The reply `$-1` came before any command was seen: skipped, as is the SET sent before the server spoke
    // again; from the GET after the SET's reply on, everything.
    assert_eq!(shown, session_events()[2..].to_vec(), "{stats:?}");
    assert!(stats.skipped_bytes > 0);
}

#[test]
fn tls_traffic_is_counted_not_read() {
    let script = Script::new(50_001)
        .handshake()
        .send(true, &[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])
        .reply("\x16\x03\x03garbage");
    let (events, stats) = read_with_ports(&script, &script.segments, Framing::Ethernet, &[6379]);
    assert!(events.is_empty());
    assert_eq!(stats.tls_connections, 1);
}

#[test]
fn pcapng_files_read_alike() {
    let script = session();
    let file = pcapng_of(&script, |i| Duration::from_micros(5_000_000 + i as u64));
    assert!(is_capture(&file));
    let (events, _) = events_of(&file, &[]);
    assert_eq!(shown(&events), session_events());
    assert_eq!(events[0].time, 5_000_000 + 3, "the capture time of the reply");
}

#[test]
fn what_is_not_a_capture_is_a_clear_error() {
    assert!(!is_capture(b"1 0 0 read k hit\n"));
    let error = CaptureFile::new(BufReader::new(&b"\xd4\xc3\xb2\xa1 too short"[..])).err().unwrap();
    assert!(error.to_string().contains("not a readable pcap"), "{error}");
}

/// A capture stopped abruptly (tcpdump killed, a copy cut short) ends inside its last packet: the events before
/// it come, then an error that says the file was cut short, which pcap and pcapng alike give.
#[test]
fn a_capture_cut_inside_a_packet_says_so_after_the_events_before() {
    let script = session();
    let pcap = pcap_of(&script, &script.segments, Framing::Ethernet, DataLink::ETHERNET);
    let pcapng = pcapng_of(&script, |i| Duration::from_micros(1_000_000 + i as u64 * 100));
    for mut file in [pcap, pcapng] {
        file.truncate(file.len() - 5);
        let mut capture = CaptureFile::new(BufReader::new(&file[..])).unwrap();
        let mut events = Vec::new();
        let error = loop {
            match capture.next_event() {
                Ok(Some(event)) => events.push(event),
                Ok(None) => panic!("a file cut short ends with an error"),
                Err(error) => break error,
            }
        };
        assert!(matches!(error, CaptureError::CutShort(_)), "{error}");
        assert!(!events.is_empty() && session_events().starts_with(&shown(&events)), "{:?}", shown(&events));
    }
}
