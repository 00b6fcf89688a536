//! Error type of the crate and its mapping to the documented process exit codes.

use std::path::PathBuf;

/// Process exit codes, as documented in README.md.
pub mod exit {
    /// Everything succeeded.
    pub const OK: i32 = 0;
    /// A failure: I/O, database, or an internal error.
    pub const FAILURE: i32 = 1;
    /// Bad usage: unknown field, bad value, unknown key or profile, broken rule.
    pub const USAGE: i32 = 2;
    /// Some items were refused (ingest); the rest applied.
    pub const PARTIAL: i32 = 3;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller asked for something invalid; the message says what and how to fix it.
    #[error("{0}")]
    Invalid(String),
    /// A key, profile or record that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A failure of the database engine, with the engine's message. Each engine converts
    /// its own errors into this (the SQLite engine: `impl From<rusqlite::Error>`).
    #[error("database: {0}")]
    Db(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// The exit code this error ends the process with.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Invalid(_) | Error::NotFound(_) => exit::USAGE,
            Error::Db(_) | Error::Io { .. } | Error::Other(_) => exit::FAILURE,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
