//! Downstream services: service clients, RFC 7662 introspection, RFC 7009 revocation, the
//! revocation feed, RFC 8414 metadata, and an axum service guarded by `tessera-verify`
//! next to two tessera instances.

use std::time::{Duration, Instant};

use axum::routing::get;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera::KeyAlg;
use tessera_verify::{Authenticated, Verifier};

use crate::backend::{Backend, on_backend};
use crate::helpers::{
    TestApp, assert_error, spawn_app, spawn_app_with, spawn_instance_beside, status_and_json,
    str_field, unwrap_response,
};

const PASSWORD: &str = "correct horse battery staple";

async fn client_of(app: &TestApp) -> (String, String) {
    let created = app
        .tessera
        .admin_add_client("billing")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (created.client_id, created.client_secret)
}

async fn post_form(app: &TestApp, path: &str, auth: (&str, &str), body: &str) -> reqwest::Response {
    unwrap_response(
        app.client
            .post(app.url(path))
            .basic_auth(auth.0, Some(auth.1))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
            .await,
    )
}

async fn introspect(app: &TestApp, auth: (&str, &str), token: &str) -> Value {
    let (status, body) =
        status_and_json(post_form(app, "/introspect", auth, &format!("token={token}")).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn introspection_answers_live_tokens_and_only_active_false_otherwise() {
    let app = spawn_app().await;
    let (id, secret) = client_of(&app).await;
    let auth = (id.as_str(), secret.as_str());
    let login = app.signed_up("alice", PASSWORD).await;
    let access = str_field(&login, "access_token");
    let refresh = str_field(&login, "refresh_token");

    let body = introspect(&app, auth, access).await;
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["sub"], "alice");
    assert_eq!(body["token_type"], "access_token");
    assert!(body["sid"].is_string() && body["exp"].is_i64() && body["iat"].is_i64());
    assert!(body["iss"].is_string());

    let body = introspect(&app, auth, refresh).await;
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["token_type"], "refresh_token");
    assert_eq!(body["sid"], introspect(&app, auth, access).await["sid"]);

    for junk in ["nonsense", "a.b.c", "mF_9.B5f-4.1JqM"] {
        assert_eq!(introspect(&app, auth, junk).await, json!({"active": false}));
    }

    // RFC 7009: revoking the refresh token ends the session, and its access token too.
    let response = post_form(
        &app,
        "/revoke",
        auth,
        &format!("token={refresh}&token_type_hint=refresh_token"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        introspect(&app, auth, refresh).await,
        json!({"active": false})
    );
    assert_eq!(
        introspect(&app, auth, access).await,
        json!({"active": false})
    );
    assert_eq!(
        app.protected(access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // An invalid token is answered 200, as the RFC says.
    let response = post_form(&app, "/revoke", auth, "token=45ghiukldjahdnhzdauz").await;
    assert_eq!(response.status(), StatusCode::OK);
}

async fn client_authentication_is_required_and_bad_requests_are_4xx() {
    let app = spawn_app().await;
    let (id, secret) = client_of(&app).await;
    let response = post_form(&app, "/introspect", (&id, "wrong"), "token=x").await;
    let response_header = response.headers().get("www-authenticate").cloned();
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    assert_eq!(
        response_header.as_ref().and_then(|v| v.to_str().ok()),
        Some(r#"Basic realm="tessera""#)
    );
    let response = post_form(&app, "/revoke", ("tc_nobody", "x"), "token=x").await;
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let response = unwrap_response(
        app.client
            .post(app.url("/introspect"))
            .body("token=x")
            .send()
            .await,
    );
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let auth = (id.as_str(), secret.as_str());
    assert_error(
        post_form(&app, "/introspect", auth, "").await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_error(
        post_form(&app, "/introspect", auth, "token=a&token=b").await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    let response = unwrap_response(
        app.client
            .post(app.url("/introspect"))
            .basic_auth(&id, Some(&secret))
            .json(&json!({"token": "x"}))
            .send()
            .await,
    );
    assert_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    // A removed client is refused (the cache is dropped on this instance at once).
    assert!(app.tessera.admin_remove_client(&id).await.unwrap_or(false));
    assert_error(
        post_form(&app, "/introspect", auth, "token=x").await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
}

async fn the_feed_lists_revoked_sessions_and_the_metadata_lists_the_endpoints() {
    let app = spawn_app().await;
    let (id, secret) = client_of(&app).await;
    let login = app.signed_up("bob", PASSWORD).await;
    let access = str_field(&login, "access_token").to_owned();
    let feed = |query: String| {
        let request = app
            .client
            .get(app.url(&format!("/revocations{query}")))
            .basic_auth(&id, Some(&secret));
        async move { status_and_json(unwrap_response(request.send().await)).await }
    };
    let (status, first) = feed(String::new()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let cursor = first["cursor"].as_i64().unwrap_or_default();
    // Nothing new: the long poll waits, then ends when the logout comes.
    let waiting = tokio::spawn(feed(format!("?since={cursor}&wait=5")));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    assert_eq!(app.logout(&access, None).await.status(), StatusCode::OK);
    let (status, next) = waiting.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let sid = crate::helpers::jwt_claims(&access)["sid"].clone();
    assert!(
        next["revoked_sessions"]
            .as_array()
            .is_some_and(|ids| ids.contains(&sid)),
        "{next}"
    );

    let (status, meta) =
        status_and_json(app.get("/.well-known/oauth-authorization-server").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(meta["issuer"], app.tessera.config().issuer.as_str());
    assert_eq!(meta["introspection_endpoint"], app.url("/introspect"));
    assert_eq!(meta["revocation_endpoint"], app.url("/revoke"));
    assert_eq!(meta["jwks_uri"], app.url("/.well-known/jwks.json"));
    assert_eq!(
        meta["introspection_endpoint_auth_methods_supported"],
        json!(["client_secret_basic"])
    );
}

async fn revoking_an_access_token_ends_its_session_on_every_instance_within_a_second() {
    let app = spawn_app().await;
    let other = spawn_instance_beside(&app, |_| {}).await;
    let (id, secret) = client_of(&app).await;
    let auth = (id.as_str(), secret.as_str());
    let login = other.signed_up("fay", PASSWORD).await;
    let access = str_field(&login, "access_token");
    let refresh = str_field(&login, "refresh_token");
    // Another session of the same user is not touched.
    let (_, kept) = status_and_json(app.login("fay", PASSWORD).await).await;
    let kept = str_field(&kept, "access_token");
    for instance in [&app, &other] {
        assert_eq!(instance.protected(access).await.status(), StatusCode::OK);
    }

    // Revoked at one instance, with the access token (RFC 7009 §2.1 lets either be sent).
    let response = post_form(
        &app,
        "/revoke",
        auth,
        &format!("token={access}&token_type_hint=access_token"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let started = Instant::now();
    for instance in [&app, &other] {
        loop {
            let response = instance.protected(access).await;
            if response.status() == StatusCode::UNAUTHORIZED {
                assert_error(response, StatusCode::UNAUTHORIZED, "token_revoked").await;
                break;
            }
            assert!(
                started.elapsed() < Duration::from_millis(1500),
                "{} still accepts the access token after {:?}",
                instance.address,
                started.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert!(started.elapsed() < Duration::from_millis(1500));
    // The session's refresh token is dead too, on both instances, and introspection says so.
    for instance in [&app, &other] {
        assert_eq!(
            instance.refresh(refresh).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            introspect(instance, auth, access).await,
            json!({"active": false})
        );
    }
    for instance in [&app, &other] {
        assert_eq!(instance.protected(kept).await.status(), StatusCode::OK);
    }
}

crate::backend_tests!(
    introspection_answers_live_tokens_and_only_active_false_otherwise,
    client_authentication_is_required_and_bad_requests_are_4xx,
    the_feed_lists_revoked_sessions_and_the_metadata_lists_the_endpoints,
    revoking_an_access_token_ends_its_session_on_every_instance_within_a_second,
);

/// `GET /revocations` as the service client `auth`; status, body and how long it took.
async fn read_feed(
    app: &TestApp,
    auth: &(String, String),
    query: &str,
) -> (StatusCode, Value, Duration) {
    let started = Instant::now();
    let response = unwrap_response(
        app.client
            .get(app.url(&format!("/revocations{query}")))
            .basic_auth(&auth.0, Some(&auth.1))
            .send()
            .await,
    );
    let (status, body) = status_and_json(response).await;
    (status, body, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_waits_past_the_request_time_limit_and_ends_early_at_a_revocation() {
    // A request time limit of 2 s, which the long poll is not bound by.
    let app = spawn_app_with(|c| c.request_timeout_secs = 2).await;
    let auth = client_of(&app).await;
    let login = app.signed_up("gus", PASSWORD).await;
    let access = str_field(&login, "access_token").to_owned();
    let (_, first, _) = read_feed(&app, &auth, "").await;
    let cursor = first["cursor"].as_i64().unwrap_or_default();

    // Nothing happens: the wait runs its full 4 s, past the 2 s limit, and is no 408.
    let (status, body, took) = read_feed(&app, &auth, &format!("?since={cursor}&wait=4")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["revoked_sessions"], json!([]));
    assert!(
        took >= Duration::from_millis(3500) && took < Duration::from_secs(7),
        "{took:?}"
    );

    // The longest wait (25 s) ends as soon as a session is revoked.
    let waiting = {
        let (app_client, url, auth) = (
            app.client.clone(),
            app.url(&format!("/revocations?since={cursor}&wait=25")),
            auth.clone(),
        );
        tokio::spawn(async move {
            let started = Instant::now();
            let response = unwrap_response(
                app_client
                    .get(url)
                    .basic_auth(&auth.0, Some(&auth.1))
                    .send()
                    .await,
            );
            let (status, body) = status_and_json(response).await;
            (status, body, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.logout(&access, None).await.status(), StatusCode::OK);
    let (status, body, took) = waiting.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    let sid = crate::helpers::jwt_claims(&access)["sid"].clone();
    assert!(
        body["revoked_sessions"]
            .as_array()
            .is_some_and(|ids| ids.contains(&sid)),
        "{body}"
    );

    // 25 s is the documented maximum: more is a bad request, not a silent cut.
    let (status, body, _) = read_feed(&app, &auth, "?wait=26").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn the_feed_wait_is_shortened_to_the_configured_maximum() {
    let app = spawn_app_with(|c| c.revocation_feed_max_wait_secs = 1).await;
    let auth = client_of(&app).await;
    let (_, first, _) = read_feed(&app, &auth, "").await;
    let cursor = first["cursor"].as_i64().unwrap_or_default();
    let (status, body, took) = read_feed(&app, &auth, &format!("?since={cursor}&wait=25")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(took < Duration::from_millis(2500), "{took:?}");
}

async fn whoami(user: Authenticated) -> String {
    user.sub.clone()
}

/// An axum service guarded by the verifier, on a random port.
async fn spawn_downstream(verifier: Verifier) -> String {
    let app = axum::Router::new()
        .route("/whoami", get(whoami))
        .with_state(verifier);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}/whoami")
}

async fn call(client: &reqwest::Client, url: &str, token: &str) -> (StatusCode, String) {
    let response = unwrap_response(client.get(url).bearer_auth(token).send().await);
    let status = response.status();
    (status, response.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tessera_pg_tests),
    ignore = "PostgreSQL tests skipped: set TESSERA_TEST_DATABASE_URL to run them"
)]
async fn a_downstream_service_follows_rotation_and_logout_across_two_instances() {
    on_backend(Backend::Postgres, async {
        let app = spawn_app().await;
        let other = spawn_instance_beside(&app, |_| {}).await;
        let first = app
            .tessera
            .add_signing_key(KeyAlg::EdDsa, 0)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        let (id, secret) = client_of(&app).await;
        let verifier = Verifier::builder_from_base_url(&app.address)
            .issuer(app.tessera.config().issuer.clone())
            .revocation_feed(id, secret)
            .feed_wait_secs(5)
            .unknown_kid_refetch_interval(Duration::from_secs(2))
            .build()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let url = spawn_downstream(verifier.clone()).await;
        let client = &app.client;

        // A token from tessera works on the service.
        other.signed_up("carol", PASSWORD).await;
        let access = token_signed_by(&other, "carol", &first.kid).await;
        assert_eq!(
            call(client, &url, &access).await,
            (StatusCode::OK, "carol".into())
        );

        // A flood of made-up kids costs at most one refetch per interval.
        let before = verifier.stats().jwks_fetches;
        let forged = |kid: usize| {
            let header = tessera_b64(
                &json!({"alg": "EdDSA", "typ": "JWT", "kid": format!("made-up-{kid}")}),
            );
            format!("{header}.{}.AAAA", access.split('.').nth(1).unwrap_or(""))
        };
        for kid in 0..50 {
            let (status, body) = call(client, &url, &forged(kid)).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        }
        let fetched = verifier.stats().jwks_fetches - before;
        assert!(fetched <= 1, "{fetched} refetches for 50 unknown kids");

        // After a rotation on tessera, new tokens verify with no restart.
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let next = app
            .tessera
            .add_signing_key(KeyAlg::Es256, 0)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        let token = token_signed_by(&other, "carol", &next.kid).await;
        assert_eq!(
            call(client, &url, &token).await,
            (StatusCode::OK, "carol".into())
        );

        // A logout on one tessera instance is refused by the service within a second.
        assert_eq!(other.logout(&token, None).await.status(), StatusCode::OK);
        let started = Instant::now();
        loop {
            let (status, body) = call(client, &url, &token).await;
            if status == StatusCode::UNAUTHORIZED {
                assert!(body.contains("token_revoked"), "{body}");
                break;
            }
            assert!(
                started.elapsed() < Duration::from_millis(1500),
                "still accepted after {:?}",
                started.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(verifier.stats().revoked_sessions >= 1);
    })
    .await
}

/// Logs in until the instance signs with `kid` (it loads a new key within its reload interval).
async fn token_signed_by(app: &TestApp, name: &str, kid: &str) -> String {
    for _ in 0..50 {
        let (_, login) = status_and_json(app.login(name, PASSWORD).await).await;
        let token = str_field(&login, "access_token").to_owned();
        if crate::helpers::jwt_header(&token)["kid"] == kid {
            return token;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} never signed with {kid}", app.address)
}

fn tessera_b64(value: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verifier_keeps_verifying_while_tessera_is_down_until_the_staleness_bound() {
    // tessera behind a tiny proxy that can be cut, so "down" is real refused connections.
    let app = spawn_app().await;
    app.tessera
        .add_signing_key(KeyAlg::EdDsa, 0)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let target = app.address.trim_start_matches("http://").to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let proxy = format!(
        "http://{}",
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    );
    let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let proxy_up = up.clone();
    // Open connections, cut when tessera "goes down" (kept-alive ones included).
    let open: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>> = Default::default();
    let proxy_open = open.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            if !proxy_up.load(std::sync::atomic::Ordering::SeqCst) {
                continue; // dropped: the connection is closed at once
            }
            let target = target.clone();
            let task = tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
            if let Ok(mut open) = proxy_open.lock() {
                open.push(task.abort_handle());
            }
        }
    });
    let go_down = || {
        up.store(false, std::sync::atomic::Ordering::SeqCst);
        if let Ok(mut open) = open.lock() {
            open.drain(..).for_each(|task| task.abort());
        }
    };
    let verifier = Verifier::builder_from_base_url(&proxy)
        .max_stale(Duration::from_secs(2))
        .build()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let login = app.signed_up("dora", PASSWORD).await;
    let access = str_field(&login, "access_token");
    go_down();
    assert!(
        verifier.verify(access).await.is_ok(),
        "verifies with the cached keys"
    );
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(
        verifier.verify(access).await.err().map(|e| e.code()),
        Some("unavailable")
    );
    up.store(true, std::sync::atomic::Ordering::SeqCst);
    let started = Instant::now();
    while verifier.verify(access).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "did not recover"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_metadata_issuer_is_the_configured_issuer_which_tokens_carry() {
    let app = spawn_app_with(|c| c.issuer = "https://auth.example.test".into()).await;
    let (status, meta) =
        status_and_json(app.get("/.well-known/oauth-authorization-server").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(meta["issuer"], "https://auth.example.test");
    let login = app.signed_up("hana", PASSWORD).await;
    let claims = crate::helpers::jwt_claims(str_field(&login, "access_token"));
    assert_eq!(claims["iss"], meta["issuer"]);
}
