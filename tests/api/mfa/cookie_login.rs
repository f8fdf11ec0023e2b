//! `/login/mfa` with `"transport": "cookie"`: the same cookies as `/login`'s cookie
//! transport, and the same refusal of a page of another site (before the `mfa_token` is
//! touched, so a forged cross-site attempt costs the user none of its five tries).

use std::collections::BTreeSet;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, ORIGIN};
use serde_json::{Value, json};

use super::{PASSWORD, code, steady_step};
use crate::browser::{ACCESS, CSRF_ACCESS, Jar, SetCookie, send, set_cookies};
use crate::helpers::{TestApp, jwt_claims, spawn_app, unwrap_response};

/// Everything about a cookie but its value.
fn shape(cookies: &[SetCookie]) -> BTreeSet<String> {
    cookies
        .iter()
        .map(|c| {
            format!(
                "{} path={:?} domain={:?} max_age={:?} http_only={} secure={} same_site={:?}",
                c.name, c.path, c.domain, c.max_age, c.http_only, c.secure, c.same_site
            )
        })
        .collect()
}

async fn second_step(
    app: &TestApp,
    mfa_token: &str,
    code: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = app.client.post(app.url("/login/mfa")).json(&json!({
        "mfa_token": mfa_token,
        "code": code,
        "transport": "cookie",
    }));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(request).await
}

#[tokio::test]
async fn a_cookie_second_step_sets_the_cookies_of_a_cookie_login_and_is_refused_cross_site() {
    let app = spawn_app().await;
    let enrolled = app.enrolled("kim").await;
    steady_step().await;
    let mfa_token = app.mfa_token("kim").await;
    let right = code(&enrolled.secret, 0);

    // A page of another site may not complete the login into the browser.
    for headers in [
        vec![("sec-fetch-site", "cross-site")],
        vec![(ORIGIN.as_str(), "http://evil.test")],
    ] {
        let (status, answer_headers, body) = second_step(&app, &mfa_token, &right, &headers).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::FORBIDDEN, Some("csrf_failed")),
            "{headers:?}: {body}"
        );
        assert!(set_cookies(&answer_headers).is_empty());
    }

    // The same token, from the app's own pages, still works: the refusals used no attempt.
    let (status, headers, body) = second_step(
        &app,
        &mfa_token,
        &right,
        &[("sec-fetch-site", "same-origin")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], "Login successful");
    assert_eq!(body["user"]["username"], "kim");
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none());
    assert_eq!(headers["cache-control"], "no-store");
    let cookies = set_cookies(&headers);

    // Exactly the cookies (names, paths, lifetimes, flags) of a password-only cookie login.
    let _ = app.register("lee", PASSWORD).await;
    let login = app
        .post_json(
            "/login",
            &json!({"username": "lee", "password": PASSWORD, "transport": "cookie"}),
        )
        .await;
    assert_eq!(login.status(), StatusCode::OK);
    assert_eq!(shape(&cookies), shape(&set_cookies(login.headers())));

    // The access cookie is an aal2 token with the signed double-submit value, and it works.
    let jar = Jar::from_answer(&headers);
    let claims = jwt_claims(jar.get(ACCESS));
    assert_eq!(claims["amr"], json!(["pwd", "otp"]));
    assert_eq!(claims["aal"], "aal2");
    assert_eq!(claims["csrf"], jar.get(CSRF_ACCESS));
    let protected = unwrap_response(
        app.client
            .get(app.url("/protected"))
            .header(COOKIE, jar.access())
            .send()
            .await,
    );
    assert_eq!(protected.status(), StatusCode::OK);
}
