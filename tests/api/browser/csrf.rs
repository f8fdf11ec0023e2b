//! CSRF for cookie-authenticated writes: the Fetch-Metadata/Origin check and the double
//! submit, both required; refused writes change nothing; bearer requests never checked.

use reqwest::header::{AUTHORIZATION, COOKIE, ORIGIN};
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{CSRF_ACCESS, CSRF_REFRESH, Jar, PASSWORD, cookie_login, send};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// A logout by cookie with the given extra headers; returns the status and error code.
async fn logout(app: &TestApp, jar: &Jar, headers: &[(&str, &str)]) -> (StatusCode, String) {
    let mut request = app
        .client
        .post(app.url("/logout"))
        .header(COOKIE, jar.access());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let (status, _, body) = send(request).await;
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn still_logged_in(app: &TestApp, jar: &Jar) -> bool {
    let request = app
        .client
        .get(app.url("/protected"))
        .header(COOKIE, jar.access());
    send(request).await.0 == StatusCode::OK
}

fn refused() -> (StatusCode, String) {
    (StatusCode::FORBIDDEN, "csrf_failed".to_owned())
}

async fn a_cookie_write_without_the_right_csrf_header_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let (_, jar) = cookie_login(&app, "alice").await;
    let csrf = jar.get(CSRF_ACCESS).to_owned();
    assert_eq!(logout(&app, &jar, &[]).await, refused());
    assert_eq!(logout(&app, &jar, &[("x-csrf-token", "")]).await, refused());
    let wrong = format!("{}x", &csrf[..csrf.len() - 1]);
    assert_eq!(
        logout(&app, &jar, &[("x-csrf-token", &wrong)]).await,
        refused()
    );
    // The refresh cookie's value is not the access cookie's.
    let other = jar.get(CSRF_REFRESH).to_owned();
    assert_eq!(
        logout(&app, &jar, &[("x-csrf-token", &other)]).await,
        refused()
    );
    // Another session's value does not fit this one.
    let (_, elsewhere) = cookie_login(&app, "alice").await;
    let theirs = elsewhere.get(CSRF_ACCESS).to_owned();
    assert_eq!(
        logout(&app, &jar, &[("x-csrf-token", &theirs)]).await,
        refused()
    );
    assert!(still_logged_in(&app, &jar).await, "nothing was ended");

    // Every state-changing method and route behind the access cookie is guarded.
    for (method, path, body) in [
        (
            Method::POST,
            "/me/password",
            json!({"current_password": PASSWORD, "new_password": "another long passphrase"}),
        ),
        (Method::DELETE, "/me", json!({"password": PASSWORD})),
        (Method::POST, "/api/logout", json!({"scope": "global"})),
    ] {
        let request = app
            .client
            .request(method, app.url(path))
            .header(COOKIE, jar.access())
            .json(&body);
        let (status, _, body) = send(request).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::FORBIDDEN, Some("csrf_failed")),
            "{path}"
        );
    }
    assert!(still_logged_in(&app, &jar).await);
    let login = app.login("alice", PASSWORD).await;
    assert_eq!(
        login.status(),
        StatusCode::OK,
        "the password was not changed"
    );

    assert_eq!(
        logout(&app, &jar, &[("x-csrf-token", &csrf)]).await.0,
        StatusCode::OK
    );
    assert!(!still_logged_in(&app, &jar).await);
}

async fn requests_from_another_site_are_refused_even_with_the_csrf_value() {
    let app = spawn_app_with(|c| {
        c.cors.allowed_origins = vec!["http://app.example.test".into()];
    })
    .await;
    let (_, jar) = cookie_login(&app, "bob").await;
    let csrf = jar.get(CSRF_ACCESS).to_owned();
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut headers = vec![("x-csrf-token", csrf.as_str())];
        headers.extend(extra.iter().copied());
        headers
    };
    for case in [
        vec![("sec-fetch-site", "cross-site")],
        vec![
            ("sec-fetch-site", "cross-site"),
            ("origin", "http://app.example.test"),
        ],
        vec![
            ("sec-fetch-site", "same-site"),
            ("origin", "http://other.example.test"),
        ],
        vec![("origin", "http://evil.test")],
        vec![("origin", "null")],
    ] {
        assert_eq!(
            logout(&app, &jar, &with(&case)).await,
            refused(),
            "{case:?}"
        );
    }
    assert!(still_logged_in(&app, &jar).await);
    // A listed origin on a sibling subdomain, and a browser too old for Fetch Metadata
    // whose Origin is this server's own, pass.
    let own = app.address.clone();
    let (_, second) = cookie_login(&app, "bob").await;
    let second_csrf = second.get(CSRF_ACCESS).to_owned();
    let headers = [
        ("x-csrf-token", second_csrf.as_str()),
        ("origin", own.as_str()),
    ];
    assert_eq!(logout(&app, &second, &headers).await.0, StatusCode::OK);
    let headers = [
        ("x-csrf-token", csrf.as_str()),
        ("sec-fetch-site", "same-site"),
        ("origin", "http://app.example.test"),
    ];
    assert_eq!(logout(&app, &jar, &headers).await.0, StatusCode::OK);
}

async fn a_cookie_login_from_another_site_is_refused() {
    let app = spawn_app().await;
    let _ = app.register("carol", PASSWORD).await;
    let body = json!({"username": "carol", "password": PASSWORD, "transport": "cookie"});
    let request = app
        .client
        .post(app.url("/login"))
        .header("sec-fetch-site", "cross-site")
        .json(&body);
    let (status, headers, answer) = send(request).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("csrf_failed"))
    );
    assert!(super::set_cookies(&headers).is_empty());
    let request = app
        .client
        .post(app.url("/login"))
        .header(ORIGIN, "http://evil.test")
        .json(&body);
    assert_eq!(send(request).await.0, StatusCode::FORBIDDEN);
}

async fn bearer_requests_are_never_subject_to_csrf() {
    let app = spawn_app().await;
    let login = app.signed_up("dave", PASSWORD).await;
    let token = login["access_token"].as_str().unwrap_or_default();
    let (status, _, body) = send(
        app.client
            .post(app.url("/logout"))
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .header("sec-fetch-site", "cross-site")
            .header(ORIGIN, "http://evil.test"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Nor a bearer refresh.
    let login = app.signed_up("erin", PASSWORD).await;
    let (status, _, _) = send(
        app.client
            .post(app.url("/refresh"))
            .header("sec-fetch-site", "cross-site")
            .json(&json!({"refresh_token": login["refresh_token"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

async fn a_cookie_refresh_from_another_site_is_refused_and_rotates_nothing() {
    let app = spawn_app().await;
    let (_, jar) = cookie_login(&app, "frank").await;
    let request = |site: &'static str| {
        app.client
            .post(app.url("/refresh"))
            .header(COOKIE, jar.refresh())
            .header("x-csrf-token", jar.get(CSRF_REFRESH))
            .header("sec-fetch-site", site)
    };
    let (status, _, body) = send(request("cross-site")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("csrf_failed"))
    );
    let (status, headers, _) = send(request("same-origin")).await;
    assert_eq!(status, StatusCode::OK);
    // Had the refused one rotated, this presentation of the same token would be a reuse
    // outside the grace window... it is the first use, so it rotated to a new token.
    assert_ne!(
        Jar::from_answer(&headers).get(super::REFRESH),
        jar.get(super::REFRESH)
    );
}

crate::backend_tests!(
    a_cookie_write_without_the_right_csrf_header_is_refused_and_changes_nothing,
    requests_from_another_site_are_refused_even_with_the_csrf_value,
    a_cookie_login_from_another_site_is_refused,
    bearer_requests_are_never_subject_to_csrf,
    a_cookie_refresh_from_another_site_is_refused_and_rotates_nothing,
);
