//! Target databases: one backend per engine behind one trait. SQL dialect
//! differences (quoting, placeholders, paging, null-safe comparison) live in
//! each backend's `Dialect`, so operations build one statement shape for all.

pub mod mssql;
pub mod mysql;
pub(crate) mod pg_tls;
mod pgpass;
pub mod postgres;
pub mod sqlite;
pub mod ssh_tunnel;
pub mod target;

use async_trait::async_trait;
use chrono::NaiveDateTime;

pub use target::{AuthKind, DbPassword, Target, TargetError, TlsMode};

/// A value read from or bound to a target. Secrets in here are never
/// printed: plans show fingerprints.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    UInt(u64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
    DateTime(NaiveDateTime),
}

impl Value {
    /// Stable bytes for fingerprints: a type tag and the value.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        match self {
            Value::Null => b"null".to_vec(),
            Value::Int(i) => format!("int:{i}").into_bytes(),
            Value::UInt(u) => format!("int:{u}").into_bytes(),
            Value::Float(f) => format!("float:{f}").into_bytes(),
            Value::Text(s) => [b"text:".as_slice(), s.as_bytes()].concat(),
            Value::Bytes(b) => [b"bytes:".as_slice(), b].concat(),
            Value::DateTime(d) => {
                format!("datetime:{}", d.format("%Y-%m-%d %H:%M:%S%.f")).into_bytes()
            }
        }
    }

    /// The value as text where that is meaningful (ids, logins, states).
    pub fn as_text(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Int(i) => Some(i.to_string()),
            Value::UInt(u) => Some(u.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Text(s) => Some(s.clone()),
            Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
            Value::DateTime(d) => Some(d.format("%Y-%m-%d %H:%M:%S").to_string()),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

/// One row, values in the order of the SELECT list.
pub type Row = Vec<Value>;

/// The first column of the first row, if any.
pub fn first_value(rows: Vec<Row>) -> Option<Value> {
    rows.into_iter().next().and_then(|r| r.into_iter().next())
}

/// The server clock from a one-value query such as `SELECT NOW()`.
pub(crate) fn server_time(rows: Vec<Row>, sql: &str) -> Result<NaiveDateTime, BackendError> {
    match first_value(rows) {
        Some(Value::DateTime(d)) => Ok(d),
        _ => Err(BackendError::Statement(format!("`{sql}` returned no time"))),
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ColumnInfo {
    pub name: String,
    /// Lower-case base type: varchar, char, int, bigint, datetime, ...
    pub data_type: String,
    pub max_chars: Option<u64>,
    pub nullable: bool,
}

impl ColumnInfo {
    /// One row of an information_schema-style probe: name, data type,
    /// maximum characters (negative = MAX), IS_NULLABLE.
    pub fn from_row(r: &[Value]) -> ColumnInfo {
        ColumnInfo {
            name: r.first().and_then(Value::as_text).unwrap_or_default(),
            data_type: r
                .get(1)
                .and_then(Value::as_text)
                .unwrap_or_default()
                .to_ascii_lowercase(),
            max_chars: r
                .get(2)
                .and_then(Value::as_text)
                .and_then(|s| s.parse::<i64>().ok())
                .and_then(|n| u64::try_from(n).ok()),
            nullable: r
                .get(3)
                .and_then(Value::as_text)
                .is_some_and(|s| s.eq_ignore_ascii_case("YES")),
        }
    }
}

/// What the connected login may UPDATE in one table, as far as the server says.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteAccess {
    /// UPDATE on the whole table (globally, on the database or on the table).
    Table,
    /// UPDATE on these columns only.
    Columns(Vec<String>),
    /// No UPDATE at all: lookups only.
    None,
}

impl WriteAccess {
    /// Column-level grants as the server lists them, one column name per row
    /// (first value): none at all means read-only.
    pub fn from_columns(rows: Vec<Row>) -> WriteAccess {
        let columns: Vec<String> = rows
            .into_iter()
            .filter_map(|r| r.into_iter().next().and_then(|v| v.as_text()))
            .collect();
        if columns.is_empty() {
            WriteAccess::None
        } else {
            WriteAccess::Columns(columns)
        }
    }

    /// The columns of `wanted` this login may not update.
    pub fn missing<'a>(&self, wanted: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        match self {
            WriteAccess::Table => Vec::new(),
            WriteAccess::Columns(ok) => wanted
                .into_iter()
                .filter(|w| !ok.iter().any(|c| c.eq_ignore_ascii_case(w)))
                .map(String::from)
                .collect(),
            WriteAccess::None => wanted.into_iter().map(String::from).collect(),
        }
    }
}

/// A server that takes no writes: a replica or standby, or one set read-only.
/// Probed at connect; writes are refused before any intent is journaled.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadOnly {
    /// What the server said, e.g. `read_only=ON` or `pg_is_in_recovery()`.
    pub setting: String,
    /// The primary it replicates from, when the server names it.
    pub primary: Option<String>,
}

impl ReadOnly {
    /// What the operator sees at connect.
    pub fn warning(&self) -> String {
        format!(
            "the target is read-only ({}), a replica or standby: lookups work, writes are refused{}",
            self.setting,
            self.primary
                .as_ref()
                .map(|p| format!("; its primary is {p}"))
                .unwrap_or_default()
        )
    }

    /// The refusal a write on this server gets.
    pub fn refusal(&self) -> String {
        let go = match &self.primary {
            Some(p) => format!("its primary is {p}: point --target there"),
            None => "point --target at the primary".to_string(),
        };
        format!(
            "the target is read-only ({}), a replica or standby: {go}; nothing was written",
            self.setting
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("cannot connect to {target}: {reason}")]
    Connect { target: String, reason: String },
    #[error("the connection to the target was lost: {0}")]
    ConnectionLost(String),
    #[error("the target refused the statement: {0}")]
    Statement(String),
    #[error(
        "lock wait timeout or deadlock on the target: {0}. Another session holds the row; retry when it has finished, nothing was changed"
    )]
    LockTimeout(String),
    #[error("permission denied on the target: {0}")]
    Permission(String),
    #[error("{0}")]
    Unsupported(String),
}

/// Spelling that differs between engines.
pub trait Dialect: Send + Sync {
    fn quote_ident(&self, ident: &str) -> String;
    /// Placeholder for the n-th (1-based) bound value.
    fn placeholder(&self, n: usize) -> String;
    /// `a = b` that is true when both are NULL.
    fn null_safe_eq(&self, left: &str, right: &str) -> String;
    /// One page of `select` (`SELECT <items AS aliases> FROM … WHERE …`), read
    /// as the derived table [`PAGE`]: its rows that pass `after` (a condition
    /// on `ls_page.<alias>`: the keyset cursor), in `order_by` order, at most
    /// `limit_ph` of them. A keyset page stays stable when rows before it
    /// change, where an OFFSET over a ranked order would skip or repeat rows.
    /// `limit_ph` is bound after every placeholder in `after`.
    fn paged(
        &self,
        select: &str,
        aliases: &[String],
        after: &str,
        order_by: &str,
        limit_ph: &str,
    ) -> String {
        format!(
            "SELECT {} FROM ({select}) {PAGE} WHERE {after} ORDER BY {order_by} LIMIT {limit_ph}",
            page_columns(self, aliases)
        )
    }
    /// Case-insensitive `LIKE` with `!` as escape character.
    fn like(&self, column: &str, ph: &str) -> String;
    /// `term` for a `like` pattern, matched literally: every character this
    /// engine's LIKE treats specially is escaped with `!`.
    fn like_escaped(&self, term: &str) -> String {
        like_escaping(term, &['!', '%', '_'])
    }
    /// The `LIKE` pattern (for `like`) that finds `term` anywhere.
    fn like_pattern(&self, term: &str) -> String {
        format!("%{}%", self.like_escaped(term))
    }
    /// The `LIKE` pattern that finds values starting with `term`.
    fn like_prefix(&self, term: &str) -> String {
        format!("{}%", self.like_escaped(term))
    }
    /// `column LIKE 'prefix%'` through [`Dialect::like`] can use a B-tree
    /// index on the column (MySQL, SQL Server): lookups then answer the
    /// exact and prefix matches of login and phone from the index first.
    /// PostgreSQL's `CAST(col AS text) ILIKE` cannot, nor SQLite's LIKE.
    fn prefix_uses_index(&self) -> bool {
        false
    }
    /// What follows a FROM-less `SELECT <values>` before its WHERE
    /// (`INSERT … SELECT ?, ? FROM DUAL WHERE NOT EXISTS (…)` on MySQL).
    fn values_source(&self) -> &'static str;
    /// `SELECT <items> FROM <table> WHERE <condition>` as a locking read: run
    /// inside a transaction, it waits (up to the target's lock-wait) for a
    /// transaction that holds the row, reads the committed value, and holds
    /// the row until the transaction ends. Without row locks (SQLite) the
    /// transaction itself is the lock.
    fn locking_read(&self, items: &str, table: &str, condition: &str) -> String {
        format!("SELECT {items} FROM {table} WHERE {condition}")
    }
}

/// The derived table a [`Dialect::paged`] query reads its page from.
pub const PAGE: &str = "ls_page";

/// `ls_page.<alias>, …`: the outer select list of a paged query.
fn page_columns(d: &(impl Dialect + ?Sized), aliases: &[String]) -> String {
    aliases
        .iter()
        .map(|a| format!("{PAGE}.{}", d.quote_ident(a)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `term` with each of `specials` escaped by `!`, so it matches literally.
pub fn like_escaping(term: &str, specials: &[char]) -> String {
    let mut out = String::with_capacity(term.len() + 2);
    for c in term.chars() {
        if specials.contains(&c) {
            out.push('!');
        }
        out.push(c);
    }
    out
}

#[async_trait]
pub trait Backend: Send {
    fn dialect(&self) -> &dyn Dialect;
    fn engine(&self) -> &'static str;
    /// Host (or socket) and database, for the journal.
    fn place(&self) -> (String, String);
    /// The SSH bastion this connection goes through (`user@host[:port]`), for the journal.
    fn via(&self) -> Option<String> {
        None
    }
    /// Things the operator should know about this connection (e.g. no TLS).
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
    /// Set when the connect-time probe found a server that takes no writes.
    fn read_only(&self) -> Option<&ReadOnly> {
        None
    }

    /// A read-only session (`Target::read_only`): the server itself refuses
    /// writes on this connection from now on. False when the engine has no
    /// session-level switch (SQL Server): Locksmith's own refusal is the guard.
    async fn set_session_read_only(&mut self) -> Result<bool, BackendError> {
        Ok(false)
    }
    async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, BackendError>;
    /// Rows matched by the statement (found rows, not only changed ones).
    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, BackendError>;
    async fn begin(&mut self) -> Result<(), BackendError>;
    async fn commit(&mut self) -> Result<(), BackendError>;
    async fn rollback(&mut self) -> Result<(), BackendError>;
    /// Columns of a table in the connected database; empty when it does not exist.
    async fn columns(&mut self, table: &str) -> Result<Vec<ColumnInfo>, BackendError>;
    /// Whether writes to the table are transactional (false for MyISAM).
    async fn transactional(&mut self, table: &str) -> Result<bool, BackendError>;
    /// What the login may UPDATE in `table`, probed at connect time.
    async fn write_access(&mut self, table: &str) -> Result<WriteAccess, BackendError>;
    /// Whether the login may INSERT into `table` (restore-admin re-creates a
    /// row or a role link). A backend that cannot tell says yes: the INSERT
    /// then fails inside the transaction, which rolls back.
    async fn insert_access(&mut self, _table: &str) -> Result<bool, BackendError> {
        Ok(true)
    }
    /// The server's current time, so written timestamps match the server clock.
    async fn now(&mut self) -> Result<NaiveDateTime, BackendError>;
    async fn close(self: Box<Self>) -> Result<(), BackendError>;
}

/// Connects to a target with the backend for its engine.
/// A read-only target's session is made read-only before anything else runs on it.
pub async fn connect(target: &Target) -> Result<Box<dyn Backend>, BackendError> {
    let mut backend: Box<dyn Backend> = match target.engine.as_str() {
        "mysql" => Box::new(mysql::MySql::connect(target).await?),
        "postgres" => Box::new(postgres::Postgres::connect(target).await?),
        "mssql" => Box::new(mssql::MsSql::connect(target).await?),
        "sqlite" => Box::new(sqlite::Sqlite::connect(target)?),
        other => {
            return Err(BackendError::Unsupported(format!(
                "engine `{other}` is not supported yet; use a mysql://, postgres://, mssql:// or sqlite:// target"
            )));
        }
    };
    if target.read_only {
        backend.set_session_read_only().await?;
    }
    Ok(backend)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_pattern_escapes_wildcards_and_the_escape_char() {
        let d = mysql::MySqlDialect;
        assert_eq!(d.like_pattern("a%b_c!d"), "%a!%b!_c!!d%");
        assert_eq!(d.like_pattern("张三'\""), "%张三'\"%");
        // `[` is literal in MySQL's LIKE; only SQL Server opens a class with it.
        assert_eq!(d.like_pattern("a[b]c"), "%a[b]c%");
        let d = mssql::MsSqlDialect::default();
        assert_eq!(d.like_pattern("a[b]c_!"), "%a![b]c!_!!%");
    }
}
