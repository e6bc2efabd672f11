//! Events packed for handing from one thread to another: each event's fixed fields, its key's [`key_hash`] and a
//! payload of the caller's side by side in one record, the keys one after the other in one buffer.
//!
//! An [`Event`] borrows its key, so a batch of them cannot cross threads as it is. Packing copies each key once
//! and keeps the record small (56 bytes and the payload, against 88 for an event with an owned range and a hash),
//! for the thread that writes it and the thread that reads it pay for every byte in memory traffic: the record is
//! written on one core and read on the other.
//!
//! [`key_hash`]: crate::key_hash

use crate::event::{Command, Event, Micros, Outcome, TtlChange};

/// The fields of an [`Event`] but its key, which ends at `key_end` in the keys' buffer.
#[derive(Clone, Copy, Debug)]
struct Head {
    time: Micros,
    hash: u64,
    ttl: TtlChange,
    key_end: u32,
    value_size: u32,
    client: u32,
    db: u32,
    node: u16,
    command: Command,
    outcome: Outcome,
}

/// Events in order, each with its key's hash and a payload `T` (see the module's documentation).
#[derive(Debug)]
pub struct PackedEvents<T> {
    keys: Vec<u8>,
    records: Vec<(Head, T)>,
}

impl<T> Default for PackedEvents<T> {
    fn default() -> Self {
        PackedEvents { keys: Vec::new(), records: Vec::new() }
    }
}

/// Key bytes a pack holds at most: its offsets are 32 bits. [`PackedEvents::is_full`] says when to hand it over.
const KEY_BYTES: usize = u32::MAX as usize;

impl<T: Copy> PackedEvents<T> {
    /// Room for `events` events and `key_bytes` bytes of keys without growing.
    pub fn with_capacity(events: usize, key_bytes: usize) -> Self {
        PackedEvents { keys: Vec::with_capacity(key_bytes), records: Vec::with_capacity(events) }
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Empties the pack, keeping its memory.
    pub fn clear(&mut self) {
        self.keys.clear();
        self.records.clear();
    }

    /// Whether the pack holds `events` events, or has no room left for a key of `key_len` bytes: then it must be
    /// handed over (or cleared) before the next [`PackedEvents::push`].
    #[inline]
    pub fn is_full(&self, events: usize, key_len: usize) -> bool {
        self.records.len() >= events || KEY_BYTES - self.keys.len() < key_len
    }

    /// Appends `event`, whose key has this hash, with its payload.
    ///
    /// # Panics
    /// When the key does not fit ([`PackedEvents::is_full`] says so beforehand).
    #[inline]
    pub fn push(&mut self, event: &Event<'_>, hash: u64, payload: T) {
        assert!(KEY_BYTES - self.keys.len() >= event.key.len(), "a pack holds at most 4 GiB of keys");
        self.keys.extend_from_slice(event.key);
        let head = Head {
            time: event.time,
            hash,
            ttl: event.ttl,
            key_end: self.keys.len() as u32,
            value_size: event.value_size,
            client: event.client,
            db: event.db,
            node: event.node,
            command: event.command,
            outcome: event.outcome,
        };
        self.records.push((head, payload));
    }

    /// The hash of the key of the event at `index`.
    #[inline]
    pub fn hash(&self, index: usize) -> u64 {
        self.records[index].0.hash
    }

    /// The payload of the event at `index`.
    #[inline]
    pub fn payload(&self, index: usize) -> T {
        self.records[index].1
    }

    /// The event at `index`, its key's hash and its payload.
    #[inline]
    pub fn get(&self, index: usize) -> (Event<'_>, u64, T) {
        let (head, payload) = &self.records[index];
        let start = match index {
            0 => 0,
            _ => self.records[index - 1].0.key_end as usize,
        };
        let event = Event {
            time: head.time,
            client: head.client,
            db: head.db,
            node: head.node,
            command: head.command,
            key: &self.keys[start..head.key_end as usize],
            outcome: head.outcome,
            ttl: head.ttl,
            value_size: head.value_size,
        };
        (event, head.hash, *payload)
    }

    /// The events in order, as [`PackedEvents::get`] gives them.
    pub fn iter(&self) -> impl Iterator<Item = (Event<'_>, u64, T)> + '_ {
        (0..self.len()).map(|index| self.get(index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{FlushScope, Removal, WriteCondition};
    use crate::key_hash;
    use proptest::prelude::*;

    fn command() -> impl Strategy<Value = Command> {
        prop_oneof![
            Just(Command::Read),
            Just(Command::Write(WriteCondition::Always)),
            Just(Command::Write(WriteCondition::IfAbsent)),
            Just(Command::Delete),
            Just(Command::Expire),
            Just(Command::Removed(Removal::Evicted)),
            Just(Command::Flush(FlushScope::Restart)),
            Just(Command::Marker),
        ]
    }

    fn ttl() -> impl Strategy<Value = TtlChange> {
        prop_oneof![Just(TtlChange::Keep), Just(TtlChange::Persist), any::<u64>().prop_map(TtlChange::ExpireIn)]
    }

    fn outcome() -> impl Strategy<Value = Outcome> {
        prop_oneof![Just(Outcome::Hit), Just(Outcome::Miss), Just(Outcome::Ok)]
    }

    type Fields = (u64, u32, u32, u16, Command, Vec<u8>, Outcome, TtlChange, u32);

    fn fields() -> impl Strategy<Value = Fields> {
        (
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
            any::<u16>(),
            command(),
            proptest::collection::vec(any::<u8>(), 0..40),
            outcome(),
            ttl(),
            any::<u32>(),
        )
    }

    fn event((time, client, db, node, command, key, outcome, ttl, value_size): &Fields) -> Event<'_> {
        Event {
            time: *time,
            client: *client,
            db: *db,
            node: *node,
            command: *command,
            key,
            outcome: *outcome,
            ttl: *ttl,
            value_size: *value_size,
        }
    }

    proptest! {
        #[test]
        fn a_pack_gives_back_every_field_of_every_event(events in proptest::collection::vec(fields(), 0..50)) {
            let mut pack = PackedEvents::default();
            for (index, fields) in events.iter().enumerate() {
                let event = event(fields);
                pack.push(&event, key_hash(event.db, event.key), index);
            }
            prop_assert_eq!(pack.len(), events.len());
            for (index, fields) in events.iter().enumerate() {
                let event = event(fields);
                prop_assert_eq!(pack.get(index), (event, key_hash(event.db, event.key), index));
                prop_assert_eq!(pack.hash(index), key_hash(event.db, event.key));
                prop_assert_eq!(pack.payload(index), index);
            }
            prop_assert_eq!(pack.iter().count(), events.len());
            pack.clear();
            prop_assert!(pack.is_empty());
        }
    }

    #[test]
    fn a_record_is_small() {
        assert_eq!(std::mem::size_of::<Head>(), 56);
    }

    #[test]
    fn a_pack_is_full_at_its_count_of_events() {
        let mut pack = PackedEvents::with_capacity(2, 8);
        assert!(!pack.is_full(2, 3));
        pack.push(&Event::read(1, b"a", Outcome::Hit), 1, ());
        assert!(!pack.is_full(2, 3));
        pack.push(&Event::read(2, b"b", Outcome::Hit), 2, ());
        assert!(pack.is_full(2, 3));
        assert!(pack.is_full(usize::MAX, KEY_BYTES));
    }
}
