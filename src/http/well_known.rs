//! Discovery documents clients read before they log in (always open):
//! RFC 9728 protected-resource metadata, the RFC 8414 / OIDC metadata shim,
//! and the optional `/authorize` + `/token` compatibility routes.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::auth::discovery::{Discovery, shim_metadata};
use crate::config::auth::MetadataMode;

/// Protected-resource metadata path for a resource path (`/mcp` →
/// `/.well-known/oauth-protected-resource/mcp`).
pub fn prm_path(resource_path: &str) -> String {
    format!("/.well-known/oauth-protected-resource{resource_path}")
}

pub struct WellKnown {
    pub prm: Value,
    pub resource_path: String,
    pub mode: MetadataMode,
    /// The primary provider's discovery document (shim and compat routes).
    pub discovery: Option<Arc<Discovery>>,
    /// Our origin, the shim's issuer.
    pub origin: String,
    pub scopes: Vec<String>,
    pub compat_routes: bool,
    pub http: reqwest::Client,
}

pub fn routes(wk: Arc<WellKnown>) -> Router {
    let mut router = Router::new().route("/.well-known/oauth-protected-resource", get(prm));
    if !wk.resource_path.is_empty() {
        router = router.route(&prm_path(&wk.resource_path), get(prm));
    }
    if wk.mode == MetadataMode::Shim && wk.discovery.is_some() {
        router = router
            .route("/.well-known/oauth-authorization-server", get(as_metadata))
            .route("/.well-known/openid-configuration", get(as_metadata));
    }
    if wk.compat_routes && wk.discovery.is_some() {
        router = router
            .route("/authorize", get(authorize))
            .route("/token", post(token));
    }
    router.with_state(wk)
}

fn json_response(v: Value) -> Response {
    let mut r = (StatusCode::OK, axum::Json(v)).into_response();
    // Public documents: let browser-based clients read them cross-origin.
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

async fn prm(State(wk): State<Arc<WellKnown>>) -> Response {
    json_response(wk.prm.clone())
}

async fn as_metadata(State(wk): State<Arc<WellKnown>>) -> Response {
    match &wk.discovery {
        Some(d) => {
            let mut scopes = wk.scopes.clone();
            // Keep refresh tokens possible: clients ask for offline_access only if listed.
            let idp = d.document();
            if idp
                .get("scopes_supported")
                .and_then(Value::as_array)
                .is_some_and(|s| s.iter().any(|v| v == "offline_access"))
            {
                scopes.push("offline_access".into());
            }
            json_response(shim_metadata(&idp, &wk.origin, &scopes))
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Clients that synthesize `{origin}/authorize` are sent to the IdP, query intact.
async fn authorize(State(wk): State<Arc<WellKnown>>, RawQuery(query): RawQuery) -> Response {
    let Some(endpoint) = wk
        .discovery
        .as_ref()
        .and_then(|d| d.string("authorization_endpoint"))
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let target = match query {
        Some(q) if !q.is_empty() => {
            let sep = if endpoint.contains('?') { '&' } else { '?' };
            format!("{endpoint}{sep}{q}")
        }
        _ => endpoint,
    };
    // 302 Found, as authorization redirects conventionally are (axum's Redirect::to is 303).
    match HeaderValue::from_str(&target) {
        Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// Forwards a token request to the IdP untouched (body and client
/// authentication). Nothing of it is logged: it carries secrets.
async fn token(State(wk): State<Arc<WellKnown>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(endpoint) = wk
        .discovery
        .as_ref()
        .and_then(|d| d.string("token_endpoint"))
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut req = wk.http.post(&endpoint).body(body);
    for name in [header::CONTENT_TYPE, header::AUTHORIZATION, header::ACCEPT] {
        if let Some(v) = headers.get(&name) {
            req = req.header(name, v);
        }
    }
    match req.send().await {
        Ok(upstream) => {
            let status = StatusCode::from_u16(upstream.status().as_u16())
                .unwrap_or(StatusCode::BAD_GATEWAY);
            let content_type = upstream.headers().get(header::CONTENT_TYPE).cloned();
            let bytes = upstream.bytes().await.unwrap_or_default();
            let mut r = (status, bytes).into_response();
            if let Some(ct) = content_type {
                r.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(_) => (
            StatusCode::BAD_GATEWAY,
            axum::Json(json!({"error": "temporarily_unavailable", "error_description": "the identity provider did not answer"})),
        )
            .into_response(),
    }
}
