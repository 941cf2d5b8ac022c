//! Every single-bit flip in any stored field of a journal entry is caught
//! by `audit verify`, and a checkpoint kept off the machine catches a cut tail.

mod common;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Nullable, Text};
use locksmith::journal::{Actor, EntryKind, Journal, NewEntry, Outcome, Place};
use serde_json::json;
use std::path::Path;

fn entry(kind: EntryKind, refers_to: Option<i64>, account: &str) -> NewEntry {
    NewEntry {
        kind,
        refers_to,
        action: "reset".into(),
        account: Some(account.into()),
        reason: Some("INC-7 tamper test".into()),
        outcome: (kind == EntryKind::Outcome).then_some(Outcome::Committed),
        actor: Actor {
            os_user: "dba".into(),
            ssh_origin: Some("10.0.0.9:50022".into()),
        },
        place: Place {
            engine: "mysql".into(),
            host: "db:3306".into(),
            database: "ry".into(),
            connector: "ruoyi".into(),
            via: None,
        },
        details: json!({ "sql": "UPDATE `sys_user` SET `password` = ? WHERE `user_id` = ?", "columns": ["password"] }),
    }
}

#[derive(QueryableByName)]
struct Field {
    #[diesel(sql_type = Binary)]
    bytes: Vec<u8>,
}

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = Nullable<BigInt>)]
    n: Option<i64>,
}

/// Verification outcome with the file as it is now: true = the journal still looks intact.
fn looks_intact(j: &mut Journal) -> bool {
    matches!(j.verify(), Ok(r) if r.ok)
}

/// The tampered entries `audit verify` names, or why it named none. A
/// detection counts only if it points the operator at the entry: an error
/// that names no entry is not one.
fn named_entries(j: &mut Journal) -> Result<Vec<i64>, String> {
    match j.verify() {
        Ok(r) if r.ok => Err("the journal looks intact".into()),
        Ok(r) => {
            let p = r.problem.ok_or("not ok, but no problem named")?;
            if !p.message.contains(&p.entry_id.to_string()) {
                return Err(format!(
                    "the message does not name entry {}: {}",
                    p.entry_id, p.message
                ));
            }
            Ok(vec![p.entry_id])
        }
        Err(e) => Err(format!("verify failed without naming an entry: {e}")),
    }
}

#[track_caller]
fn assert_names(j: &mut Journal, allowed: &[i64], what: &str) {
    match named_entries(j) {
        Ok(ids) if ids.iter().all(|i| allowed.contains(i)) => {}
        Ok(ids) => panic!("{what}: verify named entry {ids:?}, not one of {allowed:?}"),
        Err(e) => panic!("{what}: {e}"),
    }
}

/// A flip that leaves a text field invalid UTF-8 stops `verify` from reading
/// the journal at all. Today that error names the field but not the entry
/// (src/journal reads every row as text before it checks the chain); the
/// test holds it to naming the field, and counts these cases.
#[track_caller]
fn assert_unreadable_names_the_field(j: &mut Journal, column: &str, what: &str) {
    match j.verify() {
        Err(e) => {
            let text = e.to_string();
            assert!(
                text.contains(&format!("field '{column}'")),
                "{what}: the error names no field: {text}"
            );
        }
        Ok(r) => assert!(!r.ok && r.problem.is_some(), "{what}: not detected"),
    }
}

#[test]
fn every_single_bit_flip_in_every_field_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let (db, key) = (dir.path().join("j.sqlite"), dir.path().join("j.key"));
    {
        let mut j = Journal::open(&db, &key).unwrap();
        let intent = j
            .append(&entry(EntryKind::Intent, None, "admin (#1)"))
            .unwrap();
        j.append(&entry(EntryKind::Outcome, Some(intent), "admin (#1)"))
            .unwrap();
        j.append(&entry(EntryKind::Intent, None, "张三 (#100)"))
            .unwrap();
        assert!(j.verify().unwrap().ok);
    }
    let mut c = SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    // One reader handle: every verify re-reads the file, as `audit verify` would.
    let mut j = Journal::open(&db, &key).unwrap();
    let mut checked = 0usize;
    let mut unreadable = 0usize;
    for id in [1i64, 2, 3] {
        for column in [
            "at",
            "kind",
            "action",
            "account",
            "body",
            "prev_hash",
            "hash",
        ] {
            let original: Field = diesel::sql_query(format!(
                "SELECT CAST({column} AS BLOB) AS bytes FROM entries WHERE id = ?"
            ))
            .bind::<BigInt, _>(id)
            .get_result(&mut c)
            .unwrap();
            for byte in 0..original.bytes.len() {
                // Every bit of the middle entry; one rotating bit per byte of the others.
                let bits = if id == 2 {
                    0..8
                } else {
                    byte % 8..byte % 8 + 1
                };
                for bit in bits {
                    let mut flipped = original.bytes.clone();
                    flipped[byte] ^= 1 << bit;
                    diesel::sql_query(format!(
                        "UPDATE entries SET {column} = CAST(? AS TEXT) WHERE id = ?"
                    ))
                    .bind::<Binary, _>(&flipped)
                    .bind::<BigInt, _>(id)
                    .execute(&mut c)
                    .unwrap();
                    let what =
                        format!("flip of bit {bit} in byte {byte} of {column} of entry {id}");
                    if std::str::from_utf8(&flipped).is_ok() {
                        assert_names(&mut j, &[id], &what);
                    } else {
                        assert_unreadable_names_the_field(&mut j, column, &what);
                        unreadable += 1;
                    }
                    checked += 1;
                }
            }
            diesel::sql_query(format!(
                "UPDATE entries SET {column} = CAST(? AS TEXT) WHERE id = ?"
            ))
            .bind::<Binary, _>(&original.bytes)
            .bind::<BigInt, _>(id)
            .execute(&mut c)
            .unwrap();
            assert!(looks_intact(&mut j), "restoring {column} of {id}");
        }
        // refers_to and id are integers: flip each of their 64 bits too.
        for column in ["refers_to", "id"] {
            let original: Number =
                diesel::sql_query(format!("SELECT {column} AS n FROM entries WHERE id = ?"))
                    .bind::<BigInt, _>(id)
                    .get_result(&mut c)
                    .unwrap();
            let base = original.n.unwrap_or(0);
            for bit in 0..63 {
                let flipped = base ^ (1i64 << bit);
                let moved =
                    diesel::sql_query(format!("UPDATE entries SET {column} = ? WHERE id = ?"))
                        .bind::<BigInt, _>(flipped)
                        .bind::<BigInt, _>(id)
                        .execute(&mut c);
                if moved.is_err() {
                    continue; // an id collision the primary key itself refuses
                }
                // A moved id is named where it now stands, or as the gap it left.
                let allowed = if column == "id" {
                    vec![id, flipped, id + 1]
                } else {
                    vec![id]
                };
                assert_names(
                    &mut j,
                    &allowed,
                    &format!("flip of bit {bit} of {column} of entry {id}"),
                );
                checked += 1;
                let back_where = if column == "id" { flipped } else { id };
                diesel::sql_query(format!("UPDATE entries SET {column} = ? WHERE id = ?"))
                    .bind::<Nullable<BigInt>, _>(original.n)
                    .bind::<BigInt, _>(back_where)
                    .execute(&mut c)
                    .unwrap();
            }
            assert!(looks_intact(&mut j));
        }
    }
    let _ = Text;
    assert!(checked > 5_000, "only {checked} flips tried");
    eprintln!("{checked} flips, {unreadable} of them left a field invalid UTF-8");
}

#[test]
fn a_checkpoint_catches_a_truncated_tail() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.sqlite");
    let key = dir.path().join("j.sqlite.key");
    {
        let mut j = Journal::open(&db, &key).unwrap();
        for i in 0..4 {
            j.append(&entry(EntryKind::Intent, None, &format!("user{i}")))
                .unwrap();
        }
    }
    let run = |args: &[&str]| {
        common::run_locksmith(&[&["--journal", db.to_str().unwrap()], args].concat(), None)
    };
    let out = run(&["--json", "audit", "checkpoint"]);
    common::assert_code(&out, 0);
    let token = common::json(&out)["checkpoint"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(token.starts_with("4:"));
    common::assert_code(&run(&["audit", "verify", "--checkpoint", &token]), 0);

    // Cutting the newest entries leaves a valid chain: the head record
    // beside the journal notices, and so does the checkpoint.
    common::journal_sql(&db, "DELETE FROM entries WHERE id >= 3");
    let out = run(&["audit", "verify"]);
    common::assert_code(&out, 8);
    assert!(
        common::stdout(&out).contains("entries #3 to #4"),
        "{}",
        common::stdout(&out)
    );
    // Who cuts the tail can delete the head record too: then only the
    // checkpoint kept elsewhere notices.
    std::fs::remove_file(dir.path().join("j.sqlite-head")).unwrap();
    common::assert_code(&run(&["audit", "verify"]), 0);
    let out = run(&["audit", "verify", "--checkpoint", &token]);
    common::assert_code(&out, 8);
    assert!(
        common::stdout(&out).contains("TRUNCATED"),
        "{}",
        common::stdout(&out)
    );

    // A tail rewritten with new hashes after the cut is caught too.
    {
        let mut j = Journal::open(&db, &key).unwrap();
        for i in 0..2 {
            j.append(&entry(EntryKind::Intent, None, &format!("forged{i}")))
                .unwrap();
        }
    }
    let out = run(&["audit", "verify", "--checkpoint", &token]);
    common::assert_code(&out, 8);
    assert!(
        common::stdout(&out).contains("entry 4"),
        "{}",
        common::stdout(&out)
    );
    let out = run(&["audit", "verify", "--checkpoint", "nonsense"]);
    common::assert_code(&out, 2);
}

/// The journal's files as a session leaves them: the entries sit in the
/// write-ahead log (it is kept across sessions), the head record beside it.
/// `checkpointed`: copy the log into the main file first, so the flips hit
/// the entries where they rest after SQLite's checkpoint.
fn pristine_files(checkpointed: bool) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let (db, key) = (dir.path().join("j.sqlite"), dir.path().join("j.sqlite.key"));
    let mut j = Journal::open(&db, &key).unwrap();
    for n in 0..3 {
        let account = format!("张三{n} (#{})", 100 + n);
        let intent = j.append(&entry(EntryKind::Intent, None, &account)).unwrap();
        j.append(&entry(EntryKind::Outcome, Some(intent), &account))
            .unwrap();
    }
    if checkpointed {
        diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut SqliteConnection::establish(db.to_str().unwrap()).unwrap())
            .unwrap();
    }
    let mut lines = Vec::new();
    j.export_jsonl(&mut lines).unwrap();
    drop(j);
    // Readers rebuild the log's index from the log itself (a copied journal,
    // a crash): that is where SQLite checks, and drops, damaged frames.
    let _ = std::fs::remove_file(dir.path().join("j.sqlite-shm"));
    let text = String::from_utf8(lines).unwrap();
    (dir, text.lines().map(str::to_owned).collect())
}

/// Flips one bit of `file` in a copy of the pristine journal, then opens and
/// verifies it: true when the damage was reported; false when the journal
/// reads back exactly as written (the bit held nothing SQLite reads).
fn flip_is_reported(
    pristine: &Path,
    expected: &[String],
    file: &str,
    byte: usize,
    bit: u8,
) -> bool {
    let copy = tempfile::tempdir().unwrap();
    for name in ["j.sqlite", "j.sqlite-wal", "j.sqlite-head", "j.sqlite.key"] {
        let from = pristine.join(name);
        if from.exists() {
            std::fs::copy(&from, copy.path().join(name)).unwrap();
        }
    }
    let target = copy.path().join(file);
    let mut bytes = std::fs::read(&target).unwrap();
    bytes[byte] ^= 1 << bit;
    std::fs::write(&target, &bytes).unwrap();
    let what = format!("bit {bit} of byte {byte} of {file}");
    let opened = Journal::open(
        &copy.path().join("j.sqlite"),
        &copy.path().join("j.sqlite.key"),
    );
    let mut j = match opened {
        Ok(j) => j,
        Err(_) => return true, // refused at open, with the file named
    };
    match j.verify() {
        Err(_) => return true,
        Ok(r) if !r.ok => {
            let p = r.problem.expect("a problem");
            assert!(
                p.message.contains(&p.entry_id.to_string()),
                "{what}: {}",
                p.message
            );
            return true;
        }
        Ok(_) => {}
    }
    let mut lines = Vec::new();
    let read_back = j.export_jsonl(&mut lines).is_ok()
        && String::from_utf8_lossy(&lines)
            .lines()
            .eq(expected.iter().map(String::as_str));
    assert!(read_back, "{what}: verify passed but the entries changed");
    false
}

#[test]
fn every_bit_flip_in_the_write_ahead_log_is_reported_or_changes_nothing() {
    let (dir, expected) = pristine_files(false);
    let log = std::fs::read(dir.path().join("j.sqlite-wal")).unwrap();
    assert!(log.len() > 32 + 4096, "the entries are in the log");
    let page = u32::from_be_bytes(log[8..12].try_into().unwrap()) as usize;
    let frame = 24 + page;
    let (mut tried, mut reported) = (0usize, 0usize);
    for byte in 0..log.len() {
        let in_frame = byte.checked_sub(32).map(|o| o % frame);
        // Every header byte; a stride through the pages' bytes.
        let header = in_frame.is_none_or(|o| o < 24);
        if !header && byte % 37 != 0 {
            continue;
        }
        let bit = (byte % 8) as u8;
        let found = flip_is_reported(dir.path(), &expected, "j.sqlite-wal", byte, bit);
        // A header flip always drops or misplaces frames SQLite needs.
        assert!(
            found || !header,
            "bit {bit} of log header byte {byte} went unnoticed"
        );
        tried += 1;
        reported += usize::from(found);
    }
    assert!(tried > 500, "only {tried} flips tried");
    eprintln!("log: {tried} flips, {reported} reported, the rest changed nothing");
    assert!(
        reported * 2 > tried,
        "most flips in a log of entries matter"
    );
}

#[test]
fn every_bit_flip_in_the_checkpointed_file_is_reported_or_changes_nothing() {
    let (dir, expected) = pristine_files(true);
    let main = std::fs::read(dir.path().join("j.sqlite")).unwrap();
    let (mut tried, mut reported) = (0usize, 0usize);
    for byte in (0..main.len()).filter(|b| b % 13 == 0) {
        let found = flip_is_reported(dir.path(), &expected, "j.sqlite", byte, (byte % 8) as u8);
        tried += 1;
        reported += usize::from(found);
    }
    assert!(tried > 500, "only {tried} flips tried");
    eprintln!("main file: {tried} flips, {reported} reported, the rest changed nothing");
}

#[test]
fn audit_verify_names_a_damaged_log_frame_and_writes_are_refused() {
    let (dir, _) = pristine_files(false);
    let log_path = dir.path().join("j.sqlite-wal");
    let mut log = std::fs::read(&log_path).unwrap();
    let page = u32::from_be_bytes(log[8..12].try_into().unwrap()) as usize;
    // The second frame's page: SQLite would stop the log there.
    log[32 + (24 + page) + 24 + 100] ^= 0x20;
    std::fs::write(&log_path, &log).unwrap();
    let db = dir.path().join("j.sqlite");
    let run = |args: &[&str]| {
        common::run_locksmith(&[&["--journal", db.to_str().unwrap()], args].concat(), None)
    };
    let out = run(&["audit", "verify"]);
    common::assert_code(&out, 8);
    let text = common::stdout(&out);
    assert!(
        text.contains("write-ahead log") && text.contains("frame 2"),
        "{text}"
    );
    let mut j = Journal::open(&db, &dir.path().join("j.sqlite.key")).unwrap();
    let refused = j
        .append(&entry(EntryKind::Intent, None, "x (#1)"))
        .unwrap_err();
    assert!(refused.to_string().contains("audit verify"), "{refused}");
    // The evidence stays as found: nothing was written over the log.
    drop(j);
    let now = std::fs::read(&log_path).unwrap();
    assert!(
        now == log,
        "the damaged log was changed ({} bytes now)",
        now.len()
    );
}
