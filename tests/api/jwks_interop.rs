//! A verifier nobody here wrote: PyJWT's `PyJWKClient`, pointed at tessera's JWKS,
//! verifies tessera's EdDSA, ES256, RS256 and PS256 access tokens.
//!
//! Needs Python: set TESSERA_PYTHON to a venv made by scripts/python-venv.sh (.ci/run does);
//! without it the test says it skipped and passes.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::Value;
use tessera::KeyAlg;

use crate::helpers::{spawn_app, status_and_json, str_field};

const VERIFY: &str = r#"
import json, sys
import jwt
url, token, alg = sys.argv[1], sys.argv[2], sys.argv[3]
signing_key = jwt.PyJWKClient(url).get_signing_key_from_jwt(token)
claims = jwt.decode(token, signing_key.key, algorithms=[alg], issuer="tessera")
print(json.dumps(claims))
"#;

// Multi-threaded: the server must answer PyJWT's JWKS request while this test waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tessera_python_tests),
    ignore = "Python interop tests skipped: export TESSERA_PYTHON=$(scripts/python-venv.sh) to run them"
)]
async fn pyjwt_verifies_asymmetric_tokens_through_the_jwks() {
    let Some(python) = std::env::var_os("TESSERA_PYTHON") else {
        eprintln!(
            "SKIPPED jwks_interop: TESSERA_PYTHON is not set (run: export TESSERA_PYTHON=$(scripts/python-venv.sh))"
        );
        return;
    };
    let app = spawn_app().await;
    app.register("Ada", "correct-horse").await;
    for (alg, name) in [
        (KeyAlg::EdDsa, "EdDSA"),
        (KeyAlg::Es256, "ES256"),
        (KeyAlg::Rs256, "RS256"),
        (KeyAlg::Ps256, "PS256"),
    ] {
        app.tessera
            .add_signing_key(alg, 0)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let (status, login) = status_and_json(app.login("ada", "correct-horse").await).await;
        assert_eq!(status, StatusCode::OK, "{login}");
        let token = str_field(&login, "access_token");
        let mut command = Command::new(&python);
        command.args([
            "-c",
            VERIFY,
            &app.url("/.well-known/jwks.json"),
            token,
            name,
        ]);
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("cannot run python: {e}"));
        assert!(
            output.status.success(),
            "{name}: PyJWT refused the token: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let claims: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        assert_eq!(claims["sub"], "Ada", "{name}: {claims}");
        assert_eq!(claims["type"], "access");
        assert!(claims["sid"].is_string());
    }
}
