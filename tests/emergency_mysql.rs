//! Issue 5, "done when": restore-admin repairs each kind of damage on the
//! vendors' real install schemas and the restored password verifies with the
//! vendor's own verifier; a drill leaves the target byte-identical; check finds
//! default passwords and a single-admin setup; status flags an overdue
//! break-glass entry until it is closed.

mod common;

use common::vendor_oracle::java_verify;
use common::{TestDb, Vendor, assert_code, json, stderr, stdout};

fn args<'a>(vendor: Vendor, rest: &[&'a str]) -> Vec<&'a str> {
    let mut a = vendor.args();
    a.extend_from_slice(rest);
    a
}

/// restore-admin --yes --json; returns the document (with the one-time password).
fn restore(db: &TestDb, extra: &[&str]) -> serde_json::Value {
    let mut rest = vec![
        "--json",
        "restore-admin",
        "--reason",
        "test: break glass",
        "--yes",
    ];
    rest.extend_from_slice(extra);
    let out = db.locksmith(&args(db.vendor, &rest), None);
    assert_code(&out, 0);
    let doc = json(&out);
    let pw = doc["temporary_password"]
        .as_str()
        .expect("password shown once");
    assert_eq!(pw.len(), 20);
    assert!(!stderr(&out).contains(pw));
    let journal = String::from_utf8_lossy(&std::fs::read(db.journal()).unwrap()).into_owned();
    assert!(!journal.contains(pw), "the password reached the journal");
    doc
}

fn problems(doc: &serde_json::Value) -> Vec<String> {
    doc["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap().to_string())
        .collect()
}

fn ruoyi_accepts(db: &TestDb, login: &str, password: &str) -> bool {
    let r = db.rows(&format!(
        "SELECT password, salt FROM sys_user WHERE login_name = '{login}' AND del_flag = '0' AND status = '0'"
    ));
    r.first().is_some_and(|r| {
        java_verify(
            "ruoyi",
            &[
                ("login", login),
                ("password", password),
                ("salt", &r[1]),
                ("stored", &r[0]),
            ],
        )
    })
}

fn checksums(db: &TestDb, tables: &[&str]) -> Vec<Vec<String>> {
    db.rows(&format!("CHECKSUM TABLE {}", tables.join(", ")))
}

fn verify_chain(db: &TestDb) {
    let out = db.locksmith(&["audit", "verify"], None);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("chain intact"), "{}", stdout(&out));
}

/// Each kind of damage to RuoYi's admin (user_id 1), repaired by one plan; the
/// vendor's verifier accepts the new password and rejects the seed's admin123.
#[test]
fn ruoyi_restore_repairs_each_kind_of_damage() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "disabled",
            "UPDATE sys_user SET status = '1' WHERE user_id = 1",
            "status",
        ),
        (
            "deleted",
            "UPDATE sys_user SET del_flag = '2' WHERE user_id = 1",
            "del_flag",
        ),
        (
            "role_link_missing",
            "DELETE FROM sys_user_role WHERE user_id = 1",
            "link",
        ),
    ];
    for (code, damage, _) in cases {
        let db = TestDb::new(Vendor::RuoYi);
        assert!(ruoyi_accepts(&db, "admin", "admin123"), "seed password");
        db.exec(damage);
        // Only a missing role link leaves the password itself working.
        assert_eq!(
            ruoyi_accepts(&db, "admin", "admin123"),
            *code == "role_link_missing",
            "{code}"
        );
        let doc = restore(&db, &[]);
        assert_eq!(problems(&doc), vec![code.to_string()], "{doc}");
        let pw = doc["temporary_password"].as_str().unwrap();
        assert_eq!(
            db.rows("SELECT status, del_flag FROM sys_user WHERE user_id = 1"),
            vec![vec!["0".to_string(), "0".to_string()]]
        );
        assert_eq!(
            db.one("SELECT COUNT(*) FROM sys_user_role WHERE user_id = 1 AND role_id = 1"),
            "1"
        );
        assert!(
            ruoyi_accepts(&db, "admin", pw),
            "{code}: vendor rejects the new password"
        );
        assert!(
            !ruoyi_accepts(&db, "admin", "admin123"),
            "{code}: old password still works"
        );
        verify_chain(&db);
    }
}

#[test]
fn ruoyi_restore_recreates_a_deleted_row_with_its_role_link() {
    let db = TestDb::new(Vendor::RuoYi);
    db.exec("DELETE FROM sys_user_role WHERE user_id = 1; DELETE FROM sys_user WHERE user_id = 1");
    let doc = restore(&db, &[]);
    assert_eq!(problems(&doc), vec!["missing"]);
    assert_eq!(
        doc["plan"]["statements"].as_array().unwrap().len(),
        2,
        "{doc}"
    );
    assert!(
        doc["plan"]["sql"]
            .as_str()
            .unwrap()
            .contains("WHERE NOT EXISTS")
    );
    let pw = doc["temporary_password"].as_str().unwrap();
    assert_eq!(
        db.rows("SELECT login_name, status, del_flag, dept_id FROM sys_user WHERE user_id = 1"),
        vec![
            vec!["admin", "0", "0", "103"]
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>()
        ]
    );
    assert_eq!(
        db.one("SELECT COUNT(*) FROM sys_user_role WHERE user_id = 1 AND role_id = 1"),
        "1"
    );
    assert!(ruoyi_accepts(&db, "admin", pw));
    // The restored admin is healthy now: a second diagnosis finds nothing wrong.
    let again = db.locksmith(
        &args(
            Vendor::RuoYi,
            &["--json", "restore-admin", "--reason", "x", "--dry-run"],
        ),
        None,
    );
    assert_code(&again, 0);
    assert_eq!(json(&again)["problems"].as_array().unwrap().len(), 0);
}

/// WukongCRM: the row and its role link gone; the re-created row is user_id
/// 14773 with role 180162, and the vendor's verifier accepts the password.
#[test]
fn wukong_restore_recreates_user_14773_with_role_180162() {
    let db = TestDb::new(Vendor::Wukong11);
    db.exec(
        "DELETE FROM wk_admin_user_role WHERE user_id = 14773; DELETE FROM wk_admin_user WHERE user_id = 14773",
    );
    let doc = restore(&db, &["--account", "13800000000"]);
    assert_eq!(problems(&doc), vec!["missing"]);
    let pw = doc["temporary_password"].as_str().unwrap();
    let row = db.rows(
        "SELECT user_id, username, mobile, status, is_del FROM wk_admin_user WHERE username = '13800000000'",
    );
    assert_eq!(
        row,
        vec![
            vec!["14773", "13800000000", "13800000000", "1", "0"]
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>()
        ]
    );
    assert_eq!(
        db.one("SELECT role_id FROM wk_admin_user_role WHERE user_id = 14773"),
        "180162"
    );
    let r = &db.rows("SELECT password, salt FROM wk_admin_user WHERE user_id = 14773")[0];
    let verify = |p: &str| {
        java_verify(
            "wukong11",
            &[
                ("login", "13800000000"),
                ("password", p),
                ("salt", &r[1]),
                ("stored", &r[0]),
            ],
        )
    };
    assert!(
        verify(pw),
        "the vendor's verifier rejects the restored password"
    );
    assert!(!verify("Reset#2024"), "the seed password must not verify");
    verify_chain(&db);
}

#[test]
fn wukong_restore_repairs_disabled_deleted_and_unlinked_in_one_transaction() {
    let db = TestDb::new(Vendor::Wukong11);
    db.exec(
        "UPDATE wk_admin_user SET status = 0, is_del = 1 WHERE user_id = 14773; DELETE FROM wk_admin_user_role WHERE user_id = 14773",
    );
    let doc = restore(&db, &[]);
    let mut got = problems(&doc);
    got.sort();
    assert_eq!(got, vec!["deleted", "disabled", "role_link_missing"]);
    assert_eq!(doc["plan"]["statements"].as_array().unwrap().len(), 2);
    assert_eq!(
        db.rows("SELECT status, is_del FROM wk_admin_user WHERE user_id = 14773"),
        vec![vec!["1".to_string(), "0".to_string()]]
    );
    assert_eq!(
        db.one(
            "SELECT COUNT(*) FROM wk_admin_user_role WHERE user_id = 14773 AND role_id = 180162"
        ),
        "1"
    );
}

fn jeecg_verify(db: &TestDb, password: &str) -> bool {
    let r = db.rows(
        "SELECT password, salt FROM sys_user WHERE username = 'admin' AND del_flag = 0 AND status = 1",
    );
    r.first().is_some_and(|r| {
        java_verify(
            "jeecg",
            &[
                ("login", "admin"),
                ("password", password),
                ("salt", &r[1]),
                ("stored", &r[0]),
            ],
        )
    })
}

/// JeecgBoot: frozen (status 2, the vendor's lock) and unlinked from role
/// `admin` (found through sys_role); then the row deleted and re-created.
#[test]
fn jeecg_restore_unlocks_relinks_and_recreates() {
    let db = TestDb::new(Vendor::Jeecg);
    let admin = "e9ca23d68d884d4ebb19d07889727dae";
    let admin_role = "f6817f48af4fb3af11b9e8bf182f618b";
    db.exec(&format!(
        "UPDATE sys_user SET status = 2 WHERE id = '{admin}'; DELETE FROM sys_user_role WHERE user_id = '{admin}' AND role_id = '{admin_role}'"
    ));
    let doc = restore(&db, &[]);
    let mut got = problems(&doc);
    got.sort();
    assert_eq!(got, vec!["disabled", "locked", "role_link_missing"]);
    let pw = doc["temporary_password"].as_str().unwrap().to_string();
    assert!(jeecg_verify(&db, &pw));
    let link = db.rows(&format!(
        "SELECT id FROM sys_user_role WHERE user_id = '{admin}' AND role_id = '{admin_role}'"
    ));
    assert_eq!(link.len(), 1);
    assert_eq!(link[0][0].len(), 32, "a 32-character id for the link row");

    db.exec(&format!(
        "DELETE FROM sys_user_role WHERE user_id = '{admin}'; DELETE FROM sys_user WHERE id = '{admin}'"
    ));
    let doc = restore(&db, &[]);
    assert_eq!(problems(&doc), vec!["missing"]);
    let pw = doc["temporary_password"].as_str().unwrap();
    assert!(jeecg_verify(&db, pw));
    assert_eq!(
        db.one(&format!(
            "SELECT COUNT(*) FROM sys_user_role WHERE user_id = '{admin}' AND role_id = '{admin_role}'"
        )),
        "1"
    );
}

#[test]
fn ruoyi_vue_restore_repairs_a_soft_deleted_admin() {
    let db = TestDb::new(Vendor::RuoYiVue);
    db.exec("UPDATE sys_user SET del_flag = '2' WHERE user_id = 1");
    let doc = restore(&db, &[]);
    assert_eq!(problems(&doc), vec!["deleted"]);
    let pw = doc["temporary_password"].as_str().unwrap();
    let stored = db.one("SELECT password FROM sys_user WHERE user_id = 1 AND del_flag = '0'");
    assert!(java_verify(
        "ruoyi-vue",
        &[("password", pw), ("stored", &stored)]
    ));
    assert!(!java_verify(
        "ruoyi-vue",
        &[("password", "admin123"), ("stored", &stored)]
    ));
}

#[test]
fn restore_dry_run_writes_nothing() {
    let db = TestDb::new(Vendor::RuoYi);
    db.exec("DELETE FROM sys_user_role WHERE user_id = 1; DELETE FROM sys_user WHERE user_id = 1");
    let before = checksums(&db, &["sys_user", "sys_user_role"]);
    let out = db.locksmith(
        &args(
            Vendor::RuoYi,
            &["restore-admin", "--reason", "x", "--dry-run"],
        ),
        None,
    );
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("INSERT INTO `sys_user`"),
        "{}",
        stdout(&out)
    );
    assert_eq!(checksums(&db, &["sys_user", "sys_user_role"]), before);
    assert!(!db.journal().exists());
}

/// status flags an open break-glass entry as overdue (with a limit of 0 hours,
/// since a test cannot wait 24), not with the default limit, and not once closed.
#[test]
fn status_flags_an_overdue_break_glass_entry_until_it_is_closed() {
    let db = TestDb::new(Vendor::RuoYi);
    let out = db.locksmith(&["status"], None);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("no open break-glass entries"));
    let doc = restore(&db, &[]);
    let entry = doc["journal_entry"].as_i64().unwrap();

    let out = db.locksmith(&["status"], None);
    assert_code(&out, 0);
    assert!(stdout(&out).contains(&format!("break-glass entry {entry}")));
    let out = db.locksmith(&["--json", "status", "--max-open-hours", "0"], None);
    assert_code(&out, 8);
    assert_eq!(json(&out)["overdue"], 1);
    // Configurable through the environment too.
    let out = db.locksmith_env(&["status"], None, &[("LOCKSMITH_MAX_OPEN_HOURS", "0")]);
    assert_code(&out, 8);
    assert!(stdout(&out).contains("OVERDUE"));

    // Only break-glass entries can be closed, once.
    let out = db.locksmith(
        &["audit", "close", &(entry + 1).to_string(), "--reason", "x"],
        None,
    );
    assert_code(&out, 2);
    let out = db.locksmith(
        &[
            "audit",
            "close",
            &entry.to_string(),
            "--reason",
            "password rotated, sealed",
        ],
        None,
    );
    assert_code(&out, 0);
    let out = db.locksmith(
        &["audit", "close", &entry.to_string(), "--reason", "again"],
        None,
    );
    assert_code(&out, 5);
    let out = db.locksmith(&["status", "--max-open-hours", "0"], None);
    assert_code(&out, 0);
    verify_chain(&db);
}

/// A drill that re-creates WukongCRM's admin (two INSERTs) leaves both tables
/// byte-identical, reports its step timings, and is journaled as a drill.
#[test]
fn drill_leaves_the_target_byte_identical_and_reports_timings() {
    let db = TestDb::new(Vendor::Wukong11);
    db.exec(
        "DELETE FROM wk_admin_user_role WHERE user_id = 14773; DELETE FROM wk_admin_user WHERE user_id = 14773",
    );
    let tables = ["wk_admin_user", "wk_admin_user_role"];
    let before = checksums(&db, &tables);
    let report = db.dir.path().join("drill.md");
    let report_s = report.display().to_string();
    let out = db.locksmith(
        &args(
            Vendor::Wukong11,
            &["drill", "--account", "13800000000", "--report", &report_s],
        ),
        None,
    );
    assert_code(&out, 0);
    assert_eq!(checksums(&db, &tables), before, "the drill left a trace");
    assert_eq!(
        db.one("SELECT COUNT(*) FROM wk_admin_user WHERE user_id = 14773"),
        "0"
    );
    let md = std::fs::read_to_string(&report).unwrap();
    for step in [
        "connect",
        "locate the emergency admin",
        "plan the restore",
        "verify",
        "rollback",
    ] {
        assert!(
            md.contains(&format!("| {step} |")),
            "step {step} missing:\n{md}"
        );
    }
    assert!(md.contains("time to recover"), "{md}");
    assert!(
        md.contains("## Posture checks") && md.contains("## Journal chain"),
        "{md}"
    );
    assert!(md.contains("intact"), "{md}");
    assert!(stderr(&out).contains("drill: verify"), "progress on stderr");

    let out = db.locksmith(
        &args(Vendor::Wukong11, &["--json", "drill", "--format", "json"]),
        None,
    );
    assert_code(&out, 0);
    let doc = json(&out);
    assert_eq!(doc["rolled_back"], true);
    assert!(doc["steps"].as_array().unwrap().len() >= 6);
    // Time to recover: every step up to the verified write, not the rollback
    // or the journal's outcome; the total includes them.
    let steps = doc["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
    let verify = names
        .iter()
        .position(|n| *n == "verify")
        .expect("a verify step");
    assert_eq!(names[verify + 1], "rollback", "{names:?}");
    let until_verified: f64 = steps[..=verify]
        .iter()
        .filter(|s| !s["step"].as_str().unwrap().starts_with("journal outcome"))
        .map(|s| s["millis"].as_f64().unwrap())
        .sum();
    let ttr = doc["time_to_recover_ms"].as_f64().unwrap();
    assert!(
        (ttr - until_verified).abs() < 1e-6,
        "{ttr} vs {until_verified}: {names:?}"
    );
    let total = doc["total_ms"].as_f64().unwrap();
    assert!(
        total > ttr,
        "the rollback and the outcome come after recovery"
    );
    assert_eq!(doc["chain"]["ok"], true);
    assert_eq!(checksums(&db, &tables), before);

    let list = json(&db.locksmith(&["--json", "audit", "list"], None));
    let kinds: Vec<&str> = list["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["drill", "outcome", "drill", "outcome"]);
    // A drill opens no break-glass entry.
    assert_code(&db.locksmith(&["status", "--max-open-hours", "0"], None), 0);
    verify_chain(&db);
}

#[test]
fn drill_refuses_myisam_unless_on_a_copy() {
    let db = TestDb::new(Vendor::RuoYi);
    db.exec("ALTER TABLE sys_user ENGINE = MyISAM");
    let before = checksums(&db, &["sys_user", "sys_user_role"]);
    let out = db.locksmith(&args(Vendor::RuoYi, &["drill"]), None);
    assert_code(&out, 5);
    assert!(stderr(&out).contains("--on-copy"), "{}", stderr(&out));
    assert_eq!(checksums(&db, &["sys_user", "sys_user_role"]), before);

    let copy = TestDb::new(Vendor::RuoYi);
    copy.exec("ALTER TABLE sys_user ENGINE = MyISAM");
    let copy_before = checksums(&copy, &["sys_user"]);
    assert!(ruoyi_accepts(&copy, "admin", "admin123"));
    let out = db.locksmith(
        &args(
            Vendor::RuoYi,
            &["--json", "drill", "--on-copy", &copy.url()],
        ),
        None,
    );
    assert_code(&out, 0);
    let doc = json(&out);
    assert_eq!(doc["on_copy"], true);
    assert_eq!(
        doc["rolled_back"], false,
        "MyISAM keeps the change: on the copy"
    );
    assert_eq!(checksums(&db, &["sys_user", "sys_user_role"]), before);
    // The drill wrote the copy: its admin no longer has the seed password.
    assert_ne!(
        checksums(&copy, &["sys_user"]),
        copy_before,
        "the copy was not written"
    );
    assert!(
        !ruoyi_accepts(&copy, "admin", "admin123"),
        "the copy's admin was reset"
    );
    assert!(
        ruoyi_accepts(&db, "admin", "admin123"),
        "the original was not"
    );
}

/// RuoYi's seed leaves admin and ry on admin123: check names both (never the
/// password) and fails; with one admin left it fails on that too.
#[test]
fn check_finds_default_passwords_and_a_single_admin() {
    let db = TestDb::new(Vendor::RuoYi);
    // Without --all-accounts only the admins (and the emergency admin) are tried.
    let out = db.locksmith(&args(Vendor::RuoYi, &["--json", "check"]), None);
    assert_code(&out, 8);
    let doc = json(&out);
    let tried = doc["posture"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "default_passwords")
        .cloned()
        .unwrap();
    assert_eq!(
        tried["accounts"],
        serde_json::json!(["admin (#1)"]),
        "{tried}"
    );
    assert!(
        tried["message"]
            .as_str()
            .unwrap()
            .contains("--all-accounts")
    );
    assert_eq!(doc["posture"]["all_accounts"], false);
    let out = db.locksmith(
        &args(Vendor::RuoYi, &["--json", "check", "--all-accounts"]),
        None,
    );
    assert_code(&out, 8);
    assert!(!stdout(&out).contains("admin123"));
    let doc = json(&out);
    let find = |doc: &serde_json::Value, check: &str| {
        doc["posture"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == check)
            .cloned()
            .unwrap()
    };
    let d = find(&doc, "default_passwords");
    assert_eq!(d["level"], "fail");
    assert_eq!(d["accounts"], serde_json::json!(["admin (#1)", "ry (#2)"]));
    assert_eq!(find(&doc, "admins")["level"], "ok", "admin and ops_admin");

    db.exec("DELETE FROM sys_user_role WHERE user_id = 105");
    let out = db.locksmith(&args(Vendor::RuoYi, &["check"]), None);
    assert_code(&out, 8);
    assert!(stdout(&out).contains("FAIL admins"), "{}", stdout(&out));
    assert!(!stdout(&out).contains("admin123"));
}

/// A posture that passes: two enabled admins, a healthy emergency admin, no
/// default password (WukongCRM fixture plus a second admin): exit 0.
#[test]
fn check_passes_on_a_sound_setup() {
    let db = TestDb::new(Vendor::Wukong11);
    let out = db.locksmith(&args(Vendor::Wukong11, &["check"]), None);
    assert_code(&out, 8);
    db.exec("INSERT INTO wk_admin_user_role (user_id, role_id) VALUES (14777, 180162)");
    let out = db.locksmith(&args(Vendor::Wukong11, &["check"]), None);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("posture ok"), "{}", stdout(&out));
    // Seed one account on the vendor's default 123456: the check fails again.
    db.exec(
        "UPDATE wk_admin_user SET password = MD5(CONCAT(username, '123456', 'erp', salt)) WHERE user_id = 14775",
    );
    let out = db.locksmith(&args(Vendor::Wukong11, &["--json", "check"]), None);
    assert_code(&out, 0);
    let out = db.locksmith(
        &args(Vendor::Wukong11, &["--json", "check", "--all-accounts"]),
        None,
    );
    assert_code(&out, 8);
    assert!(stdout(&out).contains("13900000002 (#14775)"));
}
