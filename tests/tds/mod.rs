//! An executing TDS (SQL Server wire protocol) test endpoint backed by SQLite.
//!
//! `tiberius` talks to it for real: PRELOGIN, TLS wrapped in PRELOGIN packets,
//! LOGIN7, SQL batches and `sp_executesql` RPCs. Statements are parsed with
//! sqlparser's `MsSqlDialect`, rewritten for SQLite and run on a per-session
//! rusqlite connection; results travel as COLMETADATA/ROW/DONE with SQL Server
//! types (VARCHAR as CP936 bytes under Chinese_PRC_CI_AS).
//!
//! It is strict where SQL Server is, so that a SQL Server test fails where the
//! product would (tests/tds_endpoint.rs proves each rule):
//! - T-SQL only: `LIMIT`, SQLite/MySQL functions (`IFNULL`, `LENGTH`, `SUBSTR`,
//!   `INSTR`, `strftime`, …: error 195), unknown table hints (321) and SET
//!   options (195) are errors; `OFFSET` needs `ROWS` and `ORDER BY`, not TOP.
//! - LIKE has T-SQL's character classes (`[abc]`, `[^…]`; tds/like.rs).
//! - Declared widths and types hold: (n)varchar/varbinary (2628 from 2019 on,
//!   8152 before), int ranges (8115), text into int (245), IDENTITY (544
//!   unless IDENTITY_INSERT).
//! - Row locks per primary key under READ COMMITTED (tds/locks.rs, tds/scan.rs):
//!   a read of a row another open transaction changed waits, until LOCK_TIMEOUT
//!   (1222); a WHERE that pins the key touches one row, anything else scans all
//!   rows; UPDLOCK/XLOCK/HOLDLOCK/NOLOCK, isolation levels. Every statement runs
//!   on SQLite at once; a transaction keeps an undo log, rolled back on ROLLBACK,
//!   XACT_ABORT or a dropped connection. Deadlocks are not detected (they end at
//!   the lock timeout); LOCK_TIMEOUT -1 waits 60 s at most.
//! - A batch goes on after a statement error (2627, 515, 547, 1222, 2628, …)
//!   unless XACT_ABORT is on; `@@ERROR` and `@@ROWCOUNT` (reset by BEGIN,
//!   COMMIT, SET, USE) as SQL Server sets them.
//!
//! Not modelled: permissions other than UPDATE (SELECT/INSERT are always
//! granted), schemas other than `dbo`, trailing-blank equality and
//! Chinese_PRC_CI_AS folding of non-ASCII letters.
//!
//! Names `t`, `[dbo].[t]`, `db..t`, `[db].[dbo].[t]` (other databases → 208);
//! BEGIN TRAN[SACTION], COMMIT, ROLLBACK, IF <cond> <statements> [ELSE …];
//! USE <this database>; @@VERSION, @@ROWCOUNT, @@ERROR, @@TRANCOUNT, DB_NAME(),
//! SCHEMA_NAME(), GETDATE(), SYSDATETIME(), OBJECT_ID(), HAS_PERMS_BY_NAME(),
//! ISNULL(), LEN(); INFORMATION_SCHEMA.COLUMNS and sys.columns as views over
//! pragma_table_info. Set TDS_ENDPOINT_DEBUG=1 to see the SQLite text each
//! statement became.
#![allow(dead_code)]

mod exec;
pub mod like;
mod locks;
mod scan;
mod sql;
mod tls;
pub mod wire;

use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

#[allow(unused_imports)]
pub use sql::{split_go_batches, unparsable_statements};

/// What the endpoint answers in PRELOGIN's ENCRYPTION option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerEncryption {
    /// Login-only TLS unless the client asks for more.
    Off,
    On,
    Required,
    /// No certificate at all: never TLS.
    NotSupported,
}

/// What `HAS_PERMS_BY_NAME(..., 'UPDATE')` and column writes see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdatePermission {
    All,
    Columns(Vec<String>),
    None,
}

#[derive(Debug, Clone)]
pub struct EndpointOptions {
    pub database: String,
    pub user: String,
    pub password: String,
    pub encryption: ServerEncryption,
    pub update_permission: UpdatePermission,
    /// Answer the TLS ClientHello with a protocol_version alert, as a TLS 1.0-only server would.
    pub reject_tls_handshake: bool,
    pub version: String,
}

impl Default for EndpointOptions {
    fn default() -> Self {
        EndpointOptions {
            database: "UFSystem".to_string(),
            user: "sa".to_string(),
            password: "Locksmith-Test-1".to_string(),
            encryption: ServerEncryption::Off,
            update_permission: UpdatePermission::All,
            reject_tls_handshake: false,
            version: "Microsoft SQL Server 2019 (RTM) - 15.0.2000.5 (X64) \n\tSep 24 2019 13:48:23 \n\tCopyright (C) 2019 Microsoft Corporation\n\tDeveloper Edition (64-bit) on Linux (Locksmith TDS test endpoint)".to_string(),
        }
    }
}

pub(crate) struct Shared {
    pub opts: EndpointOptions,
    pub db_path: PathBuf,
    pub statements: Mutex<Vec<String>>,
    pub next_tran: AtomicU64,
    pub next_spid: AtomicU32,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub locks: Arc<locks::Locks>,
    /// Lower-case table → its IDENTITY column (SQLite has no such thing).
    pub identity: Mutex<std::collections::HashMap<String, String>>,
}

pub struct Endpoint {
    port: u16,
    shared: Arc<Shared>,
    ca_pem: PathBuf,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Endpoint {
    /// An endpoint for one test: a fresh SQLite file in a temporary
    /// directory, on a free port of 127.0.0.1.
    pub fn start(opts: EndpointOptions) -> Endpoint {
        Endpoint::start_at(opts, None, "127.0.0.1:0").expect("start the TDS endpoint")
    }

    /// An endpoint on `db` (created when missing; a temporary file when None),
    /// listening on `listen` (`host:port`, port 0 = any free one). The test
    /// certificate's CA is written next to the temporary files (`ca_pem`).
    pub fn start_at(
        opts: EndpointOptions,
        db: Option<PathBuf>,
        listen: &str,
    ) -> Result<Endpoint, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        let db_path = db.unwrap_or_else(|| dir.path().join("endpoint.sqlite"));
        {
            let c = rusqlite::Connection::open(&db_path)
                .map_err(|e| format!("{}: {e}", db_path.display()))?;
            c.pragma_update(None, "journal_mode", "WAL")
                .map_err(|e| format!("{}: WAL: {e}", db_path.display()))?;
        }
        let (ca_pem_text, tls) = tls::make_certs();
        let ca_pem = dir.path().join("ca.pem");
        std::fs::write(&ca_pem, ca_pem_text).map_err(|e| format!("write ca.pem: {e}"))?;
        let tls = if opts.encryption == ServerEncryption::NotSupported {
            None
        } else {
            Some(tls)
        };
        let shared = Arc::new(Shared {
            opts,
            db_path,
            statements: Mutex::new(Vec::new()),
            next_tran: AtomicU64::new(1),
            next_spid: AtomicU32::new(51),
            tls,
            locks: Arc::new(locks::Locks::default()),
            identity: Mutex::new(std::collections::HashMap::new()),
        });
        let listener = StdListener::bind(listen).map_err(|e| format!("listen on {listen}: {e}"))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("listen on {listen}: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("listen on {listen}: {e}"))?
            .port();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let sh = shared.clone();
        let thread = std::thread::spawn(move || accept_loop(listener, sh, stop_rx));
        Ok(Endpoint {
            port,
            shared,
            ca_pem,
            _dir: dir,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Runs T-SQL batches (a fixture split at GO) on the endpoint's own
    /// executor, as a client's batches would run: the first error stops the
    /// load and is returned with its batch number.
    pub fn load(&self, batches: &[String]) -> Result<(), String> {
        let mut session = exec::Session::open(self.shared.clone())
            .map_err(|e| format!("cannot open the SQLite database: {e}"))?;
        for (i, batch) in batches.iter().enumerate() {
            session
                .execute(batch)
                .map_err(|e| format!("batch {}: {e}", i + 1))?;
        }
        Ok(())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn ca_pem(&self) -> PathBuf {
        self.ca_pem.clone()
    }

    pub fn statements(&self) -> Vec<String> {
        self.shared.statements.lock().unwrap().clone()
    }

    pub fn sqlite_path(&self) -> PathBuf {
        self.shared.db_path.clone()
    }
}

/// Accepts connections until `stop` fires; one thread per connection.
fn accept_loop(
    listener: StdListener,
    shared: Arc<Shared>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        loop {
            tokio::select! {
                _ = &mut stop => break,
                acc = listener.accept() => {
                    let Ok((stream, _)) = acc else { continue };
                    let Ok(std_stream) = stream.into_std() else { continue };
                    let sh = shared.clone();
                    std::thread::spawn(move || {
                        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                        rt.block_on(async move {
                            let Ok(stream) = TcpStream::from_std(std_stream) else { return };
                            let _ = serve_connection(stream, sh).await;
                        });
                    });
                }
            }
        }
    });
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

struct Login {
    tds_version: u32,
    user: String,
    password: String,
    database: String,
}

fn parse_login7(p: &[u8]) -> Result<Login, String> {
    let mut r = wire::Reader::new(p);
    r.pos = 4;
    let tds_version = r.u32()?;
    let field = |off: usize| -> Result<Vec<u8>, String> {
        let mut r = wire::Reader::new(p);
        r.pos = off;
        let ib = r.u16()? as usize;
        let cch = r.u16()? as usize;
        p.get(ib..ib + cch * 2)
            .map(|s| s.to_vec())
            .ok_or_else(|| "LOGIN7 field out of range".to_string())
    };
    let user = wire::from_utf16(&field(40)?);
    let pw: Vec<u8> = field(44)?
        .into_iter()
        .map(|b| {
            let x = b ^ 0xA5;
            x.rotate_left(4)
        })
        .collect();
    let password = wire::from_utf16(&pw);
    let database = wire::from_utf16(&field(68)?);
    Ok(Login {
        tds_version,
        user,
        password,
        database,
    })
}

fn prelogin_response(encryption: u8) -> Vec<u8> {
    // VERSION, ENCRYPTION, INSTOPT, THREADID, MARS, terminator
    let fields: [(u8, Vec<u8>); 5] = [
        (0, vec![15, 0, 0x07, 0xD0, 0, 0]),
        (1, vec![encryption]),
        (2, vec![0]),
        (3, vec![]),
        (4, vec![0]),
    ];
    let mut head = Vec::new();
    let mut data = Vec::new();
    let mut off = (fields.len() * 5 + 1) as u16;
    for (tok, v) in &fields {
        head.push(*tok);
        head.extend_from_slice(&off.to_be_bytes());
        head.extend_from_slice(&(v.len() as u16).to_be_bytes());
        data.extend_from_slice(v);
        off += v.len() as u16;
    }
    head.push(0xFF);
    head.extend(data);
    head
}

fn client_encryption(p: &[u8]) -> u8 {
    let mut i = 0;
    while i + 5 <= p.len() && p[i] != 0xFF {
        let tok = p[i];
        let off = u16::from_be_bytes([p[i + 1], p[i + 2]]) as usize;
        if tok == 1 {
            return p.get(off).copied().unwrap_or(2);
        }
        i += 5;
    }
    2
}

const ENC_OFF: u8 = 0;
const ENC_ON: u8 = 1;
const ENC_NOT_SUP: u8 = 2;
const ENC_REQ: u8 = 3;

async fn send_error<S: AsyncWrite + Unpin>(
    s: &mut S,
    number: u32,
    class: u8,
    msg: &str,
) -> std::io::Result<()> {
    let mut t = wire::Tokens::default();
    t.error(number, 1, class, msg);
    t.done(wire::TOKEN_DONE, wire::DONE_ERROR, 0, 0);
    wire::write_message(s, wire::PKT_REPLY, &t.buf).await
}

async fn serve_connection(mut tcp: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let _ = tcp.set_nodelay(true);
    let Some((ty, payload)) = wire::read_message(&mut tcp).await? else {
        return Ok(());
    };
    if ty != wire::PKT_PRELOGIN {
        return send_error(&mut tcp, 17832, 20, "The login packet used to open the connection is structurally invalid; expected PRELOGIN.").await;
    }
    let client = client_encryption(&payload);
    let server = shared.opts.encryption;
    // SQL Server's negotiation table; `None` = terminate after answering.
    let (answer, tls_mode): (u8, TlsMode) = match (server, client) {
        (ServerEncryption::NotSupported, _) => (ENC_NOT_SUP, TlsMode::None),
        (ServerEncryption::Off, ENC_OFF) => (ENC_OFF, TlsMode::LoginOnly),
        (ServerEncryption::Off, ENC_NOT_SUP) => (ENC_NOT_SUP, TlsMode::None),
        (ServerEncryption::Off, _) => (ENC_ON, TlsMode::Full),
        (ServerEncryption::On, ENC_NOT_SUP) | (ServerEncryption::Required, ENC_NOT_SUP) => {
            (ENC_REQ, TlsMode::Terminate)
        }
        (ServerEncryption::On, _) => (ENC_ON, TlsMode::Full),
        (ServerEncryption::Required, _) => (ENC_REQ, TlsMode::Full),
    };
    wire::write_message(&mut tcp, wire::PKT_REPLY, &prelogin_response(answer)).await?;
    if tls_mode == TlsMode::Terminate {
        let _ = tcp.shutdown().await;
        return Ok(());
    }

    let mut login_only_tls = None;
    let mut stream: Box<dyn Io>;
    if tls_mode == TlsMode::None {
        stream = Box::new(tcp);
    } else {
        if shared.opts.reject_tls_handshake {
            // Read the ClientHello (wrapped in PRELOGIN) and answer with a fatal
            // protocol_version alert in TLS 1.0 framing, as an old server would.
            let _ = wire::read_message(&mut tcp).await?;
            let alert = [0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 70];
            wire::write_message(&mut tcp, wire::PKT_PRELOGIN, &alert).await?;
            let _ = tcp.shutdown().await;
            return Ok(());
        }
        let Some(cfg) = shared.tls.clone() else {
            return Ok(());
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
        let mut tls_stream = match acceptor.accept(tls::PreloginWrap::new(tcp)).await {
            Ok(s) => s,
            Err(_) => return Ok(()),
        };
        tls_stream.get_mut().0.handshake = false;
        if tls_mode == TlsMode::LoginOnly {
            // LOGIN7 travels in TLS, everything after it in plain TDS.
            let Some((ty, payload)) = wire::read_message(&mut tls_stream).await? else {
                return Ok(());
            };
            login_only_tls = Some((ty, payload));
            let (wrap, _) = tls_stream.into_inner();
            stream = Box::new(wrap.inner);
        } else {
            stream = Box::new(tls_stream);
        }
    }

    let (ty, payload) = match login_only_tls {
        Some(m) => m,
        None => match wire::read_message(&mut stream).await? {
            Some(m) => m,
            None => return Ok(()),
        },
    };
    if ty != wire::PKT_LOGIN7 {
        return send_error(&mut stream, 17832, 20, "The login packet used to open the connection is structurally invalid; expected LOGIN7.").await;
    }
    let login = match parse_login7(&payload) {
        Ok(l) => l,
        Err(e) => return send_error(&mut stream, 17832, 20, &format!("Invalid LOGIN7: {e}")).await,
    };
    let opts = &shared.opts;
    if !login.user.eq_ignore_ascii_case(&opts.user) || login.password != opts.password {
        let mut t = wire::Tokens::default();
        t.error(
            18456,
            1,
            14,
            &format!("Login failed for user '{}'.", login.user),
        );
        t.done(wire::TOKEN_DONE, wire::DONE_ERROR, 0, 0);
        wire::write_message(&mut stream, wire::PKT_REPLY, &t.buf).await?;
        return Ok(());
    }
    if !login.database.is_empty() && !login.database.eq_ignore_ascii_case(&opts.database) {
        let mut t = wire::Tokens::default();
        t.error(
            4060,
            1,
            11,
            &format!(
                "Cannot open database \"{}\" requested by the login. The login failed.",
                login.database
            ),
        );
        t.error(
            18456,
            1,
            14,
            &format!("Login failed for user '{}'.", login.user),
        );
        t.done(wire::TOKEN_DONE, wire::DONE_ERROR, 0, 0);
        wire::write_message(&mut stream, wire::PKT_REPLY, &t.buf).await?;
        return Ok(());
    }
    let mut session = match exec::Session::open(shared.clone()) {
        Ok(s) => s,
        Err(e) => {
            return send_error(
                &mut stream,
                4060,
                11,
                &format!("Cannot open the SQLite database: {e}"),
            )
            .await;
        }
    };
    let mut t = wire::Tokens::default();
    t.envchange_str(1, &opts.database, "master");
    t.envchange_bytes(7, &wire::COLLATION, &[]);
    t.info(
        5701,
        &format!("Changed database context to '{}'.", opts.database),
    );
    t.envchange_str(2, "us_english", "");
    t.loginack(if login.tds_version >= 0x7000_0000 {
        login.tds_version
    } else {
        0x730B_0003
    });
    t.envchange_str(
        4,
        &wire::PACKET_SIZE.to_string(),
        &wire::PACKET_SIZE.to_string(),
    );
    t.done(wire::TOKEN_DONE, wire::DONE_FINAL, 0, 0);
    wire::write_message(&mut stream, wire::PKT_REPLY, &t.buf).await?;

    loop {
        let Some((ty, payload)) = wire::read_message(&mut stream).await? else {
            return Ok(());
        };
        let guarded = |f: &mut dyn FnMut() -> Vec<u8>| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
                let what = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                let mut t = wire::Tokens::default();
                t.error(
                    50000,
                    1,
                    16,
                    &format!("Internal error in the Locksmith TDS test endpoint: {what}"),
                );
                t.done(wire::TOKEN_DONE, wire::DONE_ERROR, 0, 0);
                t.buf
            })
        };
        let out = match ty {
            wire::PKT_SQL_BATCH => guarded(&mut || session.sql_batch(&payload)),
            wire::PKT_RPC => guarded(&mut || session.rpc(&payload)),
            wire::PKT_ATTENTION => {
                let mut t = wire::Tokens::default();
                t.done(wire::TOKEN_DONE, wire::DONE_ATTN, 0, 0);
                t.buf
            }
            other => {
                let mut t = wire::Tokens::default();
                t.error(
                    8009,
                    1,
                    16,
                    &format!("The TDS endpoint does not support packet type 0x{other:02X}."),
                );
                t.done(wire::TOKEN_DONE, wire::DONE_ERROR, 0, 0);
                t.buf
            }
        };
        wire::write_message(&mut stream, wire::PKT_REPLY, &out).await?;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsMode {
    None,
    LoginOnly,
    Full,
    Terminate,
}
