//! HTTP: one module per resource, one error type, and the layers every request passes.

mod account;
pub mod assurance;
mod auth;
#[doc(hidden)]
pub mod connections;
pub(crate) mod cookies;
mod cors;
pub(crate) mod csrf;
pub mod error;
pub mod extract;
mod headers;
mod introspection;
pub(crate) mod metrics;
mod mfa;
mod openapi;
mod ops;
mod recovery;
mod recovery_pages;
pub(crate) mod server;
mod service_auth;
mod serving;
mod sessions;
pub(crate) mod tls;
mod well_known;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::service::Tessera;
use error::ApiError;

// Routes are only ever added with `routes!` (which takes path and method from the
// handler's `#[utoipa::path]`), never with `.route()`: that is what keeps the served routes
// and `/openapi.json` the same list.

/// The account and session routes (everything but `/protected`).
fn auth_routes() -> OpenApiRouter<Tessera> {
    // The routes that answer with tokens; a new one belongs here too.
    let token_routes = OpenApiRouter::new()
        .routes(routes!(auth::create_session))
        .routes(routes!(auth::refresh_session))
        .routes(routes!(mfa::complete_mfa_login))
        .layer(middleware::map_response(headers::no_store));
    // The routes that answer with what an access token grants: not cached either.
    let authenticated_routes = OpenApiRouter::new()
        .routes(routes!(sessions::end_sessions))
        .routes(routes!(sessions::list_sessions))
        .routes(routes!(sessions::revoke_session))
        .routes(routes!(account::show_account, account::delete_account))
        .routes(routes!(account::change_password))
        .routes(routes!(mfa::enrol_totp, mfa::remove_totp))
        .routes(routes!(mfa::confirm_totp))
        .routes(routes!(mfa::regenerate_recovery_codes))
        .routes(routes!(recovery::set_email, recovery::remove_email))
        .layer(middleware::map_response(headers::no_store));
    // Account recovery: no token in or out, but nothing to cache either.
    let recovery_routes = OpenApiRouter::new()
        .routes(routes!(recovery::verify_email))
        .routes(routes!(recovery::forgot_password))
        .routes(routes!(recovery::reset_password))
        .layer(middleware::map_response(headers::no_store));
    OpenApiRouter::new()
        .routes(routes!(auth::create_user))
        .merge(recovery_routes)
        .merge(token_routes)
        .merge(authenticated_routes)
}

/// The embeddable routes: account and session routes at the root and under `/api` (as the
/// seed shows both), and health checks.
fn embeddable_routes() -> OpenApiRouter<Tessera> {
    OpenApiRouter::with_openapi(openapi::base())
        .merge(auth_routes())
        .nest("/api", auth_routes())
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(well_known::show_jwks))
        // The paths mailed links used before the hosted pages (root only: the links
        // pointed there): redirects to the pages.
        .routes(routes!(recovery_pages::reset_page))
        .routes(routes!(recovery_pages::verify_page))
}

/// Every route of the standalone server: the embeddable ones, the seed's `/protected` (and
/// `/api/protected`), `/openapi.json`, and `/metrics` when enabled. Both [`router`] and
/// [`document`] are split from this one value.
pub fn documented_routes(metrics_enabled: bool) -> OpenApiRouter<Tessera> {
    // No `no_store` layer: the handler and its refusals set the headers themselves.
    let protected = || OpenApiRouter::new().routes(routes!(auth::protected));
    // For downstream services (service clients authenticate with HTTP Basic).
    let service_routes = OpenApiRouter::new()
        .routes(routes!(introspection::introspect_token))
        .routes(routes!(introspection::revoke_token))
        .routes(routes!(introspection::list_revocations))
        .layer(middleware::map_response(headers::no_store));
    let routes = embeddable_routes()
        .merge(protected())
        .nest("/api", protected())
        .merge(service_routes)
        .routes(routes!(introspection::show_server_metadata))
        .routes(routes!(openapi::serve_document));
    if metrics_enabled {
        routes.routes(routes!(metrics::render_metrics))
    } else {
        routes
    }
}

/// The OpenAPI document of the standalone server's routes.
pub fn document(metrics_enabled: bool) -> utoipa::openapi::OpenApi {
    let mut doc = documented_routes(metrics_enabled).into_openapi();
    openapi::finish(&mut doc);
    doc
}

/// The standalone server's routes (see [`documented_routes`]), guarded by the same
/// [`extract::AuthUser`] an embedding app uses.
pub fn router(tessera: Tessera) -> Router {
    let config = tessera.config();
    let (hsts, body_limit) = (config.hsts, config.body_limit_bytes);
    let routes = standalone_routes(tessera).layer(DefaultBodyLimit::max(body_limit));
    headers::with_security_headers(routes, hsts)
}

/// [`router`] without the security headers and the body limit, for [`serving_stack`], which
/// adds both in its one layer.
pub(crate) fn standalone_routes(tessera: Tessera) -> Router {
    // With a listener of its own (`metrics_listen`), `/metrics` is served only there.
    let config = tessera.config();
    let metrics_here = config.metrics_enabled && config.metrics_listen.is_none();
    let (routes, _) = documented_routes(metrics_here).split_for_parts();
    // The hosted pages: HTML, so beside the documented routes, not in the document. The
    // server checked them before starting (`Application::build`), so this fails only for
    // a caller of `router` that did not: it gets the API without the pages, and the log
    // says why.
    let routes = if config.ui.enabled {
        match crate::ui::page_routes(&tessera) {
            Ok(pages) => routes.merge(pages),
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "the ui pages cannot load; not served");
                routes
            }
        }
    } else {
        routes
    };
    finish(routes, tessera)
}

/// tessera's routes for embedding: register, login, refresh, logout, sessions (at the root
/// and under `/api`, as the seed shows both) and health checks, with their state, ready to
/// merge into an application's router. Unknown paths, wrong methods and oversized bodies
/// answer in tessera's error shape.
pub fn api_router(tessera: Tessera) -> Router {
    let hsts = tessera.config().hsts;
    let body_limit = tessera.config().body_limit_bytes;
    let (routes, _) = embeddable_routes().split_for_parts();
    // Embedders' serving layers are their own: the headers come with the routes.
    let routes = finish(routes, tessera).layer(DefaultBodyLimit::max(body_limit));
    headers::with_security_headers(routes, hsts)
}

/// Unknown paths and wrong methods in tessera's error shape; CORS for the listed origins
/// (answering preflights before routing); the state. The body limit is the callers' to add
/// (the serving stack adds it in its own layer: one boxed level per request fewer).
fn finish(routes: Router<Tessera>, tessera: Tessera) -> Router {
    let cors = cors::layer(&tessera.config().cors);
    let routes = routes
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed });
    match cors {
        Some(cors) => routes.layer(cors).with_state(tessera),
        None => routes.with_state(tessera),
    }
}

/// The standalone server's HTTP stack around `routes` (which [`router`] makes; tests pass
/// their own): request ids, log fields, the time limit, panics, request metrics, the body
/// limit and, outermost, the security headers, as one layer (see `serving`), so every answer carries them, the
/// 408 and panic 500 made by the serving layer included.
pub fn serving_stack(tessera: &Tessera, routes: Router) -> Router {
    let config = tessera.config();
    let serving = serving::ServingLayer::with_metrics_and_headers(
        Duration::from_secs(config.request_timeout_secs),
        tessera.metrics().clone(),
        config.hsts,
    );
    // One `Router::layer` call: each call wraps every route in a boxed level of its own.
    routes.layer(
        tower::ServiceBuilder::new()
            .layer(serving)
            .layer(DefaultBodyLimit::max(config.body_limit_bytes)),
    )
}

/// The stack of the separate metrics listener (`metrics_listen`): `/metrics` with the
/// security headers.
pub fn metrics_stack(tessera: &Tessera) -> Router {
    let hsts = tessera.config().hsts;
    headers::with_security_headers(metrics::metrics_router(tessera.clone()), hsts)
}

/// Layers for a server: request ids, log fields on every line of a request (method, matched
/// route, id; never headers, bodies or raw paths), a time limit, and panics turned into a
/// JSON 500 (see `serving`; [`serving_stack`] adds metrics and the security headers).
pub fn with_serving_layers(router: Router, request_timeout: Duration) -> Router {
    router.layer(serving::ServingLayer::new(request_timeout))
}
