//! Test certificates and the PRELOGIN wrapping of the TLS handshake.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The self-signed test certificate (returned as PEM; SAN localhost and
/// 127.0.0.1) and a server config presenting it. TLS 1.2 only, like the SQL
/// Server versions Locksmith meets.
pub fn make_certs() -> (String, Arc<rustls::ServerConfig>) {
    use rcgen::{CertificateParams, DnType, KeyPair};
    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "Locksmith TDS test endpoint");
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_cert = params.self_signed(&leaf_key).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf_cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    (leaf_cert.pem(), Arc::new(cfg))
}

/// During the handshake TLS records travel inside PRELOGIN (0x12) packets;
/// afterwards the wrapper is transparent.
pub struct PreloginWrap {
    pub inner: TcpStream,
    pub handshake: bool,
    header: [u8; 8],
    hpos: usize,
    remaining: usize,
    wbuf: Vec<u8>,
}

impl PreloginWrap {
    pub fn new(inner: TcpStream) -> Self {
        PreloginWrap {
            inner,
            handshake: true,
            header: [0; 8],
            hpos: 0,
            remaining: 0,
            wbuf: Vec::new(),
        }
    }

    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.wbuf.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.wbuf))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wbuf.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for PreloginWrap {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.handshake {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        while this.remaining == 0 {
            while this.hpos < 8 {
                let mut rb = ReadBuf::new(&mut this.header[this.hpos..]);
                ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
                let n = rb.filled().len();
                if n == 0 {
                    return Poll::Ready(Ok(()));
                }
                this.hpos += n;
            }
            this.hpos = 0;
            this.remaining =
                (u16::from_be_bytes([this.header[2], this.header[3]]) as usize).saturating_sub(8);
        }
        let max = this.remaining.min(buf.remaining());
        let dst = buf.initialize_unfilled_to(max);
        let mut rb = ReadBuf::new(dst);
        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
        let n = rb.filled().len();
        buf.advance(n);
        this.remaining -= n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for PreloginWrap {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.handshake {
            for chunk in data.chunks(4096 - 8) {
                let len = (chunk.len() + 8) as u16;
                this.wbuf.extend_from_slice(&[0x12, 0x01]);
                this.wbuf.extend_from_slice(&len.to_be_bytes());
                this.wbuf.extend_from_slice(&[0, 0, 1, 0]);
                this.wbuf.extend_from_slice(chunk);
            }
            return Poll::Ready(Ok(data.len()));
        }
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}
