//! Everything that watches tool calls and requests: metrics, the audit log,
//! logging and trace export, and the call record they are written from.
//!
//! This layer sits between `db` and `mcp`: it uses `config`, `auth` and `db`
//! (the backend metering decorator) and nothing above. The tool registry
//! hands its built-in tool names in
//! ([`metrics::Metrics::register_builtin_tools`]) so metric labels stay
//! bounded without this layer knowing the tools.
//!
//! [`Observer`] is the one place that sees every tool call: it logs the
//! call, counts it in the metrics and writes the audit line. Tool dispatch
//! calls [`Observer::observe_call`] once per call; the HTTP layers report
//! calls they refuse before dispatch (scope, rate and concurrency limits)
//! through [`Observer::refused_request`].

pub mod audit;
mod metered;
pub mod metrics;
mod record;
pub mod telemetry;

use std::sync::Arc;

use axum::body::Bytes;
use rmcp::model::JsonObject;

use crate::auth::Principal;
use crate::config::Config;
use crate::config::ops::AuditTarget;
use audit::{AuditError, AuditLog};
use metrics::Metrics;
pub use record::{CallOutcome, CallRecord, ToolCallBody};

/// Set on a response by the auth middleware when it refuses a request, so
/// the metrics layer can count the reason.
#[derive(Debug, Clone, Copy)]
pub struct AuthFailure(pub &'static str);

/// Set on a response by a layer that refused a JSON-RPC request after
/// authentication, so it is audited as a refused call.
#[derive(Debug, Clone)]
pub struct RefusedRequest {
    pub principal: Arc<Principal>,
    pub body: Bytes,
    pub code: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(
        "audit.target = \"stdout\" cannot be used with `adb-mcp stdio`: stdout carries the MCP messages; use target = \"file\""
    )]
    StdoutTaken,
}

/// Metrics plus the optional audit log, shared by the MCP handler and the
/// HTTP layers.
#[derive(Debug)]
pub struct Observer {
    metrics: Arc<Metrics>,
    audit: Option<AuditLog>,
}

impl Default for Observer {
    fn default() -> Self {
        Self {
            metrics: Metrics::new(),
            audit: None,
        }
    }
}

impl Observer {
    pub fn new(metrics: Arc<Metrics>, audit: Option<AuditLog>) -> Arc<Self> {
        Arc::new(Self { metrics, audit })
    }

    /// Builds metrics and opens the audit log when `[audit] enabled`.
    /// `stdio` refuses an audit log on stdout, which the transport owns.
    pub fn from_config(config: &Config, stdio: bool) -> Result<Arc<Self>, ObserveError> {
        let metrics = Metrics::new();
        let audit = if config.audit.enabled {
            if stdio && config.audit.target == AuditTarget::Stdout {
                return Err(ObserveError::StdoutTaken);
            }
            Some(AuditLog::open(&config.audit, Arc::clone(&metrics))?)
        } else {
            None
        };
        Ok(Self::new(metrics, audit))
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Whether calls are audited (callers then keep the arguments).
    pub fn audits(&self) -> bool {
        self.audit.is_some()
    }

    /// Logs, counts and audits one tool call.
    pub fn observe_call(&self, r: &CallRecord<'_>) {
        let duration_us = r
            .duration
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        match r.outcome {
            CallOutcome::Ok => tracing::info!(
                tool = r.tool,
                subject = %r.principal.subject,
                outcome = "ok",
                rows = r.rows,
                duration_us,
                "tool call"
            ),
            CallOutcome::Error => tracing::info!(
                tool = r.tool,
                subject = %r.principal.subject,
                outcome = "error",
                error_code = r.error_code.unwrap_or("unknown"),
                duration_us,
                "tool call"
            ),
            CallOutcome::Refused => tracing::info!(
                tool = if r.known_tool { r.tool } else { "unknown" },
                subject = %r.principal.subject,
                outcome = "refused",
                error_code = r.error_code.unwrap_or("unknown"),
                "tools/call refused"
            ),
        }
        self.metrics
            .tool_call(r.tool, r.known_tool, r.outcome, r.rows, r.duration);
        if let Some(audit) = &self.audit {
            audit.record(r);
        }
    }

    /// Reports a request refused before dispatch. Only `tools/call`
    /// requests become call records; `is_tool` says which names are tools.
    pub fn refused_request(
        &self,
        principal: &Principal,
        body: &[u8],
        code: &'static str,
        session_id: Option<&str>,
        is_tool: impl Fn(&str) -> bool,
    ) {
        let Some(call) = ToolCallBody::<JsonObject>::parse(body) else {
            return;
        };
        let tool = call.name.as_deref().unwrap_or("");
        self.observe_call(&CallRecord {
            tool,
            known_tool: is_tool(tool),
            principal,
            arguments: call.arguments.as_ref().filter(|_| self.audits()),
            redact: &[],
            outcome: CallOutcome::Refused,
            error_code: Some(code),
            rows: 0,
            duration: None,
            request_id: call.id.as_ref(),
            session_id,
        });
    }

    /// Persists the audit log (shutdown).
    pub fn flush(&self) {
        if let Some(audit) = &self.audit {
            audit.flush();
        }
    }
}
