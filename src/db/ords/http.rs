//! HTTPS to ORDS: one pooled client, bounded retries, bounded bodies, and
//! every failure turned into a short message a model (and an operator) can
//! act on. HTML error pages and response bodies are never echoed.

use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, USER_AGENT};
use reqwest::{Client, StatusCode};

use crate::config::ords::OrdsConfig;
use crate::db::{CallContext, DbError};

/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A response read in full (within `max_response_bytes`).
#[derive(Debug)]
pub(super) struct RawResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// HTML (an error page from a proxy, load balancer or login page).
    pub(super) fn is_html(&self) -> bool {
        let ct = self
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        ct.contains("html")
            || self
                .body
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                .is_some_and(|b| *b == b'<')
    }

    /// `message` (or `title`) of an ORDS JSON error document, clipped; never
    /// anything from an HTML body.
    pub(super) fn error_message(&self) -> Option<String> {
        if self.is_html() {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        let m = ["message", "error_description", "title", "error"]
            .iter()
            .find_map(|k| v.get(*k).and_then(|m| m.as_str()))?;
        Some(clip(m, 300))
    }
}

/// A server's text trimmed and clipped for an error message.
pub(super) fn clip(s: &str, max: usize) -> String {
    crate::db::text::clip(s.trim(), max)
}

/// The pooled client plus the retry and size policy (cheap to clone: the
/// connection pool is shared).
#[derive(Clone)]
pub(super) struct Http {
    client: Client,
    request_timeout: Duration,
    max_retries: u32,
    backoff: Duration,
    max_response_bytes: usize,
    /// `query.timeout_secs`, quoted when a call runs out of time.
    call_timeout: Duration,
}

impl Http {
    /// Builds the client: rustls with the public web roots plus `ca_file`,
    /// explicit or environment proxies, no redirects (ORDS answers
    /// directly; a redirect means a wrong URL or a login page), and SNI and
    /// `Host` always the configured host: nothing here overrides either.
    pub(super) fn new(cfg: &OrdsConfig, call_timeout: Duration) -> Result<Self, DbError> {
        let unavailable = |m: String| DbError::Unavailable(m);
        let mut headers = HeaderMap::new();
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("adb-mcp/", env!("CARGO_PKG_VERSION"))),
        );
        let mut builder = Client::builder()
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(cfg.connect_timeout_secs))
            .pool_idle_timeout(Duration::from_secs(90))
            .redirect(reqwest::redirect::Policy::none())
            .https_only(!cfg.allow_insecure_http);
        if let Some(path) = &cfg.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                unavailable(format!(
                    "cannot read ca_file {}: {}",
                    path.display(),
                    e.kind()
                ))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                unavailable(format!(
                    "ca_file {} holds no usable PEM certificate: {e}",
                    path.display()
                ))
            })?;
            builder = builder.tls_certs_merge(certs);
        }
        if let Some(proxy) = &cfg.proxy {
            let mut p = reqwest::Proxy::all(proxy)
                .map_err(|e| unavailable(format!("proxy `{proxy}` is not usable: {e}")))?;
            if let Some(user) = &cfg.proxy_username {
                let password = match &cfg.proxy_password {
                    Some(s) => s
                        .resolve()
                        .map_err(|e| unavailable(format!("database.ords.proxy_password: {e}")))?,
                    None => String::new(),
                };
                p = p.basic_auth(user, &password);
            }
            let no_proxy = match &cfg.no_proxy {
                Some(list) => reqwest::NoProxy::from_string(list),
                None => reqwest::NoProxy::from_env(),
            };
            builder = builder.proxy(p.no_proxy(no_proxy));
        }
        let client = builder.build().map_err(|e| {
            unavailable(format!(
                "cannot set up the HTTPS client for ORDS: {}",
                root_cause(&e)
            ))
        })?;
        Ok(Self {
            client,
            request_timeout: Duration::from_secs(cfg.request_timeout_secs),
            max_retries: cfg.max_retries,
            backoff: Duration::from_millis(cfg.retry_backoff_ms),
            max_response_bytes: cfg.max_response_bytes,
            call_timeout,
        })
    }

    /// POSTs `body` and reads the whole answer. Retries — with backoff,
    /// within the call's deadline — only when the request cannot have run
    /// (connection failed) or the gateway says so (502, 503, 504); every
    /// request we send is a read, so a retry cannot do anything twice.
    pub(super) async fn post(
        &self,
        url: &str,
        content_type: &'static str,
        authorization: Option<&HeaderValue>,
        body: Vec<u8>,
        ctx: &CallContext,
    ) -> Result<RawResponse, DbError> {
        self.post_capped(url, content_type, authorization, body, ctx)
            .await
            .map_err(PostError::into_db_error)
    }

    /// [`Http::post`], telling a response over `max_response_bytes` apart
    /// so a caller can ask for fewer rows instead of failing.
    pub(super) async fn post_capped(
        &self,
        url: &str,
        content_type: &'static str,
        authorization: Option<&HeaderValue>,
        body: Vec<u8>,
        ctx: &CallContext,
    ) -> Result<RawResponse, PostError> {
        let mut attempt = 0u32;
        loop {
            let remaining = ctx.deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(PostError::Db(DbError::Timeout(self.call_timeout.as_secs())));
            }
            let timeout = remaining.min(self.request_timeout);
            let mut req = self
                .client
                .post(url)
                .timeout(timeout)
                .header(CONTENT_TYPE, content_type)
                .header(ACCEPT, "application/json")
                .body(body.clone());
            if let Some(a) = authorization {
                req = req.header(AUTHORIZATION, a.clone());
            }
            let started = Instant::now();
            let outcome = tokio::select! {
                r = self.send(req) => r,
                () = ctx.cancel.cancelled() => return Err(PostError::Db(DbError::Cancelled)),
            };
            let retryable = match &outcome {
                Ok(r) => matches!(r.status.as_u16(), 502..=504),
                Err(e) => e.is_connect(),
            };
            tracing::debug!(
                url,
                attempt,
                status = outcome.as_ref().ok().map(|r| r.status.as_u16()),
                ms = started.elapsed().as_millis() as u64,
                "ORDS request"
            );
            if retryable && attempt < self.max_retries {
                let wait = self.backoff_for(attempt);
                if Instant::now() + wait < ctx.deadline {
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = ctx.cancel.cancelled() => return Err(PostError::Db(DbError::Cancelled)),
                    }
                    attempt += 1;
                    continue;
                }
            }
            return match outcome {
                Ok(r) => Ok(r),
                Err(SendError::TooLarge(max)) => Err(PostError::TooLarge(max)),
                Err(e) if e.is_timeout() => {
                    if timeout < remaining {
                        Err(PostError::Db(DbError::Unavailable(format!(
                            "ORDS did not answer within request_timeout_secs ({} s)",
                            self.request_timeout.as_secs()
                        ))))
                    } else {
                        Err(PostError::Db(DbError::Timeout(self.call_timeout.as_secs())))
                    }
                }
                Err(e) => Err(PostError::Db(e.into_db_error(url))),
            };
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<RawResponse, SendError> {
        let mut resp = req.send().await.map_err(SendError::Reqwest)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        if let Some(len) = resp.content_length()
            && len > self.max_response_bytes as u64
        {
            return Err(SendError::TooLarge(self.max_response_bytes));
        }
        // The buffer never holds more than the cap: reserved up front when
        // the length is announced, otherwise grown by doubling but never
        // beyond max_response_bytes (plain Vec growth could reach twice it).
        let max = self.max_response_bytes;
        let announced = resp.content_length().and_then(|l| usize::try_from(l).ok());
        let mut body = Vec::with_capacity(announced.unwrap_or(0).min(max));
        while let Some(chunk) = resp.chunk().await.map_err(SendError::Reqwest)? {
            let needed = body.len() + chunk.len();
            if needed > max {
                return Err(SendError::TooLarge(max));
            }
            if needed > body.capacity() {
                let target = body.capacity().saturating_mul(2).max(needed).min(max);
                body.reserve_exact(target - body.len());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(RawResponse {
            status,
            headers,
            body,
        })
    }

    /// Exponential, capped, with a little jitter so that many callers do
    /// not retry in lockstep.
    fn backoff_for(&self, attempt: u32) -> Duration {
        let base = self
            .backoff
            .saturating_mul(2u32.saturating_pow(attempt))
            .min(MAX_BACKOFF);
        let jitter = u64::from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
                % 1000,
        );
        base + base.mul_f64(jitter as f64 / 4000.0)
    }
}

enum SendError {
    Reqwest(reqwest::Error),
    TooLarge(usize),
}

/// Why a POST produced no response to read.
pub(super) enum PostError {
    /// The body exceeded `database.ords.max_response_bytes` (the limit).
    TooLarge(usize),
    Db(DbError),
}

impl PostError {
    pub(super) fn into_db_error(self) -> DbError {
        match self {
            PostError::TooLarge(max) => too_large(max),
            PostError::Db(e) => e,
        }
    }
}

/// The error for a response over the cap, naming the key that fired.
pub(super) fn too_large(max: usize) -> DbError {
    DbError::Unavailable(format!(
        "the ORDS response is larger than database.ords.max_response_bytes ({max} bytes); ask for fewer rows (max_rows) or fewer and narrower columns, or raise that limit"
    ))
}

impl SendError {
    fn is_connect(&self) -> bool {
        matches!(self, SendError::Reqwest(e) if e.is_connect())
    }

    fn is_timeout(&self) -> bool {
        matches!(self, SendError::Reqwest(e) if e.is_timeout())
    }

    fn into_db_error(self, url: &str) -> DbError {
        let host = url::Url::parse(url)
            .ok()
            .and_then(|u| {
                u.host_str().map(|h| {
                    format!(
                        "{h}{}",
                        u.port().map(|p| format!(":{p}")).unwrap_or_default()
                    )
                })
            })
            .unwrap_or_else(|| "ORDS".into());
        match self {
            SendError::TooLarge(max) => too_large(max),
            SendError::Reqwest(e) if e.is_connect() => DbError::Unavailable(format!(
                "cannot connect to ORDS at {host}: {}",
                root_cause(&e)
            )),
            SendError::Reqwest(e) => DbError::Unavailable(format!(
                "request to ORDS at {host} failed: {}",
                root_cause(&e)
            )),
        }
    }
}

/// The innermost cause ("Connection refused (os error 111)", "invalid peer
/// certificate: UnknownIssuer"), which is what an operator needs; URLs and
/// wrappers are left out.
pub(super) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    clip(&cur.to_string(), 200)
}
