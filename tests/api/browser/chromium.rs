//! The cookie transport in a real browser: headless Chromium driven through chromedriver
//! (Debian's `chromium` and `chromium-driver`, path in `TESSERA_CHROMEDRIVER`).
//!
//! The example app's own page (`examples/browser_app/index.html`) is served with tessera
//! on `http://localhost:PORT`; it logs in with the cookie transport from `fetch`, calls
//! `/protected`, writes with the CSRF header, refreshes from two tabs at once and logs
//! out. An attacker page on `http://127.0.0.2:PORT2` (another site) posts a form and a
//! credentialed `fetch` to tessera's logout and password routes: both are refused and
//! nothing changes. Screenshots go to `target/screenshots/`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::response::Html;
use axum::routing::get;
use axum::{Json, Router};
use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};
use tessera::config::SameSite;
use tessera::{AuthUser, Config, Tessera};

use super::PASSWORD;

const APP_PAGE: &str = include_str!("../../../examples/browser_app/index.html");

/// chromedriver, stopped when dropped.
pub struct Driver {
    child: Child,
    pub port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("free port: {e}"))
}

pub async fn start_driver() -> Driver {
    let path =
        std::env::var("TESSERA_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let port = free_port();
    let child = Command::new(&path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {path}: {e}"));
    let driver = Driver { child, port };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return driver;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not listen on {port}");
}

async fn open_browser(driver: &Driver, profile: &std::path::Path) -> Client {
    let mut caps = serde_json::Map::new();
    let chromium = std::env::var("TESSERA_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--window-size=1100,900",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .unwrap_or_else(|e| panic!("cannot open a Chromium session: {e}"))
}

async fn protected(user: AuthUser) -> Json<Value> {
    Json(json!({ "logged_in_as": user.username() }))
}

/// The example app: its page, its `/protected`, and tessera's routes, on `ip`.
async fn serve_app(tessera: Tessera, ip: [u8; 4]) -> SocketAddr {
    let app = Router::new()
        .route("/", get(|| async { Html(APP_PAGE) }))
        .route("/protected", get(protected))
        .with_state(tessera.clone())
        .merge(tessera::api_router(tessera));
    serve(app, ip).await
}

pub async fn serve(app: Router, ip: [u8; 4]) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((ip, 0)))
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    serve_on(listener, app)
}

/// Serves `app` on a listener bound beforehand (when the app must know its own address).
pub fn serve_on(listener: tokio::net::TcpListener, app: Router) -> SocketAddr {
    let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        let _ = axum::serve(listener, service).await;
    });
    address
}

/// A page of another site that attacks tessera at `target` when `attack()` is called.
fn attacker_page(target: &str) -> String {
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Win a prize</title></head>
<body><h1>You won!</h1>
<form id="f" method="post" action="{target}/logout"><input name="scope" value="global"></form>
<script>
window.attack = async () => {{
  const out = {{}};
  for (const [name, path, body] of [
      ["logout", "/logout", '{{"scope":"global"}}'],
      ["password", "/me/password", '{{"current_password":"{PASSWORD}","new_password":"attacker-chosen-passphrase"}}']]) {{
    try {{
      const r = await fetch("{target}" + path, {{method: "POST", credentials: "include", mode: "no-cors",
        headers: {{"Content-Type": "text/plain", "X-CSRF-TOKEN": "guess"}}, body}});
      out[name] = r.type;
    }} catch (e) {{ out[name] = "error: " + e.message; }}
  }}
  return out;
}};
</script></body></html>"#
    )
}

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

async fn screenshot(browser: &Client, name: &str) {
    match browser.screenshot().await {
        Ok(png) => {
            let _ = std::fs::write(screenshot_dir().join(format!("{name}.png")), png);
        }
        Err(e) => panic!("screenshot {name}: {e}"),
    }
}

async fn run(browser: &Client, script: &str, args: Vec<Value>) -> Value {
    browser
        .execute(script, args)
        .await
        .unwrap_or_else(|e| panic!("script {script:?}: {e}"))
}

/// With the default `SameSite=Lax` the browser itself withholds the cookies from the other
/// site's form post (tessera answers `missing_token`).
#[tokio::test]
#[cfg_attr(
    not(tessera_browser_tests),
    ignore = "needs headless Chromium: apt install chromium chromium-driver, then build with \
              TESSERA_CHROMEDRIVER=/usr/bin/chromedriver (bash .ci/run does both)"
)]
async fn a_browser_app_signs_in_with_cookies_and_another_site_cannot_act_for_it() {
    browser_flow(SameSite::Lax, "missing_token").await;
}

/// With `SameSite=None` (a cross-site app's setting) the browser sends the cookies along
/// with the other site's requests: tessera's own CSRF checks refuse them (`csrf_failed`).
#[tokio::test]
#[cfg_attr(
    not(tessera_browser_tests),
    ignore = "needs headless Chromium: apt install chromium chromium-driver, then build with \
              TESSERA_CHROMEDRIVER=/usr/bin/chromedriver (bash .ci/run does both)"
)]
async fn with_samesite_none_the_csrf_checks_alone_stop_another_site() {
    browser_flow(SameSite::None, "csrf_failed").await;
}

async fn browser_flow(same_site: SameSite, form_refusal: &'static str) {
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut config = Config::for_tests(data.path());
    config.cookies.same_site = same_site;
    let tessera = Tessera::open(config)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let app = serve_app(tessera.clone(), [127, 0, 0, 1]).await;
    let origin = format!("http://localhost:{}", app.port());
    let attacker_html = attacker_page(&origin);
    let attacker = serve(
        Router::new().route("/", get(move || async move { Html(attacker_html) })),
        [127, 0, 0, 2],
    )
    .await;

    let driver = start_driver().await;
    let profile = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let browser = open_browser(&driver, profile.path()).await;
    let outcome = drive(&browser, &origin, attacker, form_refusal).await;
    let _ = browser.close().await;
    outcome.unwrap_or_else(|e| panic!("{e}"));

    // The attack changed nothing: the password is still the user's.
    let client = reqwest::Client::new();
    let login = client
        .post(format!("{origin}/login"))
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(login.status(), reqwest::StatusCode::OK);
}

/// The whole flow; an `Err` carries what went wrong (the browser is closed either way).
async fn drive(
    browser: &Client,
    origin: &str,
    attacker: SocketAddr,
    form_refusal: &str,
) -> Result<(), String> {
    let goto = |url: String| async move {
        browser
            .goto(&url)
            .await
            .map_err(|e| format!("goto {url}: {e}"))
    };
    goto(format!("{origin}/")).await?;
    let registered = run(
        browser,
        "return app.register('alice', arguments[0])",
        vec![json!(PASSWORD)],
    )
    .await;
    check(registered["status"] == 201, "register", &registered)?;

    // Sign in through the page's form, as a person would.
    run(
        browser,
        "document.getElementById('username').value = 'alice';
         document.getElementById('password').value = arguments[0];
         document.querySelector('#signin button[type=submit]').click();",
        vec![json!(PASSWORD)],
    )
    .await;
    let status = wait_for_text(browser, "Signed in as alice").await?;
    screenshot(browser, &format!("browser_app_signed_in_{form_refusal}")).await;
    // The tokens are out of the scripts' reach; the CSRF value is within it.
    let cookies = run(browser, "return document.cookie", vec![]).await;
    let visible = cookies.as_str().unwrap_or_default();
    check(
        !visible.contains("access_token_cookie") && !visible.contains("refresh_token_cookie"),
        "HttpOnly tokens",
        &cookies,
    )?;
    check(
        visible.contains("csrf_access_token="),
        "readable CSRF cookie",
        &cookies,
    )?;
    check(status.contains("alice"), "status", &json!(status))?;

    // A write with the CSRF header: end other sessions (there are none), stay signed in.
    let others = run(browser, "return app.logoutOthers()", vec![]).await;
    check(others["status"] == 200, "logout others", &others)?;
    let missing = run(
        browser,
        "return fetch('/logout', {method: 'POST'}).then(async r => ({status: r.status, body: await r.json()}))",
        vec![],
    )
    .await;
    check(
        missing["body"]["error"] == "csrf_failed",
        "write without the header",
        &missing,
    )?;

    // Two tabs refresh at once; both stay signed in on one session.
    let both = run(
        browser,
        "const other = window.open('/', '_blank');
         await new Promise(resolve => other.addEventListener('load', resolve));
         const [a, b] = await Promise.all([app.refresh(), other.app.refresh()]);
         const [pa, pb] = await Promise.all([app.protected(), other.app.protected()]);
         const sessions = await fetch('/sessions').then(r => r.json());
         other.close();
         return {a: a.status, b: b.status, pa: pa.status, pb: pb.status, sessions: sessions.sessions.length};",
        vec![],
    )
    .await;
    check(
        both == json!({"a": 200, "b": 200, "pa": 200, "pb": 200, "sessions": 1}),
        "two tabs refreshing",
        &both,
    )?;

    // Another site attacks: a credentialed fetch to logout and the password route, then a
    // form post to logout. The browser is navigated away to the attacker's page for it.
    goto(format!("http://127.0.0.2:{}/", attacker.port())).await?;
    let attempted = run(browser, "return attack()", vec![]).await;
    check(attempted.get("logout").is_some(), "attack ran", &attempted)?;
    screenshot(browser, &format!("attacker_page_{form_refusal}")).await;
    run(browser, "document.getElementById('f').submit()", vec![]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refusal = run(browser, "return document.body.innerText", vec![]).await;
    check(
        refusal
            .as_str()
            .unwrap_or_default()
            .contains(&format!("\"error\":\"{form_refusal}\"")),
        "the form post was refused",
        &refusal,
    )?;
    screenshot(browser, &format!("attacker_form_refused_{form_refusal}")).await;

    // Back on the app: still signed in, then sign out through the page.
    goto(format!("{origin}/")).await?;
    wait_for_text(browser, "Signed in as alice").await?;
    let still = run(browser, "return app.protected()", vec![]).await;
    check(
        still["status"] == 200,
        "still signed in after the attack",
        &still,
    )?;
    run(browser, "document.getElementById('logout').click()", vec![]).await;
    wait_for_text(browser, "Logged out").await?;
    screenshot(browser, &format!("browser_app_signed_out_{form_refusal}")).await;
    let after = run(browser, "return app.protected()", vec![]).await;
    check(after["status"] == 401, "signed out", &after)?;
    let left = run(browser, "return document.cookie", vec![]).await;
    check(left == json!(""), "every cookie cleared", &left)?;
    Ok(())
}

fn check(ok: bool, what: &str, seen: &Value) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("{what}: {seen}"))
    }
}

/// Waits until the status line shows `text`; returns it.
async fn wait_for_text(browser: &Client, text: &str) -> Result<String, String> {
    let mut last = Value::Null;
    for _ in 0..50 {
        last = run(
            browser,
            "return document.getElementById('status').textContent",
            vec![],
        )
        .await;
        if last.as_str().is_some_and(|s| s.contains(text)) {
            return Ok(text.to_owned());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("status never showed {text:?}; last: {last}"))
}
