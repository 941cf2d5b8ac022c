//! Issue 12, restore from a backup, on Yonyou U8 over the executing TDS test
//! endpoint (tests/tds): the live UFSystem and its restored copy
//! UFSystem_restore are two endpoints (the endpoint serves one database each;
//! no endpoint change was needed). The copy's cPassword is written back byte
//! for byte; a copy whose row is not the account's is refused, nothing written.
//! Endpoint only: the real-server variant is in the report's open items.

mod common;
#[path = "tds/mod.rs"]
mod tds;

use std::process::Output;

use common::{assert_code, json, repo_root, run_locksmith_env, stderr, stdout};
use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio_util::compat::TokioAsyncWriteCompatExt;

const DB_PASSWORD: &str = "Locksmith-Test-1";

struct Db {
    endpoint: tds::Endpoint,
    name: String,
}

impl Db {
    fn start(name: &str) -> Db {
        let endpoint = tds::Endpoint::start(tds::EndpointOptions {
            database: name.to_string(),
            encryption: tds::ServerEncryption::NotSupported,
            ..Default::default()
        });
        let db = Db {
            endpoint,
            name: name.to_string(),
        };
        let text = std::fs::read_to_string(repo_root().join("fixtures/u8.sql")).unwrap();
        db.batches(&tds::split_go_batches(&text));
        db
    }

    fn url(&self) -> String {
        format!(
            "mssql://sa@127.0.0.1:{}/{}?tls=legacy",
            self.endpoint.port(),
            self.name
        )
    }

    fn batches(&self, batches: &[String]) -> Vec<Vec<String>> {
        let mut c = Config::new();
        c.host("127.0.0.1");
        c.port(self.endpoint.port());
        c.database(&self.name);
        c.authentication(AuthMethod::sql_server("sa", DB_PASSWORD));
        c.encryption(EncryptionLevel::NotSupported);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let tcp = TcpStream::connect(c.get_addr()).await.unwrap();
            let mut client = Client::connect(c, tcp.compat_write()).await.unwrap();
            let mut out = Vec::new();
            for b in batches {
                let rows = client
                    .simple_query(b.as_str())
                    .await
                    .unwrap_or_else(|e| panic!("{e}: {b}"))
                    .into_first_result()
                    .await
                    .unwrap();
                for r in rows {
                    out.push(
                        r.into_iter()
                            .map(|d| match d {
                                tiberius::ColumnData::String(v) => {
                                    v.map_or("NULL".into(), |x| x.into_owned())
                                }
                                other => format!("{other:?}"),
                            })
                            .collect(),
                    );
                }
            }
            out
        })
    }

    fn exec(&self, sql: &str) {
        self.batches(&[sql.to_string()]);
    }

    fn stored(&self, login: &str) -> String {
        let rows = self.batches(&[format!(
            "SELECT ISNULL(cPassword, N'NULL') FROM UA_User WHERE cUser_Id = N'{login}'"
        )]);
        rows[0][0].clone()
    }

    /// Every column of every row, for "nothing else changed".
    fn image(&self) -> Vec<Vec<String>> {
        self.batches(&["SELECT cUser_Id, cUser_Name, cPassword, cDept, cUserEmail, localeid, cSysUserName FROM UA_User ORDER BY cUser_Id".to_string()])
    }
}

fn locksmith(live: &Db, journal: &std::path::Path, args: &[&str]) -> Output {
    let mut full: Vec<String> = vec![
        "--target".into(),
        live.url(),
        "--journal".into(),
        journal.display().to_string(),
        "--connector".into(),
        "u8".into(),
    ];
    full.extend(args.iter().map(|s| s.to_string()));
    // One password for both: the copy follows --target's credential rules.
    run_locksmith_env(&full, None, &[("LOCKSMITH_DB_PASSWORD", DB_PASSWORD)])
}

#[test]
fn u8_restore_from_a_restored_copy_writes_the_copys_cpassword_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.sqlite");
    let live = Db::start("UFSystem");
    let copy = Db::start("UFSystem_restore");
    // The backup holds lisi's old value in U8's own (closed) form, odd bytes and all.
    let old = ")  F \", ,P T #8";
    copy.exec(&format!(
        "UPDATE UA_User SET cPassword = N'{}' WHERE cUser_Id = N'lisi'",
        old.replace('\'', "''")
    ));
    assert_ne!(live.stored("lisi"), old);
    let mut others = live.image();
    others.retain(|r| r[0] != "lisi");

    let out = locksmith(
        &live,
        &journal,
        &[
            "--json",
            "reset",
            "lisi",
            "--from-backup",
            &copy.url(),
            "--unlock",
            "--reason",
            "INC-12 lisi's password from last night's backup",
            "--yes",
        ],
    );
    assert_code(&out, 0);
    let doc = json(&out);
    assert_eq!(doc["method"], "backup");
    assert_eq!(doc["backup"]["kind"], "copy");
    assert!(
        doc["backup"]["source"]
            .as_str()
            .unwrap()
            .ends_with("/UFSystem_restore")
    );
    assert_eq!(live.stored("lisi"), old, "the copy's value, byte for byte");
    assert_eq!(copy.stored("lisi"), old, "the copy is only read");
    let mut now = live.image();
    now.retain(|r| r[0] != "lisi");
    assert_eq!(now, others, "no other row changed");
    for text in [
        stdout(&out),
        stderr(&out),
        String::from_utf8_lossy(&std::fs::read(&journal).unwrap()).into_owned(),
    ] {
        assert!(!text.contains(old), "the value leaked");
    }
    assert_code(&locksmith(&live, &journal, &["audit", "verify"]), 0);
    // Every statement Locksmith sent to either database parses as T-SQL.
    for db in [&live, &copy] {
        let bad = tds::unparsable_statements(&db.endpoint.statements());
        assert!(
            bad.is_empty(),
            "statements MsSqlDialect does not parse: {bad:#?}"
        );
    }
}

#[test]
fn u8_restore_from_a_copy_whose_row_has_another_login_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.sqlite");
    let live = Db::start("UFSystem");
    let copy = Db::start("UFSystem_restore");
    // In the copy the account was renamed: the row is no longer lisi's.
    copy.exec(
        "UPDATE UA_User SET cUser_Id = N'LISI', cPassword = N'other' WHERE cUser_Id = N'lisi'",
    );
    let before = live.image();
    let out = locksmith(
        &live,
        &journal,
        &[
            "reset",
            "lisi",
            "--from-backup",
            &copy.url(),
            "--reason",
            "INC-12",
            "--yes",
        ],
    );
    assert_code(&out, 5);
    let err = stderr(&out);
    assert!(
        err.contains("`lisi`") && err.contains("UFSystem_restore"),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(live.image(), before, "nothing written");
}
