//! Both lines of defence against writes: the statement guard (through the
//! real `run_query` tool) and the database's own refusal (guard bypassed).

mod common;

use std::sync::Arc;
use std::time::Duration;

use adb_mcp::auth::Principal;
use adb_mcp::config::SessionMode;
use adb_mcp::db::guard::{QueryKind, ReadOnlyQuery};
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

/// Bypasses the guard on purpose: the database must refuse by itself.
#[tokio::test]
async fn database_refuses_writes_without_the_guard() {
    let config = test_config(SessionMode::Stateless);
    let backend = adb_mcp::cli::open_backend(&config).expect("backend");
    let params = Params::new();
    let writes = [
        "DELETE FROM regions",
        "INSERT INTO regions (region_id, region_name) VALUES (99, 'Atlantis')",
        "UPDATE regions SET region_name = 'x'",
        "DROP TABLE regions",
        "CREATE TABLE t (x)",
        "CREATE TEMP TABLE t (x)",
        "PRAGMA user_version = 7",
        "ATTACH DATABASE ':memory:' AS other",
        "VACUUM",
        "REINDEX",
        "ANALYZE",
        "WITH d AS (SELECT 1) DELETE FROM regions",
        "SELECT load_extension('/tmp/x')",
    ];
    for sql in writes {
        let query = ReadOnlyQuery {
            sql,
            kind: QueryKind::Select,
        };
        let err = backend
            .query(
                QueryRequest {
                    query,
                    params: &params,
                    max_rows: 10,
                    offset: 0,
                },
                &ctx(),
            )
            .await
            .expect_err(sql);
        match &err {
            DbError::Sql { message, .. } => assert!(
                message.contains("refused")
                    || message.contains("not authorized")
                    || message.contains("readonly")
                    || message.contains("read-only"),
                "{sql}: {message}"
            ),
            other => panic!("{sql}: unexpected error {other:?}"),
        }
    }
    let count = backend
        .query(
            QueryRequest {
                query: ReadOnlyQuery {
                    sql: "SELECT count(*), max(region_name) FROM regions",
                    kind: QueryKind::Select,
                },
                params: &params,
                max_rows: 1,
                offset: 0,
            },
            &ctx(),
        )
        .await
        .expect("read still works");
    assert_eq!(count.rows, vec![vec![json!(5), json!("Oceania")]]);
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
                query: ReadOnlyQuery {
                    sql: SLOW_QUERY,
                    kind: QueryKind::With,
                },
                params: &params,
                max_rows: 1,
                offset: 0,
            },
            &ctx,
        )
        .await
        .expect_err("cancelled");
    assert_eq!(err, DbError::Cancelled);
}
