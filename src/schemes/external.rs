//! External encoders: a program the connector or the operator names that
//! turns a password into the vendor's stored value (a vendor library wrapped
//! in a script, for closed formats such as Yonyou U8's `clsLogin.EnPassWord`).
//!
//! Protocol: the password, UTF-8, followed by "\n", on stdin (then stdin is
//! closed); the encoding on stdout (trailing CR/LF trimmed); the account's
//! login in the environment variable `LOCKSMITH_LOGIN`. The child is killed
//! after the timeout (30 s).
//!
//! Errors never contain what went in or came out; the child's stderr is shown
//! only when it does not contain the password (or the output).
//!
//! The encoder's identity is a SHA-256 over its argv and over the contents of
//! every argv element that names an existing file, so an edited script is a
//! different encoder and needs a new calibration (see `ops::protocol`).

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{AccountInput, Hashed, PasswordRules, Scheme, SchemeError, ct_eq};
use crate::secret::Password;

/// How long an encoder may run before it is killed.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// At most this much of the child's stderr is shown.
const STDERR_SHOWN: usize = 400;

/// `[encoder]` in a connector, `--encoder`/`--encoder-arg` on the CLI,
/// `encoder = [...]` in a console profile.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct EncoderSpec {
    /// The program and its arguments (no shell).
    pub command: Vec<String>,
    /// true when the encoding depends on the login (a transplant is then refused).
    #[serde(default)]
    pub bound_to_login: bool,
}

impl EncoderSpec {
    /// Checks what can be checked without running it.
    pub fn validate(&self) -> Result<(), String> {
        match self.command.first() {
            None => Err("name the program: command = [\"/path/to/encoder\", …]".into()),
            Some(p) if p.trim().is_empty() => Err("the program name is empty".into()),
            Some(_) if self.command.iter().any(|a| a.contains('\0')) => {
                Err("an argument contains a NUL byte".into())
            }
            Some(_) => Ok(()),
        }
    }

    /// SHA-256 over the argv and the contents of every element that is an
    /// existing file: `sha256:<hex>`.
    pub fn identity(&self) -> Result<String, SchemeError> {
        let mut h = Sha256::new();
        for arg in &self.command {
            h.update(b"arg\0");
            h.update((arg.len() as u64).to_be_bytes());
            h.update(arg.as_bytes());
            let path = Path::new(arg);
            if path.is_file() {
                let bytes = std::fs::read(path).map_err(|e| {
                    SchemeError::Encoder(format!(
                        "cannot read the encoder file {arg} to fingerprint it ({e})"
                    ))
                })?;
                h.update(b"file\0");
                h.update((bytes.len() as u64).to_be_bytes());
                h.update(&bytes);
            }
        }
        Ok(format!("sha256:{}", hex::encode(h.finalize())))
    }

    /// The program's file name, for plans and the journal.
    pub fn program_name(&self) -> String {
        self.command
            .first()
            .map(|p| {
                Path::new(p)
                    .file_name()
                    .map_or_else(|| p.clone(), |n| n.to_string_lossy().into_owned())
            })
            .unwrap_or_default()
    }
}

/// The encoder as a scheme: hash = run it; verify = run it and compare.
#[derive(Debug)]
pub struct ExternalScheme {
    spec: EncoderSpec,
    identity: String,
    timeout: Duration,
}

impl ExternalScheme {
    pub fn new(spec: EncoderSpec) -> Result<ExternalScheme, SchemeError> {
        spec.validate()
            .map_err(|m| SchemeError::BadSpec(format!("encoder: {m}")))?;
        let identity = spec.identity()?;
        Ok(ExternalScheme {
            spec,
            identity,
            timeout: TIMEOUT,
        })
    }

    #[cfg(test)]
    fn with_timeout(mut self, timeout: Duration) -> ExternalScheme {
        self.timeout = timeout;
        self
    }

    /// `sha256:<hex>` computed when the scheme was built.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    pub fn program_name(&self) -> String {
        self.spec.program_name()
    }

    /// Runs the encoder once. The result is as secret as a stored hash.
    fn encode(
        &self,
        password: &Password,
        account: &AccountInput,
    ) -> Result<Zeroizing<String>, SchemeError> {
        self.rules().check(password)?;
        if password.expose().contains(['\n', '\r']) {
            return Err(SchemeError::Encoder(
                "the password contains a line break, which the encoder protocol (one line on stdin) cannot carry; choose another password".into(),
            ));
        }
        let name = self.program_name();
        let fail = |what: String| SchemeError::Encoder(format!("encoder {name}: {what}"));
        let mut child = self.spawn(account.login).map_err(|e| {
            fail(format!(
                "cannot start it ({e}); check the path and that it is executable"
            ))
        })?;
        let writer = feed_password(&mut child, password);
        let out = drain(child.stdout.take());
        let err = drain(child.stderr.take());
        let status = self.wait_or_kill(&mut child).map_err(fail)?;
        let _ = writer.join();
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        let text = Zeroizing::new(String::from_utf8_lossy(&stdout).into_owned());
        let value = Zeroizing::new(text.trim_end_matches(['\r', '\n']).to_string());
        judge_output(status, &value, &stderr, password).map_err(fail)?;
        Ok(value)
    }

    /// Starts the program with the login in its environment and all three pipes.
    fn spawn(&self, login: &str) -> std::io::Result<Child> {
        Command::new(&self.spec.command[0])
            .args(&self.spec.command[1..])
            .env("LOCKSMITH_LOGIN", login)
            // The encoder needs no database credentials.
            .env_remove("LOCKSMITH_DB_PASSWORD")
            .env_remove("MYSQL_PWD")
            .env_remove("PGPASSWORD")
            .env_remove("SQLCMDPASSWORD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    }

    /// The child's exit status; past the timeout it is killed.
    fn wait_or_kill(&self, child: &mut Child) -> Result<ExitStatus, String> {
        let started = Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if started.elapsed() >= self.timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "no answer within {} s; it was killed",
                        self.timeout.as_secs()
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => {
                    let _ = child.kill();
                    return Err(format!("waiting for it failed ({e})"));
                }
            }
        }
    }
}

/// Writes the password and "\n" to the child's stdin from a thread, then
/// closes it, so a child that writes before reading cannot deadlock us.
fn feed_password(child: &mut Child, password: &Password) -> JoinHandle<()> {
    let mut input = Zeroizing::new(Vec::with_capacity(password.expose().len() + 1));
    input.extend_from_slice(password.expose().as_bytes());
    input.push(b'\n');
    let stdin = child.stdin.take();
    std::thread::spawn(move || {
        if let Some(mut stdin) = stdin {
            // A child that exits without reading stdin is judged by its exit status.
            let _ = stdin.write_all(&input);
        }
    })
}

/// Reads a pipe to its end in a thread, so a full pipe never stalls the child.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> JoinHandle<Zeroizing<Vec<u8>>> {
    std::thread::spawn(move || {
        let mut buf = Zeroizing::new(Vec::new());
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

/// Refuses a failed run, an empty answer and more than one line.
fn judge_output(
    status: ExitStatus,
    value: &str,
    stderr: &[u8],
    password: &Password,
) -> Result<(), String> {
    if !status.success() {
        let how = match status.code() {
            Some(c) => format!("exited with status {c}"),
            None => "was killed by a signal".into(),
        };
        return Err(format!("{how}{}", stderr_note(stderr, password, value)));
    }
    if value.is_empty() {
        return Err(format!(
            "printed nothing on stdout (it must print the encoded value){}",
            stderr_note(stderr, password, value)
        ));
    }
    if value.contains(['\n', '\r']) {
        return Err(
            "printed more than one line on stdout (it must print only the encoded value)".into(),
        );
    }
    Ok(())
}

/// The child's stderr for an error message: withheld when it holds the
/// password or the output, control characters blanked, cut at STDERR_SHOWN.
fn stderr_note(stderr: &[u8], password: &Password, value: &str) -> String {
    let e = String::from_utf8_lossy(stderr);
    let e = e.trim();
    if e.is_empty() {
        String::new()
    } else if e.contains(password.expose()) || (!value.is_empty() && e.contains(value)) {
        "; its error output was withheld because it contains the password".into()
    } else {
        let shown: String = e
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(STDERR_SHOWN)
            .collect();
        format!("; it said: {shown}")
    }
}

impl Scheme for ExternalScheme {
    fn id(&self) -> String {
        format!(
            "external:{}:{}",
            self.program_name(),
            self.identity
                .strip_prefix("sha256:")
                .unwrap_or(&self.identity)
                .get(..12)
                .unwrap_or("")
        )
    }

    fn level(&self) -> super::Level {
        super::Level::External
    }

    fn rules(&self) -> PasswordRules {
        PasswordRules::NONE
    }

    fn bound_to_login(&self) -> bool {
        self.spec.bound_to_login
    }

    fn uses_salt_column(&self) -> bool {
        false
    }

    fn hash(&self, password: &Password, account: &AccountInput) -> Result<Hashed, SchemeError> {
        let v = self.encode(password, account)?;
        Ok(Hashed {
            stored: v.to_string(),
            salt: None,
        })
    }

    fn verify(
        &self,
        password: &Password,
        account: &AccountInput,
        stored: &str,
    ) -> Result<bool, SchemeError> {
        let v = self.encode(password, account)?;
        Ok(ct_eq(v.as_bytes(), stored.as_bytes()))
    }

    fn has_shape(&self, stored: &str) -> bool {
        !stored.is_empty()
    }

    fn opaque_values(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(dir: &Path, name: &str, body: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p.display().to_string()
    }

    fn scheme(cmd: &str) -> ExternalScheme {
        ExternalScheme::new(EncoderSpec {
            command: vec![cmd.into()],
            bound_to_login: false,
        })
        .unwrap()
    }

    const INPUT: AccountInput<'static> = AccountInput {
        login: "demo",
        salt: None,
    };

    #[test]
    fn encodes_verifies_and_passes_the_login() {
        let d = tempfile::tempdir().unwrap();
        let p = script(
            d.path(),
            "enc",
            "#!/bin/sh\nread -r pw\nprintf '%s|%s\\r\\n' \"$LOCKSMITH_LOGIN\" \"$pw\"\n",
        );
        let s = scheme(&p);
        let pw = Password::new("Abc#1".into());
        let h = s.hash(&pw, &INPUT).unwrap();
        assert_eq!(h.stored, "demo|Abc#1");
        assert!(s.verify(&pw, &INPUT, "demo|Abc#1").unwrap());
        assert!(!s.verify(&pw, &INPUT, "other").unwrap());
        assert!(s.id().starts_with("external:enc:"));
    }

    #[test]
    fn identity_changes_when_the_script_changes() {
        let d = tempfile::tempdir().unwrap();
        let p = script(d.path(), "enc", "#!/bin/sh\necho a\n");
        let spec = EncoderSpec {
            command: vec![p.clone(), "x".into()],
            bound_to_login: false,
        };
        let a = spec.identity().unwrap();
        assert_eq!(a, spec.identity().unwrap());
        script(d.path(), "enc", "#!/bin/sh\necho b\n");
        assert_ne!(a, spec.identity().unwrap());
        let other = EncoderSpec {
            command: vec![p, "y".into()],
            bound_to_login: false,
        };
        assert_ne!(spec.identity().unwrap(), other.identity().unwrap());
    }

    #[test]
    fn errors_never_contain_the_password() {
        let d = tempfile::tempdir().unwrap();
        let pw = Password::new("Sekret#42".into());
        let echo_err = script(
            d.path(),
            "e1",
            "#!/bin/sh\nread -r pw\necho \"bad $pw\" >&2\nexit 3\n",
        );
        let e = scheme(&echo_err).hash(&pw, &INPUT).unwrap_err().to_string();
        assert!(e.contains("status 3") && e.contains("withheld"), "{e}");
        assert!(!e.contains("Sekret"), "{e}");
        let plain_err = script(d.path(), "e2", "#!/bin/sh\necho 'no licence' >&2\nexit 1\n");
        let e = scheme(&plain_err)
            .hash(&pw, &INPUT)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no licence"), "{e}");
        let empty = script(d.path(), "e3", "#!/bin/sh\ncat >/dev/null\n");
        let e = scheme(&empty).hash(&pw, &INPUT).unwrap_err().to_string();
        assert!(e.contains("printed nothing"), "{e}");
        let slow = script(d.path(), "e4", "#!/bin/sh\nsleep 5\necho x\n");
        let started = Instant::now();
        let e = scheme(&slow)
            .with_timeout(Duration::from_millis(300))
            .hash(&pw, &INPUT)
            .unwrap_err()
            .to_string();
        assert!(e.contains("killed"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(4));
        let missing = scheme("/nonexistent/encoder")
            .hash(&pw, &INPUT)
            .unwrap_err();
        assert!(missing.to_string().contains("cannot start"));
        let nl = scheme(&empty)
            .hash(&Password::new("a\nb".into()), &INPUT)
            .unwrap_err();
        assert!(nl.to_string().contains("line break"));
    }
}
