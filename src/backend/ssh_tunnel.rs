//! SSH jump hosts (`?ssh=user@bastion[:port]`, a profile's `ssh = "…"`).
//!
//! Locksmith runs the system `ssh`, so `~/.ssh/config`, ProxyJump, agents and
//! keys work as the operator already has them: `ssh -N -L 127.0.0.1:<free
//! port>:<db host>:<db port> -o ExitOnForwardFailure=yes user@bastion`, then
//! the backend dials the local end. The database's host and port stay the
//! target's identity (TLS name, journal); only the TCP dial goes to the forward.
//!
//! The child is killed when its [`SshTunnel`] is dropped (normal exit, errors),
//! gets the terminal's Ctrl-C with Locksmith (same process group), and on
//! Linux dies with Locksmith whatever kills it (parent-death signal).
//! `LOCKSMITH_SSH` names another ssh program; `LOCKSMITH_SSH_ARGS` adds
//! whitespace-separated options (`-F /path/config`) before the destination.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::NaiveDateTime;

use super::{Backend, BackendError, ColumnInfo, Dialect, ReadOnly, Row, Value, WriteAccess};

/// `user@host[:port]` (or `user@[v6]:port`): where ssh logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bastion {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl Bastion {
    /// Parses `ssh=`'s value. Nothing that ssh could read as an option (a
    /// leading `-`), no spaces or control characters: the value becomes argv.
    pub fn parse(raw: &str) -> Result<Bastion, String> {
        if raw.rsplit_once('@').is_some_and(|(u, _)| u.contains(':')) {
            // Not echoed: what follows the colon would be a password.
            return Err(
                "ssh= takes no password: ssh asks for it on the terminal, or use a key or ssh-agent"
                    .into(),
            );
        }
        let bad = |why: &str| format!("ssh={raw}: {why}; expected ssh=user@bastion[:port]");
        let (user, hostport) = match raw.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, raw),
        };
        let (host, port) =
            split_host_port(hostport).ok_or_else(|| bad("the port is not 1-65535"))?;
        let plain = |s: &str, extra: &[char]| {
            !s.is_empty()
                && !s.starts_with('-')
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c) || extra.contains(&c))
        };
        if let Some(u) = user
            && !plain(u, &[])
        {
            return Err(bad("the user must be letters, digits, '.', '_' or '-'"));
        }
        if !plain(host, &[':']) {
            return Err(bad("the host must be a name or an address"));
        }
        Ok(Bastion {
            user: user.map(String::from),
            host: host.to_string(),
            port,
        })
    }

    /// `user@host` as ssh takes it (the port goes to `-p`).
    fn destination(&self) -> String {
        match &self.user {
            Some(u) => format!("{u}@{}", self.host),
            None => self.host.clone(),
        }
    }

    /// `user@host[:port]`, as written in `ssh=` and journaled.
    pub fn display(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        match &self.user {
            Some(u) => format!("{u}@{host}{port}"),
            None => format!("{host}{port}"),
        }
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; None for a bad port.
fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p > 0);
    if let Some(rest) = s.strip_prefix('[') {
        let (host, tail) = rest.split_once(']')?;
        return match tail.strip_prefix(':') {
            Some(p) => Some((host, Some(port(p)?))),
            None if tail.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match s.split_once(':') {
        Some((h, p)) if !p.contains(':') => Some((h, Some(port(p)?))),
        _ => Some((s, None)),
    }
}

/// Whether ssh may ask the operator (passwords, passphrases, a new host key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SshPrompt {
    /// No terminal on stdin: `BatchMode=yes`, ssh fails instead of asking.
    Batch,
    /// ssh asks on the terminal (`/dev/tty`); its own messages are kept for errors.
    Terminal,
}

impl SshPrompt {
    /// `Terminal` when stdin is a terminal, else `Batch`.
    pub fn detect() -> SshPrompt {
        use std::io::IsTerminal;
        if std::io::stdin().is_terminal() {
            SshPrompt::Terminal
        } else {
            SshPrompt::Batch
        }
    }
}

/// A running forward. Dropping it ends the ssh process.
#[derive(Debug)]
pub struct SshTunnel {
    child: Child,
    /// The forward's local end on 127.0.0.1.
    pub local_port: u16,
    /// `user@bastion[:port]`, for the journal and messages.
    pub bastion: String,
    /// What ssh wrote on stderr (host-key notices, errors), for error text.
    stderr: Arc<Mutex<String>>,
}

impl Drop for SshTunnel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SshTunnel {
    /// Starts ssh with a forward to `db_host:db_port` as the bastion sees it
    /// and waits until the local end accepts. `Err` is the reason, for a connect error.
    pub async fn open(
        bastion: &Bastion,
        db_host: &str,
        db_port: u16,
        prompt: SshPrompt,
    ) -> Result<SshTunnel, String> {
        let local_port = free_local_port()?;
        let args = ssh_args(bastion, db_host, db_port, local_port, prompt);
        let program = std::env::var("LOCKSMITH_SSH").unwrap_or_else(|_| "ssh".to_string());
        let mut cmd = Command::new(&program);
        cmd.args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .stdin(match prompt {
                SshPrompt::Batch => Stdio::null(),
                SshPrompt::Terminal => Stdio::inherit(),
            });
        die_with_parent(&mut cmd);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run `{program}` for ssh={}: {e}; install the OpenSSH client or set LOCKSMITH_SSH", bastion.display()))?;
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(pipe) = child.stderr.take() {
            collect(pipe, Arc::clone(&stderr));
        }
        let mut tunnel = SshTunnel {
            child,
            local_port,
            bastion: bastion.display(),
            stderr,
        };
        tunnel.wait_ready(prompt).await?;
        Ok(tunnel)
    }

    /// Polls the local end until it accepts; fails when ssh exits first or
    /// the time is up (longer when the operator may be typing a password).
    async fn wait_ready(&mut self, prompt: SshPrompt) -> Result<(), String> {
        let limit = match prompt {
            SshPrompt::Batch => Duration::from_secs(30),
            SshPrompt::Terminal => Duration::from_secs(180),
        };
        let started = Instant::now();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.local_port));
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the reader thread take ssh's last words.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Err(format!(
                    "ssh to {} ended ({status}) before the forward was up: {}",
                    self.bastion,
                    self.ssh_said()
                ));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if started.elapsed() > limit {
                return Err(format!(
                    "ssh to {} did not open its forward within {} s: {}",
                    self.bastion,
                    limit.as_secs(),
                    self.ssh_said()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// ssh's stderr, trimmed (or a note that it said nothing).
    pub fn ssh_said(&self) -> String {
        let said = self
            .stderr
            .lock()
            .map(|s| s.trim().replace('\r', ""))
            .unwrap_or_default();
        if said.is_empty() {
            "ssh said nothing".to_string()
        } else {
            format!("ssh said: {said}")
        }
    }

    /// The ssh process id (tests check it is gone).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// A connection through a forward: the backend, then its tunnel (fields drop
/// in this order, so the session says goodbye before ssh is ended).
pub struct Tunneled {
    inner: Box<dyn Backend>,
    tunnel: SshTunnel,
}

impl Tunneled {
    pub fn new(inner: Box<dyn Backend>, tunnel: SshTunnel) -> Tunneled {
        Tunneled { inner, tunnel }
    }
}

#[async_trait]
impl Backend for Tunneled {
    fn dialect(&self) -> &dyn Dialect {
        self.inner.dialect()
    }
    fn engine(&self) -> &'static str {
        self.inner.engine()
    }
    fn place(&self) -> (String, String) {
        self.inner.place()
    }
    fn via(&self) -> Option<String> {
        Some(self.tunnel.bastion.clone())
    }
    fn warnings(&self) -> Vec<String> {
        self.inner.warnings()
    }
    fn read_only(&self) -> Option<&ReadOnly> {
        self.inner.read_only()
    }
    async fn set_session_read_only(&mut self) -> Result<bool, BackendError> {
        self.inner.set_session_read_only().await
    }
    async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, BackendError> {
        self.inner.query(sql, params).await
    }
    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, BackendError> {
        self.inner.execute(sql, params).await
    }
    async fn begin(&mut self) -> Result<(), BackendError> {
        self.inner.begin().await
    }
    async fn commit(&mut self) -> Result<(), BackendError> {
        self.inner.commit().await
    }
    async fn rollback(&mut self) -> Result<(), BackendError> {
        self.inner.rollback().await
    }
    async fn columns(&mut self, table: &str) -> Result<Vec<ColumnInfo>, BackendError> {
        self.inner.columns(table).await
    }
    async fn transactional(&mut self, table: &str) -> Result<bool, BackendError> {
        self.inner.transactional(table).await
    }
    async fn write_access(&mut self, table: &str) -> Result<WriteAccess, BackendError> {
        self.inner.write_access(table).await
    }
    async fn insert_access(&mut self, table: &str) -> Result<bool, BackendError> {
        self.inner.insert_access(table).await
    }
    async fn now(&mut self) -> Result<NaiveDateTime, BackendError> {
        self.inner.now().await
    }
    async fn close(self: Box<Self>) -> Result<(), BackendError> {
        let Tunneled { inner, tunnel } = *self;
        let closed = inner.close().await;
        drop(tunnel);
        closed
    }
}

/// A port on 127.0.0.1 nobody listens on now. Another process could take it
/// before ssh does: ExitOnForwardFailure then makes ssh say so and exit.
fn free_local_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free local port for the SSH forward: {e}"))
}

/// ssh's argv: no secret is ever in it (ssh asks for passwords itself).
fn ssh_args(
    bastion: &Bastion,
    db_host: &str,
    db_port: u16,
    local_port: u16,
    prompt: SshPrompt,
) -> Vec<String> {
    let db_host = if db_host.contains(':') {
        format!("[{db_host}]")
    } else {
        db_host.to_string()
    };
    let mut args: Vec<String> = vec![
        "-N".into(),
        "-L".into(),
        format!("127.0.0.1:{local_port}:{db_host}:{db_port}"),
        "-o".into(),
        "ExitOnForwardFailure=yes".into(),
        "-o".into(),
        "ConnectTimeout=15".into(),
    ];
    if prompt == SshPrompt::Batch {
        args.extend(["-o".into(), "BatchMode=yes".into()]);
    }
    if let Some(p) = bastion.port {
        args.extend(["-p".into(), p.to_string()]);
    }
    if let Ok(extra) = std::env::var("LOCKSMITH_SSH_ARGS") {
        args.extend(extra.split_whitespace().map(String::from));
    }
    // `--`: the destination is never read as an option.
    args.extend(["--".into(), bastion.destination()]);
    args
}

/// Reads ssh's stderr on a thread (so the pipe never fills), keeping the last 4 KiB.
fn collect(mut pipe: std::process::ChildStderr, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut s) = into.lock() {
                s.push_str(&String::from_utf8_lossy(&buf[..n]));
                if s.len() > 4096 {
                    let cut = s.len() - 4096;
                    let cut = (cut..s.len()).find(|i| s.is_char_boundary(*i)).unwrap_or(0);
                    s.drain(..cut);
                }
            }
        }
    });
}

/// Linux: the child gets SIGTERM when Locksmith's thread that started it
/// dies (Locksmith runs its async work on the main thread), so a killed
/// Locksmith leaves no tunnel behind.
#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = nix::unistd::getpid();
    // SAFETY: the closure runs between fork and exec and only makes two
    // async-signal-safe system calls (prctl, getppid); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
                .map_err(std::io::Error::from)?;
            // The parent died before prctl: the signal will never come.
            if nix::unistd::getppid() != parent {
                return Err(std::io::Error::other("locksmith exited"));
            }
            Ok(())
        });
    }
}

/// Elsewhere the Drop guard and the terminal's Ctrl-C end the child.
#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bastions_and_refuses_option_like_values() {
        let b = Bastion::parse("ops@jump.corp:2222").unwrap();
        assert_eq!(
            (b.user.as_deref(), b.host.as_str(), b.port),
            (Some("ops"), "jump.corp", Some(2222))
        );
        assert_eq!(b.display(), "ops@jump.corp:2222");
        let b = Bastion::parse("jump").unwrap();
        assert_eq!((b.user, b.port), (None, None));
        let b = Bastion::parse("ops@[fd00::1]:22").unwrap();
        assert_eq!(
            (b.host.as_str(), b.display()),
            ("fd00::1", "ops@[fd00::1]:22".into())
        );
        for bad in [
            "-oProxyCommand=x",
            "ops@-x",
            "ops@h:0",
            "ops@h:99999",
            "a b@h",
            "@h",
            "ops@",
        ] {
            assert!(Bastion::parse(bad).is_err(), "{bad}");
        }
        let e = Bastion::parse("ops:hunter2@jump").unwrap_err();
        assert!(e.contains("no password") && !e.contains("hunter2"), "{e}");
    }

    #[test]
    fn argv_forwards_to_the_database_and_batches_without_a_terminal() {
        let b = Bastion::parse("ops@jump:2222").unwrap();
        let args = ssh_args(&b, "10.0.0.5", 3306, 40000, SshPrompt::Batch);
        let line = args.join(" ");
        assert!(
            line.starts_with("-N -L 127.0.0.1:40000:10.0.0.5:3306 -o ExitOnForwardFailure=yes"),
            "{line}"
        );
        assert!(
            line.contains("-o BatchMode=yes") && line.contains("-p 2222"),
            "{line}"
        );
        assert!(line.ends_with("-- ops@jump"), "{line}");
        let args = ssh_args(&b, "fd00::5", 5432, 40000, SshPrompt::Terminal);
        assert!(args.contains(&"127.0.0.1:40000:[fd00::5]:5432".to_string()));
        assert!(!args.contains(&"BatchMode=yes".to_string()));
    }
}
