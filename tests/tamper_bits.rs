//! Every single-bit flip in any stored field of a journal entry is caught
//! by `audit verify`, and a checkpoint kept off the machine catches a cut tail.

mod common;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Nullable, Text};
use locksmith::journal::{Actor, EntryKind, Journal, NewEntry, Outcome, Place};
use serde_json::json;

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
            ..Default::default()
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

    // Cutting the newest entries leaves a valid chain: only the checkpoint notices.
    common::journal_sql(&db, "DELETE FROM entries WHERE id >= 3");
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
