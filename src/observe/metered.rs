//! The backend metering decorator: every operation of the wrapped backend
//! is timed, counted in the metrics (errors by code, operations in flight)
//! and traced as a `backend` span.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use super::metrics::{BackendOp, Metrics};
use super::telemetry;
use crate::db::{
    Backend, BackendInfo, CallContext, DbError, ExplainResult, Params, PoolStats, PrivilegeReport,
    QueryRequest, QueryResult, ReadOnlyQuery, SchemaInfo, TableDescription, TableListRequest,
    TablePage, WriteResult, WriteStatement,
};

impl Metrics {
    /// Wraps a backend so every operation is timed and its errors counted.
    pub fn meter(self: &Arc<Self>, backend: Arc<dyn Backend>) -> Arc<dyn Backend> {
        self.watch_backend(&backend);
        Arc::new(MeteredBackend {
            inner: backend,
            metrics: Arc::clone(self),
        })
    }
}

/// A backend whose operations are timed and whose errors are counted.
/// Every `Backend` method must be delegated here, including provided ones.
struct MeteredBackend {
    inner: Arc<dyn Backend>,
    metrics: Arc<Metrics>,
}

impl MeteredBackend {
    async fn time<T>(
        &self,
        op: BackendOp,
        fut: impl Future<Output = Result<T, DbError>>,
    ) -> Result<T, DbError> {
        let _running = self.metrics.backend_started();
        let started = Instant::now();
        let span = telemetry::backend_span(op.label());
        let out = tracing::Instrument::instrument(fut, span.clone()).await;
        let error = out.as_ref().err().map(DbError::code);
        if let Some(code) = error {
            telemetry::record_backend_error(&span, code);
        }
        self.metrics.backend_finished(op, started.elapsed(), error);
        out
    }
}

#[async_trait]
impl Backend for MeteredBackend {
    fn info(&self) -> BackendInfo {
        self.inner.info()
    }

    fn pool(&self) -> Option<PoolStats> {
        self.inner.pool()
    }

    async fn ping(&self) -> Result<(), DbError> {
        self.time(BackendOp::Ping, self.inner.ping()).await
    }

    async fn list_schemas(&self, ctx: &CallContext) -> Result<Vec<SchemaInfo>, DbError> {
        self.time(BackendOp::ListSchemas, self.inner.list_schemas(ctx))
            .await
    }

    async fn list_tables(
        &self,
        req: &TableListRequest,
        ctx: &CallContext,
    ) -> Result<TablePage, DbError> {
        self.time(BackendOp::ListTables, self.inner.list_tables(req, ctx))
            .await
    }

    async fn describe_table(
        &self,
        schema: Option<&str>,
        table: &str,
        ctx: &CallContext,
    ) -> Result<TableDescription, DbError> {
        self.time(
            BackendOp::DescribeTable,
            self.inner.describe_table(schema, table, ctx),
        )
        .await
    }

    async fn query(
        &self,
        req: QueryRequest<'_>,
        ctx: &CallContext,
    ) -> Result<QueryResult, DbError> {
        self.time(BackendOp::Query, self.inner.query(req, ctx))
            .await
    }

    async fn explain(
        &self,
        query: ReadOnlyQuery<'_>,
        params: &Params,
        ctx: &CallContext,
    ) -> Result<ExplainResult, DbError> {
        self.time(BackendOp::Explain, self.inner.explain(query, params, ctx))
            .await
    }

    async fn privilege_report(
        &self,
        ctx: &CallContext,
    ) -> Result<Option<PrivilegeReport>, DbError> {
        self.inner.privilege_report(ctx).await
    }

    async fn execute_write(
        &self,
        statement: WriteStatement<'_>,
        params: &Params,
        ctx: &CallContext,
    ) -> Result<WriteResult, DbError> {
        self.time(
            BackendOp::Write,
            self.inner.execute_write(statement, params, ctx),
        )
        .await
    }
}
