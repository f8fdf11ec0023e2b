//! The pages over HTTP.

use reqwest::StatusCode;
use serde_json::json;

use super::{Browser, PASSWORD, PRE_SESSION_FORMS, SIGNED_IN_FORMS};
use crate::helpers::{spawn_app, spawn_app_with, status_and_json, str_field};
use crate::mfa::{code, steady_step};

#[tokio::test]
async fn signing_in_through_the_form_opens_an_ordinary_cookie_session() {
    let app = spawn_app().await;
    app.signed_up("alice", PASSWORD).await;
    let mut browser = Browser::new(&app);
    let answer = browser.sign_in("alice", PASSWORD, "").await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(answer.location(), "/ui/account");
    assert!(browser.has_session());
    let account = browser.get("/ui/account").await;
    assert_eq!(account.status, StatusCode::OK);
    assert!(account.body.contains("alice") && account.body.contains("Firefox · Linux"));
    // The page's session is one of the user's sessions, as the API lists them.
    let login = app.login("alice", PASSWORD).await;
    let (_, body) = status_and_json(login).await;
    let (_, sessions) = status_and_json(app.sessions(str_field(&body, "access_token")).await).await;
    // signed_up, the page and this login.
    assert_eq!(sessions["sessions"].as_array().map(Vec::len), Some(3));
    // The pages have their own policy: nothing from elsewhere, no script, no framing.
    let csp = account.headers["content-security-policy"]
        .to_str()
        .unwrap_or("");
    assert!(csp.contains("default-src 'none'") && csp.contains("form-action 'self'"));
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("script-src"));
    assert_eq!(account.headers["cache-control"], "no-store");
}

#[tokio::test]
async fn sign_in_says_the_same_for_an_unknown_name_and_a_wrong_password() {
    let app = spawn_app().await;
    app.signed_up("alice", PASSWORD).await;
    let mut browser = Browser::new(&app);
    let wrong = browser
        .sign_in("alice", "not the password at all", "")
        .await;
    let unknown = browser
        .sign_in("nobody", "not the password at all", "")
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, wrong.status);
    assert!(wrong.body.contains("Invalid credentials"));
    // The same page but for the name typed, which is kept; the password never is.
    assert_eq!(
        wrong.body.replace("alice", "NAME"),
        unknown.body.replace("nobody", "NAME")
    );
    assert!(!wrong.body.contains("not the password at all"));
    assert!(!browser.has_session());
}

#[tokio::test]
async fn every_form_refuses_a_post_without_its_token_or_from_another_site() {
    let app = spawn_app().await;
    app.signed_up("alice", PASSWORD).await;
    let mut browser = Browser::new(&app);
    // Before a session: sign in, sign up, the second step, forgot, reset, verify email.
    for path in PRE_SESSION_FORMS {
        let form = browser.get("/ui/login").await;
        let good = form.csrf();
        let fields = |csrf: &'static str| {
            vec![
                ("csrf", csrf),
                ("username", "alice"),
                ("password", PASSWORD),
                ("new_password", "an entirely new passphrase"),
                ("token", "a-token"),
            ]
        };
        let missing = browser.post(path, &fields("")).await;
        assert_eq!(
            missing.status,
            StatusCode::FORBIDDEN,
            "{path} without token"
        );
        let forged = browser.post(path, &fields("abc.def")).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{path} forged token");
        let good: &'static str = Box::leak(good.into_boxed_str());
        let cross = browser.post_from(path, &fields(good), "cross-site").await;
        assert_eq!(cross.status, StatusCode::FORBIDDEN, "{path} cross-site");
        assert!(cross.body.contains("another site"));
    }
    assert!(!browser.has_session());
    // Signed in: every account form, and sign out.
    browser.sign_in("alice", PASSWORD, "").await;
    let csrf = browser.get("/ui/account").await.csrf();
    for path in SIGNED_IN_FORMS {
        let fields = |token: &str| {
            vec![
                ("csrf", token.to_owned()),
                ("current_password", PASSWORD.to_owned()),
                ("new_password", "an entirely new passphrase".to_owned()),
                ("end", "others".to_owned()),
                ("enrol_password", PASSWORD.to_owned()),
                ("email", "mallory@example.com".to_owned()),
                ("email_password", PASSWORD.to_owned()),
            ]
        };
        for (token, site) in [
            ("", "same-origin"),
            ("wrong", "same-origin"),
            (csrf.as_str(), "cross-site"),
        ] {
            let fields = fields(token);
            let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let answer = browser.post_from(path, &refs, site).await;
            assert_eq!(
                answer.status,
                StatusCode::FORBIDDEN,
                "{path} {token:?} {site}"
            );
        }
    }
    // Nothing changed: still signed in, same password, no second factor.
    let account = browser.get("/ui/account").await;
    assert_eq!(account.status, StatusCode::OK);
    assert!(account.body.contains("Set up an authenticator app"));
    assert_eq!(app.login("alice", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn return_to_goes_only_to_listed_origins() {
    let app = spawn_app_with(|c| {
        c.ui.allowed_return_origins = vec!["https://app.example.com".into()];
    })
    .await;
    app.signed_up("alice", PASSWORD).await;
    let cases = [
        (
            "https://app.example.com/welcome?x=1",
            "https://app.example.com/welcome?x=1",
        ),
        ("//evil.example/", "/ui/account"),
        ("https:evil.example", "/ui/account"),
        ("https://app.example.com@evil.example/", "/ui/account"),
        ("https://user:pw@app.example.com/", "/ui/account"),
        ("https:\\\\evil.example", "/ui/account"),
        ("\\\\evil.example", "/ui/account"),
        ("https%3A%2F%2Fapp.example.com", "/ui/account"),
        ("https://evil.example%2F@app.example.com", "/ui/account"),
        ("https://app.example.com.evil.example/", "/ui/account"),
        ("http://app.example.com/", "/ui/account"),
        ("javascript:alert(1)", "/ui/account"),
        ("/elsewhere", "/ui/account"),
    ];
    for (return_to, expected) in cases {
        let mut browser = Browser::new(&app);
        let answer = browser.sign_in("alice", PASSWORD, return_to).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{return_to}");
        assert_eq!(answer.location(), expected, "{return_to}");
        // Signed in already: the login page sends the browser on by the same rule.
        let again = browser
            .get(&format!(
                "/ui/login?return_to={}",
                url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect::<String>()
            ))
            .await;
        assert_eq!(again.location(), expected, "signed in, {return_to}");
    }
}

#[tokio::test]
async fn sign_up_is_closed_when_registration_is() {
    let app = spawn_app_with(|c| c.registration_enabled = false).await;
    let mut browser = Browser::new(&app);
    let page = browser.get("/ui/register").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("cannot be created"));
    let login = browser.get("/ui/login").await;
    assert!(!login.body.contains("/ui/register"));
    let csrf = login.csrf();
    let post = browser
        .post(
            "/ui/register",
            &[
                ("csrf", &csrf),
                ("username", "mallory"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(post.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.login("mallory", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn sign_up_shows_the_apis_message_next_to_the_field_and_keeps_the_name() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    let csrf = browser.get("/ui/register").await.csrf();
    let short = browser
        .post(
            "/ui/register",
            &[
                ("csrf", &csrf),
                ("username", "carol"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert!(short.body.contains(r#"value="carol""#));
    assert!(
        short
            .body
            .contains(r#"id="password-error" aria-live="polite">Password"#),
        "{}",
        short.body
    );
    let ok = browser
        .post(
            "/ui/register",
            &[
                ("csrf", &csrf),
                ("username", "carol"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(ok.location(), "/ui/login?done=registered");
    let taken = browser
        .post(
            "/ui/register",
            &[
                ("csrf", &csrf),
                ("username", "Carol"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert!(
        taken
            .body
            .contains(r#"id="username-error" aria-live="polite">Username already exists"#)
    );
}

#[tokio::test]
async fn an_account_with_a_second_factor_signs_in_in_two_steps() {
    let app = spawn_app().await;
    let token = app.signed_up("alice", PASSWORD).await;
    let token = str_field(&token, "access_token").to_owned();
    let enrol = app
        .client
        .post(app.url("/me/mfa/totp"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, enrolment) = status_and_json(enrol).await;
    let secret = str_field(&enrolment, "secret").to_owned();
    steady_step().await;
    let confirm = app
        .client
        .post(app.url("/me/mfa/totp/confirm"))
        .bearer_auth(&token)
        .json(&json!({"code": code(&secret, 0)}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, codes) = status_and_json(confirm).await;
    assert_eq!(status, StatusCode::OK, "{codes}");
    let recovery = codes["recovery_codes"][0].as_str().unwrap_or("").to_owned();

    let mut browser = Browser::new(&app);
    let first = browser.sign_in("alice", PASSWORD, "").await;
    assert_eq!(first.location(), "/ui/login/mfa");
    assert!(!browser.has_session());
    let step = browser.get("/ui/login/mfa").await;
    assert!(step.body.contains(r#"autocomplete="one-time-code""#));
    assert!(step.body.contains("method=recovery"));
    let csrf = step.csrf();
    let wrong = browser
        .post("/ui/login/mfa", &[("csrf", &csrf), ("code", "000000")])
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("Invalid second-factor code"));
    let done = browser
        .post(
            "/ui/login/mfa",
            &[("csrf", &csrf), ("code", &code(&secret, 1))],
        )
        .await;
    assert_eq!(done.location(), "/ui/account", "{}", done.body);
    assert!(browser.has_session());

    // The recovery-code path, in a second browser.
    let mut other = Browser::new(&app);
    other.sign_in("alice", PASSWORD, "").await;
    let csrf = other.get("/ui/login/mfa?method=recovery").await.csrf();
    let done = other
        .post(
            "/ui/login/mfa",
            &[
                ("csrf", &csrf),
                ("method", "recovery"),
                ("recovery_code", &recovery),
            ],
        )
        .await;
    assert_eq!(done.location(), "/ui/account");
    let account = other.get("/ui/account").await;
    assert!(
        account
            .body
            .contains("Recovery codes left: <strong>9</strong>")
    );
}

#[tokio::test]
async fn the_language_follows_accept_language_and_the_switch() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/ui/login"))
        .header("accept-language", "zh-CN,zh;q=0.9,en;q=0.5")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let body = response.text().await.unwrap_or_default();
    assert!(body.contains(r#"<html lang="zh-Hans">"#) && body.contains("登录"));
    let mut browser = Browser::new(&app);
    let switched = browser.get("/ui/login?lang=zh").await;
    assert!(switched.body.contains("用户名"));
    assert_eq!(
        browser.cookies.get("tessera_ui_lang").map(String::as_str),
        Some("zh")
    );
    let later = browser.get("/ui/login").await;
    assert!(later.body.contains("用户名"));
    let english = browser.get("/ui/login?lang=en").await;
    assert!(english.body.contains(r#"<html lang="en">"#));
}

#[tokio::test]
async fn the_account_page_needs_a_session_and_sign_out_ends_it() {
    let app = spawn_app().await;
    app.signed_up("alice", PASSWORD).await;
    let mut browser = Browser::new(&app);
    assert_eq!(browser.get("/ui/account").await.location(), "/ui/login");
    browser.sign_in("alice", PASSWORD, "").await;
    let csrf = browser.get("/ui/account").await.csrf();
    let out = browser.post("/ui/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.location(), "/ui/login?done=signed_out");
    assert!(!browser.has_session());
    assert_eq!(browser.get("/ui/account").await.location(), "/ui/login");
}
