//! Faults at every step of the write protocol: the link cut before and
//! after each statement (including COMMIT), the process killed between
//! intent and outcome, a full disk under the journal, a row lock held by
//! another session. The target is never left half-written, the journal says
//! what happened, and `audit reconcile` settles what was unknown.

mod common;

use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::proxy::{Fault, Proxy, Trigger, When};
use common::{TestDb, Vendor, assert_code, json, stderr};

const NEW: &str = "Fault#2026-pass";
const OLD: &str = "Zs#2024pass";

fn zhangsan_verifies(db: &TestDb, password: &str) -> bool {
    let rows = db.rows("SELECT password, salt FROM sys_user WHERE user_id = 100");
    let out = common::oracle::oracle(
        "verify",
        "ruoyi",
        serde_json::json!({ "password": password, "login": "zhangsan", "stored": rows[0][0], "salt": rows[0][1] }),
    );
    out["ok"].as_bool().unwrap()
}

fn reset_args() -> Vec<&'static str> {
    vec![
        "--connector",
        "ruoyi",
        "reset",
        "zhangsan",
        "--reason",
        "fault test",
        "--new-password-stdin",
        "--yes",
    ]
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

/// Cuts the link at one statement; checks the row, the journal and reconciliation.
fn cut(
    pattern: &str,
    skip: usize,
    when: When,
    expect_applied: bool,
    expect_code: i32,
    expect_outcome: &str,
) {
    let db = TestDb::new(Vendor::RuoYi);
    let image = db.row_image("sys_user", "user_id", "100");
    let proxy = Proxy::start(
        db.upstream(),
        Trigger {
            pattern: pattern.as_bytes().to_vec(),
            skip,
            when,
            fault: Fault::Drop,
        },
    );
    let via = db.url_via(proxy.port);
    let out = db.locksmith_at(&via, &reset_args(), Some(&format!("{NEW}\n")));
    assert!(
        proxy.hit.load(Ordering::SeqCst),
        "the trigger `{pattern}` never fired"
    );
    assert_code(&out, expect_code);
    assert!(!stderr(&out).contains(NEW));
    if expect_applied {
        assert!(
            zhangsan_verifies(&db, NEW),
            "COMMIT reached the server: the new password is in"
        );
    } else {
        assert_eq!(
            db.row_image("sys_user", "user_id", "100"),
            image,
            "no partial change after a cut at `{pattern}` {when:?}"
        );
        assert!(zhangsan_verifies(&db, OLD));
    }
    let entries = outcomes(&db);
    assert_eq!(entries[0], ("intent".to_string(), None));
    assert_eq!(
        entries[1],
        ("outcome".to_string(), Some(expect_outcome.to_string())),
        "{entries:?}"
    );
    if expect_outcome == "unknown" {
        // Unknown outcomes stay open until the row is read back.
        // A different address for the same server is not trusted to settle it.
        assert!(reconcile(&db, &db.url()).is_empty());
        let found = reconcile(&db, &via);
        assert_eq!(
            found,
            [if expect_applied {
                "applied"
            } else {
                "not_applied"
            }]
        );
    }
    assert!(reconcile(&db, &via).is_empty(), "nothing left open");
    assert_code(&db.locksmith(&["audit", "verify"], None), 0);
}

#[test]
fn cut_before_start_transaction() {
    cut("START TRANSACTION", 0, When::Before, false, 3, "failed");
}

#[test]
fn cut_after_start_transaction() {
    cut("START TRANSACTION", 0, When::After, false, 3, "failed");
}

#[test]
fn cut_before_the_update_is_prepared() {
    cut("UPDATE `sys_user`", 0, When::Before, false, 3, "unknown");
}

#[test]
fn cut_before_the_update_executes() {
    cut("UPDATE `sys_user`", 1, When::Before, false, 3, "unknown");
}

#[test]
fn cut_after_the_update_executes() {
    cut("UPDATE `sys_user`", 1, When::After, false, 3, "unknown");
}

#[test]
fn cut_before_commit() {
    cut("COMMIT", 0, When::Before, false, 7, "unknown");
}

#[test]
fn cut_after_commit_reaches_the_server() {
    cut("COMMIT", 0, When::After, true, 7, "unknown");
}

/// SIGKILL while the proxy stalls a statement: the intent has no outcome.
fn kill_at(pattern: &str, when: When, expect_applied: bool) {
    let db = TestDb::new(Vendor::RuoYi);
    let image = db.row_image("sys_user", "user_id", "100");
    let proxy = Proxy::start(
        db.upstream(),
        Trigger {
            pattern: pattern.as_bytes().to_vec(),
            skip: 0,
            when,
            fault: Fault::Hold,
        },
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
    let start = Instant::now();
    while !proxy.hit.load(Ordering::SeqCst) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "trigger never fired"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Let the server act on a forwarded COMMIT before the process dies.
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300));

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

#[test]
fn an_unwritable_journal_directory_refuses_the_write() {
    let db = TestDb::new(Vendor::RuoYi);
    assert_code(&db.locksmith(&reset_args(), Some("First#2026-pass\n")), 0);
    let image = db.row_image("sys_user", "user_id", "100");
    // Root ignores permission bits; a directory where SQLite must create its
    // rollback journal stops every write the same way a read-only directory does.
    let mut blocker = db.journal().into_os_string();
    blocker.push("-journal");
    std::fs::create_dir(&blocker).unwrap();
    let out = db.locksmith(&reset_args(), Some(&format!("{NEW}\n")));
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
    let out = db.locksmith_at(&url, &reset_args(), Some(&format!("{NEW}\n")));
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
