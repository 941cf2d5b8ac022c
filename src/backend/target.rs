//! Where to connect: the target URL, TLS options and where the DB password
//! comes from. The password never comes from argv unless the operator put
//! it in the URL, which earns a warning.

use std::io::IsTerminal;
use std::path::PathBuf;

use url::Url;
use zeroize::Zeroizing;

pub use super::ssh_tunnel::Bastion;

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("target URL `{shown}`: {reason}")]
    Url { shown: String, reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    Required,
    Preferred,
    Disabled,
    /// SQL Server `tls=off`: only the login packet travels in TLS, as the
    /// protocol forces; the session after it is plain.
    LoginOnly,
    /// SQL Server `tls=legacy`: no TLS at all, for servers that only speak
    /// TLS 1.0/1.1 (which the bundled rustls refuses). The login crosses the
    /// network in TDS's reversible obfuscation.
    Legacy,
}

/// How a SQL Server login authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthKind {
    /// A SQL Server login (user + password).
    Sql,
    /// Windows authentication (NTLM/Kerberos through SSPI; Windows builds only).
    Windows,
}

/// The DB password, zeroized on drop, never printed.
#[derive(Clone, Default)]
pub struct DbPassword(pub Zeroizing<String>);

impl std::fmt::Debug for DbPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbPassword(<redacted>)")
    }
}

#[derive(Debug, Clone)]
pub struct Target {
    pub engine: String,
    pub user: String,
    pub host: String,
    pub port: Option<u16>,
    pub socket: Option<PathBuf>,
    pub database: String,
    pub tls: TlsMode,
    pub ca_file: Option<PathBuf>,
    pub skip_verify: bool,
    pub password: Option<DbPassword>,
    /// Seconds to wait for a row lock held by another session before giving up.
    pub lock_wait_secs: u32,
    /// Where the password came from, for messages ("LOCKSMITH_DB_PASSWORD", "~/.my.cnf", ...).
    pub password_source: Option<String>,
    pub warnings: Vec<String>,
    /// SQL Server named instance (`host\INSTANCE`), found through SQL Browser.
    pub instance: Option<String>,
    /// `--read-only`, `?read-only=true` or a profile's `read_only = true`: every write is
    /// refused before any journal entry and the DB session is read-only where the engine can.
    pub read_only: bool,
    pub auth: AuthKind,
    /// `?ssh=user@bastion[:port]`: reach host:port through an SSH forward
    /// (host and port as the bastion sees them).
    pub ssh: Option<Bastion>,
    /// Where to open the TCP connection instead of host:port (an SSH
    /// forward's local end). host and port stay the identity: TLS name, journal.
    pub dial: Option<(String, u16)>,
}

impl Target {
    /// Parses `mysql://user@host:port/db?tls=required&ca=/path&skip-verify=true&socket=/run/mysqld/mysqld.sock`.
    pub fn parse(raw: &str) -> Result<Target, TargetError> {
        for scheme in ["mssql://", "sqlserver://"] {
            // `get` keeps a multi-byte character at the cut from panicking.
            if raw
                .get(..scheme.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
            {
                return Target::mssql(raw, &raw[scheme.len()..]);
            }
        }
        let url = Url::parse(raw).map_err(|e| TargetError::Url {
            shown: redact(raw),
            reason: format!(
                "{e}; expected mysql://user@host:port/database, postgres://user@host:port/database, mssql://user@host[\\INSTANCE]/database or sqlite:///path/to/file.db"
            ),
        })?;
        // A refusal may quote a piece of the URL: no `user:password@` in it.
        let bad = |reason: String| TargetError::Url {
            shown: redact(raw),
            reason: mask_userinfo(&reason),
        };
        let engine = match url.scheme() {
            "mysql" | "mariadb" => "mysql".to_string(),
            "postgres" | "postgresql" => "postgres".to_string(),
            "sqlite" => return Target::sqlite(&url).map_err(bad),
            other => {
                return Err(bad(format!(
                    "engine `{other}` is not supported; use mysql:// (mariadb://), postgres:// (postgresql://), mssql:// (sqlserver://) or sqlite://"
                )));
            }
        };
        let pg = engine == "postgres";
        let (user, host, pg_socket, database) = url_parts(&url, pg);
        if database.is_empty() || database.contains('/') {
            return Err(bad(
                "name the database in the path: mysql://user@host/DATABASE".into(),
            ));
        }
        let mut t = Target::with_defaults(
            engine,
            user,
            host,
            // PostgreSQL's port is explicit so messages and the journal name it.
            url.port()
                .or_else(|| pg_env(pg, "PGPORT").and_then(|p| p.parse().ok()))
                .or_else(|| (engine_is_pg(url.scheme())).then_some(5432)),
            percent_decode(&database),
            TlsMode::Preferred,
        );
        t.socket = pg_socket;
        if let Some(pw) = url.password() {
            t.take_url_password(pw, "LOCKSMITH_DB_PASSWORD or ~/.my.cnf");
        }
        for (k, v) in url.query_pairs() {
            t.apply_option(&k, &v).map_err(bad)?;
        }
        t.check_ssh().map_err(bad)?;
        Ok(t)
    }

    /// A target with every option at its default, before the URL's options apply.
    fn with_defaults(
        engine: String,
        user: String,
        host: String,
        port: Option<u16>,
        database: String,
        tls: TlsMode,
    ) -> Target {
        Target {
            engine,
            user,
            host,
            port,
            socket: None,
            database,
            tls,
            ca_file: None,
            skip_verify: false,
            password: None,
            password_source: None,
            lock_wait_secs: 10,
            warnings: Vec::new(),
            instance: None,
            auth: AuthKind::Sql,
            read_only: false,
            ssh: None,
            dial: None,
        }
    }

    /// Uses the password written in the URL, and warns that argv shows it;
    /// `safer` names where it should live instead.
    fn take_url_password(&mut self, password: &str, safer: &str) {
        self.password = Some(DbPassword(Zeroizing::new(percent_decode(password))));
        self.password_source = Some("the target URL".into());
        self.warnings.push(format!(
            "the DB password is in the target URL, so it is visible in the process list and shell history; prefer {safer}"
        ));
    }

    /// One `?key=value` of a MySQL or PostgreSQL URL.
    fn apply_option(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "tls" | "ssl-mode" | "sslmode" => {
                self.tls = match value.to_ascii_lowercase().as_str() {
                    // MySQL's ssl-mode and libpq's sslmode spellings; every
                    // required mode verifies the certificate (stricter than libpq's `require`).
                    "required" | "require" | "verify_ca" | "verify_identity" | "verify-ca"
                    | "verify-full" => TlsMode::Required,
                    "preferred" | "prefer" | "allow" => TlsMode::Preferred,
                    "disabled" | "disable" | "off" => TlsMode::Disabled,
                    other => {
                        return Err(format!(
                            "tls={other} is not a TLS mode; use required, preferred or disabled"
                        ));
                    }
                }
            }
            "ca" | "ssl-ca" | "sslrootcert" => self.ca_file = Some(PathBuf::from(value)),
            "skip-verify" | "insecure" => self.skip_verify = matches!(value, "1" | "true" | "yes"),
            "socket" => self.socket = Some(PathBuf::from(value)),
            "read-only" => self.read_only = truthy(value),
            "lock-wait" => self.lock_wait_secs = lock_wait(value)?,
            "ssh" => self.ssh = Some(Bastion::parse(value)?),
            other => {
                return Err(format!(
                    "unknown option `{other}`; known: tls, ca, skip-verify, socket, lock-wait, read-only, ssh"
                ));
            }
        }
        Ok(())
    }

    /// `sqlite:///absolute/path.db` (or `sqlite:relative.db`): a local file, no user or password.
    fn sqlite(url: &Url) -> Result<Target, String> {
        let path = percent_decode(url.path());
        if path.is_empty() {
            return Err("name the database file: sqlite:///path/to/file.db".into());
        }
        let mut read_only = false;
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "read-only" => read_only = truthy(&v),
                _ => return Err("sqlite targets take one option: read-only=true".into()),
            }
        }
        Ok(Target::with_defaults(
            "sqlite".into(),
            String::new(),
            "localhost".into(),
            None,
            path,
            TlsMode::Disabled,
        ))
        .map(|mut t| {
            t.read_only = read_only;
            t
        })
    }

    /// `mssql://user@host[\INSTANCE][:port]/database?tls=required|off|legacy&ca=…&trust-server-certificate=true&auth=sql|windows&lock-wait=N`.
    ///
    /// A backslash is not allowed in a URL host, so the instance is cut off
    /// before the URL parser sees it (`%5C` and `?instance=` work too). With
    /// no host, `SQLCMDSERVER` (`host\INSTANCE,port`, as sqlcmd reads it) is
    /// used; with no user, `SQLCMDUSER`.
    fn mssql(raw: &str, rest: &str) -> Result<Target, TargetError> {
        // A refusal may quote a piece of the URL: no `user:password@` in it.
        let bad = |reason: String| TargetError::Url {
            shown: redact(raw),
            reason: mask_userinfo(&reason),
        };
        let mut parts = MssqlAuthority::split(rest);
        let mut from_env_server = None;
        if parts.hostport.is_empty() {
            let (hostport, instance, server) = sqlcmd_server_from_env().map_err(bad)?;
            parts.hostport = hostport;
            parts.instance = parts.instance.or(instance);
            from_env_server = Some(server);
        }
        let rebuilt = format!("mssql://{}{}{}", parts.userinfo, parts.hostport, parts.tail);
        let url = Url::parse(&rebuilt).map_err(|e| {
            bad(format!(
                "{e}; expected mssql://user@host[:port]/database or mssql://user@host\\INSTANCE/database"
            ))
        })?;
        let mut user = percent_decode(url.username());
        if user.is_empty() {
            user = std::env::var("SQLCMDUSER").unwrap_or_default();
        }
        let host = url.host_str().unwrap_or("").to_string();
        if host.is_empty() {
            return Err(bad("name the server host".into()));
        }
        let database = percent_decode(url.path().trim_start_matches('/'));
        if database.is_empty() || database.contains('/') {
            return Err(bad(
                "name the database in the path: mssql://user@host/UFSystem".into(),
            ));
        }
        // SQL Server 2022 and sqlcmd 18 encrypt by default; so do we.
        let mut t = Target::with_defaults(
            "mssql".into(),
            user,
            host,
            url.port(),
            database,
            TlsMode::Required,
        );
        t.instance = parts.instance;
        if let Some(server) = from_env_server {
            t.warnings
                .push(format!("server taken from SQLCMDSERVER ({server})"));
        }
        if let Some(pw) = url.password() {
            t.take_url_password(pw, "LOCKSMITH_DB_PASSWORD or SQLCMDPASSWORD");
        }
        for (k, v) in url.query_pairs() {
            t.apply_mssql_option(&k, &v).map_err(bad)?;
        }
        t.check_mssql_login().map_err(bad)?;
        t.check_ssh().map_err(bad)?;
        t.warn_about_mssql_tls();
        Ok(t)
    }

    /// One `?key=value` of a SQL Server URL.
    fn apply_mssql_option(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "tls" | "encrypt" => {
                self.tls = match value.to_ascii_lowercase().as_str() {
                    "required" | "require" | "mandatory" | "on" | "yes" | "true" => {
                        TlsMode::Required
                    }
                    "off" | "optional" | "no" | "false" => TlsMode::LoginOnly,
                    "legacy" | "none" => TlsMode::Legacy,
                    other => {
                        return Err(format!(
                            "tls={other} is not a SQL Server TLS mode; use required (default: verify the certificate), off (only the login is encrypted) or legacy (no TLS, for servers that only speak TLS 1.0/1.1)"
                        ));
                    }
                }
            }
            "ca" => self.ca_file = Some(PathBuf::from(value)),
            "trust-server-certificate" | "trustservercertificate" | "skip-verify" => {
                self.skip_verify = matches!(value, "1" | "true" | "yes")
            }
            "instance" => self.instance = Some(value.to_string()),
            "read-only" => self.read_only = truthy(value),
            "auth" => {
                self.auth = match value.to_ascii_lowercase().as_str() {
                    "sql" => AuthKind::Sql,
                    "windows" | "ntlm" | "integrated" | "sspi" => AuthKind::Windows,
                    other => {
                        return Err(format!(
                            "auth={other} is not known; use sql (a SQL Server login) or windows"
                        ));
                    }
                }
            }
            "lock-wait" => self.lock_wait_secs = lock_wait(value)?,
            "ssh" => self.ssh = Some(Bastion::parse(value)?),
            other => {
                return Err(format!(
                    "unknown option `{other}`; known: tls, ca, trust-server-certificate, instance, auth, lock-wait, read-only, ssh"
                ));
            }
        }
        Ok(())
    }

    /// What an SSH forward cannot carry: a socket file, and SQL Browser's
    /// UDP 1434 (a named instance needs its TCP port).
    fn check_ssh(&self) -> Result<(), String> {
        let Some(b) = &self.ssh else {
            return Ok(());
        };
        if self.socket.is_some() {
            return Err(format!(
                "ssh={} forwards TCP, not a socket file: name the database's host and port as the bastion sees them",
                b.display()
            ));
        }
        if let Some(i) = &self.instance
            && self.port.is_none()
        {
            return Err(format!(
                "ssh={}: the named instance `{}\\{i}` is found through SQL Browser on UDP 1434, which an SSH forward cannot carry; give the instance's TCP port: mssql://{}@{}\\{i}:PORT/{}?ssh={}",
                b.display(),
                self.host,
                self.user,
                self.host,
                self.database,
                b.display()
            ));
        }
        Ok(())
    }

    /// A `DOMAIN\user` login is Windows authentication; a SQL login needs a
    /// name; an instance name must be one SQL Browser can answer for.
    fn check_mssql_login(&mut self) -> Result<(), String> {
        if self.user.contains('\\') {
            self.auth = AuthKind::Windows;
        }
        if self.user.is_empty() && self.auth == AuthKind::Sql {
            return Err(
                "name the SQL login: mssql://USER@host/database (or set SQLCMDUSER)".into(),
            );
        }
        if self.instance.as_deref().is_some_and(|i| {
            i.is_empty()
                || i.len() > 64
                || !i
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '#')
        }) {
            return Err(
                "the instance name must be 1 to 64 letters, digits, '_', '$' or '#'".into(),
            );
        }
        Ok(())
    }

    /// Says what a weakened SQL Server TLS setting leaves in clear.
    fn warn_about_mssql_tls(&mut self) {
        if self.tls == TlsMode::Legacy {
            self.warnings.push(
                "tls=legacy: nothing is encrypted, not even the login; use it only on a network you trust, and plan the server's TLS 1.2 update".into(),
            );
        } else if self.tls == TlsMode::LoginOnly {
            self.warnings.push(
                "tls=off: only the login is encrypted; statements and the values they carry cross the network in clear".into(),
            );
        }
        if self.skip_verify && self.tls != TlsMode::Legacy {
            self.warnings.push(
                "trust-server-certificate=true: the server's certificate is not checked, so a machine in the middle could read the session".into(),
            );
        }
    }

    /// Fills the password from LOCKSMITH_DB_PASSWORD, then the engine's own
    /// convention (MySQL ~/.my.cnf [client], PostgreSQL PGPASSWORD / ~/.pgpass,
    /// SQL Server SQLCMDPASSWORD) when the URL had none. Prompting is left to `prompt_password`.
    pub fn resolve_password(&mut self) {
        if self.password.is_some() || self.engine == "sqlite" {
            return;
        }
        if let Ok(pw) = std::env::var("LOCKSMITH_DB_PASSWORD") {
            self.password = Some(DbPassword(Zeroizing::new(pw)));
            self.password_source = Some("LOCKSMITH_DB_PASSWORD".into());
            return;
        }
        if self.engine == "mssql" {
            // What sqlcmd users already have set.
            if let Ok(pw) = std::env::var("SQLCMDPASSWORD") {
                self.password = Some(DbPassword(Zeroizing::new(pw)));
                self.password_source = Some("SQLCMDPASSWORD".into());
            }
            return;
        }
        if self.engine == "postgres" {
            // What psql users already have: PGPASSWORD, then ~/.pgpass (or PGPASSFILE).
            if let Some((pw, source)) = super::pgpass::password_for(self) {
                self.password = Some(DbPassword(pw));
                self.password_source = Some(source);
            }
            return;
        }
        if let Some(home) = std::env::var_os("HOME") {
            let path = PathBuf::from(home).join(".my.cnf");
            if let Ok(text) = std::fs::read_to_string(&path)
                && let Some(pw) = my_cnf_client_password(&text)
            {
                self.password = Some(DbPassword(Zeroizing::new(pw)));
                self.password_source = Some("~/.my.cnf".into());
            }
        }
    }

    /// Asks on the terminal without echo; None when there is no terminal.
    pub fn prompt_password(&mut self) -> bool {
        if !std::io::stderr().is_terminal() {
            return false;
        }
        match rpassword::prompt_password(format!(
            "Password for {}@{} (not echoed): ",
            self.user, self.host
        )) {
            Ok(pw) => {
                self.password = Some(DbPassword(Zeroizing::new(pw)));
                self.password_source = Some("the terminal prompt".into());
                true
            }
            Err(_) => false,
        }
    }

    /// The database's TCP port, defaults filled in (what an SSH forward points at).
    pub fn tcp_port(&self) -> u16 {
        self.port.unwrap_or(match self.engine.as_str() {
            "postgres" => 5432,
            "mssql" => 1433,
            _ => 3306,
        })
    }

    /// `mysql://user@host:port/db` without any password, for messages and the journal.
    pub fn display(&self) -> String {
        if self.engine == "sqlite" {
            // A file name could hold URL-like text: no `user:password@` in it is shown.
            return mask_userinfo(&format!("sqlite://{}", self.database));
        }
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        let instance = self
            .instance
            .as_deref()
            .map(|i| format!("\\{i}"))
            .unwrap_or_default();
        let via = self
            .ssh
            .as_ref()
            .map(|b| format!("?ssh={}", b.display()))
            .unwrap_or_default();
        format!(
            "{}://{}@{}{}{}/{}{via}",
            self.engine, self.user, self.host, instance, port, self.database
        )
    }
}

/// User, host, socket directory and database from the URL. What it leaves
/// out, PostgreSQL targets take from PGUSER, PGHOST (a directory: the socket)
/// and PGDATABASE, as psql does (`postgres:///odoo` with PGHOST set).
fn url_parts(url: &Url, pg: bool) -> (String, String, Option<PathBuf>, String) {
    let user = percent_decode(url.username());
    let user = if user.is_empty() {
        pg_env(pg, "PGUSER").unwrap_or_else(|| "root".to_string())
    } else {
        user
    };
    let (host, socket) = match url.host_str().filter(|h| !h.is_empty()) {
        Some(h) => (h.to_string(), None),
        None => match pg_env(pg, "PGHOST") {
            Some(h) if h.starts_with('/') => ("localhost".to_string(), Some(PathBuf::from(h))),
            Some(h) => (h, None),
            None => ("localhost".to_string(), None),
        },
    };
    let mut database = url.path().trim_start_matches('/').to_string();
    if database.is_empty() {
        database = pg_env(pg, "PGDATABASE").unwrap_or_default();
    }
    (user, host, socket, database)
}

/// A non-empty libpq environment variable, for PostgreSQL targets only.
fn pg_env(pg: bool, name: &str) -> Option<String> {
    pg.then(|| std::env::var(name).ok())
        .flatten()
        .filter(|v| !v.is_empty())
}

/// `true`, `1` or `yes` (as for skip-verify).
fn truthy(v: &str) -> bool {
    matches!(v, "1" | "true" | "yes")
}

/// `url` with `read-only=true` added: the console's `--read-only` applies it
/// to every profile, as a profile's `read_only = true` does to its own.
pub fn with_read_only(url: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}read-only=true")
}

/// `lock-wait=SECONDS`: how long to wait behind another session's row lock.
fn lock_wait(v: &str) -> Result<u32, String> {
    v.parse()
        .ok()
        .filter(|n| (1..=3600).contains(n))
        .ok_or_else(|| format!("lock-wait={v} must be a number of seconds from 1 to 3600"))
}

/// The parts of `user@host\INSTANCE:port/db?opts` before the URL parser
/// sees them: a backslash is not allowed in a URL host, so the instance is cut out.
struct MssqlAuthority<'a> {
    /// `user@` or empty.
    userinfo: &'a str,
    /// `host[:port]`, without the instance; empty when the URL names no server.
    hostport: String,
    /// `/database?options`.
    tail: &'a str,
    instance: Option<String>,
}

impl<'a> MssqlAuthority<'a> {
    fn split(rest: &'a str) -> MssqlAuthority<'a> {
        let (authority, tail) = match rest.find(['/', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (&authority[..i + 1], &authority[i + 1..]),
            None => ("", authority),
        };
        let hostport = hostport.replace("%5C", "\\").replace("%5c", "\\");
        let (hostport, instance) = match hostport.split_once('\\') {
            Some((h, rest)) => {
                // host\INSTANCE:port → host:port + INSTANCE
                let (inst, port) = match rest.split_once(':') {
                    Some((i, p)) => (i.to_string(), format!(":{p}")),
                    None => (rest.to_string(), String::new()),
                };
                (format!("{h}{port}"), Some(inst))
            }
            None => (hostport.to_string(), None),
        };
        MssqlAuthority {
            userinfo,
            hostport,
            tail,
            instance,
        }
    }
}

/// The server from `SQLCMDSERVER` when the URL names none: `host[:port]`,
/// the instance it names, and the variable's value for the warning.
fn sqlcmd_server_from_env() -> Result<(String, Option<String>, String), String> {
    match std::env::var("SQLCMDSERVER") {
        Ok(server) if !server.trim().is_empty() => {
            let (h, instance, p) = parse_sqlcmd_server(&server);
            let hostport = match p {
                Some(p) => format!("{h}:{p}"),
                None => h,
            };
            Ok((hostport, instance, server))
        }
        _ => Err(
            "name the server: mssql://user@host[:port]/database, mssql://user@host\\INSTANCE/database, or set SQLCMDSERVER".into(),
        ),
    }
}

/// `tcp:host\\INSTANCE,1433` as sqlcmd's -S and SQLCMDSERVER spell it.
fn parse_sqlcmd_server(raw: &str) -> (String, Option<String>, Option<u16>) {
    let s = raw.trim();
    let s = s.strip_prefix("tcp:").unwrap_or(s);
    let (s, port) = match s.rsplit_once(',') {
        Some((h, p)) => (h, p.trim().parse().ok()),
        None => (s, None),
    };
    let (host, instance) = match s.split_once('\\') {
        Some((h, i)) => (h, Some(i.to_string())),
        None => (s, None),
    };
    let host = if host == "." || host.eq_ignore_ascii_case("(local)") {
        "localhost"
    } else {
        host
    };
    (host.to_string(), instance, port)
}

fn engine_is_pg(scheme: &str) -> bool {
    matches!(scheme, "postgres" | "postgresql")
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The URL with any password replaced, safe for error text.
pub fn redact(raw: &str) -> String {
    let typed = typed_password(raw);
    let parsed = Url::parse(raw).ok();
    let shown = match parsed {
        Some(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            Some(u.to_string())
        }
        Some(u) if typed.is_none() => Some(u.to_string()),
        None if typed.is_none() && !raw.contains('@') => Some(raw.to_string()),
        _ => None,
    };
    match shown {
        // The parser and the text agree: nothing of the password is left.
        Some(s) if typed.is_none_or(|p| !s.contains(p)) => mask_userinfo(&s),
        // Otherwise show nothing before the last `@` (a mistyped scheme in
        // front of a real URL, a backslash the parser reads as a path).
        _ => match raw.rfind('@') {
            Some(at) => format!("***{}", &raw[at..]),
            None => "***".to_string(),
        },
    }
}

/// Masks the password of every `scheme://user:password@` inside `text`,
/// nested and overlapping ones included (each `://` starts its own authority).
fn mask_userinfo(text: &str) -> String {
    let mut out = text.to_string();
    let mut from = 0;
    while let Some(i) = out[from..].find("://").map(|i| from + i) {
        let start = i + 3;
        let end = out[start..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |e| start + e);
        if let Some(at) = out[start..end].rfind('@').map(|a| start + a)
            && let Some(colon) = out[start..at].find(':').map(|c| start + c)
            && colon + 1 < at
        {
            out.replace_range(colon + 1..at, "***");
        }
        from = start;
    }
    out
}

/// The password as the text reads: `scheme://user:PASSWORD@host`, taking the
/// first `://` and the last `@` of its authority, whatever a parser makes of it.
fn typed_password(raw: &str) -> Option<&str> {
    let rest = &raw[raw.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    let (_, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then_some(password)
}

/// `password=` in the `[client]` (or `[mysql]`) group of a my.cnf file.
pub fn my_cnf_client_password(text: &str) -> Option<String> {
    let mut in_client = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_client = matches!(line, "[client]" | "[mysql]" | "[mariadb-client]");
            continue;
        }
        if !in_client || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=')
            && k.trim() == "password"
        {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
                .unwrap_or(v);
            return Some(v.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_plain_url() {
        let t = Target::parse("mysql://root@127.0.0.1:3306/crm").unwrap();
        assert_eq!(
            (
                t.user.as_str(),
                t.host.as_str(),
                t.port,
                t.database.as_str()
            ),
            ("root", "127.0.0.1", Some(3306), "crm")
        );
        assert_eq!(t.tls, TlsMode::Preferred);
        assert!(t.password.is_none());
    }

    #[test]
    fn password_in_url_warns_and_is_redacted_in_display() {
        let t = Target::parse("mysql://u:s3cr%40t@db/crm?tls=required").unwrap();
        assert_eq!(t.password.as_ref().unwrap().0.as_str(), "s3cr@t");
        assert_eq!(t.warnings.len(), 1);
        assert!(!t.display().contains("s3cr"));
        assert!(!redact("mysql://u:s3cr@t@db/crm").contains("s3cr"));
        // A mistyped scheme in front of a real URL: the parser sees no authority.
        let shown = redact("mssal::/@/0dmssql://CORP%5Cdba:pw@db01/UFSystem?");
        assert!(!shown.contains(":pw@"), "{shown}");
        let shown = redact("m\0P%=Cdb.:pw@db\0Nssql://CORP%=Cdb.:pw@db01/U?a=t");
        assert!(!shown.contains("pw"), "{shown}");
        let shown = redact("http://u\\:pw@h/db");
        assert!(!shown.contains("pw"), "{shown}");
        assert_eq!(t.tls, TlsMode::Required);
    }

    #[test]
    fn parses_postgres_urls_with_the_default_port() {
        let t = Target::parse("postgres://odoo@127.0.0.1/prod").unwrap();
        assert_eq!(t.engine, "postgres");
        assert_eq!(t.port, Some(5432));
        assert_eq!(t.display(), "postgres://odoo@127.0.0.1:5432/prod");
        let t = Target::parse("postgresql://u@db:6543/x?tls=disabled").unwrap();
        assert_eq!(
            (t.engine.as_str(), t.port, t.tls),
            ("postgres", Some(6543), TlsMode::Disabled)
        );
        assert!(Target::parse("mssql://u@h").is_err());
    }

    #[test]
    fn parses_sql_server_urls_with_instances_and_tls_modes() {
        let t = Target::parse("MSSQL://sa@db01/UFSystem").unwrap();
        assert_eq!(
            (t.engine.as_str(), t.host.as_str(), t.port, t.tls),
            ("mssql", "db01", None, TlsMode::Required)
        );
        assert_eq!(t.auth, AuthKind::Sql);
        let t = Target::parse("mssql://sa@db01\\U8:1533/UFSystem?tls=off").unwrap();
        assert_eq!(t.instance.as_deref(), Some("U8"));
        assert_eq!((t.port, t.tls), (Some(1533), TlsMode::LoginOnly));
        assert_eq!(t.display(), "mssql://sa@db01\\U8:1533/UFSystem");
        let t = Target::parse("mssql://sa@db01%5CU8/UFSystem?tls=legacy").unwrap();
        assert_eq!(
            (t.instance.as_deref(), t.tls),
            (Some("U8"), TlsMode::Legacy)
        );
        assert!(t.warnings.iter().any(|w| w.contains("not even the login")));
        let t = Target::parse("sqlserver://CORP%5Cdba@db01/UFSystem?trust-server-certificate=true")
            .unwrap();
        assert_eq!((t.user.as_str(), t.auth), ("CORP\\dba", AuthKind::Windows));
        assert!(t.skip_verify);
        let e = Target::parse("mssql://sa:pw@db01/UFSystem?tls=preferred")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("required") && e.contains("legacy") && !e.contains("pw@"),
            "{e}"
        );
        let e = Target::parse("mssql://sa@db01\\bad;name/U")
            .unwrap_err()
            .to_string();
        assert!(e.contains("instance name"), "{e}");
        assert!(Target::parse("mssq张://x").is_err());
    }

    #[test]
    fn reads_sqlcmd_server_spellings() {
        assert_eq!(
            parse_sqlcmd_server("tcp:db01\\U8,1533"),
            ("db01".into(), Some("U8".into()), Some(1533))
        );
        assert_eq!(
            parse_sqlcmd_server("(local)"),
            ("localhost".into(), None, None)
        );
    }

    #[test]
    fn bad_urls_say_what_to_fix() {
        let e = Target::parse("mysql://u@h").unwrap_err().to_string();
        assert!(e.contains("name the database"), "{e}");
        let e = Target::parse("mysql://u:pw@h/db?tls=maybe")
            .unwrap_err()
            .to_string();
        assert!(e.contains("TLS mode") && !e.contains("pw@"), "{e}");
    }

    #[test]
    fn parses_a_sqlite_path() {
        let t = Target::parse("sqlite:///tmp/demo/crm.db").unwrap();
        assert_eq!(
            (t.engine.as_str(), t.database.as_str()),
            ("sqlite", "/tmp/demo/crm.db")
        );
        assert_eq!(t.display(), "sqlite:///tmp/demo/crm.db");
    }

    #[test]
    fn reads_client_password_from_my_cnf() {
        let cnf = "[mysqld]\npassword=no\n[client]\nuser=root\npassword = \"x y\"\n";
        assert_eq!(my_cnf_client_password(cnf).as_deref(), Some("x y"));
        assert_eq!(my_cnf_client_password("[mysqld]\npassword=no\n"), None);
    }
}
