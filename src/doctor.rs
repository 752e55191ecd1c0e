//! `adb-mcp doctor`: checks a deployment the way its users will exercise it
//! (public URL, identity provider, keys, a real token, the database) and
//! says what to fix, before a user finds out from a failed connector.
//!
//! Every check is independent and produces one line; a failure never stops
//! the checks that do not depend on it.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::auth::{self, Authenticator, keys};
use crate::config::auth::ProviderConfig;
use crate::config::{Config, Loaded, SessionMode, resource_parts};
use crate::db::{CallContext, TableListRequest};
use crate::http::MCP_PATH;

/// Where Claude sends the browser back after sign-in; both must be
/// registered at the IdP (Anthropic uses either host).
pub const CLAUDE_REDIRECT_URLS: &[&str] = &[
    "https://claude.ai/api/mcp/auth_callback",
    "https://claude.com/api/mcp/auth_callback",
];
/// MCP Inspector's callbacks (CLI and web UI), for testing a connector.
pub const INSPECTOR_REDIRECT_URLS: &[&str] = &[
    "http://localhost:6274/oauth/callback",
    "http://127.0.0.1:6276/oauth/callback",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    Skip,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// What to type into Claude's "Add custom connector" dialog and register at
/// the identity provider.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectorSetup {
    pub url: String,
    pub oauth: bool,
    pub scopes: Vec<String>,
    pub redirect_urls: Vec<String>,
    pub test_redirect_urls: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ok: bool,
    pub checks: Vec<Check>,
    /// The database user's privileges in full (Oracle backends), for
    /// scripts; the checks above carry one line per finding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileges: Option<crate::db::PrivilegeReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector: Option<ConnectorSetup>,
}

#[derive(Debug, Default)]
pub struct Options {
    /// An access token to validate end to end, as a user's client would send it.
    pub token: Option<String>,
    pub timeout: Option<Duration>,
}

#[derive(Default)]
struct Checks(Vec<Check>);

impl Checks {
    fn push(&mut self, name: &str, status: Status, detail: impl Into<String>, hint: Option<&str>) {
        self.0.push(Check {
            name: name.to_owned(),
            status,
            detail: detail.into(),
            hint: hint.map(str::to_owned),
        });
    }
    fn pass(&mut self, name: &str, detail: impl Into<String>) {
        self.push(name, Status::Pass, detail, None);
    }
    fn warn(&mut self, name: &str, detail: impl Into<String>, hint: &str) {
        self.push(name, Status::Warn, detail, Some(hint));
    }
    fn fail(&mut self, name: &str, detail: impl Into<String>, hint: &str) {
        self.push(name, Status::Fail, detail, Some(hint));
    }
}

/// Report for a configuration that did not even load.
pub fn config_error(message: &str) -> Report {
    let mut c = Checks::default();
    c.fail(
        "configuration",
        message,
        "fix the key named above; `adb-mcp check-config` shows the effective configuration",
    );
    Report {
        ok: false,
        checks: c.0,
        privileges: None,
        connector: None,
    }
}

/// Runs every check against the loaded configuration.
pub async fn run(loaded: &Loaded, options: Options) -> Report {
    let config = &loaded.config;
    let timeout = options.timeout.unwrap_or(Duration::from_secs(10));
    let mut c = Checks::default();
    c.pass(
        "configuration",
        format!(
            "loaded from {}",
            crate::config::describe_source(loaded.file.as_deref())
        ),
    );
    for w in &loaded.warnings {
        c.warn("configuration", w.clone(), "see the warning text");
    }
    check_public_url(config, &mut c);
    check_tls(config, &mut c);
    check_tools(config, &mut c);
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("adb-mcp-doctor/", env!("CARGO_PKG_VERSION")))
        .build();
    match client {
        Ok(client) if config.auth.enabled => {
            for (i, p) in config.auth.providers.iter().enumerate() {
                check_provider(i, p, &client, &mut c).await;
            }
        }
        Ok(_) => {}
        Err(e) => c.fail(
            "identity provider",
            format!("cannot build an HTTP client: {e}"),
            "check the system's TLS setup",
        ),
    }
    check_token(config, options.token.as_deref(), &mut c).await;
    let privileges = check_backend(config, timeout, &mut c).await;
    let ok = c.0.iter().all(|check| check.status != Status::Fail);
    Report {
        ok,
        privileges,
        connector: Some(connector_setup(config)),
        checks: c.0,
    }
}

fn check_public_url(config: &Config, c: &mut Checks) {
    const NAME: &str = "public URL";
    let auth = &config.auth;
    if !auth.enabled {
        c.warn(
            NAME,
            format!(
                "authentication is off: only clients on this machine can use http://{}{MCP_PATH}",
                config.server.bind
            ),
            "for a Claude connector, set auth.enabled = true with auth.resource and a provider (docs/auth.md)",
        );
        return;
    }
    let Some(resource) = auth.resource.as_deref() else {
        c.fail(
            NAME,
            "auth.resource is not set",
            "set auth.resource to the URL users enter, e.g. https://mcp.example.com/mcp",
        );
        return;
    };
    match resource_parts(resource, auth.allow_insecure_http) {
        Err(e) => c.fail(
            NAME,
            e.to_string(),
            "auth.resource must be the https:// URL of /mcp",
        ),
        Ok((_, path)) if path != MCP_PATH => c.fail(
            NAME,
            format!("{resource} ends in `{path}`, but the server answers MCP at {MCP_PATH}"),
            "make auth.resource end in /mcp (a reverse proxy must not rewrite the path)",
        ),
        Ok((origin, _)) => {
            let loopback = config
                .server
                .bind_addr()
                .is_ok_and(|a| a.ip().is_loopback());
            if origin.starts_with("https://") && loopback {
                c.warn(
                    NAME,
                    format!(
                        "{resource} is served from a loopback bind ({}): a reverse proxy must terminate TLS and forward to it",
                        config.server.bind
                    ),
                    "use deploy/nginx.conf, or bind a public address with [server.tls]",
                );
            } else {
                c.pass(NAME, format!("{resource} (bind {})", config.server.bind));
            }
            if config.server.session_mode == SessionMode::Stateful {
                c.warn(
                    "session mode",
                    "stateful sessions live in one process: a load balancer must keep clients on one replica",
                    "use session_mode = \"stateless\" unless you need server notifications",
                );
            }
        }
    }
}

fn check_tls(config: &Config, c: &mut Checks) {
    const NAME: &str = "TLS certificate";
    let tls = &config.server.tls;
    if !tls.enabled {
        return;
    }
    let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) else {
        c.fail(
            NAME,
            "server.tls.enabled is true but cert_file or key_file is not set",
            "point cert_file at fullchain.pem and key_file at privkey.pem",
        );
        return;
    };
    match crate::http::tls::load_certified_key(cert, key, &crate::http::tls::provider()) {
        Ok(k) => c.pass(
            NAME,
            format!(
                "{} and {} load and match ({} certificate(s) in the chain)",
                cert.display(),
                key.display(),
                k.cert.len()
            ),
        ),
        Err(e) => c.fail(
            NAME,
            e.to_string(),
            "certbot writes fullchain.pem and privkey.pem under /etc/letsencrypt/live/<host>/; the service user must be able to read both (docs/deploy.md)",
        ),
    }
}

fn check_tools(config: &Config, c: &mut Checks) {
    const NAME: &str = "tools";
    let opts = crate::mcp::declarative::LoadOptions::from_config(config);
    match crate::mcp::declarative::load(&opts) {
        Ok(catalog) => {
            let builtins: Vec<&str> = catalog.builtins.iter().map(|b| b.name()).collect();
            c.pass(
                NAME,
                format!(
                    "{} declarative tool(s) from {} file(s) in {}; built-in: {}",
                    catalog.tools.len(),
                    catalog.files.len(),
                    opts.dir.display(),
                    if builtins.is_empty() {
                        "none".to_owned()
                    } else {
                        builtins.join(", ")
                    }
                ),
            );
            for note in &catalog.notes {
                c.warn(NAME, note.clone(), "see docs/tools.md");
            }
        }
        Err(e) => c.fail(
            NAME,
            e.to_string(),
            "fix the file and line named above (docs/tools.md); a running server keeps its previous tools",
        ),
    }
}

async fn check_provider(
    index: usize,
    provider: &ProviderConfig,
    client: &reqwest::Client,
    c: &mut Checks,
) {
    let name = format!("identity provider #{index}");
    let resolved = match provider.resolve() {
        Ok(r) => r,
        Err((key, message)) => {
            c.fail(
                &name,
                format!("auth.providers[{index}].{key}: {message}"),
                "see docs/auth.md",
            );
            return;
        }
    };
    let mut jwks_uri = resolved.jwks_uri.clone();
    if let Some(url) = &resolved.discovery_url {
        match auth::fetch_json(client, url).await {
            Ok(doc) => {
                let issuer = doc.get("issuer").and_then(Value::as_str).unwrap_or("");
                if resolved.issuers.is_empty() || resolved.issuers.iter().any(|i| i == issuer) {
                    c.pass(&name, format!("discovery {url} answers; issuer {issuer}"));
                } else {
                    c.fail(
                        &name,
                        format!(
                            "discovery says issuer `{issuer}`, but tokens are expected from {:?}",
                            resolved.issuers
                        ),
                        "set auth.providers[].issuers to the issuer in the discovery document",
                    );
                }
                for key in ["authorization_endpoint", "token_endpoint"] {
                    if doc.get(key).and_then(Value::as_str).is_none() {
                        c.fail(
                            &name,
                            format!("the discovery document has no {key}"),
                            "Claude needs both endpoints; check the discovery URL",
                        );
                    }
                }
                if jwks_uri.is_none() {
                    jwks_uri = doc.get("jwks_uri").and_then(Value::as_str).map(str::to_owned);
                }
            }
            Err(e) => c.fail(
                &name,
                format!("discovery {url} failed: {e}"),
                "check the URL (Oracle IAM: the domain URL, https://idcs-….identity.oraclecloud.com) and outbound HTTPS from this host",
            ),
        }
    }
    let keys_name = format!("signing keys #{index}");
    if provider.jwks_file.is_some() || !provider.pem_files.is_empty() {
        match keys::KeySet::from_files(provider.jwks_file.as_deref(), &provider.pem_files) {
            Ok(k) => c.pass(
                &keys_name,
                format!("{} key(s) from local files", k.current().len()),
            ),
            Err(e) => c.fail(
                &keys_name,
                e.to_string(),
                "check jwks_file / pem_files paths and formats",
            ),
        }
        return;
    }
    let Some(url) = jwks_uri else {
        c.fail(
            &keys_name,
            "no jwks_uri configured or discovered",
            "set auth.providers[].jwks_uri",
        );
        return;
    };
    match auth::fetch_json(client, &url).await {
        Ok(doc) => {
            let usable = keys::parse_jwks(&doc).len();
            if usable == 0 {
                c.fail(
                    &keys_name,
                    format!("{url} has no usable signing key"),
                    "the JWKS must contain RSA or EC public keys",
                );
            } else {
                c.pass(&keys_name, format!("{url}: {usable} usable key(s)"));
            }
        }
        Err(auth::FetchError::Status(s)) if s == 401 || s == 403 => c.fail(
            &keys_name,
            format!("{url} answered HTTP {s}: the signing keys are not public"),
            "Oracle IAM: Identity domain → Settings → Domain settings → turn on \"Configure client access\" (Access signing certificate)",
        ),
        Err(e) => c.fail(
            &keys_name,
            format!("{url}: {e}"),
            "check the URL and outbound HTTPS",
        ),
    }
}

async fn check_token(config: &Config, token: Option<&str>, c: &mut Checks) {
    const NAME: &str = "sample token";
    let Some(token) = token else {
        if config.auth.enabled {
            c.push(
                NAME,
                Status::Skip,
                "no token given (--token-file PATH, or - for stdin)",
                None,
            );
        }
        return;
    };
    if !config.auth.enabled {
        c.warn(
            NAME,
            "a token was given but authentication is off",
            "enable [auth] to validate tokens",
        );
        return;
    }
    let authenticator = match Authenticator::start(&config.auth, &CancellationToken::new()).await {
        Ok(a) => a,
        Err(e) => {
            c.fail(
                NAME,
                format!("cannot start token validation: {e}"),
                "fix the identity provider checks above first",
            );
            return;
        }
    };
    match authenticator.authenticate(token.trim()).await {
        Ok(p) => {
            let scopes: Vec<&str> = p.scopes.iter().map(String::as_str).collect();
            c.pass(
                NAME,
                format!(
                    "valid: subject {}, client {}, scopes [{}]",
                    p.subject,
                    p.client_id.as_deref().unwrap_or("-"),
                    scopes.join(" ")
                ),
            );
        }
        Err(e) => c.fail(
            NAME,
            format!("rejected ({}): {e}", e.reason()),
            token_hint(e.reason()),
        ),
    }
}

fn token_hint(reason: &str) -> &'static str {
    match reason {
        "wrong_audience" => {
            "the token's aud does not match auth.providers[].audiences (Oracle IAM: the resource app's Primary Audience)"
        }
        "untrusted_issuer" => "the token's iss is not one of the configured issuers",
        "expired" => "get a fresh token",
        "insufficient_scope" => {
            "request the configured scope when getting the token (Oracle IAM: add the scope to the client's Token issuance policy)"
        }
        "unknown_key" => "the token was signed by a key not in the JWKS (wrong identity domain?)",
        _ => "see docs/auth.md, \"Troubleshooting\"",
    }
}

/// The database check, then the privilege check on the same backend; returns
/// the privilege report for `--json`.
async fn check_backend(
    config: &Config,
    timeout: Duration,
    c: &mut Checks,
) -> Option<crate::db::PrivilegeReport> {
    let name = format!("database ({})", config.database.backend.name());
    let backend = match crate::db::open(config) {
        Ok(b) => b,
        Err(e) => {
            c.fail(
                &name,
                format!("{e:#}"),
                "check [database] settings (docs/ords.md, docs/direct-mtls.md)",
            );
            return None;
        }
    };
    if let Err(e) = tokio::time::timeout(timeout, backend.ping())
        .await
        .unwrap_or(Err(crate::db::DbError::Timeout(timeout.as_secs())))
    {
        c.fail(
            &name,
            format!("not reachable: {e}"),
            "check network access, credentials and that the database is running",
        );
        c.push(
            PRIVILEGES,
            Status::Skip,
            "not checked: the database is not reachable",
            None,
        );
        return None;
    }
    let ctx = CallContext::new(
        "doctor",
        Arc::new(crate::auth::Principal::anonymous()),
        tokio_util::sync::CancellationToken::new(),
        timeout,
    );
    let request = TableListRequest {
        limit: 1000,
        ..Default::default()
    };
    match backend.list_tables(&request, &ctx).await {
        Ok(page) => c.pass(
            &name,
            format!(
                "reachable; test query listed {}{} table(s) and view(s)",
                page.tables.len(),
                if page.next_offset.is_some() { "+" } else { "" }
            ),
        ),
        Err(e) => c.fail(
            &name,
            format!("reachable, but the test query failed: {e}"),
            "the database user needs SELECT on the tables it should expose",
        ),
    }
    check_privileges(backend.as_ref(), timeout, c).await
}

const PRIVILEGES: &str = "database privileges";

/// One line per thing the database user can do beyond reading, with the
/// statement that revokes it; PASS when it can only read.
async fn check_privileges(
    backend: &dyn crate::db::Backend,
    timeout: Duration,
    c: &mut Checks,
) -> Option<crate::db::PrivilegeReport> {
    use crate::db::privileges::Severity;
    let ctx = CallContext::new(
        "doctor",
        Arc::new(crate::auth::Principal::anonymous()),
        tokio_util::sync::CancellationToken::new(),
        timeout,
    );
    // A dozen dictionary queries share the budget; the outer bound only
    // guards against a backend that ignores its deadline.
    let outcome = tokio::time::timeout(
        timeout + Duration::from_secs(5),
        backend.privilege_report(&ctx),
    )
    .await
    .unwrap_or(Err(crate::db::DbError::Timeout(timeout.as_secs())));
    let report = match outcome {
        Ok(Some(r)) => r,
        Ok(None) => {
            c.push(
                PRIVILEGES,
                Status::Skip,
                "read-only file connection: SQLite has no database users or grants",
                None,
            );
            return None;
        }
        Err(e) => {
            c.warn(
                PRIVILEGES,
                format!("the check could not run: {e}"),
                "run the doctor again when the database answers; by hand: SELECT * FROM session_privs, user_role_privs, user_tab_privs",
            );
            return None;
        }
    };
    if report.findings.is_empty() && report.omitted == 0 {
        c.pass(
            PRIVILEGES,
            format!(
                "user {} can only read (checked {})",
                report.user,
                report.checked.join(", ")
            ),
        );
    }
    for f in &report.findings {
        let status = match f.severity {
            Severity::Fail => Status::Fail,
            Severity::Warn => Status::Warn,
        };
        c.push(PRIVILEGES, status, f.describe(), Some(&f.fix));
    }
    if report.omitted > 0 {
        c.warn(
            PRIVILEGES,
            format!(
                "{} more finding(s) not shown: the user holds far more than reading",
                report.omitted
            ),
            "revoke the findings above and run the doctor again",
        );
    }
    for u in &report.unchecked {
        c.warn(
            PRIVILEGES,
            format!("could not check {}: {}", u.what, u.reason),
            "the rest was checked; a DBA can look this part up in the DBA_* views for this user",
        );
    }
    Some(report)
}

fn connector_setup(config: &Config) -> ConnectorSetup {
    let auth = &config.auth;
    let url = auth
        .resource
        .clone()
        .filter(|_| auth.enabled)
        .unwrap_or_else(|| {
            let scheme = if config.server.tls.enabled {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{}{MCP_PATH}", config.server.bind)
        });
    let scopes = auth
        .providers
        .first()
        .and_then(|p| p.resolve().ok())
        .map(|r| {
            r.scopes
                .iter()
                .map(|s| format!("{}{s}", r.scope_prefix))
                .collect()
        })
        .unwrap_or_default();
    ConnectorSetup {
        url,
        oauth: auth.enabled,
        scopes,
        redirect_urls: CLAUDE_REDIRECT_URLS
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        test_redirect_urls: INSPECTOR_REDIRECT_URLS
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
    }
}

/// Human output; colour only when `color` (a terminal without NO_COLOR).
pub fn render_human(report: &Report, color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    };
    let mut out = String::new();
    for check in &report.checks {
        let mark = match check.status {
            Status::Pass => paint("32", "PASS"),
            Status::Warn => paint("33", "WARN"),
            Status::Fail => paint("31", "FAIL"),
            Status::Skip => paint("2", "SKIP"),
        };
        // Continuation lines (several tool-file problems) line up under the detail.
        let detail = check.detail.replace('\n', &format!("\n{:29}", ""));
        out.push_str(&format!("{mark}  {:<22} {detail}\n", check.name));
        if let Some(hint) = &check.hint
            && check.status != Status::Pass
        {
            out.push_str(&format!("      {:<22} fix: {hint}\n", ""));
        }
    }
    let failures = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .count();
    out.push('\n');
    if failures == 0 {
        out.push_str(&paint("32", "All checks passed."));
    } else {
        out.push_str(&paint("31", &format!("{failures} check(s) failed.")));
    }
    out.push('\n');
    if let Some(setup) = &report.connector {
        out.push_str("\nClaude (Settings → Connectors → Add custom connector):\n");
        out.push_str(&format!("  Remote MCP server URL:  {}\n", setup.url));
        if setup.oauth {
            out.push_str(
                "  Advanced settings:      OAuth Client ID (and Secret) of the app you registered for Claude at the IdP\n",
            );
            if !setup.scopes.is_empty() {
                out.push_str(&format!(
                    "  Scope granted to it:    {}\n",
                    setup.scopes.join(" ")
                ));
            }
            out.push_str("Redirect URLs to register at the identity provider:\n");
            for u in &setup.redirect_urls {
                out.push_str(&format!("  {u}\n"));
            }
            out.push_str("  (for MCP Inspector tests: ");
            out.push_str(&setup.test_redirect_urls.join(", "));
            out.push_str(")\n");
        } else {
            out.push_str("  No sign-in: authentication is off (local use only).\n");
        }
    }
    out
}
