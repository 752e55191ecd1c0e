//! Database access behind one [`Backend`] trait, so that tools never know
//! whether they talk to SQLite, ORDS or a direct Oracle connection.
//!
//! Free-form SQL reaches a backend only as a [`guard::ReadOnlyQuery`], which
//! only the read-only guard can produce: a backend cannot be handed
//! unchecked SQL by mistake.

pub mod demo;
pub mod direct;
pub mod guard;
mod open;
pub mod oracle;
pub mod ords;
mod pool;
pub mod privileges;
pub mod sqlite;
pub mod text;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::auth::Principal;
pub use guard::{Dialect, GuardError, ReadOnlyQuery};
pub use open::{OpenError, open};
pub use privileges::PrivilegeReport;

/// Named bind values as the tools receive them (`{"id": 7}` binds `:id`).
pub type Params = Map<String, Value>;

/// Per-call context handed to a backend: who asks, for which tool, and
/// how long the call may take.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// Tool name; declarative tools are named at run time, hence not `&'static`.
    pub tool: Arc<str>,
    pub principal: Arc<Principal>,
    pub cancel: CancellationToken,
    pub deadline: Instant,
}

impl CallContext {
    pub fn new(
        tool: impl Into<Arc<str>>,
        principal: Arc<Principal>,
        cancel: CancellationToken,
        timeout: Duration,
    ) -> Self {
        Self {
            tool: tool.into(),
            principal,
            cancel,
            deadline: Instant::now() + timeout,
        }
    }

    pub fn timeout(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// What the tools need to phrase descriptions and errors for the dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendInfo {
    /// `sqlite`, `ords` or `direct`.
    pub kind: &'static str,
    /// The SQL dialect the guard must read statements in for this backend.
    pub dialect: Dialect,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SchemaInfo {
    pub name: String,
    pub tables: u64,
    pub views: u64,
    /// The schema unqualified names resolve to.
    pub is_default: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ObjectKind {
    #[default]
    All,
    Table,
    View,
}

#[derive(Debug, Clone, Default)]
pub struct TableListRequest {
    pub schema: Option<String>,
    /// Case-insensitive substring, or a LIKE pattern when it contains `%`.
    pub filter: Option<String>,
    pub kind: ObjectKind,
    pub limit: usize,
    pub offset: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct TableInfo {
    pub schema: String,
    pub name: String,
    /// `table` or `view`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Approximate row count from optimizer statistics, when available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_estimate: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct TablePage {
    pub tables: Vec<TableInfo>,
    /// Offset of the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ColumnDescription {
    pub name: String,
    pub data_type: String,
    pub nullable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ForeignKey {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub columns: Vec<String>,
    pub referenced_table: String,
    pub referenced_columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct IndexInfo {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct TableDescription {
    pub schema: String,
    pub name: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_estimate: Option<u64>,
    pub columns: Vec<ColumnDescription>,
    pub primary_key: Vec<String>,
    pub foreign_keys: Vec<ForeignKey>,
    pub indexes: Vec<IndexInfo>,
}

/// A column of a query result.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ColumnInfo {
    pub name: String,
    /// Declared or inferred database type, e.g. `INTEGER`, `NUMBER(10,2)`.
    #[serde(rename = "type")]
    pub type_name: String,
}

/// A read-only query, checked by the guard, with paging and a size budget.
#[derive(Debug, Clone, Copy)]
pub struct QueryRequest<'a> {
    pub query: ReadOnlyQuery<'a>,
    pub params: &'a Params,
    /// Rows to return at most; the backend fetches one more to detect `has_more`.
    pub max_rows: usize,
    pub offset: u64,
    /// Result budget in bytes ([`ResultBudget`]): the backend stops fetching
    /// when the rows so far would exceed it (`query.max_result_bytes`).
    pub max_bytes: usize,
    /// Each text value is cut at this many bytes when it is converted, with
    /// a marker ([`capped_text`]). Tools pass `query.max_text_bytes`: a
    /// longer value could not be shown anyway.
    pub max_value_bytes: usize,
}

/// A writing statement from an operator's declarative tool (`writes = true`).
/// Only the tool loader makes one, so free-form SQL from a client can never
/// reach [`Backend::execute_write`].
#[derive(Debug, Clone, Copy)]
pub struct WriteStatement<'a> {
    sql: &'a str,
}

impl<'a> WriteStatement<'a> {
    pub(crate) fn new(sql: &'a str) -> Self {
        Self { sql }
    }

    pub fn sql(&self) -> &'a str {
        self.sql
    }
}

/// What a writing statement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteResult {
    pub rows_affected: u64,
}

/// Rows in column order; values are JSON already so rendering never copies them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryResult {
    pub columns: Vec<ColumnInfo>,
    pub rows: Vec<Vec<Value>>,
    pub has_more: bool,
    /// Set (to the budget, in bytes) when fetching stopped because the
    /// result budget was used up rather than at `max_rows`.
    pub budget_stop: Option<usize>,
}

/// Counts what a result costs while rows are fetched, so a backend stops
/// before the rows it holds exceed the budget instead of cutting afterwards.
///
/// The cost of a value approximates its in-memory size as JSON (text bytes
/// plus a fixed overhead per cell), so many tiny cells count too. A backend
/// that converts values one by one asks [`ResultBudget::value_room`] how much
/// of a text it may keep, [`ResultBudget::charge`]s each converted value and
/// calls [`ResultBudget::end_row`]; one that receives whole rows uses
/// [`ResultBudget::admit`]. Either way the first row always fits (its values
/// are cut to what is left), so a result is never empty only because of the
/// budget, and memory held per call stays near the budget.
#[derive(Debug, Clone, Copy)]
pub struct ResultBudget {
    limit: usize,
    used: usize,
    rows: usize,
}

impl ResultBudget {
    /// Bytes charged per cell on top of its content.
    pub const CELL_OVERHEAD: usize = 16;

    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            used: 0,
            rows: 0,
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Approximate cost of one value.
    pub fn cost(v: &Value) -> usize {
        Self::CELL_OVERHEAD
            + match v {
                Value::Null | Value::Bool(_) => 0,
                Value::Number(_) => 8,
                Value::String(s) => s.len(),
                other => other.to_string().len(),
            }
    }

    /// Content bytes the next value may keep: `cap`, and in the first row
    /// no more than what is left of the budget.
    pub fn value_room(&self, cap: usize) -> usize {
        if self.rows == 0 {
            cap.min(
                self.limit
                    .saturating_sub(self.used.saturating_add(Self::CELL_OVERHEAD)),
            )
        } else {
            cap
        }
    }

    /// Charges one converted value of the row being fetched; false when the
    /// row no longer fits (never in the first row). The caller then drops
    /// the row and stops fetching.
    pub fn charge(&mut self, v: &Value) -> bool {
        self.used = self.used.saturating_add(Self::cost(v));
        self.rows == 0 || self.used <= self.limit
    }

    /// Ends a row whose values all fit.
    pub fn end_row(&mut self) {
        self.rows += 1;
    }

    /// Charges a whole fetched row; false when it does not fit. The first
    /// row always fits (values are capped individually).
    pub fn admit(&mut self, row: &[Value]) -> bool {
        let cost: usize = row.iter().map(Self::cost).sum();
        if self.rows > 0 && self.used.saturating_add(cost) > self.limit {
            return false;
        }
        self.used = self.used.saturating_add(cost);
        self.rows += 1;
        true
    }
}

/// 4194304 → "4 MiB", 65536 → "64 KiB", 1000 → "1000 bytes", for messages
/// that name a limit.
pub(crate) fn human_bytes(n: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

pub use text::capped_text;

/// Bytes of a BLOB/RAW shown (base64, see [`render_blob`]), on every backend.
pub const BLOB_PREVIEW_BYTES: usize = 256;

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PlanStep {
    pub id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<i64>,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ExplainResult {
    pub steps: Vec<PlanStep>,
    /// The plan rendered as the database shows it (indented tree).
    pub text: String,
}

/// Errors a backend reports; their messages are shown to the model, so they
/// carry the database's own text and say what to do next.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum DbError {
    #[error("{0}")]
    Rejected(#[from] GuardError),
    #[error("database error: {message}")]
    Sql {
        code: Option<String>,
        message: String,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("invalid parameters: {0}")]
    InvalidParams(String),
    #[error(
        "the query did not finish within the time limit of {0} s and was stopped; narrow it (filters, fewer joins) or use max_rows"
    )]
    Timeout(u64),
    #[error("the query was cancelled")]
    Cancelled,
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// A writing tool was called but this backend or database cannot write.
    #[error("{0}")]
    WritesUnsupported(String),
}

impl DbError {
    /// Short stable code for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            DbError::Rejected(g) => g.code(),
            DbError::Sql { .. } => "sql_error",
            DbError::NotFound(_) => "not_found",
            DbError::InvalidParams(_) => "invalid_params",
            DbError::Timeout(_) => "timeout",
            DbError::Cancelled => "cancelled",
            DbError::Unavailable(_) => "unavailable",
            DbError::Internal(_) => "internal",
            DbError::WritesUnsupported(_) => "writes_unsupported",
        }
    }
}

/// Connection-pool usage, for metrics. Backends without a pool report nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Connections currently running a statement.
    pub in_use: u64,
    /// Open connections waiting for work.
    pub idle: u64,
    /// Most connections the pool will keep open, when bounded.
    pub max: Option<u64>,
}

/// What every backend provides. Implementations must honour
/// `ctx.deadline` and `ctx.cancel`, and must not be able to write.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    fn info(&self) -> BackendInfo;
    /// Pool usage for `/metrics`; `None` when the backend has nothing to report.
    fn pool(&self) -> Option<PoolStats> {
        None
    }
    /// Cheap reachability check for `/readyz`.
    async fn ping(&self) -> Result<(), DbError>;
    async fn list_schemas(&self, ctx: &CallContext) -> Result<Vec<SchemaInfo>, DbError>;
    async fn list_tables(
        &self,
        req: &TableListRequest,
        ctx: &CallContext,
    ) -> Result<TablePage, DbError>;
    async fn describe_table(
        &self,
        schema: Option<&str>,
        table: &str,
        ctx: &CallContext,
    ) -> Result<TableDescription, DbError>;
    async fn query(&self, req: QueryRequest<'_>, ctx: &CallContext)
    -> Result<QueryResult, DbError>;
    async fn explain(
        &self,
        query: ReadOnlyQuery<'_>,
        params: &Params,
        ctx: &CallContext,
    ) -> Result<ExplainResult, DbError>;
    /// What the database user can do beyond reading (`adb-mcp doctor`, the
    /// startup warning). `None` where the question does not apply: SQLite
    /// opens its file read-only and has no users or grants.
    async fn privilege_report(
        &self,
        ctx: &CallContext,
    ) -> Result<Option<PrivilegeReport>, DbError> {
        let _ = ctx;
        Ok(None)
    }
    /// Runs one operator-defined writing statement with named binds. Backends
    /// are read-only unless they implement this deliberately.
    async fn execute_write(
        &self,
        statement: WriteStatement<'_>,
        params: &Params,
        ctx: &CallContext,
    ) -> Result<WriteResult, DbError> {
        let _ = (statement, params, ctx);
        Err(DbError::WritesUnsupported(format!(
            "the {} backend does not support writing tools",
            self.info().kind
        )))
    }
}

/// Binary values travel as base64, cut after `limit` bytes with a marker
/// so a single BLOB cannot blow the result budget.
pub fn render_blob(bytes: &[u8], limit: usize) -> String {
    use base64::Engine as _;
    let shown = &bytes[..bytes.len().min(limit)];
    let mut out = String::with_capacity(shown.len() * 4 / 3 + 40);
    out.push_str("base64:");
    base64::engine::general_purpose::STANDARD.encode_string(shown, &mut out);
    if bytes.len() > limit {
        out.push_str(&text::truncation_marker(bytes.len(), "bytes"));
    }
    out
}

/// Suggests existing names close to a mistyped one ("employee" → "employees").
pub fn suggest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let w = wanted.to_ascii_lowercase();
    let mut out: Vec<&str> = candidates
        .into_iter()
        .filter(|c| {
            let c = c.to_ascii_lowercase();
            c.contains(&w) || w.contains(&c) || edit_distance(&c, &w) <= 2
        })
        .collect();
    out.sort_unstable();
    out.truncate(5);
    out
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_find_near_misses() {
        let names = ["employees", "orders", "order_items", "regions"];
        assert_eq!(suggest("employee", names), vec!["employees"]);
        assert_eq!(suggest("ORDER", names), vec!["order_items", "orders"]);
        assert!(suggest("zzz", names).is_empty());
    }

    #[test]
    fn capped_text_cuts_on_a_char_boundary_with_the_size() {
        assert_eq!(capped_text(b"hello", 10), "hello");
        assert_eq!(
            capped_text("héllo".as_bytes(), 2),
            "h…[truncated, 6 bytes total]"
        );
        assert_eq!(capped_text(b"abc", 0), "…[truncated, 3 bytes total]");
    }

    #[test]
    fn the_budget_admits_the_first_row_and_stops_later_ones() {
        let mut b = ResultBudget::new(100);
        // First row: values are cut to what is left, and always fit.
        assert_eq!(b.value_room(1000), 100 - ResultBudget::CELL_OVERHEAD);
        assert!(b.charge(&Value::String("x".repeat(84))));
        assert_eq!(b.value_room(1000), 0);
        assert!(b.charge(&Value::String(String::new())));
        b.end_row();
        // Later rows keep the per-value cap and end the fetch when over.
        assert_eq!(b.value_room(1000), 1000);
        assert!(!b.charge(&Value::from(1)));
        let mut whole = ResultBudget::new(50);
        assert!(whole.admit(&[Value::String("y".repeat(200))]));
        assert!(!whole.admit(&[Value::Null]));
    }

    #[test]
    fn blobs_are_base64_and_capped() {
        assert_eq!(render_blob(b"hi", 10), "base64:aGk=");
        let long = render_blob(&[0u8; 300], 3);
        assert!(
            long.starts_with("base64:AAAA…[truncated, 300 bytes total]"),
            "{long}"
        );
    }
}
