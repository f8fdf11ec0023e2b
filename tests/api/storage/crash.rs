//! SIGKILL of the real binary under concurrent registrations and refreshes, on both
//! backends: after a restart every acknowledged registration logs in, every chain's newest
//! acknowledged refresh token refreshes, and (SQLite) the database passes its integrity check.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sqlx::{Connection, SqliteConnection};
use tokio::sync::Mutex;

use super::{PASSWORD, Remote, assert_registrations_kept};
use crate::backend::{Backend, TestDatabase, current_backend};
use crate::helpers::{status_and_json, str_field};
use crate::process::ServerProcess;

const KILLS: usize = 3;
const WRITERS: usize = 3;

/// What the clients were told, as they were told it.
#[derive(Default)]
struct Acknowledged {
    registrations: Vec<String>,
    /// Each chain's newest refresh token.
    chains: Vec<String>,
}

/// Registers names and refreshes chain `chain` in turn until the server stops answering.
async fn write_until_killed(
    app: Remote,
    prefix: String,
    chain: usize,
    acked: Arc<Mutex<Acknowledged>>,
) {
    for i in 0.. {
        let name = format!("{prefix}_{i}");
        let Ok(response) = app
            .try_post(
                "/register",
                None,
                &serde_json::json!({"username": name, "password": PASSWORD}),
            )
            .await
        else {
            return;
        };
        if response.status() == StatusCode::CREATED {
            acked.lock().await.registrations.push(name);
        }
        let token = acked.lock().await.chains[chain].clone();
        let body = serde_json::json!({ "refresh_token": token });
        let Ok(response) = app.try_post("/refresh", None, &body).await else {
            return;
        };
        let (status, body) = status_and_json(response).await;
        if status == StatusCode::OK {
            acked.lock().await.chains[chain] = str_field(&body, "refresh_token").to_owned();
        }
    }
}

async fn every_acknowledged_write_survives_sigkill() {
    let data_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let database = match current_backend() {
        Backend::Sqlite => None,
        Backend::Postgres => Some(TestDatabase::create().await),
    };
    let env: Vec<(&str, &str)> = database
        .iter()
        .map(|d| ("TESSERA_DATABASE_URL", d.url.as_str()))
        .collect();
    let mut server = ServerProcess::start(data_dir.path(), &env);
    let app = Remote::new(&server.address);
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    for chain in 0..WRITERS {
        let login = app.signed_up(&format!("chain{chain}")).await;
        acked
            .lock()
            .await
            .chains
            .push(str_field(&login, "refresh_token").to_owned());
    }
    let mut restarts = Vec::new();
    for kill in 0..KILLS {
        let writers: Vec<_> = (0..WRITERS)
            .map(|chain| {
                let prefix = format!("k{kill}w{chain}");
                tokio::spawn(write_until_killed(
                    app_of(&server),
                    prefix,
                    chain,
                    acked.clone(),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(700 + 150 * kill as u64)).await;
        server
            .child
            .kill()
            .unwrap_or_else(|e| panic!("SIGKILL: {e}"));
        let _ = server.child.wait();
        for writer in writers {
            writer.await.unwrap_or_else(|e| panic!("writer: {e}"));
        }
        let started = Instant::now();
        server = ServerProcess::start(data_dir.path(), &env);
        restarts.push(started.elapsed());
        let app = app_of(&server);
        let acked = &mut *acked.lock().await;
        assert_registrations_kept(&app, &acked.registrations, &[]).await;
        for token in &mut acked.chains {
            let (status, body) = status_and_json(app.refresh(token).await).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "an acknowledged refresh token after SIGKILL {kill}: {body}"
            );
            *token = str_field(&body, "refresh_token").to_owned();
        }
    }
    drop(server);
    let acked = acked.lock().await;
    eprintln!(
        "{:?}: {KILLS} SIGKILLs, {} acknowledged registrations all kept, restarts took {restarts:?}",
        current_backend(),
        acked.registrations.len()
    );
    if database.is_none() {
        let url = format!("sqlite://{}", data_dir.path().join("tessera.db").display());
        let mut db = SqliteConnection::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (check,): (String,) = sqlx::query_as("PRAGMA integrity_check")
            .fetch_all(&mut db)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .pop()
            .unwrap_or_else(|| panic!("no integrity_check row"));
        assert_eq!(check, "ok");
    }
}

fn app_of(server: &ServerProcess) -> Remote {
    Remote::new(&server.address)
}

crate::backend_tests!(every_acknowledged_write_survives_sigkill);
