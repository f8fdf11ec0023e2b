//! The Flask cut-over's identity questions (issue 12, item 2): tokens minted by
//! Flask-JWT-Extended (no `kid`, no `sid`) name a user only by `sub`, in a user table of
//! their own; names the import could not bring over; closing registration.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, assert_error, spawn_app, status_and_json, str_field};
use crate::tokens::flask_style_claims;

const PASSWORD: &str = "correct-horse";

fn flask_token(app: &TestApp, sub: &str) -> String {
    app.sign(&flask_style_claims(sub))
}

async fn a_flask_token_resolves_only_to_the_account_with_exactly_its_name() {
    let app = spawn_app().await;
    let alice = app.signed_up("alice", PASSWORD).await;
    // `ALICE` is someone else on the Flask side; tessera has only `alice`.
    let other = flask_token(&app, "ALICE");
    for path in ["/me", "/sessions"] {
        assert_error(
            app.get_with_token(path, &other).await,
            StatusCode::UNAUTHORIZED,
            "session_ended",
        )
        .await;
    }
    assert_error(
        app.logout(&other, Some("global")).await,
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;
    assert_eq!(
        app.protected(str_field(&alice, "access_token"))
            .await
            .status(),
        StatusCode::OK,
        "alice's session must survive"
    );
    // The token for exactly `alice` is hers.
    let (status, body) =
        status_and_json(app.get_with_token("/me", &flask_token(&app, "alice")).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["username"], "alice");
}

async fn a_flask_token_of_a_disabled_account_is_refused() {
    let app = spawn_app().await;
    app.signed_up("bob", PASSWORD).await;
    let token = flask_token(&app, "bob");
    app.tessera
        .admin_set_disabled("bob", true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for path in ["/me", "/sessions"] {
        assert_error(
            app.get_with_token(path, &token).await,
            StatusCode::FORBIDDEN,
            "account_disabled",
        )
        .await;
    }
    assert_error(
        app.logout(&token, Some("global")).await,
        StatusCode::FORBIDDEN,
        "account_disabled",
    )
    .await;
}

async fn logout_with_a_token_that_has_no_session_does_not_claim_to_end_one() {
    let app = spawn_app().await;
    let carol = app.signed_up("carol", PASSWORD).await;
    let token = flask_token(&app, "carol");
    let body = assert_error(
        app.logout(&token, None).await,
        StatusCode::CONFLICT,
        "no_session",
    )
    .await;
    assert!(
        body["message"].as_str().unwrap_or("").contains("valid"),
        "{body}"
    );
    // It did not end anything, and the token still works where tokens are only verified.
    assert_eq!(app.protected(&token).await.status(), StatusCode::OK);
    assert_eq!(
        app.protected(str_field(&carol, "access_token"))
            .await
            .status(),
        StatusCode::OK
    );
    // Ending the account's real sessions is still possible, and says how many.
    let (status, body) = status_and_json(app.logout(&token, Some("global")).await).await;
    assert_eq!(
        (status, body["revoked_sessions"].clone()),
        (StatusCode::OK, json!(1))
    );
}

crate::backend_tests!(
    a_flask_token_resolves_only_to_the_account_with_exactly_its_name,
    a_flask_token_of_a_disabled_account_is_refused,
    logout_with_a_token_that_has_no_session_does_not_claim_to_end_one,
);
