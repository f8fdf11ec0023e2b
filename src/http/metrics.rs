//! `GET /metrics` (Prometheus text format) and the layer that counts and times requests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::metrics::Metrics;
use crate::service::Tessera;
use crate::store::RotationPolicy;
use crate::tokens::now_unix;

/// A scrape must not hang on a slow database: past this the session gauge is left out.
const COUNT_TIMEOUT: Duration = Duration::from_secs(2);

/// Counts and times every request of `router` by matched route and status.
///
/// Added with `Router::layer` on the finished router, so that it sees the `MatchedPath`
/// axum sets when routing (requests that match no route are `route="unmatched"`), and wraps
/// the serving layers, so that time-outs (408) and panics (500) are counted too.
pub fn track_requests(router: Router, metrics: Arc<Metrics>) -> Router {
    if !metrics.enabled() {
        return router;
    }
    router.layer(middleware::from_fn_with_state(metrics, record_request))
}

async fn record_request(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    // The template (`/sessions/{id}`), never the path: ids and junk paths are unbounded.
    let route = req.extensions().get::<MatchedPath>().cloned();
    let response = next.run(req).await;
    metrics.http_request(
        route.as_ref().map(MatchedPath::as_str),
        response.status(),
        started.elapsed(),
    );
    response
}

/// Prometheus text exposition. The password-hash queue depth is read now, and the number of
/// live sessions is counted in the database now (see [`active_sessions`]).
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format 0.0.4",
        content_type = "text/plain; version=0.0.4; charset=utf-8", body = String)))]
pub async fn render_metrics(State(tessera): State<Tessera>) -> Response {
    tessera
        .metrics()
        .storage_write_failures(tessera.store().write_health().failures());
    let Some(mut text) = tessera.metrics().render(tessera.hasher().in_flight()) else {
        return ApiError::NotFound.into_response();
    };
    if let Some(count) = active_sessions(&tessera).await {
        text.push_str(
            "# HELP tessera_active_sessions Sessions neither revoked nor expired, across all instances.\n\
             # TYPE tessera_active_sessions gauge\n",
        );
        text.push_str(&format!("tessera_active_sessions {count}\n"));
    }
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// Live sessions, counted at scrape time rather than kept as a gauge: sessions end by
/// expiry without any event, and other instances open and revoke them, so only the
/// database knows the number. One indexed COUNT per scrape costs nothing per request.
/// When the database does not answer in time the series is left out (absent, rather than a
/// stale value that looks current).
async fn active_sessions(tessera: &Tessera) -> Option<u64> {
    let config = tessera.config();
    let policy = RotationPolicy {
        now: now_unix(),
        grace_secs: config.refresh_grace_secs as i64,
        idle_timeout_secs: config.session_idle_timeout_secs as i64,
    };
    match tokio::time::timeout(COUNT_TIMEOUT, tessera.store().count_live_sessions(policy)).await {
        Ok(Ok(count)) => Some(count),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot count live sessions for /metrics");
            None
        }
        Err(_) => {
            tracing::warn!("counting live sessions for /metrics timed out");
            None
        }
    }
}
