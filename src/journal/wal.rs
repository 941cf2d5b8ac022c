//! The journal's SQLite write-ahead log (WAL mode, `synchronous=FULL`): an
//! append costs one fsync of the log, so a reset's intent and outcome cost two.
//!
//! Two things SQLite does not give an audit trail, done here:
//! - [`WalKeeper`]: SQLite checkpoints and deletes the log when its last
//!   connection closes, and the next process's first append then rewrites and
//!   syncs the log's header — a third fsync inside the reset. A second,
//!   idle connection opened with `SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE` keeps the
//!   log across processes; [`super::Journal::open`] checkpoints when the log
//!   is long, before any write of the session.
//! - [`scan`]: SQLite reads a log frame that fails its checksum as the end of
//!   the log and silently drops it and every frame after it, committed
//!   entries included. The scan reads the log as SQLite would and reports a
//!   damaged frame that intact frames follow; the head record (`head.rs`)
//!   catches the damage the scan cannot tell from a torn last write.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use libsqlite3_sys as ffi;

const WAL_HEADER_LEN: usize = 32;
const FRAME_HEADER_LEN: usize = 24;
const MAGIC_LITTLE_ENDIAN: u32 = 0x377f_0682;
const MAGIC_BIG_ENDIAN: u32 = 0x377f_0683;

/// `<journal>-wal`, where SQLite keeps the log.
pub(crate) fn log_path(journal: &Path) -> PathBuf {
    let mut name = journal.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Puts the journal in WAL mode; `false` where the file system cannot
/// (SQLite keeps the rollback journal there, and an append costs more syncs).
pub(crate) fn enter(conn: &mut SqliteConnection) -> Result<bool, diesel::result::Error> {
    #[derive(QueryableByName)]
    struct Mode {
        #[diesel(sql_type = diesel::sql_types::Text)]
        journal_mode: String,
    }
    let mode: Mode = diesel::sql_query("PRAGMA journal_mode = WAL").get_result(conn)?;
    Ok(mode.journal_mode.eq_ignore_ascii_case("wal"))
}

/// Makes a new journal or log file's name durable: SQLite is built without
/// its own folder sync (`.cargo/config.toml`), which it would otherwise repeat
/// in every process, inside the first append.
pub(crate) fn sync_folder(journal: &Path) -> std::io::Result<()> {
    match journal.parent() {
        #[cfg(unix)]
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        _ => Ok(()),
    }
}

/// Frames after which a session checkpoints when it opens the journal, so
/// the checkpoint's syncs fall before the session's first write rather than
/// inside a reset (SQLite's own automatic checkpoint is at 1,000 pages).
const CHECKPOINT_AT_FRAMES: u64 = 500;

/// `frames`: the current generation's frames [`scan`] counted at open; once
/// they are all copied the next write restarts the log, so a long log whose
/// frames are copied already makes this a no-op.
pub(crate) fn checkpoint_if_long(conn: &mut SqliteConnection, frames: u64) {
    if frames > CHECKPOINT_AT_FRAMES {
        // PASSIVE: never waits for another session; whatever it cannot copy
        // now, a later session will.
        if let Err(e) = conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE)") {
            tracing::warn!("the journal's checkpoint at open did not run: {e}");
        }
    }
}

/// A frame SQLite would drop although later frames of the same log are intact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WalDamage {
    /// 1-based frame number, as `sqlite3_analyzer` and the WAL format count.
    pub frame: u64,
    /// Byte offset of the frame in the `-wal` file.
    pub offset: u64,
    /// What is wrong, in plain words.
    pub what: &'static str,
}

/// Reads the log at `path` as SQLite would and reports damage. A log that is
/// missing, empty, or ends in a torn frame is not damage. A log another
/// session is appending to can look torn mid-way: a finding counts only when
/// two reads of the file agree byte for byte.
pub(crate) fn scan(path: &Path) -> std::io::Result<WalScan> {
    let mut previous: Option<Vec<u8>> = None;
    let mut last = WalScan::default();
    for _ in 0..5 {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(WalScan::default()),
            Err(e) => return Err(e),
        };
        let found = scan_bytes(&bytes);
        if found.damage.is_none() || previous.as_deref() == Some(bytes.as_slice()) {
            return Ok(found);
        }
        last = WalScan {
            damage: None,
            ..found
        };
        previous = Some(bytes);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Ok(last)
}

/// What [`scan`] read: the frames of the log's current generation, and damage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct WalScan {
    pub frames: u64,
    pub damage: Option<WalDamage>,
}

fn word(bytes: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&bytes[at..at + 4]);
    u32::from_be_bytes(w)
}

/// The WAL format's checksum (https://www.sqlite.org/fileformat.html §4.1):
/// two running 32-bit sums over pairs of words in the log's byte order. A
/// format checksum, not a cryptographic one; the chain hash is the seal.
fn checksum(data: &[u8], big_endian: bool, start: (u32, u32)) -> (u32, u32) {
    let (mut s1, mut s2) = start;
    for pair in data.chunks_exact(8) {
        let read = |b: &[u8]| {
            let mut w = [0u8; 4];
            w.copy_from_slice(b);
            if big_endian {
                u32::from_be_bytes(w)
            } else {
                u32::from_le_bytes(w)
            }
        };
        s1 = s1.wrapping_add(read(&pair[0..4])).wrapping_add(s2);
        s2 = s2.wrapping_add(read(&pair[4..8])).wrapping_add(s1);
    }
    (s1, s2)
}

pub(crate) fn scan_bytes(bytes: &[u8]) -> WalScan {
    if bytes.len() < WAL_HEADER_LEN {
        return WalScan::default(); // torn while the log was created: nothing was committed to it
    }
    match frames_of(bytes) {
        Ok(scan) => scan,
        Err(damage) => WalScan {
            frames: 0,
            damage: Some(damage),
        },
    }
}

fn frames_of(bytes: &[u8]) -> Result<WalScan, WalDamage> {
    let magic = word(bytes, 0);
    if magic != MAGIC_LITTLE_ENDIAN && magic != MAGIC_BIG_ENDIAN {
        return Err(WalDamage {
            frame: 0,
            offset: 0,
            what: "the log's header does not start with the WAL magic number",
        });
    }
    let big_endian = magic == MAGIC_BIG_ENDIAN;
    let header_sum = checksum(&bytes[..24], big_endian, (0, 0));
    if header_sum != (word(bytes, 24), word(bytes, 28)) {
        return Err(WalDamage {
            frame: 0,
            offset: 0,
            what: "the log's header fails its checksum",
        });
    }
    let page_size = match word(bytes, 8) {
        1 => 65536,
        n if (512..=65536).contains(&n) && n.is_power_of_two() => n as usize,
        _ => {
            return Err(WalDamage {
                frame: 0,
                offset: 0,
                what: "the log's header names an impossible page size",
            });
        }
    };
    let salts = &bytes[16..24];
    let frame_len = FRAME_HEADER_LEN + page_size;
    let frames: Vec<&[u8]> = bytes[WAL_HEADER_LEN..].chunks_exact(frame_len).collect();
    // The frames of this generation: an older generation's frames (other
    // salts) after them are leftovers SQLite never reads.
    let current = frames.iter().take_while(|f| &f[8..16] == salts).count();
    let stored = |f: &[u8]| (word(f, 16), word(f, 20));
    let intact_after = |prev: (u32, u32), f: &[u8]| {
        let s = checksum(&f[..8], big_endian, prev);
        checksum(&f[FRAME_HEADER_LEN..], big_endian, s) == stored(f)
    };
    let mut prev = header_sum;
    for (i, frame) in frames[..current].iter().enumerate() {
        if intact_after(prev, frame) {
            prev = stored(frame);
            continue;
        }
        // Damage, or the torn tail of a write that never committed: only
        // intact frames after it tell damage apart.
        let later_intact = frames[i + 1..current]
            .windows(2)
            .any(|w| intact_after(stored(w[0]), w[1]));
        let next_intact = frames
            .get(i + 1)
            .filter(|_| i + 1 < current)
            .is_some_and(|next| intact_after(stored(frame), next));
        let damage = (later_intact || next_intact).then(|| WalDamage {
            frame: i as u64 + 1,
            offset: (WAL_HEADER_LEN + i * frame_len) as u64,
            what: "a frame fails its checksum while later frames are intact",
        });
        return Ok(WalScan {
            frames: i as u64,
            damage,
        });
    }
    Ok(WalScan {
        frames: current as u64,
        damage: None,
    })
}

/// An idle second connection that keeps the log when the journal closes
/// (see the module comment). Without it the journal still works: SQLite
/// checkpoints at close and an append costs one fsync more.
pub(crate) struct WalKeeper(NonNull<ffi::sqlite3>);

// SAFETY: opened with SQLITE_OPEN_FULLMUTEX, so SQLite serializes any use of
// the handle; after `open` it is only closed.
unsafe impl Send for WalKeeper {}

impl WalKeeper {
    /// Opens `path` (already in WAL mode) and reads it once, which holds the
    /// shared lock that stops the main connection's close from checkpointing.
    pub(crate) fn open(path: &str) -> Option<WalKeeper> {
        let name = CString::new(path).ok()?;
        let mut raw: *mut ffi::sqlite3 = std::ptr::null_mut();
        let flags = ffi::SQLITE_OPEN_READWRITE | ffi::SQLITE_OPEN_FULLMUTEX;
        // SAFETY: a valid NUL-terminated name and out-pointer; the handle is
        // closed by Drop (also when open fails, as SQLite requires).
        let rc = unsafe { ffi::sqlite3_open_v2(name.as_ptr(), &mut raw, flags, std::ptr::null()) };
        let keeper = WalKeeper(NonNull::new(raw)?);
        if rc != ffi::SQLITE_OK {
            return None;
        }
        let db = keeper.0.as_ptr();
        let mut applied: std::os::raw::c_int = 0;
        let read = CString::new("SELECT count(*) FROM sqlite_master").ok()?;
        // SAFETY: `db` is open; the variadic arguments are the (int, int*)
        // pair SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE takes; exec gets a valid
        // statement and no callback.
        let ok = unsafe {
            ffi::sqlite3_db_config(
                db,
                ffi::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
                1 as std::os::raw::c_int,
                &mut applied as *mut std::os::raw::c_int,
            ) == ffi::SQLITE_OK
                && applied == 1
                && ffi::sqlite3_exec(
                    db,
                    read.as_ptr(),
                    None,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                ) == ffi::SQLITE_OK
        };
        ok.then_some(keeper)
    }
}

impl Drop for WalKeeper {
    fn drop(&mut self) {
        // SAFETY: the handle came from sqlite3_open_v2 and is closed once.
        unsafe {
            ffi::sqlite3_close(self.0.as_ptr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A two-frame log in the format's own layout, checksums computed here.
    fn log(page_size: usize, pages: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&MAGIC_LITTLE_ENDIAN.to_be_bytes());
        b.extend_from_slice(&3_007_000u32.to_be_bytes());
        b.extend_from_slice(&(page_size as u32).to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        let (s1, s2) = checksum(&b, false, (0, 0));
        b.extend_from_slice(&s1.to_be_bytes());
        b.extend_from_slice(&s2.to_be_bytes());
        let mut prev = (s1, s2);
        for (i, fill) in pages.iter().enumerate() {
            let mut f = Vec::new();
            f.extend_from_slice(&(i as u32 + 1).to_be_bytes());
            let commit = if i + 1 == pages.len() { 2u32 } else { 0 };
            f.extend_from_slice(&commit.to_be_bytes());
            f.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
            let page = vec![*fill; page_size];
            let s = checksum(&f[..8], false, prev);
            let s = checksum(&page, false, s);
            f.extend_from_slice(&s.0.to_be_bytes());
            f.extend_from_slice(&s.1.to_be_bytes());
            f.extend_from_slice(&page);
            prev = s;
            b.extend_from_slice(&f);
        }
        b
    }

    #[test]
    fn an_intact_log_and_a_torn_tail_are_not_damage() {
        let good = log(512, &[7, 8, 9]);
        assert_eq!(scan_bytes(&good).frames, 3);
        assert_eq!(scan_bytes(&good).damage, None);
        assert_eq!(scan_bytes(&good[..good.len() - 100]).damage, None);
        let mut last_flipped = good.clone();
        let n = last_flipped.len();
        last_flipped[n - 1] ^= 1;
        assert_eq!(
            scan_bytes(&last_flipped).damage,
            None,
            "a torn last frame looks like this"
        );
        assert_eq!(scan_bytes(&last_flipped).frames, 2);
    }

    #[test]
    fn a_flip_in_a_middle_frame_or_the_header_is_damage() {
        let good = log(512, &[7, 8, 9]);
        let frame_len = 24 + 512;
        let mut middle = good.clone();
        middle[32 + frame_len + 100] ^= 0x10;
        let found = scan_bytes(&middle).damage.expect("damage");
        assert_eq!((found.frame, found.offset), (2, (32 + frame_len) as u64));
        let mut header = good.clone();
        header[13] ^= 1;
        assert_eq!(scan_bytes(&header).damage.map(|d| d.frame), Some(0));
    }
}
