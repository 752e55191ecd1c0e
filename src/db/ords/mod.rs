//! The ORDS backend: Oracle through ORDS REST-Enabled SQL over HTTPS
//! (`POST {base_url}/ords/{alias}/_/sql`, JSON bodies).
//!
//! This module only moves statements and results over HTTP ([`OracleExec`]);
//! what to run for each tool is shared with the direct backend in
//! [`crate::db::oracle`]. Free-form SQL has passed the read-only guard
//! before it gets here; the schema user behind the alias should itself be
//! read-only (docs/ords.md shows how to create one).
//!
//! Each request is one statement sent alone. Wrapping queries in a script
//! (`SET TRANSACTION READ ONLY`, `DBMS_SESSION.SET_IDENTIFIER` for audit)
//! was considered and not done: how ORDS spreads one `binds` array over
//! several statements is not documented, and ORDS commits a successful
//! script and keeps pooled sessions, so an identifier could outlive the
//! call. docs/ords.md explains this and what DBAs see instead.

mod auth;
mod http;
pub mod wire;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use self::auth::Credentials;
use self::http::Http;
use self::wire::{SqlRequest, SqlResponse, StatementItem, WireBind};
use crate::auth::Principal;
use crate::config::ords::OrdsConfig;
use crate::db::guard::{self, TokenClass};
use crate::db::oracle::{self, OracleExec, OracleStatement};
use crate::db::{
    Backend, BackendInfo, CallContext, DbError, ExplainResult, Params, QueryRequest, QueryResult,
    ReadOnlyQuery, SchemaInfo, TableDescription, TableListRequest, TablePage,
};

/// How long a successful `/readyz` check is reused, so probes do not turn
/// into a stream of ORDS requests.
const READY_CACHE: Duration = Duration::from_secs(5);
/// Time allowed for the readiness query itself.
const PING_TIMEOUT: Duration = Duration::from_secs(3);
/// Follow-up pages fetched when ORDS caps a page below what we asked for.
const MAX_PAGES: usize = 1000;

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
    /// after a 401, and maps HTTP-level failures to readable errors.
    async fn post_sql(
        &self,
        req: &SqlRequest<'_>,
        ctx: &CallContext,
    ) -> Result<SqlResponse, DbError> {
        let body = serde_json::to_vec(req)
            .map_err(|e| DbError::Internal(format!("cannot encode the ORDS request: {e}")))?;
        let mut retried = false;
        loop {
            let authorization = self.credentials.header(&self.http, ctx).await?;
            let resp = self
                .http
                .post(
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
            return self.interpret(resp);
        }
    }

    fn interpret(&self, resp: http::RawResponse) -> Result<SqlResponse, DbError> {
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
            200..=299 => wire::parse_response(&resp.body).map_err(DbError::Unavailable),
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

    /// One query, paged by ORDS: asks for `max_rows + 1` rows to learn
    /// whether more exist, and follows `hasMore` when ORDS caps a page
    /// below that (its own row limit), so the result does not depend on
    /// the server's page size.
    async fn fetch_paged(
        &self,
        stmt: &OracleStatement,
        offset: u64,
        max_rows: usize,
        ctx: &CallContext,
    ) -> Result<QueryResult, DbError> {
        let text = ords_text(&stmt.sql, stmt.binds.len())?;
        let binds = wire_binds(&stmt.binds)?;
        let want = max_rows.saturating_add(1);
        let mut out = QueryResult::default();
        let mut next = offset;
        for _ in 0..MAX_PAGES {
            let limit = (want - out.rows.len()) as u64;
            let resp = self
                .post_sql(
                    &SqlRequest {
                        statement_text: &text,
                        offset: Some(next),
                        limit: Some(limit),
                        binds: &binds,
                    },
                    ctx,
                )
                .await?;
            let item = resp.items.first().ok_or_else(|| {
                DbError::Unavailable("ORDS returned no statement result (empty items)".into())
            })?;
            let rs = result_set(item)?;
            let (columns, rows) = wire::rows_of(rs);
            if out.columns.is_empty() {
                out.columns = columns;
            }
            let got = rows.len();
            out.rows.extend(rows);
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

    fn ping_ctx() -> CallContext {
        CallContext::new(
            "readyz",
            std::sync::Arc::new(Principal::anonymous()),
            tokio_util::sync::CancellationToken::new(),
            PING_TIMEOUT,
        )
    }
}

/// The item's result set, or its error.
fn result_set(item: &StatementItem) -> Result<&wire::ResultSet, DbError> {
    if let Some(e) = item.error() {
        return Err(e);
    }
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

/// Statement text as sent to ORDS, rewritten with the guard's lexer:
///
/// * `:1`, `:2`, … become `?`, the placeholder form ORDS documents for
///   binds by `index` (they must be `:1..:n` in order, as
///   [`OracleStatement`] promises);
/// * runs of blank lines outside literals collapse to one line break: ORDS
///   runs statements through its SQL*Plus-compatible script engine, where a
///   blank line can end a statement early.
///
/// Literals, quoted identifiers and comments are copied untouched.
fn ords_text(sql: &str, binds: usize) -> Result<String, DbError> {
    let tokens = guard::tokenize(sql, guard::Dialect::Oracle).map_err(DbError::Rejected)?;
    let mut out = String::with_capacity(sql.len());
    let mut last = 0;
    let mut n = 0usize;
    for t in &tokens {
        push_gap(&mut out, sql.get(last..t.start).unwrap_or_default());
        let text = sql.get(t.start..t.end).unwrap_or_default();
        if t.class == TokenClass::Placeholder {
            n += 1;
            if text != format!(":{n}") {
                return Err(DbError::Internal(format!(
                    "statement placeholders must be :1..:n in order; found {text} as bind {n}"
                )));
            }
            out.push('?');
        } else {
            out.push_str(text);
        }
        last = t.end;
    }
    push_gap(&mut out, sql.get(last..).unwrap_or_default());
    if n != binds {
        return Err(DbError::Internal(format!(
            "the statement has {n} placeholders but {binds} binds"
        )));
    }
    Ok(out.trim().to_owned())
}

/// Whitespace and comments between tokens, with blank lines removed.
fn push_gap(out: &mut String, gap: &str) {
    let mut run = String::new();
    for ch in gap.chars() {
        if ch.is_whitespace() {
            run.push(ch);
            continue;
        }
        flush_run(out, &run);
        run.clear();
        out.push(ch);
    }
    flush_run(out, &run);
}

fn flush_run(out: &mut String, run: &str) {
    let breaks =
        run.matches('\n').count() + run.matches('\r').count() - run.matches("\r\n").count();
    if breaks >= 2 {
        out.push('\n');
    } else {
        out.push_str(run);
    }
}

#[async_trait]
impl OracleExec for OrdsBackend {
    async fn fetch(
        &self,
        stmt: &OracleStatement,
        offset: u64,
        max_rows: usize,
        ctx: &CallContext,
    ) -> Result<QueryResult, DbError> {
        self.fetch_paged(stmt, offset, max_rows, ctx).await
    }

    /// One request whose script is `setup…; query; ROLLBACK;`: ORDS runs a
    /// script in one session, so PLAN_TABLE rows written by the setup are
    /// visible to the query; the ROLLBACK removes them (ORDS would
    /// otherwise commit a successful script). Binds may appear in one
    /// statement of the script only, because how ORDS applies a `binds`
    /// array across statements is not documented.
    async fn fetch_after(
        &self,
        setup: &[OracleStatement],
        query: &OracleStatement,
        max_rows: usize,
        ctx: &CallContext,
    ) -> Result<QueryResult, DbError> {
        let all: Vec<&OracleStatement> = setup.iter().chain(std::iter::once(query)).collect();
        if all.iter().filter(|s| !s.binds.is_empty()).count() > 1 {
            return Err(DbError::Internal(
                "an ORDS script may carry binds in one statement only".into(),
            ));
        }
        let mut script = String::new();
        let mut binds = Vec::new();
        for s in &all {
            script.push_str(&ords_text(&s.sql, s.binds.len())?);
            script.push_str(";\n");
            if !s.binds.is_empty() {
                binds = wire_binds(&s.binds)?;
            }
        }
        script.push_str("ROLLBACK;\n");
        let resp = self
            .post_sql(
                &SqlRequest {
                    statement_text: &script,
                    offset: Some(0),
                    limit: Some(max_rows.saturating_add(1) as u64),
                    binds: &binds,
                },
                ctx,
            )
            .await?;
        for item in &resp.items {
            if let Some(e) = item.error() {
                return Err(e);
            }
        }
        let item = resp.items.get(setup.len()).ok_or_else(|| {
            DbError::Unavailable(format!(
                "ORDS ran {} of the {} statements sent",
                resp.items.len(),
                all.len() + 1
            ))
        })?;
        let rs = result_set(item)?;
        let (columns, mut rows) = wire::rows_of(rs);
        let has_more = rows.len() > max_rows || rs.has_more.unwrap_or(false);
        rows.truncate(max_rows);
        Ok(QueryResult {
            columns,
            rows,
            has_more,
            budget_stop: None,
        })
    }
}

#[async_trait]
impl Backend for OrdsBackend {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: "ords",
            dialect: crate::db::Dialect::Oracle,
        }
    }

    /// `/readyz`: one `SELECT 1 FROM dual` through `_/sql`, which proves
    /// the network path, TLS, credentials and the alias all work.
    async fn ping(&self) -> Result<(), DbError> {
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
        self.fetch_paged(&stmt, 0, 1, &Self::ping_ctx()).await?;
        if let Ok(mut g) = self.last_ready.lock() {
            *g = Some(Instant::now());
        }
        Ok(())
    }

    async fn list_schemas(&self, ctx: &CallContext) -> Result<Vec<SchemaInfo>, DbError> {
        oracle::list_schemas(self, ctx).await
    }

    async fn list_tables(
        &self,
        req: &TableListRequest,
        ctx: &CallContext,
    ) -> Result<TablePage, DbError> {
        oracle::list_tables(self, req, ctx).await
    }

    async fn describe_table(
        &self,
        schema: Option<&str>,
        table: &str,
        ctx: &CallContext,
    ) -> Result<TableDescription, DbError> {
        oracle::describe_table(self, schema, table, ctx).await
    }

    async fn query(
        &self,
        req: QueryRequest<'_>,
        ctx: &CallContext,
    ) -> Result<QueryResult, DbError> {
        let stmt = oracle::bind_params(req.query, req.params)?;
        self.fetch_paged(&stmt, req.offset, req.max_rows, ctx).await
    }

    async fn explain(
        &self,
        query: ReadOnlyQuery<'_>,
        params: &Params,
        ctx: &CallContext,
    ) -> Result<ExplainResult, DbError> {
        oracle::explain(self, query, params, ctx).await
    }

    async fn privilege_report(
        &self,
        ctx: &CallContext,
    ) -> Result<Option<crate::db::PrivilegeReport>, DbError> {
        oracle::privileges::privilege_report(self, ctx)
            .await
            .map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_question_marks_and_blank_lines_go() {
        let sql = "SELECT ':1' AS a, :1 AS b\n\n\n  FROM dual -- c :2\n\n WHERE x = :2";
        assert_eq!(
            ords_text(sql, 2).expect("text"),
            "SELECT ':1' AS a, ? AS b\nFROM dual -- c :2\nWHERE x = ?"
        );
        let literal = "SELECT 'a\n\nb' FROM dual";
        assert_eq!(
            ords_text(literal, 0).expect("text"),
            literal,
            "literals untouched"
        );
        assert!(ords_text("SELECT :2 FROM dual", 1).is_err(), "out of order");
        assert!(
            ords_text("SELECT :1 FROM dual", 2).is_err(),
            "count mismatch"
        );
    }
}
