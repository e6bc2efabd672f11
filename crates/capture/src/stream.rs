//! One direction of a TCP connection put back in order. Segments arrive reordered, duplicated (retransmissions)
//! or not at all (a packet the kernel or the capture dropped). In-order bytes go on at once; segments ahead of a
//! hole wait, bounded in bytes and in time; when the hole does not fill, its bytes are given up as a gap and
//! what waited goes on. Sequence numbers wrap at 2^32: positions are kept as 64-bit offsets from the start.

use std::collections::BTreeMap;

use cachescope_core::Micros;

/// Bytes held ahead of a hole, at most, per direction.
pub(crate) const MAX_HELD: usize = 1 << 20;
/// How long (capture time) a hole may wait for its bytes: a retransmission comes within a few round trips.
pub(crate) const HOLE_WAIT: Micros = 2_000_000;

/// What comes out of a stream, in order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Chunk<'a> {
    /// Bytes, and the sequence number of the first.
    Data { seq: u32, bytes: &'a [u8] },
    /// Bytes that never came.
    Gap { bytes: u64 },
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StreamStats {
    /// Segments that came ahead of a hole.
    pub out_of_order: u64,
    /// Segments whose bytes had all come already.
    pub retransmitted: u64,
    /// Holes given up, and their bytes.
    pub gaps: u64,
    pub gap_bytes: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Stream {
    /// The sequence number of the next byte expected; None before the first segment.
    next: Option<u32>,
    /// Offset of the next byte from the first one seen.
    position: u64,
    /// Segments ahead of the hole, by offset.
    held: BTreeMap<u64, Vec<u8>>,
    held_bytes: usize,
    /// When the current hole opened.
    hole_since: Option<Micros>,
    /// The sequence number of the FIN, once sent.
    fin_at: Option<u32>,
    pub stats: StreamStats,
}

impl Stream {
    /// Takes one segment; what it puts in order goes to `out`. A FIN takes one sequence number after the
    /// payload: the stream ends there, and the peer's acknowledgement of it is no loss.
    pub fn push(
        &mut self,
        time: Micros,
        seq: u32,
        (syn, fin): (bool, bool),
        payload: &[u8],
        out: &mut dyn FnMut(Chunk<'_>),
    ) {
        if fin {
            self.fin_at = Some(seq.wrapping_add(u32::from(syn)).wrapping_add(payload.len() as u32));
        }
        let seq = if syn {
            // The SYN takes one sequence number; data after it (TCP Fast Open) starts past it.
            if self.next.is_none() {
                self.next = Some(seq.wrapping_add(1));
            }
            seq.wrapping_add(1)
        } else {
            seq
        };
        let next = *self.next.get_or_insert(seq);
        if payload.is_empty() {
            self.give_up_if_stale(time, out);
            return;
        }
        let offset = i64::from(seq.wrapping_sub(next) as i32);
        if offset < 0 {
            let seen = offset.unsigned_abs() as usize;
            if seen >= payload.len() {
                self.stats.retransmitted += 1;
                return;
            }
            self.emit(&payload[seen..], out);
            self.release(out);
        } else if offset == 0 {
            self.emit(payload, out);
            self.release(out);
        } else {
            self.stats.out_of_order += 1;
            let at = self.position + offset as u64;
            if !self.held.contains_key(&at) {
                self.held_bytes += payload.len();
                self.held.insert(at, payload.to_vec());
            }
            self.hole_since.get_or_insert(time);
        }
        self.give_up_if_stale(time, out);
    }

    /// The peer acknowledged every byte before `ack`: bytes of this stream before it that the capture has not
    /// seen were delivered, and will never be retransmitted where the capture can see them (the capture, not the
    /// network, dropped them). The hole they leave is given up at once.
    pub fn acked(&mut self, ack: u32, out: &mut dyn FnMut(Chunk<'_>)) {
        let Some(next) = self.next else { return };
        // The FIN's own sequence number, acknowledged, is not a byte.
        let ack = if self.fin_at.is_some_and(|fin| ack == fin.wrapping_add(1)) { ack.wrapping_sub(1) } else { ack };
        let beyond = ack.wrapping_sub(next) as i32;
        if beyond <= 0 {
            return;
        }
        let acked_to = self.position + beyond as u64;
        if self.held.first_key_value().is_some_and(|(&at, _)| at <= acked_to) {
            self.skip_hole(out);
        } else {
            // Nothing held: the lost bytes were the last sent so far.
            self.stats.gaps += 1;
            self.stats.gap_bytes += beyond as u64;
            out(Chunk::Gap { bytes: beyond as u64 });
            self.position = acked_to;
            self.next = Some(ack);
        }
    }

    /// Gives up every hole now (the connection ended, or the capture did).
    pub fn finish(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        while !self.held.is_empty() {
            self.skip_hole(out);
        }
    }

    fn emit(&mut self, bytes: &[u8], out: &mut dyn FnMut(Chunk<'_>)) {
        let next = self.next.expect("set before any data");
        out(Chunk::Data { seq: next, bytes });
        self.next = Some(next.wrapping_add(bytes.len() as u32));
        self.position += bytes.len() as u64;
    }

    /// Sends on what waited and is now in order.
    fn release(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        while let Some(entry) = self.held.first_entry() {
            let at = *entry.key();
            if at > self.position {
                return;
            }
            let bytes = entry.remove();
            self.held_bytes -= bytes.len();
            let seen = (self.position - at) as usize;
            if seen < bytes.len() {
                self.emit(&bytes[seen..], out);
            }
        }
        self.hole_since = None;
    }

    fn give_up_if_stale(&mut self, time: Micros, out: &mut dyn FnMut(Chunk<'_>)) {
        while self.held_bytes > MAX_HELD || self.hole_since.is_some_and(|since| time.saturating_sub(since) > HOLE_WAIT)
        {
            self.skip_hole(out);
            if self.held.is_empty() {
                return;
            }
            // What is still held waits on a new hole, from now.
            self.hole_since = Some(time);
        }
    }

    /// Gives up the bytes missing before the first segment held, and sends on what follows them.
    fn skip_hole(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        let Some((&at, _)) = self.held.first_key_value() else { return };
        let missing = at.saturating_sub(self.position);
        if missing > 0 {
            self.stats.gaps += 1;
            self.stats.gap_bytes += missing;
            out(Chunk::Gap { bytes: missing });
            self.position = at;
            self.next = self.next.map(|next| next.wrapping_add(missing as u32));
        }
        self.release(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What comes out of `segments` (seq, bytes) pushed at time 0, then finished: the bytes, with `?` for each
    /// gap.
    fn reassemble(first_seq: u32, segments: &[(u32, &[u8])]) -> (String, StreamStats) {
        let mut stream = Stream::default();
        let mut text = String::new();
        let mut out = |chunk: Chunk<'_>| match chunk {
            Chunk::Data { bytes, .. } => text.push_str(std::str::from_utf8(bytes).unwrap()),
            Chunk::Gap { bytes } => text.push_str(&format!("?{bytes}?")),
        };
        stream.push(0, first_seq, (true, false), b"", &mut out);
        for &(seq, bytes) in segments {
            stream.push(0, first_seq.wrapping_add(1).wrapping_add(seq), (false, false), bytes, &mut out);
        }
        stream.finish(&mut out);
        (text, stream.stats)
    }

    #[test]
    fn in_order_reordered_duplicated_overlapping_and_missing() {
        let check = |segments: &[(u32, &[u8])], expected: &str| {
            for first in [0u32, 1000, u32::MAX - 3] {
                assert_eq!(reassemble(first, segments).0, expected, "{segments:?} from {first}");
            }
        };
        check(&[(0, b"GET "), (4, b"a\r\n")], "GET a\r\n");
        check(&[(4, b"a\r\n"), (0, b"GET ")], "GET a\r\n");
        check(&[(0, b"GET "), (0, b"GET "), (4, b"a\r\n"), (4, b"a\r\n")], "GET a\r\n");
        check(&[(0, b"GET "), (2, b"T a\r\n")], "GET a\r\n");
        check(&[(0, b"GE"), (5, b"\r\n"), (2, b"T a")], "GET a\r\n");
        check(&[(0, b"GET "), (8, b"b")], "GET ?4?b");
        let (_, stats) = reassemble(7, &[(0, b"ab"), (4, b"ef"), (0, b"ab"), (2, b"cd")]);
        assert_eq!(stats, StreamStats { out_of_order: 1, retransmitted: 1, gaps: 0, gap_bytes: 0 });
    }

    #[test]
    fn a_hole_is_given_up_after_a_while_or_past_the_bound() {
        let mut stream = Stream::default();
        let mut gaps = Vec::new();
        let mut push = |time: Micros, seq: u32, bytes: &[u8]| {
            stream.push(time, seq, (false, false), bytes, &mut |chunk| {
                if let Chunk::Gap { bytes } = chunk {
                    gaps.push(bytes);
                }
            });
        };
        push(0, 100, b"ab");
        push(0, 110, b"x");
        push(HOLE_WAIT, 111, b"y");
        push(HOLE_WAIT + 1, 112, b"z");
        let big = vec![b'.'; MAX_HELD];
        push(HOLE_WAIT + 2, 200, &big);
        push(HOLE_WAIT + 2, 200 + MAX_HELD as u32 + 10, b"!");
        // The first hole waited its time (not given up at HOLE_WAIT, given up just after); the second went at
        // once when the bytes held behind it passed the bound.
        assert_eq!(gaps, vec![8, 87]);
    }

    proptest! {
        /// Cut into segments, shuffled, some duplicated: the same bytes come out, whatever the first sequence
        /// number (wrapping included).
        #[test]
        fn any_order_gives_the_same_bytes(
            data in prop::collection::vec(any::<u8>(), 1..400),
            cuts in prop::collection::vec(1usize..50, 1..20),
            order in any::<prop::sample::Index>(),
            first in any::<u32>(),
            duplicate in any::<prop::sample::Index>(),
        ) {
            let mut segments = Vec::new();
            let mut at = 0;
            for cut in cuts.iter().cycle() {
                if at >= data.len() { break; }
                let end = (at + cut).min(data.len());
                segments.push((at as u32, data[at..end].to_vec()));
                at = end;
            }
            let copy = segments[duplicate.index(segments.len())].clone();
            segments.push(copy);
            let rotate = order.index(segments.len());
            segments.rotate_left(rotate);
            let mut stream = Stream::default();
            let mut got = Vec::new();
            let mut gaps = 0;
            let mut out = |chunk: Chunk<'_>| match chunk {
                Chunk::Data { bytes, .. } => got.extend_from_slice(bytes),
                Chunk::Gap { .. } => gaps += 1,
            };
            stream.push(0, first, (true, false), b"", &mut out);
            for (seq, bytes) in &segments {
                stream.push(0, first.wrapping_add(1).wrapping_add(*seq), (false, false), bytes, &mut out);
            }
            stream.finish(&mut out);
            prop_assert_eq!(gaps, 0);
            prop_assert_eq!(got, data);
        }
    }
}
