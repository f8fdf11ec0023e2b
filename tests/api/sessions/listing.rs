//! Listing and ending one's own sessions.

use super::*;

async fn sessions_lists_the_callers_live_sessions_without_any_token_material() {
    let app = spawn_app().await;
    assert_eq!(
        app.register("alice", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    let login = |agent: &'static str| {
        let request = app
            .client
            .post(app.url("/login"))
            .header(header::USER_AGENT, agent)
            .json(&json!({ "username": "alice", "password": PASSWORD }));
        async move { assert_ok(unwrap_response(request.send().await)).await }
    };
    let before = now();
    let phone = login("TesseraPhone/1.0 (test)").await;
    let laptop = login("TesseraLaptop/2.0").await;
    let bob = app.signed_up("bob", PASSWORD).await;

    let response = app.sessions(str_field(&laptop, "access_token")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let raw = response
        .text()
        .await
        .unwrap_or_else(|e| panic!("body: {e}"));
    for secret in [&phone, &laptop, &bob].iter().flat_map(|body| {
        [
            str_field(body, "access_token"),
            str_field(body, "refresh_token"),
        ]
    }) {
        assert!(
            !raw.contains(secret),
            "a token leaked into GET /sessions: {raw}"
        );
    }
    for word in ["digest", "nonce", "refresh", "counter", "password"] {
        assert!(
            !raw.to_ascii_lowercase().contains(word),
            "{word} appears in GET /sessions: {raw}"
        );
    }
    let body: Value =
        serde_json::from_str(&raw).unwrap_or_else(|e| panic!("not JSON ({e}): {raw}"));
    let sessions = body["sessions"].as_array().cloned().unwrap_or_default();

    assert_eq!(
        listed_ids(&sessions),
        HashSet::from([sid_of(&phone), sid_of(&laptop)]),
        "{body}"
    );
    assert!(!listed_ids(&sessions).contains(&sid_of(&bob)));
    let expected_keys: HashSet<&str> = [
        "id",
        "created_at",
        "last_used_at",
        "expires_at",
        "user_agent",
        "ip",
        "current",
    ]
    .into_iter()
    .collect();
    for session in &sessions {
        let keys: HashSet<&str> = session
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(keys, expected_keys, "{session}");
        assert_eq!(session["ip"], "127.0.0.1", "{session}");
        let created = session["created_at"].as_i64().unwrap_or_default();
        assert!(created >= before && created <= now(), "{session}");
        assert!(
            session["last_used_at"].as_i64().unwrap_or_default() >= created,
            "{session}"
        );
        let expires = session["expires_at"].as_i64().unwrap_or_default();
        assert!(
            expires > created + 29 * 24 * 3600,
            "sessions last 30 days by default: {session}"
        );
    }
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "exactly one session is current: {body}");
    assert_eq!(current[0]["id"], sid_of(&laptop).as_str());
    assert_eq!(current[0]["user_agent"], "TesseraLaptop/2.0");
    let phone_entry = sessions.iter().find(|s| s["id"] == sid_of(&phone).as_str());
    assert_eq!(
        phone_entry.map(|s| &s["user_agent"]),
        Some(&json!("TesseraPhone/1.0 (test)"))
    );
    assert_eq!(phone_entry.map(|s| &s["current"]), Some(&json!(false)));

    // From the phone's point of view, the phone is current.
    let seen_by_phone = listed_sessions(&app, str_field(&phone, "access_token")).await;
    let current_ids: Vec<&str> = seen_by_phone
        .iter()
        .filter(|s| s["current"] == true)
        .map(|s| str_field(s, "id"))
        .collect();
    assert_eq!(current_ids, vec![sid_of(&phone).as_str()]);

    // Bob sees only his own.
    let bobs = listed_sessions(&app, str_field(&bob, "access_token")).await;
    assert_eq!(listed_ids(&bobs), HashSet::from([sid_of(&bob)]));
}

async fn sessions_requires_an_access_token() {
    let app = spawn_app().await;
    assert_error(
        app.get("/sessions").await,
        StatusCode::UNAUTHORIZED,
        "missing_token",
    )
    .await;
}

async fn ended_sessions_disappear_from_the_list() {
    let app = spawn_app().await;
    let here = app.signed_up("alice", PASSWORD).await;
    let phone = login_again(&app, "alice").await;
    assert_eq!(
        listed_sessions(&app, str_field(&here, "access_token"))
            .await
            .len(),
        2
    );
    assert_ok(app.logout(str_field(&phone, "access_token"), None).await).await;
    let left = listed_sessions(&app, str_field(&here, "access_token")).await;
    assert_eq!(listed_ids(&left), HashSet::from([sid_of(&here)]));
}

async fn deleting_one_of_the_callers_sessions_ends_it() {
    let app = spawn_app().await;
    let here = app.signed_up("alice", PASSWORD).await;
    let phone = login_again(&app, "alice").await;
    let access = str_field(&here, "access_token");

    let body = assert_ok(app.delete_session(access, &sid_of(&phone)).await).await;
    assert!(body["message"].is_string(), "{body}");

    assert_revoked(&app, str_field(&phone, "access_token")).await;
    assert_error(
        app.refresh(str_field(&phone, "refresh_token")).await,
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;
    let left = listed_sessions(&app, access).await;
    assert_eq!(listed_ids(&left), HashSet::from([sid_of(&here)]));
    assert_protected_ok(&app, access, "alice").await;

    // Ending it again: it is no longer there.
    assert_error(
        app.delete_session(access, &sid_of(&phone)).await,
        StatusCode::NOT_FOUND,
        "session_not_found",
    )
    .await;
}

async fn deleting_another_users_session_is_not_found_and_leaves_it_alone() {
    let app = spawn_app().await;
    let alice = app.signed_up("alice", PASSWORD).await;
    let bob = app.signed_up("bob", PASSWORD).await;

    let response = app
        .delete_session(str_field(&alice, "access_token"), &sid_of(&bob))
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "session_not_found").await;
    let response = app
        .delete_session(str_field(&alice, "access_token"), "no-such-session")
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "session_not_found").await;

    assert_protected_ok(&app, str_field(&bob, "access_token"), "bob").await;
    let refreshed = refresh_ok(&app, str_field(&bob, "refresh_token")).await;
    assert_protected_ok(&app, str_field(&refreshed, "access_token"), "bob").await;
    let bobs = listed_sessions(&app, str_field(&bob, "access_token")).await;
    assert_eq!(listed_ids(&bobs), HashSet::from([sid_of(&bob)]));
}

async fn deleting_a_session_requires_an_access_token() {
    let app = spawn_app().await;
    let alice = app.signed_up("alice", PASSWORD).await;
    let response = unwrap_response(
        app.client
            .delete(app.url(&format!("/sessions/{}", sid_of(&alice))))
            .send()
            .await,
    );
    assert_error(response, StatusCode::UNAUTHORIZED, "missing_token").await;
    assert_protected_ok(&app, str_field(&alice, "access_token"), "alice").await;
}

async fn deleting_the_callers_own_current_session_ends_it() {
    let app = spawn_app().await;
    let here = app.signed_up("alice", PASSWORD).await;
    let phone = login_again(&app, "alice").await;
    let access = str_field(&here, "access_token");

    assert_ok(app.delete_session(access, &sid_of(&here)).await).await;
    assert_revoked(&app, access).await;
    assert_error(
        app.refresh(str_field(&here, "refresh_token")).await,
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;
    let left = listed_sessions(&app, str_field(&phone, "access_token")).await;
    assert_eq!(listed_ids(&left), HashSet::from([sid_of(&phone)]));
}

async fn a_long_user_agent_is_kept_cut_to_256_characters() {
    let app = spawn_app().await;
    assert_eq!(
        app.register("alice", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    let agent = "x".repeat(300);
    let response = unwrap_response(
        app.client
            .post(app.url("/login"))
            .header(header::USER_AGENT, agent.as_str())
            .json(&json!({ "username": "alice", "password": PASSWORD }))
            .send()
            .await,
    );
    let login = assert_ok(response).await;
    let listed = listed_sessions(&app, str_field(&login, "access_token")).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["user_agent"], agent[..256], "{listed:?}");
}

async fn a_session_logged_in_without_a_user_agent_lists_it_as_null() {
    let app = spawn_app().await;
    let login = app.signed_up("alice", PASSWORD).await;
    let listed = listed_sessions(&app, str_field(&login, "access_token")).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["user_agent"], Value::Null, "{listed:?}");
    assert_eq!(listed[0]["current"], true, "{listed:?}");
}

async fn refreshing_updates_the_sessions_last_use() {
    let app = spawn_app().await;
    let login = app.signed_up("alice", PASSWORD).await;
    let before = listed_sessions(&app, str_field(&login, "access_token")).await;
    let created = before[0]["created_at"].as_i64().unwrap_or_default();
    assert_eq!(before[0]["last_used_at"], created, "{before:?}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let refreshed = refresh_ok(&app, str_field(&login, "refresh_token")).await;
    let after = listed_sessions(&app, str_field(&refreshed, "access_token")).await;
    assert_eq!(after[0]["created_at"], created, "{after:?}");
    assert!(
        after[0]["last_used_at"].as_i64().unwrap_or_default() > created,
        "{after:?}"
    );
    assert_eq!(after[0]["current"], true, "{after:?}");
}

crate::backend_tests!(
    sessions_lists_the_callers_live_sessions_without_any_token_material,
    sessions_requires_an_access_token,
    ended_sessions_disappear_from_the_list,
    deleting_one_of_the_callers_sessions_ends_it,
    deleting_another_users_session_is_not_found_and_leaves_it_alone,
    deleting_a_session_requires_an_access_token,
    deleting_the_callers_own_current_session_ends_it,
    a_long_user_agent_is_kept_cut_to_256_characters,
    a_session_logged_in_without_a_user_agent_lists_it_as_null,
    refreshing_updates_the_sessions_last_use,
);
