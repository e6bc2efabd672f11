//! What a what-if changes: the cache model (memory, policy), TTLs of some keys, keys no longer cached.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use globset::{GlobBuilder, GlobMatcher};

use crate::model::ModelConfig;

/// Which keys a change applies to: a key pattern as cachescope names it (`session:{uuid}`), or a Redis-style
/// glob over the keys themselves (`session:*`, `user:?:profile`, `cart:[ab]*`).
#[derive(Debug, Clone)]
pub enum Selector {
    Pattern(String),
    Glob { text: String, matcher: GlobMatcher },
}

/// Two selectors are equal when they are written alike (a glob's matcher follows from its text).
impl PartialEq for Selector {
    fn eq(&self, other: &Selector) -> bool {
        match (self, other) {
            (Selector::Pattern(a), Selector::Pattern(b)) => a == b,
            (Selector::Glob { text: a, .. }, Selector::Glob { text: b, .. }) => a == b,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` selects no keys: {why} (a glob such as `session:*`, or a pattern such as `session:{{uuid}}`)")]
pub struct BadSelector {
    text: String,
    why: String,
}

impl Selector {
    pub fn parse(text: &str) -> Result<Selector, BadSelector> {
        let bad = |why: &str| BadSelector { text: text.to_string(), why: why.to_string() };
        if text.is_empty() {
            return Err(bad("it is empty"));
        }
        // Placeholders name a pattern; globs have no braces (Redis's have no alternations).
        if text.contains('{') && text.contains('}') {
            return Ok(Selector::Pattern(text.to_string()));
        }
        let glob = GlobBuilder::new(text)
            .literal_separator(false)
            .backslash_escape(true)
            .build()
            .map_err(|e| bad(&e.kind().to_string()))?;
        Ok(Selector::Glob { text: text.to_string(), matcher: glob.compile_matcher() })
    }

    /// Whether the key (of pattern `pattern`) is selected.
    #[inline]
    pub fn matches(&self, key: &[u8], pattern: &str) -> bool {
        match self {
            Selector::Pattern(name) => name == pattern,
            Selector::Glob { matcher, .. } => matcher.is_match(Path::new(OsStr::from_bytes(key))),
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Pattern(text) | Selector::Glob { text, .. } => f.write_str(text),
        }
    }
}

/// Writes of the selected keys get this TTL (and so do their EXPIREs).
#[derive(Debug, Clone, PartialEq)]
pub struct TtlOverride {
    pub selector: Selector,
    pub ttl_ms: u64,
}

/// The settings one replay runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub model: ModelConfig,
    pub ttls: Vec<TtlOverride>,
    /// Keys no longer cached: their writes are dropped (the one-hit wonders' fix).
    pub not_cached: Vec<Selector>,
}

impl Settings {
    pub fn new(model: ModelConfig) -> Self {
        Settings { model, ttls: Vec::new(), not_cached: Vec::new() }
    }

    /// The TTL override for a key, if one applies (the last one given wins).
    #[inline]
    pub fn ttl_for(&self, key: &[u8], pattern: &str) -> Option<u64> {
        if self.ttls.is_empty() {
            return None;
        }
        self.ttls.iter().rev().find(|o| o.selector.matches(key, pattern)).map(|o| o.ttl_ms)
    }

    #[inline]
    pub fn is_cached(&self, key: &[u8], pattern: &str) -> bool {
        self.not_cached.is_empty() || !self.not_cached.iter().any(|s| s.matches(key, pattern))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        let glob = Selector::parse("session:*").unwrap();
        assert!(glob.matches(b"session:abc/def", "session:{id}"));
        assert!(!glob.matches(b"sessions:abc", "sessions:{id}"));
        let class = Selector::parse("cart:[ab]?").unwrap();
        assert!(class.matches(b"cart:a1", "") && !class.matches(b"cart:c1", ""));
        let pattern = Selector::parse("session:{uuid}").unwrap();
        assert!(pattern.matches(b"anything", "session:{uuid}") && !pattern.matches(b"session:x", "session:{id}"));
        assert!(Selector::parse("").unwrap_err().to_string().contains("empty"));
        assert!(Selector::parse("a[").unwrap_err().to_string().contains("`a[` selects no keys"));
    }
}
