//! HTTPS termination end to end: a test CA made with rcgen, the real server
//! on loopback, and real clients (rmcp's MCP client and reqwest over
//! HTTP/1.1 and HTTP/2, tokio-rustls for handshake-level checks, raw
//! sockets for exact bytes). Covers certificate reload without restart,
//! broken replacements, TLS version floor, startup errors, the HTTP
//! redirect/ACME listener and trusted `X-Forwarded-*` headers.
//!
//! The TLS 1.1 ClientHello below is built by hand from RFC 4346 §7.4.1.2 /
//! RFC 5246 §7.4.1.2 (rustls cannot speak TLS 1.1, which is the point).

use crate::support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use adb_mcp::app::AppError;
use adb_mcp::config::tls::TlsVersion;
use adb_mcp::config::{Config, SessionMode};
use adb_mcp::http::Server;
use adb_mcp::http::tls::CertStore;
use adb_mcp::mcp::ServerState;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

// ------------------------------------------------------------------ test PKI

/// A throwaway CA that issues leaf certificates for `localhost`.
struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    cert: CertificateDer<'static>,
    cert_pem: String,
}

/// One leaf certificate with its key, as PEM files would hold them.
struct Leaf {
    der: CertificateDer<'static>,
    chain_pem: String,
    key_pem: String,
}

impl TestCa {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA cert");
        Self {
            issuer: Issuer::new(params, key),
            cert: cert.der().clone(),
            cert_pem: cert.pem(),
        }
    }

    fn leaf(&self, serial: u64) -> Leaf {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("params");
        params.serial_number = Some(serial.into());
        params
            .distinguished_name
            .push(DnType::CommonName, format!("adb-mcp test leaf {serial}"));
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf cert");
        Leaf {
            der: cert.der().clone(),
            // certbot's fullchain.pem: the leaf, then the issuer.
            chain_pem: format!("{}{}", cert.pem(), self.cert_pem),
            key_pem: key.serialize_pem(),
        }
    }

    fn reqwest_cert(&self) -> reqwest::Certificate {
        reqwest::Certificate::from_der(&self.cert).expect("CA for reqwest")
    }

    fn rustls_client(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert.clone()).expect("root");
        rustls::ClientConfig::builder_with_provider(adb_mcp::http::tls::provider())
            .with_protocol_versions(versions)
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth()
    }
}

/// Replaces a file the way certbot and `mv` do: the new content appears at
/// once, never half written.
fn write_atomic(path: &Path, content: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content).expect("write tmp");
    std::fs::rename(&tmp, path).expect("rename");
}

struct TlsFiles {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
}

impl TlsFiles {
    fn new(leaf: &Leaf) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = Self {
            cert: dir.path().join("fullchain.pem"),
            key: dir.path().join("privkey.pem"),
            _dir: dir,
        };
        files.install(leaf);
        files
    }

    fn install(&self, leaf: &Leaf) {
        write_atomic(&self.key, &leaf.key_pem);
        write_atomic(&self.cert, &leaf.chain_pem);
    }
}

// ------------------------------------------------------------------ server

fn tls_config(files: &TlsFiles) -> Config {
    let mut config = support::test_config(SessionMode::Stateless);
    let tls = &mut config.server.tls;
    tls.enabled = true;
    tls.cert_file = Some(files.cert.clone());
    tls.key_file = Some(files.key.clone());
    tls.reload_interval_secs = 1;
    config
}

struct HttpsServer {
    addr: SocketAddr,
    redirect: Option<SocketAddr>,
    certs: Arc<CertStore>,
    state: Arc<ServerState>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), AppError>>>,
    /// Request log lines are read back by the tests.
    _logs: support::logs::Capture,
}

impl HttpsServer {
    async fn start(config: Config) -> Self {
        let logs = support::logs::capture();
        let app = support::http_app(&config, false).await;
        let state = Arc::clone(app.state());
        let server = app.bind().await.expect("bind");
        assert_eq!(server.scheme(), "https");
        let addr = server.local_addr().expect("addr");
        let redirect = server.redirect_addr();
        let certs = server.tls_certificates().expect("TLS is on");
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            redirect,
            certs,
            state,
            shutdown: Some(tx),
            handle: Some(handle),
            _logs: logs,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    fn client(&self, ca: &TestCa, http1_only: bool) -> reqwest::Client {
        let mut b = reqwest::Client::builder()
            .tls_certs_only([ca.reqwest_cert()])
            .tls_info(true)
            .resolve("localhost", self.addr)
            .no_proxy()
            .timeout(Duration::from_secs(30));
        if http1_only {
            b = b.http1_only();
        }
        b.build().expect("client")
    }

    async fn mcp_client(
        &self,
        ca: &TestCa,
        http1_only: bool,
    ) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
        let transport = StreamableHttpClientTransport::with_client(
            self.client(ca, http1_only),
            StreamableHttpClientTransportConfig::with_uri(self.url("/mcp")),
        );
        ().serve(transport).await.expect("initialize over HTTPS")
    }

    /// The leaf certificate a brand-new TLS connection is given.
    async fn fresh_leaf(&self, ca: &TestCa) -> CertificateDer<'static> {
        let (tls, _) = handshake(self.addr, ca, &[&rustls::version::TLS13])
            .await
            .expect("handshake");
        peer_leaf(&tls)
    }

    /// Waits (bounded) until new connections get `want`.
    async fn wait_for_leaf(&self, ca: &TestCa, want: &CertificateDer<'_>) {
        for _ in 0..200 {
            if self.fresh_leaf(ca).await.as_ref() == want.as_ref() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server never switched to the new certificate");
    }

    async fn stopped(&mut self) -> Result<(), AppError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.handle.take() {
            Some(h) => h.await.expect("server task"),
            None => Ok(()),
        }
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

type ClientTls = tokio_rustls::client::TlsStream<TcpStream>;

async fn handshake(
    addr: SocketAddr,
    ca: &TestCa,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> std::io::Result<(ClientTls, Option<Vec<u8>>)> {
    let mut config = ca.rustls_client(versions);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").expect("name");
    let tls = tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp))
        .await
        .map_err(|_| std::io::Error::other("handshake timed out"))??;
    let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    Ok((tls, alpn))
}

fn peer_leaf(tls: &ClientTls) -> CertificateDer<'static> {
    tls.get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .expect("server sent a certificate")
        .clone()
        .into_owned()
}

fn response_leaf(r: &reqwest::Response) -> Vec<u8> {
    r.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .expect("tls info")
        .to_vec()
}

/// One HTTP/1.1 exchange on a fresh plain TCP connection, bytes exactly as given.
async fn raw_http(addr: SocketAddr, request: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(request.as_bytes()).await.expect("send");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut out))
        .await
        .expect("response in time")
        .expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

fn header_of<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn status_of(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

// ------------------------------------------------------------------ log capture

/// The captured log line for a request to `path` (paths are unique per test).
async fn log_line_for(path: &str) -> String {
    let needle = format!("path=\"{path}\"");
    for _ in 0..100 {
        let text = support::logs::text();
        if let Some(line) = text.lines().find(|l| l.contains(&needle)) {
            return line.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no log line for {path}");
}

// ------------------------------------------------------------------ tests

/// A real MCP client calls tools over HTTPS, on HTTP/1.1 and on HTTP/2
/// (negotiated with ALPN), trusting only the test CA.
#[tokio::test]
async fn mcp_over_https_on_http1_and_http2() {
    let ca = TestCa::new("adb-mcp test CA h1h2");
    let leaf = ca.leaf(1);
    let files = TlsFiles::new(&leaf);
    let server = HttpsServer::start(tls_config(&files)).await;

    for (http1_only, want) in [
        (true, reqwest::Version::HTTP_11),
        (false, reqwest::Version::HTTP_2),
    ] {
        let health = server
            .client(&ca, http1_only)
            .get(server.url("/healthz"))
            .send()
            .await
            .expect("healthz over TLS");
        assert_eq!(health.status(), 200);
        assert_eq!(health.version(), want);
        assert_eq!(response_leaf(&health), leaf.der.to_vec());

        let client = server.mcp_client(&ca, http1_only).await;
        let tools = client.list_all_tools().await.expect("tools/list");
        assert_eq!(tools.len(), 5);
        let r = support::call(
            &client,
            "run_query",
            json!({"sql": "SELECT count(*) AS n FROM regions"}),
        )
        .await;
        assert!(!support::is_error(&r), "{r:?}");
        assert_eq!(support::structured(&r)["rows"], json!([[5]]));
        client.cancel().await.expect("close");
    }

    // ALPN offers both protocols; an HTTP/1.1-only client gets HTTP/1.1.
    let (_, alpn) = handshake(server.addr, &ca, &[&rustls::version::TLS13])
        .await
        .expect("handshake");
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));

    // A client that does not trust the test CA is refused.
    let stranger = reqwest::Client::builder()
        .resolve("localhost", server.addr)
        .no_proxy()
        .build()
        .expect("client");
    assert!(stranger.get(server.url("/healthz")).send().await.is_err());
}

/// A renewed certificate on disk is used for new connections without a
/// restart, while a request already in flight on an old connection (and
/// further requests on that kept-alive connection) complete normally.
#[tokio::test]
async fn certificate_swap_without_restart_keeps_in_flight_requests() {
    let ca = TestCa::new("adb-mcp test CA swap");
    let old = ca.leaf(1001);
    let new = ca.leaf(1002);
    let files = TlsFiles::new(&old);
    let server = HttpsServer::start(tls_config(&files)).await;
    assert_eq!(server.fresh_leaf(&ca).await, old.der);

    // A keep-alive connection made with the old certificate.
    let pooled = server.client(&ca, true);
    let r = pooled
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(response_leaf(&r), old.der.to_vec());

    // A request in flight: headers and half of the body sent.
    let (mut conn, _) = handshake(server.addr, &ca, &[&rustls::version::TLS13])
        .await
        .expect("handshake");
    assert_eq!(peer_leaf(&conn), old.der);
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "run_query", "arguments": {"sql": "SELECT count(*) AS n FROM regions"}}})
    .to_string();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: localhost:{}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        server.addr.port(),
        body.len()
    );
    let (first, rest) = body.split_at(body.len() / 2);
    conn.write_all(head.as_bytes()).await.expect("head");
    conn.write_all(first.as_bytes()).await.expect("first half");
    conn.flush().await.expect("flush");

    files.install(&new);
    server.wait_for_leaf(&ca, &new.der).await;
    assert_eq!(server.certs.chain()[0], new.der);
    assert_eq!(server.certs.last_error(), None);

    // The in-flight request finishes on its old connection.
    conn.write_all(rest.as_bytes()).await.expect("second half");
    conn.flush().await.expect("flush");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), conn.read_to_end(&mut response))
        .await
        .expect("response in time")
        .expect("read response");
    let response = String::from_utf8_lossy(&response);
    assert_eq!(status_of(&response), 200, "{response}");
    assert!(response.contains("\"rows\":[[5]]"), "{response}");

    // The kept-alive connection still works, still on the old certificate.
    let again = pooled
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("healthz again");
    assert_eq!(again.status(), 200);
    assert_eq!(response_leaf(&again), old.der.to_vec());
    // And a new client gets the new one.
    let fresh = server
        .client(&ca, true)
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("fresh healthz");
    assert_eq!(response_leaf(&fresh), new.der.to_vec());
    assert_eq!(server.state.in_flight_calls(), 0);
}

/// A broken replacement (key of another certificate, then a damaged
/// certificate) keeps the old certificate in service and says why; a good
/// pair afterwards is picked up.
#[tokio::test]
async fn broken_replacement_keeps_the_old_certificate() {
    let ca = TestCa::new("adb-mcp test CA broken");
    let old = ca.leaf(2001);
    let new = ca.leaf(2002);
    let files = TlsFiles::new(&old);
    let server = HttpsServer::start(tls_config(&files)).await;

    // The new certificate with the old key: a half-done renewal.
    write_atomic(&files.cert, &new.chain_pem);
    let error = wait_for_error(&server.certs, "does not belong").await;
    assert!(error.contains("server.tls.key_file"), "{error}");
    assert!(error.contains(&files.key.display().to_string()), "{error}");
    assert!(error.contains(&files.cert.display().to_string()), "{error}");
    assert_eq!(server.fresh_leaf(&ca).await, old.der);

    // A damaged certificate file.
    write_atomic(
        &files.cert,
        "-----BEGIN CERTIFICATE-----\nthis is not base64 at all!\n-----END CERTIFICATE-----\n",
    );
    let error = wait_for_error(&server.certs, "not valid base64").await;
    assert!(error.starts_with("server.tls.cert_file"), "{error}");
    assert_eq!(server.fresh_leaf(&ca).await, old.der);

    // A key file that holds no key; the message must not quote the file.
    write_atomic(&files.cert, &old.chain_pem);
    write_atomic(&files.key, "garbage-that-is-not-a-key\n");
    let error = wait_for_error(&server.certs, "no private key found").await;
    assert!(error.contains("server.tls.key_file"), "{error}");
    assert!(!error.contains("garbage-that-is-not-a-key"), "{error}");
    assert_eq!(server.fresh_leaf(&ca).await, old.der);

    // Fixed: the new pair goes into service.
    files.install(&new);
    server.wait_for_leaf(&ca, &new.der).await;
    assert_eq!(server.certs.last_error(), None);
}

async fn wait_for_error(store: &CertStore, needle: &str) -> String {
    for _ in 0..200 {
        if let Some(e) = store.last_error()
            && e.contains(needle)
        {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no reload error containing {needle:?}; last: {:?}",
        store.last_error()
    );
}

/// TLS 1.2 and 1.3 are accepted, TLS 1.1 is refused with a
/// `protocol_version` alert; with min_version = TLSv1.3, TLS 1.2 is refused.
#[tokio::test]
async fn tls_version_floor() {
    let ca = TestCa::new("adb-mcp test CA versions");
    let leaf = ca.leaf(3001);
    let files = TlsFiles::new(&leaf);
    let server = HttpsServer::start(tls_config(&files)).await;

    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let (tls, _) = handshake(server.addr, &ca, &[version])
            .await
            .expect("handshake");
        assert_eq!(
            tls.get_ref().1.protocol_version(),
            Some(version.version),
            "negotiated version"
        );
    }

    // The same hand-made ClientHello, differing only in the version: TLS 1.2
    // gets a ServerHello (so the bytes are a valid hello), TLS 1.1 an alert.
    let reply12 = raw_client_hello(server.addr, [3, 3]).await;
    assert_eq!(
        reply12.first(),
        Some(&0x16),
        "handshake record: {reply12:02x?}"
    );
    assert_eq!(reply12.get(5), Some(&0x02), "ServerHello: {reply12:02x?}");
    let reply11 = raw_client_hello(server.addr, [3, 2]).await;
    assert_eq!(
        reply11.get(..7).map(|b| (b[0], b[5], b[6])),
        Some((0x15, 2, 70)),
        "fatal protocol_version alert expected, got {reply11:02x?}"
    );

    let mut config = tls_config(&files);
    config.server.tls.min_version = TlsVersion::Tls13;
    let strict = HttpsServer::start(config).await;
    assert!(
        handshake(strict.addr, &ca, &[&rustls::version::TLS12])
            .await
            .is_err(),
        "TLS 1.2 must be refused when min_version = TLSv1.3"
    );
    handshake(strict.addr, &ca, &[&rustls::version::TLS13])
        .await
        .expect("TLS 1.3 still works");
}

/// Sends a ClientHello with `legacy_version` set to `version` and returns
/// the first bytes the server answers with.
async fn raw_client_hello(addr: SocketAddr, version: [u8; 2]) -> Vec<u8> {
    fn ext(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&u16::try_from(data.len()).expect("len").to_be_bytes());
        out.extend_from_slice(data);
    }
    let mut exts = Vec::new();
    // server_name: localhost
    let name = b"localhost";
    let mut sni = Vec::new();
    sni.extend_from_slice(&u16::try_from(name.len() + 3).expect("len").to_be_bytes());
    sni.push(0);
    sni.extend_from_slice(&u16::try_from(name.len()).expect("len").to_be_bytes());
    sni.extend_from_slice(name);
    ext(&mut exts, 0x0000, &sni);
    // supported_groups: x25519, secp256r1
    ext(&mut exts, 0x000a, &[0, 4, 0x00, 0x1d, 0x00, 0x17]);
    // ec_point_formats: uncompressed
    ext(&mut exts, 0x000b, &[1, 0]);
    // signature_algorithms: ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, rsa_pkcs1_sha256
    ext(
        &mut exts,
        0x000d,
        &[0, 6, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01],
    );
    // extended_master_secret
    ext(&mut exts, 0x0017, &[]);
    // renegotiation_info (empty)
    ext(&mut exts, 0xff01, &[0]);

    let mut body = Vec::new();
    body.extend_from_slice(&version);
    body.extend_from_slice(&[0x42; 32]); // random
    body.push(0); // session id
    // ECDHE-ECDSA AES-GCM (TLS 1.2), ECDHE-ECDSA AES-CBC-SHA (TLS 1.0/1.1)
    let suites: [u16; 4] = [0xc02b, 0xc02c, 0xc009, 0xc00a];
    body.extend_from_slice(&u16::try_from(suites.len() * 2).expect("len").to_be_bytes());
    for s in suites {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // compression: null
    body.extend_from_slice(&u16::try_from(exts.len()).expect("len").to_be_bytes());
    body.extend_from_slice(&exts);

    let mut hs = vec![0x01];
    let len = u32::try_from(body.len()).expect("len").to_be_bytes();
    hs.extend_from_slice(&len[1..]);
    hs.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&u16::try_from(hs.len()).expect("len").to_be_bytes());
    record.extend_from_slice(&hs);

    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(&record).await.expect("hello");
    let mut buf = vec![0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf))
        .await
        .expect("answer in time")
        .expect("read");
    buf.truncate(n);
    buf
}

/// Unreadable, swapped, empty or mismatched files stop the server at
/// startup with the config key and the file named — and no key material.
#[tokio::test]
async fn startup_errors_name_the_key_and_the_file() {
    let ca = TestCa::new("adb-mcp test CA startup");
    let a = ca.leaf(4001);
    let b = ca.leaf(4002);
    let files = TlsFiles::new(&a);
    let dir = files.cert.parent().expect("dir").to_owned();
    let state = || {
        let backend = adb_mcp::db::open(&support::test_config(SessionMode::Stateless)).expect("db");
        ServerState::new(backend, Default::default(), Default::default())
    };
    let bind_error = |config: Config| {
        let state = state();
        async move {
            match Server::bind(&config, state, None).await {
                Ok(_) => panic!("bind must fail"),
                Err(e) => e.to_string(),
            }
        }
    };

    let mut c = tls_config(&files);
    c.server.tls.cert_file = Some(dir.join("missing.pem"));
    let e = bind_error(c).await;
    assert!(
        e.contains("server.tls.cert_file") && e.contains("missing.pem"),
        "{e}"
    );
    assert!(e.contains("cannot read"), "{e}");

    let swapped = dir.join("swapped-key.pem");
    std::fs::write(&swapped, &a.chain_pem).expect("write");
    let mut c = tls_config(&files);
    c.server.tls.key_file = Some(swapped.clone());
    let e = bind_error(c).await;
    assert!(
        e.contains("server.tls.key_file") && e.contains("swapped-key.pem"),
        "{e}"
    );
    assert!(e.contains("swapped?"), "{e}");

    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "").expect("write");
    let mut c = tls_config(&files);
    c.server.tls.cert_file = Some(empty);
    let e = bind_error(c).await;
    assert!(
        e.contains("server.tls.cert_file") && e.contains("no certificate found"),
        "{e}"
    );

    let other_key = dir.join("other-key.pem");
    std::fs::write(&other_key, &b.key_pem).expect("write");
    let mut c = tls_config(&files);
    c.server.tls.key_file = Some(other_key);
    let e = bind_error(c).await;
    assert!(e.contains("does not belong"), "{e}");
    assert!(
        e.contains("other-key.pem") && e.contains("fullchain.pem"),
        "{e}"
    );
    let key_body: String = b.key_pem.lines().nth(1).unwrap_or("x").to_owned();
    assert!(!e.contains(&key_body), "key material in the message: {e}");

    // The same through the binary: a clear one-line error, exit status 1.
    let cfg = dir.join("adb-mcp.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nbind = \"127.0.0.1:0\"\n[server.tls]\nenabled = true\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            dir.join("nope.pem").display(),
            files.key.display()
        ),
    )
    .expect("config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_adb-mcp"))
        .arg("--config")
        .arg(&cfg)
        .arg("serve")
        .arg("--db")
        .arg(support::demo_db())
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("server.tls.cert_file") && stderr.contains("nope.pem"),
        "{stderr}"
    );
}

/// SIGTERM-style shutdown over TLS: a running call finishes, then the
/// server stops and refuses new connections.
#[tokio::test]
async fn graceful_shutdown_drains_tls_connections() {
    let ca = TestCa::new("adb-mcp test CA shutdown");
    let leaf = ca.leaf(5001);
    let files = TlsFiles::new(&leaf);
    let mut server = HttpsServer::start(tls_config(&files)).await;
    let client = server.mcp_client(&ca, false).await;
    let sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) SELECT count(*) AS n FROM c";
    let call = tokio::spawn(async move {
        client
            .call_tool(
                CallToolRequestParams::new("run_query")
                    .with_arguments(support::args(json!({"sql": sql}))),
            )
            .await
    });
    for _ in 0..200 {
        if server.state.in_flight_calls() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    if let Some(tx) = server.shutdown.take() {
        let _ = tx.send(());
    }
    let result = call
        .await
        .expect("join")
        .expect("the in-flight call completes");
    assert_eq!(result.is_error, Some(false), "{result:?}");
    assert_eq!(
        result.structured_content.map(|s| s["rows"].clone()),
        Some(json!([[2_000_000]]))
    );
    tokio::time::timeout(Duration::from_secs(15), server.stopped())
        .await
        .expect("server stops")
        .expect("clean stop");
    assert!(TcpStream::connect(server.addr).await.is_err());
}

/// The HTTP listener redirects to HTTPS with path and query kept, serves
/// ACME challenge files from the webroot, and refuses anything that is not
/// a plain token.
#[tokio::test]
async fn redirect_listener_and_acme_challenges() {
    let ca = TestCa::new("adb-mcp test CA redirect");
    let leaf = ca.leaf(6001);
    let files = TlsFiles::new(&leaf);
    let webroot = tempfile::tempdir().expect("webroot");
    let challenges = webroot.path().join(".well-known/acme-challenge");
    std::fs::create_dir_all(&challenges).expect("mkdir");
    std::fs::write(challenges.join("tok_ABC-123"), "tok_ABC-123.thumbprint").expect("write");
    std::fs::write(webroot.path().join("secret.txt"), "do not serve").expect("write");
    #[cfg(unix)]
    std::os::unix::fs::symlink(webroot.path().join("secret.txt"), challenges.join("linked"))
        .expect("symlink");

    let mut config = tls_config(&files);
    config.server.tls.http_redirect_bind = Some("127.0.0.1:0".into());
    config.server.tls.acme_webroot = Some(webroot.path().to_owned());
    let server = HttpsServer::start(config).await;
    let http = server.redirect.expect("redirect listener");
    let port = server.addr.port();

    let r = raw_http(
        http,
        "GET /mcp/x?a=1&b=two HTTP/1.1\r\nHost: mcp.example.com\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&r), 301, "{r}");
    assert_eq!(
        header_of(&r, "location"),
        Some(format!("https://mcp.example.com:{port}/mcp/x?a=1&b=two").as_str())
    );
    let r = raw_http(
        http,
        "POST /mcp HTTP/1.1\r\nHost: mcp.example.com:80\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&r), 308, "{r}");
    assert_eq!(
        header_of(&r, "location"),
        Some(format!("https://mcp.example.com:{port}/mcp").as_str())
    );
    let r = raw_http(http, "GET / HTTP/1.0\r\n\r\n").await;
    assert_eq!(status_of(&r), 400, "no Host: {r}");

    let r = raw_http(
        http,
        "GET /.well-known/acme-challenge/tok_ABC-123 HTTP/1.1\r\nHost: mcp.example.com\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&r), 200, "{r}");
    assert!(r.ends_with("\r\n\r\ntok_ABC-123.thumbprint"), "{r}");

    for path in [
        "/.well-known/acme-challenge/missing",
        "/.well-known/acme-challenge/..%2F..%2Fsecret.txt",
        "/.well-known/acme-challenge/%2e%2e",
        "/.well-known/acme-challenge/linked",
        "/.well-known/acme-challenge/../../secret.txt",
        "/.well-known/acme-challenge/..",
    ] {
        let r = raw_http(
            http,
            &format!("GET {path} HTTP/1.1\r\nHost: mcp.example.com\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert!(!r.contains("do not serve"), "{path} leaked a file: {r}");
        assert_ne!(status_of(&r), 200, "{path}: {r}");
    }

    // The redirect port can be set explicitly (public 443 in front of a
    // different local port); 443 is left out of the URL.
    let mut config = tls_config(&files);
    config.server.tls.http_redirect_bind = Some("127.0.0.1:0".into());
    config.server.tls.redirect_https_port = Some(443);
    let other = HttpsServer::start(config).await;
    let r = raw_http(
        other.redirect.expect("redirect listener"),
        "GET /.well-known/acme-challenge/tok_ABC-123 HTTP/1.1\r\nHost: mcp.example.com\r\nConnection: close\r\n\r\n",
    )
    .await;
    // No webroot configured: challenges are redirected like everything else.
    assert_eq!(status_of(&r), 301, "{r}");
    assert_eq!(
        header_of(&r, "location"),
        Some("https://mcp.example.com/.well-known/acme-challenge/tok_ABC-123")
    );
}

/// `X-Forwarded-*` from a trusted proxy decide the logged client and the
/// redirect host; from anyone else they are ignored.
#[tokio::test]
async fn forwarded_headers_only_from_trusted_proxies() {
    let ca = TestCa::new("adb-mcp test CA forwarded");
    let leaf = ca.leaf(7001);
    let files = TlsFiles::new(&leaf);
    let spoof = "X-Forwarded-For: 198.51.100.9\r\nX-Forwarded-Host: public.example.com\r\nX-Forwarded-Proto: https\r\n";

    for (trusted, marker) in [(true, "trusted"), (false, "untrusted")] {
        let mut config = tls_config(&files);
        config.server.tls.http_redirect_bind = Some("127.0.0.1:0".into());
        config.server.tls.redirect_https_port = Some(443);
        if trusted {
            config.server.trusted_proxies = vec!["127.0.0.1".into(), "::1".into()];
        }
        let server = HttpsServer::start(config).await;

        let r = raw_http(
            server.redirect.expect("redirect"),
            &format!("GET /a?b=c HTTP/1.1\r\nHost: internal.local:8080\r\n{spoof}Connection: close\r\n\r\n"),
        )
        .await;
        let want = if trusted {
            "https://public.example.com/a?b=c"
        } else {
            "https://internal.local/a?b=c"
        };
        assert_eq!(header_of(&r, "location"), Some(want), "{r}");

        // Over HTTPS, to a path unique to this case; the log names the client.
        let path = format!("/forwarded-probe-{marker}");
        let r = server
            .client(&ca, true)
            .get(server.url(&path))
            .header("x-forwarded-for", "198.51.100.9")
            .header("x-forwarded-proto", "http")
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 404);
        let line = log_line_for(&path).await;
        if trusted {
            assert!(line.contains("client=198.51.100.9"), "{line}");
            assert!(line.contains("scheme=\"http\""), "{line}");
        } else {
            assert!(line.contains("client=127.0.0.1"), "{line}");
            assert!(line.contains("scheme=\"https\""), "{line}");
            assert!(!line.contains("198.51.100.9"), "{line}");
        }
    }
}
