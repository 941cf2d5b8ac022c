//! SQL Server targets through tiberius, against the executing TDS test
//! endpoint (tests/tds) — or, when LOCKSMITH_TEST_MSSQL_URL is set, against a
//! real SQL Server. The U8-style connector, its fixture (fixtures/u8.sql),
//! transplant and external encoders.
//!
//! Real-server run: `LOCKSMITH_TEST_MSSQL_URL=mssql://sa:PW@host:1433/master?trust-server-certificate=true
//! cargo test --test mssql_u8 -- --skip endpoint_only_`. It covers every test
//! not named `endpoint_only_…` (lookup, show, unlock, transplant, encoders,
//! calibrate, posture check, detection, lock waits, widths, sqlcmd variables)
//! on a database of its own; the `endpoint_only_…` tests (TLS variants, a
//! select-only login, the two cuts at COMMIT) need the endpoint and are
//! filtered out there, so they are not counted as passed.
//!
//! In endpoint mode every statement the endpoint received is parsed again with
//! sqlparser's MsSqlDialect when the test ends. That is the endpoint's own
//! parser, so it is not a second opinion on T-SQL: it only proves that what
//! Locksmith sent is what the endpoint understood. The second opinion is the
//! real-server run.

mod common;
#[path = "tds/mod.rs"]
mod tds;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicU32, Ordering};

use common::{assert_code, json, line, repo_root, reset_stdin, run_locksmith_env, stderr, stdout};
use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio_util::compat::TokioAsyncWriteCompatExt;

static COUNTER: AtomicU32 = AtomicU32::new(0);
const DB_PASSWORD: &str = "Locksmith-Test-1";

/// Where the tests' SQL Server is.
enum Server {
    Endpoint(tds::Endpoint),
    /// A real server: the URL (with its options), the admin login's password.
    Real {
        base: url::Url,
        password: String,
    },
}

/// A U8-style UFSystem loaded from fixtures/u8.sql, with its own journal.
struct U8Db {
    server: Server,
    database: String,
    /// URL options for locksmith (tls=…, ca=…).
    options: String,
    dir: tempfile::TempDir,
}

/// Writes a notice straight to the test output (libtest does not capture it).
fn notice(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

fn real_server() -> Option<(url::Url, String)> {
    let raw = std::env::var("LOCKSMITH_TEST_MSSQL_URL").ok()?;
    let url = url::Url::parse(&raw)
        .expect("LOCKSMITH_TEST_MSSQL_URL must be mssql://user:password@host:port/master?…");
    let password = url
        .password()
        .map(|p| {
            url::form_urlencoded::parse(format!("x={p}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .or_else(|| std::env::var("SQLCMDPASSWORD").ok())
        .unwrap_or_default();
    Some((url, password))
}

impl U8Db {
    /// The endpoint (without TLS) or the real server.
    fn new() -> U8Db {
        U8Db::with(tds::EndpointOptions {
            encryption: tds::ServerEncryption::NotSupported,
            ..Default::default()
        })
    }

    fn with(opts: tds::EndpointOptions) -> U8Db {
        let dir = tempfile::tempdir().expect("tempdir");
        if let Some((base, password)) = real_server() {
            let database = format!(
                "ls_t_{}_{}_u8",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::SeqCst)
            );
            let options = base.query().map(|q| format!("?{q}")).unwrap_or_default();
            let db = U8Db {
                server: Server::Real { base, password },
                database,
                options,
                dir,
            };
            db.admin_batch(&format!("CREATE DATABASE [{}]", db.database));
            db.load_fixture();
            return db;
        }
        notice(
            "LOCKSMITH_TEST_MSSQL_URL is not set: skipping the real SQL Server run; this test runs against the TDS test endpoint",
        );
        let tls = match opts.encryption {
            tds::ServerEncryption::NotSupported => "tls=legacy".to_string(),
            tds::ServerEncryption::Off => String::new(),
            _ => String::new(),
        };
        let endpoint = tds::Endpoint::start(opts);
        let options = if tls.is_empty() {
            format!("?ca={}", endpoint.ca_pem().display())
        } else {
            format!("?{tls}")
        };
        let db = U8Db {
            server: Server::Endpoint(endpoint),
            database: "UFSystem".into(),
            options,
            dir,
        };
        db.load_fixture();
        db
    }

    fn endpoint(&self) -> Option<&tds::Endpoint> {
        match &self.server {
            Server::Endpoint(e) => Some(e),
            Server::Real { .. } => None,
        }
    }

    fn host_port(&self) -> (String, u16) {
        match &self.server {
            Server::Endpoint(e) => ("127.0.0.1".into(), e.port()),
            Server::Real { base, .. } => (
                base.host_str().unwrap_or("127.0.0.1").to_string(),
                base.port().unwrap_or(1433),
            ),
        }
    }

    fn user(&self) -> String {
        match &self.server {
            Server::Endpoint(_) => "sa".into(),
            Server::Real { base, .. } => base.username().to_string(),
        }
    }

    fn password(&self) -> String {
        match &self.server {
            Server::Endpoint(_) => DB_PASSWORD.into(),
            Server::Real { password, .. } => password.clone(),
        }
    }

    /// The target URL locksmith gets (no password: it comes from the environment).
    fn url(&self) -> String {
        self.url_with(&self.options)
    }

    fn url_with(&self, options: &str) -> String {
        let (host, port) = self.host_port();
        format!(
            "mssql://{}@{host}:{port}/{}{options}",
            self.user(),
            self.database
        )
    }

    fn journal(&self) -> PathBuf {
        self.dir.path().join("journal.sqlite")
    }

    /// A tiberius client of the test's own: the independent reader and writer.
    fn client_config(&self, database: &str) -> Config {
        let (host, port) = self.host_port();
        let mut c = Config::new();
        c.host(host);
        c.port(port);
        c.database(database);
        c.authentication(AuthMethod::sql_server(self.user(), self.password()));
        match &self.server {
            Server::Endpoint(e) => {
                if self.options.contains("tls=legacy") {
                    c.encryption(EncryptionLevel::NotSupported);
                } else {
                    c.encryption(EncryptionLevel::Required);
                    c.trust_cert_ca(e.ca_pem().display().to_string());
                }
            }
            Server::Real { .. } => c.trust_cert(),
        }
        c
    }

    fn run_batches(&self, database: &str, batches: &[String]) -> Vec<Vec<String>> {
        let config = self.client_config(database);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let tcp = TcpStream::connect(config.get_addr()).await.expect("tcp");
            let mut client = Client::connect(config, tcp.compat_write())
                .await
                .expect("test client connects");
            let mut out = Vec::new();
            for b in batches {
                let rows = client
                    .simple_query(b.as_str())
                    .await
                    .unwrap_or_else(|e| panic!("test SQL failed: {e}\n{b}"))
                    .into_first_result()
                    .await
                    .unwrap_or_else(|e| panic!("test SQL failed: {e}\n{b}"));
                for r in rows {
                    out.push(r.into_iter().map(common_text).collect());
                }
            }
            out
        })
    }

    fn admin_batch(&self, sql: &str) {
        self.run_batches("master", &[sql.to_string()]);
    }

    fn load_fixture(&self) {
        let text =
            std::fs::read_to_string(repo_root().join("fixtures/u8.sql")).expect("fixtures/u8.sql");
        self.run_batches(&self.database, &tds::split_go_batches(&text));
    }

    fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        self.run_batches(&self.database, &[sql.to_string()])
    }

    fn one(&self, sql: &str) -> String {
        let rows = self.rows(sql);
        assert_eq!(rows.len(), 1, "expected one row from {sql}: {rows:?}");
        rows[0][0].clone()
    }

    fn exec(&self, sql: &str) {
        self.rows(sql);
    }

    fn stored(&self, login: &str) -> String {
        self.one(&format!(
            "SELECT ISNULL(cPassword, N'NULL') FROM UA_User WHERE cUser_Id = N'{login}'"
        ))
    }

    fn locksmith_env(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
        self.locksmith_at(&self.url(), args, stdin, env)
    }

    fn locksmith(&self, args: &[&str], stdin: Option<&str>) -> Output {
        self.locksmith_env(args, stdin, &[])
    }

    fn locksmith_at(
        &self,
        url: &str,
        args: &[&str],
        stdin: Option<&str>,
        env: &[(&str, &str)],
    ) -> Output {
        self.run(url, Some("u8"), args, stdin, env)
    }

    /// Runs locksmith on `url` with this database's journal and DB password;
    /// `connector` None lets locksmith detect it from the schema.
    fn run(
        &self,
        url: &str,
        connector: Option<&str>,
        args: &[&str],
        stdin: Option<&str>,
        env: &[(&str, &str)],
    ) -> Output {
        let journal = self.journal();
        let mut full: Vec<String> = vec![
            "--target".into(),
            url.to_string(),
            "--journal".into(),
            journal.display().to_string(),
        ];
        if let Some(c) = connector {
            full.extend(["--connector".to_string(), c.to_string()]);
        }
        full.extend(args.iter().map(|s| s.to_string()));
        let password = self.password();
        let mut all_env: Vec<(&str, &str)> = vec![("LOCKSMITH_DB_PASSWORD", password.as_str())];
        all_env.extend_from_slice(env);
        run_locksmith_env(&full, stdin, &all_env)
    }

    /// Runs locksmith with connector `name` described by `toml`, installed in
    /// a private config dir as an operator's own connector file would be.
    fn locksmith_with_connector(&self, name: &str, toml: &str, args: &[&str]) -> Output {
        let xdg = self.dir.path().join("xdg");
        let dir = xdg.join("locksmith/connectors");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.toml")), toml).unwrap();
        let xdg = xdg.to_str().unwrap();
        self.run(
            &self.url(),
            Some(name),
            args,
            None,
            &[("XDG_CONFIG_HOME", xdg)],
        )
    }

    fn journal_rows(&self, sql: &str) -> Vec<Vec<String>> {
        let c = rusqlite::Connection::open(self.journal()).expect("journal");
        let mut st = c.prepare(sql).expect("journal SQL");
        let n = st.column_count();
        st.query_map([], |r| {
            Ok((0..n)
                .map(|i| {
                    r.get::<_, rusqlite::types::Value>(i)
                        .map(|v| match v {
                            rusqlite::types::Value::Null => "NULL".to_string(),
                            rusqlite::types::Value::Integer(i) => i.to_string(),
                            rusqlite::types::Value::Real(f) => f.to_string(),
                            rusqlite::types::Value::Text(t) => t,
                            rusqlite::types::Value::Blob(b) => hex::encode(b),
                        })
                        .unwrap_or_default()
                })
                .collect())
        })
        .expect("query")
        .map(|r| r.expect("row"))
        .collect()
    }

    /// The whole journal file as text, to prove no secret reached it.
    fn journal_text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.journal()).unwrap_or_default()).into_owned()
    }
}

fn common_text(d: tiberius::ColumnData<'static>) -> String {
    use tiberius::ColumnData as C;
    match d {
        C::U8(v) => v.map_or("NULL".into(), |x| x.to_string()),
        C::I16(v) => v.map_or("NULL".into(), |x| x.to_string()),
        C::I32(v) => v.map_or("NULL".into(), |x| x.to_string()),
        C::I64(v) => v.map_or("NULL".into(), |x| x.to_string()),
        C::F32(v) => v.map_or("NULL".into(), |x| x.to_string()),
        C::F64(v) => v.map_or("NULL".into(), |x| x.to_string()),
        C::Bit(v) => v.map_or("NULL".into(), |x| u8::from(x).to_string()),
        C::String(v) => v.map_or("NULL".into(), |x| x.into_owned()),
        C::Binary(v) => v.map_or("NULL".into(), hex::encode),
        other => {
            use tiberius::FromSql;
            match chrono::NaiveDateTime::from_sql(&other) {
                Ok(Some(t)) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
                Ok(None) => "NULL".into(),
                Err(_) => format!("{other:?}"),
            }
        }
    }
}

impl Drop for U8Db {
    fn drop(&mut self) {
        match &self.server {
            Server::Endpoint(e) => {
                if std::thread::panicking() {
                    return;
                }
                let statements = e.statements();
                assert!(!statements.is_empty(), "the endpoint logged no statement");
                let bad = tds::unparsable_statements(&statements);
                assert!(
                    bad.is_empty(),
                    "statements sent that MsSqlDialect does not parse: {bad:#?}"
                );
            }
            Server::Real { .. } => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    self.admin_batch(&format!(
                        "ALTER DATABASE [{0}] SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE [{0}]",
                        self.database
                    ))
                }));
            }
        }
    }
}

/// Entries of the journal as (kind, action, account, outcome).
fn entries(db: &U8Db) -> Vec<Vec<String>> {
    db.journal_rows(
        "SELECT kind, action, IFNULL(account, ''), IFNULL(json_extract(body, '$.outcome'), '') FROM entries ORDER BY id",
    )
}

fn no_secret(out: &Output, db: &U8Db, secrets: &[&str]) {
    let journal = db.journal_text();
    for s in secrets {
        assert!(!stdout(out).contains(s), "secret on stdout");
        if let Some(i) = stderr(out).find(s) {
            let e = stderr(out);
            let from = e[..i].rfind('\n').unwrap_or(0);
            panic!(
                "secret #{} on stderr in the line: {}",
                secrets.iter().position(|x| x == s).unwrap_or(0),
                &e[from..i]
            );
        }
        assert!(!journal.contains(s), "secret in the journal");
    }
}

#[test]
fn lookup_and_show_read_the_fixture_with_chinese_names() {
    let db = U8Db::new();
    let out = db.locksmith(&["--json", "lookup", "张"], None);
    assert_code(&out, 0);
    let doc = json(&out);
    let text = doc.to_string();
    assert!(text.contains("张三"), "{text}");
    // Admin rule and states come through.
    let out = db.locksmith(&["--json", "show", "admin"], None);
    assert_code(&out, 0);
    let doc = json(&out);
    assert_eq!(doc["admin"], serde_json::json!(true), "{doc}");
    // lisi is locked (nState 1, iErrorCount 5); zhaoliu's 2 failures are under the limit.
    let out = db.locksmith(&["--json", "lookup", "--locked"], None);
    assert_code(&out, 0);
    assert_eq!(lookup_ids(&out), ["lisi"], "{}", stdout(&out));
    // No match is an empty list, not an error.
    let out = db.locksmith(&["--json", "lookup", "不存在的人"], None);
    assert_code(&out, 0);
    assert_eq!(lookup_ids(&out), Vec::<String>::new());
}

/// Ranked search and keyset pages on SQL Server (TOP over a derived table,
/// text ids): `s` is the start of one login and inside three others.
#[test]
fn search_ranks_prefixes_first_and_pages_by_keyset_on_text_ids() {
    let db = U8Db::new();
    let out = db.locksmith(&["--json", "lookup", "s"], None);
    assert_code(&out, 0);
    // By id alone this would be lisi, nopass, sunqi, zhangsan.
    assert_eq!(lookup_ids(&out), ["sunqi", "lisi", "nopass", "zhangsan"]);
    let out = db.locksmith(&["--json", "lookup", "s", "--limit", "2"], None);
    assert_eq!(lookup_ids(&out), ["sunqi", "lisi"]);
    let next = json(&out)["next"]
        .as_str()
        .expect("a next page")
        .to_string();
    assert_eq!(next, "3:=lisi", "a text id stays text in the cursor");
    let out = db.locksmith(
        &["--json", "lookup", "s", "--limit", "2", "--after", &next],
        None,
    );
    assert_code(&out, 0);
    assert_eq!(lookup_ids(&out), ["nopass", "zhangsan"]);
    // `#ID` is an exact match, compared as text.
    let out = db.locksmith(&["--json", "lookup", "#lisi"], None);
    assert_eq!(lookup_ids(&out), ["lisi"]);
}

/// The ids of a `--json lookup` answer, in its order.
fn lookup_ids(out: &Output) -> Vec<String> {
    json(out)["accounts"]
        .as_array()
        .unwrap_or_else(|| panic!("no accounts list: {}", stdout(out)))
        .iter()
        .map(|a| a["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// On SQL Server `[` opens a character class in LIKE: `a[b]c` would match
/// `abc` and miss the literal `a[b]c` unless the pattern escapes it.
#[test]
fn a_search_with_brackets_matches_literally() {
    let db = U8Db::new();
    db.exec(
        "INSERT INTO UA_User (cUser_Id, cUser_Name, iAdmin, nState, iErrorCount) VALUES (N'a[b]c', N'方括号', 0, 0, 0), (N'abc', N'无括号', 0, 0, 0), (N'x[^y]', N'否定', 0, 0, 0), (N'xz', N'否定诱饵', 0, 0, 0)",
    );
    let ids = |q: &str| {
        let out = db.locksmith(&["--json", "lookup", q], None);
        assert_code(&out, 0);
        lookup_ids(&out)
    };
    assert_eq!(ids("a[b]c"), ["a[b]c"]);
    assert_eq!(ids("[b]"), ["a[b]c"]);
    assert_eq!(ids("x[^y]"), ["x[^y]"]);
    assert_eq!(ids("b]c"), ["a[b]c"]);
}

#[test]
fn chinese_names_round_trip_through_varchar_and_nvarchar() {
    let db = U8Db::new();
    let target = locksmith::backend::Target::parse(&db.url()).expect("url");
    let mut target = target;
    target.password = Some(locksmith::backend::DbPassword(zeroize::Zeroizing::new(
        db.password(),
    )));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        use locksmith::backend::Value;
        let mut b = locksmith::backend::connect(&target).await.expect("connect");
        let sql = "UPDATE [UA_User] SET [cUser_Name] = @P1, [cSysUserName] = @P2 WHERE [cUser_Id] = @P3";
        let n = b
            .execute(
                sql,
                &[
                    Value::Text("张三丰".into()),
                    Value::Text("欧阳锋·𠀋".into()),
                    Value::Text("lisi".into()),
                ],
            )
            .await
            .expect("update");
        assert_eq!(n, 1);
        let rows = b
            .query(
                "SELECT [cUser_Name], [cSysUserName] FROM [UA_User] WHERE [cUser_Name] LIKE @P1 ESCAPE '!'",
                &[Value::Text("%三丰%".into())],
            )
            .await
            .expect("select");
        assert_eq!(
            rows,
            vec![vec![Value::Text("张三丰".into()), Value::Text("欧阳锋·𠀋".into())]]
        );
        let rows = b
            .query(
                "SELECT [cUser_Id] FROM [UA_User] WHERE [cSysUserName] LIKE @P1 ESCAPE '!'",
                &[Value::Text("%阳锋%".into())],
            )
            .await
            .expect("select nvarchar");
        assert_eq!(rows, vec![vec![Value::Text("lisi".into())]]);
        b.close().await.expect("close");
    });
    // The independent reader sees the same text.
    assert_eq!(
        db.one("SELECT cUser_Name FROM UA_User WHERE cUser_Id = N'lisi'"),
        "张三丰"
    );
    assert_eq!(
        db.one("SELECT cSysUserName FROM UA_User WHERE cUser_Id = N'lisi'"),
        "欧阳锋·𠀋"
    );
    // A Chinese substring search through the CLI finds the VARCHAR name.
    let out = db.locksmith(&["--json", "lookup", "三丰"], None);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("lisi"), "{}", stdout(&out));
}

#[test]
fn a_chinese_substring_search_finds_nvarchar_names_too() {
    let db = U8Db::new();
    // The same connector with the name role on the NVARCHAR column.
    let toml = std::fs::read_to_string(repo_root().join("connectors/u8.toml")).unwrap();
    let toml = toml
        .replace("name = \"u8\"", "name = \"u8-nvarchar\"")
        .replace("display = \"cUser_Name\"", "display = \"cSysUserName\"");
    assert!(
        toml.contains("u8-nvarchar") && toml.contains("cSysUserName"),
        "u8.toml changed shape:\n{toml}"
    );
    let expected = db.rows("SELECT cUser_Id FROM UA_User WHERE cSysUserName LIKE N'%李%'");
    assert!(
        !expected.is_empty(),
        "the fixture has an NVARCHAR name with 李"
    );
    let out = db.locksmith_with_connector("u8-nvarchar", &toml, &["--json", "lookup", "李"]);
    assert_code(&out, 0);
    for row in expected {
        assert!(
            stdout(&out).contains(&format!("\"{}", row[0])),
            "{} not in {}",
            row[0],
            stdout(&out)
        );
    }
}

/// The locked user of the fixture: iErrorCount > 0.
fn locked_login(db: &U8Db) -> String {
    db.one("SELECT TOP 1 cUser_Id FROM UA_User WHERE iErrorCount > 0 ORDER BY cUser_Id")
}

#[test]
fn unlock_clears_the_error_count_and_state_and_is_journaled() {
    let db = U8Db::new();
    let login = locked_login(&db);
    let out = db.locksmith(
        &[
            "--json",
            "unlock",
            &login,
            "--reason",
            "test: unlock",
            "--yes",
        ],
        None,
    );
    assert_code(&out, 0);
    assert_eq!(
        db.rows(&format!(
            "SELECT iErrorCount, nState FROM UA_User WHERE cUser_Id = N'{login}'"
        )),
        vec![vec!["0".to_string(), "0".to_string()]]
    );
    let e = entries(&db);
    assert!(
        e.iter().any(|r| r[0] == "intent" && r[1] == "unlock")
            && e.iter().any(|r| r[0] == "outcome" && r[3] == "committed"),
        "{e:?}"
    );
    let out = db.locksmith(&["audit", "verify"], None);
    assert_code(&out, 0);
}

#[test]
fn transplant_copies_the_donors_value_and_says_so_in_the_plan() {
    let db = U8Db::new();
    let target = locked_login(&db);
    let donor = "demo";
    let donor_value = db.stored(donor);
    let before = db.stored(&target);
    assert_ne!(donor_value, before);
    // The plan first: it states the consequence in plain words, and no value.
    let out = db.locksmith(
        &[
            "reset",
            &target,
            "--from",
            donor,
            "--reason",
            "test: plan",
            "--dry-run",
        ],
        None,
    );
    assert_code(&out, 0);
    let plan = stdout(&out);
    assert!(
        plan.contains(&format!("accepts the password of account {donor}")),
        "{plan}"
    );
    assert_eq!(db.stored(&target), before, "a dry run writes nothing");
    let out = db.locksmith_env(
        &[
            "--json",
            "reset",
            &target,
            "--from",
            donor,
            "--unlock",
            "--reason",
            "test: transplant",
            "--yes",
        ],
        None,
        &[("LOCKSMITH_LOG", "trace")],
    );
    assert_code(&out, 0);
    assert_eq!(db.stored(&target), donor_value);
    assert_eq!(
        db.one(&format!(
            "SELECT iErrorCount FROM UA_User WHERE cUser_Id = N'{target}'"
        )),
        "0"
    );
    let e = entries(&db);
    assert!(
        e.iter().any(|r| r[0] == "outcome" && r[3] == "committed"),
        "{e:?}"
    );
    assert!(db.journal_text().contains("transplant"));
    no_secret(&out, &db, &[&donor_value, &before]);
}

#[test]
fn transplant_into_a_login_bound_scheme_is_refused_and_writes_nothing() {
    let db = U8Db::new();
    // The same table described with a login-salted digest (RuoYi-style).
    let toml = std::fs::read_to_string(repo_root().join("connectors/u8.toml")).unwrap();
    let start = toml.find("[scheme]").expect("u8.toml has a [scheme] table");
    let end = toml[start + 1..]
        .find("\n[")
        .map_or(toml.len(), |i| start + 1 + i);
    let bound = format!(
        "{}[scheme]\nkind = \"digest\"\nrecipe = \"md5(login + password)\"\n{}",
        &toml[..start],
        &toml[end..]
    )
    .replace("name = \"u8\"", "name = \"u8-bound\"");
    let before = db.rows("SELECT cUser_Id, ISNULL(cPassword, N'NULL'), iErrorCount, nState FROM UA_User ORDER BY cUser_Id");
    let out = db.locksmith_with_connector(
        "u8-bound",
        &bound,
        &[
            "reset", "lisi", "--from", "demo", "--reason", "test", "--yes", "--force",
        ],
    );
    assert_code(&out, 5);
    assert!(stderr(&out).contains("login"), "{}", stderr(&out));
    assert_eq!(db.rows("SELECT cUser_Id, ISNULL(cPassword, N'NULL'), iErrorCount, nState FROM UA_User ORDER BY cUser_Id"), before);
    assert!(
        entries(&db).iter().all(|r| r[0] != "intent"),
        "no intent for a refused write"
    );
}

const ENCODER: &str = "import sys, hashlib, base64\npw = sys.stdin.readline().rstrip('\\n')\nprint(base64.b64encode(hashlib.sha1(pw.encode('utf-8')).digest()).decode())\n";

fn sha1_b64(pw: &str) -> String {
    use base64::Engine;
    use sha1::Digest;
    base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(pw.as_bytes()))
}

fn write_encoder(dir: &Path) -> PathBuf {
    let p = dir.join("u8-encoder.py");
    std::fs::write(&p, ENCODER).unwrap();
    p
}

#[test]
fn an_external_encoder_writes_only_after_calibration() {
    let db = U8Db::new();
    let encoder = write_encoder(db.dir.path());
    let enc = encoder.display().to_string();
    // The donor's value as the vendor's UI would have set it for a known password.
    let known = "Donor-Known-1";
    db.exec(&format!(
        "UPDATE UA_User SET cPassword = N'{}' WHERE cUser_Id = N'demo'",
        sha1_b64(known)
    ));
    let target = locked_login(&db);
    let before = db.stored(&target);
    let new_password = "N3w-U8-Pass!";
    let with_encoder = |args: &[&str], stdin: Option<&str>| {
        let mut full = vec!["--encoder", "python3", "--encoder-arg", enc.as_str()];
        full.extend_from_slice(args);
        // Trace logging on: the statements are logged, never a value.
        db.locksmith_env(&full, stdin, &[("LOCKSMITH_LOG", "trace")])
    };
    // Uncalibrated: refused, nothing written, no intent.
    let out = with_encoder(
        &reset_stdin(&target, "test", &[]),
        Some(&line(new_password)),
    );
    assert_code(&out, 5);
    assert!(stderr(&out).contains("calibrate"), "{}", stderr(&out));
    assert_eq!(db.stored(&target), before);
    assert!(entries(&db).iter().all(|r| r[0] != "intent"));
    // A wrong known password does not calibrate.
    let out = with_encoder(&["calibrate", "demo"], Some("not-it\n"));
    assert_code(&out, 8);
    let out = with_encoder(
        &reset_stdin(&target, "test", &[]),
        Some(&line(new_password)),
    );
    assert_code(&out, 5);
    // The right one does; then the reset goes through the write protocol.
    let out = with_encoder(&["calibrate", "demo"], Some(&line(known)));
    assert_code(&out, 0);
    let out = with_encoder(
        &[&["--json"][..], &reset_stdin(&target, "test: encoder", &[])].concat(),
        Some(&line(new_password)),
    );
    assert_code(&out, 0);
    assert_eq!(db.stored(&target), sha1_b64(new_password));
    no_secret(&out, &db, &[new_password, &sha1_b64(new_password), known]);
    assert!(
        stderr(&out).contains("UPDATE [UA_User] SET"),
        "the trace log holds the statement: {}",
        stderr(&out)
    );
    let e = entries(&db);
    assert!(
        e.iter().any(|r| r[0] == "outcome" && r[3] == "committed"),
        "{e:?}"
    );
}

/// cPassword is varchar(64): an encoder whose value is longer makes SQL
/// Server refuse the UPDATE (2628, which quotes the value). The reset rolls
/// back, says so with SQL Server's number, and the value reaches neither the
/// output nor the journal.
#[test]
fn an_encoder_value_wider_than_the_column_is_refused_without_echoing_it() {
    let db = U8Db::new();
    let encoder = db.dir.path().join("wide-encoder.py");
    std::fs::write(
        &encoder,
        "import sys, hashlib, base64\npw = sys.stdin.readline().rstrip('\\n')\nh = base64.b64encode(hashlib.sha1(pw.encode('utf-8')).digest()).decode()\nprint(h * 3 if pw.startswith('Long') else h)\n",
    )
    .unwrap();
    let enc = encoder.display().to_string();
    let known = "Donor-Known-1";
    db.exec(&format!(
        "UPDATE UA_User SET cPassword = N'{}' WHERE cUser_Id = N'demo'",
        sha1_b64(known)
    ));
    let target = locked_login(&db);
    let before = db.rows(ALL_STATES);
    let with_encoder = |args: &[&str], stdin: &str| {
        let mut full = vec!["--encoder", "python3", "--encoder-arg", enc.as_str()];
        full.extend_from_slice(args);
        db.locksmith(&full, Some(stdin))
    };
    assert_code(
        &with_encoder(&["calibrate", "demo"], &format!("{known}\n")),
        0,
    );
    let new_password = "Long-U8-Pass!";
    let wide = sha1_b64(new_password).repeat(3);
    let out = with_encoder(
        &reset_stdin(&target, "test: wide", &[]),
        &line(new_password),
    );
    assert_code(&out, 1);
    assert!(stderr(&out).contains("2628"), "{}", stderr(&out));
    assert_eq!(db.rows(ALL_STATES), before, "rolled back");
    no_secret(&out, &db, &[new_password, &wide, &wide[..64]]);
    let e = entries(&db);
    assert_eq!(
        e.iter()
            .map(|r| (r[0].as_str(), r[3].as_str()))
            .collect::<Vec<_>>(),
        [("calibrate", ""), ("intent", ""), ("outcome", "failed")],
        "{e:?}"
    );
}

#[test]
fn reset_with_a_new_password_and_no_encoder_is_refused_for_the_closed_format() {
    let db = U8Db::new();
    let before = db.stored("lisi");
    let out = db.locksmith(&reset_stdin("lisi", "test", &[]), Some(&line("Whatever-1")));
    assert_code(&out, 5);
    let err = stderr(&out);
    assert!(
        err.contains("transplant") && err.contains("encoder"),
        "{err}"
    );
    assert_eq!(db.stored("lisi"), before);
}

// --- TLS: only the endpoint can be told what to offer. ---

/// Runs locksmith (u8 connector, a throw-away journal) on a bare endpoint.
fn locksmith_on(endpoint: &tds::Endpoint, options: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut full: Vec<String> = vec![
        "--target".into(),
        format!("mssql://sa@127.0.0.1:{}/UFSystem{options}", endpoint.port()),
        "--journal".into(),
        dir.path().join("j.sqlite").display().to_string(),
        "--connector".into(),
        "u8".into(),
    ];
    full.extend(args.iter().map(|a| a.to_string()));
    run_locksmith_env(&full, None, &[("LOCKSMITH_DB_PASSWORD", DB_PASSWORD)])
}

/// Tests named `endpoint_only_…` need what only the endpoint can be told:
/// which TLS to offer, a select-only login, a link cut at COMMIT. Against a
/// real server they do not run — pass `--skip endpoint_only_`, and libtest
/// lists them as filtered out, not as passed. Run there anyway, they fail and say why.
fn endpoint_only() {
    assert!(
        real_server().is_none(),
        "this test needs the TDS test endpoint and did not run against LOCKSMITH_TEST_MSSQL_URL: run the real-server suite with `cargo test --test mssql_u8 -- --skip endpoint_only_`"
    );
}

#[test]
fn endpoint_only_full_tls_with_the_test_ca_reads_and_writes() {
    endpoint_only();
    let db = U8Db::with(tds::EndpointOptions {
        encryption: tds::ServerEncryption::Required,
        ..Default::default()
    });
    let login = locked_login(&db);
    let out = db.locksmith(
        &["--json", "unlock", &login, "--reason", "test: tls", "--yes"],
        None,
    );
    assert_code(&out, 0);
    assert_eq!(
        db.one(&format!(
            "SELECT iErrorCount FROM UA_User WHERE cUser_Id = N'{login}'"
        )),
        "0"
    );
    assert!(!stdout(&out).contains("only the login"), "{}", stdout(&out));
}

#[test]
fn endpoint_only_login_only_tls_works_and_warns() {
    endpoint_only();
    let db = U8Db::with(tds::EndpointOptions {
        encryption: tds::ServerEncryption::Off,
        ..Default::default()
    });
    let ca = db.endpoint().unwrap().ca_pem().display().to_string();
    let url = db.url_with(&format!("?tls=off&ca={ca}"));
    let out = db.locksmith_at(&url, &["--json", "lookup", "张"], None, &[]);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("张三"), "{}", stdout(&out));
    assert!(stdout(&out).contains("only the login"), "{}", stdout(&out));
}

#[test]
fn endpoint_only_an_untrusted_certificate_says_which_option_to_try() {
    endpoint_only();
    let db = U8Db::with(tds::EndpointOptions {
        encryption: tds::ServerEncryption::Required,
        ..Default::default()
    });
    let out = db.locksmith_at(&db.url_with(""), &["lookup", "张"], None, &[]);
    assert_code(&out, 3);
    let err = stderr(&out);
    assert!(
        err.contains("ca=") && err.contains("trust-server-certificate"),
        "{err}"
    );
    assert!(err.contains("offers encryption"), "{err}");
    // trust-server-certificate=true connects, with a warning.
    let out = db.locksmith_at(
        &db.url_with("?trust-server-certificate=true"),
        &["lookup", "张"],
        None,
        &[],
    );
    assert_code(&out, 0);
    assert!(stdout(&out).contains("not checked"), "{}", stdout(&out));
}

#[test]
fn endpoint_only_a_server_that_only_speaks_old_tls_gets_a_clear_error() {
    endpoint_only();
    let endpoint = tds::Endpoint::start(tds::EndpointOptions {
        encryption: tds::ServerEncryption::On,
        reject_tls_handshake: true,
        ..Default::default()
    });
    let out = locksmith_on(
        &endpoint,
        "?trust-server-certificate=true",
        &["lookup", "x"],
    );
    assert_code(&out, 3);
    let err = stderr(&out);
    assert!(
        err.contains("TLS 1.0/1.1") && err.contains("tls=legacy"),
        "{err}"
    );
    assert!(err.contains("offers encryption"), "{err}");
    assert!(!err.contains(DB_PASSWORD));
}

#[test]
fn a_wrong_db_password_is_a_connection_error_without_the_password() {
    let db = U8Db::new();
    let out = db.locksmith_env(
        &["lookup", "x"],
        None,
        &[("LOCKSMITH_DB_PASSWORD", "Wrong-Secret-9")],
    );
    assert_code(&out, 3);
    let err = stderr(&out);
    assert!(err.contains("18456"), "{err}");
    assert!(!err.contains("Wrong-Secret-9"), "{err}");
}

#[test]
fn sqlcmd_variables_supply_the_password() {
    let db = U8Db::new();
    let password = db.password();
    let journal = db.journal();
    let out = run_locksmith_env(
        &[
            "--target",
            &db.url(),
            "--journal",
            &journal.display().to_string(),
            "--connector",
            "u8",
            "--json",
            "lookup",
            "admin",
        ],
        None,
        &[("SQLCMDPASSWORD", password.as_str())],
    );
    assert_code(&out, 0);
}

#[test]
fn endpoint_only_a_select_only_login_looks_up_but_may_not_write() {
    endpoint_only();
    let db = U8Db::with(tds::EndpointOptions {
        encryption: tds::ServerEncryption::NotSupported,
        update_permission: tds::UpdatePermission::None,
        ..Default::default()
    });
    let out = db.locksmith(&["--json", "lookup", "张"], None);
    assert_code(&out, 0);
    let login = locked_login(&db);
    let out = db.locksmith(&["unlock", &login, "--reason", "test", "--yes"], None);
    assert_code(&out, 5);
    assert!(stderr(&out).contains("may not UPDATE"), "{}", stderr(&out));
    assert!(entries(&db).iter().all(|r| r[0] != "intent"));
}

// --- Faults: the link cut at COMMIT, through a TCP proxy (plain TDS, tls=legacy). ---

/// SQL batch text travels as UTF-16LE in TDS.
fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

fn cut_at_commit(when: common::proxy::When) -> (U8Db, String, String) {
    use common::proxy::{Fault, Packet, Proxy, Trigger};
    let db = U8Db::new();
    let target = locked_login(&db);
    let (host, port) = db.host_port();
    let proxy = Proxy::start(
        format!("{host}:{port}"),
        Trigger::new(
            Packet::Bytes(utf16("COMMIT TRANSACTION")),
            when,
            Fault::Drop,
        ),
    );
    let via = format!(
        "mssql://{}@127.0.0.1:{}/{}?tls=legacy",
        db.user(),
        proxy.port,
        db.database
    );
    let out = db.locksmith_at(
        &via,
        &[
            "reset",
            &target,
            "--from",
            "demo",
            "--reason",
            "test: cut at commit",
            "--yes",
        ],
        None,
        &[],
    );
    assert!(
        proxy.hit.load(std::sync::atomic::Ordering::SeqCst),
        "the proxy saw COMMIT"
    );
    assert_code(&out, 7);
    // Settled only through the same address, by reading the row back.
    let out = db.locksmith_at(&via, &["--json", "audit", "reconcile"], None, &[]);
    assert_code(&out, 0);
    let found = json(&out)["reconciled"][0]["found"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let out = db.locksmith_at(&via, &["--json", "audit", "reconcile"], None, &[]);
    assert!(
        json(&out)["reconciled"].as_array().unwrap().is_empty(),
        "nothing left open"
    );
    (db, target, found)
}

#[test]
fn endpoint_only_a_link_lost_after_commit_reached_the_server_is_unknown_then_applied() {
    endpoint_only();
    let (db, target, found) = cut_at_commit(common::proxy::When::After);
    assert_eq!(found, "applied");
    assert_eq!(db.stored(&target), db.stored("demo"));
}

#[test]
fn endpoint_only_a_link_lost_before_commit_is_unknown_then_not_applied_and_rolled_back() {
    endpoint_only();
    let (db, target, found) = cut_at_commit(common::proxy::When::Before);
    assert_eq!(found, "not_applied");
    assert_ne!(
        db.stored(&target),
        db.stored("demo"),
        "the server rolled back"
    );
}

/// Runs `locksmith unlock TARGET` (lock-wait 1 s) while another session
/// holds `held` in an open transaction (an UPDATE, so an X lock until ROLLBACK).
fn unlock_while_another_session_holds(db: &U8Db, target: &str, held: &str) -> Output {
    let config = db.client_config(&db.database);
    let url = format!(
        "{}{}lock-wait=1",
        db.url(),
        if db.url().contains('?') { "&" } else { "?" }
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let tcp = TcpStream::connect(config.get_addr()).await.expect("tcp");
        let mut holder = Client::connect(config, tcp.compat_write())
            .await
            .expect("holder");
        holder
            .simple_query(format!(
                "BEGIN TRANSACTION; UPDATE UA_User SET cDept = N'锁' WHERE cUser_Id = N'{held}'"
            ))
            .await
            .expect("hold the row")
            .into_results()
            .await
            .expect("hold the row");
        let out = tokio::task::block_in_place(|| {
            db.locksmith_at(
                &url,
                &["unlock", target, "--reason", "test: lock", "--yes"],
                None,
                &[],
            )
        });
        holder
            .simple_query("ROLLBACK TRANSACTION")
            .await
            .expect("release")
            .into_results()
            .await
            .expect("release");
        out
    })
}

const ALL_STATES: &str = "SELECT cUser_Id, ISNULL(cPassword, N'NULL'), iErrorCount, nState, cDept FROM UA_User ORDER BY cUser_Id";

/// Under READ COMMITTED the before-image read of a row another session has
/// changed and not committed waits for its lock: at lock-wait the unlock is
/// refused before any intent is journaled, and nothing is written.
#[test]
fn a_row_locked_by_another_session_times_out_with_nothing_written() {
    let db = U8Db::new();
    let target = locked_login(&db);
    let before = db.rows(ALL_STATES);
    let out = unlock_while_another_session_holds(&db, &target, &target);
    assert_code(&out, 5);
    assert!(stderr(&out).contains("1222"), "{}", stderr(&out));
    assert_eq!(db.rows(ALL_STATES), before);
    assert_eq!(
        entries(&db),
        Vec::<Vec<String>>::new(),
        "refused before the intent"
    );
}

/// A lock on another row is no reason to wait: Locksmith reads and writes
/// its account by primary key, so only that row is touched.
#[test]
fn a_lock_on_another_row_does_not_hold_up_the_unlock() {
    let db = U8Db::new();
    let target = locked_login(&db);
    let before = db.rows(ALL_STATES);
    let out = unlock_while_another_session_holds(&db, &target, "admin");
    assert_code(&out, 0);
    let after = db.rows(ALL_STATES);
    for (b, a) in before.iter().zip(&after) {
        if b[0] == target {
            assert_eq!((a[2].as_str(), a[3].as_str()), ("0", "0"), "{a:?}");
        } else {
            assert_eq!(a, b, "only the target changed; the holder rolled back");
        }
    }
    let e = entries(&db);
    assert_eq!(
        e.iter()
            .map(|r| (r[0].as_str(), r[3].as_str()))
            .collect::<Vec<_>>(),
        [("intent", ""), ("outcome", "committed")],
        "{e:?}"
    );
}

#[test]
fn connectors_check_reports_a_column_the_install_lacks() {
    let db = U8Db::new();
    let out = db.locksmith(&["connectors", "check"], None);
    assert_code(&out, 0);
    // An install where the must-change column is spelled differently.
    let toml = std::fs::read_to_string(repo_root().join("connectors/u8.toml"))
        .unwrap()
        .replace("name = \"u8\"", "name = \"u8-other\"")
        .replace("bModifyPWFirstLogin", "bMustChangePW");
    let out = db.locksmith_with_connector("u8-other", &toml, &["connectors", "check"]);
    assert_code(&out, 8);
    assert!(stdout(&out).contains("bMustChangePW"), "{}", stdout(&out));
}

#[test]
fn the_u8_connector_is_detected_and_the_posture_check_runs() {
    let db = U8Db::new();
    let run = |args: &[&str]| db.run(&db.url(), None, args, None, &[]);
    // No --connector: the schema says which vendor this is.
    let out = run(&["--json", "show", "admin"]);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("cUser_Id"), "{}", stdout(&out));
    // Warnings only (no emergency admin declared, nopass has no password): posture ok.
    let out = run(&["check"]);
    assert_code(&out, 0);
    let report = stdout(&out);
    for line in [
        "ok   admins             2 enabled admins",
        "WARN empty_password",
        "       - nopass (#nopass)",
        "8 account(s) checked: posture ok",
    ] {
        assert!(report.contains(line), "{line}: {report}");
    }
    assert!(
        stdout(&out).contains("u8` detected from the schema"),
        "{}",
        stdout(&out)
    );
    // u8 declares `admin` as its emergency admin: a dry run diagnoses it, and
    // without an encoder says that no value of the closed format can be written.
    let out = run(&["--json", "restore-admin", "--reason", "test", "--dry-run"]);
    assert_code(&out, 5);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(said.contains("encoder"), "{said}");
}

/// Issue 18: U8's emergency admin (`admin`), disabled, over the error limit and
/// without iAdmin, is restored by one restore-admin through a calibrated
/// encoder (the closed format's stand-in): the encoder's value is stored, the
/// account is enabled, unlocked and an admin again. A drill leaves the table
/// as it was; a missing row is not re-created.
#[test]
fn u8_restore_admin_repairs_admin_through_the_calibrated_encoder() {
    let db = U8Db::new();
    let encoder = write_encoder(db.dir.path());
    let enc = encoder.display().to_string();
    let known = "Donor-Known-1";
    db.exec(&format!(
        "UPDATE UA_User SET cPassword = N'{}' WHERE cUser_Id = N'demo'",
        sha1_b64(known)
    ));
    db.exec("UPDATE UA_User SET nState = 2, iErrorCount = 5, iAdmin = 0 WHERE cUser_Id = N'admin'");
    let with_encoder = |args: &[&str], stdin: Option<&str>| {
        let mut full = vec!["--encoder", "python3", "--encoder-arg", enc.as_str()];
        full.extend_from_slice(args);
        db.locksmith(&full, stdin)
    };
    assert_code(
        &with_encoder(&["calibrate", "demo"], Some(&format!("{known}\n"))),
        0,
    );
    let image = || db.rows("SELECT * FROM UA_User ORDER BY cUser_Id");
    let before = image();
    let out = with_encoder(&["--json", "drill"], None);
    assert_code(&out, 0);
    assert_eq!(json(&out)["rolled_back"], true);
    assert_eq!(image(), before, "the drill left a trace");

    let out = with_encoder(
        &[
            "--json",
            "restore-admin",
            "--reason",
            "test: u8 break glass",
            "--yes",
        ],
        None,
    );
    assert_code(&out, 0);
    let doc = json(&out);
    let codes: Vec<&str> = doc["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"disabled") && codes.contains(&"not_admin"),
        "{doc}"
    );
    let pw = doc["temporary_password"].as_str().unwrap();
    assert_eq!(db.stored("admin"), sha1_b64(pw));
    assert_eq!(
        db.rows("SELECT nState, iErrorCount, iAdmin FROM UA_User WHERE cUser_Id = N'admin'"),
        vec![vec!["0".to_string(), "0".to_string(), "1".to_string()]]
    );
    assert!(
        !db.journal_text().contains(pw),
        "the password reached the journal"
    );
    assert!(!stderr(&out).contains(pw));

    db.exec("DELETE FROM UA_User WHERE cUser_Id = N'admin'");
    let out = with_encoder(&["restore-admin", "--reason", "t", "--yes"], None);
    assert_code(&out, 5);
    assert!(
        stderr(&out).contains("no template to re-create it"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_encoder_does_not_inherit_the_database_password() {
    let db = U8Db::new();
    let seen = db.dir.path().join("seen.txt");
    let script = db.dir.path().join("env-encoder.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s|%s|%s|%s|%s' \"$LOCKSMITH_DB_PASSWORD\" \"$SQLCMDPASSWORD\" \"$MYSQL_PWD\" \"$PGPASSWORD\" \"$LOCKSMITH_LOGIN\" > '{}'\nread pw\necho encoded\n",
            seen.display()
        ),
    )
    .unwrap();
    let password = db.password();
    let out = db.locksmith_env(
        &[
            "--encoder",
            "sh",
            "--encoder-arg",
            script.to_str().unwrap(),
            "calibrate",
            "demo",
        ],
        Some("Known-1\n"),
        &[
            ("SQLCMDPASSWORD", password.as_str()),
            ("MYSQL_PWD", "x-mysql"),
            ("PGPASSWORD", "x-pg"),
        ],
    );
    assert_eq!(out.status.code(), Some(8), "a mismatch: {}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&seen).unwrap(), "||||demo");
}

#[test]
fn endpoint_only_tls_legacy_against_a_server_that_forces_encryption_says_so() {
    endpoint_only();
    let endpoint = tds::Endpoint::start(tds::EndpointOptions {
        encryption: tds::ServerEncryption::Required,
        ..Default::default()
    });
    let out = locksmith_on(&endpoint, "?tls=legacy", &["lookup", "x"]);
    assert_code(&out, 3);
    let err = stderr(&out);
    assert!(
        err.contains("forces encryption") && err.contains("tls=required"),
        "{err}"
    );
}
