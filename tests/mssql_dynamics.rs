//! The `dynamics-crm` connector (Dynamics CRM / Dynamics 365 CE on-premises,
//! issue 13 §2) against the executing TDS test endpoint (tests/tds), loaded
//! from fixtures/dynamics-crm.sql: lookups, show, resets refused (the password
//! is in Active Directory), unlock, restore-admin linking the System
//! Administrator copy of the user's own business unit, and the posture check
//! counting only enabled admins with AccessMode = 0. The table state is read
//! back from the endpoint's SQLite file, not through Locksmith.

mod common;
#[path = "tds/mod.rs"]
mod tds;

use std::path::PathBuf;
use std::process::Output;

use common::{assert_code, json, repo_root, run_locksmith_env, stderr, stdout};

const PASSWORD: &str = "Locksmith-Test-1";
const SA_ROOT: &str = "5B7C8D9E-0F1A-4B2C-8D3E-00000000A001";
const SA_SALES: &str = "5B7C8D9E-0F1A-4B2C-8D3E-00000000A002";
const LILEI: &str = "6C1D2E3F-4A5B-4C6D-8E7F-000000000002";

struct Crm {
    endpoint: tds::Endpoint,
    dir: tempfile::TempDir,
}

impl Crm {
    fn new() -> Crm {
        let endpoint = tds::Endpoint::start(tds::EndpointOptions {
            database: "Contoso_MSCRM".into(),
            encryption: tds::ServerEncryption::NotSupported,
            ..Default::default()
        });
        let text = std::fs::read_to_string(repo_root().join("fixtures/dynamics-crm.sql"))
            .expect("fixtures/dynamics-crm.sql");
        endpoint
            .load(&tds::split_go_batches(&text))
            .expect("the fixture loads");
        Crm {
            endpoint,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn journal(&self) -> PathBuf {
        self.dir.path().join("journal.sqlite")
    }

    fn locksmith(&self, args: &[&str]) -> Output {
        let url = format!(
            "mssql://sa@127.0.0.1:{}/Contoso_MSCRM?tls=legacy",
            self.endpoint.port()
        );
        let journal = self.journal().display().to_string();
        let mut full = vec![
            "--target",
            url.as_str(),
            "--journal",
            journal.as_str(),
            "--connector",
            "dynamics-crm",
        ];
        full.extend_from_slice(args);
        run_locksmith_env(&full, None, &[("LOCKSMITH_DB_PASSWORD", PASSWORD)])
    }

    /// Rows of the endpoint's own storage (an independent reader).
    fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        let c = rusqlite::Connection::open(self.endpoint.sqlite_path()).unwrap();
        let mut st = c.prepare(sql).unwrap();
        let n = st.column_count();
        st.query_map([], |r| {
            Ok((0..n)
                .map(|i| match r.get::<_, rusqlite::types::Value>(i).unwrap() {
                    rusqlite::types::Value::Null => "NULL".to_string(),
                    rusqlite::types::Value::Integer(v) => v.to_string(),
                    rusqlite::types::Value::Text(t) => t,
                    other => format!("{other:?}"),
                })
                .collect())
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    }

    fn intents(&self) -> usize {
        if !self.journal().exists() {
            return 0;
        }
        let c = rusqlite::Connection::open(self.journal()).unwrap();
        c.query_row(
            "SELECT COUNT(*) FROM entries WHERE kind = 'intent'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap() as usize
    }

    fn roles_of(&self, user: &str) -> Vec<String> {
        self.rows(&format!(
            "SELECT upper(RoleId) FROM SystemUserRoles WHERE upper(SystemUserId) = '{user}' ORDER BY 1"
        ))
        .into_iter()
        .map(|r| r[0].clone())
        .collect()
    }
}

#[test]
fn lookup_finds_users_by_domain_name_full_name_and_email() {
    let crm = Crm::new();
    for (query, login) in [
        ("李雷", "CONTOSO\\lilei"),
        ("CONTOSO\\hanmeimei", "CONTOSO\\hanmeimei"),
        ("wangfang@contoso", "CONTOSO\\wangfang"),
    ] {
        let out = crm.locksmith(&["--json", "lookup", query]);
        assert_code(&out, 0);
        let doc = json(&out);
        let logins: Vec<&str> = doc["accounts"]
            .as_array()
            .unwrap_or_else(|| panic!("{doc}"))
            .iter()
            .filter_map(|a| a["login"].as_str())
            .collect();
        assert_eq!(logins, [login], "{query}: {doc}");
    }
    // The System Administrators: linked to a copy of the role in their own unit.
    let out = crm.locksmith(&["--json", "lookup", "--admins"]);
    assert_code(&out, 0);
    let text = stdout(&out);
    for admin in [
        "CONTOSO\\\\admin",
        "CONTOSO\\\\wangfang",
        "CONTOSO\\\\svc-crm",
    ] {
        assert!(text.contains(admin), "{admin}: {text}");
    }
    assert!(!text.contains("hanmeimei"), "{text}");
}

#[test]
fn show_has_no_password_and_names_the_directory() {
    let crm = Crm::new();
    let out = crm.locksmith(&["--json", "show", "CONTOSO\\lilei"]);
    assert_code(&out, 0);
    let doc = json(&out);
    let text = doc.to_string();
    assert!(text.contains("\"directory\""), "{text}");
    assert!(text.contains("AccessMode"), "{text}");
    assert!(text.contains("Active Directory"), "{text}");
    assert!(!text.contains("\"password\""), "no password field: {text}");
}

#[test]
fn reset_and_transplant_are_refused_before_any_journal_entry() {
    let crm = Crm::new();
    for args in [
        &["reset", "CONTOSO\\hanmeimei", "--reason", "t", "--yes"][..],
        &[
            "reset",
            "CONTOSO\\hanmeimei",
            "--from",
            "CONTOSO\\admin",
            "--reason",
            "t",
            "--yes",
        ],
    ] {
        let out = crm.locksmith(args);
        assert_code(&out, 5);
        let err = stderr(&out);
        assert!(err.contains("Active Directory"), "{err}");
        assert!(err.contains("Set-ADAccountPassword"), "{err}");
    }
    let out = crm.locksmith(&[
        "--lang",
        "zh",
        "reset",
        "CONTOSO\\hanmeimei",
        "--reason",
        "t",
        "--yes",
    ]);
    assert_code(&out, 5);
    assert!(
        stderr(&out).contains("数据库中不存放密码"),
        "{}",
        stderr(&out)
    );
    assert_eq!(crm.intents(), 0);
}

#[test]
fn unlock_enables_the_user_and_leaves_its_access_mode() {
    let crm = Crm::new();
    let out = crm.locksmith(&[
        "--json",
        "unlock",
        "CONTOSO\\lilei",
        "--reason",
        "t",
        "--yes",
    ]);
    assert_code(&out, 0);
    let doc = json(&out);
    let warnings = doc.to_string();
    assert!(warnings.contains("Deployment Manager"), "{warnings}");
    assert_eq!(
        crm.rows(&format!(
            "SELECT IsDisabled, AccessMode FROM SystemUserBase WHERE upper(SystemUserId) = '{LILEI}'"
        )),
        vec![vec!["0".to_string(), "2".to_string()]]
    );
    assert_eq!(crm.intents(), 1);
}

#[test]
fn restore_admin_links_the_role_copy_of_the_users_own_business_unit() {
    let crm = Crm::new();
    let dry = crm.locksmith(&[
        "--json",
        "restore-admin",
        "--account",
        "CONTOSO\\lilei",
        "--reason",
        "t",
        "--dry-run",
    ]);
    assert_code(&dry, 0);
    let plan = json(&dry);
    let warnings = plan["plan"]["warnings"]
        .as_array()
        .unwrap_or_else(|| panic!("{plan}"));
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .starts_with("Microsoft does not support direct edits"),
        "the first warning: {plan}"
    );
    assert!(plan.to_string().contains("WHERE NOT EXISTS"), "{plan}");

    let out = crm.locksmith(&[
        "--json",
        "restore-admin",
        "--account",
        "CONTOSO\\lilei",
        "--reason",
        "break glass",
        "--yes",
    ]);
    assert_code(&out, 0);
    let doc = json(&out);
    assert!(
        doc["temporary_password"].is_null(),
        "no password is made: {doc}"
    );
    assert_eq!(
        crm.rows(&format!(
            "SELECT IsDisabled, AccessMode FROM SystemUserBase WHERE upper(SystemUserId) = '{LILEI}'"
        )),
        vec![vec!["0".to_string(), "0".to_string()]]
    );
    // The 销售部 copy, not the root unit's.
    assert_eq!(crm.roles_of(LILEI), [SA_SALES]);
    assert!(!crm.roles_of(LILEI).contains(&SA_ROOT.to_string()));
    let ids = crm.rows(&format!(
        "SELECT SystemUserRoleId FROM SystemUserRoles WHERE upper(SystemUserId) = '{LILEI}'"
    ));
    assert_eq!(ids[0][0].len(), 36, "a GUID: {ids:?}");
    // Nothing left to do: a second run writes nothing and says why.
    let intents = crm.intents();
    let again = crm.locksmith(&[
        "restore-admin",
        "--account",
        "CONTOSO\\lilei",
        "--reason",
        "t",
        "--yes",
    ]);
    assert_code(&again, 0);
    let text = stdout(&again);
    assert!(text.contains("Nothing to change"), "{text}");
    assert!(text.contains("password is in the directory"), "{text}");
    assert_eq!(crm.roles_of(LILEI).len(), 1);
    assert_eq!(crm.intents(), intents);
}

#[test]
fn check_fails_with_one_working_system_administrator_and_passes_with_two() {
    let crm = Crm::new();
    let out = crm.locksmith(&["check"]);
    assert_code(&out, 8);
    let report = stdout(&out);
    assert!(
        report.contains("1 enabled admin(s) with full access (AccessMode = 0)"),
        "{report}"
    );
    let out = crm.locksmith(&[
        "restore-admin",
        "--account",
        "CONTOSO\\lilei",
        "--reason",
        "t",
        "--yes",
    ]);
    assert_code(&out, 0);
    let out = crm.locksmith(&["check"]);
    let report = stdout(&out);
    assert!(
        report.contains("2 enabled admins with full access (AccessMode = 0)"),
        "{report}"
    );
    assert_code(&out, 0);
}

#[test]
fn connectors_check_fits_the_fixture() {
    let crm = Crm::new();
    let out = crm.locksmith(&["connectors", "check"]);
    assert_code(&out, 0);
}

#[test]
fn the_endpoint_refuses_text_that_is_not_a_guid_as_sql_server_does() {
    let crm = Crm::new();
    let err = crm
        .endpoint
        .load(&["INSERT INTO SystemUserRoles (SystemUserRoleId, SystemUserId, RoleId) VALUES ('not-a-guid', NEWID(), NEWID())".to_string()])
        .unwrap_err();
    assert!(err.contains("8169"), "{err}");
    crm.endpoint
        .load(&["INSERT INTO SystemUserRoles (SystemUserRoleId, SystemUserId, RoleId) SELECT NEWID(), NEWID(), NEWID() WHERE NOT EXISTS (SELECT 1 FROM SystemUserRoles WHERE RoleId = '00000000-0000-0000-0000-000000000000')".to_string()])
        .expect("NEWID() and INSERT … SELECT … WHERE NOT EXISTS");
    let n = crm.rows("SELECT COUNT(*) FROM SystemUserRoles");
    assert_eq!(n[0][0], "5");
}

#[test]
fn offboarding_sets_is_disabled_and_its_undo_clears_it() {
    let crm = Crm::new();
    let out = crm.locksmith(&["unlock", "CONTOSO\\lilei", "--reason", "t", "--yes"]);
    assert_code(&out, 0);
    let list = crm.dir.path().join("departed.txt");
    std::fs::write(&list, "CONTOSO\\lilei\nCONTOSO\\nobody\n").unwrap();
    let f = list.display().to_string();
    let out = crm.locksmith(&[
        "--json", "offboard", "--from", &f, "--reason", "HR-9", "--yes",
    ]);
    assert_code(&out, 0);
    let doc = json(&out);
    assert_eq!(doc["summary"]["counts"]["would_disable"], 1, "{doc}");
    assert_eq!(doc["summary"]["counts"]["not_found"], 1, "{doc}");
    assert_eq!(doc["result"]["written"], 1, "{doc}");
    let is_disabled = || {
        crm.rows(&format!(
            "SELECT IsDisabled, AccessMode FROM SystemUserBase WHERE upper(SystemUserId) = '{LILEI}'"
        ))
    };
    assert_eq!(is_disabled(), vec![vec!["1".to_string(), "2".to_string()]]);
    let batch = doc["summary"]["batch"].as_str().unwrap().to_string();
    let out = crm.locksmith(&[
        "--json", "offboard", "--undo", &batch, "--reason", "wrong", "--yes",
    ]);
    assert_code(&out, 0);
    assert_eq!(is_disabled(), vec![vec!["0".to_string(), "2".to_string()]]);
}
