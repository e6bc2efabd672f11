//! What a command and its reply did to the cache, as events for the engine.

use cachescope_core::{Command, ErrorKind, FlushScope, Micros, Outcome, OwnedEvent, TtlChange, WriteCondition};

use crate::commands::{Access, CommandSpec, Expiry, Hit, Store, key_indexes};
use crate::reply::{Reply, Value};
use crate::request::Request;

/// Where and when the pair happened.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context {
    pub time: Micros,
    pub client: u32,
    pub db: u32,
    /// Wall-clock milliseconds since the Unix epoch, to turn EXAT and EXPIREAT into durations.
    pub unix_ms: u64,
}

/// Appends to `out` the events of `request` answered by `reply`.
pub(crate) fn interpret(
    spec: &CommandSpec,
    request: &Request,
    reply: &Reply,
    context: &Context,
    out: &mut Vec<OwnedEvent>,
) {
    let keys: Vec<usize> = key_indexes(spec.keys, request.args.len()).filter(|&i| request.args[i].kept()).collect();
    if keys.is_empty() && !matches!(spec.access, Access::Flush(_)) {
        return;
    }
    let event = |command: Command, key: usize, outcome: Outcome, ttl: TtlChange, value_size: usize| OwnedEvent {
        time: context.time,
        client: context.client,
        db: context.db,
        node: 0,
        command,
        key: request.args[key].bytes.clone(),
        outcome,
        ttl,
        value_size: value_size.min(u32::MAX as usize) as u32,
    };
    let error = match &reply.value {
        Value::Error(text) => Some(ErrorKind::from_reply(text)),
        _ => None,
    };
    let integer = match reply.value {
        Value::Integer(n) => Some(n),
        _ => None,
    };
    let write = Command::Write(WriteCondition::Always);

    match spec.access {
        Access::Read(hit) => {
            if let Some(kind) = error {
                out.extend(keys.iter().map(|&k| event(Command::Read, k, Outcome::Error(kind), TtlChange::Keep, 0)));
                return;
            }
            // Inside EXEC only the summary of an array is known: per-element reads cannot be told apart.
            if matches!(hit, Hit::PerKey | Hit::AnyElement)
                && reply.elements.is_empty()
                && matches!(reply.value, Value::Aggregate(n) if n > 0)
            {
                return;
            }
            match hit {
                Hit::PerKey => {
                    for (&key, element) in keys.iter().zip(&reply.elements) {
                        let (outcome, size) = read_outcome(element, Hit::NotNil);
                        out.push(event(Command::Read, key, outcome, TtlChange::Keep, size));
                    }
                }
                Hit::NonZero if keys.len() > 1 => {
                    // EXISTS a b c: the count says which only when it is all or nothing.
                    let outcome = match integer {
                        Some(0) => Outcome::Miss,
                        Some(n) if n as usize == keys.len() => Outcome::Hit,
                        _ => return,
                    };
                    out.extend(keys.iter().map(|&k| event(Command::Read, k, outcome, TtlChange::Keep, 0)));
                }
                hit => {
                    let (outcome, size) = read_outcome(&reply.value, hit);
                    let outcome = if hit == Hit::AnyElement {
                        if reply.elements.iter().any(|e| !matches!(e, Value::Null)) {
                            Outcome::Hit
                        } else {
                            Outcome::Miss
                        }
                    } else {
                        outcome
                    };
                    out.push(event(Command::Read, keys[0], outcome, TtlChange::Keep, size));
                }
            }
        }
        Access::Write(store) => {
            let outcome_of = |stored: bool| if stored { Outcome::Ok } else { Outcome::Miss };
            match store {
                Store::Set => {
                    let options = SetOptions::parse(request, context.unix_ms);
                    let outcome = match (error, &reply.value) {
                        (Some(kind), _) => Outcome::Error(kind),
                        // With GET the reply is the old value: NX stored only if there was none, XX only if there was.
                        (None, value) if options.get => match options.condition {
                            WriteCondition::IfAbsent => outcome_of(matches!(value, Value::Null)),
                            WriteCondition::IfPresent => outcome_of(!matches!(value, Value::Null)),
                            WriteCondition::Always => Outcome::Ok,
                        },
                        (None, Value::Null) => Outcome::Miss,
                        (None, _) => Outcome::Ok,
                    };
                    out.push(event(
                        Command::Write(options.condition),
                        keys[0],
                        outcome,
                        options.ttl,
                        arg_len(request, 2),
                    ));
                }
                Store::SetSeconds | Store::SetMillis => {
                    let unit = if store == Store::SetSeconds { 1000 } else { 1 };
                    let ttl = number(request, 2)
                        .map_or(TtlChange::Persist, |n| TtlChange::ExpireIn((n.max(0) as u64).saturating_mul(unit)));
                    let outcome = error.map_or(Outcome::Ok, Outcome::Error);
                    out.push(event(write, keys[0], outcome, ttl, arg_len(request, 3)));
                }
                Store::SetIfAbsent | Store::FieldIfAbsent => {
                    let outcome = error.map_or_else(|| outcome_of(integer == Some(1)), Outcome::Error);
                    let (ttl, size) = if store == Store::SetIfAbsent {
                        (TtlChange::Persist, arg_len(request, 2))
                    } else {
                        (TtlChange::Keep, arg_len(request, 3))
                    };
                    out.push(event(Command::Write(WriteCondition::IfAbsent), keys[0], outcome, ttl, size));
                }
                Store::Pairs | Store::PairsIfAbsent => {
                    let outcome = match (error, store) {
                        (Some(kind), _) => Outcome::Error(kind),
                        (None, Store::PairsIfAbsent) => outcome_of(integer == Some(1)),
                        (None, _) => Outcome::Ok,
                    };
                    let condition =
                        if store == Store::Pairs { WriteCondition::Always } else { WriteCondition::IfAbsent };
                    for &key in &keys {
                        out.push(event(
                            Command::Write(condition),
                            key,
                            outcome,
                            TtlChange::Persist,
                            arg_len(request, key + 1),
                        ));
                    }
                }
                Store::InPlace | Store::InPlaceIfPresent => {
                    let outcome = match (error, integer) {
                        (Some(kind), _) => Outcome::Error(kind),
                        (None, Some(0)) if store == Store::InPlaceIfPresent => Outcome::Miss,
                        (None, _) => Outcome::Ok,
                    };
                    let condition =
                        if store == Store::InPlace { WriteCondition::Always } else { WriteCondition::IfPresent };
                    let size: usize = request.args.iter().skip(2).map(|a| a.len).sum();
                    out.push(event(Command::Write(condition), keys[0], outcome, TtlChange::Keep, size));
                }
            }
        }
        Access::Delete => {
            let outcome = match (error, integer) {
                (Some(kind), _) => Outcome::Error(kind),
                (None, Some(0)) => Outcome::Miss,
                _ => Outcome::Ok,
            };
            out.extend(keys.iter().map(|&k| event(Command::Delete, k, outcome, TtlChange::Keep, 0)));
        }
        Access::Expire(expiry) => {
            let outcome = match (error, integer) {
                (Some(kind), _) => Outcome::Error(kind),
                (None, Some(1)) => Outcome::Ok,
                _ => Outcome::Miss,
            };
            match expiry_ttl(expiry, number(request, 2), context.unix_ms) {
                // A time in the past deletes the key.
                Some(TtlChange::ExpireIn(0)) if outcome == Outcome::Ok => {
                    out.push(event(Command::Delete, keys[0], Outcome::Ok, TtlChange::Keep, 0));
                }
                Some(ttl) => out.push(event(Command::Expire, keys[0], outcome, ttl, 0)),
                None => {}
            }
        }
        Access::Flush(scope) => {
            if error.is_none() {
                let mut flush = OwnedEvent {
                    time: context.time,
                    client: context.client,
                    db: context.db,
                    node: 0,
                    command: Command::Flush(scope),
                    key: Vec::new(),
                    outcome: Outcome::Ok,
                    ttl: TtlChange::Keep,
                    value_size: 0,
                };
                if scope == FlushScope::All {
                    flush.db = 0;
                }
                out.push(flush);
            }
        }
        Access::GetEx | Access::GetDel | Access::GetSet => {
            if let Some(kind) = error {
                out.push(event(Command::Read, keys[0], Outcome::Error(kind), TtlChange::Keep, 0));
                return;
            }
            let (outcome, size) = read_outcome(&reply.value, Hit::NotNil);
            out.push(event(Command::Read, keys[0], outcome, TtlChange::Keep, size));
            match spec.access {
                Access::GetEx if outcome == Outcome::Hit => {
                    if let Some(ttl) = getex_ttl(request, context.unix_ms) {
                        out.push(event(Command::Expire, keys[0], Outcome::Ok, ttl, 0));
                    }
                }
                Access::GetDel if outcome == Outcome::Hit => {
                    out.push(event(Command::Delete, keys[0], Outcome::Ok, TtlChange::Keep, 0));
                }
                Access::GetSet => out.push(event(write, keys[0], Outcome::Ok, TtlChange::Persist, arg_len(request, 2))),
                _ => {}
            }
        }
        Access::Rename => {
            // The server moves the value and its TTL; the proxy sees neither, so the destination is written with
            // size 0 and its TTL left as it was: an approximation the README states.
            let renamed = error.is_none() && (integer.is_none() || integer == Some(1));
            if renamed && keys.len() == 2 {
                out.push(event(Command::Delete, keys[0], Outcome::Ok, TtlChange::Keep, 0));
                out.push(event(write, keys[1], Outcome::Ok, TtlChange::Keep, 0));
            }
        }
        Access::Control(_) => {}
    }
}

/// Hit or miss of a read whose reply is `value`, and the value's size when it is a string.
fn read_outcome(value: &Value, hit: Hit) -> (Outcome, usize) {
    let size = match value {
        Value::Bulk(n) => *n,
        _ => 0,
    };
    let found = match hit {
        Hit::NotNil | Hit::PerKey | Hit::AnyElement => !matches!(value, Value::Null),
        Hit::NotEmpty => !value.is_empty(),
        Hit::NonZero => matches!(value, Value::Integer(n) if *n > 0) || matches!(value, Value::Boolean(true)),
    };
    (if found { Outcome::Hit } else { Outcome::Miss }, size)
}

fn arg_len(request: &Request, index: usize) -> usize {
    request.args.get(index).map_or(0, |a| a.len)
}

fn number(request: &Request, index: usize) -> Option<i64> {
    std::str::from_utf8(request.arg(index)?).ok()?.trim().parse().ok()
}

/// The TTL an expiry command sets: None when its time is not a number.
fn expiry_ttl(expiry: Expiry, value: Option<i64>, unix_ms: u64) -> Option<TtlChange> {
    if expiry == Expiry::Persist {
        return Some(TtlChange::Persist);
    }
    let value = value?;
    let ms = match expiry {
        Expiry::Seconds => value.saturating_mul(1000),
        Expiry::Millis => value,
        Expiry::AtSeconds => value.saturating_mul(1000).saturating_sub(unix_ms as i64),
        Expiry::AtMillis => value.saturating_sub(unix_ms as i64),
        Expiry::Persist => unreachable!("handled above"),
    };
    Some(TtlChange::ExpireIn(ms.max(0) as u64))
}

/// The options of SET that cachescope cares about.
struct SetOptions {
    ttl: TtlChange,
    condition: WriteCondition,
    get: bool,
}

impl SetOptions {
    fn parse(request: &Request, unix_ms: u64) -> SetOptions {
        let mut options = SetOptions { ttl: TtlChange::Persist, condition: WriteCondition::Always, get: false };
        let mut i = 3;
        while i < request.args.len() {
            let option = request.arg(i).map(|o| o.to_ascii_uppercase()).unwrap_or_default();
            let expiry = match &option[..] {
                b"EX" => Some(Expiry::Seconds),
                b"PX" => Some(Expiry::Millis),
                b"EXAT" => Some(Expiry::AtSeconds),
                b"PXAT" => Some(Expiry::AtMillis),
                b"KEEPTTL" => {
                    options.ttl = TtlChange::Keep;
                    None
                }
                b"NX" => {
                    options.condition = WriteCondition::IfAbsent;
                    None
                }
                b"XX" => {
                    options.condition = WriteCondition::IfPresent;
                    None
                }
                b"GET" => {
                    options.get = true;
                    None
                }
                _ => None,
            };
            if let Some(expiry) = expiry {
                if let Some(ttl) = expiry_ttl(expiry, number(request, i + 1), unix_ms) {
                    options.ttl = ttl;
                }
                i += 1;
            }
            i += 1;
        }
        options
    }
}

/// The TTL change of GETEX's options, if it has one.
fn getex_ttl(request: &Request, unix_ms: u64) -> Option<TtlChange> {
    let option = request.arg(2)?.to_ascii_uppercase();
    let expiry = match &option[..] {
        b"EX" => Expiry::Seconds,
        b"PX" => Expiry::Millis,
        b"EXAT" => Expiry::AtSeconds,
        b"PXAT" => Expiry::AtMillis,
        b"PERSIST" => Expiry::Persist,
        _ => return None,
    };
    expiry_ttl(expiry, number(request, 3), unix_ms)
}
