//! The operator's config file, `<config>/locksmith/config.toml` (XDG; nobody
//! creates it, it is read when present; `--config PATH` names another, which
//! must exist). One table so far, `[journal]`; later issues add keys to it.
//!
//! ```toml
//! [journal]
//! # Seal the before-values of every write to this age recipient (`locksmith undo`).
//! seal_to = "age1…"
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub journal: JournalConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalConfig {
    /// An age X25519 recipient (`age1…`): every write seals the before-values
    /// of the columns it changes to it, inside its journal entry.
    pub seal_to: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("config file {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// `<config dir>/locksmith/config.toml`, where the platform has one.
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "locksmith").map(|d| d.config_dir().join("config.toml"))
}

/// The explicit file (it must exist), else the default one when present,
/// else the defaults. A `seal_to` that is no age recipient is refused here.
pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => match default_path().filter(|p| p.is_file()) {
            Some(p) => p,
            None => return Ok(Config::default()),
        },
    };
    let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Read {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let config: Config = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    if let Some(r) = &config.journal.seal_to
        && r.trim().parse::<age::x25519::Recipient>().is_err()
    {
        return Err(ConfigError::Invalid {
            path,
            reason:
                "[journal] seal_to must be an age X25519 recipient (age1…, from `age-keygen -y`)"
                    .into(),
        });
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::load;

    #[test]
    fn reads_seal_to_and_refuses_a_bad_recipient() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.toml");
        let id = age::x25519::Identity::generate();
        std::fs::write(&p, format!("[journal]\nseal_to = \"{}\"\n", id.to_public())).unwrap();
        assert!(load(Some(&p)).unwrap().journal.seal_to.is_some());
        std::fs::write(&p, "[journal]\nseal_to = \"ssh-rsa AAAA\"\n").unwrap();
        assert!(
            load(Some(&p))
                .unwrap_err()
                .to_string()
                .contains("age X25519")
        );
        std::fs::write(&p, "[jornal]\n").unwrap();
        assert!(load(Some(&p)).is_err());
        assert!(load(Some(&dir.path().join("missing.toml"))).is_err());
    }
}
