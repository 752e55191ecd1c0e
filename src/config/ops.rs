//! `[limits]`, `[metrics]` and `[audit]`: running the server in production.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{FieldError, Secret};

/// Rate and concurrency limits on `/mcp`, applied after authentication.
///
/// Per-principal limits are off by default: without `[auth]` every caller
/// is the same anonymous principal (loopback only), so a per-principal
/// limit would only throttle the local user. Set them when exposing the
/// server. The global concurrency cap is on by default to bound memory.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Sustained requests per minute per principal (token bucket); 0 = unlimited.
    pub rate_per_minute: u32,
    /// Requests a principal may send in a burst after being idle.
    pub burst: u32,
    /// POST requests to `/mcp` one principal may have in flight; 0 = unlimited.
    pub max_concurrent_per_principal: u32,
    /// POST requests to `/mcp` in flight across all callers; 0 = unlimited.
    pub max_concurrent: u32,
    /// Principals whose limiter state is kept; idle ones are forgotten first.
    pub max_tracked_principals: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            rate_per_minute: 0,
            burst: 20,
            max_concurrent_per_principal: 0,
            max_concurrent: 256,
            max_tracked_principals: 10_000,
        }
    }
}

impl LimitsConfig {
    /// Checks this section alone; keys in errors are relative to it.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.rate_per_minute > 6_000_000 {
            return Err(FieldError::new(
                "rate_per_minute",
                format!(
                    "{} is out of range (0 ..= 6000000; 0 = unlimited)",
                    self.rate_per_minute
                ),
            ));
        }
        if self.burst == 0 || self.burst > 1_000_000 {
            return Err(FieldError::new(
                "burst",
                format!("{} is out of range (1 ..= 1000000)", self.burst),
            ));
        }
        if !(100..=10_000_000).contains(&self.max_tracked_principals) {
            return Err(FieldError::new(
                "max_tracked_principals",
                format!(
                    "{} is out of range (100 ..= 10000000)",
                    self.max_tracked_principals
                ),
            ));
        }
        Ok(())
    }

    /// Whether any per-principal limit is set (the limiter then tracks keys).
    pub fn per_principal(&self) -> bool {
        self.rate_per_minute > 0 || self.max_concurrent_per_principal > 0
    }
}

/// The Prometheus endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `GET /metrics`.
    pub enabled: bool,
    /// When set, `/metrics` is served to any client presenting
    /// `Authorization: Bearer <token>`; when unset, only to loopback clients
    /// whose request carries no proxy header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            token: None,
        }
    }
}

impl MetricsConfig {
    /// Checks this section alone; keys in errors are relative to it.
    pub fn validate(&self) -> Result<(), FieldError> {
        if let Some(token) = &self.token {
            let value = token
                .resolve()
                .map_err(|e| FieldError::new("token", e.to_string()))?;
            if value.len() < 16 {
                return Err(FieldError::new(
                    "token",
                    "is too short: use at least 16 characters (e.g. `openssl rand -hex 24`)",
                ));
            }
        }
        Ok(())
    }
}

/// Where audit lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditTarget {
    File,
    Stdout,
}

/// The audit log of tool calls (format: `docs/audit.md`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    pub enabled: bool,
    pub target: AuditTarget,
    /// The audit file (target = "file"); rotated files get `.1`, `.2`, ….
    pub path: PathBuf,
    /// Rotate before the file would grow past this many bytes; 0 = never.
    pub max_bytes: u64,
    /// Rotated files kept besides the current one.
    pub keep: u32,
    /// SQL text and string argument values longer than this are cut.
    pub max_value_bytes: usize,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            target: AuditTarget::File,
            path: PathBuf::from("audit/adb-mcp-audit.jsonl"),
            max_bytes: 100 * 1024 * 1024,
            keep: 5,
            max_value_bytes: 16 * 1024,
        }
    }
}

impl AuditConfig {
    /// Checks this section alone; keys in errors are relative to it.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.target == AuditTarget::File && self.path.as_os_str().is_empty() {
            return Err(FieldError::new("path", "must not be empty"));
        }
        if self.max_bytes != 0 && self.max_bytes < 64 * 1024 {
            return Err(FieldError::new(
                "max_bytes",
                format!(
                    "{} is too small (0 = never rotate, otherwise at least 65536)",
                    self.max_bytes
                ),
            ));
        }
        if self.keep > 1000 {
            return Err(FieldError::new(
                "keep",
                format!("{} is out of range (0 ..= 1000)", self.keep),
            ));
        }
        if !(256..=1024 * 1024).contains(&self.max_value_bytes) {
            return Err(FieldError::new(
                "max_value_bytes",
                format!("{} is out of range (256 ..= 1048576)", self.max_value_bytes),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        LimitsConfig::default().validate().expect("limits");
        MetricsConfig::default().validate().expect("metrics");
        AuditConfig::default().validate().expect("audit");
    }

    #[test]
    fn bad_values_name_their_key() {
        let l = LimitsConfig {
            burst: 0,
            ..LimitsConfig::default()
        };
        assert_eq!(l.validate().expect_err("burst").key, "burst");
        let a = AuditConfig {
            max_bytes: 10,
            ..AuditConfig::default()
        };
        assert_eq!(a.validate().expect_err("max_bytes").key, "max_bytes");
        let m = MetricsConfig {
            enabled: true,
            token: Some(Secret::Inline("short".into())),
        };
        let err = m.validate().expect_err("short token");
        assert_eq!(err.key, "token");
        assert!(!err.message.contains("short\""), "{}", err.message);
    }
}
