//! Who may use a journal: its owner only (the default, files 0600), or the
//! members of one group (a system journal such as /var/lib/locksmith shared
//! by several operators: journal and lock files 0660, key 0640, all owned by
//! that group).

use std::fs::{self, File};
use std::io;
use std::path::Path;

/// The access mode of one journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sharing {
    /// Files for the OS user only.
    Private,
    /// Files for the members of group `name` (id `gid`).
    Group { name: String, gid: u32 },
}

impl Sharing {
    /// The group named `name`, looked up in the OS user database.
    pub fn group(name: &str) -> Result<Sharing, String> {
        lookup_gid(name).map(|gid| Sharing::Group {
            name: name.to_string(),
            gid,
        })
    }

    /// Mode of the journal and lock files.
    pub(crate) fn file_mode(&self) -> u32 {
        match self {
            Sharing::Private => 0o600,
            Sharing::Group { .. } => 0o660,
        }
    }

    /// Mode of the key file: readable by the group, writable by nobody else.
    pub(crate) fn key_mode(&self) -> u32 {
        match self {
            Sharing::Private => 0o600,
            Sharing::Group { .. } => 0o640,
        }
    }

    /// Gives a file this locksmith just created its group and mode (the
    /// umask may have cut the group bits). A file that is already right is
    /// left alone, so files other members created need no rights on them.
    pub(crate) fn adopt(&self, file: &File) -> io::Result<()> {
        self.fix(file, self.file_mode())
    }

    pub(crate) fn adopt_key(&self, file: &File) -> io::Result<()> {
        self.fix(file, self.key_mode())
    }

    #[cfg(unix)]
    fn fix(&self, file: &File, mode: u32) -> io::Result<()> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let Sharing::Group { gid, .. } = self else {
            return Ok(());
        };
        let meta = file.metadata()?;
        if meta.gid() != *gid {
            std::os::unix::fs::fchown(file, None, Some(*gid))?;
        }
        if meta.mode() & 0o7777 != mode {
            file.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        Ok(())
    }

    /// Windows: a private journal's files get the user-only ACL (the 0600
    /// equivalent); a group journal cannot be configured there (`lookup_gid`).
    #[cfg(not(unix))]
    fn fix(&self, file: &File, _mode: u32) -> io::Result<()> {
        match self {
            Sharing::Private => super::owner_only::restrict_file(file),
            Sharing::Group { .. } => Ok(()),
        }
    }

    /// Creates the lock folder if it is missing: 0700, or for a group
    /// 2770 owned by the group (setgid, so files in it inherit the group).
    pub(crate) fn ensure_lock_dir(&self, dir: &Path) -> io::Result<()> {
        if dir.is_dir() {
            return Ok(());
        }
        #[allow(unused_mut)] // only Unix gives it a mode
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(match self {
                Sharing::Private => 0o700,
                Sharing::Group { .. } => 0o2770,
            });
        }
        match builder.create(dir) {
            Ok(()) => {}
            // Another session made it first.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
            Err(e) => return Err(e),
        }
        #[cfg(unix)]
        if let Sharing::Group { gid, .. } = self {
            use std::os::unix::fs::PermissionsExt;
            std::os::unix::fs::chown(dir, None, Some(*gid))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o2770))?;
        }
        #[cfg(not(unix))]
        if let Sharing::Private = self {
            super::owner_only::restrict_dir(dir)?;
        }
        Ok(())
    }

    /// Why an existing key file may not be used under this sharing, if so.
    #[cfg(unix)]
    pub(crate) fn key_problem(&self, path: &Path, meta: &fs::Metadata) -> Option<String> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let mode = meta.permissions().mode() & 0o777;
        match self {
            Sharing::Private if mode & 0o077 != 0 => Some(format!(
                "has mode {mode:04o}, so other users can read it and forge journal \
                 fingerprints; run `chmod 600 {}` and retry (a journal shared by a group is \
                 set up in config.toml [journal] group, see README)",
                path.display()
            )),
            Sharing::Group { name, .. } if mode & 0o027 != 0 => Some(format!(
                "has mode {mode:04o}; the key of a journal shared by group `{name}` must be \
                 readable by that group only: run `chmod 640 {}` and retry",
                path.display()
            )),
            Sharing::Group { name, gid } if meta.gid() != *gid => Some(format!(
                "belongs to group id {}, not to `{name}` (id {gid}) that config.toml [journal] \
                 names; run `chgrp {name} {}` and retry",
                meta.gid(),
                path.display()
            )),
            _ => None,
        }
    }

    /// Windows: the key's ACL may let in the user, SYSTEM and Administrators
    /// only (as 0600 lets in the owner and root).
    #[cfg(windows)]
    pub(crate) fn key_problem(&self, path: &Path, _meta: &fs::Metadata) -> Option<String> {
        let others = match super::owner_only::others_allowed(path) {
            Ok(others) => others,
            Err(e) => return Some(format!("cannot read the key file's access list ({e})")),
        };
        if others.is_empty() {
            return None;
        }
        let removes: Vec<String> = others
            .iter()
            .filter(|sid| sid.starts_with("S-"))
            .map(|sid| format!(" /remove:g *{sid}"))
            .collect();
        Some(format!(
            "lets other accounts ({}) read it, so they could forge journal fingerprints; run \
             `icacls \"{}\" /inheritance:r /grant:r \"%USERNAME%:F\"{}` and retry",
            others.join(", "),
            path.display(),
            removes.concat()
        ))
    }

    #[cfg(not(any(unix, windows)))]
    pub(crate) fn key_problem(&self, _path: &Path, _meta: &fs::Metadata) -> Option<String> {
        None
    }
}

#[cfg(unix)]
fn lookup_gid(name: &str) -> Result<u32, String> {
    match nix::unistd::Group::from_name(name) {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        Ok(None) => Err(format!(
            "there is no group `{name}` on this system; create it (`groupadd {name}`) and add \
             the operators to it, or fix [journal] group in config.toml"
        )),
        Err(e) => Err(format!("cannot look up the group `{name}` ({e})")),
    }
}

#[cfg(not(unix))]
fn lookup_gid(name: &str) -> Result<u32, String> {
    Err(format!(
        "[journal] group = \"{name}\" works on Unix only; on Windows give the operators access \
         to the journal folder with its ACL and leave group unset"
    ))
}
