//! Two sessions at once (issue 17), against real MariaDB: concurrent resets
//! on one journal, a writer SIGKILLed in flight, a reconcile meeting another
//! session's open transaction, a writer whose intent another session already
//! reconciled, a journal with contradicting outcomes, and a read-only server.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{TestDb, Vendor, assert_code, json, stderr, stdout};
use serde_json::Value;

const OLD: &str = "Zs#2024pass";

/// The locksmith binary with the test environment of `common::run_locksmith`,
/// started in the background with `stdin` written and closed.
fn spawn(args: &[&str], stdin: &str) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_locksmith"))
        .args(args)
        .env_remove("LOCKSMITH_TARGET")
        .env_remove("LOCKSMITH_JOURNAL")
        .env_remove("LOCKSMITH_DB_PASSWORD")
        .env_remove("LOCKSMITH_LOG")
        .env("HOME", std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn locksmith");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child
}

fn reset_args<'a>(
    url: &'a str,
    journal: &'a str,
    connector: &'a str,
    reason: &'a str,
) -> Vec<&'a str> {
    vec![
        "--target",
        url,
        "--journal",
        journal,
        "--connector",
        connector,
        "--json",
        "reset",
        "zhangsan",
        "--reason",
        reason,
        "--new-password-stdin",
        "--yes",
    ]
}

/// Every journal entry, as `audit list --json` shows it.
fn entries(db: &TestDb) -> Vec<Value> {
    let out = db.locksmith(&["--json", "audit", "list"], None);
    assert_code(&out, 0);
    json(&out)["entries"].as_array().unwrap().clone()
}

/// The outcome and reconcile entries that refer to `intent`.
fn settling(all: &[Value], intent: i64) -> Vec<&Value> {
    all.iter()
        .filter(|e| e["refers_to"].as_i64() == Some(intent))
        .filter(|e| matches!(e["kind"].as_str(), Some("outcome" | "reconcile")))
        .collect()
}

fn intent_ids(all: &[Value]) -> Vec<i64> {
    all.iter()
        .filter(|e| e["kind"] == "intent")
        .map(|e| e["id"].as_i64().unwrap())
        .collect()
}

fn lock_file(db: &TestDb, intent: i64) -> PathBuf {
    let mut dir = db.journal().into_os_string();
    dir.push(".locks");
    PathBuf::from(dir).join(intent.to_string())
}

/// `audit reconcile --json` through `url`: (found, entry) per intent, and how long it took.
fn reconcile(db: &TestDb, url: &str) -> (Vec<(String, Option<i64>)>, Duration) {
    let start = Instant::now();
    let out = db.locksmith_at(
        url,
        &["--connector", "ruoyi", "--json", "audit", "reconcile"],
        None,
    );
    let took = start.elapsed();
    assert_code(&out, 0);
    let found = json(&out)["reconciled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["found"].as_str().unwrap().to_string(),
                r["entry"].as_i64(),
            )
        })
        .collect();
    (found, took)
}

fn ruoyi_verifies(db: &TestDb, password: &str) -> bool {
    let rows = db.rows("SELECT password, salt FROM sys_user WHERE user_id = 100");
    common::oracle::oracle_verify(
        "ruoyi",
        serde_json::json!({ "password": password, "login": "zhangsan", "stored": rows[0][0], "salt": rows[0][1] }),
    )
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// A TCP proxy to MariaDB that holds the first client packet containing
/// `pattern` until `open` is called (the statement, e.g. COMMIT, waits with
/// its transaction open on the server). If the client dies meanwhile, the
/// server side is closed as the kernel would close a crashed client's socket.
struct Gate {
    port: u16,
    hit: Arc<AtomicBool>,
    opened: Arc<AtomicBool>,
}

impl Gate {
    fn start(upstream: String, pattern: &'static [u8]) -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hit = Arc::new(AtomicBool::new(false));
        let opened = Arc::new(AtomicBool::new(false));
        let (hit2, opened2) = (hit.clone(), opened.clone());
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    break;
                };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (hit, opened) = (hit2.clone(), opened2.clone());
                thread::spawn(move || forward_gated(client, server, pattern, &hit, &opened));
                thread::spawn(move || {
                    let (mut from, to) = (s2, c2);
                    let _ = std::io::copy(&mut from, &mut &to);
                    let _ = to.shutdown(Shutdown::Both);
                });
            }
        });
        Gate { port, hit, opened }
    }

    fn open(&self) {
        self.opened.store(true, Ordering::SeqCst);
    }

    fn wait_hit(&self) {
        wait_for("the gated statement", Duration::from_secs(30), || {
            self.hit.load(Ordering::SeqCst)
        });
        // Let the server finish what came before the held packet.
        thread::sleep(Duration::from_millis(200));
    }
}

fn forward_gated(
    mut client: TcpStream,
    mut server: TcpStream,
    pattern: &[u8],
    hit: &AtomicBool,
    opened: &AtomicBool,
) {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        if !hit.load(Ordering::SeqCst) && chunk.windows(pattern.len()).any(|w| w == pattern) {
            hit.store(true, Ordering::SeqCst);
            client
                .set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            let mut probe = [0u8; 1];
            while !opened.load(Ordering::SeqCst) {
                // A client that died (SIGKILL) shows as end of stream.
                if let Ok(0) = client.peek(&mut probe) {
                    let _ = server.shutdown(Shutdown::Both);
                    return;
                }
            }
            client.set_read_timeout(None).unwrap();
        }
        if server.write_all(chunk).is_err() {
            break;
        }
    }
    let _ = server.shutdown(Shutdown::Both);
}

/// A ruoyi reset through a gate on `pattern`, held there; returns the
/// writer, the gate and the writer's URL.
fn writer_held_at(db: &TestDb, pattern: &'static [u8], password: &str) -> (Held, Gate, String) {
    let gate = Gate::start(db.upstream(), pattern);
    let url = db.url_via(gate.port);
    let journal = db.journal().display().to_string();
    let child = spawn(
        &reset_args(&url, &journal, "ruoyi", "held writer"),
        &format!("{password}\n"),
    );
    let held = Held(Some(child));
    gate.wait_hit();
    (held, gate, url)
}

/// A locksmith process that is SIGKILLed if the test ends first: a failed
/// assertion must not leave a writer holding a row lock, which would stall
/// `TestDb`'s DROP DATABASE.
struct Held(Option<Child>);

impl Held {
    fn take(&mut self) -> Child {
        self.0.take().expect("the process")
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// N concurrent bcrypt resets of one account on one journal: every intent
/// gets exactly one outcome (no reconcile touches a live writer), the stored
/// value is the last committed run's, and the chain verifies.
#[test]
fn concurrent_bcrypt_resets_on_one_journal_never_contradict() {
    const N: usize = 6;
    let db = TestDb::new(Vendor::RuoYiVue);
    let url = db.url();
    let journal = db.journal().display().to_string();
    // One write first, so the journal and its key exist before the race.
    let first = db.locksmith(
        &[
            "--connector",
            "ruoyi-vue",
            "reset",
            "zhangsan",
            "--reason",
            "warm-up",
            "--new-password-stdin",
            "--yes",
        ],
        Some("Warm#2026-pass\n"),
    );
    assert_code(&first, 0);
    let passwords: Vec<String> = (0..N).map(|i| format!("Race#{i}-2026pass")).collect();
    let reasons: Vec<String> = (0..N).map(|i| format!("race {i}")).collect();
    let mut children = Vec::new();
    for i in 0..N {
        children.push(spawn(
            &reset_args(&url, &journal, "ruoyi-vue", &reasons[i]),
            &format!("{}\n", passwords[i]),
        ));
        thread::sleep(Duration::from_millis(30));
    }
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    // intent id -> the password of the run that journaled it
    let mut committed_runs = Vec::new();
    for (i, out) in outputs.iter().enumerate() {
        let code = out.status.code();
        assert!(
            matches!(code, Some(0) | Some(5)),
            "run {i}: committed or refused as changed since read; stdout {} stderr {}",
            stdout(out),
            stderr(out)
        );
        let doc = json(out);
        if code == Some(0) {
            committed_runs.push((doc["journal_entry"].as_i64().unwrap(), i));
        } else {
            let err = doc["error"].as_str().unwrap();
            assert!(err.contains("changed since it was read"), "run {i}: {err}");
        }
    }
    assert!(!committed_runs.is_empty(), "at least one run commits");
    let all = entries(&db);
    let intents = intent_ids(&all);
    assert_eq!(intents.len(), N + 1, "one intent per run");
    assert!(
        all.iter().all(|e| e["kind"] != "reconcile"),
        "no session reconciled another's live write: {all:#?}"
    );
    for id in &intents {
        let s = settling(&all, *id);
        assert_eq!(s.len(), 1, "intent {id} has exactly one outcome: {s:#?}");
        assert!(matches!(
            s[0]["outcome"].as_str(),
            Some("committed" | "refused")
        ));
    }
    let committed_outcomes = all
        .iter()
        .filter(|e| e["kind"] == "outcome" && e["outcome"] == "committed")
        .count();
    assert_eq!(
        committed_outcomes,
        committed_runs.len() + 1,
        "warm-up included"
    );
    // The newest committed outcome names the run whose password is stored.
    let last = all
        .iter()
        .rev()
        .find(|e| e["kind"] == "outcome" && e["outcome"] == "committed")
        .unwrap();
    let last_intent = last["refers_to"].as_i64().unwrap();
    let (_, run) = committed_runs
        .iter()
        .find(|(intent, _)| *intent == last_intent)
        .expect("the last commit is one of the racing runs");
    let stored = db.one("SELECT password FROM sys_user WHERE user_id = 100");
    assert!(common::oracle::oracle_verify(
        "bcrypt",
        serde_json::json!({ "password": passwords[*run], "stored": stored })
    ));
    for (_, other) in committed_runs.iter().filter(|(i, _)| *i != last_intent) {
        assert!(!common::oracle::oracle_verify(
            "bcrypt",
            serde_json::json!({ "password": passwords[*other], "stored": stored })
        ));
    }
    assert_code(&db.locksmith(&["audit", "verify"], None), 0);
    eprintln!(
        "{N} racing resets: {} committed, {} refused",
        committed_runs.len(),
        N - committed_runs.len()
    );
}

/// SIGKILL between the intent and COMMIT: the lock file stays on disk, but
/// the lock died with the process, so the next session settles the intent at
/// once, with the row's truth, and removes the file.
#[test]
fn a_sigkilled_writer_is_reconciled_at_once() {
    let db = TestDb::new(Vendor::RuoYi);
    let image = db.row_image("sys_user", "user_id", "100");
    let (mut writer, _gate, url) = writer_held_at(&db, b"COMMIT", "Killed#2026-pass");
    let intent = intent_ids(&entries(&db))[0];
    assert!(
        lock_file(&db, intent).exists(),
        "the writer owns its intent"
    );
    // While it lives, its intent is in progress, never reconciled.
    let (found, _) = reconcile(&db, &url);
    assert_eq!(found, [("in_progress".to_string(), None)]);
    let mut killed = writer.take();
    killed.kill().unwrap(); // SIGKILL
    killed.wait().unwrap();
    assert!(
        lock_file(&db, intent).exists(),
        "a killed writer cannot tidy up"
    );
    let (found, took) = reconcile(&db, &url);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, "not_applied", "COMMIT never reached the server");
    assert!(
        took < Duration::from_secs(5),
        "no stale lock to wait out: {took:?}"
    );
    assert!(!lock_file(&db, intent).exists(), "removed by the reconcile");
    assert_eq!(db.row_image("sys_user", "user_id", "100"), image);
    assert!(ruoyi_verifies(&db, OLD));
    let all = entries(&db);
    let s = settling(&all, intent);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["kind"], "reconcile");
    assert_eq!(s[0]["outcome"], "rolled_back");
    assert_code(&db.locksmith(&["audit", "verify"], None), 0);
}

/// A reconcile that the ownership lock cannot stop (the writer's lock file
/// was removed, as on a filesystem without locks) meets the writer's open
/// transaction on the row: it waits up to lock-wait and skips as in progress,
/// or, when the writer commits while it waits, records the commit. It never
/// writes rolled_back for a write that then commits.
#[test]
fn a_reconcile_waits_for_an_open_transaction_and_records_the_truth() {
    let db = TestDb::new(Vendor::RuoYi);
    let new = "Waited#2026-pass";
    let (mut writer, gate, url) = writer_held_at(&db, b"COMMIT", new);
    let intent = intent_ids(&entries(&db))[0];
    std::fs::remove_file(lock_file(&db, intent)).unwrap();
    // The row is locked by the writer's UPDATE: a short lock-wait gives up.
    let short = format!("{url}&lock-wait=2");
    let (found, took) = reconcile(&db, &short);
    assert_eq!(found, [("in_progress".to_string(), None)]);
    assert!(took >= Duration::from_millis(1800), "it waited: {took:?}");
    // A longer one is still waiting when the writer commits.
    let long = format!("{url}&lock-wait=20");
    let journal = db.journal().display().to_string();
    let mut waiting = Held(Some(spawn(
        &[
            "--target",
            &long,
            "--journal",
            &journal,
            "--connector",
            "ruoyi",
            "--json",
            "audit",
            "reconcile",
        ],
        "",
    )));
    thread::sleep(Duration::from_millis(1500));
    gate.open();
    let w = writer.take().wait_with_output().unwrap();
    assert_code(&w, 0);
    let r = waiting.take().wait_with_output().unwrap();
    assert_code(&r, 0);
    let doc = json(&r);
    assert_eq!(doc["reconciled"][0]["found"], "applied", "{doc}");
    assert!(ruoyi_verifies(&db, new));
    let all = entries(&db);
    let outcomes: Vec<&str> = settling(&all, intent)
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes.len(), 2, "the writer's outcome and the reconcile");
    assert!(outcomes.iter().all(|o| *o == "committed"), "{outcomes:?}");
    assert_code(&db.locksmith(&["audit", "verify"], None), 0);
}

/// A reconcile elsewhere read the row before the writer's UPDATE and
/// recorded "not applied": the writer sees that entry before COMMIT, rolls
/// back, and its outcome agrees and names the reconcile.
#[test]
fn a_writer_whose_intent_was_reconciled_rolls_back_and_agrees() {
    let db = TestDb::new(Vendor::RuoYi);
    let image = db.row_image("sys_user", "user_id", "100");
    let (mut writer, gate, url) = writer_held_at(&db, b"UPDATE `sys_user`", "Late#2026-pass");
    let intent = intent_ids(&entries(&db))[0];
    std::fs::remove_file(lock_file(&db, intent)).unwrap();
    let (found, _) = reconcile(&db, &url);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, "not_applied");
    let reconcile_entry = found[0].1.unwrap();
    gate.open();
    let w = writer.take().wait_with_output().unwrap();
    assert_code(&w, 5);
    let err = json(&w)["error"].as_str().unwrap().to_string();
    assert!(
        err.contains(&format!("journal entry {reconcile_entry}")) && err.contains("rolled back"),
        "{err}"
    );
    assert_eq!(db.row_image("sys_user", "user_id", "100"), image);
    let all = entries(&db);
    let s = settling(&all, intent);
    assert_eq!(s.len(), 2);
    assert_eq!(s[1]["kind"], "outcome");
    assert_eq!(s[1]["outcome"], "rolled_back");
    assert_eq!(s[1]["details"]["reconciled_by"], reconcile_entry);
    assert_code(&db.locksmith(&["audit", "verify"], None), 0);
}

fn crafted_entry(kind: &str, refers_to: Option<i64>, outcome: Option<&str>) -> Value {
    serde_json::json!({
        "kind": kind,
        "refers_to": refers_to,
        "action": "reset",
        "account": "ry (#1)",
        "reason": "race 1",
        "outcome": outcome,
        "actor": { "os_user": "alice", "ssh_origin": null },
        "place": { "engine": "mysql", "host": "127.0.0.1:3306", "database": "ry", "connector": "ruoyi-vue" },
        "details": {},
    })
}

/// The journal of the issue: a reconcile said rolled back, the writer's
/// outcome said committed. The chain is intact; verify names the intent
/// with its own message and exit code (9), distinct from a broken chain (8).
#[test]
fn audit_verify_flags_contradicting_outcomes_with_its_own_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let key = dir.path().join("journal.sqlite.key");
    {
        let mut j = locksmith::journal::Journal::open(&path, &key).unwrap();
        for e in [
            crafted_entry("intent", None, None),
            crafted_entry("reconcile", Some(1), Some("rolled_back")),
            crafted_entry("outcome", Some(1), Some("committed")),
        ] {
            j.append(&serde_json::from_value(e).unwrap()).unwrap();
        }
    }
    let verify = |extra: &[&str]| {
        let mut args = vec!["--journal", path.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.extend(["audit", "verify"]);
        common::run_locksmith(&args, None)
    };
    let out = verify(&[]);
    assert_code(&out, 9);
    let text = stdout(&out);
    assert!(
        text.contains("CONTRADICTING OUTCOMES")
            && text.contains("Intent #1")
            && text.contains("#2 (reconcile) says rolled_back")
            && text.contains("#3 (outcome) says committed"),
        "{text}"
    );
    assert!(!text.contains("CHAIN BROKEN"), "{text}");
    let doc = json(&verify(&["--json"]));
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["problem"], Value::Null, "the chain is intact");
    assert_eq!(doc["contradictions"][0]["intent"], 1);
    // A broken chain is still exit 8, whatever else is wrong.
    common::journal_sql(
        &path,
        "UPDATE entries SET at = '2020-01-01T00:00:00.000Z' WHERE id = 2",
    );
    let out = verify(&[]);
    assert_code(&out, 8);
    assert!(stdout(&out).contains("CHAIN BROKEN"), "{}", stdout(&out));
}

/// A second `mariadbd` on its own port and data directory with `--read-only`,
/// killed (and its directory removed) when dropped.
struct ReadOnlyServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl ReadOnlyServer {
    fn start() -> ReadOnlyServer {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let root = running_as_root();
        let mut install = Command::new("mariadb-install-db");
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"]);
        if root {
            install.arg("--user=root");
        }
        let out = install
            .output()
            .expect("mariadb-install-db (scripts/ensure-services installs mariadb-server)");
        assert!(
            out.status.success(),
            "mariadb-install-db: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Command::new(mariadbd());
        server
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", dir.path().join("sock").display()))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .args([
                "--read-only",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=16M",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if root {
            server.arg("--user=root");
        }
        let child = server.spawn().expect("start mariadbd");
        let me = ReadOnlyServer {
            child,
            port,
            _dir: dir,
        };
        wait_for("the read-only mariadbd", Duration::from_secs(60), || {
            me.client(None)
                .arg("-e")
                .arg("SELECT 1")
                .output()
                .is_ok_and(|o| o.status.success())
        });
        me
    }

    fn client(&self, db: Option<&str>) -> Command {
        let mut c = Command::new("mariadb");
        c.args([
            "-h",
            "127.0.0.1",
            "-P",
            &self.port.to_string(),
            "-u",
            "root",
        ]);
        c.arg("--default-character-set=utf8mb4");
        if let Some(db) = db {
            c.arg(db);
        }
        c
    }

    fn run(&self, db: Option<&str>, input: &[u8]) -> String {
        let mut child = self
            .client(db)
            .arg("-N")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for ReadOnlyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mariadbd() -> &'static str {
    if Path::new("/usr/sbin/mariadbd").exists() {
        "/usr/sbin/mariadbd"
    } else {
        "mariadbd"
    }
}

/// mariadbd refuses to run as root unless told to.
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// A server in read-only mode (as a replica is) takes the reset's UPDATE
/// from root (SUPER passes read_only), but Locksmith refuses before any
/// intent, naming read-only, and says so at connect.
#[test]
fn a_read_only_server_refuses_a_reset_before_any_intent() {
    let server = ReadOnlyServer::start();
    server.run(
        None,
        b"CREATE DATABASE ro_crm CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci",
    );
    server.run(Some("ro_crm"), &Vendor::RuoYi.install_sql());
    server.run(Some("ro_crm"), &Vendor::RuoYi.fixture_sql());
    let before = server.run(
        Some("ro_crm"),
        b"SELECT password, salt FROM sys_user WHERE user_id = 100",
    );
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.sqlite");
    let url = format!("mysql://root@127.0.0.1:{}/ro_crm?tls=disabled", server.port);
    let base = [
        "--target",
        url.as_str(),
        "--journal",
        journal.to_str().unwrap(),
        "--connector",
        "ruoyi",
    ];
    let mut args = base.to_vec();
    args.extend([
        "reset",
        "zhangsan",
        "--reason",
        "replica test",
        "--new-password-stdin",
        "--yes",
    ]);
    let out = common::run_locksmith(&args, Some("Replica#2026-pass\n"));
    assert_code(&out, 5);
    let err = stderr(&out);
    assert!(
        err.contains("read-only") && err.contains("read_only=ON") && err.contains("primary"),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(
        server.run(
            Some("ro_crm"),
            b"SELECT password, salt FROM sys_user WHERE user_id = 100"
        ),
        before
    );
    let mut list = base.to_vec();
    list.extend(["--json", "audit", "list"]);
    let entries = json(&common::run_locksmith(&list, None));
    assert_eq!(
        entries["entries"].as_array().unwrap().len(),
        0,
        "no intent: {entries}"
    );
    // Lookups still work, with the warning.
    let mut show = base.to_vec();
    show.extend(["show", "zhangsan"]);
    let out = common::run_locksmith(&show, None);
    assert_code(&out, 0);
    assert!(stderr(&out).contains("read-only") || stdout(&out).contains("read-only"));
}

/// config.toml `[journal]` picks the journal when `--journal` is not given;
/// with `group`, its files are the group's (journal and locks 0660, key
/// 0640), and a typo in the file is a usage error naming it.
#[test]
fn a_configured_group_journal_is_used_without_journal_flag() {
    let db = TestDb::new(Vendor::RuoYi);
    let config = tempfile::tempdir().unwrap();
    let shared = tempfile::tempdir().unwrap();
    let group = String::from_utf8(Command::new("id").arg("-gn").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();
    let journal = shared.path().join("journal.sqlite");
    std::fs::create_dir_all(config.path().join("locksmith")).unwrap();
    let toml = config.path().join("locksmith/config.toml");
    std::fs::write(
        &toml,
        format!(
            "[journal]\npath = \"{}\"\ngroup = \"{group}\"\n",
            journal.display()
        ),
    )
    .unwrap();
    let xdg = config.path().to_str().unwrap();
    let url = db.url();
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut full = vec!["--target", url.as_str(), "--connector", "ruoyi"];
        full.extend_from_slice(args);
        common::run_locksmith_env(&full, stdin, &[("XDG_CONFIG_HOME", xdg)])
    };
    let out = run(
        &[
            "reset",
            "zhangsan",
            "--reason",
            "system journal",
            "--new-password-stdin",
            "--yes",
        ],
        Some("System#2026-pass\n"),
    );
    assert_code(&out, 0);
    assert!(ruoyi_verifies(&db, "System#2026-pass"));
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&journal), 0o660);
    let key = shared.path().join("journal.sqlite.key");
    assert_eq!(mode(&key), 0o640);
    let gid = std::fs::metadata(shared.path()).unwrap().gid();
    assert_eq!(std::fs::metadata(&key).unwrap().gid(), gid);
    let out = run(&["--json", "audit", "list"], None);
    assert_code(&out, 0);
    assert_eq!(json(&out)["entries"].as_array().unwrap().len(), 2);
    assert!(!db.journal().exists(), "the per-test journal was not used");
    std::fs::write(&toml, "[journal]\npaht = \"/x\"\n").unwrap();
    let out = run(&["audit", "verify"], None);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("config.toml") && stderr(&out).contains("paht"),
        "{}",
        stderr(&out)
    );
}
