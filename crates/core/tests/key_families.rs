//! Key formats as widely used frameworks and libraries write them, from their documentation and source: each
//! family must fold to the one pattern a person would write for it, keeping its fixed words, whatever the order
//! in which its keys arrive and whatever other families they arrive mixed with, and never merge with another
//! family.
//!
//! Every family names where its format comes from. Ids are drawn with the alphabet and length the library uses
//! (uid-safe's base64url ids may start with `-` or `_`; Django's session keys are 32 of `[a-z0-9]`).

use std::collections::{BTreeMap, BTreeSet};

use cachescope_core::pattern::{FoldConfig, PatternFolder};

/// A small deterministic generator, so that a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn from(&mut self, alphabet: &str, len: usize) -> String {
        let bytes = alphabet.as_bytes();
        (0..len).map(|_| bytes[self.below(bytes.len() as u64) as usize] as char).collect()
    }

    fn hex(&mut self, len: usize) -> String {
        self.from("0123456789abcdef", len)
    }

    fn uuid(&mut self) -> String {
        let v4 = format!(
            "{}-{}-4{}-{}{}-{}",
            self.hex(8),
            self.hex(4),
            self.hex(3),
            self.from("89ab", 1),
            self.hex(3),
            self.hex(12)
        );
        v4
    }

    fn num(&mut self, max: u64) -> u64 {
        1 + self.below(max)
    }
}

const BASE64URL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const BASE62: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const LOWER36: &str = "abcdefghijklmnopqrstuvwxyz0123456789";
const CROCKFORD: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A family: where its format comes from, how to make one of its keys, and its pattern.
struct Family {
    name: &'static str,
    source: &'static str,
    key: fn(&mut Rng) -> String,
    pattern: &'static str,
}

fn families() -> Vec<Family> {
    vec![
        Family {
            name: "express-session with connect-redis",
            source: "tj/connect-redis src/RedisStore.ts (prefix `sess:`); expressjs/session `uid(24)`: 32 base64url chars",
            key: |r| format!("sess:{}", r.from(BASE64URL, 32)),
            pattern: "sess:{token}",
        },
        Family {
            name: "Flask-Session",
            source: "pallets-eco/flask-session defaults.py `session:`, `secrets.token_urlsafe(32)`: 43 chars",
            key: |r| format!("session:{}", r.from(BASE64URL, 43)),
            pattern: "session:{token}",
        },
        Family {
            name: "Django cache sessions",
            source: "django/contrib/sessions/backends/cache.py: `django.contrib.sessions.cache` + 32 of [a-z0-9], \
                     through the cache key function `:1:`",
            key: |r| format!(":1:django.contrib.sessions.cache{}", r.from(LOWER36, 32)),
            pattern: ":{num}:django.contrib.sessions.cache{token}",
        },
        Family {
            name: "Django template fragments",
            source: "django/core/cache/utils.py `template.cache.%s.%s` (name, md5)",
            key: |r| format!(":1:template.cache.sidebar.{}", r.hex(32)),
            pattern: ":{num}:template.cache.sidebar.{hex}",
        },
        Family {
            name: "Rails session cache store",
            source: "ActionDispatch::Session::CacheStore `_session_id:` + Rack private id `2::` + SHA-256 hex",
            key: |r| format!("_session_id:2::{}", r.hex(64)),
            pattern: "_session_id:{num}::{hex}",
        },
        Family {
            name: "Rails fragment cache",
            source: "Rails guide caching_with_rails: `views/products/index:<digest>/products/1`",
            key: |r| format!("myapp:views/products/index:{}/products/{}", r.hex(32), r.num(100_000)),
            pattern: "myapp:views/products/index:{hex}/products/{num}",
        },
        Family {
            name: "Laravel 11 sessions",
            source: "laravel/framework Session/Store.php: 40 of [A-Za-z0-9], glued to the cache prefix",
            key: |r| format!("laravel_database_laravel_cache_{}", r.from(BASE62, 40)),
            pattern: "laravel_database_laravel_cache_{token}",
        },
        Family {
            name: "Laravel 9 cache",
            source: "laravel/laravel config (prefix `laravel_database_laravel_cache_:`)",
            key: |r| format!("laravel_database_laravel_cache_:users:{}", r.num(100_000)),
            pattern: "laravel_database_laravel_cache_:users:{num}",
        },
        Family {
            name: "phpredis sessions",
            source: "phpredis redis_session.c `PHPREDIS_SESSION:`; php.ini-production: 26 chars of [0-9a-v]",
            key: |r| format!("PHPREDIS_SESSION:{}", r.from("0123456789abcdefghijklmnopqrstuv", 26)),
            pattern: "PHPREDIS_SESSION:{token}",
        },
        Family {
            name: "Spring Session sessions",
            source: "RedisIndexedSessionRepository `spring:session:sessions:<uuid>`",
            key: |r| format!("spring:session:sessions:{}", r.uuid()),
            pattern: "spring:session:sessions:{uuid}",
        },
        Family {
            name: "Spring Session expiries",
            source: "RedisIndexedSessionRepository `spring:session:sessions:expires:<uuid>`",
            key: |r| format!("spring:session:sessions:expires:{}", r.uuid()),
            pattern: "spring:session:sessions:expires:{uuid}",
        },
        Family {
            name: "Spring Session expirations",
            source: "RedisIndexedSessionRepository `spring:session:expirations:<epoch ms>`",
            key: |r| format!("spring:session:expirations:{}", 1_706_745_600_000 + 60_000 * r.below(10_000)),
            pattern: "spring:session:expirations:{num}",
        },
        Family {
            name: "Spring Cache",
            source: "spring-data-redis CacheKeyPrefix `name::`",
            key: |r| format!("users::{}", r.num(1_000_000)),
            pattern: "users::{num}",
        },
        Family {
            name: "Celery results",
            source: "celery/backends/base.py `celery-task-meta-` + uuid4",
            key: |r| format!("celery-task-meta-{}", r.uuid()),
            pattern: "celery-task-meta-{uuid}",
        },
        Family {
            name: "RQ jobs",
            source: "rq/job.py `rq:job:` + uuid4",
            key: |r| format!("rq:job:{}", r.uuid()),
            pattern: "rq:job:{uuid}",
        },
        Family {
            name: "RQ job dependencies",
            source: "rq/job.py `rq:job::<id>:dependencies` (the prefix ends in `:` and one more is added)",
            key: |r| format!("rq:job::{}:dependencies", r.uuid()),
            pattern: "rq:job::{uuid}:dependencies",
        },
        Family {
            name: "Sidekiq daily stats",
            source: "sidekiq lib/sidekiq/api.rb `stat:processed:%Y-%m-%d`",
            key: |r| format!("stat:processed:2024-{:02}-{:02}", 1 + r.below(12), 1 + r.below(28)),
            pattern: "stat:processed:{date}",
        },
        Family {
            name: "BullMQ jobs",
            source: "taskforcesh/bullmq queue-keys.ts `bull:<queue>:<id>` with ids from INCR",
            key: |r| format!("bull:emails:{}", r.num(1_000_000)),
            pattern: "bull:emails:{num}",
        },
        Family {
            name: "BullMQ job locks",
            source: "taskforcesh/bullmq Lua scripts `<job key>:lock`",
            key: |r| format!("bull:emails:{}:lock", r.num(1_000_000)),
            pattern: "bull:emails:{num}:lock",
        },
        Family {
            name: "Rack::Attack throttles",
            source: "rack/rack-attack cache.rb `rack::attack:<epoch / period>:<name>:<discriminator>`",
            key: |r| {
                format!(
                    "rack::attack:{}:req/ip:10.{}.{}.{}",
                    28_445_760 + r.below(100),
                    r.below(256),
                    r.below(256),
                    r.below(256)
                )
            },
            pattern: "rack::attack:{num}:req/ip:{ip}",
        },
        Family {
            name: "rate-limit-redis",
            source: "express-rate-limit/rate-limit-redis `rl:` + client IPv4, or IPv6 network `/56`",
            key: |r| {
                if r.below(2) == 0 {
                    format!("rl:203.0.{}.{}", r.below(256), r.below(256))
                } else {
                    format!("rl:2001:db8:{:x}:{:x}00::/56", r.below(65_536), r.below(256))
                }
            },
            pattern: "rl:{ip}",
        },
        Family {
            name: "Kong rate limiting",
            source: "Kong/kong plugins/rate-limiting policies `ratelimit:<route>:<service>:<identifier>:<ms>:<period>`",
            key: |r| {
                format!(
                    "ratelimit:{}:{}:10.0.{}.{}:{}:minute",
                    r.uuid(),
                    r.uuid(),
                    r.below(256),
                    r.below(256),
                    1_706_745_600_000 + 60_000 * r.below(1_000)
                )
            },
            pattern: "ratelimit:{uuid}:{uuid}:{ip}:{num}:minute",
        },
        Family {
            name: "django-cacheops queries",
            source: "Suor/django-cacheops query.py `q:` + md5",
            key: |r| format!("q:{}", r.hex(32)),
            pattern: "q:{hex}",
        },
        Family {
            name: "django-cacheops conjunctions",
            source: "Suor/django-cacheops cache_thing.lua `conj:<table>:<field>=<value>`",
            key: |r| format!("conj:auth_user:id={}", r.num(1_000_000)),
            pattern: "conj:auth_user:id={num}",
        },
        Family {
            name: "Apollo persisted queries",
            source: "apollo-server requestPipeline.ts `apq:` + SHA-256 hex",
            key: |r| format!("apq:{}", r.hex(64)),
            pattern: "apq:{hex}",
        },
        Family {
            name: "ASP.NET Core distributed cache sessions",
            source: "aspnetcore SessionMiddleware.cs: a GUID of 16 random bytes, after the instance name",
            key: |r| format!("MyApp:{}-{}-{}-{}-{}", r.hex(8), r.hex(4), r.hex(4), r.hex(4), r.hex(12)),
            pattern: "MyApp:{uuid}",
        },
        Family {
            name: "Micronaut sessions",
            source: "micronaut-redis RedisSessionStore `micronaut:session:sessions:<id>`",
            key: |r| format!("micronaut:session:sessions:{}", r.uuid()),
            pattern: "micronaut:session:sessions:{uuid}",
        },
        Family {
            name: "Spring Data Redis repositories",
            source: "spring-data-redis reference, @RedisHash: `people:<id>`",
            key: |r| format!("people:{}", r.uuid()),
            pattern: "people:{uuid}",
        },
        Family {
            name: "Spring Data Redis index of an entity",
            source: "spring-data-redis reference, @RedisHash: `people:<id>:idx`",
            key: |r| format!("people:{}:idx", r.uuid()),
            pattern: "people:{uuid}:idx",
        },
        Family {
            name: "ULIDs",
            source: "ULID spec: 26 Crockford base32 characters, a 48-bit time first",
            key: |r| format!("msg:01H{}", r.from(CROCKFORD, 23)),
            pattern: "msg:{token}",
        },
        Family {
            name: "Snowflake ids",
            source: "Twitter Snowflake: 63-bit decimal, 18 to 19 digits today",
            key: |r| format!("tweet:{}", 1_700_000_000_000_000_000u64 + r.below(100_000_000_000_000_000)),
            pattern: "tweet:{num}",
        },
        Family {
            name: "MongoDB ObjectIds",
            source: "MongoDB manual, ObjectId: 24 hex digits",
            key: |r| format!("doc:65{}", r.hex(22)),
            pattern: "doc:{hex}",
        },
        Family {
            name: "KSUIDs",
            source: "segmentio/ksuid: 27 base62 characters",
            key: |r| format!("evt:2{}", r.from(BASE62, 26)),
            pattern: "evt:{token}",
        },
        Family {
            name: "nanoids",
            source: "ai/nanoid: 21 characters of the URL alphabet, `-` and `_` included",
            key: |r| format!("link:{}", r.from(BASE64URL, 21)),
            pattern: "link:{token}",
        },
        Family {
            name: "Redis Cluster hash tags",
            source: "Redis Cluster specification, hash tags: `{user1000}.following`",
            key: |r| format!("{{user{}}}.following", r.num(1_000_000)),
            pattern: "{user{num}}.following",
        },
        Family {
            name: "e-mail keyed preferences",
            source: "Spring Cache examples, `users::alice@example.com`",
            key: |r| {
                format!(
                    "prefs:{}.{}@example.com",
                    r.from("abcdefghijklmnopqrstuvwxyz", 5),
                    r.from("abcdefghijklmnopqrstuvwxyz", 7)
                )
            },
            pattern: "prefs:{email}",
        },
        Family {
            name: "locale-specific messages",
            source: "i18n caches: one key per locale and page",
            key: |r| format!("i18n:pt-BR:messages:{}", r.num(10_000)),
            pattern: "i18n:pt-BR:messages:{num}",
        },
        Family {
            name: "sessions with a glued prefix",
            source: "application session keys `sess_` + 32 hex digits, as in a Twitter trace",
            key: |r| format!("sess_{}", r.hex(32)),
            pattern: "sess_{hex}",
        },
    ]
}

/// Folds `keys` in order with learning, then gives each key's final pattern: what the engine reports after the
/// patterns learned along the way were folded again and merged.
fn fold_all(keys: &[(usize, String)]) -> Vec<String> {
    let mut folder = PatternFolder::new(FoldConfig::default());
    let first: Vec<String> = keys.iter().map(|(_, key)| folder.fold(key.as_bytes()).pattern.to_string()).collect();
    let mut finals: BTreeMap<String, String> = BTreeMap::new();
    for pattern in &first {
        if finals.contains_key(pattern) {
            continue;
        }
        let mut current = pattern.clone();
        for _ in 0..8 {
            let next = folder.refold(&current).to_string();
            if next == current {
                break;
            }
            current = next;
        }
        finals.insert(pattern.clone(), current);
    }
    first.iter().map(|p| finals[p].clone()).collect()
}

fn check_order(order: &str, keys: &[(usize, String)], families: &[Family]) {
    let patterns = fold_all(keys);
    let mut by_family: BTreeMap<usize, BTreeSet<&str>> = BTreeMap::new();
    for ((family, _), pattern) in keys.iter().zip(&patterns) {
        by_family.entry(*family).or_default().insert(pattern);
    }
    let mut wrong = Vec::new();
    for (index, family) in families.iter().enumerate() {
        let got = &by_family[&index];
        if got.len() != 1 || !got.contains(family.pattern) {
            let example = keys.iter().find(|(f, _)| *f == index).map(|(_, k)| k.as_str()).unwrap_or("");
            wrong.push(format!(
                "{} ({}): expected {}, got {:?}; a key: {example}",
                family.name, family.source, family.pattern, got
            ));
        }
    }
    assert!(wrong.is_empty(), "{order}: {} families wrong:\n{}", wrong.len(), wrong.join("\n"));
}

#[test]
fn every_family_folds_to_its_pattern_in_any_order_and_mixed() {
    let families = families();
    let expected: BTreeSet<&str> = families.iter().map(|f| f.pattern).collect();
    assert_eq!(expected.len(), families.len(), "two families share a pattern");
    let frameworks: BTreeSet<&str> = families.iter().map(|f| f.source.split(' ').next().unwrap()).collect();
    assert!(frameworks.len() >= 20, "{} sources", frameworks.len());

    let mut rng = Rng(0x5eed_cafe);
    let per_family = 300;
    let keys: Vec<(usize, String)> = (0..families.len())
        .flat_map(|f| (0..per_family).map(move |_| f))
        .map(|f| (f, (families[f].key)(&mut rng)))
        .collect();

    // One family after the other, as in a recording of one service after another.
    check_order("family by family", &keys, &families);
    // Interleaved: one key of each family in turn.
    let mut interleaved = Vec::new();
    for i in 0..per_family {
        for f in 0..families.len() {
            interleaved.push(keys[f * per_family + i].clone());
        }
    }
    check_order("interleaved", &interleaved, &families);
    // Shuffled, three times.
    for seed in 1..=3u64 {
        let mut shuffled = keys.clone();
        let mut r = Rng(seed * 0x9e37_79b9);
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, r.below(i as u64 + 1) as usize);
        }
        check_order(&format!("shuffled with seed {seed}"), &shuffled, &families);
    }
}
