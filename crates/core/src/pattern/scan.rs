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
    PieceKind, classify_piece, is_placeholder_name, is_random_token, is_separator, match_date, match_email, match_ipv4,
    match_uuid, token_run_len,
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

    /// A whole segment after `prefix` folded to placeholder `name`.
    fn saw_placeholder(&mut self, prefix: &str, name: &'static str);
}

/// Static folding only.
pub struct NoLearning;

impl LearnedPositions for NoLearning {
    fn fold_literal(&mut self, _prefix: &str, _value: &[u8]) -> Option<&'static str> {
        None
    }

    fn saw_placeholder(&mut self, _prefix: &str, _name: &'static str) {}
}

/// Folds `key` into `out`, replacing its previous content.
pub fn fold_into(key: &[u8], out: &mut FoldOutput, positions: &mut dyn LearnedPositions) {
    out.clear();
    let mut closing = std::mem::take(&mut out.closing);
    match_braces(key, &mut closing);
    let has_at = key.contains(&b'@');
    let mut scanner = Scanner { key, closing: &closing, out, positions, has_at };
    scanner.fold_range(0, key.len(), 0);
    truncate_long(&mut out.text);
    out.closing = closing;
}

/// Fills `closing` with the matching `}` of every `{` (innermost first), or leaves it empty when the key has none.
fn match_braces(key: &[u8], closing: &mut Vec<usize>) {
    closing.clear();
    if !key.contains(&b'{') {
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
            if is_separator(b) {
                self.out.text.push(b as char);
                i += 1;
                continue;
            }
            let rest = &self.key[i..end];
            let after_dot = i > start && self.key[i - 1] == b'.';
            let segment_out_start = self.out.text.len();
            if let Some((len, name)) = match_composite(rest, after_dot, self.has_at) {
                self.push_placeholder(name, &rest[..len]);
                if depth == 0 && position >= 1 {
                    self.positions.saw_placeholder(&self.out.text[..segment_out_start], name);
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
                    Segment::Placeholder(name) => self.positions.saw_placeholder(prefix, name),
                    Segment::Mixed => {}
                }
            }
            position += 1;
            i = segment_end;
        }
    }

    /// The end of the segment starting at `start`: the next separator outside a group, or `end`.
    fn segment_end(&self, start: usize, end: usize) -> usize {
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
            let mut piece_end = j + 1;
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
    if first.is_ascii_hexdigit()
        && let Some(len) = match_uuid(rest)
    {
        return Some((len, "uuid"));
    }
    if first.is_ascii_digit() && !after_dot {
        if let Some(len) = match_date(rest) {
            return Some((len, "date"));
        }
        if let Some(len) = match_ipv4(rest) {
            return Some((len, "ip"));
        }
    }
    if first.is_ascii_alphanumeric() {
        if may_be_email && let Some(len) = match_email(rest) {
            return Some((len, "email"));
        }
        let run = token_run_len(rest);
        // A run of hex digits alone is a digest or a number, which the piece rules name more precisely.
        if run >= 16
            && (run == rest.len() || is_separator(rest[run]) || rest[run] == b'}')
            && !rest[..run].iter().all(u8::is_ascii_hexdigit)
            && is_random_token(&rest[..run])
        {
            return Some((run, "token"));
        }
    }
    None
}
