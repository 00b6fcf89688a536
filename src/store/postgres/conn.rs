//! One connection to the PostgreSQL server: connecting with errors that name the host and
//! database (never the password), prepared statements cached by their text, dynamic
//! parameters ([`Param`]), and the conversion of the client's errors into [`Error`].
//! Statements borrow the client only while they run, so a caller may read again from
//! inside a loop over rows it already has.

use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error as _;
use std::str::FromStr;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, Config, NoTls, Row, Statement};

use crate::error::{Error, Result};

/// What a database URL names, for messages: never its password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub host: String,
    pub database: String,
    pub user: String,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PostgreSQL database '{}' on {} (user '{}')",
            self.database, self.host, self.user
        )
    }
}

/// Reads a `postgres://` URL into the client's settings and the place it names.
pub fn config(url: &str) -> Result<(Config, Place)> {
    let redacted = match crate::store::Target::parse(url)? {
        crate::store::Target::Postgres { redacted } => redacted,
        crate::store::Target::Sqlite(_) => {
            return Err(Error::invalid(format!("{url} is not a PostgreSQL URL")));
        }
    };
    let mut config = Config::from_str(url).map_err(|e| {
        Error::invalid(format!(
            "{redacted} is not a PostgreSQL URL this smsync can read ({e}); write it as \
             postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
        ))
    })?;
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let host = match config.get_ports().first() {
        Some(port) => format!("{host}:{port}"),
        None => format!("{host}:5432"),
    };
    let user = config.get_user().unwrap_or("").to_string();
    let database = config
        .get_dbname()
        .map(str::to_string)
        .unwrap_or_else(|| user.clone());
    if config.get_hosts().is_empty() {
        config.host("localhost");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    config.keepalives_idle(Duration::from_secs(60));
    if config.get_application_name().is_none() {
        config.application_name(&format!(
            "smsync pid {} on {}",
            std::process::id(),
            hostname()
        ));
    }
    Ok((
        config,
        Place {
            host,
            database,
            user,
        },
    ))
}

/// This machine's name, for the application name other sessions see in `pg_stat_activity`.
pub fn hostname() -> String {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: gethostname writes at most buf.len() bytes into buf.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if rc == 0 {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            return String::from_utf8_lossy(&buf[..end]).into_owned();
        }
    }
    std::env::var("COMPUTERNAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown host".into())
}

/// Connects, turning a failure into an error that says what is wrong and how to fix it:
/// an unreachable server is a failure (exit 1, it may come back); a login refused or a
/// database that does not exist is a usage error (exit 2, the URL must change).
pub fn connect(config: &Config, place: &Place) -> Result<Client> {
    config.connect(NoTls).map_err(|e| connect_error(&e, place))
}

fn connect_error(e: &postgres::Error, place: &Place) -> Error {
    match e.code() {
        Some(c)
            if *c == SqlState::INVALID_PASSWORD
                || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
        {
            Error::invalid(format!(
                "{place}: the server refused the login ({}); check the user and password in \
                 --db / SMSYNC_DB, and the server's pg_hba.conf",
                db_message(e)
            ))
        }
        Some(c) if *c == SqlState::INVALID_CATALOG_NAME => Error::NotFound(format!(
            "{place} does not exist; create it (createdb, or CREATE DATABASE) and run \
             `smsync db init --db URL`, or fix the database name in the URL"
        )),
        Some(_) => Error::Db(format!("{place}: {}", db_message(e))),
        None => Error::Db(format!(
            "cannot reach {place}: {}; check that the server runs and that the host and port \
             in --db / SMSYNC_DB are right",
            chain(e)
        )),
    }
}

/// The server's message (with its detail and hint), or the client's.
fn db_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = db.message().to_string();
            if let Some(d) = db.detail() {
                s.push_str(&format!(" ({d})"));
            }
            if let Some(h) = db.hint() {
                s.push_str(&format!("; {h}"));
            }
            s
        }
        None => chain(e),
    }
}

/// An error with its causes, one after the other.
fn chain(e: &postgres::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let more = c.to_string();
        if !s.contains(&more) {
            s.push_str(&format!(": {more}"));
        }
        src = c.source();
    }
    s
}

/// The client's errors become [`Error::Db`] with the server's message, so the public
/// error type names no engine.
impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Self {
        let io = e
            .source()
            .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some());
        let ended = e.code().is_some_and(|c| {
            *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
        });
        if e.is_closed() || io || ended {
            return Error::Db(format!(
                "the connection to the PostgreSQL server was lost ({}); nothing of the \
                 unfinished transaction was kept, run again",
                chain(&e)
            ));
        }
        Error::Db(db_message(&e))
    }
}

/// A value bound to a statement parameter whose type is only known at run time (a field's).
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Null,
    Text(String),
    Int(i64),
}

impl ToSql for Param {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Param::Null => Ok(IsNull::Yes),
            Param::Text(s) => s.to_sql(ty, out),
            Param::Int(i) => match *ty {
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                _ => i.to_sql(ty, out),
            },
        }
    }

    fn accepts(ty: &Type) -> bool {
        <String as ToSql>::accepts(ty) || <i64 as ToSql>::accepts(ty) || *ty == Type::INT4
    }

    to_sql_checked!();
}

pub type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// A client with a cache of prepared statements.
pub struct Conn {
    client: RefCell<Client>,
    statements: RefCell<HashMap<String, Statement>>,
}

impl Conn {
    pub fn new(client: Client) -> Conn {
        Conn {
            client: RefCell::new(client),
            statements: RefCell::new(HashMap::new()),
        }
    }

    fn statement(&self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.borrow_mut().prepare(sql)?;
        self.statements
            .borrow_mut()
            .insert(sql.to_string(), s.clone());
        Ok(s)
    }

    pub fn query(&self, sql: &str, params: Params) -> Result<Vec<Row>> {
        let s = self.statement(sql)?;
        Ok(self.client.borrow_mut().query(&s, params)?)
    }

    pub fn query_opt(&self, sql: &str, params: Params) -> Result<Option<Row>> {
        let s = self.statement(sql)?;
        Ok(self.client.borrow_mut().query_opt(&s, params)?)
    }

    pub fn query_one(&self, sql: &str, params: Params) -> Result<Row> {
        let s = self.statement(sql)?;
        Ok(self.client.borrow_mut().query_one(&s, params)?)
    }

    pub fn execute(&self, sql: &str, params: Params) -> Result<u64> {
        let s = self.statement(sql)?;
        Ok(self.client.borrow_mut().execute(&s, params)?)
    }

    /// Statements without parameters, sent as they are (transaction control, DDL).
    pub fn batch(&self, sql: &str) -> Result<()> {
        Ok(self.client.borrow_mut().batch_execute(sql)?)
    }

    /// The one integer a query returns, if it returns a row and the value is not NULL.
    pub fn int(&self, sql: &str, params: Params) -> Result<Option<i64>> {
        match self.query_opt(sql, params)? {
            Some(r) => get(&r, 0),
            None => Ok(None),
        }
    }
}

/// A column of a row, with a type mismatch as an error rather than a panic.
pub fn get<'a, T: postgres::types::FromSql<'a>>(row: &'a Row, i: usize) -> Result<T> {
    row.try_get(i).map_err(|e| {
        Error::Db(format!(
            "column {} of a result: {e}",
            row.columns().get(i).map(|c| c.name()).unwrap_or("?")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_names_its_place_without_the_password() {
        let (_, p) = config("postgres://sm:s3cret@db.example:6543/servicemaster").unwrap();
        assert_eq!(
            p,
            Place {
                host: "db.example:6543".into(),
                database: "servicemaster".into(),
                user: "sm".into()
            }
        );
        let shown = p.to_string();
        assert_eq!(
            shown,
            "PostgreSQL database 'servicemaster' on db.example:6543 (user 'sm')"
        );
        // libpq's defaults: port 5432, the database named after the user.
        let (_, p) = config("postgresql://ann@db").unwrap();
        assert_eq!((p.host.as_str(), p.database.as_str()), ("db:5432", "ann"));
    }

    #[test]
    fn a_url_the_client_cannot_read_is_a_usage_error_without_the_password() {
        let e = config("postgres://sm:s3cret@db:notaport/x").unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{e}");
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert!(
            e.to_string().contains("postgres://sm:***@db:notaport/x"),
            "{e}"
        );
    }
}
