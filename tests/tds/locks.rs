//! Row locks as SQL Server takes them under READ COMMITTED (locking, not
//! RCSI): a key per (table, row), shared (S), update (U) and exclusive (X)
//! modes with SQL Server's compatibility matrix. A reader needs S on every row
//! it touches for the length of the statement, so it blocks on a row another
//! session has changed and not committed; a writer holds X on the rows it
//! changed until its transaction ends. Waits end at the session's LOCK_TIMEOUT
//! with error 1222. Deadlocks are not detected: they end at the lock timeout.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::sql::TdsError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LockMode {
    S,
    U,
    X,
}

impl LockMode {
    /// SQL Server's matrix: S–S, S–U and U–S are compatible; X with nothing, U with no U.
    fn compatible(held: LockMode, wanted: LockMode) -> bool {
        use LockMode::*;
        matches!((held, wanted), (S, S) | (S, U) | (U, S))
    }
}

/// A locked row: lower-case table name and SQLite rowid.
pub type Key = (String, i64);

/// What a session held on a key before a statement took a lock (None: nothing).
pub type Previous = Vec<(Key, Option<LockMode>)>;

#[derive(Default)]
pub struct Locks {
    held: Mutex<HashMap<Key, HashMap<u32, LockMode>>>,
    changed: Condvar,
}

impl Locks {
    /// Waits until `spid` may hold `mode` on every key, then takes all of
    /// them at once. `timeout` None waits without end (LOCK_TIMEOUT -1).
    pub fn acquire(
        &self,
        spid: u32,
        keys: &[Key],
        mode: LockMode,
        timeout: Option<Duration>,
    ) -> Result<Previous, TdsError> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut held = self.held.lock().unwrap();
        loop {
            let blocked = keys.iter().any(|k| {
                held.get(k).is_some_and(|owners| {
                    owners
                        .iter()
                        .any(|(s, m)| *s != spid && !LockMode::compatible(*m, mode))
                })
            });
            if !blocked {
                let mut prev = Vec::with_capacity(keys.len());
                for k in keys {
                    let owners = held.entry(k.clone()).or_default();
                    let before = owners.get(&spid).copied();
                    if before.is_none_or(|b| b < mode) {
                        owners.insert(spid, mode);
                    }
                    prev.push((k.clone(), before));
                }
                return Ok(prev);
            }
            let wait = match deadline {
                None => Duration::from_secs(3600),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Err(TdsError::new(
                            1222,
                            "Lock request time out period exceeded.",
                        ));
                    }
                    d - now
                }
            };
            held = self.changed.wait_timeout(held, wait).unwrap().0;
        }
    }

    /// Gives back what a statement took only for itself: each key returns to
    /// the mode `spid` held before (or to none).
    pub fn restore(&self, spid: u32, prev: Previous) {
        let mut held = self.held.lock().unwrap();
        for (k, before) in prev {
            if let Some(owners) = held.get_mut(&k) {
                match before {
                    Some(m) => {
                        owners.insert(spid, m);
                    }
                    None => {
                        owners.remove(&spid);
                    }
                }
                if owners.is_empty() {
                    held.remove(&k);
                }
            }
        }
        self.changed.notify_all();
    }

    /// Takes `mode` on keys nobody else can hold (rows this session just inserted).
    pub fn grant(&self, spid: u32, keys: &[Key], mode: LockMode) {
        let mut held = self.held.lock().unwrap();
        for k in keys {
            let owners = held.entry(k.clone()).or_default();
            let m = owners.entry(spid).or_insert(mode);
            *m = (*m).max(mode);
        }
    }

    /// The end of a transaction (or of the session): every lock of `spid` goes.
    pub fn release_all(&self, spid: u32) {
        let mut held = self.held.lock().unwrap();
        held.retain(|_, owners| {
            owners.remove(&spid);
            !owners.is_empty()
        });
        self.changed.notify_all();
    }
}
