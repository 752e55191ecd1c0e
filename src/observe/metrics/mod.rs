//! Prometheus metrics, exposed at `/metrics` in the OpenMetrics text format.
//!
//! The hot path (every HTTP request and tool call) only does relaxed atomic
//! adds on counters laid out in fixed arrays: label sets are bounded and
//! resolved to an index up front (routes, status codes, built-in tools,
//! auth-failure reasons; see [`labels`]), so recording never takes a lock or
//! allocates. `prometheus-client` (the Prometheus project's Rust client)
//! renders the exposition text at scrape time through a collector that
//! reads those atomics ([`export`]); its own `Histogram` takes a mutex per
//! observation, so latency histograms are kept here as atomic bucket arrays
//! ([`Histogram`]).
//!
//! Labels never carry caller-controlled text: tool names that are not
//! registered tools become `unknown`, and at most [`MAX_DYNAMIC_TOOLS`]
//! distinct declarative tool names are tracked (the rest count as `other`).
//! The built-in tool names come from the tool registry
//! ([`Metrics::register_builtin_tools`]), not from this module.

mod export;
mod histogram;
mod labels;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use crate::auth::Authenticator;
use crate::db::{Backend, BackendInfo};
use crate::observe::CallOutcome;
pub use histogram::Histogram;
use labels::{AUTH_REASONS, STATUS_SLOTS, status_slot};
pub use labels::{BackendOp, LimitKind, Route};

/// Content type of the exposition served at `/metrics`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Declarative tool names tracked individually; more count as `other`.
pub const MAX_DYNAMIC_TOOLS: usize = 256;
/// Distinct (operation, error code) pairs tracked for backend errors.
const MAX_ERROR_SERIES: usize = 256;

/// Counters of one tool.
#[derive(Default)]
pub struct ToolStats {
    calls: [AtomicU64; CallOutcome::ALL.len()],
    rows: AtomicU64,
    latency: Histogram,
}

impl ToolStats {
    fn record(&self, outcome: CallOutcome, rows: u64, duration: Option<Duration>) {
        self.calls[outcome.index()].fetch_add(1, Relaxed);
        if rows > 0 {
            self.rows.fetch_add(rows, Relaxed);
        }
        if let Some(d) = duration {
            self.latency.observe(d);
        }
    }
}

/// All counters of one server. Shared as `Arc<Metrics>`.
pub struct Metrics {
    http_requests: Box<[AtomicU64]>,
    http_latency: [Histogram; Route::ALL.len()],
    http_in_flight: AtomicI64,
    /// Set once by [`Metrics::register_builtin_tools`] (under the
    /// `dynamic_tools` write lock), then read without a lock.
    builtin_tools: OnceLock<Box<[(&'static str, ToolStats)]>>,
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
            builtin_tools: OnceLock::new(),
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

    /// Gives the built-in tools their own series: listed first, in this
    /// order, and not counted against [`MAX_DYNAMIC_TOOLS`]. The tool
    /// registry calls this when it is built, before calls are counted; only
    /// the first call takes effect. Counts a name already collected as a
    /// declarative tool move with it, so no series is split.
    pub fn register_builtin_tools(&self, names: &[&'static str]) {
        let mut dynamic = self
            .dynamic_tools
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if self.builtin_tools.get().is_some() {
            return;
        }
        let builtins = names
            .iter()
            .map(|n| (*n, dynamic.remove(*n).unwrap_or_default()))
            .collect();
        let _ = self.builtin_tools.set(builtins);
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

    /// The counters of built-in tool `tool`, once the names are registered.
    fn builtin(&self, tool: &str) -> Option<&ToolStats> {
        self.builtin_tools
            .get()?
            .iter()
            .find(|(n, _)| *n == tool)
            .map(|(_, s)| s)
    }

    /// Runs `f` on the counters of `tool`. `known` says whether the name is
    /// a tool of this server; unknown names never become labels.
    fn with_tool<R>(&self, tool: &str, known: bool, f: impl FnOnce(&ToolStats) -> R) -> R {
        if !known {
            return f(&self.unknown_tool);
        }
        if let Some(s) = self.builtin(tool) {
            return f(s);
        }
        {
            let map = self.dynamic_tools.read().unwrap_or_else(|p| p.into_inner());
            // Registration happens under the write lock: look again, in
            // case it happened since the lock-free look above.
            if let Some(s) = self.builtin(tool) {
                return f(s);
            }
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
        if let Some(s) = self.builtin(tool) {
            return f(s);
        }
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
        outcome: CallOutcome,
        rows: u64,
        duration: Option<Duration>,
    ) {
        self.with_tool(tool, known, |s| s.record(outcome, rows, duration));
    }

    /// Calls of `tool` with `outcome` so far.
    pub fn tool_count(&self, tool: &str, known: bool, outcome: CallOutcome) -> u64 {
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

    /// The backend's kind (`build` info) and pool gauges are read from
    /// `backend` at scrape time; the first backend watched is the one shown.
    pub(crate) fn watch_backend(&self, backend: &Arc<dyn Backend>) {
        let _ = self.backend_info.set(backend.info());
        let _ = self.pool.set(Arc::clone(backend));
    }

    /// Marks a backend operation as running until the guard is dropped.
    pub(crate) fn backend_started(&self) -> impl Drop + '_ {
        InFlight::enter(&self.backend_in_flight)
    }

    /// Counts a finished backend operation; `error` is its error code.
    pub(crate) fn backend_finished(
        &self,
        op: BackendOp,
        elapsed: Duration,
        error: Option<&'static str>,
    ) {
        self.backend_latency[op as usize].observe(elapsed);
        if let Some(code) = error {
            let mut errors = self
                .backend_errors
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let key = (op, code);
            if errors.len() < MAX_ERROR_SERIES || errors.contains_key(&key) {
                *errors.entry(key).or_default() += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The built-in tool names as the tool registry registers them.
    const BUILTINS: [&str; 5] = [
        "list_schemas",
        "list_tables",
        "describe_table",
        "run_query",
        "explain_query",
    ];

    #[test]
    fn unknown_tools_never_become_labels() {
        let m = Metrics::new();
        m.register_builtin_tools(&BUILTINS);
        m.tool_call(
            "run_query",
            true,
            CallOutcome::Ok,
            3,
            Some(Duration::from_millis(1)),
        );
        m.tool_call("drop_everything'\"", false, CallOutcome::Refused, 0, None);
        for i in 0..MAX_DYNAMIC_TOOLS + 10 {
            m.tool_call(&format!("t{i}"), true, CallOutcome::Ok, 0, None);
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
    fn registering_builtins_late_keeps_one_series() {
        let m = Metrics::new();
        m.tool_call("run_query", true, CallOutcome::Ok, 1, None);
        m.register_builtin_tools(&BUILTINS);
        m.tool_call("run_query", true, CallOutcome::Ok, 1, None);
        // A second registration is ignored and loses nothing.
        m.register_builtin_tools(&["other_name"]);
        assert_eq!(m.tool_count("run_query", true, CallOutcome::Ok), 2);
        let text = m.encode().expect("encode");
        assert_eq!(text.matches(r#"tool="run_query",outcome="ok""#).count(), 1);
        assert!(text.contains(r#"adb_mcp_tool_calls_total{tool="run_query",outcome="ok"} 2"#));
        // Built-in names do not use up the declarative-tool budget.
        for i in 0..MAX_DYNAMIC_TOOLS {
            m.tool_call(&format!("t{i}"), true, CallOutcome::Ok, 0, None);
        }
        assert_eq!(m.tool_count("other", true, CallOutcome::Ok), 0);
        m.tool_call("one_more", true, CallOutcome::Ok, 0, None);
        let text = m.encode().expect("encode");
        assert!(text.contains(r#"{tool="other",outcome="ok"} 1"#), "{text}");
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
