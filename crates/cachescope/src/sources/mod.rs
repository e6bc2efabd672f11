//! Sources: where events come from. Each turns what it sees into [`cachescope_core::Event`]s and hands them to
//! the engine the same way; nothing downstream can tell which source fed it.

pub mod capture;
pub mod doctor;
pub mod proxy;
pub mod replay;
pub mod simulation;
pub mod upstream;
pub mod watch;
