//! A fresh, uniquely named PostgreSQL database per test (127.0.0.1:5432, trust
//! auth; user from LOCKSMITH_TEST_PG_USER, default `postgres`), loaded from a
//! fixture with `psql` and dropped afterwards.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn host() -> String {
    std::env::var("LOCKSMITH_TEST_PG_HOST").unwrap_or_else(|_| "127.0.0.1".into())
}

fn port() -> String {
    std::env::var("LOCKSMITH_TEST_PG_PORT").unwrap_or_else(|_| "5432".into())
}

pub fn user() -> String {
    std::env::var("LOCKSMITH_TEST_PG_USER").unwrap_or_else(|_| "postgres".into())
}

fn psql(db: &str, args: &[&str], input: Option<&[u8]>) -> String {
    let mut cmd = Command::new("psql");
    cmd.args(["-h", &host(), "-p", &port(), "-U", &user(), "-d", db])
        .args(["-v", "ON_ERROR_STOP=1", "-X", "-q"])
        .args(args)
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .expect("psql must be installed: run scripts/ensure-services (Debian postgresql)");
    if let Some(input) = input {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write SQL");
    }
    let out = child.wait_with_output().expect("psql");
    assert!(
        out.status.success(),
        "psql failed (is PostgreSQL running on {}:{} with trust auth for {}? run scripts/ensure-services): {}",
        host(),
        port(),
        user(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

pub struct PgTestDb {
    pub name: String,
    pub dir: tempfile::TempDir,
}

impl PgTestDb {
    pub fn new(fixture: &str) -> PgTestDb {
        let name = format!(
            "ls_t_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            fixture
        );
        psql(
            "postgres",
            &[
                "-c",
                &format!("CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0"),
            ],
            None,
        );
        let db = PgTestDb {
            name,
            dir: tempfile::tempdir().expect("tempdir"),
        };
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(format!("{fixture}.sql"));
        let sql = std::fs::read(&path).expect("read fixture");
        psql(&db.name, &[], Some(&sql));
        db
    }

    pub fn url(&self) -> String {
        format!(
            "postgres://{}@{}:{}/{}?tls=disabled",
            user(),
            host(),
            port(),
            self.name
        )
    }

    pub fn journal(&self) -> PathBuf {
        self.dir.path().join("journal.sqlite")
    }

    /// Rows as `|`-separated strings (NULL prints as "NULL").
    pub fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        psql(
            &self.name,
            &["-A", "-t", "-F", "|", "-P", "null=NULL", "-c", sql],
            None,
        )
        .lines()
        .map(|l| l.split('|').map(String::from).collect())
        .collect()
    }

    pub fn one(&self, sql: &str) -> String {
        let rows = self.rows(sql);
        assert_eq!(rows.len(), 1, "expected one row from {sql}: {rows:?}");
        rows[0][0].clone()
    }

    pub fn exec(&self, sql: &str) {
        psql(&self.name, &["-c", sql], None);
    }

    pub fn locksmith(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut full: Vec<String> = vec![
            "--target".into(),
            self.url(),
            "--journal".into(),
            self.journal().display().to_string(),
        ];
        full.extend(args.iter().map(|s| s.to_string()));
        super::run_locksmith(&full, stdin)
    }
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                "-h",
                &host(),
                "-p",
                &port(),
                "-U",
                &user(),
                "-d",
                "postgres",
                "-X",
                "-q",
            ])
            .args([
                "-c",
                &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
            ])
            .output();
    }
}
