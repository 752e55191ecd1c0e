//! `[limits]`, `[metrics]` and `[audit]`: running the server in production.

use serde::{Deserialize, Serialize};

use super::FieldError;

/// Rate and concurrency limits.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {}

impl LimitsConfig {
    /// Checks this section alone; keys in errors are relative to it.
    pub fn validate(&self) -> Result<(), FieldError> {
        Ok(())
    }
}

/// The Prometheus endpoint and optional OTLP export.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {}

impl MetricsConfig {
    /// Checks this section alone; keys in errors are relative to it.
    pub fn validate(&self) -> Result<(), FieldError> {
        Ok(())
    }
}

/// The audit log of tool calls.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {}

impl AuditConfig {
    /// Checks this section alone; keys in errors are relative to it.
    pub fn validate(&self) -> Result<(), FieldError> {
        Ok(())
    }
}
