//! The real binary driven in tmux: find a user, reset, confirm, read the
//! generated password off the screen, and prove it against the stored value —
//! with the independent oracle, against MariaDB and in the demo's SQLite file.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::oracle::oracle;
use common::{TestDb, Vendor};
use serde_json::json;

static N: AtomicU32 = AtomicU32::new(0);

/// A tmux server of our own (its own socket), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(cmd: &[String], home: &Path) -> Tmux {
        Tmux::start_with(cmd, home, "", (100, 30))
    }

    /// Also writes trace-level diagnostics to `log` (stderr is redirected, so the screen is untouched).
    fn start_logged(cmd: &[String], home: &Path, log: &Path) -> Tmux {
        Tmux::start_with(cmd, home, &format!(" 2>'{}'", log.display()), (100, 30))
    }

    fn start_with(cmd: &[String], home: &Path, redirect: &str, (cols, rows): (u16, u16)) -> Tmux {
        let socket = format!(
            "locksmith-e2e-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let shell = cmd
            .iter()
            .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
            .collect::<Vec<_>>()
            .join(" ");
        let status = Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", &cols.to_string(), "-y", &rows.to_string()])
            .arg(format!(
                "env -u LOCKSMITH_TARGET -u LOCKSMITH_JOURNAL -u LOCKSMITH_DB_PASSWORD -u NO_COLOR {} HOME='{}' TMPDIR='{}' TERM=xterm-256color LANG=C.UTF-8 {shell}{redirect}; sleep 60",
                if redirect.is_empty() { "-u LOCKSMITH_LOG" } else { "LOCKSMITH_LOG=trace" },
                home.display(),
                tmp_dir(home).display()
            ))
            .status()
            .expect("tmux must be installed (scripts/ensure-services installs it)");
        assert!(status.success(), "tmux new-session failed");
        Tmux { socket }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p"])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_for(&self, text: &str) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "timed out waiting for {text:?}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            let st = Command::new("tmux")
                .args(["-L", &self.socket, "send-keys", k])
                .status()
                .expect("send-keys");
            assert!(st.success());
            std::thread::sleep(Duration::from_millis(120));
        }
    }

    fn text(&self, text: &str) {
        let st = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-l", text])
            .status()
            .expect("send-keys");
        assert!(st.success());
        std::thread::sleep(Duration::from_millis(200));
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

/// The 20-character generated password inside the result box.
fn password_on(screen: &str) -> String {
    const ALPHABET: &str = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz!#%+-=?@^_";
    screen
        .lines()
        .map(|l| l.trim_matches(|c: char| c == '│' || c.is_whitespace()))
        .find(|l| l.chars().count() == 20 && l.chars().all(|c| ALPHABET.contains(c)))
        .unwrap_or_else(|| panic!("no password on screen:\n{screen}"))
        .to_string()
}

/// Search, select, reset, confirm; returns the password read off the screen.
/// The console's temporary directory (TMPDIR), where `demo` creates its database.
fn tmp_dir(home: &Path) -> std::path::PathBuf {
    let dir = home.join("tmp");
    std::fs::create_dir_all(&dir).expect("tmp dir");
    dir
}

/// The stored value and salt of a WukongCRM login in the running demo's SQLite file.
fn demo_wukong_row(home: &Path, login: &str) -> (String, String) {
    let demo = std::fs::read_dir(tmp_dir(home))
        .expect("read TMPDIR")
        .flatten()
        .map(|e| e.path().join("demo.sqlite"))
        .find(|p| p.is_file())
        .expect("the demo's database in TMPDIR");
    let c = rusqlite::Connection::open(demo).expect("open the demo database");
    c.query_row(
        "SELECT password, salt FROM wk_admin_user WHERE username = ?1",
        [login],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .expect("the demo row")
}

fn reset_through_the_console(t: &Tmux, search: &str, login: &str) -> String {
    t.wait_for("Search:");
    t.keys(&["/"]); // the table has the focus: `/` to search
    t.text(search);
    t.wait_for(login);
    std::thread::sleep(Duration::from_millis(400));
    t.keys(&["Enter", "r"]);
    t.wait_for("nothing is written yet");
    t.keys(&["Enter"]);
    t.wait_for("Type the login");
    t.text("e2e: console reset");
    t.keys(&["Tab"]);
    t.text(login);
    t.keys(&["Enter"]);
    let screen = t.wait_for("committed and verified");
    password_on(&screen)
}

#[test]
fn console_resets_a_wukong_user_on_mariadb_and_the_oracle_accepts_it() {
    let db = TestDb::new(Vendor::Wukong11);
    let home = tempfile::tempdir().unwrap();
    let trace = home.path().join("trace.log");
    let t = Tmux::start_logged(
        &[
            env!("CARGO_BIN_EXE_locksmith").to_string(),
            "--target".into(),
            db.url(),
            "--journal".into(),
            db.journal().display().to_string(),
            "--lang".into(),
            "en".into(),
        ],
        home.path(),
        &trace,
    );
    let password = reset_through_the_console(&t, "13900000001", "13900000001");
    // Leaving the result screen clears the password from the screen.
    t.keys(&["Escape"]);
    t.wait_for("Search:");
    assert!(!t.screen().contains(&password));
    t.keys(&["q"]);

    let rows = db.rows("SELECT password, salt FROM wk_admin_user WHERE username = '13900000001'");
    assert!(
        common::proof::oracle_accepts(&db, "13900000001", &password),
        "the oracle rejects the value the console wrote"
    );
    let journal = std::fs::read(db.journal()).unwrap();
    assert!(!String::from_utf8_lossy(&journal).contains(&password));
    // The console's trace log shows the statements it ran, and no secret.
    let log = std::fs::read_to_string(&trace).unwrap();
    assert!(
        log.contains("UPDATE `wk_admin_user`"),
        "trace logging was on: {log}"
    );
    for secret in [password.as_str(), rows[0][0].as_str(), rows[0][1].as_str()] {
        assert!(
            !log.contains(secret),
            "the console's trace log holds a secret"
        );
    }
}

#[test]
fn demo_console_resets_and_the_oracle_and_calibrate_accept_the_new_password() {
    let home = tempfile::tempdir().unwrap();
    let t = Tmux::start(
        &[
            env!("CARGO_BIN_EXE_locksmith").to_string(),
            "demo".into(),
            "--lang".into(),
            "en".into(),
        ],
        home.path(),
    );
    t.wait_for("Demo · WukongCRM");
    t.keys(&["Enter"]);
    let password = reset_through_the_console(&t, "1380", "13800000000");
    // The independent oracle on the demo's own file, not Locksmith's calibrate alone.
    let (stored, salt) = demo_wukong_row(home.path(), "13800000000");
    let out = oracle(
        "verify",
        "wukong11",
        json!({ "password": password, "login": "13800000000", "stored": stored, "salt": salt }),
    );
    assert_eq!(out["ok"], true, "oracle: {out}");
    t.keys(&["Escape"]);
    t.wait_for("Rows 1");
    t.keys(&["c"]);
    t.wait_for("Known password");
    t.text(&password);
    t.keys(&["Enter"]);
    t.wait_for("reproduces the stored value");
    // The journal screen shows the intent, the outcome and an intact chain.
    t.keys(&["Escape", "g"]);
    let screen = t.wait_for("Chain intact");
    assert!(screen.contains("committed"), "{screen}");
    // The U8 dataset: unlock works, reset explains that the format is closed.
    t.keys(&["Escape", "Escape"]);
    t.wait_for("Demo · Yonyou U8");
    t.keys(&["Down", "Enter"]);
    t.wait_for("Search:");
    t.keys(&["/"]); // the table has the focus: `/` to search
    t.text("001");
    t.wait_for("陈静");
    std::thread::sleep(Duration::from_millis(400));
    t.keys(&["Enter", "r"]);
    t.wait_for("transplant");
    t.keys(&["u"]);
    t.wait_for("nothing is written yet");
    t.keys(&["Enter"]);
    t.text("e2e unlock");
    t.keys(&["Tab"]);
    t.text("001");
    t.keys(&["Enter"]);
    t.wait_for("committed and verified");
    t.keys(&["q"]);
}

#[test]
fn demo_console_transplants_a_u8_password_and_refuses_the_account_itself() {
    let home = tempfile::tempdir().unwrap();
    let t = Tmux::start(
        &[
            env!("CARGO_BIN_EXE_locksmith").to_string(),
            "demo".into(),
            "--lang".into(),
            "en".into(),
        ],
        home.path(),
    );
    t.wait_for("Demo · Yonyou U8");
    t.keys(&["Down", "Enter"]);
    t.wait_for("Search:");
    t.keys(&["/"]); // the table has the focus: `/` to search
    t.text("zhaomin");
    t.wait_for("赵敏");
    std::thread::sleep(Duration::from_millis(400));
    t.keys(&["Enter", "Enter"]);
    t.wait_for("t/F11 transplant");
    // The account itself as donor: the operation's refusal, on the prompt.
    t.keys(&["t"]);
    t.wait_for("Copy the stored password of which account?");
    t.text("003");
    t.keys(&["Enter"]);
    t.wait_for("The transplant was refused; nothing was written");
    t.wait_for("the donor must be another account");
    // Another donor: the plan, the confirm, the result without a password.
    t.keys(&["BSpace", "BSpace", "BSpace"]);
    t.text("demo");
    t.keys(&["Enter"]);
    t.wait_for("Transplant password: 003");
    t.wait_for("No new password: the stored password value of demo");
    t.keys(&["Enter"]);
    t.wait_for("Type the login");
    t.text("e2e: transplant in the console");
    t.keys(&["Tab"]);
    t.text("003");
    t.keys(&["Enter"]);
    let screen = t.wait_for("now accepts the password of demo");
    assert!(screen.contains("committed and verified"), "{screen}");
    assert!(screen.contains("no new password to show"), "{screen}");
    t.keys(&["Escape"]);
    t.wait_for("Rows 1");
    t.keys(&["g"]);
    let screen = t.wait_for("Chain intact");
    assert!(screen.contains("committed"), "{screen}");
    t.keys(&["q"]);
}

#[test]
fn a_kept_demo_says_where_its_files_are_and_the_cli_reads_them() {
    let home = tempfile::tempdir().unwrap();
    let keep = home.path().join("kept-demo");
    let t = Tmux::start(
        &[
            env!("CARGO_BIN_EXE_locksmith").to_string(),
            "demo".into(),
            "--keep".into(),
            keep.display().to_string(),
            "--lang".into(),
            "en".into(),
        ],
        home.path(),
    );
    t.wait_for("Demo · WukongCRM");
    t.keys(&["q"]);
    let screen = t.wait_for("files are kept in");
    assert!(screen.contains("--connectors-dir"), "{screen}");
    let target = format!("sqlite://{}", keep.join("demo.sqlite").display());
    let connectors = keep.join("connectors").display().to_string();
    let journal = keep.join("journal.sqlite").display().to_string();
    for (connector, query, expected) in [
        ("wukong11", "1380", "13800000000"),
        ("u8-demo", "001", "001"),
    ] {
        let out = common::run_locksmith(
            &[
                "--target",
                &target,
                "--connectors-dir",
                &connectors,
                "--connector",
                connector,
                "--journal",
                &journal,
                "lookup",
                query,
            ],
            None,
        );
        common::assert_code(&out, 0);
        assert!(
            common::stdout(&out).contains(expected),
            "{}",
            common::stdout(&out)
        );
    }
}

/// English prose words that must not appear on a Chinese console. Tokens that
/// are data or code (SQL, JSON, paths, identifiers, schemes) are left out
/// before the check: they hold `/`, `_`, quotes, `:`, `(`, `=` or `.`.
const FORBIDDEN_ENGLISH: &[&str] = &[
    "accounts",
    "account",
    "Account",
    "lives",
    "committed",
    "administrator",
    "admin",
    "intent",
    "outcome",
    "refused",
    "nothing",
    "Nothing",
    "Search",
    "search",
    "Rows",
    "rows",
    "written",
    "Type",
    "journal",
    "Journal",
    "verified",
    "warning",
    "reason",
    "Reason",
    "login",
    "Login",
    "cancel",
    "continue",
    "details",
    "help",
    "Help",
    "quit",
    "more",
    "select",
    "scroll",
    "back",
    "Done",
    "Confirm",
    "Plan",
    "Locked",
    "yes",
    "Unlock",
    "unlock",
    "Reset",
    "reset",
    "update",
    "steps",
    "recover",
    "rolled",
    "report",
    "Chain",
    "intact",
    "entry",
    "kept",
    "shown",
    "once",
];

/// The English prose words of `screen` that are on the forbidden list.
fn english_on(screen: &str) -> Vec<String> {
    // Prose punctuation at a word's end (`Reason:`, `verified.`) is not data.
    let data = |tok: &str| {
        tok.trim_end_matches([':', ',', ';', '.', '!', '?'])
            .chars()
            .any(|c| "/_\"'`:(=.".contains(c))
    };
    screen
        .split(|c: char| c.is_whitespace() || "│┌┐└┘─├┤".contains(c))
        .filter(|tok| !tok.is_empty() && !data(tok))
        .flat_map(|tok| {
            tok.split(|c: char| !c.is_ascii_alphabetic())
                .filter(|w| FORBIDDEN_ENGLISH.contains(w))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn a_chinese_console_resets_at_80x24_without_an_english_word() {
    let home = tempfile::tempdir().unwrap();
    let t = Tmux::start_with(
        &[
            env!("CARGO_BIN_EXE_locksmith").to_string(),
            "demo".into(),
            "--lang".into(),
            "zh".into(),
        ],
        home.path(),
        "",
        (80, 24),
    );
    let mut seen = Vec::new();
    let mut check = |what: &str, screen: String| {
        let words = english_on(&screen);
        assert!(
            words.is_empty(),
            "English on the {what} screen: {words:?}\n{screen}"
        );
        seen.push(what.to_string());
    };
    check("picker", t.wait_for("演示 · 悟空CRM"));
    t.keys(&["?"]);
    check("help", t.wait_for("本界面可用按键"));
    t.keys(&["Space"]);
    t.wait_for("演示 · 悟空CRM");
    t.keys(&["Enter"]);
    check("accounts", t.wait_for("搜索"));
    t.keys(&["/"]);
    t.text("13900000003");
    t.wait_for("李娜");
    std::thread::sleep(Duration::from_millis(400));
    t.keys(&["Enter", "Enter"]);
    check("detail", t.wait_for("账号详情"));
    t.keys(&["End"]);
    check("detail, scrolled to its end", t.screen());
    t.keys(&["r"]);
    check("plan", t.wait_for("尚未写入任何内容"));
    t.keys(&["Enter"]);
    check("confirm", t.wait_for("原因"));
    t.text("e2e: zh 80x24");
    t.keys(&["Enter"]);
    t.text("13900000003");
    t.keys(&["Enter"]);
    let result = t.wait_for("已提交并验证");
    let password = password_on(&result);
    check("result", result);
    let (stored, salt) = demo_wukong_row(home.path(), "13900000003");
    let out = oracle(
        "verify",
        "wukong11",
        json!({ "password": password, "login": "13900000003", "stored": stored, "salt": salt }),
    );
    assert_eq!(out["ok"], true, "oracle: {out}");
    t.keys(&["Escape"]);
    t.wait_for("搜索");
    t.keys(&["g"]);
    check("journal", t.wait_for("哈希链完整"));
    t.keys(&["Enter"]);
    check("journal entry", t.wait_for("日志条目"));
    t.keys(&["Escape", "Escape"]);
    t.wait_for("搜索");
    t.keys(&["x"]);
    check("drill", t.wait_for("已回滚"));
    t.keys(&["End"]);
    check("drill, scrolled to its end", t.wait_for("检查"));
    t.keys(&["q"]);
    assert_eq!(seen.len(), 12, "{seen:?}");
}

#[test]
fn the_english_check_finds_prose_and_spares_data() {
    let english = "│Rows 1–14  more: n / PgDn   the account is committed and verified│";
    assert_eq!(
        english_on(english),
        ["Rows", "more", "account", "committed", "verified"]
    );
    let data = "│UPDATE \"wk_admin_user\" SET \"password\" = ?1 /tmp/x/journal.sqlite  \"verified\": true│";
    assert!(english_on(data).is_empty(), "{:?}", english_on(data));
    assert!(english_on("│重置密码：13900000003 (#14776) — 已提交并验证。│").is_empty());
}
