//! Key patterns: folding `user:12345` into `user:{num}` so that statistics and findings speak of the keys an
//! application writes with one line of code, not of millions of single keys.
//!
//! Three layers, tried in this order:
//! 1. user rules ([`KeyRules`]): ordered regexes from the configuration file that name the pattern outright;
//! 2. built-in folding ([`scan`], [`tokens`]): numbers, UUIDs, hex digests, random tokens, e-mails, IPv4
//!    addresses, dates and hash tags, between the separators `: / . _ - | #` (and a few URL-like ones);
//! 3. learned folding ([`learn`]): a position that takes many distinct values under one prefix folds to `{id}`.
//!
//! The number of patterns is bounded by [`PatternTable`]; past the bound keys go to one overflow pattern.

pub mod learn;
pub mod rules;
pub mod scan;
pub mod table;
pub mod tokens;

pub use rules::{KeyRules, RuleError};
pub use table::{OVERFLOW_PATTERN, PatternId, PatternTable};

use learn::Learner;
use scan::{FoldOutput, NoLearning, fold_into};
use xxhash_rust::xxh3::xxh3_64;

/// How keys are folded.
#[derive(Debug, Clone)]
pub struct FoldConfig {
    pub rules: KeyRules,
    /// Distinct values after which a literal position is folded to `{id}`; 0 turns learning off.
    pub learn_threshold: usize,
    /// How many prefixes the learner watches at most.
    pub learn_max_prefixes: usize,
}

impl Default for FoldConfig {
    fn default() -> Self {
        FoldConfig { rules: KeyRules::default(), learn_threshold: 50, learn_max_prefixes: 4096 }
    }
}

/// The pattern of one key, borrowed from the folder until the next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Folded<'a> {
    pub pattern: &'a str,
    /// Hash of the values the placeholders replaced (0 when there are none): equal for `user:42` and `users:42`.
    pub ids: u64,
    /// The pattern was named by a user rule.
    pub from_rule: bool,
}

/// Folds keys into patterns, learning varying positions as it goes.
#[derive(Debug)]
pub struct PatternFolder {
    rules: KeyRules,
    learner: Option<Learner>,
    out: FoldOutput,
}

impl PatternFolder {
    pub fn new(config: FoldConfig) -> Self {
        let learner =
            (config.learn_threshold > 0).then(|| Learner::new(config.learn_threshold, config.learn_max_prefixes));
        PatternFolder { rules: config.rules, learner, out: FoldOutput::default() }
    }

    /// Whether `key` folds to `{num}` whatever was learned, without teaching anything: a number alone, with no
    /// user rule that could name it otherwise. Whoever numbers patterns may skip folding it.
    pub fn is_number_alone(&self, key: &[u8]) -> bool {
        self.rules.is_empty() && scan::is_number(key)
    }

    /// Folds `key`, learning from it.
    pub fn fold(&mut self, key: &[u8]) -> Folded<'_> {
        self.fold_with(key, true)
    }

    /// Folds `key` with what has been learned, without learning from it.
    pub fn fold_known(&mut self, key: &[u8]) -> Folded<'_> {
        self.fold_with(key, false)
    }

    fn fold_with(&mut self, key: &[u8], learn: bool) -> Folded<'_> {
        let from_rule = !self.rules.is_empty() && self.rules.apply(key, &mut self.out);
        if !from_rule {
            match (&mut self.learner, learn) {
                (Some(learner), true) => fold_into(key, &mut self.out, learner),
                (Some(learner), false) => fold_into(key, &mut self.out, &mut learner.apply_only()),
                (None, _) => fold_into(key, &mut self.out, &mut NoLearning),
            }
        }
        let ids = if self.out.ids.is_empty() { 0 } else { xxh3_64(&self.out.ids) };
        Folded { pattern: &self.out.text, ids, from_rule }
    }

    /// Whether learned folding changed since the last call, so that known patterns should be folded again.
    pub fn take_learned(&mut self) -> bool {
        self.learner.as_mut().is_some_and(Learner::take_learned)
    }

    /// Adds what another folder with the same rules learned (see [`Learner::merge`]); true when known
    /// patterns should be folded again.
    pub fn merge_learned(&mut self, other: &PatternFolder) -> bool {
        match (&mut self.learner, &other.learner) {
            (Some(ours), Some(theirs)) => ours.merge(theirs),
            _ => false,
        }
    }

    /// What learned folding knows, to be stored with a shard's share of an analysis.
    pub fn learner(&self) -> Option<&Learner> {
        self.learner.as_ref()
    }

    /// A folder that knows what `learner` learned (read back from a stored share), with `rules`.
    pub fn with_learner(rules: KeyRules, learner: Option<Learner>) -> Self {
        PatternFolder { rules, learner, out: FoldOutput::default() }
    }

    /// Folds a known pattern again with what has been learned since, without learning from it.
    pub fn refold(&mut self, pattern: &str) -> &str {
        match &self.learner {
            Some(learner) => fold_into(pattern.as_bytes(), &mut self.out, &mut learner.apply_only()),
            None => fold_into(pattern.as_bytes(), &mut self.out, &mut NoLearning),
        }
        &self.out.text
    }
}

/// Folds one key with the built-in rules alone: no user rules, no learning.
pub fn fold_key(key: &[u8]) -> String {
    let mut out = FoldOutput::default();
    fold_into(key, &mut out, &mut NoLearning);
    out.text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(key: &str, expected: &str) {
        assert_eq!(fold_key(key.as_bytes()), expected, "folding {key:?}");
        assert_eq!(fold_key(expected.as_bytes()), expected, "folding the folded {expected:?} changed it");
    }

    #[test]
    fn numbers() {
        check("user:12345", "user:{num}");
        check("user:12345:profile", "user:{num}:profile");
        check("order/2024/55/items", "order/{num}/{num}/items");
        check("item12345", "item{num}");
        check("api:v2:user:7", "api:v2:user:{num}");
        check("price.19.99", "price.{num}.{num}");
        check("12345", "{num}");
    }

    #[test]
    fn every_separator() {
        for sep in [":", "/", ".", "_", "-", "|", "#"] {
            check(&format!("user{sep}42{sep}name"), &format!("user{sep}{{num}}{sep}name"));
        }
        check("page?id=42&lang=en", "page?id={num}&lang=en");
    }

    #[test]
    fn uuids_hex_and_tokens() {
        check("cart:123e4567-e89b-12d3-a456-426614174000", "cart:{uuid}");
        check("cart:123E4567-E89B-12D3-A456-426614174000:items", "cart:{uuid}:items");
        check("img:a94a8fe5ccb19ba61c4c0873d391e987982fbbd3", "img:{hex}");
        check("obj:5f3a9c1e", "obj:{hex}");
        check("session:kT9xQ2mZpL7vR4nB8wYc3d", "session:{token}");
        check("session:ab12Xz9-Qr7_mN3pL0kW:data", "session:{token}:data");
        check("user_profile_settings_2024", "user_profile_settings_{num}");
    }

    /// Base64url ids contain `-` and `_`, which are also separators, and may begin with them; words joined to an
    /// id by them are fixed words.
    #[test]
    fn tokens_joined_by_dashes_and_underscores() {
        check("sess:-PK08-WJUqeP4tcP1U31UAdxZeLq842x", "sess:{token}");
        check("sess:_5mBSKUa0GFYApQwxEO7MkTkUTh4-yO8", "sess:{token}");
        check("sess:nr36q9BR3g_RV63d1ZD_-ZhKhW8qPCYv", "sess:{token}");
        check("sess_089c40bba138ed45fa99745fd30d552f", "sess_{hex}");
        check("celery-task-meta-d2bf37d1-cb0f-4897-8e5e-b4b97a07a86c", "celery-task-meta-{uuid}");
        check(
            "laravel_database_laravel_cache_oQoaF1LlqsajAIxNKu8iS2G8NPRVdD53X83RZJzz",
            "laravel_database_laravel_cache_{token}",
        );
        check("PHPREDIS_SESSION:7vtuuj596lgua1dn91j5gnamel", "PHPREDIS_SESSION:{token}");
    }

    #[test]
    fn ipv6_addresses_and_networks() {
        check("rl:2001:db8:1234:5600::/56", "rl:{ip}");
        check("ratelimit:2001:db8::42:1704067200000:year", "ratelimit:{ip}:{num}:year");
        check("conn:fe80:0:0:0:0:0:0:1", "conn:{ip}");
        check("time:10:20:30", "time:{num}:{num}:{num}");
    }

    /// Tokens that all begin with the same letters after one prefix: a fixed word glued to the token, kept, and
    /// the pattern folded before it was learned joins the one folded after.
    #[test]
    fn a_word_glued_to_tokens_is_learned() {
        let mut folder = PatternFolder::new(FoldConfig::default());
        let id = |i: u64| {
            format!("{:032x}", u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835))
                .replace('0', "g")
                .replace('1', "k")
        };
        let first = folder.fold(format!("sessions.cache{}", id(1)).as_bytes()).pattern.to_string();
        assert_eq!(first, "sessions.{token}");
        for i in 2..40 {
            folder.fold(format!("sessions.cache{}", id(i)).as_bytes());
        }
        assert!(folder.take_learned());
        assert_eq!(folder.fold(format!("sessions.cache{}", id(99)).as_bytes()).pattern, "sessions.cache{token}");
        assert_eq!(folder.refold(&first), "sessions.cache{token}");
    }

    #[test]
    fn emails_ips_and_dates() {
        check("prefs:jane.doe+x@example.co.uk", "prefs:{email}");
        check("prefs:jane@example.com:theme", "prefs:{email}:theme");
        check("rate:10.0.0.1", "rate:{ip}");
        check("conn:192.168.1.20:6379", "conn:{ip}:{num}");
        check("version:1.2.3.4.5", "version:{num}.{num}.{num}.{num}.{num}");
        check("stats:2024-01-31", "stats:{date}");
        check("stats:2024-01-31T10:20:30Z:hits", "stats:{date}:hits");
        check("report-2024-01-31-daily", "report-{date}-daily");
    }

    #[test]
    fn hash_tags() {
        check("{user1000}.following", "{user{num}}.following");
        check("{12345}:cart", "{num}:cart");
        check("cart:{user:42}:items", "cart:{user:{num}}:items");
        check("a{b", "a{b");
        check("a}b{", "a}b{");
        check("{}", "{}");
        check("{{{{9}}}}", "{num}");
        // Deeper than the depth limit, groups are copied as they are.
        check("{{{{{{9}}}}}}", "{{{{{{9}}}}}}");
    }

    #[test]
    fn bytes_that_are_not_text() {
        check("bin:\u{1}\u{2}", "bin:\\x01\\x02");
        assert_eq!(fold_key(b"raw:\xff\xfe:1"), "raw:\\xff\\xfe:{num}");
        check("", "");
        check(":::", ":::");
    }

    #[test]
    fn long_keys_are_cut() {
        let key = format!("blob:{}", "x".repeat(1000));
        let folded = fold_key(key.as_bytes());
        assert!(folded.len() <= scan::MAX_PATTERN_LEN + 6, "{folded}");
        assert!(folded.ends_with("{long}"));
        assert_eq!(fold_key(folded.as_bytes()), folded);
    }

    #[test]
    fn ids_are_shared_by_keys_that_differ_only_in_fixed_parts() {
        let mut folder = PatternFolder::new(FoldConfig::default());
        let read = folder.fold(b"users:42").ids;
        let write = folder.fold(b"user:42").ids;
        let other = folder.fold(b"user:43").ids;
        assert_eq!(read, write);
        assert_ne!(write, other);
        assert_eq!(folder.fold(b"static:key").ids, 0);
    }

    #[test]
    fn learned_positions_fold_many_varied_values() {
        let mut folder = PatternFolder::new(FoldConfig { learn_threshold: 10, ..FoldConfig::default() });
        let names = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan"];
        for name in names {
            assert_eq!(folder.fold(format!("user:{name}:profile").as_bytes()).pattern, format!("user:{name}:profile"));
        }
        assert!(!folder.take_learned());
        assert_eq!(folder.fold(b"user:judy:profile").pattern, "user:{id}:profile");
        assert!(folder.take_learned());
        assert_eq!(folder.fold(b"user:mallory:settings").pattern, "user:{id}:settings");
        assert_eq!(folder.refold("user:alice:profile"), "user:{id}:profile");
        assert_eq!(folder.refold("user:{id}:profile"), "user:{id}:profile");
        // A position with few values and the first segment are never learned.
        assert_eq!(folder.fold(b"lang:en").pattern, "lang:en");
        for i in 0..20 {
            assert_eq!(
                folder.fold(format!("lang:{}", ["en", "fr"][i % 2]).as_bytes()).pattern,
                ["lang:en", "lang:fr"][i % 2]
            );
        }
    }

    #[test]
    fn a_stray_value_joins_its_sibling_placeholders() {
        let mut folder = PatternFolder::new(FoldConfig::default());
        let stray = "session:onlylowercaseletters";
        assert_eq!(folder.fold(stray.as_bytes()).pattern, stray);
        for i in 0..learn::MIN_SIBLINGS {
            assert_eq!(folder.fold(format!("session:kT9xQ2mZpL7vR4nB8w{i:02}").as_bytes()).pattern, "session:{token}");
        }
        assert!(folder.take_learned());
        assert_eq!(folder.refold(stray), "session:{token}");
        assert_eq!(folder.fold(b"session:aaaaaaaaaaaaaaaa").pattern, "session:{token}");
        assert_eq!(folder.fold(b"session:short").pattern, "session:short");
    }

    #[test]
    fn user_rules_come_first() {
        let rules = KeyRules::new([(r"^sess_([A-Za-z0-9]+)$", "session:{token}")]).unwrap();
        let mut folder = PatternFolder::new(FoldConfig { rules, ..FoldConfig::default() });
        let folded = folder.fold(b"sess_abc");
        assert_eq!(folded.pattern, "session:{token}");
        assert!(folded.from_rule);
        assert_eq!(folder.fold(b"user:1").pattern, "user:{num}");
        let error = KeyRules::new([("ok", "a"), ("(", "b")]).unwrap_err();
        assert_eq!(error.number, 2);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Keys made of the pieces real keys are made of, so that the interesting paths get exercised, plus bytes.
    fn key() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            proptest::sample::select(vec![
                "user",
                "42",
                "cart",
                "{",
                "}",
                "{user:7}",
                "123e4567-e89b-12d3-a456-426614174000",
                "10.0.0.1",
                "2024-01-31",
                "2024-01-31T10:20:30Z",
                "jane@example.com",
                "kT9xQ2mZpL7vR4nB8wYc3d",
                "a94a8fe5ccb19ba6",
                "item042",
                "{num}",
                "{id}",
                "{token}",
                "\\x00",
                "%",
                "{{",
                "}}",
                ".",
                "-",
                "_",
                ":",
                "/",
                "|",
                "#",
            ])
            .prop_map(|s| s.as_bytes().to_vec()),
            proptest::collection::vec(any::<u8>(), 0..6),
        ];
        proptest::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn folding_never_panics_and_a_folded_pattern_folds_to_itself(key in key()) {
            let folded = fold_key(&key);
            prop_assert_eq!(fold_key(folded.as_bytes()), folded.clone());
            let bound = scan::MAX_PATTERN_LEN + "{long}".len();
            prop_assert!(folded.len() <= bound, "{} bytes", folded.len());
        }

        #[test]
        fn arbitrary_bytes_fold(key in proptest::collection::vec(any::<u8>(), 0..300)) {
            let folded = fold_key(&key);
            prop_assert_eq!(fold_key(folded.as_bytes()), folded);
        }

        /// With learning on, a pattern folds to itself once the learner has seen it.
        #[test]
        fn learned_folding_is_stable(keys in proptest::collection::vec(key(), 1..60)) {
            let mut folder = PatternFolder::new(FoldConfig { learn_threshold: 5, ..FoldConfig::default() });
            let patterns: Vec<String> = keys.iter().map(|k| folder.fold(k).pattern.to_string()).collect();
            for pattern in patterns {
                let refolded = folder.refold(&pattern).to_string();
                prop_assert_eq!(folder.refold(&refolded).to_string(), refolded);
            }
        }
    }
}
