//! SQL Server through tiberius: one connection, explicit transactions,
//! every value through `sp_executesql` parameters (`@P1`, `@P2`, …).
//!
//! Text: tiberius sends strings as NVARCHAR (UTF-16) and decodes VARCHAR by
//! the column's collation (code page 936 under Chinese_PRC_*), so names such
//! as 张三 read and write correctly in both; the server converts NVARCHAR
//! parameters to the column's code page on write.

use std::borrow::Cow;
use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDateTime;
use tiberius::{
    AuthMethod, Client, ColumnData, Config, EncryptionLevel, FromSql, Query, SqlBrowser,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use super::target::AuthKind;
use super::{
    Backend, BackendError, ColumnInfo, Dialect, ReadOnly, Row, Target, TlsMode, Value, WriteAccess,
    first_value, server_time,
};

pub struct MsSqlDialect {
    /// The login's default schema (`SELECT SCHEMA_NAME()`), which `db..table` means.
    pub default_schema: String,
}

impl Default for MsSqlDialect {
    fn default() -> Self {
        MsSqlDialect {
            default_schema: "dbo".into(),
        }
    }
}

impl Dialect for MsSqlDialect {
    fn quote_ident(&self, ident: &str) -> String {
        // `UFSystem..UA_User` and `UFSystem.dbo.UA_User`: each part bracketed;
        // the empty schema of `..` is spelled out as the login's default
        // schema, which is what SQL Server reads it as.
        let parts: Vec<&str> = ident.split('.').collect();
        let last = parts.len().saturating_sub(1);
        parts
            .iter()
            .enumerate()
            .map(|(i, part)| {
                let part = if part.is_empty() && i > 0 && i < last {
                    self.default_schema.as_str()
                } else {
                    part
                };
                format!("[{}]", part.replace(']', "]]"))
            })
            .collect::<Vec<_>>()
            .join(".")
    }
    fn placeholder(&self, n: usize) -> String {
        format!("@P{n}")
    }
    fn null_safe_eq(&self, left: &str, right: &str) -> String {
        format!("({left} = {right} OR ({left} IS NULL AND {right} IS NULL))")
    }
    /// TOP and a derived table: SQL Server 2005 and later (OFFSET/FETCH needs 2012).
    fn paged(
        &self,
        select: &str,
        aliases: &[String],
        after: &str,
        order_by: &str,
        limit_ph: &str,
    ) -> String {
        format!(
            "SELECT TOP ({limit_ph}) {} FROM ({select}) AS {} WHERE {after} ORDER BY {order_by}",
            super::page_columns(self, aliases),
            super::PAGE
        )
    }
    fn like(&self, column: &str, ph: &str) -> String {
        format!("{column} LIKE {ph} ESCAPE '!'")
    }
    /// `[` opens a character class in T-SQL's LIKE (`a[b]c` matches `abc`).
    fn like_escaped(&self, term: &str) -> String {
        super::like_escaping(term, &['!', '%', '_', '['])
    }
    fn prefix_uses_index(&self) -> bool {
        true
    }
    fn values_source(&self) -> &'static str {
        ""
    }
    fn locking_read(&self, items: &str, table: &str, condition: &str) -> String {
        // UPDLOCK conflicts with a writer's UPDATE; HOLDLOCK keeps it to the end of the transaction.
        format!("SELECT {items} FROM {table} WITH (UPDLOCK, HOLDLOCK) WHERE {condition}")
    }
}

pub struct MsSql {
    client: Client<Compat<TcpStream>>,
    host: String,
    database: String,
    /// Holds the login's default schema, for `UFSystem..UA_User` and unqualified names.
    dialect: MsSqlDialect,
    warnings: Vec<String>,
    read_only: Option<ReadOnly>,
}

/// A table name as the connector gives it: `T`, `schema.T`, `db..T`, `db.schema.T`.
#[derive(Debug, PartialEq)]
struct TableName {
    database: Option<String>,
    schema: Option<String>,
    name: String,
}

fn split_table(table: &str) -> TableName {
    let parts: Vec<&str> = table.split('.').collect();
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    match parts.as_slice() {
        [db, schema, name] => TableName {
            database: some(db),
            schema: some(schema),
            name: name.to_string(),
        },
        [schema, name] => TableName {
            database: None,
            schema: some(schema),
            name: name.to_string(),
        },
        _ => TableName {
            database: None,
            schema: None,
            name: table.to_string(),
        },
    }
}

/// What the server answered to a plain PRELOGIN: its version and the
/// encryption it offers. Used to explain a failed TLS handshake.
#[derive(Debug, Clone, PartialEq)]
pub struct Prelogin {
    pub version: (u8, u8, u16),
    pub encryption: u8,
}

impl Prelogin {
    pub fn encryption_name(&self) -> &'static str {
        match self.encryption {
            0 => "OFF (TLS for the login only)",
            1 => "ON (TLS for the whole session)",
            2 => "NOT_SUP (no TLS at all: the server has no certificate)",
            3 => "REQ (TLS required for the whole session)",
            _ => "an unknown value",
        }
    }

    /// "SQL Server 2008 R2 (10.50.1600)".
    pub fn product(&self) -> String {
        let (major, minor, build) = self.version;
        let name = match (major, minor) {
            (9, _) => "SQL Server 2005",
            (10, 0) => "SQL Server 2008",
            (10, _) => "SQL Server 2008 R2",
            (11, _) => "SQL Server 2012",
            (12, _) => "SQL Server 2014",
            (13, _) => "SQL Server 2016",
            (14, _) => "SQL Server 2017",
            (15, _) => "SQL Server 2019",
            (16, _) => "SQL Server 2022",
            _ => "SQL Server",
        };
        format!("{name} ({major}.{minor}.{build})")
    }
}

/// Sends one PRELOGIN packet offering no encryption and reads the answer.
/// Plain protocol bytes (MS-TDS 2.2.6.5); no credentials are involved.
pub async fn probe_prelogin(addr: &str) -> Result<Prelogin, String> {
    let fut = async {
        let mut tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        // Option table: VERSION (6 bytes at offset 11), ENCRYPTION (1 byte at 17), terminator.
        let mut body = vec![0x00, 0x00, 11, 0x00, 6, 0x01, 0x00, 17, 0x00, 1, 0xFF];
        body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        body.push(0x02); // ENCRYPT_NOT_SUP: we only want to hear what the server offers.
        let len = (8 + body.len()) as u16;
        let mut packet = vec![0x12, 0x01];
        packet.extend_from_slice(&len.to_be_bytes());
        packet.extend_from_slice(&[0, 0, 1, 0]);
        packet.extend_from_slice(&body);
        tcp.write_all(&packet).await.map_err(|e| e.to_string())?;
        let mut header = [0u8; 8];
        tcp.read_exact(&mut header)
            .await
            .map_err(|e| e.to_string())?;
        let total = u16::from_be_bytes([header[2], header[3]]) as usize;
        if header[0] != 0x04 || total < 8 {
            return Err("the server did not answer PRELOGIN like SQL Server".to_string());
        }
        let mut data = vec![0u8; total - 8];
        tcp.read_exact(&mut data).await.map_err(|e| e.to_string())?;
        let mut version = (0, 0, 0);
        let mut encryption = 0xFF;
        let mut i = 0;
        while i + 5 <= data.len() && data[i] != 0xFF {
            let kind = data[i];
            let off = u16::from_be_bytes([data[i + 1], data[i + 2]]) as usize;
            let n = u16::from_be_bytes([data[i + 3], data[i + 4]]) as usize;
            let value = data.get(off..off + n).unwrap_or(&[]);
            match kind {
                0x00 if value.len() >= 4 => {
                    version = (value[0], value[1], u16::from_be_bytes([value[2], value[3]]))
                }
                0x01 if !value.is_empty() => encryption = value[0],
                _ => {}
            }
            i += 5;
        }
        Ok(Prelogin {
            version,
            encryption,
        })
    };
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .map_err(|_| "the server did not answer PRELOGIN within 10 s".to_string())?
}

fn server_error(e: &tiberius::error::TokenError) -> String {
    format!(
        "{} (SQL Server error {})",
        withhold_values(e.message()),
        e.code()
    )
}

/// SQL Server quotes the offending value in some messages (2628 "Truncated
/// value: '…'", 245 "converting the nvarchar value '…'"); that value may be a
/// new password hash, and error text reaches the journal. Keep the message,
/// drop the value.
fn withhold_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("value").filter(|_| !rest.is_empty()) {
        let after = &rest[at + "value".len()..];
        let quote = after
            .char_indices()
            .take_while(|(_, c)| *c == ':' || *c == ' ')
            .last()
            .map_or(0, |(i, c)| i + c.len_utf8());
        if after[quote..].starts_with('\'') {
            let body = &after[quote + 1..];
            // The value ends at the last quote before the message's next sentence.
            let end = body
                .rfind("'.")
                .or_else(|| body.rfind('\''))
                .unwrap_or(body.len());
            out.push_str(&rest[..at + "value".len() + quote]);
            out.push_str("'<withheld>'");
            rest = body.get(end + 1..).unwrap_or("");
        } else {
            out.push_str(&rest[..at + "value".len()]);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn map_err(e: tiberius::error::Error) -> BackendError {
    use tiberius::error::Error as E;
    match e {
        E::Io { message, .. } => BackendError::ConnectionLost(message),
        E::Server(t) => match t.code() {
            // 1205 deadlock victim, 1222 lock request timeout.
            1205 | 1222 => BackendError::LockTimeout(server_error(&t)),
            // 229/230 permission denied on object/column, 262 on the database, 1088 on a table.
            229 | 230 | 262 | 300 | 1088 => BackendError::Permission(server_error(&t)),
            _ => BackendError::Statement(server_error(&t)),
        },
        other => BackendError::Statement(other.to_string()),
    }
}

/// A `Value` as a tiberius parameter. Text goes as NVARCHAR; integers as
/// BIGINT (the server converts to the column's type).
fn bind(q: &mut Query<'_>, v: &Value) {
    match v {
        Value::Null => q.bind(ColumnData::String(None)),
        Value::Int(i) => q.bind(*i),
        Value::UInt(u) => match i64::try_from(*u) {
            Ok(i) => q.bind(i),
            Err(_) => q.bind(u.to_string()),
        },
        Value::Float(f) => q.bind(*f),
        Value::Text(s) => q.bind(ColumnData::String(Some(Cow::Owned(s.clone())))),
        Value::Bytes(b) => q.bind(ColumnData::Binary(Some(Cow::Owned(b.clone())))),
        Value::DateTime(d) => q.bind(*d),
    }
}

fn to_value(data: ColumnData<'static>) -> Value {
    match data {
        ColumnData::U8(v) => v.map_or(Value::Null, |x| Value::Int(x.into())),
        ColumnData::I16(v) => v.map_or(Value::Null, |x| Value::Int(x.into())),
        ColumnData::I32(v) => v.map_or(Value::Null, |x| Value::Int(x.into())),
        ColumnData::I64(v) => v.map_or(Value::Null, Value::Int),
        ColumnData::F32(v) => v.map_or(Value::Null, |x| Value::Float(x.into())),
        ColumnData::F64(v) => v.map_or(Value::Null, Value::Float),
        ColumnData::Bit(v) => v.map_or(Value::Null, |b| Value::Int(b.into())),
        ColumnData::String(v) => v.map_or(Value::Null, |s| Value::Text(s.into_owned())),
        ColumnData::Guid(v) => v.map_or(Value::Null, |g| Value::Text(g.to_string())),
        ColumnData::Binary(v) => v.map_or(Value::Null, |b| Value::Bytes(b.into_owned())),
        ColumnData::Numeric(v) => v.map_or(Value::Null, |n| Value::Text(n.to_string())),
        ColumnData::Xml(v) => v.map_or(Value::Null, |x| Value::Text(x.to_string())),
        other => match NaiveDateTime::from_sql(&other) {
            Ok(Some(d)) => Value::DateTime(d),
            Ok(None) => Value::Null,
            // date, time and datetimeoffset: keep their text form.
            Err(_) => match chrono::NaiveDate::from_sql(&other) {
                Ok(Some(d)) => Value::Text(d.to_string()),
                _ => Value::Text(format!("{other:?}")),
            },
        },
    }
}

/// Why the connection failed, in words that say what to try.
async fn explain_connect(target: &Target, addr: &str, e: tiberius::error::Error) -> String {
    use tiberius::error::Error as E;
    match e {
        E::Server(t) if t.code() == 18456 => format!(
            "login failed for `{}` (SQL Server error 18456, state {}): the password is wrong, the login is disabled, or the server accepts Windows authentication only (the SQL Server error log names the reason by state)",
            target.user,
            t.state()
        ),
        E::Server(t) if t.code() == 4060 => format!(
            "the server refused database `{}` (SQL Server error 4060): it does not exist or this login may not open it; check the name in the URL path (U8 keeps accounts in UFSystem)",
            target.database
        ),
        E::Server(t) => server_error(&t),
        // A server that forces encryption hangs up on a client that offers none.
        E::Io { message, .. }
            if target.tls == TlsMode::Legacy
                || ["alert", "tls", "handshake", "certificate"]
                    .iter()
                    .any(|w| message.to_ascii_lowercase().contains(w)) =>
        {
            explain_tls(target, addr, &message).await
        }
        E::Io { message, .. } => {
            let mut hint = String::new();
            if target.instance.is_some() && target.port.is_none() {
                hint = " For a named instance the SQL Browser service (UDP 1434) must answer; otherwise give the instance's TCP port: host:PORT.".into();
            }
            format!(
                "{message}: is SQL Server listening on TCP at {addr} (SQL Server Configuration Manager → Protocols → TCP/IP enabled, firewall open)?{hint}"
            )
        }
        E::Tls(msg) => explain_tls(target, addr, &msg).await,
        E::Protocol(msg) if msg.to_ascii_lowercase().contains("encrypt") => {
            explain_tls(target, addr, &msg).await
        }
        other => other.to_string(),
    }
}

/// A failed handshake: what the server offered, and which option to try.
async fn explain_tls(target: &Target, addr: &str, msg: &str) -> String {
    let probed = probe_prelogin(addr).await;
    let offered = match &probed {
        Ok(p) => format!(
            "The server is {} and offers encryption {}.",
            p.product(),
            p.encryption_name()
        ),
        Err(e) => format!("Asking the server what it offers failed too: {e}."),
    };
    let server_encryption = probed.as_ref().map(|p| p.encryption).ok();
    let lower = msg.to_ascii_lowercase();
    let advice = match (target.tls, server_encryption) {
        // ENCRYPT_REQ: ForceEncryption is on; nothing without TLS gets in.
        (TlsMode::Legacy, Some(3)) => {
            "The server forces encryption (ForceEncryption = Yes), so tls=legacy cannot connect: use tls=required (with ca= or trust-server-certificate=true), and if its TLS is 1.0/1.1 only, install the server's TLS 1.2 update first."
        }
        // ENCRYPT_NOT_SUP: no certificate, so no TLS at all is possible.
        (TlsMode::Required | TlsMode::LoginOnly, Some(2)) => {
            "The server has no TLS certificate configured: configure one (SQL Server Configuration Manager → Protocols → Certificate), or connect with tls=legacy on a network you trust."
        }
        _ if lower.contains("certificate")
            || lower.contains("issuer")
            || lower.contains("notvalidforname") =>
        {
            "The certificate is not trusted: pass ca=/path/to/the-server-ca.pem, or trust-server-certificate=true on a network you trust."
        }
        _ => {
            "If the server is SQL Server 2008 R2–2014 without the TLS 1.2 update, it speaks only TLS 1.0/1.1, which this build refuses: install the update, or connect with tls=legacy (no TLS at all) on a network you trust. With tls=required (the default) and a self-signed certificate, try ca= or trust-server-certificate=true."
        }
    };
    format!("the TLS handshake with {addr} failed: {msg}. {offered} {advice}")
}

/// The tiberius configuration for a target: address, instance, database,
/// login, TLS mode and trust. An error says what in the URL to change.
fn tiberius_config(target: &Target) -> Result<Config, String> {
    let mut config = Config::new();
    config.host(&target.host);
    if let Some(port) = target.port {
        config.port(port);
    }
    if let Some(instance) = &target.instance {
        config.instance_name(instance);
    }
    config.database(&target.database);
    config.application_name("locksmith");
    let password = target
        .password
        .as_ref()
        .map(|p| p.0.as_str().to_string())
        .unwrap_or_default();
    match target.auth {
        AuthKind::Sql => config.authentication(AuthMethod::sql_server(&target.user, &password)),
        AuthKind::Windows => {
            // SSPI: with no password, the logged-in Windows user (as `sqlcmd -E`);
            // with one, NTLM for the named DOMAIN\user.
            #[cfg(windows)]
            config.authentication(if target.password.is_none() {
                AuthMethod::Integrated
            } else {
                AuthMethod::windows(&target.user, &password)
            });
            #[cfg(not(windows))]
                return Err(
                    "Windows authentication is only available in Windows builds of locksmith; on this machine connect with a SQL Server login (auth=sql)".into(),
                );
        }
    }
    match target.tls {
        TlsMode::Required => config.encryption(EncryptionLevel::Required),
        TlsMode::LoginOnly => config.encryption(EncryptionLevel::Off),
        TlsMode::Legacy => config.encryption(EncryptionLevel::NotSupported),
        TlsMode::Preferred | TlsMode::Disabled => {
            return Err("SQL Server targets take tls=required, tls=off or tls=legacy".into());
        }
    }
    if let Some(ca) = &target.ca_file {
        if !ca.is_file() {
            return Err(format!("CA file {} does not exist", ca.display()));
        }
        config.trust_cert_ca(ca.display().to_string());
    } else if target.skip_verify {
        config.trust_cert();
    }
    Ok(config)
}

impl MsSql {
    pub async fn connect(target: &Target) -> Result<MsSql, BackendError> {
        let shown = target.display();
        let fail = |reason: String| BackendError::Connect {
            target: shown.clone(),
            reason,
        };
        let mut config = tiberius_config(target).map_err(fail)?;
        config.handshake_timeout(Some(Duration::from_secs(15)));
        // Through a forward: dial its local end; config keeps the host for TLS.
        let addr = match &target.dial {
            Some((host, port)) => format!("{host}:{port}"),
            None => config.get_addr(),
        };
        let mut place = match (&target.instance, target.port) {
            (Some(i), None) => format!("{}\\{i}", target.host),
            (_, Some(p)) => format!("{}:{p}", target.host),
            (None, None) => format!("{}:1433", target.host),
        };
        let tcp = if target.instance.is_some() && target.port.is_none() {
            TcpStream::connect_named(&config)
                .await
                .map_err(|e| fail(format!("finding instance `{}` through SQL Browser (UDP 1434) on {} failed: {e}; give the instance's TCP port instead (host:PORT)", target.instance.as_deref().unwrap_or(""), target.host)))?
        } else {
            tokio::time::timeout(Duration::from_secs(15), TcpStream::connect(&addr))
                .await
                .map_err(|_| fail(format!("no answer from {addr} within 15 s")))?
                .map_err(|e| fail(format!("{e}: is SQL Server listening on TCP at {addr}?")))?
        };
        if let Ok(peer) = tcp.peer_addr()
            && target.instance.is_some()
        {
            place = format!("{place} ({peer})");
        }
        let _ = tcp.set_nodelay(true);
        let client = match Client::connect(config.clone(), tcp.compat_write()).await {
            Ok(c) => c,
            // Azure SQL and some gateways redirect once.
            Err(tiberius::error::Error::Routing { host, port }) => {
                config.host(&host);
                config.port(port);
                let tcp = TcpStream::connect(format!("{host}:{port}"))
                    .await
                    .map_err(|e| fail(format!("redirected to {host}:{port}, which failed: {e}")))?;
                Client::connect(config, tcp.compat_write())
                    .await
                    .map_err(|e| fail(e.to_string()))?
            }
            Err(e) => return Err(fail(explain_connect(target, &addr, e).await)),
        };
        let mut me = MsSql {
            client,
            host: place,
            database: target.database.clone(),
            dialect: MsSqlDialect::default(),
            warnings: Vec::new(),
            read_only: None,
        };
        // A DBA tool must not wait forever behind another session's lock
        // (SQL Server's default is -1). The value is a validated integer.
        let ms = u64::from(target.lock_wait_secs) * 1000;
        me.batch(&format!("SET LOCK_TIMEOUT {ms}")).await?;
        if let Some(schema) =
            first_value(me.query("SELECT SCHEMA_NAME()", &[]).await?).and_then(|v| v.as_text())
        {
            me.dialect.default_schema = schema;
        }
        let version = first_value(me.query("SELECT @@VERSION", &[]).await?)
            .and_then(|v| v.as_text())
            .unwrap_or_default();
        tracing::debug!(version = %version.lines().next().unwrap_or(""), "connected to SQL Server");
        me.read_only = me.probe_read_only().await;
        Ok(me)
    }

    /// A database that is READ_ONLY (`DATABASEPROPERTYEX … 'Updateability'`,
    /// also what a readable AG secondary answers) or an AG secondary
    /// (`sys.fn_hadr_is_primary_replica`, 2014+). A probe that fails leaves
    /// the answer to the UPDATE.
    async fn probe_read_only(&mut self) -> Option<ReadOnly> {
        let text = |rows: Vec<Row>| first_value(rows).and_then(|v| v.as_text());
        let updateability = match self
            .query(
                "SELECT CAST(DATABASEPROPERTYEX(DB_NAME(), 'Updateability') AS NVARCHAR(128))",
                &[],
            )
            .await
        {
            Ok(rows) => text(rows).unwrap_or_default(),
            Err(e) => {
                tracing::debug!(error = %e, "read-only probe failed");
                return None;
            }
        };
        let secondary = self
            .query(
                "SELECT CAST(sys.fn_hadr_is_primary_replica(DB_NAME()) AS INT)",
                &[],
            )
            .await
            .ok()
            .and_then(text)
            .is_some_and(|v| v == "0");
        let setting = if secondary {
            "an Always On availability group secondary"
        } else if updateability.eq_ignore_ascii_case("READ_ONLY") {
            "Updateability = READ_ONLY"
        } else {
            return None;
        };
        let primary = self
            .query(
                "SELECT TOP 1 CAST(s.primary_replica AS NVARCHAR(256)) FROM sys.dm_hadr_availability_group_states s \
                 JOIN sys.availability_databases_cluster d ON d.group_id = s.group_id WHERE d.database_name = DB_NAME()",
                &[],
            )
            .await
            .ok()
            .and_then(text)
            .filter(|p| !p.is_empty());
        Some(ReadOnly {
            setting: setting.to_string(),
            primary,
        })
    }

    /// A statement without values (transaction control, SET), as a SQL batch.
    async fn batch(&mut self, sql: &str) -> Result<(), BackendError> {
        tracing::trace!(sql, "batch");
        self.client
            .simple_query(sql)
            .await
            .map_err(map_err)?
            .into_results()
            .await
            .map_err(map_err)?;
        Ok(())
    }

    fn qualified(&self, table: &str) -> (String, String, String) {
        let t = split_table(table);
        (
            t.database.unwrap_or_else(|| self.database.clone()),
            t.schema
                .unwrap_or_else(|| self.dialect.default_schema.clone()),
            t.name,
        )
    }

    /// `[db].[schema].[name]` as HAS_PERMS_BY_NAME and OBJECT_ID take it.
    fn object_name(&self, table: &str) -> String {
        let (db, schema, name) = self.qualified(table);
        let d = &self.dialect;
        format!(
            "{}.{}.{}",
            d.quote_ident(&db),
            d.quote_ident(&schema),
            d.quote_ident(&name)
        )
    }
}

#[async_trait]
impl Backend for MsSql {
    fn dialect(&self) -> &dyn Dialect {
        &self.dialect
    }
    fn engine(&self) -> &'static str {
        "mssql"
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
        tracing::trace!(sql, params = params.len(), "query");
        let mut q = Query::new(sql.to_string());
        for p in params {
            bind(&mut q, p);
        }
        let rows = q
            .query(&mut self.client)
            .await
            .map_err(map_err)?
            .into_first_result()
            .await
            .map_err(map_err)?;
        Ok(rows
            .into_iter()
            .map(|r| r.into_iter().map(to_value).collect())
            .collect())
    }

    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, BackendError> {
        tracing::trace!(sql, params = params.len(), "execute");
        let mut q = Query::new(sql.to_string());
        for p in params {
            bind(&mut q, p);
        }
        // SQL Server counts rows matched by the WHERE clause, changed or not.
        let result = q.execute(&mut self.client).await.map_err(map_err)?;
        Ok(result.total())
    }

    async fn begin(&mut self) -> Result<(), BackendError> {
        self.batch("BEGIN TRANSACTION").await
    }
    async fn commit(&mut self) -> Result<(), BackendError> {
        self.batch("COMMIT TRANSACTION").await
    }
    async fn rollback(&mut self) -> Result<(), BackendError> {
        // A deadlock victim's transaction is already gone; do not fail on that.
        self.batch("IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION").await
    }

    async fn columns(&mut self, table: &str) -> Result<Vec<ColumnInfo>, BackendError> {
        let (db, schema, name) = self.qualified(table);
        let sql = format!(
            "SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, IS_NULLABLE FROM {}.INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = @P1 AND TABLE_SCHEMA = @P2 ORDER BY ORDINAL_POSITION",
            self.dialect.quote_ident(&db)
        );
        let rows = self
            .query(&sql, &[Value::Text(name), Value::Text(schema)])
            .await?;
        Ok(rows.into_iter().map(|r| ColumnInfo::from_row(&r)).collect())
    }

    async fn transactional(&mut self, _table: &str) -> Result<bool, BackendError> {
        // Every SQL Server table is transactional.
        Ok(true)
    }

    async fn write_access(&mut self, table: &str) -> Result<WriteAccess, BackendError> {
        let object = Value::Text(self.object_name(table));
        let whole = self
            .query(
                "SELECT HAS_PERMS_BY_NAME(@P1, N'OBJECT', N'UPDATE')",
                std::slice::from_ref(&object),
            )
            .await?;
        if whole
            .first()
            .and_then(|r| r.first())
            .and_then(Value::as_text)
            .is_some_and(|v| v == "1")
        {
            return Ok(WriteAccess::Table);
        }
        let (db, _, _) = self.qualified(table);
        let sql = format!(
            "SELECT c.name FROM {}.sys.columns AS c WHERE c.object_id = OBJECT_ID(@P1) AND HAS_PERMS_BY_NAME(@P1, N'OBJECT', N'UPDATE', c.name, N'COLUMN') = 1",
            self.dialect.quote_ident(&db)
        );
        Ok(WriteAccess::from_columns(
            self.query(&sql, &[object]).await?,
        ))
    }

    async fn now(&mut self) -> Result<NaiveDateTime, BackendError> {
        // GETDATE() is `datetime`, so a written timestamp fits datetime and datetime2 columns alike.
        let sql = "SELECT GETDATE()";
        server_time(self.query(sql, &[]).await?, sql)
    }

    async fn close(self: Box<Self>) -> Result<(), BackendError> {
        self.client.close().await.map_err(map_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_three_part_names_and_keeps_the_default_schema_gap() {
        let d = MsSqlDialect {
            default_schema: "u8".into(),
        };
        assert_eq!(d.quote_ident("UA_User"), "[UA_User]");
        assert_eq!(
            d.quote_ident("UFSystem..UA_User"),
            "[UFSystem].[u8].[UA_User]"
        );
        assert_eq!(
            d.quote_ident("UFSystem.dbo.UA_User"),
            "[UFSystem].[dbo].[UA_User]"
        );
        assert_eq!(d.quote_ident("a]b"), "[a]]b]");
        assert_eq!(d.placeholder(3), "@P3");
        assert_eq!(
            split_table("UFSystem..UA_User"),
            TableName {
                database: Some("UFSystem".into()),
                schema: None,
                name: "UA_User".into()
            }
        );
    }

    #[test]
    fn server_messages_keep_their_words_but_not_the_quoted_value() {
        let m = "String or binary data would be truncated in table 'UFSystem.dbo.UA_User', column 'cPassword'. Truncated value: 'pU3KGCUwux1tEy'.";
        let w = withhold_values(m);
        assert!(!w.contains("pU3KG"), "{w}");
        assert!(
            w.contains("column 'cPassword'") && w.contains("Truncated value: '<withheld>'"),
            "{w}"
        );
        let m =
            "Conversion failed when converting the nvarchar value 'abc' it's' to data type int.";
        assert!(!withhold_values(m).contains("abc"));
        assert_eq!(
            withhold_values("Invalid object name 'x'."),
            "Invalid object name 'x'."
        );
        assert_eq!(withhold_values("value"), "value");
        assert_eq!(withhold_values("a value '"), "a value '<withheld>'");
    }

    #[test]
    fn names_the_server_product_from_its_prelogin_version() {
        let p = Prelogin {
            version: (10, 50, 1600),
            encryption: 2,
        };
        assert_eq!(p.product(), "SQL Server 2008 R2 (10.50.1600)");
        assert!(p.encryption_name().contains("NOT_SUP"));
    }
}
