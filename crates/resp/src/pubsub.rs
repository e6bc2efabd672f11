//! What a subscribed connection receives, decoded in place: a subscriber reads thousands of messages a second
//! and each is a small array of bulk strings, so this decoder borrows the channel and the payload from the read
//! buffer instead of building owned values (as [`crate::frame::Frame::parse`] does, which stays the reference
//! it is tested against).
//!
//! RESP2 arrays (`*`) and RESP3 pushes (`>`) are read alike. A message is `message CHANNEL PAYLOAD` or
//! `pmessage PATTERN CHANNEL PAYLOAD`; a (un)subscription is `psubscribe PATTERN COUNT` and the like; anything
//! else (a reply to `PING`, an error) is [`PubSub::Other`].

use crate::ProtocolError;

/// Elements of a pub/sub array at most: more is not something a subscriber is sent.
const MAX_ELEMENTS: usize = 8;
/// A bulk string longer than Redis allows (512 MB) is not RESP.
const MAX_BULK: i64 = 512 << 20;
/// A header line (a length, a count, an error's text) longer than this is not RESP.
const MAX_LINE: usize = 64 << 10;

/// One whole value received on a subscribed connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PubSub<'a> {
    /// `message` (pattern None) or `pmessage` (with the pattern that matched).
    Message { pattern: Option<&'a [u8]>, channel: &'a [u8], payload: &'a [u8] },
    /// `subscribe`, `psubscribe`, `unsubscribe`, `punsubscribe`, `ssubscribe`...: what, which channel or
    /// pattern, and how many the connection is subscribed to now.
    Subscription { kind: &'a [u8], channel: &'a [u8], count: i64 },
    /// Anything else: `pong`, a simple string, an error reply.
    Other(Other<'a>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Other<'a> {
    /// `+PONG`, `+OK`.
    Simple(&'a [u8]),
    /// `-ERR ...`: the text.
    Error(&'a [u8]),
    /// An array of another shape (`pong ""`): its first element, if a string.
    Array { first: Option<&'a [u8]>, len: usize },
}

/// One element of a pub/sub array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Element<'a> {
    Bulk(&'a [u8]),
    Integer(i64),
    Null,
}

/// Decodes one value from the start of `bytes`: the value and the bytes it took, or None when `bytes` holds only
/// part of it (read more and call again with the same start).
pub fn parse(bytes: &[u8]) -> Result<Option<(PubSub<'_>, usize)>, ProtocolError> {
    let mut cursor = Cursor { bytes, at: 0 };
    let Some((kind, body)) = cursor.line()? else { return Ok(None) };
    let value = match kind {
        b'+' => PubSub::Other(Other::Simple(body)),
        b'-' => PubSub::Other(Other::Error(body)),
        b'*' | b'>' => {
            let count = crate::number::parse(body)?;
            if !(0..=MAX_ELEMENTS as i64).contains(&count) {
                return Err(ProtocolError::BadNumber);
            }
            let mut elements = [Element::Null; MAX_ELEMENTS];
            for slot in elements.iter_mut().take(count as usize) {
                match cursor.element()? {
                    Some(element) => *slot = element,
                    None => return Ok(None),
                }
            }
            classify(&elements[..count as usize])
        }
        other => return Err(ProtocolError::UnknownType(other)),
    };
    Ok(Some((value, cursor.at)))
}

fn classify<'a>(elements: &[Element<'a>]) -> PubSub<'a> {
    use Element::{Bulk, Integer};
    match *elements {
        [Bulk(b"message"), Bulk(channel), Bulk(payload)] => PubSub::Message { pattern: None, channel, payload },
        [Bulk(b"pmessage"), Bulk(pattern), Bulk(channel), Bulk(payload)] => {
            PubSub::Message { pattern: Some(pattern), channel, payload }
        }
        [Bulk(kind), Bulk(channel), Integer(count)] if kind.ends_with(b"subscribe") => {
            PubSub::Subscription { kind, channel, count }
        }
        _ => {
            let first = match elements.first() {
                Some(Bulk(text)) => Some(*text),
                _ => None,
            };
            PubSub::Other(Other::Array { first, len: elements.len() })
        }
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// The next header line: its type byte and its body (without CRLF), or None when it is not all here.
    fn line(&mut self) -> Result<Option<(u8, &'a [u8])>, ProtocolError> {
        let rest = &self.bytes[self.at..];
        let Some(end) = memchr::memchr(b'\n', rest) else {
            return if rest.len() > MAX_LINE { Err(ProtocolError::LineTooLong) } else { Ok(None) };
        };
        let body = rest[..end].strip_suffix(b"\r").ok_or(ProtocolError::MissingCrlf)?;
        let (&kind, body) = body.split_first().ok_or(ProtocolError::EmptyLine)?;
        self.at += end + 1;
        Ok(Some((kind, body)))
    }

    fn element(&mut self) -> Result<Option<Element<'a>>, ProtocolError> {
        let Some((kind, body)) = self.line()? else { return Ok(None) };
        match kind {
            b':' => Ok(Some(Element::Integer(crate::number::parse(body)?))),
            b'_' => Ok(Some(Element::Null)),
            b'$' => {
                let length = crate::number::parse(body)?;
                if length == -1 {
                    return Ok(Some(Element::Null));
                }
                if !(0..=MAX_BULK).contains(&length) {
                    return Err(ProtocolError::BadNumber);
                }
                let length = length as usize;
                let rest = &self.bytes[self.at..];
                if rest.len() < length + 2 {
                    return Ok(None);
                }
                if &rest[length..length + 2] != b"\r\n" {
                    return Err(ProtocolError::MissingCrlf);
                }
                self.at += length + 2;
                Ok(Some(Element::Bulk(&rest[..length])))
            }
            _ => Err(ProtocolError::ExpectedBulk),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;
    use proptest::prelude::*;

    fn check(wire: &[u8], expected: PubSub<'_>) {
        assert_eq!(parse(wire), Ok(Some((expected, wire.len()))), "{}", String::from_utf8_lossy(wire));
        for cut in 0..wire.len() {
            assert_eq!(parse(&wire[..cut]), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn messages_subscriptions_and_the_rest() {
        check(
            b"*4\r\n$8\r\npmessage\r\n$16\r\n__keyevent@*__:*\r\n$18\r\n__keyevent@0__:set\r\n$6\r\nuser:1\r\n",
            PubSub::Message { pattern: Some(b"__keyevent@*__:*"), channel: b"__keyevent@0__:set", payload: b"user:1" },
        );
        check(
            b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$0\r\n\r\n",
            PubSub::Message { pattern: None, channel: b"ch", payload: b"" },
        );
        check(
            b"*3\r\n$10\r\npsubscribe\r\n$16\r\n__keyevent@*__:*\r\n:1\r\n",
            PubSub::Subscription { kind: b"psubscribe", channel: b"__keyevent@*__:*", count: 1 },
        );
        check(b"*2\r\n$4\r\npong\r\n$0\r\n\r\n", PubSub::Other(Other::Array { first: Some(b"pong"), len: 2 }));
        check(b"+PONG\r\n", PubSub::Other(Other::Simple(b"PONG")));
        check(b"-NOPERM no\r\n", PubSub::Other(Other::Error(b"NOPERM no")));
        // A key with CRLF and binary bytes inside is a bulk string like any other.
        check(
            b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$4\r\n\r\n\x00\xff\r\n",
            PubSub::Message { pattern: None, channel: b"c", payload: b"\r\n\x00\xff" },
        );
    }

    #[test]
    fn what_is_not_resp_is_an_error() {
        for wire in [
            &b"?3\r\n"[..],
            b"*3\n",
            b"*x\r\n",
            b"*99\r\n",
            b"*1\r\n+OK\r\n",
            b"*1\r\n$3\r\nabcd\r\n",
            b"*1\r\n$-5\r\n",
            b"\r\n",
        ] {
            assert!(parse(wire).is_err(), "{}", String::from_utf8_lossy(wire));
        }
        assert_eq!(parse(&vec![b'-'; MAX_LINE + 1]), Err(ProtocolError::LineTooLong));
        assert_eq!(parse(&vec![b'-'; MAX_LINE]), Ok(None), "a long error, not all here yet");
    }

    fn bulk() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 0..40)
    }

    proptest! {
        /// Any message, whole or in two pieces, decodes to what was encoded, in as many bytes, and what
        /// follows it is left alone.
        #[test]
        fn decodes_what_frame_encodes(
            pattern in prop::option::of(bulk()),
            channel in bulk(),
            payload in bulk(),
            push in any::<bool>(),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut items: Vec<Frame> = match &pattern {
                Some(p) => vec![Frame::Bulk(b"pmessage".to_vec()), Frame::Bulk(p.clone())],
                None => vec![Frame::Bulk(b"message".to_vec())],
            };
            items.push(Frame::Bulk(channel.clone()));
            items.push(Frame::Bulk(payload.clone()));
            let frame = if push { Frame::Push(items) } else { Frame::Array(items) };
            let mut wire = frame.to_bytes();
            let length = wire.len();
            let cut = cut.index(length);
            prop_assert_eq!(parse(&wire[..cut]), Ok(None));
            wire.extend_from_slice(b"+NEXT\r\n");
            let expected = PubSub::Message { pattern: pattern.as_deref(), channel: &channel, payload: &payload };
            prop_assert_eq!(parse(&wire), Ok(Some((expected, length))));
        }

        /// Whatever the bytes, the decoder answers without panicking, and never claims more bytes than it has.
        #[test]
        fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(Some((_, used))) = parse(&bytes) {
                prop_assert!(used <= bytes.len());
            }
        }

        /// Bytes that look like RESP (a valid header, then noise) do not panic either.
        #[test]
        fn never_panics_on_near_resp(count in 0u8..10, rest in prop::collection::vec(
            prop::sample::select(vec![b'$', b':', b'*', b'\r', b'\n', b'1', b'3', b'-', b'a']), 0..80)
        ) {
            let mut bytes = format!("*{count}\r\n").into_bytes();
            bytes.extend(rest);
            if let Ok(Some((_, used))) = parse(&bytes) {
                prop_assert!(used <= bytes.len());
            }
        }
    }
}
