//! Login's token pair and refresh: rotation, the grace window, reuse detection, wrong tokens.

use super::*;

async fn login_returns_a_bearer_token_pair_whose_access_token_names_the_session() {
    let app = spawn_app().await;
    let body = app.signed_up("Alice", PASSWORD).await;

    let access = str_field(&body, "access_token");
    let refresh = str_field(&body, "refresh_token");
    assert_eq!(body["token_type"], "Bearer", "{body}");
    assert_eq!(body["expires_in"], 900, "{body}");
    assert_eq!(body["user"]["username"], "Alice", "{body}");
    assert!(body["user"]["id"].is_i64(), "{body}");
    assert_ne!(access, refresh);

    let claims = jwt_claims(access);
    assert_eq!(claims["type"], "access", "{claims}");
    assert_eq!(claims["fresh"], true, "{claims}");
    assert_eq!(claims["sub"], "Alice", "{claims}");
    assert_eq!(claims["iss"], "tessera", "{claims}");
    assert!(
        claims["sid"].as_str().is_some_and(|sid| !sid.is_empty()),
        "{claims}"
    );
    let lifetime = claims["exp"]
        .as_i64()
        .zip(claims["iat"].as_i64())
        .map(|(exp, iat)| exp - iat);
    assert_eq!(lifetime, Some(900), "{claims}");

    assert_protected_ok(&app, access, "Alice").await;
}

async fn expires_in_follows_the_configured_access_token_lifetime() {
    let app = spawn_app_with(|c| c.access_token_ttl_secs = 120).await;
    let body = app.signed_up("alice", PASSWORD).await;
    assert_eq!(body["expires_in"], 120, "{body}");
    let refreshed = refresh_ok(&app, str_field(&body, "refresh_token")).await;
    assert_eq!(refreshed["expires_in"], 120, "{refreshed}");
}

async fn refresh_issues_a_non_fresh_access_token_for_the_same_session_and_a_new_refresh_token() {
    let app = spawn_app().await;
    let login = app.signed_up("alice", PASSWORD).await;
    let refresh = str_field(&login, "refresh_token");

    let body = refresh_ok(&app, refresh).await;
    assert_eq!(body["token_type"], "Bearer", "{body}");
    assert_eq!(body["expires_in"], 900, "{body}");
    let new_refresh = str_field(&body, "refresh_token");
    assert_ne!(new_refresh, refresh, "the refresh token must rotate");
    let new_access = str_field(&body, "access_token");
    assert_ne!(new_access, str_field(&login, "access_token"));

    let claims = jwt_claims(new_access);
    assert_eq!(
        claims["sid"],
        jwt_claims(str_field(&login, "access_token"))["sid"],
        "{claims}"
    );
    assert_eq!(claims["fresh"], false, "{claims}");
    assert_eq!(claims["type"], "access", "{claims}");
    assert_eq!(claims["sub"], "alice", "{claims}");
    assert_eq!(claims["iss"], "tessera", "{claims}");

    assert_protected_ok(&app, new_access, "alice").await;
}

async fn the_refresh_token_is_also_accepted_as_a_bearer_token_without_a_body() {
    let app = spawn_app().await;
    let login = app.signed_up("alice", PASSWORD).await;
    let refresh = str_field(&login, "refresh_token");

    let response = unwrap_response(
        app.client
            .post(app.url("/refresh"))
            .bearer_auth(refresh)
            .send()
            .await,
    );
    let body = assert_ok(response).await;
    assert_ne!(str_field(&body, "refresh_token"), refresh);
    assert_eq!(sid_of(&body), sid_of(&login));
    assert_protected_ok(&app, str_field(&body, "access_token"), "alice").await;
}

async fn each_rotated_refresh_token_can_be_refreshed_in_turn() {
    let app = spawn_app().await;
    let login = app.signed_up("alice", PASSWORD).await;
    let a = str_field(&login, "refresh_token").to_owned();

    let second = refresh_ok(&app, &a).await;
    let b = str_field(&second, "refresh_token").to_owned();
    let third = refresh_ok(&app, &b).await;
    let c = str_field(&third, "refresh_token").to_owned();
    let fourth = refresh_ok(&app, &c).await;
    let d = str_field(&fourth, "refresh_token");

    let distinct: HashSet<&str> = [a.as_str(), b.as_str(), c.as_str(), d]
        .into_iter()
        .collect();
    assert_eq!(distinct.len(), 4, "every rotation yields a new token");
    for body in [&second, &third, &fourth] {
        assert_eq!(sid_of(body), sid_of(&login));
        assert_protected_ok(&app, str_field(body, "access_token"), "alice").await;
    }
}

async fn concurrent_refreshes_of_one_token_all_get_the_same_successor() {
    let app = spawn_app().await;
    let login = app.signed_up("alice", PASSWORD).await;
    let refresh = str_field(&login, "refresh_token").to_owned();

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let client = app.client.clone();
        let url = app.url("/refresh");
        let body = json!({ "refresh_token": refresh });
        tasks.spawn(async move {
            let response = unwrap_response(client.post(url).json(&body).send().await);
            status_and_json(response).await
        });
    }
    let mut answers = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        answers.push(joined.unwrap_or_else(|e| panic!("refresh task failed: {e}")));
    }
    assert_eq!(answers.len(), 20);
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
    }

    let successors: HashSet<&str> = answers
        .iter()
        .map(|(_, body)| str_field(body, "refresh_token"))
        .collect();
    assert_eq!(
        successors.len(),
        1,
        "all concurrent refreshes must get the same successor: {successors:?}"
    );
    let successor = successors.into_iter().next().unwrap_or_default().to_owned();
    assert_ne!(successor, refresh);

    for (_, body) in &answers {
        assert_eq!(sid_of(body), sid_of(&login));
        assert_protected_ok(&app, str_field(body, "access_token"), "alice").await;
    }
    let next = refresh_ok(&app, &successor).await;
    assert_ne!(str_field(&next, "refresh_token"), successor);
    assert_protected_ok(&app, str_field(&next, "access_token"), "alice").await;
    assert_protected_ok(&app, str_field(&login, "access_token"), "alice").await;
}

async fn a_refresh_token_replayed_within_the_grace_window_gets_the_same_successor() {
    let app = spawn_app().await;
    let login = app.signed_up("alice", PASSWORD).await;
    let a = str_field(&login, "refresh_token");

    let first = refresh_ok(&app, a).await;
    let replay = refresh_ok(&app, a).await;
    assert_eq!(
        str_field(&replay, "refresh_token"),
        str_field(&first, "refresh_token")
    );
    assert_protected_ok(&app, str_field(&replay, "access_token"), "alice").await;
    assert_protected_ok(&app, str_field(&first, "access_token"), "alice").await;
}

async fn a_refresh_token_reused_after_the_grace_window_ends_the_whole_session() {
    let app = spawn_app_with(|c| c.refresh_grace_secs = 1).await;
    let login = app.signed_up("alice", PASSWORD).await;
    let other_device = login_again(&app, "alice").await;
    let a = str_field(&login, "refresh_token");

    let rotated = refresh_ok(&app, a).await;
    let b = str_field(&rotated, "refresh_token");
    tokio::time::sleep(Duration::from_millis(2200)).await;

    assert_error(
        app.refresh(a).await,
        StatusCode::UNAUTHORIZED,
        "refresh_token_reused",
    )
    .await;
    // Neither the thief nor the victim keeps the session.
    assert_error(
        app.refresh(b).await,
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;
    assert_revoked(&app, str_field(&login, "access_token")).await;
    assert_revoked(&app, str_field(&rotated, "access_token")).await;
    // A replay again is still refused.
    let again = app.refresh(a).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);

    // The user's other session is untouched.
    assert_protected_ok(&app, str_field(&other_device, "access_token"), "alice").await;
    refresh_ok(&app, str_field(&other_device, "refresh_token")).await;
}

async fn an_access_token_presented_as_a_refresh_token_is_refused() {
    let app = spawn_app().await;
    let login = app.signed_up("alice", PASSWORD).await;
    let access = str_field(&login, "access_token");
    assert_error(
        app.refresh(access).await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await;
    let response = unwrap_response(
        app.client
            .post(app.url("/refresh"))
            .bearer_auth(access)
            .send()
            .await,
    );
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    // The refusal does not hurt the session.
    refresh_ok(&app, str_field(&login, "refresh_token")).await;
}

async fn a_refresh_token_presented_as_an_access_token_is_refused() {
    let app = spawn_app().await;
    let login = app.signed_up("alice", PASSWORD).await;
    let refresh = str_field(&login, "refresh_token");
    assert_error(
        app.protected(refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    assert_error(
        app.sessions(refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
}

async fn a_tampered_refresh_token_is_refused_and_the_session_survives() {
    let app = spawn_app().await;
    let login = app.signed_up("alice", PASSWORD).await;
    let refresh = str_field(&login, "refresh_token");
    let forged = tampered(refresh);
    assert_ne!(forged, refresh);
    assert_error(
        app.refresh(&forged).await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await;
    assert_error(
        app.refresh("not-a-refresh-token").await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await;
    refresh_ok(&app, refresh).await;
}

async fn a_refresh_without_a_refresh_token_is_a_bad_request() {
    let app = spawn_app().await;
    assert_error(
        app.post_json("/refresh", &json!({})).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_error(
        app.post_json("/refresh", &json!({ "refresh_token": "" }))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    let no_body = unwrap_response(app.client.post(app.url("/refresh")).send().await);
    assert_error(no_body, StatusCode::BAD_REQUEST, "invalid_request").await;
}

async fn api_prefixed_routes_share_the_same_sessions() {
    let app = spawn_app().await;
    let login = app.signed_up("alice", PASSWORD).await;
    let refreshed = assert_ok(
        app.post_json(
            "/api/refresh",
            &json!({ "refresh_token": str_field(&login, "refresh_token") }),
        )
        .await,
    )
    .await;
    assert_eq!(sid_of(&refreshed), sid_of(&login));
    let access = str_field(&refreshed, "access_token");
    let listed = assert_ok(app.get_with_token("/api/sessions", access).await).await;
    assert_eq!(
        listed["sessions"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    let response = unwrap_response(
        app.client
            .post(app.url("/api/logout"))
            .bearer_auth(access)
            .send()
            .await,
    );
    assert_ok(response).await;
    assert_revoked(&app, str_field(&login, "access_token")).await;
}

crate::backend_tests!(
    login_returns_a_bearer_token_pair_whose_access_token_names_the_session,
    expires_in_follows_the_configured_access_token_lifetime,
    refresh_issues_a_non_fresh_access_token_for_the_same_session_and_a_new_refresh_token,
    the_refresh_token_is_also_accepted_as_a_bearer_token_without_a_body,
    each_rotated_refresh_token_can_be_refreshed_in_turn,
    concurrent_refreshes_of_one_token_all_get_the_same_successor,
    a_refresh_token_replayed_within_the_grace_window_gets_the_same_successor,
    a_refresh_token_reused_after_the_grace_window_ends_the_whole_session,
    an_access_token_presented_as_a_refresh_token_is_refused,
    a_refresh_token_presented_as_an_access_token_is_refused,
    a_tampered_refresh_token_is_refused_and_the_session_survives,
    a_refresh_without_a_refresh_token_is_a_bad_request,
    api_prefixed_routes_share_the_same_sessions,
);
