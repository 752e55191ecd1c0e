//! The ORDS backend end to end: the real server, driven by rmcp's MCP client
//! over Streamable HTTP, configured with `database.backend = "ords"`, against
//! the ORDS test double built from the documented REST-Enabled SQL contract
//! (`tests/ords_double/mod.rs`), which runs the statements on a real SQLite
//! copy of the demo database. Also: contract tests that parse every
//! doc-derived fixture in `tests/fixtures/ords/` into our wire types.

use crate::support;
use crate::support::ords_double;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use adb_mcp::config::auth::{MetadataMode, ProfileKind, ProviderConfig};
use adb_mcp::config::ords::{OrdsAuth, OrdsConfig};
use adb_mcp::config::{BackendKind, CliOverrides, Config, ConfigFile, Secret, SessionMode};
use adb_mcp::db::ords::wire;
use ords_double::{
    ALIAS, CLIENT_ID, CLIENT_SECRET, ConnectProxy, DB_PASSWORD, DB_USER, OrdsDouble, TestPki,
};
use rmcp::ServiceExt;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use support::*;

// ---------------------------------------------------------------------------
// Set-up helpers.

fn basic() -> OrdsAuth {
    OrdsAuth::Basic {
        username: DB_USER.into(),
        password: Secret::Inline(DB_PASSWORD.into()),
    }
}

fn client_credentials() -> OrdsAuth {
    OrdsAuth::ClientCredentials {
        client_id: CLIENT_ID.into(),
        client_secret: Secret::Inline(CLIENT_SECRET.into()),
        token_url: None,
    }
}

fn ords_section(base_url: &str, auth: OrdsAuth) -> OrdsConfig {
    OrdsConfig {
        base_url: Some(base_url.to_owned()),
        schema_alias: Some(ALIAS.into()),
        allow_insecure_http: true,
        retry_backoff_ms: 10,
        auth: Some(auth),
        ..OrdsConfig::default()
    }
}

fn ords_config(double: &OrdsDouble, auth: OrdsAuth) -> Config {
    let mut config = test_config(SessionMode::Stateless);
    config.database.backend = BackendKind::Ords;
    config.database.ords = ords_section(&double.base_url, auth);
    config
}

async fn start_double() -> OrdsDouble {
    OrdsDouble::start(&demo_db()).await
}

/// Ground truth straight from the demo database.
fn sqlite_rows(sql: &str) -> Vec<Vec<Value>> {
    let conn = rusqlite::Connection::open_with_flags(
        demo_db(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open demo");
    let mut stmt = conn.prepare(sql).expect("prepare");
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        (0..n)
            .map(|i| {
                Ok(match r.get_ref(i)? {
                    rusqlite::types::ValueRef::Null => Value::Null,
                    rusqlite::types::ValueRef::Integer(v) => json!(v),
                    rusqlite::types::ValueRef::Real(v) => json!(v),
                    rusqlite::types::ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
                    rusqlite::types::ValueRef::Blob(_) => Value::Null,
                })
            })
            .collect()
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

fn names(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {v}"))
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ords")
        .join(name)
}

// ---------------------------------------------------------------------------
// Every tool through ORDS.

#[tokio::test]
async fn every_tool_works_through_ords() {
    let double = start_double().await;
    let server = TestServer::start_with(ords_config(&double, basic())).await;
    let client = server.client().await;

    let tools = client.list_all_tools().await.expect("tools/list");
    let run = tools
        .iter()
        .find(|t| t.name == "run_query")
        .expect("run_query");
    assert!(run.description.as_deref().unwrap_or("").contains("Oracle"));

    // list_schemas: DEMO is the connected user; SYS (Oracle-maintained) and
    // a schema with nothing visible are left out.
    let r = call(&client, "list_schemas", json!({})).await;
    assert!(!is_error(&r), "{}", text_of(&r));
    let schemas = structured(&r)["schemas"]
        .as_array()
        .expect("schemas")
        .clone();
    assert_eq!(schemas.len(), 1, "{schemas:?}");
    assert_eq!(schemas[0]["name"], "DEMO");
    assert_eq!(schemas[0]["is_default"], true);
    assert_eq!(schemas[0]["tables"], 11);
    assert_eq!(schemas[0]["views"], 2);

    // list_tables: everything, filters, kinds and paging.
    let all = call(&client, "list_tables", json!({})).await;
    assert!(!is_error(&all), "{}", text_of(&all));
    let s = structured(&all);
    assert_eq!(names(s, "tables").len(), 13);
    let orders = s["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| t["name"] == "ORDERS")
        .expect("ORDERS");
    assert_eq!(orders["schema"], "DEMO");
    assert_eq!(orders["kind"], "table");
    assert_eq!(orders["row_estimate"], 10_000);
    assert!(orders["comment"].as_str().is_some_and(|c| !c.is_empty()));
    let filtered = call(&client, "list_tables", json!({"filter": "order"})).await;
    assert_eq!(
        names(structured(&filtered), "tables"),
        ["ORDERS", "ORDER_ITEMS", "ORDER_SUMMARY"]
    );
    let underscore = call(&client, "list_tables", json!({"filter": "r_i"})).await;
    assert_eq!(names(structured(&underscore), "tables"), ["ORDER_ITEMS"]);
    let views = call(
        &client,
        "list_tables",
        json!({"kind": "view", "schema": "demo"}),
    )
    .await;
    assert_eq!(
        names(structured(&views), "tables"),
        ["EMPLOYEE_DIRECTORY", "ORDER_SUMMARY"]
    );
    let page1 = call(&client, "list_tables", json!({"limit": 5})).await;
    assert_eq!(structured(&page1)["next_offset"], 5);
    let page3 = call(&client, "list_tables", json!({"limit": 5, "offset": 10})).await;
    assert_eq!(names(structured(&page3), "tables").len(), 3);
    assert!(structured(&page3).get("next_offset").is_none());
    let no_schema = call(&client, "list_tables", json!({"schema": "demoo"})).await;
    assert!(is_error(&no_schema));
    assert!(
        text_of(&no_schema).contains("no schema named `demoo`; did you mean DEMO?"),
        "{}",
        text_of(&no_schema)
    );

    // describe_table: resolution, columns, keys, indexes, suggestions.
    let d = call(&client, "describe_table", json!({"table": "orders"})).await;
    assert!(!is_error(&d), "{}", text_of(&d));
    let d = structured(&d);
    assert_eq!(d["schema"], "DEMO");
    assert_eq!(d["name"], "ORDERS");
    assert_eq!(d["primary_key"], json!(["ORDER_ID"]));
    let cols = d["columns"].as_array().expect("columns");
    assert_eq!(cols[0]["name"], "ORDER_ID");
    assert_eq!(cols[0]["data_type"], "NUMBER(*,0)");
    assert_eq!(cols[0]["nullable"], false);
    let status = cols.iter().find(|c| c["name"] == "STATUS").expect("STATUS");
    assert_eq!(status["data_type"], "VARCHAR2(4000)");
    assert!(status["comment"].as_str().is_some_and(|c| !c.is_empty()));
    let fks = d["foreign_keys"].as_array().expect("fks");
    let mut targets: Vec<&str> = fks
        .iter()
        .filter_map(|f| f["referenced_table"].as_str())
        .collect();
    targets.sort_unstable();
    assert_eq!(targets, ["CUSTOMERS", "EMPLOYEES"]);
    let to_customers = fks
        .iter()
        .find(|f| f["referenced_table"] == "CUSTOMERS")
        .expect("fk");
    assert_eq!(to_customers["columns"], json!(["CUSTOMER_ID"]));
    assert_eq!(to_customers["referenced_columns"], json!(["CUSTOMER_ID"]));
    let index = d["indexes"]
        .as_array()
        .expect("indexes")
        .iter()
        .find(|i| i["name"] == "IDX_ORDERS_STATUS_ORDER_DATE")
        .expect("composite index");
    assert_eq!(index["columns"], json!(["STATUS", "ORDER_DATE"]));
    assert_eq!(index["unique"], false);
    let composite = call(
        &client,
        "describe_table",
        json!({"table": "ORDER_ITEMS", "schema": "Demo"}),
    )
    .await;
    assert_eq!(
        structured(&composite)["primary_key"],
        json!(["ORDER_ID", "LINE_NO"])
    );
    let missing = call(&client, "describe_table", json!({"table": "order"})).await;
    assert!(is_error(&missing));
    let text = text_of(&missing);
    assert!(text.contains("no table or view named `order`"), "{text}");
    assert!(text.contains("ORDERS"), "{text}");
    let exact = call(&client, "describe_table", json!({"table": "\"orders\""})).await;
    assert!(is_error(&exact), "a quoted name matches exactly");

    // run_query with named binds.
    let q = call(
        &client,
        "run_query",
        json!({"sql": "SELECT order_id, status FROM orders WHERE customer_id = :c ORDER BY order_id",
               "params": {"c": 42}, "max_rows": 1000}),
    )
    .await;
    assert!(!is_error(&q), "{}", text_of(&q));
    let expected =
        sqlite_rows("SELECT order_id, status FROM orders WHERE customer_id = 42 ORDER BY order_id");
    assert!(!expected.is_empty());
    assert_eq!(structured(&q)["rows"], json!(expected));
    assert_eq!(
        structured(&q)["columns"][0],
        json!({"name": "ORDER_ID", "type": "NUMBER"})
    );

    // explain_query: PLAN_TABLE rows read back in the same script.
    let e = call(
        &client,
        "explain_query",
        json!({"sql": "SELECT * FROM orders WHERE order_date >= :d", "params": {"d": "2025-01-01"}}),
    )
    .await;
    assert!(!is_error(&e), "{}", text_of(&e));
    let plan = structured(&e);
    let text = plan["text"].as_str().expect("text").to_lowercase();
    assert!(text.contains("idx_orders_order_date"), "{text}");
    assert!(text.contains("select statement"), "{text}");
    let steps = plan["steps"].as_array().expect("steps");
    assert_eq!(steps[0]["id"], 0);
    assert!(steps[1..].iter().all(|s| s["parent"].is_number()));
    // The request: one fixed block (EXPLAIN PLAN, the PLAN_TABLE read and
    // ROLLBACK inside it); the user's text only as the CLOB bind `q`.
    let script = double
        .state
        .sql_bodies()
        .into_iter()
        .rev()
        .find(|b| {
            b["statementText"]
                .as_str()
                .is_some_and(|t| t.contains("EXPLAIN PLAN"))
        })
        .expect("explain request");
    let statement = script["statementText"].as_str().expect("text");
    assert!(
        statement.starts_with(
            "DECLARE p CLOB; BEGIN EXECUTE IMMEDIATE 'EXPLAIN PLAN SET STATEMENT_ID = ''ADBMCP_"
        ),
        "{statement}"
    );
    assert!(
        statement.trim_end().ends_with("ROLLBACK; :plan := p; END;"),
        "{statement}"
    );
    assert!(!statement.contains("orders"), "{statement}");
    assert_eq!(
        script["binds"],
        json!([
            {"name": "q", "data_type": "CLOB", "value": "SELECT * FROM orders WHERE order_date >= :1"},
            {"name": "plan", "data_type": "CLOB", "mode": "out"}
        ])
    );
    // What the database parsed: the wrapped EXPLAIN PLAN, the plan read, ROLLBACK.
    let parsed = double.state.dynamic_sql();
    let explained = parsed
        .iter()
        .rposition(|d| d.starts_with("EXPLAIN PLAN"))
        .expect("explain parsed");
    assert!(
        parsed[explained]
            .ends_with("FOR SELECT * FROM (\nSELECT * FROM orders WHERE order_date >= :1\n)"),
        "{}",
        parsed[explained]
    );
    assert_eq!(parsed.last().map(String::as_str), Some("ROLLBACK"));
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn switching_to_ords_is_configuration_only() {
    let double = start_double().await;
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("adb-mcp.toml");
    std::fs::write(
        &file,
        format!(
            "[server]\nbind = \"127.0.0.1:0\"\n\n[database]\nbackend = \"ords\"\n\n\
             [database.ords]\nbase_url = \"{}\"\nschema_alias = \"{ALIAS}\"\nallow_insecure_http = true\n\n\
             [database.ords.auth]\nmethod = \"basic\"\nusername = \"{DB_USER}\"\npassword = {{ file = \"{}\" }}\n",
            double.base_url,
            dir.path().join("pw").display()
        ),
    )
    .expect("write config");
    std::fs::write(dir.path().join("pw"), format!("{DB_PASSWORD}\n")).expect("write pw");
    let loaded = Config::load(
        &ConfigFile {
            path: Some(file.clone()),
        },
        CliOverrides::default(),
    )
    .expect("config loads");
    let printed = loaded.config.to_redacted_toml();
    assert!(!printed.contains(DB_PASSWORD), "{printed}");
    let server = TestServer::start_with(loaded.config).await;
    let client = server.client().await;
    let r = call(
        &client,
        "run_query",
        json!({"sql": "SELECT count(*) AS n FROM regions"}),
    )
    .await;
    assert!(!is_error(&r), "{}", text_of(&r));
    assert_eq!(
        structured(&r)["rows"],
        json!(sqlite_rows("SELECT count(*) FROM regions"))
    );

    // A bad section is refused at startup, naming the key and the file.
    std::fs::write(
        &file,
        "[database]\nbackend = \"ords\"\n\n[database.ords]\nbase_url = \"http://ords.example.com\"\n",
    )
    .expect("write");
    let err = Config::load(&ConfigFile { path: Some(file) }, CliOverrides::default())
        .expect_err("http to a real host is refused")
        .to_string();
    assert!(err.contains("database.ords.base_url"), "{err}");
    assert!(err.contains("https://"), "{err}");
    client.cancel().await.expect("close");
}

// ---------------------------------------------------------------------------
// Paging, types, errors.

#[tokio::test]
async fn run_query_pages_across_has_more() {
    let double = start_double().await;
    // ORDS caps pages at 7 rows: one tool page needs several ORDS pages.
    double.state.max_page.store(7, Ordering::SeqCst);
    let server = TestServer::start_with(ords_config(&double, basic())).await;
    let client = server.client().await;
    let sql = "SELECT order_id, status FROM orders ORDER BY order_id";
    let truth = sqlite_rows(sql);
    let mut collected: Vec<Value> = Vec::new();
    let mut offset = 0u64;
    let before = double.state.sql_requests.load(Ordering::SeqCst);
    for _ in 0..3 {
        let r = call(
            &client,
            "run_query",
            json!({"sql": sql, "max_rows": 20, "offset": offset}),
        )
        .await;
        assert!(!is_error(&r), "{}", text_of(&r));
        let s = structured(&r);
        assert_eq!(s["row_count"], 20);
        assert_eq!(s["truncated"], true);
        collected.extend(s["rows"].as_array().expect("rows").iter().cloned());
        offset = s["next_offset"].as_u64().expect("next_offset");
    }
    assert_eq!(offset, 60);
    let expected: Vec<Value> = truth[..60].iter().map(|r| json!(r)).collect();
    assert_eq!(collected, expected);
    // 21 rows wanted per call (20 + 1 to see more), 7 per ORDS page.
    assert_eq!(double.state.sql_requests.load(Ordering::SeqCst) - before, 9);
    let bodies = double.state.sql_bodies();
    // The offset is the block's bind `o` (server-side OFFSET), not ORDS's.
    let offsets: Vec<u64> = bodies
        .iter()
        .filter_map(|b| b["binds"].as_array()?.iter().find(|x| x["name"] == "o")?["value"].as_u64())
        .collect();
    assert_eq!(offsets, [0, 7, 14, 20, 27, 34, 40, 47, 54]);
    assert_eq!(bodies[0]["limit"], 21);

    // The last page: fewer rows than asked, no next_offset.
    let tail = call(
        &client,
        "run_query",
        json!({"sql": sql, "max_rows": 20, "offset": truth.len() - 5}),
    )
    .await;
    let s = structured(&tail);
    assert_eq!(s["row_count"], 5);
    assert_eq!(s["truncated"], false);
    assert!(
        s.get("next_offset").is_none() || s["next_offset"].is_null(),
        "{s}"
    );
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn bind_types_reach_ords_as_documented() {
    let double = start_double().await;
    let server = TestServer::start_with(ords_config(&double, basic())).await;
    let client = server.client().await;
    let r = call(
        &client,
        "run_query",
        json!({
            "sql": "SELECT :i AS i, :d AS d, :s AS s, :b AS b, :n AS n, :big AS big, :i + 1 AS i_again FROM dual",
            "params": {"i": 7, "d": 19.99, "s": "it's", "b": true, "n": null, "big": 18446744073709551615u64}
        }),
    )
    .await;
    assert!(!is_error(&r), "{}", text_of(&r));
    let body = double.state.sql_bodies().pop().expect("request");
    // The fixed block; the user's text (placeholders numbered) is the bind `q`.
    assert_eq!(
        body["statementText"],
        "DECLARE c SYS_REFCURSOR; BEGIN OPEN c FOR 'SELECT * FROM (' || CHR(10) || :q || CHR(10) || ') OFFSET ' || CHR(58) || 'o ROWS FETCH NEXT ' || CHR(58) || 'n ROWS ONLY' USING :b1, :b2, :b3, :b4, :b5, :b6, :b7, :o, :n; :rc := c; END;"
    );
    let raw = double.state.requests().pop().expect("raw request").body;
    // Exact decimal text on the wire, not a binary float rendering.
    assert!(
        raw.contains(r#"{"name":"b2","data_type":"NUMBER","value":19.99}"#),
        "{raw}"
    );
    assert!(
        raw.contains(r#"{"name":"b6","data_type":"NUMBER","value":18446744073709551615}"#),
        "{raw}"
    );
    assert_eq!(
        body["binds"],
        json!([
            {"name": "q", "data_type": "CLOB", "value": "SELECT :1 AS i, :2 AS d, :3 AS s, :4 AS b, :5 AS n, :6 AS big, :7 + 1 AS i_again FROM dual"},
            {"name": "b1", "data_type": "NUMBER", "value": 7},
            {"name": "b2", "data_type": "NUMBER", "value": 19.99},
            {"name": "b3", "data_type": "VARCHAR2", "value": "it's"},
            {"name": "b4", "data_type": "NUMBER", "value": 1},
            {"name": "b5", "data_type": "VARCHAR2", "value": null},
            {"name": "b6", "data_type": "NUMBER", "value": 18446744073709551615u64},
            {"name": "b7", "data_type": "NUMBER", "value": 7},
            {"name": "o", "data_type": "NUMBER", "value": 0},
            {"name": "n", "data_type": "NUMBER", "value": 101},
            {"name": "rc", "data_type": "CURSOR", "mode": "out"}
        ])
    );
    let row = &structured(&r)["rows"][0];
    assert_eq!(row[0], 7);
    assert_eq!(row[1], 19.99);
    assert_eq!(row[2], "it's");
    assert_eq!(row[3], 1);
    assert!(row[4].is_null());
    assert_eq!(row[6], 8);

    // Parameter problems never reach ORDS.
    let before = double.state.sql_requests.load(Ordering::SeqCst);
    for (args, expect) in [
        (
            json!({"sql": "SELECT :a FROM dual"}),
            "no value for bind :a",
        ),
        (
            json!({"sql": "SELECT 1 FROM dual", "params": {"x": 1}}),
            "unknown parameter(s) x",
        ),
        (
            json!({"sql": "SELECT ? FROM dual"}),
            "placeholder ? at character 8 is not supported",
        ),
        (
            json!({"sql": "SELECT :a FROM dual", "params": {"a": [1]}}),
            "not an array",
        ),
    ] {
        let r = call(&client, "run_query", args).await;
        assert!(is_error(&r));
        assert!(text_of(&r).contains(expect), "{}", text_of(&r));
    }
    assert_eq!(double.state.sql_requests.load(Ordering::SeqCst), before);
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn numbers_keep_full_precision_end_to_end() {
    let double = start_double().await;
    let server = TestServer::start_with(ords_config(&double, basic())).await;
    let client = server.client().await;
    // The same values as `numbers-and-types.json`, in the cursor-bind shape
    // the query block's answer takes.
    let canned =
        std::fs::read_to_string(fixture("cursor-numbers-and-types.json")).expect("fixture");
    double.state.faults().canned = Some(canned);
    let r = call(
        &client,
        "run_query",
        json!({"sql": "SELECT * FROM typed_values"}),
    )
    .await;
    assert!(!is_error(&r), "{}", text_of(&r));
    let s = structured(&r);
    assert_eq!(
        s["columns"],
        json!([
            {"name": "ID", "type": "NUMBER(10)"},
            {"name": "AMOUNT", "type": "NUMBER(38,10)"},
            {"name": "RATIO", "type": "BINARY_DOUBLE"},
            {"name": "CREATED", "type": "DATE"},
            {"name": "UPDATED_AT", "type": "TIMESTAMP"},
            {"name": "NOTES", "type": "CLOB"},
            {"name": "NAME", "type": "VARCHAR2(40)"}
        ])
    );
    let rows = s["rows"].as_array().expect("rows");
    assert_eq!(rows[0][0], 1);
    assert_eq!(rows[0][1], "1234567890123456789012345678.0123456789");
    assert_eq!(rows[0][2], 0.5);
    assert_eq!(rows[0][3], "2025-04-21T16:40:07Z");
    assert_eq!(rows[0][4], "2025-04-21T16:40:07.123456Z");
    assert_eq!(
        rows[1][0], 9_007_199_254_740_993u64,
        "integers beyond 2^53 stay exact"
    );
    assert_eq!(rows[1][1], 12.5);
    assert!(rows[1][5].is_null());
    assert!(text_of(&r).contains("1234567890123456789012345678.0123456789"));
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn statement_errors_are_tool_errors_with_the_ora_text() {
    let double = start_double().await;
    let server = TestServer::start_with(ords_config(&double, basic())).await;
    let client = server.client().await;
    let r = call(
        &client,
        "run_query",
        json!({"sql": "SELECT * FROM no_such_table"}),
    )
    .await;
    assert!(is_error(&r));
    let text = text_of(&r);
    assert!(
        text.contains("ORA-00942: table or view does not exist"),
        "{text}"
    );
    assert!(text.contains("list_tables"), "{text}");
    let r = call(
        &client,
        "run_query",
        json!({"sql": "SELECT nope FROM orders"}),
    )
    .await;
    assert!(text_of(&r).contains("ORA-00904"), "{}", text_of(&r));
    let r = call(
        &client,
        "run_query",
        json!({"sql": "SELECT order_id, order_id FROM orders"}),
    )
    .await;
    assert!(text_of(&r).contains("ORA-00918"), "{}", text_of(&r));
    let r = call(
        &client,
        "explain_query",
        json!({"sql": "SELECT * FROM nowhere"}),
    )
    .await;
    assert!(is_error(&r));
    assert!(text_of(&r).contains("ORA-00942"), "{}", text_of(&r));
    // The guard still runs first: nothing is sent for a write.
    let before = double.state.sql_requests.load(Ordering::SeqCst);
    let r = call(&client, "run_query", json!({"sql": "DELETE FROM orders"})).await;
    assert!(is_error(&r));
    assert_eq!(double.state.sql_requests.load(Ordering::SeqCst), before);
    client.cancel().await.expect("close");
}

// ---------------------------------------------------------------------------
// Authentication to ORDS.

#[tokio::test]
async fn wrong_basic_credentials_say_so() {
    let double = start_double().await;
    let mut config = ords_config(&double, basic());
    config.database.ords.auth = Some(OrdsAuth::Basic {
        username: DB_USER.into(),
        password: Secret::Inline("wrong".into()),
    });
    let server = TestServer::start_with(config).await;
    let client = server.client().await;
    let r = call(&client, "list_tables", json!({})).await;
    assert!(is_error(&r));
    let text = text_of(&r);
    assert!(text.contains("401"), "{text}");
    assert!(text.contains("wrong username or password"), "{text}");
    assert!(!text.contains("wrong\""), "{text}");
    assert_eq!(
        double.state.sql_requests.load(Ordering::SeqCst),
        1,
        "no retry for Basic"
    );
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn client_credentials_token_is_cached_and_refreshed_after_401() {
    let double = start_double().await;
    let server = TestServer::start_with(ords_config(&double, client_credentials())).await;
    let client = server.client().await;
    for _ in 0..3 {
        let r = call(
            &client,
            "run_query",
            json!({"sql": "SELECT 1 AS one FROM dual"}),
        )
        .await;
        assert!(!is_error(&r), "{}", text_of(&r));
    }
    assert_eq!(
        double.state.token_requests.load(Ordering::SeqCst),
        1,
        "cached"
    );
    let token_request = double
        .state
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/oauth/token"))
        .expect("token request");
    assert_eq!(token_request.body, "grant_type=client_credentials");
    assert!(
        token_request
            .header("authorization")
            .is_some_and(|a| a.starts_with("Basic ")),
        "client authenticates with HTTP Basic"
    );

    // ORDS forgets the token (restart, revocation): one 401, one refresh.
    double.state.expire_all_tokens();
    let r = call(
        &client,
        "run_query",
        json!({"sql": "SELECT 2 AS two FROM dual"}),
    )
    .await;
    assert!(!is_error(&r), "{}", text_of(&r));
    assert_eq!(double.state.unauthorized.load(Ordering::SeqCst), 1);
    assert_eq!(double.state.token_requests.load(Ordering::SeqCst), 2);

    // ORDS refuses a token that is still valid on our side: same recovery.
    double.state.faults().unauthorized_once = true;
    let r = call(
        &client,
        "run_query",
        json!({"sql": "SELECT 3 AS three FROM dual"}),
    )
    .await;
    assert!(!is_error(&r), "one 401 then success: {}", text_of(&r));
    assert_eq!(double.state.token_requests.load(Ordering::SeqCst), 3);
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn expiring_tokens_are_renewed_before_use() {
    let double = start_double().await;
    double.state.token_lifetime_secs.store(1, Ordering::SeqCst);
    let server = TestServer::start_with(ords_config(&double, client_credentials())).await;
    let client = server.client().await;
    let r = call(
        &client,
        "run_query",
        json!({"sql": "SELECT 1 AS one FROM dual"}),
    )
    .await;
    assert!(!is_error(&r), "{}", text_of(&r));
    // Past the token's whole lifetime: the next call must not use it.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let r = call(
        &client,
        "run_query",
        json!({"sql": "SELECT 1 AS one FROM dual"}),
    )
    .await;
    assert!(!is_error(&r), "{}", text_of(&r));
    assert_eq!(double.state.token_requests.load(Ordering::SeqCst), 2);
    assert_eq!(
        double.state.unauthorized.load(Ordering::SeqCst),
        0,
        "renewed before expiry, not after a 401"
    );
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn concurrent_callers_share_one_token_request() {
    let double = start_double().await;
    let server = TestServer::start_with(ords_config(&double, client_credentials())).await;
    let client = server.client().await;
    let burst = |n: usize| {
        let calls = (0..n).map(|i| {
            call(
                &client,
                "run_query",
                json!({"sql": "SELECT :i AS i FROM dual", "params": {"i": i}}),
            )
        });
        futures::future::join_all(calls)
    };
    for r in burst(16).await {
        assert!(!is_error(&r), "{}", text_of(&r));
    }
    assert_eq!(double.state.token_requests.load(Ordering::SeqCst), 1);
    // All tokens revoked while 16 calls run: they all see a 401, and still
    // exactly one new token is fetched.
    double.state.expire_all_tokens();
    for r in burst(16).await {
        assert!(!is_error(&r), "{}", text_of(&r));
    }
    assert_eq!(double.state.token_requests.load(Ordering::SeqCst), 2);
    assert!(double.state.unauthorized.load(Ordering::SeqCst) >= 1);
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn a_rotated_bearer_token_is_reread_after_a_401() {
    let double = start_double().await;
    // A token issued by ORDS to some other process, which writes it to a file.
    let issued: Value = reqwest::Client::new()
        .post(format!("{}/ords/{ALIAS}/oauth/token", double.base_url))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let fresh = issued["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("ords-token");
    std::fs::write(&file, "stale-token\n").expect("write");
    let auth = OrdsAuth::Bearer {
        token: Secret::File { file: file.clone() },
    };
    let server = TestServer::start_with(ords_config(&double, auth)).await;
    let client = server.client().await;

    // Still stale: one 401, no retry with the same token, a clear message.
    let r = call(&client, "list_tables", json!({})).await;
    assert!(is_error(&r));
    assert!(text_of(&r).contains("bearer token"), "{}", text_of(&r));
    assert!(!text_of(&r).contains("stale-token"), "{}", text_of(&r));
    assert_eq!(double.state.sql_requests.load(Ordering::SeqCst), 1);

    // Rotated on disk: the 401 makes adb-mcp read the file again.
    std::fs::write(&file, format!("{fresh}\n")).expect("rotate");
    let r = call(
        &client,
        "run_query",
        json!({"sql": "SELECT 1 AS one FROM dual"}),
    )
    .await;
    assert!(!is_error(&r), "{}", text_of(&r));
    assert_eq!(double.state.sql_requests.load(Ordering::SeqCst), 3);
    let last = double.state.requests().pop().expect("request");
    assert_eq!(
        last.header("authorization"),
        Some(format!("Bearer {fresh}").as_str())
    );
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn bad_client_credentials_and_unknown_alias_are_explained() {
    let double = start_double().await;
    let mut config = ords_config(&double, client_credentials());
    config.database.ords.auth = Some(OrdsAuth::ClientCredentials {
        client_id: CLIENT_ID.into(),
        client_secret: Secret::Inline("nope".into()),
        token_url: None,
    });
    let server = TestServer::start_with(config).await;
    let client = server.client().await;
    let r = call(&client, "list_tables", json!({})).await;
    assert!(is_error(&r));
    let text = text_of(&r);
    assert!(text.contains("invalid_client"), "{text}");
    assert!(!text.contains("nope"), "{text}");
    assert_eq!(double.state.sql_requests.load(Ordering::SeqCst), 0);
    client.cancel().await.expect("close");

    let mut config = ords_config(&double, basic());
    config.database.ords.schema_alias = Some("not_enabled".into());
    let server = TestServer::start_with(config).await;
    let client = server.client().await;
    let r = call(&client, "list_schemas", json!({})).await;
    assert!(is_error(&r));
    let text = text_of(&r);
    assert!(text.contains("404"), "{text}");
    assert!(text.contains("/ords/not_enabled/_/sql"), "{text}");
    assert!(text.contains("REST-enabled"), "{text}");
    client.cancel().await.expect("close");
}

// ---------------------------------------------------------------------------
// Failures of the path to ORDS.

#[tokio::test]
async fn gateway_errors_are_retried_then_reported() {
    let double = start_double().await;
    let server = TestServer::start_with(ords_config(&double, basic())).await;
    let client = server.client().await;
    double.state.faults().status = Some((503, 2));
    let r = call(
        &client,
        "run_query",
        json!({"sql": "SELECT 1 AS one FROM dual"}),
    )
    .await;
    assert!(!is_error(&r), "{}", text_of(&r));
    assert_eq!(
        double.state.sql_requests.load(Ordering::SeqCst),
        3,
        "two retries"
    );

    double.state.faults().status = Some((503, 10));
    let r = call(
        &client,
        "run_query",
        json!({"sql": "SELECT 1 AS one FROM dual"}),
    )
    .await;
    assert!(is_error(&r));
    assert!(text_of(&r).contains("503"), "{}", text_of(&r));
    assert_eq!(
        double.state.sql_requests.load(Ordering::SeqCst),
        6,
        "bounded"
    );

    // A 500 is not a gateway error: no retry.
    double.state.faults().status = Some((500, 1));
    let r = call(
        &client,
        "run_query",
        json!({"sql": "SELECT 1 AS one FROM dual"}),
    )
    .await;
    assert!(is_error(&r));
    assert!(text_of(&r).contains("500"), "{}", text_of(&r));
    assert_eq!(double.state.sql_requests.load(Ordering::SeqCst), 7);
    double.state.faults().status = None;
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn slow_ords_hits_the_time_limits() {
    let double = start_double().await;
    double.state.faults().slow = Some(Duration::from_secs(5));
    let mut config = ords_config(&double, basic());
    config.query.timeout_secs = 1;
    let server = TestServer::start_with(config).await;
    let client = server.client().await;
    let r = call(
        &client,
        "run_query",
        json!({"sql": "SELECT 1 AS one FROM dual"}),
    )
    .await;
    assert!(is_error(&r));
    assert!(text_of(&r).contains("time limit of 1 s"), "{}", text_of(&r));
    client.cancel().await.expect("close");

    let mut config = ords_config(&double, basic());
    config.database.ords.request_timeout_secs = 1;
    config.database.ords.max_retries = 0;
    let server = TestServer::start_with(config).await;
    let client = server.client().await;
    let r = call(
        &client,
        "run_query",
        json!({"sql": "SELECT 1 AS one FROM dual"}),
    )
    .await;
    assert!(is_error(&r));
    assert!(
        text_of(&r).contains("did not answer within request_timeout_secs (1 s)"),
        "{}",
        text_of(&r)
    );
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn html_and_malformed_answers_are_unavailable_without_echo() {
    let double = start_double().await;
    let server = TestServer::start_with(ords_config(&double, basic())).await;
    let client = server.client().await;
    double.state.faults().html = true;
    let r = call(&client, "list_tables", json!({})).await;
    assert!(is_error(&r));
    let text = text_of(&r);
    assert!(text.contains("HTML page instead of JSON"), "{text}");
    assert!(
        !text.contains("SECRET-HTML-MARKER") && !text.contains("<html"),
        "{text}"
    );
    double.state.faults().html = false;

    double.state.faults().malformed = true;
    let r = call(
        &client,
        "run_query",
        json!({"sql": "SELECT 1 AS one FROM dual"}),
    )
    .await;
    assert!(is_error(&r));
    let text = text_of(&r);
    assert!(text.contains("malformed JSON"), "{text}");
    assert!(text.contains("unavailable"), "{text}");
    assert!(!text.contains("defaultTimeZone"), "{text}");
    double.state.faults().malformed = false;
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn ords_down_is_a_clear_error_and_readyz_follows_it() {
    // A port with nothing listening.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let mut config = test_config(SessionMode::Stateless);
    config.database.backend = BackendKind::Ords;
    config.database.ords = ords_section(&format!("http://{closed}"), basic());
    let server = TestServer::start_with(config).await;
    let ready = reqwest::get(format!("http://{}/readyz", server.addr))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.expect("json");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot connect to ORDS")),
        "{body}"
    );
    let client = server.client().await;
    let r = call(
        &client,
        "run_query",
        json!({"sql": "SELECT 1 AS one FROM dual"}),
    )
    .await;
    assert!(is_error(&r));
    assert!(
        text_of(&r).contains("cannot connect to ORDS at 127.0.0.1"),
        "{}",
        text_of(&r)
    );
    client.cancel().await.expect("close");

    let double = start_double().await;
    let server = TestServer::start_with(ords_config(&double, basic())).await;
    let ready = reqwest::get(format!("http://{}/readyz", server.addr))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    assert_eq!(double.state.sql_requests.load(Ordering::SeqCst), 1);
    let again = reqwest::get(format!("http://{}/readyz", server.addr))
        .await
        .expect("readyz");
    assert_eq!(again.status(), 200);
    assert_eq!(
        double.state.sql_requests.load(Ordering::SeqCst),
        1,
        "a recent success is reused"
    );
}

#[tokio::test]
async fn https_through_a_connect_proxy_keeps_the_real_host() {
    const HOST: &str = "ords.test";
    let pki = TestPki::new(HOST);
    let double = OrdsDouble::start_tls(&demo_db(), &pki, HOST).await;
    let proxy = ConnectProxy::start(double.addr).await;
    let dir = tempfile::tempdir().expect("tmp");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).expect("write ca");

    let mut config = ords_config(&double, client_credentials());
    config.database.ords.allow_insecure_http = false;
    config.database.ords.proxy = Some(proxy.url.clone());
    config.database.ords.proxy_username = Some("proxy-user".into());
    config.database.ords.proxy_password = Some(Secret::Inline("proxy-pass".into()));
    config.database.ords.ca_file = Some(ca.clone());
    config.database.ords.validate().expect("valid https config");
    let server = TestServer::start_with(config.clone()).await;
    let client = server.client().await;
    let r = call(
        &client,
        "run_query",
        json!({"sql": "SELECT count(*) AS n FROM orders"}),
    )
    .await;
    assert!(!is_error(&r), "{}", text_of(&r));
    assert_eq!(structured(&r)["rows"], json!([[10_000]]));

    // The proxy tunnelled to the real host name; ORDS saw it as SNI and Host.
    let port = double.addr.port();
    let seen = proxy.seen.lock().expect("proxy log").clone();
    assert!(!seen.is_empty());
    for (line, auth) in &seen {
        assert_eq!(line, &format!("CONNECT {HOST}:{port} HTTP/1.1"));
        assert_eq!(auth.as_deref(), Some("Basic cHJveHktdXNlcjpwcm94eS1wYXNz"));
    }
    let requests = double.state.requests();
    assert!(requests.iter().any(|r| r.path.ends_with("/oauth/token")));
    for r in &requests {
        assert_eq!(r.sni.as_deref(), Some(HOST), "{}", r.path);
        assert_eq!(r.header("host"), Some(format!("{HOST}:{port}").as_str()));
    }
    client.cancel().await.expect("close");

    // Without the private CA the certificate is refused, and the message
    // says why.
    config.database.ords.ca_file = None;
    let server = TestServer::start_with(config).await;
    let client = server.client().await;
    let r = call(&client, "list_tables", json!({})).await;
    assert!(is_error(&r));
    let text = text_of(&r).to_lowercase();
    assert!(
        text.contains("certificate") || text.contains("unknownissuer"),
        "{text}"
    );
    client.cancel().await.expect("close");
}

// ---------------------------------------------------------------------------
// No token passthrough.

fn sign_mcp_token() -> String {
    let key = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keys/ec-p256.pem"),
    )
    .expect("ec key");
    let key = jsonwebtoken::EncodingKey::from_ec_pem(&key).expect("ec pem");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = json!({
        "iss": "https://idp.test/",
        "aud": "https://mcp.test/",
        "sub": "alice",
        "scope": "mcp.tools",
        "iat": now,
        "exp": now + 600,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
        &claims,
        &key,
    )
    .expect("sign")
}

#[tokio::test]
async fn the_mcp_callers_token_never_reaches_ords() {
    let double = start_double().await;
    for auth in [basic(), client_credentials()] {
        let kind = match &auth {
            OrdsAuth::Basic { .. } => "basic",
            _ => "client_credentials",
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let mut config = ords_config(&double, auth);
        config.server.bind = format!("127.0.0.1:{port}");
        config.auth.enabled = true;
        config.auth.resource = Some(format!("http://127.0.0.1:{port}/mcp"));
        config.auth.allow_insecure_http = true;
        config.auth.metadata = MetadataMode::Direct;
        config.auth.providers = vec![ProviderConfig {
            profile: ProfileKind::Generic,
            discovery_url: None,
            domain_url: None,
            tenant_id: None,
            issuers: vec!["https://idp.test/".into()],
            audiences: vec!["https://mcp.test/".into()],
            scopes: vec!["mcp.tools".into()],
            scope_prefix: None,
            jwks_uri: None,
            jwks_file: None,
            pem_files: vec![
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keys/ec-p256.pub.pem"),
            ],
            algorithms: vec!["ES256".into()],
            verify_claims: vec![],
        }];
        let server = TestServer::start_with(config).await;
        let first_request = double.state.requests().len();
        let token = sign_mcp_token();
        let transport = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(server.url.clone())
                .auth_header(token.clone()),
        );
        let client = ().serve(transport).await.expect("initialize with a token");
        for (tool, args) in [
            (
                "run_query",
                json!({"sql": "SELECT count(*) AS n FROM regions"}),
            ),
            ("list_tables", json!({})),
            ("describe_table", json!({"table": "orders"})),
            ("explain_query", json!({"sql": "SELECT * FROM regions"})),
        ] {
            let r = call(&client, tool, args).await;
            assert!(!is_error(&r), "{kind} {tool}: {}", text_of(&r));
        }
        client.cancel().await.expect("close");

        let signature = token.rsplit('.').next().expect("signature");
        let requests = double.state.requests().split_off(first_request);
        assert!(requests.len() >= 4, "{kind}: {} requests", requests.len());
        for r in &requests {
            for (name, value) in &r.headers {
                assert!(
                    !value.contains(&token) && !value.contains(signature),
                    "{kind}: the MCP token reached ORDS in {name} of {}",
                    r.path
                );
            }
            assert!(!r.body.contains(signature), "{kind}: token in a body");
            let auth = r.header("authorization").expect("ORDS credentials");
            if r.path.ends_with("/_/sql") {
                match kind {
                    "basic" => assert!(auth.starts_with("Basic "), "{auth}"),
                    _ => assert!(auth.starts_with("Bearer ords-double-token-"), "{auth}"),
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Contract tests: every doc-derived fixture parses into our types.

#[test]
fn every_fixture_parses_into_the_wire_types() {
    let mut seen = 0;
    for entry in std::fs::read_dir(fixture("")).expect("fixtures dir") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let body = std::fs::read(&path).expect("read");
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_owned();
        if name.starts_with("oauth-") {
            let t: oauth2::basic::BasicTokenResponse =
                serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
            use oauth2::TokenResponse as _;
            assert!(!t.access_token().secret().is_empty(), "{name}");
            assert_eq!(t.expires_in(), Some(Duration::from_secs(3600)), "{name}");
        } else {
            let doc = wire::parse_response(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!doc.items.is_empty(), "{name}");
            for item in &doc.items {
                if let Some(rs) = &item.result_set {
                    let (cols, rows) = wire::rows_of(rs);
                    assert_eq!(cols.len(), rs.metadata.len(), "{name}");
                    assert_eq!(rows.len(), rs.items.len(), "{name}");
                }
            }
        }
        seen += 1;
    }
    assert!(seen >= 6, "fixtures found: {seen}");
}

#[test]
fn fixture_contents_map_as_documented() {
    // The wire types borrow from the body, so each body is kept alive.
    let bytes = |n: &str| std::fs::read(fixture(n)).expect("read");
    let body = bytes("query-sysdate.json");
    let doc = wire::parse_response(&body).expect("parse");
    let rs = doc.items[0].result_set.as_ref().expect("result set");
    assert_eq!(rs.metadata[0].json_column_name, "sysdate");
    assert_eq!(rs.has_more, Some(false));
    let (cols, rows) = wire::rows_of(rs);
    assert_eq!(cols[0].type_name, "DATE");
    assert_eq!(rows, vec![vec![json!("2025-04-21T16:40:07Z")]]);

    let body = bytes("statement-error.json");
    let doc = wire::parse_response(&body).expect("parse");
    let err = doc.items[0].error().expect("an error item").to_string();
    assert!(
        err.contains("ORA-00942: table or view does not exist"),
        "{err}"
    );
    assert!(err.contains("line 1, column 15"), "{err}");

    let body = bytes("pagination-has-more.json");
    let doc = wire::parse_response(&body).expect("parse");
    let rs = doc.items[0].result_set.as_ref().expect("rs");
    assert_eq!(
        (rs.offset, rs.limit, rs.count, rs.has_more),
        (Some(25), Some(5), Some(5), Some(true))
    );

    let body = bytes("two-statements.json");
    let doc = wire::parse_response(&body).expect("parse");
    assert_eq!(doc.items.len(), 2);
    let (_, rows) = wire::rows_of(doc.items[1].result_set.as_ref().expect("rs"));
    assert_eq!(rows, vec![vec![json!("X")]]);

    let body = bytes("out-binds.json");
    let doc = wire::parse_response(&body).expect("parse");
    assert!(doc.items[0].result_set.is_none());
    assert_eq!(doc.items[0].binds.len(), 2);
    assert!(doc.items[0].error().is_none());
}

#[test]
fn cursor_and_plan_fixtures_map_as_assumed() {
    let bytes = |n: &str| std::fs::read(fixture(n)).expect("read");
    let body = bytes("cursor-numbers-and-types.json");
    let doc = wire::parse_response(&body).expect("parse");
    let item = wire::single_item(&doc, "plsql").expect("one plsql item");
    match wire::cursor_rows(item, "rc").expect("cursor") {
        wire::CursorRows::ResultSet(rs) => {
            let (cols, rows) = wire::rows_of(&rs);
            assert_eq!(cols[1].type_name, "NUMBER(38,10)");
            assert_eq!(rows[0][1], json!("1234567890123456789012345678.0123456789"));
            assert_eq!(rows[1][0], json!(9_007_199_254_740_993u64));
        }
        other => panic!("{other:?}"),
    }

    let body = bytes("cursor-rows-array.json");
    let doc = wire::parse_response(&body).expect("parse");
    let item = wire::single_item(&doc, "plsql").expect("item");
    match wire::cursor_rows(item, "rc").expect("cursor") {
        wire::CursorRows::Rows(rows) => {
            let c = wire::convert_rows(None, &rows, 10, None).expect("rows");
            assert_eq!(c.columns[0].name, "col1");
            assert_eq!(c.rows, vec![vec![json!("inside outproccursor")]]);
        }
        other => panic!("{other:?}"),
    }

    let body = bytes("plan-clob.json");
    let doc = wire::parse_response(&body).expect("parse");
    let item = wire::single_item(&doc, "plsql").expect("item");
    let rows = wire::plan_rows(item, "plan", &adb_mcp::db::oracle::wrap::PLAN_COLUMNS, 100)
        .expect("plan rows");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1][6], json!("DUAL"));
    assert_eq!(rows[1][4], json!("FULL"));

    // The documented sample failing on a real ORDS: the call fails with it.
    let body = bytes("cursor-type-conflict.json");
    let doc = wire::parse_response(&body).expect("parse");
    let err = wire::single_item(&doc, "plsql")
        .expect_err("error item")
        .to_string();
    assert!(err.contains("ORA-17012"), "{err}");
}

// ---------------------------------------------------------------------------
// One statement, whatever the text: what ORDS's script engine sees.

#[tokio::test]
async fn ords_sees_only_the_fixed_block_and_nothing_refused_reaches_it() {
    let double = start_double().await;
    let server = TestServer::start_with(ords_config(&double, basic())).await;
    let client = server.client().await;

    // Refused by the guard: not one statement reaches the script engine.
    let start = double.state.executed().len();
    for sql in [
        "SELECT 1 FROM dual;\nDELETE FROM orders",
        "SELECT 1 FROM dual\n/\nDELETE FROM orders",
        "DELETE FROM orders",
        "SET ROLE ALL",
        "COMMIT",
        "CALL dbms_output.put_line('x')",
        "BEGIN NULL; END;",
        "SELECT * FROM orders FOR UPDATE",
    ] {
        for tool in ["run_query", "explain_query"] {
            let r = call(&client, tool, json!({"sql": sql})).await;
            assert!(is_error(&r), "{tool} {sql:?}: {}", text_of(&r));
        }
    }
    assert_eq!(
        double.state.executed().split_off(start),
        Vec::<String>::new()
    );

    // Accepted text with script-significant characters: one block per call,
    // the text only ever a bind value, and `;`/`&`/blank lines are data.
    for (sql, expected) in [
        ("SELECT 'a;b' AS x FROM dual", json!([["a;b"]])),
        ("SELECT 'R&D' AS x FROM dual", json!([["R&D"]])),
        ("SELECT 'x\n\ny' AS x FROM dual", json!([["x\n\ny"]])),
        ("SELECT 1 AS x FROM dual -- trailing comment", json!([[1]])),
    ] {
        let before = double.state.executed().len();
        let r = call(&client, "run_query", json!({"sql": sql})).await;
        assert!(!is_error(&r), "{sql:?}: {}", text_of(&r));
        assert_eq!(structured(&r)["rows"], expected, "{sql:?}");
        let executed = double.state.executed().split_off(before);
        assert_eq!(executed.len(), 1, "{sql:?}: {executed:?}");
        assert!(executed[0].starts_with("DECLARE c SYS_REFCURSOR; BEGIN OPEN c FOR "));
        assert!(!executed[0].contains("FROM dual"), "{executed:?}");
        // The guard trims surrounding comments; the rest is parsed as is.
        let core = sql.split(" --").next().unwrap_or(sql);
        let parsed = double.state.dynamic_sql();
        assert_eq!(
            parsed.last(),
            Some(&format!(
                "SELECT * FROM (\n{core}\n) OFFSET :o ROWS FETCH NEXT :n ROWS ONLY"
            ))
        );
    }
    client.cancel().await.expect("close");
}
