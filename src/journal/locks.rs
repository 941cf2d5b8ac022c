//! Ownership of open intents: one OS file lock per intent.
//!
//! A writer takes an exclusive lock on `<journal>.locks/<id>` inside the
//! append transaction that creates intent `id` (so no other session can see
//! the intent before it is owned) and holds it until its outcome is journaled.
//! A reconcile must take the same lock before it settles the intent; if it
//! cannot, the intent is in progress in a live session and is skipped. The
//! lock is the kernel's (flock on Unix, LockFileEx on Windows, through fs4):
//! it disappears with the process, so a SIGKILLed writer's intent is
//! reconcilable at once and no stale lock is ever left to clean up by hand.
//!
//! Lock files are removed by whoever holds the lock, before unlocking. A
//! session that opened the file just before it was removed then locks an
//! orphan; it notices (the path no longer names the file it locked) and
//! retries on a fresh file.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use fs4::{FileExt, TryLockError};

use super::share::Sharing;

/// The folder of lock files beside a journal: `<journal>.locks`.
pub(crate) fn dir_for(journal: &Path) -> PathBuf {
    let mut name = journal.as_os_str().to_owned();
    name.push(".locks");
    PathBuf::from(name)
}

/// The locks one journal handle holds for the intents it wrote.
#[derive(Debug)]
pub(crate) struct IntentLocks {
    dir: PathBuf,
    sharing: Sharing,
    held: HashMap<i64, File>,
}

/// An exclusive lock on one intent's lock file, released (and the file
/// removed) on drop.
#[derive(Debug)]
pub struct IntentClaim {
    file: File,
    path: PathBuf,
}

impl Drop for IntentClaim {
    fn drop(&mut self) {
        release_file(&self.file, &self.path);
    }
}

fn release_file(file: &File, path: &Path) {
    // Remove while still locked, so nobody takes over a file that is about to
    // go; and only our own file, should someone have replaced it.
    if still_named(file, path).unwrap_or(false) {
        let _ = fs::remove_file(path);
    }
    let _ = FileExt::unlock(file);
}

impl IntentLocks {
    pub(crate) fn new(journal: &Path, sharing: Sharing) -> IntentLocks {
        IntentLocks {
            dir: dir_for(journal),
            sharing,
            held: HashMap::new(),
        }
    }

    fn path(&self, id: i64) -> PathBuf {
        self.dir.join(id.to_string())
    }

    /// Locks intent `id` for this handle (before the intent is committed).
    pub(crate) fn own(&mut self, id: i64) -> Result<(), String> {
        let path = self.path(id);
        match self.try_lock(&path) {
            Ok(Some(file)) => {
                self.held.insert(id, file);
                Ok(())
            }
            Ok(None) => Err(format!(
                "the lock file {} is held by another session although entry #{id} does not exist yet; \
                 another journal may share this lock folder",
                path.display()
            )),
            Err(e) => Err(format!(
                "cannot lock {} ({e}); check that the folder {} is writable",
                path.display(),
                self.dir.display()
            )),
        }
    }

    /// Releases the lock of intent `id`, if this handle holds it.
    pub(crate) fn release(&mut self, id: i64) {
        if let Some(file) = self.held.remove(&id) {
            release_file(&file, &self.path(id));
        }
    }

    pub(crate) fn holds(&self, id: i64) -> bool {
        self.held.contains_key(&id)
    }

    /// Takes the lock of intent `id` if no live session holds it.
    pub(crate) fn claim(&self, id: i64) -> io::Result<Option<IntentClaim>> {
        if self.holds(id) {
            return Ok(None);
        }
        let path = self.path(id);
        Ok(self.try_lock(&path)?.map(|file| IntentClaim { file, path }))
    }

    /// Opens (creating) the lock file at `path` and locks it without
    /// waiting: `None` when another session holds it.
    fn try_lock(&self, path: &Path) -> io::Result<Option<File>> {
        self.sharing.ensure_lock_dir(&self.dir)?;
        // A few rounds at most: each retry means the holder removed the file meanwhile.
        for _ in 0..8 {
            let file = self.open(path)?;
            match FileExt::try_lock(&file) {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Ok(None),
                Err(TryLockError::Error(e)) => return Err(e),
            }
            if still_named(&file, path)? {
                return Ok(Some(file));
            }
            let _ = FileExt::unlock(&file);
        }
        Err(io::Error::other(
            "the lock file keeps being replaced by other sessions",
        ))
    }

    fn open(&self, path: &Path) -> io::Result<File> {
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        super::owner_only::create_with_mode(&mut options, self.sharing.file_mode());
        let file = options.open(path)?;
        self.sharing.adopt(&file)?;
        Ok(file)
    }
}

/// Whether `path` still names the open `file` (it was not removed and
/// replaced between our open and our lock).
#[cfg(unix)]
fn still_named(file: &File, path: &Path) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let ours = file.metadata()?;
    match fs::metadata(path) {
        Ok(now) => Ok(now.dev() == ours.dev() && now.ino() == ours.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Windows cannot open a file whose removal is pending, so a file we could
/// open and lock is the one its name shows.
#[cfg(not(unix))]
fn still_named(_file: &File, path: &Path) -> io::Result<bool> {
    Ok(path.exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owned_intent_cannot_be_claimed_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("j.sqlite");
        let mut writer = IntentLocks::new(&journal, Sharing::Private);
        let other = IntentLocks::new(&journal, Sharing::Private);
        writer.own(7).unwrap();
        assert!(other.claim(7).unwrap().is_none(), "owned by a live writer");
        assert!(
            writer.claim(7).unwrap().is_none(),
            "its own in-flight intent"
        );
        writer.release(7);
        assert!(!dir_for(&journal).join("7").exists(), "removed on release");
        let claim = other.claim(7).unwrap().expect("free after release");
        assert!(
            writer.claim(7).unwrap().is_none(),
            "one claim at a time, also from another handle"
        );
        drop(claim);
        assert!(other.claim(7).unwrap().is_some());
    }

    #[test]
    fn a_claim_on_a_file_removed_meanwhile_moves_to_a_fresh_file() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("j.sqlite");
        let locks = IntentLocks::new(&journal, Sharing::Private);
        let first = locks.claim(3).unwrap().unwrap();
        // Another session opened the same file before the holder removed it.
        let stale = locks.open(&locks.path(3)).unwrap();
        drop(first);
        assert!(FileExt::try_lock(&stale).is_ok(), "the orphan is lockable");
        assert!(!still_named(&stale, &locks.path(3)).unwrap());
        // A claim now locks a new file under the name, not the orphan.
        let second = locks.claim(3).unwrap().expect("fresh file");
        assert!(still_named(&second.file, &locks.path(3)).unwrap());
    }
}
