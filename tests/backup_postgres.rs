//! Issue 12, restore from a backup, on PostgreSQL (Odoo): a password changed
//! after the backup comes back from a restored copy and from the pg_dump
//! plain file (COPY blocks, and `--inserts`); Odoo's own CryptContext accepts
//! the old password again, the neighbours are untouched, the journal says
//! `method: backup`, `audit verify` passes, and `calibrate --from-backup`
//! checks the backup's value and writes nothing.

mod common;

use std::path::Path;
use std::process::Command;

use common::oracle::oracle_verify;
use common::pg::{PgTestDb, user};
use common::{assert_code, json, stdout};
use serde_json::json;

const NEW: &str = "Chang3d!after-the-backup";
const OLD: &str = "Reset#2024";

fn host() -> String {
    std::env::var("LOCKSMITH_TEST_PG_HOST").unwrap_or_else(|_| "127.0.0.1".into())
}

fn port() -> String {
    std::env::var("LOCKSMITH_TEST_PG_PORT").unwrap_or_else(|_| "5432".into())
}

fn odoo_accepts(db: &PgTestDb, password: &str) -> bool {
    let stored = db.one("SELECT password FROM res_users WHERE login = 'admin' AND active");
    stored != "NULL" && oracle_verify("odoo", json!({ "password": password, "stored": stored }))
}

fn pg_dump(db: &str, flags: &[&str], path: &Path) {
    let out = Command::new("pg_dump")
        .args(["-h", &host(), "-p", &port(), "-U", &user()])
        .args(flags)
        .arg(db)
        .output()
        .expect("pg_dump must be installed (scripts/ensure-services installs postgresql-client)");
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(path, out.stdout).unwrap();
}

fn psql(db: &str, args: &[&str]) {
    let out = Command::new("psql")
        .args(["-h", &host(), "-p", &port(), "-U", &user(), "-d", db])
        .args(["-v", "ON_ERROR_STOP=1", "-X", "-q"])
        .args(args)
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `<name>_restore`, loaded from a plain dump; dropped afterwards.
struct SideDb(String);

impl SideDb {
    fn restore(db: &PgTestDb, dump: &Path) -> SideDb {
        let side = SideDb(format!("{}_restore", db.name));
        psql(
            "postgres",
            &["-c", &format!("CREATE DATABASE \"{}\"", side.0)],
        );
        psql(&side.0, &["-f", dump.to_str().unwrap()]);
        side
    }

    fn url(&self) -> String {
        format!(
            "postgres://{}@{}:{}/{}?tls=disabled",
            user(),
            host(),
            port(),
            self.0
        )
    }
}

impl Drop for SideDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                "-h",
                &host(),
                "-p",
                &port(),
                "-U",
                &user(),
                "-d",
                "postgres",
            ])
            .args(["-X", "-q", "-c"])
            .arg(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.0
            ))
            .output();
    }
}

fn change_password(db: &PgTestDb) {
    let out = db.locksmith(
        &[
            "--connector",
            "odoo",
            "reset",
            "admin",
            "--new-password-stdin",
            "--reason",
            "the wrong account was reset",
            "--yes",
        ],
        Some(&format!("{NEW}\n")),
    );
    assert_code(&out, 0);
    assert!(!odoo_accepts(db, OLD) && odoo_accepts(db, NEW));
}

fn restore(db: &PgTestDb, source: &str) -> serde_json::Value {
    let out = db.locksmith(
        &[
            "--connector",
            "odoo",
            "--json",
            "reset",
            "admin",
            "--from-backup",
            source,
            "--reason",
            "INC-12 restore the old password",
            "--yes",
        ],
        None,
    );
    assert_code(&out, 0);
    let doc = json(&out);
    assert_eq!(doc["method"], "backup", "{doc}");
    assert!(odoo_accepts(db, OLD), "Odoo rejects the restored value");
    assert!(!odoo_accepts(db, NEW));
    doc
}

fn neighbours(db: &PgTestDb) -> Vec<Vec<String>> {
    db.rows("SELECT id, login, password, active FROM res_users WHERE id <> 2 ORDER BY id")
}

#[test]
fn odoo_password_comes_back_from_a_copy_and_from_pg_dump_plain_files() {
    let db = PgTestDb::new("odoo");
    assert!(odoo_accepts(&db, OLD));
    let copy_format = db.dir.path().join("odoo.sql");
    pg_dump(&db.name, &[], &copy_format);
    let inserts = db.dir.path().join("odoo-inserts.sql");
    pg_dump(&db.name, &["--inserts"], &inserts);
    let side = SideDb::restore(&db, &copy_format);
    let before = neighbours(&db);

    // calibrate --from-backup: the backup's value accepts the old password; nothing is written.
    change_password(&db);
    let journal_len = std::fs::metadata(db.journal()).unwrap().len();
    let out = db.locksmith(
        &[
            "--connector",
            "odoo",
            "calibrate",
            "admin",
            "--from-backup",
            copy_format.to_str().unwrap(),
        ],
        Some(&format!("{OLD}\n")),
    );
    assert_code(&out, 0);
    assert!(stdout(&out).contains("in the backup"), "{}", stdout(&out));
    assert_eq!(std::fs::metadata(db.journal()).unwrap().len(), journal_len);
    assert!(odoo_accepts(&db, NEW), "calibrate wrote nothing");

    let doc = restore(&db, &side.url());
    assert_eq!(doc["backup"]["kind"], "copy");
    change_password(&db);
    let doc = restore(&db, copy_format.to_str().unwrap());
    assert_eq!(doc["backup"]["source"], "odoo.sql");
    change_password(&db);
    restore(&db, inserts.to_str().unwrap());
    assert_eq!(neighbours(&db), before, "a neighbour changed");

    let out = db.locksmith(&["audit", "export"], None);
    let methods = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["kind"] == "intent" && e["details"]["method"] == "backup")
        .count();
    assert_eq!(methods, 3);
    assert_code(&db.locksmith(&["audit", "verify"], None), 0);
}

#[test]
fn a_mysqldump_for_a_postgres_target_and_a_custom_archive_are_refused() {
    let db = PgTestDb::new("odoo");
    let archive = db.dir.path().join("odoo.dump");
    pg_dump(&db.name, &["-Fc"], &archive);
    let out = db.locksmith(
        &[
            "--connector",
            "odoo",
            "reset",
            "admin",
            "--from-backup",
            archive.to_str().unwrap(),
            "--reason",
            "INC-12",
            "--yes",
        ],
        None,
    );
    assert_code(&out, 5);
    let err = common::stderr(&out);
    assert!(err.contains("pg_restore -d"), "{err}");
    assert!(err.contains(&format!("{}_restore", db.name)), "{err}");
    let mysql = db.dir.path().join("crm.sql");
    std::fs::write(
        &mysql,
        "-- MySQL dump 10.13\n--\nCREATE TABLE `res_users` (\n  `id` int\n);\n",
    )
    .unwrap();
    let out = db.locksmith(
        &[
            "--connector",
            "odoo",
            "reset",
            "admin",
            "--from-backup",
            mysql.to_str().unwrap(),
            "--reason",
            "INC-12",
            "--yes",
        ],
        None,
    );
    assert_code(&out, 5);
    assert!(common::stderr(&out).contains("is a mysqldump dump, but the target is postgres"));
    assert!(odoo_accepts(&db, OLD), "nothing written");
}
