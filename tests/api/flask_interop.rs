//! The README's "Moving from Flask-JWT-Extended", end to end with the real seed app:
//! users register through Flask (werkzeug 3 hashes), `tessera import flask-sqlite`
//! imports its `users.db`, `tessera serve` shares `JWT_SECRET_KEY`, every user logs in
//! to tessera, and tokens cross between the two apps in both directions.
//!
//! Needs Python: set TESSERA_PYTHON to a venv made by scripts/python-venv.sh (.ci/run
//! does). Without it, or without the seed app (../shared/anchors/flask_seed or
//! TESSERA_FLASK_SEED), the test prints that it skipped and passes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{status_and_json, str_field, unwrap_response};
use crate::process::{ServerProcess, tessera_command};

struct Gunicorn(Child);

impl Drop for Gunicorn {
    fn drop(&mut self) {
        // SIGTERM lets the gunicorn master stop its workers too.
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

fn prerequisites() -> Option<(PathBuf, PathBuf)> {
    let python = std::env::var_os("TESSERA_PYTHON").map(PathBuf::from);
    let Some(python) = python.filter(|p| p.is_file()) else {
        eprintln!(
            "SKIPPED flask_interop: TESSERA_PYTHON is not set to a venv python (run: export TESSERA_PYTHON=$(scripts/python-venv.sh))"
        );
        return None;
    };
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let seed = std::env::var_os("TESSERA_FLASK_SEED")
        .map(PathBuf::from)
        .into_iter()
        .chain([
            manifest.join("../shared/anchors/flask_seed"),
            PathBuf::from("/work/shared/anchors/flask_seed"),
        ])
        .find(|p| p.join("app.py").is_file());
    let Some(seed) = seed else {
        eprintln!("SKIPPED flask_interop: the seed app was not found (set TESSERA_FLASK_SEED)");
        return None;
    };
    Some((python, seed))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("free port: {e}"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{e}"));
    for entry in std::fs::read_dir(from)
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
    {
        let path = entry.path();
        if path.is_file() {
            let target = to.join(entry.file_name());
            std::fs::copy(&path, &target).unwrap_or_else(|e| panic!("copy: {e}"));
            // shared/ is read-only; the copy must be writable (instance/ is created in it).
            let mut perms = std::fs::metadata(&target)
                .map(|m| m.permissions())
                .unwrap_or_else(|e| panic!("{e}"));
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            let _ = std::fs::set_permissions(&target, perms);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tessera_python_tests),
    ignore = "Python interop tests skipped: export TESSERA_PYTHON=$(scripts/python-venv.sh) to run them"
)]
async fn flask_users_move_to_tessera_and_tokens_cross_during_the_cut_over() {
    let Some((python, seed)) = prerequisites() else {
        return;
    };
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let app_dir = work.path().join("flask_seed");
    copy_dir(&seed, &app_dir);
    let secret = tessera::secret::generate_token_urlsafe();
    let venv = python
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("TESSERA_PYTHON is not inside a venv"));
    let port = free_port();
    let flask = Gunicorn(
        Command::new("bash")
            .arg(app_dir.join("run.sh"))
            .args([port.to_string(), "1".into()])
            .env("VENV", venv)
            .env("JWT_SECRET_KEY", &secret)
            .env("SEED_ACCESS_LOG", "0")
            .env("SEED_FRESH_DB", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the seed app: {e}")),
    );
    let flask_url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut up = false;
    for _ in 0..150 {
        if client
            .get(format!("{flask_url}/protected"))
            .send()
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "the seed app did not start on port {port}");

    // 1. Users sign up on the Flask app (werkzeug 3.1 scrypt hashes).
    let users = [
        ("alice", "alice-password"),
        ("Bob", "b0b's p4ss"),
        ("zoë", "pässwörd ☃"),
        ("dave", "x"),
    ];
    for (name, password) in users {
        let response = client
            .post(format!("{flask_url}/register"))
            .json(&json!({ "username": name, "password": password }))
            .send()
            .await;
        assert_eq!(
            unwrap_response(response).status(),
            StatusCode::CREATED,
            "{name}"
        );
    }
    let response = client
        .post(format!("{flask_url}/login"))
        .json(&json!({ "username": "alice", "password": "alice-password" }))
        .send()
        .await;
    let (status, body) = status_and_json(unwrap_response(response)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let flask_token = str_field(&body, "access_token").to_owned();

    // 2. Import the Flask database (as the guide says; the Flask app keeps running).
    let data_dir = work.path().join("tessera-data");
    let db = app_dir.join("instance/users.db");
    let output = tessera_command()
        .args(["import", "flask-sqlite"])
        .arg(&db)
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("--report")
        .arg(work.path().join("report.csv"))
        .output()
        .unwrap_or_else(|e| panic!("tessera import: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("imported 4 of 4 users"), "{stdout}");

    // 3. tessera with the same JWT_SECRET_KEY.
    let tessera = ServerProcess::start(&data_dir, &[("JWT_SECRET_KEY", &secret)]);

    // A token the Flask app issued works on tessera.
    let response = client
        .get(tessera.url("/protected"))
        .bearer_auth(&flask_token)
        .send()
        .await;
    let (status, body) = status_and_json(unwrap_response(response)).await;
    assert_eq!(
        (status, &body["logged_in_as"]),
        (StatusCode::OK, &json!("alice"))
    );

    // Every Flask user logs in to tessera with the same password, and tessera's token
    // works on the Flask app.
    for (name, password) in users {
        let response = client
            .post(tessera.url("/login"))
            .json(&json!({ "username": name, "password": password }))
            .send()
            .await;
        let (status, body) = status_and_json(unwrap_response(response)).await;
        assert_eq!(status, StatusCode::OK, "{name}: {body}");
        let token = str_field(&body, "access_token");
        let response = client
            .get(format!("{flask_url}/protected"))
            .bearer_auth(token)
            .send()
            .await;
        let (status, body) = status_and_json(unwrap_response(response)).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "Flask refused tessera's token for {name}: {body}"
        );
        assert_eq!(body["logged_in_as"], json!(name));
    }
    drop(flask);
}
