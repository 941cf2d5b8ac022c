//! Shared test harness: a fresh, uniquely named MariaDB database per test,
//! loaded from the vendors' real install SQL (../shared/vendor-schemas) plus
//! our own fixtures, and a way to run the real `locksmith` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

pub mod oracle;
pub mod pg;
pub mod proof;
pub mod proxy;
pub mod tui;
pub mod vendor_oracle;

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn vendor_schema(file: &str) -> PathBuf {
    let p = repo_root().join("../shared/vendor-schemas").join(file);
    assert!(p.is_file(), "missing vendor schema {}", p.display());
    p
}

/// The test MariaDB's host and port (LOCKSMITH_TEST_MYSQL_HOST / _PORT).
pub fn mysql_host() -> String {
    std::env::var("LOCKSMITH_TEST_MYSQL_HOST").unwrap_or_else(|_| "127.0.0.1".into())
}

pub fn mysql_port() -> String {
    std::env::var("LOCKSMITH_TEST_MYSQL_PORT").unwrap_or_else(|_| "3306".into())
}

/// The `mariadb` command-line client, used as an independent reader/writer.
pub fn client(db: Option<&str>) -> Command {
    let bin = if Path::new("/usr/bin/mariadb").exists() {
        "mariadb"
    } else {
        "mysql"
    };
    let mut c = Command::new(bin);
    c.args([
        "-h",
        &mysql_host(),
        "-P",
        &mysql_port(),
        "-u",
        "root",
        "--default-character-set=utf8mb4",
    ]);
    if let Some(db) = db {
        c.arg(db);
    }
    c
}

fn run_client(db: Option<&str>, args: &[&str], input: Option<&[u8]>) -> String {
    let mut cmd = client(db);
    cmd.args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .expect("the mariadb client must be installed (scripts/ensure-services)");
    if let Some(input) = input {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input).expect("write SQL");
    }
    let out = child.wait_with_output().expect("mariadb client");
    assert!(
        out.status.success(),
        "mariadb client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8 output")
}

/// Which vendor schema to load and the two loading notes from its README.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    RuoYi,
    RuoYiVue,
    Wukong11,
    Jeecg,
    SuiteCrm,
    Vtiger,
    EspoCrm,
    Dolibarr,
    Crmeb,
    /// WukongCRM 11 PHP with its default table prefix `5kcrm_`.
    WukongPhp11,
    /// WukongCRM 9 PHP installed with the prefix `crm9_` (as the installer rewrites it).
    WukongPhp9,
}

impl Vendor {
    pub fn connector(self) -> &'static str {
        match self {
            Vendor::RuoYi => "ruoyi",
            Vendor::RuoYiVue => "ruoyi-vue",
            Vendor::Wukong11 => "wukong11",
            Vendor::Jeecg => "jeecg",
            Vendor::SuiteCrm => "suitecrm",
            Vendor::Vtiger => "vtiger",
            Vendor::EspoCrm => "espocrm",
            Vendor::Dolibarr => "dolibarr",
            Vendor::Crmeb => "crmeb",
            Vendor::WukongPhp11 | Vendor::WukongPhp9 => "wukong-php",
        }
    }

    /// The vendor's own install SQL in ../shared/vendor-schemas, where one exists;
    /// for the others the fixture creates the user table from the reference's DDL.
    fn schema_file(self) -> Option<&'static str> {
        match self {
            Vendor::RuoYi => Some("ruoyi-4.8.3.sql"),
            Vendor::RuoYiVue => Some("ruoyi-vue-3.9.2.sql"),
            Vendor::Wukong11 => Some("wukongcrm-11-java.sql"),
            Vendor::Jeecg => Some("jeecgboot-3.7.0.sql"),
            Vendor::WukongPhp11 => Some("wukongcrm-11-php.sql"),
            Vendor::WukongPhp9 => Some("wukongcrm-9-php.sql"),
            _ => None,
        }
    }

    /// A table prefix other than the connector's default, passed as `--prefix`.
    pub fn prefix(self) -> Option<&'static str> {
        match self {
            Vendor::WukongPhp9 => Some("crm9_"),
            _ => None,
        }
    }

    /// The installer's prefix rewrite (WukongCRM PHP: parse_sql(.., ['5kcrm_' => $prefix])).
    fn rewrite(self, text: String) -> String {
        match self.prefix() {
            Some(p) => text.replace("5kcrm_", p),
            None => text,
        }
    }

    /// The install SQL, adjusted per vendor-schemas/README.md.
    pub fn install_sql(self) -> Vec<u8> {
        let Some(file) = self.schema_file() else {
            return Vec::new();
        };
        let raw = std::fs::read(vendor_schema(file)).expect("read vendor schema");
        let text = String::from_utf8(raw).expect("vendor SQL is UTF-8");
        let text = match self {
            // MariaDB 10.11 lacks MySQL 8's utf8mb4_0900_ai_ci.
            Vendor::Wukong11 => text.replace("utf8mb4_0900_ai_ci", "utf8mb4_general_ci"),
            // The file creates and USEs `jeecg-boot`: load it into our own database instead.
            Vendor::Jeecg => text.lines().skip(2).collect::<Vec<_>>().join("\n"),
            _ => text,
        };
        self.rewrite(text).into_bytes()
    }

    pub fn fixture(self) -> PathBuf {
        repo_root()
            .join("fixtures")
            .join(format!("{}.sql", self.connector()))
    }

    pub fn fixture_sql(self) -> Vec<u8> {
        let text = std::fs::read_to_string(self.fixture()).expect("read fixture");
        self.rewrite(text).into_bytes()
    }

    /// `--connector NAME` plus `--prefix P` where the install renamed its tables.
    pub fn args(self) -> Vec<&'static str> {
        let mut a = vec!["--connector", self.connector()];
        if let Some(p) = self.prefix() {
            a.extend(["--prefix", p]);
        }
        a
    }
}

/// The vendors both independent verifiers know (the Python oracle and the
/// vendors' own code), each with an account and its known password in the fixture.
pub const FOUNDATION: [(Vendor, &str, &str); 4] = [
    (Vendor::RuoYi, "admin", "admin123"),
    (Vendor::RuoYiVue, "admin", "admin123"),
    (Vendor::Wukong11, "13800000000", "Reset#2024"),
    (Vendor::Jeecg, "admin", "123456"),
];

/// A database that exists for one test and is dropped afterwards.
pub struct TestDb {
    pub name: String,
    pub vendor: Vendor,
    pub dir: tempfile::TempDir,
}

impl TestDb {
    pub fn new(vendor: Vendor) -> TestDb {
        let name = format!(
            "ls_t_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            vendor.connector().replace('-', "_")
        );
        run_client(
            None,
            &[
                "-e",
                &format!(
                    "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
                ),
            ],
            None,
        );
        let db = TestDb {
            name,
            vendor,
            dir: tempfile::tempdir().expect("tempdir"),
        };
        let install = vendor.install_sql();
        if !install.is_empty() {
            run_client(Some(&db.name), &[], Some(&install));
        }
        run_client(Some(&db.name), &[], Some(&vendor.fixture_sql()));
        db
    }

    pub fn url(&self) -> String {
        format!(
            "mysql://root@{}:{}/{}",
            mysql_host(),
            mysql_port(),
            self.name
        )
    }

    pub fn journal(&self) -> PathBuf {
        self.dir.path().join("journal.sqlite")
    }

    /// Rows of a query as tab-separated strings (NULL prints as "NULL").
    pub fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        run_client(Some(&self.name), &["-N", "-B", "-e", sql], None)
            .lines()
            .map(|l| l.split('\t').map(String::from).collect())
            .collect()
    }

    pub fn one(&self, sql: &str) -> String {
        let rows = self.rows(sql);
        assert_eq!(rows.len(), 1, "expected one row from {sql}: {rows:?}");
        rows[0][0].clone()
    }

    pub fn exec(&self, sql: &str) {
        run_client(Some(&self.name), &["-e", sql], None);
    }

    /// The whole row as hex of every column, for byte-identical comparisons.
    pub fn row_image(&self, table: &str, key_col: &str, key: &str) -> String {
        let cols = self.rows(&format!(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}' ORDER BY ORDINAL_POSITION"
        ));
        let hexed: Vec<String> = cols
            .iter()
            .map(|c| format!("IFNULL(HEX(`{}`), 'NULL')", c[0]))
            .collect();
        self.one(&format!(
            "SELECT CONCAT_WS('|', {}) FROM `{table}` WHERE `{key_col}` = '{key}'",
            hexed.join(", ")
        ))
    }

    /// Like `locksmith`, with extra environment variables (e.g. XDG_CONFIG_HOME).
    pub fn locksmith_env(
        &self,
        args: &[&str],
        stdin: Option<&str>,
        env: &[(&str, &str)],
    ) -> Output {
        let journal = self.journal();
        let mut full: Vec<String> = vec![
            "--target".into(),
            self.url(),
            "--journal".into(),
            journal.display().to_string(),
        ];
        full.extend(args.iter().map(|s| s.to_string()));
        run_locksmith_env(&full, stdin, env)
    }

    /// Runs the locksmith binary against this database with its own journal.
    pub fn locksmith(&self, args: &[&str], stdin: Option<&str>) -> Output {
        self.locksmith_at(&self.url(), args, stdin)
    }

    /// The same database reached through a proxy on `port`, without TLS.
    pub fn url_via(&self, port: u16) -> String {
        format!("mysql://root@127.0.0.1:{port}/{}?tls=disabled", self.name)
    }

    pub fn upstream(&self) -> String {
        format!("{}:{}", mysql_host(), mysql_port())
    }

    /// Runs the binary against `url` (e.g. through a proxy) with this database's journal.
    pub fn locksmith_at(&self, url: &str, args: &[&str], stdin: Option<&str>) -> Output {
        let journal = self.journal();
        let mut full: Vec<String> = vec![
            "--target".into(),
            url.to_string(),
            "--journal".into(),
            journal.display().to_string(),
        ];
        full.extend(args.iter().map(|s| s.to_string()));
        run_locksmith(&full, stdin)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = client(None)
            .args(["-e", &format!("DROP DATABASE IF EXISTS `{}`", self.name)])
            .output();
    }
}

pub fn run_locksmith<S: AsRef<str>>(args: &[S], stdin: Option<&str>) -> Output {
    run_locksmith_env(args, stdin, &[])
}

pub fn run_locksmith_env<S: AsRef<str>>(
    args: &[S],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_locksmith"));
    cmd.args(args.iter().map(|s| s.as_ref()))
        .env_remove("LOCKSMITH_TARGET")
        .env_remove("LOCKSMITH_JOURNAL")
        .env_remove("LOCKSMITH_DB_PASSWORD")
        .env_remove("LOCKSMITH_LOG")
        .env("HOME", std::env::temp_dir())
        // Callers' variables win over the defaults above.
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn locksmith");
    if let Some(input) = stdin {
        use std::io::Write;
        let mut s = child.stdin.take().expect("stdin");
        // A process that refuses before it reads stdin (a usage error) may
        // have exited already: its answer is in the output, not here.
        if let Err(e) = s.write_all(input.as_bytes()) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
        }
    }
    child.wait_with_output().expect("locksmith output")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): stdout={} stderr={}", stdout(o), stderr(o)))
}

#[track_caller]
pub fn assert_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "exit code; stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

/// Edits a journal file behind Locksmith's back, as an attacker with file access would.
pub fn journal_sql(path: &Path, sql: &str) {
    use diesel::{Connection, RunQueryDsl, sqlite::SqliteConnection};
    let mut c =
        SqliteConnection::establish(path.to_str().expect("utf8 path")).expect("open journal");
    diesel::sql_query(sql)
        .execute(&mut c)
        .expect("tamper statement");
}

/// As if the writer died after COMMIT, before its outcome was journaled:
/// the outcome entry is removed, and with it the head record (which named
/// that outcome; after a real crash it names the intent).
pub fn forget_outcome(journal: &Path, outcome_id: i64) {
    journal_sql(
        journal,
        &format!("DELETE FROM entries WHERE id = {outcome_id}"),
    );
    let mut head = journal.as_os_str().to_owned();
    head.push("-head");
    std::fs::remove_file(head).expect("the journal's head record");
}

/// Rows of a query on a journal file (read-only), every value as text
/// (NULL as "NULL", blobs as hex).
pub fn journal_rows(path: &Path, sql: &str) -> Vec<Vec<String>> {
    use rusqlite::types::Value;
    let c = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open journal");
    let mut st = c.prepare(sql).expect("journal SQL");
    let n = st.column_count();
    st.query_map([], |r| {
        (0..n)
            .map(|i| {
                r.get::<_, Value>(i).map(|v| match v {
                    Value::Null => "NULL".to_string(),
                    Value::Integer(i) => i.to_string(),
                    Value::Real(f) => f.to_string(),
                    Value::Text(t) => t,
                    Value::Blob(b) => hex::encode(b),
                })
            })
            .collect::<rusqlite::Result<Vec<String>>>()
    })
    .expect("query the journal")
    .map(|r| r.expect("journal row"))
    .collect()
}

/// The arguments of a reset whose new password comes on stdin (pass it as
/// `Some(&line(password))`): `reset LOGIN --reason REASON --new-password-stdin --yes`, then `extra`.
pub fn reset_stdin<'a>(login: &'a str, reason: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "reset",
        login,
        "--reason",
        reason,
        "--new-password-stdin",
        "--yes",
    ];
    a.extend_from_slice(extra);
    a
}

/// A secret as locksmith reads it from stdin: one line.
pub fn line(secret: &str) -> String {
    format!("{secret}\n")
}

/// What a refusal must leave as it was: one row's bytes and the journal's intents.
pub struct Untouched {
    table: String,
    key_col: String,
    key: String,
    image: String,
    intents: usize,
}

/// Intents of every kind (intent, break_glass, drill) in a journal file; 0 when there is none.
pub fn intents(journal: &Path) -> usize {
    if !journal.exists() {
        return 0;
    }
    journal_rows(
        journal,
        "SELECT COUNT(*) FROM entries WHERE kind IN ('intent', 'break_glass', 'drill')",
    )[0][0]
        .parse()
        .expect("a count")
}

impl TestDb {
    /// `reset LOGIN --reason test --new-password-stdin --yes EXTRA…` through
    /// this database's connector (and prefix), `password` on stdin.
    pub fn reset(&self, login: &str, password: &str, extra: &[&str]) -> Output {
        let mut args = self.vendor.args();
        args.extend(reset_stdin(login, "test", extra));
        self.locksmith(&args, Some(&line(password)))
    }

    /// `--json reset LOGIN` with the new password on stdin, through this
    /// database's connector (and prefix): exit 0, the password echoed nowhere.
    /// Returns the JSON answer.
    pub fn reset_json(&self, login: &str, password: &str, reason: &str) -> serde_json::Value {
        let mut args = self.vendor.args();
        args.push("--json");
        args.extend(reset_stdin(login, reason, &[]));
        let out = self.locksmith(&args, Some(&line(password)));
        assert_code(&out, 0);
        assert!(
            !stdout(&out).contains(password) && !stderr(&out).contains(password),
            "the new password was echoed"
        );
        json(&out)
    }

    /// The state a refusal must not change: the row `table.key_col = key` and the intents.
    pub fn untouched(&self, table: &str, key_col: &str, key: &str) -> Untouched {
        Untouched {
            table: table.into(),
            key_col: key_col.into(),
            key: key.into(),
            image: self.row_image(table, key_col, key),
            intents: intents(&self.journal()),
        }
    }

    /// Refused: exit 5, the row byte-identical, and no new intent journaled.
    #[track_caller]
    pub fn assert_refused(&self, out: &Output, before: &Untouched) {
        assert_code(out, 5);
        assert_eq!(
            self.row_image(&before.table, &before.key_col, &before.key),
            before.image,
            "{}.{} = {} changed",
            before.table,
            before.key_col,
            before.key
        );
        assert_eq!(
            intents(&self.journal()),
            before.intents,
            "a refusal journaled an intent"
        );
    }
}

/// `--connector CONNECTOR` followed by `reset_stdin(login, reason, extra)`.
pub fn connector_reset<'a>(
    connector: &'a str,
    login: &'a str,
    reason: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut a = vec!["--connector", connector];
    a.extend(reset_stdin(login, reason, extra));
    a
}

/// One field of every account in a `--json lookup` answer, in its order.
pub fn account_fields(doc: &serde_json::Value, field: &str) -> Vec<String> {
    doc["accounts"]
        .as_array()
        .unwrap_or_else(|| panic!("no accounts list: {doc}"))
        .iter()
        .map(|a| {
            a[field]
                .as_str()
                .unwrap_or_else(|| panic!("an account without {field}: {a}"))
                .to_string()
        })
        .collect()
}
