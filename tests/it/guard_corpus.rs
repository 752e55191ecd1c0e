//! The guard's regression corpus (tests/fixtures/guard_corpus.toml), run three
//! ways: through `check_read_only` in every dialect a case lists, through the
//! running server on the SQLite demo database (`run_query` and
//! `explain_query`), and through the server on the ORDS backend against the
//! ORDS test double.
//!
//! Each test collects every failing case and reports them all at once, so one
//! run shows the whole gap between the guard and the corpus.

use crate::support;
use crate::support::ords_double;

use std::collections::BTreeMap;

use adb_mcp::config::SessionMode;
use adb_mcp::db::guard::{Dialect, check_read_only, placeholders};
use rmcp::RoleClient;
use rmcp::service::RunningService;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use support::*;

/// Refusal messages are read by a model: short and to the point.
const MAX_MESSAGE_CHARS: usize = 200;

/// Every `GuardError::code()` a case may expect.
const CODES: &[&str] = &[
    "empty",
    "not_a_query",
    "forbidden_keyword",
    "multiple_statements",
    "for_update",
    "select_into",
    "plsql_block",
    "inline_plsql",
    "data_modifying_cte",
    "forbidden_call",
    "database_link",
    "unterminated_literal",
    "unterminated_comment",
    "invalid_character",
    "bad_quoting",
    "ambiguous_text",
    "unsupported_placeholder",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Corpus {
    #[serde(default)]
    reject: Vec<Reject>,
    #[serde(default)]
    accept: Vec<Accept>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[serde(rename_all = "lowercase")]
enum DialectName {
    Sqlite,
    Oracle,
}

impl DialectName {
    fn dialect(self) -> Dialect {
        match self {
            Self::Sqlite => Dialect::Sqlite,
            Self::Oracle => Dialect::Oracle,
        }
    }
}

fn both() -> Vec<DialectName> {
    vec![DialectName::Sqlite, DialectName::Oracle]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reject {
    sql: String,
    why: String,
    expect: String,
    #[serde(default = "both")]
    dialects: Vec<DialectName>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Accept {
    sql: String,
    why: String,
    #[serde(default = "both")]
    dialects: Vec<DialectName>,
}

impl Reject {
    fn applies(&self, d: Dialect) -> bool {
        self.dialects.iter().any(|n| n.dialect() == d)
    }
}

impl Accept {
    fn applies(&self, d: Dialect) -> bool {
        self.dialects.iter().any(|n| n.dialect() == d)
    }
}

fn corpus() -> Corpus {
    toml::from_str(include_str!("../fixtures/guard_corpus.toml")).expect("guard corpus parses")
}

/// `sql` with control and non-ASCII characters escaped, for failure lists.
fn shown(sql: &str) -> String {
    sql.chars()
        .map(|c| match c {
            ' '..='~' => c.to_string(),
            c => format!("\\u{{{:X}}}", u32::from(c)),
        })
        .collect()
}

fn fail_all(what: &str, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} {what}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_is_well_formed_and_large_enough() {
    let c = corpus();
    let mut problems = Vec::new();
    let mut counts: BTreeMap<(&str, DialectName), usize> = BTreeMap::new();
    let mut seen: BTreeMap<(&str, DialectName, &str), usize> = BTreeMap::new();
    for r in &c.reject {
        if !CODES.contains(&r.expect.as_str()) {
            problems.push(format!("unknown code {:?} for {}", r.expect, shown(&r.sql)));
        }
        if r.why.trim().is_empty() || r.dialects.is_empty() {
            problems.push(format!("missing why or dialects: {}", shown(&r.sql)));
        }
        for &d in &r.dialects {
            *counts.entry(("reject", d)).or_default() += 1;
            *seen.entry(("case", d, r.sql.as_str())).or_default() += 1;
        }
    }
    for a in &c.accept {
        if a.why.trim().is_empty() || a.dialects.is_empty() {
            problems.push(format!("missing why or dialects: {}", shown(&a.sql)));
        }
        for &d in &a.dialects {
            *counts.entry(("accept", d)).or_default() += 1;
            *seen.entry(("case", d, a.sql.as_str())).or_default() += 1;
        }
    }
    for ((_, d, sql), n) in &seen {
        if *n > 1 {
            problems.push(format!("{n} cases for {d:?} {}", shown(sql)));
        }
    }
    println!(
        "guard corpus: {} reject, {} accept; per dialect {counts:?}",
        c.reject.len(),
        c.accept.len()
    );
    assert!(c.reject.len() >= 150, "{} reject cases", c.reject.len());
    assert!(c.accept.len() >= 80, "{} accept cases", c.accept.len());
    for kind in ["reject", "accept"] {
        for d in both() {
            assert!(
                counts.get(&(kind, d)).copied().unwrap_or(0) >= 50,
                "too few {kind} cases for {d:?}: {counts:?}"
            );
        }
    }
    fail_all("malformed corpus entries", &problems);
}

#[test]
fn guard_refuses_every_reject_case_with_its_code() {
    let mut failures = Vec::new();
    for r in corpus().reject {
        for d in &r.dialects {
            let dialect = d.dialect();
            match check_read_only(&r.sql, dialect) {
                Ok(q) => failures.push(format!(
                    "[{d:?}] accepted {} ({}) as {}",
                    shown(&r.sql),
                    r.why,
                    shown(q.sql())
                )),
                Err(e) if e.code() != r.expect => failures.push(format!(
                    "[{d:?}] {} ({}): expected {}, got {}: {e}",
                    shown(&r.sql),
                    r.why,
                    r.expect,
                    e.code()
                )),
                Err(e) => {
                    let msg = e.to_string();
                    if msg.chars().count() > MAX_MESSAGE_CHARS {
                        failures.push(format!(
                            "[{d:?}] {}: message over {MAX_MESSAGE_CHARS} characters: {msg}",
                            shown(&r.sql)
                        ));
                    }
                }
            }
        }
    }
    fail_all("reject cases not refused as expected", &failures);
}

#[test]
fn guard_accepts_every_accept_case_idempotently() {
    let mut failures = Vec::new();
    for a in corpus().accept {
        for d in &a.dialects {
            let dialect = d.dialect();
            match check_read_only(&a.sql, dialect) {
                Ok(q) => match check_read_only(q.sql(), dialect) {
                    Ok(again) if again.sql() == q.sql() && again.kind() == q.kind() => {}
                    Ok(again) => failures.push(format!(
                        "[{d:?}] {}: sql() {} re-checks as {}",
                        shown(&a.sql),
                        shown(q.sql()),
                        shown(again.sql())
                    )),
                    Err(e) => failures.push(format!(
                        "[{d:?}] {}: sql() {} is refused when checked again: {e}",
                        shown(&a.sql),
                        shown(q.sql())
                    )),
                },
                Err(e) => failures.push(format!(
                    "[{d:?}] refused {} ({}): {} {e}",
                    shown(&a.sql),
                    a.why,
                    e.code()
                )),
            }
        }
    }
    fail_all("accept cases not accepted idempotently", &failures);
}

type Client = RunningService<RoleClient, ()>;

/// A null value for every named bind of an accepted statement, so that
/// statements with binds run: `:id`, `@id` and `$id` all bind as "id".
fn null_params(sql: &str, dialect: Dialect) -> Value {
    let mut params = Map::new();
    for p in placeholders(sql, dialect).unwrap_or_default() {
        if let Some(name) = p.text.get(1..).filter(|n| !n.is_empty())
            && p.text.starts_with([':', '@', '$'])
        {
            params.insert(name.to_owned(), Value::Null);
        }
    }
    Value::Object(params)
}

/// Whether a tool result is the guard's refusal (not the database's error).
fn refused_by_guard(tool: &str, r: &rmcp::model::CallToolResult) -> bool {
    is_error(r) && text_of(r).contains(&format!("{tool} refused the statement"))
}

/// Sends every `dialect` case through a running server: each reject must be
/// refused by the guard in `run_query` and `explain_query`, each accept must
/// run through both. Returns the failures.
async fn corpus_through_server(client: &Client, dialect: Dialect, corpus: &Corpus) -> Vec<String> {
    let mut failures = Vec::new();
    for r in corpus.reject.iter().filter(|r| r.applies(dialect)) {
        for tool in ["run_query", "explain_query"] {
            let res = call(client, tool, json!({"sql": r.sql})).await;
            if !refused_by_guard(tool, &res) {
                failures.push(format!(
                    "[{dialect:?}] {tool} did not refuse {} ({}): error={} {}",
                    shown(&r.sql),
                    r.why,
                    is_error(&res),
                    shown(&text_of(&res).chars().take(200).collect::<String>())
                ));
            }
        }
    }
    for a in corpus.accept.iter().filter(|a| a.applies(dialect)) {
        let params = null_params(&a.sql, dialect);
        for (tool, args) in [
            (
                "run_query",
                json!({"sql": a.sql, "max_rows": 5, "params": params}),
            ),
            ("explain_query", json!({"sql": a.sql, "params": params})),
        ] {
            let res = call(client, tool, args).await;
            if is_error(&res) {
                failures.push(format!(
                    "[{dialect:?}] {tool} failed on {} ({}): {}",
                    shown(&a.sql),
                    a.why,
                    shown(&text_of(&res).chars().take(300).collect::<String>())
                ));
            }
        }
    }
    failures
}

#[tokio::test]
async fn sqlite_server_refuses_every_reject_and_runs_every_accept() {
    let corpus = corpus();
    let server = TestServer::start(SessionMode::Stateless).await;
    let client = server.client().await;
    let failures = corpus_through_server(&client, Dialect::Sqlite, &corpus).await;
    // Still up, and nothing was written.
    let after = call(
        &client,
        "run_query",
        json!({"sql": "SELECT count(*) FROM regions"}),
    )
    .await;
    assert_eq!(structured(&after)["rows"], json!([[5]]), "{after:?}");
    fail_all("corpus cases mishandled by the SQLite server", &failures);
}

/// The Oracle half through the ORDS backend, against the ORDS test double
/// (tests/ords_double): every Oracle reject is refused by the guard in both
/// tools and NOTHING reaches the double; every Oracle accept reaches it as
/// exactly one request running one fixed block, inside which the double
/// parses exactly the guarded text, wrapped. (The double runs what it parses
/// on SQLite, so Oracle-only syntax may fail there: only a real Oracle can
/// say whether each accept also runs.)
#[tokio::test]
async fn ords_backend_refuses_every_reject_and_sends_every_accept_as_one_block() {
    let corpus = corpus();
    let double = ords_double::OrdsDouble::start(&demo_db()).await;
    let mut config = test_config(SessionMode::Stateless);
    config.database.backend = adb_mcp::config::BackendKind::Ords;
    config.database.ords = adb_mcp::config::ords::OrdsConfig {
        base_url: Some(double.base_url.clone()),
        schema_alias: Some(ords_double::ALIAS.into()),
        allow_insecure_http: true,
        auth: Some(adb_mcp::config::ords::OrdsAuth::Basic {
            username: ords_double::DB_USER.into(),
            password: adb_mcp::config::Secret::Inline(ords_double::DB_PASSWORD.into()),
        }),
        ..Default::default()
    };
    let server = TestServer::start_with(config).await;
    let client = server.client().await;
    let mut failures = Vec::new();

    let before = double.state.executed().len();
    for r in corpus.reject.iter().filter(|r| r.applies(Dialect::Oracle)) {
        for tool in ["run_query", "explain_query"] {
            let res = call(&client, tool, json!({"sql": r.sql})).await;
            if !refused_by_guard(tool, &res) {
                failures.push(format!(
                    "{tool} did not refuse {} ({})",
                    shown(&r.sql),
                    r.why
                ));
            }
        }
    }
    for e in double.state.executed().into_iter().skip(before) {
        failures.push(format!("a refused statement reached ORDS: {}", shown(&e)));
    }

    for a in corpus.accept.iter().filter(|a| a.applies(Dialect::Oracle)) {
        let Ok(q) = check_read_only(&a.sql, Dialect::Oracle) else {
            failures.push(format!("guard refused accept case {}", shown(&a.sql)));
            continue;
        };
        let params = null_params(&a.sql, Dialect::Oracle);
        for (tool, args) in [
            (
                "run_query",
                json!({"sql": a.sql, "max_rows": 5, "params": params}),
            ),
            ("explain_query", json!({"sql": a.sql, "params": params})),
        ] {
            let executed = double.state.executed().len();
            let parsed = double.state.dynamic_sql().len();
            let res = call(&client, tool, args).await;
            if refused_by_guard(tool, &res) {
                failures.push(format!("{tool} refused accept case {}", shown(&a.sql)));
                continue;
            }
            let new_exec: Vec<String> =
                double.state.executed().into_iter().skip(executed).collect();
            let new_parsed: Vec<String> = double
                .state
                .dynamic_sql()
                .into_iter()
                .skip(parsed)
                .collect();
            // Binds travel renumbered (:1..:n), exactly as the backend does it.
            let Value::Object(p) = &params else { continue };
            let renumbered = match adb_mcp::db::oracle::bind_params(q, p) {
                Ok(u) => u.sql().to_owned(),
                Err(e) => {
                    failures.push(format!("cannot bind {}: {e}", shown(&a.sql)));
                    continue;
                }
            };
            let wrapped = format!("SELECT * FROM (\n{renumbered}\n)");
            let one_block = new_exec.len() == 1
                && new_exec.iter().all(|e| {
                    e.trim_start().starts_with("DECLARE") || e.trim_start().starts_with("BEGIN")
                });
            if !one_block {
                failures.push(format!(
                    "{tool}: {} reached ORDS as {} statement(s), not one fixed block: {:?}",
                    shown(&a.sql),
                    new_exec.len(),
                    new_exec.iter().map(|e| shown(e)).collect::<Vec<_>>()
                ));
            }
            if !new_parsed.iter().any(|p| p.contains(&wrapped)) {
                failures.push(format!(
                    "{tool}: the double did not parse {} as the one wrapped query: {:?}",
                    shown(&a.sql),
                    new_parsed.iter().map(|p| shown(p)).collect::<Vec<_>>()
                ));
            }
        }
    }
    fail_all("corpus cases mishandled by the ORDS backend", &failures);
}
