//! Credentials adb-mcp presents to ORDS — its own, never the MCP caller's:
//! forwarding the caller's token would be token passthrough, which the MCP
//! specification forbids, and ORDS would not accept it anyway.
//!
//! OAuth2 client credentials use the `oauth2` crate for the token request
//! and response handling. Its default HTTP client is reqwest 0.12; we turn
//! that off and plug in our own reqwest 0.13 client through the crate's
//! `AsyncHttpClient` function hook, so the token request goes through the
//! same proxy, CA bundle, retries and limits as every ORDS request and the
//! build carries one HTTP stack, not two.

use std::time::{Duration, Instant};

use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{AuthType, ClientId, ClientSecret, RequestTokenError, TokenResponse, TokenUrl};
use reqwest::header::HeaderValue;
use tokio::sync::Mutex;

use super::http::{Http, clip};
use crate::config::Secret;
use crate::config::ords::OrdsAuth;
use crate::db::{CallContext, DbError};

/// Assumed lifetime when the token response has no `expires_in`.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);

pub(super) enum Credentials {
    Basic(HeaderValue),
    /// A token from elsewhere; the secret is read again after a 401 in
    /// case it was rotated (a file updated by a sidecar, say).
    Bearer {
        secret: Secret,
        current: std::sync::RwLock<HeaderValue>,
    },
    OAuthClient(TokenSource),
}

/// Client-credentials tokens, cached until shortly before they expire.
/// The async mutex makes refresh single-flight: concurrent callers queue on
/// it and find the token the first one fetched.
pub(super) struct TokenSource {
    client_id: String,
    client_secret: Secret,
    token_url: String,
    skew: Duration,
    cache: Mutex<Option<CachedToken>>,
}

struct CachedToken {
    header: HeaderValue,
    refresh_at: Instant,
}

fn sensitive(value: &str) -> Result<HeaderValue, DbError> {
    let mut h = HeaderValue::from_str(value).map_err(|_| {
        DbError::Unavailable(
            "the ORDS credential contains characters not allowed in an HTTP header".into(),
        )
    })?;
    h.set_sensitive(true);
    Ok(h)
}

fn secret_value(key: &str, s: &Secret) -> Result<String, DbError> {
    s.resolve()
        .map_err(|e| DbError::Unavailable(format!("database.ords.{key}: {e}")))
}

impl Credentials {
    pub(super) fn new(
        auth: &OrdsAuth,
        default_token_url: String,
        skew: Duration,
    ) -> Result<Self, DbError> {
        use base64::Engine as _;
        Ok(match auth {
            OrdsAuth::Basic { username, password } => {
                let pw = secret_value("auth.password", password)?;
                let encoded =
                    base64::engine::general_purpose::STANDARD.encode(format!("{username}:{pw}"));
                Credentials::Basic(sensitive(&format!("Basic {encoded}"))?)
            }
            OrdsAuth::Bearer { token } => {
                let t = secret_value("auth.token", token)?;
                Credentials::Bearer {
                    secret: token.clone(),
                    current: std::sync::RwLock::new(sensitive(&format!("Bearer {t}"))?),
                }
            }
            OrdsAuth::ClientCredentials {
                client_id,
                client_secret,
                token_url,
            } => {
                secret_value("auth.client_secret", client_secret)?;
                Credentials::OAuthClient(TokenSource {
                    client_id: client_id.clone(),
                    client_secret: client_secret.clone(),
                    token_url: token_url.clone().unwrap_or(default_token_url),
                    skew,
                    cache: Mutex::new(None),
                })
            }
        })
    }

    /// The `Authorization` value to send now (fetching a token if needed).
    pub(super) async fn header(
        &self,
        http: &Http,
        ctx: &CallContext,
    ) -> Result<HeaderValue, DbError> {
        match self {
            Credentials::Basic(h) => Ok(h.clone()),
            Credentials::Bearer { current, .. } => current
                .read()
                .map(|h| h.clone())
                .map_err(|_| DbError::Internal("bearer token lock poisoned".into())),
            Credentials::OAuthClient(src) => src.token(http, ctx).await,
        }
    }

    /// After a 401 with `failed`: drops it and says whether a retry with
    /// fresh credentials is worth it (never for Basic).
    pub(super) async fn invalidate(&self, failed: &HeaderValue) -> bool {
        match self {
            Credentials::Basic(_) => false,
            Credentials::Bearer { secret, current } => {
                let Ok(t) = secret.resolve() else {
                    return false;
                };
                let Ok(fresh) = sensitive(&format!("Bearer {t}")) else {
                    return false;
                };
                if fresh == *failed {
                    return false;
                }
                if let Ok(mut cur) = current.write() {
                    *cur = fresh;
                }
                true
            }
            Credentials::OAuthClient(src) => {
                let mut cache = src.cache.lock().await;
                // Only the caller holding the stale token clears it; others
                // that raced here find a fresh one already and just retry.
                if cache.as_ref().is_some_and(|c| c.header == *failed) {
                    *cache = None;
                }
                true
            }
        }
    }

    pub(super) fn kind(&self) -> &'static str {
        match self {
            Credentials::Basic(_) => "basic",
            Credentials::Bearer { .. } => "bearer",
            Credentials::OAuthClient(_) => "client_credentials",
        }
    }
}

impl TokenSource {
    async fn token(&self, http: &Http, ctx: &CallContext) -> Result<HeaderValue, DbError> {
        let mut cache = tokio::select! {
            c = self.cache.lock() => c,
            () = ctx.cancel.cancelled() => return Err(DbError::Cancelled),
        };
        if let Some(c) = cache.as_ref()
            && Instant::now() < c.refresh_at
        {
            return Ok(c.header.clone());
        }
        let (token, lifetime) = self.fetch(http, ctx).await?;
        let header = sensitive(&format!("Bearer {token}"))?;
        // Renew `skew` before expiry; very short-lived tokens at half-life.
        let early = if lifetime > self.skew * 2 {
            self.skew
        } else {
            lifetime / 2
        };
        *cache = Some(CachedToken {
            header: header.clone(),
            refresh_at: Instant::now() + lifetime.saturating_sub(early),
        });
        Ok(header)
    }

    async fn fetch(&self, http: &Http, ctx: &CallContext) -> Result<(String, Duration), DbError> {
        let secret = secret_value("auth.client_secret", &self.client_secret)?;
        let token_url = TokenUrl::new(self.token_url.clone()).map_err(|e| {
            DbError::Unavailable(format!("database.ords.auth.token_url is not a URL: {e}"))
        })?;
        let client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(secret))
            .set_token_uri(token_url)
            .set_auth_type(AuthType::BasicAuth);
        let send = OAuthHttp {
            http: http.clone(),
            ctx: ctx.clone(),
        };
        let result = client
            .exchange_client_credentials()
            .request_async(&send)
            .await;
        let token = result.map_err(|e| match e {
            RequestTokenError::Request(TokenHttpError(db)) => db,
            RequestTokenError::ServerResponse(r) => {
                let what = match r.error() {
                    BasicErrorResponseType::InvalidClient => "invalid_client (wrong client_id or client_secret, or the client is not registered in this schema)".to_owned(),
                    BasicErrorResponseType::UnauthorizedClient => "unauthorized_client (the client may not use the client_credentials grant)".to_owned(),
                    other => other.to_string(),
                };
                let detail = r
                    .error_description()
                    .map(|d| format!(": {}", clip(d, 200)))
                    .unwrap_or_default();
                DbError::Unavailable(format!(
                    "the ORDS token endpoint refused the client credentials: {what}{detail}"
                ))
            }
            RequestTokenError::Parse(_, _) => DbError::Unavailable(
                "the ORDS token endpoint returned a response that is not an OAuth token (check base_url, schema_alias or auth.token_url)".into(),
            ),
            RequestTokenError::Other(m) => DbError::Unavailable(format!(
                "the ORDS token endpoint failed: {}",
                clip(&m, 200)
            )),
        })?;
        let lifetime = token.expires_in().unwrap_or(DEFAULT_TOKEN_LIFETIME);
        tracing::debug!(
            lifetime_secs = lifetime.as_secs(),
            "fetched an ORDS OAuth token"
        );
        Ok((token.access_token().secret().clone(), lifetime))
    }

    /// The oauth2 crate's HTTP hook: our client, our retries and limits.
    /// Statuses other than the OAuth error codes (400/401) become our own
    /// messages, so a 404 says "alias not REST-enabled" rather than "parse
    /// error".
    async fn send(
        http: &Http,
        req: oauth2::HttpRequest,
        ctx: &CallContext,
    ) -> Result<oauth2::HttpResponse, TokenHttpError> {
        let auth = req
            .headers()
            .get(reqwest::header::AUTHORIZATION)
            .cloned()
            .map(|mut h| {
                h.set_sensitive(true);
                h
            });
        let url = req.uri().to_string();
        let resp = http
            .post(
                &url,
                "application/x-www-form-urlencoded",
                auth.as_ref(),
                req.into_body(),
                ctx,
            )
            .await
            .map_err(TokenHttpError)?;
        match resp.status.as_u16() {
            200 | 400 | 401 if !resp.is_html() && !resp.body.is_empty() => {}
            401 => {
                return Err(TokenHttpError(DbError::Unavailable(
                    "the ORDS token endpoint refused the client credentials (401): check auth.client_id and auth.client_secret".into(),
                )));
            }
            404 => {
                return Err(TokenHttpError(DbError::Unavailable(format!(
                    "the ORDS token endpoint {url} does not exist (404): check schema_alias, that the schema is REST-enabled, or set auth.token_url"
                ))));
            }
            status => {
                return Err(TokenHttpError(DbError::Unavailable(format!(
                    "the ORDS token endpoint answered {status}{}",
                    if resp.is_html() {
                        " with an HTML page"
                    } else {
                        ""
                    }
                ))));
            }
        }
        let mut builder = http::Response::builder().status(resp.status.as_u16());
        for (k, v) in &resp.headers {
            builder = builder.header(k.as_str(), v.as_bytes());
        }
        builder
            .body(resp.body)
            .map_err(|e| TokenHttpError(DbError::Internal(format!("token response: {e}"))))
    }
}

/// The oauth2 crate's HTTP client hook, bound to one call's context. A
/// named type rather than a closure so the future is plainly `Send`.
struct OAuthHttp {
    http: Http,
    ctx: CallContext,
}

type TokenFuture<'c> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<oauth2::HttpResponse, TokenHttpError>> + Send + 'c>,
>;

impl<'c> oauth2::AsyncHttpClient<'c> for OAuthHttp {
    type Error = TokenHttpError;
    type Future = TokenFuture<'c>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(TokenSource::send(&self.http, request, &self.ctx))
    }
}

/// Carries our error through the oauth2 crate unchanged.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct TokenHttpError(DbError);
