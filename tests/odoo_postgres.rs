//! Odoo on a real PostgreSQL: a reset through the CLI is accepted by Odoo's own
//! password context (passlib CryptContext as res_users._crypt_context builds it),
//! the previous password is rejected, `connectors check` passes, and the
//! PostgreSQL backend keeps the guarded-write protocol.

mod common;

use common::oracle::oracle_verify;
use common::pg::PgTestDb;
use common::{assert_code, connector_reset, json, line, stderr, stdout};
use serde_json::json;

const NEW: &str = "N3w!Pass_word-2026";
const OLD: &str = "Reset#2024";

/// Odoo's login path: an active user by login, then verify_and_update.
fn odoo_accepts(db: &PgTestDb, login: &str, password: &str) -> bool {
    let rows = db.rows(&format!(
        "SELECT password FROM res_users WHERE login = '{}' AND active",
        login.replace('\'', "''")
    ));
    rows.first().is_some_and(|r| {
        r[0] != "NULL" && oracle_verify("odoo", json!({ "password": password, "stored": r[0] }))
    })
}

/// The format Odoo 17's context writes: pbkdf2-sha512 at 600000 rounds, no rehash due.
fn assert_odoo_format(db: &PgTestDb, login: &str) {
    let stored = db.one(&format!(
        "SELECT password FROM res_users WHERE login = '{}'",
        login.replace('\'', "''")
    ));
    assert!(
        stored.starts_with("$pbkdf2-sha512$600000$"),
        "{login}: {stored}"
    );
    assert!(
        !oracle_verify("odoo_needs_update", json!({ "stored": stored })),
        "{login}: Odoo would rehash it"
    );
}

fn reset(db: &PgTestDb, login: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["--json"];
    args.extend(connector_reset("odoo", login, "INC-7 odoo", extra));
    db.locksmith(&args, Some(&line(NEW)))
}

#[test]
fn odoo_reset_is_accepted_by_odoos_crypt_context_and_needs_no_rehash() {
    let db = PgTestDb::new("odoo");
    let out = db.locksmith(&["--connector", "odoo", "connectors", "check"], None);
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("odoo (embedded:odoo.toml): ok on table `res_users`"),
        "{}",
        stdout(&out)
    );
    // Detection picks odoo on a PostgreSQL target.
    let out = db.locksmith(&["calibrate", "admin"], Some(&line(OLD)));
    assert_code(&out, 0);

    assert!(odoo_accepts(&db, "admin", OLD));
    let out = reset(&db, "admin", &[]);
    assert_code(&out, 0);
    assert!(!stdout(&out).contains(NEW) && !stderr(&out).contains(NEW));
    let doc = json(&out);
    let sql = doc["plan"]["sql"].as_str().unwrap();
    assert!(
        sql.starts_with("UPDATE \"res_users\" SET \"password\" = $1 WHERE \"id\" = $2")
            && sql.contains("\"password\" IS NOT DISTINCT FROM $4"),
        "{sql}"
    );
    assert!(
        odoo_accepts(&db, "admin", NEW),
        "Odoo rejects the value Locksmith wrote"
    );
    assert!(
        !odoo_accepts(&db, "admin", OLD),
        "the previous password still logs in"
    );
    assert_odoo_format(&db, "admin");
    let stored = db.one("SELECT password FROM res_users WHERE id = 2");

    let journal = String::from_utf8_lossy(&std::fs::read(db.journal()).unwrap()).into_owned();
    assert!(!journal.contains(NEW) && !journal.contains(&stored));
    let out = db.locksmith(&["audit", "verify"], None);
    assert_code(&out, 0);
    let out = db.locksmith(
        &["--connector", "odoo", "calibrate", "admin"],
        Some(&line(OLD)),
    );
    assert_code(&out, 8);
}

#[test]
fn odoo_admins_come_from_base_group_system_only() {
    let db = PgTestDb::new("odoo");
    let out = db.locksmith(
        &["--connector", "odoo", "--json", "lookup", "--admins"],
        None,
    );
    assert_code(&out, 0);
    let doc = json(&out);
    let ids: Vec<_> = common::account_fields(&doc, "id");
    // The decoy custom_mod.group_system points at group_user (users 1-4): not admins.
    assert_eq!(ids, ["1", "2"]);
    let out = db.locksmith(
        &["--connector", "odoo", "--json", "lookup", "--disabled"],
        None,
    );
    let ids: Vec<_> = common::account_fields(&json(&out), "login");
    assert_eq!(ids, ["__system__", "lisi"]);
    // ILIKE with the escape character: `_` matches literally.
    let out = db.locksmith(&["--connector", "odoo", "--json", "lookup", "__sys"], None);
    let ids: Vec<_> = common::account_fields(&json(&out), "login");
    assert_eq!(ids, ["__system__"]);
    let out = db.locksmith(&["--connector", "odoo", "--json", "lookup", "ZHANG"], None);
    assert_eq!(json(&out)["accounts"][0]["login"], "zhangsan");
    // Ranked: `#ID` compares the integer id as text; `s` starts the login of
    // the new user 5 and is inside the others', so 5 comes first.
    db.exec(
        "INSERT INTO res_partner (id, name, display_name, active, create_date) VALUES (6, 'Sa', 'Sa', true, now()); \
         INSERT INTO res_users (id, company_id, partner_id, active, login, password, share, create_date) \
         VALUES (5, 1, 6, true, 'sa', NULL, false, now())",
    );
    let ids = |args: &[&str]| {
        let mut all = vec!["--connector", "odoo", "--json", "lookup"];
        all.extend_from_slice(args);
        let out = db.locksmith(&all, None);
        assert_code(&out, 0);
        json(&out)
    };
    assert_eq!(common::account_fields(&ids(&["#3"]), "id"), ["3"]);
    assert!(common::account_fields(&ids(&["#3x"]), "id").is_empty());
    let first = ids(&["s", "--limit", "2"]);
    assert_eq!(common::account_fields(&first, "id"), ["5", "1"]);
    let next = first["next"].as_str().expect("a next page").to_string();
    let second = ids(&["s", "--limit", "2", "--after", &next]);
    assert_eq!(common::account_fields(&second, "id"), ["3", "4"]);
}

#[test]
fn odoo_reset_with_unlock_activates_and_a_lower_round_value_is_replaced() {
    let db = PgTestDb::new("odoo");
    // The oracle refuses a value in clear (Odoo's "plaintext" scheme is left out).
    assert!(!oracle_verify(
        "odoo",
        json!({ "password": NEW, "stored": NEW })
    ));
    assert!(
        !odoo_accepts(&db, "lisi", OLD),
        "inactive users cannot log in"
    );
    let out = reset(&db, "lisi", &["--unlock"]);
    assert_code(&out, 0);
    assert_eq!(db.one("SELECT active FROM res_users WHERE id = 4"), "t");
    assert!(odoo_accepts(&db, "lisi", NEW));
    assert_odoo_format(&db, "lisi");

    // 25000 rounds is Odoo's own older value: same shape, replaced by 600000.
    assert!(odoo_accepts(&db, "zhangsan", "admin"));
    let out = reset(&db, "zhangsan", &[]);
    assert_code(&out, 0);
    assert!(odoo_accepts(&db, "zhangsan", NEW));
    assert!(!odoo_accepts(&db, "zhangsan", "admin"));
    assert_odoo_format(&db, "zhangsan");
}

#[test]
fn odoo_verification_failure_rolls_back_on_postgres() {
    let db = PgTestDb::new("odoo");
    // A trigger rewrites the password on UPDATE: verification must fail and roll back.
    db.exec(
        "CREATE FUNCTION mangle() RETURNS trigger AS $$ BEGIN NEW.password := 'plain'; RETURN NEW; END $$ LANGUAGE plpgsql; \
         CREATE TRIGGER t BEFORE UPDATE ON res_users FOR EACH ROW EXECUTE FUNCTION mangle();",
    );
    let before = db.one("SELECT password FROM res_users WHERE id = 2");
    let out = reset(&db, "admin", &[]);
    assert_code(&out, 5);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(said.contains("rolled back"), "{said}");
    assert_eq!(
        db.one("SELECT password FROM res_users WHERE id = 2"),
        before
    );
    let out = db.locksmith(&["--json", "audit", "list"], None);
    let entries = json(&out)["entries"].as_array().unwrap().clone();
    assert!(
        entries.iter().any(|e| e["outcome"] == "rolled_back"),
        "{entries:?}"
    );
}

#[test]
fn postgres_tls_required_without_a_trusted_certificate_is_refused_clearly() {
    let db = PgTestDb::new("odoo");
    let url = db.url().replace("tls=disabled", "tls=required");
    let out = common::run_locksmith(
        &[
            "--target",
            &url,
            "--journal",
            db.journal().to_str().unwrap(),
            "--connector",
            "odoo",
            "lookup",
        ],
        None,
    );
    // The shared server has Debian's self-signed (snakeoil) certificate, or no TLS at all:
    // either way a verified TLS session is impossible and the error says what to do
    // (tests/pg_tls.rs covers the modes against a server with a test CA).
    assert_code(&out, 3);
    let err = stderr(&out);
    assert!(
        (err.contains("not trusted") && err.contains("ca=")) || err.contains("does not offer TLS"),
        "{err}"
    );
}

#[test]
fn odoo_offboarding_archives_the_user_refuses_the_last_admin_and_undoes() {
    let db = PgTestDb::new("odoo");
    let list = db.dir.path().join("departed.txt");
    std::fs::write(&list, "zhangsan\nlisi\nadmin\n").unwrap();
    let f = list.display().to_string();
    let run = |extra: &[&str]| {
        let mut args = vec!["--connector", "odoo", "--json", "offboard", "--from", &f];
        args.extend_from_slice(&["--reason", "HR-7 odoo"]);
        args.extend_from_slice(extra);
        db.locksmith(&args, None)
    };
    let out = run(&["--dry-run"]);
    assert_code(&out, 0);
    let doc = json(&out);
    let counts = &doc["summary"]["counts"];
    assert_eq!(counts["would_disable"], 1, "{doc}");
    assert_eq!(counts["already_disabled"], 1, "{doc}");
    // admin (#2) is the only enabled member of base.group_system: kept.
    assert_eq!(counts["last_admin"], 1, "{doc}");
    let out = run(&["--yes"]);
    assert_code(&out, 0);
    let batch = json(&out)["summary"]["batch"].as_str().unwrap().to_string();
    // Odoo's own archive: active = false, and its login path no longer finds the user.
    assert_eq!(
        db.one("SELECT active FROM res_users WHERE login = 'zhangsan'"),
        "f"
    );
    assert!(!odoo_accepts(&db, "zhangsan", OLD));
    assert_eq!(
        db.one("SELECT active FROM res_users WHERE login = 'admin'"),
        "t"
    );
    let out = db.locksmith(
        &[
            "--connector",
            "odoo",
            "--json",
            "offboard",
            "--undo",
            &batch,
            "--reason",
            "wrong list",
            "--yes",
        ],
        None,
    );
    assert_code(&out, 0);
    assert_eq!(json(&out)["result"]["written"], 1);
    assert_eq!(
        db.one("SELECT active FROM res_users WHERE login = 'zhangsan'"),
        "t"
    );
    assert_eq!(
        db.one("SELECT active FROM res_users WHERE login = 'lisi'"),
        "f"
    );
}
