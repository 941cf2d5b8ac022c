//! MySQL / MariaDB through mysql_async: one connection, no pool, explicit
//! transactions, found-rows semantics so "exactly one row" means matched.

use async_trait::async_trait;
use chrono::{NaiveDate, NaiveDateTime};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Params, SslOpts};

use super::{
    Backend, BackendError, ColumnInfo, Dialect, ReadOnly, Row, Target, TlsMode, Value, WriteAccess,
    server_time,
};

pub struct MySqlDialect;

impl Dialect for MySqlDialect {
    fn quote_ident(&self, ident: &str) -> String {
        // Identifiers were validated as plain names; doubling is belt and braces.
        format!("`{}`", ident.replace('`', "``"))
    }
    fn placeholder(&self, _n: usize) -> String {
        "?".to_string()
    }
    fn null_safe_eq(&self, left: &str, right: &str) -> String {
        format!("{left} <=> {right}")
    }
    fn like(&self, column: &str, ph: &str) -> String {
        format!("{column} LIKE {ph} ESCAPE '!'")
    }
    fn prefix_uses_index(&self) -> bool {
        true
    }
    fn values_source(&self) -> &'static str {
        " FROM DUAL"
    }
    fn locking_read(&self, items: &str, table: &str, condition: &str) -> String {
        // FOR UPDATE also blocks a writer's UPDATE until our transaction ends.
        format!("SELECT {items} FROM {table} WHERE {condition} FOR UPDATE")
    }
}

pub struct MySql {
    conn: Conn,
    host: String,
    database: String,
    read_only: Option<ReadOnly>,
}

/// `read_only`, `super_read_only` (MySQL) or `innodb_read_only` ON: a replica,
/// or a server set read-only. A probe that fails leaves the answer to the UPDATE.
async fn probe_read_only(conn: &mut Conn) -> Option<ReadOnly> {
    let vars: Vec<(String, String)> = match conn
        .query(
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('read_only', 'super_read_only', 'innodb_read_only')",
        )
        .await
    {
        Ok(v) => v,
        Err(e) => {
            tracing::debug!(error = %e, "read-only probe failed");
            return None;
        }
    };
    let on: Vec<String> = vars
        .iter()
        .filter(|(_, v)| v.eq_ignore_ascii_case("ON") || v == "1")
        .map(|(n, _)| format!("{}=ON", n.to_ascii_lowercase()))
        .collect();
    if on.is_empty() {
        return None;
    }
    Some(ReadOnly {
        setting: on.join(", "),
        primary: replica_source(conn).await,
    })
}

/// The primary a replica reads from, as the replica status names it (needs
/// REPLICATION CLIENT; `None` without it or on a server that is no replica).
async fn replica_source(conn: &mut Conn) -> Option<String> {
    // MySQL 8.0.22+ and MariaDB 10.5+ spell it REPLICA; older servers only SLAVE.
    for sql in ["SHOW REPLICA STATUS", "SHOW SLAVE STATUS"] {
        let Ok(rows) = conn.query::<mysql_async::Row, _>(sql).await else {
            continue;
        };
        let row = rows.into_iter().next()?;
        let get = |names: [&str; 2]| {
            names
                .iter()
                .find_map(|n| row.get_opt::<String, _>(*n).and_then(Result::ok))
                .filter(|v| !v.is_empty())
        };
        let host = get(["Source_Host", "Master_Host"])?;
        return Some(match get(["Source_Port", "Master_Port"]) {
            Some(port) => format!("{host}:{port}"),
            None => host,
        });
    }
    None
}

fn opts(target: &Target, tls: bool) -> Result<OptsBuilder, BackendError> {
    let mut b = OptsBuilder::default()
        .user(Some(target.user.clone()))
        .db_name(Some(target.database.clone()))
        .client_found_rows(true)
        .prefer_socket(false);
    if let Some(pw) = &target.password {
        b = b.pass(Some(pw.0.as_str().to_string()));
    }
    if let Some(socket) = &target.socket {
        b = b.socket(Some(socket.display().to_string()));
    } else if let Some((host, port)) = &target.dial {
        b = b.ip_or_hostname(host.clone()).tcp_port(*port);
    } else {
        b = b.ip_or_hostname(target.host.clone());
        if let Some(port) = target.port {
            b = b.tcp_port(port);
        }
    }
    if tls {
        let mut ssl = SslOpts::default().with_danger_accept_invalid_certs(target.skip_verify);
        if target.dial.is_some() {
            // Through a forward the certificate still names the database's host.
            ssl = ssl.with_danger_tls_hostname_override(Some(target.host.clone()));
        }
        if let Some(ca) = &target.ca_file {
            if !ca.is_file() {
                return Err(BackendError::Connect {
                    target: target.display(),
                    reason: format!("CA file {} does not exist", ca.display()),
                });
            }
            ssl = ssl.with_root_certs(vec![ca.clone().into()]);
        }
        b = b.ssl_opts(Some(ssl));
    }
    Ok(b)
}

fn server_lacks_tls(e: &mysql_async::Error) -> bool {
    matches!(
        e,
        mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer)
    )
}

/// Maps a driver error to what the operator can act on; never includes bound values.
fn map_err(e: mysql_async::Error) -> BackendError {
    match e {
        mysql_async::Error::Server(s) => match s.code {
            1205 | 1213 => BackendError::LockTimeout(s.message),
            1044 | 1045 | 1142 | 1143 | 1227 => BackendError::Permission(s.message),
            _ => BackendError::Statement(format!("{} (error {})", s.message, s.code)),
        },
        mysql_async::Error::Io(io) => BackendError::ConnectionLost(io.to_string()),
        mysql_async::Error::Driver(d) => match d {
            mysql_async::DriverError::ConnectionClosed => {
                BackendError::ConnectionLost("the server closed the connection".into())
            }
            other => BackendError::Statement(other.to_string()),
        },
        other => BackendError::Statement(other.to_string()),
    }
}

fn to_driver(v: &Value) -> mysql_async::Value {
    use chrono::{Datelike, Timelike};
    match v {
        Value::Null => mysql_async::Value::NULL,
        Value::Int(i) => mysql_async::Value::Int(*i),
        Value::UInt(u) => mysql_async::Value::UInt(*u),
        Value::Float(f) => mysql_async::Value::Double(*f),
        Value::Text(s) => mysql_async::Value::Bytes(s.as_bytes().to_vec()),
        Value::Bytes(b) => mysql_async::Value::Bytes(b.clone()),
        Value::DateTime(d) => mysql_async::Value::Date(
            d.year() as u16,
            d.month() as u8,
            d.day() as u8,
            d.hour() as u8,
            d.minute() as u8,
            d.second() as u8,
            d.nanosecond() / 1000,
        ),
    }
}

fn from_driver(v: mysql_async::Value) -> Value {
    match v {
        mysql_async::Value::NULL => Value::Null,
        mysql_async::Value::Int(i) => Value::Int(i),
        mysql_async::Value::UInt(u) => Value::UInt(u),
        mysql_async::Value::Float(f) => Value::Float(f as f64),
        mysql_async::Value::Double(f) => Value::Float(f),
        mysql_async::Value::Bytes(b) => match String::from_utf8(b) {
            Ok(s) => Value::Text(s),
            Err(e) => Value::Bytes(e.into_bytes()),
        },
        mysql_async::Value::Date(y, mo, d, h, mi, s, us) => {
            NaiveDate::from_ymd_opt(y as i32, mo as u32, d as u32)
                .and_then(|date| date.and_hms_micro_opt(h as u32, mi as u32, s as u32, us))
                .map(Value::DateTime)
                // Zero dates ('0000-00-00') have no chrono form; keep them as text.
                .unwrap_or_else(|| {
                    Value::Text(format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}"))
                })
        }
        mysql_async::Value::Time(neg, days, h, mi, s, us) => Value::Text(format!(
            "{}{}:{:02}:{:02}.{:06}",
            if neg { "-" } else { "" },
            days * 24 + h as u32,
            mi,
            s,
            us
        )),
    }
}

impl MySql {
    pub async fn connect(target: &Target) -> Result<MySql, BackendError> {
        let shown = target.display();
        let connect_err = |e: mysql_async::Error| {
            let reason = match &e {
                mysql_async::Error::Server(s) if s.code == 1045 => format!(
                    "access denied for {}: check the user and the password (set LOCKSMITH_DB_PASSWORD or ~/.my.cnf [client] password)",
                    target.user
                ),
                mysql_async::Error::Server(s) if s.code == 1049 => {
                    format!(
                        "database `{}` does not exist on this server",
                        target.database
                    )
                }
                mysql_async::Error::Io(io) => format!(
                    "{io}; is the server running and reachable, and is the TLS mode right (tls=required|preferred|disabled)?"
                ),
                _ => e.to_string(),
            };
            BackendError::Connect {
                target: shown.clone(),
                reason,
            }
        };
        let conn = match target.tls {
            TlsMode::Disabled => Conn::new(opts(target, false)?).await.map_err(connect_err)?,
            TlsMode::LoginOnly | TlsMode::Legacy => {
                return Err(BackendError::Connect {
                    target: shown,
                    reason: "tls=off/legacy are SQL Server modes; use tls=required, preferred or disabled".into(),
                });
            }
            TlsMode::Required => Conn::new(opts(target, true)?).await.map_err(|e| {
                if server_lacks_tls(&e) {
                    BackendError::Connect {
                        target: shown.clone(),
                        reason: "tls=required but the server does not offer TLS; enable TLS on the server or use tls=disabled on a trusted network".into(),
                    }
                } else {
                    connect_err(e)
                }
            })?,
            TlsMode::Preferred => match Conn::new(opts(target, true)?).await {
                Ok(c) => c,
                Err(e) if server_lacks_tls(&e) => {
                    Conn::new(opts(target, false)?).await.map_err(connect_err)?
                }
                Err(e) => return Err(connect_err(e)),
            },
        };
        let mut conn = conn;
        // A DBA tool must not hang for InnoDB's default 50 s behind another session's lock.
        // The value is a validated integer, not operator text.
        conn.query_drop(format!(
            "SET SESSION innodb_lock_wait_timeout = {}",
            target.lock_wait_secs
        ))
        .await
        .map_err(map_err)?;
        let read_only = probe_read_only(&mut conn).await;
        let host = match &target.socket {
            Some(s) => format!("socket:{}", s.display()),
            None => match target.port {
                Some(p) => format!("{}:{p}", target.host),
                None => target.host.clone(),
            },
        };
        Ok(MySql {
            conn,
            host,
            database: target.database.clone(),
            read_only,
        })
    }
}

#[async_trait]
impl Backend for MySql {
    fn dialect(&self) -> &dyn Dialect {
        &MySqlDialect
    }

    fn engine(&self) -> &'static str {
        "mysql"
    }

    fn place(&self) -> (String, String) {
        (self.host.clone(), self.database.clone())
    }

    fn read_only(&self) -> Option<&ReadOnly> {
        self.read_only.as_ref()
    }

    async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, BackendError> {
        tracing::trace!(sql, bound = params.len(), "query");
        let params = Params::Positional(params.iter().map(to_driver).collect());
        let rows: Vec<mysql_async::Row> = self.conn.exec(sql, params).await.map_err(map_err)?;
        Ok(rows
            .into_iter()
            .map(|r| r.unwrap().into_iter().map(from_driver).collect())
            .collect())
    }

    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, BackendError> {
        tracing::trace!(sql, bound = params.len(), "execute");
        let params = Params::Positional(params.iter().map(to_driver).collect());
        self.conn.exec_drop(sql, params).await.map_err(map_err)?;
        Ok(self.conn.affected_rows())
    }

    async fn set_session_read_only(&mut self) -> Result<bool, BackendError> {
        // Every later transaction on this connection is READ ONLY (error 1792 on a write).
        self.conn
            .query_drop("SET SESSION TRANSACTION READ ONLY")
            .await
            .map_err(map_err)?;
        Ok(true)
    }

    async fn begin(&mut self) -> Result<(), BackendError> {
        self.conn
            .query_drop("START TRANSACTION")
            .await
            .map_err(map_err)
    }

    async fn commit(&mut self) -> Result<(), BackendError> {
        self.conn.query_drop("COMMIT").await.map_err(map_err)
    }

    async fn rollback(&mut self) -> Result<(), BackendError> {
        self.conn.query_drop("ROLLBACK").await.map_err(map_err)
    }

    async fn columns(&mut self, table: &str) -> Result<Vec<ColumnInfo>, BackendError> {
        let rows = self
            .query(
                "SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, IS_NULLABLE \
                 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? \
                 ORDER BY ORDINAL_POSITION",
                &[Value::Text(table.to_string())],
            )
            .await?;
        Ok(rows.into_iter().map(|r| ColumnInfo::from_row(&r)).collect())
    }

    async fn transactional(&mut self, table: &str) -> Result<bool, BackendError> {
        let rows = self
            .query(
                "SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
                &[Value::Text(table.to_string())],
            )
            .await?;
        let engine = rows
            .first()
            .and_then(|r| r.first())
            .and_then(Value::as_text)
            .unwrap_or_default()
            .to_ascii_lowercase();
        Ok(matches!(
            engine.as_str(),
            "innodb" | "xtradb" | "rocksdb" | "tokudb" | "ndbcluster" | "ndb"
        ))
    }

    async fn write_access(&mut self, table: &str) -> Result<WriteAccess, BackendError> {
        // information_schema names the grantee as 'user'@'host'.
        const GRANTEE: &str = "CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')";
        let t = Value::Text(table.to_string());
        let broad = self
            .query(
                &format!(
                    "SELECT 1 FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = {GRANTEE} AND PRIVILEGE_TYPE = 'UPDATE' \
                     UNION ALL SELECT 1 FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = {GRANTEE} AND PRIVILEGE_TYPE = 'UPDATE' AND TABLE_SCHEMA = DATABASE() \
                     UNION ALL SELECT 1 FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = {GRANTEE} AND PRIVILEGE_TYPE = 'UPDATE' AND TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?"
                ),
                std::slice::from_ref(&t),
            )
            .await?;
        if !broad.is_empty() {
            return Ok(WriteAccess::Table);
        }
        let cols = self
            .query(
                &format!(
                    "SELECT COLUMN_NAME FROM information_schema.COLUMN_PRIVILEGES WHERE GRANTEE = {GRANTEE} AND PRIVILEGE_TYPE = 'UPDATE' AND TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?"
                ),
                &[t],
            )
            .await?;
        Ok(WriteAccess::from_columns(cols))
    }

    async fn insert_access(&mut self, table: &str) -> Result<bool, BackendError> {
        let sql = insert_grants_sql();
        let t = Value::Text(table.to_string());
        Ok(!self.query(&sql, &[t.clone(), t]).await?.is_empty())
    }

    async fn now(&mut self) -> Result<NaiveDateTime, BackendError> {
        let sql = "SELECT NOW()";
        server_time(self.query(sql, &[]).await?, sql)
    }

    async fn close(self: Box<Self>) -> Result<(), BackendError> {
        self.conn.disconnect().await.map_err(map_err)
    }
}

/// Any INSERT grant of the current user that reaches `?` (the table, bound
/// twice): global, on the database, on the table, or on one of its columns.
fn insert_grants_sql() -> String {
    const GRANTEE: &str = "CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')";
    format!(
        "SELECT 1 FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = {GRANTEE} AND PRIVILEGE_TYPE = 'INSERT' \
         UNION ALL SELECT 1 FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = {GRANTEE} AND PRIVILEGE_TYPE = 'INSERT' AND TABLE_SCHEMA = DATABASE() \
         UNION ALL SELECT 1 FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = {GRANTEE} AND PRIVILEGE_TYPE = 'INSERT' AND TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? \
         UNION ALL SELECT 1 FROM information_schema.COLUMN_PRIVILEGES WHERE GRANTEE = {GRANTEE} AND PRIVILEGE_TYPE = 'INSERT' AND TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?"
    )
}
