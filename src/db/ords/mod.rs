//! The ORDS backend: Oracle through ORDS REST-Enabled SQL over HTTPS
//! (`POST {base_url}/ords/{alias}/_/sql`, JSON bodies).
//!
//! This module only moves statements and results over HTTP ([`OracleExec`]);
//! what to run for each tool is shared with the direct backend in
//! [`crate::db::oracle`]. Free-form SQL has passed the read-only guard
//! before it gets here; the schema user behind the alias should itself be
//! read-only (docs/ords.md shows how to create one).
//!
//! What goes into `statementText` — which ORDS runs through its SQL*Plus/
//! SQLcl script engine — is only ever fixed text of ours:
//!
//! * the dictionary queries and the readiness probe (single lines without
//!   `;` or `&`; caller-supplied names are `?` binds by index);
//! * for `run_query`, one fixed PL/SQL block that receives the user's text
//!   as the CLOB bind `:q` and opens it, wrapped as a subquery, as a REF
//!   CURSOR returned through the OUT bind `:rc`
//!   ([`oracle::wrap::ords_query_block`]);
//! * for `explain_query`, one fixed block that runs EXPLAIN PLAN of the
//!   wrapped text, reads the plan back as JSON and rolls back, all inside
//!   the block ([`oracle::wrap::ords_explain_block`]).
//!
//! Every response must be exactly one item of the expected statement type
//! without an error code; anything else is refused. docs/ords.md explains
//! the choice and what only a real ORDS can confirm.

mod auth;
mod http;
pub mod wire;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::Value;

use self::auth::Credentials;
use self::http::{Http, PostError};
use self::wire::{CursorRows, SqlRequest, StatementItem, WireBind};
use crate::auth::Principal;
use crate::config::ords::OrdsConfig;
use crate::db::guard::{self, TokenClass};
use crate::db::oracle::wrap::{self, BIND_CURSOR, BIND_OFFSET, BIND_PLAN, BIND_QUERY, BIND_ROWS};
use crate::db::oracle::{self, OracleExec, OracleStatement, UserQuery};
use crate::db::{CallContext, DbError, QueryResult, ResultBudget};

/// How long a successful `/readyz` check is reused, so probes do not turn
/// into a stream of ORDS requests.
const READY_CACHE: Duration = Duration::from_secs(5);
/// Time allowed for the readiness query itself.
const PING_TIMEOUT: Duration = Duration::from_secs(3);
/// Follow-up pages fetched when ORDS caps a page below what we asked for.
const MAX_PAGES: usize = 1000;
/// After a response over `max_response_bytes`, the next request asks for
/// this fraction of the rows.
const SHRINK: usize = 8;

#[cfg(test)]
mod double_tests;
#[cfg(test)]
#[path = "../../../tests/it/support/ords_double/mod.rs"]
mod ords_double;

pub struct OrdsBackend {
    http: Http,
    credentials: Credentials,
    sql_url: String,
    alias: String,
    last_ready: Mutex<Option<Instant>>,
}

impl OrdsBackend {
    /// Builds the client and resolves credentials; no network traffic, so
    /// the server starts (and `/readyz` reports) while ORDS is down.
    pub fn open(cfg: &OrdsConfig, query_timeout: Duration) -> Result<Self, DbError> {
        cfg.validate().map_err(|e| {
            DbError::Unavailable(format!("invalid database.ords.{}: {}", e.key, e.message))
        })?;
        let root = cfg.schema_root().ok_or_else(|| {
            DbError::Unavailable("database.ords.base_url and schema_alias are required".into())
        })?;
        let auth = cfg
            .effective_auth()
            .ok_or_else(|| DbError::Unavailable("database.ords.auth is required".into()))?;
        let credentials = Credentials::new(
            &auth,
            format!("{root}/oauth/token"),
            Duration::from_secs(cfg.token_refresh_skew_secs),
        )?;
        Ok(Self {
            http: Http::new(cfg, query_timeout)?,
            credentials,
            sql_url: format!("{root}/_/sql"),
            alias: cfg.schema_alias.clone().unwrap_or_default(),
            last_ready: Mutex::new(None),
        })
    }

    /// POSTs one JSON request to `_/sql`, with one retry on a fresh token
    /// after a 401, maps HTTP-level failures to readable errors and returns
    /// the JSON body (parsed by the caller, borrowing from it).
    async fn post_sql(
        &self,
        req: &SqlRequest<'_>,
        ctx: &CallContext,
    ) -> Result<Vec<u8>, PostError> {
        let body = serde_json::to_vec(req).map_err(|e| {
            PostError::Db(DbError::Internal(format!(
                "cannot encode the ORDS request: {e}"
            )))
        })?;
        let mut retried = false;
        loop {
            let authorization = self
                .credentials
                .header(&self.http, ctx)
                .await
                .map_err(PostError::Db)?;
            let resp = self
                .http
                .post_capped(
                    &self.sql_url,
                    "application/json",
                    Some(&authorization),
                    body.clone(),
                    ctx,
                )
                .await?;
            if resp.status.as_u16() == 401
                && !retried
                && self.credentials.invalidate(&authorization).await
            {
                tracing::debug!("ORDS answered 401; retrying once with fresh credentials");
                retried = true;
                continue;
            }
            return self.interpret(resp).map_err(PostError::Db);
        }
    }

    fn interpret(&self, resp: http::RawResponse) -> Result<Vec<u8>, DbError> {
        let status = resp.status;
        let code = status.as_u16();
        let detail = resp
            .error_message()
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        let alias = &self.alias;
        match code {
            200..=299 if resp.is_html() => Err(DbError::Unavailable(format!(
                "ORDS answered {status} with an HTML page instead of JSON; check base_url and schema_alias (a proxy, load balancer or login page may be answering)"
            ))),
            200..=299 => Ok(resp.body),
            401 => {
                let challenge = resp
                    .headers
                    .get(reqwest::header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split("error=\"").nth(1))
                    .and_then(|v| v.split('"').next())
                    .map(|e| format!(", {}", http::clip(e, 40)))
                    .unwrap_or_default();
                let cause = match self.credentials.kind() {
                    "basic" => format!(
                        "wrong username or password, or the user is not the schema REST-enabled as `{alias}` (ORDS checks the user against the alias)"
                    ),
                    "bearer" => "the bearer token (database.ords.auth.token) is invalid or expired".to_owned(),
                    _ => "a freshly issued OAuth token was refused too: check that the OAuth client belongs to this schema".to_owned(),
                };
                Err(DbError::Unavailable(format!(
                    "ORDS rejected our credentials (401 Unauthorized{challenge}): {cause}"
                )))
            }
            403 => Err(DbError::Unavailable(format!(
                "ORDS refused access (403 Forbidden){detail}: the user or OAuth client lacks the privilege for REST-Enabled SQL on `{alias}`, or REST-Enabled SQL is disabled on this ORDS"
            ))),
            404 => Err(DbError::Unavailable(format!(
                "ORDS has no REST-Enabled SQL endpoint at /ords/{alias}/_/sql (404 Not Found): check schema_alias, that the schema is REST-enabled (ORDS.ENABLE_SCHEMA) and that REST-Enabled SQL is active"
            ))),
            400 => Err(DbError::Sql {
                code: None,
                message: format!("ORDS rejected the request (400 Bad Request){detail}"),
            }),
            413 => Err(DbError::InvalidParams(format!(
                "the statement is too large for ORDS (413){detail}"
            ))),
            429 => Err(DbError::Unavailable(format!(
                "ORDS is rate-limiting requests (429 Too Many Requests){detail}; retry later"
            ))),
            _ => Err(DbError::Unavailable(format!(
                "ORDS answered {status}{}",
                if resp.is_html() {
                    " with an HTML error page".to_owned()
                } else {
                    detail
                }
            ))),
        }
    }

    /// One fixed query of ours, paged by ORDS: asks for `max_rows + 1`
    /// rows to learn whether more exist, and follows `hasMore` when ORDS
    /// caps a page below that (its own row limit), so the result does not
    /// depend on the server's page size.
    async fn fetch_fixed(
        &self,
        stmt: &OracleStatement,
        offset: u64,
        max_rows: usize,
        ctx: &CallContext,
    ) -> Result<QueryResult, DbError> {
        let text = ords_text(&stmt.sql, stmt.binds.len())?;
        wrap::check_script_inert(&text, false)?;
        let binds = wire_binds(&stmt.binds)?;
        let want = max_rows.saturating_add(1);
        let mut out = QueryResult::default();
        let mut next = offset;
        for _ in 0..MAX_PAGES {
            let ask = want - out.rows.len();
            let body = self
                .post_sql(
                    &SqlRequest {
                        statement_text: &text,
                        offset: Some(next),
                        limit: Some(ask as u64),
                        binds: &binds,
                    },
                    ctx,
                )
                .await
                .map_err(PostError::into_db_error)?;
            let resp = wire::parse_response(&body).map_err(DbError::Unavailable)?;
            let rs = result_set(wire::single_item(&resp, "query")?)?;
            let page = wire::convert_rows(Some(&rs.metadata), &rs.items, ask, None)?;
            if out.columns.is_empty() {
                out.columns = page.columns;
            }
            let got = page.rows.len() + page.skipped;
            out.rows.extend(page.rows);
            if out.rows.len() > max_rows {
                out.rows.truncate(max_rows);
                out.has_more = true;
                return Ok(out);
            }
            if !rs.has_more.unwrap_or(false) || got == 0 {
                return Ok(out);
            }
            next += got as u64;
        }
        out.has_more = true;
        Ok(out)
    }

    /// The user's query through the fixed block: `max_rows + 1` rows from
    /// `offset` (server-side OFFSET/FETCH), converted while the budget
    /// lasts. A response over `max_response_bytes` is asked again for an
    /// eighth of the rows (down to one), so wide rows mean more, smaller
    /// requests rather than a failure; ORDS capping the cursor below what
    /// was asked (`hasMore`) is followed like a capped query page.
    async fn fetch_user_query(
        &self,
        q: &UserQuery,
        offset: u64,
        max_rows: usize,
        max_bytes: usize,
        ctx: &CallContext,
    ) -> Result<QueryResult, DbError> {
        let block = wrap::ords_query_block(q.binds().len());
        wrap::check_script_inert(&block, true)?;
        let mut binds = Vec::with_capacity(q.binds().len() + 4);
        binds.push(WireBind::named_clob(BIND_QUERY, q.sql())?);
        for (i, b) in q.binds().iter().enumerate() {
            binds.push(WireBind::named(&wrap::user_bind_name(i + 1), b)?);
        }
        let fixed = binds.len();
        let want = max_rows.saturating_add(1);
        let mut budget = ResultBudget::new(max_bytes);
        let mut out = QueryResult::default();
        let mut next = offset;
        let mut page_cap = want;
        for _ in 0..MAX_PAGES {
            let ask = (want - out.rows.len()).min(page_cap);
            binds.truncate(fixed);
            binds.push(WireBind::named(
                BIND_OFFSET,
                &oracle::OracleBind::Integer(wrap::row_count(next, "offset")?),
            )?);
            binds.push(WireBind::named(
                BIND_ROWS,
                &oracle::OracleBind::Integer(wrap::row_count(ask as u64, "row count")?),
            )?);
            binds.push(WireBind::out(BIND_CURSOR, "CURSOR"));
            let request = SqlRequest {
                statement_text: &block,
                offset: None,
                limit: Some(ask as u64),
                binds: &binds,
            };
            let body = match self.post_sql(&request, ctx).await {
                Ok(body) => body,
                Err(PostError::TooLarge(limit)) if ask > 1 => {
                    page_cap = (ask / SHRINK).max(1);
                    tracing::debug!(
                        ask,
                        limit,
                        next = page_cap,
                        "ORDS response over max_response_bytes; asking for fewer rows"
                    );
                    continue;
                }
                Err(e) => return Err(e.into_db_error()),
            };
            let resp = wire::parse_response(&body).map_err(DbError::Unavailable)?;
            let item = wire::single_item(&resp, "plsql")?;
            let cursor = wire::cursor_rows(item, BIND_CURSOR)?;
            let (metadata, rows, ords_more) = match &cursor {
                CursorRows::ResultSet(rs) => (Some(rs.metadata.as_slice()), rs.items, rs.has_more),
                CursorRows::Rows(rows) => (None, *rows, None),
            };
            let page =
                wire::convert_rows(metadata, &rows, want - out.rows.len(), Some(&mut budget))?;
            if out.columns.is_empty() {
                out.columns = page.columns;
            }
            let got = page.rows.len() + page.skipped;
            out.rows.extend(page.rows);
            if page.budget_stop {
                out.has_more = true;
                out.budget_stop = Some(max_bytes);
                out.rows.truncate(max_rows);
                return Ok(out);
            }
            if out.rows.len() > max_rows {
                out.rows.truncate(max_rows);
                out.has_more = true;
                return Ok(out);
            }
            let short = got < ask;
            if got == 0 || (short && !ords_more.unwrap_or(false)) {
                return Ok(out);
            }
            next += got as u64;
        }
        out.has_more = true;
        Ok(out)
    }

    fn ping_ctx() -> CallContext {
        CallContext::new(
            "readyz",
            std::sync::Arc::new(Principal::anonymous()),
            tokio_util::sync::CancellationToken::new(),
            PING_TIMEOUT,
        )
    }
}

/// The item's result set, or what ORDS said instead.
fn result_set<'r, 'a>(item: &'r StatementItem<'a>) -> Result<&'r wire::ResultSet<'a>, DbError> {
    item.result_set.as_ref().ok_or_else(|| {
        let said = item.response_text();
        DbError::Sql {
            code: None,
            message: if said.is_empty() {
                "ORDS returned no result set for the query".to_owned()
            } else {
                format!("ORDS returned no result set: {said}")
            },
        }
    })
}

fn wire_binds(binds: &[oracle::OracleBind]) -> Result<Vec<WireBind>, DbError> {
    binds
        .iter()
        .enumerate()
        .map(|(i, b)| WireBind::new(i + 1, b))
        .collect()
}

/// A fixed statement's text as sent to ORDS: `:1`, `:2`, … become `?`, the
/// placeholder form ORDS documents for binds by `index` (they must be
/// `:1..:n` in order, as [`OracleStatement`] promises). Found with the
/// guard's lexer; literals, quoted identifiers and comments are untouched.
fn ords_text(sql: &str, binds: usize) -> Result<String, DbError> {
    let tokens = guard::tokenize(sql, guard::Dialect::Oracle).map_err(DbError::Rejected)?;
    let mut out = String::with_capacity(sql.len());
    let mut last = 0;
    let mut n = 0usize;
    for t in tokens.iter().filter(|t| t.class == TokenClass::Placeholder) {
        out.push_str(sql.get(last..t.start).unwrap_or_default());
        n += 1;
        let text = sql.get(t.start..t.end).unwrap_or_default();
        if text != format!(":{n}") {
            return Err(DbError::Internal(format!(
                "statement placeholders must be :1..:n in order; found {text} as bind {n}"
            )));
        }
        out.push('?');
        last = t.end;
    }
    out.push_str(sql.get(last..).unwrap_or_default());
    if n != binds {
        return Err(DbError::Internal(format!(
            "the statement has {n} placeholders but {binds} binds"
        )));
    }
    Ok(out.trim().to_owned())
}

#[async_trait]
impl OracleExec for OrdsBackend {
    fn kind(&self) -> &'static str {
        "ords"
    }

    /// `/readyz`: one `SELECT 1 FROM dual` through `_/sql`, which proves
    /// the network path, TLS, credentials and the alias all work.
    async fn check_ready(&self) -> Result<(), DbError> {
        let fresh = self
            .last_ready
            .lock()
            .ok()
            .and_then(|g| *g)
            .is_some_and(|t| t.elapsed() < READY_CACHE);
        if fresh {
            return Ok(());
        }
        let stmt = OracleStatement {
            sql: "SELECT 1 AS ok FROM dual".into(),
            binds: vec![],
        };
        self.fetch_fixed(&stmt, 0, 1, &Self::ping_ctx()).await?;
        if let Ok(mut g) = self.last_ready.lock() {
            *g = Some(Instant::now());
        }
        Ok(())
    }

    async fn fetch(
        &self,
        stmt: &OracleStatement,
        offset: u64,
        max_rows: usize,
        ctx: &CallContext,
    ) -> Result<QueryResult, DbError> {
        self.fetch_fixed(stmt, offset, max_rows, ctx).await
    }

    async fn fetch_query(
        &self,
        query: &UserQuery,
        offset: u64,
        max_rows: usize,
        max_bytes: usize,
        ctx: &CallContext,
    ) -> Result<QueryResult, DbError> {
        self.fetch_user_query(query, offset, max_rows, max_bytes, ctx)
            .await
    }

    /// One request: the fixed explain block, which runs EXPLAIN PLAN, reads
    /// the plan rows into a CLOB (JSON) and rolls back before it ends, so
    /// no statement of the user's can run between the plan and the
    /// rollback.
    async fn explain_plan(
        &self,
        query: &UserQuery,
        statement_id: &str,
        max_rows: usize,
        ctx: &CallContext,
    ) -> Result<Vec<Vec<Value>>, DbError> {
        let block = wrap::ords_explain_block(statement_id)?;
        wrap::check_script_inert(&block, true)?;
        let binds = [
            WireBind::named_clob(BIND_QUERY, query.sql())?,
            WireBind::out(BIND_PLAN, "CLOB"),
        ];
        let body = self
            .post_sql(
                &SqlRequest {
                    statement_text: &block,
                    offset: None,
                    limit: None,
                    binds: &binds,
                },
                ctx,
            )
            .await
            .map_err(PostError::into_db_error)?;
        let resp = wire::parse_response(&body).map_err(DbError::Unavailable)?;
        let item = wire::single_item(&resp, "plsql")?;
        wire::plan_rows(item, BIND_PLAN, &wrap::PLAN_COLUMNS, max_rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_question_marks() {
        let sql = "SELECT ':1' AS a, :1 AS b FROM dual /* :2 */ WHERE x = :2";
        assert_eq!(
            ords_text(sql, 2).expect("text"),
            "SELECT ':1' AS a, ? AS b FROM dual /* :2 */ WHERE x = ?"
        );
        assert!(ords_text("SELECT :2 FROM dual", 1).is_err(), "out of order");
        assert!(
            ords_text("SELECT :1 FROM dual", 2).is_err(),
            "count mismatch"
        );
    }
}
