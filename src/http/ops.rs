//! Health endpoints for load balancers and orchestrators.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::error::{ApiResult, ErrorBody};
use crate::service::Tessera;

/// `{"status": "ok"}` or `{"status": "ready"}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct StatusResponse {
    status: String,
}

/// The process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "Up", body = StatusResponse)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The process can do its work: the database takes writes. Not ready while writes are
/// refused (a full disk, a read-only or unreachable database), ready again by itself once
/// they get through.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses(
        (status = 200, description = "Ready", body = StatusResponse),
        (status = 503, description = "Database unavailable or refusing writes", body = ErrorBody),
    ))]
pub async fn readyz(State(tessera): State<Tessera>) -> ApiResult<Json<Value>> {
    tessera.ready().await?;
    Ok(Json(json!({ "status": "ready" })))
}
