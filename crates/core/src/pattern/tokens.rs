//! Recognisers for the values that vary inside keys: numbers, UUIDs, hex digests, random tokens, e-mails, IPv4
//! addresses and dates. Each looks at raw bytes and says how far its token reaches; none allocates.

/// Bytes that split a key into segments. The list (`: / . _ - | #`) plus the ones URL-like and
/// query-like keys use (`user=42`, `a,b`, `?lang=en&page=2`).
#[inline]
pub fn is_separator(b: u8) -> bool {
    SEPARATORS[usize::from(b)]
}

/// [`is_separator`] for every byte: the scan asks it of nearly every byte of a key, and a look in a table is
/// cheaper than thirteen comparisons.
static SEPARATORS: [bool; 256] = {
    let mut table = [false; 256];
    let separators = b":/._-|#=,;&? ";
    let mut i = 0;
    while i < separators.len() {
        table[separators[i] as usize] = true;
        i += 1;
    }
    table
};

/// The placeholder names the folder emits. A folded pattern is folded again to itself because these are kept.
pub const PLACEHOLDERS: [&str; 8] = ["num", "hex", "uuid", "token", "email", "ip", "date", "id"];

pub fn is_placeholder_name(name: &[u8]) -> bool {
    PLACEHOLDERS.iter().any(|p| p.as_bytes() == name)
}

/// What a plain run of bytes (no separators, no braces) is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PieceKind {
    /// Kept as written.
    Literal,
    /// The whole piece becomes this placeholder.
    Whole(&'static str),
    /// Letters then a number (`item12345`): the first `n` bytes are kept, the digits become `{num}`.
    NumberSuffix(usize),
}

/// Classifies a run of bytes that contains no separator and no brace.
pub fn classify_piece(piece: &[u8]) -> PieceKind {
    if piece.is_empty() {
        return PieceKind::Literal;
    }
    if piece.iter().all(u8::is_ascii_digit) {
        return PieceKind::Whole("num");
    }
    if is_hex_digest(piece) {
        return PieceKind::Whole("hex");
    }
    if is_random_token(piece) {
        return PieceKind::Whole("token");
    }
    let digits = piece.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    let head = piece.len() - digits;
    if digits >= 3 && head > 0 && piece[..head].iter().all(u8::is_ascii_alphabetic) {
        return PieceKind::NumberSuffix(head);
    }
    PieceKind::Literal
}

/// A hex digest or id: only hex digits, at least 8 of them, with both digits and letters in one case
/// (`5f3a9c1e`, a SHA-1). Words made of a-f only (`facade`, `deadbeef`) have no digit and stay.
fn is_hex_digest(piece: &[u8]) -> bool {
    if piece.len() < 8 || !piece.iter().all(u8::is_ascii_hexdigit) {
        return false;
    }
    let has_digit = piece.iter().any(u8::is_ascii_digit);
    let has_lower = piece.iter().any(u8::is_ascii_lowercase);
    let has_upper = piece.iter().any(u8::is_ascii_uppercase);
    has_digit && (has_lower != has_upper)
}

/// A long random token: 16 or more characters of letters, digits, `-` and `_`, with at least two of digits,
/// lower case and upper case, whose character classes change often, as in base62 or base64url tokens
/// (`kT9xQ2mZpL7vR4nB8wYc3d`). Words with a number (`settings2024`) change class once or twice; camelCase words
/// (`getUserProfileSettings`) have no digits and too many vowels to be random letters.
pub fn is_random_token(run: &[u8]) -> bool {
    if run.len() < 16 || !run.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_') {
        return false;
    }
    let alnum: Vec<u8> = run.iter().copied().filter(u8::is_ascii_alphanumeric).collect();
    if alnum.len() * 4 < run.len() * 3 {
        return false;
    }
    let class = |b: u8| {
        if b.is_ascii_digit() {
            0
        } else if b.is_ascii_lowercase() {
            1
        } else {
            2
        }
    };
    let transitions = alnum.windows(2).filter(|w| class(w[0]) != class(w[1])).count();
    let digits = alnum.iter().filter(|b| b.is_ascii_digit()).count();
    let letters = alnum.len() - digits;
    let vowels = alnum.iter().filter(|b| matches!(b.to_ascii_lowercase(), b'a' | b'e' | b'i' | b'o' | b'u')).count();
    // English words are about 40% vowels, random letters about 19%.
    let word_like = letters > 0 && vowels * 100 > letters * 35;
    let classes = [0, 1, 2].iter().filter(|&&c| alnum.iter().any(|&b| class(b) == c)).count();
    classes >= 2 && letters > 0 && transitions >= (alnum.len() / 5).max(4) && (digits >= 2 || !word_like)
}

/// Whether a literal value has the shape of values that fold to placeholder `name`: a random token that the
/// static rule missed, or a short hex id. Used to fold stray values under a prefix whose siblings are placeholders.
pub fn looks_like(name: &str, value: &[u8]) -> bool {
    match name {
        "token" => value.len() >= 12 && value.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_'),
        "hex" => value.len() >= 6 && value.iter().all(u8::is_ascii_hexdigit),
        _ => false,
    }
}

/// Length of the run of token characters (letters, digits, `-`, `_`) at the start of `s`.
pub fn token_run_len(s: &[u8]) -> usize {
    s.iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'-' || **b == b'_').count()
}

/// Whether a token ending at `end` stops at a boundary: the end of the key, a separator, or a closing brace.
pub fn ends_at_boundary(s: &[u8], end: usize) -> bool {
    end == s.len() || is_separator(s[end]) || s[end] == b'}'
}

fn count(s: &[u8], from: usize, pred: impl Fn(&u8) -> bool) -> usize {
    s[from.min(s.len())..].iter().take_while(|b| pred(b)).count()
}

/// A UUID (`8-4-4-4-12` hex digits) at the start of `s`: its length.
pub fn match_uuid(s: &[u8]) -> Option<usize> {
    let mut at = 0;
    for (i, len) in [8, 4, 4, 4, 12].into_iter().enumerate() {
        if i > 0 {
            if s.get(at) != Some(&b'-') {
                return None;
            }
            at += 1;
        }
        if count(s, at, u8::is_ascii_hexdigit) < len {
            return None;
        }
        at += len;
    }
    ends_at_boundary(s, at).then_some(at)
}

/// A dotted IPv4 address at the start of `s`: its length. Not followed by another `.digit` (a version number).
pub fn match_ipv4(s: &[u8]) -> Option<usize> {
    let mut at = 0;
    for i in 0..4 {
        if i > 0 {
            if s.get(at) != Some(&b'.') {
                return None;
            }
            at += 1;
        }
        let digits = count(s, at, u8::is_ascii_digit);
        if digits == 0 || digits > 3 {
            return None;
        }
        let value: u32 = std::str::from_utf8(&s[at..at + digits]).ok()?.parse().ok()?;
        if value > 255 {
            return None;
        }
        at += digits;
    }
    if s.get(at) == Some(&b'.') && s.get(at + 1).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    ends_at_boundary(s, at).then_some(at)
}

/// An IPv6 address at the start of `s` (`2001:db8::1`, `fe80:0:0:0:0:0:0:1`), with an optional prefix length
/// (`2001:db8:1234:5600::/56`, as rate limiters key IPv6 clients by network): its length. Groups of one to four
/// hex digits; eight of them, or fewer with one `::`. Anything shorter is left to the other rules: `10:20:30` is
/// a time, `1234:cafe` two segments.
pub fn match_ipv6(s: &[u8]) -> Option<usize> {
    let mut at = 0;
    let mut groups = 0;
    let mut double = false;
    loop {
        let digits = count(s, at, u8::is_ascii_hexdigit);
        if digits == 0 || digits > 4 {
            if digits > 4 {
                return None;
            }
            break;
        }
        at += digits;
        groups += 1;
        match (s.get(at), s.get(at + 1)) {
            (Some(b':'), Some(b':')) if !double => {
                double = true;
                at += 2;
                if !(1..=4).contains(&count(s, at, u8::is_ascii_hexdigit)) {
                    break;
                }
            }
            // A longer run after a colon is not a group: the address ended before it.
            (Some(b':'), Some(_)) if (1..=4).contains(&count(s, at + 1, u8::is_ascii_hexdigit)) => at += 1,
            _ => break,
        }
    }
    let complete = if double { (1..=7).contains(&groups) } else { groups == 8 };
    if !complete {
        return None;
    }
    if s.get(at) == Some(&b'/') {
        let bits = count(s, at + 1, u8::is_ascii_digit);
        if (1..=3).contains(&bits) {
            at += 1 + bits;
        }
    }
    ends_at_boundary(s, at).then_some(at)
}

/// An ISO date (`2024-01-31`), optionally with a time (`T10:20`, `T10:20:30.123Z`, `+02:00`): its length.
pub fn match_date(s: &[u8]) -> Option<usize> {
    let digits_at = |at: usize, n: usize| s.len() >= at + n && s[at..at + n].iter().all(u8::is_ascii_digit);
    if !(digits_at(0, 4) && s.get(4) == Some(&b'-') && digits_at(5, 2) && s.get(7) == Some(&b'-') && digits_at(8, 2)) {
        return None;
    }
    let month = (s[5] - b'0') * 10 + (s[6] - b'0');
    let day = (s[8] - b'0') * 10 + (s[9] - b'0');
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let at = time_of_day(s, 10);
    ends_at_boundary(s, at).then_some(at)
}

/// The end of an optional time of day at `at` (`T10:20`, `T10:20:30.123Z`, `T10:20+02:00`), or `at` itself.
fn time_of_day(s: &[u8], mut at: usize) -> usize {
    let digits_at = |at: usize, n: usize| s.len() >= at + n && s[at..at + n].iter().all(u8::is_ascii_digit);
    let starts = matches!(s.get(at), Some(b'T') | Some(b't')) && digits_at(at + 1, 2) && s.get(at + 3) == Some(&b':');
    if !starts || !digits_at(at + 4, 2) {
        return at;
    }
    at += 6;
    if s.get(at) == Some(&b':') && digits_at(at + 1, 2) {
        at += 3;
        let fraction = count(s, at + 1, u8::is_ascii_digit);
        if s.get(at) == Some(&b'.') && fraction > 0 {
            at += 1 + fraction;
        }
    }
    if matches!(s.get(at), Some(b'Z') | Some(b'z')) {
        return at + 1;
    }
    if matches!(s.get(at), Some(b'+') | Some(b'-')) && digits_at(at + 1, 2) {
        let zone = if s.get(at + 3) == Some(&b':') { at + 4 } else { at + 3 };
        if digits_at(zone, 2) {
            return zone + 2;
        }
    }
    at
}

/// An e-mail address at the start of `s`: its length. The domain ends at the last label that is a plausible
/// top-level domain (two letters or more) followed by a boundary: `jane@example.com.<uuid>` is an address and a
/// UUID.
pub fn match_email(s: &[u8]) -> Option<usize> {
    let local = count(s, 0, |b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-'));
    if local == 0 || s.get(local) != Some(&b'@') {
        return None;
    }
    let mut at = local + 1;
    let mut labels = 0;
    let mut best = None;
    loop {
        let label = count(s, at, |b| b.is_ascii_alphanumeric() || *b == b'-');
        if label == 0 {
            return best;
        }
        let alphabetic = label >= 2 && s[at..at + label].iter().all(u8::is_ascii_alphabetic);
        at += label;
        labels += 1;
        if labels >= 2 && alphabetic && ends_at_boundary(s, at) {
            best = Some(at);
        }
        if s.get(at) == Some(&b'.') && s.get(at + 1).is_some_and(u8::is_ascii_alphanumeric) {
            at += 1;
        } else {
            return best;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces() {
        let check =
            |piece: &str, expected: PieceKind| assert_eq!(classify_piece(piece.as_bytes()), expected, "{piece}");
        check("12345", PieceKind::Whole("num"));
        check("0", PieceKind::Whole("num"));
        check("5f3a9c1e", PieceKind::Whole("hex"));
        check("a94a8fe5ccb19ba61c4c0873d391e987982fbbd3", PieceKind::Whole("hex"));
        check("DEADBEEF00", PieceKind::Whole("hex"));
        check("deadbeef", PieceKind::Literal);
        check("facade", PieceKind::Literal);
        check("kT9xQ2mZpL7vR4nB8wYc3d", PieceKind::Whole("token"));
        check("settings2024", PieceKind::NumberSuffix(8));
        check("item042", PieceKind::NumberSuffix(4));
        check("v2", PieceKind::Literal);
        check("profile", PieceKind::Literal);
        check("notificationsettings", PieceKind::Literal);
    }

    #[test]
    fn separators() {
        for b in 0..=255u8 {
            let listed =
                matches!(b, b':' | b'/' | b'.' | b'_' | b'-' | b'|' | b'#' | b'=' | b',' | b';' | b' ' | b'&' | b'?');
            assert_eq!(is_separator(b), listed, "byte {b}");
        }
    }

    #[test]
    fn tokens_with_dashes_and_underscores() {
        assert!(is_random_token(b"ab12Xz9-Qr7_mN3pL0kW"));
        assert!(!is_random_token(b"user-profile-settings-2024"));
        assert!(!is_random_token(b"session_token_2024ABC"));
        assert!(!is_random_token(b"short1A"));
        assert!(is_random_token(b"kTxQmZpLvRnBwYcdQhFs"), "random letters without digits");
        assert!(!is_random_token(b"getUserProfileSettingsValue"), "camelCase words");
        assert!(!is_random_token(b"userprofilesettings2024"));
    }

    #[test]
    fn composites() {
        assert_eq!(match_uuid(b"123e4567-e89b-12d3-a456-426614174000:cart"), Some(36));
        assert_eq!(match_uuid(b"123e4567-e89b-12d3-a456-42661417400"), None);
        assert_eq!(match_uuid(b"123e4567-e89b-12d3-a456-426614174000x"), None);
        assert_eq!(match_ipv4(b"10.0.0.255:6379"), Some(10));
        assert_eq!(match_ipv4(b"10.0.0.256"), None);
        assert_eq!(match_ipv4(b"1.2.3.4.5"), None);
        assert_eq!(match_ipv4(b"1.2.3"), None);
        assert_eq!(match_ipv6(b"2001:db8::1"), Some(11));
        assert_eq!(match_ipv6(b"2001:db8:1234:5600::/56:x"), Some(23));
        assert_eq!(match_ipv6(b"fe80:0:0:0:0:0:0:1"), Some(18));
        assert_eq!(match_ipv6(b"2001:db8::1:minute"), Some(11));
        assert_eq!(match_ipv6(b"10:20:30"), None);
        assert_eq!(match_ipv6(b"1234:cafe"), None);
        assert_eq!(match_ipv6(b"2::40da9b4218c1e70cfa129446bc47e56c"), None);
        assert_eq!(match_date(b"2024-01-31"), Some(10));
        assert_eq!(match_date(b"2024-01-31T10:20:30.123Z:x"), Some(24));
        assert_eq!(match_date(b"2024-01-31T10:20+02:00"), Some(22));
        assert_eq!(match_date(b"2024-13-01"), None);
        assert_eq!(match_email(b"jane.doe+tag@example.co.uk:prefs"), Some(26));
        assert_eq!(match_email(b"jane@localhost"), None);
        assert_eq!(match_email(b"@example.com"), None);
        assert_eq!(match_email(b"jane@example.com.123e4567-e89b-12d3-a456-426614174000"), Some(16));
    }
}
