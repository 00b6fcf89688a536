//! One connection to the PostgreSQL server: connecting with errors that name the host and
//! database (never the password), prepared statements cached by their text, dynamic
//! parameters ([`Param`]), deferred statements sent in the same round trip as the next one
//! (pipelining), and the conversion of the client's errors into [`Error`]. Statements borrow
//! the client only while they run, so a caller may read again from inside a loop over rows
//! it already has.
//!
//! The client is tokio-postgres on a runtime of one thread that only this connection uses
//! and only while a call waits: smsync stays synchronous. tokio-postgres sends requests that
//! are in flight at once without waiting for each answer, which is what lets a write
//! transaction send its deferred writes together with the statement after them.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::error::Error as _;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::task::Poll;
use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, Config, NoTls, Row, Statement};

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
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
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
    // No JIT compilation: smsync's statements read a page or a few rows, and the server
    // compiled a page of the synced set (estimated costly) anew for every page, 40 to 200
    // ms each (EXPLAIN ANALYZE).
    let options = match config.get_options() {
        Some(o) if !o.is_empty() => format!("{o} -c jit=off"),
        _ => "-c jit=off".to_string(),
    };
    config.options(options);
    if config.get_application_name().is_none() {
        config.application_name(format!(
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

fn connect_error(e: &tokio_postgres::Error, place: &Place) -> Error {
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
fn db_message(e: &tokio_postgres::Error) -> String {
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
fn chain(e: &tokio_postgres::Error) -> String {
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
impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
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
        out: &mut tokio_postgres::types::private::BytesMut,
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

/// A statement a write transaction has no need to wait for: sent with the next one that
/// waits (see [`Conn::defer`]).
#[derive(Debug, Clone)]
enum Deferred {
    /// Statements without parameters (transaction control).
    Batch(String),
    Execute(String, Vec<Param>),
}

/// A client with a cache of prepared statements and a list of deferred statements.
pub struct Conn {
    runtime: tokio::runtime::Runtime,
    /// `None` only while dropping (closing the session).
    client: Option<Client>,
    /// The task that reads and writes the socket; it runs while a call waits.
    connection: Option<tokio::task::JoinHandle<()>>,
    statements: RefCell<HashMap<String, Statement>>,
    deferred: RefCell<Vec<Deferred>>,
    /// How many times deferred statements went out (see [`Conn::sent_since`]).
    sends: Cell<u64>,
}

/// What a request answers: rows, or how many rows a statement changed.
enum Answer {
    Rows(Vec<Row>),
    Count(u64),
}

/// One request of a round trip.
type Request<'a> =
    Pin<Box<dyn Future<Output = std::result::Result<Answer, tokio_postgres::Error>> + 'a>>;

impl Conn {
    /// Connects, turning a failure into an error that says what is wrong and how to fix
    /// it: an unreachable server is a failure (exit 1, it may come back); a login refused
    /// or a database that does not exist is a usage error (exit 2, the URL must change).
    pub fn connect(config: &Config, place: &Place) -> Result<Conn> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Db(format!("cannot start the PostgreSQL client: {e}")))?;
        let (client, connection) = runtime
            .block_on(config.connect(NoTls))
            .map_err(|e| connect_error(&e, place))?;
        let connection = runtime.spawn(async move {
            // Its end is seen by the next request, as a closed connection.
            let _ = connection.await;
        });
        Ok(Conn {
            runtime,
            client: Some(client),
            connection: Some(connection),
            statements: RefCell::new(HashMap::new()),
            deferred: RefCell::new(Vec::new()),
            sends: Cell::new(0),
        })
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("open")
    }

    /// A statement prepared once per text and connection. Preparing is a round trip of
    /// its own, made in the transaction's state at that moment: what is deferred goes out
    /// first (a `ROLLBACK TO` among it may be what makes the transaction usable again).
    fn statement(&self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        self.send()?;
        self.prepare(sql)
    }

    fn prepare(&self, sql: &str) -> Result<Statement> {
        let s = self.runtime.block_on(self.client().prepare(sql))?;
        self.statements
            .borrow_mut()
            .insert(sql.to_string(), s.clone());
        Ok(s)
    }

    fn prepared(&self, d: &Deferred) -> bool {
        match d {
            Deferred::Batch(_) => true,
            Deferred::Execute(sql, _) => self.statements.borrow().contains_key(sql),
        }
    }

    /// Defers a statement whose answer nobody waits for: it goes out, in order, with the
    /// next statement that is sent, in the same round trip. An error it meets is that
    /// statement's error (and, inside a transaction, every later one's until a rollback):
    /// so a transaction sends what it deferred before it ends a savepoint or commits.
    pub fn defer(&self, sql: &str, params: Vec<Param>) {
        self.deferred
            .borrow_mut()
            .push(Deferred::Execute(sql.to_string(), params));
    }

    /// Defers statements without parameters (see [`Conn::defer`]).
    pub fn defer_batch(&self, sql: &str) {
        self.deferred
            .borrow_mut()
            .push(Deferred::Batch(sql.to_string()));
    }

    /// How many statements are deferred now.
    pub fn deferred(&self) -> usize {
        self.deferred.borrow().len()
    }

    /// Forgets the deferred statements from the `n`th on (none of them was sent).
    pub fn drop_deferred(&self, n: usize) {
        self.deferred.borrow_mut().truncate(n);
    }

    /// A mark for [`Conn::sent_since`].
    pub fn sends(&self) -> u64 {
        self.sends.get()
    }

    /// Whether deferred statements went out since `mark` ([`Conn::sends`]).
    pub fn sent_since(&self, mark: u64) -> bool {
        self.sends.get() != mark
    }

    /// Sends the deferred statements and then `last`, when given, in one round trip;
    /// returns `last`'s answer. The first error in order is the answer (the requests
    /// after it are still answered by the server, and the connection drops those answers).
    /// A deferred statement not prepared yet costs a round trip more, the first time.
    fn round_trip(&self, last: Option<Request<'_>>) -> Result<Option<Answer>> {
        let mut deferred = std::mem::take(&mut *self.deferred.borrow_mut());
        while let Some(i) = deferred.iter().position(|d| !self.prepared(d)) {
            let rest = deferred.split_off(i);
            self.pipeline(deferred, None)?;
            deferred = rest;
            if let Deferred::Execute(sql, _) = &deferred[0] {
                self.prepare(sql)?;
            }
        }
        self.pipeline(deferred, last)
    }

    /// Sends `deferred`, all prepared, and `last` in one round trip (see `round_trip`).
    fn pipeline(
        &self,
        deferred: Vec<Deferred>,
        last: Option<Request<'_>>,
    ) -> Result<Option<Answer>> {
        if !deferred.is_empty() {
            self.sends.set(self.sends.get() + 1);
        }
        let prepared: Vec<Option<Statement>> = deferred
            .iter()
            .map(|d| match d {
                Deferred::Batch(_) => None,
                Deferred::Execute(sql, _) => self.statements.borrow().get(sql).cloned(),
            })
            .collect();
        let client = self.client();
        let mut requests: Vec<Request<'_>> = Vec::with_capacity(deferred.len() + 1);
        for (d, st) in deferred.iter().zip(&prepared) {
            requests.push(match (d, st) {
                (Deferred::Batch(sql), _) => {
                    Box::pin(
                        async move { client.batch_execute(sql).await.map(|()| Answer::Count(0)) },
                    )
                }
                (Deferred::Execute(_, params), Some(st)) => Box::pin(async move {
                    let refs: Vec<&(dyn ToSql + Sync)> =
                        params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                    client.execute(st, &refs).await.map(Answer::Count)
                }),
                (Deferred::Execute(..), None) => unreachable!("prepared first"),
            });
        }
        let waits = last.is_some();
        requests.extend(last);
        if requests.is_empty() {
            return Ok(None);
        }
        let mut answers = self.runtime.block_on(all_in_order(requests))?;
        Ok(if waits { answers.pop() } else { None })
    }

    /// Sends what is deferred (one round trip; none when nothing is).
    pub fn send(&self) -> Result<()> {
        if !self.deferred.borrow().is_empty() {
            self.round_trip(None)?;
        }
        Ok(())
    }

    pub fn query(&self, sql: &str, params: Params) -> Result<Vec<Row>> {
        let s = self.statement(sql)?;
        let client = self.client();
        let s = &s;
        match self.round_trip(Some(Box::pin(async move {
            client.query(s, params).await.map(Answer::Rows)
        })))? {
            Some(Answer::Rows(rows)) => Ok(rows),
            _ => unreachable!("a query answers rows"),
        }
    }

    pub fn query_opt(&self, sql: &str, params: Params) -> Result<Option<Row>> {
        let mut rows = self.query(sql, params)?;
        match rows.len() {
            0 | 1 => Ok(rows.pop()),
            n => Err(Error::Db(format!(
                "a query for at most one row returned {n}"
            ))),
        }
    }

    pub fn query_one(&self, sql: &str, params: Params) -> Result<Row> {
        self.query_opt(sql, params)?
            .ok_or_else(|| Error::Db("a query for one row returned none".into()))
    }

    /// Runs a statement; returns how many rows it changed.
    pub fn execute(&self, sql: &str, params: Params) -> Result<u64> {
        let s = self.statement(sql)?;
        let client = self.client();
        let s = &s;
        match self.round_trip(Some(Box::pin(async move {
            client.execute(s, params).await.map(Answer::Count)
        })))? {
            Some(Answer::Count(n)) => Ok(n),
            _ => unreachable!("a statement answers a count"),
        }
    }

    /// Statements without parameters, sent as they are (transaction control, DDL), after
    /// the deferred ones and in the same round trip.
    pub fn batch(&self, sql: &str) -> Result<()> {
        let client = self.client();
        self.round_trip(Some(Box::pin(async move {
            client.batch_execute(sql).await.map(|()| Answer::Count(0))
        })))?;
        Ok(())
    }

    /// The one integer a query returns, if it returns a row and the value is not NULL.
    pub fn int(&self, sql: &str, params: Params) -> Result<Option<i64>> {
        match self.query_opt(sql, params)? {
            Some(r) => get(&r, 0),
            None => Ok(None),
        }
    }
}

/// Polls every request, each in turn (so they are written to the connection in this order
/// without waiting for answers), until all are answered; their answers, in order. The
/// first error in order is the answer.
async fn all_in_order(
    mut requests: Vec<Request<'_>>,
) -> std::result::Result<Vec<Answer>, tokio_postgres::Error> {
    let mut done: Vec<Option<Answer>> = requests.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (r, slot) in requests.iter_mut().zip(done.iter_mut()) {
            if slot.is_some() {
                continue;
            }
            match r.as_mut().poll(cx) {
                Poll::Ready(Ok(answer)) => *slot = Some(answer),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => pending = true,
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(Ok(()))
        }
    })
    .await?;
    Ok(done.into_iter().map(|a| a.expect("answered")).collect())
}

impl Drop for Conn {
    /// Closes the session: the client's end tells the connection to say goodbye to the
    /// server, which the connection's task does before it ends.
    fn drop(&mut self) {
        self.client.take();
        if let Some(task) = self.connection.take() {
            let _ = self
                .runtime
                .block_on(async { tokio::time::timeout(Duration::from_secs(5), task).await });
        }
    }
}

/// A column of a row, with a type mismatch as an error rather than a panic.
pub fn get<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, i: usize) -> Result<T> {
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
    fn sessions_run_without_jit_and_keep_the_urls_own_options() {
        let (c, _) = config("postgres://sm@db/x").unwrap();
        assert_eq!(c.get_options(), Some("-c jit=off"));
        let (c, _) = config("postgres://sm@db/x?options=-c%20work_mem%3D64MB").unwrap();
        assert_eq!(c.get_options(), Some("-c work_mem=64MB -c jit=off"));
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
