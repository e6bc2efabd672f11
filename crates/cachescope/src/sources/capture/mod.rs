//! `cachescope capture`'s source: the RESP traffic read off the network (`socket.rs`: a Linux packet socket that
//! the kernel filters down to the cache's ports), followed by `cachescope-capture` (reassembly, pairing,
//! resynchronisation) into events for the live layer. Nothing is sent anywhere and nothing is in the request
//! path: the applications and the server do not know it runs.

pub mod socket;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cachescope_capture::packet::{Link, segment};
use cachescope_capture::{CaptureStats, Tracker};
use cachescope_core::OwnedEvent;
use cachescope_live::{EventSink, Message, SourceLosses};

use socket::PacketSocket;

/// Events handed to the engine at most this long after their packet, or in batches of this many.
const BATCH_AGE: Duration = Duration::from_millis(50);
const BATCH_LEN: usize = 1024;
/// How long, at most, packets already received are still read after the capture was asked to stop.
const DRAIN: Duration = Duration::from_secs(5);
/// How long a read waits before checking whether to stop.
pub const WAIT: Duration = Duration::from_millis(100);

/// What a capture saw, beyond its events.
#[derive(Debug, Default)]
pub struct Captured {
    pub stats: CaptureStats,
    pub ports: Vec<u16>,
    /// Packets the kernel handed over, and those it dropped because the capture could not keep up.
    pub packets: u64,
    pub kernel_drops: u64,
}

/// A capture running on a thread of its own, stopped by [`Capture::stop`].
pub struct Capture {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Captured>,
}

impl Capture {
    pub fn start(socket: PacketSocket, ports: Vec<u16>, sink: EventSink) -> Capture {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("cachescope-capture".into())
                .spawn(move || follow(socket, ports, &sink, &stop))
                .expect("a thread")
        };
        Capture { stop, thread }
    }

    pub fn stop(self) -> Captured {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

fn follow(mut socket: PacketSocket, ports: Vec<u16>, sink: &EventSink, stop: &AtomicBool) -> Captured {
    let mut tracker = Tracker::new(&ports);
    let mut batch: Vec<OwnedEvent> = Vec::with_capacity(BATCH_LEN);
    let mut oldest = Instant::now();
    let mut last_statistics = Instant::now();
    // Once asked to stop, what the kernel already holds is still read, for a while at most.
    let mut draining: Option<Instant> = None;
    loop {
        if draining.is_none() && stop.load(Ordering::Relaxed) {
            draining = Some(Instant::now());
        }
        if draining.is_some_and(|since| since.elapsed() > DRAIN) {
            break;
        }
        let received = socket.receive(WAIT, |received, packet| {
            if received.looped_back_copy {
                return;
            }
            let now = received.time;
            let link = match received.protocol {
                0x0800 | 0x86dd => Some(Link::Raw),
                _ => None,
            };
            let before = batch.len();
            match link.and_then(|link| segment(link, packet)) {
                Some(segment) => tracker.segment(now, &segment, &mut batch),
                None => tracker.other_frame(),
            }
            if before == 0 && !batch.is_empty() {
                oldest = Instant::now();
            }
        });
        match received {
            Ok(true) => {}
            Ok(false) if draining.is_some() => break,
            Ok(false) => {}
            Err(error) => {
                tracing::error!("the capture stopped: {error}");
                break;
            }
        }
        if batch.len() >= BATCH_LEN || (!batch.is_empty() && oldest.elapsed() >= BATCH_AGE) {
            sink.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH_LEN)));
        }
        if last_statistics.elapsed() >= Duration::from_secs(1) {
            socket.read_statistics();
            last_statistics = Instant::now();
            sink.send_control(Message::Losses(losses(tracker.stats(), &socket)));
        }
    }
    tracker.finish(crate::sources::watch::now_micros(), &mut batch);
    sink.send_waiting(batch);
    socket.read_statistics();
    Captured {
        stats: tracker.stats().clone(),
        ports: tracker.ports().to_vec(),
        packets: socket.packets,
        kernel_drops: socket.drops,
    }
}

/// What the capture lost so far, for the live layer.
fn losses(stats: &CaptureStats, socket: &PacketSocket) -> SourceLosses {
    SourceLosses {
        kernel_drops: socket.drops,
        stream_gaps: stats.streams.gaps,
        resyncs: stats.resyncs,
        skipped_bytes: stats.skipped_bytes,
        event_gaps: 0,
    }
}
