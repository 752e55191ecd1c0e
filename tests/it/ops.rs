//! Running the server in production: `/metrics` content after a scripted
//! session, the audit log (success, error and refused calls, redaction,
//! no secrets), and rate / concurrency limits answering 429 or 503 with
//! `Retry-After`.
//!
//! Authenticated tests use static keys from `tests/fixtures/keys` (the
//! `jwks_file` provider setting) and tokens signed here with the matching
//! private key: the server validates them exactly as it would an IdP's.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use adb_mcp::app::AppError;
use adb_mcp::config::auth::MetadataMode;
use adb_mcp::config::ops::AuditTarget;
use adb_mcp::config::{Config, Secret, SessionMode};
use adb_mcp::mcp::ServerState;
use adb_mcp::observe::Observer;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::{Value, json};
use support::{SLOW_QUERY, call, is_error, test_config};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const ISSUER: &str = "https://idp.ops-test.invalid/";
const AUDIENCE: &str = "https://mcp.ops-test.invalid/";
const ACCEPT_BOTH: &str = "application/json, text/event-stream";

struct OpsServer {
    addr: SocketAddr,
    url: String,
    state: Arc<ServerState>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), AppError>>>,
}

impl OpsServer {
    async fn start(config: Config) -> Self {
        let app = support::http_app(&config, false).await;
        let state = Arc::clone(app.state());
        let server = app.bind().await.expect("bind");
        let addr = server.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            url: format!("http://{addr}/mcp"),
            state,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }

    async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = tokio::time::timeout(Duration::from_secs(20), h).await;
        }
    }
}

impl Drop for OpsServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

fn tools_call(id: u64, tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments}})
}

async fn post(url: &str, body: &Value, token: Option<&str>) -> reqwest::Response {
    let mut req = http()
        .post(url)
        .header("accept", ACCEPT_BOTH)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).expect("json"));
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    req.send().await.expect("post")
}

async fn scrape(server: &OpsServer) -> String {
    let r = http()
        .get(server.metrics_url())
        .send()
        .await
        .expect("scrape");
    assert_eq!(r.status(), 200);
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    r.text().await.expect("body")
}

/// One sample of the exposition: name and exact label set → value.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: BTreeMap<&str, &str> = labels.iter().copied().collect();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, got) = match series.split_once('{') {
            Some((m, rest)) => {
                let inner = rest.strip_suffix('}')?;
                let got: BTreeMap<&str, &str> = inner
                    .split("\",")
                    .filter(|kv| !kv.is_empty())
                    .filter_map(|kv| {
                        let (k, v) = kv.split_once('=')?;
                        Some((k, v.trim_matches('"')))
                    })
                    .collect();
                (m, got)
            }
            None => (series, BTreeMap::new()),
        };
        if metric == name && got == want {
            return value.parse().ok();
        }
    }
    None
}

fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    sample(text, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in\n{text}"))
}

// ---------------------------------------------------------------------------
// Tokens signed with the fixture key `rsa-a` (kid SIGNING_KEY); the server
// trusts `rsa-a.jwk.json` as a static key set.

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keys")
        .join(name)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn token(key_file: &str, sub: &str, scope: &str, exp_offset: i64) -> String {
    let pem = std::fs::read(fixture(key_file)).expect("key");
    let key = EncodingKey::from_rsa_pem(&pem).expect("rsa key");
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("SIGNING_KEY".into());
    let exp = now().saturating_add_signed(exp_offset);
    let claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": sub, "scope": scope,
        "client_id": "ops-test-client", "iat": now() - 10, "exp": exp,
    });
    jsonwebtoken::encode(&header, &claims, &key).expect("sign")
}

/// `rsa-a.jwk.json` wrapped in a JWK set, as an IdP publishes it.
fn jwks_file() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let jwk: Value =
            serde_json::from_str(&std::fs::read_to_string(fixture("rsa-a.jwk.json")).expect("jwk"))
                .expect("json");
        let dir = tempfile::tempdir().expect("tmp").keep();
        let path = dir.join("jwks.json");
        std::fs::write(&path, json!({ "keys": [jwk] }).to_string()).expect("write jwks");
        path
    })
    .clone()
}

fn auth_config() -> Config {
    let mut config = test_config(SessionMode::Stateless);
    config.auth.enabled = true;
    config.auth.resource = Some("http://127.0.0.1/mcp".into());
    config.auth.allow_insecure_http = true;
    config.auth.metadata = MetadataMode::Direct;
    config.auth.providers = vec![
        serde_json::from_value(json!({
            "profile": "generic",
            "issuers": [ISSUER],
            "audiences": [AUDIENCE],
            "scopes": ["mcp.tools"],
            "jwks_file": jwks_file(),
        }))
        .expect("provider"),
    ];
    config.auth.tool_scopes =
        BTreeMap::from([("run_query".to_owned(), vec!["mcp.query".to_owned()])]);
    config
}

fn audit_config(config: &mut Config, dir: &Path) -> PathBuf {
    let path = dir.join("audit.jsonl");
    config.audit.enabled = true;
    config.audit.target = AuditTarget::File;
    config.audit.path = path.clone();
    path
}

fn audit_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("audit file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each audit line is one JSON object"))
        .collect()
}

// ---------------------------------------------------------------------------
// Metrics.

#[tokio::test]
async fn metrics_follow_a_scripted_session() {
    let server = OpsServer::start(test_config(SessionMode::Stateless)).await;
    let client =
        ().serve(StreamableHttpClientTransport::from_uri(server.url.clone()))
            .await
            .expect("initialize");
    for _ in 0..3 {
        let r = call(
            &client,
            "run_query",
            json!({"sql": "SELECT 1 AS n UNION ALL SELECT 2"}),
        )
        .await;
        assert!(!is_error(&r), "{r:?}");
    }
    let r = call(&client, "run_query", json!({"sql": "DELETE FROM orders"})).await;
    assert!(is_error(&r));
    let r = call(&client, "describe_table", json!({"table": "no_such_table"})).await;
    assert!(is_error(&r));
    let unknown = client
        .call_tool(CallToolRequestParams::new("drop_all_tables"))
        .await;
    assert!(unknown.is_err(), "{unknown:?}");
    client.cancel().await.ok();

    let first = scrape(&server).await;
    let run = [("tool", "run_query")];
    assert_eq!(
        value(
            &first,
            "adb_mcp_tool_calls_total",
            &[run[0], ("outcome", "ok")]
        ),
        3.0
    );
    assert_eq!(
        value(
            &first,
            "adb_mcp_tool_calls_total",
            &[run[0], ("outcome", "error")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &first,
            "adb_mcp_tool_calls_total",
            &[("tool", "describe_table"), ("outcome", "error")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &first,
            "adb_mcp_tool_calls_total",
            &[("tool", "unknown"), ("outcome", "refused")]
        ),
        1.0
    );
    assert!(
        !first.contains("drop_all_tables"),
        "client text became a label"
    );
    assert_eq!(value(&first, "adb_mcp_tool_rows_returned_total", &run), 6.0);
    // Both run_query calls that ran are timed; the histogram is consistent.
    assert_eq!(
        value(&first, "adb_mcp_tool_call_duration_seconds_count", &run),
        4.0
    );
    assert_eq!(
        value(
            &first,
            "adb_mcp_tool_call_duration_seconds_bucket",
            &[run[0], ("le", "+Inf")]
        ),
        4.0
    );
    // The guard refused DELETE before the backend; the three queries reached it.
    assert_eq!(
        value(
            &first,
            "adb_mcp_backend_operation_duration_seconds_count",
            &[("operation", "query")]
        ),
        3.0
    );
    assert_eq!(
        value(
            &first,
            "adb_mcp_backend_errors_total",
            &[("operation", "describe_table"), ("code", "not_found")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &first,
            "adb_mcp_build_info",
            &[("version", adb_mcp::VERSION), ("backend", "sqlite")]
        ),
        1.0
    );
    assert!(value(&first, "adb_mcp_pool_connections", &[("state", "idle")]) >= 1.0);
    assert_eq!(
        value(&first, "adb_mcp_pool_connections", &[("state", "in_use")]),
        0.0
    );
    assert_eq!(
        value(&first, "adb_mcp_backend_operations_in_flight", &[]),
        0.0
    );
    assert_eq!(
        value(&first, "adb_mcp_limit_refusals_total", &[("limit", "rate")]),
        0.0
    );
    for leaked in ["SELECT", "DELETE", "no_such_table"] {
        assert!(!first.contains(leaked), "{leaked} in metrics");
    }
    assert!(first.ends_with("# EOF\n"));

    // HTTP counters move by exactly what we send.
    let mcp_200 = [("route", "/mcp"), ("status", "200")];
    let before = value(&first, "adb_mcp_http_requests_total", &mcp_200);
    for id in 0..4 {
        let r = post(
            &server.url,
            &tools_call(id, "list_schemas", json!({})),
            None,
        )
        .await;
        assert_eq!(r.status(), 200);
    }
    let r = http()
        .get(format!("http://{}/nope", server.addr))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    let second = scrape(&server).await;
    assert_eq!(
        value(&second, "adb_mcp_http_requests_total", &mcp_200) - before,
        4.0
    );
    assert_eq!(
        value(
            &second,
            "adb_mcp_http_requests_total",
            &[("route", "other"), ("status", "404")]
        ),
        1.0
    );
    // The first scrape is counted once it has been answered.
    assert_eq!(
        value(
            &second,
            "adb_mcp_http_requests_total",
            &[("route", "/metrics"), ("status", "200")]
        ),
        1.0
    );
    assert!(
        value(
            &second,
            "adb_mcp_http_request_duration_seconds_count",
            &[("route", "/mcp")]
        ) >= before + 4.0
    );
    assert_eq!(
        value(
            &second,
            "adb_mcp_tool_calls_total",
            &[("tool", "list_schemas"), ("outcome", "ok")]
        ),
        4.0
    );
    server.stop().await;
}

#[tokio::test]
async fn metrics_endpoint_is_local_only_or_needs_its_token() {
    let server = OpsServer::start(test_config(SessionMode::Stateless)).await;
    let r = http()
        .get(server.metrics_url())
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 403, "a proxied request is not local");
    scrape(&server).await;
    server.stop().await;

    let mut config = test_config(SessionMode::Stateless);
    config.metrics.token = Some(Secret::Inline("metrics-token-0123456789".into()));
    let server = OpsServer::start(config).await;
    let r = http().get(server.metrics_url()).send().await.expect("get");
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    let r = http()
        .get(server.metrics_url())
        .bearer_auth("metrics-token-wrong-456789")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 401);
    let r = http()
        .get(server.metrics_url())
        .bearer_auth("metrics-token-0123456789")
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200, "the token works from anywhere");
    assert!(r.text().await.expect("body").contains("adb_mcp_build_info"));
    server.stop().await;

    let mut config = test_config(SessionMode::Stateless);
    config.metrics.enabled = false;
    let server = OpsServer::start(config).await;
    let r = http().get(server.metrics_url()).send().await.expect("get");
    assert_eq!(r.status(), 404);
    server.stop().await;
}

// ---------------------------------------------------------------------------
// Audit log and auth failures.

#[tokio::test]
async fn audit_records_success_error_and_refused_calls_without_secrets() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut config = auth_config();
    let path = audit_config(&mut config, dir.path());
    let server = OpsServer::start(config).await;

    let both = token("rsa-a.pem", "alice", "mcp.tools mcp.query", 600);
    let tools_only = token("rsa-a.pem", "bob", "mcp.tools", 600);
    let forged = token("rsa-b.pem", "mallory", "mcp.tools mcp.query", 600);
    let expired = token("rsa-a.pem", "alice", "mcp.tools mcp.query", -3600);
    let password = "hunter2-do-not-log";

    let ok = tools_call(
        1,
        "run_query",
        json!({"sql": "SELECT :customer_id AS c, length(:password) AS n", "params": {"customer_id": 7, "password": password}}),
    );
    let r = post(&server.url, &ok, Some(&both)).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("body").contains("\"result\""));

    let r = post(
        &server.url,
        &tools_call(2, "run_query", json!({"sql": "DELETE FROM orders"})),
        Some(&both),
    )
    .await;
    assert_eq!(r.status(), 200);

    let r = post(
        &server.url,
        &tools_call(3, "run_query", json!({"sql": "SELECT 1"})),
        Some(&tools_only),
    )
    .await;
    assert_eq!(r.status(), 403, "missing scope");

    for bad in [&forged, &expired] {
        let r = post(&server.url, &ok, Some(bad)).await;
        assert_eq!(r.status(), 401);
    }
    let r = post(&server.url, &ok, None).await;
    assert_eq!(r.status(), 401);

    let lines = audit_lines(&path);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let (success, error, refused) = (&lines[0], &lines[1], &lines[2]);

    assert_eq!(success["tool"], "run_query");
    assert_eq!(success["outcome"], "ok");
    assert_eq!(success["rows"], 1);
    assert!(success["duration_us"].as_u64().is_some());
    assert_eq!(success["principal"]["subject"], "alice");
    assert_eq!(success["principal"]["client_id"], "ops-test-client");
    assert_eq!(success["principal"]["issuer"], ISSUER);
    assert_eq!(success["request_id"], 1);
    assert_eq!(
        success["sql"],
        "SELECT :customer_id AS c, length(:password) AS n"
    );
    assert_eq!(success["arguments"]["params"]["customer_id"], 7);
    assert_eq!(success["arguments"]["params"]["password"], "[redacted]");
    assert!(success.get("error_code").is_none());
    let time = success["time"].as_str().expect("time");
    assert!(time.ends_with('Z') && time.contains('T'), "{time}");

    assert_eq!(error["outcome"], "error");
    assert_eq!(error["sql"], "DELETE FROM orders");
    assert!(error["error_code"].as_str().is_some_and(|c| !c.is_empty()));
    assert_eq!(error["rows"], 0);

    assert_eq!(refused["outcome"], "refused");
    assert_eq!(refused["error_code"], "insufficient_scope");
    assert_eq!(refused["principal"]["subject"], "bob");
    assert_eq!(refused["tool"], "run_query");
    assert_eq!(refused["sql"], "SELECT 1");
    assert_eq!(refused["request_id"], 3);
    assert!(refused.get("duration_us").is_none());

    let raw = std::fs::read_to_string(&path).expect("audit");
    for secret in [
        both.as_str(),
        tools_only.as_str(),
        forged.as_str(),
        expired.as_str(),
        password,
    ] {
        assert!(!raw.contains(secret), "a secret reached the audit log");
    }
    // Token pieces (header, payload, signature) must not leak either.
    for part in both.split('.') {
        assert!(!raw.contains(part));
    }

    let text = scrape(&server).await;
    for (reason, n) in [
        ("bad_signature", 1.0),
        ("expired", 1.0),
        ("missing", 1.0),
        ("insufficient_scope", 1.0),
    ] {
        assert_eq!(
            value(&text, "adb_mcp_auth_failures_total", &[("reason", reason)]),
            n,
            "{reason}"
        );
    }
    assert_eq!(
        value(
            &text,
            "adb_mcp_tool_calls_total",
            &[("tool", "run_query"), ("outcome", "refused")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "adb_mcp_http_requests_total",
            &[("route", "/mcp"), ("status", "401")]
        ),
        3.0
    );
    assert_eq!(value(&text, "adb_mcp_audit_lines_total", &[]), 3.0);
    assert_eq!(value(&text, "adb_mcp_audit_write_errors_total", &[]), 0.0);
    assert_eq!(
        value(
            &text,
            "adb_mcp_jwks_refreshes_total",
            &[("provider", "0"), ("result", "error")]
        ),
        0.0
    );
    assert_eq!(value(&text, "adb_mcp_jwks_keys", &[("provider", "0")]), 1.0);
    assert!(
        !text.contains("alice") && !text.contains("bob"),
        "subjects are not labels"
    );
    server.stop().await;
}

#[tokio::test]
async fn audit_on_stdout_is_refused_for_the_stdio_transport() {
    let mut config = test_config(SessionMode::Stateless);
    config.audit.enabled = true;
    config.audit.target = AuditTarget::Stdout;
    let err = Observer::from_config(&config, true).expect_err("stdout is the transport");
    assert!(err.to_string().contains("audit.target"), "{err}");
    Observer::from_config(&config, false).expect("fine for HTTP");
}

// ---------------------------------------------------------------------------
// Limits.

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after_and_is_audited() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut config = auth_config();
    let path = audit_config(&mut config, dir.path());
    config.limits.rate_per_minute = 6;
    config.limits.burst = 2;
    let server = OpsServer::start(config).await;
    let alice = token("rsa-a.pem", "alice", "mcp.tools mcp.query", 600);
    let carol = token("rsa-a.pem", "carol", "mcp.tools mcp.query", 600);
    let body = tools_call(9, "run_query", json!({"sql": "SELECT 42 AS answer"}));

    for _ in 0..2 {
        assert_eq!(post(&server.url, &body, Some(&alice)).await.status(), 200);
    }
    let r = post(&server.url, &body, Some(&alice)).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    // 6/min = one request per 10 s.
    assert!((1..=10).contains(&retry), "{retry}");
    let v: Value = r.json().await.expect("json body");
    assert_eq!(v["error"], "rate_limited");
    // The bucket is per principal.
    assert_eq!(post(&server.url, &body, Some(&carol)).await.status(), 200);

    let lines = audit_lines(&path);
    let refused: Vec<&Value> = lines.iter().filter(|l| l["outcome"] == "refused").collect();
    assert_eq!(refused.len(), 1, "{lines:#?}");
    assert_eq!(refused[0]["error_code"], "rate_limited");
    assert_eq!(refused[0]["principal"]["subject"], "alice");
    assert_eq!(refused[0]["sql"], "SELECT 42 AS answer");
    assert_eq!(lines.iter().filter(|l| l["outcome"] == "ok").count(), 3);

    let text = scrape(&server).await;
    assert_eq!(
        value(&text, "adb_mcp_limit_refusals_total", &[("limit", "rate")]),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "adb_mcp_http_requests_total",
            &[("route", "/mcp"), ("status", "429")]
        ),
        1.0
    );
    server.stop().await;
}

async fn wait_for_running_calls(server: &OpsServer, n: usize) {
    for _ in 0..500 {
        if server.state.in_flight_calls() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the slow call never started");
}

#[tokio::test]
async fn concurrency_limits_answer_429_or_503_and_free_their_slots() {
    let mut config = test_config(SessionMode::Stateless);
    config.limits.max_concurrent_per_principal = 1;
    config.query.timeout_secs = 2;
    let server = OpsServer::start(config).await;
    let url = server.url.clone();
    let slow = tokio::spawn(async move {
        post(
            &url,
            &tools_call(1, "run_query", json!({"sql": SLOW_QUERY})),
            None,
        )
        .await
        .status()
    });
    wait_for_running_calls(&server, 1).await;
    let quick = tools_call(2, "list_schemas", json!({}));
    let r = post(&server.url, &quick, None).await;
    assert_eq!(r.status(), 429);
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"], "too_many_concurrent_requests");
    // GET is not a call: it does not need a slot (rmcp answers it itself).
    let r = http()
        .get(&server.url)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("get");
    assert_ne!(r.status(), 429);
    assert_eq!(
        slow.await.expect("slow call"),
        200,
        "the timeout is a tool error"
    );
    assert_eq!(
        post(&server.url, &quick, None).await.status(),
        200,
        "slot freed"
    );
    let text = scrape(&server).await;
    assert_eq!(
        value(
            &text,
            "adb_mcp_limit_refusals_total",
            &[("limit", "principal_concurrency")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "adb_mcp_tool_calls_total",
            &[("tool", "list_schemas"), ("outcome", "refused")]
        ),
        1.0
    );
    server.stop().await;

    let mut config = test_config(SessionMode::Stateless);
    config.limits.max_concurrent = 1;
    config.query.timeout_secs = 2;
    let server = OpsServer::start(config).await;
    let url = server.url.clone();
    let slow = tokio::spawn(async move {
        post(
            &url,
            &tools_call(1, "run_query", json!({"sql": SLOW_QUERY})),
            None,
        )
        .await
        .status()
    });
    wait_for_running_calls(&server, 1).await;
    let r = post(&server.url, &quick, None).await;
    assert_eq!(
        r.status(),
        503,
        "server-wide overload is not the caller's fault"
    );
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_eq!(slow.await.expect("slow call"), 200);
    assert_eq!(post(&server.url, &quick, None).await.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn limits_are_keyed_by_issuer_and_subject() {
    // Distinct subjects each get their own concurrency slot.
    let mut config = auth_config();
    config.limits.max_concurrent_per_principal = 1;
    config.query.timeout_secs = 2;
    let server = OpsServer::start(config).await;
    let alice = token("rsa-a.pem", "alice", "mcp.tools mcp.query", 600);
    let dave = token("rsa-a.pem", "dave", "mcp.tools mcp.query", 600);
    let url = server.url.clone();
    let a = alice.clone();
    let slow = tokio::spawn(async move {
        post(
            &url,
            &tools_call(1, "run_query", json!({"sql": SLOW_QUERY})),
            Some(&a),
        )
        .await
        .status()
    });
    wait_for_running_calls(&server, 1).await;
    let quick = tools_call(2, "list_schemas", json!({}));
    assert_eq!(post(&server.url, &quick, Some(&alice)).await.status(), 429);
    assert_eq!(post(&server.url, &quick, Some(&dave)).await.status(), 200);
    assert_eq!(slow.await.expect("slow"), 200);
    let seen: BTreeSet<u16> = [post(&server.url, &quick, Some(&alice))
        .await
        .status()
        .as_u16()]
    .into_iter()
    .collect();
    assert_eq!(seen, BTreeSet::from([200]));
    server.stop().await;
}
