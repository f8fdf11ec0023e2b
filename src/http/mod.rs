//! HTTP: one module per resource, one error type, and the layers every request passes.

pub mod account;
pub mod auth;
pub mod error;
pub mod extract;
pub mod ops;
pub mod server;
pub mod sessions;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::service::{AuthError, Tessera};
use error::ApiError;

/// The account and session routes (everything but `/protected`).
fn auth_routes() -> Router<Tessera> {
    Router::new()
        .route("/register", post(auth::create_user))
        .route("/login", post(auth::create_session))
        .route("/refresh", post(auth::refresh_session))
        .route("/logout", post(sessions::end_sessions))
        .route("/sessions", get(sessions::list_sessions))
        .route("/sessions/{id}", delete(sessions::revoke_session))
        .route(
            "/me",
            get(account::show_account).delete(account::delete_account),
        )
        .route("/me/password", post(account::change_password))
}

/// The standalone server's routes: [`api_router`] plus the seed's `/protected`
/// (and `/api/protected`), guarded by the same [`extract::AuthUser`] an embedding app uses.
pub fn router(tessera: Tessera) -> Router {
    let protected = Router::new().route("/protected", get(auth::protected));
    Router::new()
        .merge(protected.clone())
        .nest("/api", protected)
        .with_state(tessera.clone())
        .merge(api_router(tessera))
        // Again after the merge, so that `/protected` answers 405 in the error shape too.
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
}

/// tessera's routes for embedding: register, login, refresh, logout, sessions (at the root
/// and under `/api`, as the seed shows both) and health checks, with their state, ready to
/// merge into an application's router. Unknown paths, wrong methods and oversized bodies
/// answer in tessera's error shape.
pub fn api_router(tessera: Tessera) -> Router {
    let body_limit = tessera.config().body_limit_bytes;
    Router::new()
        .merge(auth_routes())
        .nest("/api", auth_routes())
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(tessera)
}

/// Layers for a server: request ids, a span per request (method, matched route, id; never
/// headers, bodies or raw paths), a time limit, and panics turned into a JSON 500.
pub fn with_serving_layers(router: Router, request_timeout: Duration) -> Router {
    router
        .layer(middleware::from_fn_with_state(
            request_timeout,
            limit_duration,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("handler panicked");
            AuthError::Internal("panic".into()).into_api_response()
        }))
        // No failure events from the trace layer: a flood of 503s would become a flood of
        // log lines. Internal errors are logged once, where they are turned into responses.
        .layer(
            TraceLayer::new_for_http()
                .on_failure(())
                .make_span_with(|req: &Request| {
                    let route = req
                        .extensions()
                        .get::<MatchedPath>()
                        .map(|p| p.as_str().to_owned());
                    let request_id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        route = route.as_deref().unwrap_or("unmatched"),
                        request_id = %request_id,
                    )
                }),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

async fn limit_duration(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

impl AuthError {
    fn into_api_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}
