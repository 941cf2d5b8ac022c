//! The journal's HMAC key: 32 random bytes, hex in a file of mode 0600
//! (0640 and the group's, for a journal shared by a group; on Windows an ACL
//! for the user only, see `owner_only.rs`).

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::JournalError;
use super::owner_only;
use super::share::Sharing;

pub(crate) const KEY_LEN: usize = 32;
pub(crate) type JournalKey = Zeroizing<[u8; KEY_LEN]>;

fn key_err(path: &Path, reason: impl Into<String>) -> JournalError {
    JournalError::Key {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Creates `dir` and missing parents for the user only (0700; Windows: its ACL).
pub(crate) use super::owner_only::create_private_dirs;

/// Loads the key at `path`, creating it (once, mode 0600, or 0640 for a
/// group) if it is absent.
pub(crate) fn load_or_create(path: &Path, sharing: &Sharing) -> Result<JournalKey, JournalError> {
    match fs::metadata(path) {
        Ok(_) => load(path, sharing),
        Err(e) if e.kind() == ErrorKind::NotFound => match create(path, sharing) {
            Ok(key) => Ok(key),
            // Another locksmith created it between our two calls: use theirs.
            Err(CreateError::Exists) => load(path, sharing),
            Err(CreateError::Other(err)) => Err(err),
        },
        Err(e) => Err(key_err(
            path,
            format!("cannot inspect the key file ({e}); check the path and its folders"),
        )),
    }
}

fn load(path: &Path, sharing: &Sharing) -> Result<JournalKey, JournalError> {
    let meta = fs::metadata(path)
        .map_err(|e| key_err(path, format!("cannot inspect the key file ({e})")))?;
    if !meta.is_file() {
        return Err(key_err(
            path,
            "is not a regular file; point locksmith at the journal key file",
        ));
    }
    if let Some(problem) = sharing.key_problem(path, &meta) {
        return Err(key_err(path, problem));
    }
    let text = Zeroizing::new(fs::read_to_string(path).map_err(|e| {
        key_err(
            path,
            format!("cannot read the key file ({e}); check that it is readable by you"),
        )
    })?);
    let mut key: JournalKey = Zeroizing::new([0u8; KEY_LEN]);
    let hex_text = text.trim();
    if hex_text.len() != KEY_LEN * 2 || hex::decode_to_slice(hex_text, &mut key[..]).is_err() {
        return Err(key_err(
            path,
            "is not a locksmith journal key (expected 64 hex digits); restore the original \
             key file from backup: fingerprints made with another key cannot be compared",
        ));
    }
    Ok(key)
}

enum CreateError {
    Exists,
    Other(JournalError),
}

fn create(path: &Path, sharing: &Sharing) -> Result<JournalKey, CreateError> {
    let fail = |reason: String| CreateError::Other(key_err(path, reason));
    // A shared journal's folder is the administrator's (README): never made here.
    if let (Sharing::Private, Some(parent)) = (sharing, path.parent()) {
        create_private_dirs(parent).map_err(|e| {
            fail(format!(
                "cannot create the folder {} ({e}); create it or choose another key path",
                parent.display()
            ))
        })?;
    }
    let bytes = crate::secret::random_bytes::<KEY_LEN>()
        .map_err(|e| fail(format!("cannot make a new key: {e}")))?;
    let key: JournalKey = Zeroizing::new(bytes);
    let mut text = Zeroizing::new(hex::encode(&key[..]));
    text.push('\n');

    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    let mut file = match owner_only::create_with_mode(&mut options, sharing.key_mode()).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Err(CreateError::Exists),
        Err(e) => {
            return Err(fail(format!(
                "cannot create the key file ({e}); check that its folder is writable"
            )));
        }
    };
    let written = sharing
        .adopt_key(&file)
        .and_then(|()| file.write_all(text.as_bytes()))
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        // Do not leave a truncated key behind: the next run would refuse it.
        let _ = fs::remove_file(path);
        return Err(fail(format!(
            "cannot write the new key file ({e}); check free disk space and retry"
        )));
    }
    // Make the new directory entry durable too. Some filesystems cannot sync
    // a directory; the key itself is already on disk, so this is best effort.
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(dir) = fs::File::open(parent)
    {
        let _ = dir.sync_all();
    }
    Ok(key)
}

/// HMAC-SHA256(key, parts...) as lowercase hex.
pub(crate) fn hmac_hex(key: &[u8; KEY_LEN], parts: &[&[u8]]) -> String {
    // HMAC pads a short key with zeros to the block size; doing it here lets
    // us use the infallible constructor.
    let mut block = Zeroizing::new([0u8; 64]);
    block[..KEY_LEN].copy_from_slice(key);
    let mut mac = <Hmac<Sha256> as KeyInit>::new((&*block).into());
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        // Key "Jefe" zero-padded: HMAC pads keys with zeros, so this is the
        // RFC's vector.
        let mut key = [0u8; KEY_LEN];
        key[..4].copy_from_slice(b"Jefe");
        assert_eq!(
            hmac_hex(&key, &[b"what do ya ", b"want for nothing?"]),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn key_is_created_once_with_mode_0600_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/journal.key");
        let a = load_or_create(&path, &Sharing::Private).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let parent_mode = fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(parent_mode, 0o700);
        let b = load_or_create(&path, &Sharing::Private).unwrap();
        assert_eq!(*a, *b);
        assert_ne!(*a, [0u8; KEY_LEN]);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim(), hex::encode(&a[..]));
    }

    #[test]
    fn garbage_key_and_group_readable_key_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        fs::write(&path, "not hex\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let err = load_or_create(&path, &Sharing::Private).unwrap_err();
        assert!(matches!(err, JournalError::Key { .. }), "{err}");
        assert!(err.to_string().contains("64 hex digits"), "{err}");

        fs::write(&path, format!("{}\n", "ab".repeat(32))).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let err = load_or_create(&path, &Sharing::Private).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
        assert_eq!(
            *load_or_create(&path, &Sharing::Private).unwrap(),
            [0xab; KEY_LEN]
        );
    }
}
