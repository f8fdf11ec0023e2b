//! The HTTP/1.1 accept loop, with the connection-level limits `axum::serve` does not offer:
//! how many connections are open, in total and per client address (see `connections`);
//! how long a new connection may stay silent before its first byte; how long a client may
//! take to send a request head (which also bounds idle keep-alive connections), and how
//! large the head may be. Slow-loris and idle-socket clients are cut off instead of holding
//! connections (and file descriptors) forever.
//!
//! With native TLS (`http::tls`), the same loop does the TLS handshake after the first
//! byte, within the header-read time limit, and serves HTTP/1.1 over the TLS stream; caps,
//! time limits and the graceful drain are the same for both.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::connections::{self, ConnectionCounter};
use crate::abuse::TrustedProxies;

#[derive(Clone)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
    /// How long requests in flight may take to finish after shutdown begins.
    pub drain_timeout: Duration,
    /// Open connections at most; 0: the open-files limit minus a reserve.
    pub max_connections: usize,
    /// Open connections per client address (IPv6: per /64) at most; 0: no cap.
    pub max_connections_per_ip: usize,
    /// Exempt from the per-address cap (they carry many clients).
    pub trusted_proxies: TrustedProxies,
    /// How long a new connection may stay silent before its first byte.
    pub first_byte_timeout: Duration,
    /// Whether the connection-cap refusal carries `Strict-Transport-Security`.
    pub hsts: bool,
    /// Told of every connection refused by a cap (the audit log, in the server).
    pub on_refused: Arc<dyn Fn(std::net::IpAddr) + Send + Sync>,
}

/// Serves `app` on `listener` (over TLS with `tls`) until `shutdown` completes, then stops
/// accepting and waits (at most `drain_timeout`) for requests in flight.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    let open_files = connections::raise_open_files_limit();
    let max_total = connections::effective_max_connections(limits.max_connections, open_files);
    let counter = ConnectionCounter::new(
        max_total,
        limits.max_connections_per_ip,
        limits.trusted_proxies.clone(),
    );
    tracing::info!(
        max_connections = max_total,
        max_connections_per_ip = limits.max_connections_per_ip,
        open_files_limit = ?open_files,
        "connection limits"
    );
    let first_byte_timeout = limits.first_byte_timeout;
    let handshake_timeout = limits.header_read_timeout;
    let refusal = super::headers::refusal(limits.hsts);
    // Tells connections still waiting for their first byte that shutdown has begun, so
    // they do not hold the drain up.
    let (stopping, stop_signal) = tokio::sync::watch::channel(false);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: pause rather than spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Some(slot) = counter.try_acquire(peer.ip()) else {
                    // Over a cap: answered and closed at once, so the descriptor comes back
                    // before the client can hold it.
                    // Plain HTTP even on a TLS listener: a handshake would cost what the cap
                    // saves. A TLS client reads it as a failed handshake, which it is.
                    let _ = stream.try_write(&refusal);
                    (limits.on_refused)(peer.ip());
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let service = app.clone().map_request(move |mut request: hyper::Request<Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    request
                });
                let (builder, watcher) = (builder.clone(), graceful.watcher());
                let mut stop_signal = stop_signal.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    // A connection that sends nothing is closed soon: idle sockets cost a
                    // client nothing and hold a descriptor and a slot each.
                    let mut first = [0u8; 1];
                    tokio::select! {
                        peeked = tokio::time::timeout(first_byte_timeout, stream.peek(&mut first)) => {
                            if !matches!(peeked, Ok(Ok(n)) if n > 0) {
                                return;
                            }
                        }
                        _ = stop_signal.changed() => return,
                    }
                    let service = TowerToHyperService::new(service);
                    let outcome = match tls {
                        None => watcher.watch(builder.serve_connection(TokioIo::new(stream), service)).await,
                        Some(acceptor) => {
                            // A client that opens a connection and stalls the handshake is cut
                            // off like one that stalls its request head.
                            let stream = match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                                Ok(Ok(stream)) => stream,
                                Ok(Err(e)) => {
                                    tracing::debug!(error = %e, %peer, "TLS handshake failed");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!(%peer, "TLS handshake timed out");
                                    return;
                                }
                            };
                            watcher.watch(builder.serve_connection(TokioIo::new(stream), service)).await
                        }
                    };
                    if let Err(e) = outcome {
                        tracing::debug!(error = %e, %peer, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = stopping.send(true);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.drain_timeout) => {
            tracing::warn!("requests still in flight after the drain timeout; stopping anyway");
        }
    }
}
