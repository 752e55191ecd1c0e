//! Direct backend (ADB over mTLS with the wallet, `oracledb` driver).
//!
//! Tiers, in this file:
//! 1. Offline: alias/descriptor resolution from fixture `tnsnames.ora` files
//!    shaped like real ADB wallets (`tests/fixtures/direct/`), wallet
//!    preflight errors, and row→JSON conversion through a *fake* cell
//!    source (a test double of the driver's rows: values are the driver's
//!    own public types, built by hand).
//! 2. Loopback network: a refused port, a listener that accepts and never
//!    answers, and a TLS listener (rustls, test CA from the fixtures) that
//!    records what the real driver sends. The listener is a test double of
//!    an Oracle listener only up to the first TNS packet (CONNECT, type 1,
//!    per the Oracle Net packet header: 2-byte length, 2-byte checksum, type
//!    at byte 4); it then closes.
//! 3. Live: every tool and the privilege check against a real Autonomous Database, only when
//!    ADB_TEST_WALLET_DIR, ADB_TEST_DSN, ADB_TEST_USER, ADB_TEST_PASSWORD and
//!    ADB_TEST_WALLET_PASSWORD are set; otherwise they print "skipped".

use crate::support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use adb_mcp::auth::Principal;
use adb_mcp::config::direct::DirectConfig;
use adb_mcp::config::{BackendKind, Secret};
use adb_mcp::db::direct::convert::{
    BLOB_PREVIEW_BYTES, CellError, CellSource, ColumnKind, LobPreview, TEXT_PREVIEW_CHARS,
    column_kind, convert_cell,
};
use adb_mcp::db::direct::wallet::{self, TnsNames, WalletMode};
use adb_mcp::db::direct::{DirectBackend, Target};
use adb_mcp::db::oracle::{OracleExec, OracleStatement};
use adb_mcp::db::{Backend, CallContext, DbError};
use oracledb::{
    JsonValue, OracleIntervalDS, OracleIntervalYM, OracleNumber, OracleTimestamp, SparseVector,
    Vector, VectorData,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Public test material (see tests/fixtures/direct/generate.sh).
const FIXTURE_WALLET_PASSWORD: &str = "Fixture-Wallet-Pw1";
const TEST_SERVICE: &str = "adbmcp_test_svc.example.com";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/direct")
}

fn base_config(dsn: &str, wallet: Option<&str>) -> DirectConfig {
    DirectConfig {
        wallet_dir: wallet.map(|w| fixtures().join(w)),
        wallet_password: Some(Secret::Inline(FIXTURE_WALLET_PASSWORD.into())),
        dsn: Some(dsn.into()),
        user: Some("APP_RO".into()),
        password: Some(Secret::Inline("not-a-real-password".into())),
        pool_min: 0,
        pool_max: 2,
        connect_timeout_secs: 5,
        ..DirectConfig::default()
    }
}

/// A wallet directory made of a `tns-*` fixture's files plus the CA-only
/// `ewallet.pem` (those fixtures test name resolution, not TLS material).
fn tns_wallet(fixture: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    for entry in std::fs::read_dir(fixtures().join(fixture)).expect("fixture dir") {
        let path = entry.expect("entry").path();
        if let Some(name) = path.file_name() {
            std::fs::copy(&path, dir.path().join(name)).expect("copy");
        }
    }
    std::fs::copy(
        fixtures().join("wallet-ca-only/ewallet.pem"),
        dir.path().join("ewallet.pem"),
    )
    .expect("copy");
    dir
}

fn prepare_err(cfg: &DirectConfig) -> String {
    match wallet::prepare(cfg) {
        Ok(_) => panic!("preflight must fail"),
        Err(e) => e.to_string(),
    }
}

fn ctx(timeout: Duration) -> CallContext {
    CallContext::new(
        "run_query",
        Arc::new(Principal::anonymous()),
        CancellationToken::new(),
        timeout,
    )
}

fn select_one() -> OracleStatement {
    OracleStatement {
        sql: "SELECT 1 FROM dual".into(),
        binds: vec![],
    }
}

fn descriptor(protocol: &str, port: u16) -> String {
    format!(
        "(DESCRIPTION=(ADDRESS=(PROTOCOL={protocol})(HOST=127.0.0.1)(PORT={port}))(CONNECT_DATA=(SERVICE_NAME={TEST_SERVICE})))"
    )
}

// ---------------------------------------------------------------- resolution

#[test]
fn adb_wallet_aliases_resolve_like_the_driver() {
    let dir = fixtures().join("wallet-mtls");
    let names = TnsNames::load(&dir).expect("tnsnames");
    assert_eq!(
        names.names(),
        [
            "mydb_high",
            "mydb_low",
            "mydb_medium",
            "mydb_tp",
            "mydb_tpurgent"
        ]
    );
    for alias in names.names() {
        let ours = Target::from_descriptor(&names.lookup(alias).expect("alias")).expect("parse");
        let suffix = alias.trim_start_matches("mydb_");
        assert_eq!(ours.addresses.len(), 1);
        let a = &ours.addresses[0];
        assert_eq!(
            (a.protocol.as_str(), a.host.as_str(), a.port),
            ("tcps", "adb.eu-frankfurt-1.oraclecloud.com", 1522)
        );
        assert_eq!(
            ours.service_name.as_deref(),
            Some(format!("g0a16906b023bfa_mydb_{suffix}.adb.oraclecloud.com").as_str())
        );
        assert_eq!(
            (ours.retry_count, ours.retry_delay_secs),
            (Some(20), Some(3))
        );
        assert_eq!(ours.ssl_server_dn_match, Some(true));
        // The driver, reading the same (comment-free) file, agrees.
        let driver = oracledb::Config::default()
            .set_config_dir(dir.to_str().expect("utf8"))
            .set_connect_string(alias)
            .expect("driver lookup")
            .get_connect_descriptor();
        let theirs = Target::from_descriptor(&driver).expect("driver descriptor parses");
        assert_eq!(theirs.addresses, ours.addresses, "{alias}");
        assert_eq!(theirs.service_name, ours.service_name, "{alias}");
    }
    // Lookup is case-insensitive, like the driver's.
    assert!(names.lookup("MYDB_LOW").is_ok());
}

#[test]
fn preflight_resolves_alias_and_decrypts_the_wallet_key() {
    let prepared =
        wallet::prepare(&base_config("mydb_low", Some("wallet-mtls"))).expect("preflight");
    let p = &prepared.preflight;
    assert_eq!(
        p.wallet,
        WalletMode::ClientKey {
            certificates: 2,
            encrypted: true
        }
    );
    assert_eq!(
        p.target.endpoint(),
        "tcps://adb.eu-frankfurt-1.oraclecloud.com:1522"
    );
    assert_eq!(
        p.target.service(),
        "service g0a16906b023bfa_mydb_low.adb.oraclecloud.com"
    );
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let shown = p.to_string();
    assert!(
        shown.contains("alias `mydb_low`") && shown.contains("mutual TLS"),
        "{shown}"
    );
    assert!(!shown.contains(FIXTURE_WALLET_PASSWORD), "{shown}");
    // What the driver will actually use agrees with what we show.
    let driver = Target::from_descriptor(&prepared.driver.get_connect_descriptor()).expect("parse");
    assert_eq!(driver.addresses, p.target.addresses);
}

/// Regression: oracledb 26.0.0-beta.5 cannot see an alias written right
/// after a `#` comment line; we resolve it ourselves and say so.
#[test]
fn comment_line_before_alias_regression() {
    let dir = fixtures().join("tns-comment");
    let driver_lookup = |alias: &str| {
        oracledb::Config::default()
            .set_config_dir(dir.to_str().expect("utf8"))
            .set_connect_string(alias)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    // The driver's bug, as observed (if this starts passing, the driver was
    // fixed and the workaround's warning can go).
    let err = driver_lookup("mydb_low").expect_err("driver misses the alias after a comment");
    assert!(err.contains("unable to find"), "{err}");
    assert!(driver_lookup("mydb_high").is_err());
    assert!(
        driver_lookup("mydb_tp").is_ok(),
        "an alias after a blank line is found"
    );

    let wallet_dir = tns_wallet("tns-comment");
    for alias in ["mydb_high", "mydb_low", "mydb_tp"] {
        let cfg = DirectConfig {
            wallet_dir: Some(wallet_dir.path().to_path_buf()),
            ..base_config(alias, None)
        };
        let prepared = wallet::prepare(&cfg).expect("we resolve it");
        assert_eq!(
            prepared.preflight.target.service_name.as_deref(),
            Some(format!("abcdefghijklmno_{alias}.adb.oraclecloud.com").as_str())
        );
        let warned = prepared
            .preflight
            .warnings
            .iter()
            .any(|w| w.contains("comment") && w.contains("resolved the alias itself"));
        assert_eq!(
            warned,
            alias != "mydb_tp",
            "{alias}: {:?}",
            prepared.preflight.warnings
        );
        // The driver is handed the resolved descriptor, not the alias.
        let used = prepared.driver.get_connect_descriptor();
        assert!(
            used.contains(&format!("SERVICE_NAME=abcdefghijklmno_{alias}")),
            "{used}"
        );
    }
}

#[test]
fn legacy_wallet_with_quoted_server_dn() {
    let names = TnsNames::load(&fixtures().join("tns-legacy-dn")).expect("load");
    let t = Target::from_descriptor(&names.lookup("olddb_high").expect("alias")).expect("parse");
    assert_eq!(
        t.ssl_server_cert_dn.as_deref(),
        Some(
            "CN=adwc.uscom-east-1.oraclecloud.com, OU=Oracle BMCS US, O=Oracle Corporation, L=Redwood City, ST=California, C=US"
        )
    );
    assert_eq!(t.addresses[0].host, "adb.uk-london-1.oraclecloud.com");
}

#[test]
fn ifile_includes_are_followed() {
    let names = TnsNames::load(&fixtures().join("tns-ifile")).expect("load");
    let other =
        Target::from_descriptor(&names.lookup("other_tp").expect("included")).expect("parse");
    assert_eq!(other.addresses[0].host, "adb.ap-osaka-1.oraclecloud.com");
    assert!(names.lookup("main_low").is_ok());

    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("tnsnames.ora"), "IFILE = tnsnames.ora\n").expect("write");
    let err = TnsNames::load(dir.path()).err().expect("cycle").to_string();
    assert!(err.contains("cycle"), "{err}");
}

#[test]
fn multiline_entries_comma_aliases_and_proxy_warning() {
    let names = TnsNames::load(&fixtures().join("tns-multiline")).expect("load");
    let a = names.lookup("reports").expect("reports");
    assert_eq!(a, names.lookup("reports_alias").expect("second name"));
    let t = Target::from_descriptor(&a).expect("parse");
    assert_eq!(
        t.addresses
            .iter()
            .map(|a| format!("{a}"))
            .collect::<Vec<_>>(),
        [
            "tcps://db-a.private.example.com:1522",
            "tcps://db-b.private.example.com:2484"
        ]
    );
    assert_eq!(t.service_name.as_deref(), Some("reports.example.com"));
    assert_eq!(t.retry_count, Some(2));

    let prepared = wallet::prepare(&DirectConfig {
        wallet_password: None,
        ..base_config("proxied", Some("tns-multiline"))
    });
    // No ewallet.pem in this directory: TLS needs one when wallet_dir is set.
    let err = prepared.err().expect("no ewallet.pem").to_string();
    assert!(err.contains("ewallet.pem"), "{err}");

    let dir = tns_wallet("tns-multiline");
    let cfg = DirectConfig {
        wallet_dir: Some(dir.path().to_path_buf()),
        ..base_config("proxied", None)
    };
    let p = wallet::prepare(&cfg).expect("preflight").preflight;
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("HTTPS_PROXY proxy.example.com") && w.contains("ORDS backend")),
        "{:?}",
        p.warnings
    );
    assert_eq!(p.wallet, WalletMode::CaOnly { certificates: 1 });
}

#[test]
fn unknown_alias_names_the_file_and_suggests() {
    let err = prepare_err(&base_config("mydb_lo", Some("wallet-mtls")));
    assert!(err.contains("`database.direct.dsn`"), "{err}");
    assert!(err.contains("tnsnames.ora"), "{err}");
    assert!(err.contains("did you mean mydb_low"), "{err}");
    let err = prepare_err(&base_config("nothing_like_it", Some("wallet-mtls")));
    assert!(err.contains("it defines: mydb_high, mydb_low"), "{err}");
}

#[test]
fn easy_connect_and_descriptor_dsns() {
    let cfg = base_config(
        "tcps://adb.eu-frankfurt-1.oraclecloud.com:1522/g0a16906b023bfa_mydb_low.adb.oraclecloud.com",
        Some("wallet-mtls"),
    );
    let p = wallet::prepare(&cfg).expect("easy connect").preflight;
    assert_eq!(
        p.target.endpoint(),
        "tcps://adb.eu-frankfurt-1.oraclecloud.com:1522"
    );
    assert!(p.source.starts_with("Easy Connect"));

    let with_params = format!(
        "{}?retry_count=20&retry_delay=3",
        cfg.dsn.clone().unwrap_or_default()
    );
    let bad = DirectConfig {
        dsn: Some(with_params),
        ..cfg.clone()
    };
    let v = bad.validate().expect_err("validate rejects");
    assert_eq!(v.key, "dsn");
    assert!(prepare_err(&bad).contains("silently ignored"));

    let d = wallet::prepare(&base_config(&descriptor("tcp", 1521), None))
        .expect("descriptor")
        .preflight;
    assert_eq!(d.target.endpoint(), "tcp://127.0.0.1:1521");
    assert_eq!(d.wallet, WalletMode::None);
    assert!(
        d.warnings.iter().any(|w| w.contains("not encrypted")),
        "{:?}",
        d.warnings
    );

    let err = prepare_err(&base_config(
        "(DESCRIPTION=(ADDRESS=(PROTOCOL=tcps)(HOST=h)(PORT=1522)))",
        None,
    ));
    assert!(err.contains("SERVICE_NAME"), "{err}");
}

// ------------------------------------------------------- preflight errors

#[test]
fn missing_wallet_directory() {
    let mut cfg = base_config("mydb_low", None);
    cfg.wallet_dir = Some("/nonexistent/adb-wallet".into());
    let err = prepare_err(&cfg);
    assert!(err.contains("`database.direct.wallet_dir`"), "{err}");
    assert!(
        err.contains("/nonexistent/adb-wallet") && err.contains("does not exist"),
        "{err}"
    );

    cfg.wallet_dir = Some(fixtures().join("ca.pem"));
    assert!(prepare_err(&cfg).contains("is not a directory"));
}

#[test]
fn missing_wallet_files() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = base_config("mydb_low", None);
    cfg.wallet_dir = Some(dir.path().to_path_buf());
    let err = prepare_err(&cfg);
    assert!(
        err.contains("tnsnames.ora") && err.contains("does not exist"),
        "{err}"
    );

    std::fs::copy(
        fixtures().join("wallet-mtls/tnsnames.ora"),
        dir.path().join("tnsnames.ora"),
    )
    .expect("copy");
    let err = prepare_err(&cfg);
    assert!(
        err.contains("ewallet.pem") && err.contains("does not exist"),
        "{err}"
    );

    // A wallet that only has the auto-login / PKCS#12 forms.
    std::fs::write(dir.path().join("cwallet.sso"), b"\xa1\xf8\x4e\x36").expect("write");
    let err = prepare_err(&cfg);
    assert!(
        err.contains("openssl pkcs12 -in ewallet.p12 -out ewallet.pem"),
        "{err}"
    );
}

#[test]
fn wrong_missing_and_legacy_wallet_passwords() {
    let mut cfg = base_config("mydb_low", Some("wallet-mtls"));
    cfg.wallet_password = Some(Secret::Inline("not-the-password".into()));
    let err = prepare_err(&cfg);
    assert!(err.contains("does not decrypt the private key"), "{err}");
    assert!(
        err.contains("wallet_password") && err.contains("ewallet.pem"),
        "{err}"
    );
    assert!(!err.contains("not-the-password"), "{err}");

    cfg.wallet_password = None;
    let err = prepare_err(&cfg);
    assert!(err.contains("`database.direct.wallet_password`"), "{err}");
    assert!(err.contains("encrypted private key"), "{err}");

    cfg.wallet_password = Some(Secret::Env {
        env: "ADB_MCP_TEST_UNSET_WALLET_PW".into(),
    });
    let err = prepare_err(&cfg);
    assert!(
        err.contains("ADB_MCP_TEST_UNSET_WALLET_PW") && err.contains("wallet_password"),
        "{err}"
    );

    let dir = tempfile::tempdir().expect("tmp");
    std::fs::copy(
        fixtures().join("wallet-mtls/tnsnames.ora"),
        dir.path().join("tnsnames.ora"),
    )
    .expect("copy");
    std::fs::copy(
        fixtures().join("wallet-legacy/ewallet.pem"),
        dir.path().join("ewallet.pem"),
    )
    .expect("copy");
    let legacy = DirectConfig {
        wallet_dir: Some(dir.path().to_path_buf()),
        ..base_config("mydb_low", None)
    };
    let err = prepare_err(&legacy);
    assert!(
        err.contains("legacy") && err.contains("PBE-SHA1-3DES"),
        "{err}"
    );
}

#[test]
fn database_password_secret_errors_name_the_key() {
    let mut cfg = base_config("mydb_low", Some("wallet-mtls"));
    cfg.password = Some(Secret::Env {
        env: "ADB_MCP_TEST_UNSET_DB_PW".into(),
    });
    let err = match DirectBackend::open(&cfg) {
        Ok(_) => panic!("must fail"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("database.direct.password") && err.contains("ADB_MCP_TEST_UNSET_DB_PW"),
        "{err}"
    );
}

#[test]
fn check_config_prints_the_resolved_target_without_secrets() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("direct.toml");
    let write = |dsn: &str| {
        std::fs::write(
            &cfg,
            format!(
                "[database]\nbackend = \"direct\"\n[database.direct]\nwallet_dir = {:?}\nwallet_password = {{ env = \"DIRECT_TEST_WALLET_PW\" }}\ndsn = \"{dsn}\"\nuser = \"MCP_RO\"\npassword = \"inline-db-secret\"\n",
                fixtures().join("wallet-mtls")
            ),
        )
        .expect("write");
    };
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_adb-mcp"))
            .args(["--config", cfg.to_str().expect("utf8"), "check-config"])
            .env("DIRECT_TEST_WALLET_PW", FIXTURE_WALLET_PASSWORD)
            .current_dir(dir.path())
            .output()
            .expect("run adb-mcp")
    };
    write("mydb_tp");
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("target:   tcps://adb.eu-frankfurt-1.oraclecloud.com:1522 service g0a16906b023bfa_mydb_tp.adb.oraclecloud.com"),
        "{stdout}"
    );
    assert!(stdout.contains("mutual TLS"), "{stdout}");
    for secret in ["inline-db-secret", FIXTURE_WALLET_PASSWORD] {
        assert!(!stdout.contains(secret), "{stdout}");
    }
    write("mydb_tpp");
    let out = run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("alias `mydb_tpp` is not in") && stderr.contains("did you mean"),
        "{stderr}"
    );
}

// --------------------------------------------------------------- loopback

/// Bound on everything a loopback helper waits for.
const NET_BOUND: Duration = Duration::from_secs(20);

fn expect_unavailable(r: Result<adb_mcp::db::QueryResult, DbError>) -> String {
    match r {
        Err(DbError::Unavailable(m)) => m,
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_port_is_a_clear_error_and_readyz_fails() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    }; // dropped: nothing listens there now
    for (protocol, wallet) in [("tcp", None), ("tcps", Some("wallet-ca-only"))] {
        let backend = DirectBackend::open(&base_config(&descriptor(protocol, port), wallet))
            .expect("preflight is offline and passes");
        let msg = expect_unavailable(backend.fetch(&select_one(), 0, 10, &ctx(NET_BOUND)).await);
        assert!(
            msg.contains(&format!("127.0.0.1:{port} refused the connection")),
            "{msg}"
        );
        let ping = backend.ping().await.expect_err("not ready");
        assert!(ping.to_string().contains("refused"), "{ping}");
    }
}

/// Accepts connections and never answers, until stopped.
struct SilentListener {
    port: u16,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl SilentListener {
    fn start() -> Self {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.set_nonblocking(true).expect("nonblocking");
        let port = l.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let mut held = Vec::new();
            let until = Instant::now() + Duration::from_secs(60);
            while !flag.load(Ordering::Relaxed) && Instant::now() < until {
                if let Ok((s, _)) = l.accept() {
                    held.push(s);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Self {
            port,
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for SilentListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_timeout_acquire_timeout_and_cancel() {
    let silent = SilentListener::start();
    let mut cfg = base_config(&descriptor("tcps", silent.port), Some("wallet-ca-only"));
    cfg.connect_timeout_secs = 1;
    cfg.acquire_timeout_secs = 1;
    cfg.pool_max = 1;
    let backend = DirectBackend::open(&cfg).expect("open");

    // TCP connects, the TLS handshake never completes: bounded by connect_timeout.
    let msg = expect_unavailable(backend.fetch(&select_one(), 0, 10, &ctx(NET_BOUND)).await);
    assert!(msg.contains("could not open a database session"), "{msg}");
    assert!(
        msg.contains(&format!("127.0.0.1:{}", silent.port)) && msg.contains("within 1 s"),
        "{msg}"
    );

    // That attempt still holds the only slot (the driver cannot be
    // interrupted): the next caller is told so instead of waiting forever.
    let msg = expect_unavailable(backend.fetch(&select_one(), 0, 10, &ctx(NET_BOUND)).await);
    assert!(
        msg.contains("no database connection free within 1 s"),
        "{msg}"
    );
    // /readyz does not start another attempt while one is running.
    let ping = backend.ping().await.expect_err("not ready");
    assert!(
        ping.to_string()
            .contains("still connecting to tcps://127.0.0.1"),
        "{ping}"
    );

    // A cancelled caller gets Cancelled, not a connection error.
    let backend2 = DirectBackend::open(&DirectConfig {
        connect_timeout_secs: 30,
        ..cfg.clone()
    })
    .expect("open");
    let c = ctx(NET_BOUND);
    let token = c.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        token.cancel();
    });
    let r = backend2.fetch(&select_one(), 0, 10, &c).await;
    assert!(matches!(r, Err(DbError::Cancelled)), "{r:?}");

    // A tool deadline shorter than connect_timeout is reported as a timeout.
    let r = backend2
        .fetch(&select_one(), 0, 10, &ctx(Duration::from_millis(300)))
        .await;
    assert!(matches!(r, Err(DbError::Timeout(_))), "{r:?}");
    drop(silent); // the stuck driver threads now see EOF and end
}

/// What the loopback TLS listener saw.
#[derive(Debug, Default)]
struct Capture {
    handshake: Option<String>,
    bytes: Vec<u8>,
}

/// A TLS listener with the fixture CA's server certificate; accepts one
/// connection, records the first packets, then closes cleanly.
fn tls_listener(require_client_cert: bool) -> (u16, JoinHandle<Capture>) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(fixtures().join("server.pem"))
            .expect("server.pem")
            .collect::<Result<_, _>>()
            .expect("certs");
    let key = PrivateKeyDer::from_pem_file(fixtures().join("server.key")).expect("server.key");
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("versions");
    let config = if require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(fixtures().join("ca.pem")).expect("ca") {
            roots.add(c.expect("ca cert")).expect("root");
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("verifier");
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    }
    .with_single_cert(certs, key)
    .expect("server config");
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    let handle = std::thread::spawn(move || {
        let mut cap = Capture::default();
        let until = Instant::now() + NET_BOUND;
        let sock = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => {
                    cap.handshake = Some(format!("no client: {e}"));
                    return cap;
                }
            }
        };
        let _ = sock.set_nonblocking(false);
        let _ = sock.set_read_timeout(Some(Duration::from_millis(500)));
        let conn = rustls::ServerConnection::new(config).expect("server conn");
        let mut tls = rustls::StreamOwned::new(conn, sock);
        let mut buf = [0u8; 4096];
        let until = Instant::now() + NET_BOUND;
        while Instant::now() < until {
            match tls.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    // Application data only flows after the handshake.
                    cap.handshake.get_or_insert_with(|| "ok".into());
                    cap.bytes.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&cap.bytes);
                    if text.contains(TEST_SERVICE) {
                        break;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if !tls.conn.is_handshaking() && cap.handshake.is_none() {
                        cap.handshake = Some("ok".into());
                    }
                }
                Err(e) => {
                    cap.handshake = Some(format!("failed: {e}"));
                    return cap;
                }
            }
            if !tls.conn.is_handshaking() && cap.handshake.is_none() {
                cap.handshake = Some("ok".into());
            }
        }
        tls.conn.send_close_notify();
        let _ = tls.flush();
        let _ = tls.sock.shutdown(std::net::Shutdown::Both);
        cap
    });
    (port, handle)
}

async fn join(handle: JoinHandle<Capture>) -> Capture {
    tokio::task::spawn_blocking(move || handle.join().expect("listener thread"))
        .await
        .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_only_wallet_completes_tls_and_sends_tns_connect() {
    let (port, handle) = tls_listener(false);
    let backend = DirectBackend::open(&base_config(
        &descriptor("tcps", port),
        Some("wallet-ca-only"),
    ))
    .expect("open");
    let r = backend.fetch(&select_one(), 0, 10, &ctx(NET_BOUND)).await;
    let cap = join(handle).await;
    assert_eq!(cap.handshake.as_deref(), Some("ok"), "{cap:?}");
    // Oracle Net packet header: length (2 bytes, big-endian), checksum (2), type (1).
    assert!(cap.bytes.len() > 8, "{cap:?}");
    assert_eq!(
        cap.bytes[4],
        0x01,
        "first packet must be CONNECT: {:02x?}",
        &cap.bytes[..8]
    );
    let first_len = usize::from(u16::from_be_bytes([cap.bytes[0], cap.bytes[1]]));
    assert!(
        first_len >= 8 && first_len <= cap.bytes.len(),
        "{first_len}"
    );
    let text = String::from_utf8_lossy(&cap.bytes);
    assert!(
        text.contains(&format!("(SERVICE_NAME={TEST_SERVICE})")),
        "{text}"
    );
    // The driver identifies itself as this program, never with the password.
    assert!(!text.contains("not-a-real-password"));
    // The listener's close becomes a clear error.
    let msg = expect_unavailable(r);
    assert!(
        msg.contains("closed the connection during the TLS/Oracle Net handshake"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_bearing_wallet_stops_at_unknown_issuer() {
    let (port, handle) = tls_listener(false);
    let backend = DirectBackend::open(&base_config(&descriptor("tcps", port), Some("wallet-mtls")))
        .expect("key decrypts offline");
    let msg = expect_unavailable(backend.fetch(&select_one(), 0, 10, &ctx(NET_BOUND)).await);
    let cap = join(handle).await;
    // The driver read and decrypted the key, started TLS, and refused our
    // private-CA server certificate: with a key it trusts only public roots.
    assert!(msg.contains("TLS with tcps://127.0.0.1"), "{msg}");
    assert!(msg.contains("UnknownIssuer"), "{msg}");
    assert!(
        msg.contains("trusts only the public (Mozilla) roots"),
        "{msg}"
    );
    assert_ne!(cap.handshake.as_deref(), Some("ok"), "{cap:?}");
    assert!(
        cap.bytes.is_empty(),
        "no application data may flow: {cap:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_requiring_client_cert_with_ca_only_wallet() {
    let (port, handle) = tls_listener(true);
    let backend = DirectBackend::open(&base_config(
        &descriptor("tcps", port),
        Some("wallet-ca-only"),
    ))
    .expect("open");
    let msg = expect_unavailable(backend.fetch(&select_one(), 0, 10, &ctx(NET_BOUND)).await);
    let cap = join(handle).await;
    assert!(
        cap.handshake
            .as_deref()
            .is_some_and(|h| h.starts_with("failed")),
        "{cap:?}"
    );
    assert!(
        msg.contains("TLS with tcps://127.0.0.1") || msg.contains("closed the connection"),
        "{msg}"
    );
}

/// Switching backends is configuration alone, and a database that cannot
/// be reached gives tool errors and a failing /readyz, not a crash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_server_on_direct_backend_reports_unreachable_database() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut config = support::test_config(adb_mcp::config::SessionMode::Stateless);
    config.database.backend = BackendKind::Direct;
    config.database.direct = base_config(&descriptor("tcp", port), None);
    let server = support::TestServer::start_with(config).await;
    let client = server.client().await;
    let r = support::call(&client, "run_query", json!({"sql": "SELECT 1 FROM dual"})).await;
    assert!(support::is_error(&r));
    let text = support::text_of(&r);
    assert!(text.contains("refused the connection"), "{text}");
    let ready = reqwest::get(format!("http://{}/readyz", server.addr))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.expect("json");
    assert_eq!(body["backend"], "direct");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.contains("refused the connection"), "{body}");
    let _ = client.cancel().await;
}

// ------------------------------------------------------------- conversion

/// Test double of a fetched driver row: one value per column, in the
/// driver's own public types.
#[derive(Debug, Clone)]
enum Fake {
    Null,
    Number(&'static str),
    Float(f32),
    Double(f64),
    Text(String),
    Bytes(Vec<u8>),
    Ts(OracleTimestamp),
    Ds(OracleIntervalDS),
    Ym(OracleIntervalYM),
    Json(JsonValue),
    Vec(Vector),
    Bool(bool),
    Lob(LobPreview),
    Object,
    Broken,
}

struct FakeRow(Vec<Fake>);

impl FakeRow {
    fn get(&self, i: usize) -> Result<&Fake, CellError> {
        match &self.0[i] {
            Fake::Broken => Err("simulated driver failure".into()),
            f => Ok(f),
        }
    }
}

macro_rules! fake_getter {
    ($name:ident, $t:ty, $pat:pat => $out:expr) => {
        fn $name(&mut self, i: usize) -> Result<Option<$t>, CellError> {
            match self.get(i)? {
                Fake::Null => Ok(None),
                $pat => Ok(Some($out)),
                other => Err(format!("fake: {other:?} read as {}", stringify!($name)).into()),
            }
        }
    };
}

impl CellSource for FakeRow {
    fake_getter!(number, OracleNumber, Fake::Number(s) => s.parse().map_err(|e: oracledb::Error| CellError::from(e.to_string()))?);
    fake_getter!(float, f32, Fake::Float(f) => *f);
    fake_getter!(double, f64, Fake::Double(f) => *f);
    fake_getter!(text, String, Fake::Text(s) => s.clone());
    fake_getter!(bytes, Vec<u8>, Fake::Bytes(b) => b.clone());
    fake_getter!(timestamp, OracleTimestamp, Fake::Ts(t) => *t);
    fake_getter!(interval_ds, OracleIntervalDS, Fake::Ds(d) => *d);
    fake_getter!(interval_ym, OracleIntervalYM, Fake::Ym(d) => *d);
    fake_getter!(json, JsonValue, Fake::Json(j) => j.clone());
    fake_getter!(vector, Vector, Fake::Vec(v) => v.clone());
    fake_getter!(boolean, bool, Fake::Bool(b) => *b);
    fn lob(&mut self, i: usize, max: usize) -> Result<Option<LobPreview>, CellError> {
        match self.get(i)? {
            Fake::Null => Ok(None),
            // Like the real source: at most `max` units are read.
            Fake::Lob(LobPreview::Text { text, total }) => Ok(Some(LobPreview::Text {
                text: text.chars().take(max).collect(),
                total: *total,
            })),
            Fake::Lob(LobPreview::Bytes { bytes, total }) => Ok(Some(LobPreview::Bytes {
                bytes: bytes.iter().copied().take(max).collect(),
                total: *total,
            })),
            other => Err(format!("fake: {other:?} read as lob").into()),
        }
    }
    fn is_null(&mut self, i: usize) -> Result<bool, CellError> {
        Ok(matches!(self.get(i)?, Fake::Null))
    }
}

fn convert(kind: ColumnKind, value: Fake) -> Result<Value, CellError> {
    convert_cell(kind, &mut FakeRow(vec![value]), 0)
}

fn ok(kind: ColumnKind, value: Fake) -> Value {
    convert(kind, value).expect("converts")
}

#[test]
fn every_driver_type_has_a_conversion() {
    use ColumnKind as K;
    let cases: [(&oracledb::DbType, K); 29] = [
        (oracledb::DB_TYPE_NUMBER, K::Number),
        (oracledb::DB_TYPE_BINARY_INTEGER, K::Number),
        (oracledb::DB_TYPE_BINARY_FLOAT, K::BinaryFloat),
        (oracledb::DB_TYPE_BINARY_DOUBLE, K::BinaryDouble),
        (oracledb::DB_TYPE_VARCHAR, K::Text),
        (oracledb::DB_TYPE_NVARCHAR, K::Text),
        (oracledb::DB_TYPE_CHAR, K::Text),
        (oracledb::DB_TYPE_NCHAR, K::Text),
        (oracledb::DB_TYPE_ROWID, K::Text),
        (oracledb::DB_TYPE_UROWID, K::Text),
        (oracledb::DB_TYPE_LONG, K::LongText),
        (oracledb::DB_TYPE_LONG_NVARCHAR, K::LongText),
        (oracledb::DB_TYPE_CLOB, K::Clob),
        (oracledb::DB_TYPE_NCLOB, K::Clob),
        (oracledb::DB_TYPE_RAW, K::Raw),
        (oracledb::DB_TYPE_LONG_RAW, K::Raw),
        (oracledb::DB_TYPE_BLOB, K::Blob),
        (oracledb::DB_TYPE_DATE, K::Date),
        (oracledb::DB_TYPE_TIMESTAMP, K::Timestamp),
        (oracledb::DB_TYPE_TIMESTAMP_TZ, K::TimestampTz),
        (oracledb::DB_TYPE_TIMESTAMP_LTZ, K::TimestampLtz),
        (oracledb::DB_TYPE_INTERVAL_DS, K::IntervalDs),
        (oracledb::DB_TYPE_INTERVAL_YM, K::IntervalYm),
        (oracledb::DB_TYPE_JSON, K::Json),
        (oracledb::DB_TYPE_VECTOR, K::Vector),
        (oracledb::DB_TYPE_BOOLEAN, K::Boolean),
        (oracledb::DB_TYPE_BFILE, K::Unsupported("BFILE")),
        (oracledb::DB_TYPE_OBJECT, K::Unsupported("OBJECT")),
        (oracledb::DB_TYPE_CURSOR, K::Unsupported("CURSOR")),
    ];
    for (t, want) in cases {
        assert_eq!(column_kind(t), want, "{}", t.name());
    }
    assert_eq!(
        column_kind(oracledb::DB_TYPE_XMLTYPE),
        K::Unsupported("XMLTYPE")
    );
}

#[test]
fn numbers_stay_exact() {
    use ColumnKind::Number as N;
    assert_eq!(ok(N, Fake::Number("42")), json!(42));
    assert_eq!(ok(N, Fake::Number("-0.5")), json!(-0.5));
    assert_eq!(ok(N, Fake::Number("19.99")), json!(19.99));
    assert_eq!(ok(N, Fake::Number("0.000001")), json!(0.000001));
    // More digits than a double holds: exact text, never a rounded number.
    assert_eq!(
        ok(N, Fake::Number("9007199254740993")),
        json!("9007199254740993")
    );
    assert_eq!(
        ok(N, Fake::Number("3.1415926535897932384626433832795028841")),
        json!("3.1415926535897932384626433832795028841")
    );
    assert_eq!(
        ok(N, Fake::Number("10000000000000000000000000000000000000000")),
        json!("10000000000000000000000000000000000000000")
    );
    assert_eq!(ok(N, Fake::Null), Value::Null);
}

#[test]
fn floats_doubles_booleans_and_text() {
    assert_eq!(ok(ColumnKind::BinaryFloat, Fake::Float(0.1)), json!(0.1));
    assert_eq!(
        ok(ColumnKind::BinaryDouble, Fake::Double(2.5e-300)),
        json!(2.5e-300)
    );
    assert_eq!(
        ok(ColumnKind::BinaryDouble, Fake::Double(f64::NAN)),
        json!("NaN")
    );
    assert_eq!(
        ok(ColumnKind::BinaryFloat, Fake::Float(f32::INFINITY)),
        json!("Infinity")
    );
    assert_eq!(ok(ColumnKind::Boolean, Fake::Bool(true)), json!(true));
    assert_eq!(ok(ColumnKind::Boolean, Fake::Null), Value::Null);
    assert_eq!(
        ok(ColumnKind::Text, Fake::Text("AAAR3sAAEAAAACXAAA".into())),
        json!("AAAR3sAAEAAAACXAAA")
    );
    let long = "ab".repeat(TEXT_PREVIEW_CHARS);
    let cut = ok(ColumnKind::LongText, Fake::Text(long));
    let cut = cut.as_str().expect("string");
    assert!(
        cut.ends_with(&format!(
            "…[truncated, {} characters total]",
            2 * TEXT_PREVIEW_CHARS
        )),
        "{cut}"
    );
}

#[test]
fn dates_and_timestamps_are_iso_8601() {
    let ts = OracleTimestamp::new_timestamp(2024, 2, 29, 13, 5, 9, 120_000_000);
    assert_eq!(
        ok(
            ColumnKind::Date,
            Fake::Ts(OracleTimestamp::new_date(2024, 2, 29))
        ),
        json!("2024-02-29T00:00:00")
    );
    assert_eq!(
        ok(ColumnKind::Date, Fake::Ts(ts)),
        json!("2024-02-29T13:05:09")
    );
    assert_eq!(
        ok(ColumnKind::Timestamp, Fake::Ts(ts)),
        json!("2024-02-29T13:05:09.12")
    );
    let whole = OracleTimestamp::new_timestamp(1999, 12, 31, 23, 59, 59, 0);
    assert_eq!(
        ok(ColumnKind::Timestamp, Fake::Ts(whole)),
        json!("1999-12-31T23:59:59")
    );
    let utc = OracleTimestamp::new_utc_timestamp(2024, 1, 2, 3, 4, 5, 6);
    assert_eq!(
        ok(ColumnKind::TimestampTz, Fake::Ts(utc)),
        json!("2024-01-02T03:04:05.000000006Z")
    );
    assert_eq!(
        ok(ColumnKind::TimestampLtz, Fake::Ts(utc)),
        json!("2024-01-02T03:04:05.000000006Z")
    );
    let bc = OracleTimestamp::new_date(-44, 3, 15);
    assert_eq!(
        ok(ColumnKind::Date, Fake::Ts(bc)),
        json!("-0044-03-15T00:00:00")
    );
}

#[test]
fn intervals_are_iso_durations() {
    assert_eq!(
        ok(
            ColumnKind::IntervalDs,
            Fake::Ds(OracleIntervalDS::new(1, 2, 3, 4, 500_000_000))
        ),
        json!("P1DT2H3M4.5S")
    );
    assert_eq!(
        ok(
            ColumnKind::IntervalDs,
            Fake::Ds(OracleIntervalDS::new(-3, -4, 0, 0, 0))
        ),
        json!("-P3DT4H0M0S")
    );
    assert_eq!(
        ok(
            ColumnKind::IntervalYm,
            Fake::Ym(OracleIntervalYM::new(1, 2))
        ),
        json!("P1Y2M")
    );
    assert_eq!(
        ok(
            ColumnKind::IntervalYm,
            Fake::Ym(OracleIntervalYM::new(0, -7))
        ),
        json!("-P0Y7M")
    );
}

#[test]
fn binary_and_lobs_are_truncated_with_markers() {
    assert_eq!(
        ok(ColumnKind::Raw, Fake::Bytes(vec![0xde, 0xad, 0xbe, 0xef])),
        json!("base64:3q2+7w==")
    );
    let raw = ok(ColumnKind::Raw, Fake::Bytes(vec![7; 1000]));
    assert!(
        raw.as_str()
            .expect("s")
            .ends_with("…[truncated, 1000 bytes total]"),
        "{raw}"
    );

    let blob = ok(
        ColumnKind::Blob,
        Fake::Lob(LobPreview::Bytes {
            bytes: vec![1; BLOB_PREVIEW_BYTES * 20],
            total: BLOB_PREVIEW_BYTES * 20,
        }),
    );
    let blob = blob.as_str().expect("s");
    let marker = format!("…[truncated, {} bytes total]", BLOB_PREVIEW_BYTES * 20);
    assert!(
        blob.starts_with("base64:AQEB") && blob.ends_with(&marker),
        "{blob}"
    );
    assert_eq!(blob.matches("truncated").count(), 1, "{blob}");
    let small = ok(
        ColumnKind::Blob,
        Fake::Lob(LobPreview::Bytes {
            bytes: vec![104, 105],
            total: 2,
        }),
    );
    assert_eq!(small, json!("base64:aGk="));

    let clob = ok(
        ColumnKind::Clob,
        Fake::Lob(LobPreview::Text {
            text: "é".repeat(TEXT_PREVIEW_CHARS + 10),
            total: 1_000_000,
        }),
    );
    let clob = clob.as_str().expect("s");
    assert!(
        clob.ends_with("…[truncated, 1000000 characters total]"),
        "{}",
        &clob[clob.len() - 60..]
    );
    assert_eq!(
        clob.chars().filter(|c| *c == 'é').count(),
        TEXT_PREVIEW_CHARS
    );
    assert_eq!(
        ok(
            ColumnKind::Clob,
            Fake::Lob(LobPreview::Text {
                text: "short".into(),
                total: 5
            })
        ),
        json!("short")
    );
    assert_eq!(ok(ColumnKind::Clob, Fake::Null), Value::Null);
}

#[test]
fn json_and_vectors_are_structured() {
    let mut obj = std::collections::HashMap::new();
    obj.insert(
        "price".to_owned(),
        JsonValue::Number("12.50".parse().expect("n")),
    );
    obj.insert(
        "big".to_owned(),
        JsonValue::Number("123456789012345678901234567890".parse().expect("n")),
    );
    obj.insert(
        "tags".to_owned(),
        JsonValue::JsonArray(vec![
            JsonValue::String("a".into()),
            JsonValue::Null,
            JsonValue::Boolean(false),
        ]),
    );
    obj.insert(
        "at".to_owned(),
        JsonValue::Timestamp(OracleTimestamp::new_timestamp(2025, 5, 6, 7, 8, 9, 0)),
    );
    assert_eq!(
        ok(ColumnKind::Json, Fake::Json(JsonValue::JsonObject(obj))),
        json!({"price": 12.5, "big": "123456789012345678901234567890", "tags": ["a", null, false], "at": "2025-05-06T07:08:09"})
    );
    assert_eq!(
        ok(
            ColumnKind::Vector,
            Fake::Vec(Vector::Dense(VectorData::Float32(vec![0.5, -1.25])))
        ),
        json!([0.5, -1.25])
    );
    assert_eq!(
        ok(
            ColumnKind::Vector,
            Fake::Vec(Vector::Dense(VectorData::Int8(vec![1, -2])))
        ),
        json!([1, -2])
    );
    let sparse = Vector::Sparse(SparseVector::new(
        1000,
        vec![3, 999],
        VectorData::Float64(vec![0.25, 4.0]),
    ));
    assert_eq!(
        ok(ColumnKind::Vector, Fake::Vec(sparse)),
        json!({"dimensions": 1000, "indices": [3, 999], "values": [0.25, 4.0]})
    );
}

#[test]
fn unsupported_types_and_errors() {
    let marker = ok(ColumnKind::Unsupported("OBJECT"), Fake::Object);
    assert!(
        marker.as_str().expect("s").starts_with("[OBJECT value"),
        "{marker}"
    );
    assert_eq!(
        ok(ColumnKind::Unsupported("OBJECT"), Fake::Null),
        Value::Null
    );
    let err = convert(ColumnKind::Number, Fake::Broken).expect_err("propagates");
    assert!(
        err.to_string().contains("simulated driver failure"),
        "{err}"
    );
    // A mismatch between column kind and value is an error, not a panic.
    assert!(convert(ColumnKind::Date, Fake::Number("1")).is_err());
}

// ------------------------------------------------------------------- live

const LIVE_VARS: [&str; 5] = [
    "ADB_TEST_WALLET_DIR",
    "ADB_TEST_DSN",
    "ADB_TEST_USER",
    "ADB_TEST_PASSWORD",
    "ADB_TEST_WALLET_PASSWORD",
];

/// The live configuration, or `None` (and a "skipped" line) without it.
fn live_config(test: &str) -> Option<DirectConfig> {
    let missing: Vec<&str> = LIVE_VARS
        .iter()
        .copied()
        .filter(|v| std::env::var(v).map_or(true, |s| s.is_empty()))
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "{test}: skipped: set {} to run it against a real Autonomous Database",
            missing.join(", ")
        );
        return None;
    }
    Some(DirectConfig {
        wallet_dir: std::env::var("ADB_TEST_WALLET_DIR").ok().map(PathBuf::from),
        wallet_password: Some(Secret::Env {
            env: "ADB_TEST_WALLET_PASSWORD".into(),
        }),
        dsn: std::env::var("ADB_TEST_DSN").ok(),
        user: std::env::var("ADB_TEST_USER").ok(),
        password: Some(Secret::Env {
            env: "ADB_TEST_PASSWORD".into(),
        }),
        pool_min: 1,
        pool_max: 2,
        connect_timeout_secs: 30,
        ..DirectConfig::default()
    })
}

fn live_ctx(tool: &'static str) -> CallContext {
    let principal = Principal {
        subject: "adb-mcp-live-test".into(),
        ..Principal::anonymous()
    };
    CallContext::new(
        tool,
        Arc::new(principal),
        CancellationToken::new(),
        Duration::from_secs(60),
    )
}

async fn live_query(b: &DirectBackend, sql: &str) -> Result<adb_mcp::db::QueryResult, DbError> {
    b.fetch(
        &OracleStatement {
            sql: sql.into(),
            binds: vec![],
        },
        0,
        100,
        &live_ctx("run_query"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_session_identity_read_only_and_types() {
    let Some(cfg) = live_config("live_session_identity_read_only_and_types") else {
        return;
    };
    let b = DirectBackend::open(&cfg).expect("preflight");
    b.ping().await.expect("ping");

    let r = live_query(
        &b,
        "SELECT sys_context('USERENV','CLIENT_IDENTIFIER') cid, sys_context('USERENV','MODULE') module, \
         sys_context('USERENV','ACTION') action, sessiontimezone tz FROM dual",
    )
    .await
    .expect("identity");
    assert_eq!(r.rows[0][0], json!("adb-mcp-live-test"));
    assert_eq!(r.rows[0][1], json!("adb-mcp"));
    assert_eq!(r.rows[0][2], json!("run_query"));
    assert!(
        matches!(r.rows[0][3].as_str(), Some("UTC" | "+00:00")),
        "{:?}",
        r.rows[0][3]
    );

    // The transaction is read-only: a write through the raw exec path fails.
    let w = live_query(&b, "SELECT * FROM dual FOR UPDATE").await;
    assert!(
        w.is_err(),
        "FOR UPDATE must fail in a read-only transaction: {w:?}"
    );

    let r = live_query(
        &b,
        "SELECT 42 i, 19.99 d, 1/3 third, CAST(9007199254740993 AS NUMBER) big, TO_BINARY_DOUBLE(0.1) bd, \
         DATE '2024-02-29' dt, TIMESTAMP '2024-02-29 13:05:09.12' ts, \
         TIMESTAMP '2024-02-29 13:05:09 +02:00' tstz, INTERVAL '1 02:03:04.5' DAY TO SECOND ids, \
         INTERVAL '1-2' YEAR TO MONTH iym, HEXTORAW('DEADBEEF') r, RPAD(TO_CLOB('x'), 5000, 'x') c, ROWIDTOCHAR(rowid) rid \
         FROM dual",
    )
    .await
    .expect("types");
    let row = &r.rows[0];
    assert_eq!(row[0], json!(42));
    assert_eq!(row[1], json!(19.99));
    assert!(row[2].is_string(), "1/3 has 40 digits: {:?}", row[2]);
    assert_eq!(row[3], json!("9007199254740993"));
    assert_eq!(row[4], json!(0.1));
    assert_eq!(row[5], json!("2024-02-29T00:00:00"));
    assert_eq!(row[6], json!("2024-02-29T13:05:09.12"));
    assert_eq!(row[7], json!("2024-02-29T11:05:09Z"));
    assert_eq!(row[8], json!("P1DT2H3M4.5S"));
    assert_eq!(row[9], json!("P1Y2M"));
    assert_eq!(row[10], json!("base64:3q2+7w=="));
    assert!(
        row[11]
            .as_str()
            .is_some_and(|s| s.ends_with("…[truncated, 5000 characters total]"))
    );
    assert!(row[12].is_string());

    // Paging: offset and has_more.
    let page = b
        .fetch(
            &OracleStatement {
                sql: "SELECT level n FROM dual CONNECT BY level <= 25 ORDER BY 1".into(),
                binds: vec![],
            },
            10,
            10,
            &live_ctx("run_query"),
        )
        .await
        .expect("page");
    assert_eq!(page.rows.first().map(|r| r[0].clone()), Some(json!(11)));
    assert_eq!(page.rows.len(), 10);
    assert!(page.has_more);

    // 23ai-only types, when the database has them.
    if let Ok(r) = live_query(
        &b,
        "SELECT JSON('{\"a\":[1,2.5,\"x\"]}') j, TRUE b FROM dual",
    )
    .await
    {
        assert_eq!(r.rows[0][0], json!({"a": [1, 2.5, "x"]}));
        assert_eq!(r.rows[0][1], json!(true));
    }
    if let Ok(r) = live_query(
        &b,
        "SELECT TO_VECTOR('[1.5, 2, 3]', 3, FLOAT32) v FROM dual",
    )
    .await
    {
        assert_eq!(r.rows[0][0], json!([1.5, 2.0, 3.0]));
    }

    // Call timeout recovery: the session survives a timed-out call.
    let short = CallContext::new(
        "run_query",
        Arc::new(Principal::anonymous()),
        CancellationToken::new(),
        Duration::from_secs(2),
    );
    let slow = b
        .fetch(
            &OracleStatement {
                sql: "SELECT count(*) FROM all_objects a, all_objects b, all_objects c".into(),
                binds: vec![],
            },
            0,
            1,
            &short,
        )
        .await;
    assert!(matches!(slow, Err(DbError::Timeout(_))), "{slow:?}");
    live_query(&b, "SELECT 1 FROM dual")
        .await
        .expect("usable after a timeout");
}

/// Every tool through the MCP server, with only the config switched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_every_tool_over_mcp() {
    let Some(cfg) = live_config("live_every_tool_over_mcp") else {
        return;
    };
    let mut config = support::test_config(adb_mcp::config::SessionMode::Stateless);
    config.database.backend = BackendKind::Direct;
    config.database.direct = cfg;
    let server = support::TestServer::start_with(config).await;
    let client = server.client().await;
    for (tool, args) in [
        ("list_schemas", json!({})),
        ("list_tables", json!({"limit": 5})),
        (
            "run_query",
            json!({"sql": "SELECT :n * 2 AS twice FROM dual", "params": {"n": 21}}),
        ),
        (
            "explain_query",
            json!({"sql": "SELECT * FROM dual WHERE dummy = :d", "params": {"d": "X"}}),
        ),
    ] {
        let r = support::call(&client, tool, args).await;
        assert!(!support::is_error(&r), "{tool}: {}", support::text_of(&r));
    }
    let r = support::call(
        &client,
        "run_query",
        json!({"sql": "SELECT :n * 2 AS twice FROM dual", "params": {"n": 21}}),
    )
    .await;
    assert!(
        support::text_of(&r).contains("42"),
        "{}",
        support::text_of(&r)
    );
    let r = support::call(&client, "list_tables", json!({"limit": 1})).await;
    let sc = r.structured_content.clone().unwrap_or_default();
    if let Some(t) = sc["tables"].get(0) {
        let d = support::call(
            &client,
            "describe_table",
            json!({"table": t["name"], "schema": t["schema"]}),
        )
        .await;
        assert!(!support::is_error(&d), "{}", support::text_of(&d));
    }
    let r = support::call(&client, "run_query", json!({"sql": "DELETE FROM dual"})).await;
    assert!(support::is_error(&r));
    let ready = reqwest::get(format!("http://{}/readyz", server.addr))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    let _ = client.cancel().await;
}

/// The privilege check against a real dictionary: every view it reads is
/// visible to an ordinary user, and every finding comes with a statement.
/// With the least-privilege user of docs/direct-mtls.md it finds nothing
/// that fails (PUBLIC grants of network packages may still warn).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_privilege_report() {
    let Some(cfg) = live_config("live_privilege_report") else {
        return;
    };
    let user = cfg.user.clone().unwrap_or_default().to_uppercase();
    let b = DirectBackend::open(&cfg).expect("preflight");
    let report = b
        .privilege_report(&live_ctx("privilege_check"))
        .await
        .expect("the check runs")
        .expect("Oracle backends report");
    eprintln!("{}", report.summary());
    for f in &report.findings {
        eprintln!("{:?} {} | fix: {}", f.severity, f.describe(), f.fix);
    }
    for u in &report.unchecked {
        eprintln!("not checked: {}: {}", u.what, u.reason);
    }
    assert_eq!(report.user, user);
    for part in [
        "system privileges",
        "roles",
        "object grants",
        "column grants",
        "network ACEs",
        "database links",
        "owned objects",
    ] {
        assert!(
            report.checked.iter().any(|c| c == part),
            "{part} was not checked: {:?}",
            report.unchecked
        );
    }
    for f in &report.findings {
        assert!(
            f.fix.starts_with("REVOKE ")
                || f.fix.starts_with("BEGIN ")
                || f.fix.starts_with("DROP ")
                || f.fix.starts_with("connect as"),
            "{f:?}"
        );
    }
    // Opt-in stricter run: ADB_TEST_EXPECT_LEAST_PRIVILEGE=1 for a user
    // created exactly as the guide says.
    if std::env::var("ADB_TEST_EXPECT_LEAST_PRIVILEGE").is_ok_and(|v| v == "1") {
        assert_eq!(
            report.count(adb_mcp::db::privileges::Severity::Fail),
            0,
            "{:#?}",
            report.findings
        );
    }
}
