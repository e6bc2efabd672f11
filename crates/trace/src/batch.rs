//! Events decoded many at a time: the readers of fixed or length-prefixed records (the compact format,
//! oracleGeneral) hand out a batch of events whose keys lie in one buffer, so that a consumer pays one call per
//! batch rather than one per event.

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
