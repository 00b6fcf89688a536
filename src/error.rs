//! Error type of the crate and its mapping to the documented process exit codes.

use std::path::PathBuf;

/// Process exit codes, as documented in README.md and in `smsync --help` ([`exit::HELP`]).
/// Every command ends with one of them; a run over several profiles ends with the
/// [`exit::worst`] of its profiles' codes.
pub mod exit {
    /// Everything succeeded.
    pub const OK: i32 = 0;
    /// A failure: I/O, database, or an internal error (also a PostgreSQL server that cannot
    /// be reached, a connection lost, a database of a newer schema version).
    pub const FAILURE: i32 = 1;
    /// Bad usage: unknown field, bad value, unknown key, profile or file, broken rule, a
    /// database that does not exist or a PostgreSQL login refused (clap's own usage errors
    /// exit 2 as well).
    pub const USAGE: i32 = 2;
    /// Some items or files were refused (ingest), or left out of an output (export: a value
    /// its code page cannot hold); the rest applied. The journal, the `.error.txt` beside
    /// each rejected file, or the export's report say why.
    pub const PARTIAL: i32 = 3;
    /// An admin should look: an edit conflicted with a database change or touched a field
    /// Outlook may not change (the journal lists them), a guard stopped a mass removal or
    /// change before it acted, or reconcile found drift.
    pub const ATTENTION: i32 = 4;

    /// The text of `smsync --help` after the commands.
    pub const HELP: &str = "Exit codes:\n  \
        0  success\n  \
        1  failure (I/O, database, internal error)\n  \
        2  usage error (unknown field, bad value, unknown key, profile or file)\n  \
        3  some items or files refused (ingest, sync), or left out of an output (export:\n     \
           a character its code page cannot hold); the rest applied\n  \
        4  attention needed: an edit conflicted or touched a field that cannot be updated,\n     \
           a guard stopped a mass removal or change, or reconcile found drift\n\
        A broken pipe (`smsync status | head -1`) ends a one-shot command quietly.";

    /// How serious a code is: success < attention < refused < usage < failure.
    fn rank(code: i32) -> u8 {
        match code {
            OK => 0,
            ATTENTION => 1,
            PARTIAL => 2,
            USAGE => 3,
            _ => 4,
        }
    }

    /// The more serious of two exit codes.
    pub fn worst(a: i32, b: i32) -> i32 {
        if rank(b) > rank(a) { b } else { a }
    }
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
    /// its own errors into this (`impl From<rusqlite::Error>`, `impl From<tokio_postgres::Error>`).
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

/// The name in `names` closest to `wrong` by edit distance (case-insensitive), when it is
/// close enough to be a likely typo: for "did you mean" hints in error messages.
pub fn closest<'a>(wrong: &str, names: &[&'a str]) -> Option<&'a str> {
    let wrong = wrong.to_lowercase();
    let limit = (wrong.chars().count() / 3).max(1) + 1;
    names
        .iter()
        .map(|n| (edit_distance(&wrong, &n.to_lowercase()), *n))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Levenshtein distance (insertions, deletions, substitutions), over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1)
                .min(row[j] + 1)
                .min(diag + usize::from(ca != *cb));
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::exit::*;
    use super::*;

    #[test]
    fn worst_orders_codes_by_seriousness() {
        assert_eq!(worst(OK, ATTENTION), ATTENTION);
        assert_eq!(worst(PARTIAL, ATTENTION), PARTIAL);
        assert_eq!(worst(ATTENTION, PARTIAL), PARTIAL);
        assert_eq!(worst(FAILURE, USAGE), FAILURE);
        assert_eq!(worst(OK, OK), OK);
    }

    #[test]
    fn closest_suggests_a_likely_typo_only() {
        let names = ["first_name", "last_name", "mobile", "email", "notes"];
        assert_eq!(closest("mobil", &names), Some("mobile"));
        assert_eq!(closest("frist_name", &names), Some("first_name"));
        assert_eq!(closest("E-mail", &names), Some("email"));
        assert_eq!(closest("colour", &names), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
