//! The local journal: an append-only, hash-chained record of every write
//! locksmith makes to a target database.
//!
//! Protocol: an [`EntryKind::Intent`] entry is durable in the journal before
//! the target is touched (if it cannot be written, the write is refused), and
//! an [`EntryKind::Outcome`] entry referring to it is appended afterwards.
//!
//! Secrets never enter the journal: callers record HMAC-SHA256 fingerprints
//! made with [`Journal::fingerprint`], keyed by a per-installation key file.
//!
//! Each entry is chained to the previous one by SHA-256 (see `chain.rs` for
//! the exact encoding), so [`Journal::verify`] finds entries that were edited,
//! deleted or moved. It cannot notice that the newest entries were cut off:
//! auditors who need that compare [`VerifyReport::head_hash`] with a copy kept
//! elsewhere. It also lists intents whose outcome entries contradict each
//! other ([`VerifyReport::contradictions`]).
//!
//! Several sessions may use one journal at once (the console and the CLI,
//! two operators on a shared system journal): appends are serialized by
//! SQLite, and a writer appends its intent with [`Journal::append_owned`],
//! which holds an OS lock on it until its outcome is written (`locks.rs`), so
//! a reconcile in another session never settles a write still in flight.

mod chain;
mod head;
mod key;
mod locks;
mod outcomes;
mod owner_only;
mod share;
mod store;
mod wal;

use std::fmt;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

use self::key::JournalKey;
use self::locks::IntentLocks;
use self::store::{Row, entries, meta};

pub use self::locks::IntentClaim;
pub use self::outcomes::Contradiction;
pub use self::share::Sharing;

/// Milliseconds SQLite waits for another locksmith holding the journal lock.
const BUSY_TIMEOUT_MS: u32 = 5000;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot open the journal {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("journal key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("could not write to the journal: {0}")]
    Write(String),
    #[error("could not read the journal: {0}")]
    Read(String),
    #[error("there is no journal entry #{0}; check the id against the journal's entry list")]
    NotFound(i64),
    #[error("could not export the journal: {0}")]
    Export(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Intent,
    Outcome,
    Calibrate,
    Reconcile,
    Note,
    /// The intent of a break-glass write (restore-admin). It stays open, for
    /// `status`, until a `Close` entry refers to it.
    BreakGlass,
    /// Closes a break-glass entry (`audit close ID --reason`).
    Close,
    /// The intent of a drill: applied, verified and rolled back on purpose.
    Drill,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Committed,
    RolledBack,
    Refused,
    Failed,
    Unknown,
}

/// Who/where: filled by the caller.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Actor {
    pub os_user: String,
    pub ssh_origin: Option<String>,
    /// The login name of the process's uid (the OS user database, getpwuid):
    /// what `$USER` cannot fake. The fields below are absent (and not
    /// encoded, so older entries keep their hashes) when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// Run through sudo: the invoking user as sudo recorded it
    /// (`SUDO_USER`, `SUDO_UID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sudo_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sudo_uid: Option<u32>,
}

impl Actor {
    /// The OS user running locksmith (`$USER`, else `$LOGNAME`, else
    /// `uid:<n>` from /proc/self/status, else `unknown`), its uid and login
    /// name from the OS, the invoking user under sudo and, over SSH, the
    /// client address and port from `$SSH_CLIENT` (or `$SSH_CONNECTION`).
    pub fn current() -> Actor {
        let env = |name: &str| std::env::var(name).ok();
        let status = || std::fs::read_to_string("/proc/self/status").ok();
        let mut actor = actor_from(
            env("USER"),
            env("LOGNAME"),
            status,
            env("SSH_CLIENT").or_else(|| env("SSH_CONNECTION")),
        );
        #[cfg(unix)]
        {
            let uid = nix::unistd::getuid();
            actor.uid = Some(uid.as_raw());
            actor.login = nix::unistd::User::from_uid(uid)
                .ok()
                .flatten()
                .map(|u| u.name);
        }
        actor.sudo_user = env("SUDO_USER")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        actor.sudo_uid = env("SUDO_UID").and_then(|v| v.trim().parse().ok());
        actor
    }

    /// Who did it, as an auditor reads it: the invoking user under sudo,
    /// else the login name of the uid, else what the environment said.
    pub fn who(&self) -> &str {
        self.sudo_user
            .as_deref()
            .or(self.login.as_deref())
            .unwrap_or(&self.os_user)
    }
}

fn actor_from(
    user: Option<String>,
    logname: Option<String>,
    proc_status: impl FnOnce() -> Option<String>,
    ssh_client: Option<String>,
) -> Actor {
    let non_empty = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let os_user = non_empty(user)
        .or_else(|| non_empty(logname))
        .or_else(|| proc_status().as_deref().and_then(uid_from_status))
        .unwrap_or_else(|| "unknown".to_owned());
    Actor {
        os_user,
        ssh_origin: ssh_client.as_deref().and_then(ssh_origin_from),
        ..Actor::default()
    }
}

fn uid_from_status(status: &str) -> Option<String> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    let uid = line.split_whitespace().nth(1)?;
    uid.parse::<u32>().ok().map(|n| format!("uid:{n}"))
}

/// `"<ip> <port> <local port>"` -> `ip:port` (`[ip]:port` for IPv6).
fn ssh_origin_from(value: &str) -> Option<String> {
    let mut fields = value.split_whitespace();
    let ip = fields.next()?;
    match fields.next().filter(|p| p.parse::<u16>().is_ok()) {
        Some(port) if ip.contains(':') => Some(format!("[{ip}]:{port}")),
        Some(port) => Some(format!("{ip}:{port}")),
        None => Some(ip.to_owned()),
    }
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Place {
    pub engine: String,
    pub host: String,
    pub database: String,
    pub connector: String,
    /// The SSH bastion (`user@host[:port]`) the database was reached
    /// through; `host` is then as the bastion sees it. Absent (and not
    /// encoded, so older entries keep their hashes) for a direct connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// What the caller wants recorded. `details` is free JSON (columns touched,
/// SQL text with placeholders, fingerprints, warnings, scheme id, outcome
/// info) — the caller guarantees it holds no secrets.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct NewEntry {
    pub kind: EntryKind,
    /// outcome -> its intent's id
    pub refers_to: Option<i64>,
    /// "reset", "unlock", "calibrate", ...
    pub action: String,
    /// login and/or "#pk"
    pub account: Option<String>,
    pub reason: Option<String>,
    pub outcome: Option<Outcome>,
    pub actor: Actor,
    pub place: Place,
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct Entry {
    pub id: i64,
    /// RFC 3339 UTC, milliseconds.
    pub at: String,
    #[serde(flatten)]
    pub entry: NewEntry,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct VerifyReport {
    /// Number of entries stored in the journal.
    pub entries: u64,
    /// Hash stored in the newest entry (the chain head when `ok`).
    pub head_hash: Option<String>,
    pub ok: bool,
    /// The first problem found, walking from the oldest entry.
    pub problem: Option<ChainProblem>,
    /// Intents whose outcome and reconcile entries disagree (one says
    /// committed, another rolled back, refused or failed). The chain can be
    /// intact around them: journals written before intents were owned by
    /// their session may hold such pairs.
    pub contradictions: Vec<Contradiction>,
}

#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct ChainProblem {
    pub entry_id: i64,
    /// "edited" | "deleted_before" | "reordered" | "unreadable"
    pub kind: String,
    /// Plain words naming the entry.
    pub message: String,
}

pub struct Journal {
    // Declared before the keeper: the main connection closes first, while
    // the keeper's lock still stops it from checkpointing (wal.rs).
    conn: SqliteConnection,
    #[allow(dead_code, reason = "held for its shared lock, released by Drop")]
    wal_keeper: Option<wal::WalKeeper>,
    /// Damage found in the journal's files when it was opened (a dropped
    /// log frame, entries the head record names that are gone): appends
    /// are refused so the evidence stays as found, and verify reports it.
    damage_at_open: Option<ChainProblem>,
    file_mode: u32,
    key: JournalKey,
    path: PathBuf,
    locks: IntentLocks,
    /// Runs once appended entries are durable (forwarding, `crate::forward`).
    after_append: Option<Box<dyn AfterAppend>>,
}

/// What happens to entries once they are durable in this journal: the
/// forwarder sends them off the box (`crate::forward`). Called after every
/// successful append, never inside the append's transaction.
pub trait AfterAppend: Send {
    /// Entries up to `newest` are durable in `journal`. A failure is kept by
    /// the hook (the entries stay in the journal, which is the spool).
    fn durable(&mut self, journal: &mut Journal, newest: i64);
    /// When entries must be acknowledged before a write goes on
    /// (`forward_required`): why entry `id` was not, else `None`.
    fn unacknowledged(&self, id: i64) -> Option<String>;
    /// What the operator should hear after a run: entries still waiting.
    fn waiting(&self) -> Option<crate::i18n::Said>;
}

/// What [`Journal::claim`] found for an open intent.
#[derive(Debug)]
pub enum Claim {
    /// This session holds the intent's lock until the guard is dropped.
    Mine(IntentClaim),
    /// A live session owns it (its writer, or another reconcile): leave it.
    InProgress,
    /// It was settled meanwhile; nothing to do.
    Settled,
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Failure inside the append transaction.
enum AppendError {
    Db(diesel::result::Error),
    NotFound(i64),
    Lock(String),
}

impl From<diesel::result::Error> for AppendError {
    fn from(e: diesel::result::Error) -> Self {
        AppendError::Db(e)
    }
}

/// Creates the journal file ourselves so it starts private or the group's
/// (SQLite would use 0644); an empty file is a valid empty database. `true`
/// when it was created now.
fn create_file(abs: &Path, sharing: &Sharing) -> Result<bool, String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    match owner_only::create_with_mode(&mut options, sharing.file_mode()).open(abs) {
        Ok(file) => {
            sharing.adopt(&file).map_err(|e| {
                format!(
                    "cannot give the new file its group and mode ({e}); check that you are a \
                     member of the group"
                )
            })?;
            Ok(true)
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(format!(
            "cannot create the file ({e}); check that its folder is writable"
        )),
    }
}

/// Creates the tables of a new journal and checks the schema version.
fn prepare_schema(conn: &mut SqliteConnection) -> Result<(), String> {
    let not_a_journal = |e: diesel::result::Error| {
        format!(
            "it is not a usable locksmith journal ({e}); check the path, free disk space \
             and that the file is writable"
        )
    };
    conn.immediate_transaction(|c| c.batch_execute(store::SCHEMA_SQL))
        .map_err(not_a_journal)?;
    let version: String = meta::table
        .filter(meta::key.eq("schema_version"))
        .select(meta::value)
        .first(conn)
        .map_err(not_a_journal)?;
    if version != store::SCHEMA_VERSION {
        return Err(format!(
            "it has schema version {version}, this locksmith reads version {}; \
             use a newer locksmith",
            store::SCHEMA_VERSION
        ));
    }
    Ok(())
}

impl Journal {
    /// Opens or creates the SQLite journal at `path` (creating parent
    /// folders with mode 0700, the file with mode 0600) and the HMAC key at
    /// `key_path` (32 bytes from the OS CSPRNG, created once with mode 0600,
    /// hex in the file). An existing key file that group or others may access
    /// is refused.
    ///
    /// The journal uses SQLite's write-ahead log with `synchronous=FULL`, so
    /// an appended entry is on disk when [`Journal::append`] returns, at one
    /// fsync per append (`wal.rs`). Its files: the journal, `-wal`, `-shm`
    /// and `-head` (`head.rs`); copy them together, or use `audit export`.
    pub fn open(path: &Path, key_path: &Path) -> Result<Journal, JournalError> {
        Journal::open_with(path, key_path, Sharing::Private)
    }

    /// Like [`Journal::open`], for a journal shared by a group: its folder
    /// must exist (the administrator makes it, setgid and the group's), the
    /// journal and lock files are created 0660 and the key 0640, all owned by
    /// the group; an existing key must be the group's and 0640 or stricter.
    pub fn open_with(
        path: &Path,
        key_path: &Path,
        sharing: Sharing,
    ) -> Result<Journal, JournalError> {
        let open_err = |reason: String| JournalError::Open {
            path: path.to_path_buf(),
            reason,
        };
        // Absolute, so that SQLite never reads the name as a `file:` URI.
        let abs = std::path::absolute(path)
            .map_err(|e| open_err(format!("cannot resolve the path ({e})")))?;
        let url = abs.to_str().ok_or_else(|| {
            open_err("the path is not valid UTF-8; choose a path with plain characters".into())
        })?;
        if let (Sharing::Group { name, .. }, Some(parent)) = (&sharing, abs.parent())
            && !parent.is_dir()
        {
            return Err(open_err(format!(
                "the folder of a journal shared by group `{name}` must exist: run \
                 `install -d -m 2770 -g {name} {}` as root",
                parent.display()
            )));
        }
        if let (Sharing::Private, Some(parent)) = (&sharing, abs.parent()) {
            key::create_private_dirs(parent).map_err(|e| {
                open_err(format!(
                    "cannot create the folder {} ({e}); create it or choose another journal path",
                    parent.display()
                ))
            })?;
        }
        let key = key::load_or_create(key_path, &sharing)?;
        let created = create_file(&abs, &sharing).map_err(open_err)?;
        if !abs.is_file() {
            return Err(open_err(
                "it is not a regular file; point locksmith at the journal file".into(),
            ));
        }

        // Before SQLite reads the log: it would drop a damaged frame silently.
        let log = wal::log_path(&abs);
        let log_existed = log.exists();
        let wal_scan = wal::scan(&log).map_err(|e| {
            open_err(format!(
                "its write-ahead log {} cannot be read ({e}); check the file's permissions",
                log.display()
            ))
        })?;
        let mut conn = SqliteConnection::establish(url)
            .map_err(|e| open_err(format!("SQLite cannot open it ({e})")))?;
        let not_a_journal = |e: diesel::result::Error| {
            open_err(format!(
                "it is not a usable locksmith journal ({e}); check the path, free disk space \
                 and that the file is writable"
            ))
        };
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS};
             PRAGMA synchronous = FULL;"
        ))
        .map_err(not_a_journal)?;
        let in_wal = wal::enter(&mut conn).map_err(not_a_journal)?;
        // A damaged log is left exactly as found: SQLite would write the
        // schema's frames over the damaged ones (and the ones after them).
        if wal_scan.damage.is_none() {
            prepare_schema(&mut conn).map_err(open_err)?;
        }
        if created || (in_wal && !log_existed) {
            wal::sync_folder(&abs).map_err(|e| {
                open_err(format!(
                    "cannot make the new file durable ({e}); check the folder"
                ))
            })?;
        }
        let file_mode = sharing.file_mode();
        let locks = IntentLocks::new(&abs, sharing);
        let wal_keeper = if in_wal {
            if wal_scan.damage.is_none() {
                wal::checkpoint_if_long(&mut conn, wal_scan.frames);
            }
            wal::WalKeeper::open(url)
        } else {
            None
        };
        let mut journal = Journal {
            conn,
            wal_keeper,
            damage_at_open: None,
            file_mode,
            key,
            path: abs,
            locks,
            after_append: None,
        };
        journal.damage_at_open = match &wal_scan.damage {
            Some(d) => Some(journal.wal_problem(d)),
            None => journal.lost_entries()?,
        };
        Ok(journal)
    }

    /// Default locations in the user's state folder (or local data folder):
    /// `<dir>/journal.sqlite` and `<dir>/journal.key`.
    pub fn default_paths() -> Result<(PathBuf, PathBuf), JournalError> {
        let dirs = directories::ProjectDirs::from("", "", "locksmith").ok_or_else(|| {
            JournalError::Open {
                path: PathBuf::from("journal.sqlite"),
                reason: "no home folder was found for the default journal location; set HOME \
                         or give the journal path explicitly"
                    .into(),
            }
        })?;
        let dir = dirs
            .state_dir()
            .unwrap_or_else(|| dirs.data_local_dir())
            .to_path_buf();
        Ok((dir.join("journal.sqlite"), dir.join("journal.key")))
    }

    /// HMAC-SHA256(key, domain || 0x00 || value), hex, prefixed
    /// `hmac-sha256:`. `domain` separates uses (e.g. `"stored:password"`) and
    /// must not contain a NUL character.
    pub fn fingerprint(&self, domain: &str, value: &[u8]) -> String {
        debug_assert!(!domain.contains('\0'), "fingerprint domain contains NUL");
        format!(
            "hmac-sha256:{}",
            key::hmac_hex(&self.key, &[domain.as_bytes(), &[0u8], value])
        )
    }

    fn write_err(&self, what: impl fmt::Display) -> JournalError {
        JournalError::Write(format!(
            "{}: {what}; check free disk space and that the file and its folder are writable, \
             then retry",
            self.path.display()
        ))
    }

    fn read_err(&self, what: impl fmt::Display) -> JournalError {
        JournalError::Read(format!("{}: {what}", self.path.display()))
    }

    /// Appends durably (one `BEGIN IMMEDIATE` transaction) and returns the
    /// new entry's id. If `refers_to` is set, that entry must exist.
    pub fn append(&mut self, entry: &NewEntry) -> Result<i64, JournalError> {
        let ids = self.append_entries(std::slice::from_ref(entry), false)?;
        ids.first()
            .copied()
            .ok_or_else(|| self.write_err("no entry was appended"))
    }

    /// Appends an intent owned by this session: its OS lock is taken inside
    /// the append transaction (so no other session ever sees it unowned) and
    /// held until an outcome referring to it is appended through this handle
    /// or [`Journal::release`] is called; other sessions' reconciles leave it
    /// alone meanwhile. The lock dies with the process.
    pub fn append_owned(&mut self, entry: &NewEntry) -> Result<i64, JournalError> {
        let ids = self.append_entries(std::slice::from_ref(entry), true)?;
        ids.first()
            .copied()
            .ok_or_else(|| self.write_err("no entry was appended"))
    }

    /// Appends several entries in one durable transaction: all or none.
    /// An entry may refer to one appended earlier in the same call.
    pub fn append_all(&mut self, new: &[NewEntry]) -> Result<Vec<i64>, JournalError> {
        self.append_entries(new, false)
    }

    /// Appends several intents in one durable transaction, each owned by this
    /// session as [`Journal::append_owned`] owns one (a batch's intents are
    /// durable, together, before any of their writes).
    pub fn append_all_owned(&mut self, new: &[NewEntry]) -> Result<Vec<i64>, JournalError> {
        self.append_entries(new, true)
    }

    /// `own`: lock every entry appended (intents) for this session.
    fn append_entries(&mut self, new: &[NewEntry], own: bool) -> Result<Vec<i64>, JournalError> {
        if let Some(damage) = &self.damage_at_open {
            return Err(JournalError::Write(format!(
                "{}: {}; the journal is kept as it was found: run `locksmith audit verify`, \
                 then move the journal and its -wal and -head files aside to start a new one",
                self.path.display(),
                damage.message
            )));
        }
        let mut bodies = Vec::with_capacity(new.len());
        for entry in new {
            bodies.push(
                chain::canonical_body(entry)
                    .map_err(|e| self.write_err(format!("the entry cannot be encoded ({e})")))?,
            );
        }
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let locks = &mut self.locks;
        let mut owned = Vec::new();
        let result = self.conn.immediate_transaction(|c| {
            let last: Option<(i64, String)> = entries::table
                .select((entries::id, entries::hash))
                .order(entries::id.desc())
                .first(c)
                .optional()?;
            let (mut id, mut prev_hash) = match last {
                Some((last_id, last_hash)) => (last_id, last_hash),
                None => (0, chain::GENESIS_PREV_HASH.to_owned()),
            };
            let mut ids = Vec::with_capacity(new.len());
            for (entry, body) in new.iter().zip(bodies) {
                if let Some(target) = entry.refers_to {
                    let found: i64 = entries::table
                        .filter(entries::id.eq(target))
                        .count()
                        .get_result(c)?;
                    if found == 0 {
                        return Err(AppendError::NotFound(target));
                    }
                }
                id = id.saturating_add(1);
                // Owned before it is visible: no reconcile can see it unowned.
                if own {
                    locks.own(id).map_err(AppendError::Lock)?;
                    owned.push(id);
                }
                let hash = chain::entry_hash(id, &at, &prev_hash, &body);
                let row = Row {
                    id,
                    at: at.clone(),
                    kind: chain::kind_name(entry.kind).to_owned(),
                    refers_to: entry.refers_to,
                    action: entry.action.clone(),
                    account: entry.account.clone(),
                    body,
                    prev_hash: std::mem::replace(&mut prev_hash, hash.clone()),
                    hash,
                };
                diesel::insert_into(entries::table)
                    .values(&row)
                    .execute(c)?;
                ids.push(id);
            }
            Ok((ids, prev_hash))
        });
        if result.is_err() {
            for id in owned {
                self.locks.release(id);
            }
        } else {
            // An outcome ends its writer's ownership once it is durable.
            for entry in new.iter().filter(|e| e.kind == EntryKind::Outcome) {
                if let Some(id) = entry.refers_to {
                    self.locks.release(id);
                }
            }
        }
        match result {
            Ok((ids, hash)) => {
                if let Some(&id) = ids.last() {
                    self.record_head(id, hash);
                    self.run_after_append(id);
                }
                Ok(ids)
            }
            Err(AppendError::NotFound(id)) => Err(JournalError::NotFound(id)),
            Err(AppendError::Db(e)) => Err(self.write_err(e)),
            Err(AppendError::Lock(e)) => Err(self.write_err(e)),
        }
    }

    /// Installs what runs after every durable append (one hook; a second
    /// call replaces the first).
    pub fn set_after_append(&mut self, hook: Box<dyn AfterAppend>) {
        self.after_append = Some(hook);
    }

    /// Runs the after-append hook for entries up to `newest` (also what
    /// `audit forward` calls to send what is waiting).
    pub fn run_after_append(&mut self, newest: i64) {
        if let Some(mut hook) = self.after_append.take() {
            hook.durable(self, newest);
            self.after_append = Some(hook);
        }
    }

    /// Why entry `id` is not acknowledged where it must be (`forward_required`).
    pub fn unacknowledged(&self, id: i64) -> Option<String> {
        self.after_append.as_ref()?.unacknowledged(id)
    }

    /// Entries the after-append hook could not deliver yet, for the operator.
    pub fn waiting(&self) -> Option<crate::i18n::Said> {
        self.after_append.as_ref()?.waiting()
    }

    /// Up to `limit` entries after entry `after`, oldest first.
    pub fn entries_after(&mut self, after: i64, limit: i64) -> Result<Vec<Entry>, JournalError> {
        let rows: Vec<Row> = entries::table
            .select(Row::as_select())
            .filter(entries::id.gt(after))
            .order(entries::id.asc())
            .limit(limit)
            .load(&mut self.conn)
            .map_err(|e| self.read_err(e))?;
        rows.into_iter().map(|r| self.to_entry(r)).collect()
    }

    /// The id of the newest entry (0 for an empty journal).
    pub fn newest_id(&mut self) -> Result<i64, JournalError> {
        let id: Option<i64> = entries::table
            .select(diesel::dsl::max(entries::id))
            .first(&mut self.conn)
            .map_err(|e| self.read_err(e))?;
        Ok(id.unwrap_or(0))
    }

    /// Ends this session's ownership of intent `id` (its writer is done with
    /// it, whatever was journaled). Idempotent.
    pub fn release(&mut self, id: i64) {
        self.locks.release(id);
    }

    /// Takes ownership of open intent `id` to settle it: [`Claim::InProgress`]
    /// while a live session owns it, [`Claim::Settled`] when an outcome or
    /// reconcile entry closed it meanwhile.
    pub fn claim(&mut self, id: i64) -> Result<Claim, JournalError> {
        let claim = self
            .locks
            .claim(id)
            .map_err(|e| self.write_err(format!("cannot take the lock of entry #{id} ({e})")))?;
        let Some(claim) = claim else {
            return Ok(Claim::InProgress);
        };
        // Checked again under the lock: its writer may have finished just before.
        if self.open_intent_rows(Some(id))?.is_empty() {
            return Ok(Claim::Settled);
        }
        Ok(Claim::Mine(claim))
    }

    /// The first reconcile entry that refers to entry `id`, if any.
    pub fn reconciled(&mut self, id: i64) -> Result<Option<Entry>, JournalError> {
        let row: Option<Row> = entries::table
            .select(Row::as_select())
            .filter(entries::refers_to.eq(id))
            .filter(entries::kind.eq("reconcile"))
            .order(entries::id.asc())
            .first(&mut self.conn)
            .optional()
            .map_err(|e| self.read_err(e))?;
        row.map(|r| self.to_entry(r)).transpose()
    }

    fn to_entry(&self, row: Row) -> Result<Entry, JournalError> {
        let entry = chain::parse_body(&row).map_err(|e| {
            self.read_err(format!(
                "entry #{} cannot be read ({e}); run the journal verification to see what \
                 happened to it",
                row.id
            ))
        })?;
        Ok(Entry {
            id: row.id,
            at: row.at,
            entry,
            prev_hash: row.prev_hash,
            hash: row.hash,
        })
    }

    fn all_rows(&mut self) -> Result<Vec<Row>, JournalError> {
        entries::table
            .select(Row::as_select())
            .order(entries::id.asc())
            .load(&mut self.conn)
            .map_err(|e| self.read_err(e))
    }

    /// The newest `limit` entries (all if `None`), newest last.
    pub fn list(&mut self, limit: Option<u64>) -> Result<Vec<Entry>, JournalError> {
        let rows = match limit {
            None => self.all_rows()?,
            Some(n) => {
                let n = i64::try_from(n).unwrap_or(i64::MAX);
                let mut rows: Vec<Row> = entries::table
                    .select(Row::as_select())
                    .order(entries::id.desc())
                    .limit(n)
                    .load(&mut self.conn)
                    .map_err(|e| self.read_err(e))?;
                rows.reverse();
                rows
            }
        };
        rows.into_iter().map(|r| self.to_entry(r)).collect()
    }

    pub fn get(&mut self, id: i64) -> Result<Entry, JournalError> {
        let row: Option<Row> = entries::table
            .select(Row::as_select())
            .filter(entries::id.eq(id))
            .first(&mut self.conn)
            .optional()
            .map_err(|e| self.read_err(e))?;
        match row {
            Some(row) => self.to_entry(row),
            None => Err(JournalError::NotFound(id)),
        }
    }

    /// Intents not yet settled, oldest first: no outcome refers to them, or
    /// only an `unknown` one (a lost connection at commit), and no reconcile
    /// entry does. The caller reconciles them by reading the target.
    /// Some of them may be in flight in another session: [`Journal::claim`]
    /// tells.
    pub fn open_intents(&mut self) -> Result<Vec<Entry>, JournalError> {
        let rows = self.open_intent_rows(None)?;
        rows.into_iter().map(|r| self.to_entry(r)).collect()
    }

    /// Open intents, or only entry `only` if it is one.
    fn open_intent_rows(&mut self, only: Option<i64>) -> Result<Vec<Row>, JournalError> {
        diesel::sql_query(
            "SELECT e.id, e.at, e.kind, e.refers_to, e.action, e.account, e.body, \
                    e.prev_hash, e.hash \
             FROM entries e \
             WHERE e.kind IN ('intent', 'break_glass') \
               AND (?1 IS NULL OR e.id = ?1) \
               AND NOT EXISTS (SELECT 1 FROM entries o \
                               WHERE o.refers_to = e.id AND (o.kind = 'reconcile' \
                                  OR (o.kind = 'outcome' AND json_extract(o.body, '$.outcome') IS NOT 'unknown'))) \
             ORDER BY e.id",
        )
        .bind::<diesel::sql_types::Nullable<diesel::sql_types::BigInt>, _>(only)
        .load(&mut self.conn)
        .map_err(|e| self.read_err(e))
    }

    /// Break-glass entries not yet closed whose write may be on the target:
    /// no `close` entry refers to them and no outcome or reconcile entry says
    /// the write was rolled back, refused or failed. Oldest first.
    pub fn open_break_glass(&mut self) -> Result<Vec<Entry>, JournalError> {
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT e.id, e.at, e.kind, e.refers_to, e.action, e.account, e.body, \
                    e.prev_hash, e.hash \
             FROM entries e \
             WHERE e.kind = 'break_glass' \
               AND NOT EXISTS (SELECT 1 FROM entries c WHERE c.refers_to = e.id AND c.kind = 'close') \
               AND NOT EXISTS (SELECT 1 FROM entries o \
                               WHERE o.refers_to = e.id AND o.kind IN ('outcome', 'reconcile') \
                                 AND json_extract(o.body, '$.outcome') IN ('rolled_back', 'refused', 'failed')) \
             ORDER BY e.id",
        )
        .load(&mut self.conn)
        .map_err(|e| self.read_err(e))?;
        rows.into_iter().map(|r| self.to_entry(r)).collect()
    }

    /// Every entry of one kind, oldest first (e.g. the calibrations the
    /// encoder gate looks for).
    pub fn of_kind(&mut self, kind: EntryKind) -> Result<Vec<Entry>, JournalError> {
        let rows: Vec<Row> = entries::table
            .select(Row::as_select())
            .filter(entries::kind.eq(chain::kind_name(kind)))
            .order(entries::id.asc())
            .load(&mut self.conn)
            .map_err(|e| self.read_err(e))?;
        rows.into_iter().map(|r| self.to_entry(r)).collect()
    }

    /// The `close` entry that refers to entry `id`, if there is one.
    pub fn closed_by(&mut self, id: i64) -> Result<Option<i64>, JournalError> {
        entries::table
            .filter(entries::refers_to.eq(id))
            .filter(entries::kind.eq("close"))
            .select(entries::id)
            .first(&mut self.conn)
            .optional()
            .map_err(|e| self.read_err(e))
    }

    /// Walks the chain from the first entry: recomputes each hash, checks
    /// the links and that ids are consecutive, and that the query columns
    /// agree with the sealed content. Reports the first entry that was
    /// edited, deleted before, reordered, or is unreadable.
    /// Then lists the intents whose outcomes contradict each other.
    pub fn verify(&mut self) -> Result<VerifyReport, JournalError> {
        // The head before the rows: a session appending meanwhile moves the
        // head only past rows this read will also see.
        let files = self.file_damage()?;
        if let Some(problem) = files.as_ref().filter(|p| p.kind == "wal_damaged") {
            // What SQLite still reads of a damaged log is not the journal.
            return Ok(VerifyReport {
                entries: self.all_rows().map_or(0, |r| r.len() as u64),
                head_hash: None,
                ok: false,
                problem: Some(problem.clone()),
                contradictions: Vec::new(),
            });
        }
        let rows = self.all_rows()?;
        let mut report = chain::verify_rows(&rows);
        if report.ok
            && let Some(problem) = files
        {
            report.ok = false;
            report.problem = Some(problem);
        }
        report.contradictions = outcomes::contradictions(&rows);
        Ok(report)
    }

    /// One JSON object per line (the [`Entry`] serialization), oldest first.
    /// Returns the number of lines written.
    pub fn export_jsonl(&mut self, out: &mut dyn std::io::Write) -> Result<u64, JournalError> {
        let rows = self.all_rows()?;
        let mut count = 0u64;
        for row in rows {
            let entry = self.to_entry(row)?;
            let line = serde_json::to_string(&entry).map_err(|e| {
                JournalError::Export(format!("entry #{} cannot be encoded ({e})", entry.id))
            })?;
            out.write_all(line.as_bytes())
                .and_then(|()| out.write_all(b"\n"))
                .map_err(|e| {
                    JournalError::Export(format!(
                        "writing the export failed ({e}); check the destination"
                    ))
                })?;
            count += 1;
        }
        out.flush().map_err(|e| {
            JournalError::Export(format!(
                "writing the export failed ({e}); check the destination"
            ))
        })?;
        Ok(count)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests;
