//! `"transport": "cookie"`: the four cookies and their attributes, authentication by the
//! access cookie (the header wins), refresh through the refresh cookie (five tabs at
//! once), and cookies cleared at logout and account deletion.

use std::collections::HashSet;

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CACHE_CONTROL, COOKIE};
use serde_json::json;

use super::{
    ACCESS, CSRF_ACCESS, CSRF_REFRESH, Jar, PASSWORD, REFRESH, cookie_login, send, set_cookies,
};
use crate::helpers::{assert_error, jwt_claims, spawn_app, spawn_app_with, status_and_json};

/// The refresh and logout routes, and the hosted pages (on by default), which renew an
/// expired page session from it.
const REFRESH_PATHS: [&str; 5] = ["/refresh", "/logout", "/api/refresh", "/api/logout", "/ui"];

async fn login_with_cookies_sets_the_four_cookies_and_no_token_in_the_body() {
    let app = spawn_app().await;
    let _ = app.register("alice", PASSWORD).await;
    let response = app
        .post_json(
            "/login",
            &json!({"username": "alice", "password": PASSWORD, "transport": "cookie"}),
        )
        .await;
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    let headers = response.headers().clone();
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], "Login successful");
    assert_eq!(body["user"]["username"], "alice");
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none());

    let cookies = set_cookies(&headers);
    let session_ttl = 30 * 24 * 3600;
    for cookie in &cookies {
        assert!(cookie.secure, "{cookie:?}");
        assert_eq!(cookie.same_site.as_deref(), Some("Lax"), "{cookie:?}");
        assert_eq!(cookie.domain, None, "{cookie:?}");
    }
    let named = |name: &str| {
        cookies
            .iter()
            .filter(|c| c.name == name)
            .collect::<Vec<_>>()
    };
    let [access] = named(ACCESS)[..] else {
        panic!("one access cookie: {cookies:?}")
    };
    assert!(access.http_only);
    assert_eq!(access.path.as_deref(), Some("/"));
    assert_eq!(access.max_age, None, "a session cookie");
    let refresh = named(REFRESH);
    let paths: HashSet<_> = refresh.iter().filter_map(|c| c.path.as_deref()).collect();
    assert_eq!(paths, HashSet::from(REFRESH_PATHS));
    for cookie in &refresh {
        assert!(cookie.http_only);
        assert_eq!(cookie.max_age, Some(session_ttl));
        assert_eq!(cookie.value, refresh[0].value);
    }
    let [csrf_access] = named(CSRF_ACCESS)[..] else {
        panic!("one csrf access cookie: {cookies:?}")
    };
    assert!(!csrf_access.http_only, "scripts must read it");
    assert_eq!(csrf_access.path.as_deref(), Some("/"));
    assert_eq!(csrf_access.max_age, None);
    let [csrf_refresh] = named(CSRF_REFRESH)[..] else {
        panic!("one csrf refresh cookie: {cookies:?}")
    };
    assert!(!csrf_refresh.http_only);
    assert_eq!(csrf_refresh.max_age, Some(session_ttl));
    // And the device token (`tests/api/device_tokens.rs`).
    assert_eq!(cookies.len(), 3 + REFRESH_PATHS.len() + 1);

    // The signed double submit: the readable value is the one signed into the token.
    let claims = jwt_claims(&access.value);
    assert_eq!(claims["csrf"], csrf_access.value.as_str());
    assert_ne!(csrf_access.value, csrf_refresh.value);
    assert!(csrf_access.value.len() >= 22);
}

async fn flask_names_and_a_domain_are_a_setting_away() {
    let app = spawn_app_with(|c| {
        c.cookies.name_prefix = false;
        c.cookies.domain = Some("example.test".into());
        c.cookies.same_site = tessera::config::SameSite::Strict;
        c.cookies.access_max_age_secs = Some(900);
    })
    .await;
    let (_, _) = cookie_login(&app, "bob").await;
    let response = app
        .post_json(
            "/login",
            &json!({"username": "bob", "password": PASSWORD, "transport": "cookie"}),
        )
        .await;
    let cookies = set_cookies(response.headers());
    let names: HashSet<_> = cookies.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        HashSet::from([
            "access_token_cookie",
            "refresh_token_cookie",
            "csrf_access_token",
            "csrf_refresh_token",
            "device_token"
        ])
    );
    // The device cookie is never given a `Domain`: it names this host's device.
    for cookie in cookies.iter().filter(|c| c.name != "device_token") {
        assert_eq!(cookie.domain.as_deref(), Some("example.test"));
        assert_eq!(cookie.same_site.as_deref(), Some("Strict"));
        if cookie.name.contains("access") {
            assert_eq!(cookie.max_age, Some(900), "{cookie:?}");
        }
    }
}

async fn a_login_without_transport_keeps_the_seeds_body_and_sets_no_cookie() {
    let app = spawn_app().await;
    let _ = app.register("carol", PASSWORD).await;
    for body in [
        json!({"username": "carol", "password": PASSWORD}),
        json!({"username": "carol", "password": PASSWORD, "transport": "body"}),
    ] {
        let (status, headers, body) = send(app.client.post(app.url("/login")).json(&body)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(set_cookies(&headers).is_empty());
        let token = body["access_token"].as_str().unwrap_or_default();
        // Bearer tokens carry no CSRF value: nothing a cookie-less client needs.
        assert!(jwt_claims(token).get("csrf").is_none());
    }
    let response = app
        .post_json(
            "/login",
            &json!({"username": "carol", "password": PASSWORD, "transport": "carrier-pigeon"}),
        )
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

async fn the_access_cookie_authenticates_and_a_header_wins_over_it() {
    let app = spawn_app().await;
    let (_, jar) = cookie_login(&app, "dave").await;
    let get = |cookie: String| app.client.get(app.url("/protected")).header(COOKIE, cookie);
    let (status, _, body) = send(get(jar.access())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["logged_in_as"], "dave");
    let (status, _, body) = send(get(jar.access()).header(AUTHORIZATION, "Bearer not-a-jwt")).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the header is used: {body}"
    );
    // A valid header with a broken cookie: the cookie is not looked at.
    let other = app.signed_up("erin", PASSWORD).await;
    let erin = other["access_token"].as_str().unwrap_or_default();
    let (status, _, body) =
        send(get(format!("{ACCESS}=garbage")).header(AUTHORIZATION, format!("Bearer {erin}")))
            .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["logged_in_as"], "erin");
    // The cookie under Flask's unprefixed name is not tessera's cookie here.
    let token = jar.get(ACCESS);
    let (status, _, _) = send(get(format!("access_token_cookie={token}"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Under /api as well, and a GET needs no CSRF header.
    let (status, _, _) = send(
        app.client
            .get(app.url("/api/me"))
            .header(COOKIE, jar.access()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

async fn refresh_through_the_cookie_rotates_and_answers_with_cookies() {
    let app = spawn_app().await;
    let (_, jar) = cookie_login(&app, "frank").await;
    let refresh = |jar: &Jar| {
        app.client
            .post(app.url("/refresh"))
            .header(COOKIE, jar.refresh())
            .header("x-csrf-token", jar.get(CSRF_REFRESH))
    };
    let (status, headers, body) = send(refresh(&jar)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], "Token refreshed");
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none());
    assert_eq!(headers[CACHE_CONTROL], "no-store");
    let next = Jar::from_answer(&headers);
    assert_ne!(next.get(REFRESH), jar.get(REFRESH));
    assert_ne!(next.get(ACCESS), jar.get(ACCESS));
    // One CSRF value per session: a tab that read it before the rotation still holds the
    // right one.
    assert_eq!(next.get(CSRF_ACCESS), jar.get(CSRF_ACCESS));
    assert_eq!(next.get(CSRF_REFRESH), jar.get(CSRF_REFRESH));
    assert_eq!(jwt_claims(next.get(ACCESS))["csrf"], jar.get(CSRF_ACCESS));
    assert_eq!(jwt_claims(next.get(ACCESS))["fresh"], false);

    // Without the CSRF header, or with the access value: refused, nothing rotated.
    let bare = app
        .client
        .post(app.url("/refresh"))
        .header(COOKIE, next.refresh());
    let (status, _, body) = send(bare).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("csrf_failed"))
    );
    let wrong = app
        .client
        .post(app.url("/refresh"))
        .header(COOKIE, next.refresh())
        .header("x-csrf-token", next.get(CSRF_ACCESS));
    let (status, _, _) = send(wrong).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, headers, _) = send(refresh(&next)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the refused attempts rotated nothing"
    );
    assert_ne!(Jar::from_answer(&headers).get(REFRESH), next.get(REFRESH));

    // A body token wins over the cookie and is answered in the body.
    let body_login = app.signed_up("grace", PASSWORD).await;
    let (status, headers, body) = send(
        app.client
            .post(app.url("/refresh"))
            .header(COOKIE, jar.refresh())
            .json(&json!({"refresh_token": body_login["refresh_token"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["refresh_token"].is_string());
    assert!(set_cookies(&headers).is_empty());
}

async fn five_tabs_refreshing_through_cookies_at_once_stay_on_one_session() {
    let app = spawn_app().await;
    let (_, jar) = cookie_login(&app, "heidi").await;
    let mut tabs = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let request = app
            .client
            .post(app.url("/refresh"))
            .header(COOKIE, jar.refresh())
            .header("x-csrf-token", jar.get(CSRF_REFRESH));
        tabs.spawn(send(request));
    }
    let mut successors = HashSet::new();
    let mut last = None;
    while let Some(answer) = tabs.join_next().await {
        let (status, headers, body) = answer.unwrap_or_else(|e| panic!("tab: {e}"));
        assert_eq!(status, StatusCode::OK, "{body}");
        let next = Jar::from_answer(&headers);
        successors.insert(next.get(REFRESH).to_owned());
        let (status, _, _) = send(
            app.client
                .get(app.url("/protected"))
                .header(COOKIE, next.access()),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "every tab ends logged in");
        last = Some(next);
    }
    assert_eq!(successors.len(), 1, "every tab got the same successor");
    let next = last.unwrap_or_else(|| panic!("five answers"));
    let (_, _, sessions) = send(
        app.client
            .get(app.url("/sessions"))
            .header(COOKIE, next.access()),
    )
    .await;
    assert_eq!(
        sessions["sessions"].as_array().map(Vec::len),
        Some(1),
        "{sessions}"
    );
}

async fn logout_and_account_deletion_clear_all_four_cookies() {
    let app = spawn_app().await;
    for (path, method, body) in [
        ("/logout", reqwest::Method::POST, json!({})),
        (
            "/api/logout",
            reqwest::Method::POST,
            json!({"scope": "global"}),
        ),
        (
            "/me",
            reqwest::Method::DELETE,
            json!({"password": PASSWORD}),
        ),
    ] {
        let name = format!("ivan{}", path.len());
        let (_, jar) = cookie_login(&app, &name).await;
        let (status, headers, answer) = send(
            app.client
                .request(method, app.url(path))
                .header(COOKIE, jar.access())
                .header("x-csrf-token", jar.get(CSRF_ACCESS))
                .json(&body),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
        let cleared = set_cookies(&headers);
        let names: HashSet<_> = cleared.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            HashSet::from([ACCESS, REFRESH, CSRF_ACCESS, CSRF_REFRESH])
        );
        for cookie in &cleared {
            assert_eq!(cookie.max_age, Some(0), "{cookie:?}");
            assert!(cookie.value.is_empty());
            assert!(cookie.secure);
        }
        let paths: HashSet<_> = cleared
            .iter()
            .filter(|c| c.name == REFRESH)
            .filter_map(|c| c.path.as_deref())
            .collect();
        assert_eq!(
            paths,
            HashSet::from(REFRESH_PATHS),
            "cleared at every path it was set"
        );
        let (status, _, _) = send(
            app.client
                .get(app.url("/protected"))
                .header(COOKIE, jar.access()),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} ended the session");
    }
}

crate::backend_tests!(
    login_with_cookies_sets_the_four_cookies_and_no_token_in_the_body,
    flask_names_and_a_domain_are_a_setting_away,
    a_login_without_transport_keeps_the_seeds_body_and_sets_no_cookie,
    the_access_cookie_authenticates_and_a_header_wins_over_it,
    refresh_through_the_cookie_rotates_and_answers_with_cookies,
    five_tabs_refreshing_through_cookies_at_once_stay_on_one_session,
    logout_and_account_deletion_clear_all_four_cookies,
);
