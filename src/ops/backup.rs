//! Restoring an account's own earlier values from a backup: read the row of
//! the same primary key and login from a restored copy (a target URL) or a
//! dump file, refuse a backup whose install-wide setting differs from the
//! live one, and answer backups Locksmith does not read with the steps that
//! restore them as a copy. The write itself is a plan like any other
//! (`plan::build` with `PlanOptions::backup`).

use serde::Serialize;

use super::account::{Account, read_by_pk, read_columns};
use super::connect::{self, ConnectSpec};
use super::protocol::Calibration;
use super::{OpError, Session};
use crate::backend::Value;
use crate::backup::{self, Form, Source, TableQuery};
use crate::schemes::AccountInput;
use crate::secret::Password;

/// Which backup a plan copies from: never a value, only where it is.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BackupIdentity {
    /// "copy" (a restored database) or "dump" (a file).
    pub kind: String,
    /// The copy's URL (without password), or the dump's file name.
    pub source: String,
    /// The dump file's SHA-256 (of its bytes as stored, compressed or not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The dump's own date line (`-- Dump completed on …`), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dumped_at: Option<String>,
    /// An undo: the journal entry whose sealed before-values are written back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<i64>,
}

impl BackupIdentity {
    /// One line for plans and warnings.
    pub fn label(&self) -> String {
        match (&self.sha256, &self.dumped_at) {
            (Some(sha), Some(at)) => format!("dump {} (sha256 {sha}, dumped {at})", self.source),
            (Some(sha), None) => format!("dump {} (sha256 {sha})", self.source),
            _ if self.entry.is_some() => format!("the before-image sealed in {}", self.source),
            _ => format!("restored copy {}", self.source),
        }
    }
}

/// The backup's row of the live account: the values a restore writes back.
#[derive(Debug, Clone)]
pub struct BackupRow {
    pub identity: BackupIdentity,
    /// (column, value): the password column, `copy_hash_to` columns, the salt.
    pub values: Vec<(String, Value)>,
    /// The backup's login and salt, for `calibrate --from-backup`.
    pub login: String,
    pub salt: Option<String>,
}

impl BackupRow {
    pub fn value(&self, column: &str) -> Value {
        self.values
            .iter()
            .find(|(c, _)| c == column)
            .map_or(Value::Null, |(_, v)| v.clone())
    }
}

/// The columns a restore copies: password, `copy_hash_to`, salt (in that order).
pub fn copied_columns(s: &Session) -> Vec<String> {
    let c = &s.connector;
    let mut cols = vec![c.columns.password.clone()];
    cols.extend(c.reset.copy_hash_to.iter().cloned());
    cols.extend(c.columns.salt.iter().cloned());
    cols.dedup();
    cols
}

/// Reads the live account's row from SOURCE, or refuses naming why.
pub async fn fetch(s: &mut Session, source: &str, live: &Account) -> Result<BackupRow, OpError> {
    match backup::classify(source.trim()).map_err(refused)? {
        Source::Copy(url) => from_copy(s, &url, live).await,
        Source::Dump { path, gzip } => from_dump(s, &path, gzip, live).await,
        Source::RestoreFirst { path, form } => Err(OpError::Refused(
            (restore_first(s, &path.display().to_string(), form, live)).into(),
        )),
    }
}

fn refused(e: backup::BackupError) -> OpError {
    OpError::Refused(e.to_string().into())
}

async fn from_copy(s: &mut Session, url: &str, live: &Account) -> Result<BackupRow, OpError> {
    let spec = ConnectSpec::from_url(url)?;
    if spec.target.display() == s.target {
        return Err(OpError::Usage(
            "--from-backup names the --target itself; give the URL of a restored copy or a dump file"
                .into(),
        ));
    }
    let (backend, target) = connect::open_backend(&spec).await?;
    let name = s.connector.name.clone();
    let mut copy = Session::on_backend(
        backend,
        &target,
        Some(&name),
        std::slice::from_ref(&s.connector),
    )
    .await?;
    let out = read_copy(s, &mut copy, live).await;
    copy.close().await?;
    let identity = BackupIdentity {
        kind: "copy".into(),
        source: target.display(),
        sha256: None,
        dumped_at: None,
        entry: None,
    };
    let (found, values) = out?;
    Ok(BackupRow {
        identity,
        values,
        login: found.login.clone(),
        salt: found.text("salt"),
    })
}

async fn read_copy(
    s: &mut Session,
    copy: &mut Session,
    live: &Account,
) -> Result<(Account, Vec<(String, Value)>), OpError> {
    let what = format!("the restored copy {}", copy.target);
    let found = match read_by_pk(copy, &live.id).await? {
        Some(a) => a,
        None => {
            let by_login = super::account::resolve(copy, &live.login).await.ok();
            return Err(mismatch(&what, live, None, by_login.map(|a| a.id_text())));
        }
    };
    if found.login != live.login {
        return Err(mismatch(&what, live, Some(found.login.clone()), None));
    }
    let cols = copied_columns(s);
    let values = read_columns(copy, &live.id, &cols)
        .await?
        .ok_or_else(|| mismatch(&what, live, None, None))?;
    if let Some(by) = s.connector.scheme_by_setting.clone() {
        let mut names = vec![by.setting.clone()];
        names.extend(by.salt_setting.iter().cloned());
        let table = s.connector.prefixed(&by.table);
        for name in names {
            let mut theirs = super::read_setting(
                copy.backend.as_mut(),
                &table,
                &by.name_column,
                &by.value_column,
                &name,
            )
            .await?;
            let mut ours = super::read_setting(
                s.backend.as_mut(),
                &table,
                &by.name_column,
                &by.value_column,
                &name,
            )
            .await?;
            theirs.sort();
            ours.sort();
            refuse_setting_differs(&name, &what, theirs == ours)?;
        }
    }
    Ok((found, cols.into_iter().zip(values).collect()))
}

/// The backup's row must be the live account's: same primary key, same login.
fn mismatch(
    what: &str,
    live: &Account,
    their_login: Option<String>,
    their_id_for_login: Option<String>,
) -> OpError {
    let msg = match (their_login, their_id_for_login) {
        (Some(login), _) => format!(
            "the login differs: in {what} the row with primary key {} has the login `{login}`, the live account has `{}`; nothing was written",
            live.id_text(),
            live.login
        ),
        (None, Some(id)) => format!(
            "the primary key differs: in {what} the login `{}` has the primary key {id}, the live account {}; nothing was written",
            live.login,
            live.label()
        ),
        (None, None) => format!(
            "{what} has no row with the primary key {} nor the login `{}`; nothing was written",
            live.id_text(),
            live.login
        ),
    };
    OpError::Refused(msg.into())
}

fn refuse_setting_differs(name: &str, what: &str, same: bool) -> Result<(), OpError> {
    if same {
        return Ok(());
    }
    Err(OpError::Refused(format!(
        "the install-wide setting {name} differs between {what} and the live database, so the backup's value would not verify here; nothing was written"
    ).into()))
}

/// `calibrate ACCOUNT --from-backup SOURCE`: does the backup's value accept
/// the known password? Writes nothing, not even the journal.
pub async fn calibrate(
    s: &mut Session,
    account: &str,
    source: &str,
    known: &Password,
) -> Result<Calibration, OpError> {
    super::plan::refuse_directory_password(s)?;
    let live = super::account::resolve(s, account).await?;
    let row = fetch(s, source, &live).await?;
    let stored = row
        .value(&s.connector.columns.password)
        .as_text()
        .unwrap_or_default();
    let scheme = s.scheme_for(&stored);
    let input = AccountInput {
        login: &row.login,
        salt: row.salt.as_deref(),
    };
    let matches = scheme.verify(known, &input, &stored)?;
    Ok(Calibration {
        account: format!("{} in the backup ({})", live.label(), row.identity.label()),
        scheme: scheme.id(),
        matches,
        shape_ok: scheme.has_shape(&stored),
        level: scheme.level().as_str(),
        journal_entry: None,
        encoder_identity: None,
    })
}

/// The bare table name a dump uses (no database or schema qualification).
fn dump_table(s: &Session, table: &str) -> String {
    format!(
        "{}{table}",
        s.connector.table.prefix.as_deref().unwrap_or_default()
    )
}

async fn from_dump(
    s: &mut Session,
    path: &std::path::Path,
    gzip: bool,
    live: &Account,
) -> Result<BackupRow, OpError> {
    let c = s.connector.clone();
    let table = dump_table(s, &c.table.name);
    let mut queries = vec![TableQuery {
        table: table.clone(),
        matches: vec![
            (c.columns.id.clone(), live.id_text()),
            (c.columns.login.clone(), live.login.clone()),
        ],
    }];
    let mut settings = Vec::new();
    if let Some(by) = &c.scheme_by_setting {
        settings.push(by.setting.clone());
        settings.extend(by.salt_setting.iter().cloned());
        queries.push(TableQuery {
            table: dump_table(s, &by.table),
            matches: settings
                .iter()
                .map(|n| (by.name_column.clone(), n.clone()))
                .collect(),
        });
    }
    let database = s.place().database;
    let read = read_dump_of(s, path, gzip, &database, queries).await?;
    let what = format!("the dump {}", read.file_name);
    let users = &read.scanned.tables[0];
    if !users.seen {
        let dbs = &read.scanned.databases;
        return Err(OpError::Refused(
            if !dbs.is_empty() && !dbs.contains(&database) {
                format!(
                    "{what} holds the databases {} but not `{database}`, the live database; dump that one",
                    dbs.join(", ")
                )
            } else {
                format!(
                    "{what} has no table `{table}`: it is not a dump of this {} database (another vendor, or a dump of other tables)",
                    c.title
                )
            }
            .into(),
        ));
    }
    let cell =
        |row: &[Option<String>], col: &str| -> Result<Value, OpError> {
            match users.value(row, col) {
            Some(Some(v)) => Ok(Value::Text(v.clone())),
            Some(None) => Ok(Value::Null),
            None => Err(OpError::Refused(format!(
                "{what}: table `{table}` has no column `{col}`: it is not this vendor's table"
            ).into())),
        }
        };
    let id = live.id_text();
    let text = |row: &[Option<String>], col: &str| cell(row, col).map(|v| v.as_text());
    let mut by_id = None;
    let mut login_id = None;
    for row in &users.rows {
        if text(row, &c.columns.id)?.as_deref() == Some(id.as_str()) {
            by_id = Some(row);
        } else if text(row, &c.columns.login)?.as_deref() == Some(live.login.as_str()) {
            login_id = text(row, &c.columns.id)?;
        }
    }
    let Some(row) = by_id else {
        return Err(mismatch(&what, live, None, login_id));
    };
    let their_login = text(row, &c.columns.login)?.unwrap_or_default();
    if their_login != live.login {
        return Err(mismatch(&what, live, Some(their_login), None));
    }
    if let Some(found) = read.scanned.tables.get(1) {
        dump_settings_match(s, found, &settings, &what).await?;
    }
    let mut values = Vec::new();
    for col in copied_columns(s) {
        let v = cell(row, &col)?;
        values.push((col, v));
    }
    let salt = match &c.columns.salt {
        Some(col) => cell(row, col)?.as_text(),
        None => None,
    };
    Ok(BackupRow {
        identity: BackupIdentity {
            kind: "dump".into(),
            source: read.file_name.clone(),
            sha256: Some(read.sha256.clone()),
            dumped_at: read.scanned.dumped_at.clone(),
            entry: None,
        },
        values,
        login: their_login,
        salt,
    })
}

/// Streams the dump off the async thread and checks it is this engine's.
async fn read_dump_of(
    s: &Session,
    path: &std::path::Path,
    gzip: bool,
    database: &str,
    queries: Vec<TableQuery>,
) -> Result<backup::DumpRead, OpError> {
    let owned_path = path.to_path_buf();
    let db = database.to_string();
    let read = tokio::task::spawn_blocking(move || {
        backup::read_dump(&owned_path, gzip, Some(&db), &queries)
    })
    .await
    .map_err(|e| OpError::Refused(format!("reading the dump failed: {e}").into()))?
    .map_err(refused)?;
    let engine = s.backend.engine();
    let (flavor_engine, program) = match read.scanned.flavor {
        backup::Flavor::MySql => ("mysql", "mysqldump"),
        backup::Flavor::Postgres => ("postgres", "pg_dump"),
    };
    if flavor_engine != engine {
        return Err(OpError::Refused(
            format!(
                "{} is a {program} dump, but the target is {engine}: give a dump of this database",
                read.file_name
            )
            .into(),
        ));
    }
    Ok(read)
}

/// The dump's install-wide settings (scheme_by_setting) must equal the live ones.
async fn dump_settings_match(
    s: &mut Session,
    found: &backup::TableFound,
    settings: &[String],
    what: &str,
) -> Result<(), OpError> {
    let Some(by) = s.connector.scheme_by_setting.clone() else {
        return Ok(());
    };
    let settings_table = s.connector.prefixed(&by.table);
    for name in settings {
        let mut theirs: Vec<Option<String>> = found
            .rows
            .iter()
            .filter(|r| found.value(r, &by.name_column) == Some(&Some(name.clone())))
            .map(|r| found.value(r, &by.value_column).cloned().flatten())
            .collect();
        let mut ours = super::read_setting(
            s.backend.as_mut(),
            &settings_table,
            &by.name_column,
            &by.value_column,
            name,
        )
        .await?;
        theirs.sort();
        ours.sort();
        refuse_setting_differs(name, what, theirs == ours)?;
    }
    Ok(())
}

/// What to do with a backup Locksmith does not read: restore it as a copy
/// beside the live database, then run the same command with its URL.
fn restore_first(s: &Session, path: &str, form: Form, live: &Account) -> String {
    let place = s.place();
    let db = place.database.clone();
    let side = format!("{db}_restore");
    let copy_url = s
        .target
        .rsplit_once('/')
        .map_or_else(|| side.clone(), |(head, _)| format!("{head}/{side}"));
    let then = format!(
        "then run: locksmith reset '{}' --from-backup '{copy_url}' --reason …",
        live.login.replace('\'', "'\\''")
    );
    let steps = match form {
        Form::SqlServerBak => format!(
            "{path} is a SQL Server backup: SQL Server restores whole databases only. Restore it beside `{db}` as `{side}` (needs CREATE DATABASE permission; a TDE database also needs its certificate):\n  1. RESTORE FILELISTONLY FROM DISK = N'{path}';   -- the logical data and log file names\n  2. RESTORE VERIFYONLY FROM DISK = N'{path}' WITH MOVE N'<logical data name>' TO N'<data dir>\\{side}.mdf', MOVE N'<logical log name>' TO N'<data dir>\\{side}_log.ldf';\n  3. RESTORE DATABASE [{side}] FROM DISK = N'{path}' WITH MOVE N'<logical data name>' TO N'<data dir>\\{side}.mdf', MOVE N'<logical log name>' TO N'<data dir>\\{side}_log.ldf';"
        ),
        Form::PgCustom | Form::PgDirectory => format!(
            "{path} is a pg_dump {} archive: restore the table into a side database:\n  1. createdb {side}\n  2. pg_restore -d {side} -t {} {path}",
            if form == Form::PgCustom {
                "custom-format (-Fc)"
            } else {
                "directory-format (-Fd)"
            },
            s.connector.table.name
        ),
        Form::Mariabackup => format!(
            "{path} is a mariabackup/xtrabackup directory: prepare it (mariabackup --prepare --target-dir={path}), start a second server on a copy of it, and dump `{db}` from there (mysqldump {db} > {db}.sql), or restore that dump as `{side}`"
        ),
        Form::Mydumper => format!(
            "{path} is a mydumper directory: load it into a side schema: myloader --directory={path} --source-db {db} --database {side}"
        ),
        Form::Zstd => format!(
            "{path} is zstd-compressed: decompress it first (zstd -d {path}) and give the .sql file"
        ),
        Form::Xz => format!(
            "{path} is xz-compressed: decompress it first (xz -dk {path}) and give the .sql file"
        ),
    };
    let then = match form {
        Form::Zstd | Form::Xz => "then run the same command with the decompressed file".to_string(),
        _ => then,
    };
    format!("Locksmith does not read this backup directly. {steps}\n{then}; nothing was written")
}
