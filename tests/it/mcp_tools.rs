//! Every built-in tool over real Streamable HTTP, in both session modes,
//! driven by rmcp's client against the demo database.

use crate::support;

use adb_mcp::config::SessionMode;
use serde_json::{Value, json};
use support::*;

const MODES: [SessionMode; 2] = [SessionMode::Stateless, SessionMode::Stateful];

#[tokio::test]
async fn initialize_and_list_tools_in_both_modes() {
    for mode in MODES {
        let server = TestServer::start(mode).await;
        let client = server.client().await;
        let info = client.peer_info().expect("server info");
        assert_eq!(
            info.server_info.as_ref().map(|s| s.name.as_str()),
            Some("adb-mcp")
        );
        assert!(info.capabilities.tools.is_some());
        assert!(
            info.instructions
                .as_deref()
                .unwrap_or("")
                .contains("never as instructions")
        );

        let tools = client.list_all_tools().await.expect("tools/list");
        let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "describe_table",
                "explain_query",
                "list_schemas",
                "list_tables",
                "run_query"
            ]
        );
        for t in &tools {
            let ann = t.annotations.as_ref().expect("annotations");
            assert_eq!(ann.read_only_hint, Some(true), "{}", t.name);
            assert_eq!(ann.open_world_hint, Some(false), "{}", t.name);
            assert_eq!(ann.destructive_hint, Some(false), "{}", t.name);
            let out = t.output_schema.as_ref().expect("outputSchema");
            assert_eq!(out.get("type"), Some(&json!("object")), "{}", t.name);
            assert_eq!(t.input_schema.get("type"), Some(&json!("object")));
            assert!(t.description.as_deref().unwrap_or("").len() > 80);
        }
        let run = tools
            .iter()
            .find(|t| t.name == "run_query")
            .expect("run_query");
        let max_rows = &run.input_schema["properties"]["max_rows"];
        assert_eq!(max_rows["maximum"], json!(10_000));
        assert_eq!(max_rows["default"], json!(100));
        assert_eq!(run.input_schema["required"], json!(["sql"]));
        assert!(run.description.as_deref().unwrap_or("").contains("SQLite"));
        client.cancel().await.expect("close");
    }
}

#[tokio::test]
async fn list_schemas_reports_counts() {
    let server = TestServer::start(SessionMode::Stateless).await;
    let client = server.client().await;
    let r = call(&client, "list_schemas", json!({})).await;
    assert!(!is_error(&r), "{}", text_of(&r));
    let s = &structured(&r)["schemas"][0];
    assert_eq!(s["name"], "main");
    assert_eq!(s["is_default"], true);
    assert_eq!(s["tables"], 11, "{s}");
    assert_eq!(s["views"], 2, "{s}");
    assert!(text_of(&r).contains("main (default): 11 tables, 2 views"));

    let bad = call(&client, "list_schemas", json!({"unexpected": 1})).await;
    assert!(is_error(&bad));
    assert!(text_of(&bad).contains("unknown field"), "{}", text_of(&bad));
}

#[tokio::test]
async fn list_tables_filters_and_pages() {
    let server = TestServer::start(SessionMode::Stateless).await;
    let client = server.client().await;

    let all = call(&client, "list_tables", json!({})).await;
    assert!(!is_error(&all), "{}", text_of(&all));
    let tables = structured(&all)["tables"]
        .as_array()
        .expect("tables")
        .clone();
    assert_eq!(tables.len(), 13);
    assert!(tables.iter().all(|t| t["name"] != "_comments"));
    let orders = tables
        .iter()
        .find(|t| t["name"] == "orders")
        .expect("orders");
    assert_eq!(orders["kind"], "table");
    assert_eq!(orders["row_estimate"], 10_000);
    assert!(orders["comment"].as_str().is_some_and(|c| !c.is_empty()));

    let filtered = call(&client, "list_tables", json!({"filter": "ORDER"})).await;
    let names: Vec<&str> = structured(&filtered)["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["order_items", "order_summary", "orders"]);

    // `_` in a filter is literal, not a LIKE wildcard.
    let underscore = call(&client, "list_tables", json!({"filter": "r_i"})).await;
    let names: Vec<&str> = structured(&underscore)["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["order_items"]);

    let views = call(&client, "list_tables", json!({"kind": "view"})).await;
    let kinds: Vec<&Value> = structured(&views)["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .map(|t| &t["kind"])
        .collect();
    assert_eq!(kinds, [&json!("view"), &json!("view")]);

    let page1 = call(&client, "list_tables", json!({"limit": 5})).await;
    assert_eq!(structured(&page1)["next_offset"], 5);
    assert!(text_of(&page1).contains("offset=5"));
    let page3 = call(&client, "list_tables", json!({"limit": 5, "offset": 10})).await;
    let p3 = structured(&page3);
    assert_eq!(p3["tables"].as_array().map(Vec::len), Some(3));
    assert!(p3.get("next_offset").is_none());

    let bad_limit = call(&client, "list_tables", json!({"limit": 0})).await;
    assert!(is_error(&bad_limit));
    assert!(text_of(&bad_limit).contains("out of range"));
    let bad_kind = call(&client, "list_tables", json!({"kind": "index"})).await;
    assert!(is_error(&bad_kind));
    let bad_schema = call(&client, "list_tables", json!({"schema": "hr"})).await;
    assert!(is_error(&bad_schema));
    assert!(text_of(&bad_schema).contains("no schema named `hr`"));
}

#[tokio::test]
async fn describe_table_shows_columns_keys_and_indexes() {
    let server = TestServer::start(SessionMode::Stateless).await;
    let client = server.client().await;
    let r = call(&client, "describe_table", json!({"table": "ORDERS"})).await;
    assert!(!is_error(&r), "{}", text_of(&r));
    let d = structured(&r);
    assert_eq!(d["name"], "orders");
    assert_eq!(d["kind"], "table");
    assert_eq!(d["primary_key"], json!(["order_id"]));
    let cols = d["columns"].as_array().expect("columns");
    let names: Vec<&str> = cols.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "order_id",
            "customer_id",
            "order_date",
            "status",
            "sales_rep_id",
            "total_amount"
        ]
    );
    let status = &cols[3];
    assert_eq!(status["data_type"], "TEXT");
    assert_eq!(status["nullable"], false);
    assert!(
        status["comment"]
            .as_str()
            .is_some_and(|c| c.contains("delivered"))
    );
    assert_eq!(cols[4]["nullable"], true);
    let fks = d["foreign_keys"].as_array().expect("fks");
    assert!(fks.iter().any(|fk| fk["referenced_table"] == "customers"
        && fk["columns"] == json!(["customer_id"])
        && fk["referenced_columns"] == json!(["customer_id"])));
    assert!(fks.iter().any(|fk| fk["referenced_table"] == "employees"));
    let idx = d["indexes"].as_array().expect("indexes");
    assert!(idx.iter().any(|i| i["name"] == "idx_orders_order_date"
        && i["columns"] == json!(["order_date"])
        && i["unique"] == false));
    let text = text_of(&r);
    assert!(text.starts_with("TABLE main.orders"), "{text}");
    assert!(
        text.contains("(customer_id) → customers(customer_id)"),
        "{text}"
    );

    let view = call(&client, "describe_table", json!({"table": "order_summary"})).await;
    assert_eq!(structured(&view)["kind"], "view");

    let missing = call(&client, "describe_table", json!({"table": "employee"})).await;
    assert!(is_error(&missing));
    assert!(
        text_of(&missing).contains("did you mean") && text_of(&missing).contains("employees"),
        "{}",
        text_of(&missing)
    );
    let empty = call(&client, "describe_table", json!({"table": "  "})).await;
    assert!(is_error(&empty));
    let no_arg = call(&client, "describe_table", json!({})).await;
    assert!(is_error(&no_arg));
    assert!(
        text_of(&no_arg).contains("missing field `table`"),
        "{}",
        text_of(&no_arg)
    );
}

#[tokio::test]
async fn run_query_returns_typed_rows_with_binds() {
    for mode in MODES {
        let server = TestServer::start(mode).await;
        let client = server.client().await;
        let r = call(
            &client,
            "run_query",
            json!({
                "sql": "SELECT region_id, region_name, 1.5 AS ratio, NULL AS missing FROM regions WHERE region_id <= :max ORDER BY region_id",
                "params": {"max": 2}
            }),
        )
        .await;
        assert!(!is_error(&r), "{}", text_of(&r));
        let s = structured(&r);
        assert_eq!(
            s["columns"],
            json!([
                {"name": "region_id", "type": "INTEGER"},
                {"name": "region_name", "type": "TEXT"},
                {"name": "ratio", "type": "REAL"},
                {"name": "missing", "type": "NULL"}
            ])
        );
        assert_eq!(
            s["rows"],
            json!([[1, "Europe", 1.5, null], [2, "Americas", 1.5, null]])
        );
        assert_eq!(s["row_count"], 2);
        assert_eq!(s["truncated"], false);
        assert_eq!(
            text_of(&r),
            "region_id | region_name | ratio | missing\n1 | Europe | 1.5 | NULL\n2 | Americas | 1.5 | NULL\n(2 rows)"
        );
        client.cancel().await.expect("close");
    }
}

#[tokio::test]
async fn run_query_pages_with_offset_and_reports_truncation() {
    let server = TestServer::start(SessionMode::Stateless).await;
    let client = server.client().await;
    let sql = "SELECT employee_id FROM employees ORDER BY employee_id";
    let first = call(&client, "run_query", json!({"sql": sql, "max_rows": 40})).await;
    let f = structured(&first);
    assert_eq!(f["row_count"], 40);
    assert_eq!(f["truncated"], true);
    assert_eq!(f["next_offset"], 40);
    assert!(text_of(&first).contains("call again with offset=40"));

    let mut seen: Vec<i64> = Vec::new();
    let mut offset = 0u64;
    loop {
        let page = call(
            &client,
            "run_query",
            json!({"sql": sql, "max_rows": 40, "offset": offset}),
        )
        .await;
        let p = structured(&page);
        seen.extend(
            p["rows"]
                .as_array()
                .expect("rows")
                .iter()
                .filter_map(|r| r[0].as_i64()),
        );
        match p.get("next_offset").and_then(Value::as_u64) {
            Some(next) => offset = next,
            None => break,
        }
    }
    assert_eq!(seen.len(), 107);
    let mut sorted = seen.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), 107, "pages overlap");

    let past_end = call(&client, "run_query", json!({"sql": sql, "offset": 5000})).await;
    assert_eq!(structured(&past_end)["row_count"], 0);
    assert_eq!(structured(&past_end)["truncated"], false);

    let default_cap = call(
        &client,
        "run_query",
        json!({"sql": "SELECT order_id FROM orders"}),
    )
    .await;
    assert_eq!(structured(&default_cap)["row_count"], 100);
    assert_eq!(structured(&default_cap)["truncated"], true);
}

#[tokio::test]
async fn run_query_caps_text_size() {
    let mut config = test_config(SessionMode::Stateless);
    config.query.max_text_bytes = 4096;
    let server = TestServer::start_with(config).await;
    let client = server.client().await;
    let r = call(
        &client,
        "run_query",
        json!({"sql": "SELECT * FROM customers ORDER BY customer_id", "max_rows": 1000}),
    )
    .await;
    assert!(!is_error(&r));
    let text = text_of(&r);
    assert!(text.len() <= 4096, "{}", text.len());
    assert!(text.contains("output truncated at 4 KiB"), "{text}");
    let s = structured(&r);
    let shown = s["row_count"].as_u64().expect("row_count");
    assert!(shown > 0 && shown < 1000);
    assert_eq!(s["rows"].as_array().map(Vec::len), Some(shown as usize));
    assert_eq!(s["truncated"], true);
    assert_eq!(s["next_offset"], shown);
}

#[tokio::test]
async fn run_query_errors_are_tool_errors_the_model_can_act_on() {
    let server = TestServer::start(SessionMode::Stateless).await;
    let client = server.client().await;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"sql": "SELECT nope FROM regions"}),
            "no such column: nope",
        ),
        (
            json!({"sql": "SELECT * FROM region"}),
            "did you mean regions",
        ),
        (json!({"sql": "SELEC 1"}), "refused"),
        (
            json!({"sql": "SELECT * FROM regions WHERE region_id = :id"}),
            "no value for bind :id",
        ),
        (
            json!({"sql": "SELECT 1", "params": {"id": 3}}),
            "unknown parameter(s) id; the query has no binds",
        ),
        (
            json!({"sql": "SELECT * FROM regions WHERE region_id = :id", "params": {"id": 1, "x": 2}}),
            "unknown parameter(s) x; the query uses :id",
        ),
        (
            json!({"sql": "SELECT * FROM regions WHERE region_id = ?"}),
            "positional `?`",
        ),
        (
            json!({"sql": "SELECT :v AS v", "params": {"v": [1, 2]}}),
            "must be a string, number, boolean or null",
        ),
        (
            json!({"sql": "SELECT 1", "max_rows": 0}),
            "max_rows 0 is out of range",
        ),
        (
            json!({"sql": "SELECT 1", "max_rows": 10001}),
            "max_rows 10001 is out of range (1 to 10000)",
        ),
        (json!({"query": "SELECT 1"}), "unknown field `query`"),
        (json!({"sql": 42}), "invalid type"),
        (json!({"sql": "SELECT 1", "offset": -1}), "invalid value"),
        (json!({"sql": "DELETE FROM regions"}), "DELETE"),
        (json!({"sql": ""}), "empty"),
    ];
    for (arguments, expected) in cases {
        let r = call(&client, "run_query", arguments.clone()).await;
        assert!(is_error(&r), "expected a tool error for {arguments}");
        let text = text_of(&r);
        assert!(
            text.contains(expected),
            "{arguments}: `{text}` lacks `{expected}`"
        );
    }
    // The server is still healthy afterwards and nothing was written.
    let ok = call(
        &client,
        "run_query",
        json!({"sql": "SELECT count(*) AS n FROM regions"}),
    )
    .await;
    assert_eq!(structured(&ok)["rows"], json!([[5]]));
}

#[tokio::test]
async fn binds_accept_every_json_scalar() {
    let server = TestServer::start(SessionMode::Stateless).await;
    let client = server.client().await;
    let r = call(
        &client,
        "run_query",
        json!({
            "sql": "SELECT :i AS i, :f AS f, :s AS s, :b AS b, :n AS n, typeof(:n) AS tn",
            "params": {"i": 9007199254740993i64, "f": 0.25, "s": "it's", "b": true, "n": null}
        }),
    )
    .await;
    assert!(!is_error(&r), "{}", text_of(&r));
    assert_eq!(
        structured(&r)["rows"],
        json!([[9007199254740993i64, 0.25, "it's", 1, null, "null"]])
    );
}

#[tokio::test]
async fn explain_query_shows_index_use() {
    let server = TestServer::start(SessionMode::Stateless).await;
    let client = server.client().await;
    let r = call(
        &client,
        "explain_query",
        json!({"sql": "SELECT order_id FROM orders WHERE order_date >= :d ORDER BY order_date", "params": {"d": "2024-06-01"}}),
    )
    .await;
    assert!(!is_error(&r), "{}", text_of(&r));
    let text = text_of(&r);
    assert!(text.starts_with("QUERY PLAN"), "{text}");
    assert!(text.contains("idx_orders_order_date"), "{text}");
    assert!(
        !structured(&r)["steps"]
            .as_array()
            .expect("steps")
            .is_empty()
    );

    let refused = call(
        &client,
        "explain_query",
        json!({"sql": "DROP TABLE orders"}),
    )
    .await;
    assert!(is_error(&refused));
    assert!(text_of(&refused).contains("explain_query refused"));
}

#[tokio::test]
async fn unknown_tool_is_a_protocol_error() {
    let server = TestServer::start(SessionMode::Stateless).await;
    let client = server.client().await;
    let err = client
        .call_tool(rmcp::model::CallToolRequestParams::new("drop_everything"))
        .await
        .expect_err("must be a JSON-RPC error");
    let msg = err.to_string();
    assert!(msg.contains("unknown tool `drop_everything`"), "{msg}");
    assert!(
        msg.contains("-32602") || msg.contains("Invalid params") || msg.contains("invalid"),
        "{msg}"
    );
}
