//! `locksmith fleet check|status|drill` against real targets: MariaDB
//! databases loaded from the vendors' install SQL, a PostgreSQL Odoo, a
//! closed port (dead) and a listener that accepts and never answers (slow).
//! The fleet's per-target results are compared with the single commands'
//! on the same targets; passwords come from password_env / password_file;
//! the metrics files are checked by `promtool check metrics`.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::pg::PgTestDb;
use common::{TestDb, Vendor, assert_code, json, run_locksmith_env, stderr, stdout};
use serde_json::Value;

/// A port nothing listens on.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A port that accepts connections and never says a word (a hung server).
fn silent_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
            if let Some(s) = held.last_mut() {
                let _ = s.set_read_timeout(Some(Duration::from_millis(10)));
                let _ = s.read(&mut [0u8; 64]);
            }
        }
    });
    port
}

/// A MariaDB login with a password, allowed on `db` only; dropped with the guard.
struct DbUser {
    name: String,
    password: String,
}

impl DbUser {
    fn new(db: &TestDb) -> DbUser {
        let name = format!("lsf{}_{}", std::process::id(), rand_suffix());
        let password = format!("Fl33t-{}-pw", rand_suffix());
        for host in ["%", "localhost", "127.0.0.1"] {
            db.exec(&format!(
                "CREATE USER '{name}'@'{host}' IDENTIFIED BY '{password}'; GRANT ALL ON `{}`.* TO '{name}'@'{host}'",
                db.name
            ));
        }
        DbUser { name, password }
    }
}

impl Drop for DbUser {
    fn drop(&mut self) {
        for host in ["%", "localhost", "127.0.0.1"] {
            let _ = common::client(None)
                .args([
                    "-e",
                    &format!("DROP USER IF EXISTS '{}'@'{host}'", self.name),
                ])
                .output();
        }
    }
}

fn rand_suffix() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    nanos % 100_000 + N.fetch_add(1, Ordering::SeqCst)
}

/// One `[[profile]]` table.
fn profile(name: &str, site: &str, target: &str, connector: &str, extra: &str) -> String {
    format!(
        "[[profile]]\nname = \"{name}\"\nsite = \"{site}\"\ntarget = \"{target}\"\nconnector = \"{connector}\"\n{extra}\n"
    )
}

fn mysql_url(db: &TestDb) -> String {
    db.url()
}

/// `locksmith --json --journal J fleet ARGS --profiles FILE`.
fn fleet(dir: &Path, profiles: &str, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let file = dir.join("profiles.toml");
    std::fs::write(&file, profiles).unwrap();
    let journal = dir.join("journal.sqlite");
    let mut full: Vec<String> = vec![
        "--journal".into(),
        journal.display().to_string(),
        "fleet".into(),
    ];
    full.extend(args.iter().map(|s| s.to_string()));
    full.extend(["--profiles".into(), file.display().to_string()]);
    run_locksmith_env(&full, None, env)
}

fn entry<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .find(|t| t["profile"] == name)
        .unwrap_or_else(|| panic!("no entry for {name}: {doc}"))
}

/// `promtool check metrics` on a file: it must be installed (scripts/ensure-services).
fn promtool_ok(path: &Path) {
    let text = std::fs::read(path).unwrap();
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool must be installed: scripts/ensure-services installs Debian's prometheus");
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&text).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed on {}:\n{}{}\n--- file ---\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&text)
    );
}

/// The failing checks of a single `check --json` on the same target.
fn single_check_failing(db: &TestDb) -> (i32, Vec<String>) {
    let mut args = db.vendor.args();
    args.extend(["--json", "check"]);
    let out = db.locksmith(&args, None);
    let doc = json(&out);
    let failing = doc["posture"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["level"] == "fail")
        .map(|f| f["check"].as_str().unwrap().to_string())
        .collect();
    (out.status.code().unwrap(), failing)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// Several real targets, a dead one and a hung one: each has its own row
/// with what the single command says; the hung one times out on its own
/// while the others finish long before; the exit code is the highest.
#[test]
fn fleet_check_runs_every_target_and_the_dead_ones_do_not_stall_the_rest() {
    let wukong = TestDb::new(Vendor::Wukong11);
    let ruoyi = TestDb::new(Vendor::RuoYi);
    let odoo = PgTestDb::new("odoo");
    let dir = tempfile::tempdir().unwrap();
    let dead = format!("mysql://root@127.0.0.1:{}/crm?tls=disabled", closed_port());
    let hung = format!("mysql://root@127.0.0.1:{}/crm?tls=disabled", silent_port());
    let profiles = [
        profile(
            "wukong",
            "北京",
            &mysql_url(&wukong),
            "wukong11",
            "tags = [\"prod\", \"north\"]",
        ),
        profile(
            "ruoyi",
            "上海",
            &mysql_url(&ruoyi),
            "ruoyi",
            "tags = [\"prod\"]",
        ),
        profile(
            "odoo",
            "广州",
            &odoo.url(),
            "odoo",
            "tags = [\"prod\", \"south\"]",
        ),
        profile("dead", "深圳", &dead, "ruoyi", "tags = [\"lab\"]"),
        profile("hung", "成都", &hung, "ruoyi", "tags = [\"lab\"]"),
    ]
    .concat();
    let prom = dir.path().join("fleet.prom");
    let prom_s = prom.display().to_string();
    let started = Instant::now();
    let out = fleet(
        dir.path(),
        &profiles,
        &[
            "check",
            "--parallel",
            "5",
            "--timeout",
            "8",
            "--json",
            "--prom-file",
            &prom_s,
        ],
        &[],
    );
    let wall = started.elapsed();
    let doc = json(&out);
    assert_eq!(doc["targets"].as_array().unwrap().len(), 5, "{doc}");
    assert_eq!(doc["command"], "check");

    // The reached targets say what the single command says.
    for (name, db) in [("wukong", &wukong), ("ruoyi", &ruoyi)] {
        let e = entry(&doc, name);
        let (code, failing) = single_check_failing(db);
        assert_eq!(e["exit_code"], code, "{name}: {e}");
        assert_eq!(strings(&e["failing"]), failing, "{name}");
        assert_eq!(
            e["result"],
            if code == 0 { "ok" } else { "failed" },
            "{name}"
        );
        assert_eq!(e["connector"], db.vendor.connector());
        assert!(e["posture"]["findings"].is_array(), "{e}");
        assert!(e["warnings"].is_array(), "{e}");
        assert!(!e["target"].as_str().unwrap().contains("root"), "{e}");
    }
    let o = entry(&doc, "odoo");
    assert!(o["result"] == "ok" || o["result"] == "failed", "{o}");
    assert_eq!(o["site"], "广州");
    assert_eq!(strings(&o["tags"]), ["prod", "south"]);

    let d = entry(&doc, "dead");
    assert_eq!(d["result"], "error", "{d}");
    assert_eq!(d["exit_code"], 3, "{d}");
    assert!(d["error"].as_str().unwrap().contains("127.0.0.1"), "{d}");
    let h = entry(&doc, "hung");
    assert_eq!(h["result"], "timeout", "{h}");
    assert_eq!(h["exit_code"], 3, "{h}");
    let hung_secs = h["seconds"].as_f64().unwrap();
    assert!(
        (8.0..11.0).contains(&hung_secs),
        "the hung target took {hung_secs} s"
    );
    // The others did not wait for the hung one (Odoo's pbkdf2 at 600,000 rounds
    // is CPU time of its own: it only has to finish, which it did above).
    for name in ["wukong", "ruoyi", "dead"] {
        let s = entry(&doc, name)["seconds"].as_f64().unwrap();
        assert!(s < 8.0, "{name} took {s} s: it waited for the hung target");
    }
    assert!(wall < Duration::from_secs(20), "the fleet took {wall:?}");

    // The exit code is the highest of the targets'.
    let highest = doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["exit_code"].as_i64().unwrap())
        .max()
        .unwrap();
    assert_eq!(doc["exit_code"], highest);
    assert_code(&out, highest as i32);
    // No terminal: no progress line.
    assert!(!stderr(&out).contains("done"), "{}", stderr(&out));

    // Metrics: valid, labelled, one up per target, no userinfo anywhere.
    promtool_ok(&prom);
    let text = std::fs::read_to_string(&prom).unwrap();
    let ups = text
        .lines()
        .filter(|l| l.starts_with("locksmith_check_up{"))
        .count();
    assert_eq!(ups, 5, "{text}");
    assert!(text.contains("site=\"深圳\""), "{text}");
    assert!(
        text.contains("locksmith_check_up{site=\"深圳\",target=\"127.0.0.1:"),
        "{text}"
    );
    assert!(!text.contains("root@") && !text.contains("root"), "{text}");
    assert!(text.contains("locksmith_enabled_admins{"), "{text}");
    assert!(text.contains("locksmith_check_result{"), "{text}");
    assert!(text.contains("# TYPE locksmith_check_last_run_timestamp_seconds gauge"));
    let leftovers: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // --tag narrows: every tag given must be carried.
    let out = fleet(
        dir.path(),
        &profiles,
        &["check", "--tag", "prod", "--tag", "north", "--json"],
        &[],
    );
    let doc = json(&out);
    let names: Vec<&str> = doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["profile"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["wukong"]);
    let out = fleet(dir.path(), &profiles, &["check", "--tag", "nowhere"], &[]);
    assert_code(&out, 2);

    // The table in Chinese fits 80 columns.
    let out = fleet(
        dir.path(),
        &profiles,
        &["check", "--tag", "lab", "--timeout", "1", "--lang", "zh"],
        &[],
    );
    assert_code(&out, 3);
    let text = stdout(&out);
    assert!(text.contains("站点") && text.contains("超时"), "{text}");
    for l in text.lines().take(3) {
        assert!(unicode_width::UnicodeWidthStr::width(l) <= 80, "{l}");
    }
}

/// The DB password comes from the variable the profile names, or from a
/// file only its owner can read; a 0644 file is refused naming its mode,
/// without stopping the other targets; no password reaches the output.
#[test]
fn passwords_come_from_password_env_or_a_private_password_file() {
    let db = TestDb::new(Vendor::Wukong11);
    let user = DbUser::new(&db);
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "mysql://{}@{}:{}/{}",
        user.name,
        common::mysql_host(),
        common::mysql_port(),
        db.name
    );
    let open_file = dir.path().join("open.pass");
    let private_file = dir.path().join("private.pass");
    for f in [&open_file, &private_file] {
        std::fs::write(f, format!("{}\n", user.password)).unwrap();
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&open_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&private_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let profiles = [
        profile(
            "by-env",
            "bj",
            &url,
            "wukong11",
            "password_env = \"CRM_BJ_PASS\"",
        ),
        profile(
            "by-file",
            "sh",
            &url,
            "wukong11",
            &format!("password_file = \"{}\"", private_file.display()),
        ),
        profile(
            "open-file",
            "gz",
            &url,
            "wukong11",
            &format!("password_file = \"{}\"", open_file.display()),
        ),
        profile("no-password", "sz", &url, "wukong11", ""),
    ]
    .concat();
    let out = fleet(
        dir.path(),
        &profiles,
        &["check", "--json", "--timeout", "20"],
        &[("CRM_BJ_PASS", &user.password)],
    );
    let doc = json(&out);
    for name in ["by-env", "by-file"] {
        let e = entry(&doc, name);
        assert!(
            e["result"] == "ok" || e["result"] == "failed",
            "{name}: {e}"
        );
        assert!(e["posture"].is_object(), "{e}");
    }
    let e = entry(&doc, "open-file");
    assert_eq!(e["result"], "error");
    assert_eq!(e["exit_code"], 2);
    let why = e["error"].as_str().unwrap();
    assert!(why.contains("0644") && why.contains("chmod 600"), "{why}");
    // Without a password the server says no: unreachable for this run (3).
    let e = entry(&doc, "no-password");
    assert_eq!(e["result"], "error", "{e}");
    assert_eq!(e["exit_code"], 3, "{e}");
    assert!(!stdout(&out).contains(&user.password) && !stderr(&out).contains(&user.password));

    // The variable unset: that profile is refused and names it.
    let out = fleet(dir.path(), &profiles, &["check", "--json"], &[]);
    let doc = json(&out);
    let e = entry(&doc, "by-env");
    assert_eq!(e["exit_code"], 2, "{e}");
    assert!(e["error"].as_str().unwrap().contains("CRM_BJ_PASS"), "{e}");
    assert!(entry(&doc, "by-file")["posture"].is_object());
}

/// `fleet status` reads each target's place in the journal: a restore-admin
/// opens a break-glass entry on one target only; `fleet drill` writes one
/// report per target plus an index and journals each drill; afterwards the
/// status metrics show that target's drill.
#[test]
fn fleet_drill_reports_per_target_and_fleet_status_sees_each_place() {
    let wukong = TestDb::new(Vendor::Wukong11);
    let wukong2 = TestDb::new(Vendor::Wukong11);
    let ruoyi = TestDb::new(Vendor::RuoYi);
    // A MyISAM user table cannot roll back: its drill is refused (as `locksmith drill` refuses it).
    ruoyi.exec("ALTER TABLE sys_user ENGINE = MyISAM");
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.sqlite");
    let profiles = [
        profile("wukong", "bj", &mysql_url(&wukong), "wukong11", ""),
        profile("ruoyi", "sh", &mysql_url(&ruoyi), "ruoyi", ""),
        profile("wukong 2", "gz", &mysql_url(&wukong2), "wukong11", ""),
    ]
    .concat();
    // A break-glass entry on ruoyi, made with the same journal.
    let out = common::run_locksmith(
        &[
            "--target",
            &mysql_url(&ruoyi),
            "--journal",
            &journal.display().to_string(),
            "--connector",
            "ruoyi",
            "restore-admin",
            "--reason",
            "INC-16 fleet",
            "--yes",
        ],
        None,
    );
    assert_code(&out, 0);

    let reports = dir.path().join("drills");
    let reports_s = reports.display().to_string();
    let out = fleet(
        dir.path(),
        &profiles,
        &["drill", "--json", "--report-dir", &reports_s],
        &[],
    );
    let doc = json(&out);
    let w = entry(&doc, "wukong");
    assert_eq!(w["result"], "ok", "{w}");
    let report = PathBuf::from(w["drill"]["report"].as_str().unwrap());
    assert!(report.starts_with(&reports), "{report:?}");
    let body = std::fs::read_to_string(&report).unwrap();
    assert!(
        body.contains("# Locksmith drill report") && body.contains("rolled back"),
        "{body}"
    );
    // RuoYi's tables are MyISAM: a drill there is refused, as `locksmith drill` refuses it.
    let r = entry(&doc, "ruoyi");
    assert_eq!(r["result"], "error", "{r}");
    assert_eq!(r["exit_code"], 5, "{r}");
    assert!(r["error"].as_str().unwrap().contains("--on-copy"), "{r}");
    assert_code(&out, 5);
    let index = std::fs::read_to_string(reports.join("index.md")).unwrap();
    assert!(
        index.contains("wukong") && index.contains("ruoyi") && index.contains("01-wukong.md"),
        "{index}"
    );
    assert!(index.contains("03-wukong-2.md"), "{index}");
    assert!(reports.join("03-wukong-2.md").is_file());
    // Two drills ran at once on one journal: both journaled, the chain intact.
    let drills = common::journal_rows(
        &journal,
        "SELECT count(*) FROM entries WHERE kind = 'drill'",
    );
    assert_eq!(drills[0][0], "2", "two drills journaled");
    let journal_s = journal.display().to_string();
    let verify = common::run_locksmith(&["--journal", &journal_s, "audit", "verify"], None);
    assert_code(&verify, 0);

    let prom = dir.path().join("status.prom");
    let prom_s = prom.display().to_string();
    let out = fleet(
        dir.path(),
        &profiles,
        &["status", "--json", "--prom-file", &prom_s],
        &[],
    );
    assert_code(&out, 0);
    let doc = json(&out);
    assert_eq!(entry(&doc, "ruoyi")["status"]["open"], 1, "{doc}");
    assert_eq!(entry(&doc, "wukong")["status"]["open"], 0, "{doc}");
    assert!(entry(&doc, "wukong")["status"]["last_drill_age_seconds"].is_number());
    assert!(entry(&doc, "ruoyi")["status"]["last_drill_age_seconds"].is_null());
    promtool_ok(&prom);
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(
        text.contains("locksmith_break_glass_open{site=\"sh\""),
        "{text}"
    );
    assert!(
        text.lines().any(
            |l| l.starts_with("locksmith_drill_last_success_age_seconds{site=\"sh\"")
                && l.ends_with(" +Inf")
        ),
        "{text}"
    );

    // Overdue with --max-open-hours 0: exit 8, and the single `status --prom-file` agrees.
    let out = fleet(
        dir.path(),
        &profiles,
        &["status", "--json", "--max-open-hours", "0"],
        &[],
    );
    assert_code(&out, 8);
    assert_eq!(
        strings(&entry(&json(&out), "ruoyi")["failing"]),
        ["break_glass_overdue"]
    );
    let single = dir.path().join("single.prom");
    let out = common::run_locksmith(
        &[
            "--journal",
            &journal.display().to_string(),
            "status",
            "--prom-file",
            &single.display().to_string(),
        ],
        None,
    );
    assert_code(&out, 0);
    promtool_ok(&single);
    let text = std::fs::read_to_string(&single).unwrap();
    assert!(
        text.contains("locksmith_break_glass_open{site=\"\",target="),
        "{text}"
    );
    assert!(
        text.contains("locksmith_status_last_run_timestamp_seconds "),
        "{text}"
    );
}

/// `check --prom-file`: the single command's metrics, valid, with the
/// target's labels; a target that cannot be reached still writes up 0.
#[test]
fn single_check_writes_valid_metrics_and_up_0_when_unreachable() {
    let db = TestDb::new(Vendor::Wukong11);
    let prom = db.dir.path().join("check.prom");
    let prom_s = prom.display().to_string();
    let out = db.locksmith(
        &["--connector", "wukong11", "check", "--prom-file", &prom_s],
        None,
    );
    let code = out.status.code().unwrap();
    assert!(code == 0 || code == 8, "{}", stderr(&out));
    promtool_ok(&prom);
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(
        text.contains(&format!(
            "locksmith_check_up{{site=\"\",target=\"{}:{}/{}\",connector=\"wukong11\"}} 1",
            common::mysql_host(),
            common::mysql_port(),
            db.name
        )),
        "{text}"
    );
    assert!(
        text.contains("locksmith_check_result{") && text.contains("check=\"admins\""),
        "{text}"
    );

    let dead = format!(
        "mysql://root:hunter2@127.0.0.1:{}/crm?tls=disabled",
        closed_port()
    );
    let out = common::run_locksmith(
        &[
            "--target",
            &dead,
            "--connector",
            "ruoyi",
            "check",
            "--prom-file",
            &prom_s,
        ],
        None,
    );
    assert_code(&out, 3);
    promtool_ok(&prom);
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(text.contains("connector=\"ruoyi\"} 0"), "{text}");
    assert!(
        !text.contains("hunter2") && !text.contains("root"),
        "{text}"
    );
}

/// With one work slot, two hung hosts first in the inventory do not hold it:
/// they wait out their timeout while connecting, beside the work on the
/// reachable target (serialised, the run would take two timeouts).
#[test]
fn hung_hosts_wait_beside_the_work_not_in_a_slot() {
    let db = TestDb::new(Vendor::Wukong11);
    let dir = tempfile::tempdir().unwrap();
    let hung = format!("mysql://root@127.0.0.1:{}/crm?tls=disabled", silent_port());
    let profiles = [
        profile("hung-1", "a", &hung, "wukong11", ""),
        profile("hung-2", "b", &hung, "wukong11", ""),
        profile("wukong", "c", &mysql_url(&db), "wukong11", ""),
    ]
    .concat();
    let started = Instant::now();
    let out = fleet(
        dir.path(),
        &profiles,
        &["check", "--parallel", "1", "--timeout", "5", "--json"],
        &[],
    );
    let wall = started.elapsed();
    let doc = json(&out);
    assert_eq!(entry(&doc, "hung-1")["result"], "timeout");
    assert_eq!(entry(&doc, "hung-2")["result"], "timeout");
    let w = entry(&doc, "wukong");
    assert!(w["result"] == "ok" || w["result"] == "failed", "{w}");
    assert!(
        wall < Duration::from_secs(9),
        "two timeouts in a row: {wall:?}"
    );
    assert_eq!(doc["parallel"], 1);
}

/// On a terminal (a pty from util-linux `script`) the progress line counts
/// done/total and the failing targets; the same run without one prints none
/// (checked in the first test).
#[test]
fn a_terminal_gets_the_progress_line() {
    let dir = tempfile::tempdir().unwrap();
    let dead = format!("mysql://root@127.0.0.1:{}/crm?tls=disabled", closed_port());
    let profiles = [
        profile("dead-1", "a", &dead, "ruoyi", ""),
        profile("dead-2", "b", &dead, "ruoyi", ""),
    ]
    .concat();
    let file = dir.path().join("profiles.toml");
    std::fs::write(&file, profiles).unwrap();
    let command = format!(
        "{} --lang en --journal {} fleet check --profiles {}",
        env!("CARGO_BIN_EXE_locksmith"),
        dir.path().join("j.sqlite").display(),
        file.display()
    );
    let out = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env_remove("LOCKSMITH_TARGET")
        .env_remove("LOCKSMITH_JOURNAL")
        .env("HOME", dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script (util-linux bsdutils) runs the command on a pty");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("fleet check: 2/2 done, 2 failing so far"),
        "{text}"
    );
    assert!(
        text.contains("2 target(s): 0 ok, 0 failed, 2 error"),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(3), "{text}");
}
