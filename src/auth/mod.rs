//! Who is calling: access-token validation against the identity providers'
//! keys, producing the [`Principal`] that tools and logs see.
//!
//! Validation is strict (RFC 9068 / OAuth 2.1 §5.2): allow-listed
//! asymmetric algorithms only, exact issuer, an audience naming us, time
//! bounds with bounded leeway, required claims. A verified token is cached
//! until it expires (at most five minutes), so repeat calls cost a hash
//! lookup instead of a signature check.

pub mod discovery;
pub mod keys;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::config::auth::{AuthConfig, ClaimRule, ResolvedProvider, check_idp_url};
use discovery::Discovery;
use keys::KeySet;

/// Tokens larger than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
const CACHE_CAPACITY: usize = 4096;
const CACHE_TTL: Duration = Duration::from_secs(300);

/// The authenticated caller of a request, as established by the HTTP layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principal {
    /// Stable subject identifier (`sub`), used for audit and session binding.
    pub subject: String,
    /// OAuth client that obtained the token, when known.
    pub client_id: Option<String>,
    /// Human-readable name, when the token carries one.
    pub display_name: Option<String>,
    /// Token issuer; empty when authentication is off.
    pub issuer: String,
    /// Granted scopes, bare names as the IdP puts them in the token.
    pub scopes: BTreeSet<String>,
    /// Claims a tool may bind (email, tenant, groups …), as strings.
    pub claims: Map<String, Value>,
}

impl Principal {
    /// The principal used when authentication is disabled (loopback demo).
    pub fn anonymous() -> Self {
        Self {
            subject: "anonymous".to_owned(),
            ..Self::default()
        }
    }

    /// One shared anonymous principal, for requests that carry none.
    pub fn shared_anonymous() -> Arc<Self> {
        static ANON: std::sync::OnceLock<Arc<Principal>> = std::sync::OnceLock::new();
        Arc::clone(ANON.get_or_init(|| Arc::new(Principal::anonymous())))
    }

    pub fn has_scopes(&self, needed: &[String]) -> bool {
        needed.iter().all(|s| self.scopes.contains(s))
    }
}

/// Why a request was not authenticated. Descriptions are short, fixed
/// phrases: they reach clients in `WWW-Authenticate` and never echo a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token")]
    Missing,
    #[error("{description}")]
    InvalidRequest { description: &'static str },
    #[error("{description}")]
    InvalidToken {
        reason: &'static str,
        description: &'static str,
    },
    #[error("the token lacks required scopes")]
    InsufficientScope { needed: Vec<String> },
}

impl AuthError {
    /// Stable reason for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::InvalidRequest { .. } => "invalid_request",
            AuthError::InvalidToken { reason, .. } => reason,
            AuthError::InsufficientScope { .. } => "insufficient_scope",
        }
    }

    fn invalid(reason: &'static str, description: &'static str) -> Self {
        AuthError::InvalidToken {
            reason,
            description,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthStartError {
    #[error("auth.providers[{index}]: {message}")]
    Provider { index: usize, message: String },
}

/// One trusted identity provider, ready to validate.
pub struct Provider {
    pub resolved: ResolvedProvider,
    pub discovery: Option<Arc<Discovery>>,
    pub keys: Arc<KeySet>,
    algorithms: Vec<Algorithm>,
    verify_claims: Vec<ClaimRule>,
}

impl Provider {
    pub fn new(
        resolved: ResolvedProvider,
        discovery: Option<Arc<Discovery>>,
        keys: Arc<KeySet>,
        algorithms: Vec<Algorithm>,
        verify_claims: Vec<ClaimRule>,
    ) -> Self {
        Self {
            resolved,
            discovery,
            keys,
            algorithms,
            verify_claims,
        }
    }

    /// Scopes as clients must request them (with the profile's prefix).
    pub fn advertised_scopes(&self) -> Vec<String> {
        self.resolved
            .scopes
            .iter()
            .map(|s| format!("{}{s}", self.resolved.scope_prefix))
            .collect()
    }
}

struct Cached {
    principal: Arc<Principal>,
    expires_at: u64,
    stored: Instant,
}

pub struct Authenticator {
    providers: Vec<Provider>,
    leeway: u64,
    cache: Mutex<HashMap<String, Cached>>,
}

fn now_epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Authenticator {
    pub fn new(providers: Vec<Provider>, leeway_secs: u64) -> Self {
        Self {
            providers,
            leeway: leeway_secs,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Fetches every provider's discovery document and keys; fails with the
    /// provider index and the URL that did not answer.
    /// Fetches every provider's documents and keys and keeps them fresh
    /// until `stop` is cancelled.
    pub async fn start(
        config: &AuthConfig,
        stop: &CancellationToken,
    ) -> Result<Arc<Self>, AuthStartError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.http_timeout_secs))
            .user_agent(concat!("adb-mcp/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AuthStartError::Provider {
                index: 0,
                message: format!("cannot build HTTP client: {e}"),
            })?;
        let mut providers = Vec::with_capacity(config.providers.len());
        for (index, p) in config.providers.iter().enumerate() {
            let fail = |message: String| AuthStartError::Provider { index, message };
            let mut resolved = p.resolve().map_err(|(k, m)| fail(format!("{k}: {m}")))?;
            let discovery = match &resolved.discovery_url {
                Some(url) => {
                    check_idp_url(url, config.allow_insecure_http)
                        .map_err(|e| fail(e.to_string()))?;
                    let d = Discovery::fetch(url.clone(), client.clone())
                        .await
                        .map_err(|e| fail(e.to_string()))?;
                    discovery::spawn_refresh(
                        Arc::clone(&d),
                        Duration::from_secs(config.discovery_refresh_secs),
                        stop.clone(),
                    );
                    Some(d)
                }
                None => None,
            };
            if resolved.issuers.is_empty()
                && let Some(iss) = discovery.as_ref().and_then(|d| d.string("issuer"))
            {
                resolved.issuers.push(iss);
            }
            if resolved.jwks_uri.is_none() && p.jwks_file.is_none() && p.pem_files.is_empty() {
                resolved.jwks_uri = discovery.as_ref().and_then(|d| d.string("jwks_uri"));
            }
            let keys = if p.jwks_file.is_some() || !p.pem_files.is_empty() {
                KeySet::from_files(p.jwks_file.as_deref(), &p.pem_files)
                    .map_err(|e| fail(e.to_string()))?
            } else {
                let url = resolved
                    .jwks_uri
                    .clone()
                    .ok_or_else(|| fail("no jwks_uri configured or discovered".into()))?;
                check_idp_url(&url, config.allow_insecure_http).map_err(|e| fail(e.to_string()))?;
                let keys = KeySet::remote(
                    url,
                    client.clone(),
                    Duration::from_secs(config.jwks_refetch_interval_secs),
                )
                .await
                .map_err(|e| fail(e.to_string()))?;
                keys::spawn_refresh(
                    Arc::clone(&keys),
                    Duration::from_secs(config.jwks_refresh_secs),
                    stop.clone(),
                );
                keys
            };
            let algorithms = p
                .algorithms
                .iter()
                .map(|a| crate::config::auth::parse_algorithm(a))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|m| fail(format!("algorithms: {m}")))?;
            tracing::info!(
                index,
                issuers = ?resolved.issuers,
                audiences = ?resolved.audiences,
                keys = keys.current().len(),
                "trusting identity provider"
            );
            providers.push(Provider::new(
                resolved,
                discovery,
                keys,
                algorithms,
                p.verify_claims.clone(),
            ));
        }
        Ok(Arc::new(Self::new(providers, config.leeway_secs)))
    }

    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    /// Validates a bearer token and returns who it belongs to. Checks the
    /// provider's base scopes too (failure: `InsufficientScope`).
    pub async fn authenticate(&self, token: &str) -> Result<Arc<Principal>, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::invalid("too_large", "the token is too large"));
        }
        if let Some(p) = self.cached(token) {
            return Ok(p);
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthError::invalid("malformed", "the token is not a well-formed JWT"))?;
        if let Some(typ) = header.typ.as_deref() {
            let t = typ.to_ascii_lowercase();
            if !matches!(t.as_str(), "jwt" | "at+jwt" | "application/at+jwt") {
                return Err(AuthError::invalid(
                    "bad_typ",
                    "the token is not an access token (typ)",
                ));
            }
        }
        let issuer = unverified_issuer(token)
            .ok_or_else(|| AuthError::invalid("malformed", "the token has no issuer"))?;
        // Several providers may share an issuer (every Oracle IAM domain
        // signs as https://identity.oraclecloud.com/): try each in turn.
        let mut outcome = Err(AuthError::invalid(
            "untrusted_issuer",
            "the token issuer is not trusted",
        ));
        for provider in self
            .providers
            .iter()
            .filter(|p| p.resolved.issuers.contains(&issuer))
        {
            outcome = self.verify_with(provider, token, &header, &issuer).await;
            match &outcome {
                Err(AuthError::InvalidToken {
                    reason: "unknown_key" | "bad_signature" | "wrong_audience" | "bad_alg",
                    ..
                }) => continue,
                _ => break,
            }
        }
        let (principal, expires_at) = outcome?;
        self.store(token, Arc::clone(&principal), expires_at);
        Ok(principal)
    }

    async fn verify_with(
        &self,
        provider: &Provider,
        token: &str,
        header: &jsonwebtoken::Header,
        issuer: &str,
    ) -> Result<(Arc<Principal>, u64), AuthError> {
        if !provider.algorithms.contains(&header.alg) {
            return Err(AuthError::invalid(
                "bad_alg",
                "the token algorithm is not allowed",
            ));
        }
        let mut candidates = provider.keys.candidates(header.kid.as_deref(), header.alg);
        if candidates.is_empty() && provider.keys.refetch_for_unknown_kid().await {
            candidates = provider.keys.candidates(header.kid.as_deref(), header.alg);
        }
        if candidates.is_empty() {
            return Err(AuthError::invalid(
                "unknown_key",
                "the token was signed with an unknown key",
            ));
        }

        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&provider.resolved.issuers);
        validation.set_audience(&provider.resolved.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        let mut last = AuthError::invalid("bad_signature", "the token signature is invalid");
        let mut claims = None;
        for key in &candidates {
            match jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &validation) {
                Ok(data) => {
                    claims = Some(data.claims);
                    break;
                }
                Err(e) => {
                    last = map_jwt_error(&e);
                    if !matches!(
                        last,
                        AuthError::InvalidToken {
                            reason: "bad_signature",
                            ..
                        }
                    ) {
                        break;
                    }
                }
            }
        }
        let claims = claims.ok_or(last)?;
        for rule in &provider.verify_claims {
            check_claim(&claims, rule)?;
        }
        let principal = principal_from(&claims, issuer.to_owned())?;
        if !principal.has_scopes(&provider.resolved.scopes) {
            return Err(AuthError::InsufficientScope {
                needed: provider.resolved.scopes.clone(),
            });
        }
        let expires_at = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        Ok((Arc::new(principal), expires_at))
    }

    fn cached(&self, token: &str) -> Option<Arc<Principal>> {
        let mut cache = self.cache.lock().ok()?;
        let hit = cache.get(token)?;
        if hit.stored.elapsed() < CACHE_TTL
            && now_epoch() < hit.expires_at.saturating_add(self.leeway)
        {
            return Some(Arc::clone(&hit.principal));
        }
        cache.remove(token);
        None
    }

    fn store(&self, token: &str, principal: Arc<Principal>, expires_at: u64) {
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        if cache.len() >= CACHE_CAPACITY {
            let now = now_epoch();
            let leeway = self.leeway;
            cache.retain(|_, c| {
                c.stored.elapsed() < CACHE_TTL && now < c.expires_at.saturating_add(leeway)
            });
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(
            token.to_owned(),
            Cached {
                principal,
                expires_at,
                stored: Instant::now(),
            },
        );
    }
}

/// Reads `iss` without verifying, only to pick which provider's keys to use.
fn unverified_issuer(token: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    jsonwebtoken::dangerous::insecure_decode_claims::<Iss>(token)
        .ok()
        .and_then(|c| c.iss)
}

fn map_jwt_error(e: &jsonwebtoken::errors::Error) -> AuthError {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::ExpiredSignature => AuthError::invalid("expired", "the token has expired"),
        K::ImmatureSignature => AuthError::invalid("not_yet_valid", "the token is not valid yet"),
        K::InvalidIssuer => {
            AuthError::invalid("untrusted_issuer", "the token issuer is not trusted")
        }
        K::InvalidAudience => AuthError::invalid(
            "wrong_audience",
            "the token audience does not include this server",
        ),
        K::InvalidSignature => {
            AuthError::invalid("bad_signature", "the token signature is invalid")
        }
        K::InvalidAlgorithm | K::MissingAlgorithm | K::UnsupportedAlgorithm => {
            AuthError::invalid("bad_alg", "the token algorithm is not allowed")
        }
        K::MissingRequiredClaim(_) => AuthError::invalid(
            "missing_claim",
            "the token lacks a required claim (exp, iss, aud)",
        ),
        _ => AuthError::invalid("malformed", "the token is not a well-formed JWT"),
    }
}

fn claim_strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => s.split_whitespace().map(str::to_owned).collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        Value::Bool(b) => vec![b.to_string()],
        Value::Number(n) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

/// Claim values for exact matching: a string is one value (never split),
/// an array is its elements.
fn claim_values(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Value::Null => Vec::new(),
        other => vec![other.to_string()],
    }
}

fn check_claim(claims: &Map<String, Value>, rule: &ClaimRule) -> Result<(), AuthError> {
    match claims.get(&rule.key) {
        None if rule.required => Err(AuthError::invalid(
            "claim_mismatch",
            "the token lacks a claim this server requires",
        )),
        None => Ok(()),
        Some(v) => {
            let have = claim_values(v);
            if rule.values.is_empty() || have.iter().any(|h| rule.values.contains(h)) {
                Ok(())
            } else {
                Err(AuthError::invalid(
                    "claim_mismatch",
                    "a token claim does not have an allowed value",
                ))
            }
        }
    }
}

/// Claims not copied into the principal: token mechanics, not identity.
/// Everything else (email, tenant, groups, custom claims …) is kept so that
/// declarative tools can bind it (`from_claim`).
const UNEXPOSED_CLAIMS: &[&str] = &[
    "iss", "aud", "exp", "nbf", "iat", "jti", "scope", "scp", "cnf", "at_hash", "c_hash", "nonce",
];

fn principal_from(claims: &Map<String, Value>, issuer: String) -> Result<Principal, AuthError> {
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AuthError::invalid("missing_claim", "the token has no subject (sub)"))?
        .to_owned();
    let mut scopes = BTreeSet::new();
    for key in ["scope", "scp", "roles"] {
        if let Some(v) = claims.get(key) {
            scopes.extend(claim_strings(v));
        }
    }
    let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_owned);
    let client_id = text("client_id")
        .or_else(|| text("azp"))
        .or_else(|| text("appid"));
    let display_name = text("user_displayname")
        .or_else(|| text("name"))
        .or_else(|| text("preferred_username"));
    let exposed = claims
        .iter()
        .filter(|(k, _)| !UNEXPOSED_CLAIMS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Principal {
        subject,
        client_id,
        display_name,
        issuer,
        scopes,
        claims: exposed,
    })
}

/// Why a document could not be fetched from an identity provider.
#[derive(Debug)]
pub(crate) enum FetchError {
    Transport(String),
    Status(reqwest::StatusCode),
    NotJson(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Transport(m) => f.write_str(m),
            FetchError::Status(s) => write!(f, "HTTP {s}"),
            FetchError::NotJson(m) => write!(f, "not a JSON document: {m}"),
        }
    }
}

/// `e` and its causes on one line: reqwest's own message ("error sending
/// request") hides the part an operator needs (refused, DNS, certificate).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// GETs a JSON document (discovery, JWKS) from an identity provider.
pub(crate) async fn fetch_json(client: &reqwest::Client, url: &str) -> Result<Value, FetchError> {
    let response = client
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| FetchError::Transport(error_chain(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Status(status));
    }
    response
        .json()
        .await
        .map_err(|e| FetchError::NotJson(e.to_string()))
}

/// Runs `refresh` every `period` (first run after one period) until `stop`;
/// used to keep IdP documents and keys fresh.
pub(crate) fn spawn_periodic<F, Fut>(period: Duration, stop: CancellationToken, refresh: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.tick().await;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = refresh() => {}
            }
        }
    });
}
