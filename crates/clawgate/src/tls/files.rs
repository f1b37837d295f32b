//! A certificate and key from PEM files (TLS_CERT, TLS_KEY), checked every
//! [`RELOAD_CHECK_EVERY`] and swapped in when they change; a bad new pair is logged and the
//! previous one kept.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

/// How often the files' modification times and sizes are looked at.
pub const RELOAD_CHECK_EVERY: Duration = Duration::from_secs(10);

/// The pair in use, for every handshake.
#[derive(Debug)]
pub struct Reloading {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(PoisonError::into_inner).clone())
    }
}

/// What the files looked like when last read: a change means "read them again".
type Stamps = [Option<(SystemTime, u64)>; 2];

fn stamps(cert: &Path, key: &Path) -> Stamps {
    let stamp = |p: &Path| std::fs::metadata(p).ok().and_then(|m| Some((m.modified().ok()?, m.len())));
    [stamp(cert), stamp(key)]
}

impl Reloading {
    /// Loads the pair (an error naming the file and the problem when it cannot) and starts
    /// watching the files.
    pub fn start(cert: PathBuf, key: PathBuf) -> anyhow::Result<Arc<Self>> {
        let mut seen = stamps(&cert, &key);
        let loaded = load(&cert, &key).map_err(anyhow::Error::msg)?;
        log_loaded(&loaded, &cert, "loaded the TLS certificate");
        let this = Arc::new(Self { current: RwLock::new(Arc::new(loaded)) });
        let reloading = this.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RELOAD_CHECK_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let now = stamps(&cert, &key);
                if now == seen {
                    continue;
                }
                // Tried once per change: a pair caught half-written is tried again when the
                // other file changes too.
                seen = now;
                match load(&cert, &key) {
                    Ok(pair) => {
                        log_loaded(&pair, &cert, "reloaded the TLS certificate: it changed on disk");
                        *reloading.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(pair);
                    }
                    Err(e) => tracing::error!(
                        error = %e,
                        "cannot reload the TLS certificate; still serving the previous one (fix the files: \
                         they are read again when they change)"
                    ),
                }
            }
        });
        Ok(this)
    }
}

fn log_loaded(pair: &CertifiedKey, path: &Path, what: &str) {
    let Some(der) = pair.cert.first() else { return };
    match super::describe(der) {
        Ok(d) => {
            let now = time::OffsetDateTime::now_utc();
            let valid_until = super::rfc3339(d.not_after);
            if d.not_after < now {
                tracing::warn!(file = %path.display(), subject = %d.subject, %valid_until, "{what}; it has EXPIRED: browsers will refuse it");
            } else {
                tracing::info!(file = %path.display(), subject = %d.subject, %valid_until, "{what}");
            }
        }
        Err(e) => tracing::warn!(file = %path.display(), error = %e, "{what}; its dates cannot be read"),
    }
}

/// Reads and checks the pair. Errors name the setting, the file and the problem.
pub fn load(cert_path: &Path, key_path: &Path) -> Result<CertifiedKey, String> {
    let cert_name = format!("TLS_CERT {}", cert_path.display());
    let key_name = format!("TLS_KEY {}", key_path.display());
    let cert_pem = std::fs::read(cert_path).map_err(|e| format!("{cert_name}: cannot read it: {e}"))?;
    let key_pem = std::fs::read(key_path).map_err(|e| format!("{key_name}: cannot read it: {e}"))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{cert_name}: not a PEM certificate file: {e}"))?;
    let Some(first) = chain.first() else {
        return Err(format!("{cert_name}: no certificate in it (expected -----BEGIN CERTIFICATE-----)"));
    };
    super::describe(first)
        .map_err(|e| format!("{cert_name}: the first certificate cannot be parsed: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        format!("{key_name}: no private key in it (expected a PEM PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY): {e}")
    })?;
    CertifiedKey::from_der(chain, key, &super::provider()).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => {
            format!(
                "{key_name} is not the private key of the certificate in {cert_name}: use the matching pair"
            )
        }
        other => format!("{key_name}: unusable private key: {other}"),
    })
}
