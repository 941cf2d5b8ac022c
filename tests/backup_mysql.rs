//! Issue 12, restore from a backup, on MariaDB: for RuoYi (login-bound),
//! RuoYi-Vue and WukongCRM 11 a password changed after the backup is brought
//! back from a restored copy (a side database loaded from the dump) and from
//! the mysqldump file itself (`.sql.gz`); the vendor's own verifier accepts
//! the old password again, the neighbours are untouched, the journal says
//! `method: backup` and `audit verify` passes.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::vendor_oracle::java_verify;
use common::{TestDb, Vendor, assert_code, json, stdout};

const NEW: &str = "Chang3d!after-the-backup";

fn mysql_host() -> String {
    std::env::var("LOCKSMITH_TEST_MYSQL_HOST").unwrap_or_else(|_| "127.0.0.1".into())
}

fn mysql_port() -> String {
    std::env::var("LOCKSMITH_TEST_MYSQL_PORT").unwrap_or_else(|_| "3306".into())
}

/// `mariadb-dump` (or `mysqldump`), as the operator would run it.
fn dump_command() -> Command {
    let bin = if Path::new("/usr/bin/mariadb-dump").exists() {
        "mariadb-dump"
    } else {
        "mysqldump"
    };
    let mut c = Command::new(bin);
    c.args(["-h", &mysql_host(), "-P", &mysql_port(), "-u", "root"]);
    c
}

/// Dumps `db` (extra flags first) into `path`, gzip'd when it ends in `.gz`.
fn dump(db: &str, flags: &[&str], path: &Path) {
    let out = dump_command()
        .args(flags)
        .arg(db)
        .stderr(Stdio::piped())
        .output()
        .expect("mysqldump must be installed (scripts/ensure-services installs mariadb-client)");
    assert!(
        out.status.success(),
        "mysqldump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&out.stdout).unwrap();
        gz.finish().unwrap()
    } else {
        out.stdout
    };
    std::fs::write(path, bytes).unwrap();
}

/// A side database restored from a dump (`<name>_restore`), dropped afterwards.
struct SideDb {
    name: String,
}

impl SideDb {
    fn restore(db: &TestDb, dump_file: &Path) -> SideDb {
        let name = format!("{}_restore", db.name);
        let sql = std::fs::read(dump_file).unwrap();
        let side = SideDb { name };
        let status = common::client(None)
            .args(["-e", &format!("CREATE DATABASE `{}`", side.name)])
            .status()
            .unwrap();
        assert!(status.success());
        let mut child = common::client(Some(&side.name))
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(&sql).unwrap();
        }
        assert!(child.wait().unwrap().success(), "loading the dump failed");
        side
    }

    fn url(&self) -> String {
        format!(
            "mysql://root@{}:{}/{}",
            mysql_host(),
            mysql_port(),
            self.name
        )
    }

    fn exec(&self, sql: &str) {
        let status = common::client(Some(&self.name))
            .args(["-e", sql])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for SideDb {
    fn drop(&mut self) {
        let _ = common::client(None)
            .args(["-e", &format!("DROP DATABASE IF EXISTS `{}`", self.name)])
            .output();
    }
}

struct Case {
    vendor: Vendor,
    table: &'static str,
    id_col: &'static str,
    login_col: &'static str,
    login: &'static str,
    old: &'static str,
    neighbour: &'static str,
}

fn vendor_accepts(db: &TestDb, case: &Case, password: &str) -> bool {
    let salt = match case.vendor {
        Vendor::RuoYiVue => "''",
        _ => "salt",
    };
    let rows = db.rows(&format!(
        "SELECT password, {salt} FROM {} WHERE {} = '{}'",
        case.table, case.login_col, case.login
    ));
    let Some(r) = rows.first() else {
        return false;
    };
    let login = case.login;
    match case.vendor {
        Vendor::RuoYi => java_verify(
            "ruoyi",
            &[
                ("login", login),
                ("password", password),
                ("salt", &r[1]),
                ("stored", &r[0]),
            ],
        ),
        Vendor::RuoYiVue => java_verify("ruoyi-vue", &[("password", password), ("stored", &r[0])]),
        Vendor::Wukong11 => java_verify(
            "wukong11",
            &[
                ("login", login),
                ("password", password),
                ("salt", &r[1]),
                ("stored", &r[0]),
            ],
        ),
        other => panic!("no verifier for {other:?} here"),
    }
}

fn journal(db: &TestDb) -> Vec<serde_json::Value> {
    let out = db.locksmith(&["audit", "export"], None);
    assert_code(&out, 0);
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn change_password(db: &TestDb, case: &Case) {
    let mut args = case.vendor.args();
    args.extend([
        "reset",
        case.login,
        "--new-password-stdin",
        "--reason",
        "the wrong account was reset",
        "--yes",
    ]);
    let out = db.locksmith(&args, Some(&format!("{NEW}\n")));
    assert_code(&out, 0);
    assert!(!vendor_accepts(db, case, case.old));
    assert!(vendor_accepts(db, case, NEW));
}

fn restore(db: &TestDb, case: &Case, source: &str) -> serde_json::Value {
    let mut args = case.vendor.args();
    args.extend([
        "--json",
        "reset",
        case.login,
        "--from-backup",
        source,
        "--reason",
        "INC-12 restore the old password",
        "--yes",
    ]);
    let out = db.locksmith(&args, None);
    assert_code(&out, 0);
    json(&out)
}

fn neighbour_image(db: &TestDb, case: &Case) -> String {
    let id = db.one(&format!(
        "SELECT {} FROM {} WHERE {} = '{}'",
        case.id_col, case.table, case.login_col, case.neighbour
    ));
    db.row_image(case.table, case.id_col, &id)
}

fn prove(case: Case) {
    let db = TestDb::new(case.vendor);
    assert!(
        vendor_accepts(&db, &case, case.old),
        "fixture's known password"
    );
    let gz: PathBuf = db.dir.path().join("nightly.sql.gz");
    dump(&db.name, &[], &gz);
    let plain = db.dir.path().join("nightly.sql");
    dump(&db.name, &[], &plain);
    let side = SideDb::restore(&db, &plain);
    let neighbour = neighbour_image(&db, &case);

    // From the restored copy.
    change_password(&db, &case);
    let doc = restore(&db, &case, &side.url());
    assert_eq!(doc["method"], "backup", "{doc}");
    assert_eq!(doc["backup"]["kind"], "copy", "{doc}");
    assert!(
        vendor_accepts(&db, &case, case.old),
        "{:?}: copy restore",
        case.vendor
    );
    assert!(!vendor_accepts(&db, &case, NEW));

    // From the gzip'd dump file.
    change_password(&db, &case);
    let doc = restore(&db, &case, gz.to_str().unwrap());
    assert_eq!(doc["method"], "backup", "{doc}");
    assert_eq!(doc["backup"]["kind"], "dump");
    assert_eq!(doc["backup"]["source"], "nightly.sql.gz");
    let sha = doc["backup"]["sha256"].as_str().unwrap().to_string();
    assert_eq!(sha.len(), 64);
    assert!(doc["backup"]["dumped_at"].is_string(), "{doc}");
    assert!(
        vendor_accepts(&db, &case, case.old),
        "{:?}: dump restore",
        case.vendor
    );
    assert_eq!(
        neighbour_image(&db, &case),
        neighbour,
        "a neighbour changed"
    );

    let entries = journal(&db);
    let backups: Vec<_> = entries
        .iter()
        .filter(|e| e["kind"] == "intent" && e["details"]["method"] == "backup")
        .collect();
    assert_eq!(backups.len(), 2);
    assert_eq!(backups[1]["details"]["backup"]["sha256"], sha.as_str());
    let text = String::from_utf8_lossy(&std::fs::read(db.journal()).unwrap()).into_owned();
    assert!(!text.contains(case.old) && !text.contains(NEW));
    assert_code(&db.locksmith(&["audit", "verify"], None), 0);
}

#[test]
fn ruoyi_login_bound_password_comes_back_from_a_copy_and_a_dump() {
    prove(Case {
        vendor: Vendor::RuoYi,
        table: "sys_user",
        id_col: "user_id",
        login_col: "login_name",
        login: "admin",
        old: "admin123",
        neighbour: "ry",
    });
}

#[test]
fn ruoyi_vue_password_comes_back_from_a_copy_and_a_dump() {
    prove(Case {
        vendor: Vendor::RuoYiVue,
        table: "sys_user",
        id_col: "user_id",
        login_col: "user_name",
        login: "admin",
        old: "admin123",
        neighbour: "zhangsan",
    });
}

#[test]
fn wukong11_password_comes_back_from_a_copy_and_a_dump() {
    prove(Case {
        vendor: Vendor::Wukong11,
        table: "wk_admin_user",
        id_col: "user_id",
        login_col: "username",
        login: "13800000000",
        old: "Reset#2024",
        neighbour: "13900000001",
    });
}

fn refused(db: &TestDb, source: &str) -> String {
    let before = db.row_image("sys_user", "user_id", "1");
    let out = db.locksmith(
        &[
            "--connector",
            "ruoyi",
            "reset",
            "admin",
            "--from-backup",
            source,
            "--reason",
            "INC-12",
            "--yes",
        ],
        None,
    );
    assert_code(&out, 5);
    assert_eq!(
        db.row_image("sys_user", "user_id", "1"),
        before,
        "nothing written"
    );
    common::stderr(&out)
}

#[test]
fn a_backup_row_with_another_login_or_no_table_or_a_broken_gzip_is_refused() {
    let db = TestDb::new(Vendor::RuoYi);
    let plain = db.dir.path().join("nightly.sql");
    dump(&db.name, &[], &plain);
    let side = SideDb::restore(&db, &plain);
    change_password(
        &db,
        &Case {
            vendor: Vendor::RuoYi,
            table: "sys_user",
            id_col: "user_id",
            login_col: "login_name",
            login: "admin",
            old: "admin123",
            neighbour: "ry",
        },
    );
    side.exec("UPDATE sys_user SET login_name = 'root' WHERE user_id = 1");
    let err = refused(&db, &side.url());
    assert!(err.contains("the login differs"), "{err}");
    assert!(err.contains("`root`"), "{err}");

    // A dump of another vendor: no sys_user table.
    let other = TestDb::new(Vendor::Wukong11);
    let foreign = db.dir.path().join("wukong.sql");
    dump(&other.name, &[], &foreign);
    let err = refused(&db, foreign.to_str().unwrap());
    assert!(err.contains("has no table `sys_user`"), "{err}");

    // A truncated gzip.
    let gz = db.dir.path().join("nightly.sql.gz");
    dump(&db.name, &[], &gz);
    let bytes = std::fs::read(&gz).unwrap();
    let cut = db.dir.path().join("cut.sql.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = refused(&db, cut.to_str().unwrap());
    assert!(err.contains("gzip stream is truncated or corrupt"), "{err}");

    // A SQL Server backup is answered with the steps to restore it as a copy.
    let bak = db.dir.path().join("UFSystem.bak");
    std::fs::write(&bak, b"TAPE\0\0\0\0not really").unwrap();
    let err = refused(&db, bak.to_str().unwrap());
    assert!(err.contains("RESTORE FILELISTONLY FROM DISK"), "{err}");
    assert!(
        err.contains(&format!("RESTORE DATABASE [{}_restore]", db.name)),
        "{err}"
    );
    assert!(err.contains("WITH MOVE"), "{err}");
}

#[test]
fn dolibarr_backup_with_another_install_salt_is_refused_naming_the_setting() {
    let db = TestDb::new(Vendor::Dolibarr);
    let gz = db.dir.path().join("dolibarr.sql.gz");
    dump(&db.name, &[], &gz);
    let plain = db.dir.path().join("dolibarr.sql");
    dump(&db.name, &[], &plain);
    let side = SideDb::restore(&db, &plain);
    // The live install's salt changed after the backup was taken.
    db.exec("UPDATE llx_const SET value = '20991231000000' WHERE name = 'MAIN_SECURITY_SALT'");
    db.exec("UPDATE llx_user SET pass_crypted = 'x' WHERE rowid = 1");
    let before = db.row_image("llx_user", "rowid", "1");
    for source in [gz.to_str().unwrap().to_string(), side.url()] {
        let out = db.locksmith(
            &[
                "--connector",
                "dolibarr",
                "reset",
                "admin",
                "--from-backup",
                &source,
                "--reason",
                "INC-12",
                "--yes",
            ],
            None,
        );
        assert_code(&out, 5);
        let err = common::stderr(&out);
        assert!(
            err.contains("install-wide setting MAIN_SECURITY_SALT differs"),
            "{err}"
        );
        assert_eq!(db.row_image("llx_user", "rowid", "1"), before);
    }
}
