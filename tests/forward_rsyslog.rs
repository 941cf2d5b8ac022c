//! Issue 16 §3, the journal leaves the box: every entry, once durable,
//! reaches a real rsyslog (Debian `rsyslog`, `rsyslog-relp`,
//! `rsyslog-gnutls`) over syslog+tcp, syslog+tls (a test CA) and RELP,
//! parseable (rsyslog's own `mmpstrucdata` parses the structured data), in
//! order, with the chain hashes `audit verify` / `audit export` show. Over
//! RELP the receiver is stopped in the middle of a run of resets and started
//! again: after dropping duplicates by entry id + hash nothing is missing.
//! With `forward_required` and the receiver down a reset writes nothing.
//!
//! Each test starts its OWN rsyslogd (never the system service) with a
//! generated config on free 127.0.0.1 ports, writing to a file.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{TestDb, Vendor, assert_code, line, reset_stdin, run_locksmith_env, stderr, stdout};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use serde_json::Value;

const SD_ID: &str = "locksmith@32473";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn rsyslogd() -> PathBuf {
    ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("rsyslogd is missing: run scripts/ensure-services (Debian rsyslog, rsyslog-relp, rsyslog-gnutls)")
}

/// One throwaway rsyslogd: imtcp plain and TLS (gtls, anonymous clients),
/// imrelp; every message's structured data parsed by mmpstrucdata and
/// written as one JSON line naming the input it came through.
struct Rsyslog {
    dir: tempfile::TempDir,
    tcp: u16,
    tls: u16,
    relp: u16,
    child: Option<Child>,
}

impl Rsyslog {
    fn start() -> Rsyslog {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "locksmith forward test CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
        let cert = leaf.signed_by(&key, &issuer).unwrap();
        let d = dir.path();
        std::fs::write(d.join("ca.pem"), ca_cert.pem()).unwrap();
        std::fs::write(d.join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(d.join("key.pem"), key.serialize_pem()).unwrap();
        let mut r = Rsyslog {
            tcp: free_port(),
            tls: free_port(),
            relp: free_port(),
            dir,
            child: None,
        };
        std::fs::write(r.path("rsyslog.conf"), r.config()).unwrap();
        r.run();
        r
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn config(&self) -> String {
        let p = |n: &str| self.path(n).display().to_string();
        format!(
            r#"global(workDirectory="{dir}")
module(load="imtcp")
module(load="imrelp")
module(load="mmpstrucdata")
template(name="sd" type="string" string="{{\"via\":\"%$.via%\",\"msgid\":\"%msgid:::json%\",\"app\":\"%app-name:::json%\",\"pri\":\"%pri%\",\"sd\":%$!rfc5424-sd%}}\n")
ruleset(name="out") {{
  action(type="mmpstrucdata")
  action(type="omfile" file="{out}" template="sd")
}}
ruleset(name="tcp") {{ set $.via = "tcp"; call out }}
ruleset(name="tls") {{ set $.via = "tls"; call out }}
ruleset(name="relp") {{ set $.via = "relp"; call out }}
input(type="imtcp" port="{tcp}" address="127.0.0.1" ruleset="tcp")
input(type="imtcp" port="{tls}" address="127.0.0.1" ruleset="tls" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon" streamDriver.CAFile="{ca}" streamDriver.CertFile="{cert}" streamDriver.KeyFile="{key}")
input(type="imrelp" port="{relp}" address="127.0.0.1" ruleset="relp")
"#,
            dir = self.dir.path().display(),
            out = p("received.jsonl"),
            tcp = self.tcp,
            tls = self.tls,
            relp = self.relp,
            ca = p("ca.pem"),
            cert = p("cert.pem"),
            key = p("key.pem"),
        )
    }

    /// Starts rsyslogd in the foreground and waits for its three ports.
    fn run(&mut self) {
        let log = std::fs::File::create(self.path("rsyslogd.log")).unwrap();
        let child = Command::new(rsyslogd())
            .args(["-n", "-f"])
            .arg(self.path("rsyslog.conf"))
            .arg("-i")
            .arg(self.path("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start rsyslogd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        for port in [self.tcp, self.tls, self.relp] {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "rsyslogd did not listen on {port}: {}",
                    std::fs::read_to_string(self.path("rsyslogd.log")).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// SIGTERM, then wait: the ports are closed when this returns.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let _ = child.wait();
        }
        for port in [self.tcp, self.tls, self.relp] {
            assert!(
                TcpStream::connect(("127.0.0.1", port)).is_err(),
                "port {port} still open"
            );
        }
    }

    fn url(&self, via: &str) -> String {
        match via {
            "tcp" => format!("syslog+tcp://127.0.0.1:{}", self.tcp),
            "tls" => format!(
                "syslog+tls://127.0.0.1:{}?ca={}",
                self.tls,
                self.path("ca.pem").display()
            ),
            _ => format!("relp://127.0.0.1:{}", self.relp),
        }
    }

    /// The messages received through `via`, waiting (up to 15 s) until
    /// there are at least `n` (rsyslog writes its file asynchronously).
    fn received(&self, via: &str, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text = std::fs::read_to_string(self.path("received.jsonl")).unwrap_or_default();
            let got: Vec<Value> = text
                .lines()
                .map(|l| {
                    serde_json::from_str(l)
                        .unwrap_or_else(|e| panic!("unparseable line {l:?}: {e}"))
                })
                .filter(|v: &Value| v["via"] == via)
                .collect();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs locksmith on `db` with `journal`, a private config folder, and `args`.
fn locksmith(
    db: &TestDb,
    journal: &Path,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> Output {
    let config_home = db.dir.path().join("config-home");
    let config_home = config_home.display().to_string();
    let url = db.url();
    let journal = journal.display().to_string();
    let mut full = vec!["--target", url.as_str(), "--journal", journal.as_str()];
    full.extend_from_slice(args);
    let mut vars = vec![("XDG_CONFIG_HOME", config_home.as_str())];
    vars.extend_from_slice(env);
    run_locksmith_env(&full, stdin, &vars)
}

fn reset(db: &TestDb, journal: &Path, forward: Option<&str>, password: &str) -> Output {
    match forward {
        Some(url) => reset_with(db, journal, &["--forward", url], password),
        None => reset_with(db, journal, &[], password),
    }
}

/// A reset of `admin` with the global options `global` (`--forward URL`, `--config FILE`).
fn reset_with(db: &TestDb, journal: &Path, global: &[&str], password: &str) -> Output {
    let mut args = vec!["--connector", "ruoyi"];
    args.extend_from_slice(global);
    args.extend(reset_stdin("admin", "INC-16 forward test", &[]));
    locksmith(db, journal, &args, Some(&line(password)), &[])
}

/// The journal's entries as `audit export --format jsonl` prints them.
fn exported(db: &TestDb, journal: &Path, format: &str) -> Vec<Value> {
    let out = locksmith(
        db,
        journal,
        &["audit", "export", "--format", format],
        None,
        &[],
    );
    assert_code(&out, 0);
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The structured data of one received message.
fn sd(v: &Value) -> &Value {
    &v["sd"][SD_ID]
}

/// Every journal entry has arrived exactly as the journal holds it.
#[track_caller]
fn assert_same_entries(received: &[Value], journal: &[Value]) {
    let ids: Vec<i64> = received
        .iter()
        .map(|m| sd(m)["id"].as_str().unwrap().parse().unwrap())
        .collect();
    let want: Vec<i64> = journal.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, want, "entry ids received, in order");
    for (m, e) in received.iter().zip(journal) {
        let s = sd(m);
        assert_eq!(s["hash"], e["hash"], "chain hash of entry {}", e["id"]);
        assert_eq!(s["prev_hash"], e["prev_hash"]);
        assert_eq!(s["kind"], e["kind"]);
        assert_eq!(m["msgid"], e["kind"]);
        assert_eq!(s["action"], e["action"]);
        assert_eq!(s["account"], e["account"]);
        assert_eq!(m["app"], "locksmith");
        if let Some(o) = e["outcome"].as_str() {
            assert_eq!(s["outcome"], o);
        }
        assert!(s["target"].as_str().unwrap().starts_with("mysql://"), "{s}");
        // Fingerprints and the reason stay on the box.
        assert!(
            !m.to_string().contains("hmac-sha256") && !m.to_string().contains("INC-16"),
            "{m}"
        );
    }
}

fn head_hash(db: &TestDb, journal: &Path) -> String {
    let out = locksmith(db, journal, &["--json", "audit", "verify"], None, &[]);
    assert_code(&out, 0);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["ok"], true);
    v["head_hash"].as_str().unwrap().to_string()
}

#[test]
fn tcp_tls_and_relp_deliver_every_entry_in_order_with_its_chain_hash() {
    let rs = Rsyslog::start();
    let db = TestDb::new(Vendor::RuoYi);
    for via in ["tcp", "tls", "relp"] {
        let journal = db.dir.path().join(format!("journal-{via}.sqlite"));
        let url = rs.url(via);
        // RELP from a config file named by --config, the others from --forward.
        let config = db.dir.path().join(format!("{via}.toml"));
        std::fs::write(&config, format!("[journal]\nforward = \"{url}\"\n")).unwrap();
        let config = config.display().to_string();
        let global = match via {
            "relp" => ["--config", config.as_str()],
            _ => ["--forward", url.as_str()],
        };
        for i in 0..3 {
            let out = reset_with(&db, &journal, &global, &format!("Fwd-{via}-{i}#2026"));
            assert_code(&out, 0);
        }
        let entries = exported(&db, &journal, "jsonl");
        assert_eq!(entries.len(), 6, "three intents and three outcomes");
        let received = rs.received(via, entries.len());
        assert_same_entries(&received, &entries);
        assert_eq!(
            sd(received.last().unwrap())["hash"],
            head_hash(&db, &journal),
            "the SIEM copy's last hash is the chain head `audit verify` shows"
        );
        // Outcomes are notices (authpriv.notice = 85).
        assert_eq!(received[1]["pri"], "85");
        // Nothing waits.
        let out = locksmith(
            &db,
            &journal,
            &["--forward", &url, "audit", "forward"],
            None,
            &[],
        );
        assert_code(&out, 0);
        assert!(stdout(&out).contains("0 entries sent"), "{}", stdout(&out));
    }
}

#[test]
fn a_tls_receiver_whose_certificate_the_ca_did_not_sign_gets_nothing() {
    let rs = Rsyslog::start();
    let db = TestDb::new(Vendor::RuoYi);
    let other_key = KeyPair::generate().unwrap();
    let mut other = CertificateParams::new(Vec::<String>::new()).unwrap();
    other.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let other_ca = db.dir.path().join("other-ca.pem");
    std::fs::write(&other_ca, other.self_signed(&other_key).unwrap().pem()).unwrap();
    let url = format!(
        "syslog+tls://127.0.0.1:{}?ca={}",
        rs.tls,
        other_ca.display()
    );
    let out = reset(&db, &db.journal(), Some(&url), "Tls-wrong#2026");
    // Best effort: the reset goes on, its entries wait, the operator is told why.
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("2 journal entries wait for syslog+tls://"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).to_lowercase().contains("certificate"),
        "{}",
        stdout(&out)
    );
    // The right CA sends them.
    let good = rs.url("tls");
    let out = locksmith(
        &db,
        &db.journal(),
        &["--forward", &good, "audit", "forward"],
        None,
        &[],
    );
    assert_code(&out, 0);
    let entries = exported(&db, &db.journal(), "jsonl");
    assert_same_entries(&rs.received("tls", entries.len()), &entries);
}

#[test]
fn relp_resends_from_the_acknowledged_entry_after_the_receiver_comes_back() {
    let mut rs = Rsyslog::start();
    let db = TestDb::new(Vendor::RuoYi);
    let journal = db.journal();
    let url = rs.url("relp");
    let run = |i: usize| {
        assert_code(
            &reset(&db, &journal, Some(&url), &format!("Relp-{i}#2026")),
            0,
        )
    };
    run(0);
    run(1);
    rs.stop();
    // Best effort without forward_required: the resets go on, their entries wait.
    run(2);
    let out = reset(&db, &journal, Some(&url), "Relp-3#2026");
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("4 journal entries wait for relp://"),
        "the operator is told: {}",
        stdout(&out)
    );
    let out = locksmith(
        &db,
        &journal,
        &["--forward", &url, "audit", "forward"],
        None,
        &[],
    );
    assert_code(&out, 8);
    assert!(stdout(&out).contains("4 entries wait"), "{}", stdout(&out));
    let out = locksmith(&db, &journal, &["--forward", &url, "status"], None, &[]);
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("through entry 4; 4 entries wait"),
        "{}",
        stdout(&out)
    );
    let cursor: Value = serde_json::from_str(
        &std::fs::read_to_string(db.dir.path().join("journal.sqlite.forward")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        cursor[&url]["through"], 4,
        "acknowledged through the second reset's outcome"
    );
    rs.run();
    run(4);
    let entries = exported(&db, &journal, "jsonl");
    assert_eq!(entries.len(), 10);
    let received = rs.received("relp", entries.len());
    // Duplicates are allowed (dropped by id + hash); nothing may be missing.
    let mut seen = std::collections::HashSet::new();
    let unique: Vec<Value> = received
        .into_iter()
        .filter(|m| seen.insert((sd(m)["id"].clone(), sd(m)["hash"].clone())))
        .collect();
    assert_same_entries(&unique, &entries);
    let out = locksmith(
        &db,
        &journal,
        &["--forward", &url, "audit", "forward"],
        None,
        &[],
    );
    assert_code(&out, 0);
}

#[test]
fn forward_required_refuses_a_reset_the_receiver_did_not_acknowledge() {
    let mut rs = Rsyslog::start();
    let db = TestDb::new(Vendor::RuoYi);
    let journal = db.journal();
    let config_dir = db.dir.path().join("config-home/locksmith");
    std::fs::create_dir_all(&config_dir).unwrap();
    let config = config_dir.join("config.toml");
    // A TCP destination cannot be required: the config is refused.
    std::fs::write(
        &config,
        format!(
            "[journal]\nforward = \"{}\"\nforward_required = true\n",
            rs.url("tcp")
        ),
    )
    .unwrap();
    let out = reset(&db, &journal, None, "Req-0#2026");
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("needs a RELP destination"),
        "{}",
        stderr(&out)
    );
    std::fs::write(
        &config,
        format!(
            "[journal]\nforward = \"{}\"\nforward_required = true\n",
            rs.url("relp")
        ),
    )
    .unwrap();
    assert_code(&reset(&db, &journal, None, "Req-1#2026"), 0);

    rs.stop();
    let before = db.row_image("sys_user", "user_id", "1");
    let out = reset(&db, &journal, None, "Req-2#2026");
    assert_code(&out, 6);
    assert!(
        stderr(&out).contains("was not acknowledged by the RELP receiver"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        db.row_image("sys_user", "user_id", "1"),
        before,
        "the target row changed"
    );
    let entries = exported(&db, &journal, "jsonl");
    let last = entries.last().unwrap();
    assert_eq!(
        (last["kind"].as_str(), last["outcome"].as_str()),
        (Some("outcome"), Some("refused"))
    );
    assert_eq!(last["refers_to"], entries[entries.len() - 2]["id"]);
    // In Chinese too, through the catalogs.
    let mut args = vec!["--lang", "zh", "--connector", "ruoyi"];
    args.extend(reset_stdin("admin", "INC-16 zh", &[]));
    let out = locksmith(&db, &journal, &args, Some(&line("Req-zh#2026")), &[]);
    assert_code(&out, 6);
    assert!(
        stderr(&out).contains("未得到 RELP 接收端确认"),
        "{}",
        stderr(&out)
    );
    assert_eq!(db.row_image("sys_user", "user_id", "1"), before);

    rs.run();
    assert_code(&reset(&db, &journal, None, "Req-3#2026"), 0);
    assert_ne!(db.row_image("sys_user", "user_id", "1"), before);
    // The refused attempts went out once the receiver was back.
    let entries = exported(&db, &journal, "jsonl");
    let received = rs.received("relp", entries.len());
    let mut seen = std::collections::HashSet::new();
    let unique: Vec<Value> = received
        .into_iter()
        .filter(|m| seen.insert(sd(m)["id"].clone()))
        .collect();
    assert_same_entries(&unique, &entries);
}

#[test]
fn ecs_and_ocsf_exports_and_the_actor_behind_sudo() {
    let db = TestDb::new(Vendor::RuoYi);
    let journal = db.journal();
    let mut args = vec!["--connector", "ruoyi"];
    args.extend(reset_stdin("admin", "INC-16 export", &[]));
    let out = locksmith(
        &db,
        &journal,
        &args,
        Some(&line("Ecs#2026x")),
        &[("SUDO_USER", "zhang"), ("SUDO_UID", "1000")],
    );
    assert_code(&out, 0);
    let entries = exported(&db, &journal, "jsonl");
    let uid = unsafe { libc::getuid() };
    let actor = &entries[0]["actor"];
    assert_eq!(actor["uid"], uid);
    assert_eq!(actor["sudo_user"], "zhang");
    assert_eq!(actor["sudo_uid"], 1000);
    assert!(
        actor["login"].as_str().is_some_and(|l| !l.is_empty()),
        "{actor}"
    );

    let ecs = exported(&db, &journal, "ecs");
    assert_eq!(ecs.len(), entries.len());
    for (d, e) in ecs.iter().zip(&entries) {
        assert_eq!(d["event"]["category"], serde_json::json!(["iam"]));
        assert_eq!(d["locksmith"]["hash"], e["hash"]);
        assert_eq!(
            d["user"]["target"]["name"], "admin (#1)",
            "the journal's account label"
        );
        assert_eq!(d["user"]["name"], "zhang", "the invoking user, not root");
        assert!(!d.to_string().contains("hmac-sha256"));
    }
    assert_eq!(ecs[1]["event"]["outcome"], "success");
    let ocsf = exported(&db, &journal, "ocsf");
    assert_eq!(ocsf[1]["class_uid"], 3001);
    assert_eq!(ocsf[1]["activity_id"], 4);
    assert_eq!(ocsf[1]["status_id"], 1);
    assert_eq!(
        ocsf[1]["metadata"]["uid"],
        format!(
            "{}:{}",
            entries[1]["id"],
            entries[1]["hash"].as_str().unwrap()
        )
    );
    let out = locksmith(
        &db,
        &journal,
        &["audit", "export", "--format", "cef"],
        None,
        &[],
    );
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("use jsonl, ecs or ocsf"),
        "{}",
        stderr(&out)
    );
}

/// One process (the console, a long CLI run) keeps its RELP session between
/// appends; when the receiver restarted meanwhile, the broken session is
/// noticed at its first unacknowledged message and a fresh one resends.
#[test]
fn a_kept_relp_session_broken_by_a_restart_is_reopened_and_nothing_is_lost() {
    use locksmith::forward::{ForwardSetting, attach};
    use locksmith::journal::{Actor, EntryKind, Journal, NewEntry, Place, Sharing};
    let mut rs = Rsyslog::start();
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::open(&dir.path().join("j.sqlite"), &dir.path().join("j.key")).unwrap();
    attach(
        &mut j,
        ForwardSetting::new(&rs.url("relp"), true).unwrap(),
        Sharing::Private,
    );
    let note = |j: &mut Journal| {
        let id = j
            .append(&NewEntry {
                kind: EntryKind::Note,
                refers_to: None,
                action: "note".into(),
                account: Some("张三".into()),
                reason: None,
                outcome: None,
                actor: Actor::current(),
                place: Place::default(),
                details: serde_json::json!({}),
            })
            .unwrap();
        assert_eq!(j.unacknowledged(id), None, "entry {id} acknowledged");
    };
    for _ in 0..3 {
        note(&mut j);
    }
    rs.stop();
    rs.run();
    for _ in 0..2 {
        note(&mut j);
    }
    drop(j);
    let received = rs.received("relp", 5);
    let ids: Vec<&str> = received
        .iter()
        .map(|m| sd(m)["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["1", "2", "3", "4", "5"]);
    assert_eq!(sd(&received[0])["account"], "张三");
}
