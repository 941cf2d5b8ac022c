//! Saved connections: `<config dir>/locksmith/profiles.toml`.
//!
//! ```toml
//! [[profile]]
//! name = "CRM production"
//! target = "mysql://locksmith@10.0.0.5:3306/crm"
//! connector = "wukong11"        # optional: detected from the schema when omitted
//! tls = "required"              # optional: required | preferred | disabled
//! ca = "/etc/ssl/crm-ca.pem"    # optional
//! skip_verify = false           # optional
//! prefix = "5kcrm_"             # optional
//! encoder = ["/opt/u8/encode", "--utf8"]  # optional: external password encoder
//! read_only = true              # optional: lookups and checks only; every write is refused
//! ssh = "ops@bastion.corp:22"   # optional: reach the database through this SSH jump host
//! ```
//!
//! A profile never holds a password: one with a password in its URL is refused.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::state::Profile;
use crate::backend::Target;

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
}

pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "locksmith")
        .map(|d| d.config_dir().join("profiles.toml"))
}

/// Parses a profiles file; TLS options are folded into the target URL's query.
pub fn parse_profiles(path: &str, text: &str) -> Result<Vec<Profile>, ProfileError> {
    let bad = |reason: String| ProfileError::Invalid {
        path: path.to_string(),
        reason,
    };
    let file: File = toml::from_str(text).map_err(|e| bad(e.message().to_string()))?;
    let mut out = Vec::new();
    for e in file.profile {
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
        let target = if opts.is_empty() {
            e.target.clone()
        } else {
            let sep = if e.target.contains('?') { '&' } else { '?' };
            format!("{}{sep}{}", e.target, opts.join("&"))
        };
        let parsed =
            Target::parse(&target).map_err(|err| bad(format!("profile `{}`: {err}", e.name)))?;
        if parsed.password.is_some() {
            return Err(bad(format!(
                "profile `{}` has a password in its URL; profiles never hold passwords (use LOCKSMITH_DB_PASSWORD, ~/.my.cnf or the form's password field)",
                e.name
            )));
        }
        if let Some(command) = &e.encoder {
            let spec = crate::schemes::external::EncoderSpec {
                command: command.clone(),
                bound_to_login: false,
            };
            spec.validate()
                .map_err(|m| bad(format!("profile `{}`: encoder: {m}", e.name)))?;
        }
        out.push(Profile {
            name: e.name,
            target,
            connector: e.connector,
            prefix: e.prefix,
            note: None,
            encoder: e.encoder,
        });
    }
    Ok(out)
}

/// Profiles from `path` (default: the user config dir); none when the file does not exist.
pub fn load_profiles(path: Option<&Path>) -> Result<Vec<Profile>, ProfileError> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => match default_path() {
            Some(p) => p,
            None => return Ok(Vec::new()),
        },
    };
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|e| ProfileError::Invalid {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    parse_profiles(&shown, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_options_fold_into_the_url() {
        let p = parse_profiles(
            "p.toml",
            "[[profile]]\nname = \"prod\"\ntarget = \"mysql://ls@db/crm\"\ntls = \"required\"\nca = \"/ca.pem\"\nconnector = \"wukong11\"\n",
        )
        .unwrap();
        assert_eq!(p[0].target, "mysql://ls@db/crm?tls=required&ca=/ca.pem");
        assert_eq!(p[0].connector.as_deref(), Some("wukong11"));
    }

    #[test]
    fn a_jump_host_folds_into_the_url() {
        let p = parse_profiles(
            "p.toml",
            "[[profile]]\nname = \"prod\"\ntarget = \"mysql://ls@10.0.0.5/crm\"\nssh = \"ops@jump:2222\"\n",
        )
        .unwrap();
        assert_eq!(p[0].target, "mysql://ls@10.0.0.5/crm?ssh=ops@jump:2222");
        let e = parse_profiles(
            "p.toml",
            "[[profile]]\nname = \"u8\"\ntarget = \"mssql://sa@db01\\\\U8/UFSystem\"\nssh = \"ops@jump\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("UDP 1434") && e.contains("TCP port"), "{e}");
    }

    #[test]
    fn an_encoder_is_read_and_an_empty_one_refused() {
        let p = parse_profiles(
            "p.toml",
            "[[profile]]\nname = \"u8\"\ntarget = \"mysql://ls@db/UFSystem\"\nencoder = [\"/opt/enc\", \"-x\"]\n",
        )
        .unwrap();
        assert_eq!(
            p[0].encoder,
            Some(vec!["/opt/enc".to_string(), "-x".to_string()])
        );
        let e = parse_profiles(
            "p.toml",
            "[[profile]]\nname = \"u8\"\ntarget = \"mysql://ls@db/UFSystem\"\nencoder = []\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("encoder"), "{e}");
    }

    #[test]
    fn a_password_in_a_profile_is_refused_without_echoing_it() {
        let e = parse_profiles(
            "p.toml",
            "[[profile]]\nname = \"prod\"\ntarget = \"mysql://ls:hunter2@db/crm\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("never hold passwords") && !e.contains("hunter2"),
            "{e}"
        );
    }
}
