//! How a client set its connection up: the commands it opened with that do the same again when repeated (`HELLO 3`,
//! `AUTH`, `SELECT 2`, `CLIENT SETNAME`, `CLIENT SETINFO`: see `cachescope_resp::commands::sets_up_connection`),
//! byte for byte as it sent them.
//!
//! Clients that opened alike share an upstream connection that ran those commands first ([`super::shared`]); a
//! client that later needs a connection of its own gets one set up the same way before its commands go on
//! ([`super::relay`]). The proxy runs the commands itself on a new connection and keeps their replies; any
//! error among them (a wrong password, a database that does not exist) and the connection is not used.

use cachescope_resp::{Reply, ReplyScanner, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::sources::upstream::Connected;

/// The commands a client set its connection up with, in order (none: a connection as it comes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Opening {
    bytes: Vec<u8>,
    commands: usize,
}

impl Opening {
    pub fn is_empty(&self) -> bool {
        self.commands == 0
    }

    /// Its bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// This opening followed by `commands` more commands, whose bytes are `bytes`.
    pub fn then(&self, bytes: &[u8], commands: usize) -> Opening {
        Opening { bytes: [self.bytes.as_slice(), bytes].concat(), commands: self.commands + commands }
    }

    /// Runs the opening on a connection no one uses yet, and reads its replies: an error if any reply is one
    /// (its text, which names no argument). Like a client of Redis directly, it waits as long as Redis takes.
    pub async fn replay(&self, connected: &mut Connected) -> Result<(), String> {
        if self.is_empty() {
            return Ok(());
        }
        match connected {
            Connected::Plain(stream) => self.replay_on(stream).await,
            Connected::Tls(stream) => self.replay_on(stream.as_mut()).await,
        }
    }

    async fn replay_on<S: AsyncRead + AsyncWrite + Unpin>(&self, stream: &mut S) -> Result<(), String> {
        stream.write_all(&self.bytes).await.map_err(|error| error.to_string())?;
        let mut scanner = ReplyScanner::default();
        let (mut buffer, mut replies) = (vec![0u8; 4096], Vec::<Reply>::new());
        let mut answered = 0;
        while answered < self.commands {
            let read = stream.read(&mut buffer).await.map_err(|error| error.to_string())?;
            if read == 0 {
                return Err("the upstream closed the connection".into());
            }
            replies.clear();
            scanner.feed(&buffer[..read], &mut replies).map_err(|error| error.to_string())?;
            for reply in replies.iter().filter(|reply| !reply.push) {
                if let Value::Error(text) = &reply.value {
                    return Err(String::from_utf8_lossy(text).into_owned());
                }
                answered += 1;
            }
        }
        if answered > self.commands {
            return Err("the upstream sent more replies than the commands asked for".into());
        }
        Ok(())
    }
}
