//! The inventory of saved connections: `<config dir>/locksmith/profiles.toml`
//! (or `--profiles FILE`). The console's picker and `locksmith fleet` read
//! the same file.
//!
//! ```toml
//! [[profile]]
//! name = "CRM Beijing"
//! target = "mysql://locksmith@10.0.0.5:3306/crm"
//! connector = "wukong11"        # optional: detected from the schema when omitted
//! site = "beijing"              # optional: the branch office (fleet table, metric label)
//! tags = ["prod", "north"]      # optional: `fleet --tag prod` picks these
//! password_env = "CRM_BJ_PASS"  # optional: the DB password from this variable…
//! password_file = "/etc/locksmith/bj.pass"  # …or from this file (mode 0600 or stricter)
//! tls = "required"              # optional: required | preferred | disabled
//! ca = "/etc/ssl/crm-ca.pem"    # optional
//! skip_verify = false           # optional
//! prefix = "5kcrm_"             # optional
//! encoder = ["/opt/u8/encode", "--utf8"]  # optional: external password encoder
//! read_only = true              # optional: lookups and checks only; every write is refused
//! ssh = "ops@bastion.corp:22"   # optional: reach the database through this SSH jump host
//! ```
//!
//! A profile never holds a password: one with a password in its URL is
//! refused; `password_env` names a variable and `password_file` a file.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use zeroize::Zeroizing;

use crate::backend::Target;
use crate::i18n::Said;

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    profile: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    target: String,
    #[serde(default)]
    connector: Option<String>,
    #[serde(default)]
    tls: Option<String>,
    #[serde(default)]
    ca: Option<String>,
    #[serde(default)]
    skip_verify: Option<bool>,
    #[serde(default)]
    prefix: Option<String>,
    /// An external encoder: `encoder = ["/path/to/encoder", "arg"]`.
    #[serde(default)]
    encoder: Option<Vec<String>>,
    #[serde(default)]
    read_only: Option<bool>,
    /// A jump host, `user@bastion[:port]`: folded into the URL as `ssh=`.
    #[serde(default)]
    ssh: Option<String>,
    #[serde(default)]
    site: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    password_env: Option<String>,
    #[serde(default)]
    password_file: Option<PathBuf>,
}

/// Where a profile's DB password comes from. Never the password itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordSource {
    /// The engine's own conventions (LOCKSMITH_DB_PASSWORD, ~/.my.cnf, ~/.pgpass, …).
    Default,
    /// `password_env = "NAME"`.
    Env(String),
    /// `password_file = "/path"`, readable by its owner only.
    File(PathBuf),
}

/// One saved connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Inventory {
    pub name: String,
    /// The URL with TLS, read-only and ssh options folded into its query; no password.
    pub target: String,
    pub connector: Option<String>,
    pub prefix: Option<String>,
    pub encoder: Option<Vec<String>>,
    pub site: Option<String>,
    pub tags: Vec<String>,
    pub password: PasswordSource,
}

/// Why a profile's password could not be read; worded by the catalogs.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the environment variable {0} named by password_env is not set")]
    EnvUnset(String),
    #[error("password_file {path} has mode {mode:04o}; it must be 0600 (or stricter)")]
    FileMode { path: String, mode: u32 },
    #[error("password_file {path} cannot be read: {reason}")]
    FileRead { path: String, reason: String },
    #[error("password_file {0} is empty")]
    FileEmpty(String),
}

impl PasswordError {
    /// The catalog message for the operator.
    pub fn said(&self) -> Said {
        match self {
            PasswordError::EnvUnset(var) => Said::key("said.password_env_unset", &[("var", var)]),
            PasswordError::FileMode { path, mode } => Said::key(
                "said.password_file_mode",
                &[("path", path), ("mode", &format!("{mode:04o}"))],
            ),
            PasswordError::FileRead { path, reason } => Said::key(
                "said.password_file_unreadable",
                &[("path", path), ("reason", reason)],
            ),
            PasswordError::FileEmpty(path) => {
                Said::key("said.password_file_empty", &[("path", path)])
            }
        }
    }
}

impl PasswordSource {
    /// The password this source names, `None` for `Default` (the target
    /// resolves it itself). A file with any group or other permission bit is
    /// refused before it is read.
    pub fn read(&self) -> Result<Option<Zeroizing<String>>, PasswordError> {
        match self {
            PasswordSource::Default => Ok(None),
            PasswordSource::Env(var) => std::env::var(var)
                .map(|v| Some(Zeroizing::new(v)))
                .map_err(|_| PasswordError::EnvUnset(var.clone())),
            PasswordSource::File(path) => read_password_file(path).map(Some),
        }
    }

    /// What the journal and messages may say about it.
    pub fn describe(&self) -> Option<String> {
        match self {
            PasswordSource::Default => None,
            PasswordSource::Env(var) => Some(format!("password_env {var}")),
            PasswordSource::File(path) => Some(format!("password_file {}", path.display())),
        }
    }
}

fn read_password_file(path: &Path) -> Result<Zeroizing<String>, PasswordError> {
    let shown = path.display().to_string();
    let unreadable = |e: std::io::Error| PasswordError::FileRead {
        path: shown.clone(),
        reason: e.to_string(),
    };
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(PasswordError::FileMode { path: shown, mode });
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(unreadable)?);
    // The first line, without its line ending (as `echo secret > file` leaves it).
    let first = text.lines().next().unwrap_or_default();
    if first.is_empty() {
        return Err(PasswordError::FileEmpty(shown));
    }
    Ok(Zeroizing::new(first.to_string()))
}

pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "locksmith")
        .map(|d| d.config_dir().join("profiles.toml"))
}

/// The URL with the profile's TLS, read-only and ssh options in its query.
fn folded_target(e: &Entry) -> String {
    let mut opts = Vec::new();
    if let Some(tls) = &e.tls {
        opts.push(format!("tls={tls}"));
    }
    if let Some(ca) = &e.ca {
        opts.push(format!("ca={ca}"));
    }
    if e.skip_verify == Some(true) {
        opts.push("skip-verify=true".into());
    }
    if e.read_only == Some(true) {
        opts.push("read-only=true".into());
    }
    if let Some(ssh) = &e.ssh {
        opts.push(format!("ssh={ssh}"));
    }
    if opts.is_empty() {
        e.target.clone()
    } else {
        let sep = if e.target.contains('?') { '&' } else { '?' };
        format!("{}{sep}{}", e.target, opts.join("&"))
    }
}

/// Where the password comes from: at most one of the two keys.
fn password_source(e: &Entry) -> Result<PasswordSource, String> {
    match (&e.password_env, &e.password_file) {
        (Some(_), Some(_)) => Err(format!(
            "profile `{}` has both password_env and password_file; keep one",
            e.name
        )),
        (Some(var), None) => {
            let valid = !var.is_empty()
                && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !var.starts_with(|c: char| c.is_ascii_digit());
            if valid {
                Ok(PasswordSource::Env(var.clone()))
            } else {
                Err(format!(
                    "profile `{}`: password_env must name an environment variable (letters, digits, _), not hold a password",
                    e.name
                ))
            }
        }
        (None, Some(path)) if path.as_os_str().is_empty() => Err(format!(
            "profile `{}`: password_file is empty; give the path of a file",
            e.name
        )),
        (None, Some(path)) => Ok(PasswordSource::File(path.clone())),
        (None, None) => Ok(PasswordSource::Default),
    }
}

fn entry(e: Entry) -> Result<Inventory, String> {
    let target = folded_target(&e);
    let parsed = Target::parse(&target).map_err(|err| format!("profile `{}`: {err}", e.name))?;
    if parsed.password.is_some() {
        return Err(format!(
            "profile `{}` has a password in its URL; profiles never hold passwords (use password_env, password_file, LOCKSMITH_DB_PASSWORD, ~/.my.cnf or the form's password field)",
            e.name
        ));
    }
    if let Some(command) = &e.encoder {
        let spec = crate::schemes::external::EncoderSpec {
            command: command.clone(),
            bound_to_login: false,
        };
        spec.validate()
            .map_err(|m| format!("profile `{}`: encoder: {m}", e.name))?;
    }
    if let Some(bad) = e
        .tags
        .iter()
        .find(|t| t.trim().is_empty() || t.contains(','))
    {
        return Err(format!(
            "profile `{}`: tag `{bad}` is empty or holds a comma; give tags as a list: tags = [\"prod\", \"north\"]",
            e.name
        ));
    }
    let password = password_source(&e)?;
    Ok(Inventory {
        name: e.name,
        target,
        connector: e.connector,
        prefix: e.prefix,
        encoder: e.encoder,
        site: e.site.filter(|s| !s.trim().is_empty()),
        tags: e.tags,
        password,
    })
}

/// Parses a profiles file; TLS options are folded into the target URL's query.
pub fn parse(path: &str, text: &str) -> Result<Vec<Inventory>, ProfileError> {
    let bad = |reason: String| ProfileError::Invalid {
        path: path.to_string(),
        reason,
    };
    let file: File = toml::from_str(text).map_err(|e| bad(e.message().to_string()))?;
    file.profile
        .into_iter()
        .map(|e| entry(e).map_err(bad))
        .collect()
}

/// Profiles from `path` (default: the user config dir); none when the file
/// does not exist and no path was given.
pub fn load(path: Option<&Path>) -> Result<Vec<Inventory>, ProfileError> {
    let (path, explicit) = match path {
        Some(p) => (p.to_path_buf(), true),
        None => match default_path() {
            Some(p) => (p, false),
            None => return Ok(Vec::new()),
        },
    };
    let shown = path.display().to_string();
    if !path.is_file() {
        return match explicit {
            true => Err(ProfileError::Invalid {
                path: shown,
                reason: "no such file".into(),
            }),
            false => Ok(Vec::new()),
        };
    }
    let text = std::fs::read_to_string(&path).map_err(|e| ProfileError::Invalid {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    parse(&shown, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Result<Inventory, String> {
        parse("p.toml", text)
            .map(|mut v| v.remove(0))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn site_tags_and_a_password_variable_are_read() {
        let p = one(
            "[[profile]]\nname = \"bj\"\ntarget = \"mysql://ls@db/crm\"\nsite = \"beijing\"\ntags = [\"prod\", \"north\"]\npassword_env = \"CRM_BJ_PASS\"\n",
        )
        .unwrap();
        assert_eq!(p.site.as_deref(), Some("beijing"));
        assert_eq!(p.tags, vec!["prod", "north"]);
        assert_eq!(p.password, PasswordSource::Env("CRM_BJ_PASS".into()));
    }

    #[test]
    fn both_password_keys_or_a_password_in_password_env_are_refused() {
        let e = one(
            "[[profile]]\nname = \"bj\"\ntarget = \"mysql://ls@db/crm\"\npassword_env = \"X\"\npassword_file = \"/p\"\n",
        )
        .unwrap_err();
        assert!(e.contains("both password_env and password_file"), "{e}");
        let e = one(
            "[[profile]]\nname = \"bj\"\ntarget = \"mysql://ls@db/crm\"\npassword_env = \"s3cr3t!pw\"\n",
        )
        .unwrap_err();
        assert!(
            e.contains("environment variable") && !e.contains("s3cr3t"),
            "{e}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_password_file_readable_by_others_is_refused_naming_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "hunter2\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let src = PasswordSource::File(path.clone());
        let e = src.read().unwrap_err().to_string();
        assert!(e.contains("0644") && !e.contains("hunter2"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(src.read().unwrap().unwrap().as_str(), "hunter2");
    }
}
