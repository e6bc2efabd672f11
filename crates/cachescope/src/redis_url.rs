//! `redis://[user:password@]host:port[/db]` and `rediss://` URLs, checked once with a message that says what is
//! wrong, so that a typo at 3 a.m. does not become a timeout.

use std::fmt;

use url::Url;

use crate::exit::{NoPermission, Unavailable};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisUrl {
    /// `rediss://`: TLS.
    pub tls: bool,
    /// `#insecure` at the end: any TLS certificate is accepted (self-signed servers).
    pub insecure: bool,
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: u32,
    /// The URL as given, for connecting with the redis crate.
    pub original: String,
}

pub const DEFAULT: &str = "redis://127.0.0.1:6379";

#[derive(Debug, thiserror::Error)]
#[error("`{url}` is not a Redis URL: {why} (expected redis://[user:password@]host:port[/db] or rediss:// for TLS)")]
pub struct BadUrl {
    url: String,
    why: String,
}

impl RedisUrl {
    pub fn parse(text: &str) -> Result<RedisUrl, BadUrl> {
        let bad = |why: &str| BadUrl { url: redact(text), why: why.to_string() };
        // `host:port` alone is common enough to accept.
        let with_scheme = if text.contains("://") { text.to_string() } else { format!("redis://{text}") };
        let url = Url::parse(&with_scheme).map_err(|e| bad(&e.to_string()))?;
        let tls = match url.scheme() {
            "redis" => false,
            "rediss" => true,
            other => return Err(bad(&format!("the scheme is `{other}`"))),
        };
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| bad("it has no host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let port = url.port().unwrap_or(6379);
        let db = match url.path().trim_start_matches('/') {
            "" => 0,
            db => db.parse().map_err(|_| bad(&format!("the database `{db}` is not a number")))?,
        };
        let decode = |s: &str| percent_decode(s);
        let username = Some(url.username()).filter(|u| !u.is_empty()).map(decode);
        let password = url.password().map(decode);
        let insecure = url.fragment() == Some("insecure");
        Ok(RedisUrl { tls, insecure, host, port, username, password, db, original: with_scheme })
    }

    /// How the redis crate connects: the URL as given, without the `CLIENT SETINFO` the crate sends by default,
    /// so that the doctor sends only the commands it documents.
    pub fn connection_info(&self) -> redis::RedisResult<redis::ConnectionInfo> {
        use redis::IntoConnectionInfo;
        let info = self.original.as_str().into_connection_info()?;
        let settings = info.redis_settings().clone().set_skip_set_lib_name();
        Ok(info.set_redis_settings(settings))
    }

    /// The same server's credentials, TLS and database, at another address (another node of a cluster).
    pub fn at(&self, host: &str, port: u16) -> Result<RedisUrl, BadUrl> {
        let bad = |why: &str| BadUrl { url: format!("{host}:{port}"), why: why.to_string() };
        let mut url = Url::parse(&self.original).map_err(|e| bad(&e.to_string()))?;
        let host = if host.contains(':') { format!("[{host}]") } else { host.to_string() };
        url.set_host(Some(&host)).map_err(|e| bad(&e.to_string()))?;
        url.set_port(Some(port)).map_err(|()| bad("the port cannot be set"))?;
        RedisUrl::parse(url.as_str())
    }

    /// `host:port`, for connecting a socket.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The text of a URL with its password (if any) replaced by `***`, for error messages.
fn redact(text: &str) -> String {
    let (scheme, rest) = match text.find("://") {
        Some(at) => text.split_at(at + 3),
        None => ("", text),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else { return text.to_string() };
    match rest[..at].find(':') {
        Some(colon) => format!("{scheme}{}:***{}", &rest[..colon], &rest[at..]),
        None => text.to_string(),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Shows the URL without its password, for messages and reports.
impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "rediss" } else { "redis" };
        let user = match (&self.username, &self.password) {
            (Some(user), Some(_)) => format!("{user}:***@"),
            (None, Some(_)) => ":***@".to_string(),
            (Some(user), None) => format!("{user}@"),
            (None, None) => String::new(),
        };
        write!(f, "{scheme}://{user}{}", self.address())?;
        if self.db != 0 {
            write!(f, "/{}", self.db)?;
        }
        Ok(())
    }
}

/// Turns a connection or command error into the error a user should see, with its exit code.
pub fn explain(url: &RedisUrl, error: redis::RedisError) -> anyhow::Error {
    let text = error.to_string();
    if error.kind() == redis::ErrorKind::AuthenticationFailed || text.contains("WRONGPASS") || text.contains("NOAUTH") {
        return NoPermission(format!(
            "{url} refused the credentials: {text} (put them in the URL: redis://user:password@host:port)"
        ))
        .into();
    }
    if text.contains("certificate") {
        return Unavailable(format!(
            "cannot reach {url}: {text} (for a self-signed certificate, add #insecure to the URL: {url}#insecure)"
        ))
        .into();
    }
    if error.is_timeout() {
        return Unavailable(format!("{url} did not answer in time: {text}")).into();
    }
    Unavailable(format!("cannot reach {url}: {text}")).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let url = RedisUrl::parse("redis://alice:s%40cret@cache.internal:6380/2").unwrap();
        assert_eq!((url.host.as_str(), url.port, url.db, url.tls), ("cache.internal", 6380, 2, false));
        assert_eq!((url.username.as_deref(), url.password.as_deref()), (Some("alice"), Some("s@cret")));
        assert_eq!(url.to_string(), "redis://alice:***@cache.internal:6380/2");
        let url = RedisUrl::parse("rediss://:pw@10.0.0.1").unwrap();
        assert!(url.tls && !url.insecure && url.port == 6379 && url.username.is_none());
        assert!(RedisUrl::parse("rediss://10.0.0.1:6380#insecure").unwrap().insecure);
        assert_eq!(RedisUrl::parse("127.0.0.1:7000").unwrap().address(), "127.0.0.1:7000");
        assert_eq!(RedisUrl::parse("redis://[::1]:7000").unwrap().address(), "[::1]:7000");
        let error = RedisUrl::parse("http://x").unwrap_err().to_string();
        assert!(error.contains("scheme is `http`") && error.contains("expected redis://"), "{error}");
        assert!(RedisUrl::parse("redis://host/abc").unwrap_err().to_string().contains("database `abc`"));
        let error = RedisUrl::parse("redis://alice:hunter2@host/abc").unwrap_err().to_string();
        assert!(error.contains("`redis://alice:***@host/abc`") && !error.contains("hunter2"), "{error}");
        let error = RedisUrl::parse("http://:hunter2@host").unwrap_err().to_string();
        assert!(error.contains("`http://:***@host`"), "{error}");
        assert_eq!(redact("host:6379"), "host:6379");
    }

    #[test]
    fn another_node_keeps_the_credentials_and_tls() {
        let seed = RedisUrl::parse("rediss://alice:s%40cret@10.0.0.1:7000#insecure").unwrap();
        let node = seed.at("10.0.0.2", 7001).unwrap();
        assert_eq!((node.host.as_str(), node.port, node.tls, node.insecure), ("10.0.0.2", 7001, true, true));
        assert_eq!((node.username.as_deref(), node.password.as_deref()), (Some("alice"), Some("s@cret")));
        assert_eq!(seed.at("::1", 7002).unwrap().address(), "[::1]:7002");
    }
}
