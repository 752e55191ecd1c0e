//! `adb-mcp doctor` run as a real subprocess against a healthy setup and
//! against each broken part. The identity provider is a small test double
//! serving Oracle IAM's documented discovery and JWKS shapes on 127.0.0.1.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const ISSUER: &str = "https://identity.oraclecloud.com/";
const AUDIENCE: &str = "https://mcp.example.com/";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keys")
        .join(name)
}

/// JWKS answer: 200 with the key, or the status IAM gives when
/// "Configure client access" is off.
struct Idp {
    jwks_status: AtomicU16,
}

async fn discovery(State(base): State<(Arc<Idp>, String)>) -> Response {
    let base = &base.1;
    axum::Json(json!({
        "issuer": ISSUER,
        "authorization_endpoint": format!("{base}/oauth2/v1/authorize"),
        "token_endpoint": format!("{base}/oauth2/v1/token"),
        "jwks_uri": format!("{base}/admin/v1/SigningCert/jwk"),
    }))
    .into_response()
}

async fn jwks(State((idp, _)): State<(Arc<Idp>, String)>) -> Response {
    let status = idp.jwks_status.load(Ordering::SeqCst);
    if status != 200 {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (code, "{\"detail\":\"login required\"}").into_response();
    }
    let jwk: Value =
        serde_json::from_slice(&std::fs::read(fixture("rsa-a.jwk.json")).expect("jwk"))
            .expect("jwk json");
    axum::Json(json!({ "keys": [jwk] })).into_response()
}

async fn start_idp(jwks_status: u16) -> (Arc<Idp>, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    let base = format!("http://{addr}");
    let idp = Arc::new(Idp {
        jwks_status: AtomicU16::new(jwks_status),
    });
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/admin/v1/SigningCert/jwk", get(jwks))
        .with_state((Arc::clone(&idp), base.clone()));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (idp, base)
}

fn config_text(domain_url: &str, sqlite: &Path) -> String {
    format!(
        r#"
[server]
bind = "127.0.0.1:8080"

[database.sqlite]
path = "{}"

[auth]
enabled = true
resource = "https://mcp.example.com/mcp"
allow_insecure_http = true

[[auth.providers]]
profile = "oracle-iam"
domain_url = "{domain_url}"
audiences = ["{AUDIENCE}"]
scopes = ["mcp.tools"]
"#,
        sqlite.display()
    )
}

fn demo_db(dir: &Path) -> PathBuf {
    let path = dir.join("demo.db");
    adb_mcp::db::demo::create_demo_db(&path, 1, false).expect("demo db");
    path
}

fn token(sub: &str, audience: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = json!({
        "sub": sub, "iss": ISSUER, "aud": audience, "scope": "mcp.tools",
        "client_id": "claude-client", "tok_type": "AT", "exp": now + 600, "iat": now,
    });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("SIGNING_KEY".into());
    let key =
        EncodingKey::from_rsa_pem(&std::fs::read(fixture("rsa-a.pem")).expect("pem")).expect("key");
    jsonwebtoken::encode(&header, &claims, &key).expect("sign")
}

/// Runs the doctor in a child process (off the runtime, so the IdP double
/// keeps answering) and returns its output.
async fn doctor(dir: &Path, extra: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_adb-mcp"));
    cmd.current_dir(dir)
        .args([
            "--config",
            "adb-mcp.toml",
            "--log-level",
            "error",
            "doctor",
            "--timeout",
            "5",
        ])
        .args(extra)
        .env_remove("RUST_LOG");
    tokio::task::spawn_blocking(move || cmd.output().expect("run doctor"))
        .await
        .expect("join")
}

fn json_report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json printed no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"].as_str().is_some_and(|n| n.starts_with(name)))
        .unwrap_or_else(|| panic!("no check named {name}: {report:#}"))
}

#[tokio::test]
async fn healthy_setup_passes_and_prints_the_connector_settings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_idp, base) = start_idp(200).await;
    let db = demo_db(dir.path());
    std::fs::write(dir.path().join("adb-mcp.toml"), config_text(&base, &db)).expect("config");
    let secret = token("alice@example.com", AUDIENCE);
    std::fs::write(dir.path().join("token.txt"), &secret).expect("token");

    let out = doctor(dir.path(), &["--token-file", "token.txt"]).await;
    let human = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "doctor failed:\n{human}");
    assert!(human.contains("All checks passed."), "{human}");
    assert!(!human.contains("FAIL"), "{human}");
    assert!(
        human.contains("valid: subject alice@example.com"),
        "{human}"
    );
    assert!(
        human.contains("Remote MCP server URL:  https://mcp.example.com/mcp"),
        "{human}"
    );
    assert!(
        human.contains("https://claude.ai/api/mcp/auth_callback"),
        "{human}"
    );
    assert!(
        !human.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
    assert!(!human.contains(&secret), "the token must never be printed");

    let out = doctor(dir.path(), &["--json", "--token-file", "token.txt"]).await;
    let report = json_report(&out);
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(check(&report, "identity provider")["status"], "pass");
    assert_eq!(check(&report, "signing keys")["status"], "pass");
    assert_eq!(check(&report, "sample token")["status"], "pass");
    assert_eq!(check(&report, "database")["status"], "pass");
    assert_eq!(report["connector"]["url"], "https://mcp.example.com/mcp");
    // Oracle IAM scopes are requested as <primary audience><scope>.
    assert_eq!(
        report["connector"]["scopes"],
        json!([format!("{AUDIENCE}mcp.tools")])
    );
}

#[tokio::test]
async fn each_broken_part_fails_with_a_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = demo_db(dir.path());

    // JWKS not readable: IAM's "Configure client access" is off.
    let (_idp, base) = start_idp(401).await;
    std::fs::write(dir.path().join("adb-mcp.toml"), config_text(&base, &db)).expect("config");
    let out = doctor(dir.path(), &["--json"]).await;
    assert_eq!(out.status.code(), Some(1));
    let report = json_report(&out);
    let keys = check(&report, "signing keys");
    assert_eq!(keys["status"], "fail", "{report:#}");
    assert!(
        keys["hint"]
            .as_str()
            .unwrap_or("")
            .contains("Configure client access"),
        "{keys}"
    );
    assert_eq!(check(&report, "identity provider")["status"], "pass");
    assert_eq!(
        check(&report, "database")["status"],
        "pass",
        "independent checks still run"
    );

    // Unreachable IdP: a port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    std::fs::write(dir.path().join("adb-mcp.toml"), config_text(&dead, &db)).expect("config");
    let report = json_report(&doctor(dir.path(), &["--json"]).await);
    let idp = check(&report, "identity provider");
    assert_eq!(idp["status"], "fail");
    assert!(
        idp["detail"].as_str().unwrap_or("").contains(&dead),
        "{idp}"
    );

    // A token for another audience is rejected with the reason and a hint.
    let (_idp, base) = start_idp(200).await;
    std::fs::write(dir.path().join("adb-mcp.toml"), config_text(&base, &db)).expect("config");
    std::fs::write(
        dir.path().join("token.txt"),
        token("bob", "https://other.example/"),
    )
    .expect("token");
    let report = json_report(&doctor(dir.path(), &["--json", "--token-file", "token.txt"]).await);
    let t = check(&report, "sample token");
    assert_eq!(t["status"], "fail", "{report:#}");
    assert!(
        t["detail"]
            .as_str()
            .unwrap_or("")
            .contains("wrong_audience"),
        "{t}"
    );
    assert!(
        t["hint"].as_str().unwrap_or("").contains("audiences"),
        "{t}"
    );

    // A broken tools file names its file and line; a TLS key that is not a
    // key names its file. Both are independent of the other checks.
    let tools = dir.path().join("tools");
    std::fs::create_dir_all(&tools).expect("tools dir");
    std::fs::write(
        tools.join("bad.toml"),
        "[[tool]]\nname = \"oops\"\ndescription = \"x\"\nsql = \"DELETE FROM orders\"\n",
    )
    .expect("tool file");
    std::fs::write(dir.path().join("cert.pem"), "not a certificate").expect("cert");
    std::fs::write(dir.path().join("key.pem"), "not a key").expect("key");
    let text = config_text(&base, &db).replace(
        "[server]\nbind = \"127.0.0.1:8080\"\n",
        "[server]\nbind = \"127.0.0.1:8443\"\n\n[server.tls]\nenabled = true\ncert_file = \"cert.pem\"\nkey_file = \"key.pem\"\n\n[tools]\ndir = \"tools\"\n",
    );
    assert!(text.contains("[server.tls]"), "{text}");
    std::fs::write(dir.path().join("adb-mcp.toml"), text).expect("config");
    let report = json_report(&doctor(dir.path(), &["--json"]).await);
    assert_eq!(report["ok"], false);
    let config = check(&report, "configuration");
    if config["status"] == "fail" {
        // Validation may already refuse unreadable TLS files: then the
        // failure must name the key.
        assert!(
            config["detail"]
                .as_str()
                .unwrap_or("")
                .contains("server.tls"),
            "{config}"
        );
    } else {
        let tls = check(&report, "TLS certificate");
        assert_eq!(tls["status"], "fail", "{report:#}");
        assert!(
            tls["detail"].as_str().unwrap_or("").contains("cert.pem"),
            "{tls}"
        );
        let t = check(&report, "tools");
        assert_eq!(t["status"], "fail", "{report:#}");
        let detail = t["detail"].as_str().unwrap_or("");
        assert!(
            detail.contains("bad.toml:") && detail.contains("oops"),
            "{t}"
        );
        assert_eq!(check(&report, "database")["status"], "pass");
    }
    std::fs::remove_dir_all(&tools).expect("clean tools");

    // A configuration that does not load is a failed check, not a crash.
    std::fs::write(
        dir.path().join("adb-mcp.toml"),
        "[server]\nbind = \"nonsense\"\n",
    )
    .expect("config");
    let out = doctor(dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let human = String::from_utf8_lossy(&out.stdout);
    assert!(
        human.contains("FAIL") && human.contains("server.bind"),
        "{human}"
    );
    assert!(
        human.contains("adb-mcp.toml"),
        "the error names the file: {human}"
    );
}
