//! The statement guard through the real `run_query` tool, time limits and
//! cancellation. The database's own refusal with the guard bypassed is a
//! unit test of the SQLite backend (only it may forge a checked query).

mod common;

use std::sync::Arc;
use std::time::Duration;

use adb_mcp::auth::Principal;
use adb_mcp::config::SessionMode;
use adb_mcp::db::guard::{Dialect, check_read_only};
use adb_mcp::db::{CallContext, DbError, Params, QueryRequest};
use common::*;
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[derive(Deserialize)]
struct Corpus {
    reject: Vec<Entry>,
    accept: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    sql: String,
    why: String,
}

fn corpus() -> Corpus {
    toml::from_str(include_str!("fixtures/guard_corpus.toml")).expect("corpus parses")
}

#[tokio::test]
async fn guard_corpus_through_run_query() {
    let corpus = corpus();
    assert!(corpus.reject.len() >= 40, "corpus too small");
    assert!(corpus.accept.len() >= 20, "corpus too small");
    let server = TestServer::start(SessionMode::Stateless).await;
    let client = server.client().await;
    for e in &corpus.reject {
        let r = call(&client, "run_query", json!({"sql": e.sql})).await;
        assert!(is_error(&r), "must be refused ({}): {}", e.why, e.sql);
        assert!(
            text_of(&r).contains("refused the statement"),
            "refusal must come from the guard ({}): {} -> {}",
            e.why,
            e.sql,
            text_of(&r)
        );
    }
    for e in &corpus.accept {
        let r = call(&client, "run_query", json!({"sql": e.sql, "max_rows": 5})).await;
        assert!(
            !is_error(&r),
            "must run ({}): {} -> {}",
            e.why,
            e.sql,
            text_of(&r)
        );
    }
    let after = call(
        &client,
        "run_query",
        json!({"sql": "SELECT count(*) FROM regions"}),
    )
    .await;
    assert_eq!(structured(&after)["rows"], json!([[5]]));
}

fn ctx() -> CallContext {
    CallContext::new(
        "test",
        Arc::new(Principal::anonymous()),
        CancellationToken::new(),
        Duration::from_secs(10),
    )
}

#[tokio::test]
async fn slow_queries_time_out_with_a_tool_error() {
    let mut config = test_config(SessionMode::Stateless);
    config.query.timeout_secs = 1;
    let server = TestServer::start_with(config).await;
    let client = server.client().await;
    let started = std::time::Instant::now();
    let r = call(&client, "run_query", json!({"sql": SLOW_QUERY})).await;
    assert!(is_error(&r));
    assert!(text_of(&r).contains("time limit of 1 s"), "{}", text_of(&r));
    // Bounded by the limit, not by the query (which would run for minutes).
    assert!(started.elapsed() < Duration::from_secs(20));
    let ok = call(&client, "run_query", json!({"sql": "SELECT 1 AS one"})).await;
    assert!(!is_error(&ok));
}

#[tokio::test]
async fn cancelling_the_context_stops_the_query() {
    let config = test_config(SessionMode::Stateless);
    let backend = adb_mcp::cli::open_backend(&config).expect("backend");
    let params = Params::new();
    let ctx = ctx();
    let cancel = ctx.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        cancel.cancel();
    });
    let err = backend
        .query(
            QueryRequest {
                query: check_read_only(SLOW_QUERY, Dialect::Sqlite).expect("guard accepts"),
                params: &params,
                max_rows: 1,
                offset: 0,
                max_bytes: 1 << 20,
                max_value_bytes: 1 << 16,
            },
            &ctx,
        )
        .await
        .expect_err("cancelled");
    assert_eq!(err, DbError::Cancelled);
}
