//! Oracle SQL shared by the ORDS and direct backends: the dictionary queries
//! behind the catalogue tools, EXPLAIN PLAN, how named parameters become
//! Oracle binds, and the wrappers that make Oracle parse the user's text as
//! exactly one query ([`wrap`]). The backends only know how to run a statement
//! ([`OracleExec`]); everything Oracle-specific about *what* to run lives here,
//! so both backends answer the catalogue tools identically.

mod binds;
mod dictionary;
mod explain;
pub mod privileges;
pub mod values;
pub mod wrap;

use async_trait::async_trait;

use super::{
    Backend, BackendInfo, CallContext, DbError, Dialect, ExplainResult, Params, PrivilegeReport,
    QueryRequest, QueryResult, ReadOnlyQuery, SchemaInfo, TableDescription, TableListRequest,
    TablePage,
};

pub use binds::to_bind;
pub use wrap::UserQuery;

/// A value bound to an Oracle placeholder. Numbers that do not fit `i64`
/// travel as decimal text so no precision is lost.
#[derive(Debug, Clone, PartialEq)]
pub enum OracleBind {
    Null,
    Text(String),
    Integer(i64),
    /// A decimal number as text (`"12.50"`, `"1e40"`), bound as NUMBER.
    Number(String),
    Float(f64),
    Boolean(bool),
}

/// One statement ready to run: SQL whose placeholders are `:1`, `:2`, … each
/// used exactly once and in order, so ORDS (binds by index) and the driver
/// (positional binds) bind it the same way.
#[derive(Debug, Clone, PartialEq)]
pub struct OracleStatement {
    pub sql: String,
    pub binds: Vec<OracleBind>,
}

/// What a backend must provide so the shared Oracle code can run on it.
///
/// Two kinds of text reach a backend, and they never mix: fixed statements
/// of ours ([`OracleStatement`], the dictionary SQL; caller-supplied names
/// are binds) and the user's guarded query ([`UserQuery`]), which a backend
/// runs only through the wrappers in [`wrap`], so that Oracle itself parses
/// it as exactly one query.
#[async_trait]
pub trait OracleExec: Send + Sync {
    /// `ords` or `direct`, as [`BackendInfo::kind`] reports it.
    fn kind(&self) -> &'static str;

    /// Proves the database answers (`/readyz`); may cache a recent success.
    async fn check_ready(&self) -> Result<(), DbError>;

    /// Runs one fixed query of ours and returns at most `max_rows` rows
    /// starting at `offset`, with `has_more` set when more rows exist.
    async fn fetch(
        &self,
        stmt: &OracleStatement,
        offset: u64,
        max_rows: usize,
        ctx: &CallContext,
    ) -> Result<QueryResult, DbError>;

    /// Runs the user's query as exactly one query (wrapped, paged by the
    /// server): at most `max_rows` rows from `offset`, and stops fetching
    /// once the rows would exceed `max_bytes` ([`crate::db::ResultBudget`];
    /// `has_more` and `budget_stop` then say so).
    async fn fetch_query(
        &self,
        query: &UserQuery,
        offset: u64,
        max_rows: usize,
        max_bytes: usize,
        ctx: &CallContext,
    ) -> Result<QueryResult, DbError>;

    /// EXPLAIN PLAN of the user's query under `statement_id`, then its
    /// PLAN_TABLE rows (at most `max_rows`, columns in
    /// [`wrap::PLAN_COLUMNS`] order), then the transaction ends without
    /// committing.
    async fn explain_plan(
        &self,
        query: &UserQuery,
        statement_id: &str,
        max_rows: usize,
        ctx: &CallContext,
    ) -> Result<Vec<Vec<serde_json::Value>>, DbError>;
}

/// Every Oracle backend is a [`Backend`] the same way: what to run is the
/// shared Oracle SQL of this module, how to run it is the backend's
/// [`OracleExec`]. ORDS and direct differ only in the latter.
#[async_trait]
impl<E: OracleExec + 'static> Backend for E {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: self.kind(),
            dialect: Dialect::Oracle,
        }
    }

    async fn ping(&self) -> Result<(), DbError> {
        self.check_ready().await
    }

    async fn list_schemas(&self, ctx: &CallContext) -> Result<Vec<SchemaInfo>, DbError> {
        list_schemas(self, ctx).await
    }

    async fn list_tables(
        &self,
        req: &TableListRequest,
        ctx: &CallContext,
    ) -> Result<TablePage, DbError> {
        list_tables(self, req, ctx).await
    }

    async fn describe_table(
        &self,
        schema: Option<&str>,
        table: &str,
        ctx: &CallContext,
    ) -> Result<TableDescription, DbError> {
        describe_table(self, schema, table, ctx).await
    }

    async fn query(
        &self,
        req: QueryRequest<'_>,
        ctx: &CallContext,
    ) -> Result<QueryResult, DbError> {
        query(self, req, ctx).await
    }

    async fn explain(
        &self,
        query: ReadOnlyQuery<'_>,
        params: &Params,
        ctx: &CallContext,
    ) -> Result<ExplainResult, DbError> {
        explain(self, query, params, ctx).await
    }

    async fn privilege_report(
        &self,
        ctx: &CallContext,
    ) -> Result<Option<PrivilegeReport>, DbError> {
        privileges::privilege_report(self, ctx).await.map(Some)
    }
}

/// Turns a guarded query and its named parameters into positional binds.
///
/// Placeholders are found with the guard's lexer (never by text search);
/// a repeated name is bound once per occurrence; names match ignoring case;
/// missing or unused parameters and `?` placeholders are `InvalidParams`.
pub fn bind_params(query: ReadOnlyQuery<'_>, params: &Params) -> Result<UserQuery, DbError> {
    binds::bind_params(query, params)
}

/// `run_query` on Oracle: the guarded query bound and run as exactly one
/// query, within the request's row and byte budget.
pub async fn query(
    exec: &dyn OracleExec,
    req: QueryRequest<'_>,
    ctx: &CallContext,
) -> Result<QueryResult, DbError> {
    let q = bind_params(req.query, req.params)?;
    exec.fetch_query(&q, req.offset, req.max_rows, req.max_bytes, ctx)
        .await
}

/// Schemas the connected user can see objects in (from ALL_USERS, without
/// Oracle-maintained ones), with table and view counts; the connected user
/// is the default.
pub async fn list_schemas(
    exec: &dyn OracleExec,
    ctx: &CallContext,
) -> Result<Vec<SchemaInfo>, DbError> {
    dictionary::list_schemas(exec, ctx).await
}

/// Tables (ALL_TABLES) and views (ALL_VIEWS) of a schema with comments and
/// optimizer row estimates; filter and paging as the tool describes.
pub async fn list_tables(
    exec: &dyn OracleExec,
    req: &TableListRequest,
    ctx: &CallContext,
) -> Result<TablePage, DbError> {
    dictionary::list_tables(exec, req, ctx).await
}

/// Columns, keys and indexes of one table or view; suggests close names
/// when it does not exist.
pub async fn describe_table(
    exec: &dyn OracleExec,
    schema: Option<&str>,
    table: &str,
    ctx: &CallContext,
) -> Result<TableDescription, DbError> {
    dictionary::describe_table(exec, schema, table, ctx).await
}

/// The optimizer's plan via EXPLAIN PLAN, read back from PLAN_TABLE; see
/// [`explain::explain`] for why this is the read-only-safe choice.
pub async fn explain(
    exec: &dyn OracleExec,
    query: ReadOnlyQuery<'_>,
    params: &Params,
    ctx: &CallContext,
) -> Result<ExplainResult, DbError> {
    explain::explain(exec, query, params, ctx).await
}

/// A statement error as a [`DbError::Sql`] whose message is Oracle's own
/// text (`ORA-00942: table or view does not exist`), plus what to do next
/// for the errors a model most often causes. `code` is `ORA-nnnnn` style.
pub fn sql_error(code: Option<String>, message: &str) -> DbError {
    let hint = match code.as_deref() {
        Some("ORA-00942") => Some("call list_tables to see the tables and views you can query"),
        Some("ORA-00904") => Some("call describe_table to see the column names"),
        Some("ORA-01861" | "ORA-01843" | "ORA-01830" | "ORA-01840" | "ORA-01841") => Some(
            "string binds are VARCHAR2: convert dates explicitly, e.g. TO_DATE(:d, 'YYYY-MM-DD') or DATE '2025-01-31'",
        ),
        Some("ORA-00918") => {
            Some("qualify the ambiguous column or give the result columns distinct aliases")
        }
        Some("ORA-01013") => Some("the query was cancelled by a time limit"),
        _ => None,
    };
    let message = message.trim();
    DbError::Sql {
        code,
        message: match hint {
            Some(h) => format!("{message} ({h})"),
            None => message.to_owned(),
        },
    }
}

/// `ORA-00942` from an Oracle error number.
pub fn ora_code(number: i64) -> String {
    format!("ORA-{:05}", number.unsigned_abs())
}
