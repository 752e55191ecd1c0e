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

use crate::config::{Config, SessionMode};
use crate::mcp::{McpServer, ServerState};

/// The path clients connect to.
pub const MCP_PATH: &str = "/mcp";
/// How long `/readyz` waits for the backend.
const READY_TIMEOUT: Duration = Duration::from_secs(3);

/// Builds the full router. `sessions` ends SSE streams and sessions at shutdown.
pub fn router(config: &Config, state: Arc<ServerState>, sessions: CancellationToken) -> Router {
    let server = &config.server;
    let base = StreamableHttpServerConfig::default()
        .with_allowed_hosts(server.allowed_hosts.clone())
        .with_allowed_origins(server.allowed_origins.clone())
        .enforce_origin_validation()
        .with_max_request_body_bytes(server.max_request_bytes)
        .with_cancellation_token(sessions);
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

    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
        .merge(mcp.layer(middleware::from_fn(normalize_accept)))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            server.request_timeout(),
        ))
        .layer(RequestBodyLimitLayer::new(server.max_request_bytes))
        .layer(middleware::from_fn(log_request))
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
/// string or headers, so a misplaced token cannot reach the log.
async fn log_request(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let response = next.run(req).await;
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    tracing::info!(
        %method,
        path,
        status = response.status().as_u16(),
        duration_us = micros,
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
}

impl Server {
    pub async fn bind(config: &Config, state: Arc<ServerState>) -> std::io::Result<Self> {
        let addr: SocketAddr = config
            .server
            .bind_addr()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        let listener = TcpListener::bind(addr).await?;
        let sessions = CancellationToken::new();
        let router = router(config, Arc::clone(&state), sessions.clone());
        Ok(Self {
            listener,
            router,
            state,
            sessions,
            grace: config.server.shutdown_grace(),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
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
        } = self;
        let stop_accepting = CancellationToken::new();
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
            drain_sessions.cancel();
        });
        let serve = axum::serve(listener, router)
            .with_graceful_shutdown(async move { stop_accepting.cancelled().await });
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

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
