//! The head record, `<journal>-head`: the newest entry this machine's
//! sessions appended (id and chain hash), keyed with the journal's HMAC key.
//!
//! Written after each append is durable, by rename, without an fsync of its
//! own: it only has to survive a bit flip in the journal's files, not a power
//! loss (after one it may name an older entry, never a newer one). Entries
//! the journal lost — a damaged log frame SQLite dropped, a cut tail — are
//! the ones between the newest stored entry and the head. Two sessions may
//! race to write it; the loser leaves an older head, which is not an error.

use std::io::Write;
use std::path::{Path, PathBuf};

use diesel::prelude::*;

use super::key::{JournalKey, hmac_hex};
use super::store::entries;
use super::wal::{WalDamage, WalScan, log_path, scan};
use super::{ChainProblem, Journal, JournalError};

const TAG: &str = "locksmith-journal-head-v1";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    pub id: i64,
    pub hash: String,
}

/// `<journal>-head`.
pub(crate) fn path_for(journal: &Path) -> PathBuf {
    let mut name = journal.as_os_str().to_owned();
    name.push("-head");
    PathBuf::from(name)
}

fn mac(key: &JournalKey, id: i64, hash: &str) -> String {
    hmac_hex(
        key,
        &[TAG.as_bytes(), &[0u8], format!("{id} {hash}").as_bytes()],
    )
}

/// The head, `None` when there is none yet (a journal older than the head
/// record, or an empty file a power loss left). `Err` names the damage.
pub(crate) fn read(path: &Path, key: &JournalKey) -> Result<Option<Head>, String> {
    let text = match std::fs::read(path) {
        Ok(bytes) if bytes.is_empty() => return Ok(None),
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("the head record cannot be read ({e})")),
    };
    let damaged = || "the head record is damaged (its seal does not match)".to_string();
    let text = std::str::from_utf8(&text).map_err(|_| damaged())?;
    let fields: Vec<&str> = text.trim_end_matches('\n').split(' ').collect();
    let [tag, id, hash, seal] = fields.as_slice() else {
        return Err(damaged());
    };
    let id: i64 = id.parse().map_err(|_| damaged())?;
    if *tag != TAG || *seal != mac(key, id, hash) {
        return Err(damaged());
    }
    Ok(Some(Head {
        id,
        hash: (*hash).to_string(),
    }))
}

/// Replaces the head by rename (readers see the old or the new one, whole).
pub(crate) fn write(path: &Path, key: &JournalKey, head: &Head, mode: u32) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let line = format!(
        "{TAG} {} {} {}\n",
        head.id,
        head.hash,
        mac(key, head.id, &head.hash)
    );
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    // On Windows the journal folder's inherited user-only ACL applies.
    let written = super::owner_only::create_with_mode(&mut options, mode)
        .open(&temp)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

impl Journal {
    /// After an append is durable; a head that cannot be written only
    /// weakens the next check (it names an older entry), so it is logged.
    pub(super) fn record_head(&mut self, id: i64, hash: String) {
        let head = Head { id, hash };
        if let Err(e) = write(&path_for(&self.path), &self.key, &head, self.file_mode) {
            tracing::warn!("the journal's head record was not updated: {e}");
        }
    }

    /// Entries the head record names that the journal no longer holds, or
    /// a head that disagrees with the entry it names.
    pub(super) fn lost_entries(&mut self) -> Result<Option<ChainProblem>, JournalError> {
        let head = read(&path_for(&self.path), &self.key);
        let newest = self.newest_id()?;
        let next = newest.saturating_add(1);
        let head = match head {
            Ok(Some(head)) => head,
            Ok(None) => return Ok(None),
            Err(what) => {
                return Ok(Some(ChainProblem {
                    entry_id: next,
                    kind: "head_damaged".into(),
                    message: format!(
                        "{what}: entries after entry #{newest} may be missing (from entry #{next}); \
                         compare with a checkpoint kept elsewhere"
                    ),
                }));
            }
        };
        if head.id > newest {
            return Ok(Some(ChainProblem {
                entry_id: next,
                kind: "lost".into(),
                message: format!(
                    "entries #{next} to #{} were written (the head record names entry #{}) but \
                     are missing: a damaged write-ahead log or a cut tail",
                    head.id, head.id
                ),
            }));
        }
        let stored: Option<String> = entries::table
            .filter(entries::id.eq(head.id))
            .select(entries::hash)
            .first(&mut self.conn)
            .optional()
            .map_err(|e| self.read_err(e))?;
        if stored.as_deref() != Some(head.hash.as_str()) {
            return Ok(Some(ChainProblem {
                entry_id: head.id,
                kind: "edited".into(),
                message: format!(
                    "Entry #{} is not the entry that was written (its hash differs from the \
                     head record's): the journal was rewritten from there",
                    head.id
                ),
            }));
        }
        Ok(None)
    }

    pub(super) fn wal_problem(&mut self, damage: &WalDamage) -> ChainProblem {
        // What SQLite still reads may lack even the tables (their pages were
        // in the dropped frames): then every entry is in question.
        let next = self.newest_id().unwrap_or(0).saturating_add(1);
        ChainProblem {
            entry_id: next,
            kind: "wal_damaged".into(),
            message: format!(
                "the entries from entry #{next} on were dropped: in the write-ahead log {}, \
                 frame {} at byte {}: {}",
                log_path(&self.path).display(),
                damage.frame,
                damage.offset,
                damage.what
            ),
        }
    }

    /// What the journal's files show beyond the chain: damage found at
    /// open, then the head record against the entries as they are now.
    pub(super) fn file_damage(&mut self) -> Result<Option<ChainProblem>, JournalError> {
        if let Some(found) = &self.damage_at_open {
            return Ok(Some(found.clone()));
        }
        if let Ok(WalScan {
            damage: Some(damage),
            ..
        }) = scan(&log_path(&self.path))
        {
            return Ok(Some(self.wal_problem(&damage)));
        }
        self.lost_entries()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_reads_back_and_a_flipped_one_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.sqlite-head");
        let key: JournalKey = zeroize::Zeroizing::new([7u8; 32]);
        assert_eq!(read(&path, &key), Ok(None));
        let head = Head {
            id: 42,
            hash: "ab".repeat(32),
        };
        write(&path, &key, &head, 0o600).unwrap();
        assert_eq!(read(&path, &key), Ok(Some(head.clone())));
        let bytes = std::fs::read(&path).unwrap();
        for i in 0..bytes.len() - 1 {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0x04;
            std::fs::write(&path, &flipped).unwrap();
            assert!(read(&path, &key).is_err(), "flip at byte {i} not seen");
        }
    }
}
