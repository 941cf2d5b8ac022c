//! `config.toml`: settings that belong to the machine or the operator, not
//! to a target. Read from `<config>/locksmith/config.toml` (the user's config
//! folder, e.g. ~/.config) and, on Unix, the system-wide
//! `/etc/locksmith/config.toml`; a table the user's file sets wins over the
//! system file's.
//!
//! `--config PATH` (or `LOCKSMITH_CONFIG`) names one file instead, which must exist.
//!
//! ```toml
//! [journal]
//! path = "/var/lib/locksmith/journal.sqlite"   # key: the same path + ".key"
//! group = "locksmith"                          # shared by this group (Unix)
//! seal_to = "age1…"                            # seal every write's before-values (`locksmith undo`)
//! forward = "relp://siem.corp:2514"            # every entry off the box (`crate::forward`)
//! forward_required = true                      # RELP only: a write waits for the receiver's ack
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::forward::{self, ForwardSetting};
use crate::i18n::Said;
use crate::journal::{Journal, JournalError, Sharing};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    /// `[journal] forward` / `forward_required` / `--forward` refused (a catalog message).
    #[error("{origin}: {said}")]
    Forward { origin: String, said: Said },
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// One config file as written.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub journal: JournalConfig,
}

/// `[journal]`: where the journal lives and who shares it.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JournalConfig {
    /// The journal file (its HMAC key is this path + `.key`). Unset: the
    /// user's own journal in the state folder.
    pub path: Option<PathBuf>,
    /// The OS group whose members share the journal (a system journal): its
    /// files are the group's, the key readable by the group only.
    pub group: Option<String>,
    /// An age X25519 recipient (`age1…`): every write seals the before-values
    /// of the columns it changes to it, inside its journal entry.
    pub seal_to: Option<String>,
    /// Where every entry is forwarded once durable (`syslog+tcp://`,
    /// `syslog+tls://`, `relp://`); `--forward` replaces it.
    pub forward: Option<String>,
    /// RELP only: a write is refused when its intent is not acknowledged.
    #[serde(default)]
    pub forward_required: bool,
}

impl ConfigError {
    /// The error for the operator: a catalog message where there is one.
    pub fn said(&self) -> Said {
        match self {
            ConfigError::Forward { said, .. } => said.clone(),
            other => Said::Text(other.to_string()),
        }
    }
}

/// The forwarding a journal gets: `--forward URL` (`explicit`) or
/// `[journal] forward`, with `forward_required`; `None` when neither is set.
pub fn forward_setting(
    explicit: Option<&str>,
    config: &JournalConfig,
) -> Result<Option<ForwardSetting>, ConfigError> {
    let origin = match explicit {
        Some(_) => "--forward",
        None => "[journal] forward",
    };
    match explicit.or(config.forward.as_deref()) {
        None => Ok(None),
        Some(url) => ForwardSetting::new(url, config.forward_required)
            .map(Some)
            .map_err(|said| ConfigError::Forward {
                origin: origin.into(),
                said,
            }),
    }
}

/// The files read, most specific first.
pub fn files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(d) = directories::ProjectDirs::from("", "", "locksmith") {
        out.push(d.config_dir().join("config.toml"));
    }
    #[cfg(unix)]
    out.push(PathBuf::from("/etc/locksmith/config.toml"));
    out
}

/// Parses one file's text (`path` names it in errors).
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let config: Config = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
    if let Some(p) = &config.journal.path
        && !p.is_absolute()
    {
        return Err(invalid(format!(
            "[journal] path `{}` must be absolute (e.g. /var/lib/locksmith/journal.sqlite)",
            p.display()
        )));
    }
    if let Some(r) = &config.journal.seal_to
        && r.trim().parse::<age::x25519::Recipient>().is_err()
    {
        return Err(invalid(
            "[journal] seal_to must be an age X25519 recipient (age1…, from `age-keygen -y`)"
                .into(),
        ));
    }
    if config.journal.forward_required && config.journal.forward.is_none() {
        return Err(ConfigError::Forward {
            origin: path.display().to_string(),
            said: Said::key("said.forward.required_without", &[]),
        });
    }
    if let Err(said) = forward_setting(None, &config.journal) {
        return Err(match said {
            ConfigError::Forward { said, .. } => ConfigError::Forward {
                origin: format!("{} [journal] forward", path.display()),
                said,
            },
            other => other,
        });
    }
    if config.journal.group.is_some() && config.journal.path.is_none() {
        return Err(invalid(
            "[journal] group needs a path too: a shared journal lives in a folder of its own (e.g. /var/lib/locksmith/journal.sqlite)".into(),
        ));
    }
    Ok(config)
}

/// The effective config: `explicit` alone (it must exist), else the user's
/// file, then the system file, table by table.
pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
    match explicit {
        Some(p) if !p.is_file() => Err(ConfigError::Invalid {
            path: p.to_path_buf(),
            reason: "does not exist (--config names a file that must exist)".into(),
        }),
        Some(p) => load_from(&[p.to_path_buf()]),
        None => load_from(&files()),
    }
}

pub fn load_from(files: &[PathBuf]) -> Result<Config, ConfigError> {
    let mut merged = Config::default();
    for path in files.iter().rev() {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(ConfigError::Invalid {
                    path: path.clone(),
                    reason: format!("cannot be read ({e})"),
                });
            }
        };
        let one = parse(path, &text)?;
        // A more specific file's [journal] replaces the whole table: a path and its group go together.
        if one.journal.path.is_some() {
            merged.journal.path = one.journal.path;
            merged.journal.group = one.journal.group;
        }
        if one.journal.seal_to.is_some() {
            merged.journal.seal_to = one.journal.seal_to;
        }
        // A destination and whether it is required go together.
        if one.journal.forward.is_some() {
            merged.journal.forward = one.journal.forward;
            merged.journal.forward_required = one.journal.forward_required;
        }
    }
    Ok(merged)
}

/// Which journal a command uses.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalLocation {
    pub path: PathBuf,
    pub key: PathBuf,
    pub sharing: Sharing,
}

impl JournalLocation {
    pub fn open(&self) -> Result<Journal, JournalError> {
        Journal::open_with(&self.path, &self.key, self.sharing.clone())
    }
}

/// `PATH.key`, the key beside a journal chosen by path.
pub fn key_beside(path: &Path) -> PathBuf {
    let mut key = path.as_os_str().to_owned();
    key.push(".key");
    PathBuf::from(key)
}

/// `--journal` (or `LOCKSMITH_JOURNAL`) when given, else `[journal] path`,
/// else the user's own journal. The configured group applies to the
/// configured path only, also when `--journal` names it.
pub fn journal_location(
    explicit: Option<&Path>,
    config: &JournalConfig,
) -> Result<JournalLocation, ConfigError> {
    let sharing = |path: &Path| -> Result<Sharing, ConfigError> {
        match (&config.path, &config.group) {
            (Some(p), Some(group)) if same_path(p, path) => {
                Sharing::group(group).map_err(|reason| ConfigError::Invalid {
                    path: PathBuf::from("config.toml"),
                    reason: format!("[journal] group: {reason}"),
                })
            }
            _ => Ok(Sharing::Private),
        }
    };
    if let Some(path) = explicit.or(config.path.as_deref()) {
        return Ok(JournalLocation {
            path: path.to_path_buf(),
            key: key_beside(path),
            sharing: sharing(path)?,
        });
    }
    let (path, key) = Journal::default_paths()?;
    Ok(JournalLocation {
        path,
        key,
        sharing: Sharing::Private,
    })
}

/// Opens the journal at `path` (key `key`) with the sharing config.toml
/// gives that path: the console's way in, which holds paths, not a location.
/// Forwarding as `[journal] forward` says.
pub fn open_journal(path: &Path, key: &Path) -> Result<Journal, ConfigError> {
    open_journal_forwarding(path, key, None, None)
}

/// As [`open_journal`], forwarding to `forward` (`--forward`) when given,
/// with the config file `config_file` (`--config`) when given.
pub fn open_journal_forwarding(
    path: &Path,
    key: &Path,
    forward: Option<&str>,
    config_file: Option<&Path>,
) -> Result<Journal, ConfigError> {
    let config = load(config_file)?;
    let sharing = journal_location(Some(path), &config.journal)?.sharing;
    let setting = forward_setting(forward, &config.journal)?;
    let mut journal = Journal::open_with(path, key, sharing.clone())?;
    if let Some(setting) = setting {
        forward::attach(&mut journal, setting, sharing);
    }
    Ok(journal)
}

fn same_path(a: &Path, b: &Path) -> bool {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    abs(a) == abs(b)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn journal_table_parses_and_rejects_what_would_be_a_mistake() {
        let p = Path::new("config.toml");
        let c = parse(
            p,
            "[journal]\npath = \"/var/lib/locksmith/journal.sqlite\"\ngroup = \"locksmith\"\n",
        )
        .unwrap();
        assert_eq!(
            c.journal.path.as_deref(),
            Some(Path::new("/var/lib/locksmith/journal.sqlite"))
        );
        assert_eq!(c.journal.group.as_deref(), Some("locksmith"));
        assert_eq!(parse(p, "").unwrap(), Config::default());
        let err = parse(p, "[journal]\npaht = \"/x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("paht"), "{err}");
        let err = parse(p, "[journal]\npath = \"rel/j.sqlite\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("absolute"), "{err}");
        let err = parse(p, "[journal]\ngroup = \"ops\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs a path"), "{err}");
    }

    #[test]
    fn forward_parses_and_forward_required_needs_relp() {
        let p = Path::new("config.toml");
        let c = parse(
            p,
            "[journal]\nforward = \"relp://siem:2514\"\nforward_required = true\n",
        )
        .unwrap();
        let s = forward_setting(None, &c.journal).unwrap().unwrap();
        assert!(s.required && s.destination.acknowledged());
        let said = |text: &str| match parse(p, text) {
            Err(e @ ConfigError::Forward { .. }) => e.said(),
            other => panic!("{text}: {other:?}"),
        };
        let tcp = said("[journal]\nforward = \"syslog+tcp://siem:514\"\nforward_required = true\n");
        assert!(
            tcp.to_string().contains("needs a RELP destination"),
            "{tcp}"
        );
        let alone = said("[journal]\nforward_required = true\n");
        assert!(
            alone.to_string().contains("needs [journal] forward"),
            "{alone}"
        );
        assert!(
            said("[journal]\nforward = \"udp://siem:514\"\n")
                .to_string()
                .contains("transport")
        );
        // --forward replaces the configured destination, and is checked the same way.
        let err = forward_setting(Some("syslog+tls://siem"), &c.journal).unwrap_err();
        assert!(err.said().to_string().contains("needs a RELP destination"));
        assert_eq!(
            forward_setting(None, &JournalConfig::default()).unwrap(),
            None
        );
    }

    #[test]
    fn the_users_journal_table_wins_over_the_system_file() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("user.toml");
        let system = dir.path().join("system.toml");
        std::fs::write(
            &system,
            "[journal]\npath = \"/var/lib/locksmith/journal.sqlite\"\ngroup = \"locksmith\"\n",
        )
        .unwrap();
        let both = [user.clone(), system.clone()];
        let c = load_from(&both).unwrap();
        assert_eq!(c.journal.group.as_deref(), Some("locksmith"));
        std::fs::write(&user, "[journal]\npath = \"/home/me/j.sqlite\"\n").unwrap();
        let c = load_from(&both).unwrap();
        assert_eq!(
            c.journal.path.as_deref(),
            Some(Path::new("/home/me/j.sqlite"))
        );
        assert_eq!(c.journal.group, None, "a path and its group go together");
    }

    #[test]
    fn explicit_journal_overrides_and_the_group_follows_the_configured_path() {
        let config = JournalConfig {
            path: Some(PathBuf::from("/var/lib/locksmith/journal.sqlite")),
            group: None,
            seal_to: None,
            ..JournalConfig::default()
        };
        let loc = journal_location(None, &config).unwrap();
        assert_eq!(loc.key, Path::new("/var/lib/locksmith/journal.sqlite.key"));
        let other = journal_location(Some(Path::new("/tmp/j.sqlite")), &config).unwrap();
        assert_eq!(other.path, Path::new("/tmp/j.sqlite"));
        assert_eq!(other.sharing, Sharing::Private);
        let grouped = JournalConfig {
            group: Some("no-such-group-locksmith-test".into()),
            ..config
        };
        // The group is looked up only for the configured path.
        assert!(journal_location(Some(Path::new("/tmp/j.sqlite")), &grouped).is_ok());
        let err = journal_location(None, &grouped).unwrap_err().to_string();
        assert!(err.contains("no group"), "{err}");
    }
}
