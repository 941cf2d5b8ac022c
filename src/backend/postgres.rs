//! PostgreSQL through tokio-postgres: one connection, no pool, explicit
//! transactions. An UPDATE's row count is the number of rows it matched
//! (PostgreSQL counts matched rows, changed or not), so "exactly one row"
//! means the same as MySQL's found-rows.
//!
//! Values are bound in PostgreSQL's text format and the server parses them
//! as the type it infers for each placeholder, as libpq and psql do: an id
//! given as `#2` compares with an integer column, `'true'` writes a boolean.
//! Results are decoded by column type.
//!
//! TLS (`pg_tls`): `required` verifies the server against `ca=` or the
//! system store; `preferred` (the default) does the same and falls back to a
//! plain connection only when the server offers no TLS, with a warning that
//! says so; an untrusted certificate is an error in both modes.

use std::error::Error as StdError;

use async_trait::async_trait;
use bytes::BytesMut;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::types::{Format, FromSql, IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, Config, NoTls, Socket};

use super::{
    Backend, BackendError, ColumnInfo, Dialect, ReadOnly, Row, Target, TlsMode, Value, WriteAccess,
    pg_tls, server_time,
};

pub struct PgDialect;

impl Dialect for PgDialect {
    fn quote_ident(&self, ident: &str) -> String {
        // Identifiers were validated as plain names; doubling is belt and braces.
        format!("\"{}\"", ident.replace('"', "\"\""))
    }
    fn placeholder(&self, n: usize) -> String {
        format!("${n}")
    }
    fn null_safe_eq(&self, left: &str, right: &str) -> String {
        format!("{left} IS NOT DISTINCT FROM {right}")
    }
    fn like(&self, column: &str, ph: &str) -> String {
        // ILIKE needs text on the left; the cast keeps integer columns searchable.
        format!("CAST({column} AS text) ILIKE {ph} ESCAPE '!'")
    }
    fn values_source(&self) -> &'static str {
        ""
    }
    fn locking_read(&self, items: &str, table: &str, condition: &str) -> String {
        // FOR SHARE conflicts with the row lock an UPDATE takes, both ways.
        format!("SELECT {items} FROM {table} WHERE {condition} FOR SHARE")
    }
}

/// A hot standby (`pg_is_in_recovery()`) or a session that may not write
/// (`default_transaction_read_only`); the primary from the WAL receiver, when
/// the login may see it. A probe that fails leaves the answer to the UPDATE.
async fn probe_read_only(client: &Client) -> Option<ReadOnly> {
    let row = match client
        .query_one(
            "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')",
            &[],
        )
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = %e, "read-only probe failed");
            return None;
        }
    };
    let recovery: bool = row.try_get(0).unwrap_or(false);
    let read_only: String = row.try_get(1).unwrap_or_default();
    let setting = if recovery {
        "pg_is_in_recovery() is true"
    } else if read_only == "on" {
        "transaction_read_only=on"
    } else {
        return None;
    };
    let primary = match client
        .query_opt(
            "SELECT sender_host, sender_port FROM pg_stat_wal_receiver",
            &[],
        )
        .await
    {
        Ok(Some(r)) => r
            .try_get::<_, Option<String>>(0)
            .ok()
            .flatten()
            .map(|host| match r.try_get::<_, Option<i32>>(1).ok().flatten() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }),
        _ => None,
    };
    Some(ReadOnly {
        setting: setting.to_string(),
        primary,
    })
}

/// A bound value, sent in text format for the server to parse as the
/// placeholder's type.
#[derive(Debug)]
struct TextParam(Option<String>);

impl ToSql for TextParam {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match &self.0 {
            None => Ok(IsNull::Yes),
            Some(s) => {
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
}

fn to_param(v: &Value) -> TextParam {
    TextParam(match v {
        Value::Null => None,
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Text(s) => Some(s.clone()),
        // bytea's text input form.
        Value::Bytes(b) => Some(format!("\\x{}", hex::encode(b))),
        Value::DateTime(d) => Some(d.format("%Y-%m-%d %H:%M:%S%.f").to_string()),
    })
}

/// Any column's raw binary value, for types without a dedicated decoder.
struct Raw(Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(Raw(raw.to_vec()))
    }
    fn accepts(_ty: &Type) -> bool {
        true
    }
}

fn decode(row: &tokio_postgres::Row, i: usize) -> Result<Value, tokio_postgres::Error> {
    let ty = row.columns()[i].type_().clone();
    let v = if ty == Type::BOOL {
        row.try_get::<_, Option<bool>>(i)?
            .map(|b| Value::Text(if b { "true" } else { "false" }.into()))
    } else if ty == Type::INT2 {
        row.try_get::<_, Option<i16>>(i)?
            .map(|x| Value::Int(x.into()))
    } else if ty == Type::INT4 {
        row.try_get::<_, Option<i32>>(i)?
            .map(|x| Value::Int(x.into()))
    } else if ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(i)?.map(Value::Int)
    } else if ty == Type::OID {
        row.try_get::<_, Option<u32>>(i)?
            .map(|x| Value::UInt(x.into()))
    } else if ty == Type::FLOAT4 {
        row.try_get::<_, Option<f32>>(i)?
            .map(|x| Value::Float(x.into()))
    } else if ty == Type::FLOAT8 {
        row.try_get::<_, Option<f64>>(i)?.map(Value::Float)
    } else if ty == Type::TIMESTAMP {
        row.try_get::<_, Option<NaiveDateTime>>(i)?
            .map(Value::DateTime)
    } else if ty == Type::TIMESTAMPTZ {
        row.try_get::<_, Option<DateTime<Utc>>>(i)?
            .map(|d| Value::DateTime(d.naive_utc()))
    } else if ty == Type::DATE {
        row.try_get::<_, Option<NaiveDate>>(i)?
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(Value::DateTime)
    } else if ty == Type::BYTEA {
        row.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Bytes)
    } else {
        // text, varchar, bpchar, name, enums and other types whose binary form is their text.
        row.try_get::<_, Option<Raw>>(i)?
            .map(|r| match String::from_utf8(r.0) {
                Ok(s) => Value::Text(s),
                Err(e) => Value::Bytes(e.into_bytes()),
            })
    };
    Ok(v.unwrap_or(Value::Null))
}

/// Maps a driver error to what the operator can act on; never includes bound values.
fn map_err(e: tokio_postgres::Error) -> BackendError {
    if e.is_closed() {
        return BackendError::ConnectionLost(e.to_string());
    }
    match e.as_db_error() {
        Some(db) => {
            let msg = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            let code = db.code();
            if *code == SqlState::T_R_DEADLOCK_DETECTED
                || *code == SqlState::LOCK_NOT_AVAILABLE
                || *code == SqlState::QUERY_CANCELED
            {
                BackendError::LockTimeout(msg)
            } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
                BackendError::Permission(msg)
            } else if code.code().starts_with("08") || code.code().starts_with("57P") {
                BackendError::ConnectionLost(msg)
            } else {
                BackendError::Statement(msg)
            }
        }
        None => match e.source().and_then(|s| s.downcast_ref::<std::io::Error>()) {
            Some(io) => BackendError::ConnectionLost(io.to_string()),
            None => BackendError::Statement(e.to_string()),
        },
    }
}

/// The connection settings of `target`; TLS is chosen by the connector passed to `open`.
/// A socket directory (PGHOST=/run/postgresql) is a Unix-only way in.
fn config(target: &Target) -> Result<Config, String> {
    let mut cfg = Config::new();
    cfg.user(&target.user)
        .dbname(&target.database)
        .application_name("locksmith")
        .connect_timeout(std::time::Duration::from_secs(15));
    if let Some(pw) = &target.password {
        cfg.password(pw.0.as_bytes());
    }
    match &target.socket {
        #[cfg(unix)]
        Some(dir) => {
            cfg.host_path(dir);
        }
        #[cfg(not(unix))]
        Some(dir) => {
            return Err(format!(
                "PGHOST={} names a Unix socket folder, which this system does not have: set \
                 PGHOST to the server's host name, or put the host in the URL",
                dir.display()
            ));
        }
        None => {
            cfg.host(&target.host);
        }
    }
    cfg.port(target.port.unwrap_or(5432));
    // Through a forward: dial its local end; the TLS name stays the host.
    if let Some((addr, port)) = &target.dial
        && let Ok(ip) = addr.parse::<std::net::IpAddr>()
    {
        cfg.hostaddr(ip).port(*port);
    }
    Ok(cfg)
}

/// Connects with `tls` (`NoTls` with `SslMode::Disable`, a rustls connector
/// with `Require`); the connection task drives the socket and ends when the
/// client is dropped.
async fn open<T>(cfg: &Config, mode: SslMode, tls: T) -> Result<Client, tokio_postgres::Error>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    let mut cfg = cfg.clone();
    cfg.ssl_mode(mode);
    let (client, connection) = cfg.connect(tls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// What the operator can act on when the connection failed; no secrets.
fn connect_reason(target: &Target, e: &tokio_postgres::Error) -> String {
    if let Some(tls) = pg_tls::explain(e) {
        return tls;
    }
    // tokio-postgres keeps the reason in the error's source, not in its text.
    let cause = std::error::Error::source(e)
        .map(|s| s.to_string())
        .unwrap_or_default();
    if cause == "password missing" {
        return format!(
            "access denied for {}: the server asks for a password and none was given (LOCKSMITH_DB_PASSWORD, PGPASSWORD or ~/.pgpass)",
            target.user
        );
    }
    match e.as_db_error().map(|d| d.code().clone()) {
        Some(c)
            if c == SqlState::INVALID_PASSWORD
                || c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
        {
            format!(
                "access denied for {}: check the user and the password (set LOCKSMITH_DB_PASSWORD) and pg_hba.conf",
                target.user
            )
        }
        Some(c) if c == SqlState::INVALID_CATALOG_NAME => format!(
            "database `{}` does not exist on this server",
            target.database
        ),
        _ if !cause.is_empty() => {
            format!("{e}: {cause}; is the server running and reachable?")
        }
        _ => format!("{e}; is the server running and reachable?"),
    }
}

pub struct Postgres {
    client: Client,
    host: String,
    database: String,
    warnings: Vec<String>,
    read_only: Option<ReadOnly>,
}

impl Postgres {
    /// Connects; warnings about the connection (TLS) are kept for the session.
    pub async fn connect(target: &Target) -> Result<Postgres, BackendError> {
        let shown = target.display();
        let refuse = |reason: String| BackendError::Connect {
            target: shown.clone(),
            reason,
        };
        let mut warnings = Vec::new();
        let cfg = config(target).map_err(refuse)?;
        let over_socket = target.socket.is_some();
        let client = match target.tls {
            TlsMode::LoginOnly | TlsMode::Legacy => {
                return Err(refuse(
                    "tls=off/legacy are SQL Server modes; use tls=required, preferred or disabled"
                        .into(),
                ));
            }
            TlsMode::Required if over_socket => {
                return Err(refuse(
                    "tls=required needs a TCP host; a Unix socket carries no TLS (drop socket= or use tls=disabled)".into(),
                ));
            }
            // A local socket: nothing crosses the network.
            TlsMode::Disabled | TlsMode::Preferred if over_socket => {
                open(&cfg, SslMode::Disable, NoTls).await
            }
            TlsMode::Disabled => open(&cfg, SslMode::Disable, NoTls).await,
            TlsMode::Required | TlsMode::Preferred => {
                let tls = pg_tls::connector(target).map_err(&refuse)?;
                if target.skip_verify {
                    warnings.push("skip-verify=true: the server's certificate is not checked; the session is encrypted but the server is not authenticated".into());
                }
                match open(&cfg, SslMode::Require, tls).await {
                    Err(e) if target.tls == TlsMode::Preferred && pg_tls::server_lacks_tls(&e) => {
                        warnings.push("the server does not offer TLS, so tls=preferred connected without it: statements and values cross the network in clear (tls=required refuses this)".into());
                        open(&cfg, SslMode::Disable, NoTls).await
                    }
                    other => other,
                }
            }
        };
        let client = client.map_err(|e| refuse(connect_reason(target, &e)))?;
        // Wait for another session's row lock no longer than lock-wait (the
        // default waits forever). The value is a validated integer.
        client
            .batch_execute(&format!("SET lock_timeout = '{}s'", target.lock_wait_secs))
            .await
            .map_err(map_err)?;
        let read_only = probe_read_only(&client).await;
        let host = match &target.socket {
            Some(s) => format!("socket:{}", s.display()),
            None => format!("{}:{}", target.host, target.port.unwrap_or(5432)),
        };
        Ok(Postgres {
            client,
            host,
            database: target.database.clone(),
            warnings,
            read_only,
        })
    }
}

#[async_trait]
impl Backend for Postgres {
    fn dialect(&self) -> &dyn Dialect {
        &PgDialect
    }

    fn engine(&self) -> &'static str {
        "postgres"
    }

    fn place(&self) -> (String, String) {
        (self.host.clone(), self.database.clone())
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    fn read_only(&self) -> Option<&ReadOnly> {
        self.read_only.as_ref()
    }

    async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, BackendError> {
        let owned: Vec<TextParam> = params.iter().map(to_param).collect();
        let refs: Vec<&(dyn ToSql + Sync)> =
            owned.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let rows = self.client.query(sql, &refs).await.map_err(map_err)?;
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| decode(r, i).map_err(map_err))
                    .collect::<Result<Row, _>>()
            })
            .collect()
    }

    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, BackendError> {
        let owned: Vec<TextParam> = params.iter().map(to_param).collect();
        let refs: Vec<&(dyn ToSql + Sync)> =
            owned.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        self.client.execute(sql, &refs).await.map_err(map_err)
    }

    async fn set_session_read_only(&mut self) -> Result<bool, BackendError> {
        // Every later transaction on this connection is READ ONLY (SQLSTATE 25006 on a write).
        self.client
            .batch_execute("SET default_transaction_read_only = on")
            .await
            .map_err(map_err)?;
        Ok(true)
    }

    async fn begin(&mut self) -> Result<(), BackendError> {
        self.client.batch_execute("BEGIN").await.map_err(map_err)
    }

    async fn commit(&mut self) -> Result<(), BackendError> {
        self.client.batch_execute("COMMIT").await.map_err(map_err)
    }

    async fn rollback(&mut self) -> Result<(), BackendError> {
        self.client.batch_execute("ROLLBACK").await.map_err(map_err)
    }

    async fn columns(&mut self, table: &str) -> Result<Vec<ColumnInfo>, BackendError> {
        // udt_name gives short base type names (varchar, int4, bool, timestamp).
        let rows = self
            .query(
                "SELECT column_name::text, udt_name::text, character_maximum_length::int8, is_nullable::text \
                 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 \
                 ORDER BY ordinal_position",
                &[Value::Text(table.to_string())],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let udt = r
                    .get(1)
                    .and_then(Value::as_text)
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let data_type = match udt.as_str() {
                    "bpchar" => "char".to_string(),
                    "int2" => "smallint".to_string(),
                    "int4" => "integer".to_string(),
                    "int8" => "bigint".to_string(),
                    "bool" => "boolean".to_string(),
                    other => other.to_string(),
                };
                ColumnInfo {
                    name: r.first().and_then(Value::as_text).unwrap_or_default(),
                    data_type,
                    max_chars: r
                        .get(2)
                        .and_then(Value::as_text)
                        .and_then(|s| s.parse().ok()),
                    nullable: r.get(3).and_then(Value::as_text).as_deref() == Some("YES"),
                }
            })
            .collect())
    }

    async fn transactional(&mut self, _table: &str) -> Result<bool, BackendError> {
        // Every PostgreSQL table is transactional.
        Ok(true)
    }

    async fn write_access(&mut self, table: &str) -> Result<WriteAccess, BackendError> {
        let t = Value::Text(table.to_string());
        let whole = self
            .query(
                "SELECT has_table_privilege(c.oid, 'UPDATE') FROM pg_class c \
                 WHERE c.relname = $1 AND pg_table_is_visible(c.oid)",
                std::slice::from_ref(&t),
            )
            .await?;
        if whole
            .first()
            .and_then(|r| r.first())
            .and_then(Value::as_text)
            .is_some_and(|v| v == "true" || v == "t" || v == "1")
        {
            return Ok(WriteAccess::Table);
        }
        let cols = self
            .query(
                "SELECT a.attname::text FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
                 WHERE c.relname = $1 AND pg_table_is_visible(c.oid) AND a.attnum > 0 \
                 AND NOT a.attisdropped AND has_column_privilege(c.oid, a.attnum, 'UPDATE')",
                &[t],
            )
            .await?;
        Ok(WriteAccess::from_columns(cols))
    }

    async fn insert_access(&mut self, table: &str) -> Result<bool, BackendError> {
        let rows = self
            .query(
                "SELECT has_table_privilege(c.oid, 'INSERT') FROM pg_class c \
                 WHERE c.relname = $1 AND pg_table_is_visible(c.oid)",
                &[Value::Text(table.to_string())],
            )
            .await?;
        Ok(rows
            .first()
            .and_then(|r| r.first())
            .and_then(Value::as_text)
            .is_some_and(|v| v == "true" || v == "t" || v == "1"))
    }

    async fn now(&mut self) -> Result<NaiveDateTime, BackendError> {
        let sql = "SELECT LOCALTIMESTAMP";
        server_time(self.query(sql, &[]).await?, sql)
    }

    async fn close(self: Box<Self>) -> Result<(), BackendError> {
        drop(self.client);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialect_spells_postgres() {
        let d = PgDialect;
        assert_eq!(d.quote_ident("res_users"), "\"res_users\"");
        assert_eq!(d.placeholder(3), "$3");
        assert_eq!(d.null_safe_eq("a", "$1"), "a IS NOT DISTINCT FROM $1");
        assert_eq!(
            d.paged(
                "SELECT 1 AS \"c0\"",
                &["c0".into()],
                "1 = 1",
                "\"c0\"",
                "$1"
            ),
            "SELECT ls_page.\"c0\" FROM (SELECT 1 AS \"c0\") ls_page WHERE 1 = 1 ORDER BY \"c0\" LIMIT $1"
        );
        assert!(d.like("t.\"login\"", "$4").ends_with("ILIKE $4 ESCAPE '!'"));
    }

    #[test]
    fn params_travel_as_text() {
        assert_eq!(to_param(&Value::Int(7)).0.as_deref(), Some("7"));
        assert_eq!(to_param(&Value::Null).0, None);
        assert_eq!(
            to_param(&Value::Bytes(vec![1, 255])).0.as_deref(),
            Some("\\x01ff")
        );
        assert!(matches!(
            TextParam(None).encode_format(&Type::INT4),
            Format::Text
        ));
    }
}
