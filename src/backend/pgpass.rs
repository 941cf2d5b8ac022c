//! PostgreSQL users' password conventions, as libpq reads them: `PGPASSWORD`,
//! then the password file (`PGPASSFILE`, default `~/.pgpass`), whose lines are
//! `hostname:port:database:username:password` with `*` matching anything and
//! `\:` / `\\` escaping. Like libpq, a file others may read is ignored.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::Target;

/// The password for `t` and where it came from, if either convention has one.
pub(super) fn password_for(t: &Target) -> Option<(Zeroizing<String>, String)> {
    if let Some(pw) = std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()) {
        return Some((Zeroizing::new(pw), "PGPASSWORD".into()));
    }
    let path = match std::env::var_os("PGPASSFILE") {
        Some(p) => PathBuf::from(p),
        None => default_file()?,
    };
    if !private(&path) {
        return None;
    }
    let text = Zeroizing::new(std::fs::read_to_string(&path).ok()?);
    let host = match &t.socket {
        // libpq matches a Unix-socket connection against `localhost`.
        Some(_) => "localhost".to_string(),
        None => t.host.clone(),
    };
    let port = t.port.unwrap_or(5432).to_string();
    let pw = lookup(&text, [&host, &port, &t.database, &t.user])?;
    Some((pw, path.display().to_string()))
}

/// libpq's default: `~/.pgpass`; on Windows `%APPDATA%\postgresql\pgpass.conf`.
fn default_file() -> Option<PathBuf> {
    #[cfg(windows)]
    {
        Some(
            PathBuf::from(std::env::var_os("APPDATA")?)
                .join("postgresql")
                .join("pgpass.conf"),
        )
    }
    #[cfg(not(windows))]
    {
        Some(PathBuf::from(std::env::var_os("HOME")?).join(".pgpass"))
    }
}

/// libpq skips a password file that group or others can read.
#[cfg(unix)]
fn private(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o077 == 0)
}

/// libpq does not check the file's permissions on Windows (it sits in the
/// user's own profile), so neither does locksmith.
#[cfg(not(unix))]
fn private(path: &Path) -> bool {
    path.is_file()
}

/// The first line whose four fields match (`*` matches anything).
fn lookup(text: &str, wanted: [&str; 4]) -> Option<Zeroizing<String>> {
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split(line);
        if fields.len() != 5 {
            continue;
        }
        let matches = fields[..4]
            .iter()
            .zip(wanted)
            .all(|(f, w)| f.as_str() == "*" || f.as_str() == w);
        if matches {
            return Some(Zeroizing::new(fields[4].to_string()));
        }
    }
    None
}

/// Splits on unescaped `:`; `\:` and `\\` stand for `:` and `\`.
fn split(line: &str) -> Vec<Zeroizing<String>> {
    let mut fields = vec![Zeroizing::new(String::new())];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next()
                    && let Some(last) = fields.last_mut()
                {
                    last.push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(Zeroizing::new(String::new())),
            c => {
                if let Some(last) = fields.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_matching_line_wins_with_wildcards_and_escapes() {
        let file = "# comment\n\
                    db1:5432:crm:odoo:first\n\
                    *:*:*:odoo:p\\:w\\\\d:x\n\
                    *:*:*:*:fallback\n";
        let get = |w: [&str; 4]| lookup(file, w).map(|p| p.to_string());
        assert_eq!(
            get(["db1", "5432", "crm", "odoo"]).as_deref(),
            Some("first")
        );
        assert_eq!(
            get(["db2", "6432", "x", "odoo"]).as_deref(),
            Some("p:w\\d:x")
        );
        assert_eq!(
            get(["db2", "5432", "x", "admin"]).as_deref(),
            Some("fallback")
        );
        assert_eq!(
            lookup("db1:5432:crm:odoo\n", ["db1", "5432", "crm", "odoo"]),
            None
        );
    }
}
