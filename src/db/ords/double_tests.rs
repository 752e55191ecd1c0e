//! The ORDS backend with the guard bypassed, against the ORDS test double
//! (`tests/it/support/ords_double/`, included here because `ReadOnlyQuery::unchecked`
//! exists only in this crate's unit tests).
//!
//! What they prove: whatever text reaches the backend, ORDS's script engine
//! sees exactly one fixed block per request, the database parses the user's
//! text only as the one wrapped query (or the one EXPLAIN PLAN), and
//! explain's ROLLBACK can never be preceded by a COMMIT of the user's.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::db::{Backend, Params, QueryRequest, ReadOnlyQuery};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::ords_double::{ALIAS, DB_PASSWORD, DB_USER, OrdsDouble};
use super::*;
use crate::config::Secret;
use crate::config::ords::OrdsAuth;
use crate::db::Dialect;

fn demo_db() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir").keep();
        let path = dir.join("demo.db");
        crate::db::demo::create_demo_db(&path, 1, false).expect("demo db");
        path
    })
    .clone()
}

fn backend(double: &OrdsDouble, max_response_bytes: usize) -> OrdsBackend {
    let cfg = OrdsConfig {
        base_url: Some(double.base_url.clone()),
        schema_alias: Some(ALIAS.into()),
        allow_insecure_http: true,
        max_response_bytes,
        auth: Some(OrdsAuth::Basic {
            username: DB_USER.into(),
            password: Secret::Inline(DB_PASSWORD.into()),
        }),
        ..OrdsConfig::default()
    };
    OrdsBackend::open(&cfg, Duration::from_secs(30)).expect("backend")
}

fn ctx() -> CallContext {
    CallContext::new(
        "run_query",
        Arc::new(Principal::anonymous()),
        CancellationToken::new(),
        Duration::from_secs(30),
    )
}

async fn run(
    b: &OrdsBackend,
    sql: &str,
    max_rows: usize,
    max_bytes: usize,
) -> Result<QueryResult, DbError> {
    let params = Params::new();
    b.query(
        QueryRequest {
            query: ReadOnlyQuery::unchecked(sql, Dialect::Oracle),
            params: &params,
            max_rows,
            offset: 0,
            max_bytes,
            max_value_bytes: 64 * 1024,
        },
        &ctx(),
    )
    .await
}

/// Script text a guard bug could let through, and what Oracle says about
/// it inside the wrapper.
const INJECTIONS: &[(&str, &str)] = &[
    ("SELECT 1 FROM dual;\nDELETE FROM orders", "ORA-00911"),
    ("SELECT 1 FROM dual; COMMIT", "ORA-00911"),
    ("SELECT 1 FROM dual\n/\nDELETE FROM orders", "ORA-00"),
    ("SELECT 1 FROM dual\n\nDELETE FROM orders", "ORA-00"),
    ("SELECT 1 FROM dual\n.\nDROP TABLE orders", "ORA-00"),
    ("SELECT 1 FROM dual\n#SET ROLE ALL\n", "ORA-00"),
    ("SET ROLE ALL", "ORA-00928"),
    ("COMMIT", "ORA-00928"),
    ("CALL dbms_output.put_line('x')", "ORA-00928"),
    ("DELETE FROM orders", "ORA-00928"),
    ("BEGIN NULL; END;", "ORA-00928"),
    ("@evil.sql", "ORA-00928"),
    ("exec dbms_lock.sleep(1)", "ORA-00928"),
    ("DEFINE x = 1\nSELECT &x FROM dual", "ORA-00928"),
    ("SELECT * FROM orders FOR UPDATE", "ORA-00907"),
    ("SELECT 1 FROM dual /* unclosed", "ORA-01742"),
];

#[tokio::test]
async fn injected_script_text_never_becomes_a_second_statement() {
    let double = OrdsDouble::start(&demo_db()).await;
    let b = backend(&double, 8 << 20);
    let block = wrap::ords_query_block(0);
    for (sql, code) in INJECTIONS {
        let (before, dyn_before) = (
            double.state.executed().len(),
            double.state.dynamic_sql().len(),
        );
        let e = run(&b, sql, 10, 1 << 20).await.expect_err(sql);
        let executed = double.state.executed().split_off(before);
        if matches!(e, DbError::Rejected(_)) {
            // Our own lexer (binding the placeholders) refused it first.
            assert!(executed.is_empty(), "{sql:?}: {executed:?}");
            continue;
        }
        assert!(e.to_string().contains(code), "{sql:?}: {e}");
        assert_eq!(
            executed,
            std::slice::from_ref(&block),
            "{sql:?}: the script engine ran only our block"
        );
        let dynamic = double.state.dynamic_sql().split_off(dyn_before);
        assert_eq!(
            dynamic,
            [format!(
                "SELECT * FROM (\n{sql}\n) OFFSET :o ROWS FETCH NEXT :n ROWS ONLY"
            )],
            "{sql:?}: the database parsed one wrapped statement"
        );
    }
    // Substitution and comments are inert inside the bind: `&x` reaches
    // Oracle literally, a trailing `--` comment cannot swallow the wrapper.
    let r = run(&b, "SELECT '&x' AS v FROM dual -- c", 10, 1 << 20)
        .await
        .expect("& is data");
    assert_eq!(r.rows, vec![vec![json!("&x")]]);
    let r = run(&b, "-- c\nSELECT 2 AS two FROM dual", 10, 1 << 20)
        .await
        .expect("leading comment");
    assert_eq!(r.rows, vec![vec![json!(2)]]);
}

#[tokio::test]
async fn explain_keeps_the_users_text_inside_the_one_explain_plan() {
    let double = OrdsDouble::start(&demo_db()).await;
    let b = backend(&double, 8 << 20);
    let params = Params::new();
    let mut injections: Vec<&str> = INJECTIONS.iter().map(|(s, _)| *s).collect();
    injections.push("SELECT 1 FROM dual;\nCOMMIT");
    injections.push("SELECT 1 FROM dual)'; COMMIT; EXECUTE IMMEDIATE ('SELECT 1 FROM dual");
    for sql in injections {
        let (before, dyn_before) = (
            double.state.executed().len(),
            double.state.dynamic_sql().len(),
        );
        let r = b
            .explain(
                ReadOnlyQuery::unchecked(sql, Dialect::Oracle),
                &params,
                &ctx(),
            )
            .await;
        assert!(r.is_err(), "{sql:?}: {r:?}");
        let executed = double.state.executed().split_off(before);
        if matches!(r, Err(DbError::Rejected(_))) {
            assert!(executed.is_empty(), "{sql:?}: {executed:?}");
            continue;
        }
        assert_eq!(executed.len(), 1, "{sql:?}: {executed:?}");
        assert!(executed[0].starts_with("DECLARE p CLOB; BEGIN EXECUTE IMMEDIATE 'EXPLAIN PLAN"));
        assert!(
            !executed[0].contains(sql),
            "the user's text is never in the script"
        );
        let dynamic = double.state.dynamic_sql().split_off(dyn_before);
        assert!(
            dynamic[0].starts_with("EXPLAIN PLAN SET STATEMENT_ID = '"),
            "{dynamic:?}"
        );
        assert!(!dynamic.iter().any(|d| d == "COMMIT"), "{dynamic:?}");
        assert!(dynamic[1..].iter().all(|d| !d.contains(sql)), "{dynamic:?}");
    }
    // A good query: EXPLAIN, the plan read, then our ROLLBACK, in one block.
    let before = double.state.dynamic_sql().len();
    let plan = b
        .explain(
            ReadOnlyQuery::unchecked("SELECT * FROM orders WHERE order_id = :1", Dialect::Oracle),
            &params,
            &ctx(),
        )
        .await;
    // :1 without a parameter is refused before anything is sent.
    assert!(matches!(plan, Err(DbError::InvalidParams(_))), "{plan:?}");
    assert_eq!(double.state.dynamic_sql().len(), before);
    let plan = b
        .explain(
            ReadOnlyQuery::unchecked("SELECT * FROM orders WHERE order_id = 7", Dialect::Oracle),
            &params,
            &ctx(),
        )
        .await
        .expect("plan");
    assert!(plan.text.to_lowercase().contains("orders"), "{}", plan.text);
    let dynamic = double.state.dynamic_sql().split_off(before);
    assert_eq!(dynamic.len(), 3, "{dynamic:?}");
    assert_eq!(dynamic[2], "ROLLBACK");
}

#[tokio::test]
async fn both_cursor_shapes_give_the_same_rows() {
    let double = OrdsDouble::start(&demo_db()).await;
    let b = backend(&double, 8 << 20);
    let sql = "SELECT region_id, region_name FROM regions ORDER BY region_id";
    let as_result_set = run(&b, sql, 3, 1 << 20).await.expect("result set shape");
    double
        .state
        .cursor_rows_as_array
        .store(true, Ordering::SeqCst);
    let as_array = run(&b, sql, 3, 1 << 20).await.expect("array shape");
    assert_eq!(as_result_set.rows, as_array.rows);
    assert_eq!(as_result_set.rows.len(), 3);
    assert!(as_result_set.has_more && as_array.has_more);
    assert_eq!(as_result_set.columns[0].name, "REGION_ID");
    assert_eq!(as_array.columns[0].name, "region_id", "keys, no metadata");
}

#[tokio::test]
async fn the_result_budget_stops_conversion_and_says_so() {
    let double = OrdsDouble::start(&demo_db()).await;
    let b = backend(&double, 8 << 20);
    let sql = "SELECT order_id, status FROM orders ORDER BY order_id";
    let r = run(&b, sql, 1000, 4096).await.expect("query");
    assert_eq!(r.budget_stop, Some(4096));
    assert!(r.has_more);
    assert!(!r.rows.is_empty() && r.rows.len() < 100, "{}", r.rows.len());
    let cost: usize = r.rows.iter().flatten().map(ResultBudget::cost).sum();
    assert!(cost <= 4096, "{cost}");
    let all = run(&b, sql, 1000, 64 << 20).await.expect("query");
    assert_eq!(all.budget_stop, None);
    assert_eq!(all.rows.len(), 1000);
    assert_eq!(&all.rows[..r.rows.len()], &r.rows[..]);
}

#[tokio::test]
async fn a_response_over_the_cap_is_asked_again_for_fewer_rows() {
    let double = OrdsDouble::start(&demo_db()).await;
    // 1 MiB cap; 1,000 rows of 2 KB each do not fit in one response.
    let b = backend(&double, 1 << 20);
    let sql = "SELECT order_id, hex(zeroblob(1000)) AS pad FROM orders ORDER BY order_id";
    let before = double.state.sql_requests.load(Ordering::SeqCst);
    let r = run(&b, sql, 1000, 64 << 20).await.expect("query");
    assert_eq!(r.rows.len(), 1000);
    assert!(r.has_more);
    assert_eq!(r.rows[999][0], json!(1000), "pages join without a gap");
    let requests = double.state.sql_requests.load(Ordering::SeqCst) - before;
    assert!(requests > 2, "one refused, then smaller pages: {requests}");
    // One row over the cap is an error that names the limit.
    let huge = "SELECT hex(zeroblob(700000)) AS pad FROM dual";
    let e = run(&b, huge, 1, 64 << 20).await.expect_err("too large");
    assert!(
        e.to_string().contains("database.ords.max_response_bytes"),
        "{e}"
    );
}
