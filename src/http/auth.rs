//! Bearer-token middleware in front of `/mcp`: every request, including
//! `initialize` and requests inside a session, carries a valid token or is
//! refused with the RFC 6750 / RFC 9728 challenge clients need to log in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::{AuthError, Authenticator, Principal};
use crate::mcp::ServerState;
use crate::observe::ToolCallBody;

/// What the middleware needs besides the validator.
pub struct AuthLayer {
    pub authenticator: Arc<Authenticator>,
    /// Absolute URL of our protected-resource metadata.
    pub prm_url: String,
    /// Scopes every request needs, as clients request them (prefixed).
    pub base_scopes: Vec<String>,
    /// Turns a bare scope into the form clients request (Oracle IAM: the
    /// primary audience; Entra: `api://…/`).
    pub scope_prefix: String,
    pub max_body: usize,
    sessions: Mutex<HashMap<String, SessionOwner>>,
    session_ttl: Duration,
}

struct SessionOwner {
    subject: String,
    issuer: String,
    last_seen: Instant,
}

impl AuthLayer {
    pub fn new(
        authenticator: Arc<Authenticator>,
        prm_url: String,
        base_scopes: Vec<String>,
        scope_prefix: String,
        max_body: usize,
        session_ttl: Duration,
    ) -> Self {
        Self {
            authenticator,
            prm_url,
            base_scopes,
            scope_prefix,
            max_body,
            sessions: Mutex::new(HashMap::new()),
            session_ttl,
        }
    }

    fn quote(s: &str) -> String {
        s.replace('\\', "\\\\").replace('"', "\\\"")
    }

    /// Builds the `WWW-Authenticate` challenge for a refusal.
    fn challenge(&self, error: Option<(&str, &str)>, scopes: &[String]) -> String {
        let mut out = String::from("Bearer ");
        if let Some((code, description)) = error {
            out.push_str(&format!(
                "error=\"{code}\", error_description=\"{}\", ",
                Self::quote(description)
            ));
        }
        out.push_str(&format!(
            "resource_metadata=\"{}\"",
            Self::quote(&self.prm_url)
        ));
        if !scopes.is_empty() {
            out.push_str(&format!(", scope=\"{}\"", Self::quote(&scopes.join(" "))));
        }
        out
    }

    fn refuse(&self, err: &AuthError, scopes: &[String]) -> Response {
        let (status, error) = match err {
            AuthError::Missing => (StatusCode::UNAUTHORIZED, None),
            AuthError::InvalidRequest { description } => (
                StatusCode::UNAUTHORIZED,
                Some(("invalid_request", *description)),
            ),
            AuthError::InvalidToken { description, .. } => (
                StatusCode::UNAUTHORIZED,
                Some(("invalid_token", *description)),
            ),
            AuthError::InsufficientScope { .. } => (
                StatusCode::FORBIDDEN,
                Some((
                    "insufficient_scope",
                    "the token lacks a scope this request needs",
                )),
            ),
        };
        tracing::info!(
            reason = err.reason(),
            status = status.as_u16(),
            "request refused by auth"
        );
        let challenge = self.challenge(error, scopes);
        let body = json!({
            "error": error.map_or("unauthorized", |e| e.0),
            "error_description": error.map_or("a bearer token is required", |e| e.1),
        });
        let mut response = (status, axum::Json(body)).into_response();
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        response
            .extensions_mut()
            .insert(crate::observe::AuthFailure(err.reason()));
        response
    }

    fn prefixed(&self, bare: &[String]) -> Vec<String> {
        // Base scopes are already prefixed; tool scopes (built-in or
        // declarative) are bare names.
        let mut out = self.base_scopes.clone();
        for name in bare {
            let advertised = format!("{}{name}", self.scope_prefix);
            if !out.contains(&advertised) {
                out.push(advertised);
            }
        }
        out
    }

    fn session_check(&self, session: &str, p: &Principal) -> Result<(), ()> {
        let Ok(mut sessions) = self.sessions.lock() else {
            return Err(());
        };
        match sessions.get_mut(session) {
            Some(owner) if owner.subject == p.subject && owner.issuer == p.issuer => {
                owner.last_seen = Instant::now();
                Ok(())
            }
            Some(_) => Err(()),
            // Unknown to us: rmcp answers 404 itself if the session is unknown to it too.
            None => Ok(()),
        }
    }

    fn session_bind(&self, session: &str, p: &Principal) {
        let Ok(mut sessions) = self.sessions.lock() else {
            return;
        };
        let ttl = self.session_ttl;
        if sessions.len() > 10_000 {
            sessions.retain(|_, o| o.last_seen.elapsed() < ttl);
        }
        sessions.insert(
            session.to_owned(),
            SessionOwner {
                subject: p.subject.clone(),
                issuer: p.issuer.clone(),
                last_seen: Instant::now(),
            },
        );
    }

    fn session_end(&self, session: &str) {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.remove(session);
        }
    }
}

/// Which tool a `tools/call` body names, if any.
fn called_tool(body: &[u8]) -> Option<String> {
    ToolCallBody::<serde::de::IgnoredAny>::parse(body)?.name
}

fn bearer(req: &Request) -> Result<&str, AuthError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Err(AuthError::Missing);
    };
    let value = value.to_str().map_err(|_| AuthError::InvalidRequest {
        description: "the Authorization header is not valid text",
    })?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::InvalidRequest {
        description: "the Authorization header must be `Bearer <token>`",
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        // RFC 6750 §3.1: another scheme gets the plain challenge, no error code.
        return Err(AuthError::Missing);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthError::InvalidRequest {
            description: "the bearer token is empty",
        });
    }
    Ok(token)
}

fn has_query_token(req: &Request) -> bool {
    req.uri().query().is_some_and(|q| {
        q.split('&').any(|kv| {
            kv.split('=')
                .next()
                .is_some_and(|k| k.eq_ignore_ascii_case("access_token"))
        })
    })
}

/// Reads and discards the request body (bounded) so the connection stays
/// reusable after a refusal; an unread body makes the server close it.
async fn drain(req: Request, limit: usize) {
    let _ = axum::body::to_bytes(req.into_body(), limit).await;
}

pub async fn require_bearer(
    State((layer, tools)): State<(Arc<AuthLayer>, Arc<ServerState>)>,
    req: Request,
    next: Next,
) -> Response {
    let checked = if has_query_token(&req) {
        Err(AuthError::InvalidRequest {
            description: "access tokens in the query string are not accepted; use the Authorization header",
        })
    } else {
        match bearer(&req).map(str::to_owned) {
            Ok(token) => layer.authenticator.authenticate(&token).await,
            Err(e) => Err(e),
        }
    };
    let principal = match checked {
        Ok(p) => p,
        Err(e) => {
            drain(req, layer.max_body).await;
            return layer.refuse(&e, &layer.base_scopes);
        }
    };

    let session = req
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(id) = &session
        && layer.session_check(id, &principal).is_err()
    {
        tracing::warn!(subject = %principal.subject, "refused reuse of another subject's session");
        drain(req, layer.max_body).await;
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "session not found"})),
        )
            .into_response();
    }

    let (mut parts, body) = req.into_parts();
    // Scopes come from the live tool registry, so declarative tools' own
    // scopes (and reloads) get the same 403 step-up challenge as built-ins.
    let body = if !tools.any_tool_scoped() || parts.method != axum::http::Method::POST {
        body
    } else {
        let bytes: Bytes = match axum::body::to_bytes(body, layer.max_body).await {
            Ok(b) => b,
            Err(_) => {
                return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
            }
        };
        if let Some(tool) = called_tool(&bytes)
            && let Some(needed) = tools.scopes_for(&tool)
            && !principal.has_scopes(&needed)
        {
            let advertised = layer.prefixed(&needed);
            let err = AuthError::InsufficientScope { needed };
            let mut response = layer.refuse(&err, &advertised);
            response
                .extensions_mut()
                .insert(crate::observe::RefusedRequest {
                    principal: Arc::clone(&principal),
                    body: bytes,
                    code: "insufficient_scope",
                });
            return response;
        }
        Body::from(bytes)
    };
    let is_delete = parts.method == axum::http::Method::DELETE;
    parts.extensions.insert(Arc::clone(&principal));
    let response = next.run(Request::from_parts(parts, body)).await;

    if let Some(id) = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
    {
        layer.session_bind(id, &principal);
    }
    if is_delete
        && response.status().is_success()
        && let Some(id) = &session
    {
        layer.session_end(id);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_name_is_read_only_from_tools_call() {
        let call = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"run_query","arguments":{}}}"#;
        assert_eq!(called_tool(call).as_deref(), Some("run_query"));
        let list = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        assert_eq!(called_tool(list), None);
        assert_eq!(called_tool(b"not json"), None);
    }
}
