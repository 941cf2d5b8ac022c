//! Journal benchmark (no harness): durable intent+outcome pairs per second,
//! and `audit verify` over a large journal. Prints one JSON object per figure.
//! Sizes: LOCKSMITH_BENCH_PAIRS (default 2000), LOCKSMITH_BENCH_ENTRIES (default 1000000).
//!
//! The files go on the filesystem of the default journal (the state folder,
//! `Journal::default_paths`), not the system temp dir: on tmpfs an fsync is
//! free and "durable pairs/s" would mean nothing. The filesystem is printed.

use std::time::Instant;

use locksmith::journal::{Actor, EntryKind, Journal, NewEntry, Outcome, Place};
use serde_json::json;

fn entry(kind: EntryKind, refers_to: Option<i64>, i: usize) -> NewEntry {
    NewEntry {
        kind,
        refers_to,
        action: "reset".into(),
        account: Some(format!("user{i} (#{i})")),
        reason: Some("benchmark".into()),
        outcome: (kind == EntryKind::Outcome).then_some(Outcome::Committed),
        actor: Actor {
            os_user: "dba".into(),
            ssh_origin: Some("10.0.0.9:50022".into()),
            ..Default::default()
        },
        place: Place {
            engine: "mysql".into(),
            host: "db:3306".into(),
            database: "crm".into(),
            connector: "ruoyi".into(),
            via: None,
        },
        details: json!({
            "table": "sys_user",
            "sql": "UPDATE `sys_user` SET `password` = ?, `salt` = ? WHERE `user_id` = ? AND `login_name` <=> ? AND `password` <=> ? AND `salt` <=> ?",
            "columns": [
                { "column": "password", "before": "hmac-sha256:5f0c6ad1e5b1d2c7a9e8f3b4c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3", "after": "hmac-sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5" },
                { "column": "salt", "before": "hmac-sha256:1f2e3d4c5b6a79880796a5b4c3d2e1f0f1e2d3c4b5a69788796a5b4c3d2e1f00", "after": "hmac-sha256:9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9" }
            ],
            "scheme": "digest:md5(login+password+salt)",
        }),
    }
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The mount (point, type) a path lives on, from /proc/mounts: the longest matching mount point.
fn filesystem_of(path: &std::path::Path) -> (String, String) {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let path = path.to_string_lossy();
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 2).then(|| (f[1].to_string(), f[2].to_string()))
        })
        .filter(|(point, _)| {
            path == point.as_str() || path.starts_with(&format!("{}/", point.trim_end_matches('/')))
        })
        .max_by_key(|(point, _)| point.len())
        .unwrap_or_else(|| ("?".into(), "unknown".into()))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (default_journal, _) = Journal::default_paths()?;
    let state = default_journal
        .parent()
        .ok_or("the default journal has no folder")?
        .to_path_buf();
    std::fs::create_dir_all(&state)?;
    let dir = tempfile::Builder::new()
        .prefix("bench-")
        .tempdir_in(&state)?;
    let (mount, fstype) = filesystem_of(&dir.path().canonicalize()?);
    println!(
        "{}",
        json!({ "figure": "journal_filesystem", "dir": state.display().to_string(), "mount": mount, "fstype": fstype })
    );
    let pairs = env("LOCKSMITH_BENCH_PAIRS", 2000);
    let entries = env("LOCKSMITH_BENCH_ENTRIES", 1_000_000);

    // Durable pairs: each append is its own synchronous=FULL transaction, as in a reset.
    let mut j = Journal::open(
        &dir.path().join("pairs.sqlite"),
        &dir.path().join("pairs.key"),
    )?;
    let start = Instant::now();
    for i in 0..pairs {
        let intent = j.append(&entry(EntryKind::Intent, None, i))?;
        j.append(&entry(EntryKind::Outcome, Some(intent), i))?;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({ "figure": "journal_durable_pairs_per_second", "pairs": pairs, "seconds": secs, "value": pairs as f64 / secs, "target": ">= 500" })
    );

    // A large journal, built in batches (one transaction each), then verified.
    let path = dir.path().join("large.sqlite");
    let mut j = Journal::open(&path, &dir.path().join("large.key"))?;
    let batch = 10_000;
    let mut done = 0;
    while done < entries {
        let n = batch.min(entries - done);
        let items: Vec<NewEntry> = (done..done + n)
            .map(|i| entry(EntryKind::Intent, None, i))
            .collect();
        j.append_all(&items)?;
        done += n;
    }
    drop(j);
    let size = std::fs::metadata(&path)?.len();
    let mut j = Journal::open(&path, &dir.path().join("large.key"))?;
    let start = Instant::now();
    let report = j.verify()?;
    let secs = start.elapsed().as_secs_f64();
    assert!(report.ok, "the generated journal must verify");
    println!(
        "{}",
        json!({ "figure": "audit_verify_seconds", "entries": report.entries, "file_bytes": size, "value": secs, "target": "<= 5 s at 1000000 entries" })
    );
    Ok(())
}
