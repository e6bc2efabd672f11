//! User rules: ordered regular expressions from the configuration file that name a key's pattern outright.
//! The first rule that matches wins; keys no rule matches are folded by the built-in rules.

use regex::bytes::Regex;

use super::scan::{FoldOutput, ID_SEPARATOR};

/// A rule's regex did not compile.
#[derive(Debug, thiserror::Error)]
#[error("pattern rule {number} (`{regex}`) is not a valid regular expression: {source}")]
pub struct RuleError {
    /// 1-based, as the user counts rules in the file.
    pub number: usize,
    pub regex: String,
    #[source]
    pub source: regex::Error,
}

#[derive(Debug, Clone)]
struct Rule {
    regex: Regex,
    pattern: String,
}

#[derive(Debug, Clone, Default)]
pub struct KeyRules {
    rules: Vec<Rule>,
}

impl KeyRules {
    /// Compiles `(regex, pattern)` pairs in order.
    pub fn new<I, R, P>(rules: I) -> Result<Self, RuleError>
    where
        I: IntoIterator<Item = (R, P)>,
        R: AsRef<str>,
        P: Into<String>,
    {
        let mut compiled = Vec::new();
        for (index, (regex, pattern)) in rules.into_iter().enumerate() {
            let regex_text = regex.as_ref();
            let regex = Regex::new(regex_text).map_err(|source| RuleError {
                number: index + 1,
                regex: regex_text.to_string(),
                source,
            })?;
            compiled.push(Rule { regex, pattern: pattern.into() });
        }
        Ok(KeyRules { rules: compiled })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// If a rule matches `key`, writes its pattern to `out` (its capture groups, or the whole match when it has
    /// none, become the ids) and returns true.
    pub fn apply(&self, key: &[u8], out: &mut FoldOutput) -> bool {
        for rule in &self.rules {
            if let Some(captures) = rule.regex.captures(key) {
                out.text.clear();
                out.text.push_str(&rule.pattern);
                out.ids.clear();
                let groups: Vec<_> = captures.iter().skip(1).flatten().collect();
                if groups.is_empty() {
                    out.ids.extend_from_slice(captures.get(0).map_or(&b""[..], |m| m.as_bytes()));
                    out.ids.push(ID_SEPARATOR);
                }
                for group in groups {
                    out.ids.extend_from_slice(group.as_bytes());
                    out.ids.push(ID_SEPARATOR);
                }
                return true;
            }
        }
        false
    }
}
