//! The foundation's "done when" list, end to end: the real binary against
//! real MariaDB databases loaded from the vendors' install SQL, with an
//! independent oracle checking every value written.

mod common;

use common::proof::{oracle_verifies, stored};
use common::{TestDb, Vendor, assert_code, json, line, reset_stdin, stderr, stdout};
use serde_json::json;

fn reset_and_prove(vendor: Vendor, login: &str, old_password: &str) {
    let db = TestDb::new(vendor);
    let new_password = "N3w!Pass_word-2026";
    let (before, before_salt) = stored(&db, login);
    assert!(
        oracle_verifies(vendor, login, old_password, &before, before_salt.as_deref()),
        "the fixture's known password must verify before the reset"
    );

    let doc = db.reset_json(login, new_password, "test: prove the format");
    assert!(doc["journal_entry"].as_i64().is_some(), "{doc}");
    assert!(doc["account"].as_str().unwrap().starts_with(login), "{doc}");
    assert!(doc["scheme"].as_str().is_some(), "{doc}");
    assert!(
        doc.get("temporary_password").is_none(),
        "a password from stdin is not echoed back"
    );

    let (after, after_salt) = stored(&db, login);
    assert_ne!(after, before);
    assert!(
        oracle_verifies(vendor, login, new_password, &after, after_salt.as_deref()),
        "oracle rejects the value Locksmith wrote"
    );
    assert!(
        !oracle_verifies(vendor, login, old_password, &after, after_salt.as_deref()),
        "old password still verifies"
    );

    let ok = db.locksmith(
        &["--connector", vendor.connector(), "calibrate", login],
        Some(&line(new_password)),
    );
    assert_code(&ok, 0);
    let bad = db.locksmith(
        &["--connector", vendor.connector(), "calibrate", login],
        Some(&line(old_password)),
    );
    assert_code(&bad, 8);

    // The journal holds the intent and outcome, and no secret.
    let journal = std::fs::read(db.journal()).unwrap();
    let text = String::from_utf8_lossy(&journal);
    for secret in [new_password, old_password, after.as_str(), before.as_str()] {
        assert!(!text.contains(secret), "journal contains a secret");
    }
    let v = db.locksmith(&["audit", "verify"], None);
    assert_code(&v, 0);
}

#[test]
fn foundation_resets_are_accepted_by_the_oracle() {
    for (vendor, login, old) in common::FOUNDATION {
        reset_and_prove(vendor, login, old);
    }
}

#[test]
fn ruoyi_seed_admin_calibrates_before_any_change() {
    let db = TestDb::new(Vendor::RuoYi);
    let out = db.locksmith(
        &["--connector", "ruoyi", "--json", "calibrate", "admin"],
        Some("admin123\n"),
    );
    assert_code(&out, 0);
    assert_eq!(json(&out)["calibration"]["matches"], true);
    // Detection picks the connector from the schema when --connector is omitted.
    let out = db.locksmith(&["calibrate", "admin"], Some("admin123\n"));
    assert_code(&out, 0);
}

#[test]
fn unwritable_journal_refuses_and_leaves_the_row_byte_identical() {
    let db = TestDb::new(Vendor::RuoYi);
    let image = db.row_image("sys_user", "user_id", "1");
    // A journal path under a regular file cannot be created, even by root.
    let blocker = db.dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"x").unwrap();
    let journal = blocker.join("journal.sqlite");
    let url = db.url();
    let mut args = vec![
        "--target",
        &url,
        "--journal",
        journal.to_str().unwrap(),
        "--connector",
        "ruoyi",
    ];
    args.extend(reset_stdin("admin", "test", &[]));
    let out = common::run_locksmith(&args, Some(&line("Whatever#2026pass")));
    assert_code(&out, 6);
    assert!(stderr(&out).contains("journal"), "{}", stderr(&out));
    assert_eq!(db.row_image("sys_user", "user_id", "1"), image);
}

#[test]
fn search_matches_quotes_wildcards_and_chinese_literally() {
    let db = TestDb::new(Vendor::RuoYi);
    let ids = |q: &str| -> Vec<String> {
        let out = db.locksmith(&["--connector", "ruoyi", "--json", "lookup", q], None);
        assert_code(&out, 0);
        common::account_fields(&json(&out), "id")
    };
    // `_` and `%` would also match the decoy `itXopsY` if they acted as wildcards.
    assert_eq!(ids("it_ops%'\""), ["103"]);
    assert_eq!(ids("_ops"), ["103"]);
    assert_eq!(ids("s_a"), ["105"]);
    assert_eq!(ids("运维\"值"), ["103"]);
    assert_eq!(ids("张三"), ["100"]);
    assert!(ids("' OR '1'='1").is_empty());
    assert!(ids("\\").is_empty());

    let db = TestDb::new(Vendor::Wukong11);
    let out = db.locksmith(
        &["--connector", "wukong11", "--json", "lookup", "ops%'\"张"],
        None,
    );
    assert_code(&out, 0);
    let found: Vec<_> = common::account_fields(&json(&out), "id");
    assert_eq!(found, ["14777"]);
}

#[test]
fn lookup_filters_admins_and_disabled_and_pages() {
    let db = TestDb::new(Vendor::RuoYi);
    let out = db.locksmith(
        &["--connector", "ruoyi", "--json", "lookup", "--admins"],
        None,
    );
    assert_code(&out, 0);
    let ids: Vec<_> = common::account_fields(&json(&out), "id");
    assert_eq!(ids, ["1", "105"]);

    let out = db.locksmith(
        &["--connector", "ruoyi", "--json", "lookup", "--disabled"],
        None,
    );
    let doc = json(&out);
    let ids: Vec<_> = common::account_fields(&doc, "id");
    assert_eq!(ids, ["101"]);
    assert_eq!(doc["accounts"][0]["enabled"], false);

    let out = db.locksmith(
        &["--connector", "ruoyi", "--json", "lookup", "--limit", "3"],
        None,
    );
    let doc = json(&out);
    assert_eq!(doc["accounts"].as_array().unwrap().len(), 3);
    assert_eq!(doc["more"], true);

    // RuoYi keeps lockouts in its cache: --locked finds nothing and says why.
    let out = db.locksmith(
        &["--connector", "ruoyi", "--json", "lookup", "--locked"],
        None,
    );
    let doc = json(&out);
    assert!(doc["accounts"].as_array().unwrap().is_empty());
    assert!(
        doc["notes"][0]
            .as_str()
            .unwrap()
            .contains("outside the database"),
        "{doc}"
    );
}

/// `lookup 70070` over rows that match it exactly, as a prefix and as a substring.
fn ranked_db() -> TestDb {
    let db = TestDb::new(Vendor::RuoYi);
    db.exec(
        "INSERT INTO sys_user (user_id, dept_id, login_name, user_name, email, phonenumber, password, salt, status, del_flag) VALUES \
         (201, 103, 'ops-a', '甲', 'a@example.cn', '13970070', MD5('x'), 's', '0', '0'), \
         (202, 103, '70070', '乙', 'b@example.cn', '13700000202', MD5('x'), 's', '0', '0'), \
         (203, 103, '70070b', '丙', 'c@example.cn', '13700000203', MD5('x'), 's', '0', '0'), \
         (204, 103, 'x70070', '丁', 'd@example.cn', '13700000204', MD5('x'), 's', '0', '0'), \
         (205, 103, 'yy', '70070号', 'e@example.cn', '13700000205', MD5('x'), 's', '0', '0')",
    );
    db
}

#[test]
fn search_ranks_the_exact_login_then_prefixes_then_substrings() {
    let db = ranked_db();
    let page = |args: &[&str]| {
        let mut all = vec!["--connector", "ruoyi", "--json", "lookup"];
        all.extend_from_slice(args);
        let out = db.locksmith(&all, None);
        assert_code(&out, 0);
        json(&out)
    };
    // The exact login first (its id is not the lowest), then prefixes of the
    // login or the name, then substrings (here the phone's tail), each by id.
    let doc = page(&["70070"]);
    assert_eq!(
        common::account_fields(&doc, "id"),
        ["202", "203", "205", "201", "204"]
    );
    // `#ID` is an exact match too.
    assert_eq!(common::account_fields(&page(&["#204"]), "id"), ["204"]);

    // Keyset pages: a row deleted before the cursor shifts nothing (an
    // OFFSET would now skip 205).
    let first = page(&["70070", "--limit", "2"]);
    assert_eq!(common::account_fields(&first, "id"), ["202", "203"]);
    let next = first["next"]
        .as_str()
        .expect("a cursor for the next page")
        .to_string();
    db.exec("DELETE FROM sys_user WHERE user_id = 202");
    let second = page(&["70070", "--limit", "2", "--after", &next]);
    assert_eq!(common::account_fields(&second, "id"), ["205", "201"]);
    let next = second["next"].as_str().expect("a third page").to_string();
    let third = page(&["70070", "--limit", "2", "--after", &next]);
    assert_eq!(common::account_fields(&third, "id"), ["204"]);
    assert_eq!(third["more"], false);
    assert!(third["next"].is_null());

    let out = db.locksmith(
        &["--connector", "ruoyi", "lookup", "--after", "bogus"],
        None,
    );
    assert_code(&out, 2);
    assert!(stderr(&out).contains("--after `bogus`"), "{}", stderr(&out));
}

/// On MariaDB the exact and prefix matches of login and phone come from
/// their indexes first (one query), the scan fills the page (a second):
/// pages that end inside, at, and after the indexed head agree with the
/// order of one ranked query, and `--starts-with` stops at the head.
#[test]
fn the_indexed_head_and_the_scan_make_one_ranked_order() {
    let db = ranked_db();
    db.exec(
        "INSERT INTO sys_user (user_id, dept_id, login_name, user_name, email, phonenumber, password, salt, status, del_flag) VALUES \
         (206, 103, 'zz', '戊', 'f@example.cn', '70070123', MD5('x'), 's', '0', '0'), \
         (207, 103, 'ww', '己', '70070@example.cn', '13700000207', MD5('x'), 's', '0', '0')",
    );
    let page = |args: &[&str]| {
        let mut all = vec!["--connector", "ruoyi", "--json", "lookup", "70070"];
        all.extend_from_slice(args);
        let out = db.locksmith(&all, None);
        assert_code(&out, 0);
        json(&out)
    };
    // 0: the login; 1: login or phone prefixes (203, 206); 2: name or email
    // prefixes (205, 207); 3: substrings (201, 204).
    let all = ["202", "203", "206", "205", "207", "201", "204"];
    assert_eq!(common::account_fields(&page(&[]), "id"), all);
    for limit in 1..=7 {
        let mut seen = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let lim = limit.to_string();
            let mut args = vec!["--limit", lim.as_str()];
            if let Some(cursor) = &next {
                args.extend(["--after", cursor.as_str()]);
            }
            let doc = page(&args);
            seen.extend(common::account_fields(&doc, "id"));
            match doc["next"].as_str() {
                Some(cursor) => next = Some(cursor.to_string()),
                None => break,
            }
            assert!(seen.len() < 20, "pages never end at --limit {limit}");
        }
        assert_eq!(seen, all, "pages of {limit}");
    }
    let head = page(&["--starts-with"]);
    assert_eq!(common::account_fields(&head, "id"), ["202", "203", "206"]);
    assert!(head["next"].is_null());
    assert_eq!(
        common::account_fields(&page(&["--starts-with", "--limit", "2"]), "id"),
        ["202", "203"]
    );
}

#[test]
fn ambiguous_and_unknown_accounts_are_refused_with_candidates() {
    let db = TestDb::new(Vendor::RuoYi);
    let out = db.locksmith(&["--connector", "ruoyi", "--json", "show", "dup"], None);
    assert_code(&out, 4);
    let doc = json(&out);
    assert_eq!(doc["candidates"], json!(["dup (#106)", "dup (#107)"]));
    let out = db.locksmith(&["--connector", "ruoyi", "show", "#107"], None);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("重复二"));
    let out = db.locksmith(&["--connector", "ruoyi", "show", "nobody"], None);
    assert_code(&out, 4);
    // The database compares case-insensitively; Locksmith wants the exact login.
    let out = db.locksmith(&["--connector", "ruoyi", "show", "ADMIN"], None);
    assert_code(&out, 4);
    assert!(stderr(&out).contains("admin (#1)"), "{}", stderr(&out));
}

#[test]
fn show_never_prints_the_stored_hash() {
    let db = TestDb::new(Vendor::RuoYi);
    let out = db.locksmith(&["--connector", "ruoyi", "show", "admin"], None);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(
        !text.contains("29c67a30398638269fe600f73a054934") && !text.contains("111111"),
        "{text}"
    );
    assert!(text.contains("<32 characters>"), "{text}");
    assert!(
        text.contains("Shiro cache"),
        "connector notes are shown: {text}"
    );
}

#[test]
fn a_value_in_another_format_is_refused_unless_forced() {
    let db = TestDb::new(Vendor::RuoYi);
    let before = db.untouched("sys_user", "user_id", "108");
    let mut args = vec!["--connector", "ruoyi"];
    args.extend(reset_stdin("legacy", "t", &[]));
    let out = db.locksmith(&args, Some(&line("Abc#12345678")));
    db.assert_refused(&out, &before);
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    let out = db.reset("legacy", "Abc#12345678", &["--force"]);
    assert_code(&out, 0);
    let (value, salt) = stored(&db, "legacy");
    assert!(oracle_verifies(
        Vendor::RuoYi,
        "legacy",
        "Abc#12345678",
        &value,
        salt.as_deref()
    ));
}

#[test]
fn dry_run_writes_nothing_not_even_the_journal() {
    let db = TestDb::new(Vendor::RuoYi);
    let image = db.row_image("sys_user", "user_id", "1");
    let out = db.locksmith(
        &[
            "--connector",
            "ruoyi",
            "reset",
            "admin",
            "--reason",
            "t",
            "--dry-run",
        ],
        None,
    );
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains("UPDATE `sys_user` SET `password` = ?"),
        "{text}"
    );
    assert!(text.contains("`user_id` = ?"), "{text}");
    // No journal yet, so no key to fingerprint with: the plan says so.
    assert!(text.contains("no journal key"), "{text}");
    assert!(!db.journal().exists());
    assert_eq!(db.row_image("sys_user", "user_id", "1"), image);
}

#[test]
fn writes_need_a_reason_and_yes_without_a_terminal() {
    let db = TestDb::new(Vendor::RuoYi);
    let out = db.locksmith(
        &["--connector", "ruoyi", "reset", "admin", "--reason", "t"],
        None,
    );
    assert_code(&out, 2);
    assert!(stderr(&out).contains("--yes"));
    let out = db.locksmith(&["--connector", "ruoyi", "reset", "admin", "--yes"], None);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("--reason"));
}

#[test]
fn generated_password_is_shown_once_and_verifies() {
    let db = TestDb::new(Vendor::Wukong11);
    let out = db.locksmith(
        &[
            "--connector",
            "wukong11",
            "--json",
            "reset",
            "13900000001",
            "--reason",
            "t",
            "--yes",
            "--unlock",
        ],
        None,
    );
    assert_code(&out, 0);
    let doc = json(&out);
    let pw = doc["temporary_password"].as_str().unwrap().to_string();
    assert!(pw.len() >= 16 && pw.bytes().all(|b| (0x21..0x7f).contains(&b)));
    let (value, salt) = stored(&db, "13900000001");
    assert!(oracle_verifies(
        Vendor::Wukong11,
        "13900000001",
        &pw,
        &value,
        salt.as_deref()
    ));
    // --unlock re-enabled the disabled account.
    assert_eq!(
        db.one("SELECT status FROM wk_admin_user WHERE user_id = 14774"),
        "1"
    );
    let journal = String::from_utf8_lossy(&std::fs::read(db.journal()).unwrap()).into_owned();
    assert!(!journal.contains(&pw));
}

#[test]
fn unlock_enables_and_must_change_clears_the_password_date() {
    let db = TestDb::new(Vendor::RuoYi);
    let out = db.locksmith(
        &[
            "--connector",
            "ruoyi",
            "unlock",
            "lisi",
            "--reason",
            "ticket 42",
            "--yes",
        ],
        None,
    );
    assert_code(&out, 0);
    assert_eq!(
        db.one("SELECT status FROM sys_user WHERE user_id = 101"),
        "0"
    );
    // Nothing left to unlock: refused as a no-op, nothing written.
    let out = db.locksmith(
        &[
            "--connector",
            "ruoyi",
            "unlock",
            "lisi",
            "--reason",
            "again",
            "--yes",
        ],
        None,
    );
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("Nothing to change"),
        "{}",
        stdout(&out)
    );

    let out = db.reset("zhangsan", "Zz#2026pass!!", &[]);
    assert_code(&out, 0);
    assert_ne!(
        db.one("SELECT pwd_update_date FROM sys_user WHERE user_id = 100"),
        "NULL"
    );
    let out = db.reset("zhangsan", "Zz#2026pass!!", &["--must-change"]);
    assert_code(&out, 0);
    assert_eq!(
        db.one("SELECT pwd_update_date FROM sys_user WHERE user_id = 100"),
        "NULL"
    );
}

#[test]
fn connectors_check_passes_on_the_vendor_schema_and_names_missing_columns() {
    for vendor in [
        Vendor::RuoYi,
        Vendor::RuoYiVue,
        Vendor::Wukong11,
        Vendor::Jeecg,
    ] {
        let db = TestDb::new(vendor);
        let out = db.locksmith(
            &["--connector", vendor.connector(), "connectors", "check"],
            None,
        );
        assert_code(&out, 0);
        assert!(stdout(&out).contains("ok"), "{}", stdout(&out));
    }
    let db = TestDb::new(Vendor::RuoYi);
    db.exec("ALTER TABLE sys_user DROP COLUMN salt");
    let out = db.locksmith(&["--connector", "ruoyi", "connectors", "check"], None);
    assert_code(&out, 8);
    let text = stdout(&out);
    assert!(
        text.contains("embedded:ruoyi.toml: columns.salt: column `salt` does not exist"),
        "{text}"
    );
}

#[test]
fn audit_verify_names_an_edited_entry() {
    let db = TestDb::new(Vendor::RuoYi);
    for _ in 0..2 {
        let out = db.reset("zhangsan", "Zz#2026pass!!", &[]);
        assert_code(&out, 0);
    }
    let out = db.locksmith(&["--json", "audit", "list"], None);
    assert_eq!(json(&out)["entries"].as_array().unwrap().len(), 4);
    common::journal_sql(
        &db.journal(),
        "UPDATE entries SET account = 'someone else' WHERE id = 3",
    );
    let out = db.locksmith(&["audit", "verify"], None);
    assert_code(&out, 8);
    assert!(stdout(&out).contains("entry 3"), "{}", stdout(&out));
}
