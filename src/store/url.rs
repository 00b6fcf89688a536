//! Which engine and database a database argument names: a plain path or `sqlite:PATH`
//! (SQLite), or a `postgres://` / `postgresql://` URL (PostgreSQL). Never keeps or prints
//! a password found in a URL.

use std::ffi::OsStr;
use std::path::PathBuf;

use crate::error::{Error, Result};

/// The engine and database a database argument names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An SQLite database file: a plain path, or `sqlite:PATH` (`sqlite://PATH` too: the
    /// `//` is dropped, so `sqlite:///srv/sm.db` is `/srv/sm.db`).
    Sqlite(PathBuf),
    /// A PostgreSQL URL, as it may be shown: a password in it is replaced by `***`, and
    /// its parameters (after `?`) are not kept.
    Postgres { redacted: String },
}

impl Target {
    /// Reads a database argument. A scheme other than `sqlite:`, `postgres://` and
    /// `postgresql://` is an error; anything without a scheme is a path.
    pub fn parse(url_or_path: impl AsRef<OsStr>) -> Result<Target> {
        let raw = url_or_path.as_ref();
        if raw.is_empty() {
            return Err(Error::invalid(
                "no database given: pass a file path, sqlite:PATH or a postgres:// URL",
            ));
        }
        // A path that is not UTF-8 has no scheme to look at.
        let Some(s) = raw.to_str() else {
            return Ok(Target::Sqlite(PathBuf::from(raw)));
        };
        if let Some(rest) = strip_prefix_ignore_case(s, "sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(Error::invalid(
                    "sqlite: needs a database path, as in sqlite:servicemaster.db",
                ));
            }
            return Ok(Target::Sqlite(PathBuf::from(path)));
        }
        match scheme(s) {
            None => Ok(Target::Sqlite(PathBuf::from(raw))),
            Some(scheme)
                if scheme.eq_ignore_ascii_case("postgres")
                    || scheme.eq_ignore_ascii_case("postgresql") =>
            {
                Ok(Target::Postgres {
                    redacted: redact(s, scheme.len() + 3),
                })
            }
            Some(scheme) => Err(Error::invalid(format!(
                "unknown database engine '{scheme}': pass a file path, sqlite:PATH or a \
                 postgres:// URL"
            ))),
        }
    }
}

/// A database argument as it may be shown (in output, reports and logs): a path as it is,
/// a PostgreSQL URL without its password.
pub fn shown(url_or_path: impl AsRef<OsStr>) -> String {
    let raw = url_or_path.as_ref();
    match Target::parse(raw) {
        Ok(Target::Postgres { redacted }) => redacted,
        Ok(Target::Sqlite(_)) => std::path::Path::new(raw).display().to_string(),
        // Unreadable as a database argument: show only what is safe (its scheme).
        Err(_) => match raw.to_str().and_then(scheme) {
            Some(s) => format!("{s}://***"),
            None => std::path::Path::new(raw).display().to_string(),
        },
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// The scheme of `scheme://…`; `None` for anything else. One letter is a Windows drive
/// (`C://x`), not a scheme.
fn scheme(s: &str) -> Option<&str> {
    let (scheme, _) = s.split_once("://")?;
    let mut chars = scheme.chars();
    let ok = scheme.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    ok.then_some(scheme)
}

/// `url` with everything after `user` in its user info replaced by `***`, and its
/// parameters (`?…`, `#…`) by `?***`; `start` is where the part after `://` begins. The
/// user info ends at the last `@`, so a password holding `@`, `/` or `?` is hidden too
/// (at worst, more than the password is).
fn redact(url: &str, start: usize) -> String {
    let (head, rest) = url.split_at(start);
    let (user, rest) = match rest.rsplit_once('@') {
        Some((userinfo, rest)) => (
            match userinfo.find([':', '/', '?', '#']) {
                Some(i) => format!("{}:***@", &userinfo[..i]),
                None => format!("{userinfo}@"),
            },
            rest,
        ),
        None => (String::new(), rest),
    };
    let (host_path, params) = match rest.find(['?', '#']) {
        Some(i) => (&rest[..i], "?***"),
        None => (rest, ""),
    };
    format!("{head}{user}{host_path}{params}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(s: &str) -> PathBuf {
        match Target::parse(s).unwrap() {
            Target::Sqlite(p) => p,
            other => panic!("{s}: {other:?}"),
        }
    }

    fn postgres(s: &str) -> String {
        match Target::parse(s).unwrap() {
            Target::Postgres { redacted } => redacted,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn plain_paths_are_sqlite_files() {
        assert_eq!(
            sqlite("servicemaster.db"),
            PathBuf::from("servicemaster.db")
        );
        assert_eq!(sqlite("/srv/sm/sm.db"), PathBuf::from("/srv/sm/sm.db"));
        assert_eq!(sqlite("./a:b.db"), PathBuf::from("./a:b.db"));
        assert_eq!(sqlite("C://data/sm.db"), PathBuf::from("C://data/sm.db"));
        assert_eq!(sqlite("dir/postgres.db"), PathBuf::from("dir/postgres.db"));
    }

    #[test]
    fn non_utf8_paths_are_kept_byte_for_byte() {
        use std::os::unix::ffi::OsStrExt;
        let raw = OsStr::from_bytes(b"sqlite:\xff.db");
        assert_eq!(
            Target::parse(raw).unwrap(),
            Target::Sqlite(PathBuf::from(raw))
        );
    }

    #[test]
    fn sqlite_urls_name_a_path() {
        assert_eq!(sqlite("sqlite:sm.db"), PathBuf::from("sm.db"));
        assert_eq!(sqlite("SQLite:dir/sm.db"), PathBuf::from("dir/sm.db"));
        assert_eq!(sqlite("sqlite://sm.db"), PathBuf::from("sm.db"));
        assert_eq!(sqlite("sqlite:///srv/sm.db"), PathBuf::from("/srv/sm.db"));
        assert_eq!(sqlite("sqlite:/srv/sm.db"), PathBuf::from("/srv/sm.db"));
        for empty in ["sqlite:", "sqlite://", ""] {
            let e = Target::parse(empty).unwrap_err();
            assert!(matches!(e, Error::Invalid(_)), "{empty}: {e}");
        }
    }

    #[test]
    fn postgres_urls_are_recognised_and_never_keep_a_password() {
        assert_eq!(
            postgres("postgres://sm:s3cret@db.example:5432/servicemaster"),
            "postgres://sm:***@db.example:5432/servicemaster"
        );
        assert_eq!(
            postgres("postgresql://sm@db/servicemaster"),
            "postgresql://sm@db/servicemaster"
        );
        assert_eq!(
            postgres("POSTGRES://u:p:w@d@host/db?password=s3cret&sslmode=require"),
            "POSTGRES://u:***@host/db?***"
        );
        assert_eq!(postgres("postgres://host"), "postgres://host");
        assert_eq!(
            postgres("postgres://u:pa/ss@host/db"),
            "postgres://u:***@host/db"
        );
        assert_eq!(postgres("postgres://u:p?w#x@host"), "postgres://u:***@host");
        let odd = postgres("postgres://host/db?password=s3cret@x");
        assert!(!odd.contains("s3cret"), "{odd}");
        assert_eq!(
            postgres("postgres://a:b@host#frag"),
            "postgres://a:***@host?***"
        );
    }

    #[test]
    fn other_schemes_are_refused_by_name_only() {
        let e = Target::parse("mysql://root:s3cret@host/db").unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{e}");
        let msg = e.to_string();
        assert!(msg.contains("unknown database engine 'mysql'"), "{msg}");
        assert!(!msg.contains("s3cret"), "{msg}");
    }

    #[test]
    fn shown_hides_a_password_and_keeps_a_path() {
        assert_eq!(
            shown("postgresql://sm:s3cret@db/servicemaster"),
            "postgresql://sm:***@db/servicemaster"
        );
        assert_eq!(shown("dir/sm.db"), "dir/sm.db");
        assert_eq!(shown("sqlite:dir/sm.db"), "sqlite:dir/sm.db");
        assert_eq!(shown("mysql://root:s3cret@h/db"), "mysql://***");
    }

    #[test]
    fn open_names_an_unreachable_server_without_the_password() {
        // Port 1 on the loopback: nothing listens there.
        let e = super::super::open("postgresql://sm:s3cret@127.0.0.1:1/servicemaster")
            .err()
            .expect("nothing listens on port 1");
        assert!(matches!(e, Error::Db(_)), "{e}");
        let msg = e.to_string();
        assert!(msg.contains("'servicemaster' on 127.0.0.1:1"), "{msg}");
        assert!(!msg.contains("s3cret"), "{msg}");
        assert_eq!(e.exit_code(), crate::error::exit::FAILURE);
    }

    #[test]
    fn open_opens_an_sqlite_file_by_path_or_url() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sm.db");
        let e = super::super::open(&path).err().expect("no database yet");
        assert!(matches!(e, Error::NotFound(_)), "{e}");
        crate::store::SqliteStore::create(&path).unwrap();
        let s = super::super::open(&path).unwrap();
        assert_eq!(s.count(crate::model::Kind::Client).unwrap(), 0);
        let url = format!("sqlite:{}", path.display());
        let s = super::super::open_sqlite(&url).unwrap();
        assert_eq!(s.path(), path);
    }
}
