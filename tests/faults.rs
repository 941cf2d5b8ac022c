//! Faults at every step of the write protocol: the link cut before and
//! after each statement (including COMMIT), the process killed between
//! intent and outcome, a full disk under the journal, a row lock held by
//! another session. The target is never left half-written, the journal says
//! what happened, and `audit reconcile` settles what was unknown.

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::proxy::{Fault, Packet, Proxy, Trigger, When};
use common::{TestDb, Vendor, assert_code, connector_reset, json, line, stderr};

const NEW: &str = "Fault#2026-pass";
const OLD: &str = "Zs#2024pass";

fn zhangsan_verifies(db: &TestDb, password: &str) -> bool {
    common::proof::oracle_accepts(db, "zhangsan", password)
}

fn reset_args() -> Vec<&'static str> {
    connector_reset("ruoyi", "zhangsan", "fault test", &[])
}

fn outcomes(db: &TestDb) -> Vec<(String, Option<String>)> {
    let out = db.locksmith(&["--json", "audit", "list"], None);
    assert_code(&out, 0);
    json(&out)["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["outcome"].as_str().map(String::from),
            )
        })
        .collect()
}

/// Reconciles through the same address the write used: intents are matched
/// to their target by host and port, never to a look-alike elsewhere.
fn reconcile(db: &TestDb, url: &str) -> Vec<String> {
    let out = db.locksmith_at(
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

/// The `step` the journal recorded with the last outcome.
fn recorded_step(db: &TestDb) -> String {
    common::journal_rows(
        &db.journal(),
        "SELECT IFNULL(json_extract(body, '$.details.step'), 'none') FROM entries WHERE kind = 'outcome' ORDER BY id DESC LIMIT 1",
    )
    .first()
    .map(|r| r[0].clone())
    .unwrap_or_default()
}

/// Whether another session finds zhangsan's row locked (an UPDATE inside a
/// transaction that has not ended): `FOR UPDATE NOWAIT` fails at once.
fn row_locked_in(database: &str) -> bool {
    let out = common::client(Some(database))
        .args([
            "-N",
            "-e",
            "SELECT user_id FROM sys_user WHERE user_id = 100 FOR UPDATE NOWAIT",
        ])
        .output()
        .expect("mariadb client");
    !out.status.success()
}

/// What a cut must leave behind.
struct Expect {
    applied: bool,
    code: i32,
    outcome: &'static str,
    step: &'static str,
}

/// Cuts the link at one packet; checks the row, the journal (outcome and
/// step) and reconciliation.
fn cut(trigger: impl FnOnce(&TestDb) -> Trigger, expect: Expect) -> TestDb {
    let db = TestDb::new(Vendor::RuoYi);
    let trigger = trigger(&db);
    let image = db.row_image("sys_user", "user_id", "100");
    let what = format!("{:?} {:?}", trigger.packet, trigger.when);
    let proxy = Proxy::start(db.upstream(), trigger);
    let via = db.url_via(proxy.port);
    let out = db.locksmith_at(&via, &reset_args(), Some(&line(NEW)));
    assert!(
        proxy.hit.load(Ordering::SeqCst),
        "the trigger {what} never fired"
    );
    assert_code(&out, expect.code);
    assert!(!stderr(&out).contains(NEW));
    if expect.applied {
        assert!(
            zhangsan_verifies(&db, NEW),
            "COMMIT reached the server: the new password is in"
        );
    } else {
        assert_eq!(
            db.row_image("sys_user", "user_id", "100"),
            image,
            "no partial change after a cut at {what}"
        );
        assert!(zhangsan_verifies(&db, OLD));
    }
    let entries = outcomes(&db);
    assert_eq!(entries[0], ("intent".to_string(), None));
    assert_eq!(
        entries[1],
        ("outcome".to_string(), Some(expect.outcome.to_string())),
        "{entries:?}"
    );
    assert_eq!(
        recorded_step(&db),
        expect.step,
        "the journal's step for {what}"
    );
    if expect.outcome == "unknown" {
        // Unknown outcomes stay open until the row is read back.
        // A different address for the same server is not trusted to settle it.
        assert!(reconcile(&db, &db.url()).is_empty());
        let found = reconcile(&db, &via);
        assert_eq!(
            found,
            [if expect.applied {
                "applied"
            } else {
                "not_applied"
            }]
        );
    }
    assert!(reconcile(&db, &via).is_empty(), "nothing left open");
    assert_code(&db.locksmith(&["audit", "verify"], None), 0);
    db
}

const UPDATE: &str = "UPDATE `sys_user`";

fn failed_at(step: &'static str) -> Expect {
    Expect {
        applied: false,
        code: 3,
        outcome: "failed",
        step,
    }
}

fn unknown_at(step: &'static str, code: i32, applied: bool) -> Expect {
    Expect {
        applied,
        code,
        outcome: "unknown",
        step,
    }
}

#[test]
fn cut_before_start_transaction() {
    let t = |_: &TestDb| {
        Trigger::new(
            Packet::query("START TRANSACTION"),
            When::Before,
            Fault::Drop,
        )
    };
    cut(t, failed_at("begin"));
}

#[test]
fn cut_after_start_transaction() {
    let t = |_: &TestDb| Trigger::new(Packet::query("START TRANSACTION"), When::After, Fault::Drop);
    cut(t, failed_at("begin"));
}

#[test]
fn cut_before_the_update_is_prepared() {
    let t = |_: &TestDb| Trigger::new(Packet::prepare(UPDATE), When::Before, Fault::Drop);
    cut(t, unknown_at("update", 3, false));
}

#[test]
fn cut_before_the_update_executes() {
    let t = |_: &TestDb| Trigger::new(Packet::execute(UPDATE), When::Before, Fault::Drop);
    cut(t, unknown_at("update", 3, false));
}

/// The server ran the UPDATE (another session finds the row locked inside
/// the open transaction) and its answer was lost: the server rolls back.
#[test]
fn cut_after_the_update_executes() {
    let locked = Arc::new(AtomicBool::new(false));
    let seen = locked.clone();
    let t = move |db: &TestDb| {
        let database = db.name.clone();
        Trigger {
            on_answer: Some(Arc::new(move || {
                seen.store(row_locked_in(&database), Ordering::SeqCst)
            })),
            ..Trigger::new(Packet::execute(UPDATE), When::After, Fault::Drop)
        }
    };
    let db = cut(t, unknown_at("update", 3, false));
    assert!(
        locked.load(Ordering::SeqCst),
        "the UPDATE ran: {} held zhangsan's row when the link went",
        db.name
    );
}

/// The link goes at the verify re-read (the SELECT executed after the UPDATE).
#[test]
fn cut_before_the_verify_re_read() {
    let t = |_: &TestDb| Trigger {
        armed_by: Some(Packet::execute(UPDATE)),
        ..Trigger::new(Packet::execute("SELECT"), When::Before, Fault::Drop)
    };
    cut(t, unknown_at("verify", 5, false));
}

#[test]
fn cut_before_commit() {
    let t = |_: &TestDb| Trigger::new(Packet::query("COMMIT"), When::Before, Fault::Drop);
    cut(t, unknown_at("commit", 7, false));
}

#[test]
fn cut_after_commit_reaches_the_server() {
    let t = |_: &TestDb| Trigger::new(Packet::query("COMMIT"), When::After, Fault::Drop);
    cut(t, unknown_at("commit", 7, true));
}

/// A drill ends in ROLLBACK; the link cut there leaves the server to roll
/// back on disconnect: the outcome is failed at step `rollback` and both tables
/// are as they were.
#[test]
fn cut_before_the_drills_rollback() {
    let db = TestDb::new(Vendor::Wukong11);
    db.exec(
        "DELETE FROM wk_admin_user_role WHERE user_id = 14773; DELETE FROM wk_admin_user WHERE user_id = 14773",
    );
    let count =
        "SELECT (SELECT COUNT(*) FROM wk_admin_user) + (SELECT COUNT(*) FROM wk_admin_user_role)";
    let before = db.one(count);
    let proxy = Proxy::start(
        db.upstream(),
        Trigger::new(Packet::query("ROLLBACK"), When::Before, Fault::Drop),
    );
    let via = db.url_via(proxy.port);
    let out = db.locksmith_at(
        &via,
        &[
            "--connector",
            "wukong11",
            "drill",
            "--account",
            "13800000000",
        ],
        None,
    );
    assert!(proxy.hit.load(Ordering::SeqCst), "the drill sent ROLLBACK");
    assert_code(&out, 3);
    assert_eq!(db.one(count), before, "the server rolled the drill back");
    assert_eq!(
        db.one("SELECT COUNT(*) FROM wk_admin_user WHERE user_id = 14773"),
        "0"
    );
    let entries = outcomes(&db);
    assert_eq!(
        entries,
        [
            ("drill".to_string(), None),
            ("outcome".to_string(), Some("failed".to_string()))
        ]
    );
    assert_eq!(recorded_step(&db), "rollback");
}

/// SIGKILL while the proxy stalls a statement: the intent has no outcome.
fn kill_at(pattern: &str, when: When, expect_applied: bool) {
    let db = TestDb::new(Vendor::RuoYi);
    let image = db.row_image("sys_user", "user_id", "100");
    let proxy = Proxy::start(
        db.upstream(),
        Trigger::new(Packet::query(pattern), when, Fault::Hold),
    );
    let journal = db.journal();
    let mut child = Command::new(env!("CARGO_BIN_EXE_locksmith"))
        .args([
            "--target",
            &db.url_via(proxy.port),
            "--journal",
            journal.to_str().unwrap(),
        ])
        .args(reset_args())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{NEW}\n").as_bytes())
            .unwrap();
    }
    // `acted`: the packet is stalled (Before) or the server has answered it (After).
    let start = Instant::now();
    while !proxy.acted.load(Ordering::SeqCst) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "trigger never fired"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let entries = outcomes(&db);
    assert_eq!(
        entries,
        [("intent".to_string(), None)],
        "killed between intent and outcome"
    );
    let via = db.url_via(proxy.port);
    assert_eq!(
        reconcile(&db, &via),
        [if expect_applied {
            "applied"
        } else {
            "not_applied"
        }]
    );
    if expect_applied {
        assert!(zhangsan_verifies(&db, NEW));
    } else {
        assert_eq!(db.row_image("sys_user", "user_id", "100"), image);
    }
    let entries = outcomes(&db);
    assert_eq!(entries.last().unwrap().0, "reconcile");
    assert!(reconcile(&db, &via).is_empty());
}

#[test]
fn sigkill_while_commit_is_in_flight() {
    kill_at("COMMIT", When::Before, false);
}

#[test]
fn sigkill_after_commit_before_the_outcome() {
    kill_at("COMMIT", When::After, true);
}

#[test]
fn a_full_disk_under_the_journal_refuses_the_write() {
    let db = TestDb::new(Vendor::RuoYi);
    // One successful write so the journal and its key exist.
    assert_code(&db.locksmith(&reset_args(), Some("First#2026-pass\n")), 0);
    let image = db.row_image("sys_user", "user_id", "100");
    let journal = db.journal();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_locksmith"));
    cmd.args([
        "--target",
        &db.url(),
        "--journal",
        journal.to_str().unwrap(),
    ])
    .args(reset_args())
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    // A file-size limit of 1 KiB: any journal page write fails with EFBIG, as on a full disk.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit {
                rlim_cur: 1024,
                rlim_max: 1024,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{NEW}\n").as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_code(&out, 6);
    assert_eq!(
        db.row_image("sys_user", "user_id", "100"),
        image,
        "target untouched"
    );
    assert_eq!(outcomes(&db).len(), 2, "only the first write's entries");
}

/// A small tmpfs mounted for one test, unmounted when dropped.
struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    /// Needs root (CI runs the tests as root; `mount -t tmpfs` needs no package).
    fn mount(size: &str) -> SmallFs {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test mounts a {size} tmpfs to fill it (ENOSPC) and needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallFs { dir }
    }

    /// Writes a file until the filesystem is full.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.dir.path().join("filler")).expect("filler");
        let block = [0u8; 4096];
        loop {
            match f.write_all(&block) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling the tmpfs: {e}"),
            }
        }
        let _ = f.sync_all();
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// ENOSPC, a really full filesystem (not only RLIMIT_FSIZE's EFBIG): the
/// journal cannot take the intent, so the target is not touched.
#[test]
fn a_journal_on_a_full_filesystem_refuses_the_write() {
    let db = TestDb::new(Vendor::RuoYi);
    let fs = SmallFs::mount("1m");
    let journal = fs.dir.path().join("journal.sqlite");
    let run = |password: &str| {
        let mut args = vec![
            "--target".to_string(),
            db.url(),
            "--journal".to_string(),
            journal.display().to_string(),
        ];
        args.extend(reset_args().iter().map(|a| a.to_string()));
        common::run_locksmith(&args, Some(&line(password)))
    };
    assert_code(&run("First#2026-pass"), 0);
    let image = db.row_image("sys_user", "user_id", "100");
    fs.fill();
    let out = run(NEW);
    assert_code(&out, 6);
    let err = stderr(&out);
    assert!(
        err.contains("could not write to the journal")
            && err.contains("nothing was written to the target"),
        "{err}"
    );
    assert!(!err.contains(NEW));
    assert_eq!(
        db.row_image("sys_user", "user_id", "100"),
        image,
        "target untouched"
    );
    let kinds = common::journal_rows(&journal, "SELECT kind FROM entries ORDER BY id");
    assert_eq!(
        kinds,
        [["intent"], ["outcome"]],
        "only the first write's entries"
    );
}

#[test]
fn an_unwritable_journal_directory_refuses_the_write() {
    let db = TestDb::new(Vendor::RuoYi);
    assert_code(&db.locksmith(&reset_args(), Some("First#2026-pass\n")), 0);
    let image = db.row_image("sys_user", "user_id", "100");
    // Root ignores permission bits; a directory where SQLite must create its
    // write-ahead log stops every write the same way a read-only directory
    // does. The log is kept between sessions: a plain SQLite client's
    // checkpoint (it closes last) folds it into the main file and removes it.
    common::journal_sql(&db.journal(), "PRAGMA wal_checkpoint(TRUNCATE)");
    let mut blocker = db.journal().into_os_string();
    blocker.push("-wal");
    assert!(
        !std::path::Path::new(&blocker).exists(),
        "the checkpoint removed the log"
    );
    std::fs::create_dir(&blocker).unwrap();
    let out = db.locksmith(&reset_args(), Some(&line(NEW)));
    assert_code(&out, 6);
    assert_eq!(db.row_image("sys_user", "user_id", "100"), image);
    std::fs::remove_dir(&blocker).unwrap();
    assert_eq!(outcomes(&db).len(), 2);
}

#[test]
fn a_row_lock_held_elsewhere_times_out_cleanly() {
    let db = TestDb::new(Vendor::RuoYi);
    let image = db.row_image("sys_user", "user_id", "100");
    // Another session holds the row (an open transaction in the mariadb client).
    let mut holder = common::client(Some(&db.name))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut holder_in = holder.stdin.take().unwrap();
    {
        use std::io::Write;
        writeln!(
            holder_in,
            "START TRANSACTION; SELECT * FROM sys_user WHERE user_id = 100 FOR UPDATE;"
        )
        .unwrap();
        holder_in.flush().unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    let url = format!("{}?lock-wait=1", db.url());
    let out = db.locksmith_at(&url, &reset_args(), Some(&line(NEW)));
    drop(holder_in);
    let _ = holder.wait();
    assert_code(&out, 5);
    let err = stderr(&out);
    assert!(
        err.contains("lock wait timeout") && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(db.row_image("sys_user", "user_id", "100"), image);
    let entries = outcomes(&db);
    assert_eq!(entries[1].1.as_deref(), Some("failed"), "{entries:?}");
}

#[test]
fn a_deadlock_victim_rolls_back_everything_and_says_so() {
    let db = TestDb::new(Vendor::RuoYi);
    db.exec("DELETE FROM sys_user_role WHERE user_id = 1");
    let image = db.row_image("sys_user", "user_id", "1");
    // Session B: a large transaction that holds the gap where the admin's role link goes.
    let mut holder = common::client(Some(&db.name))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut b = holder.stdin.take().unwrap();
    {
        use std::io::Write;
        writeln!(b, "START TRANSACTION; UPDATE sys_user SET remark = 'bulk' WHERE user_id BETWEEN 100 AND 108; SELECT * FROM sys_user_role WHERE user_id = 1 FOR UPDATE;").unwrap();
        b.flush().unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    // Locksmith updates the admin row, then waits to insert the role link into B's gap.
    let journal = db.journal();
    let url = format!("{}?lock-wait=30", db.url());
    let child = Command::new(env!("CARGO_BIN_EXE_locksmith"))
        .args([
            "--target",
            &url,
            "--journal",
            journal.to_str().unwrap(),
            "--connector",
            "ruoyi",
            "restore-admin",
            "--reason",
            "deadlock test",
            "--yes",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // B now wants the admin row Locksmith holds: a cycle. InnoDB rolls back the
    // lighter transaction, Locksmith's single row against B's nine.
    {
        use std::io::Write;
        writeln!(
            b,
            "UPDATE sys_user SET remark = 'b' WHERE user_id = 1; ROLLBACK;"
        )
        .unwrap();
        b.flush().unwrap();
    }
    let out = child.wait_with_output().unwrap();
    drop(b);
    let _ = holder.wait();
    assert_code(&out, 5);
    let err = stderr(&out);
    assert!(
        err.to_lowercase().contains("deadlock") && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(
        db.row_image("sys_user", "user_id", "1"),
        image,
        "the admin row is as before"
    );
    assert_eq!(
        db.one("SELECT COUNT(*) FROM sys_user_role WHERE user_id = 1"),
        "0"
    );
    let entries = outcomes(&db);
    assert_eq!(
        entries.last().unwrap().1.as_deref(),
        Some("failed"),
        "{entries:?}"
    );
}
