//! Files and folders for the OS user only: Unix modes 0600/0700, and on
//! Windows their equivalent, a protected access-control list (nothing
//! inherited from the folder above) whose one entry gives the current user
//! full control. Folders pass that entry on to what is created inside them
//! (SQLite's side files, the lock folder), so those start private too.

#[cfg(not(unix))]
use std::fs::File;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::Path;

/// Makes `options` create its file with `mode` (Unix). On Windows it asks
/// for the right to set the file's ACL, which [`restrict_file`] then does on
/// the open handle, before anything is written to it.
pub(crate) fn create_with_mode(options: &mut OpenOptions, mode: u32) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode)
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::OpenOptionsExt;
        let _ = mode;
        options.access_mode(windows::OPEN_ACCESS)
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = mode;
        options
    }
}

/// Creates `dir` and its missing parents for the user only (0700, or the
/// user-only ACL on each folder this call creates). Folders that exist are
/// left as they are.
pub(crate) fn create_private_dirs(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    #[cfg(not(unix))]
    {
        let missing: Vec<&Path> = dir.ancestors().take_while(|d| !d.exists()).collect();
        fs::create_dir_all(dir)?;
        // Outermost first: each inner folder then inherits the user-only entry.
        for made in missing.iter().rev() {
            restrict_dir(made)?;
        }
        Ok(())
    }
}

/// Gives the file behind `file` (opened through [`create_with_mode`]) the
/// user-only ACL (Windows; on Unix the mode given at creation does that).
#[cfg(not(unix))]
pub(crate) fn restrict_file(file: &File) -> io::Result<()> {
    #[cfg(windows)]
    {
        windows::restrict_handle(file)
    }
    #[cfg(not(windows))]
    {
        let _ = file;
        Ok(())
    }
}

/// Gives the folder `dir` the user-only ACL, passed on to what it will hold.
#[cfg(not(unix))]
pub(crate) fn restrict_dir(dir: &Path) -> io::Result<()> {
    #[cfg(windows)]
    {
        windows::restrict_path(dir)
    }
    #[cfg(not(windows))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Windows: the accounts other than the user, SYSTEM and Administrators that
/// the ACL of `path` lets in (as SIDs, `Everyone` for a missing ACL). Empty
/// means as private as 0600 on Unix, where root can read every file too.
#[cfg(windows)]
pub(crate) fn others_allowed(path: &Path) -> io::Result<Vec<String>> {
    windows::others_allowed(path)
}

#[cfg(windows)]
mod windows {
    use std::ffi::OsStr;
    use std::fs::File;
    use std::io;
    use std::os::windows::ffi::OsStrExt;
    use std::os::windows::io::AsRawHandle;
    use std::path::Path;
    use std::ptr;

    use windows_sys::Win32::Foundation::{
        CloseHandle, ERROR_SUCCESS, GENERIC_READ, GENERIC_WRITE, HANDLE, LocalFree,
    };
    use windows_sys::Win32::Security::Authorization::{
        ConvertSidToStringSidW, GetNamedSecurityInfoW, SE_FILE_OBJECT, SetNamedSecurityInfoW,
        SetSecurityInfo,
    };
    use windows_sys::Win32::Security::{
        ACCESS_ALLOWED_ACE, ACE_HEADER, ACL, ACL_REVISION, AddAccessAllowedAceEx,
        CONTAINER_INHERIT_ACE, DACL_SECURITY_INFORMATION, EqualSid, GetAce, GetLengthSid,
        GetTokenInformation, INHERIT_ONLY_ACE, InitializeAcl, IsWellKnownSid, OBJECT_INHERIT_ACE,
        PROTECTED_DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID, TOKEN_QUERY, TOKEN_USER,
        TokenUser, WinBuiltinAdministratorsSid, WinLocalSystemSid,
    };
    use windows_sys::Win32::Storage::FileSystem::{FILE_ALL_ACCESS, READ_CONTROL, WRITE_DAC};
    use windows_sys::Win32::System::SystemServices::{
        ACCESS_ALLOWED_ACE_TYPE, ACCESS_ALLOWED_CALLBACK_ACE_TYPE,
    };
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

    /// Read, write, and read and change the ACL (an owner may always do both).
    pub(super) const OPEN_ACCESS: u32 = GENERIC_READ | GENERIC_WRITE | READ_CONTROL | WRITE_DAC;

    /// The current user's SID, in a buffer that must outlive its uses.
    struct UserSid {
        buf: Vec<u64>,
    }

    impl UserSid {
        fn current() -> io::Result<UserSid> {
            let mut token: HANDLE = ptr::null_mut();
            // SAFETY: plain calls with out-pointers to locals; the token
            // handle is closed below on every path.
            unsafe {
                if OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) == 0 {
                    return Err(io::Error::last_os_error());
                }
                let mut len = 0u32;
                GetTokenInformation(token, TokenUser, ptr::null_mut(), 0, &mut len);
                let mut buf = vec![0u64; (len as usize).div_ceil(8).max(1)];
                let ok =
                    GetTokenInformation(token, TokenUser, buf.as_mut_ptr().cast(), len, &mut len);
                let err = io::Error::last_os_error();
                CloseHandle(token);
                if ok == 0 {
                    return Err(err);
                }
                Ok(UserSid { buf })
            }
        }

        fn sid(&self) -> PSID {
            // SAFETY: `buf` holds the TOKEN_USER GetTokenInformation wrote
            // (8-byte aligned); its SID points into the same buffer.
            unsafe { (*self.buf.as_ptr().cast::<TOKEN_USER>()).User.Sid }
        }
    }

    /// An ACL with one entry: full control for the user; `inherit` passes
    /// it on to files and folders created inside a folder.
    fn user_only_acl(user: &UserSid, inherit: bool) -> io::Result<Vec<u64>> {
        let sid = user.sid();
        // SAFETY: `sid` is the valid SID `user` holds; the ACL buffer is
        // sized for the header, one ACE and that SID, and 8-byte aligned.
        unsafe {
            let ace_len = std::mem::size_of::<ACCESS_ALLOWED_ACE>() - std::mem::size_of::<u32>();
            let len = std::mem::size_of::<ACL>() + ace_len + GetLengthSid(sid) as usize;
            let mut buf = vec![0u64; len.div_ceil(8)];
            let acl = buf.as_mut_ptr().cast::<ACL>();
            if InitializeAcl(acl, len as u32, ACL_REVISION) == 0 {
                return Err(io::Error::last_os_error());
            }
            let flags = if inherit {
                OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE
            } else {
                0
            };
            if AddAccessAllowedAceEx(acl, ACL_REVISION, flags, FILE_ALL_ACCESS, sid) == 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(buf)
        }
    }

    fn check(code: u32) -> io::Result<()> {
        if code == ERROR_SUCCESS {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(code as i32))
        }
    }

    const PROTECTED_DACL: u32 = DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION;

    pub(super) fn restrict_handle(file: &File) -> io::Result<()> {
        let user = UserSid::current()?;
        let acl = user_only_acl(&user, false)?;
        // SAFETY: the handle is open (borrowed from `file`) with WRITE_DAC
        // (OPEN_ACCESS); `acl` is a valid ACL that outlives the call.
        let code = unsafe {
            SetSecurityInfo(
                file.as_raw_handle(),
                SE_FILE_OBJECT,
                PROTECTED_DACL,
                ptr::null_mut(),
                ptr::null_mut(),
                acl.as_ptr().cast(),
                ptr::null(),
            )
        };
        check(code)
    }

    fn wide(path: &Path) -> Vec<u16> {
        OsStr::new(path).encode_wide().chain(Some(0)).collect()
    }

    pub(super) fn restrict_path(dir: &Path) -> io::Result<()> {
        let user = UserSid::current()?;
        let acl = user_only_acl(&user, true)?;
        let name = wide(dir);
        // SAFETY: `name` is NUL-terminated UTF-16; `acl` is a valid ACL.
        let code = unsafe {
            SetNamedSecurityInfoW(
                name.as_ptr(),
                SE_FILE_OBJECT,
                PROTECTED_DACL,
                ptr::null_mut(),
                ptr::null_mut(),
                acl.as_ptr().cast(),
                ptr::null(),
            )
        };
        check(code)
    }

    /// `S-1-…` for `sid`, or `?` if Windows cannot spell it.
    fn sid_text(sid: PSID) -> String {
        let mut text: *mut u16 = ptr::null_mut();
        // SAFETY: `sid` points into a live DACL; the string Windows
        // allocates is read up to its NUL, then freed with LocalFree.
        unsafe {
            if ConvertSidToStringSidW(sid, &mut text) == 0 || text.is_null() {
                return "?".into();
            }
            let len = (0..).take_while(|&i| *text.add(i) != 0).count();
            let out = String::from_utf16_lossy(std::slice::from_raw_parts(text, len));
            LocalFree(text.cast());
            out
        }
    }

    pub(super) fn others_allowed(path: &Path) -> io::Result<Vec<String>> {
        let user = UserSid::current()?;
        let name = wide(path);
        let mut dacl: *mut ACL = ptr::null_mut();
        let mut sd: PSECURITY_DESCRIPTOR = ptr::null_mut();
        // SAFETY: out-pointers to locals; `dacl` points into `sd`, which is
        // freed with LocalFree after the last read of an entry.
        unsafe {
            check(GetNamedSecurityInfoW(
                name.as_ptr(),
                SE_FILE_OBJECT,
                DACL_SECURITY_INFORMATION,
                ptr::null_mut(),
                ptr::null_mut(),
                &mut dacl,
                ptr::null_mut(),
                &mut sd,
            ))?;
            let mut others = Vec::new();
            if dacl.is_null() {
                // No DACL at all: everyone has full access.
                others.push("Everyone (no ACL)".to_string());
            } else {
                for i in 0..u32::from((*dacl).AceCount) {
                    let mut ace: *mut core::ffi::c_void = ptr::null_mut();
                    if GetAce(dacl, i, &mut ace) == 0 {
                        continue;
                    }
                    let header = *ace.cast::<ACE_HEADER>();
                    let kind = u32::from(header.AceType);
                    if u32::from(header.AceFlags) & INHERIT_ONLY_ACE != 0
                        || (kind != ACCESS_ALLOWED_ACE_TYPE
                            && kind != ACCESS_ALLOWED_CALLBACK_ACE_TYPE)
                    {
                        continue;
                    }
                    let sid: PSID =
                        ptr::addr_of_mut!((*ace.cast::<ACCESS_ALLOWED_ACE>()).SidStart).cast();
                    let trusted = EqualSid(sid, user.sid()) != 0
                        || IsWellKnownSid(sid, WinLocalSystemSid) != 0
                        || IsWellKnownSid(sid, WinBuiltinAdministratorsSid) != 0;
                    if !trusted {
                        others.push(sid_text(sid));
                    }
                }
            }
            LocalFree(sd);
            Ok(others)
        }
    }
}
