//! Two sessions at once (issue 17) on PostgreSQL: the reconcile's locking
//! read (`FOR SHARE` under `lock_timeout`) waits for a transaction holding
//! the row, and a database whose sessions are read-only refuses a reset
//! before any intent.

mod common;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::pg::PgTestDb;
use common::{assert_code, json, stderr};

fn entries(db: &PgTestDb) -> Vec<serde_json::Value> {
    let out = db.locksmith(&["--json", "audit", "list"], None);
    assert_code(&out, 0);
    json(&out)["entries"].as_array().unwrap().clone()
}

fn reset(db: &PgTestDb, password: &str) -> std::process::Output {
    db.locksmith(
        &[
            "--connector",
            "odoo",
            "--json",
            "reset",
            "zhangsan",
            "--reason",
            "pg sessions",
            "--new-password-stdin",
            "--yes",
        ],
        Some(&format!("{password}\n")),
    )
}

/// `audit reconcile` with a lock-wait: what it found, and how long it took.
fn reconcile(db: &PgTestDb, lock_wait: u32) -> (Vec<String>, Duration) {
    let url = format!("{}&lock-wait={lock_wait}", db.url());
    let journal = db.journal().display().to_string();
    let start = Instant::now();
    let out = common::run_locksmith(
        &[
            "--target",
            &url,
            "--journal",
            &journal,
            "--connector",
            "odoo",
            "--json",
            "audit",
            "reconcile",
        ],
        None,
    );
    let took = start.elapsed();
    assert_code(&out, 0);
    let found = json(&out)["reconciled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["found"].as_str().unwrap().to_string())
        .collect();
    (found, took)
}

/// A psql session that holds zhangsan's row in an open transaction for
/// `secs` seconds (killed if the test ends first).
struct Holder(Child);

impl Holder {
    fn start(db: &PgTestDb, secs: u32) -> Holder {
        let mut child = Command::new("psql")
            .args([
                "-h",
                &std::env::var("LOCKSMITH_TEST_PG_HOST").unwrap_or_else(|_| "127.0.0.1".into()),
                "-p",
                &std::env::var("LOCKSMITH_TEST_PG_PORT").unwrap_or_else(|_| "5432".into()),
                "-U",
                &common::pg::user(),
                "-d",
                &db.name,
                "-X",
                "-q",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("psql");
        let sql = format!(
            "BEGIN; UPDATE res_users SET active = active WHERE login = 'zhangsan'; SELECT pg_sleep({secs}); COMMIT;\n"
        );
        child
            .stdin
            .take()
            .unwrap()
            .write_all(sql.as_bytes())
            .unwrap();
        // Let the UPDATE take the row lock.
        std::thread::sleep(Duration::from_millis(500));
        Holder(child)
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_reconcile_waits_for_a_transaction_holding_the_row() {
    let db = PgTestDb::new("odoo");
    let new = "Pg#Sessions-2026";
    assert_code(&reset(&db, new), 0);
    // As if the writer died after COMMIT: its outcome is gone, the intent open.
    let all = entries(&db);
    let outcome = all.iter().find(|e| e["kind"] == "outcome").unwrap();
    common::forget_outcome(&db.journal(), outcome["id"].as_i64().unwrap());
    // The row is held past a 1 s lock-wait: left open, in progress, nothing recorded.
    let _holder = Holder::start(&db, 5);
    let (found, took) = reconcile(&db, 1);
    assert_eq!(found, ["in_progress"]);
    assert!(took >= Duration::from_millis(900), "it waited: {took:?}");
    assert_eq!(entries(&db).len(), 1, "only the intent");
    // A lock-wait longer than the hold: waits, then records what the row holds.
    let (found, took) = reconcile(&db, 20);
    assert_eq!(found, ["applied"]);
    assert!(took >= Duration::from_millis(1000), "it waited: {took:?}");
    let all = entries(&db);
    assert_eq!(all.last().unwrap()["kind"], "reconcile");
    assert_eq!(all.last().unwrap()["outcome"], "committed");
}

#[test]
fn a_read_only_database_refuses_a_reset_before_any_intent() {
    let db = PgTestDb::new("odoo");
    let before = db.one("SELECT password FROM res_users WHERE login = 'zhangsan'");
    db.exec(&format!(
        "ALTER DATABASE \"{}\" SET default_transaction_read_only = on",
        db.name
    ));
    let out = reset(&db, "Pg#ReadOnly-2026");
    assert_code(&out, 5);
    let doc = json(&out);
    let err = doc["error"].as_str().unwrap();
    assert!(
        err.contains("read-only") && err.contains("transaction_read_only=on"),
        "{err}: {}",
        stderr(&out)
    );
    assert!(entries(&db).is_empty(), "no intent was journaled");
    assert_eq!(
        db.one("SELECT password FROM res_users WHERE login = 'zhangsan'"),
        before
    );
}
