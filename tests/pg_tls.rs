//! PostgreSQL over TLS against a real server: a cluster of its own (initdb +
//! pg_ctl under a temp dir, on a free port, `ssl = on` with a certificate
//! signed by a CA made for this test), so the shared server is not
//! reconfigured. One test walks every mode in turn on that cluster.

// clippy.toml's disallowed methods guard the console reducer; a test does I/O and waits.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::Command;

use locksmith::backend::{self, BackendError, Target};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// `PATH`'s initdb, or the newest Debian one.
fn pg_bin(name: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    versions.sort_by_key(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions
        .iter()
        .rev()
        .map(|v| v.join("bin").join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

/// Runs a server tool as the postgres user when we are root (postgres refuses root).
fn as_pg_user(program: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    cmd.args(args)
        .output()
        .expect("run a PostgreSQL server tool")
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

/// A CA and a server certificate for 127.0.0.1 / localhost signed by it.
fn pki(ca_name: &str) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "locksmith TLS test server");
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// A running cluster; stopped and removed on drop.
struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
}

impl Cluster {
    fn start(pki: &Pki) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        if is_root() {
            let chown = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(chown.success());
        }
        let data_s = data.to_str().unwrap();
        let out = as_pg_user(
            &pg_bin("initdb"),
            &["-D", data_s, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        );
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for (name, text) in [("server.crt", &pki.cert_pem), ("server.key", &pki.key_pem)] {
            let path = data.join(name);
            std::fs::write(&path, text).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            if is_root() {
                Command::new("chown")
                    .args(["postgres:postgres"])
                    .arg(&path)
                    .status()
                    .unwrap();
            }
        }
        let port = free_port();
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
             ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n\
             fsync = off\nshared_buffers = 16MB\nmax_connections = 20\n",
            dir.path().display()
        );
        let mut existing = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        existing.push_str(&conf);
        std::fs::write(data.join("postgresql.conf"), existing).unwrap();
        let log = dir.path().join("server.log");
        let out = as_pg_user(
            &pg_bin("pg_ctl"),
            &[
                "-D",
                data_s,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        Cluster { dir, port }
    }

    /// Turns the server's TLS off or on (a reload: `ssl` is a reloadable setting).
    fn set_ssl(&self, on: bool) {
        let data = self.dir.path().join("data");
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str(if on { "ssl = on\n" } else { "ssl = off\n" });
        std::fs::write(&conf, text).unwrap();
        let out = as_pg_user(&pg_bin("pg_ctl"), &["-D", data.to_str().unwrap(), "reload"]);
        assert!(out.status.success());
        // The postmaster applies the reload asynchronously; new connections see it after.
        std::thread::sleep(std::time::Duration::from_millis(1500));
    }

    fn url(&self, query: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?{query}",
            self.port
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = as_pg_user(
            &pg_bin("pg_ctl"),
            &["-D", data.to_str().unwrap(), "-m", "immediate", "stop"],
        );
    }
}

/// Connects as Locksmith does; on success, whether the session is encrypted
/// (the server's own view, pg_stat_ssl) and the connection's warnings.
async fn connect(url: &str) -> Result<(bool, Vec<String>), String> {
    let target = Target::parse(url).map_err(|e| e.to_string())?;
    let mut b = backend::connect(&target).await.map_err(|e| match e {
        BackendError::Connect { reason, .. } => reason,
        other => other.to_string(),
    })?;
    let rows = b
        .query(
            "SELECT CASE WHEN ssl THEN 'yes' ELSE 'no' END FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    let ssl = matches!(rows[0][0], backend::Value::Text(ref s) if s == "yes");
    let warnings = b.warnings();
    b.close().await.map_err(|e| e.to_string())?;
    Ok((ssl, warnings))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_modes_against_a_server_with_and_without_tls() {
    let server = pki("locksmith test CA");
    let other = pki("some other CA");
    let cluster = Cluster::start(&server);
    let files = tempfile::tempdir().unwrap();
    let ca = files.path().join("ca.pem");
    let wrong_ca = files.path().join("wrong-ca.pem");
    std::fs::write(&ca, &server.ca_pem).unwrap();
    std::fs::write(&wrong_ca, &other.ca_pem).unwrap();
    let ca = ca.display().to_string();
    let wrong_ca = wrong_ca.display().to_string();

    // required + the right CA: an encrypted, verified session.
    let (ssl, warnings) = connect(&cluster.url(&format!("tls=required&ca={ca}")))
        .await
        .unwrap();
    assert!(ssl, "the server reports the session unencrypted");
    assert!(warnings.is_empty(), "{warnings:?}");
    // libpq's spelling of the same.
    let (ssl, _) = connect(&cluster.url(&format!("sslmode=verify-full&sslrootcert={ca}")))
        .await
        .unwrap();
    assert!(ssl);

    // A CA that did not sign the server's certificate: refused, naming what to do.
    let e = connect(&cluster.url(&format!("tls=required&ca={wrong_ca}")))
        .await
        .unwrap_err();
    assert!(e.contains("not trusted") && e.contains("ca="), "{e}");
    // preferred does not fall back to clear text on an untrusted certificate.
    let e = connect(&cluster.url(&format!("tls=preferred&ca={wrong_ca}")))
        .await
        .unwrap_err();
    assert!(e.contains("not trusted"), "{e}");
    // No ca= and a private CA: the system store does not know it either.
    let e = connect(&cluster.url("tls=required")).await.unwrap_err();
    assert!(e.contains("not trusted"), "{e}");
    // skip-verify: encrypted, with a warning that the server is not authenticated.
    let (ssl, warnings) = connect(&cluster.url("tls=required&skip-verify=true"))
        .await
        .unwrap();
    assert!(ssl);
    assert!(
        warnings.iter().any(|w| w.contains("skip-verify")),
        "{warnings:?}"
    );
    // A CA file that is not PEM is named.
    let e = connect(&cluster.url("tls=required&ca=/etc/hostname"))
        .await
        .unwrap_err();
    assert!(e.contains("/etc/hostname"), "{e}");

    cluster.set_ssl(false);
    // required against a server without TLS: a clear refusal.
    let e = connect(&cluster.url(&format!("tls=required&ca={ca}")))
        .await
        .unwrap_err();
    assert!(e.contains("does not offer TLS"), "{e}");
    // preferred falls back and says so.
    let (ssl, warnings) = connect(&cluster.url(&format!("tls=preferred&ca={ca}")))
        .await
        .unwrap();
    assert!(!ssl);
    assert!(
        warnings.iter().any(|w| w.contains("does not offer TLS")),
        "{warnings:?}"
    );
    // disabled: plain, no warning.
    let (ssl, warnings) = connect(&cluster.url("tls=disabled")).await.unwrap();
    assert!(!ssl && warnings.is_empty(), "{warnings:?}");

    passwords_come_from_pgpassword_and_pgpass(&cluster, files.path()).await;
}

/// psql users' conventions on a login that needs a password (scram-sha-256).
/// Runs inside the one test: it sets PGPASSWORD / PGPASSFILE for this process.
async fn passwords_come_from_pgpassword_and_pgpass(cluster: &Cluster, dir: &Path) {
    let admin = Target::parse(&cluster.url("tls=disabled")).unwrap();
    let mut b = backend::connect(&admin).await.unwrap();
    b.execute("CREATE ROLE ls_pw LOGIN PASSWORD 'pgpass-secret'", &[])
        .await
        .unwrap();
    b.close().await.unwrap();
    let hba = cluster.dir.path().join("data").join("pg_hba.conf");
    let rules = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(
        &hba,
        format!("host all ls_pw 127.0.0.1/32 scram-sha-256\n{rules}"),
    )
    .unwrap();
    cluster.set_ssl(false); // a reload, which also rereads pg_hba.conf

    let url = format!(
        "postgres://ls_pw@127.0.0.1:{}/postgres?tls=disabled",
        cluster.port
    );
    let with_resolved = async |url: &str| {
        let mut t = Target::parse(url).unwrap();
        t.resolve_password();
        let source = t.password_source.clone();
        let r = backend::connect(&t)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string());
        (source, r)
    };
    // SAFETY: this is the only test in this binary; nothing else reads the environment now.
    unsafe {
        std::env::remove_var("LOCKSMITH_DB_PASSWORD");
        std::env::remove_var("PGPASSWORD");
        std::env::set_var("PGPASSFILE", dir.join("none"));
    }
    let (_, r) = with_resolved(&url).await;
    assert!(
        r.unwrap_err().contains("access denied"),
        "no password must fail"
    );

    let pgpass = dir.join("pgpass");
    let line = format!(
        "# comment\n127.0.0.1:{}:postgres:ls_pw:pgpass-secret\n",
        cluster.port
    );
    std::fs::write(&pgpass, line).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    unsafe { std::env::set_var("PGPASSFILE", &pgpass) };
    let (source, r) = with_resolved(&url).await;
    assert_eq!(r, Ok(()));
    assert_eq!(source.as_deref(), Some(pgpass.to_str().unwrap()));
    // As libpq does, a password file others can read is ignored.
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (source, r) = with_resolved(&url).await;
    assert!(r.is_err() && source.is_none(), "{source:?}");

    unsafe { std::env::set_var("PGPASSWORD", "pgpass-secret") };
    let (source, r) = with_resolved(&url).await;
    assert_eq!(r, Ok(()));
    assert_eq!(source.as_deref(), Some("PGPASSWORD"));
    unsafe { std::env::remove_var("PGPASSWORD") };
}
