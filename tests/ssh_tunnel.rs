//! SSH jump hosts (`?ssh=user@bastion`), for real: a throwaway `sshd` on
//! 127.0.0.1 with a fresh host key and user key, the system `ssh` started by
//! Locksmith, MariaDB reached through the forward. A reset lands and the
//! oracle accepts it; an unknown outcome is reconciled through the same
//! bastion (and not by a direct connection to the same address); the tunnel
//! process is gone after Locksmith exits, after an error and after SIGKILL;
//! a named SQL Server instance without a port is refused.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::proxy::{Fault, Packet, Proxy, Trigger, When};
use common::{TestDb, Vendor, assert_code, connector_reset, json, line, stderr};

const NEW: &str = "Tunnel#2026-pass";

/// A throwaway sshd and the client files that reach it.
struct Sshd {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
    user: String,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen (openssh-client; scripts/ensure-services installs it)");
    assert!(ok.success(), "ssh-keygen failed");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Sshd {
    fn start() -> Sshd {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(
            sshd.exists(),
            "/usr/sbin/sshd is missing: scripts/ensure-services installs openssh-server"
        );
        // sshd's privilege separation needs this directory (the service would make it).
        let _ = std::fs::create_dir_all("/run/sshd");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("client")).unwrap();
        keygen(&d.join("host_key"));
        keygen(&d.join("client/id_ed25519"));
        std::fs::copy(d.join("client/id_ed25519.pub"), d.join("authorized_keys")).unwrap();
        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
             PidFile {d}/sshd.pid\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nAllowTcpForwarding yes\n\
             LogLevel DEBUG1\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config).unwrap();
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).unwrap();
        let key: Vec<&str> = host_pub.split_whitespace().take(2).collect();
        std::fs::write(
            d.join("client/known_hosts"),
            format!("[127.0.0.1]:{port} {}\n", key.join(" ")),
        )
        .unwrap();
        std::fs::write(
            d.join("client/ssh_config"),
            format!(
                "Host *\n  IdentityFile {d}/client/id_ed25519\n  IdentitiesOnly yes\n  \
                 UserKnownHostsFile {d}/client/known_hosts\n  GlobalKnownHostsFile /dev/null\n  \
                 StrictHostKeyChecking yes\n  LogLevel ERROR\n",
                d = d.display()
            ),
        )
        .unwrap();
        let child = Command::new(sshd)
            .arg("-D")
            .arg("-f")
            .arg(d.join("sshd_config"))
            .arg("-E")
            .arg(d.join("sshd.log"))
            .stdin(Stdio::null())
            .spawn()
            .expect("start sshd");
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string();
        let s = Sshd {
            dir,
            port,
            child,
            user,
        };
        s.wait_listening();
        s
    }

    fn wait_listening(&self) {
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "sshd did not listen: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    fn client_config(&self) -> PathBuf {
        self.dir.path().join("client/ssh_config")
    }

    /// `ssh=` for this server.
    fn bastion(&self) -> String {
        format!("{}@127.0.0.1:{}", self.user, self.port)
    }

    /// The ssh options Locksmith passes on (operators use ~/.ssh/config instead).
    fn env(&self) -> Vec<(String, String)> {
        vec![(
            "LOCKSMITH_SSH_ARGS".to_string(),
            format!("-F {}", self.client_config().display()),
        )]
    }

    /// ssh client processes started with this server's client config.
    fn tunnels(&self) -> Vec<u32> {
        let marker = self.client_config().display().to_string();
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            if args.first().is_some_and(|a| a.ends_with("ssh")) && args.contains(&marker) {
                pids.push(pid);
            }
        }
        pids
    }

    /// Waits (briefly) for every tunnel to be gone; fails naming `after`
    /// when one is left (and ends it, so a failed run leaves nothing behind).
    fn assert_no_tunnel_after(&self, after: &str) {
        let started = Instant::now();
        let left = loop {
            let left = self.tunnels();
            if left.is_empty() || started.elapsed() > Duration::from_secs(5) {
                break left;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        for pid in &left {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
        assert!(left.is_empty(), "ssh outlived {after}: pids {left:?}");
    }
}

/// `url` with `ssh=` added.
fn through(url: &str, sshd: &Sshd) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}ssh={}", sshd.bastion())
}

fn run_at(db: &TestDb, sshd: &Sshd, url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let journal = db.journal();
    let mut full: Vec<String> = vec![
        "--target".into(),
        url.to_string(),
        "--journal".into(),
        journal.display().to_string(),
    ];
    full.extend(args.iter().map(|s| s.to_string()));
    let env = sshd.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    common::run_locksmith_env(&full, stdin, &env)
}

fn reconciled(db: &TestDb, sshd: &Sshd, url: &str) -> Vec<String> {
    let out = run_at(
        db,
        sshd,
        url,
        &["--connector", "ruoyi", "--json", "audit", "reconcile"],
        None,
    );
    assert_code(&out, 0);
    json(&out)["reconciled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["found"].as_str().unwrap().to_string())
        .collect()
}

fn journaled_places(db: &TestDb) -> Vec<Vec<String>> {
    common::journal_rows(
        &db.journal(),
        "SELECT json_extract(body, '$.place.host'), IFNULL(json_extract(body, '$.place.via'), '-') FROM entries WHERE kind = 'intent' ORDER BY id",
    )
}

#[test]
fn a_reset_through_a_bastion_lands_and_is_journaled_as_the_bastion_sees_the_database() {
    let sshd = Sshd::start();
    let db = TestDb::new(Vendor::RuoYi);
    let url = through(&db.url(), &sshd);
    let out = run_at(
        &db,
        &sshd,
        &url,
        &connector_reset("ruoyi", "zhangsan", "ssh test", &[]),
        Some(&line(NEW)),
    );
    assert_code(&out, 0);
    assert!(
        common::proof::oracle_accepts(&db, "zhangsan", NEW),
        "the oracle accepts what went through the tunnel"
    );
    // The database connection went through sshd's forward, to the database's own address.
    let log = sshd.log();
    assert!(
        log.contains(&format!(
            "target {} port {}",
            common::mysql_host(),
            common::mysql_port()
        )),
        "sshd forwarded nothing: {log}"
    );
    assert_eq!(
        journaled_places(&db),
        [[
            format!("{}:{}", common::mysql_host(), common::mysql_port()),
            sshd.bastion()
        ]]
    );
    sshd.assert_no_tunnel_after("locksmith");
    assert_code(&db.locksmith(&["audit", "verify"], None), 0);
}

#[test]
fn an_unknown_commit_is_reconciled_through_the_same_bastion_only() {
    let sshd = Sshd::start();
    let db = TestDb::new(Vendor::RuoYi);
    let proxy = Proxy::start(
        db.upstream(),
        Trigger::new(Packet::query("COMMIT"), When::After, Fault::Drop),
    );
    let direct = db.url_via(proxy.port);
    let url = through(&direct, &sshd);
    let out = run_at(
        &db,
        &sshd,
        &url,
        &connector_reset("ruoyi", "zhangsan", "ssh test", &[]),
        Some(&line(NEW)),
    );
    assert!(
        proxy.hit.load(Ordering::SeqCst),
        "COMMIT never went through"
    );
    assert_code(&out, 7);
    assert!(!stderr(&out).contains(NEW));
    // The same address without the bastion is another target: nothing to settle there.
    assert!(reconciled(&db, &sshd, &direct).is_empty());
    assert_eq!(reconciled(&db, &sshd, &url), ["applied"]);
    assert!(reconciled(&db, &sshd, &url).is_empty(), "nothing left open");
    sshd.assert_no_tunnel_after("locksmith");
    assert_code(&db.locksmith(&["audit", "verify"], None), 0);
}

#[test]
fn the_tunnel_ends_with_locksmith_after_errors_and_kills() {
    let sshd = Sshd::start();
    let db = TestDb::new(Vendor::RuoYi);
    // An error after the tunnel is up: the database does not exist.
    let missing = through(
        &format!(
            "mysql://root@{}:{}/ls_no_such_db",
            common::mysql_host(),
            common::mysql_port()
        ),
        &sshd,
    );
    let out = run_at(&db, &sshd, &missing, &["lookup", "admin"], None);
    assert_code(&out, 3);
    assert!(stderr(&out).contains("through ssh to"), "{}", stderr(&out));
    sshd.assert_no_tunnel_after("an error");
    // A bastion nobody answers on: ssh's own words, no hang.
    let dead = format!("{}?ssh={}@127.0.0.1:{}", db.url(), sshd.user, free_port());
    let out = run_at(&db, &sshd, &dead, &["lookup", "admin"], None);
    assert_code(&out, 3);
    assert!(
        stderr(&out).contains("before the forward was up") && stderr(&out).contains("ssh said"),
        "{}",
        stderr(&out)
    );
    // Killed while connected (the server never answers): no tunnel is left behind.
    let proxy = Proxy::start(
        db.upstream(),
        Trigger::new(
            Packet::query("innodb_lock_wait_timeout"),
            When::Before,
            Fault::Hold,
        ),
    );
    let held = through(&db.url_via(proxy.port), &sshd);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_locksmith"));
    cmd.args(["--target", &held, "--journal"])
        .arg(db.journal())
        .args(["lookup", "admin"])
        .envs(sshd.env())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let started = Instant::now();
    while !proxy.hit.load(Ordering::SeqCst) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "locksmith never reached the server"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        sshd.tunnels().len(),
        1,
        "the tunnel is up while locksmith waits"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    sshd.assert_no_tunnel_after("a SIGKILLed locksmith");
}

#[test]
fn a_named_instance_without_a_port_is_refused_through_a_bastion() {
    let out = common::run_locksmith(
        &[
            "--target",
            "mssql://sa@db01\\U8/UFSystem?ssh=ops@jump.example",
            "lookup",
            "admin",
        ],
        None,
    );
    assert_code(&out, 2);
    let e = stderr(&out);
    assert!(
        e.contains("UDP 1434") && e.contains("TCP port") && e.contains("db01\\U8:PORT"),
        "{e}"
    );
    // With the port it parses (and would go through the forward to that port).
    let t = locksmith::backend::Target::parse("mssql://sa@db01\\U8:1533/UFSystem?ssh=ops@jump")
        .unwrap();
    assert_eq!(t.tcp_port(), 1533);
    assert_eq!(
        t.display(),
        "mssql://sa@db01\\U8:1533/UFSystem?ssh=ops@jump"
    );
}
