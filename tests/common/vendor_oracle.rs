//! The vendors' own verifiers as oracles: PHP (Debian php-cli) running the PHP
//! vendors' login checks (tests/oracle/vendor.php), the JDK and jBCrypt running
//! the Java vendors' (tests/oracle/VendorOracle.java, compiled at test time into
//! the target dir), and passlib with Odoo's CryptContext (tests/oracle/oracle.py).
//!
//! A missing tool makes the calling test FAIL, naming `scripts/setup-oracles`.
//! Passwords go to the oracles on stdin only.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use base64::Engine as _;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn works(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn php() -> &'static str {
    static PHP: OnceLock<Result<String, String>> = OnceLock::new();
    let found = PHP.get_or_init(|| {
        let php = std::env::var("LOCKSMITH_ORACLE_PHP").unwrap_or_else(|_| "php".into());
        if works(&php, &["-r", "exit(function_exists('password_verify') && function_exists('crypt') ? 0 : 1);"]) {
            Ok(php)
        } else {
            Err(format!(
                "the PHP oracle needs php-cli (tried `{php}`): run `scripts/setup-oracles` (apt-get install php-cli) or set LOCKSMITH_ORACLE_PHP"
            ))
        }
    });
    match found {
        Ok(p) => p,
        Err(m) => panic!("{m}"),
    }
}

fn run(mut cmd: Command, input: &[u8], what: &str) -> String {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start the {what} oracle: {e}; run scripts/setup-oracles")
        });
    child
        .stdin
        .take()
        .expect("oracle stdin")
        .write_all(input)
        .expect("write oracle stdin");
    let out = child.wait_with_output().expect("wait for oracle");
    assert!(
        out.status.success(),
        "{what} oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("oracle output is UTF-8")
}

/// `php tests/oracle/vendor.php KIND` with `input` (JSON) on stdin → the vendor's verdict.
pub fn php_verify(kind: &str, input: serde_json::Value) -> bool {
    let mut cmd = Command::new(php());
    cmd.arg(repo().join("tests/oracle/vendor.php")).arg(kind);
    let out = run(cmd, input.to_string().as_bytes(), "PHP");
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("PHP oracle printed {out:?}: {e}"));
    v["ok"]
        .as_bool()
        .unwrap_or_else(|| panic!("PHP oracle {kind}: no boolean ok in {v}"))
}

fn jbcrypt_jar() -> PathBuf {
    std::env::var_os("LOCKSMITH_JBCRYPT_JAR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/java/jbcrypt.jar"))
}

/// The compiled VendorOracle class directory (compiled once per test process).
fn java_classes() -> &'static PathBuf {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = DIR.get_or_init(|| {
        let jar = jbcrypt_jar();
        if !jar.is_file() {
            return Err(format!(
                "the Java oracle needs jBCrypt at {} : run `scripts/setup-oracles` (apt-get install libjbcrypt-java) or set LOCKSMITH_JBCRYPT_JAR",
                jar.display()
            ));
        }
        if !works("javac", &["-version"]) || !works("java", &["-version"]) {
            return Err(
                "the Java oracle needs a JDK (javac, java): run `scripts/setup-oracles` (apt-get install default-jdk-headless)".into(),
            );
        }
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("oracle-java-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let out = Command::new("javac")
            .arg("-nowarn")
            .arg("-cp")
            .arg(&jar)
            .arg("-d")
            .arg(&dir)
            .arg(repo().join("tests/oracle/VendorOracle.java"))
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "javac failed on tests/oracle/VendorOracle.java: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(dir)
    });
    match found {
        Ok(p) => p,
        Err(m) => panic!("{m}"),
    }
}

/// `java VendorOracle KIND` with name/value pairs on stdin → the vendor's verdict.
pub fn java_verify(kind: &str, fields: &[(&str, &str)]) -> bool {
    let classes = java_classes();
    let cp = format!("{}:{}", classes.display(), jbcrypt_jar().display());
    let mut cmd = Command::new("java");
    cmd.args(["-cp", &cp, "VendorOracle", kind]);
    let b64 = base64::engine::general_purpose::STANDARD;
    let input: String = fields
        .iter()
        .map(|(k, v)| format!("{k} {}\n", b64.encode(v.as_bytes())))
        .collect();
    match run(cmd, input.as_bytes(), "Java").trim() {
        "true" => true,
        "false" => false,
        other => panic!("Java oracle {kind} printed {other:?}"),
    }
}
