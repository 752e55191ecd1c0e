//! HTTP side of observability: the layer that counts every request (and
//! reports auth failures and refused calls marked on responses), and the
//! `/metrics` endpoint with its access control.
//!
//! `/metrics` is served either to anyone with `metrics.token` as a bearer
//! token, or, without a token, only to clients connecting from a loopback
//! address whose request carries no proxy header — so a reverse proxy on
//! the same host does not publish it by accident.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tracing::Instrument;

use crate::config::ops::MetricsConfig;
use crate::mcp::ServerState;
use crate::observe::metrics::{CONTENT_TYPE, Metrics, Route};
use crate::observe::telemetry;
use crate::observe::{AuthFailure, RefusedRequest};

/// Counts the request by route and status, then reports what inner layers
/// marked on the response (auth failure reason, refused tool call).
pub async fn observe_http(
    State(state): State<Arc<ServerState>>,
    req: Request,
    next: Next,
) -> Response {
    let route = Route::of(req.uri().path());
    let observer = state.observer();
    let metrics = observer.metrics();
    let _running = metrics.http_started();
    let started = Instant::now();
    let session = req.headers().get("mcp-session-id").cloned();
    let span = telemetry::http_span(req.method(), route.label());
    let mut response = next.run(req).instrument(span.clone()).await;
    telemetry::record_http_status(&span, response.status().as_u16());
    metrics.http_finished(route, response.status().as_u16(), started.elapsed());
    if let Some(AuthFailure(reason)) = response.extensions_mut().remove::<AuthFailure>() {
        metrics.auth_failure(reason);
    }
    if let Some(refused) = response.extensions_mut().remove::<RefusedRequest>() {
        observer.refused_request(
            &refused.principal,
            &refused.body,
            refused.code,
            session.as_ref().and_then(|v| v.to_str().ok()),
            |tool| state.has_tool(tool),
        );
    }
    response
}

enum Access {
    /// Loopback clients without proxy headers.
    Loopback,
    /// Any client with this bearer token.
    Token(String),
    /// The token could not be read: serve nobody.
    Nobody,
}

pub struct MetricsEndpoint {
    metrics: Arc<Metrics>,
    access: Access,
}

impl MetricsEndpoint {
    pub fn new(config: &MetricsConfig, metrics: Arc<Metrics>) -> Self {
        let access = match &config.token {
            None => Access::Loopback,
            Some(secret) => match secret.resolve() {
                Ok(token) => Access::Token(token),
                Err(e) => {
                    tracing::error!(error = %e, "metrics.token cannot be read; /metrics is closed");
                    Access::Nobody
                }
            },
        };
        Self { metrics, access }
    }
}

/// The `/metrics` route.
pub fn routes(config: &MetricsConfig, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(serve_metrics))
        .with_state(Arc::new(MetricsEndpoint::new(config, metrics)))
}

/// Headers a reverse proxy adds; their presence means the loopback peer
/// is a proxy relaying someone else.
fn proxied(headers: &HeaderMap) -> bool {
    headers.keys().any(|k| {
        let k = k.as_str();
        k == "forwarded" || k == "x-real-ip" || k.starts_with("x-forwarded-")
    })
}

/// Compares without an early exit, so timing does not reveal the token.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    if given.len() != expected.len() {
        return false;
    }
    given
        .iter()
        .zip(expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

fn refuse(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = (
        status,
        axum::Json(json!({ "error": error, "error_description": description })),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"metrics\""),
        );
    }
    response
}

async fn serve_metrics(State(endpoint): State<Arc<MetricsEndpoint>>, req: Request) -> Response {
    match &endpoint.access {
        Access::Token(token) => {
            let given = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, t)| t.trim());
            if !given.is_some_and(|t| same_secret(t.as_bytes(), token.as_bytes())) {
                return refuse(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "/metrics needs the metrics bearer token",
                );
            }
        }
        Access::Loopback => {
            let loopback = req
                .extensions()
                .get::<ConnectInfo<super::forwarded::Peer>>()
                .is_some_and(|c| c.0.addr.ip().is_loopback());
            if !loopback || proxied(req.headers()) {
                return refuse(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "/metrics is served only to local clients; set metrics.token to scrape it from elsewhere",
                );
            }
        }
        Access::Nobody => {
            return refuse(
                StatusCode::FORBIDDEN,
                "forbidden",
                "/metrics is closed: metrics.token cannot be read",
            );
        }
    }
    match endpoint.metrics.encode() {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(_) => refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "cannot encode metrics",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_headers_are_detected() {
        let mut h = HeaderMap::new();
        assert!(!proxied(&h));
        h.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.7"));
        assert!(proxied(&h));
        let mut h = HeaderMap::new();
        h.insert("forwarded", HeaderValue::from_static("for=203.0.113.7"));
        assert!(proxied(&h));
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abd", b"abc"));
        assert!(!same_secret(b"ab", b"abc"));
    }
}
