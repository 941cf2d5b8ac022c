//! Issue 6, "done when", for every MySQL connector: a reset through the CLI on
//! the vendor's schema is accepted by that vendor's own verification code
//! (PHP for the PHP vendors, the JDK + jBCrypt for the Java ones), the previous
//! password is rejected, and `connectors check` passes on the fixture.

mod common;

use common::vendor_oracle::{java_verify, php_verify};
use common::{TestDb, Vendor, assert_code, connector_reset, json, line, stderr, stdout};
use serde_json::json;

const NEW: &str = "N3w!Pass_word-2026";

fn q(s: &str) -> String {
    s.replace('\'', "''")
}

/// One row as strings, or None; NULL reads as "NULL".
fn row(db: &TestDb, sql: &str) -> Option<Vec<String>> {
    let mut rows = db.rows(sql);
    assert!(rows.len() <= 1, "{sql}: {rows:?}");
    rows.pop()
}

fn nul(s: &str) -> &str {
    if s == "NULL" { "" } else { s }
}

/// Would the vendor's login accept `password` for `login`? Reads the row the way
/// the vendor's login query does and runs the vendor's verification code.
fn vendor_accepts(db: &TestDb, vendor: Vendor, login: &str, password: &str) -> bool {
    let l = q(login);
    match vendor {
        Vendor::RuoYi => row(db, &format!("SELECT password, salt FROM sys_user WHERE login_name = '{l}' AND del_flag = '0'"))
            .is_some_and(|r| java_verify("ruoyi", &[("login", login), ("password", password), ("salt", &r[1]), ("stored", &r[0])])),
        Vendor::RuoYiVue => row(db, &format!("SELECT password FROM sys_user WHERE user_name = '{l}' AND del_flag = '0'"))
            .is_some_and(|r| java_verify("ruoyi-vue", &[("password", password), ("stored", &r[0])])),
        Vendor::Wukong11 => row(db, &format!("SELECT password, salt FROM wk_admin_user WHERE username = '{l}' AND is_del = 0"))
            .is_some_and(|r| java_verify("wukong11", &[("login", login), ("password", password), ("salt", &r[1]), ("stored", &r[0])])),
        Vendor::Jeecg => row(db, &format!("SELECT password, salt FROM sys_user WHERE username = '{l}' AND del_flag = 0"))
            .is_some_and(|r| java_verify("jeecg", &[("login", login), ("password", password), ("salt", &r[1]), ("stored", &r[0])])),
        // User::findUserPassword's conditions, then checkPasswordMD5.
        Vendor::SuiteCrm => row(db, &format!(
            "SELECT user_hash FROM users WHERE user_name = '{l}' AND deleted = 0 AND status != 'Inactive' \
             AND (portal_only IS NULL OR portal_only != '1') AND (is_group IS NULL OR is_group != '1')"
        ))
        .is_some_and(|r| php_verify("suitecrm", json!({ "password": password, "stored": nul(&r[0]) }))),
        // Users::doLogin: by user_name, status must be Active, crypt_type picks the check.
        Vendor::Vtiger => row(db, &format!(
            "SELECT crypt_type, user_password, status FROM vtiger_users WHERE user_name = '{l}' AND deleted = 0"
        ))
        .is_some_and(|r| {
            r[2] == "Active"
                && php_verify("vtiger", json!({ "password": password, "stored": nul(&r[1]), "login": login, "crypt_type": r[0] }))
        }),
        Vendor::EspoCrm => row(db, &format!(
            "SELECT password FROM `user` WHERE user_name = '{l}' AND deleted = 0 AND is_active = 1 AND type NOT IN ('api', 'system')"
        ))
        .is_some_and(|r| php_verify("espocrm", json!({ "password": password, "stored": nul(&r[0]) }))),
        Vendor::Dolibarr => {
            let setting = |name: &str| {
                row(db, &format!("SELECT value FROM llx_const WHERE name = '{name}'"))
                    .map(|r| r[0].clone())
                    .unwrap_or_default()
            };
            let (algo, salt) = (setting("MAIN_SECURITY_HASH_ALGO"), setting("MAIN_SECURITY_SALT"));
            row(db, &format!("SELECT pass_crypted, pass FROM llx_user WHERE login = '{l}' AND statut = 1"))
                .is_some_and(|r| {
                    php_verify("dolibarr", json!({
                        "password": password, "stored": nul(&r[0]), "pass": nul(&r[1]),
                        "algo": algo, "site_salt": salt,
                    }))
                })
        }
        Vendor::Crmeb => row(db, &format!("SELECT pwd, status FROM eb_system_admin WHERE account = '{l}' AND is_del = 0"))
            .is_some_and(|r| r[1] != "0" && php_verify("crmeb", json!({ "password": password, "stored": r[0] }))),
        Vendor::WukongPhp11 | Vendor::WukongPhp9 => {
            let table = format!("{}admin_user", vendor.prefix().unwrap_or("5kcrm_"));
            row(db, &format!("SELECT password, salt, status FROM `{table}` WHERE username = '{l}' AND type = 1"))
                .is_some_and(|r| {
                    r[2] != "0"
                        && php_verify("wukong_php", json!({ "password": password, "stored": r[0], "salt": r[1], "login": login }))
                })
        }
    }
}

fn args<'a>(vendor: Vendor, rest: &[&'a str]) -> Vec<&'a str> {
    let mut a = vendor.args();
    a.extend_from_slice(rest);
    a
}

fn reset(db: &TestDb, vendor: Vendor, login: &str, password: &str) -> serde_json::Value {
    assert_eq!(db.vendor, vendor);
    db.reset_json(login, password, "test: vendor verifier")
}

fn connectors_check_passes(db: &TestDb, vendor: Vendor) {
    let out = db.locksmith(&args(vendor, &["connectors", "check"]), None);
    assert_code(&out, 0);
    assert!(stdout(&out).contains(": ok on table"), "{}", stdout(&out));
}

/// The "done when" for one account: check passes, the vendor accepts the
/// known password before, the new one after, and the previous one no longer.
fn prove(vendor: Vendor, login: &str, old: &str) -> (TestDb, serde_json::Value) {
    let db = TestDb::new(vendor);
    connectors_check_passes(&db, vendor);
    assert!(
        vendor_accepts(&db, vendor, login, old),
        "{vendor:?}: the fixture's known password must log in before the reset"
    );
    assert!(
        !vendor_accepts(&db, vendor, login, NEW),
        "{vendor:?}: the new password must not log in before the reset"
    );
    let doc = reset(&db, vendor, login, NEW);
    assert!(
        doc["account"]
            .as_str()
            .unwrap_or_default()
            .starts_with(login),
        "{doc}"
    );
    assert!(
        vendor_accepts(&db, vendor, login, NEW),
        "{vendor:?}: the vendor's verifier rejects the value Locksmith wrote"
    );
    assert!(
        !vendor_accepts(&db, vendor, login, old),
        "{vendor:?}: the previous password still logs in"
    );
    let journal = String::from_utf8_lossy(&std::fs::read(db.journal()).unwrap()).into_owned();
    assert!(
        !journal.contains(NEW) && !journal.contains(old),
        "the journal holds a password"
    );
    (db, doc)
}

fn warnings(doc: &serde_json::Value) -> Vec<String> {
    doc["plan"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect()
}

// ------------------------------------------------------------- foundation vendors, Java oracles

/// RuoYi's Md5Utils, jBCrypt for RuoYi-Vue, WukongCRM's AuthPasswordUtil, the JDK's PBE for JeecgBoot.
#[test]
fn foundation_resets_are_accepted_by_the_vendors_java_code() {
    for (vendor, login, old) in common::FOUNDATION {
        prove(vendor, login, old);
    }
}

// ------------------------------------------------------------- PHP vendors

#[test]
fn suitecrm_reset_is_accepted_by_check_password_md5_and_sets_the_password_columns() {
    let (db, _) = prove(Vendor::SuiteCrm, "admin", "Reset#2024");
    let r = row(&db, "SELECT system_generated_password, pwd_last_changed, LEFT(user_hash, 7) FROM users WHERE id = '1'").unwrap();
    assert_eq!(r[0], "0");
    assert_ne!(r[1], "NULL");
    assert_eq!(r[2], "$2y$10$");

    // A legacy plain-md5 row is the vendor's older format: recognised, replaced without --force.
    let out = db.locksmith(
        &["--connector", "suitecrm", "calibrate", "zhangsan"],
        Some("Reset#2024\n"),
    );
    assert_code(&out, 0);
    let doc = reset(&db, Vendor::SuiteCrm, "zhangsan", NEW);
    assert!(
        warnings(&doc).iter().any(|w| w.contains("older format")),
        "{doc}"
    );
    assert!(vendor_accepts(&db, Vendor::SuiteCrm, "zhangsan", NEW));
    assert!(!vendor_accepts(
        &db,
        Vendor::SuiteCrm,
        "zhangsan",
        "Reset#2024"
    ));

    // --must-change makes SuiteCRM ask for a new password.
    let out = db.locksmith(
        &connector_reset("suitecrm", "admin", "t", &["--must-change"]),
        Some("An0ther#Pass\n"),
    );
    assert_code(&out, 0);
    assert_eq!(
        db.one("SELECT system_generated_password FROM users WHERE id = '1'"),
        "1"
    );
}

#[test]
fn vtiger_reset_writes_phash_into_both_password_columns() {
    let (db, doc) = prove(Vendor::Vtiger, "admin", "Reset#2024");
    let r = row(
        &db,
        "SELECT user_password = confirm_password, crypt_type FROM vtiger_users WHERE id = 1",
    )
    .unwrap();
    assert_eq!(r, ["1", "PHASH"]);
    // confirm_password is written, guarded by its before-value, and shown only as a fingerprint.
    let sql = doc["plan"]["sql"].as_str().unwrap();
    assert!(
        sql.contains("`confirm_password` = ?") && sql.contains("`confirm_password` <=> ?"),
        "{sql}"
    );
    let confirm = doc["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"] == "confirm_password")
        .unwrap();
    assert!(
        confirm["after"]
            .as_str()
            .unwrap()
            .starts_with("hmac-sha256"),
        "{confirm}"
    );
}

#[test]
fn vtiger_legacy_md5_row_is_reported_and_converted_to_phash() {
    let db = TestDb::new(Vendor::Vtiger);
    assert!(vendor_accepts(&db, Vendor::Vtiger, "lisi", "Reset#2024"));
    let out = db.locksmith(&["--connector", "vtiger", "--json", "show", "lisi"], None);
    assert_code(&out, 0);
    assert_eq!(json(&out)["older_format"], "md5-crypt", "{}", stdout(&out));
    let out = db.locksmith(
        &["--connector", "vtiger", "calibrate", "lisi"],
        Some("Reset#2024\n"),
    );
    assert_code(&out, 0);
    let doc = reset(&db, Vendor::Vtiger, "lisi", NEW);
    assert!(
        warnings(&doc)
            .iter()
            .any(|w| w.contains("older format md5-crypt")),
        "{doc}"
    );
    assert_eq!(
        db.one("SELECT crypt_type FROM vtiger_users WHERE id = 2"),
        "PHASH"
    );
    assert_eq!(
        db.one("SELECT user_password = confirm_password FROM vtiger_users WHERE id = 2"),
        "1"
    );
    assert!(vendor_accepts(&db, Vendor::Vtiger, "lisi", NEW));
    assert!(!vendor_accepts(&db, Vendor::Vtiger, "lisi", "Reset#2024"));
}

#[test]
fn espocrm_reset_is_accepted_by_password_hash_verify() {
    let (db, _) = prove(Vendor::EspoCrm, "admin", "Reset#2024");
    let out = db.locksmith(
        &["--connector", "espocrm", "--json", "lookup", "--admins"],
        None,
    );
    let ids: Vec<_> = common::account_fields(&json(&out), "login");
    assert_eq!(ids, ["admin", "wangwu"]);
}

#[test]
fn espocrm_pre9_format_through_a_local_connector_with_the_installs_salt() {
    let db = TestDb::new(Vendor::EspoCrm);
    let salt = "bdaff81c7b8db54d";
    let legacy_accepts = |pw: &str| {
        let stored = db.one("SELECT password FROM `user` WHERE user_name = 'legacy'");
        php_verify(
            "espocrm",
            json!({ "password": pw, "stored": stored, "password_salt": salt }),
        )
    };
    assert!(legacy_accepts("Reset#2024"));
    // The operator's own connector file carries the salt; it never goes on the command line.
    let shipped = stdout(&db.locksmith(&["connectors", "show", "espocrm"], None));
    let local = shipped
        .lines()
        .filter(|l| !l.starts_with("# embedded:"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("name = \"espocrm\"", "name = \"espocrm-legacy\"")
        .replace(
            "[scheme]\nkind = \"bcrypt\"\nprefix = \"2y\"\ncost = 10",
            &format!("[scheme]\nkind = \"sha512-crypt\"\ninput = \"md5(password)\"\nsalt = \"{salt}\"\nstrip_prefix = true"),
        );
    assert!(local.contains("kind = \"sha512-crypt\""), "{local}");
    let config = db.dir.path().join("config");
    std::fs::create_dir_all(config.join("locksmith/connectors")).unwrap();
    std::fs::write(
        config.join("locksmith/connectors/espocrm-legacy.toml"),
        local,
    )
    .unwrap();
    let env = [("XDG_CONFIG_HOME", config.to_str().unwrap())];
    let out = db.locksmith_env(
        &[
            &["--json"][..],
            &connector_reset("espocrm-legacy", "legacy", "t", &[]),
        ]
        .concat(),
        Some(&line(NEW)),
        &env,
    );
    assert_code(&out, 0);
    assert!(
        !stdout(&out).contains(salt),
        "the install's salt is printed"
    );
    assert_eq!(
        db.one("SELECT LENGTH(password) FROM `user` WHERE user_name = 'legacy'"),
        "86"
    );
    assert!(
        legacy_accepts(NEW),
        "EspoCRM's legacyVerify rejects the value"
    );
    assert!(!legacy_accepts("Reset#2024"));
    let journal = String::from_utf8_lossy(&std::fs::read(db.journal()).unwrap()).into_owned();
    assert!(!journal.contains(salt));
}

#[test]
fn dolibarr_password_hash_setting_writes_bcrypt_and_clears_plaintext_columns() {
    let db = TestDb::new(Vendor::Dolibarr);
    // The stale plaintext in `pass` logs in too (Dolibarr's compatibility fallback) until a reset.
    assert!(vendor_accepts(
        &db,
        Vendor::Dolibarr,
        "admin",
        "old-plaintext"
    ));
    drop(db);
    let (db, doc) = prove(Vendor::Dolibarr, "admin", "Reset#2024");
    assert!(!vendor_accepts(
        &db,
        Vendor::Dolibarr,
        "admin",
        "old-plaintext"
    ));
    let r = row(
        &db,
        "SELECT pass, pass_temp, LEFT(pass_crypted, 7) FROM llx_user WHERE rowid = 1",
    )
    .unwrap();
    assert_eq!(r, ["NULL", "NULL", "$2y$10$"]);
    assert!(
        warnings(&doc)
            .iter()
            .any(|w| w.contains("MAIN_SECURITY_HASH_ALGO = 'password_hash'")
                && w.contains("llx_const")),
        "{doc}"
    );
    // Admins: the admin flag (rowid 1 is the entity-0 superadmin, 3 an admin of entity 1).
    let out = db.locksmith(
        &["--connector", "dolibarr", "--json", "lookup", "--admins"],
        None,
    );
    let ids: Vec<_> = common::account_fields(&json(&out), "id");
    assert_eq!(ids, ["1", "3"]);
}

/// Dolibarr installs without password_hash: switch the setting, store the reference
/// vector for that algorithm, and the reset must write the same algorithm.
fn dolibarr_legacy_setting(algo: &str, vector: &str, len: usize) {
    let db = TestDb::new(Vendor::Dolibarr);
    db.exec(&format!(
        "UPDATE llx_const SET value = '{algo}' WHERE name = 'MAIN_SECURITY_HASH_ALGO'"
    ));
    // A stale plaintext `pass` as well: dol_verifyHash's fallback accepts it, so the
    // reset must clear it (and a Locksmith writing the new password there would pass
    // the vendor check: hence the NULL assertion below).
    db.exec(&format!(
        "UPDATE llx_user SET pass_crypted = '{vector}', pass = 'old-plaintext' WHERE rowid = 1"
    ));
    connectors_check_passes(&db, Vendor::Dolibarr);
    assert!(vendor_accepts(&db, Vendor::Dolibarr, "admin", "Reset#2024"));
    let doc = reset(&db, Vendor::Dolibarr, "admin", NEW);
    assert_eq!(
        row(&db, "SELECT pass, pass_temp FROM llx_user WHERE rowid = 1").unwrap(),
        ["NULL", "NULL"],
        "{algo}: the plaintext columns are cleared"
    );
    assert!(!vendor_accepts(
        &db,
        Vendor::Dolibarr,
        "admin",
        "old-plaintext"
    ));
    assert!(
        warnings(&doc).iter().any(
            |w| w.contains(&format!("MAIN_SECURITY_HASH_ALGO = '{algo}'"))
                && w.contains("MAIN_SECURITY_SALT")
        ),
        "{doc}"
    );
    let stored = db.one("SELECT pass_crypted FROM llx_user WHERE rowid = 1");
    assert_eq!(stored.len(), len, "{algo} value has the wrong length");
    assert!(
        vendor_accepts(&db, Vendor::Dolibarr, "admin", NEW),
        "dol_verifyHash rejects the {algo} value"
    );
    assert!(!vendor_accepts(
        &db,
        Vendor::Dolibarr,
        "admin",
        "Reset#2024"
    ));
    // bcrypt would be rejected under this setting: the format really follows the setting.
    assert!(!php_verify(
        "dolibarr",
        json!({
            "password": "Reset#2024", "stored": "$2y$10$abcdefghijklmnopqrstuu2..lW9nm5vT.2Xok8nqW7mBGbhCyQhS",
            "algo": algo, "site_salt": "20241119145825",
        })
    ));
    let text = stdout(&db.locksmith(&["--connector", "dolibarr", "show", "admin"], None));
    assert!(
        !text.contains("20241119145825"),
        "the install-wide salt is printed: {text}"
    );
}

#[test]
fn dolibarr_sha1md5_setting_writes_salted_sha1md5() {
    dolibarr_legacy_setting("sha1md5", "41d765606b2f6300c603bbc6e4a2a50f4b696a09", 40);
}

#[test]
fn dolibarr_md5_setting_writes_salted_md5() {
    dolibarr_legacy_setting("md5", "02871555aba5d93b17d59dbd625519b7", 32);
}

#[test]
fn dolibarr_unknown_setting_is_refused_naming_it() {
    let db = TestDb::new(Vendor::Dolibarr);
    db.exec("UPDATE llx_const SET value = 'dolcrypt:AES-256:xyz' WHERE name = 'MAIN_SECURITY_HASH_ALGO'");
    let image = db.row_image("llx_user", "rowid", "1");
    let out = db.locksmith(
        &connector_reset("dolibarr", "admin", "t", &[]),
        Some(&line(NEW)),
    );
    assert_code(&out, 5);
    assert!(
        stderr(&out).contains("MAIN_SECURITY_HASH_ALGO"),
        "{}",
        stderr(&out)
    );
    assert_eq!(db.row_image("llx_user", "rowid", "1"), image);
}

#[test]
fn crmeb_reset_is_accepted_by_password_verify() {
    let (db, _) = prove(Vendor::Crmeb, "admin", "Reset#2024");
    let out = db.locksmith(
        &["--connector", "crmeb", "--json", "lookup", "--disabled"],
        None,
    );
    let ids: Vec<_> = common::account_fields(&json(&out), "login");
    assert_eq!(ids, ["kefu"]);
}

#[test]
fn wukong_php11_reset_is_accepted_by_user_md5() {
    prove(Vendor::WukongPhp11, "13800000000", "Reset#2024");
}

#[test]
fn wukong_php9_with_a_renamed_prefix_reset_is_accepted_by_user_md5() {
    let (db, _) = prove(Vendor::WukongPhp9, "13900000002", "Ls#2024pass");
    assert_eq!(
        db.one("SELECT LENGTH(salt) FROM crm9_admin_user WHERE id = 3"),
        "4"
    );
    // Admins: id 1 and members of group 1 in the prefixed crm9_admin_access.
    let out = db.locksmith(
        &args(Vendor::WukongPhp9, &["--json", "lookup", "--admins"]),
        None,
    );
    assert_code(&out, 0);
    let ids: Vec<_> = common::account_fields(&json(&out), "id");
    assert_eq!(ids, ["1", "4"]);
    // Without --prefix the default 5kcrm_ tables are not there: check names the prefixed table.
    let out = db.locksmith(&["--connector", "wukong-php", "connectors", "check"], None);
    assert_code(&out, 8);
    assert!(
        stdout(&out).contains("5kcrm_admin_user"),
        "{}",
        stdout(&out)
    );
}

/// `[disable]` on every PHP vendor whose login path reads the status: after
/// `disable` the vendor's own login code refuses the account's password, the
/// column holds the vendor's disabled value, and `unlock` lets it in again.
#[test]
fn disable_is_what_each_php_vendors_login_refuses() {
    let cases = [
        (
            Vendor::SuiteCrm,
            "zhangsan",
            "SELECT status FROM users WHERE user_name = 'zhangsan'",
            "Inactive",
        ),
        (
            Vendor::Vtiger,
            "lisi",
            "SELECT status FROM vtiger_users WHERE user_name = 'lisi'",
            "Inactive",
        ),
        (
            Vendor::EspoCrm,
            "zhangsan",
            "SELECT is_active FROM `user` WHERE user_name = 'zhangsan'",
            "0",
        ),
        (
            Vendor::Dolibarr,
            "zhangsan",
            "SELECT statut FROM llx_user WHERE login = 'zhangsan'",
            "0",
        ),
        (
            Vendor::Crmeb,
            "kefu",
            "SELECT status FROM eb_system_admin WHERE account = 'kefu'",
            "0",
        ),
        (
            Vendor::WukongPhp11,
            "13900000001",
            "SELECT status FROM 5kcrm_admin_user WHERE username = '13900000001'",
            "0",
        ),
    ];
    for (vendor, login, status_sql, disabled) in cases {
        let db = TestDb::new(vendor);
        // Enabled and on a known password first (the fixture may hold it disabled).
        let out = db.locksmith(
            &args(
                vendor,
                &common::reset_stdin(login, "test: disable", &["--unlock"]),
            ),
            Some(&line(NEW)),
        );
        assert_code(&out, 0);
        assert!(
            vendor_accepts(&db, vendor, login, NEW),
            "{vendor:?}: enabled first"
        );
        let out = db.locksmith(
            &args(
                vendor,
                &["--json", "disable", login, "--reason", "HR: left", "--yes"],
            ),
            None,
        );
        assert_code(&out, 0);
        assert_eq!(db.one(status_sql), disabled, "{vendor:?}");
        assert!(
            !vendor_accepts(&db, vendor, login, NEW),
            "{vendor:?}: the vendor's login refuses it"
        );
        let out = db.locksmith(
            &args(vendor, &["unlock", login, "--reason", "back", "--yes"]),
            None,
        );
        assert_code(&out, 0);
        assert!(
            vendor_accepts(&db, vendor, login, NEW),
            "{vendor:?}: unlock re-enables"
        );
    }
}
