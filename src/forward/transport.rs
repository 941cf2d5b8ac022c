//! The byte streams a forwarder writes to: plain TCP, or TLS (rustls with
//! ring, the receiver authenticated against `ca=` or the system store and
//! its name checked against the URL's host). Blocking, with timeouts: a
//! dead receiver costs at most `CONNECT_TIMEOUT` + `IO_TIMEOUT`.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::{Destination, Transport};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const IO_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

impl Stream {
    /// Ends the stream politely (TLS close_notify); errors do not matter here.
    pub(crate) fn finish(self) {
        match self {
            Stream::Plain(s) => {
                let _ = s.shutdown(std::net::Shutdown::Write);
            }
            Stream::Tls(mut s) => {
                s.conn.send_close_notify();
                let _ = s.flush();
                let _ = s.sock.shutdown(std::net::Shutdown::Write);
            }
        }
    }
}

fn tcp(dest: &Destination) -> Result<TcpStream, String> {
    let addrs = (dest.host.as_str(), dest.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {} ({e})", dest.host))?;
    let mut last = format!("{} has no address", dest.host);
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(s) => {
                s.set_read_timeout(Some(IO_TIMEOUT))
                    .and_then(|()| s.set_write_timeout(Some(IO_TIMEOUT)))
                    .and_then(|()| s.set_nodelay(true))
                    .map_err(|e| format!("{addr}: {e}"))?;
                return Ok(s);
            }
            Err(e) => last = format!("cannot connect to {addr} ({e})"),
        }
    }
    Err(last)
}

/// Connects to the destination (the TLS handshake done, so a certificate
/// problem is told here).
pub(crate) fn connect(dest: &Destination) -> Result<Stream, String> {
    let sock = tcp(dest)?;
    let ca = match &dest.transport {
        Transport::Tls { ca } => ca.as_deref(),
        Transport::Tcp | Transport::Relp => return Ok(Stream::Plain(sock)),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?
        .with_root_certificates(roots(ca)?)
        .with_no_client_auth();
    let name = ServerName::try_from(dest.host.clone())
        .map_err(|e| format!("{} is not a TLS server name ({e})", dest.host))?;
    let conn =
        ClientConnection::new(Arc::new(config), name).map_err(|e| format!("TLS set-up: {e}"))?;
    let mut tls = StreamOwned::new(conn, sock);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).map_err(|e| {
            format!(
                "TLS handshake with {}:{} failed ({e})",
                dest.host, dest.port
            )
        })?;
    }
    Ok(Stream::Tls(Box::new(tls)))
}

/// `ca=` when given (every certificate of the PEM file), else the system store.
fn roots(ca: Option<&Path>) -> Result<RootCertStore, String> {
    crate::backend::pg_tls::trust_roots(ca, None, "add ca=/path/ca.pem to the forward URL")
}
