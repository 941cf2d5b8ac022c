//! TLS for postgres:// targets: rustls with the ring provider (no OpenSSL to
//! ship), the server authenticated against `ca=` or the system's trust store,
//! its name checked against the URL's host. `skip-verify=true` keeps the
//! encryption and the handshake signatures but trusts any certificate.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::Target;

/// The TLS connector for `target`; the error names what to fix.
pub(super) fn connector(target: &Target) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?;
    let config = if target.skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(roots(target)?)
            .with_no_client_auth()
    };
    Ok(MakeRustlsConnect::new(config))
}

/// `ca=` when given (every certificate in the PEM file), else the system store.
fn roots(target: &Target) -> Result<RootCertStore, String> {
    const FIX: &str = "pass ca=/path/to/the-server-ca.pem";
    trust_roots(target.ca_file.as_deref(), Some(FIX), FIX)
}

/// The trust roots of a TLS client (PostgreSQL here, the journal's syslog
/// forwarder too): every certificate of the PEM file `ca`, else the system
/// store. `ca_fix` ends an unreadable CA file's message; `no_system_fix`
/// the message when the system store holds no certificate.
pub(crate) fn trust_roots(
    ca: Option<&Path>,
    ca_fix: Option<&str>,
    no_system_fix: &str,
) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match ca {
        Some(path) => {
            let unreadable = |e: &dyn std::fmt::Display| match ca_fix {
                Some(fix) => format!("CA file {}: {e}; {fix}", path.display()),
                None => format!("CA file {}: {e}", path.display()),
            };
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| unreadable(&e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| unreadable(&e))?;
            if certs.is_empty() {
                return Err(unreadable(&"no PEM certificate in it"));
            }
            for cert in certs {
                store.add(cert).map_err(|e| unreadable(&e))?;
            }
        }
        None => {
            // Certificates the system store holds but rustls cannot parse are skipped.
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = store.add(cert);
            }
            if store.is_empty() {
                return Err(format!(
                    "the system trust store has no certificates; {no_system_fix}"
                ));
            }
        }
    }
    Ok(store)
}

/// What the operator can do about a failed TLS connection, when TLS was the cause.
pub(super) fn explain(e: &tokio_postgres::Error) -> Option<String> {
    if server_lacks_tls(e) {
        return Some(
            "tls=required but the server does not offer TLS; enable ssl on the server, or use tls=disabled on a network you trust".into(),
        );
    }
    let rustls_error = std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .and_then(|io| io.get_ref())
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())?;
    Some(match rustls_error {
        rustls::Error::InvalidCertificate(why) => format!(
            "the server's certificate is not trusted ({why:?}); pass ca=/path/to/the-server-ca.pem, or skip-verify=true on a network you trust"
        ),
        other => format!("TLS handshake failed: {other}"),
    })
}

/// True when the server answered the TLS request with "no".
/// tokio-postgres carries the reason as the error's source, not in its text.
pub(super) fn server_lacks_tls(e: &tokio_postgres::Error) -> bool {
    std::error::Error::source(e).is_some_and(|s| s.to_string() == "server does not support TLS")
}

/// `skip-verify=true`: any certificate is accepted; the handshake signatures
/// are still checked, so the session is encrypted to whoever holds the key.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
