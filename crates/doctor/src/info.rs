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

    /// `valkey 8.0.1` or `redis 7.0.15`.
    pub fn version(&self) -> String {
        match (self.get("valkey_version"), self.get("redis_version")) {
            (Some(valkey), _) => format!("valkey {valkey}"),
            (None, Some(redis)) => format!("redis {redis}"),
            (None, None) => "unknown".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
