//! `GET /metrics` (Prometheus text format) and the layer that counts and times requests.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::metrics::Metrics;
use crate::service::Tessera;

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

/// Prometheus text exposition. The password-hash queue depth is read now; the number of
/// live sessions is the one the background count last found (never counted per scrape).
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format 0.0.4",
        content_type = "text/plain; version=0.0.4; charset=utf-8", body = String)))]
pub async fn render_metrics(State(tessera): State<Tessera>) -> Response {
    let Some(text) = tessera.render_metrics() else {
        return ApiError::NotFound.into_response();
    };
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
