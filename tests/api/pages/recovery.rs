//! The recovery pages over HTTP: forgot password (one answer for every name), the reset
//! page by link and by typed code (policy, single use, every session ended), the
//! verification page, and the email section of my account.

use reqwest::StatusCode;

use super::{Browser, PASSWORD};
use crate::helpers::TestApp;
use crate::recovery::smtp_sink::{self, SmtpSink};
use crate::recovery::{app_with_mail, last_message_to, user_with_verified_email};

const NEW_PASSWORD: &str = "a brand new passphrase for the page";

/// Posts the forgot form with `fields`; returns the answer.
async fn forgot(browser: &mut Browser<'_>, fields: &[(&str, &str)]) -> super::Page {
    let form = browser.get("/ui/password/forgot").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    let csrf = form.csrf();
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    browser.post("/ui/password/forgot", &all).await
}

#[tokio::test]
async fn forgot_answers_alike_whatever_was_typed_and_the_link_resets_once() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink.url(), |_| {}).await;
    let login = user_with_verified_email(&app, &sink, "alice", "alice@example.com").await;
    let mut browser = Browser::new(&app);
    let before = sink.messages().len();
    let mut answers = Vec::new();
    for fields in [
        [("username", "ALICE"), ("email", "")],
        [("username", "nobody"), ("email", "")],
        [("username", ""), ("email", "nobody@example.com")],
    ] {
        let answer = forgot(&mut browser, &fields).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        answers.push(answer.location().to_owned());
    }
    assert!(answers.iter().all(|a| a == "/ui/password/forgot?done=sent"));
    let sent = browser.get("/ui/password/forgot?done=sent").await;
    assert!(
        sent.body.contains("a message has been sent"),
        "{}",
        sent.body
    );
    // Neither or both: said next to the field, what was typed kept.
    let both = forgot(
        &mut browser,
        &[("username", "alice"), ("email", "alice@example.com")],
    )
    .await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST);
    assert!(both.body.contains(r#"value="alice@example.com""#));

    let message = last_message_to(&sink, "alice@example.com", before).await;
    let token = smtp_sink::link_token(&message.text);
    assert!(
        message.text.contains(&format!(
            "http://tessera.test/ui/password/reset?token={token}"
        )),
        "{}",
        message.text
    );
    let page = browser
        .get(&format!("/ui/password/reset?token={token}"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = page.csrf();
    let (csrf, token) = (csrf.as_str(), token.as_str());
    // Without the form's token, or from another site: refused, nothing spent.
    for (csrf, site) in [("", "same-origin"), (csrf, "cross-site")] {
        let refused = browser
            .post_from(
                "/ui/password/reset",
                &[
                    ("csrf", csrf),
                    ("token", token),
                    ("new_password", NEW_PASSWORD),
                ],
                site,
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{site}");
    }
    // The policy, next to the field; the password never shown again.
    let weak = browser
        .post(
            "/ui/password/reset",
            &[("csrf", csrf), ("token", token), ("new_password", "short")],
        )
        .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert!(
        weak.body.contains(r#"aria-invalid="true""#),
        "{}",
        weak.body
    );
    assert!(!weak.body.contains(r#"value="short""#));
    let done = browser
        .post(
            "/ui/password/reset",
            &[
                ("csrf", csrf),
                ("token", token),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), "/ui/login?done=password_reset");
    let old = crate::helpers::str_field(&login, "access_token");
    assert_eq!(
        app.protected(old).await.status(),
        StatusCode::UNAUTHORIZED,
        "every session ended"
    );
    assert_eq!(
        app.login("alice", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
    // Used once: the API's message above the form.
    let again = browser
        .post(
            "/ui/password/reset",
            &[
                ("csrf", csrf),
                ("token", token),
                ("new_password", "yet another passphrase"),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.body.contains("error-summary"), "{}", again.body);
}

#[tokio::test]
async fn a_typed_code_resets_on_the_page_and_a_wrong_one_is_said_next_to_it() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink.url(), |_| {}).await;
    user_with_verified_email(&app, &sink, "bob", "bob@example.com").await;
    let mut browser = Browser::new(&app);
    let before = sink.messages().len();
    forgot(&mut browser, &[("email", "bob@example.com")]).await;
    let message = last_message_to(&sink, "bob@example.com", before).await;
    let code = smtp_sink::code(&message.text);
    let page = browser.get("/ui/password/reset").await;
    assert!(page.body.contains(r#"name="code""#), "{}", page.body);
    let csrf = page.csrf();
    let (csrf, code) = (csrf.as_str(), code.as_str());
    let wrong = browser
        .post(
            "/ui/password/reset",
            &[
                ("csrf", csrf),
                ("username", "bob"),
                ("code", "WRONG123"),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    // The name and the code are kept, the password is not.
    assert!(wrong.body.contains(r#"value="bob""#) && wrong.body.contains(r#"value="WRONG123""#));
    assert!(!wrong.body.contains(NEW_PASSWORD));
    let done = browser
        .post(
            "/ui/password/reset",
            &[
                ("csrf", csrf),
                ("username", "bob"),
                ("code", code),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let signed_in = browser.sign_in("bob", NEW_PASSWORD, "").await;
    assert_eq!(signed_in.location(), "/ui/account");
}

/// Signs `name` up and in through the pages; returns the account page's CSRF value.
async fn signed_in_browser(app: &TestApp, browser: &mut Browser<'_>, name: &str) -> String {
    app.signed_up(name, PASSWORD).await;
    let answer = browser.sign_in(name, PASSWORD, "").await;
    assert_eq!(answer.location(), "/ui/account", "{}", answer.body);
    browser.get("/ui/account").await.csrf()
}

#[tokio::test]
async fn the_account_page_adds_verifies_and_removes_an_address() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink.url(), |_| {}).await;
    let mut browser = Browser::new(&app);
    let csrf = signed_in_browser(&app, &mut browser, "carol").await;
    let csrf = csrf.as_str();
    let account = browser.get("/ui/account").await;
    assert!(account.body.contains("No address yet"), "{}", account.body);

    // A wrong password: said next to it, the address typed kept.
    let wrong = browser
        .post(
            "/ui/account/email",
            &[
                ("csrf", csrf),
                ("email", "carol@example.com"),
                ("email_password", "not my password"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.body);
    assert!(wrong.body.contains(r#"value="carol@example.com""#));
    let before = sink.messages().len();
    let set = browser
        .post(
            "/ui/account/email",
            &[
                ("csrf", csrf),
                ("email", "carol@example.com"),
                ("email_password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        set.location(),
        "/ui/account?done=email_sent",
        "{}",
        set.body
    );
    let first = last_message_to(&sink, "carol@example.com", before).await;
    let page = browser.get("/ui/account?done=email_sent").await;
    assert!(page.body.contains("carol@example.com") && page.body.contains("Not verified yet"));

    // Sent again: a new message with its own code.
    let resent = browser
        .post(
            "/ui/account/email",
            &[
                ("csrf", csrf),
                ("resend", "1"),
                ("email", "carol@example.com"),
                ("resend_password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(resent.location(), "/ui/account?done=email_sent");
    let skip = sink
        .messages()
        .iter()
        .position(|m| m.text == first.text)
        .map_or(before, |at| at + 1);
    let second = last_message_to(&sink, "carol@example.com", skip).await;
    assert!(
        second
            .text
            .contains("http://tessera.test/ui/email/verify?token="),
        "{}",
        second.text
    );
    let wrong = browser
        .post(
            "/ui/account/email/verify",
            &[("csrf", csrf), ("email_code", "WRONG123")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(wrong.body.contains(r#"value="WRONG123""#));
    let verified = browser
        .post(
            "/ui/account/email/verify",
            &[
                ("csrf", csrf),
                ("email_code", smtp_sink::code(&second.text).as_str()),
            ],
        )
        .await;
    assert_eq!(verified.location(), "/ui/account?done=email_verified");
    let page = browser.get("/ui/account").await;
    assert!(page.body.contains("✓ Verified"), "{}", page.body);

    let removed = browser
        .post("/ui/account/email/remove", &[("csrf", csrf)])
        .await;
    assert_eq!(removed.location(), "/ui/account?done=email_removed");
    assert!(
        browser
            .get("/ui/account")
            .await
            .body
            .contains("No address yet")
    );
    // Without the session's CSRF value: refused.
    let refused = browser
        .post("/ui/account/email/remove", &[("csrf", "guess")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_verification_link_opens_a_button_that_verifies_without_a_session() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink.url(), |_| {}).await;
    let mut browser = Browser::new(&app);
    let csrf = signed_in_browser(&app, &mut browser, "dave").await;
    let csrf = csrf.as_str();
    let before = sink.messages().len();
    browser
        .post(
            "/ui/account/email",
            &[
                ("csrf", csrf),
                ("email", "dave@example.com"),
                ("email_password", PASSWORD),
            ],
        )
        .await;
    let message = last_message_to(&sink, "dave@example.com", before).await;
    let token = smtp_sink::link_token(&message.text);
    // Another browser (a phone's mail app): no session needed. The old path redirects.
    let mut phone = Browser::new(&app);
    let old = phone.get(&format!("/email/verify?token={token}")).await;
    assert_eq!(old.status, StatusCode::SEE_OTHER);
    assert_eq!(old.location(), format!("/ui/email/verify?token={token}"));
    let page = phone.get(old.location()).await;
    assert_eq!(page.status, StatusCode::OK);
    // The language switch keeps the token.
    assert!(
        page.body.contains(&format!("token={token}&amp;lang=zh")),
        "{}",
        page.body
    );
    let csrf = page.csrf();
    let (csrf, token) = (csrf.as_str(), token.as_str());
    let done = phone
        .post("/ui/email/verify", &[("csrf", csrf), ("token", token)])
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("dave@example.com"));
    let again = phone
        .post("/ui/email/verify", &[("csrf", csrf), ("token", token)])
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    let account = browser.get("/ui/account").await;
    assert!(account.body.contains("✓ Verified"), "{}", account.body);
    let incomplete = phone.get("/ui/email/verify").await;
    assert_eq!(incomplete.status, StatusCode::BAD_REQUEST);
}
