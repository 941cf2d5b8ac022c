//! Issue 18, "done when": on SuiteCRM, vtiger, EspoCRM, Dolibarr, CRMEB and
//! WukongCRM PHP (MariaDB) and Odoo (PostgreSQL) the declared emergency admin,
//! damaged every way the vendor allows at once (disabled, soft-deleted where
//! the vendor soft-deletes, admin flag or role link removed, password unknown),
//! is repaired by ONE `restore-admin`: the vendor's own verifier accepts the
//! password shown and the vendor's own admin test holds. A missing row is
//! re-created where the connector has a template, refused (nothing written)
//! where it does not. A drill leaves the tables byte-identical.

mod common;

use common::oracle::oracle_verify;
use common::pg::PgTestDb;
use common::vendor_oracle::php_verify;
use common::{TestDb, Vendor, assert_code, json, stderr, stdout};
use serde_json::json;

/// The fixtures' known password of each admin; after a restore it must fail.
const OLD: &str = "Reset#2024";

fn row(db: &TestDb, sql: &str) -> Option<Vec<String>> {
    let mut rows = db.rows(sql);
    assert!(rows.len() <= 1, "{sql}: {rows:?}");
    rows.pop()
}

fn nul(s: &str) -> &str {
    if s == "NULL" { "" } else { s }
}

/// The vendor's login: its own row conditions, then its own verification code
/// (tests/oracle/vendor.php).
fn vendor_accepts(db: &TestDb, login: &str, password: &str) -> bool {
    let l = login.replace('\'', "''");
    match db.vendor {
        // User::findUserPassword's conditions, then checkPasswordMD5.
        Vendor::SuiteCrm => row(db, &format!(
            "SELECT user_hash FROM users WHERE user_name = '{l}' AND deleted = 0 AND status != 'Inactive' \
             AND (portal_only IS NULL OR portal_only != '1') AND (is_group IS NULL OR is_group != '1')"
        ))
        .is_some_and(|r| php_verify("suitecrm", json!({ "password": password, "stored": nul(&r[0]) }))),
        // Users::doLogin: by user_name, not deleted, Active, crypt_type picks the check.
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
            let setting = |name: &str| db.one(&format!("SELECT value FROM llx_const WHERE name = '{name}'"));
            let (algo, salt) = (setting("MAIN_SECURITY_HASH_ALGO"), setting("MAIN_SECURITY_SALT"));
            row(db, &format!(
                "SELECT pass_crypted, pass FROM llx_user WHERE login = '{l}' AND statut = 1 \
                 AND (dateendvalidity IS NULL OR dateendvalidity > NOW())"
            ))
            .is_some_and(|r| {
                php_verify("dolibarr", json!({
                    "password": password, "stored": nul(&r[0]), "pass": nul(&r[1]),
                    "algo": algo, "site_salt": salt,
                }))
            })
        }
        Vendor::Crmeb => row(db, &format!("SELECT pwd, status FROM eb_system_admin WHERE account = '{l}' AND is_del = 0"))
            .is_some_and(|r| r[1] != "0" && php_verify("crmeb", json!({ "password": password, "stored": r[0] }))),
        Vendor::WukongPhp11 => row(db, &format!(
            "SELECT password, salt, status FROM `5kcrm_admin_user` WHERE username = '{l}' AND type = 1"
        ))
        .is_some_and(|r| {
            r[2] != "0" && php_verify("wukong_php", json!({ "password": password, "stored": r[0], "salt": r[1], "login": login }))
        }),
        other => panic!("no login oracle here for {other:?}"),
    }
}

/// The vendor's own "is an administrator" test, on the row with this login.
fn vendor_admin(db: &TestDb, login: &str) -> bool {
    let l = login.replace('\'', "''");
    let sql = match db.vendor {
        // User::isAdmin(): is_admin == '1' (the id does not count).
        Vendor::SuiteCrm => format!("SELECT 1 FROM users WHERE user_name = '{l}' AND is_admin = 1"),
        // Users: is_admin == 'on'.
        Vendor::Vtiger => {
            format!("SELECT 1 FROM vtiger_users WHERE user_name = '{l}' AND is_admin = 'on'")
        }
        // User::isAdmin(): type admin or super-admin.
        Vendor::EspoCrm => format!(
            "SELECT 1 FROM `user` WHERE user_name = '{l}' AND type IN ('admin', 'super-admin')"
        ),
        // The superadmin of every entity: admin = 1 and entity = 0.
        Vendor::Dolibarr => {
            format!("SELECT 1 FROM llx_user WHERE login = '{l}' AND admin = 1 AND entity = 0")
        }
        // level == 0: unrestricted menus.
        Vendor::Crmeb => {
            format!("SELECT 1 FROM eb_system_admin WHERE account = '{l}' AND level = 0")
        }
        // getAdminId(): id 1 and the members of group 1; the row must also be linked (the install seeds it).
        Vendor::WukongPhp11 => format!(
            "SELECT 1 FROM `5kcrm_admin_user` u JOIN `5kcrm_admin_access` a ON a.user_id = u.id AND a.group_id = 1 \
             WHERE u.username = '{l}'"
        ),
        other => panic!("no admin test here for {other:?}"),
    };
    row(db, &sql).is_some()
}

/// One vendor's case: its admin, the damage, and what it keeps in which tables.
struct Case {
    vendor: Vendor,
    login: &'static str,
    /// Everything at once that keeps the admin out.
    damage: &'static str,
    /// The problem codes the diagnosis names for `damage`, sorted.
    problems: &'static [&'static str],
    /// Deletes the row (and its link where the vendor keeps one).
    delete: &'static str,
    /// Whether the connector re-creates a missing row.
    recreates: bool,
    tables: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        vendor: Vendor::SuiteCrm,
        login: "admin",
        damage: "UPDATE users SET status = 'Inactive', deleted = 1, is_admin = 0, portal_only = 1 WHERE id = '1'",
        problems: &["deleted", "disabled", "not_admin"],
        delete: "DELETE FROM users WHERE id = '1'",
        recreates: true,
        tables: &["users"],
    },
    Case {
        vendor: Vendor::Vtiger,
        login: "admin",
        damage: "UPDATE vtiger_users SET status = 'Inactive', deleted = 1, is_admin = 'off' WHERE id = 1",
        problems: &["deleted", "disabled", "not_admin"],
        delete: "DELETE FROM vtiger_user2role WHERE userid = 1; DELETE FROM vtiger_users WHERE id = 1",
        recreates: false,
        tables: &["vtiger_users", "vtiger_user2role"],
    },
    Case {
        vendor: Vendor::EspoCrm,
        login: "admin",
        damage: "UPDATE `user` SET deleted = 1, delete_id = id, is_active = 0, type = 'regular' WHERE user_name = 'admin'",
        problems: &["deleted", "disabled", "not_admin"],
        delete: "DELETE FROM `user` WHERE user_name = 'admin'",
        recreates: false,
        tables: &["user"],
    },
    Case {
        vendor: Vendor::Dolibarr,
        login: "admin",
        damage: "UPDATE llx_user SET statut = 0, admin = 0, entity = 1, dateendvalidity = '2020-01-01' WHERE rowid = 1",
        problems: &["disabled", "not_admin"],
        delete: "DELETE FROM llx_user WHERE rowid = 1",
        recreates: true,
        tables: &["llx_user"],
    },
    Case {
        vendor: Vendor::Crmeb,
        login: "admin",
        damage: "UPDATE eb_system_admin SET status = 0, is_del = 1, level = 1 WHERE id = 1",
        problems: &["deleted", "disabled", "not_admin"],
        delete: "DELETE FROM eb_system_admin WHERE id = 1",
        recreates: true,
        tables: &["eb_system_admin"],
    },
    Case {
        vendor: Vendor::WukongPhp11,
        login: "13800000000",
        damage: "UPDATE `5kcrm_admin_user` SET status = 0, type = 0 WHERE id = 1; DELETE FROM `5kcrm_admin_access` WHERE user_id = 1",
        problems: &["disabled", "role_link_missing"],
        delete: "DELETE FROM `5kcrm_admin_access` WHERE user_id = 1; DELETE FROM `5kcrm_admin_user` WHERE id = 1",
        recreates: true,
        tables: &["5kcrm_admin_user", "5kcrm_admin_access"],
    },
];

fn args<'a>(vendor: Vendor, rest: &[&'a str]) -> Vec<&'a str> {
    let mut a = vendor.args();
    a.extend_from_slice(rest);
    a
}

fn restore_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut rest = vec![
        "--json",
        "restore-admin",
        "--reason",
        "test: break glass",
        "--yes",
    ];
    rest.extend_from_slice(extra);
    rest
}

/// restore-admin --yes --json; the document with the one-time password.
fn restore(db: &TestDb, extra: &[&str]) -> serde_json::Value {
    let out = db.locksmith(&args(db.vendor, &restore_args(extra)), None);
    assert_code(&out, 0);
    let doc = json(&out);
    let pw = doc["temporary_password"]
        .as_str()
        .expect("password shown once");
    assert!(!stderr(&out).contains(pw));
    let journal = String::from_utf8_lossy(&std::fs::read(db.journal()).unwrap()).into_owned();
    assert!(!journal.contains(pw), "the password reached the journal");
    doc
}

/// Everything the command said (an error is JSON on stdout with --json).
fn said(out: &std::process::Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

fn problems(doc: &serde_json::Value) -> Vec<String> {
    let mut codes: Vec<String> = doc["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap().to_string())
        .collect();
    codes.sort();
    codes
}

fn checksums(db: &TestDb, tables: &[&str]) -> Vec<Vec<String>> {
    let list: Vec<String> = tables.iter().map(|t| format!("`{t}`")).collect();
    db.rows(&format!("CHECKSUM TABLE {}", list.join(", ")))
}

/// The connector's templates fit the vendor's schema (`connectors check`).
fn templates_fit(db: &TestDb) {
    let out = db.locksmith(&args(db.vendor, &["connectors", "check"]), None);
    assert_code(&out, 0);
    assert!(stdout(&out).contains(": ok on table"), "{}", stdout(&out));
}

fn damaged_admin_is_restored(case: &Case) {
    let db = TestDb::new(case.vendor);
    templates_fit(&db);
    assert!(
        vendor_accepts(&db, case.login, OLD),
        "{:?}: fixture",
        case.vendor
    );
    db.exec(case.damage);
    assert!(!vendor_accepts(&db, case.login, OLD) || !vendor_admin(&db, case.login));
    let doc = restore(&db, &[]);
    assert_eq!(problems(&doc), case.problems, "{:?}: {doc}", case.vendor);
    let pw = doc["temporary_password"].as_str().unwrap();
    assert!(
        vendor_accepts(&db, case.login, pw),
        "{:?}: vendor rejects the new password",
        case.vendor
    );
    assert!(
        !vendor_accepts(&db, case.login, OLD),
        "{:?}: the old password still works",
        case.vendor
    );
    assert!(
        vendor_admin(&db, case.login),
        "{:?}: not an admin after restore",
        case.vendor
    );
    // Healthy now: a second diagnosis finds nothing.
    let again = db.locksmith(
        &args(
            case.vendor,
            &["--json", "restore-admin", "--reason", "x", "--dry-run"],
        ),
        None,
    );
    assert_code(&again, 0);
    assert_eq!(json(&again)["problems"], json!([]), "{:?}", case.vendor);
}

fn missing_admin_is_recreated_or_refused(case: &Case) {
    let db = TestDb::new(case.vendor);
    db.exec(case.delete);
    let before = checksums(&db, case.tables);
    let account: &[&str] = match case.vendor {
        // The installer's login is the mobile number: the operator names it.
        Vendor::WukongPhp11 => &["--account", "13800000000"],
        _ => &[],
    };
    if !case.recreates {
        let out = db.locksmith(&args(case.vendor, &restore_args(account)), None);
        assert_code(&out, 5);
        assert!(
            said(&out).contains("no template to re-create it"),
            "{}",
            said(&out)
        );
        assert_eq!(
            checksums(&db, case.tables),
            before,
            "{:?}: refused but wrote",
            case.vendor
        );
        return;
    }
    let doc = restore(&db, account);
    assert_eq!(problems(&doc), vec!["missing"], "{:?}", case.vendor);
    let pw = doc["temporary_password"].as_str().unwrap();
    assert!(
        vendor_accepts(&db, case.login, pw),
        "{:?}: re-created row rejected",
        case.vendor
    );
    assert!(
        vendor_admin(&db, case.login),
        "{:?}: re-created row is no admin",
        case.vendor
    );
}

/// A drill on the damaged admin: rolled back, every table byte-identical.
fn drill_leaves_no_trace(case: &Case) {
    let db = TestDb::new(case.vendor);
    db.exec(case.damage);
    let before = checksums(&db, case.tables);
    let out = db.locksmith(&args(case.vendor, &["--json", "drill"]), None);
    assert_code(&out, 0);
    assert_eq!(json(&out)["rolled_back"], true, "{:?}", case.vendor);
    assert_eq!(
        checksums(&db, case.tables),
        before,
        "{:?}: the drill left a trace",
        case.vendor
    );
}

fn case(vendor: Vendor) -> &'static Case {
    CASES.iter().find(|c| c.vendor == vendor).unwrap()
}

fn all(vendor: Vendor) {
    let c = case(vendor);
    damaged_admin_is_restored(c);
    missing_admin_is_recreated_or_refused(c);
    drill_leaves_no_trace(c);
}

#[test]
fn suitecrm_emergency_admin() {
    all(Vendor::SuiteCrm);
}

#[test]
fn vtiger_emergency_admin() {
    all(Vendor::Vtiger);
}

#[test]
fn espocrm_emergency_admin() {
    all(Vendor::EspoCrm);
}

#[test]
fn dolibarr_emergency_admin() {
    all(Vendor::Dolibarr);
}

#[test]
fn crmeb_emergency_admin() {
    all(Vendor::Crmeb);
}

#[test]
fn wukong_php_emergency_admin() {
    all(Vendor::WukongPhp11);
}

// ---- Odoo on PostgreSQL ----

/// Odoo's login: an active user by login, then its CryptContext (oracle.py).
fn odoo_accepts(db: &PgTestDb, login: &str, password: &str) -> bool {
    let rows = db.rows(&format!(
        "SELECT password FROM res_users WHERE login = '{}' AND active",
        login.replace('\'', "''")
    ));
    rows.first().is_some_and(|r| {
        r[0] != "NULL" && oracle_verify("odoo", json!({ "password": password, "stored": r[0] }))
    })
}

/// res.users.has_group('base.group_system'): membership through
/// res_groups_users_rel of the group ir_model_data names base.group_system.
fn odoo_has_group_system(db: &PgTestDb, login: &str) -> bool {
    !db.rows(&format!(
        "SELECT 1 FROM res_users u JOIN res_groups_users_rel r ON r.uid = u.id \
         JOIN ir_model_data d ON d.res_id = r.gid AND d.module = 'base' AND d.name = 'group_system' \
         AND d.model = 'res.groups' WHERE u.login = '{login}'"
    ))
    .is_empty()
}

fn odoo_image(db: &PgTestDb) -> Vec<Vec<String>> {
    db.rows(
        "SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM res_users t \
         UNION ALL SELECT md5(string_agg(r::text, '|' ORDER BY r.gid, r.uid)) FROM res_groups_users_rel r",
    )
}

#[test]
fn odoo_emergency_admin() {
    let db = PgTestDb::new("odoo");
    let odoo = |rest: &[&str]| {
        let mut a = vec!["--connector", "odoo"];
        a.extend_from_slice(rest);
        db.locksmith(&a, None)
    };
    assert_code(&odoo(&["connectors", "check"]), 0);
    assert!(odoo_accepts(&db, "admin", OLD) && odoo_has_group_system(&db, "admin"));
    // Archived and removed from Settings/Administration.
    db.exec(
        "UPDATE res_users SET active = false WHERE id = 2; \
         DELETE FROM res_groups_users_rel WHERE uid = 2 AND gid = (SELECT res_id FROM ir_model_data \
         WHERE module = 'base' AND name = 'group_system')",
    );
    let before = odoo_image(&db);
    let out = odoo(&["--json", "drill"]);
    assert_code(&out, 0);
    assert_eq!(odoo_image(&db), before, "the drill left a trace");

    let out = odoo(&restore_args(&[]));
    assert_code(&out, 0);
    let doc = json(&out);
    assert_eq!(
        problems(&doc),
        vec!["disabled", "role_link_missing"],
        "{doc}"
    );
    let pw = doc["temporary_password"].as_str().unwrap();
    assert!(
        odoo_accepts(&db, "admin", pw),
        "Odoo rejects the new password"
    );
    assert!(!odoo_accepts(&db, "admin", OLD));
    assert!(odoo_has_group_system(&db, "admin"));

    // TOTP (auth_totp): flagged, kept without --clear-2fa, cleared with it.
    db.exec("UPDATE res_users SET totp_secret = 'JBSWY3DPEHPK3PXP' WHERE id = 2");
    let out = odoo(&restore_args(&[]));
    assert_code(&out, 0);
    assert_eq!(problems(&json(&out)), vec!["second_factor"]);
    assert_eq!(
        db.one("SELECT totp_secret IS NOT NULL FROM res_users WHERE id = 2"),
        "t"
    );
    let out = odoo(&restore_args(&["--clear-2fa"]));
    assert_code(&out, 0);
    assert_eq!(
        db.one("SELECT totp_secret IS NULL FROM res_users WHERE id = 2"),
        "t"
    );
    let pw = json(&out)["temporary_password"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(odoo_accepts(&db, "admin", &pw));

    // A missing row is not re-created (partner_id refers to a res_partner row).
    db.exec("DELETE FROM res_users WHERE id = 2");
    let before = odoo_image(&db);
    let out = odoo(&restore_args(&[]));
    assert_code(&out, 5);
    assert!(
        said(&out).contains("no template to re-create it"),
        "{}",
        said(&out)
    );
    assert_eq!(odoo_image(&db), before);
}

// ---- The INSERT privilege is probed before any intent ----

/// restore-admin as a least-privilege login with `grants` (README's list for
/// wukong-php, `{DB}` and `{U}` filled in).
fn restore_as(db: &TestDb, user: &str, grants: &[&str]) -> std::process::Output {
    for grant in grants {
        db.exec(
            &grant
                .replace("{DB}", &format!("`{}`", db.name))
                .replace("{U}", &format!("'{user}'@'%'")),
        );
    }
    let url = format!("mysql://{user}@127.0.0.1:3306/{}", db.name);
    let journal = db.journal().display().to_string();
    let mut full = vec!["--target", &url, "--journal", &journal];
    let rest = restore_args(&[]);
    full.extend(args(db.vendor, &rest));
    common::run_locksmith_env(&full, None, &[("LOCKSMITH_DB_PASSWORD", "ei-pass")])
}

/// Without INSERT on the role-link table, restore-admin is refused before any
/// journal entry and names the GRANT; with README's grants it succeeds.
#[test]
fn restore_without_insert_on_the_link_table_is_refused_naming_the_grant() {
    let db = TestDb::new(Vendor::WukongPhp11);
    db.exec("DELETE FROM `5kcrm_admin_access` WHERE user_id = 1");
    let user = format!("ei_{}", std::process::id());
    db.exec(&format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'ei-pass'"));
    let before = checksums(&db, &["5kcrm_admin_user", "5kcrm_admin_access"]);
    let out = restore_as(
        &db,
        &user,
        &[
            "GRANT SELECT ON {DB}.`5kcrm_admin_user` TO {U}",
            "GRANT SELECT ON {DB}.`5kcrm_admin_access` TO {U}",
            "GRANT UPDATE (password, salt, status, type) ON {DB}.`5kcrm_admin_user` TO {U}",
            "GRANT INSERT ON {DB}.`5kcrm_admin_user` TO {U}",
        ],
    );
    assert_code(&out, 5);
    assert!(
        said(&out).contains("GRANT INSERT ON 5kcrm_admin_access"),
        "{}",
        said(&out)
    );
    assert_eq!(
        checksums(&db, &["5kcrm_admin_user", "5kcrm_admin_access"]),
        before
    );
    let list = json(&db.locksmith(&["--json", "audit", "list"], None));
    assert_eq!(list["entries"], json!([]), "an intent was journaled");

    let out = restore_as(
        &db,
        &user,
        &["GRANT INSERT ON {DB}.`5kcrm_admin_access` TO {U}"],
    );
    assert_code(&out, 0);
    assert!(vendor_admin(&db, "13800000000"));
    db.exec(&format!("DROP USER '{user}'@'%'"));
}

// ---- Second factors and external-only sign-in ----

/// SuiteCRM: external_auth_only and factor_auth are flagged by show, check and
/// restore-admin; without --clear-2fa they stay (and the plan says so), with
/// it they are turned off in the same guarded write.
#[test]
fn suitecrm_second_factor_is_flagged_and_cleared_only_when_asked() {
    let db = TestDb::new(Vendor::SuiteCrm);
    db.exec("UPDATE users SET external_auth_only = 1, factor_auth = 1 WHERE id = '1'");
    let show = db.locksmith(&args(Vendor::SuiteCrm, &["show", "admin"]), None);
    assert_code(&show, 0);
    assert!(
        stdout(&show).contains("external sign-in only"),
        "{}",
        stdout(&show)
    );
    let check = db.locksmith(&args(Vendor::SuiteCrm, &["--json", "check"]), None);
    assert_code(&check, 8);
    assert!(
        stdout(&check).contains("two-factor code by email"),
        "{}",
        stdout(&check)
    );

    let doc = restore(&db, &[]);
    assert_eq!(
        problems(&doc),
        vec!["second_factor", "second_factor"],
        "{doc}"
    );
    assert!(doc.to_string().contains("--clear-2fa"), "{doc}");
    assert_eq!(
        db.rows("SELECT external_auth_only, factor_auth FROM users WHERE id = '1'"),
        vec![vec!["1".to_string(), "1".to_string()]],
        "cleared without --clear-2fa"
    );
    let doc = restore(&db, &["--clear-2fa"]);
    let pw = doc["temporary_password"].as_str().unwrap();
    assert_eq!(
        db.rows("SELECT external_auth_only, factor_auth FROM users WHERE id = '1'"),
        vec![vec!["0".to_string(), "0".to_string()]]
    );
    assert!(vendor_accepts(&db, "admin", pw));
    // reset takes the same switch.
    db.exec("UPDATE users SET factor_auth = 1 WHERE id = '1'");
    let out = db.locksmith(
        &args(
            Vendor::SuiteCrm,
            &["reset", "admin", "--reason", "t", "--yes", "--clear-2fa"],
        ),
        None,
    );
    assert_code(&out, 0);
    assert_eq!(db.one("SELECT factor_auth FROM users WHERE id = '1'"), "0");
}
