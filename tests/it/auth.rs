//! The OAuth resource-server side, end to end: the real server in-process,
//! configured with the `oracle-iam` profile, against a test double of Oracle
//! IAM (discovery document, JWKS, token endpoint) signing with the committed
//! test-only keys in `tests/fixtures/keys/`.
//!
//! Every refusal is checked for its status, its `WWW-Authenticate` challenge
//! and for the absence of any tool result; the captured server log proves
//! that no tool ran for a refused token (`tool call … subject=<sub>`).

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use adb_mcp::config::auth::{
    ClaimRule, DEFAULT_ALGORITHMS, MetadataMode, ProfileKind, ProviderConfig,
};
use adb_mcp::config::{CliOverrides, Config, ConfigFile, SessionMode};
use adb_mcp::http::AuthRuntime;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use support::{TestServer, test_config};
use tokio::task::JoinHandle;

const ACCEPT_BOTH: &str = "application/json, text/event-stream";
/// Oracle IAM signs every token with this issuer, whatever the domain URL.
const IAM_ISSUER: &str = "https://identity.oraclecloud.com/";
/// The IAM resource application's primary audience.
const AUDIENCE: &str = "https://mcp.example.test/";
const SCOPE_TOOLS: &str = "https://mcp.example.test/mcp.tools";
const SCOPE_QUERY: &str = "https://mcp.example.test/mcp.query";
const KID_A: &str = "SIGNING_KEY";
const KID_B: &str = "SIGNING_KEY_ROTATED";
const KID_EC: &str = "SIGNING_KEY_EC";
const QUERY_SQL: &str = "SELECT count(*) AS n FROM regions";

// ---------------------------------------------------------------------------
// Captured logs (`support::logs`): every server these tests start holds a
// capture, so its log is recorded down to `trace`.

fn logs() -> String {
    support::logs::text()
}

/// How many `tool call` log lines name this subject.
fn tool_calls_logged_for(subject: &str) -> usize {
    let needle = format!("subject={subject}");
    logs()
        .lines()
        .filter(|l| l.contains("tool call"))
        .filter(|l| {
            l.match_indices(&needle).any(|(i, _)| {
                l[i + needle.len()..]
                    .chars()
                    .next()
                    .is_none_or(char::is_whitespace)
            })
        })
        .count()
}

// ---------------------------------------------------------------------------
// Test keys (tests/fixtures/keys, see its README).

struct Keys {
    a: EncodingKey,
    b: EncodingKey,
    ec: EncodingKey,
    a_public_pem: Vec<u8>,
    jwk_a: Value,
    jwk_b: Value,
    jwk_ec: Value,
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keys")
        .join(name)
}

fn read_fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn jwk_fixture(name: &str) -> Value {
    serde_json::from_slice(&read_fixture(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        a: EncodingKey::from_rsa_pem(&read_fixture("rsa-a.pem")).expect("rsa-a.pem"),
        b: EncodingKey::from_rsa_pem(&read_fixture("rsa-b.pem")).expect("rsa-b.pem"),
        ec: EncodingKey::from_ec_pem(&read_fixture("ec-p256.pem")).expect("ec-p256.pem"),
        a_public_pem: read_fixture("rsa-a.pub.pem"),
        jwk_a: jwk_fixture("rsa-a.jwk.json"),
        jwk_b: jwk_fixture("rsa-b.jwk.json"),
        jwk_ec: jwk_fixture("ec-p256.jwk.json"),
    })
}

// ---------------------------------------------------------------------------
// Test double of Oracle IAM (an identity domain), on 127.0.0.1:0. It serves
// IAM's documented shapes: the fixed issuer that differs from the domain URL,
// no `code_challenge_methods_supported`, the JWKS at
// /admin/v1/SigningCert/jwk (which answers 401 unless "Configure client
// access" is on).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JwksMode {
    Serve,
    /// "Configure client access" is off: the signing keys need a login.
    Unauthorized,
    /// The identity domain is having a bad day.
    Unavailable,
}

struct IdpState {
    base: String,
    jwks: Mutex<Vec<Value>>,
    mode: Mutex<JwksMode>,
    jwks_fetches: AtomicUsize,
    discovery_fetches: AtomicUsize,
}

struct Idp {
    base: String,
    state: Arc<IdpState>,
    task: JoinHandle<()>,
}

impl Idp {
    async fn start(jwks: Vec<Value>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the IdP double");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(IdpState {
            base: base.clone(),
            jwks: Mutex::new(jwks),
            mode: Mutex::new(JwksMode::Serve),
            jwks_fetches: AtomicUsize::new(0),
            discovery_fetches: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(idp_discovery))
            .route("/admin/v1/SigningCert/jwk", get(idp_jwks))
            .route("/oauth2/v1/token", post(idp_token))
            .with_state(Arc::clone(&state));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, state, task }
    }

    fn serve_keys(&self, jwks: Vec<Value>) {
        *self.state.jwks.lock().expect("jwks") = jwks;
    }

    fn set_mode(&self, mode: JwksMode) {
        *self.state.mode.lock().expect("mode") = mode;
    }

    fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    fn discovery_fetches(&self) -> usize {
        self.state.discovery_fetches.load(Ordering::SeqCst)
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn iam_discovery(base: &str) -> Value {
    json!({
        "issuer": IAM_ISSUER,
        "authorization_endpoint": format!("{base}/oauth2/v1/authorize"),
        "token_endpoint": format!("{base}/oauth2/v1/token"),
        "userinfo_endpoint": format!("{base}/oauth2/v1/userinfo"),
        "revocation_endpoint": format!("{base}/oauth2/v1/revoke"),
        "introspection_endpoint": format!("{base}/oauth2/v1/introspect"),
        "end_session_endpoint": format!("{base}/oauth2/v1/userlogout"),
        "jwks_uri": format!("{base}/admin/v1/SigningCert/jwk"),
        "scopes_supported": ["openid", "profile", "offline_access", "email", "address",
            "phone", "groups", "get_groups", "approles", "get_approles"],
        "response_types_supported": ["code", "token", "id_token", "code token",
            "code id_token", "token id_token", "code token id_token"],
        "subject_types_supported": ["public"],
        "grant_types_supported": ["client_credentials", "password", "refresh_token",
            "authorization_code", "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "urn:ietf:params:oauth:grant-type:saml2-bearer",
            "urn:ietf:params:oauth:grant-type:device_code"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt",
            "client_secret_post"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "userinfo_signing_alg_values_supported": ["none"],
        "ui_locales_supported": ["en"],
        "claims_supported": ["aud", "exp", "iat", "iss", "jti", "sub"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    })
}

async fn idp_discovery(State(s): State<Arc<IdpState>>) -> Response {
    s.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    axum::Json(iam_discovery(&s.base)).into_response()
}

async fn idp_jwks(State(s): State<Arc<IdpState>>) -> Response {
    s.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let mode = *s.mode.lock().expect("mode");
    match mode {
        JwksMode::Serve => {
            let keys = s.jwks.lock().expect("jwks").clone();
            axum::Json(json!({ "keys": keys })).into_response()
        }
        JwksMode::Unauthorized => (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "detail": "This operation is not permitted. You need to be authenticated.",
                "status": "401",
            })),
        )
            .into_response(),
        JwksMode::Unavailable => {
            (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response()
        }
    }
}

/// Echoes what it received so a test can prove the request arrived untouched.
async fn idp_token(headers: HeaderMap, body: Bytes) -> Response {
    let text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let body = String::from_utf8_lossy(&body).into_owned();
    let echo = json!({
        "authorization": text(header::AUTHORIZATION),
        "content_type": text(header::CONTENT_TYPE),
        "accept": text(header::ACCEPT),
        "body": body,
    });
    if body.contains("code=expired-code") {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(
                json!({"error": "invalid_grant", "error_description": "expired", "echo": echo}),
            ),
        )
            .into_response();
    }
    axum::Json(json!({
        "access_token": "idp-issued-access-token",
        "token_type": "Bearer",
        "expires_in": 3600,
        "echo": echo,
    }))
    .into_response()
}

// ---------------------------------------------------------------------------
// Server configuration.

fn iam_provider(idp: &Idp) -> ProviderConfig {
    ProviderConfig {
        profile: ProfileKind::OracleIam,
        discovery_url: None,
        domain_url: Some(idp.base.clone()),
        tenant_id: None,
        issuers: vec![],
        audiences: vec![AUDIENCE.into()],
        scopes: vec!["mcp.tools".into()],
        scope_prefix: None,
        jwks_uri: None,
        jwks_file: None,
        pem_files: vec![],
        algorithms: DEFAULT_ALGORITHMS.iter().map(|a| (*a).to_owned()).collect(),
        verify_claims: vec![ClaimRule {
            key: "tok_type".into(),
            values: vec!["AT".into()],
            required: true,
        }],
    }
}

fn auth_config(idp: &Idp, mode: SessionMode, resource: &str) -> Config {
    let mut config = test_config(mode);
    config.auth.enabled = true;
    config.auth.resource = Some(resource.to_owned());
    config.auth.allow_insecure_http = true;
    config.auth.providers = vec![iam_provider(idp)];
    config
}

/// A free loopback port, so that the resource URL (and every URL the server
/// derives from it) is the one requests really go to.
fn reserve_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("reserve a port")
        .port()
}

/// Config whose `auth.resource` is exactly the URL the server will listen on.
fn auth_config_on_own_port(idp: &Idp, mode: SessionMode) -> Config {
    let port = reserve_port();
    let mut config = auth_config(idp, mode, &format!("http://127.0.0.1:{port}/mcp"));
    config.server.bind = format!("127.0.0.1:{port}");
    config
}

async fn start(config: Config) -> TestServer {
    let logs = support::logs::capture();
    let mut server = TestServer::start_with(config).await;
    server.logs = Some(logs);
    server
}

fn origin_of(server: &TestServer) -> String {
    format!("http://{}", server.addr)
}

// ---------------------------------------------------------------------------
// Tokens shaped like Oracle IAM access tokens.

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn next_jti() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "test-jti-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Every token this binary mints, to check none of them reaches the logs.
static MINTED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn remember(token: String) -> String {
    MINTED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(token.clone());
    token
}

fn iam_claims(sub: &str) -> Value {
    let now = now();
    json!({
        "sub": sub,
        "sub_type": "user",
        "user_displayname": format!("Test User {sub}"),
        "user_id": format!("0123456789abcdef-{sub}"),
        "user_tz": "Europe/Paris",
        "user_locale": "en",
        "user_lang": "en",
        "client_id": "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        "client_name": "Claude MCP connector",
        "client_tenantname": "idcs-0123456789abcdef0123456789abcdef",
        "tenant": "idcs-0123456789abcdef0123456789abcdef",
        "tenant_iss": "https://idcs-0123456789abcdef0123456789abcdef.identity.oraclecloud.com:443",
        "domain": "Default",
        "scope": "mcp.tools",
        "aud": AUDIENCE,
        "iss": IAM_ISSUER,
        "tok_type": "AT",
        "ca_guid": "cacct-0123456789abcdef0123456789abcdef",
        "gt": "authorization_code",
        "exp": now + 3600,
        "iat": now,
        "jti": next_jti(),
    })
}

fn header(alg: Algorithm, kid: Option<&str>) -> Header {
    let mut h = Header::new(alg);
    h.kid = kid.map(str::to_owned);
    h
}

fn sign(header: &Header, claims: &Value, key: &EncodingKey) -> String {
    remember(jsonwebtoken::encode(header, claims, key).expect("sign"))
}

/// RS256 with the current IAM key, kid `SIGNING_KEY`: the normal case.
fn token_a(claims: &Value) -> String {
    sign(&header(Algorithm::RS256, Some(KID_A)), claims, &keys().a)
}

fn b64_json(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("json"))
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().expect("object").remove(key);
    claims
}

// ---------------------------------------------------------------------------
// Raw HTTP helpers.

fn run_query_body() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "run_query", "arguments": {"sql": QUERY_SQL}}})
}

fn initialize_body() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "auth-test", "version": "1"}}})
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

async fn post_mcp(
    url: &str,
    body: &Value,
    authorization: Option<&[u8]>,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = http()
        .post(url)
        .header("accept", ACCEPT_BOTH)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).expect("json"));
    if let Some(a) = authorization {
        req = req.header(
            "authorization",
            reqwest::header::HeaderValue::from_bytes(a).expect("header value"),
        );
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    req.send().await.expect("request")
}

fn bearer(token: &str) -> Vec<u8> {
    format!("Bearer {token}").into_bytes()
}

fn challenge(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().expect("ascii challenge").to_owned())
}

/// The JSON-RPC message of a response, whether sent as JSON or as SSE.
fn jsonrpc_message(text: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return Some(v);
    }
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .find(|v| v.get("jsonrpc").is_some())
}

async fn get_json(url: &str) -> (u16, Value) {
    let r = http().get(url).send().await.expect("get");
    let status = r.status().as_u16();
    let v = r.json::<Value>().await.unwrap_or(Value::Null);
    (status, v)
}

// ---------------------------------------------------------------------------
// 1. The token attack matrix.

enum Auth {
    /// No Authorization header.
    Nothing,
    /// `Authorization: Bearer <token>`.
    Token(String),
    /// The Authorization header exactly as given.
    Raw(Vec<u8>),
    /// `?access_token=<token>` and no Authorization header.
    Query(String),
}

struct Case {
    name: &'static str,
    /// The token's `sub`, for the log check; `None` when no token reaches validation.
    subject: Option<String>,
    auth: Auth,
    status: u16,
    /// Must all appear in `WWW-Authenticate` (refusals only). Without an
    /// `error="…"` fragment, the challenge must carry no error code.
    fragments: Vec<String>,
    /// RFC 6750 §3.1: a request using another authentication method SHOULD
    /// get a challenge without an error code; `invalid_request` is tolerated.
    error_optional: bool,
}

#[tokio::test]
async fn token_attack_matrix() {
    let idp = Idp::start(vec![keys().jwk_a.clone(), keys().jwk_ec.clone()]).await;
    let mut config = auth_config_on_own_port(&idp, SessionMode::Stateless);
    // Unknown kids must not refetch during the matrix (the refetch test covers that).
    config.auth.jwks_refetch_interval_secs = 3600;
    let server = start(config).await;
    let prm = format!(
        "{}/.well-known/oauth-protected-resource/mcp",
        origin_of(&server)
    );
    assert_eq!(idp.jwks_fetches(), 1, "one JWKS fetch at startup");

    let k = keys();
    let now = now();
    let sub = |name: &str| format!("matrix-{name}");
    let claims = |name: &str| iam_claims(&sub(name));
    let ok = |name: &'static str, token: String| Case {
        name,
        subject: Some(sub(name)),
        auth: Auth::Token(token),
        status: 200,
        fragments: vec![],
        error_optional: false,
    };
    let resource_metadata = format!("resource_metadata=\"{prm}\"");
    let base_scope = format!("scope=\"{SCOPE_TOOLS}\"");
    let invalid = |name: &'static str, token: String, why: &str| Case {
        name,
        subject: Some(sub(name)),
        auth: Auth::Token(token),
        status: 401,
        fragments: vec![
            "Bearer ".into(),
            "error=\"invalid_token\"".into(),
            why.to_owned(),
            resource_metadata.clone(),
            base_scope.clone(),
        ],
        error_optional: false,
    };
    let bad_request = |name: &'static str, auth: Auth, why: &str| Case {
        name,
        subject: None,
        auth,
        status: 401,
        fragments: vec![
            "error=\"invalid_request\"".into(),
            why.to_owned(),
            resource_metadata.clone(),
            base_scope.clone(),
        ],
        error_optional: false,
    };

    // Pieces for the hand-made tokens.
    let valid_for = |name: &str| token_a(&claims(name));
    let split = |t: &str| -> (String, String, String) {
        let mut p = t.split('.').map(str::to_owned);
        (
            p.next().expect("header"),
            p.next().expect("payload"),
            p.next().expect("signature"),
        )
    };
    let alg_none = {
        let h = json!({"alg": "none", "typ": "JWT", "kid": KID_A});
        remember(format!(
            "{}.{}.",
            b64_json(&h),
            b64_json(&claims("alg-none"))
        ))
    };
    let tampered = {
        // Signed with no useful scope, then the payload is swapped for one
        // granting mcp.tools: escalation by editing must fail on the signature.
        let signed = token_a(&with(claims("tampered-payload"), "scope", json!("openid")));
        let (h, _, s) = split(&signed);
        let forged = b64_json(&claims("tampered-payload"));
        remember(format!("{h}.{forged}.{s}"))
    };
    let stripped = {
        let (h, p, _) = split(&valid_for("stripped-signature"));
        remember(format!("{h}.{p}."))
    };
    let truncated = {
        let t = valid_for("truncated");
        remember(t[..t.len() - 12].to_owned())
    };
    let two_parts = {
        let (h, p, _) = split(&valid_for("two-parts"));
        remember(format!("{h}.{p}"))
    };
    let bad_base64 = {
        let (h, _, s) = split(&valid_for("bad-base64"));
        remember(format!("{h}.eyJzdWIi!!not*base64~~.{s}"))
    };
    let oversized = token_a(&with(
        claims("oversized"),
        "padding",
        json!("x".repeat(17 * 1024)),
    ));
    assert!(oversized.len() > 16 * 1024);
    let typed = |name: &str, typ: Option<&str>| {
        let mut h = header(Algorithm::RS256, Some(KID_A));
        h.typ = typ.map(str::to_owned);
        sign(&h, &claims(name), &k.a)
    };

    let cases = vec![
        ok("valid-control", valid_for("valid-control")),
        Case {
            name: "missing-authorization",
            subject: None,
            auth: Auth::Nothing,
            status: 401,
            fragments: vec![resource_metadata.clone(), base_scope.clone()],
            error_optional: false,
        },
        invalid(
            "expired",
            token_a(&with(claims("expired"), "exp", json!(now - 600))),
            "expired",
        ),
        ok(
            "expired-within-leeway",
            token_a(&with(
                claims("expired-within-leeway"),
                "exp",
                json!(now - 20),
            )),
        ),
        invalid(
            "not-yet-valid",
            token_a(&with(claims("not-yet-valid"), "nbf", json!(now + 600))),
            "not valid yet",
        ),
        ok(
            "nbf-within-leeway",
            token_a(&with(claims("nbf-within-leeway"), "nbf", json!(now + 20))),
        ),
        invalid(
            "wrong-issuer",
            token_a(&with(
                claims("wrong-issuer"),
                "iss",
                json!("https://idcs-0123456789abcdef.identity.oraclecloud.com/"),
            )),
            "issuer",
        ),
        invalid(
            "issuer-without-trailing-slash",
            token_a(&with(
                claims("issuer-without-trailing-slash"),
                "iss",
                json!("https://identity.oraclecloud.com"),
            )),
            "issuer",
        ),
        invalid(
            "missing-issuer",
            token_a(&without(claims("missing-issuer"), "iss")),
            "issuer",
        ),
        invalid(
            "wrong-audience",
            token_a(&with(
                claims("wrong-audience"),
                "aud",
                json!("https://other-api.example.test/"),
            )),
            "audience",
        ),
        ok(
            "audience-array-with-ours",
            token_a(&with(
                claims("audience-array-with-ours"),
                "aud",
                json!(["urn:opc:lbaas:logicalguid=abc", AUDIENCE]),
            )),
        ),
        invalid(
            "audience-array-without-ours",
            token_a(&with(
                claims("audience-array-without-ours"),
                "aud",
                json!([
                    "https://other-api.example.test/",
                    "https://mcp.example.test"
                ]),
            )),
            "audience",
        ),
        invalid(
            "missing-audience",
            token_a(&without(claims("missing-audience"), "aud")),
            "required claim",
        ),
        invalid(
            "missing-exp",
            token_a(&without(claims("missing-exp"), "exp")),
            "required claim",
        ),
        invalid(
            "exp-not-a-number",
            token_a(&with(claims("exp-not-a-number"), "exp", json!("tomorrow"))),
            "error_description=",
        ),
        invalid(
            "missing-sub",
            token_a(&without(claims("missing-sub"), "sub")),
            "subject",
        ),
        invalid(
            "empty-sub",
            token_a(&with(claims("empty-sub"), "sub", json!(""))),
            "subject",
        ),
        invalid("alg-none-unsigned", alg_none, "well-formed"),
        invalid(
            "hs256-signed-with-the-rsa-public-key",
            sign(
                &header(Algorithm::HS256, Some(KID_A)),
                &claims("hs256-signed-with-the-rsa-public-key"),
                &EncodingKey::from_secret(&k.a_public_pem),
            ),
            "algorithm",
        ),
        invalid(
            "unknown-kid",
            sign(
                &header(Algorithm::RS256, Some("SIGNING_KEY_FORGED")),
                &claims("unknown-kid"),
                &k.a,
            ),
            "unknown key",
        ),
        invalid(
            "kid-a-signed-with-key-b",
            sign(
                &header(Algorithm::RS256, Some(KID_A)),
                &claims("kid-a-signed-with-key-b"),
                &k.b,
            ),
            "signature",
        ),
        invalid(
            "ps256-with-a-key-pinned-to-rs256",
            sign(
                &header(Algorithm::PS256, Some(KID_A)),
                &claims("ps256-with-a-key-pinned-to-rs256"),
                &k.a,
            ),
            "unknown key",
        ),
        invalid(
            "es256-header-with-the-rsa-kid",
            sign(
                &header(Algorithm::ES256, Some(KID_A)),
                &claims("es256-header-with-the-rsa-kid"),
                &k.ec,
            ),
            "unknown key",
        ),
        ok(
            "no-kid-tries-the-keys",
            sign(
                &header(Algorithm::RS256, None),
                &claims("no-kid-tries-the-keys"),
                &k.a,
            ),
        ),
        invalid("tampered-payload", tampered, "signature"),
        invalid("stripped-signature", stripped, "error_description="),
        invalid("truncated", truncated, "error_description="),
        invalid("oversized-over-16-kib", oversized, "too large"),
        invalid("bad-base64", bad_base64, "error_description="),
        invalid("only-two-parts", two_parts, "well-formed"),
        invalid(
            "random-string",
            remember("not-a-jwt-at-all".to_owned()),
            "well-formed",
        ),
        invalid(
            "typ-id-token",
            typed("typ-id-token", Some("id_token")),
            "typ",
        ),
        invalid(
            "typ-logout-jwt",
            typed("typ-logout-jwt", Some("logout+jwt")),
            "typ",
        ),
        ok("typ-jwt", typed("typ-jwt", Some("JWT"))),
        ok("typ-at-jwt", typed("typ-at-jwt", Some("at+jwt"))),
        ok(
            "typ-application-at-jwt",
            typed("typ-application-at-jwt", Some("application/at+jwt")),
        ),
        ok("typ-absent", typed("typ-absent", None)),
        Case {
            name: "missing-scope",
            subject: Some(sub("missing-scope")),
            auth: Auth::Token(token_a(&with(
                claims("missing-scope"),
                "scope",
                json!("openid urn:opc:idm:__myscopes__"),
            ))),
            status: 403,
            fragments: vec![
                "error=\"insufficient_scope\"".into(),
                resource_metadata.clone(),
                base_scope.clone(),
            ],
            error_optional: false,
        },
        ok(
            "scope-among-others",
            token_a(&with(
                claims("scope-among-others"),
                "scope",
                json!("openid mcp.tools offline_access"),
            )),
        ),
        ok(
            "scope-only-in-scp",
            token_a(&with(
                without(claims("scope-only-in-scp"), "scope"),
                "scp",
                json!("mcp.tools"),
            )),
        ),
        invalid(
            "tok-type-id-token",
            token_a(&with(claims("tok-type-id-token"), "tok_type", json!("IT"))),
            "claim",
        ),
        invalid(
            "tok-type-missing",
            token_a(&without(claims("tok-type-missing"), "tok_type")),
            "claim",
        ),
        ok(
            "es256-from-the-ec-key",
            sign(
                &header(Algorithm::ES256, Some(KID_EC)),
                &claims("es256-from-the-ec-key"),
                &k.ec,
            ),
        ),
        bad_request(
            "token-in-query-string",
            Auth::Query(valid_for("token-in-query-string")),
            "query string",
        ),
        Case {
            name: "basic-scheme",
            subject: None,
            auth: Auth::Raw(format!("Basic {}", STANDARD.encode("alice:password")).into_bytes()),
            status: 401,
            fragments: vec![resource_metadata.clone(), base_scope.clone()],
            error_optional: true,
        },
        bad_request(
            "bearer-empty",
            Auth::Raw(b"Bearer ".to_vec()),
            "error_description=",
        ),
        bad_request(
            "bearer-whitespace-only",
            Auth::Raw(b"Bearer    ".to_vec()),
            "error_description=",
        ),
        bad_request(
            "token-without-scheme",
            Auth::Raw(valid_for("token-without-scheme").into_bytes()),
            "Bearer",
        ),
        bad_request(
            "non-ascii-authorization",
            Auth::Raw(b"Bearer \xff\xfe\xfd".to_vec()),
            "not valid text",
        ),
        Case {
            name: "lowercase-bearer-scheme",
            subject: Some(sub("lowercase-bearer-scheme")),
            auth: Auth::Raw(
                format!("bearer {}", valid_for("lowercase-bearer-scheme")).into_bytes(),
            ),
            status: 200,
            fragments: vec![],
            error_optional: false,
        },
    ];
    assert!(cases.len() >= 30, "{} cases", cases.len());

    let mut report = Vec::new();
    let mut failures = Vec::new();
    for case in &cases {
        let (url, authorization) = match &case.auth {
            Auth::Nothing => (server.url.clone(), None),
            Auth::Token(t) => (server.url.clone(), Some(bearer(t))),
            Auth::Raw(h) => (server.url.clone(), Some(h.clone())),
            Auth::Query(t) => (format!("{}?access_token={t}", server.url), None),
        };
        let r = post_mcp(&url, &run_query_body(), authorization.as_deref(), &[]).await;
        let status = r.status().as_u16();
        let www = challenge(&r);
        let text = r.text().await.expect("body");
        report.push(format!(
            "{:<40} expected {} got {status}  {}",
            case.name,
            case.status,
            www.as_deref().unwrap_or("-")
        ));
        let mut problems = Vec::new();
        if status != case.status {
            problems.push(format!("status {status}, expected {}", case.status));
        }
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if case.status == 200 {
            if www.is_some() {
                problems.push(format!("unexpected challenge {www:?}"));
            }
            let rows = &body["result"]["structuredContent"]["rows"];
            if body["result"]["isError"] == json!(true)
                || rows[0][0].as_i64().is_none_or(|n| n <= 0)
            {
                problems.push(format!("no query result: {text}"));
            }
        } else {
            match &www {
                None => problems.push("no WWW-Authenticate".into()),
                Some(w) => {
                    for f in &case.fragments {
                        if !w.contains(f.as_str()) {
                            problems.push(format!("challenge lacks {f}: {w}"));
                        }
                    }
                    if !case.error_optional
                        && case.fragments.iter().all(|f| !f.starts_with("error="))
                        && w.contains("error=")
                    {
                        problems.push(format!("challenge must not carry an error: {w}"));
                    }
                }
            }
            if text.contains("\"result\"") || body.get("jsonrpc").is_some() {
                problems.push(format!("a refusal must not carry a JSON-RPC reply: {text}"));
            }
            if !body["error"].is_string() {
                problems.push(format!("refusal body is not an OAuth error: {text}"));
            }
        }
        if let Some(subject) = &case.subject {
            let ran = tool_calls_logged_for(subject);
            let expected = usize::from(case.status == 200);
            if ran != expected {
                problems.push(format!(
                    "{ran} tool call(s) logged for {subject}, expected {expected}"
                ));
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}", case.name, problems.join("; ")));
        }
    }
    println!(
        "token matrix ({} cases):\n{}",
        cases.len(),
        report.join("\n")
    );
    assert!(
        failures.is_empty(),
        "matrix failures:\n{}",
        failures.join("\n")
    );
    assert_eq!(
        tool_calls_logged_for("anonymous"),
        0,
        "no tool may run anonymously"
    );
    assert_eq!(
        idp.jwks_fetches(),
        1,
        "unknown kids inside the refetch interval must not refetch the JWKS"
    );
    assert_eq!(idp.discovery_fetches(), 1);
}

/// A repeated valid token is served from the verified-token cache; a token
/// differing in one byte is not.
#[tokio::test]
async fn cached_token_is_exact_match_only() {
    let idp = Idp::start(vec![keys().jwk_a.clone()]).await;
    let server = start(auth_config(
        &idp,
        SessionMode::Stateless,
        "http://127.0.0.1/mcp",
    ))
    .await;
    let token = token_a(&iam_claims("cache-user"));
    for _ in 0..3 {
        let r = post_mcp(&server.url, &run_query_body(), Some(&bearer(&token)), &[]).await;
        assert_eq!(r.status(), 200);
    }
    assert_eq!(tool_calls_logged_for("cache-user"), 3);
    let mut flipped = token.clone().into_bytes();
    let last = flipped.len() - 2;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = remember(String::from_utf8(flipped).expect("ascii"));
    let r = post_mcp(&server.url, &run_query_body(), Some(&bearer(&flipped)), &[]).await;
    assert_eq!(r.status(), 401);
    assert_eq!(tool_calls_logged_for("cache-user"), 3);
}

// ---------------------------------------------------------------------------
// JWKS availability and rotation.

#[tokio::test]
async fn cached_keys_survive_a_jwks_outage() {
    let idp = Idp::start(vec![keys().jwk_a.clone()]).await;
    let mut config = auth_config(&idp, SessionMode::Stateless, "http://127.0.0.1/mcp");
    config.auth.jwks_refetch_interval_secs = 1;
    let server = start(config).await;
    let before = token_a(&iam_claims("outage-before"));
    let r = post_mcp(&server.url, &run_query_body(), Some(&bearer(&before)), &[]).await;
    assert_eq!(r.status(), 200);

    for (mode, label) in [
        (JwksMode::Unavailable, "outage-503"),
        (JwksMode::Unauthorized, "outage-401"),
    ] {
        idp.set_mode(mode);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let fetches = idp.jwks_fetches();
        // An unknown kid makes the server try the JWKS, which fails …
        let unknown = sign(
            &header(Algorithm::RS256, Some("SIGNING_KEY_NEW")),
            &iam_claims(&format!("{label}-unknown")),
            &keys().b,
        );
        let r = post_mcp(&server.url, &run_query_body(), Some(&bearer(&unknown)), &[]).await;
        assert_eq!(r.status(), 401, "{label}");
        assert_eq!(idp.jwks_fetches(), fetches + 1, "{label}: one refetch");
        // … and a fresh token signed with the known key still works.
        let fresh = token_a(&iam_claims(&format!("{label}-fresh")));
        let r = post_mcp(&server.url, &run_query_body(), Some(&bearer(&fresh)), &[]).await;
        assert_eq!(r.status(), 200, "{label}: cached keys must keep working");
        assert_eq!(tool_calls_logged_for(&format!("{label}-fresh")), 1);
    }
}

#[tokio::test]
async fn rotated_key_is_fetched_once_and_refetches_are_rate_limited() {
    let idp = Idp::start(vec![keys().jwk_a.clone()]).await;
    let mut config = auth_config(&idp, SessionMode::Stateless, "http://127.0.0.1/mcp");
    // Generous, so the burst below surely falls inside one interval.
    config.auth.jwks_refetch_interval_secs = 3;
    let server = start(config).await;
    let r = post_mcp(
        &server.url,
        &run_query_body(),
        Some(&bearer(&token_a(&iam_claims("rotation-a")))),
        &[],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(idp.jwks_fetches(), 1);

    // The identity domain rotates to key B.
    idp.serve_keys(vec![keys().jwk_b.clone()]);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let token_b = sign(
        &header(Algorithm::RS256, Some(KID_B)),
        &iam_claims("rotation-b"),
        &keys().b,
    );
    let r = post_mcp(&server.url, &run_query_body(), Some(&bearer(&token_b)), &[]).await;
    assert_eq!(r.status(), 200, "the new kid triggers a refetch");
    assert_eq!(idp.jwks_fetches(), 2);
    assert_eq!(tool_calls_logged_for("rotation-b"), 1);

    // A second unknown kid right away: refused without another fetch.
    let forged = sign(
        &header(Algorithm::RS256, Some("SIGNING_KEY_FORGED")),
        &iam_claims("rotation-forged"),
        &keys().b,
    );
    let r = post_mcp(&server.url, &run_query_body(), Some(&bearer(&forged)), &[]).await;
    assert_eq!(r.status(), 401);
    let www = challenge(&r).expect("challenge");
    assert!(www.contains("error=\"invalid_token\""), "{www}");
    // Nor does a burst of them.
    for i in 0..5 {
        let forged = sign(
            &header(Algorithm::RS256, Some(&format!("FORGED_{i}"))),
            &iam_claims("rotation-burst"),
            &keys().b,
        );
        let r = post_mcp(&server.url, &run_query_body(), Some(&bearer(&forged)), &[]).await;
        assert_eq!(r.status(), 401);
    }
    assert_eq!(
        idp.jwks_fetches(),
        2,
        "unknown kids within the refetch interval must not refetch"
    );
    // Key A left the set: a new token signed with it is now refused.
    let old = token_a(&iam_claims("rotation-a-after"));
    let r = post_mcp(&server.url, &run_query_body(), Some(&bearer(&old)), &[]).await;
    assert_eq!(r.status(), 401);
    assert_eq!(tool_calls_logged_for("rotation-a-after"), 0);
    assert_eq!(tool_calls_logged_for("rotation-forged"), 0);
    assert_eq!(tool_calls_logged_for("rotation-burst"), 0);
}

#[tokio::test]
async fn unreadable_jwks_fails_startup_with_the_iam_hint() {
    let _logs = support::logs::capture();
    let idp = Idp::start(vec![keys().jwk_a.clone()]).await;
    idp.set_mode(JwksMode::Unauthorized);
    let config = auth_config(&idp, SessionMode::Stateless, "http://127.0.0.1/mcp");
    let message =
        match AuthRuntime::start(&config, &tokio_util::sync::CancellationToken::new()).await {
            Ok(_) => panic!("startup must fail when the JWKS answers 401"),
            Err(e) => format!("{e:#}"),
        };
    assert!(message.contains("Configure client access"), "{message}");
    assert!(message.contains("auth.providers[0]"), "{message}");
    assert!(
        message.contains(&idp.endpoint("/admin/v1/SigningCert/jwk")),
        "{message}"
    );

    idp.set_mode(JwksMode::Unavailable);
    let message =
        match AuthRuntime::start(&config, &tokio_util::sync::CancellationToken::new()).await {
            Ok(_) => panic!("startup must fail when the JWKS is down"),
            Err(e) => format!("{e:#}"),
        };
    assert!(message.contains("503"), "{message}");
    assert!(!message.contains("Configure client access"), "{message}");
}

// ---------------------------------------------------------------------------
// 2. Metadata.

fn expected_prm(resource: &str, authorization_server: &str) -> Value {
    json!({
        "resource": resource,
        "authorization_servers": [authorization_server],
        "scopes_supported": [SCOPE_TOOLS],
        "bearer_methods_supported": ["header"],
        "resource_name": "adb-mcp",
    })
}

#[tokio::test]
async fn shim_metadata_fixes_the_iam_quirks() {
    let idp = Idp::start(vec![keys().jwk_a.clone()]).await;
    let config = auth_config_on_own_port(&idp, SessionMode::Stateless);
    let resource = config.auth.resource.clone().expect("resource");
    let server = start(config).await;
    let origin = origin_of(&server);
    assert_eq!(resource, server.url);

    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let r = http()
            .get(format!("{origin}{path}"))
            .send()
            .await
            .expect("prm");
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(
            r.headers()
                .get("access-control-allow-origin")
                .and_then(|v| v.to_str().ok()),
            Some("*"),
            "{path}"
        );
        let v: Value = r.json().await.expect("json");
        assert_eq!(v, expected_prm(&resource, &origin), "{path}");
    }

    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let (status, v) = get_json(&format!("{origin}{path}")).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(
            v["issuer"],
            json!(origin),
            "{path}: our origin is the issuer"
        );
        assert_eq!(
            v["authorization_endpoint"],
            json!(idp.endpoint("/oauth2/v1/authorize"))
        );
        assert_eq!(v["token_endpoint"], json!(idp.endpoint("/oauth2/v1/token")));
        assert_eq!(
            v["jwks_uri"],
            json!(idp.endpoint("/admin/v1/SigningCert/jwk"))
        );
        assert_eq!(v["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(
            v["scopes_supported"],
            json!([SCOPE_TOOLS, "offline_access"]),
            "{path}: our scopes, plus offline_access because IAM offers it"
        );
        assert!(v.get("registration_endpoint").is_none(), "{path}: {v}");
        assert_eq!(
            v["token_endpoint_auth_methods_supported"],
            json!([
                "client_secret_basic",
                "private_key_jwt",
                "client_secret_post"
            ])
        );
    }

    for path in ["/healthz", "/readyz"] {
        let r = http()
            .get(format!("{origin}{path}"))
            .send()
            .await
            .expect("health");
        assert_eq!(r.status(), 200, "{path} stays open");
        assert!(r.headers().get("www-authenticate").is_none());
    }
    // Unknown paths are plain 404s, not challenges.
    let r = http()
        .get(format!(
            "{origin}/.well-known/oauth-protected-resource/other"
        ))
        .send()
        .await
        .expect("404");
    assert_eq!(r.status(), 404);
    assert!(r.headers().get("www-authenticate").is_none());
    // Compat routes are off by default.
    let r = http()
        .get(format!("{origin}/authorize?response_type=code&client_id=x"))
        .send()
        .await
        .expect("authorize");
    assert_eq!(r.status(), 404);
    let r = http()
        .post(format!("{origin}/token"))
        .body("grant_type=authorization_code")
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn direct_metadata_points_at_the_idp() {
    let idp = Idp::start(vec![keys().jwk_a.clone()]).await;
    let mut config = auth_config(&idp, SessionMode::Stateless, "http://127.0.0.1/mcp");
    config.auth.metadata = MetadataMode::Direct;
    let server = start(config).await;
    let origin = origin_of(&server);
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let (status, v) = get_json(&format!("{origin}{path}")).await;
        assert_eq!(status, 200);
        assert_eq!(
            v,
            expected_prm("http://127.0.0.1/mcp", IAM_ISSUER),
            "{path}"
        );
    }
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let r = http()
            .get(format!("{origin}{path}"))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 404, "{path} is not served in direct mode");
    }
    let r = post_mcp(&server.url, &run_query_body(), None, &[]).await;
    assert_eq!(r.status(), 401);
    let www = challenge(&r).expect("challenge");
    assert!(
        www.contains(
            "resource_metadata=\"http://127.0.0.1/.well-known/oauth-protected-resource/mcp\""
        ),
        "{www}"
    );
}

#[tokio::test]
async fn public_https_resource_is_what_clients_are_told() {
    let idp = Idp::start(vec![keys().jwk_a.clone()]).await;
    let resource = "https://mcp.example.test/mcp";
    let server = start(auth_config(&idp, SessionMode::Stateless, resource)).await;
    let origin = origin_of(&server);
    let (status, v) = get_json(&format!(
        "{origin}/.well-known/oauth-protected-resource/mcp"
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(v, expected_prm(resource, "https://mcp.example.test"));
    let (_, shim) = get_json(&format!("{origin}/.well-known/oauth-authorization-server")).await;
    assert_eq!(shim["issuer"], json!("https://mcp.example.test"));

    let r = post_mcp(&server.url, &run_query_body(), None, &[]).await;
    assert_eq!(r.status(), 401);
    let www = challenge(&r).expect("challenge");
    assert_eq!(
        www,
        format!(
            "Bearer resource_metadata=\"https://mcp.example.test/.well-known/oauth-protected-resource/mcp\", scope=\"{SCOPE_TOOLS}\""
        )
    );
    // The public host is allowed as Host, next to the loopback defaults.
    let token = token_a(&iam_claims("public-host"));
    let r = post_mcp(
        &server.url,
        &run_query_body(),
        Some(&bearer(&token)),
        &[("host", "mcp.example.test")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = post_mcp(
        &server.url,
        &run_query_body(),
        Some(&bearer(&token)),
        &[("host", "evil.example.test")],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(tool_calls_logged_for("public-host"), 1);
}

// ---------------------------------------------------------------------------
// 3. Claude's connector discovery, replayed.

#[tokio::test]
async fn claude_connector_discovery_replay() {
    let idp = Idp::start(vec![keys().jwk_a.clone()]).await;
    let mut config = auth_config_on_own_port(&idp, SessionMode::Stateless);
    config.auth.compat_routes = true;
    let server = start(config).await;
    let origin = origin_of(&server);

    // 1. The connector POSTs initialize with `Accept: */*` and no token.
    let r = http()
        .post(&server.url)
        .header("accept", "*/*")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&initialize_body()).expect("json"))
        .send()
        .await
        .expect("initialize");
    assert_eq!(r.status(), 401, "a challenge, not 406");
    let www = challenge(&r).expect("challenge");
    let text = r.text().await.expect("body");
    assert!(!text.contains("\"result\""), "{text}");
    assert!(!www.contains("error="), "{www}");
    let prm_url = www
        .split("resource_metadata=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("resource_metadata in the challenge")
        .to_owned();
    assert_eq!(
        prm_url,
        format!("{origin}/.well-known/oauth-protected-resource/mcp")
    );
    assert!(www.contains(&format!("scope=\"{SCOPE_TOOLS}\"")), "{www}");

    // 2. It reads the protected-resource metadata from that URL.
    let (status, prm) = get_json(&prm_url).await;
    assert_eq!(status, 200);
    let auth_server = prm["authorization_servers"][0]
        .as_str()
        .expect("authorization server")
        .to_owned();
    assert_eq!(auth_server, origin);

    // 3. And the authorization-server metadata on that issuer.
    let (status, asm) = get_json(&format!(
        "{auth_server}/.well-known/oauth-authorization-server"
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(asm["issuer"], json!(auth_server));
    assert_eq!(asm["code_challenge_methods_supported"], json!(["S256"]));

    // 4. Clients that synthesize {origin}/authorize are sent to IAM, query intact.
    let query = "response_type=code&client_id=x&state=s\
        &redirect_uri=https%3A%2F%2Fclaude.ai%2Fapi%2Fmcp%2Fauth_callback\
        &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256\
        &scope=https%3A%2F%2Fmcp.example.test%2Fmcp.tools%20offline_access\
        &resource=http%3A%2F%2F127.0.0.1%2Fmcp";
    let r = http()
        .get(format!("{origin}/authorize?{query}"))
        .send()
        .await
        .expect("authorize");
    assert_eq!(r.status(), 302, "302 Found, as authorization redirects are");
    assert_eq!(
        r.headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("location"),
        format!("{}?{query}", idp.endpoint("/oauth2/v1/authorize"))
    );
    let r = http()
        .get(format!(
            "{origin}/authorize?response_type=code&client_id=x&state=s"
        ))
        .send()
        .await
        .expect("authorize");
    assert_eq!(r.status(), 302);
    assert_eq!(
        r.headers().get("location").and_then(|v| v.to_str().ok()),
        Some(
            format!(
                "{}?response_type=code&client_id=x&state=s",
                idp.endpoint("/oauth2/v1/authorize")
            )
            .as_str()
        )
    );

    // 5. {origin}/token is forwarded to IAM's token endpoint untouched.
    let basic = format!("Basic {}", STANDARD.encode("claude-client:s3cr3t+/="));
    let form = "grant_type=authorization_code&code=abc123&redirect_uri=https%3A%2F%2Fclaude.ai%2Fapi%2Fmcp%2Fauth_callback&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk&resource=http%3A%2F%2F127.0.0.1%2Fmcp";
    let r = http()
        .post(format!("{origin}/token"))
        .header("authorization", &basic)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(form)
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    assert!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("application/json"))
    );
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["access_token"], "idp-issued-access-token");
    assert_eq!(v["echo"]["body"], json!(form));
    assert_eq!(v["echo"]["authorization"], json!(basic));
    assert_eq!(
        v["echo"]["content_type"],
        json!("application/x-www-form-urlencoded")
    );
    // IAM's errors come back as they are.
    let r = http()
        .post(format!("{origin}/token"))
        .header("authorization", &basic)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=authorization_code&code=expired-code")
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"], "invalid_grant");

    // 6. With the token, the same initialize succeeds.
    let token = token_a(&iam_claims("claude-user"));
    let r = http()
        .post(&server.url)
        .header("accept", "*/*")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(serde_json::to_vec(&initialize_body()).expect("json"))
        .send()
        .await
        .expect("initialize");
    assert_eq!(r.status(), 200);
    let v = jsonrpc_message(&r.text().await.expect("body")).expect("json-rpc");
    assert_eq!(v["result"]["serverInfo"]["name"], "adb-mcp");
}

// ---------------------------------------------------------------------------
// 4. Per-tool scopes.

async fn mcp_client(url: &str, token: &str) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.to_owned()).auth_header(token),
    );
    ().serve(transport).await.expect("initialize with a token")
}

#[tokio::test]
async fn tool_scopes_hide_and_refuse_run_query() {
    let idp = Idp::start(vec![keys().jwk_a.clone()]).await;
    let mut config = auth_config(&idp, SessionMode::Stateless, "http://127.0.0.1/mcp");
    config.auth.tool_scopes =
        BTreeMap::from([("run_query".to_owned(), vec!["mcp.query".to_owned()])]);
    let server = start(config).await;

    // PRM advertises the extra scope.
    let (_, prm) = get_json(&format!(
        "{}/.well-known/oauth-protected-resource/mcp",
        origin_of(&server)
    ))
    .await;
    assert_eq!(prm["scopes_supported"], json!([SCOPE_TOOLS, SCOPE_QUERY]));

    let tools_only = token_a(&iam_claims("scopes-tools-only"));
    let client = mcp_client(&server.url, &tools_only).await;
    let names: Vec<String> = client
        .list_all_tools()
        .await
        .expect("tools/list")
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(!names.is_empty());
    assert!(!names.iter().any(|n| n == "run_query"), "{names:?}");
    let refused = client
        .call_tool(
            CallToolRequestParams::new("run_query")
                .with_arguments(support::args(json!({"sql": QUERY_SQL}))),
        )
        .await;
    assert!(refused.is_err(), "{refused:?}");
    client.cancel().await.ok();

    let r = post_mcp(
        &server.url,
        &run_query_body(),
        Some(&bearer(&tools_only)),
        &[],
    )
    .await;
    assert_eq!(r.status(), 403);
    let www = challenge(&r).expect("challenge");
    assert!(www.contains("error=\"insufficient_scope\""), "{www}");
    assert!(
        www.contains(&format!("scope=\"{SCOPE_TOOLS} {SCOPE_QUERY}\"")),
        "{www}"
    );
    let text = r.text().await.expect("body");
    assert!(!text.contains("\"result\""), "{text}");
    assert_eq!(tool_calls_logged_for("scopes-tools-only"), 0);

    // Reshaped calls that the HTTP-level check cannot read are refused too
    // (rmcp rejects them, or the tool handler re-checks the scopes).
    let sql = json!(QUERY_SQL).to_string();
    for body in [
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"list_tables","name":"run_query","arguments":{{"sql":{sql}}}}}}}"#
        ),
        format!(
            r#"[{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"run_query","arguments":{{"sql":{sql}}}}}}}]"#
        ),
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"run\u005fquery","arguments":{{"sql":{sql}}}}}}}"#
        ),
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"run_query","arguments":{{"sql":{sql}}}}},"params":{{"name":"list_tables"}}}}"#
        ),
    ] {
        let r = http()
            .post(&server.url)
            .header("accept", ACCEPT_BOTH)
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {tools_only}"))
            .body(body.clone())
            .send()
            .await
            .expect("post");
        let status = r.status();
        let text = r.text().await.expect("body");
        assert!(
            !text.contains("\"result\"") && !text.contains("\"rows\""),
            "{body} → {status} {text}"
        );
    }
    assert_eq!(tool_calls_logged_for("scopes-tools-only"), 0);

    let both = token_a(&with(
        iam_claims("scopes-both"),
        "scope",
        json!("mcp.tools mcp.query"),
    ));
    let client = mcp_client(&server.url, &both).await;
    let names: Vec<String> = client
        .list_all_tools()
        .await
        .expect("tools/list")
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(names.iter().any(|n| n == "run_query"), "{names:?}");
    let result = support::call(&client, "run_query", json!({"sql": QUERY_SQL})).await;
    assert!(!support::is_error(&result), "{result:?}");
    assert!(
        support::structured(&result)["rows"][0][0]
            .as_i64()
            .is_some_and(|n| n > 0)
    );
    client.cancel().await.ok();
    assert_eq!(tool_calls_logged_for("scopes-both"), 1);
}

// ---------------------------------------------------------------------------
// 5. Sessions belong to the subject that created them.

#[tokio::test]
async fn sessions_are_bound_to_their_subject() {
    let idp = Idp::start(vec![keys().jwk_a.clone()]).await;
    let server = start(auth_config(
        &idp,
        SessionMode::Stateful,
        "http://127.0.0.1/mcp",
    ))
    .await;
    let alice = bearer(&token_a(&iam_claims("session-alice")));
    let bob = bearer(&token_a(&iam_claims("session-bob")));

    let r = post_mcp(&server.url, &initialize_body(), Some(&alice), &[]).await;
    assert_eq!(r.status(), 200);
    let sid = r
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .expect("session id")
        .to_owned();
    let v = jsonrpc_message(&r.text().await.expect("body")).expect("initialize result");
    assert_eq!(v["result"]["serverInfo"]["name"], "adb-mcp");
    let in_session = [("mcp-session-id", sid.as_str())];
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let r = post_mcp(&server.url, &initialized, Some(&alice), &in_session).await;
    assert!(r.status().is_success(), "{}", r.status());

    // Bob, validly authenticated, cannot use Alice's session.
    let r = post_mcp(&server.url, &run_query_body(), Some(&bob), &in_session).await;
    assert_eq!(r.status(), 404);
    let text = r.text().await.expect("body");
    assert!(!text.contains("\"result\""), "{text}");
    let r = http()
        .delete(&server.url)
        .header(
            "authorization",
            String::from_utf8(bob.clone()).expect("ascii"),
        )
        .header("mcp-session-id", &sid)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 404, "Bob cannot end Alice's session either");
    assert_eq!(tool_calls_logged_for("session-bob"), 0);

    // Without a token, every kind of request in the session is challenged.
    let r = post_mcp(&server.url, &run_query_body(), None, &in_session).await;
    assert_eq!(r.status(), 401);
    assert!(challenge(&r).is_some());
    assert!(!r.text().await.expect("body").contains("\"result\""));
    let r = http()
        .get(&server.url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &sid)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 401);
    assert!(challenge(&r).is_some());
    let r = http()
        .delete(&server.url)
        .header("mcp-session-id", &sid)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 401);
    let expired = bearer(&token_a(&with(
        iam_claims("session-alice"),
        "exp",
        json!(now() - 600),
    )));
    let r = post_mcp(&server.url, &run_query_body(), Some(&expired), &in_session).await;
    assert_eq!(r.status(), 401, "Alice's expired token is refused too");

    // Alice carries on.
    let r = post_mcp(&server.url, &run_query_body(), Some(&alice), &in_session).await;
    assert_eq!(r.status(), 200);
    let v = jsonrpc_message(&r.text().await.expect("body")).expect("tools/call result");
    assert!(
        v["result"]["structuredContent"]["rows"][0][0]
            .as_i64()
            .is_some_and(|n| n > 0),
        "{v}"
    );
    assert_eq!(tool_calls_logged_for("session-alice"), 1);
    // A new token for the same subject (a refresh) keeps the session.
    let refreshed = bearer(&token_a(&iam_claims("session-alice")));
    let r = post_mcp(
        &server.url,
        &run_query_body(),
        Some(&refreshed),
        &in_session,
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = http()
        .delete(&server.url)
        .header(
            "authorization",
            String::from_utf8(alice.clone()).expect("ascii"),
        )
        .header("mcp-session-id", &sid)
        .send()
        .await
        .expect("delete");
    assert!(r.status().is_success(), "{}", r.status());
}

// ---------------------------------------------------------------------------
// 6. Configuration refuses an open server and names the bad key.

fn load(toml: &str) -> Result<Config, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("adb-mcp.toml");
    std::fs::write(&path, toml).expect("write config");
    let config = Config::load(&ConfigFile { path: Some(path) }, CliOverrides::default())
        .map(|l| l.config)
        .map_err(|e| e.to_string())?;
    // What startup checks beyond the file (tool names in auth.tool_scopes).
    adb_mcp::app::check(&config).map_err(|e| e.to_string())?;
    Ok(config)
}

const GOOD_AUTH: &str = r#"
[server]
bind = "0.0.0.0:8080"

[auth]
enabled = true
resource = "https://mcp.example.test/mcp"

[[auth.providers]]
profile = "oracle-iam"
domain_url = "https://idcs-0123456789abcdef.identity.oraclecloud.com"
audiences = ["https://mcp.example.test/"]
scopes = ["mcp.tools"]
verify_claims = [{ key = "tok_type", values = ["AT"] }]
"#;

#[test]
fn config_refuses_open_or_incomplete_auth() {
    let loaded = load(GOOD_AUTH).expect("a complete oracle-iam config loads");
    assert!(loaded.auth.enabled);
    assert_eq!(loaded.auth.providers[0].profile, ProfileKind::OracleIam);

    let open = load("[server]\nbind = \"0.0.0.0:8080\"\n").expect_err("open server");
    assert!(open.contains("`auth.enabled`"), "{open}");
    // Never set by the file: a default, not a line of adb-mcp's source.
    assert!(
        open.contains("(default)") && !open.contains(".rs:"),
        "{open}"
    );

    let cases: Vec<(&str, String, &str)> = vec![
        (
            "missing resource",
            GOOD_AUTH.replace("resource = \"https://mcp.example.test/mcp\"\n", ""),
            "`auth.resource`",
        ),
        (
            "http resource on a public host",
            GOOD_AUTH.replace(
                "resource = \"https://mcp.example.test/mcp\"",
                "resource = \"http://mcp.example.test/mcp\"",
            ),
            "`auth.resource`",
        ),
        (
            "no providers",
            GOOD_AUTH
                .split("[[auth.providers]]")
                .next()
                .expect("head")
                .to_owned(),
            "`auth.providers`",
        ),
        (
            "oracle-iam without domain_url",
            GOOD_AUTH.replace(
                "domain_url = \"https://idcs-0123456789abcdef.identity.oraclecloud.com\"\n",
                "",
            ),
            "`auth.providers[0].domain_url`",
        ),
        (
            "no audiences",
            GOOD_AUTH.replace("audiences = [\"https://mcp.example.test/\"]\n", ""),
            "`auth.providers[0].audiences`",
        ),
        (
            "HS256 allowed",
            GOOD_AUTH.replace(
                "scopes = [\"mcp.tools\"]",
                "scopes = [\"mcp.tools\"]\nalgorithms = [\"RS256\", \"HS256\"]",
            ),
            "`auth.providers[0].algorithms`",
        ),
        (
            "alg none allowed",
            GOOD_AUTH.replace(
                "scopes = [\"mcp.tools\"]",
                "scopes = [\"mcp.tools\"]\nalgorithms = [\"none\"]",
            ),
            "`auth.providers[0].algorithms`",
        ),
        (
            "http discovery URL without allow_insecure_http",
            GOOD_AUTH.replace(
                "profile = \"oracle-iam\"\ndomain_url = \"https://idcs-0123456789abcdef.identity.oraclecloud.com\"",
                "profile = \"generic\"\ndiscovery_url = \"http://127.0.0.1:9/.well-known/openid-configuration\"",
            ),
            "`auth.providers[0].discovery_url`",
        ),
        (
            "http discovery URL on a public host even with allow_insecure_http",
            GOOD_AUTH
                .replace("enabled = true", "enabled = true\nallow_insecure_http = true")
                .replace(
                    "profile = \"oracle-iam\"\ndomain_url = \"https://idcs-0123456789abcdef.identity.oraclecloud.com\"",
                    "profile = \"generic\"\ndiscovery_url = \"http://idp.example.test/.well-known/openid-configuration\"",
                ),
            "`auth.providers[0].discovery_url`",
        ),
        (
            "http domain_url",
            GOOD_AUTH.replace(
                "https://idcs-0123456789abcdef.identity.oraclecloud.com",
                "http://idcs-0123456789abcdef.identity.oraclecloud.com",
            ),
            "auth.providers[0].",
        ),
        (
            "leeway 300",
            GOOD_AUTH.replace("enabled = true", "enabled = true\nleeway_secs = 300"),
            "`auth.leeway_secs`",
        ),
        (
            "tool scope for an unknown tool",
            GOOD_AUTH.replace(
                "enabled = true",
                "enabled = true\ntool_scopes = { drop_table = [\"mcp.admin\"] }",
            ),
            "`auth.tool_scopes`",
        ),
    ];
    let mut failures = Vec::new();
    for (name, toml, key) in &cases {
        match load(toml) {
            Ok(_) => failures.push(format!("{name}: loaded, expected an error naming {key}")),
            Err(e) if !e.contains(key) => failures.push(format!("{name}: {e} (expected {key})")),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------
// 7. Tokens never reach the logs.

#[tokio::test]
async fn bearer_tokens_never_reach_the_logs() {
    let idp = Idp::start(vec![keys().jwk_a.clone()]).await;
    let mut config = auth_config(&idp, SessionMode::Stateless, "http://127.0.0.1/mcp");
    config.auth.compat_routes = true;
    let server = start(config).await;

    let accepted = token_a(&iam_claims("logs-accepted"));
    let r = post_mcp(
        &server.url,
        &run_query_body(),
        Some(&bearer(&accepted)),
        &[],
    )
    .await;
    assert_eq!(r.status(), 200);
    let refused = token_a(&with(iam_claims("logs-refused"), "exp", json!(now() - 600)));
    let r = post_mcp(&server.url, &run_query_body(), Some(&bearer(&refused)), &[]).await;
    assert_eq!(r.status(), 401);
    let forged = sign(
        &header(Algorithm::RS256, Some(KID_A)),
        &iam_claims("logs-forged"),
        &keys().b,
    );
    let r = post_mcp(&server.url, &run_query_body(), Some(&bearer(&forged)), &[]).await;
    assert_eq!(r.status(), 401);
    let in_query = token_a(&iam_claims("logs-query"));
    let r = post_mcp(
        &format!("{}?access_token={in_query}", server.url),
        &run_query_body(),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status(), 401);
    let secret = "do-not-log-this-client-secret";
    let r = http()
        .post(format!("http://{}/token", server.addr))
        .header(
            "authorization",
            format!("Basic {}", STANDARD.encode(format!("client:{secret}"))),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=authorization_code&code=c&client_secret={secret}"
        ))
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 200);

    let captured = logs();
    assert!(
        captured.contains("request refused by auth"),
        "the capture must see the server's logs"
    );
    assert!(
        captured.contains(" TRACE ") && captured.contains(" DEBUG "),
        "the capture must reach down to trace level"
    );
    assert_eq!(tool_calls_logged_for("logs-accepted"), 1);
    // Every token minted by this test binary so far, whole and in pieces.
    let minted = MINTED.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert!(minted.contains(&accepted) && minted.contains(&in_query));
    let mut leaks = Vec::new();
    for token in &minted {
        let mut needles = vec![token.as_str()];
        needles.extend(token.split('.').skip(1).filter(|p| p.len() >= 24));
        for needle in needles {
            if let Some(line) = captured.lines().find(|l| l.contains(needle)) {
                leaks.push(line.chars().take(300).collect::<String>());
            }
        }
    }
    for needle in [secret, &STANDARD.encode(format!("client:{secret}"))] {
        if let Some(line) = captured.lines().find(|l| l.contains(needle)) {
            leaks.push(line.chars().take(300).collect::<String>());
        }
    }
    assert!(
        leaks.is_empty(),
        "secrets in the logs:\n{}",
        leaks.join("\n")
    );
}

/// Guards the harness itself: the log capture is live and timing is sane.
#[tokio::test]
async fn log_capture_sees_tool_calls() {
    let idp = Idp::start(vec![keys().jwk_a.clone()]).await;
    let server = start(auth_config(
        &idp,
        SessionMode::Stateless,
        "http://127.0.0.1/mcp",
    ))
    .await;
    let started = Instant::now();
    let token = token_a(&iam_claims("harness-check"));
    let r = post_mcp(&server.url, &run_query_body(), Some(&bearer(&token)), &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(tool_calls_logged_for("harness-check"), 1);
    assert_eq!(
        tool_calls_logged_for("harness-chec"),
        0,
        "exact subject match"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}
