//! How a live source reaches its Redis server (the proxy's upstream, the server `watch` follows): plain TCP for
//! `redis://`, TLS for `rediss://`; and, for the side connections that ask the server things (`INFO`, `AUTH`,
//! `PSUBSCRIBE`), a command call with a timeout ([`call`]).
//!
//! Applications speak plain TCP to the proxy, which speaks TLS to the server: the proxy sits next to the
//! application (a sidecar) in front of a managed service that requires encryption in transit. The server's
//! certificate is checked against the system's roots and `--upstream-ca`; `#insecure` at the end of the URL
//! accepts any certificate, as the doctor and the redis crate do.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::redis_url::RedisUrl;

mod call;
pub use call::{call, connect_authenticated};

/// Where the upstream is and how long to try reaching it.
#[derive(Clone)]
pub struct Upstream {
    pub address: String,
    /// As shown to people (no password).
    pub shown: String,
    /// Covers the TCP connection and the TLS handshake together.
    pub connect_timeout: Duration,
    /// Set for `rediss://`.
    pub tls: Option<UpstreamTls>,
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream").field("shown", &self.shown).field("tls", &self.tls.is_some()).finish()
    }
}

/// What TLS to the upstream needs, made once: every connection shares it.
#[derive(Clone)]
pub struct UpstreamTls {
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read the CA certificates in {path}: {why}")]
    CaFile { path: String, why: String },
    #[error("{path} holds no PEM certificate")]
    NoCertificateInCaFile { path: String },
    #[error(
        "no trusted root certificates were found on this system: name the server's CA with --upstream-ca FILE, or add #insecure to the URL to accept any certificate"
    )]
    NoRoots,
    #[error("`{host}` cannot be checked against a TLS certificate")]
    ServerName { host: String },
}

/// A connection to the upstream.
pub enum Connected {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// Either kind of connection, for code that does not care which.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

impl Connected {
    pub fn boxed(self) -> Box<dyn Stream> {
        match self {
            Connected::Plain(stream) => Box::new(stream),
            Connected::Tls(stream) => stream,
        }
    }
}

impl Upstream {
    /// The upstream of `url`; `ca_file` adds certificates to trust beside the system's.
    pub fn new(url: &RedisUrl, ca_file: Option<&Path>, connect_timeout: Duration) -> Result<Upstream, TlsSetupError> {
        let tls = if url.tls { Some(UpstreamTls::new(url, ca_file)?) } else { None };
        Ok(Upstream { address: url.address(), shown: url.to_string(), connect_timeout, tls })
    }

    /// Connects (and shakes hands, for TLS) within the timeout; the error says why in words for the client.
    pub async fn connect(&self) -> Result<Connected, String> {
        let attempt = async {
            let stream = TcpStream::connect(&self.address).await.map_err(|error| error.to_string())?;
            let _ = stream.set_nodelay(true);
            match &self.tls {
                None => Ok(Connected::Plain(stream)),
                Some(tls) => {
                    let stream = tls
                        .connector
                        .connect(tls.server_name.clone(), stream)
                        .await
                        .map_err(|error| handshake_failure(&error))?;
                    Ok(Connected::Tls(Box::new(stream)))
                }
            }
        };
        tokio::time::timeout(self.connect_timeout, attempt)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {}", humantime::format_duration(self.connect_timeout))))
    }
}

fn handshake_failure(error: &io::Error) -> String {
    let certificate = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|e| matches!(e, rustls::Error::InvalidCertificate(_)));
    if certificate {
        format!(
            "TLS handshake failed: {error} (name the server's CA with --upstream-ca FILE, or add #insecure to the \
             URL to accept any certificate)"
        )
    } else {
        format!("TLS handshake failed: {error}")
    }
}

impl UpstreamTls {
    fn new(url: &RedisUrl, ca_file: Option<&Path>) -> Result<UpstreamTls, TlsSetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions");
        let config = if url.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth()
        } else {
            builder.with_root_certificates(roots(ca_file)?).with_no_client_auth()
        };
        let server_name =
            ServerName::try_from(url.host.clone()).map_err(|_| TlsSetupError::ServerName { host: url.host.clone() })?;
        Ok(UpstreamTls { connector: TlsConnector::from(Arc::new(config)), server_name })
    }
}

/// The system's roots (unreadable ones are skipped, as browsers do) and those of `ca_file`.
fn roots(ca_file: Option<&Path>) -> Result<RootCertStore, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::debug!("skipping system certificates: {error}");
    }
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_file {
        let shown = path.display().to_string();
        let certificates = CertificateDer::pem_file_iter(path)
            .and_then(|found| found.collect::<Result<Vec<_>, _>>())
            .map_err(|error| TlsSetupError::CaFile { path: shown.clone(), why: error.to_string() })?;
        if certificates.is_empty() {
            return Err(TlsSetupError::NoCertificateInCaFile { path: shown });
        }
        roots.add_parsable_certificates(certificates);
    }
    if roots.is_empty() {
        return Err(TlsSetupError::NoRoots);
    }
    Ok(roots)
}

/// `#insecure`: any certificate is accepted, for servers with self-signed ones. The handshake's signatures are
/// still checked, so that the session is at least with the holder of the certificate shown.
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
