//! The bounded label sets: every value a label can take is listed here, so
//! recording resolves a label to an array index and never allocates.

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
    pub(super) const ALL: [Route; 8] = [
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
pub(super) const STATUS_SLOTS: usize = 501;

pub(super) fn status_slot(status: u16) -> usize {
    match status {
        100..=599 => usize::from(status - 100),
        _ => STATUS_SLOTS - 1,
    }
}

/// The `status` label of a slot.
pub(super) fn status_label(slot: usize) -> String {
    if slot == STATUS_SLOTS - 1 {
        "other".to_owned()
    } else {
        (slot + 100).to_string()
    }
}

/// Why an authentication attempt failed, as `AuthError::reason` says.
pub(super) const AUTH_REASONS: [&str; 16] = [
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
    pub(super) const ALL: [LimitKind; 3] = [
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
    pub(super) const ALL: [BackendOp; 7] = [
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
