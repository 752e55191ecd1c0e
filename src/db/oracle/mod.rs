//! Oracle SQL shared by the ORDS and direct backends: the dictionary queries
//! behind the catalogue tools, EXPLAIN PLAN, and how named parameters become
//! Oracle binds. The backends only know how to run a statement
//! ([`OracleExec`]); everything Oracle-specific about *what* to run lives here,
//! so both backends answer the catalogue tools identically.

use async_trait::async_trait;

use super::{
    CallContext, DbError, ExplainResult, Params, QueryResult, ReadOnlyQuery, SchemaInfo,
    TableDescription, TableListRequest, TablePage,
};

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
pub fn bind_params(
    _query: ReadOnlyQuery<'_>,
    _params: &Params,
) -> Result<OracleStatement, DbError> {
    Err(DbError::Internal(
        "oracle::bind_params: not built yet".into(),
    ))
}

pub async fn list_schemas(
    _exec: &dyn OracleExec,
    _ctx: &CallContext,
) -> Result<Vec<SchemaInfo>, DbError> {
    Err(DbError::Internal(
        "oracle::list_schemas: not built yet".into(),
    ))
}

pub async fn list_tables(
    _exec: &dyn OracleExec,
    _req: &TableListRequest,
    _ctx: &CallContext,
) -> Result<TablePage, DbError> {
    Err(DbError::Internal(
        "oracle::list_tables: not built yet".into(),
    ))
}

pub async fn describe_table(
    _exec: &dyn OracleExec,
    _schema: Option<&str>,
    _table: &str,
    _ctx: &CallContext,
) -> Result<TableDescription, DbError> {
    Err(DbError::Internal(
        "oracle::describe_table: not built yet".into(),
    ))
}

pub async fn explain(
    _exec: &dyn OracleExec,
    _query: ReadOnlyQuery<'_>,
    _params: &Params,
    _ctx: &CallContext,
) -> Result<ExplainResult, DbError> {
    Err(DbError::Internal("oracle::explain: not built yet".into()))
}
