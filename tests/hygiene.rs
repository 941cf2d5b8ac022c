//! Secret hygiene, least privilege and hostile input, through the real binary.

mod common;

use common::{
    TestDb, Vendor, assert_code, connector_reset, json, line, run_locksmith_env, stderr, stdout,
};

/// Runs the binary against `url` with the test database's journal.
struct Runner<'a> {
    db: &'a TestDb,
    url: &'a str,
}

impl Runner<'_> {
    fn run(
        &self,
        args: &[&str],
        stdin: Option<&str>,
        env: &[(&str, &str)],
    ) -> std::process::Output {
        let journal = self.db.journal();
        let mut full = vec!["--target", self.url, "--journal", journal.to_str().unwrap()];
        full.extend_from_slice(args);
        run_locksmith_env(&full, stdin, env)
    }
}

#[test]
fn no_secret_reaches_the_journal_logs_or_error_text() {
    let db = TestDb::new(Vendor::RuoYi);
    let db_user = format!("canary_{}", std::process::id());
    let db_password = "DbCanary-7f3a9c1e";
    db.exec(&format!(
        "CREATE USER '{db_user}'@'%' IDENTIFIED BY '{db_password}'"
    ));
    db.exec(&format!(
        "GRANT ALL PRIVILEGES ON `{}`.* TO '{db_user}'@'%'",
        db.name
    ));
    let url = format!("mysql://{db_user}@{}/{}", db.upstream(), db.name);
    let runner = Runner { db: &db, url: &url };
    let run =
        |args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]| runner.run(args, stdin, env);
    let env = [
        ("LOCKSMITH_DB_PASSWORD", db_password),
        ("LOCKSMITH_LOG", "trace"),
    ];
    let new_password = "PwCanary-5b8e2d41!";
    let mut outputs = Vec::new();

    // Every path that takes a password or touches a stored value, succeeding and failing.
    let ok = run(
        &connector_reset("ruoyi", "zhangsan", "canary", &["--unlock"]),
        Some(&line(new_password)),
        &env,
    );
    assert_code(&ok, 0);
    outputs.push(ok);
    let stored_after = db.one("SELECT password FROM sys_user WHERE user_id = 100");
    let salt_after = db.one("SELECT salt FROM sys_user WHERE user_id = 100");
    for (args, stdin, code) in [
        (
            connector_reset("ruoyi", "legacy", "canary", &[]),
            Some(line(new_password)),
            5,
        ),
        (
            connector_reset("ruoyi", "nobody", "canary", &[]),
            Some(line(new_password)),
            4,
        ),
        (
            vec!["--connector", "ruoyi", "calibrate", "zhangsan"],
            Some(format!("{new_password}x\n")),
            8,
        ),
        (
            vec!["--connector", "ruoyi", "calibrate", "zhangsan"],
            Some(line(new_password)),
            0,
        ),
        (
            connector_reset("ruoyi", "admin", "canary", &[]),
            Some("\n".to_string()),
            2,
        ),
        (
            vec![
                "--connector",
                "ruoyi",
                "unlock",
                "lisi",
                "--reason",
                "canary",
                "--yes",
            ],
            None,
            0,
        ),
        (
            vec![
                "--connector",
                "ruoyi",
                "reset",
                "zhangsan",
                "--reason",
                "canary",
                "--dry-run",
            ],
            None,
            0,
        ),
        (vec!["audit", "export"], None, 0),
        (vec!["--json", "audit", "list"], None, 0),
    ] {
        let out = run(&args, stdin.as_deref(), &env);
        assert_code(&out, code);
        outputs.push(out);
    }
    // A wrong DB password: the error must not echo it.
    let wrong = run(
        &["--connector", "ruoyi", "lookup"],
        None,
        &[
            ("LOCKSMITH_DB_PASSWORD", "WrongCanary-0d9e"),
            ("LOCKSMITH_LOG", "trace"),
        ],
    );
    assert_code(&wrong, 3);
    assert!(
        stderr(&wrong).contains("access denied"),
        "{}",
        stderr(&wrong)
    );
    outputs.push(wrong);
    // A generated password is shown once on stdout, and nowhere else.
    let generated = run(
        &[
            "--connector",
            "ruoyi",
            "--json",
            "reset",
            "ry",
            "--reason",
            "canary",
            "--yes",
        ],
        None,
        &env,
    );
    assert_code(&generated, 0);
    let temp = json(&generated)["temporary_password"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(stderr(&generated).len() > 100, "trace logging was on");

    // Break-glass restore and a drill: their generated passwords never leave stdout.
    let restored = run(
        &[
            "--connector",
            "ruoyi",
            "--json",
            "restore-admin",
            "--reason",
            "canary",
            "--yes",
        ],
        None,
        &env,
    );
    assert_code(&restored, 0);
    let restored_pw = json(&restored)["temporary_password"]
        .as_str()
        .unwrap()
        .to_string();
    let drill = run(&["--connector", "ruoyi", "drill"], None, &env);
    assert_code(&drill, 0);
    outputs.push(drill);

    let journal_bytes = String::from_utf8_lossy(&std::fs::read(db.journal()).unwrap()).into_owned();
    let mut haystacks: Vec<(String, String)> = vec![("journal file".into(), journal_bytes)];
    for (i, o) in outputs.iter().enumerate() {
        haystacks.push((format!("stdout #{i}"), stdout(o)));
        haystacks.push((format!("stderr #{i}"), stderr(o)));
    }
    haystacks.push(("stderr of the generated reset".into(), stderr(&generated)));
    haystacks.push(("stderr of restore-admin".into(), stderr(&restored)));
    for (name, text) in &haystacks {
        for secret in [
            new_password,
            db_password,
            "WrongCanary-0d9e",
            stored_after.as_str(),
            salt_after.as_str(),
            temp.as_str(),
            restored_pw.as_str(),
            "29c67a30398638269fe600f73a054934",
        ] {
            assert!(!text.contains(secret), "{name} contains a secret");
        }
    }
    db.exec(&format!("DROP USER '{db_user}'@'%'"));
}

#[test]
fn a_read_only_login_looks_up_and_is_told_why_it_cannot_write() {
    let db = TestDb::new(Vendor::RuoYi);
    let user = format!("ro_{}", std::process::id());
    db.exec(&format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'ro-pass'"));
    db.exec(&format!("GRANT SELECT ON `{}`.* TO '{user}'@'%'", db.name));
    let url = format!("mysql://{user}@{}/{}", db.upstream(), db.name);
    let runner = Runner { db: &db, url: &url };
    let run =
        |args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]| runner.run(args, stdin, env);
    let env = [("LOCKSMITH_DB_PASSWORD", "ro-pass")];
    let out = run(&["--connector", "ruoyi", "lookup", "张三"], None, &env);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("zhangsan"));
    assert!(!stderr(&out).contains("error"), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("no UPDATE privilege"),
        "warned at connect: {}",
        stdout(&out)
    );
    let before = db.untouched("sys_user", "user_id", "100");
    let out = run(
        &connector_reset("ruoyi", "zhangsan", "t", &[]),
        Some(&line("Ro#2026-password")),
        &env,
    );
    // Refused before planning finished: not even an intent was journaled.
    db.assert_refused(&out, &before);
    assert!(
        stderr(&out).contains("may not UPDATE password, salt"),
        "{}",
        stderr(&out)
    );
    db.exec(&format!("DROP USER '{user}'@'%'"));
}

#[test]
fn the_readme_grants_are_enough_for_ruoyi() {
    let db = TestDb::new(Vendor::RuoYi);
    let user = format!("lp_{}", std::process::id());
    db.exec(&format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'lp-pass'"));
    // Exactly the README's ruoyi GRANTs, with this test's database name.
    for grant in [
        "GRANT SELECT ON {DB}.sys_user TO {U}",
        "GRANT SELECT ON {DB}.sys_user_role TO {U}",
        "GRANT UPDATE (password, salt, pwd_update_date, status) ON {DB}.sys_user TO {U}",
    ] {
        db.exec(
            &grant
                .replace("{DB}", &format!("`{}`", db.name))
                .replace("{U}", &format!("'{user}'@'%'")),
        );
    }
    let url = format!("mysql://{user}@{}/{}", db.upstream(), db.name);
    let runner = Runner { db: &db, url: &url };
    let run =
        |args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]| runner.run(args, stdin, env);
    let env = [("LOCKSMITH_DB_PASSWORD", "lp-pass")];
    assert_code(
        &run(&["--connector", "ruoyi", "lookup", "--admins"], None, &env),
        0,
    );
    let out = run(
        &connector_reset("ruoyi", "lisi", "t", &["--unlock"]),
        Some(&line("Lp#2026-password")),
        &env,
    );
    assert_code(&out, 0);
    // Proved by the independent oracle, not by Locksmith's own calibrate.
    assert!(common::proof::oracle_accepts(
        &db,
        "lisi",
        "Lp#2026-password"
    ));
    assert!(!common::proof::oracle_accepts(
        &db,
        "lisi",
        "Lp#2026-passwort"
    ));
    db.exec(&format!("DROP USER '{user}'@'%'"));
}

#[test]
fn hostile_search_terms_never_change_the_statement_and_match_literally() {
    let db = TestDb::new(Vendor::RuoYi);
    let long = "x".repeat(256);
    let terms = [
        "a",
        "' OR 1=1 -- ",
        "%",
        "_",
        "\\",
        "\\%",
        "张三",
        "\"; DROP TABLE sys_user; --",
        "\u{202e}gnp",
        long.as_str(),
        "`",
        "!",
    ];
    let mut shapes = std::collections::BTreeSet::new();
    for term in terms {
        let out = run_locksmith_env(
            &[
                "--target",
                &db.url(),
                "--connector",
                "ruoyi",
                "--json",
                "lookup",
                term,
            ],
            None,
            &[("LOCKSMITH_LOG", "trace")],
        );
        assert_code(&out, 0);
        let trace = stderr(&out);
        let lookup_sql: Vec<&str> = trace
            .lines()
            .filter(|l| l.contains("query") && l.contains("LIKE"))
            .collect();
        // The indexed head (login/phone prefixes), then the scan that fills
        // the page: the fixture's few matches never fill the head's page.
        assert_eq!(lookup_sql.len(), 2, "{trace}");
        let statements: Vec<&str> = lookup_sql
            .iter()
            .map(|l| l.split("sql=").nth(1).unwrap_or_default())
            .collect();
        shapes.insert(statements.join("\n"));
        for a in json(&out)["accounts"].as_array().unwrap() {
            let fields = ["login", "display", "email", "phone"]
                .map(|f| a[f].as_str().unwrap_or_default().to_lowercase());
            assert!(
                fields.iter().any(|f| f.contains(&term.to_lowercase())),
                "{term:?} matched {a}"
            );
        }
    }
    assert_eq!(
        shapes.len(),
        1,
        "the statement's shape changed with the input: {shapes:?}"
    );
    assert_eq!(
        db.one("SELECT COUNT(*) FROM sys_user WHERE user_id = 1"),
        "1"
    );
    for account in ["' OR '1'='1", "admin' --", "#1 OR 1=1", "%", "_dmin"] {
        let out = run_locksmith_env(
            &[
                "--target",
                &db.url(),
                "--connector",
                "ruoyi",
                "show",
                account,
            ],
            None,
            &[],
        );
        assert_code(&out, 4);
    }
}

#[test]
fn a_malformed_connector_file_names_file_line_and_key() {
    let config = tempfile::tempdir().unwrap();
    let dir = config.path().join("locksmith/connectors");
    std::fs::create_dir_all(&dir).unwrap();
    let xdg = config.path().to_str().unwrap();
    std::fs::write(
        dir.join("broken.toml"),
        "name = \"broken\"\ntitle = \"x\"\nengines = [\"mysql\"\n",
    )
    .unwrap();
    let out = run_locksmith_env(&["connectors", "list"], None, &[("XDG_CONFIG_HOME", xdg)]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("broken.toml") && err.contains("line "),
        "{err}"
    );

    let good = common::repo_root().join("connectors/ruoyi.toml");
    let text = std::fs::read_to_string(good)
        .unwrap()
        .replace("name = \"ruoyi\"", "name = \"ruoyi-local\"")
        .replace("login = \"login_name\"", "login = \"login name\"");
    std::fs::write(dir.join("broken.toml"), text).unwrap();
    let out = run_locksmith_env(&["connectors", "list"], None, &[("XDG_CONFIG_HOME", xdg)]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("broken.toml") && err.contains("columns.login"),
        "{err}"
    );
}
