//! Transplant (`reset ACCOUNT --from DONOR`), external encoders with the
//! calibration gate, and the U8 connector: the real binary against MariaDB.
//!
//! The U8 table comes from `fixtures/u8.sql` (T-SQL), translated to MariaDB
//! here, and is driven by a local copy of `connectors/u8.toml` whose only
//! change is `engines = ["mysql"]` (U8 itself runs on SQL Server).

mod common;

use std::path::{Path, PathBuf};

use common::{TestDb, Vendor, assert_code, json, line, reset_stdin, stderr, stdout};

/// fixtures/u8.sql, T-SQL → MariaDB: brackets, batches, the Chinese collation,
/// `bit` (MariaDB returns BIT as bytes; SQL Server's bit reads as 0/1).
fn u8_sql_for_mariadb(drop_column: Option<&str>) -> String {
    let text = std::fs::read_to_string(common::repo_root().join("fixtures/u8.sql")).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        if line.trim() == "GO" {
            out.push_str(";\n");
            continue;
        }
        if let Some(col) = drop_column
            && line.trim_start().starts_with(&format!("[{col}]"))
        {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    let mut sql = out
        .replace("[dbo].", "")
        .replace(" COLLATE Chinese_PRC_CI_AS", "")
        .replace(" bit NULL", " tinyint NULL")
        .replace(['[', ']'], "`");
    if let Some(col) = drop_column {
        // Drop the column from the INSERT too: its value is the last one of each row.
        sql = sql.replace(&format!(", `{col}`)"), ")");
        sql = sql
            .lines()
            .map(|l| {
                if l.trim_start().starts_with("(N'") {
                    let end = l.rfind(", ").unwrap();
                    let tail = if l.trim_end().ends_with(',') {
                        "),"
                    } else {
                        ")"
                    };
                    format!("{}{tail}", &l[..end])
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
    }
    sql
}

/// A RuoYi database (for the login-bound refusal) that also holds UA_User.
fn u8_db() -> TestDb {
    let db = TestDb::new(Vendor::RuoYi);
    db.exec(&u8_sql_for_mariadb(None));
    db
}

/// XDG_CONFIG_HOME with a local `u8` connector for MySQL (plus `extra` appended).
fn config(db: &TestDb, extra: &str) -> PathBuf {
    let text = std::fs::read_to_string(common::repo_root().join("connectors/u8.toml")).unwrap();
    let local = text.replace("engines = [\"mssql\"]", "engines = [\"mysql\"]") + extra;
    assert!(local.contains("engines = [\"mysql\"]"));
    let dir = db.dir.path().join("config");
    std::fs::create_dir_all(dir.join("locksmith/connectors")).unwrap();
    std::fs::write(dir.join("locksmith/connectors/u8.toml"), local).unwrap();
    dir
}

fn run(db: &TestDb, cfg: &Path, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut full = vec!["--connector", "u8"];
    full.extend_from_slice(args);
    db.locksmith_env(&full, stdin, &[("XDG_CONFIG_HOME", cfg.to_str().unwrap())])
}

fn password_of(db: &TestDb, user: &str) -> String {
    db.one(&format!(
        "SELECT IFNULL(cPassword, 'NULL') FROM UA_User WHERE cUser_Id = '{user}'"
    ))
}

/// Every journal entry, oldest first (an absent journal has none).
fn journal(db: &TestDb) -> Vec<serde_json::Value> {
    if !db.journal().exists() {
        return Vec::new();
    }
    let out = db.locksmith(&["audit", "export"], None);
    assert_code(&out, 0);
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn kinds(db: &TestDb, kind: &str) -> Vec<serde_json::Value> {
    journal(db)
        .into_iter()
        .filter(|e| e["kind"] == kind)
        .collect()
}

fn journal_text(db: &TestDb) -> String {
    if !db.journal().exists() {
        return String::new();
    }
    String::from_utf8_lossy(&std::fs::read(db.journal()).unwrap()).into_owned()
}

#[test]
fn transplant_copies_the_donors_value_and_journals_no_value() {
    let db = u8_db();
    let cfg = config(&db, "");
    let donor_value = password_of(&db, "demo");
    let before = password_of(&db, "lisi");
    assert_ne!(donor_value, before);
    // Trace logging on: the statements are logged, never a value.
    let out = db.locksmith_env(
        &[
            "--connector",
            "u8",
            "--json",
            "reset",
            "lisi",
            "--from",
            "demo",
            "--unlock",
            "--must-change",
            "--reason",
            "INC-7 lisi locked out; demo's password is known",
            "--yes",
        ],
        None,
        &[
            ("XDG_CONFIG_HOME", cfg.to_str().unwrap()),
            ("LOCKSMITH_LOG", "trace"),
        ],
    );
    assert_code(&out, 0);
    assert!(stderr(&out).contains("UPDATE"), "trace logging is on");
    let doc = json(&out);
    assert_eq!(doc["method"], "transplant", "{doc}");
    assert_eq!(
        doc["plan"]["warnings"][0],
        "after this, account lisi (#lisi) accepts the password of account demo (#demo)"
    );
    assert!(doc.get("temporary_password").is_none());
    assert_eq!(password_of(&db, "lisi"), donor_value);
    assert_eq!(
        db.rows("SELECT nState, iErrorCount, bModifyPWFirstLogin, dPasswordDate > '2025-03-01 09:30:00' FROM UA_User WHERE cUser_Id = 'lisi'"),
        vec![vec!["0", "0", "1", "1"]]
    );
    // The donor is untouched.
    assert_eq!(password_of(&db, "demo"), donor_value);

    let intents = kinds(&db, "intent");
    assert_eq!(intents.len(), 1);
    let d = &intents[0]["details"];
    assert_eq!(d["method"], "transplant");
    assert_eq!(d["donor"], "demo (#demo)");
    let outcomes = kinds(&db, "outcome");
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0]["outcome"], "committed");
    for text in [journal_text(&db), stdout(&out), stderr(&out)] {
        assert!(!text.contains(&donor_value), "a stored value leaked");
        assert!(!text.contains(&before), "a stored value leaked");
    }
    let v = db.locksmith(&["audit", "verify"], None);
    assert_code(&v, 0);
}

#[test]
fn transplant_on_vtiger_copies_into_copy_hash_to_and_refuses_an_older_format_donor() {
    let db = TestDb::new(Vendor::Vtiger);
    let cols = |id: &str| {
        db.rows(&format!(
            "SELECT user_password, confirm_password, crypt_type FROM vtiger_users WHERE id = {id}"
        ))
        .remove(0)
    };
    // wangwu (#3) from admin (#1): both bcrypt; confirm_password follows user_password.
    db.exec("UPDATE vtiger_users SET user_password = '$2y$10$0123456789012345678901uJ3z8Ss1gV7M0vYkGzQ0nEBfjOEsJS6', confirm_password = '$2y$10$0123456789012345678901uJ3z8Ss1gV7M0vYkGzQ0nEBfjOEsJS6' WHERE id = 3");
    let admin = cols("1");
    let out = db.locksmith(
        &[
            "--connector",
            "vtiger",
            "reset",
            "wangwu",
            "--from",
            "admin",
            "--reason",
            "t",
            "--yes",
        ],
        None,
    );
    assert_code(&out, 0);
    assert_eq!(cols("3"), admin);
    // lisi (#2) holds an older format (MD5-crypt): not a donor, since the reset writes crypt_type = 'PHASH'.
    let before = cols("1");
    let out = db.locksmith(
        &[
            "--connector",
            "vtiger",
            "reset",
            "admin",
            "--from",
            "lisi",
            "--reason",
            "t",
            "--yes",
        ],
        None,
    );
    assert_code(&out, 5);
    assert!(stderr(&out).contains("older format"), "{}", stderr(&out));
    assert_eq!(cols("1"), before);
}

#[test]
fn transplant_into_a_login_bound_scheme_is_refused_before_the_journal() {
    let db = TestDb::new(Vendor::RuoYi);
    let ry = db.untouched("sys_user", "user_id", "2");
    let admin = db.row_image("sys_user", "user_id", "1");
    let out = db.locksmith(
        &[
            "--connector",
            "ruoyi",
            "reset",
            "ry",
            "--from",
            "admin",
            "--reason",
            "t",
            "--yes",
        ],
        None,
    );
    db.assert_refused(&out, &ry);
    let err = stderr(&out);
    assert!(
        err.contains("the stored value of ruoyi")
            && err.contains("depends on the login, so a value copied from another account would not verify; reset with a new password instead"),
        "{err}"
    );
    assert_eq!(db.row_image("sys_user", "user_id", "1"), admin);
    assert!(kinds(&db, "intent").is_empty());
    assert!(kinds(&db, "outcome").is_empty());
}

#[test]
fn transplant_refuses_mismatched_shapes_empty_donors_and_itself() {
    let db = u8_db();
    let cfg = config(&db, "");
    // A value in another shape: 40 hex characters instead of 28 base64 ones.
    db.exec("INSERT INTO UA_User (cUser_Id, cUser_Name, cPassword, iAdmin, nState, iErrorCount) VALUES ('hexuser', 'hex', 'da39a3ee5e6b4b0d3255bfef95601890afd80709', 0, 0, 0)");
    let image = |u: &str| db.row_image("UA_User", "cUser_Id", u);
    let (zhaoliu, hexuser, nopass) = (image("zhaoliu"), image("hexuser"), image("nopass"));
    let reset = |who: &str, from: &str, force: bool| {
        let mut args = vec!["reset", who, "--from", from, "--reason", "t", "--yes"];
        if force {
            args.push("--force");
        }
        run(&db, &cfg, &args, None)
    };

    let out = reset("zhaoliu", "hexuser", false);
    assert_code(&out, 5);
    assert!(
        stderr(&out).contains("do not have the same shape"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("40 characters, hex")
            && stderr(&out).contains("28 characters, base64")
    );
    // --force does not override a shape mismatch.
    assert_code(&reset("hexuser", "zhaoliu", true), 5);

    let out = reset("zhaoliu", "nopass", false);
    assert_code(&out, 5);
    assert!(
        stderr(&out).contains("no stored password value"),
        "{}",
        stderr(&out)
    );

    let out = reset("zhaoliu", "#zhaoliu", false);
    assert_code(&out, 5);
    assert!(stderr(&out).contains("itself"), "{}", stderr(&out));

    let out = reset("nopass", "demo", false);
    assert_code(&out, 5);
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));

    let out = reset("zhaoliu", "nobody", false);
    assert_code(&out, 4);

    let out = run(
        &db,
        &cfg,
        &[
            "reset",
            "zhaoliu",
            "--from",
            "demo",
            "--new-password-stdin",
            "--reason",
            "t",
            "--yes",
        ],
        Some(&line("x")),
    );
    assert_code(&out, 2);

    assert_eq!(image("zhaoliu"), zhaoliu);
    assert_eq!(image("hexuser"), hexuser);
    assert_eq!(image("nopass"), nopass);
    assert!(kinds(&db, "intent").is_empty());

    // A NULL target is allowed with --force, with a warning.
    let out = reset("nopass", "demo", true);
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("--force: the stored value of nopass"),
        "{}",
        stdout(&out)
    );
    assert_eq!(password_of(&db, "nopass"), password_of(&db, "demo"));
}

/// base64(sha1(password)), computed by MariaDB: independent of the script and of Locksmith.
fn expected_encoding(db: &TestDb, password: &str) -> String {
    db.one(&format!("SELECT TO_BASE64(UNHEX(SHA1('{password}')))"))
}

const ENCODER: &str = "import sys, hashlib, base64\n\
pw = sys.stdin.buffer.read()\n\
if pw.endswith(b'\\n'):\n    pw = pw[:-1]\n\
print(base64.b64encode(hashlib.sha1(pw).digest()).decode())\n";

#[test]
fn an_external_encoder_writes_only_after_a_matching_calibration() {
    let db = u8_db();
    let cfg = config(&db, "");
    let script = db.dir.path().join("enc.py");
    std::fs::write(&script, ENCODER).unwrap();
    let script_s = script.to_str().unwrap().to_string();
    let known = "Known#2026";
    db.exec(&format!(
        "UPDATE UA_User SET cPassword = TO_BASE64(UNHEX(SHA1('{known}'))) WHERE cUser_Id = 'admin'"
    ));
    let enc = |args: &[&str], stdin: Option<&str>| {
        let mut full = vec!["--encoder", "python3", "--encoder-arg", script_s.as_str()];
        full.extend_from_slice(args);
        run(&db, &cfg, &full, stdin)
    };
    let new_pw = "Fresh#Pass-2026";
    let reset = || enc(&reset_stdin("zhaoliu", "t", &[]), Some(&line(new_pw)));
    let zhaoliu = db.row_image("UA_User", "cUser_Id", "zhaoliu");

    // Before any calibration: refused, nothing written, no intent.
    let out = reset();
    assert_code(&out, 5);
    assert!(
        stderr(&out).contains("locksmith calibrate"),
        "{}",
        stderr(&out)
    );
    assert_eq!(db.row_image("UA_User", "cUser_Id", "zhaoliu"), zhaoliu);
    assert!(kinds(&db, "intent").is_empty());

    // A wrong known password: journaled as not matched, writes still refused.
    let out = enc(&["calibrate", "admin"], Some("Wrong#2026\n"));
    assert_code(&out, 8);
    let cal = kinds(&db, "calibrate");
    assert_eq!(cal.len(), 1);
    assert_eq!(cal[0]["details"]["matches"], false);
    let identity = cal[0]["details"]["encoder"]["identity"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(identity.starts_with("sha256:"), "{identity}");
    assert_code(&reset(), 5);
    assert!(kinds(&db, "intent").is_empty());

    // The right one: the reset goes through and stores the encoder's output.
    let out = enc(&["calibrate", "admin"], Some(&line(known)));
    assert_code(&out, 0);
    assert!(stdout(&out).contains("calibrated"), "{}", stdout(&out));
    let cal = kinds(&db, "calibrate");
    assert_eq!(cal[1]["details"]["matches"], true);
    assert_eq!(cal[1]["details"]["encoder"]["identity"], identity.as_str());
    let out = reset();
    assert_code(&out, 0);
    assert_eq!(password_of(&db, "zhaoliu"), expected_encoding(&db, new_pw));
    let intents = kinds(&db, "intent");
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0]["details"]["method"], "new_password");
    assert_eq!(
        intents[0]["details"]["encoder"]["identity"],
        identity.as_str()
    );

    // The same encoder from LOCKSMITH_ENCODER is the same identity.
    let out = db.locksmith_env(
        &[
            "--connector",
            "u8",
            "--encoder-arg",
            &script_s,
            "reset",
            "zhaoliu",
            "--reason",
            "t",
            "--new-password-stdin",
            "--yes",
        ],
        Some(&line("Again#Pass-2026")),
        &[
            ("XDG_CONFIG_HOME", cfg.to_str().unwrap()),
            ("LOCKSMITH_ENCODER", "python3"),
        ],
    );
    assert_code(&out, 0);
    assert_eq!(
        password_of(&db, "zhaoliu"),
        expected_encoding(&db, "Again#Pass-2026")
    );

    // An edited script is another encoder: refused again.
    std::fs::write(&script, format!("{ENCODER}# edited\n")).unwrap();
    let image = db.row_image("UA_User", "cUser_Id", "zhaoliu");
    let out = reset();
    assert_code(&out, 5);
    assert!(
        stderr(&out).contains("locksmith calibrate"),
        "{}",
        stderr(&out)
    );
    assert_eq!(db.row_image("UA_User", "cUser_Id", "zhaoliu"), image);
    assert_eq!(kinds(&db, "intent").len(), 2);

    for text in [journal_text(&db)] {
        for secret in [known, new_pw, "Again#Pass-2026", "Wrong#2026"] {
            assert!(!text.contains(secret), "a password reached the journal");
        }
        assert!(!text.contains(&expected_encoding(&db, new_pw)));
    }
}

#[test]
fn a_connector_encoder_is_gated_the_same_way() {
    let db = u8_db();
    let script = db.dir.path().join("enc.py");
    std::fs::write(&script, ENCODER).unwrap();
    let cfg = config(
        &db,
        &format!(
            "\n[encoder]\ncommand = [\"python3\", \"{}\"]\n",
            script.display()
        ),
    );
    let out = run(
        &db,
        &cfg,
        &reset_stdin("zhaoliu", "t", &[]),
        Some(&line("Fresh#Pass-2026")),
    );
    assert_code(&out, 5);
    assert!(
        stderr(&out).contains("locksmith calibrate"),
        "{}",
        stderr(&out)
    );
    // A connector encoder marked bound to the login refuses transplants.
    let cfg = config(
        &db,
        &format!(
            "\n[encoder]\ncommand = [\"python3\", \"{}\"]\nbound_to_login = true\n",
            script.display()
        ),
    );
    let out = run(
        &db,
        &cfg,
        &[
            "reset", "zhaoliu", "--from", "demo", "--reason", "t", "--yes",
        ],
        None,
    );
    assert_code(&out, 5);
    assert!(
        stderr(&out).contains("depends on the login"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn encoder_failures_say_what_happened_without_the_password() {
    let db = u8_db();
    let cfg = config(&db, "");
    let secret = "Sekret#Pw-2026";
    let cases = [
        (
            "import sys\npw = sys.stdin.read()\nsys.stderr.write('cannot encode ' + pw)\nsys.exit(3)\n",
            "exited with status 3",
        ),
        ("import sys\nsys.stdin.read()\n", "printed nothing"),
        (
            "import sys\nsys.stderr.write('licence server unreachable')\nsys.exit(1)\n",
            "licence server unreachable",
        ),
    ];
    for (i, (body, expect)) in cases.iter().enumerate() {
        let script = db.dir.path().join(format!("bad{i}.py"));
        std::fs::write(&script, body).unwrap();
        for args in [reset_stdin("zhaoliu", "t", &[]), vec!["calibrate", "admin"]] {
            let mut full = vec![
                "--encoder",
                "python3",
                "--encoder-arg",
                script.to_str().unwrap(),
            ];
            full.extend(args);
            let out = run(&db, &cfg, &full, Some(&line(secret)));
            assert_code(&out, 5);
            let err = stderr(&out);
            assert!(err.contains(expect), "{err}");
            assert!(
                !err.contains(secret) && !stdout(&out).contains(secret),
                "{err}"
            );
        }
    }
    assert!(kinds(&db, "intent").is_empty());
    assert!(!journal_text(&db).contains(secret));
}

#[test]
fn u8_fixture_is_plain_tsql_and_connectors_check_names_a_missing_column() {
    let text = std::fs::read_to_string(common::repo_root().join("fixtures/u8.sql")).unwrap();
    for batch in text.split("\nGO\n") {
        let code: String = batch
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        let code = code.trim();
        if code.is_empty() {
            continue;
        }
        assert!(
            code.starts_with("CREATE TABLE [dbo].[UA_User]")
                || code.starts_with("INSERT INTO [dbo].[UA_User]"),
            "{code}"
        );
        let upper = code.to_uppercase();
        for banned in ["USE ", "CREATE DATABASE", " IF ", "SP_", "EXEC"] {
            assert!(!upper.contains(banned), "{banned} in {code}");
        }
    }

    let db = u8_db();
    let out = db.locksmith(&["--connector", "u8", "connectors", "check"], None);
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("ok on table `UA_User`"),
        "{}",
        stdout(&out)
    );

    let db = TestDb::new(Vendor::RuoYi);
    db.exec(&u8_sql_for_mariadb(Some("bModifyPWFirstLogin")));
    assert_eq!(db.one("SELECT COUNT(*) FROM UA_User"), "8");
    let out = db.locksmith(&["--connector", "u8", "connectors", "check"], None);
    assert_code(&out, 8);
    let text = stdout(&out);
    assert!(
        text.contains("embedded:u8.toml") && text.contains("bModifyPWFirstLogin"),
        "{text}"
    );
}

#[test]
fn u8_lookup_reads_states_from_nstate_and_the_error_count() {
    let db = u8_db();
    let cfg = config(&db, "");
    let ids = |filter: &str| -> Vec<String> {
        let out = run(&db, &cfg, &["--json", "lookup", filter], None);
        assert_code(&out, 0);
        common::account_fields(&json(&out), "id")
    };
    assert_eq!(ids("--locked"), ["lisi"]);
    assert_eq!(ids("--disabled"), ["wangwu"]);
    assert_eq!(ids("--admins"), ["admin", "demo"]);
    let out = run(&db, &cfg, &["--json", "lookup", "张三"], None);
    assert_code(&out, 0);
    assert_eq!(json(&out)["accounts"][0]["id"], "zhangsan");
}
