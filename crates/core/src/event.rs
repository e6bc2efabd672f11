//! The event model: what every source turns its observations into.
//!
//! An [`Event`] is one cache operation on one key as seen by a source: a trace line, a command and reply relayed
//! by the proxy, a simulated request. Multi-key commands (MGET, MSET, DEL a b c) become one event per key, so the
//! engine only ever reasons about single keys. Time comes in with the event; the engine has no clock.

use std::fmt;

/// Microseconds. Sources pick the origin (the Unix epoch for live traffic, zero for a simulation); the engine only
/// ever subtracts two times, so any origin works as long as one source keeps to it.
pub type Micros = u64;

pub const MICROS_PER_MILLI: Micros = 1_000;
pub const MICROS_PER_SEC: Micros = 1_000_000;

/// One observed cache operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event<'a> {
    pub time: Micros,
    /// Client or connection id: lets findings tell one client hammering a key from many clients piling up on it.
    pub client: u32,
    /// Redis database number; keys of different databases are different keys, and FLUSHDB empties just one.
    pub db: u32,
    /// The server the event comes from, as the source numbers the nodes of a cluster (from 1); 0 for a single
    /// server. A key lives on one node: a flush or a restart from a node empties that node's keys only.
    pub node: u16,
    pub command: Command,
    /// The key, or for a [`Command::Marker`] the marker's label. Empty for flushes and restarts, but for a
    /// node's, which may carry the node's name.
    pub key: &'a [u8],
    pub outcome: Outcome,
    /// How a write or an EXPIRE changes the key's time to live. Ignored for other commands.
    pub ttl: TtlChange,
    /// Size of the value written or read, in bytes; 0 when the source does not know it.
    pub value_size: u32,
}

impl<'a> Event<'a> {
    /// A read of `key` at `time` with the given outcome, other fields at their defaults.
    pub fn read(time: Micros, key: &'a [u8], outcome: Outcome) -> Self {
        Event {
            time,
            client: 0,
            db: 0,
            node: 0,
            command: Command::Read,
            key,
            outcome,
            ttl: TtlChange::Keep,
            value_size: 0,
        }
    }

    /// A plain SET of `key` (no condition) that succeeded, with the given TTL change.
    pub fn write(time: Micros, key: &'a [u8], ttl: TtlChange) -> Self {
        Event {
            time,
            client: 0,
            db: 0,
            node: 0,
            command: Command::Write(WriteCondition::Always),
            key,
            outcome: Outcome::Ok,
            ttl,
            value_size: 0,
        }
    }

    /// An event without a key: a flush, a restart or a marker.
    pub fn keyless(time: Micros, command: Command) -> Self {
        Event {
            time,
            client: 0,
            db: 0,
            node: 0,
            command,
            key: b"",
            outcome: Outcome::Ok,
            ttl: TtlChange::Keep,
            value_size: 0,
        }
    }

    pub fn with_db(mut self, db: u32) -> Self {
        self.db = db;
        self
    }

    pub fn with_node(mut self, node: u16) -> Self {
        self.node = node;
        self
    }

    pub fn with_client(mut self, client: u32) -> Self {
        self.client = client;
        self
    }

    pub fn with_outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    pub fn with_value_size(mut self, value_size: u32) -> Self {
        self.value_size = value_size;
        self
    }
}

/// An [`Event`] that owns its key: what crosses from a connection's task to the engine's thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedEvent {
    pub time: Micros,
    pub client: u32,
    pub db: u32,
    pub node: u16,
    pub command: Command,
    pub key: Vec<u8>,
    pub outcome: Outcome,
    pub ttl: TtlChange,
    pub value_size: u32,
}

impl OwnedEvent {
    pub fn as_event(&self) -> Event<'_> {
        Event {
            time: self.time,
            client: self.client,
            db: self.db,
            node: self.node,
            command: self.command,
            key: &self.key,
            outcome: self.outcome,
            ttl: self.ttl,
            value_size: self.value_size,
        }
    }
}

impl From<&Event<'_>> for OwnedEvent {
    fn from(event: &Event<'_>) -> Self {
        OwnedEvent {
            time: event.time,
            client: event.client,
            db: event.db,
            node: event.node,
            command: event.command,
            key: event.key.to_vec(),
            outcome: event.outcome,
            ttl: event.ttl,
            value_size: event.value_size,
        }
    }
}

/// The family of a command: what it does to the cache, not its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// GET, HGET, MGET (per key), EXISTS...: a hit or a miss.
    Read,
    /// SET, HSET, INCR...: stores a value. The condition matters only to a cache model replaying a trace whose
    /// outcomes were not recorded; observed outcomes already say whether the value was stored.
    Write(WriteCondition),
    /// DEL, UNLINK, GETDEL (after its read).
    Delete,
    /// EXPIRE, PEXPIRE, PERSIST...: changes the TTL of an existing key.
    Expire,
    /// The server removed the key itself, as it said (keyspace notifications): observed, not inferred.
    Removed(Removal),
    /// FLUSHDB, FLUSHALL or a server restart: every key of the scope is gone.
    Flush(FlushScope),
    /// A point in time worth knowing about, such as a deploy; the key holds its label.
    Marker,
}

/// When a write stores its value. Observed outcomes make this moot; a model replaying a trace needs it.
/// Why the server removed a key of its own accord.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Removal {
    /// Its TTL ran out.
    Expired,
    /// Evicted for memory under `maxmemory`.
    Evicted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WriteCondition {
    /// SET, HSET, memcached `set`.
    Always,
    /// SET NX, SETNX, memcached `add`.
    IfAbsent,
    /// SET XX, memcached `replace`, `cas`, `append`, `prepend`, `incr`, `decr`.
    IfPresent,
}

/// What a flush empties.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlushScope {
    /// FLUSHDB: the event's database.
    Db,
    /// FLUSHALL: every database.
    All,
    /// The server restarted (new run id, uptime reset): every database, and nothing was asked for it.
    Restart,
}

/// What the cache answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A read found its key.
    Hit,
    /// A read found nothing (nil or empty reply). For a conditional write: the condition failed and nothing was
    /// stored. For a delete or an expire: the key did not exist.
    Miss,
    /// A write stored its value; a delete removed the key; an expire set the TTL.
    Ok,
    /// The server replied with an error.
    Error(ErrorKind),
    /// The source did not see the reply (a trace of requests only). A cache model fills it in before the engine.
    Unobserved,
}

/// The kind of an error reply, from its first word (`OOM command not allowed...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// `OOM`: maxmemory reached under a policy that cannot evict.
    Oom,
    /// `WRONGTYPE`: the key holds a value of another type.
    WrongType,
    /// `READONLY`: a write sent to a replica.
    ReadOnly,
    /// `NOAUTH`, `NOPERM`, `WRONGPASS`: not allowed.
    NoAuth,
    /// `BUSY`, `LOADING`, `TRYAGAIN`, `CLUSTERDOWN`: the server could not serve it now.
    Busy,
    /// The request timed out or the connection broke before the reply.
    Timeout,
    /// `ERR` and anything else.
    Other,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::Oom,
        ErrorKind::WrongType,
        ErrorKind::ReadOnly,
        ErrorKind::NoAuth,
        ErrorKind::Busy,
        ErrorKind::Timeout,
        ErrorKind::Other,
    ];

    /// The name used in traces and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Oom => "OOM",
            ErrorKind::WrongType => "WRONGTYPE",
            ErrorKind::ReadOnly => "READONLY",
            ErrorKind::NoAuth => "NOAUTH",
            ErrorKind::Busy => "BUSY",
            ErrorKind::Timeout => "TIMEOUT",
            ErrorKind::Other => "ERR",
        }
    }

    /// Classifies an error reply by its first word, case-insensitively. Never fails: unknown words are `Other`.
    pub fn from_reply(reply: &[u8]) -> ErrorKind {
        let word = reply.split(|b| *b == b' ').next().unwrap_or_default();
        let is = |name: &str| word.eq_ignore_ascii_case(name.as_bytes());
        if is("OOM") {
            ErrorKind::Oom
        } else if is("WRONGTYPE") {
            ErrorKind::WrongType
        } else if is("READONLY") {
            ErrorKind::ReadOnly
        } else if is("NOAUTH") || is("NOPERM") || is("WRONGPASS") {
            ErrorKind::NoAuth
        } else if is("BUSY") || is("LOADING") || is("TRYAGAIN") || is("CLUSTERDOWN") || is("MASTERDOWN") {
            ErrorKind::Busy
        } else if is("TIMEOUT") {
            ErrorKind::Timeout
        } else {
            ErrorKind::Other
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an operation changes a key's time to live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TtlChange {
    /// The TTL stays as it was (HSET, INCR, SET KEEPTTL); a new key gets none.
    Keep,
    /// The key no longer expires (SET without EX, PERSIST).
    Persist,
    /// The key expires this many milliseconds after the operation.
    ExpireIn(u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_kinds_come_from_the_first_word_of_the_reply() {
        let check = |reply: &str, expected: ErrorKind| assert_eq!(ErrorKind::from_reply(reply.as_bytes()), expected);
        check("OOM command not allowed when used memory > 'maxmemory'.", ErrorKind::Oom);
        check("WRONGTYPE Operation against a key holding the wrong kind of value", ErrorKind::WrongType);
        check("READONLY You can't write against a read only replica.", ErrorKind::ReadOnly);
        check("NOAUTH Authentication required.", ErrorKind::NoAuth);
        check("LOADING Redis is loading the dataset in memory", ErrorKind::Busy);
        check("ERR unknown command 'FOO'", ErrorKind::Other);
        check("", ErrorKind::Other);
        check("oom lowercase", ErrorKind::Oom);
    }
}
