//! Time limits and cancellation of guarded queries. The guard corpus through
//! the real tools is tests/guard_corpus.rs; the database's own refusal with
//! the guard bypassed is a unit test of the SQLite backend (only it may forge
//! a checked query).

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use adb_mcp::auth::Principal;
use adb_mcp::config::SessionMode;
use adb_mcp::db::guard::{Dialect, check_read_only};
use adb_mcp::db::{CallContext, DbError, Params, QueryRequest};
use serde_json::json;
use support::*;
use tokio_util::sync::CancellationToken;

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
    let backend = adb_mcp::db::open(&config).expect("backend");
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
