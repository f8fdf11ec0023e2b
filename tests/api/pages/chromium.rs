//! The pages in headless Chromium (Debian's `chromium` and `chromium-driver`): sign up →
//! sign in → account → enrol TOTP (codes computed here) → sign out → sign in with the
//! second factor → two sessions → sign out the other one (its token refused at once) →
//! change password; the same sign-in with JavaScript off; a page of another site
//! (127.0.0.2) posting every form is refused; then an email address added and verified by
//! its mailed link → sign out → forgot password → the reset link from the SMTP sink opened
//! in the browser → a new password → sign in with it. Screenshots of every page, English
//! and Chinese, desktop and 320 px wide, go to `target/screenshots/pages/`.
//!
//! Every step after a post waits for an element of the page it leads to (never a fixed
//! sleep): a find that runs while the navigation is still under way fails.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tessera::{Config, Tessera};

use super::{PASSWORD, PRE_SESSION_FORMS, SIGNED_IN_FORMS};
use crate::browser::chromium::{Driver, serve, serve_on, start_driver};
use crate::mfa::{code, steady_step};
use crate::recovery::smtp_sink::{self, SmtpSink};

const NEW_PASSWORD: &str = "a brand new passphrase, seven words long";
const RESET_PASSWORD: &str = "the passphrase set from the mailed link";
/// How long a page may take to come after a post.
const PAGE_WAIT: Duration = Duration::from_secs(10);

async fn open(driver: &Driver, profile: &Path, javascript: bool) -> Client {
    let chromium = std::env::var("TESSERA_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let mut options = json!({
        "binary": chromium,
        "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--window-size=1100,900", "--lang=en-US",
            format!("--user-data-dir={}", profile.display()),
        ],
    });
    if !javascript {
        options["prefs"] = json!({"profile.managed_default_content_settings.javascript": 2});
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .unwrap_or_else(|e| panic!("cannot open a Chromium session: {e}"))
}

fn shot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots/pages");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

type Step = Result<(), String>;

fn err<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Screenshots of the page shown, desktop and 320 px wide.
async fn shots(b: &Client, name: &str) -> Step {
    for (label, width) in [("desktop", 1100), ("320px", 320)] {
        b.set_window_size(width, 900).await.map_err(err("resize"))?;
        tokio::time::sleep(Duration::from_millis(150)).await;
        let png = b.screenshot().await.map_err(err("screenshot"))?;
        let _ = std::fs::write(shot_dir().join(format!("{name}-{label}.png")), png);
    }
    b.set_window_size(1100, 900).await.map_err(err("resize"))
}

/// Screenshots of a GET page in both languages (the page is left in English).
async fn shots_both(b: &Client, origin: &str, path: &str, name: &str) -> Step {
    for lang in ["zh", "en"] {
        let sep = if path.contains('?') { '&' } else { '?' };
        b.goto(&format!("{origin}{path}{sep}lang={lang}"))
            .await
            .map_err(err("goto"))?;
        shots(b, &format!("{name}-{lang}")).await?;
    }
    Ok(())
}

async fn fill(b: &Client, id: &str, text: &str) -> Step {
    let field = b.find(Locator::Id(id)).await.map_err(err(id))?;
    field.clear().await.map_err(err(id))?;
    field.send_keys(text).await.map_err(err(id))
}

async fn click(b: &Client, css: &str) -> Step {
    b.find(Locator::Css(css))
        .await
        .map_err(err(css))?
        .click()
        .await
        .map_err(err(css))
}

/// Waits for an element of the page a post or a click leads to (the navigation may still
/// be under way when the click returns).
async fn wait_for(b: &Client, css: &str) -> Step {
    match b
        .wait()
        .at_most(PAGE_WAIT)
        .for_element(Locator::Css(css))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("no {css} ({e}): {}", body_text(b).await)),
    }
}

/// Waits (up to 10 s: a form post's navigation may still be under way) for the page at
/// `expected` (path and query).
async fn path_is(b: &Client, expected: &str) -> Step {
    let mut path = String::new();
    for _ in 0..100 {
        let url = b.current_url().await.map_err(err("url"))?;
        path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        if path == expected {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = body_text(b).await;
    Err(format!("at {path}, expected {expected}: {body}"))
}

async fn body_text(b: &Client) -> String {
    match b.find(Locator::Css("body")).await {
        Ok(body) => body.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn sign_in(b: &Client, origin: &str, password: &str) -> Step {
    b.goto(&format!("{origin}/ui/login"))
        .await
        .map_err(err("goto"))?;
    fill(b, "username", "alice").await?;
    fill(b, "password", password).await?;
    click(b, "main form button[type=submit]").await
}

/// Every form of the pages, as the attacker's page posts them.
fn attacked_forms() -> impl Iterator<Item = &'static str> {
    PRE_SESSION_FORMS.into_iter().chain(SIGNED_IN_FORMS)
}

/// Signs in with the password, then a recovery code; waits for the account page.
async fn sign_in_with_recovery_code(b: &Client, origin: &str, password: &str, code: &str) -> Step {
    sign_in(b, origin, password).await?;
    path_is(b, "/ui/login/mfa").await?;
    wait_for(b, "p.aside a").await?;
    click(b, "p.aside a").await?;
    wait_for(b, "#recovery_code").await?;
    fill(b, "recovery_code", code).await?;
    click(b, "main form button[type=submit]").await?;
    path_is(b, "/ui/account").await?;
    wait_for(b, ".session.current").await
}

/// An attacker's page: one auto-numbered form per page form, posted on request.
fn attacker_page(origin: &str) -> String {
    let forms: String = attacked_forms()
        .enumerate()
        .map(|(i, path)| {
            format!(
                r#"<form id="f{i}" method="post" action="{origin}{path}">
<input name="csrf" value="guess"><input name="username" value="alice">
<input name="password" value="x"><input name="current_password" value="x">
<input name="new_password" value="attacker-chosen-passphrase"><input name="end" value="others">
<input name="email" value="attacker@example.com"><input name="token" value="x"></form>"#
            )
        })
        .collect();
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Prize</title></head><body><h1>You won!</h1>{forms}</body></html>"#
    )
}

#[tokio::test]
#[cfg_attr(
    not(tessera_browser_tests),
    ignore = "needs headless Chromium: apt install chromium chromium-driver, then build with \
              TESSERA_CHROMEDRIVER=/usr/bin/chromedriver (bash .ci/run does both)"
)]
async fn the_pages_work_in_a_real_browser_with_and_without_javascript() {
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // Bound first: the mailed links start with the server's own address.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let origin = format!("http://localhost:{port}");
    let sink = SmtpSink::start().await;
    let mut config = Config::for_tests(data.path());
    config.email.smtp_url = Some(tessera::Secret::new(sink.url()));
    config.email.public_url = Some(origin.clone());
    config.email.from = "Tessera <no-reply@tessera.test>".into();
    config.email.retry_base_secs = 1;
    let tessera = Tessera::open(config)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    // The outbox worker delivers the messages (stops when dropped at the end).
    let _background = tessera.spawn_background_tasks();
    serve_on(listener, tessera::router(tessera.clone()));
    let attacker_html = attacker_page(&origin);
    let attacker = serve(
        Router::new().route("/", get(move || async move { Html(attacker_html) })),
        [127, 0, 0, 2],
    )
    .await;
    let driver = start_driver().await;
    let profiles: Vec<_> = (0..3)
        .map(|_| tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let first = open(&driver, profiles[0].path(), true).await;
    let second = open(&driver, profiles[1].path(), true).await;
    let no_js = open(&driver, profiles[2].path(), false).await;
    let outcome = match journey(&first, &second, &no_js, &origin, attacker.port()).await {
        Ok(codes) => recovery_journey(&first, &origin, &sink, &codes[2]).await,
        Err(e) => Err(e),
    };
    for b in [first, second, no_js] {
        let _ = b.close().await;
    }
    outcome.unwrap_or_else(|e| panic!("{e}"));
}

/// The journey up to the password change and the sign-in without JavaScript; returns the
/// recovery codes (the first two used).
async fn journey(
    b: &Client,
    other: &Client,
    no_js: &Client,
    origin: &str,
    attacker: u16,
) -> Result<Vec<String>, String> {
    // Sign up, then sign in.
    shots_both(b, origin, "/ui/register", "register").await?;
    fill(b, "username", "alice").await?;
    fill(b, "password", PASSWORD).await?;
    click(b, "main form button[type=submit]").await?;
    path_is(b, "/ui/login?done=registered").await?;
    shots_both(b, origin, "/ui/login", "login").await?;
    sign_in(b, origin, PASSWORD).await?;
    path_is(b, "/ui/account").await?;
    shots_both(b, origin, "/ui/account", "account").await?;

    // Enrol TOTP: the secret from the page, codes computed here.
    click(b, "form[action$='/mfa/enrol'] button").await?;
    // The post's navigation may still be under way: wait for the page, not just a page.
    let found = b
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("code.secret"))
        .await;
    let Ok(secret) = found else {
        return Err(format!("no enrolment page: {}", body_text(b).await));
    };
    let secret = secret.text().await.map_err(err("secret"))?;
    shots(b, "enrol-en").await?;
    steady_step().await;
    fill(b, "code", &code(&secret, 0)).await?;
    click(b, "main form button[type=submit]").await?;
    let codes_text = body_text(b).await;
    let _ = b
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(".codes code"))
        .await;
    let mut recovery = Vec::new();
    for element in b
        .find_all(Locator::Css(".codes code"))
        .await
        .map_err(err("codes"))?
    {
        recovery.push(element.text().await.map_err(err("code"))?);
    }
    if recovery.len() != 10 {
        return Err(format!("ten recovery codes expected: {codes_text}"));
    }
    shots(b, "recovery-codes-en").await?;
    click(b, "a.button").await?;
    path_is(b, "/ui/account").await?;
    wait_for(b, "form[action$='/logout'] button").await?;

    // Sign out; sign in with the second factor.
    click(b, "form[action$='/logout'] button").await?;
    path_is(b, "/ui/login?done=signed_out").await?;
    sign_in(b, origin, PASSWORD).await?;
    path_is(b, "/ui/login/mfa").await?;
    shots_both(b, origin, "/ui/login/mfa", "mfa").await?;
    shots_both(b, origin, "/ui/login/mfa?method=recovery", "mfa-recovery").await?;
    b.goto(&format!("{origin}/ui/login/mfa"))
        .await
        .map_err(err("goto"))?;
    fill(b, "code", &code(&secret, 1)).await?;
    click(b, "main form button[type=submit]").await?;
    path_is(b, "/ui/account").await?;

    // A second browser signs in with a recovery code: two sessions.
    sign_in(other, origin, PASSWORD).await?;
    path_is(other, "/ui/login/mfa").await?;
    other
        .goto(&format!("{origin}/ui/login/mfa?method=recovery"))
        .await
        .map_err(err("goto"))?;
    fill(other, "recovery_code", &recovery[0]).await?;
    click(other, "main form button[type=submit]").await?;
    path_is(other, "/ui/account").await?;
    other
        .goto(&format!("{origin}/protected"))
        .await
        .map_err(err("goto"))?;
    let before = body_text(other).await;
    if !before.contains("alice") {
        return Err(format!("the other browser's token: {before}"));
    }
    b.goto(&format!("{origin}/ui/account"))
        .await
        .map_err(err("goto"))?;
    let sessions = b
        .find_all(Locator::Css(".session"))
        .await
        .map_err(err("sessions"))?;
    if sessions.len() != 2 {
        return Err(format!("two sessions expected: {}", body_text(b).await));
    }
    shots(b, "account-two-sessions-en").await?;
    // Sign the other one out: its token is refused at once.
    click(b, ".session:not(.current) button[name=end]").await?;
    path_is(b, "/ui/account?done=session").await?;
    other
        .goto(&format!("{origin}/protected"))
        .await
        .map_err(err("goto"))?;
    let after = body_text(other).await;
    if !after.contains("token_revoked") && !after.contains("session") {
        return Err(format!(
            "the signed-out browser's token still works: {after}"
        ));
    }

    // Another site posts every form at the signed-in browser: each refused.
    for (i, path) in attacked_forms().enumerate() {
        b.goto(&format!("http://127.0.0.2:{attacker}/"))
            .await
            .map_err(err("attacker"))?;
        b.execute(&format!("document.getElementById('f{i}').submit()"), vec![])
            .await
            .map_err(err("submit"))?;
        // The refusal page is this site's: wait for its text, not a fixed time.
        let mut text = String::new();
        for _ in 0..100 {
            text = body_text(b).await;
            if text.contains("another site") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !text.contains("another site") {
            return Err(format!(
                "form {path} from another site was not refused: {text}"
            ));
        }
        if i == 0 {
            shots(b, "refused-en").await?;
        }
    }
    b.goto(&format!("{origin}/ui/account"))
        .await
        .map_err(err("goto"))?;
    path_is(b, "/ui/account").await?;

    // Change the password.
    fill(b, "current_password", PASSWORD).await?;
    fill(b, "new_password", NEW_PASSWORD).await?;
    click(b, "form[action$='/account/password'] button").await?;
    path_is(b, "/ui/account?done=password").await?;
    shots(b, "account-password-changed-en").await?;

    // With JavaScript off: the same sign-in, second factor by recovery code.
    sign_in_with_recovery_code(no_js, origin, NEW_PASSWORD, &recovery[1]).await?;
    let text = body_text(no_js).await;
    if !text.contains("alice") || !text.contains("8") {
        return Err(format!("account without JavaScript: {text}"));
    }
    shots(no_js, "account-no-javascript-en").await?;
    Ok(recovery)
}

/// The message to `address` that arrives after the first `skip` ones.
async fn mail_to(sink: &SmtpSink, address: &str, skip: usize) -> Result<String, String> {
    for _ in 0..200 {
        if let Some(found) = sink
            .messages()
            .into_iter()
            .skip(skip)
            .find(|m| m.to.eq_ignore_ascii_case(address))
        {
            return Ok(found.text);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("no message to {address}"))
}

/// The link of a message (it starts with the server's address: `email.public_url`).
fn link_of(text: &str, origin: &str) -> Result<String, String> {
    let start = text
        .find(origin)
        .ok_or_else(|| format!("no link to {origin} in {text}"))?;
    Ok(text[start..]
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned())
}

/// Email added and verified by its link, then forgot password → the mailed reset link →
/// a new password → sign in with it (second factor by a recovery code).
async fn recovery_journey(b: &Client, origin: &str, sink: &SmtpSink, recovery_code: &str) -> Step {
    b.goto(&format!("{origin}/ui/account"))
        .await
        .map_err(err("goto"))?;
    wait_for(b, "form[action$='/account/email'] #email").await?;
    let before = sink.messages().len();
    fill(b, "email", "alice@example.com").await?;
    fill(b, "email_password", NEW_PASSWORD).await?;
    click(b, "form[action$='/account/email'] button[type=submit]").await?;
    path_is(b, "/ui/account?done=email_sent").await?;
    wait_for(b, "#email_code").await?;
    shots_both(b, origin, "/ui/account", "account-email").await?;

    // The verification link, opened in the browser: a button, nothing spent until pressed.
    let message = mail_to(sink, "alice@example.com", before).await?;
    let link = link_of(&message, origin)?;
    if !link.starts_with(&format!("{origin}/ui/email/verify?token=")) {
        return Err(format!("verification link: {link}"));
    }
    let path = link.trim_start_matches(origin);
    shots_both(b, origin, path, "verify-email").await?;
    b.goto(&link).await.map_err(err("goto"))?;
    wait_for(b, "form[action$='/email/verify'] button").await?;
    click(b, "form[action$='/email/verify'] button").await?;
    wait_for(b, ".notice .email").await?;
    shots(b, "verify-email-done-en").await?;

    // Sign out; forgot password.
    b.goto(&format!("{origin}/ui/account"))
        .await
        .map_err(err("goto"))?;
    wait_for(b, "form[action$='/logout'] button").await?;
    click(b, "form[action$='/logout'] button").await?;
    path_is(b, "/ui/login?done=signed_out").await?;
    wait_for(b, "a[href$='/password/forgot']").await?;
    click(b, "a[href$='/password/forgot']").await?;
    path_is(b, "/ui/password/forgot").await?;
    wait_for(b, "#username").await?;
    shots_both(b, origin, "/ui/password/forgot", "forgot").await?;
    let before = sink.messages().len();
    fill(b, "username", "alice").await?;
    click(b, "main form button[type=submit]").await?;
    path_is(b, "/ui/password/forgot?done=sent").await?;
    wait_for(b, ".notice").await?;
    shots(b, "forgot-sent-en").await?;

    // The reset link from the mail, in the browser.
    let message = mail_to(sink, "alice@example.com", before).await?;
    let link = link_of(&message, origin)?;
    if !link.starts_with(&format!("{origin}/ui/password/reset?token=")) {
        return Err(format!("reset link: {link}"));
    }
    let code = smtp_sink::code(&message);
    if !message.contains(&code) {
        return Err(format!("no code in {message}"));
    }
    shots_both(b, origin, link.trim_start_matches(origin), "reset").await?;
    shots_both(b, origin, "/ui/password/reset", "reset-by-code").await?;
    b.goto(&link).await.map_err(err("goto"))?;
    wait_for(b, "#new_password").await?;
    fill(b, "new_password", RESET_PASSWORD).await?;
    click(b, "main form button[type=submit]").await?;
    path_is(b, "/ui/login?done=password_reset").await?;
    wait_for(b, "#username").await?;
    shots(b, "login-after-reset-en").await?;

    // Sign in with the new password (the second factor is still on).
    sign_in_with_recovery_code(b, origin, RESET_PASSWORD, recovery_code).await?;
    let text = body_text(b).await;
    if !text.contains("alice@example.com") {
        return Err(format!("the account after the reset: {text}"));
    }
    Ok(())
}
