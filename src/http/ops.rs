//! Health endpoints for load balancers and orchestrators.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::error::ApiResult;
use crate::service::{AuthError, Tessera};

/// The process is up and serving HTTP.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The process can do its work: the database answers.
pub async fn readyz(State(tessera): State<Tessera>) -> ApiResult<Json<Value>> {
    tessera
        .store()
        .ping()
        .await
        .map_err(|e| AuthError::Unavailable(e.to_string()))?;
    Ok(Json(json!({ "status": "ready" })))
}
