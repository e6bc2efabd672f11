//! A streaming scanner of replies: fed the bytes a server sends, in chunks of any size, it says where each reply
//! ends and what it was, as far as cache analysis cares (nil or not, error kind, sizes, the shape of an array's
//! elements). Bulk payloads are skipped, never buffered, so a 100 MB value costs nothing but counting.
//!
//! RESP2 and RESP3 are both read: null, boolean, double, big number, bulk error, verbatim string, map, set,
//! attribute (which does not count as a reply) and push (out of band).

use crate::ProtocolError;

/// Bytes kept of a simple string, an error or a number: enough for `QUEUED`, an error's kind, a count. Longer
/// texts are allowed; only their first bytes are kept.
pub const KEPT_TEXT: usize = 120;
/// The longest header line kept: a type byte, the kept text, CRLF and some slack.
const KEPT_LINE: usize = KEPT_TEXT + 8;
/// A header line longer than this is not RESP.
const MAX_LINE: usize = 64 << 20;
/// Elements of a top-level aggregate kept, at most.
pub const MAX_ELEMENTS: usize = 1 << 16;

/// What a reply, or an element of one, was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `+OK`, `+QUEUED`: the first bytes of the text.
    Simple(Vec<u8>),
    /// `-ERR ...`, or a RESP3 bulk error: the first bytes of the text.
    Error(Vec<u8>),
    Integer(i64),
    /// A bulk or verbatim string of this many bytes.
    Bulk(usize),
    /// RESP2's `$-1` and `*-1`, RESP3's `_`.
    Null,
    Boolean(bool),
    /// A double or big number: the text.
    Number(Vec<u8>),
    /// An array, set or push of this many elements; a map of this many pairs counts its keys and values.
    Aggregate(usize),
}

impl Value {
    /// Whether it is nil, or an empty string or aggregate: what a read of a missing key gets.
    pub fn is_empty(&self) -> bool {
        matches!(self, Value::Null | Value::Bulk(0) | Value::Aggregate(0))
    }
}

/// One whole reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub value: Value,
    /// The values of a top-level aggregate's elements, in order (nested aggregates are summarised, not opened).
    pub elements: Vec<Value>,
    /// A RESP3 push (`>`): sent without a request, such as a pub/sub message.
    pub push: bool,
    /// Bytes on the wire.
    pub bytes: u64,
}

#[derive(Debug)]
enum State {
    /// Reading a header line.
    Line,
    /// Skipping a bulk payload and its CRLF.
    Payload { remaining: usize },
}

#[derive(Debug)]
struct Open {
    /// Children still to come.
    remaining: usize,
    /// An attribute's map: when it closes, the reply it annotates is still to come.
    attribute: bool,
}

#[derive(Debug)]
pub struct ReplyScanner {
    state: State,
    line: Vec<u8>,
    /// Bytes of the current header line not kept in `line`.
    line_overflow: usize,
    stack: Vec<Open>,
    /// The reply being read: its top-level value once known, its elements so far.
    top: Option<Value>,
    elements: Vec<Value>,
    push: bool,
    bytes: u64,
    /// The value of the bulk being skipped, to record when it ends.
    skipping: Option<Value>,
    /// Set after a protocol error: the stream cannot be followed any more.
    broken: bool,
}

impl Default for ReplyScanner {
    fn default() -> Self {
        ReplyScanner {
            state: State::Line,
            line: Vec::new(),
            line_overflow: 0,
            stack: Vec::new(),
            top: None,
            elements: Vec::new(),
            push: false,
            bytes: 0,
            skipping: None,
            broken: false,
        }
    }
}

impl ReplyScanner {
    /// Whether the scanner sits between two replies (nothing of a reply read yet).
    pub fn at_boundary(&self) -> bool {
        !self.broken
            && matches!(self.state, State::Line)
            && self.line.is_empty()
            && self.line_overflow == 0
            && self.stack.is_empty()
            && self.top.is_none()
    }

    /// Reads `bytes`, appending every reply they complete to `out`. After an error the scanner stays broken.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<Reply>) -> Result<(), ProtocolError> {
        if self.broken {
            return Err(ProtocolError::Broken);
        }
        while !bytes.is_empty() {
            match self.state {
                State::Payload { remaining } => {
                    let taken = remaining.min(bytes.len());
                    bytes = &bytes[taken..];
                    self.bytes += taken as u64;
                    if taken == remaining {
                        self.state = State::Line;
                        let value = self.skipping.take().expect("a payload belongs to a value");
                        self.complete(value, out);
                    } else {
                        self.state = State::Payload { remaining: remaining - taken };
                    }
                }
                State::Line => {
                    let (part, rest, ended) = match memchr::memchr(b'\n', bytes) {
                        Some(at) => (&bytes[..=at], &bytes[at + 1..], true),
                        None => (bytes, &bytes[bytes.len()..], false),
                    };
                    self.bytes += part.len() as u64;
                    bytes = rest;
                    if ended && self.line.is_empty() && self.line_overflow == 0 && part.len() <= KEPT_LINE {
                        // The whole line in this chunk (the usual case): read where it lies.
                        self.header(part, true, out)?;
                        continue;
                    }
                    let keep = part.len().min(KEPT_LINE.saturating_sub(self.line.len()));
                    self.line.extend_from_slice(&part[..keep]);
                    self.line_overflow += part.len() - keep;
                    if self.line.len() + self.line_overflow > MAX_LINE {
                        return Err(self.fail(ProtocolError::LineTooLong));
                    }
                    if ended {
                        let line = std::mem::take(&mut self.line);
                        let result = self.header(&line, self.line_overflow == 0, out);
                        self.line = line;
                        self.line.clear();
                        self.line_overflow = 0;
                        result?;
                    }
                }
            }
        }
        Ok(())
    }

    fn fail(&mut self, error: ProtocolError) -> ProtocolError {
        self.broken = true;
        error
    }

    /// Interprets a header line: with its CRLF when `whole`, otherwise cut at KEPT_LINE.
    fn header(&mut self, line: &[u8], whole: bool, out: &mut Vec<Reply>) -> Result<(), ProtocolError> {
        let body = if whole {
            line.strip_suffix(b"\r\n").ok_or(ProtocolError::MissingCrlf)
        } else {
            Ok(&line[..line.len().min(KEPT_LINE)])
        };
        let body = match body {
            Ok(body) => body,
            Err(error) => return Err(self.fail(error)),
        };
        let Some((&kind, payload)) = body.split_first() else {
            return Err(self.fail(ProtocolError::EmptyLine));
        };
        let text = || payload[..payload.len().min(KEPT_TEXT)].to_vec();
        let number = || -> Result<i64, ProtocolError> {
            if !whole {
                return Err(ProtocolError::BadNumber);
            }
            crate::number::parse(payload)
        };
        let value = match kind {
            b'+' => Value::Simple(text()),
            b'-' => Value::Error(text()),
            b':' => match number() {
                Ok(n) => Value::Integer(n),
                Err(error) => return Err(self.fail(error)),
            },
            b'_' => Value::Null,
            b'#' => Value::Boolean(payload == b"t"),
            b',' | b'(' => Value::Number(text()),
            b'$' | b'=' | b'!' => {
                let length = match number() {
                    Ok(n) => n,
                    Err(error) => return Err(self.fail(error)),
                };
                if length < 0 {
                    Value::Null
                } else {
                    let length = length as usize;
                    let value = if kind == b'!' { Value::Error(Vec::new()) } else { Value::Bulk(length) };
                    self.skipping = Some(value);
                    self.state = State::Payload { remaining: length + 2 };
                    return Ok(());
                }
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let count = match number() {
                    Ok(n) => n,
                    Err(error) => return Err(self.fail(error)),
                };
                if count < 0 {
                    Value::Null
                } else {
                    let children = if matches!(kind, b'%' | b'|') { count as usize * 2 } else { count as usize };
                    if self.stack.is_empty() && self.top.is_none() {
                        self.push = kind == b'>';
                    }
                    let value = Value::Aggregate(children);
                    if children == 0 {
                        if kind == b'|' {
                            return Ok(());
                        }
                        value
                    } else {
                        self.open(value, kind == b'|');
                        return Ok(());
                    }
                }
            }
            _ => return Err(self.fail(ProtocolError::UnknownType(kind))),
        };
        self.complete(value, out);
        Ok(())
    }

    fn open(&mut self, value: Value, attribute: bool) {
        let children = match value {
            Value::Aggregate(n) => n,
            _ => 0,
        };
        if !attribute {
            self.record(value);
        }
        self.stack.push(Open { remaining: children, attribute });
    }

    /// Notes a value that begins at the current depth: the reply's own, or one of its elements.
    fn record(&mut self, value: Value) {
        let in_attribute = self.stack.iter().any(|o| o.attribute);
        if in_attribute {
            return;
        }
        match self.stack.len() {
            0 => self.top = Some(value),
            // Bounded: a KEYS of millions of keys keeps the first elements only (MGET of more keys loses the rest).
            1 if self.elements.len() < MAX_ELEMENTS => self.elements.push(value),
            _ => {}
        }
    }

    /// A value ended: count it against its parent, closing parents that are done.
    fn complete(&mut self, value: Value, out: &mut Vec<Reply>) {
        self.record(value);
        loop {
            let Some(open) = self.stack.last_mut() else {
                self.emit(out);
                return;
            };
            open.remaining -= 1;
            if open.remaining > 0 {
                return;
            }
            let closed = self.stack.pop().expect("just looked");
            if closed.attribute {
                // The attributed reply itself comes next.
                return;
            }
        }
    }

    fn emit(&mut self, out: &mut Vec<Reply>) {
        if let Some(value) = self.top.take() {
            out.push(Reply {
                value,
                elements: std::mem::take(&mut self.elements),
                push: std::mem::take(&mut self.push),
                bytes: std::mem::take(&mut self.bytes),
            });
        }
    }
}
