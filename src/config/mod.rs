//! Typed configuration: defaults < TOML file < `ADB_MCP_*` environment < CLI
//! flags. Everything is validated once at startup so that a bad value is
//! reported with its key and the place it came from, never discovered later.

pub mod auth;
pub mod direct;
pub mod ops;
pub mod ords;
mod secret;
pub mod tls;
pub mod tools;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

pub use secret::{Secret, SecretError};

/// Config file read when `--config` is not given and the file exists.
pub const DEFAULT_CONFIG_FILE: &str = "adb-mcp.toml";
/// Prefix of environment overrides; `__` separates nesting levels.
pub const ENV_PREFIX: &str = "ADB_MCP_";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub log: LogConfig,
    pub query: QueryConfig,
    pub database: DatabaseConfig,
    pub auth: auth::AuthConfig,
    pub tools: tools::ToolsConfig,
    pub limits: ops::LimitsConfig,
    pub metrics: ops::MetricsConfig,
    pub audit: ops::AuditConfig,
    pub otel: ops::OtelConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionMode {
    /// No sessions: any replica can answer any request; JSON responses.
    Stateless,
    /// `Mcp-Session-Id` sessions with SSE streams and server notifications.
    Stateful,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub bind: String,
    pub session_mode: SessionMode,
    pub allowed_hosts: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub max_request_bytes: usize,
    pub request_timeout_secs: u64,
    pub shutdown_grace_secs: u64,
    pub session_idle_timeout_secs: u64,
    /// Peers (IPs or CIDR networks) whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<String>,
    pub tls: tls::TlsConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".to_owned(),
            session_mode: SessionMode::Stateless,
            allowed_hosts: ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec(),
            allowed_origins: ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"]
                .map(String::from)
                .to_vec(),
            max_request_bytes: 1024 * 1024,
            request_timeout_secs: 300,
            shutdown_grace_secs: 20,
            session_idle_timeout_secs: 300,
            trusted_proxies: Vec::new(),
            tls: tls::TlsConfig::default(),
        }
    }
}

impl ServerConfig {
    /// The validated bind address; `validate` guarantees it parses.
    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.bind.parse().map_err(|_| ConfigError::Invalid {
            key: "server.bind".into(),
            origin: String::new(),
            message: format!(
                "`{}` is not an IP:port address (example: 127.0.0.1:8080)",
                self.bind
            ),
        })
    }
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter directive; `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            level: "info".to_owned(),
        }
    }
}

/// Largest `query.max_result_bytes` accepted.
const MAX_RESULT_BYTES: usize = 1024 * 1024 * 1024;
/// Largest `query.max_sql_bytes` accepted (SQLite's length limit is an `i32`).
const MAX_SQL_BYTES: usize = 16 * 1024 * 1024;
/// SQLite's compile-time ceiling for `SQLITE_LIMIT_LENGTH`.
const SQLITE_MAX_VALUE_BYTES: usize = 1_000_000_000;

/// Limits applied to every query tool, whatever the backend.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    pub default_max_rows: usize,
    pub max_rows_cap: usize,
    pub max_text_bytes: usize,
    /// Bytes of result rows a query may hold while it is fetched (values
    /// plus a per-cell overhead); fetching stops there and the result says
    /// so. Bounds memory per call whatever a query returns.
    pub max_result_bytes: usize,
    /// Longest SQL text accepted by `run_query` and `explain_query` (and
    /// by declarative tools at load time), checked before the guard.
    pub max_sql_bytes: usize,
    pub timeout_secs: u64,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            default_max_rows: 100,
            max_rows_cap: 10_000,
            max_text_bytes: 64 * 1024,
            max_result_bytes: 1024 * 1024,
            max_sql_bytes: 64 * 1024,
            timeout_secs: 30,
        }
    }
}

impl QueryConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Sqlite,
    Ords,
    Direct,
}

impl BackendKind {
    /// The name used in config (`database.backend`).
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Sqlite => "sqlite",
            BackendKind::Ords => "ords",
            BackendKind::Direct => "direct",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    pub backend: BackendKind,
    pub sqlite: SqliteConfig,
    pub ords: ords::OrdsConfig,
    pub direct: direct::DirectConfig,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            backend: BackendKind::Sqlite,
            sqlite: SqliteConfig::default(),
            ords: ords::OrdsConfig::default(),
            direct: direct::DirectConfig::default(),
        }
    }
}

/// The largest `database.sqlite.demo_scale` (and `demo-db --scale`): 10 million orders.
pub const MAX_DEMO_SCALE: u32 = 1000;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqliteConfig {
    /// An existing SQLite file to serve. Unset: the demo database in `data_dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub demo_scale: u32,
    /// Read-only connections kept open for reuse (each caches its statements).
    pub max_idle_connections: usize,
    /// Largest string or BLOB SQLite may build or read (`SQLITE_LIMIT_LENGTH`);
    /// a larger one is a tool error naming this key.
    pub max_value_bytes: usize,
    /// Hard limit on all memory SQLite allocates in this process, in MiB
    /// (`sqlite3_hard_heap_limit64`, shared by every connection and call).
    pub max_memory_mib: u64,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        Self {
            path: None,
            data_dir: PathBuf::from("data"),
            demo_scale: 1,
            max_idle_connections: 8,
            max_value_bytes: 4 * 1024 * 1024,
            max_memory_mib: 128,
        }
    }
}

impl SqliteConfig {
    /// Where the demo database lives when no `path` is configured.
    pub fn demo_path(&self) -> PathBuf {
        self.data_dir.join("demo.db")
    }
}

/// A configuration problem, always naming the key and where it was set.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("invalid configuration: `{key}`{origin}: {message}")]
    Invalid {
        key: String,
        /// Pre-formatted " (set in …)" suffix; empty when unknown.
        origin: String,
        message: String,
    },
}

/// Where to look for the config file.
#[derive(Debug, Clone, Default)]
pub struct ConfigFile {
    pub path: Option<PathBuf>,
}

/// Values given as command-line flags, highest precedence. Keys are dotted
/// config paths (`server.bind`).
#[derive(Debug, Clone, Default)]
pub struct CliOverrides {
    entries: Vec<(&'static str, Value)>,
}

impl CliOverrides {
    pub fn set(&mut self, key: &'static str, value: impl Into<Value>) {
        self.entries.push((key, value.into()));
    }
}

impl Provider for CliOverrides {
    fn metadata(&self) -> Metadata {
        Metadata::named("command-line flag")
    }
    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (key, value) in &self.entries {
            if let Value::Dict(_, nested) = figment::util::nest(key, value.clone()) {
                merge_dict(&mut dict, nested);
            }
        }
        Ok(Profile::Default.collect(dict))
    }
}

fn merge_dict(into: &mut Dict, from: Dict) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(Value::Dict(_, existing)), Value::Dict(_, new)) => merge_dict(existing, new),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

/// A loaded, validated configuration plus the provenance needed to explain it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    /// The config file that was read, if any.
    pub file: Option<PathBuf>,
    /// Legal but probably unintended settings, for the log and `check-config`.
    pub warnings: Vec<String>,
}

impl Config {
    /// Loads defaults, the file, the environment and CLI flags, then validates.
    pub fn load(file: &ConfigFile, cli: CliOverrides) -> Result<Loaded, ConfigError> {
        let (figment, used_file) = Self::figment(file, cli)?;
        let config: Config = figment.extract().map_err(|e| from_figment(&e))?;
        config.validate(&figment)?;
        let warnings = config.warnings();
        Ok(Loaded {
            config,
            file: used_file,
            warnings,
        })
    }

    fn figment(
        file: &ConfigFile,
        cli: CliOverrides,
    ) -> Result<(Figment, Option<PathBuf>), ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let used_file = match &file.path {
            Some(path) => {
                if !path.is_file() {
                    return Err(ConfigError::File {
                        path: path.clone(),
                        message: "no such file".into(),
                    });
                }
                Some(path.clone())
            }
            None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.is_file()),
        };
        if let Some(path) = &used_file {
            // Read it ourselves so that I/O errors name the file clearly.
            std::fs::read_to_string(path).map_err(|e| ConfigError::File {
                path: path.clone(),
                message: e.to_string(),
            })?;
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment
            .merge(
                Env::prefixed(ENV_PREFIX)
                    .ignore(&["config", "log"])
                    .filter(|key| !env_is_blank(&format!("{ENV_PREFIX}{key}")))
                    .split("__"),
            )
            .merge(cli);
        Ok((figment, used_file))
    }

    /// Cross-field and range checks that serde cannot express.
    fn validate(&self, figment: &Figment) -> Result<(), ConfigError> {
        let fail = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_owned(),
            origin: origin_of(figment, key),
            message,
        };
        let field = |e: FieldError| fail(&e.key, e.message);
        let server = &self.server;
        server
            .bind_addr()
            .map_err(|e| fail("server.bind", inner_message(e)))?;
        FieldError::range(
            "server.max_request_bytes",
            server.max_request_bytes,
            1024..=64 * 1024 * 1024,
        )
        .map_err(&field)?;
        FieldError::range(
            "server.request_timeout_secs",
            server.request_timeout_secs,
            1..=3600,
        )
        .map_err(&field)?;
        FieldError::range(
            "server.shutdown_grace_secs",
            server.shutdown_grace_secs,
            0..=600,
        )
        .map_err(&field)?;
        if server.session_idle_timeout_secs == 0 {
            return Err(fail(
                "server.session_idle_timeout_secs",
                "must be at least 1".into(),
            ));
        }
        for origin in &server.allowed_origins {
            if origin != "null"
                && !(origin.starts_with("http://") || origin.starts_with("https://"))
            {
                return Err(fail(
                    "server.allowed_origins",
                    format!(
                        "`{origin}` must start with http:// or https:// (example: https://app.example.com:443)"
                    ),
                ));
            }
        }
        for host in &server.allowed_hosts {
            if host.is_empty() || host.contains('/') || host.contains(char::is_whitespace) {
                return Err(fail(
                    "server.allowed_hosts",
                    format!("`{host}` is not a host name or host:port"),
                ));
            }
        }
        tls::parse_trusted_proxies(&server.trusted_proxies)
            .map_err(|m| fail("server.trusted_proxies", m))?;
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(fail(
                "log.level",
                format!(
                    "`{}` is not a level or tracing filter (examples: info, debug, adb_mcp=debug)",
                    self.log.level
                ),
            ));
        }
        let q = &self.query;
        FieldError::range("query.max_rows_cap", q.max_rows_cap, 1..=1_000_000).map_err(&field)?;
        if q.default_max_rows == 0 || q.default_max_rows > q.max_rows_cap {
            return Err(fail(
                "query.default_max_rows",
                format!(
                    "{} must be between 1 and query.max_rows_cap ({})",
                    q.default_max_rows, q.max_rows_cap
                ),
            ));
        }
        if q.max_text_bytes < 1024 {
            return Err(fail(
                "query.max_text_bytes",
                format!("{} is too small (at least 1024)", q.max_text_bytes),
            ));
        }
        FieldError::range("query.timeout_secs", q.timeout_secs, 1..=3600).map_err(&field)?;
        FieldError::range(
            "query.max_result_bytes",
            q.max_result_bytes,
            4096..=MAX_RESULT_BYTES,
        )
        .map_err(&field)?;
        FieldError::range("query.max_sql_bytes", q.max_sql_bytes, 1024..=MAX_SQL_BYTES)
            .map_err(&field)?;
        // Each section checks itself and names the failing key relative to
        // its own table; only the selected backend's section must be complete.
        let sections: [(&str, Result<(), FieldError>); 7] = [
            ("server.tls", self.server.tls.validate()),
            ("tools", self.tools.validate()),
            ("limits", self.limits.validate()),
            ("metrics", self.metrics.validate()),
            ("audit", self.audit.validate()),
            ("otel", self.otel.validate()),
            match self.database.backend {
                BackendKind::Ords => ("database.ords", self.database.ords.validate()),
                BackendKind::Direct => ("database.direct", self.database.direct.validate()),
                BackendKind::Sqlite => ("database", Ok(())),
            },
        ];
        for (section, result) in sections {
            if let Err(e) = result {
                return Err(fail(&format!("{section}.{}", e.key), e.message));
            }
        }
        let sqlite = &self.database.sqlite;
        FieldError::range(
            "database.sqlite.max_value_bytes",
            sqlite.max_value_bytes,
            1024..=SQLITE_MAX_VALUE_BYTES,
        )
        .map_err(&field)?;
        FieldError::range(
            "database.sqlite.max_memory_mib",
            sqlite.max_memory_mib,
            16..=1_048_576,
        )
        .map_err(&field)?;
        FieldError::range(
            "database.sqlite.demo_scale",
            sqlite.demo_scale,
            1..=MAX_DEMO_SCALE,
        )
        .map_err(&field)?;
        if let Some(path) = &sqlite.path
            && !path.is_file()
        {
            return Err(fail(
                "database.sqlite.path",
                format!("{} does not exist or is not a file", path.display()),
            ));
        }
        self.validate_auth(figment)
    }

    fn validate_auth(&self, figment: &Figment) -> Result<(), ConfigError> {
        let fail = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_owned(),
            origin: origin_of(figment, key),
            message,
        };
        let field = |e: FieldError| fail(&e.key, e.message);
        let a = &self.auth;
        if !a.enabled {
            let loopback = self
                .server
                .bind_addr()
                .is_ok_and(|addr| addr.ip().is_loopback());
            if !loopback {
                return Err(fail(
                    "auth.enabled",
                    format!(
                        "authentication is off, which is only allowed on a loopback bind, but server.bind is {}; configure [auth] or bind 127.0.0.1",
                        self.server.bind
                    ),
                ));
            }
            return Ok(());
        }
        let resource = a.resource.as_deref().ok_or_else(|| {
            fail(
                "auth.resource",
                "required when auth is enabled: the public URL of the MCP endpoint, e.g. https://mcp.example.com/mcp".into(),
            )
        })?;
        resource_parts(resource, a.allow_insecure_http)
            .map_err(|e| fail("auth.resource", e.to_string()))?;
        if a.providers.is_empty() {
            return Err(fail(
                "auth.providers",
                "add at least one [[auth.providers]] (profile = \"oracle-iam\", \"entra\" or \"generic\")".into(),
            ));
        }
        FieldError::range("auth.leeway_secs", a.leeway_secs, 0..=120).map_err(&field)?;
        if !(3600..=86400).contains(&a.jwks_refresh_secs) {
            return Err(fail(
                "auth.jwks_refresh_secs",
                format!(
                    "{} is out of range (3600 ..= 86400, i.e. 1 to 24 hours)",
                    a.jwks_refresh_secs
                ),
            ));
        }
        FieldError::range(
            "auth.jwks_refetch_interval_secs",
            a.jwks_refetch_interval_secs,
            10..=3600,
        )
        .map_err(&field)?;
        if a.discovery_refresh_secs < 60 {
            return Err(fail(
                "auth.discovery_refresh_secs",
                "must be at least 60".into(),
            ));
        }
        FieldError::range("auth.http_timeout_secs", a.http_timeout_secs, 1..=120)
            .map_err(&field)?;
        // Whether each `auth.tool_scopes` key names a tool is checked by the
        // tool loader (`mcp::declarative`), which knows the declared tools.
        for (i, p) in a.providers.iter().enumerate() {
            let key = |k: &str| format!("auth.providers[{i}].{k}");
            let resolved = p.resolve().map_err(|(k, m)| fail(&key(k), m))?;
            if i == 0 && a.metadata == auth::MetadataMode::Shim && resolved.discovery_url.is_none()
            {
                return Err(fail(
                    "auth.metadata",
                    "shim mode serves metadata built from the first provider's discovery document, but auth.providers[0] has no discovery_url; set one or use metadata = \"direct\"".into(),
                ));
            }
            for (k, url) in [
                ("discovery_url", &resolved.discovery_url),
                ("jwks_uri", &resolved.jwks_uri),
            ] {
                if let Some(url) = url {
                    auth::check_idp_url(url, a.allow_insecure_http)
                        .map_err(|e| fail(&key(k), e.to_string()))?;
                }
            }
            for alg in &p.algorithms {
                auth::parse_algorithm(alg).map_err(|e| fail(&key("algorithms"), e.to_string()))?;
            }
            if p.algorithms.is_empty() {
                return Err(fail(
                    &key("algorithms"),
                    "list at least one algorithm".into(),
                ));
            }
        }
        Ok(())
    }

    fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let t = &self.server.tls;
        if !t.enabled && (t.cert_file.is_some() || t.key_file.is_some()) {
            out.push(
                "[server.tls] names certificate files but server.tls.enabled is false: serving plain HTTP".into(),
            );
        }
        let a = &self.auth;
        if !a.enabled && (a.resource.is_some() || !a.providers.is_empty()) {
            out.push(
                "[auth] has settings but auth.enabled is false: /mcp is served WITHOUT authentication (set auth.enabled = true)".into(),
            );
        }
        out
    }

    /// The effective configuration as TOML, secrets redacted.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }
}

/// Whether an `ADB_MCP_*` variable counts as unset: empty, or a secret
/// reference `{ env = "X" }` to a variable X that is set but empty. Launchers
/// such as Claude Desktop's bundle host set every variable they map, also
/// for settings the user left blank. (A reference to an *unset* variable
/// still counts, so that forgetting to export it is reported by name.)
fn env_is_blank(name: &str) -> bool {
    let Some(value) = std::env::var_os(name) else {
        return false;
    };
    if value.is_empty() {
        return true;
    }
    let Some(text) = value.to_str() else {
        return false;
    };
    let Ok(parsed) = toml::from_str::<toml::Table>(&format!("v = {text}")) else {
        return false;
    };
    match parsed.get("v").and_then(toml::Value::as_table) {
        Some(table) if table.len() == 1 => table
            .get("env")
            .and_then(toml::Value::as_str)
            .and_then(std::env::var_os)
            .is_some_and(|target| target.is_empty()),
        _ => false,
    }
}

/// Splits the MCP endpoint URL into (origin, path); the path never ends in `/`.
pub fn resource_parts(
    resource: &str,
    allow_insecure_http: bool,
) -> Result<(String, String), auth::UrlError> {
    use auth::UrlError;
    let url = url::Url::parse(resource).map_err(|e| UrlError::Malformed {
        url: resource.to_owned(),
        reason: e.to_string(),
    })?;
    let host = url
        .host_str()
        .ok_or_else(|| UrlError::NoHost(resource.to_owned()))?;
    match url.scheme() {
        "https" => {}
        "http" => {
            let loopback = auth::is_loopback_host(host);
            if !(loopback && allow_insecure_http) {
                return Err(UrlError::Insecure {
                    url: resource.to_owned(),
                    hint: "be https:// (http:// only for loopback with auth.allow_insecure_http = true)",
                });
            }
        }
        other => {
            return Err(UrlError::Scheme {
                url: resource.to_owned(),
                scheme: other.to_owned(),
            });
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(UrlError::QueryOrFragment(resource.to_owned()));
    }
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/').to_owned();
    Ok((origin, path))
}

/// A problem found by a config section's own `validate`; `key` is relative
/// to the section (`base_url` in `[database.ords]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub key: String,
    pub message: String,
}

impl FieldError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }

    /// `value` must lie in `range`: the one wording of every range check.
    pub fn range<T: PartialOrd + std::fmt::Debug>(
        key: impl Into<String>,
        value: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<(), FieldError> {
        if range.contains(&value) {
            return Ok(());
        }
        Err(FieldError::new(
            key,
            format!(
                "{value:?} is out of range ({:?} ..= {:?})",
                range.start(),
                range.end()
            ),
        ))
    }
}

fn inner_message(e: ConfigError) -> String {
    match e {
        ConfigError::Invalid { message, .. } | ConfigError::File { message, .. } => message,
    }
}

/// " (set in adb-mcp.toml)" or " (set in environment variable ADB_MCP_…)".
fn origin_of(figment: &Figment, key: &str) -> String {
    match figment.find_metadata(key) {
        Some(meta) => describe_metadata(meta, key),
        None => String::new(),
    }
}

fn describe_metadata(meta: &Metadata, key: &str) -> String {
    // Built-in defaults are named after the Rust type and carry a source
    // location; say "default" instead.
    if meta.name.contains("config::Config") || matches!(meta.source, Some(figment::Source::Code(_)))
    {
        return " (default)".into();
    }
    if let Some(source) = &meta.source {
        return format!(" (set in {source})");
    }
    if meta.name.starts_with("`ADB_MCP_") || meta.name.contains("environment") {
        let var = format!("{ENV_PREFIX}{}", key.replace('.', "__").to_uppercase());
        return format!(" (set in environment variable {var})");
    }
    if meta.name == "command-line flag" {
        return " (set by a command-line flag)".into();
    }
    if meta.name.contains("Serialized") || meta.name.contains("default") {
        return " (default)".into();
    }
    format!(" (set in {})", meta.name)
}

fn from_figment(e: &figment::Error) -> ConfigError {
    // figment chains several errors; the first one is enough to act on.
    let key = e.path.join(".");
    let origin = e
        .metadata
        .as_ref()
        .map(|m| describe_metadata(m, &key))
        .unwrap_or_default();
    ConfigError::Invalid {
        key: if key.is_empty() { "(root)".into() } else { key },
        origin,
        message: e.kind.to_string(),
    }
}

/// Used by `check-config` and startup logs to say where config came from.
pub fn describe_source(file: Option<&Path>) -> String {
    match file {
        Some(p) => format!("{} + environment + flags", p.display()),
        None => "defaults + environment + flags (no config file)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn load_str(toml: &str) -> Result<Loaded, ConfigError> {
        let mut f = tempfile::NamedTempFile::new().expect("tmp");
        f.write_all(toml.as_bytes()).expect("write");
        Config::load(
            &ConfigFile {
                path: Some(f.path().to_path_buf()),
            },
            CliOverrides::default(),
        )
    }

    #[test]
    fn defaults_are_valid_and_safe() {
        let loaded = load_str("").expect("defaults load");
        let c = loaded.config;
        assert_eq!(c.server.bind, "127.0.0.1:8080");
        assert_eq!(c.server.session_mode, SessionMode::Stateless);
        assert_eq!(c.query.default_max_rows, 100);
        assert_eq!(c.query.max_rows_cap, 10_000);
        assert_eq!(c.query.max_text_bytes, 65_536);
    }

    #[test]
    fn unknown_key_names_key_and_file() {
        let err = load_str("[server]\nbnd = \"x\"\n").expect_err("must fail");
        let msg = err.to_string();
        assert!(msg.contains("bnd"), "{msg}");
        assert!(msg.contains(".tmp") || msg.contains("tmp"), "{msg}");
    }

    #[test]
    fn wrong_type_names_key_and_file() {
        let err = load_str("[query]\ntimeout_secs = \"soon\"\n").expect_err("must fail");
        let msg = err.to_string();
        assert!(msg.contains("query.timeout_secs"), "{msg}");
        assert!(msg.contains("set in"), "{msg}");
    }

    #[test]
    fn range_error_names_key_and_file() {
        let err = load_str("[query]\ndefault_max_rows = 20000\n").expect_err("must fail");
        let msg = err.to_string();
        assert!(msg.contains("query.default_max_rows"), "{msg}");
        assert!(msg.contains("set in"), "{msg}");
    }

    #[test]
    fn memory_limits_are_validated_with_key_and_origin() {
        for (toml, key) in [
            ("[query]\nmax_sql_bytes = 10\n", "query.max_sql_bytes"),
            (
                "[query]\nmax_sql_bytes = 999999999\n",
                "query.max_sql_bytes",
            ),
            (
                "[query]\nmax_result_bytes = 100\n",
                "query.max_result_bytes",
            ),
            (
                "[database.sqlite]\nmax_value_bytes = 2000000000\n",
                "database.sqlite.max_value_bytes",
            ),
            (
                "[database.sqlite]\nmax_memory_mib = 4\n",
                "database.sqlite.max_memory_mib",
            ),
        ] {
            let msg = load_str(toml).expect_err(toml).to_string();
            assert!(msg.contains(key), "{toml}: {msg}");
            assert!(msg.contains("set in"), "{toml}: {msg}");
            assert!(msg.contains("out of range"), "{toml}: {msg}");
        }
        let ok =
            load_str("[query]\nmax_sql_bytes = 2097152\n[database.sqlite]\nmax_memory_mib = 64\n")
                .expect("in range");
        assert_eq!(ok.config.query.max_sql_bytes, 2 * 1024 * 1024);
        assert_eq!(ok.config.database.sqlite.max_memory_mib, 64);
    }

    #[test]
    fn bad_bind_names_key() {
        let err = load_str("[server]\nbind = \"localhost\"\n").expect_err("must fail");
        assert!(err.to_string().contains("server.bind"), "{err}");
    }

    #[test]
    fn cli_overrides_file() {
        let mut f = tempfile::NamedTempFile::new().expect("tmp");
        f.write_all(b"[server]\nbind = \"127.0.0.1:9000\"\n")
            .expect("write");
        let mut cli = CliOverrides::default();
        cli.set("server.bind", "127.0.0.1:9001");
        let loaded = Config::load(
            &ConfigFile {
                path: Some(f.path().to_path_buf()),
            },
            cli,
        )
        .expect("load");
        assert_eq!(loaded.config.server.bind, "127.0.0.1:9001");
    }

    #[test]
    fn cli_error_is_attributed_to_flag() {
        let mut cli = CliOverrides::default();
        cli.set("server.bind", "nope");
        let err = Config::load(&ConfigFile::default(), cli).expect_err("must fail");
        assert!(err.to_string().contains("command-line flag"), "{err}");
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let err = Config::load(
            &ConfigFile {
                path: Some("/nonexistent/adb-mcp.toml".into()),
            },
            CliOverrides::default(),
        )
        .expect_err("must fail");
        assert!(err.to_string().contains("/nonexistent/adb-mcp.toml"));
    }

    #[test]
    fn example_file_parses_and_matches_defaults() {
        let example = include_str!("../../deploy/adb-mcp.example.toml");
        let loaded = load_str(example).expect("example must load");
        let defaults = toml::to_string(&Config::default()).expect("ser");
        let example = toml::to_string(&loaded.config).expect("ser");
        assert_eq!(defaults, example, "the example must document the defaults");
    }
}
