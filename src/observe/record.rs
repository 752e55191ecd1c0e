//! What is known about one tool call once it has ended: the record the log,
//! the metrics, the audit line and the trace span are written from.

use std::time::Duration;

use rmcp::model::{JsonObject, RequestId};

use crate::auth::Principal;

/// What a request body says about a `tools/call`, read before (or
/// instead of) dispatch: by the auth layer to find a tool's scopes and by
/// the observer to record a refused call. Anything else, or a body that is
/// not JSON, reads as `None`. `A` is how much of the arguments to keep
/// (`IgnoredAny` parses past them without storing them).
#[derive(Debug)]
pub struct ToolCallBody<A = serde::de::IgnoredAny> {
    pub id: Option<RequestId>,
    pub name: Option<String>,
    pub arguments: Option<A>,
}

impl<A: serde::de::DeserializeOwned> ToolCallBody<A> {
    /// Parses `body` if it is a JSON-RPC `tools/call` request.
    pub fn parse(body: &[u8]) -> Option<Self> {
        #[derive(serde::Deserialize)]
        struct Probe<A> {
            id: Option<RequestId>,
            method: Option<String>,
            params: Option<Params<A>>,
        }
        #[derive(serde::Deserialize)]
        struct Params<A> {
            name: Option<String>,
            arguments: Option<A>,
        }
        let probe: Probe<A> = serde_json::from_slice(body).ok()?;
        if probe.method.as_deref() != Some("tools/call") {
            return None;
        }
        let (name, arguments) = probe.params.map_or((None, None), |p| (p.name, p.arguments));
        Some(Self {
            id: probe.id,
            name,
            arguments,
        })
    }
}

/// How a tool call ended, as the metrics, the audit log and the trace span
/// label it. (The tool's own result is `mcp`'s `ToolOutcome`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// The tool ran and returned a result.
    Ok,
    /// The tool ran and returned a tool error (`isError: true`).
    Error,
    /// The call was refused before running: scope, rate or concurrency
    /// limit, unknown tool.
    Refused,
}

impl CallOutcome {
    /// Every outcome, in label order (the metrics keep one counter each).
    pub(crate) const ALL: [CallOutcome; 3] =
        [CallOutcome::Ok, CallOutcome::Error, CallOutcome::Refused];

    pub fn label(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::Error => "error",
            CallOutcome::Refused => "refused",
        }
    }

    /// Position in [`CallOutcome::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Everything the log, the metrics and the audit line need about one call.
pub struct CallRecord<'a> {
    pub tool: &'a str,
    /// Whether `tool` names a tool of this server (unknown names are
    /// counted as `unknown`, never used as a metric label).
    pub known_tool: bool,
    pub principal: &'a Principal,
    /// The arguments as the client sent them (audit only; `None` when the
    /// audit log is off, see [`super::Observer::audits`]).
    pub arguments: Option<&'a JsonObject>,
    /// Argument names whose values must not be written (claim-bound
    /// parameters); secret-looking names are always redacted.
    pub redact: &'a [String],
    pub outcome: CallOutcome,
    pub error_code: Option<&'a str>,
    pub rows: u64,
    /// `None` for calls refused before they ran.
    pub duration: Option<Duration>,
    pub request_id: Option<&'a RequestId>,
    pub session_id: Option<&'a str>,
}
