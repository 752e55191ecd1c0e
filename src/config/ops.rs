//! `[limits]`, `[metrics]`, `[audit]` and `[otel]`: running the server in
//! production.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

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
            max_concurrent: 64,
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
        FieldError::range("burst", self.burst, 1..=1_000_000)?;
        FieldError::range(
            "max_tracked_principals",
            self.max_tracked_principals,
            100..=10_000_000,
        )?;
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
        FieldError::range("keep", self.keep, 0..=1000)?;
        FieldError::range("max_value_bytes", self.max_value_bytes, 256..=1024 * 1024)?;
        Ok(())
    }
}

/// OpenTelemetry trace export over OTLP/HTTP (protobuf). Needs a binary
/// built with `--features otel`; spans carry tool names, outcomes and
/// routes, never SQL text, arguments, tokens or subjects.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtelConfig {
    pub enabled: bool,
    /// The collector's traces URL (OTLP/HTTP), path included.
    pub endpoint: String,
    /// `service.name` of the exported resource.
    pub service_name: String,
    /// Fraction of traces kept (0.0 ..= 1.0).
    pub sample_ratio: f64,
    /// Extra request headers (e.g. a vendor API key); values are secrets.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Secret>,
    /// Seconds one export request may take before it is abandoned.
    pub export_timeout_secs: u64,
}

impl Default for OtelConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            endpoint: "http://127.0.0.1:4318/v1/traces".into(),
            service_name: "adb-mcp".into(),
            sample_ratio: 1.0,
            headers: BTreeMap::new(),
            export_timeout_secs: 10,
        }
    }
}

impl OtelConfig {
    /// Checks this section alone; keys in errors are relative to it.
    pub fn validate(&self) -> Result<(), FieldError> {
        if !self.enabled {
            return Ok(());
        }
        if !cfg!(feature = "otel") {
            return Err(FieldError::new(
                "enabled",
                "is true but this adb-mcp was built without OpenTelemetry support: \
                 rebuild with `cargo build --release --features otel`, or set it to false",
            ));
        }
        match url::Url::parse(&self.endpoint) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            Ok(_) => {
                return Err(FieldError::new(
                    "endpoint",
                    format!("`{}` must be an http:// or https:// URL", self.endpoint),
                ));
            }
            Err(e) => {
                return Err(FieldError::new(
                    "endpoint",
                    format!("`{}` is not a URL: {e}", self.endpoint),
                ));
            }
        }
        if self.service_name.trim().is_empty() {
            return Err(FieldError::new("service_name", "must not be empty"));
        }
        FieldError::range("sample_ratio", self.sample_ratio, 0.0..=1.0)?;
        FieldError::range("export_timeout_secs", self.export_timeout_secs, 1..=300)?;
        for (name, value) in &self.headers {
            let key = format!("headers.{name}");
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(FieldError::new(key, "is not a valid HTTP header name"));
            }
            let v = value
                .resolve()
                .map_err(|e| FieldError::new(key.clone(), e.to_string()))?;
            if http::HeaderValue::from_str(&v).is_err() {
                // The value is a secret: say what is wrong, not what it is.
                return Err(FieldError::new(
                    key,
                    "holds characters not allowed in an HTTP header value",
                ));
            }
        }
        Ok(())
    }

    pub fn export_timeout(&self) -> Duration {
        Duration::from_secs(self.export_timeout_secs)
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
        OtelConfig::default().validate().expect("otel");
    }

    /// A config that turns export on must not start a binary that cannot
    /// export: the error names the key and the build flag.
    #[cfg(not(feature = "otel"))]
    #[test]
    fn otel_enabled_without_the_feature_is_refused() {
        let o = OtelConfig {
            enabled: true,
            ..OtelConfig::default()
        };
        let err = o.validate().expect_err("feature off");
        assert_eq!(err.key, "enabled");
        assert!(err.message.contains("--features otel"), "{}", err.message);
    }

    #[cfg(feature = "otel")]
    #[test]
    fn otel_bad_values_name_their_key() {
        let base = OtelConfig {
            enabled: true,
            ..OtelConfig::default()
        };
        base.validate().expect("enabled defaults");
        let o = OtelConfig {
            sample_ratio: 1.5,
            ..base.clone()
        };
        assert_eq!(o.validate().expect_err("ratio").key, "sample_ratio");
        let o = OtelConfig {
            endpoint: "ftp://x/v1/traces".into(),
            ..base.clone()
        };
        assert_eq!(o.validate().expect_err("endpoint").key, "endpoint");
        let mut o = base;
        o.headers
            .insert("x-key".into(), Secret::Inline("bad\nvalue".into()));
        let err = o.validate().expect_err("header");
        assert_eq!(err.key, "headers.x-key");
        assert!(!err.message.contains("bad"), "{}", err.message);
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
