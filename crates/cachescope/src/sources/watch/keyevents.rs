//! A key event as the server publishes it (channel `__keyevent@<db>__:<event>`, the key as payload) turned into
//! the engine's event. The server says what happened to the key, not what the command was nor its value: a write
//! carries no size and no TTL (an `expire` event tells a TTL was set, not which), and no event tells a hit.

use cachescope_core::{Command, FlushScope, Micros, Outcome, OwnedEvent, Removal, TtlChange, WriteCondition};

/// The database and the event name of a key-event channel; None for any other channel.
pub fn parse_channel(channel: &[u8]) -> Option<(u32, &[u8])> {
    let rest = channel.strip_prefix(b"__keyevent@")?;
    let end = rest.iter().position(|&b| b == b'_')?;
    let db = std::str::from_utf8(&rest[..end]).ok()?.parse().ok()?;
    let event = rest[end..].strip_prefix(b"__:")?;
    Some((db, event))
}

/// Events that write a key's value (every type's), as Redis and Valkey name them.
const WRITES: &[&[u8]] = &[
    b"set",
    b"setrange",
    b"incrby",
    b"incrbyfloat",
    b"append",
    b"lpush",
    b"rpush",
    b"linsert",
    b"lset",
    b"lrem",
    b"ltrim",
    b"lpop",
    b"rpop",
    b"lmove",
    b"hset",
    b"hincrby",
    b"hincrbyfloat",
    b"hdel",
    b"sadd",
    b"srem",
    b"spop",
    b"sinterstore",
    b"sunionstore",
    b"sdiffstore",
    b"smove",
    b"zadd",
    b"zincr",
    b"zrem",
    b"zrembyscore",
    b"zrembyrank",
    b"zremrangebyscore",
    b"zremrangebyrank",
    b"zremrangebylex",
    b"zinterstore",
    b"zunionstore",
    b"zdiffstore",
    b"zpopmin",
    b"zpopmax",
    b"xadd",
    b"xtrim",
    b"xdel",
    b"xsetid",
    b"restore",
    b"copy_to",
    b"rename_to",
    b"move_to",
    b"pfadd",
    b"setbit",
    b"bitop",
    b"hexpire",
    b"georadiusstore",
];

/// The engine's event for key event `name` on `key` in `db` at `time`; None for events that change nothing the
/// engine follows (`new`, which the write after it tells, `expire`, `persist`, and names it does not know).
pub fn to_event(time: Micros, db: u32, name: &[u8], key: &[u8]) -> Option<OwnedEvent> {
    let (command, outcome) = match name {
        b"keymiss" => (Command::Read, Outcome::Miss),
        b"expired" => (Command::Removed(Removal::Expired), Outcome::Ok),
        b"evicted" => (Command::Removed(Removal::Evicted), Outcome::Ok),
        b"del" | b"rename_from" | b"move_from" => (Command::Delete, Outcome::Ok),
        name if WRITES.contains(&name) => (Command::Write(WriteCondition::Always), Outcome::Ok),
        _ => return None,
    };
    Some(OwnedEvent {
        time,
        client: 0,
        db,
        node: 0,
        command,
        key: key.to_vec(),
        outcome,
        ttl: TtlChange::Keep,
        value_size: 0,
    })
}

/// A restart: the server (`node` of a cluster, named `name`) came back empty (its run id changed).
pub fn restart(time: Micros, node: u16, name: Option<String>) -> OwnedEvent {
    OwnedEvent {
        time,
        client: 0,
        db: 0,
        node,
        command: Command::Flush(FlushScope::Restart),
        key: name.map(String::into_bytes).unwrap_or_default(),
        outcome: Outcome::Ok,
        ttl: TtlChange::Keep,
        value_size: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn channels_and_events() {
        let check = |channel: &[u8], name: &[u8], expected: Option<(u32, Command, Outcome)>| {
            let parsed = parse_channel(channel).and_then(|(db, event)| {
                assert_eq!(event, name);
                to_event(7, db, event, b"user:1").map(|e| (e.db, e.command, e.outcome))
            });
            assert_eq!(parsed, expected, "{}", String::from_utf8_lossy(channel));
        };
        check(b"__keyevent@0__:keymiss", b"keymiss", Some((0, Command::Read, Outcome::Miss)));
        check(b"__keyevent@12__:expired", b"expired", Some((12, Command::Removed(Removal::Expired), Outcome::Ok)));
        check(b"__keyevent@3__:evicted", b"evicted", Some((3, Command::Removed(Removal::Evicted), Outcome::Ok)));
        check(b"__keyevent@0__:del", b"del", Some((0, Command::Delete, Outcome::Ok)));
        check(b"__keyevent@0__:set", b"set", Some((0, Command::Write(WriteCondition::Always), Outcome::Ok)));
        check(b"__keyevent@0__:hset", b"hset", Some((0, Command::Write(WriteCondition::Always), Outcome::Ok)));
        check(b"__keyevent@0__:new", b"new", None);
        check(b"__keyevent@0__:expire", b"expire", None);
        assert_eq!(parse_channel(b"__keyspace@0__:user:1"), None);
        assert_eq!(parse_channel(b"__keyevent@x__:del"), None);
        assert_eq!(parse_channel(b"__keyevent@0__del"), None);
        assert_eq!(parse_channel(b"news"), None);
    }

    proptest! {
        #[test]
        fn any_channel_is_parsed_or_refused_without_panicking(channel in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Some((db, name)) = parse_channel(&channel) {
                prop_assert!(channel.starts_with(b"__keyevent@") && channel.ends_with(name));
                let _ = to_event(0, db, name, b"k");
            }
        }
    }
}
