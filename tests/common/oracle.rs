//! Shared helper: run the independent Python password oracle (tests/oracle/oracle.py).
//!
//! Use from an integration test with
//! `#[path = "common/oracle.rs"] mod oracle;`
//!
//! The interpreter comes from `LOCKSMITH_ORACLE_PYTHON`, else
//! `<repo>/.venv-oracle/bin/python`. When neither can import the oracle's
//! libraries the calling test FAILS (it never skips): run `scripts/setup-oracles`.

#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const IMPORTS: &str = "import passlib.hash, bcrypt, argon2, Crypto.Cipher.DES, Crypto.Protocol.KDF";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python interpreter that has the oracle's libraries; panics with setup advice otherwise.
pub fn python() -> &'static PathBuf {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = PYTHON.get_or_init(|| {
        let mut tried = Vec::new();
        let mut candidates = Vec::new();
        if let Some(p) = std::env::var_os("LOCKSMITH_ORACLE_PYTHON") {
            candidates.push(PathBuf::from(p));
        }
        candidates.push(repo().join(".venv-oracle/bin/python"));
        for c in candidates {
            let ok = Command::new(&c)
                .args(["-c", IMPORTS])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(c);
            }
            tried.push(c.display().to_string());
        }
        Err(format!(
            "no usable Python oracle (tried: {}). Run `scripts/setup-oracles` to create \
             .venv-oracle, or set LOCKSMITH_ORACLE_PYTHON to a python with passlib, bcrypt, \
             pycryptodome and argon2-cffi",
            tried.join(", ")
        ))
    });
    match found {
        Ok(p) => p,
        Err(msg) => panic!("{msg}"),
    }
}

/// Runs `oracle.py CMD KIND` with `input` as JSON on stdin and returns its JSON answer.
/// Passwords go through stdin only, never argv. Panics if the oracle fails.
pub fn oracle(cmd: &str, kind: &str, input: serde_json::Value) -> serde_json::Value {
    let script = repo().join("tests/oracle/oracle.py");
    let mut child = Command::new(python())
        .arg(&script)
        .args([cmd, kind])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the oracle {}: {e}", script.display()));
    {
        let mut stdin = child.stdin.take().expect("oracle stdin");
        stdin
            .write_all(input.to_string().as_bytes())
            .expect("write oracle stdin");
    }
    let out = child.wait_with_output().expect("wait for oracle");
    assert!(
        out.status.success(),
        "oracle {cmd} {kind} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "oracle {cmd} {kind} printed invalid JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// `oracle verify KIND` → the boolean answer.
pub fn oracle_verify(kind: &str, input: serde_json::Value) -> bool {
    let v = oracle("verify", kind, input);
    v["ok"]
        .as_bool()
        .unwrap_or_else(|| panic!("oracle verify {kind}: no boolean \"ok\" in {v}"))
}
