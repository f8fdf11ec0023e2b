//! Issue 22, item 3: every security event is one audit line of one shape (ASVS 16.2.1,
//! 16.3.1–16.3.3), floods of refusals are summarised, and no secret reaches the log. The
//! server runs as a real process; its JSON log is read back.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{jwt_header, sign_hs256, status_and_json, str_field, unwrap_response};
use crate::process::ServerProcess;

const PASSWORD: &str = "correct-horse-battery";

struct Audited {
    server: ServerProcess,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Audited {
    fn start(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let server = ServerProcess::start(dir.path(), env);
        Self {
            server,
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (StatusCode, Value) {
        let mut request = self.client.post(self.server.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        status_and_json(unwrap_response(request.send().await)).await
    }

    async fn protected(&self, token: &str) -> StatusCode {
        let request = self
            .client
            .get(self.server.url("/protected"))
            .bearer_auth(token);
        unwrap_response(request.send().await).status()
    }

    async fn signed_up(&self, name: &str) -> Value {
        let credentials = json!({"username": name, "password": PASSWORD});
        let (status, body) = self.post("/register", None, &credentials).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = self.post("/login", None, &credentials).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// The audit lines written so far (after a moment for the log to be read).
    async fn audit_lines(&self) -> Vec<Value> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.server
            .log_text()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["target"] == "tessera::audit")
            .collect()
    }
}

fn find<'a>(lines: &'a [Value], event: &str, reason: Option<&str>) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|e| e["event"] == event && reason.is_none_or(|r| e["reason"] == r))
        .collect()
}

/// The fields every line about a request has.
fn assert_request_fields(line: &Value) {
    assert_eq!(line["ip"], "127.0.0.1", "{line}");
    let request_id = line["request_id"].as_str().unwrap_or_default();
    assert_eq!(request_id.len(), 36, "a request id in {line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refused_bearer_token_is_logged_with_its_reason_and_kid_never_the_token() {
    let audited = Audited::start(&[]);
    let login = audited.signed_up("eve_target").await;
    let token = str_field(&login, "access_token");
    let kid = jwt_header(token)["kid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid.clone());
    let forged = jsonwebtoken::encode(
        &header,
        &crate::helpers::jwt_claims(token),
        &jsonwebtoken::EncodingKey::from_secret(b"not-the-server-secret-at-all-0123456789")
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let unsigned = {
        use base64::Engine;
        let b64 = |v: &Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
        };
        format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "JWT"})),
            b64(&crate::helpers::jwt_claims(token))
        )
    };
    let flask_expired = sign_hs256(
        "some-flask-secret-0123456789-0123456789",
        &json!({"sub": "eve_target", "type": "access", "exp": 1, "nbf": 0, "iat": 0}),
    );
    for (presented, _) in [
        (forged.as_str(), "invalid_signature"),
        (unsigned.as_str(), "unsupported_algorithm"),
        (flask_expired.as_str(), "x"),
        ("garbage", "invalid_token"),
    ] {
        assert_eq!(audited.protected(presented).await, StatusCode::UNAUTHORIZED);
    }
    // A revoked token: the session ended by its own logout.
    let (status, _) = audited.post("/logout", Some(token), &json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(audited.protected(token).await, StatusCode::UNAUTHORIZED);

    let lines = audited.audit_lines().await;
    // (The Flask-style token signed with another secret is an invalid signature too.)
    for (reason, count) in [
        ("invalid_signature", 2),
        ("unsupported_algorithm", 1),
        ("invalid_token", 1),
        ("token_revoked", 1),
    ] {
        let found = find(&lines, "access_token", Some(reason));
        assert_eq!(found.len(), count, "{reason} lines in {lines:#?}");
        assert_eq!(found[0]["outcome"], "refused");
        assert_request_fields(found[0]);
    }
    assert_eq!(
        find(&lines, "access_token", Some("invalid_signature"))[0]["kid"],
        kid.as_str()
    );
    // Five refusals, five lines: none went unlogged.
    assert_eq!(find(&lines, "access_token", None).len(), 5, "{lines:#?}");
    let log = audited.server.log_text();
    for secret in [
        token,
        str_field(&login, "refresh_token"),
        &forged,
        &unsigned,
        &flask_expired,
        PASSWORD,
    ] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_refreshes_and_reuse_are_logged_with_account_session_and_request() {
    // No grace window: the second use of a spent refresh token is reuse at once.
    let audited = Audited::start(&[("TESSERA_REFRESH_GRACE_SECS", "0")]);
    let login = audited.signed_up("audit_ann").await;
    let user_id = login["user"]["id"].clone();
    let first = str_field(&login, "refresh_token");
    let (status, refreshed) = audited
        .post("/refresh", None, &json!({ "refresh_token": first }))
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let (status, _) = audited
        .post("/refresh", None, &json!({ "refresh_token": first }))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let lines = audited.audit_lines().await;
    let login_line = find(&lines, "login", None)[0];
    assert_eq!(login_line["outcome"], "success");
    assert_eq!(login_line["user_id"], user_id);
    assert_eq!(login_line["username"], "audit_ann");
    assert!(login_line["sid"].is_string(), "{login_line}");
    assert_request_fields(login_line);
    let refreshes = find(&lines, "refresh", None);
    assert_eq!(refreshes.len(), 2, "{lines:#?}");
    assert_eq!(refreshes[0]["outcome"], "success");
    assert_eq!(refreshes[0]["user_id"], user_id);
    assert_eq!(refreshes[0]["sid"], login_line["sid"]);
    assert_eq!(refreshes[1]["outcome"], "refused");
    assert_eq!(refreshes[1]["reason"], "refresh_token_reused");
    assert_request_fields(refreshes[1]);
    let ended = find(&lines, "session_revoke_on_reuse", None);
    assert_eq!(ended.len(), 1, "{lines:#?}");
    assert_eq!(ended[0]["sid"], login_line["sid"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_refusals_is_written_up_to_the_burst_then_summarised() {
    let audited = Audited::start(&[
        ("TESSERA_AUDIT_BURST", "3"),
        ("TESSERA_AUDIT_WINDOW_SECS", "1"),
    ]);
    for _ in 0..20 {
        assert_eq!(audited.protected("garbage").await, StatusCode::UNAUTHORIZED);
    }
    // The window (1 s) passes; the summary follows within half a window.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let lines = audited.audit_lines().await;
    assert_eq!(
        find(&lines, "access_token", Some("invalid_token")).len(),
        3,
        "{lines:#?}"
    );
    let summaries = find(&lines, "audit_suppressed", Some("invalid_token"));
    assert_eq!(summaries.len(), 1, "{lines:#?}");
    assert_eq!(summaries[0]["suppressed_event"], "access_token");
    assert_eq!(summaries[0]["count"], 17);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_refusals_and_reaching_for_another_users_session_are_logged() {
    let audited = Audited::start(&[
        ("TESSERA_RATE_LIMITS__LOGIN_PER_IP__PER_MINUTE", "2"),
        ("TESSERA_RATE_LIMITS__LOGIN_PER_IP__BURST", "2"),
    ]);
    let victim = audited.signed_up("victim_v").await;
    let attacker = audited.signed_up("attacker_a").await;
    let victim_sid = crate::helpers::jwt_claims(str_field(&victim, "access_token"))["sid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let request = audited
        .client
        .delete(audited.server.url(&format!("/sessions/{victim_sid}")))
        .bearer_auth(str_field(&attacker, "access_token"));
    assert_eq!(
        unwrap_response(request.send().await).status(),
        StatusCode::NOT_FOUND
    );
    let credentials = json!({"username": "attacker_a", "password": PASSWORD});
    let (status, _) = audited.post("/login", None, &credentials).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    let lines = audited.audit_lines().await;
    let reach = find(&lines, "session_revoke", Some("not_session_owner"));
    assert_eq!(reach.len(), 1, "{lines:#?}");
    assert_eq!(reach[0]["username"], "attacker_a");
    assert_request_fields(reach[0]);
    let limited = find(&lines, "login", Some("rate_limited"));
    assert_eq!(limited.len(), 1, "{lines:#?}");
    // Refused before the name is looked up: only its digest.
    assert_eq!(
        limited[0]["name_digest"].as_str().map(str::len),
        Some(12),
        "{}",
        limited[0]
    );
    assert_request_fields(limited[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_refused_by_the_cap_is_logged() {
    let audited = Audited::start(&[("TESSERA_MAX_CONNECTIONS_PER_IP", "1")]);
    let address = audited.server.url("").replace("http://", "");
    let held = tokio::net::TcpStream::connect(&address)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = tokio::net::TcpStream::connect(&address)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop((held, refused));
    let lines = audited.audit_lines().await;
    let found = find(&lines, "connection", Some("overloaded"));
    assert_eq!(found.len(), 1, "{lines:#?}");
    assert_eq!(found[0]["outcome"], "refused");
    assert_eq!(found[0]["ip"], "127.0.0.1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_have_utc_timestamps_and_attacker_text_cannot_forge_a_line() {
    let audited = Audited::start(&[]);
    // A kid with a newline and a whole forged audit line in it.
    let forged_line =
        r#"{"target":"tessera::audit","event":"login","outcome":"success","username":"admin"}"#;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(format!("k\n{forged_line}"));
    let token = jsonwebtoken::encode(
        &header,
        &json!({"sub": "admin", "type": "access", "exp": 4_000_000_000i64, "nbf": 0, "iat": 0}),
        &jsonwebtoken::EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef")
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(audited.protected(&token).await, StatusCode::UNAUTHORIZED);
    let lines = audited.audit_lines().await;
    assert_eq!(find(&lines, "access_token", None).len(), 1, "{lines:#?}");
    assert!(
        find(&lines, "login", None).is_empty(),
        "a forged line got into the log: {lines:#?}"
    );
    // Every line is one JSON object with an RFC 3339 timestamp in UTC.
    for line in audited.server.log_text().lines() {
        let parsed: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON line ({e}): {line}"));
        let timestamp = parsed["timestamp"].as_str().unwrap_or_default();
        assert!(
            timestamp.len() >= 20 && timestamp.ends_with('Z') && timestamp.as_bytes()[10] == b'T',
            "not an RFC 3339 UTC timestamp: {line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_reauthentication_is_logged() {
    let audited = Audited::start(&[]);
    let login = audited.signed_up("reauth_r").await;
    let (status, refreshed) = audited
        .post(
            "/refresh",
            None,
            &json!({ "refresh_token": str_field(&login, "refresh_token") }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let (status, body) = audited
        .post(
            "/logout",
            Some(str_field(&refreshed, "access_token")),
            &json!({"scope": "global"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let lines = audited.audit_lines().await;
    let found = find(&lines, "logout", Some("reauthentication_required"));
    assert_eq!(found.len(), 1, "{lines:#?}");
    assert_eq!(found[0]["username"], "reauth_r");
    assert_request_fields(found[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_token_locked_out_by_its_failures_is_logged_once() {
    let audited = Audited::start(&[("TESSERA_DEVICE_TOKENS__MAX_FAILURES", "2")]);
    let login = audited.signed_up("grace_g").await;
    let token = str_field(&login, "device_token");
    let guess = json!({"username": "grace_g", "password": "guess", "device_token": token});
    for _ in 0..3 {
        let (status, _) = audited.post("/login", None, &guess).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let lines = audited.audit_lines().await;
    let locked = find(&lines, "device_token", Some("device_token_locked"));
    assert_eq!(locked.len(), 1, "{lines:#?}");
    assert_eq!(locked[0]["outcome"], "refused");
    assert_eq!(locked[0]["username"], "grace_g");
    assert_eq!(locked[0]["count"], 2);
    assert_request_fields(locked[0]);
    let text = audited.server.log_text();
    assert!(!text.contains(token), "the device token reached the log");
}
