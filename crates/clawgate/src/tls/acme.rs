//! A certificate for ACME_DOMAIN from an ACME certificate authority (Let's Encrypt by default),
//! validated with TLS-ALPN-01 on the serving port, kept in DATA_DIR/acme (the account key and
//! the certificate, so a restart reuses them) and renewed when two thirds of its life are over.
//! rustls-acme does the protocol; this module wires it in and says what happens, in words.

use crate::config::AcmeSettings;
use futures::StreamExt;
use rustls::server::ResolvesServerCert;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_acme::caches::DirCache;
use rustls_acme::{AccountCache, AcmeConfig, CertCache, EventError, EventOk};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Starts the task that obtains and renews the certificate. Returns the resolver that serves it
/// (no certificate, so failing handshakes, until the first is obtained) and the configuration
/// for validation handshakes.
pub async fn start(
    settings: &AcmeSettings,
) -> anyhow::Result<(Arc<dyn ResolvesServerCert>, Arc<ServerConfig>)> {
    private_dir(&settings.cache_dir)?;
    let client = client_config(settings.ca_root.as_deref())?;
    let cache = LoggedCache {
        dir: DirCache::new(settings.cache_dir.clone()),
        path: settings.cache_dir.clone(),
        domain: settings.domain.clone(),
        directory: settings.directory.to_string(),
    };
    let mut state = AcmeConfig::new_with_client_config([settings.domain.as_str()], client)
        .contact(settings.contact.iter())
        .directory(settings.directory.as_str())
        .cache(cache)
        .state();
    let resolver = state.resolver();
    let challenge = state.challenge_rustls_config_with_provider(super::provider());
    let (domain, directory) = (settings.domain.clone(), settings.directory.to_string());
    tokio::spawn(async move {
        while let Some(event) = state.next().await {
            match event {
                Ok(EventOk::DeployedNewCert) => {
                    tracing::info!(%domain, %directory, "obtained a new certificate for {domain}; serving it")
                }
                Ok(EventOk::DeployedCachedCert) => {
                    tracing::info!(%domain, "serving the stored certificate for {domain}")
                }
                Ok(EventOk::CertCacheStore | EventOk::AccountCacheStore) => {}
                Err(EventError::Order(e)) => tracing::error!(
                    %domain, %directory, error = %e,
                    "could not get a certificate for {domain}; retrying with growing pauses. The certificate \
                     authority validates over TLS-ALPN-01: {domain} must resolve to this machine and port 443 \
                     must be reachable from the internet and lead to this server's PORT"
                ),
                Err(e) => tracing::error!(%domain, error = %e, "certificate storage or parsing failed"),
            }
        }
    });
    Ok((resolver, challenge))
}

/// DATA_DIR/acme, created owner-only (it holds private keys; the umask is already 0077) or
/// made so, as the data folder itself is.
fn private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| {
        anyhow::anyhow!("cannot create {} for the ACME account and certificates: {e}", dir.display())
    })?;
    crate::os::make_folder_private(dir).map(|_| ())
}

/// Public roots (webpki-roots, as Let's Encrypt needs) plus ACME_CA_ROOT's certificates.
fn client_config(ca_root: Option<&Path>) -> anyhow::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = ca_root {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let named = |what: String| anyhow::anyhow!("ACME_CA_ROOT {}: {what}", path.display());
        let pem = std::fs::read(path).map_err(|e| named(format!("cannot read it: {e}")))?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| named(format!("not a PEM certificate file: {e}")))?;
        if certs.is_empty() {
            return Err(named("no certificate in it (expected -----BEGIN CERTIFICATE-----)".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| named(format!("not a usable CA certificate: {e}")))?;
        }
    }
    let config = ClientConfig::builder_with_provider(super::provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// rustls-acme's directory cache, saying what it finds and stores.
struct LoggedCache {
    dir: DirCache<PathBuf>,
    path: PathBuf,
    domain: String,
    directory: String,
}

impl LoggedCache {
    fn log_certificate(&self, pem: &[u8], what: &str) {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let first = CertificateDer::pem_slice_iter(pem).next().and_then(Result::ok);
        match first.as_deref().map(super::describe) {
            Some(Ok(d)) => {
                let renew_from = d.not_after - (d.not_after - d.not_before) / 3;
                tracing::info!(
                    domain = %self.domain,
                    valid_until = %super::rfc3339(d.not_after),
                    renew_from = %super::rfc3339(renew_from),
                    dir = %self.path.display(),
                    "{what}: certificate for {} valid until {}",
                    self.domain,
                    super::rfc3339(d.not_after)
                );
            }
            _ => {
                tracing::warn!(domain = %self.domain, "{what}: its certificate cannot be read; ordering a new one")
            }
        }
    }
}

#[async_trait::async_trait]
impl CertCache for LoggedCache {
    type EC = std::io::Error;
    async fn load_cert(&self, domains: &[String], directory_url: &str) -> Result<Option<Vec<u8>>, Self::EC> {
        let found = self.dir.load_cert(domains, directory_url).await?;
        match &found {
            Some(pem) => self.log_certificate(pem, "found a stored certificate"),
            None => tracing::info!(
                domain = %self.domain,
                directory = %self.directory,
                "ordering a certificate for {} from {} (none stored in {} yet)",
                self.domain,
                self.directory,
                self.path.display()
            ),
        }
        Ok(found)
    }

    async fn store_cert(&self, domains: &[String], directory_url: &str, cert: &[u8]) -> Result<(), Self::EC> {
        self.dir.store_cert(domains, directory_url, cert).await?;
        self.log_certificate(cert, &format!("stored in {}", self.path.display()));
        Ok(())
    }
}

#[async_trait::async_trait]
impl AccountCache for LoggedCache {
    type EA = std::io::Error;
    async fn load_account(
        &self,
        contact: &[String],
        directory_url: &str,
    ) -> Result<Option<Vec<u8>>, Self::EA> {
        self.dir.load_account(contact, directory_url).await
    }

    async fn store_account(
        &self,
        contact: &[String],
        directory_url: &str,
        account: &[u8],
    ) -> Result<(), Self::EA> {
        self.dir.store_account(contact, directory_url, account).await
    }
}
