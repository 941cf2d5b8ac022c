//! Tampering with a real journal file behind locksmith's back, through a
//! separate SQLite connection, must be caught by `Journal::verify`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use locksmith::journal::{
    Actor, ChainProblem, EntryKind, Journal, JournalError, NewEntry, Outcome, Place,
};
use serde_json::json;

struct Fixture {
    _dir: tempfile::TempDir,
    db: PathBuf,
    key: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state/journal.sqlite");
        let key = dir.path().join("state/journal.key");
        Fixture { _dir: dir, db, key }
    }

    fn open(&self) -> Journal {
        Journal::open(&self.db, &self.key).unwrap()
    }

    /// A journal with `n` entries: intents for user1..user<n>.
    fn with_entries(n: usize) -> Fixture {
        let f = Fixture::new();
        let mut j = f.open();
        for i in 1..=n {
            j.append(&entry(EntryKind::Intent, None, &format!("user{i}")))
                .unwrap();
        }
        assert!(j.verify().unwrap().ok);
        f
    }

    /// Runs raw SQL on a separate connection, as an attacker with file access would.
    fn tamper(&self, sql: &str) {
        let mut c = SqliteConnection::establish(self.db.to_str().unwrap()).unwrap();
        c.batch_execute(sql).unwrap();
    }

    fn problem(&self) -> ChainProblem {
        let report = self.open().verify().unwrap();
        assert!(!report.ok, "tampering went unnoticed: {report:?}");
        let p = report.problem.unwrap();
        assert!(
            p.message.contains(&format!("#{}", p.entry_id)),
            "message does not name the entry: {}",
            p.message
        );
        p
    }
}

fn entry(kind: EntryKind, refers_to: Option<i64>, account: &str) -> NewEntry {
    NewEntry {
        kind,
        refers_to,
        action: "reset".into(),
        account: Some(account.into()),
        reason: Some("locked out".into()),
        outcome: (kind == EntryKind::Outcome).then_some(Outcome::Committed),
        actor: Actor {
            os_user: "alice".into(),
            ssh_origin: None,
        },
        place: Place {
            engine: "mysql".into(),
            host: "127.0.0.1".into(),
            database: "crm".into(),
            connector: "suitecrm".into(),
            via: None,
        },
        details: json!({"columns": ["user_hash"], "scheme": "bcrypt"}),
    }
}

#[derive(QueryableByName)]
struct Body {
    #[diesel(sql_type = Text)]
    body: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

// ---- round trip ----------------------------------------------------------

#[test]
fn round_trip_and_open_intents() {
    let f = Fixture::new();
    let mut j = f.open();
    let intent = j.append(&entry(EntryKind::Intent, None, "admin")).unwrap();
    let other = j.append(&entry(EntryKind::Intent, None, "bob")).unwrap();
    let outcome = j
        .append(&entry(EntryKind::Outcome, Some(intent), "admin"))
        .unwrap();
    let calib = j.append(&entry(EntryKind::Calibrate, None, "x")).unwrap();
    assert_eq!(vec![intent, other, outcome, calib], vec![1, 2, 3, 4]);

    let got = j.get(outcome).unwrap();
    assert_eq!(got.entry, entry(EntryKind::Outcome, Some(1), "admin"));
    assert_eq!(got.prev_hash, j.get(other).unwrap().hash);
    let open: Vec<i64> = j.open_intents().unwrap().iter().map(|e| e.id).collect();
    assert_eq!(open, vec![other]);
    let list = j.list(None).unwrap();
    assert_eq!(list.len(), 4);
    assert_eq!(list.last().unwrap().id, calib);

    let report = j.verify().unwrap();
    assert!(report.ok);
    assert_eq!(report.entries, 4);
    assert_eq!(report.head_hash, Some(list[3].hash.clone()));
}

#[test]
fn two_handles_on_one_file_keep_one_chain() {
    let f = Fixture::new();
    let mut a = f.open();
    let mut b = f.open();
    for i in 0..5 {
        a.append(&entry(EntryKind::Note, None, &format!("a{i}")))
            .unwrap();
        b.append(&entry(EntryKind::Note, None, &format!("b{i}")))
            .unwrap();
    }
    let report = a.verify().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.entries, 10);
}

// ---- edits ---------------------------------------------------------------

#[test]
fn one_changed_character_of_the_body_is_found() {
    let f = Fixture::with_entries(4);
    let mut c = SqliteConnection::establish(f.db.to_str().unwrap()).unwrap();
    let before: Body = diesel::sql_query("SELECT body FROM entries WHERE id = 2")
        .get_result(&mut c)
        .unwrap();
    diesel::sql_query(
        "UPDATE entries SET body = replace(body, '\"user2\"', '\"user3\"') WHERE id = 2",
    )
    .execute(&mut c)
    .unwrap();
    let after: Body = diesel::sql_query("SELECT body FROM entries WHERE id = 2")
        .get_result(&mut c)
        .unwrap();
    assert_eq!(before.body.len(), after.body.len());
    assert_eq!(
        before
            .body
            .bytes()
            .zip(after.body.bytes())
            .filter(|(x, y)| x != y)
            .count(),
        1
    );
    drop(c);
    let p = f.problem();
    assert_eq!((p.entry_id, p.kind.as_str()), (2, "edited"));
}

#[test]
fn a_changed_account_column_is_found() {
    let f = Fixture::with_entries(4);
    f.tamper("UPDATE entries SET account = 'someone_else' WHERE id = 3");
    let p = f.problem();
    assert_eq!((p.entry_id, p.kind.as_str()), (3, "edited"));
    assert!(p.message.contains("account"), "{}", p.message);
}

#[test]
fn changed_kind_and_action_columns_are_found() {
    let f = Fixture::with_entries(3);
    f.tamper("UPDATE entries SET kind = 'note' WHERE id = 2");
    let p = f.problem();
    assert_eq!((p.entry_id, p.kind.as_str()), (2, "edited"));
    assert!(p.message.contains("kind"), "{}", p.message);

    let f = Fixture::with_entries(3);
    f.tamper("UPDATE entries SET action = 'unlock' WHERE id = 3");
    let p = f.problem();
    assert_eq!((p.entry_id, p.kind.as_str()), (3, "edited"));
}

#[test]
fn a_changed_timestamp_is_found() {
    let f = Fixture::with_entries(3);
    f.tamper("UPDATE entries SET at = '2001-01-01T00:00:00.000Z' WHERE id = 2");
    let p = f.problem();
    assert_eq!((p.entry_id, p.kind.as_str()), (2, "edited"));
}

#[test]
fn a_changed_hash_is_found() {
    let f = Fixture::with_entries(3);
    f.tamper(&format!(
        "UPDATE entries SET hash = '{}' WHERE id = 3",
        "f".repeat(64)
    ));
    let p = f.problem();
    assert_eq!((p.entry_id, p.kind.as_str()), (3, "edited"));
}

// ---- deletions -----------------------------------------------------------

#[test]
fn a_deleted_middle_entry_is_found_at_the_next_entry() {
    let f = Fixture::with_entries(4);
    f.tamper("DELETE FROM entries WHERE id = 2");
    let p = f.problem();
    assert_eq!((p.entry_id, p.kind.as_str()), (3, "deleted_before"));
    assert!(p.message.contains("#2"), "{}", p.message);
}

#[test]
fn a_deleted_first_entry_is_found() {
    let f = Fixture::with_entries(3);
    f.tamper("DELETE FROM entries WHERE id = 1");
    let p = f.problem();
    assert_eq!((p.entry_id, p.kind.as_str()), (2, "deleted_before"));
}

// ---- reordering ----------------------------------------------------------

#[test]
fn swapping_the_contents_of_two_rows_is_found() {
    let f = Fixture::with_entries(4);
    f.tamper(
        "CREATE TEMP TABLE t AS SELECT * FROM entries WHERE id IN (2, 3);
         UPDATE entries SET (at, kind, refers_to, action, account, body, prev_hash, hash) =
             (SELECT at, kind, refers_to, action, account, body, prev_hash, hash
              FROM t WHERE t.id = 5 - entries.id)
         WHERE id IN (2, 3);",
    );
    // The swap really happened.
    let j = &mut f.open();
    assert_eq!(j.get(2).unwrap().entry.account.as_deref(), Some("user3"));
    let p = f.problem();
    assert_eq!((p.entry_id, p.kind.as_str()), (2, "reordered"));
    assert!(p.message.contains("#3"), "{}", p.message);
}

#[test]
fn swapping_ids_is_found() {
    let f = Fixture::with_entries(4);
    f.tamper(
        "UPDATE entries SET id = -2 WHERE id = 2;
         UPDATE entries SET id = 2 WHERE id = 3;
         UPDATE entries SET id = 3 WHERE id = -2;",
    );
    let p = f.problem();
    assert_eq!((p.entry_id, p.kind.as_str()), (2, "reordered"));
}

#[test]
fn renumbered_ids_are_found() {
    let f = Fixture::with_entries(4);
    f.tamper("UPDATE entries SET id = id + 100 WHERE id >= 3");
    let p = f.problem();
    assert_eq!((p.entry_id, p.kind.as_str()), (103, "reordered"));
    assert!(p.message.contains("#3"), "{}", p.message);
}

#[test]
fn moving_the_last_entry_to_a_gap_is_found() {
    // Delete entry 2 and move entry 4 into its place.
    let f = Fixture::with_entries(4);
    f.tamper(
        "DELETE FROM entries WHERE id = 2;
         UPDATE entries SET id = 2 WHERE id = 4;",
    );
    let p = f.problem();
    assert_eq!((p.entry_id, p.kind.as_str()), (2, "reordered"));
    assert!(p.message.contains("#4"), "{}", p.message);
}

// ---- fingerprints and the key --------------------------------------------

#[test]
fn fingerprints_are_stable_separated_and_keyed() {
    let f = Fixture::new();
    let g = Fixture::new();
    let j = f.open();
    let a = j.fingerprint("stored:password", b"Hunter2!");
    assert_eq!(a, j.fingerprint("stored:password", b"Hunter2!"));
    assert_eq!(a, f.open().fingerprint("stored:password", b"Hunter2!"));
    assert_ne!(a, j.fingerprint("new:password", b"Hunter2!"));
    assert_ne!(a, g.open().fingerprint("stored:password", b"Hunter2!"));
    assert!(a.starts_with("hmac-sha256:"));
    assert!(!a.contains("Hunter2"));
    assert!(!a.contains(&hex_of(b"Hunter2!")));
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn key_file_is_created_0600_and_a_0644_key_is_refused() {
    let f = Fixture::new();
    drop(f.open());
    let mode = fs::metadata(&f.key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    fs::set_permissions(&f.key, fs::Permissions::from_mode(0o644)).unwrap();
    let err = Journal::open(&f.db, &f.key).unwrap_err();
    assert!(matches!(err, JournalError::Key { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("journal.key") && msg.contains("chmod 600"),
        "{msg}"
    );
}

// ---- failures that must not be swallowed ---------------------------------

/// A regular file where a folder is needed: fails even for root.
fn blocked_path(dir: &Path) -> PathBuf {
    let file = dir.join("plain-file");
    fs::write(&file, b"not a folder").unwrap();
    file.join("journal.sqlite")
}

#[test]
fn open_under_a_regular_file_fails() {
    let dir = tempfile::tempdir().unwrap();
    let db = blocked_path(dir.path());
    let err = Journal::open(&db, &dir.path().join("journal.key")).unwrap_err();
    assert!(matches!(err, JournalError::Open { .. }), "{err}");
    assert!(err.to_string().contains("plain-file"), "{err}");

    let err = Journal::open(&dir.path().join("j.sqlite"), &db.with_file_name("k")).unwrap_err();
    assert!(matches!(err, JournalError::Key { .. }), "{err}");
}

#[test]
fn open_on_a_directory_fails() {
    let dir = tempfile::tempdir().unwrap();
    let err = Journal::open(dir.path(), &dir.path().join("k")).unwrap_err();
    assert!(matches!(err, JournalError::Open { .. }), "{err}");
}

#[test]
fn append_fails_when_the_journal_cannot_be_written_and_records_nothing() {
    let f = Fixture::with_entries(2);
    let mut j = f.open();
    // Another process holds the journal's write lock past the busy timeout
    // (5 s): the append fails, as any write the journal cannot take must.
    let mut holder = SqliteConnection::establish(f.db.to_str().unwrap()).unwrap();
    holder.batch_execute("BEGIN IMMEDIATE").unwrap();
    let err = j
        .append(&entry(EntryKind::Intent, None, "admin"))
        .unwrap_err();
    assert!(matches!(err, JournalError::Write(_)), "{err}");
    assert!(err.to_string().contains("journal.sqlite"), "{err}");
    holder.batch_execute("ROLLBACK").unwrap();
    drop(holder);
    drop(j);

    let mut j = f.open();
    let report = j.verify().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.entries, 2, "the refused entry must not be there");
    assert_eq!(j.append(&entry(EntryKind::Note, None, "x")).unwrap(), 3);
}

// ---- export --------------------------------------------------------------

#[test]
fn export_writes_one_parsable_line_per_entry() {
    let f = Fixture::with_entries(3);
    let mut j = f.open();
    let mut out = Vec::new();
    assert_eq!(j.export_jsonl(&mut out).unwrap(), 3);
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(text.ends_with('\n'));
    for (i, line) in lines.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["id"], json!(i as i64 + 1));
        assert_eq!(v["kind"], json!("intent"));
        assert_eq!(v["account"], json!(format!("user{}", i + 1)));
        assert_eq!(v["hash"].as_str().unwrap().len(), 64);
        assert!(v["at"].is_string() && v["prev_hash"].is_string());
    }
    // Exporting adds nothing to the journal.
    let mut c = SqliteConnection::establish(f.db.to_str().unwrap()).unwrap();
    let n: Count = diesel::sql_query("SELECT count(*) AS n FROM entries")
        .get_result(&mut c)
        .unwrap();
    assert_eq!(n.n, 3);
}
