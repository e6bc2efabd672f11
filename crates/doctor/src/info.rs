//! `INFO` as a map: `field:value` lines under `# Section` headings, with the composite fields parsed where the
//! checks need them (`errorstat_OOM:count=3`, `db0:keys=10,expires=2,avg_ttl=0`).

use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Info {
    fields: BTreeMap<String, String>,
}

impl Info {
    pub fn parse(text: &str) -> Info {
        let fields = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
            .collect();
        Info { fields }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    pub fn number(&self, name: &str) -> Option<u64> {
        self.get(name)?.parse().ok()
    }

    pub fn float(&self, name: &str) -> Option<f64> {
        self.get(name)?.parse().ok()
    }

    /// `count` of each `errorstat_KIND` line (Redis 6.2 and later), by kind.
    pub fn error_counts(&self) -> BTreeMap<String, u64> {
        self.fields
            .iter()
            .filter_map(|(name, value)| {
                let kind = name.strip_prefix("errorstat_")?;
                let count = value.split(',').find_map(|part| part.strip_prefix("count="))?.parse().ok()?;
                Some((kind.to_string(), count))
            })
            .collect()
    }

    /// Whether the server reports error statistics at all (Redis 6.2 and later, Valkey).
    pub fn has_error_stats(&self) -> bool {
        self.fields.keys().any(|name| name.starts_with("errorstat_")) || self.get("total_error_replies").is_some()
    }

    /// `keys` of `dbN`.
    pub fn db_keys(&self, db: u32) -> u64 {
        self.get(&format!("db{db}"))
            .and_then(|value| value.split(',').find_map(|part| part.strip_prefix("keys="))?.parse().ok())
            .unwrap_or(0)
    }

    /// The readings of several servers (the primaries of a cluster) as one: counters, memory and keys summed,
    /// the shortest uptime, the rest from the first.
    pub fn summed(readings: &[Info]) -> Info {
        const SUMMED: &[&str] = &[
            "keyspace_hits",
            "keyspace_misses",
            "evicted_keys",
            "expired_keys",
            "total_commands_processed",
            "total_error_replies",
            "used_memory",
            "maxmemory",
            "connected_clients",
        ];
        let Some(first) = readings.first() else { return Info::default() };
        let mut fields = first.fields.clone();
        let total = |name: &str| readings.iter().filter_map(|r| r.number(name)).sum::<u64>();
        for name in SUMMED {
            if readings.iter().any(|r| r.get(name).is_some()) {
                fields.insert(name.to_string(), total(name).to_string());
            }
        }
        if let Some(uptime) = readings.iter().filter_map(|r| r.number("uptime_in_seconds")).min() {
            fields.insert("uptime_in_seconds".into(), uptime.to_string());
        }
        for (kind, count) in readings.iter().flat_map(|r| r.error_counts()).fold(
            BTreeMap::<String, u64>::new(),
            |mut counts, (kind, n)| {
                *counts.entry(kind).or_default() += n;
                counts
            },
        ) {
            fields.insert(format!("errorstat_{kind}"), format!("count={count}"));
        }
        let dbs: std::collections::BTreeSet<&String> =
            readings.iter().flat_map(|r| r.fields.keys()).filter(|name| is_db(name)).collect();
        for name in dbs {
            let part = |key: &str| {
                readings
                    .iter()
                    .filter_map(|r| r.get(name))
                    .filter_map(|value| value.split(',').find_map(|p| p.strip_prefix(key))?.parse::<u64>().ok())
                    .sum::<u64>()
            };
            fields.insert(name.clone(), format!("keys={},expires={},avg_ttl=0", part("keys="), part("expires=")));
        }
        Info { fields }
    }

    /// `valkey 8.0.1` or `redis 7.0.15`.
    pub fn version(&self) -> String {
        match (self.get("valkey_version"), self.get("redis_version")) {
            (Some(valkey), _) => format!("valkey {valkey}"),
            (None, Some(redis)) => format!("redis {redis}"),
            (None, None) => "unknown".to_string(),
        }
    }
}

/// `db0`, `db15`: a keyspace line.
fn is_db(name: &str) -> bool {
    name.strip_prefix("db").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readings_of_several_servers_sum_as_one() {
        let a = Info::parse(
            "# Server\r\nredis_version:7.2.4\r\nuptime_in_seconds:100\r\n# Stats\r\nkeyspace_hits:10\r\n\
             keyspace_misses:5\r\nerrorstat_OOM:count=2\r\n# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=5\r\n",
        );
        let b = Info::parse(
            "redis_version:7.2.4\r\nuptime_in_seconds:40\r\nkeyspace_hits:1\r\nkeyspace_misses:2\r\n\
             errorstat_OOM:count=1\r\nerrorstat_ERR:count=4\r\ndb0:keys=4,expires=0,avg_ttl=0\r\n",
        );
        let sum = Info::summed(&[a, b]);
        assert_eq!(sum.number("keyspace_hits"), Some(11));
        assert_eq!(sum.number("keyspace_misses"), Some(7));
        assert_eq!(sum.number("uptime_in_seconds"), Some(40));
        assert_eq!(sum.db_keys(0), 7);
        assert_eq!(sum.error_counts(), BTreeMap::from([("ERR".into(), 4), ("OOM".into(), 3)]));
        assert_eq!(sum.version(), "redis 7.2.4");
        assert_eq!(sum.get("evicted_keys"), None);
        assert_eq!(Info::summed(&[]), Info::default());
    }

    #[test]
    fn fields_errors_and_keyspace() {
        let info = Info::parse(
            "# Server\r\nredis_version:7.0.15\r\nuptime_in_seconds:42\r\n\r\n# Errorstats\r\nerrorstat_OOM:count=3\r\n\
             errorstat_WRONGTYPE:count=1\r\n# Keyspace\r\ndb0:keys=10,expires=2,avg_ttl=0\r\n",
        );
        assert_eq!(info.number("uptime_in_seconds"), Some(42));
        assert_eq!(info.version(), "redis 7.0.15");
        assert_eq!(info.error_counts().get("OOM"), Some(&3));
        assert!(info.has_error_stats());
        assert_eq!(info.db_keys(0), 10);
        assert_eq!(info.db_keys(1), 0);
        assert_eq!(Info::parse("valkey_version:8.0.1\nredis_version:7.2.4\n").version(), "valkey 8.0.1");
    }
}
