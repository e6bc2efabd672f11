//! A connection's commands and replies, as events: data-driven through one `check` helper.

use cachescope_core::{Command, Outcome, OwnedEvent, TtlChange, WriteCondition};
use cachescope_resp::Connection;
use cachescope_resp::frame::Frame;

const NOW_MS: u64 = 1_700_000_000_000;

/// `read user:1 hit size=5`, `write k ok ttl=1000 nx`, `delete k miss db=2`.
fn render(event: &OwnedEvent) -> String {
    let command = match event.command {
        Command::Read => "read",
        Command::Write(WriteCondition::Always) => "write",
        Command::Write(WriteCondition::IfAbsent) => "write_nx",
        Command::Write(WriteCondition::IfPresent) => "write_xx",
        Command::Delete => "delete",
        Command::Expire => "expire",
        Command::Flush(scope) => return format!("flush {scope:?} db={}", event.db),
        Command::Marker => "marker",
        Command::Removed(removal) => return format!("removed {removal:?}"),
    };
    let outcome = match event.outcome {
        Outcome::Hit => "hit".to_string(),
        Outcome::Miss => "miss".to_string(),
        Outcome::Ok => "ok".to_string(),
        Outcome::Error(kind) => format!("err:{kind}"),
        Outcome::Unobserved => "-".to_string(),
    };
    let mut text = format!("{command} {} {outcome}", String::from_utf8_lossy(&event.key));
    if matches!(event.command, Command::Write(_) | Command::Expire) {
        match event.ttl {
            TtlChange::ExpireIn(ms) => text.push_str(&format!(" ttl={ms}")),
            TtlChange::Persist => text.push_str(" ttl=persist"),
            TtlChange::Keep => {}
        }
    }
    if event.value_size > 0 {
        text.push_str(&format!(" size={}", event.value_size));
    }
    if event.db != 0 {
        text.push_str(&format!(" db={}", event.db));
    }
    text
}

fn bulk(text: &str) -> Frame {
    Frame::Bulk(text.as_bytes().to_vec())
}

fn ok() -> Frame {
    Frame::Simple(b"OK".to_vec())
}

fn int(n: i64) -> Frame {
    Frame::Integer(n)
}

/// Sends every command (pipelined), then every reply, byte by byte on odd tests and whole on even ones.
#[track_caller]
fn check(exchange: &[(&str, Frame)], expected: &[&str]) {
    for byte_by_byte in [false, true] {
        let mut connection = Connection::new(7);
        let requests: Vec<u8> = exchange
            .iter()
            .flat_map(|(command, _)| {
                let args: Vec<&[u8]> = command.split(' ').map(str::as_bytes).collect();
                Frame::command(&args).to_bytes()
            })
            .collect();
        let replies: Vec<u8> = exchange.iter().flat_map(|(_, reply)| reply.to_bytes()).collect();
        let mut events = Vec::new();
        if byte_by_byte {
            for byte in &requests {
                connection.from_client(std::slice::from_ref(byte));
            }
            for byte in &replies {
                connection.from_server(std::slice::from_ref(byte), NOW_MS * 1000, &mut events);
            }
        } else {
            connection.from_client(&requests);
            connection.from_server(&replies, NOW_MS * 1000, &mut events);
        }
        let rendered: Vec<String> = events.iter().map(render).collect();
        assert_eq!(rendered, expected, "byte by byte: {byte_by_byte}; stopped: {:?}", connection.stopped());
        assert!(events.iter().all(|e| e.client == 7));
    }
}

#[test]
fn reads() {
    check(
        &[("GET user:1", Frame::NullBulk), ("GET user:1", bulk("alice"))],
        &["read user:1 miss", "read user:1 hit size=5"],
    );
    check(&[("get user:1", Frame::Null)], &["read user:1 miss"]);
    check(
        &[("MGET a b c", Frame::Array(vec![bulk("1"), Frame::NullBulk, bulk("333")]))],
        &["read a hit size=1", "read b miss", "read c hit size=3"],
    );
    check(&[("HGET h f", Frame::NullBulk), ("HGET h f", bulk("v"))], &["read h miss", "read h hit size=1"]);
    check(&[("HMGET h a b", Frame::Array(vec![Frame::NullBulk, Frame::NullBulk]))], &["read h miss"]);
    check(&[("HMGET h a b", Frame::Array(vec![Frame::NullBulk, bulk("x")]))], &["read h hit"]);
    check(
        &[("HGETALL h", Frame::Array(vec![])), ("HGETALL h", Frame::Map(vec![(bulk("f"), bulk("v"))]))],
        &["read h miss", "read h hit"],
    );
    check(&[("EXISTS a", int(0)), ("EXISTS a", int(1))], &["read a miss", "read a hit"]);
    check(
        &[("EXISTS a b", int(2)), ("EXISTS a b", int(0))],
        &["read a hit", "read b hit", "read a miss", "read b miss"],
    );
    check(&[("EXISTS a b", int(1))], &[]);
    check(&[("LRANGE l 0 -1", Frame::Array(vec![])), ("SCARD s", int(3))], &["read l miss", "read s hit"]);
}

#[test]
fn sets_with_their_options() {
    check(&[("SET k hello", ok())], &["write k ok ttl=persist size=5"]);
    check(
        &[("SET k v EX 60", ok()), ("SET k v px 1500", ok())],
        &["write k ok ttl=60000 size=1", "write k ok ttl=1500 size=1"],
    );
    check(&[("SET k v EXAT 1700000100", ok())], &["write k ok ttl=100000 size=1"]);
    check(&[("SET k v KEEPTTL", ok())], &["write k ok size=1"]);
    check(
        &[("SET k v NX", Frame::NullBulk), ("SET k v NX EX 5", ok())],
        &["write_nx k miss ttl=persist size=1", "write_nx k ok ttl=5000 size=1"],
    );
    check(&[("SET k v XX", Frame::NullBulk)], &["write_xx k miss ttl=persist size=1"]);
    check(
        &[("SET k v GET", Frame::NullBulk), ("SET k v NX GET", bulk("old"))],
        &["write k ok ttl=persist size=1", "write_nx k miss ttl=persist size=1"],
    );
    check(
        &[("SETEX k 10 value", ok()), ("PSETEX k 250 value", ok())],
        &["write k ok ttl=10000 size=5", "write k ok ttl=250 size=5"],
    );
    check(
        &[("SETNX k v", int(1)), ("SETNX k v", int(0))],
        &["write_nx k ok ttl=persist size=1", "write_nx k miss ttl=persist size=1"],
    );
    check(&[("MSET a 1 b 22", ok())], &["write a ok ttl=persist size=1", "write b ok ttl=persist size=2"]);
    check(&[("INCR n", int(1)), ("HSET h f value", int(1))], &["write n ok", "write h ok size=6"]);
}

#[test]
fn failed_writes() {
    check(
        &[("SET k v", Frame::Error(b"OOM command not allowed when used memory > 'maxmemory'.".to_vec()))],
        &["write k err:OOM ttl=persist size=1"],
    );
    check(
        &[("INCR k", Frame::Error(b"WRONGTYPE Operation against a key holding the wrong kind of value".to_vec()))],
        &["write k err:WRONGTYPE"],
    );
    check(&[("GET k", Frame::Error(b"ERR boom".to_vec()))], &["read k err:ERR"]);
}

#[test]
fn deletes_and_expiries() {
    check(
        &[("DEL a", int(1)), ("DEL a", int(0)), ("UNLINK a b", int(1))],
        &["delete a ok", "delete a miss", "delete a ok", "delete b ok"],
    );
    check(
        &[("EXPIRE k 30", int(1)), ("PEXPIRE k 500", int(0)), ("PERSIST k", int(1))],
        &["expire k ok ttl=30000", "expire k miss ttl=500", "expire k ok ttl=persist"],
    );
    check(&[("EXPIREAT k 1700000010", int(1))], &["expire k ok ttl=10000"]);
    check(&[("EXPIRE k -1", int(1))], &["delete k ok"]);
    check(
        &[("GETDEL k", bulk("v")), ("GETDEL k", Frame::NullBulk)],
        &["read k hit size=1", "delete k ok", "read k miss"],
    );
    check(
        &[("GETEX k EX 5", bulk("v")), ("GETEX k", bulk("v"))],
        &["read k hit size=1", "expire k ok ttl=5000", "read k hit size=1"],
    );
    check(&[("RENAME a b", ok())], &["delete a ok", "write b ok"]);
    check(&[("FLUSHDB", ok()), ("FLUSHALL ASYNC", ok())], &["flush Db db=0", "flush All db=0"]);
}

#[test]
fn databases() {
    check(
        &[
            ("SELECT 3", ok()),
            ("GET k", Frame::NullBulk),
            ("FLUSHDB", ok()),
            ("SELECT 0", ok()),
            ("GET k", Frame::NullBulk),
        ],
        &["read k miss db=3", "flush Db db=3", "read k miss"],
    );
}

#[test]
fn transactions() {
    let queued = || Frame::Simple(b"QUEUED".to_vec());
    check(
        &[
            ("MULTI", ok()),
            ("GET a", queued()),
            ("SET a v EX 1", queued()),
            ("EXEC", Frame::Array(vec![Frame::NullBulk, ok()])),
            ("GET a", bulk("v")),
        ],
        &["read a miss", "write a ok ttl=1000 size=1", "read a hit size=1"],
    );
    check(&[("MULTI", ok()), ("GET a", queued()), ("DISCARD", ok()), ("GET b", Frame::NullBulk)], &["read b miss"]);
    // Aborted by WATCH: nothing ran.
    check(&[("MULTI", ok()), ("SET a v", queued()), ("EXEC", Frame::NullArray)], &[]);
    // A command refused while queuing is not part of the transaction.
    check(
        &[
            ("MULTI", ok()),
            ("GET", Frame::Error(b"ERR wrong number of arguments".to_vec())),
            ("GET a", queued()),
            ("EXEC", Frame::Array(vec![bulk("x")])),
        ],
        &["read a hit size=1"],
    );
}

#[test]
fn client_reply_off_and_skip() {
    let mut connection = Connection::new(1);
    let commands: Vec<u8> =
        ["CLIENT REPLY OFF", "SET a 1", "CLIENT REPLY ON", "GET a", "CLIENT REPLY SKIP", "SET b 2", "GET b"]
            .iter()
            .flat_map(|c| Frame::command(&c.split(' ').map(str::as_bytes).collect::<Vec<_>>()).to_bytes())
            .collect();
    connection.from_client(&commands);
    assert_eq!(connection.awaiting_replies(), 3, "CLIENT REPLY ON, GET a, GET b");
    let mut events = Vec::new();
    let replies = [ok(), bulk("1"), bulk("2")].iter().flat_map(Frame::to_bytes).collect::<Vec<_>>();
    connection.from_server(&replies, NOW_MS * 1000, &mut events);
    assert_eq!(events.iter().map(render).collect::<Vec<_>>(), vec!["read a hit size=1", "read b hit size=1"]);
    assert_eq!(connection.stopped(), None);
}

#[test]
fn pubsub_and_monitor_stop_the_analysis() {
    check(
        &[("GET a", Frame::NullBulk), ("SUBSCRIBE news", Frame::Push(vec![bulk("subscribe"), bulk("news"), int(1)]))],
        &["read a miss"],
    );
    let mut connection = Connection::new(1);
    connection.from_client(&Frame::command(&[b"MONITOR"]).to_bytes());
    assert!(connection.stopped().is_some());
}

#[test]
fn resp3_pushes_are_not_replies() {
    check(&[("GET a", Frame::NullBulk)], &["read a miss"]);
    let mut connection = Connection::new(1);
    connection.from_client(&Frame::command(&[b"GET", b"a"]).to_bytes());
    let mut events = Vec::new();
    let invalidate = Frame::Push(vec![bulk("invalidate"), Frame::Array(vec![bulk("a")])]);
    let stream = [invalidate.to_bytes(), bulk("v").to_bytes()].concat();
    connection.from_server(&stream, NOW_MS * 1000, &mut events);
    assert_eq!(events.iter().map(render).collect::<Vec<_>>(), vec!["read a hit size=1"]);
}

#[test]
fn unknown_commands_pass_and_keep_the_pairing() {
    check(
        &[("PING", Frame::Simple(b"PONG".to_vec())), ("XADD s * f v", bulk("1-0")), ("GET a", Frame::NullBulk)],
        &["read a miss"],
    );
}

#[test]
fn a_reply_without_a_command_stops_the_analysis() {
    let mut connection = Connection::new(1);
    let mut events = Vec::new();
    connection.from_server(&ok().to_bytes(), NOW_MS * 1000, &mut events);
    assert!(connection.stopped().is_some());
    connection.from_client(&Frame::command(&[b"GET", b"a"]).to_bytes());
    connection.from_server(&bulk("v").to_bytes(), NOW_MS * 1000, &mut events);
    assert!(events.is_empty());
}

#[test]
fn every_queued_command_takes_its_place_in_exec() {
    let queued = || Frame::Simple(b"QUEUED".to_vec());
    // TTL is not in the table; GET after it must still get its own reply, not TTL's.
    check(
        &[
            ("MULTI", ok()),
            ("TTL k", queued()),
            ("GET k", queued()),
            ("EXEC", Frame::Array(vec![int(-2), Frame::NullBulk])),
        ],
        &["read k miss"],
    );
}

#[test]
fn select_and_discard_take_effect_when_sent() {
    check(
        &[
            ("MULTI", ok()),
            ("SELECT 1", Frame::Simple(b"QUEUED".to_vec())),
            ("DISCARD", ok()),
            ("GET k", Frame::NullBulk),
        ],
        &["read k miss"],
    );
    check(
        &[("SELECT 2", ok()), ("RESET", Frame::Simple(b"RESET".to_vec())), ("GET k", Frame::NullBulk)],
        &["read k miss"],
    );
}

#[test]
fn unsubscribe_outside_subscribe_mode_answers_per_channel() {
    let unsubscribed = |channel: &str| Frame::Array(vec![bulk("unsubscribe"), bulk(channel), int(0)]);
    // Two replies for two channels, then GET's own.
    let mut connection = Connection::new(1);
    let requests = [Frame::command(&[b"UNSUBSCRIBE", b"a", b"b"]), Frame::command(&[b"GET", b"k"])];
    connection.from_client(&requests.iter().flat_map(Frame::to_bytes).collect::<Vec<_>>());
    let replies = [unsubscribed("a"), unsubscribed("b"), Frame::NullBulk];
    let mut events = Vec::new();
    connection.from_server(&replies.iter().flat_map(Frame::to_bytes).collect::<Vec<_>>(), NOW_MS * 1000, &mut events);
    assert_eq!(events.iter().map(render).collect::<Vec<_>>(), vec!["read k miss"]);
    assert_eq!(connection.stopped(), None);
}

#[test]
fn queue_commands_are_not_cache_writes_and_pushx_can_store_nothing() {
    check(
        &[("LPOP q", Frame::NullBulk), ("RPUSHX q job", int(0)), ("RPUSHX q job", int(3))],
        &["write_xx q miss size=3", "write_xx q ok size=3"],
    );
}

#[test]
fn huge_expiry_values_do_not_overflow() {
    check(&[("SETEX k 20000000000000000 v", ok())], &["write k ok ttl=18446744073709551615 size=1"]);
}

#[test]
fn pending_commands_keep_their_keys_not_their_values() {
    let mut connection = Connection::new(1);
    let value = vec![b'v'; 10_000];
    for _ in 0..100 {
        connection.from_client(&Frame::command(&[b"SET", b"k", &value]).to_bytes());
    }
    assert_eq!(connection.awaiting_replies(), 100);
    let mut events = Vec::new();
    let replies: Vec<u8> = (0..100).flat_map(|_| ok().to_bytes()).collect();
    connection.from_server(&replies, NOW_MS * 1000, &mut events);
    assert_eq!(events.len(), 100);
    assert!(events.iter().all(|e| e.key == b"k" && e.value_size == 10_000));
}
