//! Eviction policies by name, as an operator writes them: Redis's own `maxmemory-policy` names simulate Redis's
//! sampled approximations; a `-exact` suffix asks for the textbook algorithm instead.
//!
//! | name | keys it may evict | which first |
//! |---|---|---|
//! | `noeviction` | none: a write that does not fit is refused with OOM | |
//! | `allkeys-lru`, `volatile-lru` | all keys, or those with a TTL | Redis's LRU: best of `maxmemory-samples` random keys, through a pool of 16 candidates, on a clock of seconds |
//! | `allkeys-lfu`, `volatile-lfu` | | Redis's LFU: logarithmic 8-bit counters (`lfu-log-factor`) that decay (`lfu-decay-time`), sampled the same way |
//! | `allkeys-random`, `volatile-random` | | a random key |
//! | `volatile-ttl` | keys with a TTL | Redis's: the nearest expiry among the samples |
//! | `allkeys-lru-exact`, `volatile-lru-exact` | | the least recently used key |
//! | `allkeys-lfu-exact`, `volatile-lfu-exact` | | the least frequently used key since it was cached (ties: least recent) |
//! | `volatile-ttl-exact` | keys with a TTL | the nearest expiry |
//! | `allkeys-fifo`, `volatile-fifo` | | the oldest insertion |

use std::fmt;
use std::str::FromStr;

/// Which keys a policy may evict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    AllKeys,
    /// Only keys with a TTL (Redis's `volatile-*`): keys without one are never evicted.
    Volatile,
}

/// What a policy evicts first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rank {
    Lru,
    Lfu,
    Fifo,
    Random,
    /// The nearest expiry.
    Ttl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// The textbook algorithm, over every candidate key.
    Exact,
    /// Redis's approximation: the best of a few random keys, through an eviction pool.
    RedisSampled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Nothing is evicted: a write that does not fit is refused with OOM.
    NoEviction,
    Evict {
        scope: Scope,
        rank: Rank,
        algorithm: Algorithm,
    },
}

impl Policy {
    /// Redis's default for a cache that evicts: `allkeys-lru`, as Redis runs it.
    pub const REDIS_LRU: Policy =
        Policy::Evict { scope: Scope::AllKeys, rank: Rank::Lru, algorithm: Algorithm::RedisSampled };
    /// The textbook LRU that miss-ratio curves describe.
    pub const EXACT_LRU: Policy = Policy::Evict { scope: Scope::AllKeys, rank: Rank::Lru, algorithm: Algorithm::Exact };

    /// Every policy, for help texts and tests.
    pub fn all() -> Vec<Policy> {
        let mut all = vec![Policy::NoEviction];
        for algorithm in [Algorithm::RedisSampled, Algorithm::Exact] {
            for scope in [Scope::AllKeys, Scope::Volatile] {
                for rank in [Rank::Lru, Rank::Lfu, Rank::Random, Rank::Ttl, Rank::Fifo] {
                    let policy = Policy::Evict { scope, rank, algorithm };
                    if policy.is_valid() {
                        all.push(policy);
                    }
                }
            }
        }
        all
    }

    fn is_valid(self) -> bool {
        match self {
            Policy::NoEviction => true,
            Policy::Evict { scope, rank, algorithm } => {
                // TTL order needs TTLs; random and FIFO have one algorithm only, named without `-exact`.
                let ttl_without_ttls = rank == Rank::Ttl && scope == Scope::AllKeys;
                let sampled_without_samples =
                    matches!(rank, Rank::Random | Rank::Fifo) && algorithm == Algorithm::RedisSampled;
                !ttl_without_ttls && !sampled_without_samples
            }
        }
    }

    /// Whether keys without a TTL can be evicted.
    pub fn scope(self) -> Option<Scope> {
        match self {
            Policy::NoEviction => None,
            Policy::Evict { scope, .. } => Some(scope),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Policy::Evict { scope, rank, algorithm } = *self else { return f.write_str("noeviction") };
        let scope = match scope {
            Scope::AllKeys => "allkeys",
            Scope::Volatile => "volatile",
        };
        let rank = match rank {
            Rank::Lru => "lru",
            Rank::Lfu => "lfu",
            Rank::Fifo => "fifo",
            Rank::Random => "random",
            Rank::Ttl => "ttl",
        };
        let exact =
            algorithm == Algorithm::Exact && !matches!(self, Policy::Evict { rank: Rank::Fifo | Rank::Random, .. });
        write!(f, "{scope}-{rank}{}", if exact { "-exact" } else { "" })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown eviction policy `{0}`: expected noeviction, allkeys-lru, allkeys-lfu, allkeys-random, volatile-lru, volatile-lfu, volatile-random, volatile-ttl (as Redis runs them), a -exact variant of those (allkeys-lru-exact), or allkeys-fifo / volatile-fifo"
)]
pub struct UnknownPolicy(String);

impl FromStr for Policy {
    type Err = UnknownPolicy;

    fn from_str(text: &str) -> Result<Policy, UnknownPolicy> {
        let name = text.trim().to_ascii_lowercase();
        if name == "noeviction" {
            return Ok(Policy::NoEviction);
        }
        let unknown = || UnknownPolicy(text.to_string());
        let (name, exact) = match name.strip_suffix("-exact") {
            Some(name) => (name, true),
            None => (name.as_str(), false),
        };
        let (scope, rank) = name.split_once('-').ok_or_else(unknown)?;
        let scope = match scope {
            "allkeys" => Scope::AllKeys,
            "volatile" => Scope::Volatile,
            _ => return Err(unknown()),
        };
        let rank = match rank {
            "lru" => Rank::Lru,
            "lfu" => Rank::Lfu,
            "fifo" => Rank::Fifo,
            "random" => Rank::Random,
            "ttl" => Rank::Ttl,
            _ => return Err(unknown()),
        };
        let single_algorithm = matches!(rank, Rank::Fifo | Rank::Random);
        if exact && single_algorithm {
            return Err(unknown());
        }
        let algorithm = if exact || single_algorithm { Algorithm::Exact } else { Algorithm::RedisSampled };
        let policy = Policy::Evict { scope, rank, algorithm };
        if policy.is_valid() { Ok(policy) } else { Err(unknown()) }
    }
}

/// Redis's eviction settings, used by its sampled policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisTuning {
    /// `maxmemory-samples`: keys sampled per eviction.
    pub samples: u32,
    /// `lfu-log-factor`: how slowly LFU counters grow.
    pub lfu_log_factor: u32,
    /// `lfu-decay-time`: minutes for an LFU counter to lose one.
    pub lfu_decay_minutes: u32,
}

impl Default for RedisTuning {
    fn default() -> Self {
        RedisTuning { samples: 5, lfu_log_factor: 10, lfu_decay_minutes: 1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let names: Vec<String> = Policy::all().iter().map(Policy::to_string).collect();
        assert_eq!(
            names,
            [
                "noeviction",
                "allkeys-lru",
                "allkeys-lfu",
                "volatile-lru",
                "volatile-lfu",
                "volatile-ttl",
                "allkeys-lru-exact",
                "allkeys-lfu-exact",
                "allkeys-random",
                "allkeys-fifo",
                "volatile-lru-exact",
                "volatile-lfu-exact",
                "volatile-random",
                "volatile-ttl-exact",
                "volatile-fifo",
            ]
        );
        for name in names {
            assert_eq!(name.parse::<Policy>().unwrap().to_string(), name);
        }
        assert_eq!("ALLKEYS-LRU".parse::<Policy>().unwrap(), Policy::REDIS_LRU);
        for bad in ["allkeys-ttl", "allkeys-random-exact", "lru", "allkeys-lru-approx", ""] {
            let error = bad.parse::<Policy>().unwrap_err().to_string();
            assert!(error.contains(&format!("`{bad}`")) && error.contains("allkeys-lru"), "{error}");
        }
    }
}
