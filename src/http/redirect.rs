//! The optional plain-HTTP listener next to HTTPS: it redirects everything
//! to `https://` (same host, path and query) and serves ACME HTTP-01
//! challenge files so that certbot's webroot mode keeps renewing the
//! certificate while we own port 80.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::timeout::TimeoutLayer;

use super::forwarded::{self, ClientInfo, TrustedProxies};

/// Where certbot's webroot plugin writes challenge files, below the webroot.
pub const ACME_CHALLENGE_DIR: &str = ".well-known/acme-challenge";
/// Key authorizations are ~90 bytes; anything much larger is not one.
const MAX_CHALLENGE_BYTES: u64 = 4096;
/// Nothing on this listener takes long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

struct Settings {
    https_port: u16,
    webroot: Option<PathBuf>,
}

/// Builds the redirect/ACME router. `https_port` is left out of redirect
/// URLs when it is 443.
pub fn router(
    https_port: u16,
    acme_webroot: Option<PathBuf>,
    trusted: Arc<TrustedProxies>,
) -> Router {
    let serve_acme = acme_webroot.is_some();
    let settings = Arc::new(Settings {
        https_port,
        webroot: acme_webroot,
    });
    let mut app = Router::new();
    if serve_acme {
        app = app.route(
            "/.well-known/acme-challenge/{token}",
            get(acme_challenge).with_state(Arc::clone(&settings)),
        );
    }
    app.fallback(redirect)
        .with_state(settings)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(middleware::from_fn(super::log_request))
        .layer(middleware::from_fn_with_state(
            trusted,
            forwarded::client_info,
        ))
}

/// 301 for GET/HEAD (what browsers and certbot expect), 308 otherwise so
/// that a POST stays a POST.
async fn redirect(
    State(settings): State<Arc<Settings>>,
    method: Method,
    uri: Uri,
    client: Option<axum::Extension<ClientInfo>>,
) -> Response {
    let host = client.and_then(|c| c.0.host);
    let Some(location) = host.and_then(|h| https_url(&h, settings.https_port, &uri)) else {
        return (
            StatusCode::BAD_REQUEST,
            "a Host header is required to redirect to HTTPS\n",
        )
            .into_response();
    };
    let status = if method == Method::GET || method == Method::HEAD {
        StatusCode::MOVED_PERMANENTLY
    } else {
        StatusCode::PERMANENT_REDIRECT
    };
    let Ok(value) = HeaderValue::from_str(&location) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    (
        status,
        [(header::LOCATION, value)],
        format!("moved to {location}\n"),
    )
        .into_response()
}

/// `https://host[:port]/path?query` for a validated `host[:port]`.
fn https_url(authority: &str, https_port: u16, uri: &Uri) -> Option<String> {
    let authority: axum::http::uri::Authority = authority.parse().ok()?;
    let host = authority.host();
    if host.is_empty() {
        return None;
    }
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    Some(if https_port == 443 {
        format!("https://{host}{path}")
    } else {
        format!("https://{host}:{https_port}{path}")
    })
}

/// Serves `<webroot>/.well-known/acme-challenge/<token>`. Tokens are
/// base64url (RFC 8555 §8.3), so anything else — dots, slashes, encoded or
/// not — is refused before the file system is touched; symbolic links are
/// not followed.
async fn acme_challenge(
    State(settings): State<Arc<Settings>>,
    Path(token): Path<String>,
) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "no such challenge\n").into_response();
    let Some(webroot) = &settings.webroot else {
        return not_found();
    };
    let valid = !token.is_empty()
        && token.len() <= 256
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return not_found();
    }
    let path = webroot.join(ACME_CHALLENGE_DIR).join(&token);
    let read = tokio::task::spawn_blocking(move || {
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() && meta.len() <= MAX_CHALLENGE_BYTES => {}
            _ => return None,
        }
        std::fs::read(&path).ok()
    })
    .await;
    match read {
        Ok(Some(body)) => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], body).into_response()
        }
        _ => not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_url_keeps_path_and_query_and_drops_default_port() {
        let uri: Uri = "/mcp/x?a=1&b=%20".parse().expect("uri");
        assert_eq!(
            https_url("mcp.example.com:80", 443, &uri).as_deref(),
            Some("https://mcp.example.com/mcp/x?a=1&b=%20")
        );
        assert_eq!(
            https_url("mcp.example.com", 8443, &uri).as_deref(),
            Some("https://mcp.example.com:8443/mcp/x?a=1&b=%20")
        );
        assert_eq!(
            https_url("[2001:db8::1]:80", 443, &Uri::from_static("/")).as_deref(),
            Some("https://[2001:db8::1]/")
        );
    }
}
