//! HTTPS: a certificate from files (reloaded when they change, see [`files`]) or one obtained,
//! kept in DATA_DIR/acme and renewed over ACME (see [`acme`]). The accept loop
//! (`crate::server`) hands each TCP connection to [`Tls::accept`] under its header deadline.

mod acme;
mod files;

pub use files::RELOAD_CHECK_EVERY;

use crate::config::TlsSettings;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{Acceptor, ResolvesServerCert};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;

/// What the server answers TLS handshakes with.
#[derive(Debug)]
pub struct Tls {
    serving: Arc<ServerConfig>,
    /// For ACME's TLS-ALPN-01 validation handshakes (ALPN `acme-tls/1`), when ACME is on.
    challenge: Option<Arc<ServerConfig>>,
}

impl Tls {
    /// Loads the certificate (an error when it cannot: the server must not start) and starts
    /// the task that keeps it current. `None` when TLS is off.
    pub async fn start(settings: &TlsSettings) -> anyhow::Result<Option<Arc<Self>>> {
        let tls = match settings {
            TlsSettings::Off => return Ok(None),
            TlsSettings::Files { cert, key } => {
                let resolver = files::Reloading::start(cert.clone(), key.clone())?;
                Self { serving: server_config(resolver)?, challenge: None }
            }
            TlsSettings::Acme(acme) => {
                let (resolver, challenge) = acme::start(acme).await?;
                Self { serving: server_config(resolver)?, challenge: Some(challenge) }
            }
        };
        Ok(Some(Arc::new(tls)))
    }

    /// The handshake. `None` when the connection was an ACME validation, answered and closed.
    pub async fn accept<IO: AsyncRead + AsyncWrite + Unpin>(
        &self,
        io: IO,
    ) -> std::io::Result<Option<TlsStream<IO>>> {
        let start = LazyConfigAcceptor::new(Acceptor::default(), io).await?;
        if let Some(challenge) = &self.challenge
            && rustls_acme::is_tls_alpn_challenge(&start.client_hello())
        {
            tracing::info!("answering the certificate authority's TLS-ALPN-01 validation");
            let mut tls = start.into_stream(challenge.clone()).await?;
            let _ = tls.shutdown().await;
            return Ok(None);
        }
        start.into_stream(self.serving.clone()).await.map(Some)
    }
}

/// Says so when ACME cannot work as configured: a loopback HOST is out of the certificate
/// authority's reach (it validates by connecting to port 443 of the domain).
pub fn warn_if_unreachable(settings: &crate::config::Settings) {
    let TlsSettings::Acme(acme) = &settings.tls else { return };
    let host = settings.host.trim_matches(['[', ']']);
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback {
        tracing::warn!(
            host = %settings.host,
            domain = %acme.domain,
            "HOST {} accepts connections from this machine only, so the certificate authority cannot validate \
             {}: set HOST=0.0.0.0 (or forward port 443 to this address from a proxy that passes TLS through)",
            settings.host,
            acme.domain
        );
    }
}

/// The project's provider (ring), given explicitly rather than taken from the process default.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_config(resolver: Arc<dyn ResolvesServerCert>) -> anyhow::Result<Arc<ServerConfig>> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A certificate's subject, expiry and when it was issued, for the logs.
pub(crate) struct Described {
    pub subject: String,
    pub not_before: time::OffsetDateTime,
    pub not_after: time::OffsetDateTime,
}

pub(crate) fn describe(der: &[u8]) -> Result<Described, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    let validity = cert.validity();
    Ok(Described {
        subject: cert.subject().to_string(),
        not_before: validity.not_before.to_datetime(),
        not_after: validity.not_after.to_datetime(),
    })
}

pub(crate) fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| t.to_string())
}
