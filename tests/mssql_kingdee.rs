//! Kingdee K/3 WISE (`kingdee-k3wise`, FSID: a third-party scheme, calibration-
//! gated) and K/3 Cloud (`kingdee-k3cloud`, FPASSWORD + FMEMO: closed, copied
//! as one pair) over the executing TDS test endpoint (tests/tds), loaded from
//! fixtures/kingdee-k3wise.sql and fixtures/kingdee-k3cloud.sql. Every FSID
//! Locksmith writes is checked by the independent oracle (tests/oracle,
//! `kingdee_fsid`), never by Locksmith's own code. Endpoint only.

mod common;
#[path = "tds/mod.rs"]
mod tds;

use std::path::PathBuf;
use std::process::Output;

use common::{assert_code, journal_rows, json, line, repo_root, reset_stdin, run_locksmith_env};
use common::{oracle, stderr, stdout};
use tiberius::{AuthMethod, Client, ColumnData, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio_util::compat::TokioAsyncWriteCompatExt;

const DB_PASSWORD: &str = "Locksmith-Test-1";
/// fixtures/kingdee-k3wise.sql: 制单人's FSID is the public vector for `123`.
const VECTOR_LOGIN: &str = "制单人";

/// One database on an endpoint of its own, loaded from a fixture, with a journal.
struct Db {
    endpoint: tds::Endpoint,
    name: String,
    connector: &'static str,
    dir: tempfile::TempDir,
}

impl Db {
    fn start(fixture: &str, name: &str, connector: &'static str) -> Db {
        let endpoint = tds::Endpoint::start(tds::EndpointOptions {
            database: name.to_string(),
            encryption: tds::ServerEncryption::NotSupported,
            ..Default::default()
        });
        let db = Db {
            endpoint,
            name: name.to_string(),
            connector,
            dir: tempfile::tempdir().unwrap(),
        };
        let text = std::fs::read_to_string(repo_root().join("fixtures").join(fixture)).unwrap();
        db.batches(&tds::split_go_batches(&text));
        db
    }

    fn wise() -> Db {
        Db::start("kingdee-k3wise.sql", "AIS20240101", "kingdee-k3wise")
    }

    fn cloud(name: &str) -> Db {
        Db::start("kingdee-k3cloud.sql", name, "kingdee-k3cloud")
    }

    fn url(&self) -> String {
        format!(
            "mssql://sa@127.0.0.1:{}/{}?tls=legacy",
            self.endpoint.port(),
            self.name
        )
    }

    fn journal(&self) -> PathBuf {
        self.dir.path().join("journal.sqlite")
    }

    /// Runs locksmith on this database (English messages, whatever the machine's locale).
    fn locksmith(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let journal = self.journal().display().to_string();
        let mut full = vec![
            "--target",
            &self.url(),
            "--journal",
            &journal,
            "--connector",
            self.connector,
        ]
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
        full.extend(args.iter().map(|s| s.to_string()));
        run_locksmith_env(
            &full,
            stdin,
            &[("LOCKSMITH_DB_PASSWORD", DB_PASSWORD), ("LC_ALL", "C")],
        )
    }

    /// Every value as text: NULL as "NULL", numbers in decimal.
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
                    out.push(r.into_iter().map(text).collect());
                }
            }
            out
        })
    }

    fn query(&self, sql: &str) -> Vec<Vec<String>> {
        self.batches(&[sql.to_string()])
    }

    /// Every row of the fixture's user table, for "nothing else changed".
    fn image(&self) -> Vec<Vec<String>> {
        match self.connector {
            "kingdee-k3wise" => self.query("SELECT FUserID, FName, FSID, PasswordHashValue, FForbidden FROM t_User ORDER BY FUserID"),
            _ => self.query("SELECT FUSERID, FUSERACCOUNT, FNAME, FPASSWORD, FMEMO, FFORBIDSTATUS, FISLOCKED FROM T_SEC_USER ORDER BY FUSERID"),
        }
    }

    /// (FSID, PasswordHashValue, FForbidden) of one K/3 WISE user.
    fn wise_row(&self, name: &str) -> (String, String, String) {
        let rows = self.query(&format!(
            "SELECT FSID, PasswordHashValue, FForbidden FROM t_User WHERE FName = N'{name}'"
        ));
        let r = &rows[0];
        (r[0].clone(), r[1].clone(), r[2].clone())
    }

    /// (FPASSWORD, FMEMO, FFORBIDSTATUS, FISLOCKED) of one K/3 Cloud user.
    fn cloud_row(&self, account: &str) -> Vec<String> {
        self.query(&format!(
            "SELECT FPASSWORD, FMEMO, FFORBIDSTATUS, FISLOCKED FROM T_SEC_USER WHERE FUSERACCOUNT = N'{account}'"
        ))
        .remove(0)
    }

    /// (kind, outcome) of every journal entry.
    fn entries(&self) -> Vec<(String, String)> {
        if !self.journal().exists() {
            return Vec::new();
        }
        journal_rows(
            &self.journal(),
            "SELECT kind, IFNULL(json_extract(body, '$.outcome'), '') FROM entries ORDER BY id",
        )
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect()
    }

    fn journal_text(&self) -> String {
        std::fs::read(self.journal())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    fn assert_statements_parse(&self) {
        let bad = tds::unparsable_statements(&self.endpoint.statements());
        assert!(
            bad.is_empty(),
            "statements MsSqlDialect does not parse: {bad:#?}"
        );
    }
}

fn text(d: ColumnData<'_>) -> String {
    match d {
        ColumnData::String(v) => v.map_or("NULL".into(), |x| x.into_owned()),
        ColumnData::I32(v) => v.map_or("NULL".into(), |x| x.to_string()),
        ColumnData::I64(v) => v.map_or("NULL".into(), |x| x.to_string()),
        ColumnData::I16(v) => v.map_or("NULL".into(), |x| x.to_string()),
        ColumnData::U8(v) => v.map_or("NULL".into(), |x| x.to_string()),
        ColumnData::Bit(v) => v.map_or("NULL".into(), |x| u8::from(x).to_string()),
        other => format!("{other:?}"),
    }
}

/// Does the independent oracle accept `password` for this stored FSID?
fn oracle_accepts(password: &str, fsid: &str) -> bool {
    oracle::oracle_verify(
        "kingdee_fsid",
        serde_json::json!({ "password": password, "stored": fsid }),
    )
}

fn no_secret(out: &Output, db: &Db, secrets: &[&str]) {
    let journal = db.journal_text();
    for (i, s) in secrets.iter().enumerate() {
        assert!(!stdout(out).contains(s), "secret #{i} on stdout");
        assert!(!stderr(out).contains(s), "secret #{i} on stderr");
        assert!(!journal.contains(s), "secret #{i} in the journal");
    }
}

#[test]
fn k3wise_lookup_finds_chinese_logins_and_the_administrators() {
    let db = Db::wise();
    let out = db.locksmith(&["--json", "lookup", "张"], None);
    assert_code(&out, 0);
    let doc = json(&out);
    let logins: Vec<&str> = doc["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["login"].as_str().unwrap())
        .collect();
    assert_eq!(logins, ["张三"], "{doc}");
    let out = db.locksmith(&["lookup", "制单"], None);
    assert_code(&out, 0);
    assert!(stdout(&out).contains(VECTOR_LOGIN), "{}", stdout(&out));
    // Administrators: FUserID 16394 and the members of the Administrators group.
    let out = db.locksmith(&["--json", "lookup", "--admins"], None);
    assert_code(&out, 0);
    let mut admins: Vec<String> = json(&out)["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["login"].as_str().unwrap().to_string())
        .collect();
    admins.sort();
    assert_eq!(admins, ["administrator", "张三"]);
    // Disabled: 李四 (FForbidden = 1).
    let out = db.locksmith(&["--json", "lookup", "--disabled"], None);
    assert_code(&out, 0);
    assert_eq!(json(&out)["accounts"][0]["login"], "李四");
    db.assert_statements_parse();
}

#[test]
fn k3wise_calibrate_accepts_the_public_vector_and_refuses_a_wrong_password() {
    let db = Db::wise();
    let (fsid, _, _) = db.wise_row(VECTOR_LOGIN);
    assert_eq!(fsid.len(), 59, "the fixture holds the public vector");
    assert!(
        oracle_accepts("123", &fsid),
        "the oracle knows the public vector"
    );
    let out = db.locksmith(&["--json", "calibrate", VECTOR_LOGIN], Some(&line("123")));
    assert_code(&out, 0);
    let doc = json(&out);
    assert_eq!(doc["calibration"]["matches"], true);
    assert_eq!(doc["calibration"]["scheme"], "kingdee-fsid");
    assert_eq!(doc["calibration"]["level"], "third-party");
    let out = db.locksmith(&["calibrate", VECTOR_LOGIN], Some(&line("1234")));
    assert_code(&out, 8);
    assert!(stdout(&out).contains("NOT calibrated"), "{}", stdout(&out));
    // A value the oracle wrote for the fixture is reproduced too.
    let out = db.locksmith(&["calibrate", "张三"], Some(&line("Zhang#2024")));
    assert_code(&out, 0);
    assert!(stdout(&out).contains("third-party"), "{}", stdout(&out));
}

#[test]
fn k3wise_reset_is_refused_until_calibrated_then_writes_an_fsid_the_oracle_accepts() {
    let db = Db::wise();
    let before = db.image();
    let (old_fsid, old_hash_value, _) = db.wise_row("张三");
    let new_password = "N3w-K3-Pass!";
    let reset = |db: &Db| {
        db.locksmith(
            &reset_stdin("张三", "INC-13 张三", &[]),
            Some(&line(new_password)),
        )
    };
    // Before any calibration: refused, nothing written, no intent in the journal.
    let out = reset(&db);
    assert_code(&out, 5);
    let err = stderr(&out);
    assert!(
        err.contains("third-party") && err.contains("calibrate"),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(db.image(), before);
    assert!(
        db.entries().iter().all(|(k, _)| k != "intent"),
        "{:?}",
        db.entries()
    );
    // A failed calibration does not open the gate.
    assert_code(
        &db.locksmith(&["calibrate", VECTOR_LOGIN], Some(&line("124"))),
        8,
    );
    assert_code(&reset(&db), 5);
    assert_eq!(db.image(), before);
    assert!(db.entries().iter().all(|(k, _)| k != "intent"));
    // A calibration on another target does not count here.
    let other = Db::wise();
    let out = run_locksmith_env(
        &[
            "--target",
            &other.url(),
            "--journal",
            &db.journal().display().to_string(),
            "--connector",
            "kingdee-k3wise",
            "calibrate",
            VECTOR_LOGIN,
        ],
        Some(&line("123")),
        &[("LOCKSMITH_DB_PASSWORD", DB_PASSWORD), ("LC_ALL", "C")],
    );
    assert_code(&out, 0);
    assert_code(&reset(&db), 5);
    assert_eq!(db.image(), before);

    // The public vector calibrates this target; the reset goes through the write protocol.
    assert_code(
        &db.locksmith(&["calibrate", VECTOR_LOGIN], Some(&line("123"))),
        0,
    );
    let out = db.locksmith(
        &[&["--json"][..], &reset_stdin("张三", "INC-13 张三", &[])].concat(),
        Some(&line(new_password)),
    );
    assert_code(&out, 0);
    let (fsid, hash_value, _) = db.wise_row("张三");
    assert!(
        oracle_accepts(new_password, &fsid),
        "the oracle rejects the new FSID {fsid:?}"
    );
    assert!(!oracle_accepts("Zhang#2024", &fsid));
    assert_eq!(
        hash_value, "NULL",
        "PasswordHashValue is cleared (required from 14.0)"
    );
    let warnings = json(&out).to_string();
    assert!(
        warnings.contains("third-party"),
        "every plan says so: {warnings}"
    );
    // calibrate with the new password accepts the written value.
    assert_code(
        &db.locksmith(&["calibrate", "张三"], Some(&line(new_password))),
        0,
    );
    // Nothing else changed.
    let mut now = db.image();
    let mut was = before.clone();
    now.retain(|r| r[1] != "张三");
    was.retain(|r| r[1] != "张三");
    assert_eq!(now, was);
    // PasswordHashValue is a second password hash: fingerprints only, like FSID.
    no_secret(
        &out,
        &db,
        &[new_password, &fsid, &old_fsid, &old_hash_value],
    );
    assert!(
        db.entries()
            .iter()
            .any(|(k, o)| k == "outcome" && o == "committed")
    );
    assert_code(&db.locksmith(&["audit", "verify"], None), 0);
    db.assert_statements_parse();
}

#[test]
fn k3wise_unlock_clears_fforbidden() {
    let db = Db::wise();
    assert_eq!(db.wise_row("李四").2, "1");
    let out = db.locksmith(
        &["unlock", "李四", "--reason", "INC-13 李四", "--yes"],
        None,
    );
    assert_code(&out, 0);
    let (fsid, hash_value, forbidden) = db.wise_row("李四");
    assert_eq!(forbidden, "0");
    assert!(
        oracle_accepts("Li_si.2025", &fsid),
        "the password is untouched"
    );
    assert_ne!(
        hash_value, "NULL",
        "unlock does not touch PasswordHashValue"
    );
}

#[test]
fn k3cloud_transplant_copies_fpassword_and_fmemo_together() {
    let db = Db::cloud("AIS_K3CLOUD");
    let donor = db.cloud_row("zhangsan");
    let before = db.image();
    let out = db.locksmith(
        &[
            "--json",
            "reset",
            "lisi",
            "--from",
            "zhangsan",
            "--unlock",
            "--reason",
            "INC-13 lisi gets zhangsan's known password",
            "--yes",
        ],
        None,
    );
    assert_code(&out, 0);
    let now = db.cloud_row("lisi");
    assert_eq!(now[..2], donor[..2], "FPASSWORD and FMEMO, as one pair");
    assert_eq!(now[2..], ["A", "0"], "unlocked and enabled");
    assert_eq!(db.cloud_row("zhangsan"), donor, "the donor is only read");
    let mut others = db.image();
    let mut was = before;
    others.retain(|r| r[1] != "lisi");
    was.retain(|r| r[1] != "lisi");
    assert_eq!(others, was);
    no_secret(&out, &db, &[&donor[0], &donor[1]]);
    db.assert_statements_parse();
}

#[test]
fn k3cloud_backup_restore_writes_the_copys_pair() {
    let live = Db::cloud("AIS_K3CLOUD");
    let copy = Db::cloud("AIS_K3CLOUD_restore");
    // Last night's backup holds wangwu's old pair.
    let old = [
        "9EF0664B011C3DC6305C8B213378BACC2451FAEA",
        "8d2fea58-cda1-4035-9024-56cc6df8957c",
    ];
    copy.query(&format!(
        "UPDATE T_SEC_USER SET FPASSWORD = '{}', FMEMO = N'{}' WHERE FUSERACCOUNT = N'wangwu'",
        old[0], old[1]
    ));
    let before = live.cloud_row("wangwu");
    assert_ne!(before[..2], old);
    let out = live.locksmith(
        &[
            "--json",
            "reset",
            "wangwu",
            "--from-backup",
            &copy.url(),
            "--reason",
            "INC-13 wangwu's pair from the backup",
            "--yes",
        ],
        None,
    );
    assert_code(&out, 0);
    assert_eq!(json(&out)["method"], "backup");
    let now = live.cloud_row("wangwu");
    assert_eq!(now[..2], old, "both columns from the copy");
    assert_eq!(now[2..], before[2..], "no --unlock: the states stay");
    no_secret(&out, &live, &old);
    for db in [&live, &copy] {
        db.assert_statements_parse();
    }
}

#[test]
fn k3cloud_reset_without_a_donor_or_backup_explains_why() {
    let db = Db::cloud("AIS_K3CLOUD");
    let before = db.image();
    let out = db.locksmith(
        &reset_stdin("zhangsan", "INC-13", &[]),
        Some(&line("Whatever-1")),
    );
    assert_code(&out, 5);
    let err = stderr(&out);
    for needle in [
        "closed password format",
        "transplant",
        "--from-backup",
        "--from DONOR",
        "FPASSWORD + FMEMO",
        "Nothing was written",
    ] {
        assert!(err.contains(needle), "{needle:?} missing: {err}");
    }
    assert_eq!(db.image(), before);
    assert!(db.entries().iter().all(|(k, _)| k != "intent"));
    // The same text in Chinese.
    let out = run_locksmith_env(
        &[
            "--target",
            &db.url(),
            "--journal",
            &db.journal().display().to_string(),
            "--connector",
            "kingdee-k3cloud",
            "reset",
            "zhangsan",
            "--reason",
            "INC-13",
            "--new-password-stdin",
            "--yes",
        ],
        Some(&line("Whatever-1")),
        &[
            ("LOCKSMITH_DB_PASSWORD", DB_PASSWORD),
            ("LC_ALL", "zh_CN.UTF-8"),
        ],
    );
    assert_code(&out, 5);
    assert!(stderr(&out).contains("闭源密码格式"), "{}", stderr(&out));
}

#[test]
fn k3cloud_unlock_sets_normal_and_unlocked() {
    let db = Db::cloud("AIS_K3CLOUD");
    let before = db.cloud_row("lisi");
    assert_eq!(before[2..], ["B", "1"]);
    let out = db.locksmith(
        &["unlock", "lisi", "--reason", "INC-13 lisi", "--yes"],
        None,
    );
    assert_code(&out, 0);
    let now = db.cloud_row("lisi");
    assert_eq!(now[2..], ["A", "0"]);
    assert_eq!(now[..2], before[..2], "the pair is untouched");
    // Lookup in Chinese (FNAME) and the administrator (id 16394 / login administrator).
    let out = db.locksmith(&["--json", "lookup", "张三"], None);
    assert_code(&out, 0);
    assert_eq!(json(&out)["accounts"][0]["login"], "zhangsan");
    let out = db.locksmith(&["--json", "lookup", "--admins"], None);
    assert_code(&out, 0);
    let admins = json(&out)["accounts"].as_array().unwrap().clone();
    assert_eq!(admins.len(), 1);
    assert_eq!(admins[0]["login"], "administrator");
    assert_eq!(admins[0]["display"], "系统管理员");
}

#[test]
fn connectors_list_and_hash_detect_show_the_levels() {
    let out = run_locksmith_env(&["--json", "connectors", "list"], None, &[]);
    assert_code(&out, 0);
    let doc = json(&out);
    let level = |name: &str| {
        doc["connectors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["level"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(level("kingdee-k3wise"), "third-party");
    assert_eq!(level("kingdee-k3cloud"), "closed");
    assert_eq!(level("u8"), "closed");
    assert_eq!(level("ruoyi"), "vendor-source");
    let vector = ")  F \", ,P T #8 *P!D &D 80!N &@ <0 C '< : !M &4 )0 Q #( ,P ";
    let out = run_locksmith_env(&["--json", "hash", "detect", vector], None, &[]);
    assert_code(&out, 0);
    let doc = json(&out);
    assert_eq!(doc["candidates"][0]["format"], "kingdee-fsid", "{doc}");
    assert_eq!(doc["candidates"][0]["level"], "third-party");
}
