//! Exit codes: what the process tells a script. Findings use 1 and 2 (with --fail-on); errors use the BSD
//! sysexits values so that a script can tell bad input from a missing file from a broken disk.

use std::io;

use cachescope_core::Severity;
use cachescope_trace::TraceError;

use crate::config::ConfigError;

/// A service cachescope needs is not there: the address to listen on is taken, the server does not answer.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

/// Options that do not go together, found after parsing.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The server refused the credentials.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NoPermission(pub String);

/// The server lacks a setting the command needs (`notify-keyspace-events` for `watch`); the message says how to set it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ServerSettingMissing(pub String);

/// An output the user named (`--record FILE`) could not be created or written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}")]
pub struct OutputError {
    pub path: String,
    #[source]
    pub source: io::Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    Success = 0,
    /// A finding at warning level or above, with --fail-on warning.
    Warning = 1,
    /// A critical finding, with --fail-on.
    Critical = 2,
    Usage = 64,
    DataError = 65,
    NoInput = 66,
    /// A service could not be reached or offered: the proxy cannot listen, the server cannot be reached.
    Unavailable = 69,
    /// The server refused the credentials.
    NoPermission = 77,
    /// An output file could not be created (`--record`).
    CantCreate = 73,
    IoError = 74,
    Config = 78,
}

impl Exit {
    pub fn for_severity(severity: Option<Severity>) -> Exit {
        match severity {
            Some(Severity::Critical) => Exit::Critical,
            Some(Severity::Warning) => Exit::Warning,
            _ => Exit::Success,
        }
    }

    /// The exit code an error deserves, from the first error in its chain that says.
    pub fn for_error(error: &anyhow::Error) -> Exit {
        for cause in error.chain() {
            if let Some(trace) = cause.downcast_ref::<TraceError>() {
                return match trace {
                    TraceError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => Exit::NoInput,
                    // A compressed file that ends inside a frame: the data is at fault, not the disk.
                    TraceError::Io { .. } if trace.is_cut_short() => Exit::DataError,
                    TraceError::Io { .. } => Exit::IoError,
                    TraceError::Malformed { .. }
                    | TraceError::UnknownFormat { .. }
                    | TraceError::CsvColumnsMissing { .. } => Exit::DataError,
                };
            }
            if let Some(share) = cause.downcast_ref::<crate::shares::ShareError>() {
                return match share {
                    crate::shares::ShareError::Read { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                        Exit::NoInput
                    }
                    crate::shares::ShareError::Read { .. } => Exit::IoError,
                    crate::shares::ShareError::NotAShare { .. } | crate::shares::ShareError::Version { .. } => {
                        Exit::DataError
                    }
                };
            }
            if cause.downcast_ref::<cachescope_core::MergeError>().is_some() {
                return Exit::DataError;
            }
            if cause.downcast_ref::<UsageError>().is_some() {
                return Exit::Usage;
            }
            if cause.downcast_ref::<ConfigError>().is_some()
                || cause.downcast_ref::<ServerSettingMissing>().is_some()
                || cause.downcast_ref::<crate::sources::proxy::TlsSetupError>().is_some()
            {
                return Exit::Config;
            }
            if cause.downcast_ref::<OutputError>().is_some() {
                return Exit::CantCreate;
            }
            if cause.downcast_ref::<Unavailable>().is_some() {
                return Exit::Unavailable;
            }
            if cause.downcast_ref::<NoPermission>().is_some() {
                return Exit::NoPermission;
            }
            if let Some(io) = cause.downcast_ref::<io::Error>() {
                return if io.kind() == io::ErrorKind::NotFound { Exit::NoInput } else { Exit::IoError };
            }
        }
        Exit::IoError
    }
}

/// Whether an error is only the reader of our output going away (`cachescope analyze t | head`).
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|c| c.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe))
}
