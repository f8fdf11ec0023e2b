//! PostgreSQL going away and coming back, simulated with a TCP proxy in front of it that
//! the test can cut: nothing else on the machine is disturbed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tessera::{Application, Config};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::backend::TestDatabase;
use crate::helpers::{status_and_json, str_field, unwrap_response};

/// Forwards connections to PostgreSQL while up; while down, drops every connection and
/// refuses new ones, as a crashed or unreachable server would.
struct FlakyProxy {
    address: SocketAddr,
    up: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
}

impl FlakyProxy {
    async fn start(target: String) -> FlakyProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let up = Arc::new(AtomicBool::new(true));
        let (cut, cuts) = watch::channel(0u64);
        let accepting = up.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accepting.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed
                }
                let (target, mut cuts) = (target.clone(), cuts.clone());
                // Only cuts after this connection was accepted concern it.
                cuts.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cuts.changed() => {}
                    }
                });
            }
        });
        FlakyProxy { address, up, cut }
    }

    fn go_down(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    fn come_back(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// host:port of a postgres:// URL, and the URL with them replaced.
fn split_host(url: &str) -> (String, impl Fn(SocketAddr) -> String) {
    let scheme_end = url.find("://").map(|i| i + 3).unwrap_or(0);
    let rest = &url[scheme_end..];
    let host_start = rest.find('@').map(|i| i + 1).unwrap_or(0);
    let host_end = rest[host_start..]
        .find(['/', '?'])
        .map(|i| i + host_start)
        .unwrap_or(rest.len());
    let host = rest[host_start..host_end].to_owned();
    let host = if host.contains(':') {
        host
    } else {
        format!("{host}:5432")
    };
    let (before, after) = (
        url[..scheme_end + host_start].to_owned(),
        url[scheme_end + host_end..].to_owned(),
    );
    (host, move |addr: SocketAddr| {
        format!("{before}{addr}{after}")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tessera_pg_tests),
    ignore = "PostgreSQL tests skipped: set TESSERA_TEST_DATABASE_URL to run them"
)]
async fn when_postgresql_goes_away_requests_get_503_and_service_resumes_by_itself() {
    let database = TestDatabase::create().await;
    let (target, via) = split_host(&database.url);
    let proxy = FlakyProxy::start(target).await;
    let data_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut config = Config::for_tests(data_dir.path());
    config.database_url = Some(via(proxy.address));
    config.db_connect_timeout_secs = 1;
    let app = Application::build(config)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until(std::future::pending()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let post = |path: &str, body: serde_json::Value| {
        let request = client.post(format!("{base}{path}")).json(&body);
        async move { status_and_json(unwrap_response(request.send().await)).await }
    };
    let get = |path: &str, token: Option<&str>| {
        let mut request = client.get(format!("{base}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { status_and_json(unwrap_response(request.send().await)).await }
    };

    let credentials = json!({"username": "eve", "password": "correct-horse"});
    assert_eq!(
        post("/register", credentials.clone()).await.0,
        StatusCode::CREATED
    );
    let (_, login) = post("/login", credentials.clone()).await;
    let token = str_field(&login, "access_token").to_owned();

    proxy.go_down();
    let (status, body) = post("/login", credentials.clone()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")),
        "{body}"
    );
    let (status, body) = post(
        "/register",
        json!({"username": "frank", "password": "correct-horse"}),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let (status, _) = get("/readyz", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, body) = get("/protected", Some(&token)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "token checks need no database: {body}"
    );

    proxy.come_back();
    let back_at = Instant::now();
    loop {
        let (status, body) = post("/login", credentials.clone()).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            back_at.elapsed() < Duration::from_secs(5),
            "service did not resume within 5 s: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(get("/readyz", None).await.0, StatusCode::OK);
    // Writes acknowledged before the outage survived it; a refused one left nothing behind.
    assert_eq!(
        post(
            "/register",
            json!({"username": "frank", "password": "correct-horse"})
        )
        .await
        .0,
        StatusCode::CREATED
    );
    assert_eq!(
        post("/register", credentials).await.0,
        StatusCode::BAD_REQUEST
    );
}
