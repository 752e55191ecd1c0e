//! The HTTP front: router, request limits, health endpoints, and the MCP
//! Streamable HTTP service at `/mcp`. Auth middleware sits here too, in
//! front of `/mcp` only, so well-known and health routes stay open.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::auth::Authenticator;
use crate::config::auth::MetadataMode;
use crate::config::{Config, SessionMode, resource_parts};
use crate::mcp::{McpServer, ServerState};

pub mod auth;
pub mod forwarded;
pub mod limits;
pub mod metrics;
pub mod redirect;
pub mod tls;
pub mod well_known;

/// Why the HTTP front could not start; each names the setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("auth.resource: {0}")]
    Resource(crate::config::auth::UrlError),
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthStartError),
    #[error("auth.providers is empty")]
    NoProvider,
    #[error("cannot build the HTTP client for the identity provider: {0}")]
    Client(reqwest::Error),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("server.tls.http_redirect_bind: `{0}` is not an IP:port address")]
    RedirectAddress(String),
    #[error("{key}: cannot listen on {addr}: {error}")]
    Listen {
        key: &'static str,
        addr: String,
        error: std::io::Error,
    },
}

/// The OAuth resource-server pieces, present when `auth.enabled`.
pub struct AuthRuntime {
    pub layer: Arc<auth::AuthLayer>,
    pub well_known: Arc<well_known::WellKnown>,
    /// `host[:port]` and origin of the public resource URL, added to the
    /// allowed Host and Origin lists.
    pub public_host: String,
    pub public_origin: String,
}

impl AuthRuntime {
    /// Fetches IdP metadata and keys, kept fresh until `stop`; `None` when
    /// auth is disabled.
    pub async fn start(
        config: &Config,
        stop: &CancellationToken,
    ) -> Result<Option<Self>, StartError> {
        let a = &config.auth;
        if !a.enabled {
            return Ok(None);
        }
        let resource = a.resource.clone().unwrap_or_default();
        let (origin, path) =
            resource_parts(&resource, a.allow_insecure_http).map_err(StartError::Resource)?;
        let authenticator = Authenticator::start(a, stop).await?;
        let primary = authenticator
            .providers()
            .first()
            .ok_or(StartError::NoProvider)?;
        let prefix = primary.resolved.scope_prefix.clone();
        let base_scopes = primary.advertised_scopes();
        let tool_scopes: std::collections::HashMap<String, (Vec<String>, Vec<String>)> = a
            .tool_scopes
            .iter()
            .map(|(tool, bare)| {
                let advertised = bare.iter().map(|s| format!("{prefix}{s}")).collect();
                (tool.clone(), (bare.clone(), advertised))
            })
            .collect();
        let mut all_scopes = base_scopes.clone();
        for (_, advertised) in tool_scopes.values() {
            for s in advertised {
                if !all_scopes.contains(s) {
                    all_scopes.push(s.clone());
                }
            }
        }
        let discovery = primary.discovery.clone();
        let authorization_server = match a.metadata {
            MetadataMode::Shim => origin.clone(),
            MetadataMode::Direct => discovery
                .as_ref()
                .and_then(|d| d.string("issuer"))
                .or_else(|| primary.resolved.issuers.first().cloned())
                .unwrap_or_default(),
        };
        if a.metadata == MetadataMode::Shim
            && let Some(d) = &discovery
            && d.document()
                .get("authorization_response_iss_parameter_supported")
                .and_then(serde_json::Value::as_bool)
                == Some(true)
        {
            tracing::warn!(
                "the identity provider adds `iss` to authorization responses (RFC 9207); clients that check it will reject the shim's issuer: consider auth.metadata = \"direct\""
            );
        }
        let mut prm = json!({
            "resource": resource,
            "authorization_servers": [authorization_server],
            "scopes_supported": all_scopes,
            "bearer_methods_supported": ["header"],
            "resource_name": a.resource_name,
        });
        if let Some(doc) = &a.resource_documentation {
            prm["resource_documentation"] = json!(doc);
        }
        let prm_url = format!("{origin}{}", well_known::prm_path(&path));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(a.http_timeout_secs))
            .build()
            .map_err(StartError::Client)?;
        let public_host = url::Url::parse(&resource)
            .ok()
            .and_then(|u| {
                u.host_str().map(|h| match u.port() {
                    Some(p) => format!("{h}:{p}"),
                    None => h.to_owned(),
                })
            })
            .unwrap_or_default();
        let layer = Arc::new(auth::AuthLayer::new(
            authenticator,
            prm_url,
            base_scopes,
            prefix.clone(),
            config.server.max_request_bytes,
            Duration::from_secs(config.server.session_idle_timeout_secs * 2),
        ));
        let well_known = Arc::new(well_known::WellKnown {
            prm,
            resource_path: path,
            mode: a.metadata,
            discovery,
            origin: origin.clone(),
            scopes: all_scopes,
            compat_routes: a.compat_routes,
            http,
        });
        // rmcp matches a port-less allowed Origin against any port today but
        // plans to match only the default port: spell the port out.
        let public_origin = match url::Url::parse(&origin).ok().and_then(|u| u.port()) {
            Some(_) => origin,
            None if origin.starts_with("https://") => format!("{origin}:443"),
            None => format!("{origin}:80"),
        };
        Ok(Some(Self {
            layer,
            well_known,
            public_host,
            public_origin,
        }))
    }
}

/// The path clients connect to.
pub const MCP_PATH: &str = "/mcp";
/// Time for the last responses to be written before sessions are closed.
const RESPONSE_FLUSH: Duration = Duration::from_millis(250);
/// How long `/readyz` waits for the backend.
const READY_TIMEOUT: Duration = Duration::from_secs(3);

/// Builds the full router. `sessions` ends SSE streams and sessions at shutdown.
pub fn router(
    config: &Config,
    state: Arc<ServerState>,
    sessions: CancellationToken,
    auth: Option<&AuthRuntime>,
) -> Router {
    let server = &config.server;
    let mut hosts = server.allowed_hosts.clone();
    let mut origins = server.allowed_origins.clone();
    if let Some(a) = auth {
        hosts.push(a.public_host.clone());
        origins.push(a.public_origin.clone());
    }
    let base = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_allowed_origins(origins)
        .enforce_origin_validation()
        .with_max_request_body_bytes(server.max_request_bytes)
        .with_cancellation_token(sessions);
    let observed = Arc::clone(&state);
    let limiter =
        limits::Limiter::new(&config.limits, Arc::clone(&state), server.max_request_bytes);
    let counters = Arc::clone(state.observer().metrics());
    let factory_state = Arc::clone(&state);
    let factory = move || Ok(McpServer::new(Arc::clone(&factory_state)));
    let mcp = match server.session_mode {
        SessionMode::Stateless => Router::new().route_service(
            MCP_PATH,
            StreamableHttpService::new(
                factory,
                Arc::new(NeverSessionManager::default()),
                base.with_legacy_session_mode(false)
                    .with_json_response(true),
            ),
        ),
        SessionMode::Stateful => {
            state.enable_list_changed();
            let mut sessions = LocalSessionManager::default();
            sessions.session_config.keep_alive =
                Some(Duration::from_secs(server.session_idle_timeout_secs));
            Router::new().route_service(
                MCP_PATH,
                StreamableHttpService::new(
                    factory,
                    Arc::new(sessions),
                    base.with_legacy_session_mode(true),
                ),
            )
        }
    };

    // route_layer, not layer: unmatched paths must get a plain 404, not a
    // bearer challenge (clients probe well-known URLs that may not exist).
    let mut mcp = mcp.route_layer(middleware::from_fn(normalize_accept));
    // Limits run after authentication: added before the auth layer.
    if let Some(limiter) = limiter {
        mcp = mcp.route_layer(middleware::from_fn_with_state(limiter, limits::enforce));
    }
    let tools = Arc::clone(&state);
    let mut app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state);
    if let Some(a) = auth {
        mcp = mcp.route_layer(middleware::from_fn_with_state(
            (Arc::clone(&a.layer), tools),
            auth::require_bearer,
        ));
        app = app.merge(well_known::routes(Arc::clone(&a.well_known)));
        counters.watch_auth(Arc::clone(&a.layer.authenticator));
    }
    if config.metrics.enabled {
        app = app.merge(metrics::routes(&config.metrics, counters));
    }
    app.merge(mcp)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            server.request_timeout(),
        ))
        .layer(RequestBodyLimitLayer::new(server.max_request_bytes))
        .layer(middleware::from_fn_with_state(
            observed,
            metrics::observe_http,
        ))
        .layer(middleware::from_fn(log_request))
        .layer(middleware::from_fn_with_state(
            Arc::new(forwarded::TrustedProxies::from_config(
                &server.trusted_proxies,
            )),
            forwarded::client_info,
        ))
}

async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, axum::Json(json!({ "status": "ok" })))
}

async fn readyz(State(state): State<Arc<ServerState>>) -> impl IntoResponse {
    let kind = state.backend().info().kind;
    match tokio::time::timeout(READY_TIMEOUT, state.backend().ping()).await {
        Ok(Ok(())) => (
            StatusCode::OK,
            axum::Json(json!({ "status": "ready", "backend": kind })),
        ),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "status": "unavailable", "backend": kind, "error": e.to_string() })),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(
                json!({ "status": "unavailable", "backend": kind, "error": "backend did not answer in time" }),
            ),
        ),
    }
}

/// Claude's connector backend has been seen POSTing with `Accept: */*` (or
/// none); the transport requires both JSON and SSE, so say so on its behalf.
async fn normalize_accept(mut req: Request, next: Next) -> Response {
    if req.method() == Method::POST {
        let needs = match req.headers().get(header::ACCEPT) {
            None => true,
            Some(v) => v
                .to_str()
                .map(|s| s.split(',').any(|p| p.trim().starts_with("*/*")))
                .unwrap_or(false),
        };
        if needs {
            req.headers_mut().insert(
                header::ACCEPT,
                HeaderValue::from_static("application/json, text/event-stream"),
            );
        }
    }
    next.run(req).await
}

/// One log line per request. Only the path is logged, never the query
/// string or headers, so a misplaced token cannot reach the log. The client
/// address is the TCP peer, or the one a trusted proxy forwarded.
async fn log_request(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let (client, scheme) = match req.extensions().get::<forwarded::ClientInfo>() {
        Some(c) => (c.ip, c.scheme),
        None => (None, "http"),
    };
    let response = next.run(req).await;
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    tracing::info!(
        %method,
        path,
        status = response.status().as_u16(),
        duration_us = micros,
        client = client.map(tracing::field::display),
        scheme,
        "http request"
    );
    response
}

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    router: Router,
    state: Arc<ServerState>,
    sessions: CancellationToken,
    grace: Duration,
    tls: Option<tls::TlsRuntime>,
    /// The plain-HTTP redirect/ACME listener next to HTTPS.
    redirect: Option<(TcpListener, Router)>,
}

impl Server {
    pub async fn bind(
        config: &Config,
        state: Arc<ServerState>,
        auth: Option<&AuthRuntime>,
    ) -> Result<Self, StartError> {
        let addr: SocketAddr = config.server.bind_addr()?;
        let tls_config = &config.server.tls;
        // Certificate problems are reported before any port is taken.
        let tls = if tls_config.enabled {
            Some(tls::TlsRuntime::new(tls_config)?)
        } else {
            None
        };
        let listen_error = |key, addr: &dyn std::fmt::Display| {
            let addr = addr.to_string();
            move |error| StartError::Listen { key, addr, error }
        };
        let listener = TcpListener::bind(addr)
            .await
            .map_err(listen_error("server.bind", &addr))?;
        let redirect = match (&tls, &tls_config.http_redirect_bind) {
            (Some(_), Some(bind)) => {
                let redirect_addr: SocketAddr = bind
                    .parse()
                    .map_err(|_| StartError::RedirectAddress(bind.clone()))?;
                let redirect_listener = TcpListener::bind(redirect_addr)
                    .await
                    .map_err(listen_error("server.tls.http_redirect_bind", bind))?;
                let https_port = match tls_config.redirect_https_port {
                    Some(p) => p,
                    None => listener
                        .local_addr()
                        .map_err(listen_error("server.bind", &addr))?
                        .port(),
                };
                let trusted = Arc::new(forwarded::TrustedProxies::from_config(
                    &config.server.trusted_proxies,
                ));
                let app = redirect::router(https_port, tls_config.acme_webroot.clone(), trusted);
                Some((redirect_listener, app))
            }
            _ => None,
        };
        let sessions = CancellationToken::new();
        let router = router(config, Arc::clone(&state), sessions.clone(), auth);
        Ok(Self {
            listener,
            router,
            state,
            sessions,
            grace: config.server.shutdown_grace(),
            tls,
            redirect,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// `https` when this server terminates TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// The address of the HTTP redirect/ACME listener, when configured.
    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        self.redirect
            .as_ref()
            .and_then(|(l, _)| l.local_addr().ok())
    }

    /// The certificate in service and its reload state, when TLS is on.
    pub fn tls_certificates(&self) -> Option<Arc<tls::CertStore>> {
        self.tls.as_ref().map(|t| Arc::clone(t.store()))
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets running
    /// tool calls finish (up to the grace period), and closes sessions.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Server {
            listener,
            router,
            state,
            sessions,
            grace,
            tls,
            redirect,
        } = self;
        let stop_accepting = CancellationToken::new();
        if let Some(t) = &tls {
            t.spawn_reloader(stop_accepting.clone());
        }
        let stopping = stop_accepting.clone();
        let drain_state = Arc::clone(&state);
        let drain_sessions = sessions.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!(
                grace_secs = grace.as_secs(),
                "shutting down: finishing in-flight calls"
            );
            stopping.cancel();
            if tokio::time::timeout(grace, drain_state.drained())
                .await
                .is_err()
            {
                tracing::warn!("grace period over; abandoning running tool calls");
            }
            // A finished call's response is still being written; closing
            // sessions at once would turn it into an error.
            tokio::time::sleep(RESPONSE_FLUSH).await;
            drain_sessions.cancel();
        });
        // The peer address (`forwarded::Peer`) lets /metrics tell loopback
        // scrapers apart and feeds the trusted-proxy logic.
        let main_stop = stop_accepting.clone();
        let main = async move {
            let app = router.into_make_service_with_connect_info::<forwarded::Peer>();
            match tls {
                Some(t) => {
                    axum::serve(t.listen(listener)?, app)
                        .with_graceful_shutdown(main_stop.cancelled_owned())
                        .await
                }
                None => {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(main_stop.cancelled_owned())
                        .await
                }
            }
        };
        let redirect = async move {
            match redirect {
                Some((listener, app)) => {
                    axum::serve(
                        listener,
                        app.into_make_service_with_connect_info::<forwarded::Peer>(),
                    )
                    .with_graceful_shutdown(stop_accepting.cancelled_owned())
                    .await
                }
                None => Ok(()),
            }
        };
        let serve = async move {
            let (main, redirect) = tokio::join!(main, redirect);
            main.and(redirect)
        };
        let sessions_closed = sessions.clone();
        tokio::select! {
            r = serve => r,
            // Connections that never close (a stuck client) must not keep us alive.
            () = async move {
                sessions_closed.cancelled().await;
                tokio::time::sleep(Duration::from_secs(2)).await;
            } => Ok(()),
        }
    }
}
