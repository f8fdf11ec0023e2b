//! Idle connections cannot starve a server of file descriptors.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use crate::process::ServerProcess;

/// The issue's attack: about 1,000 idle connections from one address (here 1,050, just
/// over the limit) against a server with the common 1,024 open-files limit (here a hard
/// limit too, so the server cannot raise it). Legitimate requests from another address
/// must all be served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legitimate_requests_are_served_while_1000_idle_connections_are_held() {
    const IDLE: usize = 1_050;
    // This process holds the attacker's sockets.
    tessera::http::connections::raise_open_files_limit();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = ServerProcess::start_with(dir.path(), &[], Some(1024));
    let address = server.address.trim_start_matches("http://").to_owned();

    let mut idle = Vec::new();
    for _ in 0..IDLE {
        match tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(&address)).await {
            Ok(Ok(stream)) => idle.push(stream),
            _ => break,
        }
    }
    assert_eq!(
        idle.len(),
        IDLE,
        "the attacker's connections were not all made"
    );

    // Another client address on loopback: the attacker's per-address cap is not theirs.
    let client = reqwest::Client::builder()
        .local_address(IpAddr::from([127, 0, 0, 2]))
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let mut served = 0;
    let attempts = 20;
    for _ in 0..attempts {
        let ok = client
            .get(server.url("/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        served += usize::from(ok);
    }
    println!(
        "{served} of {attempts} legitimate requests served in {:?} while {} idle connections were held",
        started.elapsed(),
        idle.len()
    );
    assert_eq!(served, attempts, "{}", server.log_text());
    drop(idle);
}

async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    match tokio::time::timeout(wait, stream.read_to_end(&mut received)).await {
        Ok(_) => Some(String::from_utf8_lossy(&received).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test]
async fn a_connection_over_the_per_address_cap_gets_503_and_is_closed() {
    let app = crate::helpers::spawn_app_with(|c| {
        c.max_connections_per_ip = 2;
        c.hsts = true;
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(
            TcpStream::connect(&address)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    // Give the server time to accept the two before the third arrives.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(&address)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let answer = read_until_closed(&mut third, Duration::from_secs(2))
        .await
        .unwrap_or_else(|| panic!("the connection over the cap stayed open"));
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains(r#""error":"overloaded""#), "{answer}");
    // Written before HTTP is parsed, it still carries the headers every answer has.
    for header in [
        "x-content-type-options: nosniff",
        "content-security-policy: default-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        "referrer-policy: no-referrer",
        "strict-transport-security: max-age=31536000; includeSubDomains",
    ] {
        assert!(answer.contains(header), "{header}: {answer}");
    }
    drop(held);
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_first_byte_deadline() {
    let app = crate::helpers::spawn_app_with(|c| c.first_byte_timeout_ms = 300).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut silent = TcpStream::connect(&address)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    assert!(
        read_until_closed(&mut silent, Duration::from_secs(3))
            .await
            .is_some(),
        "a silent connection stayed open"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    // A client that speaks at once is served as before.
    assert_eq!(app.get("/healthz").await.status(), reqwest::StatusCode::OK);
}

#[tokio::test]
async fn a_silent_connection_does_not_hold_up_shutdown() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let app = tessera::Application::build(tessera::Config::for_tests(dir.path()))
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let address = app.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let _silent = TcpStream::connect(address)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let _ = stop.send(());
    let finished = tokio::time::timeout(Duration::from_secs(3), server).await;
    assert!(finished.is_ok(), "shutdown waited for a silent connection");
    assert!(started.elapsed() < Duration::from_secs(2));
}
