//! The configuration file: pattern rules and engine settings, in TOML. Command-line flags override it.
//!
//! ```toml
//! [patterns]
//! max = 500               # patterns kept; the rest go to {other}
//! learn-threshold = 50    # distinct values after which a position folds to {id}; 0 = no learning
//!
//! [[patterns.rule]]       # tried in order, before the built-in folding
//! match = '^sess_([A-Za-z0-9]+)$'
//! pattern = 'session:{token}'
//!
//! [engine]
//! key-budget = "64MiB"
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use cachescope_core::pattern::KeyRules;
use cachescope_core::{EngineConfig, InitialState};
use cachescope_live::SeriesConfig;
use serde::Deserialize;

use crate::cli::{EngineArgs, LiveArgs};
use crate::exit::UsageError;

/// The configuration file is unreadable or wrong. Each names the file and what is wrong in it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct File {
    #[serde(default)]
    patterns: Patterns,
    #[serde(default)]
    engine: Engine,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Patterns {
    max: Option<usize>,
    learn_threshold: Option<usize>,
    #[serde(default)]
    rule: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    #[serde(rename = "match")]
    regex: String,
    pattern: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Engine {
    key_budget: Option<String>,
}

/// The engine's configuration from the file named by --config (if any) and the flags.
pub fn engine_config(args: &EngineArgs, initial_state: InitialState) -> Result<EngineConfig, ConfigError> {
    let mut config = EngineConfig { initial_state, ..EngineConfig::default() };
    if let Some(path) = &args.config {
        apply_file(path, &mut config)?;
    }
    if let Some(budget) = args.key_budget {
        config.key_budget_bytes = budget as usize;
    }
    if let Some(max) = args.max_patterns {
        config.max_patterns = max;
    }
    Ok(config)
}

fn apply_file(path: &Path, config: &mut EngineConfig) -> Result<(), ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    let file: File =
        toml::from_str(&text).map_err(|e| ConfigError::Invalid { path: path.to_path_buf(), message: e.to_string() })?;
    if let Some(max) = file.patterns.max {
        config.max_patterns = max;
    }
    if let Some(threshold) = file.patterns.learn_threshold {
        config.fold.learn_threshold = threshold;
    }
    config.fold.rules = KeyRules::new(file.patterns.rule.iter().map(|r| (r.regex.as_str(), r.pattern.clone())))
        .map_err(|e| ConfigError::Invalid { path: path.to_path_buf(), message: e.to_string() })?;
    if let Some(budget) = file.engine.key_budget {
        config.key_budget_bytes = parse_size::Config::new().with_binary().parse_size(&budget).map_err(|e| {
            ConfigError::Invalid { path: path.to_path_buf(), message: format!("engine.key-budget `{budget}`: {e}") }
        })? as usize;
    }
    Ok(())
}

/// The live series from --window and --horizon; series of their own (and `pattern` label values) for at most
/// 100 patterns, fewer with a lower --max-patterns.
pub fn live_config(args: &LiveArgs, engine: &EngineArgs) -> Result<SeriesConfig, UsageError> {
    let second = Duration::from_secs(1);
    let hour = Duration::from_secs(3600);
    if args.window < second || args.window > hour {
        return Err(UsageError(format!(
            "--window {} is out of range: give 1s to 1h (10s is a good start)",
            humantime::format_duration(args.window)
        )));
    }
    if args.horizon < args.window * 10 {
        return Err(UsageError(format!(
            "--horizon {} keeps fewer than 10 windows of {}: give a longer horizon or a shorter window",
            humantime::format_duration(args.horizon),
            humantime::format_duration(args.window)
        )));
    }
    let window = args.window.as_micros() as u64;
    let horizon = args.horizon.as_micros() as u64;
    let defaults = SeriesConfig::default();
    Ok(SeriesConfig {
        window,
        horizon,
        recent: horizon.min(hour.as_micros() as u64),
        max_patterns: engine.max_patterns.map_or(defaults.max_patterns, |max| max.min(defaults.max_patterns)),
        ..defaults
    })
}
