//! Backups as a source of an account's own earlier values: what a SOURCE
//! is (a restored copy's URL, a dump file, or a backup form that must be
//! restored as a copy first), and the streaming reader of mysqldump and
//! pg_dump plain dumps (`dump`), gzip decompressed on the fly.
//!
//! This module knows files and formats only; `ops::backup` turns a found row
//! into a plan.

pub mod dump;
mod input;
pub mod values;

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use dump::{Scanned, TableFound, TableQuery};
pub use values::Flavor;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("cannot read the dump: {0}")]
    Read(String),
    #[error(
        "the gzip stream is truncated or corrupt ({0}); nothing was read from it — check the file (gzip -t) or take it again"
    )]
    Gzip(String),
    #[error("dump line {line}: {message}; nothing was written")]
    Syntax { line: u64, message: String },
    #[error(
        "this file is not a mysqldump or pg_dump plain-format dump (its first lines carry neither program's header); give the dump as the program wrote it, or restore it as a copy and give that database's URL"
    )]
    NotADump,
    #[error("the dump's table `{table}` has no column `{column}`: it is not this vendor's table")]
    MissingColumn { table: String, column: String },
}

impl BackupError {
    pub(crate) fn read(e: std::io::Error) -> BackupError {
        match e.kind() {
            std::io::ErrorKind::InvalidInput
            | std::io::ErrorKind::InvalidData
            | std::io::ErrorKind::UnexpectedEof => BackupError::Gzip(e.to_string()),
            _ => BackupError::Read(e.to_string()),
        }
    }
}

/// What a SOURCE names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A target URL of a restored copy.
    Copy(String),
    /// A dump Locksmith reads, gzip'd or not.
    Dump { path: PathBuf, gzip: bool },
    /// A backup that must be restored as a copy first; what it is.
    RestoreFirst { path: PathBuf, form: Form },
}

/// Backup forms Locksmith does not read, each answered with its steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    SqlServerBak,
    PgCustom,
    PgDirectory,
    Mariabackup,
    Mydumper,
    Zstd,
    Xz,
}

const URL_SCHEMES: [&str; 5] = [
    "mysql://",
    "postgres://",
    "postgresql://",
    "mssql://",
    "sqlite://",
];

/// Tells a SOURCE apart by its URL scheme, or by the file's first bytes and
/// a directory's marker files (never by the name alone, `.bak` aside).
pub fn classify(raw: &str) -> Result<Source, BackupError> {
    if URL_SCHEMES.iter().any(|s| raw.starts_with(s)) {
        return Ok(Source::Copy(raw.to_string()));
    }
    let path = PathBuf::from(raw);
    if path.is_dir() {
        let has = |name: &str| path.join(name).exists();
        let form = if has("toc.dat") {
            Form::PgDirectory
        } else if has("xtrabackup_checkpoints") || has("mariadb_backup_checkpoints") {
            Form::Mariabackup
        } else if has("metadata") {
            Form::Mydumper
        } else {
            return Err(BackupError::Read(format!(
                "{} is a directory that is no backup Locksmith knows (pg_dump -Fd has toc.dat, mariabackup xtrabackup_checkpoints, mydumper metadata)",
                path.display()
            )));
        };
        return Ok(Source::RestoreFirst { path, form });
    }
    let mut magic = [0u8; 6];
    let n = File::open(&path)
        .and_then(|mut f| read_up_to(&mut f, &mut magic))
        .map_err(|e| BackupError::Read(format!("{}: {e}", path.display())))?;
    let magic = &magic[..n];
    let bak = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("bak"));
    let form = if magic.starts_with(b"TAPE") || bak {
        Some(Form::SqlServerBak)
    } else if magic.starts_with(b"PGDMP") {
        Some(Form::PgCustom)
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Form::Zstd)
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some(Form::Xz)
    } else {
        None
    };
    Ok(match form {
        Some(form) => Source::RestoreFirst { path, form },
        None => Source::Dump {
            gzip: magic.starts_with(&[0x1f, 0x8b]),
            path,
        },
    })
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// A file read through SHA-256: the plan names the dump by its digest.
struct Hashing<R> {
    inner: R,
    digest: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.digest.update(&buf[..n]);
        Ok(n)
    }
}

/// A dump file, scanned, with its identity.
#[derive(Debug, Clone)]
pub struct DumpRead {
    pub file_name: String,
    pub sha256: String,
    pub scanned: Scanned,
}

const BUFFER: usize = 256 * 1024;

/// Streams a dump (gzip'd or not) once: the queried tables' rows, and the
/// SHA-256 of the file's bytes.
pub fn read_dump(
    path: &Path,
    gzip: bool,
    database: Option<&str>,
    queries: &[TableQuery],
) -> Result<DumpRead, BackupError> {
    let file =
        File::open(path).map_err(|e| BackupError::Read(format!("{}: {e}", path.display())))?;
    let mut hashing = Hashing {
        inner: file,
        digest: Sha256::new(),
    };
    let scanned = if gzip {
        let raw = BufReader::with_capacity(BUFFER, &mut hashing);
        let gz = flate2::bufread::MultiGzDecoder::new(raw);
        dump::scan(BufReader::with_capacity(BUFFER, gz), database, queries)?
    } else {
        dump::scan(
            BufReader::with_capacity(BUFFER, &mut hashing),
            database,
            queries,
        )?
    };
    // Whatever the scan left unread (nothing, normally) still counts in the digest.
    std::io::copy(&mut hashing, &mut std::io::sink()).map_err(BackupError::read)?;
    let sha256 = hex::encode(hashing.digest.finalize());
    Ok(DumpRead {
        file_name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        sha256,
        scanned,
    })
}

/// Scans dump bytes already in memory (the fuzz target, tests).
pub fn scan_bytes(
    bytes: &[u8],
    database: Option<&str>,
    queries: &[TableQuery],
) -> Result<Scanned, BackupError> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let gz = flate2::bufread::MultiGzDecoder::new(bytes);
        dump::scan(BufReader::new(gz), database, queries)
    } else {
        dump::scan(bytes, database, queries)
    }
}

#[cfg(test)]
mod tests;
