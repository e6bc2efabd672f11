//! One command and its whole reply, for the side connections of live sources: small replies only (`INFO`,
//! `AUTH`, `CONFIG GET`), decoded whole.

use std::time::Duration;

use cachescope_resp::frame::Frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Stream, Upstream};
use crate::redis_url::RedisUrl;

/// How long one call to the upstream may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Sends one command and reads its whole reply, within [`CALL_TIMEOUT`].
pub async fn call(stream: &mut Box<dyn Stream>, args: &[&[u8]]) -> std::io::Result<Frame> {
    let exchange = async {
        stream.write_all(&Frame::command(args).to_bytes()).await?;
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Ok(Some((frame, _))) = Frame::parse(&buffer) {
                return Ok(frame);
            }
            let read = stream.read(&mut chunk).await?;
            if read == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            buffer.extend_from_slice(&chunk[..read]);
        }
    };
    tokio::time::timeout(CALL_TIMEOUT, exchange)
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

/// Connects and, when the URL carries credentials, authenticates.
pub async fn connect_authenticated(upstream: &Upstream, url: &RedisUrl) -> std::io::Result<Box<dyn Stream>> {
    let mut stream = upstream.connect().await.map_err(std::io::Error::other)?.boxed();
    if let Some(password) = &url.password {
        let reply = match &url.username {
            Some(user) => call(&mut stream, &[b"AUTH", user.as_bytes(), password.as_bytes()]).await?,
            None => call(&mut stream, &[b"AUTH", password.as_bytes()]).await?,
        };
        if let Frame::Error(text) = reply {
            return Err(std::io::Error::other(String::from_utf8_lossy(&text).into_owned()));
        }
    }
    Ok(stream)
}
