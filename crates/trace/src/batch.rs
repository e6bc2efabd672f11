//! Events decoded many at a time: the readers of fixed or length-prefixed records (the compact format,
//! oracleGeneral) hand out a batch of events whose keys lie in one buffer, so that a consumer pays one call per
//! batch rather than one per event. [`OwnedBatch`] copies events out of a reader, to keep or hand to another thread.

use std::ops::Range;

use cachescope_core::Event;

/// Events decoded at once, borrowed from the reader.
pub struct Batch<'a> {
    buffer: &'a [u8],
    decoded: &'a [(Event<'static>, Range<usize>)],
}

impl<'a> Batch<'a> {
    /// The events of `decoded` (their keys left empty), each with where its key lies in `buffer`.
    pub(crate) fn new(buffer: &'a [u8], decoded: &'a [(Event<'static>, Range<usize>)]) -> Self {
        Batch { buffer, decoded }
    }

    pub fn len(&self) -> usize {
        self.decoded.len()
    }

    pub fn is_empty(&self) -> bool {
        self.decoded.is_empty()
    }

    /// The event at `index`.
    #[inline]
    pub fn get(&self, index: usize) -> Event<'a> {
        let (event, key) = &self.decoded[index];
        Event { key: &self.buffer[key.clone()], ..*event }
    }

    pub fn iter(&self) -> impl Iterator<Item = Event<'a>> + Clone + 'a {
        let buffer = self.buffer;
        self.decoded.iter().map(move |(event, key)| Event { key: &buffer[key.clone()], ..*event })
    }
}

/// Events copied out of a reader, their keys in one buffer of their own: to keep, or to hand to another thread.
#[derive(Debug, Default, Clone)]
pub struct OwnedBatch {
    keys: Vec<u8>,
    events: Vec<(Event<'static>, Range<usize>)>,
}

impl OwnedBatch {
    pub fn with_capacity(events: usize) -> Self {
        OwnedBatch { keys: Vec::with_capacity(events * 32), events: Vec::with_capacity(events) }
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn clear(&mut self) {
        self.keys.clear();
        self.events.clear();
    }

    pub fn push(&mut self, event: &Event<'_>) {
        let start = self.keys.len();
        self.keys.extend_from_slice(event.key);
        self.events.push((Event { key: &[], ..*event }, start..self.keys.len()));
    }

    /// Appends the events of `batch`: a batch of many in one piece (the bytes its keys lie in copied at once,
    /// the places of its keys moved along), else one by one.
    pub fn extend(&mut self, batch: &crate::Batch<'_>) {
        let Some(many) = batch.many() else {
            batch.iter().for_each(|event| self.push(&event));
            return;
        };
        let from = many.decoded.iter().map(|(_, key)| key.start).min().unwrap_or(0);
        let to = many.decoded.iter().map(|(_, key)| key.end).max().unwrap_or(0).max(from);
        let offset = self.keys.len();
        self.keys.extend_from_slice(&many.buffer[from..to]);
        let moved = |key: &Range<usize>| key.start - from + offset..key.end - from + offset;
        self.events.extend(many.decoded.iter().map(|(event, key)| (*event, moved(key))));
    }

    /// The event at `index`.
    #[inline]
    pub fn get(&self, index: usize) -> Event<'_> {
        let (event, key) = &self.events[index];
        Event { key: &self.keys[key.clone()], ..*event }
    }

    /// The events, as a reader hands out a batch of many.
    pub fn as_batch(&self) -> crate::Batch<'_> {
        crate::Batch::Many(Batch::new(&self.keys, &self.events))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TraceHeader;
    use crate::compact::{CompactReader, CompactWriter};
    use cachescope_core::{Command, Outcome, TtlChange};

    #[test]
    fn a_batch_copied_whole_gives_back_its_events_with_their_keys() {
        let events = [
            Event::read(1, b"user:1", Outcome::Miss),
            Event::write(2, b"session:abc", TtlChange::ExpireIn(1000)).with_value_size(10),
            Event::keyless(3, Command::Marker),
            Event::read(4, b"", Outcome::Miss),
        ];
        let mut writer = CompactWriter::new(Vec::new(), &TraceHeader::default()).unwrap();
        events.iter().for_each(|event| writer.write(event).unwrap());
        let bytes = writer.finish().unwrap();
        let mut reader = CompactReader::new(std::io::Cursor::new(bytes), std::path::Path::new("t.cst")).unwrap();
        let batch = crate::Batch::Many(reader.next_batch().unwrap());
        let mut owned = OwnedBatch::default();
        // One event pushed first, then the batch twice: each copy's keys land after the last.
        owned.push(&Event::read(0, b"first", Outcome::Hit));
        owned.extend(&batch);
        owned.extend(&batch);
        owned.extend(&crate::Batch::One(Some(Event::read(5, b"last", Outcome::Hit))));
        owned.extend(&crate::Batch::One(None));
        let mut expected = vec![Event::read(0, b"first", Outcome::Hit)];
        expected.extend(events.iter().chain(&events).copied());
        expected.push(Event::read(5, b"last", Outcome::Hit));
        let back: Vec<Event<'_>> = (0..owned.len()).map(|i| owned.get(i)).collect();
        assert_eq!(back, expected);
        let again: Vec<Event<'_>> = owned.as_batch().iter().collect();
        assert_eq!(again, expected);
    }
}
