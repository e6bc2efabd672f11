//! Key formats of the simulated application: turn an id into the key an application would write, with the
//! kinds of varying parts real keys have (numbers, UUIDs, tokens, digests, addresses).

use xxhash_rust::xxh3::xxh3_64_with_seed;

fn bits(id: u64, seed: u64) -> u64 {
    xxh3_64_with_seed(&id.to_le_bytes(), seed)
}

pub fn num(prefix: &str, id: u64) -> String {
    format!("{prefix}:{}", id + 1)
}

pub fn uuid(prefix: &str, id: u64) -> String {
    let (a, b) = (bits(id, 1), bits(id, 2));
    format!(
        "{prefix}:{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// A random base62 token of 22 characters, like a session id.
pub fn token(prefix: &str, id: u64) -> String {
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = format!("{prefix}:");
    for chunk in 0..3 {
        let mut value = bits(id, 10 + chunk);
        for _ in 0..if chunk < 2 { 8 } else { 6 } {
            out.push(ALPHABET[(value % 62) as usize] as char);
            value /= 62;
        }
    }
    out
}

/// A hex digest of `len` digits (32 for MD5, 40 for SHA-1).
pub fn hex(prefix: &str, id: u64, len: usize) -> String {
    let mut digest = String::with_capacity(len);
    let mut chunk = 0;
    while digest.len() < len {
        digest.push_str(&format!("{:016x}", bits(id, 20 + chunk)));
        chunk += 1;
    }
    digest.truncate(len);
    format!("{prefix}:{digest}")
}

pub fn ipv4(prefix: &str, id: u64) -> String {
    format!("{prefix}:10.{}.{}.{}", (id >> 16) & 0xff, (id >> 8) & 0xff, id & 0xff)
}

/// The kind of value that varies in a key format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// A decimal number from 1.
    Num,
    Uuid,
    /// A random base62 token of 22 characters.
    Token,
    /// A hex digest of this many digits.
    Hex(usize),
    Ipv4,
    /// No varying part: the key is the prefix itself.
    Fixed,
}

/// How an application writes the keys of one kind of value: a prefix and a varying id (`user:{num}`).
///
/// Numbers and addresses are shared by every kind of value (user 42 and order 42), as in applications; UUIDs,
/// tokens and digests are drawn for the entity they name, so that two kinds of value never share one, but two
/// formats of the same entity (a key mismatch) do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFormat {
    pub prefix: String,
    pub id: IdKind,
    /// What the ids name: the prefix, or for another format of the same values, the original's.
    pub entity: String,
}

impl KeyFormat {
    pub fn new(prefix: impl Into<String>, id: IdKind) -> Self {
        let prefix = prefix.into();
        KeyFormat { entity: prefix.clone(), prefix, id }
    }

    /// Another format of the same values: the same ids, under `prefix`.
    pub fn renamed(&self, prefix: impl Into<String>) -> Self {
        KeyFormat { prefix: prefix.into(), id: self.id, entity: self.entity.clone() }
    }

    /// The key of `id`.
    pub fn key(&self, id: u64) -> String {
        let prefix = self.prefix.as_str();
        // Drawn ids are drawn per entity: the same id number gives another UUID for another entity.
        let drawn = id ^ xxh3_64_with_seed(self.entity.as_bytes(), 0) << 32;
        match self.id {
            IdKind::Num => num(prefix, id),
            IdKind::Uuid => uuid(prefix, drawn),
            IdKind::Token => token(prefix, drawn),
            IdKind::Hex(len) => hex(prefix, drawn, len),
            IdKind::Ipv4 => ipv4(prefix, id),
            IdKind::Fixed => prefix.to_string(),
        }
    }

    /// The pattern its keys fold to.
    pub fn pattern(&self) -> String {
        let placeholder = match self.id {
            IdKind::Num => "{num}",
            IdKind::Uuid => "{uuid}",
            IdKind::Token => "{token}",
            IdKind::Hex(_) => "{hex}",
            IdKind::Ipv4 => "{ip}",
            IdKind::Fixed => return self.prefix.clone(),
        };
        format!("{}:{placeholder}", self.prefix)
    }
}

/// A number in [0, 1) fixed for an id: which ids a fault affects.
pub fn unit(id: u64, seed: u64) -> f64 {
    (bits(id, seed) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use cachescope_core::pattern::fold_key;

    #[test]
    fn keys_fold_to_their_patterns() {
        for id in 0..2_000 {
            assert_eq!(fold_key(num("product", id).as_bytes()), "product:{num}");
            assert_eq!(fold_key(uuid("cart", id).as_bytes()), "cart:{uuid}");
            assert_eq!(fold_key(hex("img", id, 40).as_bytes()), "img:{hex}");
            assert_eq!(fold_key(hex("search", id, 32).as_bytes()), "search:{hex}");
            assert_eq!(fold_key(ipv4("geo", id).as_bytes()), "geo:{ip}");
        }
        let formats = [
            KeyFormat::new("product", IdKind::Num),
            KeyFormat::new("cart", IdKind::Uuid),
            KeyFormat::new("img", IdKind::Hex(40)),
            KeyFormat::new("geo", IdKind::Ipv4),
            KeyFormat::new("feed:home", IdKind::Fixed),
        ];
        for format in formats {
            for id in 0..200 {
                assert_eq!(fold_key(format.key(id).as_bytes()), format.pattern());
            }
        }
        let tokens = (0..2_000).filter(|&id| fold_key(token("session", id).as_bytes()) == "session:{token}").count();
        assert!(tokens > 1_950, "{tokens} of 2000 random tokens fold statically; learning takes the rest");
    }
}
