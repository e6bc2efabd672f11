//! Capture files, as tcpdump and Wireshark write them: pcap (micro- or nanosecond, either byte order) and pcapng,
//! read with `pcap-file`, their packets followed by a [`Tracker`] that learns the cache's ports from the traffic
//! (a port that receives a RESP command).

use std::collections::VecDeque;
use std::io::BufRead;

use cachescope_core::{Micros, OwnedEvent};
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};

use crate::packet::{Link, segment};
use crate::tracker::{CaptureStats, Tracker};

/// The first four bytes of a pcap file (either byte order, micro- or nanoseconds) or of a pcapng file.
pub fn is_capture(head: &[u8]) -> bool {
    const MAGICS: [[u8; 4]; 5] = [
        [0xd4, 0xc3, 0xb2, 0xa1],
        [0xa1, 0xb2, 0xc3, 0xd4],
        [0x4d, 0x3c, 0xb2, 0xa1],
        [0xa1, 0xb2, 0x3c, 0x4d],
        [0x0a, 0x0d, 0x0d, 0x0a],
    ];
    head.len() >= 4 && MAGICS.iter().any(|magic| head[..4] == magic[..])
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("not a readable pcap or pcapng file: {0}")]
    Format(String),
    /// The file ends inside a packet: the capture stopped abruptly, or a copy was cut short.
    #[error("the file ends inside a packet ({0})")]
    CutShort(String),
    #[error(
        "a capture of link type {0}, which cachescope does not read (it reads Ethernet, Linux cooked capture, \
         loopback and raw IP: capture with tcpdump -i any or on one interface)"
    )]
    Link(u32),
}

impl CaptureError {
    /// A packet that could not be read: the file cut short inside it, or not a capture there.
    fn reading(error: pcap_file::PcapError) -> CaptureError {
        match &error {
            pcap_file::PcapError::IncompleteBuffer => CaptureError::CutShort(error.to_string()),
            pcap_file::PcapError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                CaptureError::CutShort(io.to_string())
            }
            _ => CaptureError::Format(error.to_string()),
        }
    }
}

enum Packets<R: BufRead> {
    Pcap(PcapReader<R>, Link),
    /// With the link type of each interface of the current section, in order.
    PcapNg(PcapNgReader<R>, Vec<u32>),
}

/// The cache events of a capture file, one at a time.
pub struct CaptureFile<R: BufRead> {
    packets: Packets<R>,
    tracker: Tracker,
    ready: VecDeque<OwnedEvent>,
    events: Vec<OwnedEvent>,
    last_time: Micros,
    finished: bool,
}

impl<R: BufRead> CaptureFile<R> {
    /// Reads the file's header from `reader`, which must be at the file's start.
    pub fn new(mut reader: R) -> Result<Self, CaptureError> {
        let format = |error: &dyn std::fmt::Display| CaptureError::Format(error.to_string());
        let pcapng = reader.fill_buf().map_err(|e| format(&e))?.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]);
        let packets = if pcapng {
            Packets::PcapNg(PcapNgReader::new(reader).map_err(|e| format(&e))?, Vec::new())
        } else {
            let reader = PcapReader::new(reader).map_err(|e| format(&e))?;
            let number = u32::from(reader.header().datalink);
            let link = Link::from_linktype(number).ok_or(CaptureError::Link(number))?;
            Packets::Pcap(reader, link)
        };
        Ok(CaptureFile {
            packets,
            tracker: Tracker::learning(),
            ready: VecDeque::new(),
            events: Vec::new(),
            last_time: 0,
            finished: false,
        })
    }

    /// Follows the connections to these ports only, instead of learning them.
    pub fn with_ports(self, ports: &[u16]) -> Self {
        CaptureFile { tracker: Tracker::new(ports), ..self }
    }

    /// What the capture saw so far: losses, resynchronisations, TLS.
    pub fn stats(&self) -> &CaptureStats {
        self.tracker.stats()
    }

    /// The ports the cache was found on.
    pub fn ports(&self) -> &[u16] {
        self.tracker.ports()
    }

    /// The next event, None at the end.
    pub fn next_event(&mut self) -> Result<Option<OwnedEvent>, CaptureError> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(Some(event));
            }
            if self.finished {
                return Ok(None);
            }
            self.next_packet()?;
            self.ready.extend(self.events.drain(..));
        }
    }

    /// Reads one packet (or, at the end, finishes every connection) into `self.events`.
    fn next_packet(&mut self) -> Result<(), CaptureError> {
        let packet = match &mut self.packets {
            Packets::Pcap(reader, link) => match reader.next_packet() {
                None => None,
                Some(Err(error)) => return Err(CaptureError::reading(error)),
                Some(Ok(packet)) => Some((*link, micros(packet.timestamp), packet.data.into_owned())),
            },
            Packets::PcapNg(reader, interfaces) => loop {
                let link = |interfaces: &[u32], id: u32| {
                    let number = interfaces.get(id as usize).copied().unwrap_or(1);
                    Link::from_linktype(number).ok_or(CaptureError::Link(number))
                };
                match reader.next_block() {
                    None => break None,
                    Some(Err(error)) => return Err(CaptureError::reading(error)),
                    Some(Ok(Block::SectionHeader(_))) => interfaces.clear(),
                    Some(Ok(Block::InterfaceDescription(interface))) => interfaces.push(interface.linktype.into()),
                    Some(Ok(Block::EnhancedPacket(packet))) => {
                        let link = link(interfaces, packet.interface_id)?;
                        break Some((link, micros(packet.timestamp), packet.data.into_owned()));
                    }
                    Some(Ok(Block::SimplePacket(packet))) => {
                        break Some((link(interfaces, 0)?, self.last_time, packet.data.into_owned()));
                    }
                    Some(Ok(_)) => continue,
                }
            },
        };
        match packet {
            None => {
                self.tracker.finish(self.last_time, &mut self.events);
                self.finished = true;
            }
            Some((link, time, data)) => {
                self.last_time = self.last_time.max(time);
                match segment(link, &data) {
                    Some(segment) => self.tracker.segment(time, &segment, &mut self.events),
                    None => self.tracker.other_frame(),
                }
            }
        }
        Ok(())
    }
}

fn micros(timestamp: std::time::Duration) -> Micros {
    timestamp.as_micros() as Micros
}
