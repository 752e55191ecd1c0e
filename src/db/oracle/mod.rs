//! Oracle SQL shared by the ORDS and direct backends: the dictionary queries
//! behind the catalogue tools, EXPLAIN PLAN, and how named parameters become
//! Oracle binds. The backends only know how to run a statement
//! ([`OracleExec`]); everything Oracle-specific about *what* to run lives here,
//! so both backends answer the catalogue tools identically.

mod binds;
mod dictionary;
mod explain;
pub mod privileges;
pub mod values;

use async_trait::async_trait;

use super::{
    CallContext, DbError, ExplainResult, Params, QueryResult, ReadOnlyQuery, SchemaInfo,
    TableDescription, TableListRequest, TablePage,
};

pub use binds::to_bind;

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
#[async_trait]
pub trait OracleExec: Send + Sync {
    /// Runs one query and returns at most `max_rows` rows starting at
    /// `offset`, with `has_more` set when more rows exist.
    async fn fetch(
        &self,
        stmt: &OracleStatement,
        offset: u64,
        max_rows: usize,
        ctx: &CallContext,
    ) -> Result<QueryResult, DbError>;

    /// Runs `setup` (non-query statements) and then `query` in one database
    /// session, then ends the transaction without committing. Used for
    /// EXPLAIN PLAN, whose output is read back from the session's PLAN_TABLE.
    async fn fetch_after(
        &self,
        setup: &[OracleStatement],
        query: &OracleStatement,
        max_rows: usize,
        ctx: &CallContext,
    ) -> Result<QueryResult, DbError>;
}

/// Turns a guarded query and its named parameters into positional binds.
///
/// Placeholders are found with the guard's lexer (never by text search);
/// a repeated name is bound once per occurrence; names match ignoring case;
/// missing or unused parameters and `?` placeholders are `InvalidParams`.
pub fn bind_params(query: ReadOnlyQuery<'_>, params: &Params) -> Result<OracleStatement, DbError> {
    binds::bind_params(query, params)
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
