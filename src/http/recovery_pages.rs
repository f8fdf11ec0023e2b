//! The paths mailed links used before the hosted pages took them over: `GET
//! /password/reset?token=…` and `GET /email/verify?token=…` now answer `303 See Other` to
//! the page under `ui.prefix` with the same query, so a link in a message sent before an
//! upgrade still opens a working form. Like the pages, a redirect spends nothing: a mail
//! scanner may follow it any number of times. The JSON routes on the same paths (`POST`)
//! are unchanged. Both are in the OpenAPI document (a `303`), so that the methods a client
//! is told a path allows (`Allow`) are the documented ones.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::service::Tessera;

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
        Err(_) => ApiError::InvalidRequest("The link's query is not valid".into()).into_response(),
    }
}

/// `GET /password/reset?token=…`: on to the reset page.
#[utoipa::path(get, path = "/password/reset", tag = "accounts",
    params(("token" = Option<String>, Query, description = "The token of a mailed link")),
    responses((status = 303, description = "On to the hosted reset page under `ui.prefix`, with the query as it came")))]
pub async fn reset_page(State(tessera): State<Tessera>, RawQuery(query): RawQuery) -> Response {
    to_page(&tessera, "/password/reset", query)
}

/// `GET /email/verify?token=…`: on to the verification page.
#[utoipa::path(get, path = "/email/verify", tag = "accounts",
    params(("token" = Option<String>, Query, description = "The token of a mailed link")),
    responses((status = 303, description = "On to the hosted verification page under `ui.prefix`, with the query as it came")))]
pub async fn verify_page(State(tessera): State<Tessera>, RawQuery(query): RawQuery) -> Response {
    to_page(&tessera, "/email/verify", query)
}
