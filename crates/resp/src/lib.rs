//! RESP, the Redis protocol, as cachescope needs it.
//!
//! A proxy forwards bytes untouched and looks at a copy. [`RequestScanner`] and [`ReplyScanner`] follow the two
//! directions of a connection in chunks of any size and say where each command and reply ends, without ever
//! holding a large value. [`commands`] is the command table: which arguments are keys, whether a command reads
//! or writes, what its reply means. [`Connection`] pairs each reply with its command (pipelining, transactions,
//! `CLIENT REPLY`, databases) and turns the pair into cache events for the engine.

pub mod commands;
mod connection;
pub mod frame;
mod interpret;
mod number;
pub mod pubsub;
mod reply;
mod request;

pub use connection::{Connection, Sent};
pub use reply::{KEPT_TEXT, Reply, ReplyScanner, Value};
pub use request::{Argument, KEPT_ARGUMENT, Request, RequestScanner};

/// The stream is not RESP: the scanner cannot follow it any more (the proxy still forwards it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("a line does not end with CRLF")]
    MissingCrlf,
    #[error("an empty line where a type byte was expected")]
    EmptyLine,
    #[error("unknown type byte {0:#04x}")]
    UnknownType(u8),
    #[error("a length or count that is not a number")]
    BadNumber,
    #[error("a request element that is not a bulk string")]
    ExpectedBulk,
    #[error("a line longer than RESP allows")]
    LineTooLong,
    #[error("the stream was already not RESP")]
    Broken,
}
