//! Passive capture: the RESP traffic between applications and Redis, read off the wire (or a capture file) with
//! no hop in the request path and nothing to reconfigure, turned into the same cache events as the proxy's.
//!
//! Frames become TCP segments ([`packet`]); each direction of each connection is reassembled in order, through
//! reordering, retransmissions and losses ([`stream`]); the two directions are paired by the proxy's RESP
//! machinery, resynchronised after a join or a gap at a point where pairing cannot go wrong ([`tracker`]). What
//! could not be followed is counted ([`CaptureStats`]): a silent loss would be a bug. No I/O beyond reading the
//! file a caller hands over.

pub mod bpf;
mod file;
pub mod packet;
mod stream;
mod tracker;

pub use file::{CaptureError, CaptureFile, is_capture};
pub use stream::StreamStats;
pub use tracker::{CaptureStats, Tracker};
