//! Whole RESP values: an encoder and a decoder that hold everything in memory. The proxy's data path never uses
//! them (it scans); its watcher connection does, for small replies. They are also the reference the scanners are
//! tested against, and a convenient way to write replies in tests.

use crate::ProtocolError;

#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Integer(i64),
    Bulk(Vec<u8>),
    /// `$-1`
    NullBulk,
    Array(Vec<Frame>),
    /// `*-1`
    NullArray,
    /// RESP3 `_`
    Null,
    Boolean(bool),
    Double(Vec<u8>),
    BigNumber(Vec<u8>),
    BulkError(Vec<u8>),
    /// RESP3 `=`: the format and the text, as one payload (`txt:hello`).
    Verbatim(Vec<u8>),
    Map(Vec<(Frame, Frame)>),
    Set(Vec<Frame>),
    /// RESP3 `|`: attributes, then the value they annotate.
    Attribute(Vec<(Frame, Frame)>, Box<Frame>),
    Push(Vec<Frame>),
}

impl Frame {
    /// A command as clients send it: an array of bulk strings.
    pub fn command(args: &[&[u8]]) -> Frame {
        Frame::Array(args.iter().map(|a| Frame::Bulk(a.to_vec())).collect())
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        fn line(out: &mut Vec<u8>, kind: u8, body: &[u8]) {
            out.push(kind);
            out.extend_from_slice(body);
            out.extend_from_slice(b"\r\n");
        }
        fn bulk(out: &mut Vec<u8>, kind: u8, body: &[u8]) {
            line(out, kind, body.len().to_string().as_bytes());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\r\n");
        }
        match self {
            Frame::Simple(s) => line(out, b'+', s),
            Frame::Error(s) => line(out, b'-', s),
            Frame::Integer(n) => line(out, b':', n.to_string().as_bytes()),
            Frame::Bulk(b) => bulk(out, b'$', b),
            Frame::NullBulk => line(out, b'$', b"-1"),
            Frame::NullArray => line(out, b'*', b"-1"),
            Frame::Null => line(out, b'_', b""),
            Frame::Boolean(b) => line(out, b'#', if *b { b"t" } else { b"f" }),
            Frame::Double(d) => line(out, b',', d),
            Frame::BigNumber(n) => line(out, b'(', n),
            Frame::BulkError(e) => bulk(out, b'!', e),
            Frame::Verbatim(v) => bulk(out, b'=', v),
            Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
                let kind = match self {
                    Frame::Array(_) => b'*',
                    Frame::Set(_) => b'~',
                    _ => b'>',
                };
                line(out, kind, items.len().to_string().as_bytes());
                for item in items {
                    item.encode(out);
                }
            }
            Frame::Map(pairs) => {
                line(out, b'%', pairs.len().to_string().as_bytes());
                for (key, value) in pairs {
                    key.encode(out);
                    value.encode(out);
                }
            }
            Frame::Attribute(pairs, value) => {
                line(out, b'|', pairs.len().to_string().as_bytes());
                for (key, value) in pairs {
                    key.encode(out);
                    value.encode(out);
                }
                value.encode(out);
            }
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Decodes one frame from the start of `bytes`: the frame and its length, or None when it is incomplete.
    pub fn parse(bytes: &[u8]) -> Result<Option<(Frame, usize)>, ProtocolError> {
        let mut at = 0;
        match parse_at(bytes, &mut at, 0)? {
            Some(frame) => Ok(Some((frame, at))),
            None => Ok(None),
        }
    }
}

const MAX_DEPTH: usize = 64;

fn parse_at(bytes: &[u8], at: &mut usize, depth: usize) -> Result<Option<Frame>, ProtocolError> {
    if depth > MAX_DEPTH {
        return Err(ProtocolError::LineTooLong);
    }
    let Some(end) = memchr::memchr(b'\n', &bytes[*at..]) else { return Ok(None) };
    let line = &bytes[*at..*at + end + 1];
    let body = line.strip_suffix(b"\r\n").ok_or(ProtocolError::MissingCrlf)?;
    let (&kind, payload) = body.split_first().ok_or(ProtocolError::EmptyLine)?;
    *at += end + 1;
    let number = || -> Result<i64, ProtocolError> { crate::number::parse(payload) };
    let bulk = |at: &mut usize| -> Result<Option<Option<Vec<u8>>>, ProtocolError> {
        let length = number()?;
        if length < 0 {
            return Ok(Some(None));
        }
        let length = length as usize;
        if bytes.len() < *at + length + 2 {
            return Ok(None);
        }
        let data = bytes[*at..*at + length].to_vec();
        if &bytes[*at + length..*at + length + 2] != b"\r\n" {
            return Err(ProtocolError::MissingCrlf);
        }
        *at += length + 2;
        Ok(Some(Some(data)))
    };
    let frame = match kind {
        b'+' => Frame::Simple(payload.to_vec()),
        b'-' => Frame::Error(payload.to_vec()),
        b':' => Frame::Integer(number()?),
        b'_' => Frame::Null,
        b'#' => Frame::Boolean(payload == b"t"),
        b',' => Frame::Double(payload.to_vec()),
        b'(' => Frame::BigNumber(payload.to_vec()),
        b'$' | b'!' | b'=' => match bulk(at)? {
            None => return Ok(None),
            Some(None) if kind == b'$' => Frame::NullBulk,
            Some(None) => return Err(ProtocolError::BadNumber),
            Some(Some(data)) => match kind {
                b'$' => Frame::Bulk(data),
                b'!' => Frame::BulkError(data),
                _ => Frame::Verbatim(data),
            },
        },
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let count = number()?;
            if count < 0 {
                if kind == b'*' {
                    return Ok(Some(Frame::NullArray));
                }
                return Err(ProtocolError::BadNumber);
            }
            let children = if matches!(kind, b'%' | b'|') { count as usize * 2 } else { count as usize };
            let mut items = Vec::with_capacity(children.min(1024));
            for _ in 0..children {
                match parse_at(bytes, at, depth + 1)? {
                    Some(item) => items.push(item),
                    None => return Ok(None),
                }
            }
            let pairs = |items: Vec<Frame>| {
                let mut pairs = Vec::with_capacity(items.len() / 2);
                let mut items = items.into_iter();
                while let (Some(k), Some(v)) = (items.next(), items.next()) {
                    pairs.push((k, v));
                }
                pairs
            };
            match kind {
                b'*' => Frame::Array(items),
                b'~' => Frame::Set(items),
                b'>' => Frame::Push(items),
                b'%' => Frame::Map(pairs(items)),
                _ => match parse_at(bytes, at, depth + 1)? {
                    Some(value) => Frame::Attribute(pairs(items), Box::new(value)),
                    None => return Ok(None),
                },
            }
        }
        other => return Err(ProtocolError::UnknownType(other)),
    };
    Ok(Some(frame))
}
