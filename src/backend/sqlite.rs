//! SQLite targets (the embedded demo database, and small installs that keep
//! users in a SQLite file). rusqlite shares the bundled libsqlite3-sys with
//! the journal's diesel, so there is one SQLite in the binary.
//!
//! The connection is synchronous and local; statements run inline on the
//! calling task. `UPDATE` reports rows matched (SQLite counts every row the
//! WHERE clause selected), which is the found-rows semantics the protocol needs.

use std::path::PathBuf;

use async_trait::async_trait;
use chrono::NaiveDateTime;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};

use super::{Backend, BackendError, ColumnInfo, Dialect, Row, Target, Value, WriteAccess};

pub struct SqliteDialect;

impl Dialect for SqliteDialect {
    fn quote_ident(&self, ident: &str) -> String {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }
    fn placeholder(&self, n: usize) -> String {
        format!("?{n}")
    }
    fn null_safe_eq(&self, left: &str, right: &str) -> String {
        format!("{left} IS {right}")
    }
    fn like(&self, column: &str, ph: &str) -> String {
        // SQLite's LIKE is case-insensitive for ASCII, like MySQL's default collations.
        format!("{column} LIKE {ph} ESCAPE '!'")
    }
    fn values_source(&self) -> &'static str {
        ""
    }
}

pub struct Sqlite {
    conn: Connection,
    path: PathBuf,
}

struct Bind<'a>(&'a Value);

impl ToSql for Bind<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            Value::Null => ToSqlOutput::Owned(rusqlite::types::Value::Null),
            Value::Int(i) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(*i)),
            Value::UInt(u) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(
                i64::try_from(*u).unwrap_or(i64::MAX),
            )),
            Value::Float(f) => ToSqlOutput::Owned(rusqlite::types::Value::Real(*f)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            Value::DateTime(d) => ToSqlOutput::Owned(rusqlite::types::Value::Text(
                d.format("%Y-%m-%d %H:%M:%S").to_string(),
            )),
        })
    }
}

fn from_ref(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Float(f),
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => Value::Text(s.to_string()),
            Err(_) => Value::Bytes(t.to_vec()),
        },
        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
    }
}

/// Maps a driver error to what the operator can act on; never includes bound values.
fn map_err(e: rusqlite::Error) -> BackendError {
    match &e {
        rusqlite::Error::SqliteFailure(f, msg) => {
            let text = msg.clone().unwrap_or_else(|| f.to_string());
            match f.code {
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                    BackendError::LockTimeout(text)
                }
                rusqlite::ErrorCode::PermissionDenied | rusqlite::ErrorCode::ReadOnly => {
                    BackendError::Permission(text)
                }
                _ => BackendError::Statement(text),
            }
        }
        _ => BackendError::Statement(e.to_string()),
    }
}

/// `varchar(64)` → ("varchar", Some(64)); SQLite keeps declared types as written.
fn split_type(declared: &str) -> (String, Option<u64>) {
    let lower = declared.trim().to_ascii_lowercase();
    match lower.split_once('(') {
        Some((base, rest)) => {
            let n = rest
                .trim_end_matches(')')
                .split(',')
                .next()
                .and_then(|n| n.trim().parse().ok());
            let base = base.trim().to_string();
            let chars = if base.contains("char") { n } else { None };
            (base, chars)
        }
        None => (lower, None),
    }
}

impl Sqlite {
    /// Opens an existing database file read-write; never creates one, so a
    /// mistyped path is an error instead of an empty database.
    pub fn connect(target: &Target) -> Result<Sqlite, BackendError> {
        let path = PathBuf::from(&target.database);
        if !path.is_file() {
            return Err(BackendError::Connect {
                target: target.display(),
                reason: format!("the SQLite file {} does not exist", path.display()),
            });
        }
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| BackendError::Connect {
            target: target.display(),
            reason: e.to_string(),
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(map_err)?;
        Ok(Sqlite { conn, path })
    }

    fn run_query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, BackendError> {
        let mut stmt = self.conn.prepare(sql).map_err(map_err)?;
        let n = stmt.column_count();
        let binds: Vec<Bind> = params.iter().map(Bind).collect();
        let refs: Vec<&dyn ToSql> = binds.iter().map(|b| b as &dyn ToSql).collect();
        let mut rows = stmt.query(refs.as_slice()).map_err(map_err)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(map_err)? {
            let mut row = Vec::with_capacity(n);
            for i in 0..n {
                row.push(from_ref(r.get_ref(i).map_err(map_err)?));
            }
            out.push(row);
        }
        Ok(out)
    }
}

#[async_trait]
impl Backend for Sqlite {
    fn dialect(&self) -> &dyn Dialect {
        &SqliteDialect
    }

    fn engine(&self) -> &'static str {
        "sqlite"
    }

    fn place(&self) -> (String, String) {
        ("localhost".into(), self.path.display().to_string())
    }

    async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, BackendError> {
        self.run_query(sql, params)
    }

    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, BackendError> {
        let binds: Vec<Bind> = params.iter().map(Bind).collect();
        let refs: Vec<&dyn ToSql> = binds.iter().map(|b| b as &dyn ToSql).collect();
        let n = self.conn.execute(sql, refs.as_slice()).map_err(map_err)?;
        Ok(n as u64)
    }

    async fn set_session_read_only(&mut self) -> Result<bool, BackendError> {
        // SQLite's switch: any change to the file on this connection fails (SQLITE_READONLY).
        self.conn
            .execute_batch("PRAGMA query_only = ON")
            .map_err(map_err)?;
        Ok(true)
    }

    async fn begin(&mut self) -> Result<(), BackendError> {
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(map_err)
    }

    async fn commit(&mut self) -> Result<(), BackendError> {
        self.conn.execute_batch("COMMIT").map_err(map_err)
    }

    async fn rollback(&mut self) -> Result<(), BackendError> {
        self.conn.execute_batch("ROLLBACK").map_err(map_err)
    }

    async fn columns(&mut self, table: &str) -> Result<Vec<ColumnInfo>, BackendError> {
        let rows = self.run_query(
            "SELECT name, type, \"notnull\" FROM pragma_table_info(?1) ORDER BY cid",
            &[Value::Text(table.to_string())],
        )?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let declared = r.get(1).and_then(Value::as_text).unwrap_or_default();
                let (data_type, max_chars) = split_type(&declared);
                ColumnInfo {
                    name: r.first().and_then(Value::as_text).unwrap_or_default(),
                    data_type,
                    max_chars,
                    nullable: r.get(2).and_then(Value::as_text).as_deref() == Some("0"),
                }
            })
            .collect())
    }

    async fn transactional(&mut self, _table: &str) -> Result<bool, BackendError> {
        Ok(true)
    }

    async fn write_access(&mut self, _table: &str) -> Result<WriteAccess, BackendError> {
        // SQLite has no privileges: whoever can open the file can write it.
        Ok(WriteAccess::Table)
    }

    async fn now(&mut self) -> Result<NaiveDateTime, BackendError> {
        let rows = self.run_query("SELECT datetime('now', 'localtime')", &[])?;
        rows.into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .and_then(|v| v.as_text())
            .and_then(|t| NaiveDateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S").ok())
            .ok_or_else(|| BackendError::Statement("SQLite returned no current time".into()))
    }

    async fn close(self: Box<Self>) -> Result<(), BackendError> {
        self.conn.close().map_err(|(_, e)| map_err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_split_into_base_and_length() {
        assert_eq!(split_type("VARCHAR(64)"), ("varchar".into(), Some(64)));
        assert_eq!(split_type("int"), ("int".into(), None));
        assert_eq!(split_type("decimal(10,2)"), ("decimal".into(), None));
    }

    #[test]
    fn dialect_spells_sqlite() {
        let d = SqliteDialect;
        assert_eq!(d.quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(d.placeholder(3), "?3");
        assert_eq!(d.null_safe_eq("a", "?1"), "a IS ?1");
    }
}
