//! The file a shard of an analysis writes (`cachescope analyze --shard I/N`) and `cachescope merge` reads:
//! zstd-compressed JSON, versioned, described in docs/shards.md. It holds the engine's share
//! ([`cachescope_core::Partial`]) and what the report says of its source.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use cachescope_core::Partial;
use cachescope_core::report::{CaptureNotes, SourceInfo};
use serde::{Deserialize, Serialize};

use crate::exit::OutputError;

/// What the file says it is, so that another file is refused at once.
pub const FORMAT: &str = "cachescope-share";
/// Bumped when a change to the file would be misread by an older `merge`.
pub const VERSION: u32 = 1;

/// The suffix `analyze --shard` gives the files it names itself.
pub const EXTENSION: &str = "cs";

#[derive(Serialize, Deserialize)]
pub struct ShareFile {
    pub format: String,
    pub version: u32,
    /// The trace, as the report names it.
    pub source: SourceInfo,
    /// For a packet capture file: what the capture could and could not follow (the same in every shard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<CaptureNotes>,
    /// The trace was cut short and read up to the cut (the same in every shard).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cut_short: bool,
    pub share: Partial,
}

/// Why a file is not a share that can be merged.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a share written by `cachescope analyze --shard`: {why}")]
    NotAShare { path: PathBuf, why: String },
    #[error(
        "{path} was written by a cachescope whose shares are version {found}; this one reads version {VERSION}: \
         run every shard and the merge with one version"
    )]
    Version { path: PathBuf, found: u32 },
}

/// The default name of shard `shard`'s file: `shard-3-of-16.cs`.
pub fn default_path(shard: cachescope_core::Shard) -> PathBuf {
    PathBuf::from(format!("shard-{}-of-{}.{EXTENSION}", shard.index + 1, shard.count))
}

pub fn write(path: &Path, file: &ShareFile) -> Result<(), OutputError> {
    let error = |source| OutputError { path: path.display().to_string(), source };
    let out = File::create(path).map_err(error)?;
    let mut encoder = zstd::Encoder::new(BufWriter::new(out), 3).map_err(error)?;
    serde_json::to_writer(&mut encoder, file).map_err(|e| error(e.into()))?;
    let mut out = encoder.finish().map_err(error)?;
    out.flush().map_err(error)
}

pub fn read(path: &Path) -> Result<ShareFile, ShareError> {
    let input = File::open(path).map_err(|source| ShareError::Read { path: path.to_path_buf(), source })?;
    let not_a_share = |why: String| ShareError::NotAShare { path: path.to_path_buf(), why };
    let decoder = zstd::Decoder::new(BufReader::new(input)).map_err(|e| not_a_share(e.to_string()))?;
    let value: serde_json::Value = serde_json::from_reader(decoder).map_err(|e| {
        not_a_share(if e.is_io() {
            "it is not zstd-compressed".to_string()
        } else {
            format!("its JSON is broken ({e})")
        })
    })?;
    if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(not_a_share(format!("it does not say `\"format\": \"{FORMAT}\"`")));
    }
    let found = value.get("version").and_then(|v| v.as_u64()).unwrap_or(0) as u32;
    if found != VERSION {
        return Err(ShareError::Version { path: path.to_path_buf(), found });
    }
    serde_json::from_value(value).map_err(|e| not_a_share(e.to_string()))
}
