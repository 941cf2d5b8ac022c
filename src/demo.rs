//! `locksmith demo`: a SQLite database in a fresh temporary directory, built
//! from the datasets compiled into the binary (fixtures/demo), so the console
//! can be tried anywhere with no server. The directory (database and demo
//! journal) is removed when the demo ends, unless `--keep DIR` names one: then
//! it also holds the demo's connectors, so the CLI can read the same data.

use std::path::{Path, PathBuf};

use crate::connector::{self, Connector, ConnectorError};
use crate::i18n::{Lang, t};
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

/// The demo's directory; removed on drop unless it was kept.
pub struct Demo {
    dir: PathBuf,
    pub database: PathBuf,
    kept: bool,
}

impl Drop for Demo {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Demo {
    /// Creates `demo.sqlite` from the embedded SQL in `keep` (kept after the
    /// demo, with its connectors in `connectors/`), else in a fresh
    /// `<tmp>/locksmith-demo-<pid>-<nanos>` removed afterwards.
    pub fn create(keep: Option<&Path>) -> Result<Demo, DemoError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = match keep {
            Some(d) => d.to_path_buf(),
            None => {
                std::env::temp_dir().join(format!("locksmith-demo-{}-{nanos}", std::process::id()))
            }
        };
        let err = |reason: String| DemoError::Create {
            path: dir.display().to_string(),
            reason,
        };
        std::fs::create_dir_all(&dir).map_err(|e| err(e.to_string()))?;
        let demo = Demo {
            database: dir.join("demo.sqlite"),
            dir: dir.clone(),
            kept: keep.is_some(),
        };
        if !demo.database.exists() {
            load(&demo.database).map_err(err)?;
        }
        if demo.kept {
            write_connectors(&demo.connectors_dir()).map_err(err)?;
        }
        Ok(demo)
    }

    /// The demo's connector files, for `--connectors-dir`.
    pub fn connectors_dir(&self) -> PathBuf {
        self.dir.join("connectors")
    }

    /// What the operator reads when the demo ends: where the files are and
    /// how the CLI reads them, or that they were removed.
    pub fn farewell(&self, lang: crate::tui::i18n::Lang) -> String {
        use crate::tui::i18n::tf;
        let (journal, _) = self.journal();
        let key = if self.kept {
            "demo.kept"
        } else {
            "demo.removed"
        };
        tf(
            lang,
            key,
            &[
                ("dir", &self.dir.display().to_string()),
                ("target", &self.target()),
                ("connectors", &self.connectors_dir().display().to_string()),
                ("journal", &journal.display().to_string()),
            ],
        ) + "\n"
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

    /// One profile per dataset, each with its connector named, worded in `lang`.
    pub fn profiles(&self, lang: Lang) -> Vec<Profile> {
        let profile = |dataset: &str, connector: &str| Profile {
            name: t(lang, &format!("demo.{dataset}.name")),
            target: self.target(),
            connector: Some(connector.into()),
            prefix: None,
            note: Some(t(lang, &format!("demo.{dataset}.note"))),
            encoder: None,
        };
        vec![profile("wukong", "wukong11"), profile("u8", "u8-demo")]
    }
}

/// The demo's connectors as files: wukong11 (as shipped, also on SQLite) and u8-demo.
fn write_connectors(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let wukong = connector::EMBEDDED
        .iter()
        .find(|(name, _)| *name == "wukong11.toml")
        .map(|(_, text)| {
            text.replacen(
                "engines = [\"mysql\"]",
                "engines = [\"mysql\", \"sqlite\"]",
                1,
            )
        })
        .ok_or("the embedded wukong11 connector is missing")?;
    std::fs::write(dir.join("wukong11.toml"), wukong).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("u8-demo.toml"), U8_CONNECTOR).map_err(|e| e.to_string())
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
