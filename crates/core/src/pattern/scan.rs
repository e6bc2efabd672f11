//! The folding scanner: one pass over a key that copies its fixed parts and replaces its varying parts with
//! placeholders (`user:12345:profile` -> `user:{num}:profile`).
//!
//! A key is split into segments at separators. At the start of a segment the scanner first tries the tokens
//! that contain separators themselves (UUIDs, e-mails, IPv4 addresses, dates, random tokens with `-` or `_`);
//! otherwise the segment is cut into pieces at `{...}` groups (Redis hash tags, or placeholders of an already
//! folded pattern) and each piece is classified on its own. A group's content is folded recursively; a group
//! that folds to a single placeholder loses its braces (`{12345}` -> `{num}`).
//!
//! Folding is idempotent: folding a folded pattern gives it back unchanged, because every placeholder the
//! scanner writes is recognised and kept, literals are written so that they classify as literals again, and
//! non-printable bytes are escaped as `\xNN`.

use super::tokens::{
    PieceKind, classify_piece, ends_at_boundary, is_placeholder_name, is_random_token, is_separator, match_date,
    match_email, match_ipv4, match_ipv6, match_uuid, token_run_len,
};

/// Folded patterns are cut at this many bytes and marked with `{long}`, so a huge key cannot make a huge pattern.
pub const MAX_PATTERN_LEN: usize = 256;
/// Hash tags nested deeper than this are copied as they are, so a key made of braces cannot exhaust the stack.
const MAX_GROUP_DEPTH: usize = 4;
/// Separates the values of successive placeholders in [`FoldOutput::ids`].
pub const ID_SEPARATOR: u8 = 0xff;

/// What folding one key produced. Reused from key to key so that folding allocates nothing once warm.
#[derive(Default, Debug)]
pub struct FoldOutput {
    /// The pattern.
    pub text: String,
    /// The raw values the placeholders replaced, in order, each followed by [`ID_SEPARATOR`]. Two keys that
    /// differ only in their fixed parts (`user:42` and `users:42`) have the same ids: that is how a reader and a
    /// writer that disagree on the key format are found.
    pub ids: Vec<u8>,
    /// For each `{` of the key, the index of its matching `}` (or `usize::MAX`); filled only for keys with braces.
    closing: Vec<usize>,
}

impl FoldOutput {
    fn clear(&mut self) {
        self.text.clear();
        self.ids.clear();
    }
}

/// Decides whether a literal segment is a varying position learned from earlier keys. The learner implements it;
/// folding without learning passes [`NoLearning`].
pub trait LearnedPositions {
    /// `prefix` is the pattern folded so far (`user:`), `value` the literal segment that follows (`alice`).
    /// Returns the placeholder to fold the segment to, if any.
    fn fold_literal(&mut self, prefix: &str, value: &[u8]) -> Option<&'static str>;

    /// A whole segment after `prefix`, `value`, folded to placeholder `name`.
    fn saw_placeholder(&mut self, prefix: &str, name: &'static str, value: &[u8]);

    /// What was learned of the values after `prefix` that shapes how the next one is cut, in one look.
    fn learned(&self, _prefix: &str) -> Learned<'_> {
        Learned::default()
    }
}

/// What a learner knows of the values after one prefix ([`LearnedPositions::learned`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Learned<'a> {
    /// The placeholder most values after the prefix fold to, once enough did: a run of token characters there
    /// (with `-` and `_`, which are also separators) is one value of it.
    pub sibling: Option<&'static str>,
    /// A word every token after the prefix began with, once enough did: it is a fixed word glued to the token
    /// (`django.contrib.sessions.cache<id>`), kept apart from it.
    pub glued_word: Option<&'a [u8]>,
}

/// Static folding only.
pub struct NoLearning;

impl LearnedPositions for NoLearning {
    fn fold_literal(&mut self, _prefix: &str, _value: &[u8]) -> Option<&'static str> {
        None
    }

    fn saw_placeholder(&mut self, _prefix: &str, _name: &'static str, _value: &[u8]) {}
}

/// Folds `key` into `out`, replacing its previous content.
pub fn fold_into(key: &[u8], out: &mut FoldOutput, positions: &mut dyn LearnedPositions) {
    out.clear();
    // A number alone, as block traces' ids are: `{num}`, what the scan gives it (no token that contains
    // separators is made of digits only, and the first segment teaches nothing), without the scan.
    if is_number(key) {
        out.text.push_str("{num}");
        out.ids.extend_from_slice(key);
        out.ids.push(ID_SEPARATOR);
        return;
    }
    scan_into(key, out, positions);
}

/// Whether `key` is a number alone, which folds to `{num}` without the scan.
pub fn is_number(key: &[u8]) -> bool {
    !key.is_empty() && key.iter().all(u8::is_ascii_digit)
}

/// [`fold_into`]'s scan, for any key.
fn scan_into(key: &[u8], out: &mut FoldOutput, positions: &mut dyn LearnedPositions) {
    let mut closing = std::mem::take(&mut out.closing);
    // One pass for both bytes: keys are short, and a search set up for each costs more than the pass.
    let (mut has_brace, mut has_at) = (false, false);
    for &b in key {
        has_brace |= b == b'{';
        has_at |= b == b'@';
    }
    match_braces(key, has_brace, &mut closing);
    let mut scanner = Scanner { key, closing: &closing, out, positions, has_at };
    scanner.fold_range(0, key.len(), 0);
    truncate_long(&mut out.text);
    out.closing = closing;
}

/// Fills `closing` with the matching `}` of every `{` (innermost first), or leaves it empty when the key has none
/// (`has_brace` false).
fn match_braces(key: &[u8], has_brace: bool, closing: &mut Vec<usize>) {
    closing.clear();
    if !has_brace {
        return;
    }
    closing.resize(key.len(), usize::MAX);
    let mut open = Vec::new();
    for (i, b) in key.iter().enumerate() {
        match b {
            b'{' => open.push(i),
            b'}' => {
                if let Some(start) = open.pop() {
                    closing[start] = i;
                }
            }
            _ => {}
        }
    }
}

/// Cuts a pattern longer than [`MAX_PATTERN_LEN`] after its last separator within the limit and marks it with
/// `{long}`. Cutting inside a segment would not be stable: folding `…:0{long}` again gives `…:{num}{long}`.
fn truncate_long(text: &mut String) {
    if text.len() <= MAX_PATTERN_LEN {
        return;
    }
    let cut = text.as_bytes()[..=MAX_PATTERN_LEN].iter().rposition(|&b| is_separator(b)).map_or(0, |at| at + 1);
    text.truncate(cut);
    text.push_str("{long}");
}

/// What one segment folded to.
enum Segment {
    /// Kept as written.
    Literal,
    /// One placeholder, the whole segment.
    Placeholder(&'static str),
    /// Anything else: literal parts and placeholders, hash tags.
    Mixed,
}

struct Scanner<'a> {
    key: &'a [u8],
    /// Whether the key has an `@` at all: most keys have none, and then no e-mail needs looking for.
    has_at: bool,
    closing: &'a [usize],
    out: &'a mut FoldOutput,
    positions: &'a mut dyn LearnedPositions,
}

impl Scanner<'_> {
    /// The matching `}` of a `{` at `open`, if it closes before `end`.
    fn group_end(&self, open: usize, end: usize) -> Option<usize> {
        let close = *self.closing.get(open)?;
        (self.key[open] == b'{' && close < end).then_some(close)
    }

    fn fold_range(&mut self, start: usize, end: usize, depth: usize) {
        let mut i = start;
        let mut position = 0;
        while i < end {
            let b = self.key[i];
            let rest = &self.key[i..end];
            let segment_out_start = self.out.text.len();
            // `-` and `_` are separators, but base64url tokens contain them and may begin with them: right after
            // another separator (or at the start), a run that is a token is one.
            let segment_start = i == start || (is_separator(self.key[i - 1]) && !is_joiner(self.key[i - 1]));
            if is_separator(b) {
                if is_joiner(b)
                    && segment_start
                    && let Some(len) = match_token(rest)
                {
                    self.push_placeholder("token", &rest[..len]);
                    if depth == 0 && position >= 1 {
                        self.positions.saw_placeholder(&self.out.text[..segment_out_start], "token", &rest[..len]);
                    }
                    i += len;
                    position += 1;
                    continue;
                }
                self.out.text.push(b as char);
                i += 1;
                continue;
            }
            // What the learner knows of this position, looked up once for the two rules below.
            let (glued, sibling) = if depth == 0 && position >= 1 && segment_start {
                let learned = self.positions.learned(&self.out.text[..segment_out_start]);
                (learned.glued_word.map(<[u8]>::to_vec), learned.sibling)
            } else {
                (None, None)
            };
            // A token after a position whose tokens all begin with the same glued word: the word, then the
            // token. A folded pattern's `{token}` there gets the word too, so that patterns folded before the
            // word was learned join those folded after.
            if let Some(word) = glued {
                let run = token_run_len(rest);
                let folded = rest.starts_with(b"{token}") && ends_at_boundary(rest, 7);
                if folded || (run > word.len() + 8 && rest.starts_with(&word) && match_token(rest).is_some()) {
                    self.push_literal(&word);
                    let value = if folded { &rest[..0] } else { &rest[word.len()..run] };
                    if folded {
                        self.out.text.push_str("{token}");
                    } else {
                        self.push_placeholder("token", value);
                    }
                    i += if folded { 7 } else { run };
                    position += 1;
                    continue;
                }
            }
            // A run of token characters where the values before were tokens is one more.
            if sibling == Some("token") {
                let run = token_run_len(rest);
                if run >= 12 && ends_at_boundary(rest, run) {
                    self.push_placeholder("token", &rest[..run]);
                    i += run;
                    position += 1;
                    continue;
                }
            }
            let after_dot = i > start && self.key[i - 1] == b'.';
            if let Some((len, name)) = match_composite(rest, after_dot, self.has_at) {
                self.push_placeholder(name, &rest[..len]);
                if depth == 0 && position >= 1 {
                    self.positions.saw_placeholder(&self.out.text[..segment_out_start], name, &rest[..len]);
                }
                i += len;
                position += 1;
                continue;
            }
            let segment_end = self.segment_end(i, end);
            let segment = self.fold_segment(i, segment_end, depth);
            if depth == 0 && position >= 1 {
                let prefix = &self.out.text[..segment_out_start];
                match segment {
                    Segment::Literal => {
                        let value = &self.key[i..segment_end];
                        if let Some(name) = self.positions.fold_literal(prefix, value) {
                            self.out.text.truncate(segment_out_start);
                            self.push_placeholder(name, value);
                        }
                    }
                    Segment::Placeholder(name) => {
                        let value = &self.key[i..segment_end];
                        self.positions.saw_placeholder(prefix, name, value)
                    }
                    Segment::Mixed => {}
                }
            }
            position += 1;
            i = segment_end;
        }
    }

    /// The end of the segment starting at `start`: the next separator outside a group, or `end`.
    fn segment_end(&self, start: usize, end: usize) -> usize {
        if self.closing.is_empty() {
            return self.key[start..end].iter().position(|&b| is_separator(b)).map_or(end, |at| start + at);
        }
        let mut j = start;
        while j < end && !is_separator(self.key[j]) {
            j = match self.group_end(j, end) {
                Some(close) => close + 1,
                None => j + 1,
            };
        }
        j
    }

    /// Folds one segment made of plain pieces and groups, and says what it became.
    fn fold_segment(&mut self, start: usize, end: usize, depth: usize) -> Segment {
        let mut literal_only = true;
        let mut whole = None;
        let mut j = start;
        while j < end {
            if let Some(close) = self.group_end(j, end) {
                self.fold_group(j, close, depth);
                literal_only = false;
                j = close + 1;
                continue;
            }
            // A key without braces has no group: the piece runs to the segment's end.
            let mut piece_end = if self.closing.is_empty() { end } else { j + 1 };
            while piece_end < end && self.group_end(piece_end, end).is_none() {
                piece_end += 1;
            }
            let piece = &self.key[j..piece_end];
            match classify_piece(piece) {
                PieceKind::Literal => self.push_literal(piece),
                PieceKind::Whole(name) => {
                    self.push_placeholder(name, piece);
                    literal_only = false;
                    if j == start && piece_end == end {
                        whole = Some(name);
                    }
                }
                PieceKind::NumberSuffix(head) => {
                    self.push_literal(&piece[..head]);
                    self.push_placeholder("num", &piece[head..]);
                    literal_only = false;
                }
            }
            j = piece_end;
        }
        match whole {
            Some(name) => Segment::Placeholder(name),
            None if literal_only => Segment::Literal,
            None => Segment::Mixed,
        }
    }

    /// A `{...}` group: a placeholder of a folded pattern is kept, a hash tag is folded inside its braces.
    fn fold_group(&mut self, open: usize, close: usize, depth: usize) {
        let content = &self.key[open + 1..close];
        if is_placeholder_name(content) {
            self.out.text.push('{');
            self.push_literal(content);
            self.out.text.push('}');
            return;
        }
        if depth >= MAX_GROUP_DEPTH {
            self.push_literal(&self.key[open..=close]);
            return;
        }
        let group_start = self.out.text.len();
        self.out.text.push('{');
        self.fold_range(open + 1, close, depth + 1);
        self.out.text.push('}');
        let inner = &self.out.text[group_start + 1..self.out.text.len() - 1];
        let single_placeholder = inner.len() > 2
            && inner.starts_with('{')
            && inner.ends_with('}')
            && is_placeholder_name(&inner.as_bytes()[1..inner.len() - 1]);
        if single_placeholder {
            self.out.text.pop();
            self.out.text.remove(group_start);
        }
    }

    fn push_placeholder(&mut self, name: &str, value: &[u8]) {
        self.out.text.push('{');
        self.out.text.push_str(name);
        self.out.text.push('}');
        self.out.ids.extend_from_slice(value);
        self.out.ids.push(ID_SEPARATOR);
    }

    fn push_literal(&mut self, bytes: &[u8]) {
        push_escaped(&mut self.out.text, bytes);
    }
}

/// Appends `bytes` as printable text: printable ASCII as it is, every other byte as `\xNN`.
pub fn push_escaped(text: &mut String, bytes: &[u8]) {
    for &b in bytes {
        if (0x20..=0x7e).contains(&b) {
            text.push(b as char);
        } else {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            text.push('\\');
            text.push('x');
            text.push(HEX[(b >> 4) as usize] as char);
            text.push(HEX[(b & 0xf) as usize] as char);
        }
    }
}

/// The tokens that may contain separators, tried at the start of each segment. Dates and addresses are not
/// looked for right after a dot: `1.2.3.4.5` is a version, not `1.` and an address.
fn match_composite(rest: &[u8], after_dot: bool, may_be_email: bool) -> Option<(usize, &'static str)> {
    let first = *rest.first()?;
    let could = Candidates::of(rest);
    if could.uuid
        && let Some(len) = match_uuid(rest)
    {
        return Some((len, "uuid"));
    }
    if !after_dot {
        if could.date
            && let Some(len) = match_date(rest)
        {
            return Some((len, "date"));
        }
        if could.ipv4
            && let Some(len) = match_ipv4(rest)
        {
            return Some((len, "ip"));
        }
        if could.ipv6
            && let Some(len) = match_ipv6(rest)
        {
            return Some((len, "ip"));
        }
    }
    if first.is_ascii_alphanumeric() {
        if may_be_email && let Some(len) = match_email(rest) {
            return Some((len, "email"));
        }
        if could.token
            && let Some(len) = match_token(rest)
        {
            return Some((len, "token"));
        }
    }
    None
}

/// Which of the tokens that contain separators may start at the start of `rest`, from the runs of hex digits
/// and digits it begins with: what each matcher checks first, checked once for all of them. A segment seldom
/// begins with one (`user`, `12345`), and then none of their matchers runs.
#[derive(Debug, PartialEq, Eq)]
struct Candidates {
    /// Eight hex digits, then `-`.
    uuid: bool,
    /// Four digits, then `-`.
    date: bool,
    /// One to three digits, then `.`.
    ipv4: bool,
    /// One to four hex digits, then `:`.
    ipv6: bool,
    /// Sixteen bytes or more.
    token: bool,
}

impl Candidates {
    #[inline]
    fn of(rest: &[u8]) -> Candidates {
        // Nine bytes tell every case apart: a run of hex digits longer than eight is no UUID's first group.
        let hex = rest.iter().take(9).take_while(|b| b.is_ascii_hexdigit()).count();
        let digits = rest[..hex].iter().take_while(|b| b.is_ascii_digit()).count();
        let then = |at: usize, separator: u8| rest.get(at) == Some(&separator);
        Candidates {
            uuid: hex == 8 && then(8, b'-'),
            date: digits == 4 && then(4, b'-'),
            ipv4: (1..=3).contains(&digits) && then(digits, b'.'),
            ipv6: (1..=4).contains(&hex) && then(hex, b':'),
            token: rest.len() >= 16,
        }
    }
}

/// `-` and `_`: separators that are also characters of tokens.
fn is_joiner(b: u8) -> bool {
    b == b'-' || b == b'_'
}

/// A random token at the start of `rest`, with the `-` and `_` it contains: its length. Not a run of hex digits
/// alone (a digest or a number, which the piece rules name more precisely), and not words joined to an id
/// (`sess_<hex>`, `celery-task-meta-<uuid>`, `laravel_database_laravel_cache_<token>`): those are fixed words
/// and a value, and folding them apart keeps the words.
fn match_token(rest: &[u8]) -> Option<usize> {
    let run = token_run_len(rest);
    let token = &rest[..run];
    let is_token = run >= 16
        && ends_at_boundary(rest, run)
        && !token.iter().all(u8::is_ascii_hexdigit)
        && is_random_token(token)
        && !words_then_id(token);
    is_token.then_some(run)
}

/// Whether a run of token characters is words joined by `-` or `_` to a value that stands on its own: one word
/// or more in one case (`sess`, `celery-task-meta`, `PHPREDIS`), then a UUID, hex digits, a number, or a token
/// with no `-` or `_` left in it. Two words, or a value that is not a token, are needed when there is one word of
/// under four letters, so that a base64url token that happens to begin with a few letters stays whole.
fn words_then_id(run: &[u8]) -> bool {
    let mut words = 0;
    let mut letters = 0;
    let mut at = 0;
    while let Some(len) = run[at..].iter().position(|&b| is_joiner(b)) {
        let word = &run[at..at + len];
        let one_case = word.iter().all(u8::is_ascii_lowercase) || word.iter().all(u8::is_ascii_uppercase);
        if !(2..=16).contains(&word.len()) || !one_case {
            break;
        }
        words += 1;
        letters += word.len();
        at += len + 1;
        if match_uuid(&run[at..]).is_some() {
            return true;
        }
    }
    if words == 0 || at >= run.len() {
        return false;
    }
    let value = &run[at..];
    let plain_value =
        value.iter().all(u8::is_ascii_hexdigit) && value.len() >= 8 || value.iter().all(u8::is_ascii_digit);
    let token_value = !value.iter().any(|&b| is_joiner(b)) && value.len() >= 12;
    plain_value || (token_value && (words >= 2 || letters >= 4))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Records what the scan tells the learner, to check the shortcut tells it nothing either.
    #[derive(Default)]
    struct Told(usize);

    impl LearnedPositions for Told {
        fn fold_literal(&mut self, _prefix: &str, _value: &[u8]) -> Option<&'static str> {
            self.0 += 1;
            None
        }

        fn saw_placeholder(&mut self, _prefix: &str, _name: &'static str, _value: &[u8]) {
            self.0 += 1;
        }
    }

    proptest! {
        /// Numbers alone (any length, leading zeros, what might read as a date or an address without its
        /// separators) fold by the shortcut exactly as the scan folds them.
        #[test]
        fn numbers_fold_as_the_scan_folds_them(key in "[0-9]{1,300}") {
            let (mut fast, mut scanned) = (FoldOutput::default(), FoldOutput::default());
            let (mut told_fast, mut told_scan) = (Told::default(), Told::default());
            fold_into(key.as_bytes(), &mut fast, &mut told_fast);
            scan_into(key.as_bytes(), &mut scanned, &mut told_scan);
            prop_assert_eq!(&fast.text, &scanned.text);
            prop_assert_eq!(&fast.ids, &scanned.ids);
            prop_assert_eq!(told_fast.0, 0);
            prop_assert_eq!(told_scan.0, 0);
        }

        /// Every token a matcher finds at the start of a segment, the quick look before the matchers lets
        /// through: it only spares them segments they would turn down. Segments are made of runs of digits, of
        /// hex digits, of token characters and of the separators tokens hold, so that UUIDs, dates and addresses
        /// come up often.
        #[test]
        fn candidates_let_every_match_through(
            head in prop_oneof![
                "[0-9]{1,2}(\\.[0-9]{1,2}){3}",
                "1[0-9]{2}(\\.[0-9]{1,3}){3}",
                "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9])",
                "[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}",
                "[0-9a-f]{1,4}(:[0-9a-f]{1,4}){7}",
                "[0-9a-f]{1,4}(:[0-9a-f]{1,4}){0,3}::[0-9a-f]{1,4}",
                "[0-9a-zA-Z_-]{12,24}",
                "[0-9a-fA-F]{1,9}",
            ],
            tail in prop::collection::vec(prop_oneof!["[0-9]{1,5}", "[0-9a-zA-Z_-]{1,20}", "[-.:/+TZ]", "::"], 0..6),
        ) {
            let rest = head + &tail.concat();
            let rest = rest.as_bytes();
            let could = Candidates::of(rest);
            prop_assert!(match_uuid(rest).is_none() || could.uuid);
            prop_assert!(match_date(rest).is_none() || could.date);
            prop_assert!(match_ipv4(rest).is_none() || could.ipv4);
            prop_assert!(match_ipv6(rest).is_none() || could.ipv6);
            prop_assert!(match_token(rest).is_none() || could.token);
        }
    }

    /// The quick look at a segment's start, case by case: what each token needs first.
    #[test]
    fn candidates() {
        let check = |rest: &str, expected: [bool; 5]| {
            let c = Candidates::of(rest.as_bytes());
            assert_eq!([c.uuid, c.date, c.ipv4, c.ipv6, c.token], expected, "{rest}");
        };
        check("123e4567-e89b-12d3-a456-426614174000", [true, false, false, false, true]);
        check("2024-01-31", [false, true, false, false, false]);
        check("10.0.0.1", [false, false, true, false, false]);
        check("255.255.255.255", [false, false, true, false, false]);
        check("2001:db8::1", [false, false, false, true, false]);
        check("fe80:0:0:0:0:0:0:1", [false, false, false, true, true]);
        check("12345", [false; 5]);
        check("user", [false; 5]);
        check("123456789-", [false; 5]);
        check("12345:x", [false; 5]);
        check("", [false; 5]);
    }
}
