//! Prometheus metrics, exposed at `/metrics` in the OpenMetrics text format.
//!
//! The hot path (every HTTP request and tool call) only does relaxed atomic
//! adds on counters laid out in fixed arrays: label sets are bounded and
//! resolved to an index up front (routes, status codes, built-in tools,
//! auth-failure reasons), so recording never takes a lock or allocates.
//! `prometheus-client` (the Prometheus project's Rust client) renders the
//! exposition text at scrape time through a [`Collector`] that reads those
//! atomics; its own `Histogram` takes a mutex per observation, so latency
//! histograms are kept here as atomic bucket arrays.
//!
//! Labels never carry caller-controlled text: tool names that are not
//! registered tools become `unknown`, and at most [`MAX_DYNAMIC_TOOLS`]
//! distinct declarative tool names are tracked (the rest count as `other`).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::auth::Authenticator;
use crate::db::{
    Backend, BackendInfo, CallContext, DbError, ExplainResult, Params, PoolStats, QueryRequest,
    QueryResult, ReadOnlyQuery, SchemaInfo, TableDescription, TableListRequest, TablePage,
    WriteResult, WriteStatement,
};

/// Content type of the exposition served at `/metrics`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Declarative tool names tracked individually; more count as `other`.
pub const MAX_DYNAMIC_TOOLS: usize = 256;
/// Distinct (operation, error code) pairs tracked for backend errors.
const MAX_ERROR_SERIES: usize = 256;

/// Histogram upper bounds in microseconds (0.5 ms … 60 s), plus `+Inf`.
const BUCKETS_US: [u64; 16] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000,
];

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A latency histogram made of atomics: one bucket add, a count and a sum
/// per observation.
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_us: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let us = micros(d);
        let i = BUCKETS_US.partition_point(|b| *b < us);
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Relaxed)).sum()
    }

    fn encode(&self, enc: &mut prometheus_client::encoding::MetricEncoder<'_>) -> fmt::Result {
        let mut buckets = Vec::with_capacity(self.buckets.len());
        let mut count = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            let n = b.load(Relaxed);
            count += n;
            let bound = BUCKETS_US
                .get(i)
                .map_or(f64::INFINITY, |us| *us as f64 / 1e6);
            buckets.push((bound, n));
        }
        let sum = self.sum_us.load(Relaxed) as f64 / 1e6;
        enc.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }
}

/// HTTP routes as metric labels; anything else is `other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Mcp,
    Healthz,
    Readyz,
    Metrics,
    WellKnown,
    Authorize,
    Token,
    Other,
}

impl Route {
    const ALL: [Route; 8] = [
        Route::Mcp,
        Route::Healthz,
        Route::Readyz,
        Route::Metrics,
        Route::WellKnown,
        Route::Authorize,
        Route::Token,
        Route::Other,
    ];

    pub fn of(path: &str) -> Self {
        match path {
            "/mcp" => Route::Mcp,
            "/healthz" => Route::Healthz,
            "/readyz" => Route::Readyz,
            "/metrics" => Route::Metrics,
            "/authorize" => Route::Authorize,
            "/token" => Route::Token,
            p if p.starts_with("/.well-known/") => Route::WellKnown,
            _ => Route::Other,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Route::Mcp => "/mcp",
            Route::Healthz => "/healthz",
            Route::Readyz => "/readyz",
            Route::Metrics => "/metrics",
            Route::WellKnown => "/.well-known/*",
            Route::Authorize => "/authorize",
            Route::Token => "/token",
            Route::Other => "other",
        }
    }
}

/// Status codes 100..=599 each get a slot; anything else shares the last.
const STATUS_SLOTS: usize = 501;

fn status_slot(status: u16) -> usize {
    match status {
        100..=599 => usize::from(status - 100),
        _ => STATUS_SLOTS - 1,
    }
}

/// How a tool call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The tool ran and returned a result.
    Ok,
    /// The tool ran and returned a tool error (`isError: true`).
    Error,
    /// The call was refused before running: scope, rate or concurrency
    /// limit, unknown tool.
    Refused,
}

impl Outcome {
    const ALL: [Outcome; 3] = [Outcome::Ok, Outcome::Error, Outcome::Refused];

    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Refused => "refused",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Counters of one tool.
#[derive(Default)]
pub struct ToolStats {
    calls: [AtomicU64; 3],
    rows: AtomicU64,
    latency: Histogram,
}

impl ToolStats {
    fn record(&self, outcome: Outcome, rows: u64, duration: Option<Duration>) {
        self.calls[outcome.index()].fetch_add(1, Relaxed);
        if rows > 0 {
            self.rows.fetch_add(rows, Relaxed);
        }
        if let Some(d) = duration {
            self.latency.observe(d);
        }
    }
}

/// Why an authentication attempt failed, as `AuthError::reason` says.
const AUTH_REASONS: [&str; 16] = [
    "missing",
    "invalid_request",
    "too_large",
    "malformed",
    "bad_typ",
    "untrusted_issuer",
    "bad_alg",
    "unknown_key",
    "bad_signature",
    "wrong_audience",
    "expired",
    "not_yet_valid",
    "missing_claim",
    "claim_mismatch",
    "insufficient_scope",
    "other",
];

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    Rate,
    PrincipalConcurrency,
    GlobalConcurrency,
}

impl LimitKind {
    const ALL: [LimitKind; 3] = [
        LimitKind::Rate,
        LimitKind::PrincipalConcurrency,
        LimitKind::GlobalConcurrency,
    ];

    pub fn label(self) -> &'static str {
        match self {
            LimitKind::Rate => "rate",
            LimitKind::PrincipalConcurrency => "principal_concurrency",
            LimitKind::GlobalConcurrency => "global_concurrency",
        }
    }
}

/// Backend operations as metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendOp {
    Ping,
    ListSchemas,
    ListTables,
    DescribeTable,
    Query,
    Explain,
    Write,
}

impl BackendOp {
    const ALL: [BackendOp; 7] = [
        BackendOp::Ping,
        BackendOp::ListSchemas,
        BackendOp::ListTables,
        BackendOp::DescribeTable,
        BackendOp::Query,
        BackendOp::Explain,
        BackendOp::Write,
    ];

    pub fn label(self) -> &'static str {
        match self {
            BackendOp::Ping => "ping",
            BackendOp::ListSchemas => "list_schemas",
            BackendOp::ListTables => "list_tables",
            BackendOp::DescribeTable => "describe_table",
            BackendOp::Query => "query",
            BackendOp::Explain => "explain",
            BackendOp::Write => "write",
        }
    }
}

/// All counters of one server. Shared as `Arc<Metrics>`.
pub struct Metrics {
    http_requests: Box<[AtomicU64]>,
    http_latency: [Histogram; Route::ALL.len()],
    http_in_flight: AtomicI64,
    builtin_tools: Vec<(&'static str, ToolStats)>,
    dynamic_tools: RwLock<HashMap<Box<str>, ToolStats>>,
    unknown_tool: ToolStats,
    other_tool: ToolStats,
    auth_failures: [AtomicU64; AUTH_REASONS.len()],
    limit_refusals: [AtomicU64; LimitKind::ALL.len()],
    backend_latency: [Histogram; BackendOp::ALL.len()],
    backend_errors: Mutex<HashMap<(BackendOp, &'static str), u64>>,
    backend_in_flight: AtomicI64,
    audit_lines: AtomicU64,
    audit_errors: AtomicU64,
    backend_info: OnceLock<BackendInfo>,
    pool: OnceLock<Arc<dyn Backend>>,
    auth: OnceLock<Arc<Authenticator>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            http_requests: (0..Route::ALL.len() * STATUS_SLOTS)
                .map(|_| AtomicU64::new(0))
                .collect(),
            http_latency: Default::default(),
            http_in_flight: AtomicI64::new(0),
            builtin_tools: crate::mcp::BuiltinTool::ALL
                .iter()
                .map(|t| (t.name(), ToolStats::default()))
                .collect(),
            dynamic_tools: RwLock::new(HashMap::new()),
            unknown_tool: ToolStats::default(),
            other_tool: ToolStats::default(),
            auth_failures: Default::default(),
            limit_refusals: Default::default(),
            backend_latency: Default::default(),
            backend_errors: Mutex::new(HashMap::new()),
            backend_in_flight: AtomicI64::new(0),
            audit_lines: AtomicU64::new(0),
            audit_errors: AtomicU64::new(0),
            backend_info: OnceLock::new(),
            pool: OnceLock::new(),
            auth: OnceLock::new(),
        }
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Decrements a gauge when dropped, so cancelled futures are counted out too.
struct InFlight<'a>(&'a AtomicI64);

impl<'a> InFlight<'a> {
    fn enter(g: &'a AtomicI64) -> Self {
        g.fetch_add(1, Relaxed);
        Self(g)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Marks an HTTP request as running until the guard is dropped.
    pub fn http_started(&self) -> impl Drop + '_ {
        InFlight::enter(&self.http_in_flight)
    }

    pub fn http_finished(&self, route: Route, status: u16, elapsed: Duration) {
        let r = route as usize;
        if let Some(c) = self
            .http_requests
            .get(r * STATUS_SLOTS + status_slot(status))
        {
            c.fetch_add(1, Relaxed);
        }
        self.http_latency[r].observe(elapsed);
    }

    /// Requests to `route` answered with `status` so far.
    pub fn http_count(&self, route: Route, status: u16) -> u64 {
        self.http_requests
            .get(route as usize * STATUS_SLOTS + status_slot(status))
            .map_or(0, |c| c.load(Relaxed))
    }

    /// Runs `f` on the counters of `tool`. `known` says whether the name is
    /// a tool of this server; unknown names never become labels.
    fn with_tool<R>(&self, tool: &str, known: bool, f: impl FnOnce(&ToolStats) -> R) -> R {
        if !known {
            return f(&self.unknown_tool);
        }
        if let Some((_, s)) = self.builtin_tools.iter().find(|(n, _)| *n == tool) {
            return f(s);
        }
        {
            let map = self.dynamic_tools.read().unwrap_or_else(|p| p.into_inner());
            if let Some(s) = map.get(tool) {
                return f(s);
            }
            if map.len() >= MAX_DYNAMIC_TOOLS {
                return f(&self.other_tool);
            }
        }
        let mut map = self
            .dynamic_tools
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_DYNAMIC_TOOLS && !map.contains_key(tool) {
            return f(&self.other_tool);
        }
        f(map.entry(tool.into()).or_default())
    }

    /// Counts a finished or refused tool call.
    pub fn tool_call(
        &self,
        tool: &str,
        known: bool,
        outcome: Outcome,
        rows: u64,
        duration: Option<Duration>,
    ) {
        self.with_tool(tool, known, |s| s.record(outcome, rows, duration));
    }

    /// Calls of `tool` with `outcome` so far.
    pub fn tool_count(&self, tool: &str, known: bool, outcome: Outcome) -> u64 {
        self.with_tool(tool, known, |s| s.calls[outcome.index()].load(Relaxed))
    }

    pub fn auth_failure(&self, reason: &str) {
        let i = AUTH_REASONS
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(AUTH_REASONS.len() - 1);
        self.auth_failures[i].fetch_add(1, Relaxed);
    }

    pub fn limit_refused(&self, kind: LimitKind) {
        self.limit_refusals[kind as usize].fetch_add(1, Relaxed);
    }

    pub fn audit_written(&self) {
        self.audit_lines.fetch_add(1, Relaxed);
    }

    pub fn audit_failed(&self) {
        self.audit_errors.fetch_add(1, Relaxed);
    }

    /// JWKS refresh counts are read from the authenticator at scrape time.
    pub fn watch_auth(&self, auth: Arc<Authenticator>) {
        let _ = self.auth.set(auth);
    }

    /// Wraps a backend so every operation is timed and its errors counted.
    pub fn meter(self: &Arc<Self>, backend: Arc<dyn Backend>) -> Arc<dyn Backend> {
        let _ = self.backend_info.set(backend.info());
        let _ = self.pool.set(Arc::clone(&backend));
        Arc::new(MeteredBackend {
            inner: backend,
            metrics: Arc::clone(self),
        })
    }

    async fn time<T>(
        &self,
        op: BackendOp,
        fut: impl Future<Output = Result<T, DbError>>,
    ) -> Result<T, DbError> {
        let _running = InFlight::enter(&self.backend_in_flight);
        let started = Instant::now();
        let span = crate::telemetry::backend_span(op.label());
        let out = tracing::Instrument::instrument(fut, span.clone()).await;
        self.backend_latency[op as usize].observe(started.elapsed());
        if let Err(e) = &out {
            crate::telemetry::record_backend_error(&span, e.code());
            let mut errors = self
                .backend_errors
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let key = (op, e.code());
            if errors.len() < MAX_ERROR_SERIES || errors.contains_key(&key) {
                *errors.entry(key).or_default() += 1;
            }
        }
        out
    }

    /// Renders the exposition text.
    pub fn encode(self: &Arc<Self>) -> Result<String, fmt::Error> {
        let mut registry = Registry::with_prefix("adb_mcp");
        registry.register_collector(Box::new(Exporter(Arc::clone(self))));
        let mut out = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &registry)?;
        Ok(out)
    }
}

/// Reads the atomics at scrape time.
#[derive(Debug)]
struct Exporter(Arc<Metrics>);

fn counter(enc: &mut prometheus_client::encoding::MetricEncoder<'_>, v: u64) -> fmt::Result {
    enc.encode_counter::<NoLabelSet, _, u64>(&v, None)
}

impl Collector for Exporter {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let m = &self.0;
        let info = m.backend_info.get();
        {
            let labels = [
                ("version", crate::VERSION),
                ("backend", info.map_or("unknown", |i| i.kind)),
            ];
            let mut e = enc.encode_descriptor(
                "build",
                "Build and backend of this server (always 1).",
                None,
                MetricType::Info,
            )?;
            e.encode_info(&labels)?;
        }
        {
            let mut e = enc.encode_descriptor(
                "http_requests",
                "HTTP requests answered, by route and status code.",
                None,
                MetricType::Counter,
            )?;
            for route in Route::ALL {
                for slot in 0..STATUS_SLOTS {
                    let n = m.http_requests[route as usize * STATUS_SLOTS + slot].load(Relaxed);
                    if n == 0 {
                        continue;
                    }
                    let status = if slot == STATUS_SLOTS - 1 {
                        "other".to_owned()
                    } else {
                        (slot + 100).to_string()
                    };
                    let labels = [("route", route.label()), ("status", status.as_str())];
                    let mut f = e.encode_family(&labels)?;
                    f.encode_counter::<NoLabelSet, _, u64>(&n, None)?;
                }
            }
        }
        {
            let mut e = enc.encode_descriptor(
                "http_request_duration_seconds",
                "Time to answer an HTTP request (to the response head; SSE streams stay open longer).",
                None,
                MetricType::Histogram,
            )?;
            for route in Route::ALL {
                let h = &m.http_latency[route as usize];
                if h.count() == 0 {
                    continue;
                }
                let labels = [("route", route.label())];
                h.encode(&mut e.encode_family(&labels)?)?;
            }
        }
        {
            let mut e = enc.encode_descriptor(
                "http_requests_in_flight",
                "HTTP requests being answered now.",
                None,
                MetricType::Gauge,
            )?;
            e.encode_gauge(&m.http_in_flight.load(Relaxed))?;
        }

        let tools = m.dynamic_tools.read().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<(&str, &ToolStats)> = m
            .builtin_tools
            .iter()
            .map(|(n, s)| (*n, s))
            .chain(tools.iter().map(|(n, s)| (&**n, s)))
            .collect();
        all.push(("unknown", &m.unknown_tool));
        all.push(("other", &m.other_tool));
        {
            let mut e = enc.encode_descriptor(
                "tool_calls",
                "Tool calls by tool and outcome (ok, error = tool error, refused = not run).",
                None,
                MetricType::Counter,
            )?;
            for (name, s) in &all {
                for outcome in Outcome::ALL {
                    let n = s.calls[outcome.index()].load(Relaxed);
                    if n == 0 {
                        continue;
                    }
                    let labels = [("tool", *name), ("outcome", outcome.label())];
                    let mut f = e.encode_family(&labels)?;
                    f.encode_counter::<NoLabelSet, _, u64>(&n, None)?;
                }
            }
        }
        {
            let mut e = enc.encode_descriptor(
                "tool_rows_returned",
                "Rows returned by tool calls.",
                None,
                MetricType::Counter,
            )?;
            for (name, s) in &all {
                let n = s.rows.load(Relaxed);
                if n == 0 && s.latency.count() == 0 {
                    continue;
                }
                let labels = [("tool", *name)];
                let mut f = e.encode_family(&labels)?;
                f.encode_counter::<NoLabelSet, _, u64>(&n, None)?;
            }
        }
        {
            let mut e = enc.encode_descriptor(
                "tool_call_duration_seconds",
                "Duration of tool calls that ran.",
                None,
                MetricType::Histogram,
            )?;
            for (name, s) in &all {
                if s.latency.count() == 0 {
                    continue;
                }
                let labels = [("tool", *name)];
                s.latency.encode(&mut e.encode_family(&labels)?)?;
            }
        }
        drop(tools);

        {
            let mut e = enc.encode_descriptor(
                "auth_failures",
                "Requests refused by authentication, by reason.",
                None,
                MetricType::Counter,
            )?;
            for (i, reason) in AUTH_REASONS.iter().enumerate() {
                let n = m.auth_failures[i].load(Relaxed);
                if n == 0 {
                    continue;
                }
                let labels = [("reason", *reason)];
                let mut f = e.encode_family(&labels)?;
                f.encode_counter::<NoLabelSet, _, u64>(&n, None)?;
            }
        }
        {
            let mut e = enc.encode_descriptor(
                "limit_refusals",
                "Requests to /mcp refused by a rate or concurrency limit.",
                None,
                MetricType::Counter,
            )?;
            for kind in LimitKind::ALL {
                let n = m.limit_refusals[kind as usize].load(Relaxed);
                let labels = [("limit", kind.label())];
                let mut f = e.encode_family(&labels)?;
                f.encode_counter::<NoLabelSet, _, u64>(&n, None)?;
            }
        }
        if let Some(auth) = m.auth.get() {
            let mut stats = Vec::new();
            for (i, p) in auth.providers().iter().enumerate() {
                let (ok, failed) = p.keys.refresh_counts();
                stats.push((i.to_string(), ok, failed, p.keys.current().len()));
            }
            {
                let mut e = enc.encode_descriptor(
                    "jwks_refreshes",
                    "JWKS refreshes after startup, by provider index and result.",
                    None,
                    MetricType::Counter,
                )?;
                for (provider, ok, failed, _) in &stats {
                    for (result, n) in [("ok", *ok), ("error", *failed)] {
                        let labels = [("provider", provider.as_str()), ("result", result)];
                        let mut f = e.encode_family(&labels)?;
                        f.encode_counter::<NoLabelSet, _, u64>(&n, None)?;
                    }
                }
            }
            let mut e = enc.encode_descriptor(
                "jwks_keys",
                "Signing keys currently trusted, by provider index.",
                None,
                MetricType::Gauge,
            )?;
            for (provider, _, _, keys) in &stats {
                let labels = [("provider", provider.as_str())];
                e.encode_family(&labels)?.encode_gauge(&(*keys as u64))?;
            }
        }
        {
            let mut e = enc.encode_descriptor(
                "backend_operation_duration_seconds",
                "Time spent in the database backend, by operation.",
                None,
                MetricType::Histogram,
            )?;
            for op in BackendOp::ALL {
                let h = &m.backend_latency[op as usize];
                if h.count() == 0 {
                    continue;
                }
                let labels = [("operation", op.label())];
                h.encode(&mut e.encode_family(&labels)?)?;
            }
        }
        {
            let errors: Vec<((BackendOp, &'static str), u64)> = m
                .backend_errors
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|(k, v)| (*k, *v))
                .collect();
            let mut e = enc.encode_descriptor(
                "backend_errors",
                "Backend operations that failed, by operation and error code.",
                None,
                MetricType::Counter,
            )?;
            for ((op, code), n) in errors {
                let labels = [("operation", op.label()), ("code", code)];
                let mut f = e.encode_family(&labels)?;
                f.encode_counter::<NoLabelSet, _, u64>(&n, None)?;
            }
        }
        {
            let mut e = enc.encode_descriptor(
                "backend_operations_in_flight",
                "Backend operations running now.",
                None,
                MetricType::Gauge,
            )?;
            e.encode_gauge(&m.backend_in_flight.load(Relaxed))?;
        }
        if let Some(pool) = m.pool.get().and_then(|b| b.pool()) {
            let mut e = enc.encode_descriptor(
                "pool_connections",
                "Backend connections by state (in_use, idle).",
                None,
                MetricType::Gauge,
            )?;
            for (state, n) in [("in_use", pool.in_use), ("idle", pool.idle)] {
                let labels = [("state", state)];
                e.encode_family(&labels)?.encode_gauge(&n)?;
            }
            if let Some(max) = pool.max {
                let mut e = enc.encode_descriptor(
                    "pool_max_connections",
                    "Most connections the backend pool keeps open.",
                    None,
                    MetricType::Gauge,
                )?;
                e.encode_gauge(&max)?;
            }
        }
        {
            let mut e = enc.encode_descriptor(
                "audit_lines",
                "Audit lines written.",
                None,
                MetricType::Counter,
            )?;
            counter(&mut e, m.audit_lines.load(Relaxed))?;
        }
        let mut e = enc.encode_descriptor(
            "audit_write_errors",
            "Audit lines that could not be written.",
            None,
            MetricType::Counter,
        )?;
        counter(&mut e, m.audit_errors.load(Relaxed))
    }
}

/// A backend whose operations are timed and whose errors are counted.
/// Every `Backend` method must be delegated here, including provided ones.
struct MeteredBackend {
    inner: Arc<dyn Backend>,
    metrics: Arc<Metrics>,
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
        self.metrics.time(BackendOp::Ping, self.inner.ping()).await
    }

    async fn list_schemas(&self, ctx: &CallContext) -> Result<Vec<SchemaInfo>, DbError> {
        self.metrics
            .time(BackendOp::ListSchemas, self.inner.list_schemas(ctx))
            .await
    }

    async fn list_tables(
        &self,
        req: &TableListRequest,
        ctx: &CallContext,
    ) -> Result<TablePage, DbError> {
        self.metrics
            .time(BackendOp::ListTables, self.inner.list_tables(req, ctx))
            .await
    }

    async fn describe_table(
        &self,
        schema: Option<&str>,
        table: &str,
        ctx: &CallContext,
    ) -> Result<TableDescription, DbError> {
        self.metrics
            .time(
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
        self.metrics
            .time(BackendOp::Query, self.inner.query(req, ctx))
            .await
    }

    async fn explain(
        &self,
        query: ReadOnlyQuery<'_>,
        params: &Params,
        ctx: &CallContext,
    ) -> Result<ExplainResult, DbError> {
        self.metrics
            .time(BackendOp::Explain, self.inner.explain(query, params, ctx))
            .await
    }

    async fn privilege_report(
        &self,
        ctx: &CallContext,
    ) -> Result<Option<crate::db::PrivilegeReport>, DbError> {
        self.inner.privilege_report(ctx).await
    }

    async fn execute_write(
        &self,
        statement: WriteStatement<'_>,
        params: &Params,
        ctx: &CallContext,
    ) -> Result<WriteResult, DbError> {
        self.metrics
            .time(
                BackendOp::Write,
                self.inner.execute_write(statement, params, ctx),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_upper_bounds() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_micros(501));
        h.observe(Duration::from_secs(120));
        assert_eq!(h.buckets[0].load(Relaxed), 1);
        assert_eq!(h.buckets[1].load(Relaxed), 1);
        assert_eq!(h.buckets[BUCKETS_US.len()].load(Relaxed), 1);
        assert_eq!(h.count(), 3);
    }

    #[test]
    fn routes_and_statuses_are_bounded() {
        assert_eq!(Route::of("/mcp"), Route::Mcp);
        assert_eq!(
            Route::of("/.well-known/oauth-protected-resource/mcp"),
            Route::WellKnown
        );
        assert_eq!(Route::of("/etc/passwd"), Route::Other);
        assert_eq!(status_slot(100), 0);
        assert_eq!(status_slot(599), 499);
        assert_eq!(status_slot(999), STATUS_SLOTS - 1);
    }

    #[test]
    fn unknown_tools_never_become_labels() {
        let m = Metrics::new();
        m.tool_call(
            "run_query",
            true,
            Outcome::Ok,
            3,
            Some(Duration::from_millis(1)),
        );
        m.tool_call("drop_everything'\"", false, Outcome::Refused, 0, None);
        for i in 0..MAX_DYNAMIC_TOOLS + 10 {
            m.tool_call(&format!("t{i}"), true, Outcome::Ok, 0, None);
        }
        let text = m.encode().expect("encode");
        assert!(
            text.contains(r#"adb_mcp_tool_calls_total{tool="run_query",outcome="ok"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"adb_mcp_tool_rows_returned_total{tool="run_query"} 3"#));
        assert!(text.contains(r#"{tool="unknown",outcome="refused"} 1"#));
        assert!(!text.contains("drop_everything"));
        assert!(text.contains(r#"{tool="other",outcome="ok"} 10"#), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn auth_reasons_outside_the_list_count_as_other() {
        let m = Metrics::new();
        m.auth_failure("expired");
        m.auth_failure("something new");
        let text = m.encode().expect("encode");
        assert!(text.contains(r#"adb_mcp_auth_failures_total{reason="expired"} 1"#));
        assert!(text.contains(r#"adb_mcp_auth_failures_total{reason="other"} 1"#));
    }
}
