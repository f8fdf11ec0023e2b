//! A client nobody here wrote: Python's `requests`, following RFC 8414's metadata to
//! tessera's RFC 7662 introspection and RFC 7009 revocation endpoints, with HTTP Basic
//! client authentication as RFC 6749 §2.3.1 describes it. It introspects a live access
//! token, a live refresh token, a revoked token and garbage, then revokes the refresh
//! token; tessera must then refuse the whole session.
//!
//! Needs Python: set TESSERA_PYTHON to a venv made by scripts/python-venv.sh (.ci/run does);
//! without it the test says it skipped and passes.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_error, spawn_app, status_and_json, str_field};

const PASSWORD: &str = "correct horse battery staple";

/// Prints one JSON object with every answer; the assertions are on the Rust side.
const CLIENT: &str = r#"
import json, sys
try:
    import requests
except ImportError:
    sys.exit("no requests in this venv: it predates tests/interop/requirements.txt; "
             "re-run scripts/python-venv.sh and export TESSERA_PYTHON with the path it prints")
base, client_id, secret, access, refresh, revoked = sys.argv[1:7]
meta = requests.get(base + "/.well-known/oauth-authorization-server", timeout=10).json()
auth = requests.auth.HTTPBasicAuth(client_id, secret)

def post(url, data, auth=auth):
    r = requests.post(url, data=data, auth=auth, timeout=10)
    try:
        body = r.json()
    except ValueError:
        body = r.text
    return {"status": r.status_code, "body": body,
            "content_type": r.headers.get("Content-Type", ""),
            "cache_control": r.headers.get("Cache-Control", ""),
            "www_authenticate": r.headers.get("WWW-Authenticate", "")}

introspect = lambda token, hint=None: post(
    meta["introspection_endpoint"],
    {"token": token, **({"token_type_hint": hint} if hint else {})})
out = {
    "methods": [meta["introspection_endpoint_auth_methods_supported"],
                meta["revocation_endpoint_auth_methods_supported"]],
    "access": introspect(access, "access_token"),
    # A wrong hint is only a hint (RFC 7662 §2.1).
    "refresh": introspect(refresh, "access_token"),
    "revoked": introspect(revoked),
    # RFC 7662 §2.1's example token, and other garbage.
    "garbage": [introspect(t) for t in ["mF_9.B5f-4.1JqM", "2YotnFZFEjr1zCsicMWpAA", "x" * 300]],
    "bad_client": post(meta["introspection_endpoint"], {"token": access},
                       auth=requests.auth.HTTPBasicAuth(client_id, "not-the-secret")),
    # RFC 7009 §2.1's example: revoke the refresh token.
    "revoke": post(meta["revocation_endpoint"], {"token": refresh, "token_type_hint": "refresh_token"}),
    "revoke_garbage": post(meta["revocation_endpoint"], {"token": "45ghiukldjahdnhzdauz"}),
}
out["access_after"] = introspect(access)
out["refresh_after"] = introspect(refresh)
print(json.dumps(out))
"#;

// Multi-threaded: the server answers the Python client while this test waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tessera_python_tests),
    ignore = "Python interop tests skipped: export TESSERA_PYTHON=$(scripts/python-venv.sh) to run them"
)]
async fn python_requests_introspects_and_revokes_as_rfc_7662_and_7009_say() {
    let Some(python) = std::env::var_os("TESSERA_PYTHON") else {
        eprintln!(
            "SKIPPED introspection_interop: TESSERA_PYTHON is not set (run: export TESSERA_PYTHON=$(scripts/python-venv.sh))"
        );
        return;
    };
    let app = spawn_app().await;
    let client = app
        .tessera
        .admin_add_client("python")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let live = app.signed_up("ivy", PASSWORD).await;
    let access = str_field(&live, "access_token").to_owned();
    let refresh = str_field(&live, "refresh_token").to_owned();
    let (_, other) = status_and_json(app.login("ivy", PASSWORD).await).await;
    let revoked = str_field(&other, "access_token").to_owned();
    assert_eq!(app.logout(&revoked, None).await.status(), StatusCode::OK);

    let mut command = Command::new(&python);
    command.args([
        "-c",
        CLIENT,
        &app.address,
        &client.client_id,
        &client.client_secret,
        &access,
        &refresh,
        &revoked,
    ]);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("cannot run python: {e}"));
    assert!(
        output.status.success(),
        "the Python client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    let ok = |name: &str, answer: &Value| {
        assert_eq!(answer["status"], 200, "{name}: {answer}");
        assert!(
            answer["content_type"]
                .as_str()
                .is_some_and(|t| t.starts_with("application/json")),
            "{name}: {answer}"
        );
        assert_eq!(answer["cache_control"], "no-store", "{name}: {answer}");
        answer["body"].clone()
    };

    assert_eq!(
        out["methods"],
        json!([["client_secret_basic"], ["client_secret_basic"]])
    );
    let sid = crate::helpers::jwt_claims(&access)["sid"].clone();
    let body = ok("access", &out["access"]);
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["token_type"], "access_token");
    assert_eq!(body["sub"], "ivy");
    assert_eq!(body["sid"], sid);
    assert_eq!(body["iss"], app.tessera.config().issuer.as_str());
    assert!(body["exp"].as_i64() > body["iat"].as_i64(), "{body}");
    let body = ok("refresh", &out["refresh"]);
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["token_type"], "refresh_token");
    assert_eq!(body["sid"], sid);
    // Inactive: `{"active": false}` and nothing else (RFC 7662 §2.2).
    for name in ["revoked", "access_after", "refresh_after"] {
        assert_eq!(ok(name, &out[name]), json!({"active": false}), "{name}");
    }
    for answer in out["garbage"].as_array().into_iter().flatten() {
        assert_eq!(ok("garbage", answer), json!({"active": false}));
    }
    // RFC 6749 §5.2: a failed client authentication is 401 with a Basic challenge.
    let bad = &out["bad_client"];
    assert_eq!(bad["status"], 401, "{bad}");
    assert!(
        bad["www_authenticate"]
            .as_str()
            .is_some_and(|h| h.starts_with("Basic")),
        "{bad}"
    );
    assert_eq!(bad["body"]["error"], "invalid_client");
    // RFC 7009 §2.2: 200 for a revoked token and for an invalid one alike.
    for name in ["revoke", "revoke_garbage"] {
        assert_eq!(out[name]["status"], 200, "{name}: {}", out[name]);
    }

    // The revoked refresh token ended its session: its access token is refused here too.
    assert_error(
        app.protected(&access).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    assert_eq!(
        app.refresh(&refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
}
