//! `locksmith demo`: a SQLite database in a fresh temporary directory, built
//! from the datasets compiled into the binary (fixtures/demo), so the console
//! can be tried anywhere with no server. The directory (database and demo
//! journal) is removed when the demo ends.

use std::path::{Path, PathBuf};

use crate::connector::{self, Connector, ConnectorError};
use crate::tui::state::Profile;

pub const WUKONG_SQL: &str = include_str!("../fixtures/demo/wukong.sql");
pub const U8_SQL: &str = include_str!("../fixtures/demo/u8.sql");
pub const U8_CONNECTOR: &str = include_str!("../fixtures/demo/u8-demo.toml");

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot create the demo database in {path}: {reason}")]
    Create { path: String, reason: String },
    #[error(transparent)]
    Connector(#[from] ConnectorError),
}

/// The demo's temporary directory; removed on drop.
pub struct Demo {
    dir: PathBuf,
    pub database: PathBuf,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Demo {
    /// Creates `<tmp>/locksmith-demo-<pid>-<nanos>/demo.sqlite` from the embedded SQL.
    pub fn create() -> Result<Demo, DemoError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("locksmith-demo-{}-{nanos}", std::process::id()));
        let err = |reason: String| DemoError::Create {
            path: dir.display().to_string(),
            reason,
        };
        std::fs::create_dir_all(&dir).map_err(|e| err(e.to_string()))?;
        let demo = Demo {
            database: dir.join("demo.sqlite"),
            dir: dir.clone(),
        };
        load(&demo.database).map_err(err)?;
        Ok(demo)
    }

    pub fn journal(&self) -> (PathBuf, PathBuf) {
        (
            self.dir.join("journal.sqlite"),
            self.dir.join("journal.sqlite.key"),
        )
    }

    pub fn target(&self) -> String {
        format!("sqlite://{}", self.database.display())
    }

    /// One profile per dataset, each with its connector named.
    pub fn profiles(&self) -> Vec<Profile> {
        vec![
            Profile {
                name: "Demo · WukongCRM 11 (悟空CRM)".into(),
                target: self.target(),
                connector: Some("wukong11".into()),
                prefix: None,
                note: Some("309 accounts: admins, disabled, never activated, deleted; reset, unlock, calibrate (13800000000 / Demo#2026)".into()),
                encoder: None,
            },
            Profile {
                name: "Demo · Yonyou U8 (用友U8)".into(),
                target: self.target(),
                connector: Some("u8-demo".into()),
                prefix: None,
                note: Some("closed password format: lookup, show, unlock, and transplant (t on an account)".into()),
                encoder: None,
            },
        ]
    }
}

/// Loads the embedded datasets into a new SQLite file.
pub fn load(path: &Path) -> Result<(), String> {
    let conn = rusqlite::Connection::open(path).map_err(|e| e.to_string())?;
    conn.execute_batch(WUKONG_SQL).map_err(|e| e.to_string())?;
    conn.execute_batch(U8_SQL).map_err(|e| e.to_string())?;
    Ok(())
}

/// The connectors the demo uses: the shipped ones (wukong11 also on SQLite)
/// plus the demo-only U8 connector.
pub fn connectors() -> Result<Vec<Connector>, DemoError> {
    let mut all = connector::load_all(None)?;
    for c in all.iter_mut() {
        if c.name == "wukong11" && !c.engines.iter().any(|e| e == "sqlite") {
            c.engines.push("sqlite".into());
        }
    }
    all.push(Connector::parse(
        "embedded:demo/u8-demo.toml",
        U8_CONNECTOR,
    )?);
    Ok(all)
}
