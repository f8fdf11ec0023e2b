//! `GET /openapi.json`: the OpenAPI 3.1 document, generated from the handlers'
//! `#[utoipa::path]` annotations by the same `OpenApiRouter` that builds the served router
//! (see [`super::documented_routes`]), so a route cannot be served without being documented.
//!
//! Responses every route can give through the serving layers (408 time limit, 500 panic,
//! 413/415 on JSON bodies) and the headers that go with some statuses are added here once,
//! rather than repeated on every handler.

use axum::Json;
use axum::extract::State;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    Content, HeaderBuilder, Object, OpenApi, Ref, RefOr, ResponseBuilder, schema::Type,
};

use super::error::ErrorBody;
use crate::service::Tessera;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "tessera",
        description = "Token-based authentication and session management. Every route also \
            answers under `/api/`. Every error body is `{\"message\", \"error\"}`.\n\n\
            Browser apps: `POST /login` with `\"transport\": \"cookie\"` sets the tokens as \
            cookies (`access_token_cookie`, `refresh_token_cookie`, `csrf_access_token`, \
            `csrf_refresh_token`; `__Host-`/`__Secure-` prefixed by default). Every route \
            that takes a bearer token also takes the access cookie (the header wins), and \
            `POST /refresh` with no body takes the refresh cookie. A POST, PUT, PATCH or \
            DELETE authenticated by a cookie must come from this site (Sec-Fetch-Site / \
            Origin) and carry `X-CSRF-TOKEN` equal to the CSRF cookie's value, or it is \
            refused with `403 csrf_failed`."
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerScheme)
)]
struct BaseDocument;

struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        // Service clients (`tessera clients add`), RFC 6749 §2.3.1.
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "__Host-access_token_cookie",
                "The access token in its cookie (`\"transport\": \"cookie\"` at login); \
                 writes also need `X-CSRF-TOKEN`. Named `access_token_cookie` with \
                 `cookies.name_prefix = false`.",
            ))),
        );
    }
}

/// The document's fixed part (info, security scheme, error schema); paths come from routes.
pub fn base() -> OpenApi {
    <BaseDocument as utoipa::OpenApi>::openapi()
}

/// Adds the responses common to every route, the headers of 401/429/503, and unique
/// operation ids for the `/api/` copies of the routes.
pub fn finish(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            complete_operation(path, operation);
        }
    }
}

fn complete_operation(path: &str, operation: &mut Operation) {
    if path.starts_with("/api/")
        && let Some(id) = &operation.operation_id
    {
        // The same handler serves `/x` and `/api/x`; OpenAPI wants ids unique.
        operation.operation_id = Some(format!("api_{id}"));
    }
    // `/refresh`'s bearer token is a refresh token: its cookie is not the access cookie.
    if !path.ends_with("/refresh") {
        accept_the_cookie_where_a_bearer_token_goes(operation);
    }
    let responses = &mut operation.responses.responses;
    let mut add = |status: &str, description: &str| {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| error_response(description));
    };
    add("408", "The request took longer than the time limit");
    add("500", "Internal error (the cause is logged, never sent)");
    if operation.request_body.is_some() {
        add("413", "Request body too large");
        add("415", "Content-Type is not application/json");
    }
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        let header = match status.as_str() {
            "401" => Some((
                "WWW-Authenticate",
                HeaderBuilder::new()
                    .schema(Some(Object::with_type(Type::String)))
                    .description(Some(
                        "`Bearer realm=\"tessera\"`, with `error` when a token was refused",
                    )),
            )),
            "429" | "503" => Some((
                "Retry-After",
                HeaderBuilder::new()
                    .schema(Some(Object::with_type(Type::Integer)))
                    .description(Some("Seconds to wait before trying again")),
            )),
            _ => None,
        };
        if let Some((name, header)) = header {
            response
                .headers
                .insert(name.to_owned(), RefOr::T(header.build()));
        }
    }
}

/// Every operation that takes a bearer token takes the access cookie too (`AuthUser`
/// reads both), so each `bearer` requirement gets a `cookie` alternative beside it.
fn accept_the_cookie_where_a_bearer_token_goes(operation: &mut Operation) {
    let Some(security) = operation.security.as_mut() else {
        return;
    };
    let names_bearer = |requirement: &SecurityRequirement| {
        serde_json::to_value(requirement)
            .ok()
            .and_then(|v| v.as_object().map(|o| o.contains_key("bearer")))
            .unwrap_or(false)
    };
    if security.iter().any(names_bearer) {
        security.push(SecurityRequirement::new("cookie", Vec::<String>::new()));
    }
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
            )
            .build(),
    )
}

/// This document. Built on demand (scrapers of the document are rare) from the same
/// routes the server serves, with the server's settings (`/metrics` only when enabled).
#[utoipa::path(get, path = "/openapi.json", tag = "ops",
    responses((status = 200, description = "This OpenAPI document", body = Object)))]
pub async fn serve_document(State(tessera): State<Tessera>) -> Json<OpenApi> {
    let config = tessera.config();
    Json(super::document(
        config.metrics_enabled && config.metrics_listen.is_none(),
    ))
}
