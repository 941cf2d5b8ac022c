//! Saved connections for the console: `<config dir>/locksmith/profiles.toml`,
//! parsed once in `crate::profiles` (shared with `locksmith fleet`).
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

use std::path::Path;

use super::state::Profile;
pub use crate::profiles::{ProfileError, default_path};

impl From<crate::profiles::Inventory> for Profile {
    fn from(p: crate::profiles::Inventory) -> Profile {
        Profile {
            name: p.name,
            target: p.target,
            connector: p.connector,
            prefix: p.prefix,
            note: None,
            encoder: p.encoder,
        }
    }
}

/// Parses a profiles file (`crate::profiles::parse`) into the console's profiles.
pub fn parse_profiles(path: &str, text: &str) -> Result<Vec<Profile>, ProfileError> {
    Ok(crate::profiles::parse(path, text)?
        .into_iter()
        .map(Profile::from)
        .collect())
}

/// Profiles from `path` (default: the user config dir); none when the file does not exist.
pub fn load_profiles(path: Option<&Path>) -> Result<Vec<Profile>, ProfileError> {
    Ok(crate::profiles::load(path)?
        .into_iter()
        .map(Profile::from)
        .collect())
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
