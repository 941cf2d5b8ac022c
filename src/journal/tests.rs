use super::*;
use diesel::sql_types::BigInt;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;

fn open_in(dir: &Path) -> Journal {
    Journal::open(&dir.join("j/journal.sqlite"), &dir.join("j/journal.key")).unwrap()
}

fn sample(kind: EntryKind, refers_to: Option<i64>, account: &str) -> NewEntry {
    NewEntry {
        kind,
        refers_to,
        action: "reset".into(),
        account: Some(account.into()),
        reason: Some("ticket 42".into()),
        outcome: (kind == EntryKind::Outcome).then_some(Outcome::Committed),
        actor: Actor {
            os_user: "alice".into(),
            ssh_origin: Some("10.0.0.1:5555".into()),
        },
        place: Place {
            engine: "mysql".into(),
            host: "db.example".into(),
            database: "crm".into(),
            connector: "vtiger".into(),
            via: None,
        },
        details: json!({"columns": ["user_hash"], "sql": "UPDATE u SET p = ? WHERE id = ?"}),
    }
}

#[test]
fn append_list_get_and_open_intents_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open_in(dir.path());
    assert!(j.list(None).unwrap().is_empty());
    assert!(j.open_intents().unwrap().is_empty());

    let e1 = sample(EntryKind::Intent, None, "admin");
    let e2 = sample(EntryKind::Intent, None, "bob");
    let id1 = j.append(&e1).unwrap();
    let id2 = j.append(&e2).unwrap();
    assert_eq!((id1, id2), (1, 2));
    let e3 = sample(EntryKind::Outcome, Some(id1), "admin");
    let id3 = j.append(&e3).unwrap();

    let all = j.list(None).unwrap();
    assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(all[0].entry, e1);
    assert_eq!(all[2].entry, e3);
    assert_eq!(all[0].prev_hash, chain::GENESIS_PREV_HASH);
    assert_eq!(all[1].prev_hash, all[0].hash);
    assert_eq!(all[2].prev_hash, all[1].hash);
    assert!(chrono::DateTime::parse_from_rfc3339(&all[0].at).is_ok());
    assert!(all[0].at.ends_with('Z') && all[0].at.len() == "2024-01-01T00:00:00.000Z".len());

    let last_two = j.list(Some(2)).unwrap();
    assert_eq!(
        last_two.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![2, 3]
    );
    assert_eq!(j.get(id3).unwrap(), all[2]);
    assert!(matches!(j.get(99), Err(JournalError::NotFound(99))));

    let open = j.open_intents().unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].id, id2);

    let report = j.verify().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.entries, 3);
    assert_eq!(report.head_hash.as_deref(), Some(all[2].hash.as_str()));
    assert_eq!(report.problem, None);

    // Reopening continues the same chain.
    drop(j);
    let mut j = open_in(dir.path());
    let id4 = j.append(&sample(EntryKind::Note, None, "x")).unwrap();
    assert_eq!(id4, 4);
    assert_eq!(j.get(4).unwrap().prev_hash, all[2].hash);
    assert!(j.verify().unwrap().ok);
}

#[test]
fn outcome_referring_to_a_missing_entry_is_refused_and_not_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open_in(dir.path());
    let err = j
        .append(&sample(EntryKind::Outcome, Some(7), "admin"))
        .unwrap_err();
    assert!(matches!(err, JournalError::NotFound(7)), "{err}");
    assert!(j.list(None).unwrap().is_empty());
}

#[test]
fn body_is_canonical_and_columns_copy_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open_in(dir.path());
    let entry = sample(EntryKind::Intent, None, "admin");
    j.append(&entry).unwrap();
    let row: Row = entries::table
        .select(Row::as_select())
        .first(&mut j.conn)
        .unwrap();
    assert_eq!(row.kind, "intent");
    assert_eq!(row.action, "reset");
    assert_eq!(row.account.as_deref(), Some("admin"));
    assert_eq!(row.body, chain::canonical_body(&entry).unwrap());
    assert!(
        row.body
            .starts_with(r#"{"account":"admin","action":"reset","actor":"#)
    );
    assert_eq!(
        row.hash,
        chain::entry_hash(1, &row.at, &row.prev_hash, &row.body)
    );
}

#[derive(Debug, QueryableByName)]
struct Pragma {
    #[diesel(sql_type = BigInt)]
    synchronous: i64,
}

#[test]
fn durability_settings_and_file_modes() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open_in(dir.path());
    let p: Pragma = diesel::sql_query("PRAGMA synchronous")
        .get_result(&mut j.conn)
        .unwrap();
    assert_eq!(p.synchronous, 2, "synchronous must be FULL");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join("j")), 0o700);
    assert_eq!(mode(&dir.path().join("j/journal.sqlite")), 0o600);
    assert_eq!(mode(&dir.path().join("j/journal.key")), 0o600);
    assert!(j.path().is_absolute());
    assert!(format!("{j:?}").contains("redacted"));
    #[derive(QueryableByName)]
    struct Mode {
        #[diesel(sql_type = diesel::sql_types::Text)]
        journal_mode: String,
    }
    let m: Mode = diesel::sql_query("PRAGMA journal_mode")
        .get_result(&mut j.conn)
        .unwrap();
    assert_eq!(
        m.journal_mode, "wal",
        "one fsync per append needs the write-ahead log"
    );
    assert!(j.wal_keeper.is_some(), "the log keeper opened");
    let id = j
        .append(&sample(EntryKind::Intent, None, "admin (#1)"))
        .unwrap();
    assert_eq!(mode(&dir.path().join("j/journal.sqlite-wal")), 0o600);
    assert_eq!(mode(&dir.path().join("j/journal.sqlite-head")), 0o600);
    drop(j);
    // The log outlives the handle (no checkpoint at close), and what it
    // holds is read back by the next session.
    let log = dir.path().join("j/journal.sqlite-wal");
    assert!(
        std::fs::metadata(&log).unwrap().len() > 32,
        "the log was checkpointed away at close"
    );
    let mut j = open_in(dir.path());
    assert_eq!(j.get(id).unwrap().id, id);
    assert!(j.verify().unwrap().ok);
}

#[test]
fn entries_the_head_names_that_are_gone_are_found_and_block_appends() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open_in(dir.path());
    for i in 0..3 {
        j.append(&sample(EntryKind::Intent, None, &format!("u{i} (#{i})")))
            .unwrap();
    }
    diesel::sql_query("DELETE FROM entries WHERE id = 3")
        .execute(&mut j.conn)
        .unwrap();
    let r = j.verify().unwrap();
    let p = r.problem.expect("a cut tail is a problem now");
    assert_eq!(
        (r.ok, p.kind.as_str(), p.entry_id),
        (false, "lost", 3),
        "{}",
        p.message
    );
    assert!(p.message.contains("entries #3 to #3"), "{}", p.message);
    drop(j);
    let mut j = open_in(dir.path());
    let e = j
        .append(&sample(EntryKind::Intent, None, "x (#9)"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("audit verify") && e.contains("entries #3 to #3"),
        "{e}"
    );
    assert_eq!(j.verify().unwrap().entries, 2, "nothing was appended");
}

#[test]
fn fingerprints_are_keyed_and_domain_separated() {
    let dir = tempfile::tempdir().unwrap();
    let j = open_in(dir.path());
    let a = j.fingerprint("stored:password", b"Secret#1");
    assert_eq!(a, j.fingerprint("stored:password", b"Secret#1"));
    assert!(a.starts_with("hmac-sha256:"));
    assert_eq!(a.len(), "hmac-sha256:".len() + 64);
    assert_ne!(a, j.fingerprint("new:password", b"Secret#1"));
    assert_ne!(a, j.fingerprint("stored:password", b"Secret#2"));
    // The separator keeps (domain, value) pairs apart.
    assert_ne!(j.fingerprint("ab", b"c"), j.fingerprint("a", b"bc"));
    assert!(!a.contains("Secret"));
    let expected = key::hmac_hex(&j.key, &[b"stored:password\0Secret#1"]);
    assert_eq!(a, format!("hmac-sha256:{expected}"));
}

#[test]
fn actor_prefers_user_then_logname_then_uid() {
    let status = || Some("Name:\tx\nUid:\t1000\t1000\t1000\t1000\n".to_owned());
    let a = actor_from(Some("alice".into()), Some("bob".into()), status, None);
    assert_eq!(a.os_user, "alice");
    assert_eq!(a.ssh_origin, None);
    let a = actor_from(Some(" ".into()), Some("bob".into()), status, None);
    assert_eq!(a.os_user, "bob");
    let a = actor_from(None, None, status, None);
    assert_eq!(a.os_user, "uid:1000");
    let a = actor_from(None, None, || None, None);
    assert_eq!(a.os_user, "unknown");
    // The real process always yields something.
    assert!(!Actor::current().os_user.is_empty());
}

#[test]
fn ssh_origin_keeps_address_and_port() {
    assert_eq!(
        ssh_origin_from("192.0.2.7 52144 22").as_deref(),
        Some("192.0.2.7:52144")
    );
    assert_eq!(
        ssh_origin_from("2001:db8::1 52144 22").as_deref(),
        Some("[2001:db8::1]:52144")
    );
    assert_eq!(ssh_origin_from("192.0.2.7").as_deref(), Some("192.0.2.7"));
    assert_eq!(ssh_origin_from("  "), None);
}

#[test]
fn default_paths_end_in_journal_files() {
    if let Ok((db, key)) = Journal::default_paths() {
        assert!(db.ends_with("journal.sqlite"));
        assert!(key.ends_with("journal.key"));
        assert_eq!(db.parent(), key.parent());
    }
}

#[test]
fn newer_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open_in(dir.path());
    j.conn
        .batch_execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
        .unwrap();
    drop(j);
    let err = Journal::open(
        &dir.path().join("j/journal.sqlite"),
        &dir.path().join("j/journal.key"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("schema version 2"), "{err}");
}

#[test]
fn a_file_that_is_not_sqlite_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.sqlite");
    std::fs::write(&db, vec![b'x'; 4096]).unwrap();
    let err = Journal::open(&db, &dir.path().join("k")).unwrap_err();
    assert!(matches!(err, JournalError::Open { .. }), "{err}");
    assert!(err.to_string().contains("journal.sqlite"), "{err}");
}

mod verify_rows {
    use super::*;

    fn chain_of(n: i64) -> Vec<Row> {
        let mut rows = Vec::new();
        let mut prev = chain::GENESIS_PREV_HASH.to_owned();
        for id in 1..=n {
            let entry = sample(EntryKind::Note, None, &format!("user{id}"));
            let body = chain::canonical_body(&entry).unwrap();
            let at = format!("2025-01-01T00:00:0{id}.000Z");
            let hash = chain::entry_hash(id, &at, &prev, &body);
            rows.push(Row {
                id,
                at,
                kind: "note".into(),
                refers_to: None,
                action: "reset".into(),
                account: Some(format!("user{id}")),
                body,
                prev_hash: prev.clone(),
                hash: hash.clone(),
            });
            prev = hash;
        }
        rows
    }

    fn problem(rows: &[Row]) -> ChainProblem {
        let r = chain::verify_rows(rows);
        assert!(!r.ok);
        r.problem.unwrap()
    }

    #[test]
    fn intact_chain_and_empty_journal_verify() {
        assert!(chain::verify_rows(&chain_of(5)).ok);
        let empty = chain::verify_rows(&[]);
        assert!(empty.ok);
        assert_eq!(empty.entries, 0);
        assert_eq!(empty.head_hash, None);
    }

    #[test]
    fn deleting_the_first_entry_is_found() {
        let rows = chain_of(3);
        let p = problem(&rows[1..]);
        assert_eq!((p.entry_id, p.kind.as_str()), (2, "deleted_before"));
        assert!(p.message.contains("#1"), "{}", p.message);
    }

    #[test]
    fn several_deleted_entries_are_named_as_a_range() {
        let mut rows = chain_of(6);
        rows.drain(1..4);
        let p = problem(&rows);
        assert_eq!((p.entry_id, p.kind.as_str()), (5, "deleted_before"));
        assert!(p.message.contains("#2 to #4"), "{}", p.message);
    }

    #[test]
    fn deleted_and_renumbered_is_found() {
        // Entry 2 deleted and 3 renumbered to 2 to hide the gap.
        let mut rows = chain_of(3);
        rows.remove(1);
        rows[1].id = 2;
        let p = problem(&rows);
        assert_eq!((p.entry_id, p.kind.as_str()), (2, "reordered"));
        assert!(p.message.contains("#3"), "{}", p.message);
    }

    #[test]
    fn a_rewritten_tail_with_fresh_hashes_is_still_found() {
        // Someone replaces entry 2 and recomputes its hash (SHA-256 is not
        // keyed); entry 3 still links to the original entry 2.
        let mut rows = chain_of(3);
        rows[1].at = "2030-01-01T00:00:00.000Z".into();
        rows[1].hash = chain::entry_hash(2, &rows[1].at, &rows[1].prev_hash, &rows[1].body);
        let p = problem(&rows);
        assert_eq!((p.entry_id, p.kind.as_str()), (3, "deleted_before"));
    }

    #[test]
    fn garbage_body_with_valid_hash_is_unreadable() {
        let mut rows = chain_of(2);
        rows[1].body = "not json".into();
        rows[1].hash = chain::entry_hash(2, &rows[1].at, &rows[1].prev_hash, &rows[1].body);
        let p = problem(&rows);
        assert_eq!((p.entry_id, p.kind.as_str()), (2, "unreadable"));
    }

    #[test]
    fn edited_columns_are_found() {
        for column in ["kind", "refers_to", "action", "account"] {
            let mut rows = chain_of(3);
            match column {
                "kind" => rows[2].kind = "intent".into(),
                "refers_to" => rows[2].refers_to = Some(1),
                "action" => rows[2].action = "unlock".into(),
                _ => rows[2].account = None,
            }
            let p = problem(&rows);
            assert_eq!((p.entry_id, p.kind.as_str()), (3, "edited"), "{column}");
            assert!(p.message.contains(column), "{}", p.message);
        }
    }
}

/// Two sessions on one journal: an intent is owned by its writer until the
/// outcome, then claimable; a claim re-checks that the intent is still open.
#[test]
fn an_intent_is_owned_by_its_writer_until_its_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = open_in(dir.path());
    let mut other = open_in(dir.path());
    let id = writer
        .append_owned(&sample(EntryKind::Intent, None, "admin"))
        .unwrap();
    assert_eq!(other.open_intents().unwrap().len(), 1);
    assert!(matches!(other.claim(id).unwrap(), Claim::InProgress));
    let mut unknown = sample(EntryKind::Outcome, Some(id), "admin");
    unknown.outcome = Some(Outcome::Unknown);
    writer.append(&unknown).unwrap();
    // Unknown: still open, but its writer let go.
    assert_eq!(other.open_intents().unwrap().len(), 1);
    let claim = other.claim(id).unwrap();
    assert!(matches!(claim, Claim::Mine(_)), "{claim:?}");
    assert!(
        matches!(writer.claim(id).unwrap(), Claim::InProgress),
        "one reconcile at a time"
    );
    let mut settled = sample(EntryKind::Reconcile, Some(id), "admin");
    settled.outcome = Some(Outcome::Committed);
    other.append(&settled).unwrap();
    drop(claim);
    assert!(matches!(writer.claim(id).unwrap(), Claim::Settled));
    assert_eq!(writer.reconciled(id).unwrap().map(|e| e.id), Some(3));
}

#[test]
fn a_writer_that_drops_its_journal_handle_leaves_no_lock_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = open_in(dir.path());
    let id = writer
        .append_owned(&sample(EntryKind::Intent, None, "admin"))
        .unwrap();
    drop(writer); // as a process that died: the OS drops the lock
    let mut other = open_in(dir.path());
    assert!(matches!(other.claim(id).unwrap(), Claim::Mine(_)));
    // A plain append owns nothing (bulk imports, tests): claimable at once.
    let plain = other
        .append(&sample(EntryKind::Intent, None, "bob"))
        .unwrap();
    assert!(!locks::dir_for(&other.path).join(plain.to_string()).exists());
    assert!(matches!(
        open_in(dir.path()).claim(plain).unwrap(),
        Claim::Mine(_)
    ));
}

#[test]
fn contradicting_outcomes_of_one_intent_are_listed_by_verify() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open_in(dir.path());
    let id = j.append(&sample(EntryKind::Intent, None, "ry")).unwrap();
    let mut rec = sample(EntryKind::Reconcile, Some(id), "ry");
    rec.outcome = Some(Outcome::RolledBack);
    j.append(&rec).unwrap();
    let other = j.append(&sample(EntryKind::Intent, None, "bob")).unwrap();
    let mut unknown = sample(EntryKind::Outcome, Some(other), "bob");
    unknown.outcome = Some(Outcome::Unknown);
    j.append(&unknown).unwrap();
    let mut rec2 = sample(EntryKind::Reconcile, Some(other), "bob");
    rec2.outcome = Some(Outcome::Committed);
    j.append(&rec2).unwrap();
    let r = j.verify().unwrap();
    assert!(r.ok && r.contradictions.is_empty(), "unknown agrees: {r:?}");
    j.append(&sample(EntryKind::Outcome, Some(id), "ry"))
        .unwrap();
    let r = j.verify().unwrap();
    assert!(r.ok, "the chain itself is intact");
    assert_eq!(r.contradictions.len(), 1, "{r:?}");
    let c = &r.contradictions[0];
    assert_eq!(c.intent, id);
    assert_eq!(
        c.entries,
        vec![
            (2, "reconcile".to_string(), Outcome::RolledBack),
            (6, "outcome".to_string(), Outcome::Committed)
        ]
    );
    assert!(
        c.message.contains("#2 (reconcile) says rolled_back"),
        "{}",
        c.message
    );
}

/// A journal shared by a group: files 0660/0640 of that group, and a 0640
/// key of the group accepted where a private journal refuses it.
#[test]
fn a_group_journal_is_the_groups_and_keeps_others_out() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let gid = std::fs::metadata(dir.path()).unwrap().gid();
    let shared = Sharing::Group {
        name: "ops".into(),
        gid,
    };
    let path = dir.path().join("journal.sqlite");
    let key = dir.path().join("journal.sqlite.key");
    let mut j = Journal::open_with(&path, &key, shared.clone()).unwrap();
    let id = j
        .append_owned(&sample(EntryKind::Intent, None, "a"))
        .unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&path), 0o660);
    assert_eq!(mode(&key), 0o640);
    let locks = locks::dir_for(&path);
    assert_eq!(mode(&locks), 0o2770);
    assert_eq!(mode(&locks.join(id.to_string())), 0o660);
    assert_eq!(std::fs::metadata(&key).unwrap().gid(), gid);
    drop(j);
    assert!(Journal::open_with(&path, &key, shared.clone()).is_ok());
    let err = Journal::open(&path, &key).unwrap_err().to_string();
    assert!(
        err.contains("chmod 600"),
        "a private journal refuses it: {err}"
    );
    let wrong = Sharing::Group {
        name: "other".into(),
        gid: gid + 1,
    };
    let err = Journal::open_with(&path, &key, wrong)
        .unwrap_err()
        .to_string();
    assert!(err.contains("chgrp other"), "{err}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Journal::open_with(&path, &key, shared.clone())
        .unwrap_err()
        .to_string();
    assert!(err.contains("chmod 640"), "{err}");
    // The folder of a shared journal is the administrator's to make.
    let err = Journal::open_with(&dir.path().join("none/j.sqlite"), &key, shared)
        .unwrap_err()
        .to_string();
    assert!(err.contains("install -d -m 2770 -g ops"), "{err}");
}
