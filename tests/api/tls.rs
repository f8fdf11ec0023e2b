//! Native TLS: with `tls.cert_file` and `tls.key_file` the listener speaks HTTPS only, and a
//! certificate replaced on disk is used for new connections without a restart (a broken
//! replacement keeps the previous one). Certificates are made here with rcgen: a test CA
//! the client trusts, and leaves it issues.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SerialNumber,
};
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};

use crate::helpers::spawn_app_with;

struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A leaf certificate for `localhost` and its key, both PEM, and the certificate's DER.
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl TestCa {
    fn new() -> Self {
        let mut params =
            CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| panic!("{e}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "tessera test CA");
        let key = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        let issuer = CertifiedIssuer::self_signed(params, key).unwrap_or_else(|e| panic!("{e}"));
        Self { issuer }
    }

    fn leaf(&self, serial: u64) -> Leaf {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned()]).unwrap_or_else(|e| panic!("{e}"));
        params
            .distinguished_name
            .push(DnType::CommonName, format!("tessera leaf {serial}"));
        params.serial_number = Some(SerialNumber::from(serial));
        let key = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        let cert = params
            .signed_by(&key, &self.issuer)
            .unwrap_or_else(|e| panic!("{e}"));
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// A TLS client that trusts this CA only.
    fn connector(&self) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.issuer.der().to_vec()))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| panic!("{e}"))
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        // Every connection a full handshake: a resumed session shows the certificate of the
        // session it resumes, not the one the server has now.
        config.resumption = rustls::client::Resumption::disabled();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
}

fn install(dir: &Path, leaf: &Leaf) {
    std::fs::write(dir.join("key.pem"), &leaf.key_pem).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("cert.pem"), &leaf.cert_pem).unwrap_or_else(|e| panic!("{e}"));
}

/// One HTTPS exchange (`Connection: close`): the status, the JSON body and the DER of the
/// certificate the server presented.
async fn https(
    connector: &tokio_rustls::TlsConnector,
    address: &str,
    request: (&str, &str, Option<&str>, Option<&Value>),
) -> (u16, Value, Vec<u8>) {
    let (status, _, body, presented) = https_with_head(connector, address, request).await;
    (status, body, presented)
}

/// [`https`], with the answer's head (status line and headers, lower-case names as sent).
async fn https_with_head(
    connector: &tokio_rustls::TlsConnector,
    address: &str,
    request: (&str, &str, Option<&str>, Option<&Value>),
) -> (u16, String, Value, Vec<u8>) {
    let (method, path, token, body) = request;
    let tcp = tokio::net::TcpStream::connect(address)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let name = ServerName::try_from("localhost").unwrap_or_else(|e| panic!("{e}"));
    let mut stream = connector
        .connect(name, tcp)
        .await
        .unwrap_or_else(|e| panic!("TLS handshake: {e}"));
    let presented = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|cert| cert.as_ref().to_vec())
        .unwrap_or_default();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         {auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let text = crate::helpers::raw_http_exchange(&mut stream, &request).await;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_default();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer over TLS: {text}"));
    (
        status,
        head.to_owned(),
        serde_json::from_str(body).unwrap_or(Value::Null),
        presented,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_the_api_refuses_plain_http_and_picks_up_a_renewed_certificate() {
    let files = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ca = TestCa::new();
    let first = ca.leaf(1);
    install(files.path(), &first);
    let cert_file = files.path().join("cert.pem");
    let key_file = files.path().join("key.pem");
    let app = spawn_app_with(|c| {
        c.tls.cert_file = Some(cert_file.clone());
        c.tls.key_file = Some(key_file.clone());
        c.tls.reload_interval_ms = 100;
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let client = ca.connector();

    let credentials = json!({"username": "tina", "password": "correct-horse"});
    let (status, body, presented) = https(
        &client,
        &address,
        ("POST", "/register", None, Some(&credentials)),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(presented, first.der, "the configured certificate");
    let (status, login, _) = https(
        &client,
        &address,
        ("POST", "/login", None, Some(&credentials)),
    )
    .await;
    assert_eq!(status, 200, "{login}");
    let token = login["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, body, _) =
        https(&client, &address, ("GET", "/protected", Some(&token), None)).await;
    assert_eq!((status, &body["logged_in_as"]), (200, &json!("tina")));

    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = app.client.get(app.url("/healthz")).send().await;
    assert!(
        plain.as_ref().map_or(true, |r| !r.status().is_success()),
        "plain HTTP was answered: {plain:?}"
    );

    // A broken renewal (a certificate without its key) keeps the old certificate.
    let second = ca.leaf(2);
    std::fs::write(&cert_file, &second.cert_pem).unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, _, presented) = https(&client, &address, ("GET", "/healthz", None, None)).await;
    assert_eq!(status, 200);
    assert_eq!(
        presented, first.der,
        "a pair that does not match is not used"
    );

    // The whole pair: new handshakes see the new certificate, without a restart.
    install(files.path(), &second);
    let started = Instant::now();
    loop {
        let (status, _, presented) =
            https(&client, &address, ("GET", "/healthz", None, None)).await;
        assert_eq!(status, 200);
        if presented == second.der {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the renewed certificate was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_listener_speaks_https_too_with_the_security_headers() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ca = TestCa::new();
    install(dir.path(), &ca.leaf(7));
    let mut config = tessera::Config::for_tests(dir.path());
    config.tls.cert_file = Some(dir.path().join("cert.pem"));
    config.tls.key_file = Some(dir.path().join("key.pem"));
    config.metrics_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    config.hsts = true;
    let app = tessera::Application::build(config)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let metrics = app
        .metrics_addr()
        .unwrap_or_else(|| panic!("no metrics listener"))
        .to_string();
    tokio::spawn(app.run_until(std::future::pending()));
    let (status, head, _, _) =
        https_with_head(&ca.connector(), &metrics, ("GET", "/metrics", None, None)).await;
    assert_eq!(status, 200, "{head}");
    let head = head.to_ascii_lowercase();
    for header in [
        "x-content-type-options: nosniff",
        "referrer-policy: no-referrer",
        "strict-transport-security: max-age=31536000; includesubdomains",
    ] {
        assert!(head.contains(header), "{header}: {head}");
    }
}

#[tokio::test]
async fn a_certificate_without_its_key_stops_the_start() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut config = tessera::Config::for_tests(dir.path());
    config.tls.cert_file = Some(dir.path().join("cert.pem"));
    let error = match tessera::Application::build(config).await {
        Ok(_) => panic!("started with half a TLS configuration"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        error.contains("tls.cert_file and tls.key_file go together"),
        "{error}"
    );
}
