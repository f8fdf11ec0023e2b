//! The standalone server's serving layers as one tower layer: a request id (on the answer,
//! every log line and the audit log), a time limit, panics turned into a JSON 500, request
//! metrics and the security headers.
//!
//! Why one layer and not tower-http's and axum's middleware stacked: `Router::layer` wraps
//! every route in one boxed, cloneable service per layer, and axum clones the whole boxed
//! chain on every request (one allocation per level), while each `from_fn`/`map_response`
//! middleware also boxes a `Next` service and a future per request. With seven such layers
//! that was ~40k instructions per request, more than the route and its token check
//! together (`bench/callgrind.sh`). Here the same behaviour costs one level and one boxed
//! future.
//!
//! Order, as before, from the outside in: security headers (so every answer carries them,
//! the 408 and 500 made here included), metrics (which count those too), request id (the
//! client's or a new one, repeated on the answer), the request's log fields (on every line
//! written while it runs: `telemetry::RequestFields`, instead of a tracing span), panic
//! catching, time limit, route.

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use tower::{Layer, Service};

use super::error::ApiError;
use super::headers::insert_security_headers;
use crate::metrics::Metrics;
use crate::service::AuthError;
use crate::telemetry::{InRequest, RequestFields, in_request};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The route whose handler waits on purpose (a long poll bounded by
/// [`crate::service::FEED_MAX_WAIT`]): its time limit is the request time limit plus that
/// wait, so the wait itself never turns into a 408 and the work around it keeps the usual
/// bound.
const LONG_POLL_ROUTE: &str = "/revocations";

/// What the layer does besides request ids, log fields, panics and the time limit.
struct Settings {
    request_timeout: Duration,
    /// Counted and timed per route and status when present (and enabled).
    metrics: Option<Arc<Metrics>>,
    /// `None`: no security headers here (the caller sets them); `Some(hsts)`: set them.
    security_headers: Option<bool>,
}

/// See the module documentation. Added with `Router::layer`, so that it sees the
/// `MatchedPath` axum sets when routing (unmatched requests: `route="unmatched"`).
#[derive(Clone)]
pub struct ServingLayer {
    settings: Arc<Settings>,
}

impl ServingLayer {
    /// Request ids, log fields, panics and the time limit; no metrics, no security headers.
    pub fn new(request_timeout: Duration) -> Self {
        Self {
            settings: Arc::new(Settings {
                request_timeout,
                metrics: None,
                security_headers: None,
            }),
        }
    }

    /// Also counts and times every request (when `metrics` is enabled) and sets the
    /// security headers (HSTS when `hsts`) on every answer.
    pub fn with_metrics_and_headers(
        request_timeout: Duration,
        metrics: Arc<Metrics>,
        hsts: bool,
    ) -> Self {
        Self {
            settings: Arc::new(Settings {
                request_timeout,
                metrics: metrics.enabled().then_some(metrics),
                security_headers: Some(hsts),
            }),
        }
    }
}

impl<S> Layer<S> for ServingLayer {
    type Service = Serving<S>;

    fn layer(&self, inner: S) -> Serving<S> {
        Serving {
            inner,
            settings: self.settings.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Serving<S> {
    inner: S,
    settings: Arc<Settings>,
}

impl<S> Service<Request> for Serving<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = InRequest<Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let started = Instant::now();
        let request_id = request_id(req.headers());
        // The template (`/sessions/{id}`), never the path: ids and junk paths are unbounded.
        let route = req.extensions().get::<MatchedPath>().cloned();
        let mut limit = self.settings.request_timeout;
        if route.as_ref().map(MatchedPath::as_str) == Some(LONG_POLL_ROUTE) {
            limit += crate::service::FEED_MAX_WAIT;
        }
        let fields = Arc::new(RequestFields {
            request_id: request_id.clone(),
            route: route.clone(),
            method: req.method().clone(),
        });
        // The route is called as part of the request and inside the panic catch too: a
        // handler may panic before its first await.
        let called = in_request(&fields, || {
            tracing::debug!("started processing request");
            // Called in place, without the usual clone-and-swap: the inner service is an
            // axum `Route`, always ready, whose `call` clones what it needs itself.
            std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(req)))
        });
        let settings = self.settings.clone();
        let answer = async move {
            let outcome = match called {
                // From `started`: one clock read fewer than `timeout` (which reads it again).
                Ok(future) => AssertUnwindSafe(tokio::time::timeout_at(
                    tokio::time::Instant::from_std(started) + limit,
                    future,
                ))
                .catch_unwind()
                .await
                .map(|timed| timed.map(|Ok(response)| response)),
                Err(panic) => Err(panic),
            };
            let mut response = match outcome {
                Ok(Ok(response)) => response,
                Ok(Err(_elapsed)) => ApiError::Timeout.into_response(),
                Err(_panic) => {
                    tracing::error!("handler panicked");
                    ApiError::from(AuthError::Internal("panic".into())).into_response()
                }
            };
            let elapsed = started.elapsed();
            tracing::debug!(
                status = response.status().as_u16(),
                latency_ms = elapsed.as_secs_f64() * 1000.0,
                "finished processing request"
            );
            let headers = response.headers_mut();
            if !headers.contains_key(REQUEST_ID) {
                headers.insert(REQUEST_ID, request_id);
            }
            if let Some(hsts) = settings.security_headers {
                insert_security_headers(headers, hsts);
            }
            if let Some(metrics) = &settings.metrics {
                metrics.http_request(
                    route.as_ref().map(MatchedPath::as_str),
                    response.status(),
                    elapsed,
                );
            }
            Ok(response)
        };
        InRequest::new(fields, answer)
    }
}

/// The request's `x-request-id`: the one it came with, or a new UUID v4. A new one is not
/// written into the request's headers (a header insert per request): handlers read it from
/// the request's log fields (`telemetry::current_request_id`).
fn request_id(headers: &HeaderMap) -> HeaderValue {
    if let Some(id) = headers.get(&REQUEST_ID) {
        return id.clone();
    }
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
    // A hyphenated UUID is always a valid header value.
    HeaderValue::from_str(id).unwrap_or(HeaderValue::from_static("invalid"))
}
