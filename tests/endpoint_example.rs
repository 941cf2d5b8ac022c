//! The TDS test endpoint started by hand (`examples/tds-endpoint.rs`, issue 13
//! §4): the example binary runs as its own process, loads a fixture with
//! `--load`, prints the URL, and locksmith works against that URL — the
//! in-process endpoint plays no part here.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use common::{assert_code, repo_root, run_locksmith_env, stdout};

/// Builds the example (a no-op when it is fresh: `cargo test --tests` does
/// not build examples itself) in the profile this test was built in.
fn example_binary() -> PathBuf {
    let locksmith = PathBuf::from(env!("CARGO_BIN_EXE_locksmith"));
    let profile_dir = locksmith.parent().expect("target/<profile>").to_path_buf();
    let release = profile_dir.ends_with("release");
    let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
    let mut cmd = Command::new(option_env!("CARGO").unwrap_or("cargo"));
    cmd.args([
        "build",
        "--quiet",
        "--example",
        "tds-endpoint",
        "--target-dir",
    ])
    .arg(&target_dir)
    .current_dir(repo_root());
    if release {
        cmd.arg("--release");
    }
    let status = cmd
        .status()
        .expect("run cargo build --example tds-endpoint");
    assert!(
        status.success(),
        "cargo build --example tds-endpoint failed"
    );
    let exe = profile_dir
        .join("examples")
        .join(format!("tds-endpoint{}", std::env::consts::EXE_SUFFIX));
    assert!(exe.is_file(), "{} was not built", exe.display());
    exe
}

/// The example process; killed (by its own id) when the test ends.
struct Running {
    child: Child,
    url: String,
    password: String,
    /// Kept open so the example's later lines have a reader.
    _stdout: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str]) -> Running {
    let mut child = Command::new(example_binary())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn tds-endpoint");
    let out = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    let url = lines.next().expect("a URL line").expect("read the URL");
    let export = lines.next().expect("a password line").expect("read it");
    let password = export
        .strip_prefix("export LOCKSMITH_DB_PASSWORD=")
        .unwrap_or_else(|| panic!("unexpected second line: {export}"))
        .to_string();
    Running {
        child,
        url,
        password,
        _stdout: lines,
    }
}

#[test]
fn the_endpoint_started_by_hand_serves_the_u8_fixture_to_locksmith() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("u8.sqlite");
    let fixture = repo_root().join("fixtures/u8.sql");
    let ep = start(&[
        "--db",
        db.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--load",
        fixture.to_str().unwrap(),
    ]);
    assert!(
        ep.url.starts_with("mssql://sa@127.0.0.1:") && ep.url.ends_with("/UFSystem?tls=legacy"),
        "{}",
        ep.url
    );
    let journal = dir.path().join("journal.sqlite");
    let args = [
        "--target",
        ep.url.as_str(),
        "--journal",
        journal.to_str().unwrap(),
        "--connector",
        "u8",
        "lookup",
        "张三",
    ];
    let out = run_locksmith_env(&args, None, &[("LOCKSMITH_DB_PASSWORD", &ep.password)]);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("zhangsan"), "{text}");
    assert!(!text.contains("lisi"), "{text}");
    // The data lives in the --db file, which the example keeps.
    let c = rusqlite::Connection::open(&db).unwrap();
    let n: i64 = c
        .query_row("SELECT COUNT(*) FROM UA_User", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 8);
}

#[test]
fn the_endpoint_started_by_hand_with_tls_passes_its_ca_in_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("u8.sqlite");
    let fixture = repo_root().join("fixtures/u8.sql");
    let ep = start(&[
        "--db",
        db.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--tls",
        "--load",
        fixture.to_str().unwrap(),
    ]);
    assert!(ep.url.contains("/UFSystem?ca="), "{}", ep.url);
    let journal = dir.path().join("journal.sqlite");
    let args = [
        "--target",
        ep.url.as_str(),
        "--journal",
        journal.to_str().unwrap(),
        "--connector",
        "u8",
        "--json",
        "lookup",
        "lisi",
    ];
    let out = run_locksmith_env(&args, None, &[("LOCKSMITH_DB_PASSWORD", &ep.password)]);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("lisi"));
}

#[test]
fn a_fixture_the_endpoint_rejects_stops_the_example_with_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.sql");
    std::fs::write(
        &bad,
        "CREATE TABLE t (a int)\nGO\nSELECT a FROM t LIMIT 1\nGO\n",
    )
    .unwrap();
    let out = Command::new(example_binary())
        .args(["--db", dir.path().join("x.sqlite").to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0", "--load", bad.to_str().unwrap()])
        .output()
        .expect("run tds-endpoint");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("batch 2"), "{err}");
}

#[test]
fn the_endpoint_started_by_hand_serves_the_dynamics_fixture_under_its_org_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crm.sqlite");
    let fixture = repo_root().join("fixtures/dynamics-crm.sql");
    let ep = start(&[
        "--db",
        db.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--database",
        "Contoso_MSCRM",
        "--load",
        fixture.to_str().unwrap(),
    ]);
    assert!(ep.url.ends_with("/Contoso_MSCRM?tls=legacy"), "{}", ep.url);
    let journal = dir.path().join("journal.sqlite");
    let args = [
        "--target",
        ep.url.as_str(),
        "--journal",
        journal.to_str().unwrap(),
        "--connector",
        "dynamics-crm",
        "lookup",
        "李雷",
    ];
    let out = run_locksmith_env(&args, None, &[("LOCKSMITH_DB_PASSWORD", &ep.password)]);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("CONTOSO\\lilei"), "{}", stdout(&out));
}
