//! A signed-in page outlives its access token: the refresh cookie (sent to the pages'
//! prefix too) renews the session through the API's rotation, reuse detection included;
//! a broken override template stops the start, naming the file.

use std::time::Duration;

use reqwest::StatusCode;

use super::{Browser, PASSWORD};
use crate::browser::{ACCESS, CSRF_REFRESH, REFRESH};
use crate::helpers::spawn_app_with;

/// A client that shows redirects instead of following them (and keeps no cookies).
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn an_expired_page_session_is_renewed_and_a_replayed_refresh_cookie_ends_it() {
    let app = spawn_app_with(|c| {
        c.access_token_ttl_secs = 1;
        c.leeway_secs = 0;
        c.refresh_grace_secs = 0;
    })
    .await;
    app.signed_up("erin", PASSWORD).await;
    let mut browser = Browser::new(&app);
    let answer = browser.sign_in("erin", PASSWORD, "").await;
    assert_eq!(answer.location(), "/ui/account");
    // The refresh cookie is also kept for the pages' prefix.
    let paths: Vec<_> = answer
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| v.starts_with(REFRESH))
        .map(str::to_owned)
        .collect();
    assert!(
        paths
            .iter()
            .any(|c| c.contains("Path=/ui;") || c.ends_with("Path=/ui")),
        "{paths:?}"
    );
    let first_refresh = browser.cookies[REFRESH].clone();
    let first_access = browser.cookies[ACCESS].clone();
    tokio::time::sleep(Duration::from_millis(2100)).await;

    // A subrequest of another site does not rotate anything.
    let foreign = no_redirects()
        .get(app.url("/ui/account"))
        .header(
            "cookie",
            format!("{ACCESS}={first_access}; {REFRESH}={first_refresh}"),
        )
        .header("sec-fetch-site", "cross-site")
        .header("sec-fetch-mode", "no-cors")
        .header("sec-fetch-dest", "image")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(foreign.headers().get("set-cookie").is_none());

    // Without the session's refresh CSRF cookie (a refresh cookie planted alone): no
    // rotation.
    let planted = no_redirects()
        .get(app.url("/ui/account"))
        .header("cookie", format!("{REFRESH}={first_refresh}"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(planted.status(), StatusCode::SEE_OTHER);
    assert!(planted.headers().get("set-cookie").is_none());

    // The page renews the session: the account shows, new cookies come with it.
    let page = browser.get("/ui/account").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("erin"));
    assert_ne!(browser.cookies[ACCESS], first_access);
    assert_ne!(browser.cookies[REFRESH], first_refresh);
    // A form still works with the renewed session (its CSRF value is the session's).
    let csrf = page.csrf();
    let wrong = browser
        .post(
            "/ui/account/password",
            &[
                ("csrf", csrf.as_str()),
                ("current_password", "not it"),
                ("new_password", "whatever passphrase"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.body);
    assert!(!wrong.body.contains("expired or came from another site"));

    // The rotated refresh token presented again (a stolen copy of the cookies): the
    // session ends, for the thief and for the browser.
    let mut thief = Browser::new(&app);
    thief.cookies.insert(REFRESH.into(), first_refresh);
    thief
        .cookies
        .insert(CSRF_REFRESH.into(), browser.cookies[CSRF_REFRESH].clone());
    let stolen = thief.get("/ui/account").await;
    assert_eq!(stolen.status, StatusCode::SEE_OTHER);
    assert_eq!(stolen.location(), "/ui/login");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let after = browser.get("/ui/account").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER, "{}", after.body);
    assert!(
        !browser.has_session(),
        "the ended session's cookies are cleared"
    );
}

#[tokio::test]
async fn a_template_override_that_does_not_parse_stops_the_start_naming_the_file() {
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let templates = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let broken = templates.path().join("login.html");
    std::fs::write(
        &broken,
        "{% extends \"base.html\" %}{% block content %}{% if %}",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut config = tessera::Config::for_tests(data.path());
    config.ui.templates_dir = Some(templates.path().to_path_buf());
    let error = match tessera::Application::build(config).await {
        Ok(_) => panic!("a server started with a broken template"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        error.contains(&broken.display().to_string()),
        "the error names the file: {error}"
    );
    // `tessera check-config` says the same.
    let output = crate::process::tessera_command()
        .args(["check-config", "--json", "--data-dir"])
        .arg(data.path())
        .env("TESSERA_UI__TEMPLATES_DIR", templates.path())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!output.status.success());
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null);
    assert!(
        report["problems"]
            .to_string()
            .contains(&broken.display().to_string()),
        "{report}"
    );
}
