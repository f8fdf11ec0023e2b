//! The standalone server: binds first (port 0 works and is read back), then serves until
//! SIGINT or SIGTERM, finishing requests in flight.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::http;
use crate::http::tls::ReloadingCertificate;
use crate::service::Tessera;

/// The standalone server: tessera's routes with the serving layers, bound to an address.
pub struct Application {
    listener: TcpListener,
    tessera: Tessera,
    local_addr: SocketAddr,
    /// The listener of `metrics_listen`, serving `/metrics` only.
    metrics: Option<(TcpListener, SocketAddr)>,
    /// The certificate of native TLS (`tls.*`), watched for changes while serving.
    tls: Option<Arc<ReloadingCertificate>>,
}

impl Application {
    /// Opens the deployment ([`Tessera::open`]) and binds the configured address (port 0 picks a free one).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listen = config.listen;
        // Before anything is opened: a certificate that does not load stops the start.
        let tls = match (&config.tls.cert_file, &config.tls.key_file) {
            (Some(cert), Some(key)) => Some(ReloadingCertificate::load(cert, key)?),
            _ => None,
        };
        // A page template or catalogue of `ui.templates_dir` that does not parse stops the
        // start (naming the file), rather than a server running without its pages.
        if config.ui.enabled {
            crate::ui::check(&config.ui).context("the ui pages cannot load")?;
        }
        let tessera = Tessera::open(config).await?;
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let local_addr = listener.local_addr()?;
        let metrics = match tessera.config().metrics_listen {
            Some(address) if tessera.config().metrics_enabled => {
                let listener = TcpListener::bind(address)
                    .await
                    .with_context(|| format!("cannot listen on {address} (metrics_listen)"))?;
                let bound = listener.local_addr()?;
                Some((listener, bound))
            }
            _ => None,
        };
        Ok(Self {
            listener,
            tessera,
            local_addr,
            metrics,
            tls,
        })
    }

    /// Where `/metrics` is served when `metrics_listen` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, address)| *address)
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    /// The services behind the server, for callers that share them (tests, embedding).
    pub fn tessera(&self) -> &Tessera {
        &self.tessera
    }

    /// Serves until SIGINT or SIGTERM.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes, then drains requests in flight.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let config = self.tessera.config();
        let app = http::serving_stack(&self.tessera, http::standalone_routes(self.tessera.clone()));
        let background = self.tessera.spawn_background_tasks();
        let limits = http::server::ConnectionLimits {
            header_read_timeout: Duration::from_secs(config.header_read_timeout_secs),
            max_header_bytes: config.max_header_bytes,
            drain_timeout: Duration::from_secs(config.request_timeout_secs + 5),
            max_connections: config.max_connections,
            max_connections_per_ip: config.max_connections_per_ip,
            trusted_proxies: self.tessera.trusted_proxies().clone(),
            first_byte_timeout: Duration::from_millis(config.first_byte_timeout_ms.max(1)),
            hsts: config.hsts,
            on_refused: {
                let tessera = self.tessera.clone();
                Arc::new(move |ip| tessera.audit_refused_connection(ip))
            },
        };
        let acceptor = self.tls.as_ref().map(|tls| tls.acceptor()).transpose()?;
        // Aborted when dropped at the end of this function.
        let _watcher = self.tls.as_ref().map(|tls| {
            AbortOnDrop(tls.spawn_watcher(Duration::from_millis(config.tls.reload_interval_ms)))
        });
        if acceptor.is_some() {
            tracing::info!(
                "TLS on: HTTPS only (HTTP/1.1); the certificate is reloaded when its files change"
            );
        } else {
            tracing::info!(
                "TLS off: plain HTTP; put tessera behind a TLS terminator (or set tls.cert_file and tls.key_file)"
            );
        }
        tracing::info!(address = %self.local_addr, tls = acceptor.is_some(), "tessera listening");
        // One shutdown for both listeners: the signal flips a watch both servers wait on.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        let until_stopped = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }
        };
        let metrics_server = self.metrics.map(|(listener, address)| {
            tracing::info!(%address, "metrics listening");
            let router = http::metrics_stack(&self.tessera);
            tokio::spawn(http::server::serve(
                listener,
                router,
                limits.clone(),
                acceptor.clone(),
                until_stopped(),
            ))
        });
        http::server::serve(self.listener, app, limits, acceptor, until_stopped()).await;
        if let Some(server) = metrics_server {
            let _ = server.await;
        }
        drop(background);
        // Closing the pool lets SQLite copy the write-ahead log back into the database
        // file and remove it, so a stopped server leaves one file behind.
        self.tessera.store().close().await;
        tracing::info!("tessera stopped");
        Ok(())
    }
}

/// A task that stops when its handle is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; draining requests");
}
