//! `GET /openapi.json`: an OpenAPI 3.1 document of every route the server serves.
//!
//! The router and the document are split from one `OpenApiRouter`
//! (`tessera::http::documented_routes`), so a route cannot be served undocumented; these
//! tests check the other direction against the running server, and the error shape.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{spawn_app, status_and_json, unwrap_response};

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

async fn document() -> (crate::helpers::TestApp, Value) {
    let app = spawn_app().await;
    let (status, doc) = status_and_json(app.get("/openapi.json").await).await;
    assert_eq!(status, StatusCode::OK);
    (app, doc)
}

/// Every (path, method) in the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                found.push((path.clone(), method.to_owned(), operation.clone()));
            }
        }
    }
    found
}

#[tokio::test]
async fn the_document_is_openapi_3_1_with_a_bearer_scheme() {
    let (_app, doc) = document().await;
    assert_eq!(doc["openapi"], "3.1.0");
    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(bearer["type"], "http");
    assert_eq!(bearer["scheme"], "bearer");
    let protected = &doc["paths"]["/protected"]["get"];
    assert_eq!(protected["security"][0]["bearer"], Value::Array(vec![]));
}

#[tokio::test]
async fn the_document_matches_the_generator_in_the_library() {
    let (_app, served) = document().await;
    let built = serde_json::to_value(tessera::http::document(true)).unwrap_or_default();
    assert_eq!(served, built);
}

#[tokio::test]
async fn every_documented_operation_is_served() {
    let (app, doc) = document().await;
    let operations = operations(&doc);
    assert!(operations.len() >= 18, "{operations:?}");
    for (path, method, _) in &operations {
        let url = app.url(&path.replace("{id}", "some-id"));
        let method = Method::from_bytes(method.to_uppercase().as_bytes())
            .unwrap_or_else(|e| panic!("{method}: {e}"));
        let response = unwrap_response(app.client.request(method.clone(), url).send().await);
        let (status, body) = status_and_json(response).await;
        // The router's own answers for a route it does not have.
        assert_ne!(
            body["error"], "not_found",
            "{method} {path} is documented but not served"
        );
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
    }
}

#[tokio::test]
async fn every_route_is_documented_at_the_root_and_under_api() {
    let (_app, doc) = document().await;
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    for route in [
        "/register",
        "/login",
        "/refresh",
        "/logout",
        "/sessions",
        "/sessions/{id}",
        "/protected",
    ] {
        assert!(paths.contains_key(route), "{route}");
        assert!(paths.contains_key(&format!("/api{route}")), "/api{route}");
    }
    for route in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        assert!(paths.contains_key(route), "{route}");
    }
    let mut ids: Vec<_> = operations(&doc)
        .into_iter()
        .map(|(_, _, op)| op["operationId"].as_str().unwrap_or_default().to_owned())
        .collect();
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count, "operation ids must be unique");
}

#[tokio::test]
async fn every_error_response_has_the_error_shape() {
    let (_app, doc) = document().await;
    let schema = &doc["components"]["schemas"]["ErrorBody"];
    let mut required: Vec<_> = schema["required"].as_array().cloned().unwrap_or_default();
    required.sort_by_key(|v| v.to_string());
    assert_eq!(required, vec![Value::from("error"), Value::from("message")]);
    for (path, method, operation) in operations(&doc) {
        let responses = operation["responses"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        // A success, or the redirect of an old link's path to its page.
        assert!(
            responses.keys().any(|s| s.starts_with('2') || s == "303"),
            "{method} {path} has no success response"
        );
        assert!(responses.contains_key("500"), "{method} {path}");
        // A page (HTML) answers its own errors as pages too; the serving layers' 408 and
        // 500 stay JSON.
        let is_page = responses
            .get("200")
            .is_some_and(|ok| ok["content"].get("text/html").is_some());
        for (status, response) in responses
            .iter()
            .filter(|(s, _)| !s.starts_with('2') && s.as_str() != "303")
        {
            if is_page && response["content"].get("text/html").is_some() {
                continue;
            }
            assert_eq!(
                response["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{method} {path} {status}"
            );
            if status == "401" {
                assert!(response["headers"].get("WWW-Authenticate").is_some());
            }
            if status == "429" || status == "503" {
                assert!(response["headers"].get("Retry-After").is_some());
            }
        }
        if operation.get("requestBody").is_some() {
            assert!(responses.contains_key("413") && responses.contains_key("415"));
        }
    }
}
