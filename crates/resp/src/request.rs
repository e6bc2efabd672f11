//! A streaming scanner of requests: fed the bytes a client sends, in chunks of any size, it returns each command
//! with its arguments. Arguments up to [`KEPT_ARGUMENT`] bytes (command names, keys, options, most values) are
//! kept; longer ones are skipped, their size noted, so a 100 MB value is never held.
//!
//! Both forms Redis accepts are read: arrays of bulk strings (what clients send) and inline commands (`PING\r\n`,
//! what a person types in telnet), split at spaces.

use crate::ProtocolError;

/// Arguments longer than this are counted, not kept.
pub const KEPT_ARGUMENT: usize = 16 << 10;
/// An inline command or a header line longer than this is not RESP (Redis allows 64 KiB inline).
const MAX_LINE: usize = 1 << 20;

/// One argument of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Argument {
    /// The argument's bytes, or empty when it was longer than [`KEPT_ARGUMENT`].
    pub bytes: Vec<u8>,
    /// Its length on the wire.
    pub len: usize,
}

impl Argument {
    pub fn kept(&self) -> bool {
        self.bytes.len() == self.len
    }
}

/// One whole command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request {
    /// The command name and its arguments.
    pub args: Vec<Argument>,
    /// Bytes on the wire, counting those of any empty requests (`*0`, a blank line) just before it: the
    /// requests' sizes add up to the stream's.
    pub bytes: u64,
}

impl Request {
    /// The command's name in upper case, or empty.
    pub fn name(&self) -> Vec<u8> {
        self.args.first().map(|a| a.bytes.to_ascii_uppercase()).unwrap_or_default()
    }

    /// Argument `index` (0 is the name), if kept.
    pub fn arg(&self, index: usize) -> Option<&[u8]> {
        self.args.get(index).filter(|a| a.kept()).map(|a| &a.bytes[..])
    }
}

#[derive(Debug)]
enum State {
    /// Reading a line: an array header, a bulk header, or an inline command.
    Line,
    /// Reading (or skipping) a bulk argument's bytes and CRLF.
    Payload { remaining: usize, keep: bool },
}

#[derive(Debug)]
pub struct RequestScanner {
    state: State,
    line: Vec<u8>,
    /// Arguments still expected by the current array request; None between requests.
    expected: Option<usize>,
    current: Request,
    broken: bool,
}

impl Default for RequestScanner {
    fn default() -> Self {
        RequestScanner {
            state: State::Line,
            line: Vec::new(),
            expected: None,
            current: Request::default(),
            broken: false,
        }
    }
}

impl RequestScanner {
    /// Reads `bytes`, appending every request they complete to `out`. After an error the scanner stays broken.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<Request>) -> Result<(), ProtocolError> {
        if self.broken {
            return Err(ProtocolError::Broken);
        }
        while !bytes.is_empty() {
            match self.state {
                State::Payload { remaining, keep } => {
                    let taken = remaining.min(bytes.len());
                    if keep {
                        let argument = self.current.args.last_mut().expect("a payload belongs to an argument");
                        // The CRLF is not part of the argument.
                        let wanted = argument.len.saturating_sub(argument.bytes.len()).min(taken);
                        argument.bytes.extend_from_slice(&bytes[..wanted]);
                    }
                    self.current.bytes += taken as u64;
                    bytes = &bytes[taken..];
                    if taken == remaining {
                        self.state = State::Line;
                        self.argument_done(out);
                    } else {
                        self.state = State::Payload { remaining: remaining - taken, keep };
                    }
                }
                State::Line => {
                    let (part, rest, ended) = match memchr::memchr(b'\n', bytes) {
                        Some(at) => (&bytes[..=at], &bytes[at + 1..], true),
                        None => (bytes, &bytes[bytes.len()..], false),
                    };
                    self.current.bytes += part.len() as u64;
                    bytes = rest;
                    if self.line.len() + part.len() > MAX_LINE {
                        self.broken = true;
                        return Err(ProtocolError::LineTooLong);
                    }
                    let result = if !ended {
                        self.line.extend_from_slice(part);
                        Ok(())
                    } else if self.line.is_empty() {
                        // The whole line in this chunk (the usual case): read where it lies.
                        self.line_done(part, out)
                    } else {
                        self.line.extend_from_slice(part);
                        let line = std::mem::take(&mut self.line);
                        let result = self.line_done(&line, out);
                        self.line = line;
                        self.line.clear();
                        result
                    };
                    if let Err(error) = result {
                        self.broken = true;
                        return Err(error);
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads one line, its LF included.
    fn line_done(&mut self, line: &[u8], out: &mut Vec<Request>) -> Result<(), ProtocolError> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match self.expected {
            None if line.first() == Some(&b'*') => {
                let count = crate::number::parse(&line[1..])?;
                if count <= 0 {
                    // `*0` and `*-1` are empty requests: Redis ignores them. Their bytes count with the next
                    // request's, so that the requests' sizes add up to the stream's.
                    self.current.args.clear();
                    return Ok(());
                }
                self.expected = Some(count as usize);
                self.current.args.reserve(count.min(1024) as usize);
                Ok(())
            }
            None => {
                // An inline command: arguments split at spaces. An empty line is nothing (its bytes count with the
                // next request's).
                let args: Vec<Argument> = line
                    .split(|b| *b == b' ' || *b == b'\t')
                    .filter(|a| !a.is_empty())
                    .map(|a| Argument { bytes: a.to_vec(), len: a.len() })
                    .collect();
                if !args.is_empty() {
                    let bytes = std::mem::take(&mut self.current.bytes);
                    out.push(Request { args, bytes });
                }
                Ok(())
            }
            Some(_) => {
                if line.first() != Some(&b'$') {
                    return Err(ProtocolError::ExpectedBulk);
                }
                let length = crate::number::parse(&line[1..])?;
                if length < 0 {
                    return Err(ProtocolError::BadNumber);
                }
                let length = length as usize;
                let keep = length <= KEPT_ARGUMENT;
                self.current
                    .args
                    .push(Argument { bytes: Vec::with_capacity(if keep { length } else { 0 }), len: length });
                self.state = State::Payload { remaining: length + 2, keep };
                Ok(())
            }
        }
    }

    fn argument_done(&mut self, out: &mut Vec<Request>) {
        let expected = self.expected.as_mut().expect("an argument belongs to an array request");
        *expected -= 1;
        if *expected == 0 {
            self.expected = None;
            out.push(std::mem::take(&mut self.current));
        }
    }
}
