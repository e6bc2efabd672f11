//! cachescope's engine: explains why a cache misses.
//!
//! Sources (trace readers, the proxy, a simulator) turn what they see into [`Event`]s and feed them to an
//! [`Engine`]. The engine folds keys into [`pattern`]s, keeps a bounded shadow state of the keys to attribute
//! every miss to one cause, and turns its statistics into [`findings`] with concrete suggestions, returned as a
//! [`Report`] that sinks render.
//!
//! This crate does no I/O, reads no clock and spawns nothing: time comes in with the events.

pub mod engine;
pub mod event;
mod findings;
pub mod human;
pub mod packed;
pub mod pattern;
pub mod prefetch;
pub mod report;
pub mod sketch;

pub use engine::{
    CatchUp, Engine, EngineConfig, InitialState, MergeError, Partial, Shard, Window, WindowCounts, counts_on_clock,
    key_hash, key_hashes,
};
pub use event::{
    Command, ErrorKind, Event, FlushScope, Micros, Outcome, OwnedEvent, Removal, TtlChange, WriteCondition,
};
pub use findings::Thresholds;
pub use packed::PackedEvents;
pub use report::{FindingCause, MissCause, Report, Severity};
