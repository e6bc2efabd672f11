//! The command table: for each command cachescope understands, which arguments are keys, what it does to the
//! cache, and what its reply means. Commands not in the table are forwarded and not analysed.

use std::collections::HashMap;
use std::sync::LazyLock;

use cachescope_core::FlushScope;

/// Which arguments are keys (argument 0 is the command's name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    None,
    /// Argument 1.
    First,
    /// Arguments 1 to the end (MGET, DEL, EXISTS).
    All,
    /// Arguments 1, 3, 5... (MSET k v k v).
    EveryOther,
    /// Arguments 1 and 2 (RENAME source destination).
    FirstTwo,
}

/// When a read found its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    /// The reply is not nil (GET, HGET, LINDEX, ZSCORE).
    NotNil,
    /// The reply is neither nil nor empty (HGETALL, LRANGE, SMEMBERS, GETRANGE).
    NotEmpty,
    /// The reply is an integer above zero (EXISTS, STRLEN, LLEN, SCARD).
    NonZero,
    /// The reply is an array with one element per key (MGET).
    PerKey,
    /// The reply is an array with at least one element that is not nil (HMGET).
    AnyElement,
}

/// How a write stores its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// SET, with its options (EX, PX, EXAT, PXAT, KEEPTTL, NX, XX, GET).
    Set,
    /// SETEX key seconds value.
    SetSeconds,
    /// PSETEX key milliseconds value.
    SetMillis,
    /// SETNX key value: `:1` when stored; the key has no TTL.
    SetIfAbsent,
    /// MSET k v ...: every key stored, without TTL.
    Pairs,
    /// MSETNX k v ...: all stored (`:1`) or none (`:0`).
    PairsIfAbsent,
    /// HSETNX key field value: `:1` when stored; the key's TTL stays.
    FieldIfAbsent,
    /// Everything else that adds to a key in place (APPEND, INCR, HSET, LPUSH, SADD...): its TTL stays.
    /// Commands that take from a key (LPOP, SREM, HDEL...) are not writes of a cache and are not listed.
    InPlace,
    /// LPUSHX, RPUSHX: `:0` when the key did not exist, and nothing was stored.
    InPlaceIfPresent,
}

/// How an expiry command gives its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Seconds,
    Millis,
    AtSeconds,
    AtMillis,
    Persist,
}

/// Commands whose effect on the connection the interpretation follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Select,
    Multi,
    Exec,
    Discard,
    /// SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE, MONITOR: the connection leaves request-reply; analysis stops there.
    LeavesRequestReply,
    /// CLIENT: `CLIENT REPLY OFF|SKIP|ON` decides which commands get replies.
    Client,
    /// UNSUBSCRIBE, PUNSUBSCRIBE, SUNSUBSCRIBE: outside subscribe mode, one reply per channel.
    Unsubscribe,
    Reset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read(Hit),
    Write(Store),
    Delete,
    Expire(Expiry),
    Flush(FlushScope),
    /// GETEX: a read, then a TTL change when it hit.
    GetEx,
    /// GETDEL: a read, then a delete when it hit.
    GetDel,
    /// GETSET: a read of the old value and a write without TTL.
    GetSet,
    /// RENAME, RENAMENX: the source is deleted and the destination written.
    Rename,
    Control(Control),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    pub name: &'static str,
    pub access: Access,
    pub keys: Keys,
}

impl CommandSpec {
    /// Whether the command may run on an upstream connection shared with other clients: every command of the
    /// table but those that act on the connection ([`Control`]).
    pub fn shares_connection(&self) -> bool {
        !matches!(self.access, Access::Control(_))
    }
}

const fn spec(name: &'static str, access: Access, keys: Keys) -> CommandSpec {
    CommandSpec { name, access, keys }
}

use Access::*;
use Hit::*;
use Keys::{All, EveryOther, First, FirstTwo};
use Store::*;

pub const TABLE: &[CommandSpec] = &[
    // Strings.
    spec("GET", Read(NotNil), First),
    spec("MGET", Read(PerKey), All),
    spec("GETRANGE", Read(NotEmpty), First),
    spec("SUBSTR", Read(NotEmpty), First),
    spec("STRLEN", Read(NonZero), First),
    spec("GETEX", GetEx, First),
    spec("GETDEL", GetDel, First),
    spec("GETSET", GetSet, First),
    spec("SET", Write(Set), First),
    spec("SETEX", Write(SetSeconds), First),
    spec("PSETEX", Write(SetMillis), First),
    spec("SETNX", Write(SetIfAbsent), First),
    spec("MSET", Write(Pairs), EveryOther),
    spec("MSETNX", Write(PairsIfAbsent), EveryOther),
    spec("APPEND", Write(InPlace), First),
    spec("SETRANGE", Write(InPlace), First),
    spec("INCR", Write(InPlace), First),
    spec("INCRBY", Write(InPlace), First),
    spec("INCRBYFLOAT", Write(InPlace), First),
    spec("DECR", Write(InPlace), First),
    spec("DECRBY", Write(InPlace), First),
    // Keys.
    spec("EXISTS", Read(NonZero), All),
    spec("DEL", Delete, All),
    spec("UNLINK", Delete, All),
    spec("EXPIRE", Expire(Expiry::Seconds), First),
    spec("PEXPIRE", Expire(Expiry::Millis), First),
    spec("EXPIREAT", Expire(Expiry::AtSeconds), First),
    spec("PEXPIREAT", Expire(Expiry::AtMillis), First),
    spec("PERSIST", Expire(Expiry::Persist), First),
    spec("RENAME", Rename, FirstTwo),
    spec("RENAMENX", Rename, FirstTwo),
    // Hashes.
    spec("HGET", Read(NotNil), First),
    spec("HMGET", Read(AnyElement), First),
    spec("HGETALL", Read(NotEmpty), First),
    spec("HKEYS", Read(NotEmpty), First),
    spec("HVALS", Read(NotEmpty), First),
    spec("HLEN", Read(NonZero), First),
    spec("HEXISTS", Read(NonZero), First),
    spec("HSTRLEN", Read(NonZero), First),
    spec("HSET", Write(InPlace), First),
    spec("HMSET", Write(InPlace), First),
    spec("HSETNX", Write(FieldIfAbsent), First),
    spec("HINCRBY", Write(InPlace), First),
    spec("HINCRBYFLOAT", Write(InPlace), First),
    // Lists.
    spec("LRANGE", Read(NotEmpty), First),
    spec("LINDEX", Read(NotNil), First),
    spec("LLEN", Read(NonZero), First),
    spec("LPUSH", Write(InPlace), First),
    spec("RPUSH", Write(InPlace), First),
    spec("LPUSHX", Write(InPlaceIfPresent), First),
    spec("RPUSHX", Write(InPlaceIfPresent), First),
    spec("LSET", Write(InPlace), First),
    // Sets.
    spec("SMEMBERS", Read(NotEmpty), First),
    spec("SISMEMBER", Read(NonZero), First),
    spec("SCARD", Read(NonZero), First),
    spec("SRANDMEMBER", Read(NotEmpty), First),
    spec("SADD", Write(InPlace), First),
    // Sorted sets.
    spec("ZRANGE", Read(NotEmpty), First),
    spec("ZREVRANGE", Read(NotEmpty), First),
    spec("ZRANGEBYSCORE", Read(NotEmpty), First),
    spec("ZREVRANGEBYSCORE", Read(NotEmpty), First),
    spec("ZSCORE", Read(NotNil), First),
    spec("ZRANK", Read(NotNil), First),
    spec("ZCARD", Read(NonZero), First),
    spec("ZADD", Write(InPlace), First),
    spec("ZINCRBY", Write(InPlace), First),
    // Server and connection.
    spec("FLUSHDB", Flush(cachescope_core::FlushScope::Db), Keys::None),
    spec("FLUSHALL", Flush(cachescope_core::FlushScope::All), Keys::None),
    spec("SELECT", Control(self::Control::Select), Keys::None),
    spec("MULTI", Control(self::Control::Multi), Keys::None),
    spec("EXEC", Control(self::Control::Exec), Keys::None),
    spec("DISCARD", Control(self::Control::Discard), Keys::None),
    spec("SUBSCRIBE", Control(self::Control::LeavesRequestReply), Keys::None),
    spec("PSUBSCRIBE", Control(self::Control::LeavesRequestReply), Keys::None),
    spec("SSUBSCRIBE", Control(self::Control::LeavesRequestReply), Keys::None),
    spec("MONITOR", Control(self::Control::LeavesRequestReply), Keys::None),
    spec("CLIENT", Control(self::Control::Client), Keys::None),
    spec("UNSUBSCRIBE", Control(self::Control::Unsubscribe), Keys::None),
    spec("PUNSUBSCRIBE", Control(self::Control::Unsubscribe), Keys::None),
    spec("SUNSUBSCRIBE", Control(self::Control::Unsubscribe), Keys::None),
    spec("RESET", Control(self::Control::Reset), Keys::None),
];

/// Looked up once or twice a command the proxy relays: a fast hash, as names come from clients but the table
/// is fixed.
type Names<V> = HashMap<&'static [u8], V, foldhash::fast::FixedState>;

static BY_NAME: LazyLock<Names<&'static CommandSpec>> =
    LazyLock::new(|| TABLE.iter().map(|spec| (spec.name.as_bytes(), spec)).collect());

/// The spec of a command, by its name in any case.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    upper_case(name, |upper| BY_NAME.get(upper).copied()).flatten()
}

/// `f` of a command's name in upper case, without allocating; None for names longer than any command's.
fn upper_case<R>(name: &[u8], f: impl FnOnce(&[u8]) -> R) -> Option<R> {
    let mut upper = [0u8; 16];
    let upper = upper.get_mut(..name.len())?;
    upper.copy_from_slice(name);
    upper.make_ascii_uppercase();
    Some(f(upper))
}

/// Commands outside the table that change nothing of the connection they run on, never block it, and get one
/// reply each: a proxy may send them down a connection shared with other clients.
const STATELESS_TOO: &[&str] = &[
    "PING",
    "ECHO",
    "TIME",
    "DBSIZE",
    "TTL",
    "PTTL",
    "EXPIRETIME",
    "PEXPIRETIME",
    "TYPE",
    "TOUCH",
    "COPY",
    "HDEL",
    "HRANDFIELD",
    "HSCAN",
    "SCAN",
    "LPOP",
    "RPOP",
    "LREM",
    "LTRIM",
    "LINSERT",
    "LPOS",
    "LMOVE",
    "RPOPLPUSH",
    "SREM",
    "SPOP",
    "SMOVE",
    "SMISMEMBER",
    "SINTER",
    "SUNION",
    "SDIFF",
    "SINTERSTORE",
    "SUNIONSTORE",
    "SDIFFSTORE",
    "SSCAN",
    "ZREM",
    "ZCOUNT",
    "ZLEXCOUNT",
    "ZRANGEBYLEX",
    "ZREVRANK",
    "ZMSCORE",
    "ZPOPMIN",
    "ZPOPMAX",
    "ZREMRANGEBYSCORE",
    "ZREMRANGEBYRANK",
    "ZSCAN",
    "PFADD",
    "PFCOUNT",
    "PFMERGE",
    "SETBIT",
    "GETBIT",
    "BITCOUNT",
    "BITPOS",
    "GEOADD",
    "GEOPOS",
    "GEODIST",
    "GEOSEARCH",
    "XADD",
    "XLEN",
    "XRANGE",
    "XREVRANGE",
    "XDEL",
    "XTRIM",
    "EVAL",
    "EVALSHA",
    "EVAL_RO",
    "EVALSHA_RO",
    "FCALL",
    "FCALL_RO",
];

static STATELESS: LazyLock<Names<()>> =
    LazyLock::new(|| STATELESS_TOO.iter().map(|name| (name.as_bytes(), ())).collect());

/// Whether a command may run on an upstream connection shared with other clients: it leaves the connection as
/// it found it (no `SELECT`, `AUTH`, `HELLO`, `MULTI`, `WATCH`, `CLIENT`, subscriptions or `MONITOR`), does not
/// block it (`BLPOP`, `WAIT`, `XREAD`), and gets exactly one reply. Commands not known to be so are not.
pub fn shares_connection(name: &[u8]) -> bool {
    upper_case(name, |upper| match BY_NAME.get(upper) {
        Some(spec) => spec.shares_connection(),
        None => STATELESS.contains_key(upper),
    })
    .unwrap_or(false)
}

/// Whether a command sets a connection up and does the same again when repeated (`AUTH`, `SELECT`, `HELLO`,
/// `CLIENT SETNAME`, `CLIENT SETINFO`), given its arguments (the name first): clients that open with the same such
/// commands can share a connection that ran them first, since running them again on it leaves it as it is.
pub fn sets_up_connection(args: &[crate::Argument]) -> bool {
    let Some(name) = args.first() else { return false };
    let is = |arg: &crate::Argument, word: &str| arg.bytes.eq_ignore_ascii_case(word.as_bytes());
    match name {
        _ if is(name, "AUTH") || is(name, "SELECT") || is(name, "HELLO") => true,
        _ if is(name, "CLIENT") => args.get(1).is_some_and(|sub| is(sub, "SETNAME") || is(sub, "SETINFO")),
        _ => false,
    }
}

/// The indexes of the key arguments of a command with `args` arguments (the name included).
pub fn key_indexes(keys: Keys, args: usize) -> impl Iterator<Item = usize> {
    let (start, step, end) = match keys {
        Keys::None => (1, 1, 1),
        Keys::First => (1, 1, args.min(2)),
        Keys::All => (1, 1, args),
        Keys::EveryOther => (1, 2, args),
        Keys::FirstTwo => (1, 1, args.min(3)),
    };
    (start..end.max(start)).step_by(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commands_the_issue_names_are_known() {
        for name in [
            "GET", "MGET", "GETEX", "GETDEL", "HGET", "HMGET", "HGETALL", "EXISTS", "SET", "SETEX", "PSETEX", "MSET",
            "HSET", "EXPIRE", "PEXPIRE", "PERSIST", "DEL", "UNLINK", "FLUSHDB", "FLUSHALL", "INCR",
        ] {
            assert!(lookup(name.as_bytes()).is_some(), "{name}");
        }
        assert_eq!(lookup(b"get").unwrap().name, "GET");
        assert!(lookup(b"NOSUCH").is_none());
        assert!(lookup(b"AVERYLONGCOMMANDNAMEINDEED").is_none());
        let names: std::collections::HashSet<_> = TABLE.iter().map(|s| s.name).collect();
        assert_eq!(names.len(), TABLE.len(), "no command twice");
    }

    #[test]
    fn commands_that_set_a_connection_up_the_same_way_each_time() {
        let check = |words: &[&str], expected: bool| {
            let args: Vec<crate::Argument> =
                words.iter().map(|w| crate::Argument { bytes: w.as_bytes().to_vec(), len: w.len() }).collect();
            assert_eq!(sets_up_connection(&args), expected, "{words:?}");
        };
        check(&["AUTH", "secret"], true);
        check(&["auth", "user", "secret"], true);
        check(&["SELECT", "2"], true);
        check(&["HELLO", "3", "AUTH", "user", "secret", "SETNAME", "app"], true);
        check(&["client", "setinfo", "LIB-NAME", "go-redis"], true);
        check(&["CLIENT", "SETNAME", "worker"], true);
        check(&["CLIENT", "TRACKING", "on"], false);
        check(&["CLIENT", "REPLY", "OFF"], false);
        check(&["CLIENT"], false);
        check(&["MULTI"], false);
        check(&["GET", "k"], false);
        check(&[], false);
    }

    #[test]
    fn only_commands_that_leave_the_connection_as_it_was_share_it() {
        for name in ["GET", "get", "SET", "MGET", "DEL", "FLUSHALL", "PING", "TTL", "EVALSHA", "HDEL"] {
            assert!(shares_connection(name.as_bytes()), "{name}");
        }
        for name in [
            "SELECT",
            "AUTH",
            "HELLO",
            "MULTI",
            "EXEC",
            "WATCH",
            "CLIENT",
            "SUBSCRIBE",
            "MONITOR",
            "BLPOP",
            "WAIT",
            "XREAD",
            "QUIT",
            "RESET",
            "READONLY",
            "NOSUCH",
            "",
            "AVERYLONGCOMMANDNAMEINDEED",
        ] {
            assert!(!shares_connection(name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn key_positions() {
        let check = |keys, args, expected: &[usize]| assert_eq!(key_indexes(keys, args).collect::<Vec<_>>(), expected);
        check(Keys::First, 3, &[1]);
        check(Keys::First, 1, &[]);
        check(Keys::All, 4, &[1, 2, 3]);
        check(Keys::EveryOther, 5, &[1, 3]);
        check(Keys::EveryOther, 4, &[1, 3]);
        check(Keys::FirstTwo, 3, &[1, 2]);
        check(Keys::None, 3, &[]);
    }
}
