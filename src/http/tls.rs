//! Native TLS (optional): `tls.cert_file` + `tls.key_file` (PEM) make the listener speak
//! HTTPS (HTTP/1.1, ALPN `http/1.1`) with rustls on the *ring* provider (no C toolchain
//! beyond the one *ring* needs, no cmake).
//!
//! Certificates are short-lived nowadays (ACME renews them every few weeks), so the files
//! are watched: every `tls.reload_interval_ms` their modification times and sizes are
//! compared with the last ones read, and on a change both are read again and swapped in for
//! new handshakes; connections already open keep the certificate they started with. A new
//! pair that does not load (half written, key and certificate not matching, not PEM) is
//! logged as an error and the old certificate stays in use, so a bad renewal never takes
//! the server down; the next change is tried again.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::TlsConfig;

/// The certificate and key files, what was last read from them, and the resolver that
/// hands the current pair to every handshake.
#[derive(Debug)]
pub struct ReloadingCertificate {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    /// The files' stamps at the last attempt to read them (successful or not), so a bad
    /// pair is reported once, not at every poll.
    last_seen: RwLock<(Stamp, Stamp)>,
    provider: Arc<CryptoProvider>,
}

/// What tells that a file changed: its modification time and size (`None`: unreadable).
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Reads a PEM certificate chain and private key and checks that they belong together.
/// The error names the file and never contains key material.
pub fn load_certified_key(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> anyhow::Result<CertifiedKey> {
    let chain = CertificateDer::pem_file_iter(cert_file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("tls.cert_file {}: {e}", cert_file.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "tls.cert_file {} holds no PEM certificate",
        cert_file.display()
    );
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| {
        anyhow::anyhow!(
            "tls.key_file {}: no PEM private key (PKCS#8, PKCS#1 or SEC1): {e}",
            key_file.display()
        )
    })?;
    CertifiedKey::from_der(chain, key, provider).with_context(|| {
        format!(
            "tls.key_file {} does not load or does not belong to the certificate in {}",
            key_file.display(),
            cert_file.display()
        )
    })
}

/// The *ring* provider every TLS configuration of tessera uses: chosen here, never taken
/// from a process-wide default an embedding application may have set differently.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Checks the configured files (for `tessera check-config`); `Ok` when TLS is off.
pub fn check_files(config: &TlsConfig) -> anyhow::Result<()> {
    match (&config.cert_file, &config.key_file) {
        (Some(cert), Some(key)) => load_certified_key(cert, key, &provider()).map(|_| ()),
        _ => Ok(()),
    }
}

impl ReloadingCertificate {
    /// Reads the files now (an error stops the start) and keeps their stamps.
    pub fn load(cert_file: &Path, key_file: &Path) -> anyhow::Result<Arc<Self>> {
        let provider = provider();
        let stamps = (stamp(cert_file), stamp(key_file));
        let certified = load_certified_key(cert_file, key_file, &provider)?;
        Ok(Arc::new(Self {
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
            current: RwLock::new(Arc::new(certified)),
            last_seen: RwLock::new(stamps),
            provider,
        }))
    }

    /// An acceptor for the listener: TLS 1.2 and 1.3 (rustls's safe defaults), no client
    /// certificates, HTTP/1.1 only (the server speaks nothing else).
    pub fn acceptor(self: &Arc<Self>) -> anyhow::Result<TlsAcceptor> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .context("the TLS provider supports no safe protocol version")?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// Reads the files again if they changed since the last look. Returns whether a new
    /// certificate is now in use.
    pub fn reload_if_changed(&self) -> bool {
        let stamps = (stamp(&self.cert_file), stamp(&self.key_file));
        {
            let mut last = self.last_seen.write().unwrap_or_else(|p| p.into_inner());
            if *last == stamps {
                return false;
            }
            *last = stamps;
        }
        match load_certified_key(&self.cert_file, &self.key_file, &self.provider) {
            Ok(certified) => {
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(certified);
                tracing::info!(
                    cert_file = %self.cert_file.display(),
                    "TLS certificate reloaded; new connections use it"
                );
                true
            }
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "TLS certificate files changed but do not load; keeping the previous certificate"
                );
                false
            }
        }
    }

    /// Polls the files every `interval` until the returned task is aborted or dropped with
    /// the server.
    pub fn spawn_watcher(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                // File reads are small but blocking; keep them off the async workers.
                let this = this.clone();
                let _ = tokio::task::spawn_blocking(move || this.reload_if_changed()).await;
            }
        })
    }
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}
