//! `disable` and `offboard` against real MariaDB databases loaded with the
//! vendors' install SQL: the vendor's own disable value, the last-admin
//! refusal, the summary classes (CSV with BOM, GBK), a dry run that writes
//! nothing, undo of a batch, resume after SIGKILL without writing an account
//! twice, and `check --departed`.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::{TestDb, Vendor, assert_code, journal_rows, json, stderr, stdout};

fn status(db: &TestDb, login: &str) -> String {
    db.one(&format!(
        "SELECT status FROM sys_user WHERE login_name = '{login}'"
    ))
}

fn write_file(db: &TestDb, name: &str, bytes: &[u8]) -> PathBuf {
    let p = db.dir.path().join(name);
    std::fs::write(&p, bytes).expect("write list");
    p
}

fn offboard(db: &TestDb, file: &Path, extra: &[&str]) -> std::process::Output {
    let f = file.display().to_string();
    let mut args = vec![
        "--connector",
        "ruoyi",
        "--json",
        "offboard",
        "--from",
        &f,
        "--reason",
        "HR-2026-11 departures",
    ];
    args.extend_from_slice(extra);
    db.locksmith(&args, None)
}

fn counts(doc: &serde_json::Value) -> HashMap<String, u64> {
    doc["summary"]["counts"]
        .as_object()
        .expect("counts")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
        .collect()
}

fn class_of(doc: &serde_json::Value, key: &str) -> String {
    doc["summary"]["listed"]
        .as_array()
        .expect("listed")
        .iter()
        .find(|l| l["key"] == key)
        .unwrap_or_else(|| panic!("{key} not in {doc}"))["class"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn disable_writes_the_vendors_value_and_refuses_the_last_enabled_admin() {
    let db = TestDb::new(Vendor::RuoYi);
    let out = db.locksmith(
        &[
            "--connector",
            "ruoyi",
            "--json",
            "disable",
            "zhangsan",
            "--reason",
            "HR-1",
            "--yes",
        ],
        None,
    );
    assert_code(&out, 0);
    // RuoYi's own 停用 writes status '1'; nothing else in the row changes.
    assert_eq!(status(&db, "zhangsan"), "1");
    let doc = json(&out);
    assert!(doc.to_string().contains("sessions"), "{doc}");
    // Already disabled: nothing to change, no intent.
    let before = common::intents(&db.journal());
    let out = db.locksmith(
        &[
            "--connector",
            "ruoyi",
            "disable",
            "lisi",
            "--reason",
            "HR-1",
            "--yes",
        ],
        None,
    );
    assert_code(&out, 0);
    assert_eq!(common::intents(&db.journal()), before);
    // Two enabled admins (admin #1, ops_admin by role): the first may go, the last may not.
    let out = db.locksmith(
        &[
            "--connector",
            "ruoyi",
            "disable",
            "ops_admin",
            "--reason",
            "HR-1",
            "--yes",
        ],
        None,
    );
    assert_code(&out, 0);
    assert_eq!(status(&db, "ops_admin"), "1");
    let before = common::intents(&db.journal());
    let out = db.locksmith(
        &[
            "--connector",
            "ruoyi",
            "disable",
            "admin",
            "--reason",
            "HR-1",
            "--yes",
        ],
        None,
    );
    assert_code(&out, 5);
    assert!(
        stderr(&out).contains("last enabled admin"),
        "{}",
        stderr(&out)
    );
    assert_eq!(status(&db, "admin"), "0");
    assert_eq!(common::intents(&db.journal()), before);
}

/// The HR export: a CSV with a BOM, a quoted name with a comma, matched by
/// login, email and phone.
const HR_CSV: &str = "\u{feff}姓名,账号,邮箱,手机\n\
\"Zhang, San\",zhangsan,,\n\
李四,lisi,,\n\
无名,nobody,,\n\
重复,dup,,\n\
若依,,ry@qq.com,\n\
运维管理员,,,13700000006\n\
管理员,admin,,\n\
张三again,,zhangsan@example.cn,\n";

#[test]
fn summary_classes_dry_run_writes_nothing_then_the_batch_and_its_undo() {
    let db = TestDb::new(Vendor::RuoYi);
    let file = write_file(&db, "hr.csv", HR_CSV.as_bytes());
    let image = |id: &str| db.row_image("sys_user", "user_id", id);
    let before: Vec<String> = ["1", "2", "100", "105"]
        .iter()
        .map(|id| image(id))
        .collect();

    let out = offboard(&db, &file, &["--dry-run"]);
    assert_code(&out, 0);
    let doc = json(&out);
    assert_eq!(doc["summary"]["encoding"], "utf-8 with BOM");
    assert_eq!(doc["summary"]["format"], "csv");
    let c = counts(&doc);
    assert_eq!(c["would_disable"], 3, "{doc}");
    assert_eq!(c["already_disabled"], 1);
    assert_eq!(c["not_found"], 1);
    assert_eq!(c["ambiguous"], 1);
    assert_eq!(c["last_admin"], 1);
    assert_eq!(c["duplicate"], 1);
    assert_eq!(class_of(&doc, "zhangsan"), "would_disable");
    assert_eq!(class_of(&doc, "ry@qq.com"), "would_disable");
    assert_eq!(class_of(&doc, "13700000006"), "would_disable");
    assert_eq!(class_of(&doc, "admin"), "last_admin");
    let dup = &doc["summary"]["listed"][3];
    assert_eq!(dup["candidates"].as_array().map(Vec::len), Some(2), "{dup}");
    assert_eq!(doc["summary"]["admins"][0], "ops_admin (#105)");
    // A dry run writes nothing, not even the journal.
    let after: Vec<String> = ["1", "2", "100", "105"]
        .iter()
        .map(|id| image(id))
        .collect();
    assert_eq!(before, after);
    assert!(!db.journal().exists());

    let out = offboard(&db, &file, &["--yes"]);
    assert_code(&out, 0);
    let doc = json(&out);
    let batch = doc["summary"]["batch"].as_str().expect("batch").to_string();
    assert_eq!(doc["result"]["written"], 3, "{doc}");
    for login in ["zhangsan", "ry", "ops_admin"] {
        assert_eq!(status(&db, login), "1", "{login}");
    }
    assert_eq!(status(&db, "admin"), "0");
    // Every intent of the batch names it; the vendor's other columns are untouched.
    let tagged = journal_rows(
        &db.journal(),
        &format!(
            "SELECT COUNT(*) FROM entries WHERE kind = 'intent' AND json_extract(body, '$.details.batch') = '{batch}'"
        ),
    );
    assert_eq!(tagged[0][0], "3");
    // The same command again: nothing left to do, nothing written twice.
    let out = offboard(&db, &file, &["--yes"]);
    assert_code(&out, 0);
    let doc = json(&out);
    assert_eq!(doc["summary"]["batch"], batch.as_str());
    assert_eq!(counts(&doc)["done"], 3, "{doc}");
    assert_eq!(counts(&doc)["would_disable"], 0);

    // Someone re-enables ry by hand meanwhile: the undo leaves that row alone.
    db.exec("UPDATE sys_user SET status = '0', remark = 'by hand' WHERE login_name = 'ry'");
    let undo = |extra: &[&str]| {
        let mut args = vec![
            "--connector",
            "ruoyi",
            "--json",
            "offboard",
            "--undo",
            &batch,
            "--reason",
            "HR list was wrong",
        ];
        args.extend_from_slice(extra);
        db.locksmith(&args, None)
    };
    let out = undo(&["--yes"]);
    assert_code(&out, 0);
    let doc = json(&out);
    assert_eq!(doc["undo"]["counts"]["would_enable"], 2, "{doc}");
    assert_eq!(doc["undo"]["counts"]["changed_since"], 1, "{doc}");
    assert_eq!(status(&db, "zhangsan"), "0");
    assert_eq!(status(&db, "ops_admin"), "0");
    assert_eq!(db.row_image("sys_user", "user_id", "100"), before[2]);
    // An undo run again finds it done.
    let out = undo(&["--yes"]);
    assert_code(&out, 0);
    assert_eq!(json(&out)["undo"]["counts"]["done"], 2);
}

#[test]
fn a_gbk_list_is_read_as_gbk_and_said_so() {
    let db = TestDb::new(Vendor::RuoYi);
    let (gbk, _, bad) = encoding_rs::GBK.encode("姓名,登录名\n张三,zhangsan\n李四,lisi\n");
    assert!(!bad);
    assert!(
        std::str::from_utf8(&gbk).is_err(),
        "the test file must not be UTF-8"
    );
    let file = write_file(&db, "hr-gbk.csv", &gbk);
    let out = offboard(&db, &file, &["--dry-run"]);
    assert_code(&out, 0);
    let doc = json(&out);
    assert_eq!(doc["summary"]["encoding"], "gbk");
    assert_eq!(class_of(&doc, "zhangsan"), "would_disable");
    assert_eq!(class_of(&doc, "lisi"), "already_disabled");
    // The text summary names the encoding it read, in Chinese too.
    let f = file.display().to_string();
    let out = db.locksmith(
        &[
            "--connector",
            "ruoyi",
            "--lang",
            "zh",
            "offboard",
            "--from",
            &f,
            "--reason",
            "x",
            "--dry-run",
        ],
        None,
    );
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("按 gbk 读取"), "{text}");
    assert!(text.contains("将禁用"), "{text}");
}

#[test]
fn check_departed_fails_while_a_listed_account_is_enabled() {
    let db = TestDb::new(Vendor::RuoYi);
    let file = write_file(&db, "gone.txt", b"zhangsan\nlisi\nnobody\n");
    let f = file.display().to_string();
    let check = || {
        db.locksmith(
            &["--connector", "ruoyi", "--json", "check", "--departed", &f],
            None,
        )
    };
    let out = check();
    assert_code(&out, 8);
    let doc = json(&out);
    assert_eq!(
        doc["posture"]["findings"][0]["accounts"][0], "zhangsan (#100)",
        "{doc}"
    );
    let out = offboard(&db, &file, &["--yes"]);
    assert_code(&out, 0);
    let out = check();
    assert_code(&out, 0);
}

/// A large batch killed halfway (SIGKILL): the rerun of the same command
/// settles the open intents, skips what is done and finishes the rest; every
/// account ends disabled by exactly one committed write.
#[test]
fn a_killed_batch_resumes_without_writing_an_account_twice() {
    let db = TestDb::new(Vendor::RuoYi);
    let n = 3000;
    db.exec(&format!(
        "INSERT INTO sys_user (user_id, dept_id, login_name, user_name, password, salt, status, del_flag, create_by, create_time) \
         SELECT 10000 + seq, 103, CONCAT('gone', seq), CONCAT('离职', seq), MD5(CONCAT('gone', seq, 'pw', 'abcdef')), 'abcdef', '0', '0', 'admin', NOW() \
         FROM seq_1_to_{n}"
    ));
    let list: String = (1..=n).map(|i| format!("gone{i}\n")).collect();
    let file = write_file(&db, "many.txt", list.as_bytes());
    let f = file.display().to_string();
    let journal = db.journal().display().to_string();
    let url = db.url();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_locksmith"))
        .args([
            "--target",
            &url,
            "--journal",
            &journal,
            "--connector",
            "ruoyi",
            "--json",
            "offboard",
            "--from",
            &f,
            "--reason",
            "HR-2026-11 departures",
            "--yes",
        ])
        .env("HOME", std::env::temp_dir())
        .env_remove("LOCKSMITH_TARGET")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Kill it once some accounts are disabled but not all.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let done: u64 = db
            .one("SELECT COUNT(*) FROM sys_user WHERE login_name LIKE 'gone%' AND status = '1'")
            .parse()
            .unwrap_or(0);
        if done >= 300 {
            break;
        }
        assert!(
            child.try_wait().expect("wait").is_none(),
            "finished before the kill"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "too slow to reach the kill point"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let disabled = |db: &TestDb| -> u64 {
        db.one("SELECT COUNT(*) FROM sys_user WHERE login_name LIKE 'gone%' AND status = '1'")
            .parse()
            .unwrap_or(0)
    };
    let halfway = disabled(&db);
    assert!(halfway > 0 && halfway < n, "killed at {halfway}");

    let out = offboard(&db, &file, &["--yes"]);
    assert_code(&out, 0);
    let doc = json(&out);
    assert_eq!(disabled(&db), n, "{}", stderr(&out));
    let c = counts(&doc);
    assert_eq!(c["done"] + c["would_disable"], n, "{c:?}");
    assert!(c["done"] >= halfway - 100, "{c:?} halfway {halfway}");
    // Exactly one committed disable per account: an outcome or a reconcile that found it applied.
    let per_account = journal_rows(
        &db.journal(),
        "SELECT i.account, COUNT(*) FROM entries i JOIN entries o ON o.refers_to = i.id \
         WHERE i.kind = 'intent' AND o.kind IN ('outcome', 'reconcile') \
           AND json_extract(o.body, '$.outcome') = 'committed' \
         GROUP BY i.account",
    );
    assert_eq!(per_account.len() as u64, n);
    assert!(
        per_account.iter().all(|r| r[1] == "1"),
        "an account was written twice"
    );
    let verify = db.locksmith(&["audit", "verify"], None);
    assert_code(&verify, 0);
}
