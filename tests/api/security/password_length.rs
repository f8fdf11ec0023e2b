//! ASVS 6.2.9: passwords of at least 64 characters are always accepted, whatever they
//! are made of, and no setting can take that away.

use reqwest::StatusCode;

use crate::helpers::{spawn_app, status_and_json};

#[tokio::test]
async fn a_password_of_64_four_byte_characters_is_accepted() {
    let app = spawn_app().await;
    // 64 distinct emoji (4 bytes each in UTF-8), so no list or repetition rule applies.
    let password: String = (0..64u32)
        .filter_map(|i| char::from_u32(0x1F600 + i))
        .collect();
    assert_eq!(password.chars().count(), 64);
    let (status, body) = status_and_json(app.register("long_pw", &password).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = status_and_json(app.login("long_pw", &password).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[test]
fn password_max_bytes_cannot_be_set_below_64_characters_of_four_bytes() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut config = tessera::Config::for_tests(dir.path());
    config.password_max_bytes = 255;
    let error = config
        .validate()
        .err()
        .unwrap_or_else(|| panic!("accepted"));
    assert!(error.to_string().contains("at least 256"), "{error}");
    config.password_max_bytes = 256;
    assert!(config.validate().is_ok());
}
