//! The paths mailed links used before the hosted pages took them over: `GET
//! /password/reset?token=…` and `GET /email/verify?token=…` now answer `303 See Other` to
//! the page under `ui.prefix` with the same query, so a link in a message sent before an
//! upgrade still opens a working form. Like the pages, a redirect spends nothing: a mail
//! scanner may follow it any number of times. The JSON routes on the same paths (`POST`)
//! are unchanged. Navigations, not API: not in the OpenAPI document.

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::service::Tessera;

/// The redirects, at the root only (old links pointed there).
pub fn redirect_routes() -> Router<Tessera> {
    Router::new()
        .route("/password/reset", get(reset_page))
        .route("/email/verify", get(verify_page))
}

/// `303` to `{ui.prefix}{page}` with the request's query as it came.
fn to_page(tessera: &Tessera, page: &str, query: Option<String>) -> Response {
    let mut location = format!("{}{page}", tessera.config().ui.prefix);
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        location.push('?');
        location.push_str(&query);
    }
    // The query is the request's own (already a valid URI part), the prefix is checked
    // at start-up: the value is always a valid header.
    match axum::http::HeaderValue::from_str(&location) {
        Ok(value) => (StatusCode::SEE_OTHER, [(LOCATION, value)]).into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// `GET /password/reset?token=…`: on to the reset page.
async fn reset_page(State(tessera): State<Tessera>, RawQuery(query): RawQuery) -> Response {
    to_page(&tessera, "/password/reset", query)
}

/// `GET /email/verify?token=…`: on to the verification page.
async fn verify_page(State(tessera): State<Tessera>, RawQuery(query): RawQuery) -> Response {
    to_page(&tessera, "/email/verify", query)
}
