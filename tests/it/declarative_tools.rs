//! Declarative SQL tools (`tools/*.toml`) through a real MCP client over
//! Streamable HTTP: the shipped examples against the demo database, every
//! parameter type and constraint, token-bound parameters, scopes, load
//! errors with file and line, reload, writing tools and built-in selection.
//!
//! Tokens are signed with the committed test-only keys in
//! `tests/fixtures/keys/` and checked against a static JWK set file (the
//! server's `jwks_file` option); no identity provider is contacted.

use crate::support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use adb_mcp::config::auth::{DEFAULT_ALGORITHMS, MetadataMode, ProfileKind, ProviderConfig};
use adb_mcp::config::tools::ReloadMode;
use adb_mcp::config::{Config, SessionMode};
use adb_mcp::mcp::declarative::{self, LoadOptions};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rmcp::model::{CallToolRequestParams, CallToolResult, Tool};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use support::*;

const ISSUER: &str = "https://idp.test.invalid/";
const AUDIENCE: &str = "adb-mcp-tests";
const REP_EMAIL: &str = "lrossi@corp.example.com";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture_dir(name: &str) -> PathBuf {
    root().join("tests/fixtures/tools").join(name)
}

fn config_with_dir(mode: SessionMode, dir: &Path) -> Config {
    let mut config = test_config(mode);
    config.tools.dir = Some(dir.to_path_buf());
    config.tools.reload = ReloadMode::Off;
    config
}

async fn names(client: &RunningService<RoleClient, impl ClientHandler>) -> Vec<String> {
    let mut n: Vec<String> = client
        .list_all_tools()
        .await
        .expect("tools/list")
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    n.sort();
    n
}

async fn tool(client: &RunningService<RoleClient, ()>, name: &str) -> Tool {
    client
        .list_all_tools()
        .await
        .expect("tools/list")
        .into_iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("{name} not listed"))
}

fn rows(r: &CallToolResult) -> Vec<Value> {
    structured(r)["rows"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A tool error (isError) whose text contains every fragment.
fn assert_tool_error(r: &CallToolResult, fragments: &[&str]) {
    assert!(is_error(r), "expected a tool error, got {r:?}");
    let text = text_of(r);
    for f in fragments {
        assert!(text.contains(f), "`{f}` not in: {text}");
    }
}

async fn run_query(
    client: &RunningService<RoleClient, ()>,
    sql: &str,
    params: Value,
) -> Vec<Value> {
    let r = call(
        client,
        "run_query",
        json!({"sql": sql, "params": params, "max_rows": 10000}),
    )
    .await;
    assert!(!is_error(&r), "{}", text_of(&r));
    rows(&r)
}

// ---------------------------------------------------------------------------
// The shipped examples.

#[tokio::test]
async fn example_tools_run_against_the_demo_database() {
    let server = TestServer::start_with_tools(config_with_dir(
        SessionMode::Stateless,
        &root().join("tools"),
    ))
    .await;
    let client = server.client().await;
    let listed = names(&client).await;
    for expected in [
        "department_headcount",
        "describe_table",
        "explain_query",
        "find_customers",
        "list_schemas",
        "list_tables",
        "my_sales",
        "orders_for_customer",
        "orders_placed_between",
        "run_query",
        "top_products_by_revenue",
    ] {
        assert!(
            listed.iter().any(|n| n == expected),
            "{expected} missing from {listed:?}"
        );
    }
    // Writing tools stay hidden unless tools.allow_writes is on.
    assert!(
        !listed.iter().any(|n| n == "set_order_status"),
        "{listed:?}"
    );

    // The published definition.
    let t = tool(&client, "orders_for_customer").await;
    let schema = Value::Object((*t.input_schema).clone());
    assert_eq!(schema["required"], json!(["customer_id"]));
    assert_eq!(schema["additionalProperties"], json!(false));
    assert_eq!(schema["properties"]["customer_id"]["type"], "integer");
    assert_eq!(schema["properties"]["customer_id"]["minimum"], 1);
    assert_eq!(
        schema["properties"]["status"]["enum"],
        json!(["pending", "shipped", "delivered", "cancelled", "returned"])
    );
    assert_eq!(schema["properties"]["from_date"]["format"], "date");
    assert_eq!(schema["properties"]["max_rows"]["maximum"], 50);
    let ann = t.annotations.as_ref().expect("annotations");
    assert_eq!(ann.read_only_hint, Some(true));
    assert_eq!(ann.destructive_hint, Some(false));
    assert_eq!(t.title.as_deref(), Some("Orders of a customer"));
    assert_eq!(
        t.meta.as_ref().and_then(|m| m.0.get("adb-mcp/toolset")),
        Some(&json!("sales"))
    );
    let out = Value::Object((**t.output_schema.as_ref().expect("output")).clone());
    assert!(
        out["description"]
            .as_str()
            .unwrap_or("")
            .contains("One row per order")
    );
    assert!(out["properties"]["rows"].is_object(), "{out}");
    // Claim-bound parameters never appear in the input schema.
    let mine = tool(&client, "my_sales").await;
    assert!(mine.input_schema["properties"].get("user_email").is_none());

    // orders_for_customer agrees with the same question asked through run_query.
    let r = call(&client, "orders_for_customer", json!({"customer_id": 42})).await;
    assert!(!is_error(&r), "{}", text_of(&r));
    let expected = run_query(
        &client,
        "SELECT order_id FROM orders WHERE customer_id = :c ORDER BY order_date DESC, order_id DESC",
        json!({"c": 42}),
    )
    .await;
    let got: Vec<Value> = rows(&r).iter().map(|row| row[0].clone()).collect();
    let want: Vec<Value> = expected.iter().take(50).map(|row| row[0].clone()).collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);
    let cols: Vec<&str> = structured(&r)["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        cols,
        [
            "order_id",
            "order_date",
            "status",
            "item_count",
            "total_amount"
        ]
    );
    assert!(
        text_of(&r).starts_with("order_id | order_date"),
        "{}",
        text_of(&r)
    );

    // Optional filters narrow; the date range is inclusive.
    let r = call(
        &client,
        "orders_for_customer",
        json!({"customer_id": 42, "status": "delivered", "from_date": "2023-01-01", "to_date": "2024-12-31"}),
    )
    .await;
    assert!(!is_error(&r), "{}", text_of(&r));
    for row in rows(&r) {
        assert_eq!(row[2], "delivered");
        let date = row[1].as_str().unwrap_or("");
        assert!(("2023-01-01".."2025-01-01").contains(&date), "{date}");
    }

    // top_products_by_revenue: default date, ranked, capped at 25.
    let r = call(
        &client,
        "top_products_by_revenue",
        json!({"category": "Laptops"}),
    )
    .await;
    assert!(!is_error(&r), "{}", text_of(&r));
    let ranked = rows(&r);
    assert!(!ranked.is_empty() && ranked.len() <= 25);
    let revenue: Vec<f64> = ranked.iter().filter_map(|row| row[4].as_f64()).collect();
    assert!(revenue.windows(2).all(|w| w[0] >= w[1]), "{revenue:?}");
    assert!(ranked.iter().all(|row| row[2] == "Laptops"));

    // find_customers: boolean and pattern-checked country.
    let r = call(
        &client,
        "find_customers",
        json!({"name": "an", "country": "GB", "with_orders": true}),
    )
    .await;
    assert!(!is_error(&r), "{}", text_of(&r));
    let found = rows(&r);
    assert!(!found.is_empty());
    for row in &found {
        assert_eq!(row[4], "GB");
        assert!(row[6].as_i64().unwrap_or(0) > 0, "{row}");
    }
    let r = call(
        &client,
        "find_customers",
        json!({"name": "an", "country": "gb"}),
    )
    .await;
    assert_tool_error(&r, &["country", "pattern ^[A-Z]{2}$"]);

    // orders_placed_between: timestamps with an offset are compared in UTC.
    let r = call(
        &client,
        "orders_placed_between",
        json!({"start": "2024-11-29T02:00:00+02:00", "end": "2024-11-30T00:00:00Z"}),
    )
    .await;
    assert!(!is_error(&r), "{}", text_of(&r));
    let expected = run_query(
        &client,
        "SELECT order_id FROM orders WHERE order_date >= '2024-11-29T00:00:00' AND order_date < '2024-11-30T00:00:00' ORDER BY order_date, order_id",
        json!({}),
    )
    .await;
    assert!(!expected.is_empty());
    let got: Vec<Value> = rows(&r).iter().map(|row| row[0].clone()).collect();
    let want: Vec<Value> = expected
        .iter()
        .take(100)
        .map(|row| row[0].clone())
        .collect();
    assert_eq!(got, want);

    let r = call(&client, "department_headcount", json!({"min_employees": 5})).await;
    assert!(!is_error(&r), "{}", text_of(&r));
    assert!(rows(&r).iter().all(|row| row[2].as_i64().unwrap_or(0) >= 5));

    // Without authentication there is no token to bind the e-mail from.
    let r = call(&client, "my_sales", json!({})).await;
    assert_tool_error(&r, &["my_sales", "email", "without authentication"]);
    client.cancel().await.ok();
}

// ---------------------------------------------------------------------------
// Types and constraints.

#[tokio::test]
async fn every_type_and_constraint_is_enforced_before_the_database() {
    let server = TestServer::start_with_tools(config_with_dir(
        SessionMode::Stateless,
        &fixture_dir("types"),
    ))
    .await;
    let client = server.client().await;

    let ok = call(
        &client,
        "typed_echo",
        json!({
            "s": "abc", "code": "AB-12", "i": -5, "n": 0.5, "b": true,
            "d": "2024-02-29", "t": "2024-06-01T09:30:00.250+02:00", "e": "green",
        }),
    )
    .await;
    assert!(!is_error(&ok), "{}", text_of(&ok));
    assert_eq!(
        rows(&ok)[0],
        // Booleans bind as 1 in SQLite; timestamps are normalised to UTC;
        // absent optionals are NULL; defaults fill in.
        json!([
            "abc",
            "AB-12",
            -5,
            0.5,
            1,
            "2024-02-29",
            "2024-06-01T07:30:00.250",
            "green",
            null,
            7,
            2
        ])
    );
    let minimal = call(
        &client,
        "typed_echo",
        json!({"s": "ab", "i": 10, "dflt": 9, "level": 3}),
    )
    .await;
    assert!(!is_error(&minimal), "{}", text_of(&minimal));
    assert_eq!(rows(&minimal)[0][9], 9);
    assert_eq!(rows(&minimal)[0][10], 3);
    // Integral floats are integers; explicit null is "absent".
    let r = call(
        &client,
        "typed_echo",
        json!({"s": "ab", "i": 4.0, "opt": null}),
    )
    .await;
    assert!(!is_error(&r), "{}", text_of(&r));
    assert_eq!(rows(&r)[0][2], 4);

    let base = json!({"s": "ab", "i": 1});
    let with = |k: &str, v: Value| {
        let mut a = base.clone();
        a[k] = v;
        a
    };
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            json!({"i": 1}),
            vec!["missing required argument `s` (string): A short word."],
        ),
        (
            json!({"s": "ab"}),
            vec!["missing required argument `i` (integer)"],
        ),
        (with("s", json!("a")), vec!["`s`", "at least 2 characters"]),
        (
            with("s", json!("abcdef")),
            vec!["`s`", "at most 5 characters"],
        ),
        (
            with("s", json!(12)),
            vec!["`s`", "must be a string, got number 12"],
        ),
        (
            with("code", json!("ab-12")),
            vec!["`code`", "pattern ^[A-Z]{2}-[0-9]+$"],
        ),
        (
            with("i", json!(11)),
            vec!["`i`", "at most 10, got number 11"],
        ),
        (with("i", json!(-6)), vec!["`i`", "at least -5"]),
        (
            with("i", json!("3")),
            vec!["`i`", "must be an integer, got string \"3\""],
        ),
        (with("i", json!(2.5)), vec!["`i`", "must be an integer"]),
        (with("n", json!(100)), vec!["`n`", "at most 99.5"]),
        (with("n", json!(0.25)), vec!["`n`", "at least 0.5"]),
        (with("n", json!("1")), vec!["`n`", "must be a number"]),
        (with("b", json!("yes")), vec!["`b`", "true or false"]),
        (
            with("d", json!("2023-02-29")),
            vec!["`d`", "date YYYY-MM-DD"],
        ),
        (
            with("d", json!("2019-12-31")),
            vec!["`d`", "at least 2020-01-01"],
        ),
        (
            with("d", json!("2030-01-01")),
            vec!["`d`", "at most 2029-12-31"],
        ),
        (
            with("t", json!("yesterday")),
            vec!["`t`", "timestamp like 2024-06-01T09:30:00Z"],
        ),
        (
            with("t", json!("2020-01-01T00:30:00+01:00")),
            vec!["`t`", "at least 2020-01-01T00:00:00"],
        ),
        (
            with("e", json!("blue")),
            vec!["`e`", "one of \"red\", \"green\""],
        ),
        (with("level", json!(4)), vec!["`level`", "one of 1, 2, 3"]),
        (with("opt", json!([1])), vec!["`opt`", "an array"]),
        (
            with("bogus", json!(1)),
            vec![
                "unknown argument `bogus`",
                "accepts s, code, i, n, b, d, t, e, opt, dflt, level, max_rows, offset",
            ],
        ),
        (with("max_rows", json!(0)), vec!["max_rows", "from 1 to"]),
        (with("offset", json!(-1)), vec!["offset", "0 or more"]),
    ];
    for (args, fragments) in cases {
        let r = call(&client, "typed_echo", args.clone()).await;
        assert!(is_error(&r), "{args} was accepted: {r:?}");
        let text = text_of(&r);
        assert!(text.starts_with("typed_echo: "), "{text}");
        for f in fragments {
            assert!(text.contains(f), "{args}: `{f}` not in: {text}");
        }
    }

    // The published schema carries the same constraints.
    let t = tool(&client, "typed_echo").await;
    let p = &t.input_schema["properties"];
    assert_eq!(p["s"]["minLength"], 2);
    assert_eq!(p["s"]["maxLength"], 5);
    assert_eq!(p["code"]["pattern"], "^[A-Z]{2}-[0-9]+$");
    assert_eq!(p["i"]["minimum"], -5);
    assert_eq!(p["n"]["maximum"], 99.5);
    assert_eq!(p["b"]["type"], "boolean");
    assert_eq!(p["d"]["format"], "date");
    assert!(
        p["d"]["description"]
            .as_str()
            .unwrap_or("")
            .contains("From 2020-01-01 to 2029-12-31")
    );
    assert_eq!(p["t"]["format"], "date-time");
    assert_eq!(p["e"]["enum"], json!(["red", "green"]));
    assert_eq!(p["dflt"]["default"], 7);
    assert_eq!(p["level"]["enum"], json!([1, 2, 3]));
    assert_eq!(t.input_schema["required"], json!(["s", "i"]));

    // Paging works like run_query: capped rows, truncated, next_offset.
    let first = call(&client, "count_to", json!({"n": 12})).await;
    assert_eq!(structured(&first)["rows"], json!([[1], [2], [3], [4], [5]]));
    assert_eq!(structured(&first)["truncated"], true);
    assert_eq!(structured(&first)["next_offset"], 5);
    let last = call(
        &client,
        "count_to",
        json!({"n": 12, "offset": 10, "max_rows": 3}),
    )
    .await;
    assert_eq!(structured(&last)["rows"], json!([[11], [12]]));
    assert_eq!(structured(&last)["truncated"], false);
    let over = call(&client, "count_to", json!({"n": 12, "max_rows": 6})).await;
    assert_tool_error(&over, &["max_rows", "from 1 to 5"]);
    client.cancel().await.ok();
}

// ---------------------------------------------------------------------------
// Load errors.

fn load_options(dir: &Path) -> LoadOptions {
    let mut config = test_config(SessionMode::Stateless);
    config.tools.dir = Some(dir.to_path_buf());
    LoadOptions::from_config(&config)
}

#[test]
fn load_errors_name_file_line_and_tool() {
    let err = declarative::load(&load_options(&fixture_dir("broken"))).expect_err("must fail");
    let text = err.to_string();
    let a = "tests/fixtures/tools/broken/a_binds.toml";
    let b = "tests/fixtures/tools/broken/b_types.toml";
    let c = "tests/fixtures/tools/broken/c_syntax.toml";
    for expected in [
        format!("{a}:8: tool `unknown_bind`: bind :customer has no parameter"),
        format!("{a}:4: tool `unknown_bind`: parameter `customer_id` is not used in the SQL"),
        format!(
            "{a}:18: tool `deletes_without_writes`: the SQL is refused by the read-only guard: only a single read-only SELECT or WITH query is allowed; found DELETE"
        ),
        format!("{a}:21: tool `run_query`: this name belongs to a built-in tool"),
        format!("{b}:4: tool `twice`: duplicate tool name, also defined at"),
        format!(
            "{b}:15: tool `bad_param`: parameter `a`: unknown type `decimal` (one of string, integer, number, boolean, date, timestamp, enum)"
        ),
        format!(
            "{b}:21: tool `bad_param`: parameter `b`: default: must be at least 10, got number 3"
        ),
        format!(
            "{b}:26: tool `bad_param`: parameter `c`: `min` does not apply to a string parameter"
        ),
        format!("{b}:31: tool `bad_param`: parameter `d`: default: must be a date YYYY-MM-DD"),
        format!("{c}:5: unknown field `descripton`"),
    ] {
        assert!(
            text.contains(&expected),
            "missing:\n  {expected}\nin:\n{text}"
        );
    }
    assert_eq!(err.problems.len(), 10, "{text}");

    // A configured directory must exist; the default one may be absent.
    let mut opts = load_options(&root().join("no-such-dir"));
    let err = declarative::load(&opts).expect_err("explicit dir");
    assert!(
        err.to_string()
            .contains("no-such-dir: the tools directory does not exist"),
        "{err}"
    );
    opts.explicit = false;
    let catalog = declarative::load(&opts).expect("default dir may be absent");
    assert!(catalog.tools.is_empty());
    assert_eq!(catalog.builtins.len(), 5);
}

#[test]
fn check_config_reports_tool_problems_and_config_names_the_key() {
    let bin = env!("CARGO_BIN_EXE_adb-mcp");
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("adb-mcp.toml");
    std::fs::write(
        &cfg,
        format!(
            "[tools]\ndir = {:?}\n",
            fixture_dir("broken").to_string_lossy()
        ),
    )
    .expect("write");
    let out = std::process::Command::new(bin)
        .args(["--config", &cfg.to_string_lossy(), "check-config"])
        .current_dir(dir.path())
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("a_binds.toml:8: tool `unknown_bind`"),
        "{stderr}"
    );

    std::fs::write(&cfg, "[tools]\ndir = \"/no/such/tools\"\n").expect("write");
    let out = std::process::Command::new(bin)
        .args(["--config", &cfg.to_string_lossy(), "check-config"])
        .current_dir(dir.path())
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`tools.dir`") && stderr.contains("/no/such/tools"),
        "{stderr}"
    );

    std::fs::write(&cfg, "[tools]\nbuiltin = [\"run_sql\"]\n").expect("write");
    let out = std::process::Command::new(bin)
        .args(["--config", &cfg.to_string_lossy(), "check-config"])
        .current_dir(dir.path())
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`tools.builtin`") && stderr.contains("run_sql"),
        "{stderr}"
    );

    std::fs::write(
        &cfg,
        format!(
            "[tools]\ndir = {:?}\n",
            fixture_dir("types").to_string_lossy()
        ),
    )
    .expect("write");
    let out = std::process::Command::new(bin)
        .args(["--config", &cfg.to_string_lossy(), "check-config"])
        .current_dir(dir.path())
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("# tools OK — 2 declarative tool(s) from 1 file(s)"),
        "{stdout}"
    );
}

// ---------------------------------------------------------------------------
// Built-in selection.

#[tokio::test]
async fn built_in_tools_can_be_disabled() {
    let mut config = config_with_dir(SessionMode::Stateless, &fixture_dir("types"));
    config.tools.builtin = vec![];
    let server = TestServer::start_with_tools(config).await;
    let client = server.client().await;
    assert_eq!(names(&client).await, ["count_to", "typed_echo"]);
    let refused = client
        .call_tool(
            CallToolRequestParams::new("run_query")
                .with_arguments(args(json!({"sql": "SELECT 1"}))),
        )
        .await;
    assert!(refused.is_err(), "{refused:?}");
    client.cancel().await.ok();

    let mut config = config_with_dir(SessionMode::Stateless, &fixture_dir("types"));
    config.tools.builtin = vec!["describe_table".into()];
    let server = TestServer::start_with_tools(config).await;
    let client = server.client().await;
    assert_eq!(
        names(&client).await,
        ["count_to", "describe_table", "typed_echo"]
    );
    client.cancel().await.ok();
}

// ---------------------------------------------------------------------------
// Tokens: claim-bound parameters and scopes.

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn token(sub: &str, scope: &str, extra: Value) -> String {
    let pem = std::fs::read(root().join("tests/fixtures/keys/rsa-a.pem")).expect("key");
    let key = EncodingKey::from_rsa_pem(&pem).expect("rsa key");
    let mut claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": sub, "scope": scope,
        "client_id": "test-client", "iat": now(), "exp": now() + 600,
    });
    if let (Some(c), Value::Object(extra)) = (claims.as_object_mut(), extra) {
        c.extend(extra);
    }
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("SIGNING_KEY".into());
    jsonwebtoken::encode(&header, &claims, &key).expect("sign")
}

/// Auth on, keys from a JWK set file: no identity provider needed.
fn auth_config(mode: SessionMode, tools: &Path, keys_dir: &Path) -> Config {
    let jwk: Value = serde_json::from_slice(
        &std::fs::read(root().join("tests/fixtures/keys/rsa-a.jwk.json")).expect("jwk"),
    )
    .expect("jwk json");
    let jwks = keys_dir.join("jwks.json");
    std::fs::write(&jwks, json!({"keys": [jwk]}).to_string()).expect("write jwks");
    let mut config = config_with_dir(mode, tools);
    config.auth.enabled = true;
    config.auth.resource = Some("http://127.0.0.1/mcp".into());
    config.auth.allow_insecure_http = true;
    config.auth.metadata = MetadataMode::Direct;
    config.auth.providers = vec![ProviderConfig {
        profile: ProfileKind::Generic,
        discovery_url: None,
        domain_url: None,
        tenant_id: None,
        issuers: vec![ISSUER.into()],
        audiences: vec![AUDIENCE.into()],
        scopes: vec!["mcp.tools".into()],
        scope_prefix: None,
        jwks_uri: None,
        jwks_file: Some(jwks),
        pem_files: vec![],
        algorithms: DEFAULT_ALGORITHMS.iter().map(|a| (*a).to_owned()).collect(),
        verify_claims: vec![],
    }];
    config
}

async fn client_with(url: &str, token: &str) -> RunningService<RoleClient, ()> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.to_owned()).auth_header(token),
    );
    ().serve(transport).await.expect("initialize with a token")
}

#[tokio::test]
async fn claim_bound_parameters_come_from_the_token_only() {
    let keys = tempfile::tempdir().expect("tmp");
    let server = TestServer::start_with_tools(auth_config(
        SessionMode::Stateless,
        &fixture_dir("claims"),
        keys.path(),
    ))
    .await;
    let rep = token(
        "user-rossi",
        "mcp.tools sales.read",
        json!({"email": REP_EMAIL, "department_id": 80}),
    );
    let client = client_with(&server.url, &rep).await;
    let t = tool(&client, "whoami").await;
    let props = t.input_schema["properties"]
        .as_object()
        .expect("properties");
    assert!(
        props
            .keys()
            .all(|k| ["note", "max_rows", "offset"].contains(&k.as_str())),
        "{props:?}"
    );

    let r = call(&client, "whoami", json!({"note": "hi"})).await;
    assert!(!is_error(&r), "{}", text_of(&r));
    assert_eq!(
        rows(&r)[0],
        json!(["user-rossi", "test-client", REP_EMAIL, 80, "hi"])
    );

    // Arguments can never override a claim-bound parameter.
    for (arg, value) in [
        ("email", json!("ceo@corp.example.com")),
        ("who", json!("admin")),
        ("dept", json!(1)),
    ] {
        let r = call(&client, "whoami", json!({ arg: value })).await;
        assert_tool_error(
            &r,
            &[&format!("argument `{arg}` cannot be passed"), "sign-in"],
        );
    }

    // The same question through run_query gives the same count.
    let mine = call(&client, "my_orders_count", json!({})).await;
    assert!(!is_error(&mine), "{}", text_of(&mine));
    let n = rows(&mine)[0][0].as_i64().expect("count");
    let direct = run_query(
        &client,
        "SELECT count(*) FROM orders o JOIN employees e ON e.employee_id = o.sales_rep_id WHERE e.email = :e",
        json!({"e": REP_EMAIL}),
    )
    .await;
    assert!(n > 0);
    assert_eq!(direct[0][0], n);
    client.cancel().await.ok();

    // A missing claim refuses the call: never a NULL bind.
    let no_email = token(
        "user-x",
        "mcp.tools sales.read",
        json!({"department_id": 80}),
    );
    let client = client_with(&server.url, &no_email).await;
    let r = call(&client, "whoami", json!({})).await;
    assert_tool_error(&r, &["whoami needs the `email` claim", "has none"]);
    // A claim that fails the parameter's constraints is refused too.
    let outsider = token(
        "user-y",
        "mcp.tools sales.read",
        json!({"email": "eve@evil.example", "department_id": 80}),
    );
    client.cancel().await.ok();
    let client = client_with(&server.url, &outsider).await;
    let r = call(&client, "whoami", json!({})).await;
    assert_tool_error(&r, &["`email` claim", "pattern"]);
    let wrong_type = token(
        "user-z",
        "mcp.tools",
        json!({"email": REP_EMAIL, "department_id": "eighty"}),
    );
    client.cancel().await.ok();
    let client = client_with(&server.url, &wrong_type).await;
    let r = call(&client, "whoami", json!({})).await;
    assert_tool_error(&r, &["`department_id` claim", "must be an integer"]);

    // Scopes: without sales.read the tool is hidden and refused.
    let listed = names(&client).await;
    assert!(!listed.iter().any(|n| n == "my_orders_count"), "{listed:?}");
    assert!(listed.iter().any(|n| n == "whoami"), "{listed:?}");
    let refused = client
        .call_tool(CallToolRequestParams::new("my_orders_count").with_arguments(args(json!({}))))
        .await;
    assert!(refused.is_err(), "{refused:?}");
    client.cancel().await.ok();
}

// ---------------------------------------------------------------------------
// Writing tools.

fn writable_copy(dir: &Path) -> PathBuf {
    let path = dir.join("writable.db");
    std::fs::copy(demo_db(), &path).expect("copy demo db");
    path
}

async fn status_of(client: &RunningService<RoleClient, ()>, order: i64) -> Value {
    let r = call(client, "order_status", json!({"order_id": order})).await;
    assert!(!is_error(&r), "{}", text_of(&r));
    rows(&r)[0][0].clone()
}

#[tokio::test]
async fn writing_tools_are_gated_by_config_scope_and_database() {
    let tmp = tempfile::tempdir().expect("tmp");
    let db = writable_copy(tmp.path());
    let mut config = config_with_dir(SessionMode::Stateless, &fixture_dir("writes"));
    config.database.sqlite.path = Some(db.clone());

    // Off by default: not listed, not callable.
    let server = TestServer::start_with_tools(config.clone()).await;
    let client = server.client().await;
    assert_eq!(
        names(&client)
            .await
            .iter()
            .filter(|n| n.as_str() == "set_order_status")
            .count(),
        0
    );
    let refused = client
        .call_tool(
            CallToolRequestParams::new("set_order_status")
                .with_arguments(args(json!({"order_id": 1, "status": "cancelled"}))),
        )
        .await;
    assert!(refused.is_err(), "{refused:?}");
    client.cancel().await.ok();
    drop(server);

    // Allowed: listed as destructive, and it writes.
    config.tools.allow_writes = true;
    let server = TestServer::start_with_tools(config.clone()).await;
    let client = server.client().await;
    let t = tool(&client, "set_order_status").await;
    let ann = t.annotations.as_ref().expect("annotations");
    assert_eq!(ann.read_only_hint, Some(false));
    assert_eq!(ann.destructive_hint, Some(true));
    assert!(t.input_schema["properties"].get("max_rows").is_none());
    let pending = run_query(
        &client,
        "SELECT order_id FROM orders WHERE status = 'pending' ORDER BY order_id LIMIT 1",
        json!({}),
    )
    .await[0][0]
        .as_i64()
        .expect("a pending order");
    let r = call(
        &client,
        "set_order_status",
        json!({"order_id": pending, "status": "cancelled"}),
    )
    .await;
    assert!(!is_error(&r), "{}", text_of(&r));
    assert_eq!(structured(&r)["rows_affected"], 1);
    assert_eq!(text_of(&r), "1 row affected.");
    assert_eq!(status_of(&client, pending).await, "cancelled");
    // Final orders do not change; arguments are validated as for reads.
    let r = call(
        &client,
        "set_order_status",
        json!({"order_id": pending, "status": "shipped"}),
    )
    .await;
    assert_eq!(structured(&r)["rows_affected"], 0);
    let r = call(
        &client,
        "set_order_status",
        json!({"order_id": pending, "status": "pending"}),
    )
    .await;
    assert_tool_error(&r, &["`status`", "one of"]);
    // run_query still cannot write, whatever the tools may do.
    let r = call(
        &client,
        "run_query",
        json!({"sql": "UPDATE orders SET status = 'pending'"}),
    )
    .await;
    assert!(is_error(&r));
    client.cancel().await.ok();
    drop(server);

    // With auth on, writing tools need the write scope.
    let keys = tempfile::tempdir().expect("tmp");
    let mut auth = auth_config(SessionMode::Stateless, &fixture_dir("writes"), keys.path());
    auth.database.sqlite.path = Some(db.clone());
    auth.tools.allow_writes = true;
    let server = TestServer::start_with_tools(auth).await;
    let reader = client_with(&server.url, &token("reader", "mcp.tools", json!({}))).await;
    assert!(!names(&reader).await.iter().any(|n| n == "set_order_status"));
    let refused = reader
        .call_tool(
            CallToolRequestParams::new("set_order_status")
                .with_arguments(args(json!({"order_id": 2, "status": "cancelled"}))),
        )
        .await;
    assert!(refused.is_err(), "{refused:?}");
    // The refusal is the HTTP layer's 403 step-up challenge naming the
    // declarative tool's scope, like a built-in's (RFC 6750 §3.1).
    let raw = reqwest::Client::new()
        .post(&server.url)
        .bearer_auth(token("reader", "mcp.tools", json!({})))
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "set_order_status", "arguments": {"order_id": 2, "status": "cancelled"}}}))
        .send()
        .await
        .expect("raw call");
    assert_eq!(raw.status(), 403);
    let challenge = raw
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        challenge.contains("insufficient_scope") && challenge.contains("mcp.write"),
        "{challenge}"
    );
    reader.cancel().await.ok();
    let writer = client_with(
        &server.url,
        &token("writer", "mcp.tools mcp.write", json!({})),
    )
    .await;
    assert!(names(&writer).await.iter().any(|n| n == "set_order_status"));
    writer.cancel().await.ok();
    drop(server);

    // The demo database (immutable) is never written, even when allowed.
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::copy(demo_db(), data.join("demo.db")).expect("copy");
    config.database.sqlite.path = None;
    config.database.sqlite.data_dir = data;
    let server = TestServer::start_with_tools(config).await;
    let client = server.client().await;
    let r = call(
        &client,
        "set_order_status",
        json!({"order_id": 3, "status": "cancelled"}),
    )
    .await;
    assert_tool_error(&r, &["read-only demo database", "database.sqlite.path"]);
    client.cancel().await.ok();
}

// ---------------------------------------------------------------------------
// Reload.

#[derive(Clone, Default)]
struct Watcher {
    changed: Arc<AtomicUsize>,
}

impl ClientHandler for Watcher {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.changed.fetch_add(1, Ordering::SeqCst);
    }
}

const GOOD: &str = r#"
[[tool]]
name = "region_count"
description = "How many regions there are."
sql = "SELECT count(*) AS n FROM regions"
"#;

const SECOND: &str = r#"
[[tool]]
name = "country_count"
description = "How many countries there are."
sql = "SELECT count(*) AS n FROM countries"
"#;

/// Polls until `f` holds; the bound only keeps a broken build from hanging.
async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn reload_swaps_good_sets_keeps_the_last_good_one_and_notifies() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("a.toml"), GOOD).expect("write");
    let mut config = config_with_dir(SessionMode::Stateful, dir.path());
    config.tools.reload = ReloadMode::Watch;
    config.tools.reload_debounce_ms = 50;
    let server = TestServer::start_with_tools(config).await;
    let reloader = server.reloader.as_ref().expect("reloader");

    let handler = Watcher::default();
    let client = handler
        .clone()
        .serve(StreamableHttpClientTransport::from_uri(server.url.clone()))
        .await
        .expect("initialize");
    let caps = client
        .peer_info()
        .and_then(|i| i.capabilities.tools.clone());
    assert_eq!(caps.and_then(|t| t.list_changed), Some(true));
    assert!(names(&client).await.contains(&"region_count".to_owned()));

    // A new good file: picked up, and the session is told.
    std::fs::write(dir.path().join("b.toml"), SECOND).expect("write");
    eventually("the second tool", || async {
        names(&client).await.contains(&"country_count".to_owned())
    })
    .await;
    eventually("tools/list_changed", || async {
        handler.changed.load(Ordering::SeqCst) >= 1
    })
    .await;
    let r = client
        .call_tool(CallToolRequestParams::new("country_count").with_arguments(args(json!({}))))
        .await
        .expect("call");
    assert_eq!(r.structured_content.expect("structured")["rows"][0][0], 25);

    // A broken file: the reload fails, names the file and line, and the
    // previous tools stay in service.
    std::fs::write(
        dir.path().join("b.toml"),
        "[[tool]]\nname = \"country_count\"\ndescription = \"x\"\nsql = \"DROP TABLE countries\"\n",
    )
    .expect("write");
    // No reload failed before, so any error is this file's.
    eventually("the failed reload", || async {
        reloader.last_error().is_some()
    })
    .await;
    let error = reloader.last_error().unwrap_or_default();
    assert!(error.contains("b.toml:4: tool `country_count`"), "{error}");
    let notified = handler.changed.load(Ordering::SeqCst);
    assert_eq!(
        names(&client).await,
        [
            "country_count",
            "describe_table",
            "explain_query",
            "list_schemas",
            "list_tables",
            "region_count",
            "run_query"
        ]
    );
    let r = client
        .call_tool(CallToolRequestParams::new("country_count").with_arguments(args(json!({}))))
        .await
        .expect("call");
    assert_eq!(r.is_error, Some(false));

    // Removing the bad file reloads again: only the first tool is left.
    std::fs::remove_file(dir.path().join("b.toml")).expect("rm");
    eventually("the removal", || async {
        !names(&client).await.contains(&"country_count".to_owned())
    })
    .await;
    eventually("a successful reload", || async {
        reloader.last_error().is_none()
    })
    .await;
    eventually("a second tools/list_changed", || async {
        handler.changed.load(Ordering::SeqCst) > notified
    })
    .await;
    client.cancel().await.ok();
}

#[tokio::test]
async fn stateless_mode_reloads_without_notifications() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("a.toml"), GOOD).expect("write");
    let mut config = config_with_dir(SessionMode::Stateless, dir.path());
    config.tools.reload = ReloadMode::Sighup;
    let server = TestServer::start_with_tools(config).await;
    let client = server.client().await;
    let caps = client
        .peer_info()
        .and_then(|i| i.capabilities.tools.clone());
    assert_ne!(caps.and_then(|t| t.list_changed), Some(true));
    std::fs::write(dir.path().join("b.toml"), SECOND).expect("write");
    // No file watch in sighup mode: only the trigger (what SIGHUP sends) reloads.
    let reloader = server.reloader.as_ref().expect("reloader");
    reloader.trigger();
    eventually("the triggered reload", || async {
        reloader.attempts() >= 1
    })
    .await;
    assert!(names(&client).await.contains(&"country_count".to_owned()));
    client.cancel().await.ok();
}

/// The real binary, reloading on a real SIGHUP.
#[cfg(unix)]
#[tokio::test]
async fn sighup_reloads_the_running_server() {
    let dir = tempfile::tempdir().expect("tmp");
    let tools = dir.path().join("tools");
    std::fs::create_dir(&tools).expect("mkdir");
    // Names no other test serves, in case another server ends up on our port.
    std::fs::write(
        tools.join("a.toml"),
        GOOD.replace("region_count", "hup_before"),
    )
    .expect("write");
    let http = reqwest::Client::new();
    let list = |url: String| {
        let http = http.clone();
        async move {
            let Ok(r) = http
                .post(&url)
                .header("accept", "application/json, text/event-stream")
                .header("content-type", "application/json")
                .header("mcp-protocol-version", "2025-06-18")
                .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
                .send()
                .await
            else {
                return Vec::new();
            };
            let body: Value = r.json().await.unwrap_or(Value::Null);
            body["result"]["tools"]
                .as_array()
                .map(|t| {
                    t.iter()
                        .filter_map(|t| t["name"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        }
    };
    // A reserved port can be taken before the child binds it: retry then.
    let mut started = None;
    for _ in 0..3 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let cfg = dir.path().join("adb-mcp.toml");
        std::fs::write(
            &cfg,
            format!(
                "[server]\nbind = \"127.0.0.1:{port}\"\n[database.sqlite]\npath = {:?}\n[tools]\ndir = {:?}\nreload = \"sighup\"\n",
                demo_db().to_string_lossy(),
                tools.to_string_lossy()
            ),
        )
        .expect("config");
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_adb-mcp"))
            .args(["--config", &cfg.to_string_lossy(), "serve"])
            .current_dir(dir.path())
            .env("RUST_LOG", "warn")
            .kill_on_drop(true)
            .spawn()
            .expect("spawn");
        let url = format!("http://127.0.0.1:{port}/mcp");
        let deadline = Instant::now() + Duration::from_secs(20);
        let up = loop {
            if list(url.clone()).await.contains(&"hup_before".to_owned()) {
                break true;
            }
            if child.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        if up {
            started = Some((child, url));
            break;
        }
        child.kill().await.ok();
    }
    let (mut child, url) = started.expect("the server did not start");
    std::fs::write(
        tools.join("b.toml"),
        SECOND.replace("country_count", "hup_after"),
    )
    .expect("write");
    let pid = child.id().expect("pid").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill");
    assert!(sent.success());
    eventually("the SIGHUP reload", || {
        let url = url.clone();
        let list = &list;
        async move { list(url).await.contains(&"hup_after".to_owned()) }
    })
    .await;
    child.kill().await.ok();
}
