//! Names that render like another account (invisible, bidi) or like nothing are refused.

use reqwest::StatusCode;

use crate::helpers::{spawn_app, status_and_json};

async fn names_with_invisible_or_bidi_characters_are_refused() {
    let app = spawn_app().await;
    assert_eq!(
        app.register("admin", "correct-horse").await.status(),
        StatusCode::CREATED
    );
    for name in [
        "admin\u{200b}",
        "admin\u{200d}",
        "admin\u{2060}",
        "admin\u{feff}",
        "admin\u{ad}",
        "\u{202e}admin",
        "\u{3164}",
        "\u{3164}\u{3164}",
    ] {
        let (status, body) = status_and_json(app.register(name, "correct-horse").await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name:?}: {body}");
        assert_eq!(body["error"], "invalid_username", "{name:?}");
    }
}

async fn names_without_a_letter_or_digit_are_refused() {
    let app = spawn_app().await;
    for name in ["\u{2800}", "\u{2800}\u{2800}\u{2800}", "--"] {
        let (status, body) = status_and_json(app.register(name, "correct-horse").await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name:?}: {body}");
        assert_eq!(body["error"], "invalid_username", "{name:?}");
    }
    assert_eq!(
        app.register("李雷", "correct-horse").await.status(),
        StatusCode::CREATED
    );
}

crate::backend_tests!(
    names_with_invisible_or_bidi_characters_are_refused,
    names_without_a_letter_or_digit_are_refused,
);
