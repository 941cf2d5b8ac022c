//! Read-only sessions (`--read-only`, `?read-only=true`, a profile's
//! `read_only = true`): reads work, every write and drill is refused before
//! any journal entry (exit 5), the database session itself refuses a write
//! issued directly on it, and the console neither shows nor obeys write keys.

// clippy.toml's disallowed methods guard the console reducer; a test does I/O.
#![allow(clippy::disallowed_methods)]

mod common;

use common::pg::PgTestDb;
use common::tui::{accounts, conn, key};
use common::{TestDb, Vendor, assert_code, stderr, stdout};
use locksmith::backend::{self, Target};
use locksmith::tui::i18n::Lang;
use locksmith::tui::state::{Effect, Screen, reduce};
use locksmith::tui::view;
use ratatui::crossterm::event::KeyCode;

fn journal_entries(db: &TestDb) -> usize {
    if !db.journal().exists() {
        return 0;
    }
    let out = db.locksmith(&["--json", "audit", "list"], None);
    assert_code(&out, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    v["entries"].as_array().map_or(0, Vec::len)
}

#[test]
fn cli_reads_work_and_every_write_is_refused_before_the_journal() {
    let db = TestDb::new(Vendor::RuoYi);
    let before = db.row_image("sys_user", "login_name", "admin");

    let out = db.locksmith(&["--read-only", "lookup", "admin"], None);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("admin"));
    let out = db.locksmith(&["--read-only", "show", "admin"], None);
    assert_code(&out, 0);

    let writes: [&[&str]; 5] = [
        &["reset", "admin", "--reason", "INC-1", "--yes"],
        &["reset", "admin", "--reason", "INC-1", "--dry-run"],
        &["unlock", "admin", "--reason", "INC-1", "--yes"],
        &["restore-admin", "--reason", "INC-1", "--yes"],
        &["drill"],
    ];
    for args in writes {
        let mut full = vec!["--read-only"];
        full.extend_from_slice(args);
        let out = db.locksmith(&full, None);
        assert_code(&out, 5);
        assert!(
            stderr(&out).contains("read-only session"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    // The same through the URL option and the environment.
    let url = format!("{}?read-only=true", db.url());
    let out = db.locksmith_at(
        &url,
        &["reset", "admin", "--reason", "INC-1", "--yes"],
        None,
    );
    assert_code(&out, 5);
    let out = db.locksmith_env(
        &["unlock", "admin", "--reason", "INC-1", "--yes"],
        None,
        &[("LOCKSMITH_READ_ONLY", "true")],
    );
    assert_code(&out, 5);

    assert_eq!(
        journal_entries(&db),
        0,
        "a refused write left a journal entry"
    );
    assert_eq!(db.row_image("sys_user", "login_name", "admin"), before);

    // Not read-only: the same reset goes through (so the refusals above are the mode's).
    let out = db.locksmith(&["reset", "admin", "--reason", "INC-1", "--yes"], None);
    assert_code(&out, 0);
    assert!(journal_entries(&db) > 0);
    assert_ne!(db.row_image("sys_user", "login_name", "admin"), before);
}

/// An UPDATE issued directly on the backend connection: the error, or the row count.
async fn direct_update(url: &str, sql: &str) -> Result<u64, String> {
    let target = Target::parse(url).map_err(|e| e.to_string())?;
    let mut b = backend::connect(&target).await.map_err(|e| e.to_string())?;
    let r = b.execute(sql, &[]).await.map_err(|e| e.to_string());
    b.close().await.map_err(|e| e.to_string())?;
    r
}

#[tokio::test]
async fn the_db_session_refuses_an_update_issued_directly_on_it() {
    let my = TestDb::new(Vendor::RuoYi);
    let sql = "UPDATE sys_user SET remark = 'changed' WHERE login_name = 'admin'";
    let e = direct_update(&format!("{}?read-only=true", my.url()), sql)
        .await
        .unwrap_err();
    assert!(e.to_ascii_lowercase().contains("read only"), "MariaDB: {e}");
    assert_eq!(direct_update(&my.url(), sql).await, Ok(1));

    let pg = PgTestDb::new("odoo");
    let sql = "UPDATE res_users SET active = active WHERE login = 'admin'";
    let e = direct_update(&format!("{}&read-only=true", pg.url()), sql)
        .await
        .unwrap_err();
    assert!(e.contains("read-only transaction"), "PostgreSQL: {e}");
    assert_eq!(direct_update(&pg.url(), sql).await, Ok(1));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.sqlite");
    locksmith::demo::load(&file).unwrap();
    let url = format!("sqlite://{}", file.display());
    let sql = "UPDATE UA_User SET iErrorCount = 0";
    let e = direct_update(&format!("{url}?read-only=true"), sql)
        .await
        .unwrap_err();
    assert!(
        e.contains("readonly") || e.contains("read-only"),
        "SQLite: {e}"
    );
    assert!(direct_update(&url, sql).await.unwrap() > 0);
}

fn draw(s: &locksmith::tui::state::AppState) -> String {
    let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40)).unwrap();
    t.draw(|f| view::render(f, s)).unwrap();
    format!("{}", t.backend())
}

/// The accounts screen of a session connected read-only.
fn read_only_accounts() -> locksmith::tui::state::AppState {
    let mut s = accounts(Lang::En);
    let mut info = conn();
    info.read_only = true;
    s.conn = Some(info);
    s
}

#[test]
fn the_console_shows_read_only_and_neither_shows_nor_obeys_write_keys() {
    // An ordinary session first: `r` plans a reset.
    let mut s = accounts(Lang::En);
    assert!(view::keys(&s).iter().any(|(k, _)| *k == "r/F5"));
    let fx = reduce(&mut s, key(KeyCode::Char('r')));
    assert!(
        fx.iter().any(|e| matches!(e, Effect::Plan { .. })),
        "{fx:?}"
    );

    // The same console connected read-only.
    let mut s = read_only_accounts();
    assert!(draw(&s).contains("read-only"), "{}", draw(&s));
    let bar: Vec<&str> = view::keys(&s).iter().map(|(k, _)| *k).collect();
    let help: Vec<&str> = view::help_keys(&s).iter().map(|(k, _)| *k).collect();
    for write_key in ["r/F5", "u/F6", "e/F4", "x/F12"] {
        assert!(!bar.contains(&write_key), "{write_key} in {bar:?}");
        assert!(!help.contains(&write_key), "{write_key} in the help");
    }
    assert!(bar.contains(&"g/F8") && bar.contains(&"c/F7"), "{bar:?}");
    for code in [
        KeyCode::Char('r'),
        KeyCode::F(5),
        KeyCode::Char('u'),
        KeyCode::Char('e'),
        KeyCode::F(4),
        KeyCode::Char('x'),
        KeyCode::F(12),
    ] {
        let fx = reduce(&mut s, key(code));
        assert!(fx.is_empty(), "{code:?} -> {fx:?}");
        assert_eq!(s.screen, Screen::Accounts, "{code:?}");
    }
    // Reads still work: the journal, and an account's detail.
    let mut journal = read_only_accounts();
    let fx = reduce(&mut journal, key(KeyCode::Char('g')));
    assert!(!fx.is_empty(), "the journal opens in a read-only session");
    let fx = reduce(&mut s, key(KeyCode::Enter));
    assert!(
        fx.iter().any(|e| matches!(e, Effect::Show { .. })),
        "{fx:?}"
    );
}

#[test]
fn a_profile_with_read_only_true_connects_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("profiles.toml");
    std::fs::write(
        &path,
        "[[profile]]\nname = \"audit\"\ntarget = \"mysql://auditor@db/crm\"\nread_only = true\n",
    )
    .unwrap();
    let profiles = locksmith::tui::load_profiles(Some(&path)).unwrap();
    let t = Target::parse(&profiles[0].target).unwrap();
    assert!(t.read_only, "{}", profiles[0].target);
}
