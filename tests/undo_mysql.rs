//! Issue 12, undo: with `[journal] seal_to` a reset seals the before-values
//! to an age recipient inside its journal entry; `undo ENTRY --identity FILE`
//! writes them back through the guarded write, and RuoYi's own verifier
//! accepts the old password again. The journal holds no plaintext and no
//! unkeyed hash of the old value; a row changed after the reset makes undo
//! refuse; without a recipient undo says it is unavailable.

mod common;

use std::path::PathBuf;

use age::secrecy::ExposeSecret;
use common::vendor_oracle::java_verify;
use common::{TestDb, Vendor, assert_code, json, stderr, stdout};
use sha2::Digest;

const OLD: &str = "admin123";
const NEW: &str = "Wr0ng-account!reset";

fn accepts(db: &TestDb, password: &str) -> bool {
    let r = &db.rows("SELECT password, salt FROM sys_user WHERE login_name = 'admin'")[0];
    java_verify(
        "ruoyi",
        &[
            ("login", "admin"),
            ("password", password),
            ("salt", &r[1]),
            ("stored", &r[0]),
        ],
    )
}

/// An identity file and a config sealing to its recipient.
fn keys(db: &TestDb) -> (PathBuf, PathBuf) {
    let id = age::x25519::Identity::generate();
    let identity = db.dir.path().join("undo-key.txt");
    std::fs::write(&identity, format!("{}\n", id.to_string().expose_secret())).unwrap();
    let config = db.dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("[journal]\nseal_to = \"{}\"\n", id.to_public()),
    )
    .unwrap();
    (identity, config)
}

fn reset(db: &TestDb, config: Option<&PathBuf>) -> i64 {
    let mut args: Vec<String> = Vec::new();
    if let Some(c) = config {
        args.extend(["--config".into(), c.display().to_string()]);
    }
    args.extend(
        [
            "--connector",
            "ruoyi",
            "--json",
            "reset",
            "admin",
            "--new-password-stdin",
            "--reason",
            "reset the wrong account",
            "--yes",
        ]
        .map(String::from),
    );
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = db.locksmith(&refs, Some(&format!("{NEW}\n")));
    assert_code(&out, 0);
    json(&out)["journal_entry"].as_i64().unwrap()
}

fn undo(
    db: &TestDb,
    config: &std::path::Path,
    identity: &std::path::Path,
    entry: i64,
) -> std::process::Output {
    db.locksmith(
        &[
            "--config",
            config.to_str().unwrap(),
            "--connector",
            "ruoyi",
            "--json",
            "undo",
            &entry.to_string(),
            "--identity",
            identity.to_str().unwrap(),
            "--reason",
            "INC-12 the wrong account was reset",
            "--yes",
        ],
        None,
    )
}

#[test]
fn undo_puts_the_old_password_back_and_the_journal_holds_only_ciphertext() {
    let db = TestDb::new(Vendor::RuoYi);
    let (identity, config) = keys(&db);
    let old_stored = db.one("SELECT password FROM sys_user WHERE login_name = 'admin'");
    let old_salt = db.one("SELECT salt FROM sys_user WHERE login_name = 'admin'");
    let neighbour = db.row_image("sys_user", "user_id", "2");
    assert!(accepts(&db, OLD));
    let entry = reset(&db, Some(&config));
    assert!(!accepts(&db, OLD));

    let out = undo(&db, &config, &identity, entry);
    assert_code(&out, 0);
    let doc = json(&out);
    assert_eq!(doc["method"], "undo", "{doc}");
    assert_eq!(doc["backup"]["entry"], entry);
    assert!(accepts(&db, OLD), "RuoYi rejects the undone value");
    assert!(!accepts(&db, NEW));
    assert_eq!(db.row_image("sys_user", "user_id", "2"), neighbour);

    // Canaries: no plaintext, no stored value, no unkeyed hash of either.
    let journal = String::from_utf8_lossy(&std::fs::read(db.journal()).unwrap()).into_owned();
    for secret in [OLD, NEW, old_stored.as_str(), old_salt.as_str()] {
        let sha = hex::encode(sha2::Sha256::digest(secret.as_bytes()));
        let md5 = hex::encode(md5::Md5::digest(secret.as_bytes()));
        for needle in [secret.to_string(), sha, md5] {
            assert!(
                !journal.contains(&needle),
                "the journal holds a secret or its hash"
            );
            assert!(!stdout(&out).contains(&needle) && !stderr(&out).contains(&needle));
        }
    }
    let intents: Vec<serde_json::Value> = stdout(&db.locksmith(&["audit", "export"], None))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &serde_json::Value| e["kind"] == "intent")
        .collect();
    assert_eq!(intents.last().unwrap()["details"]["method"], "undo");
    let sealed = &intents[0]["details"]["sealed_before"];
    assert!(
        sealed["age"].as_str().is_some_and(|c| c.len() > 100),
        "{sealed}"
    );
    assert_code(&db.locksmith(&["audit", "verify"], None), 0);
}

#[test]
fn undo_refuses_a_row_changed_since_and_is_unavailable_without_a_recipient() {
    let db = TestDb::new(Vendor::RuoYi);
    let (identity, config) = keys(&db);
    let entry = reset(&db, Some(&config));
    // Someone changed the row after the reset.
    db.exec("UPDATE sys_user SET password = 'f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0' WHERE login_name = 'admin'");
    let before = db.row_image("sys_user", "user_id", "1");
    let out = undo(&db, &config, &identity, entry);
    assert_code(&out, 5);
    // --json: the error is in the JSON document.
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(said.contains("changed since entry"), "{said}");
    assert_eq!(db.row_image("sys_user", "user_id", "1"), before);

    // A reset made without a recipient has nothing sealed to undo.
    let plain = reset(&db, None);
    let out = db.locksmith(
        &[
            "--connector",
            "ruoyi",
            "undo",
            &plain.to_string(),
            "--identity",
            identity.to_str().unwrap(),
            "--reason",
            "INC-12",
            "--yes",
        ],
        None,
    );
    assert_code(&out, 5);
    assert!(
        stderr(&out).contains("undo is unavailable"),
        "{}",
        stderr(&out)
    );
}
