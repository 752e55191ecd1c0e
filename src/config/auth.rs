//! `[auth]`: the OAuth resource-server settings. Profiles turn the common
//! identity providers into a few lines of config; everything they imply can
//! still be overridden per provider.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Algorithms accepted unless a provider narrows the list. Never `none`,
/// never HMAC: a JWKS holds public keys, and HMAC with a public key is the
/// classic forgery.
pub const DEFAULT_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
];

/// Oracle IAM signs with this issuer whatever the domain URL is.
pub const ORACLE_IAM_ISSUER: &str = "https://identity.oraclecloud.com/";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Require OAuth bearer tokens on /mcp. Off only for loopback binds.
    pub enabled: bool,
    /// The MCP endpoint's public URL, exactly as users type it in clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    pub metadata: MetadataMode,
    /// Serve `GET /authorize` and `POST /token` on our origin, forwarding to
    /// the IdP, for clients that synthesize endpoints on the MCP origin.
    pub compat_routes: bool,
    /// Permit `http://` IdP URLs when they point at loopback (tests, dev).
    pub allow_insecure_http: bool,
    pub resource_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_documentation: Option<String>,
    pub leeway_secs: u64,
    pub jwks_refresh_secs: u64,
    /// An unknown `kid` triggers at most one JWKS refetch per this interval.
    pub jwks_refetch_interval_secs: u64,
    pub discovery_refresh_secs: u64,
    pub http_timeout_secs: u64,
    /// Extra scopes (bare names) a tool needs on top of the provider's
    /// `scopes`; callers without them do not see the tool.
    pub tool_scopes: BTreeMap<String, Vec<String>>,
    pub providers: Vec<ProviderConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            resource: None,
            metadata: MetadataMode::Shim,
            compat_routes: false,
            allow_insecure_http: false,
            resource_name: "adb-mcp".to_owned(),
            resource_documentation: None,
            leeway_secs: 60,
            jwks_refresh_secs: 3600,
            jwks_refetch_interval_secs: 60,
            discovery_refresh_secs: 3600,
            http_timeout_secs: 10,
            tool_scopes: BTreeMap::new(),
            providers: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetadataMode {
    /// Our origin serves authorization-server metadata built from the IdP's
    /// discovery document (fixes Oracle IAM's issuer and missing PKCE list).
    Shim,
    /// Protected-resource metadata points straight at the IdP's issuer.
    Direct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProfileKind {
    Generic,
    OracleIam,
    Entra,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimRule {
    pub key: String,
    pub values: Vec<String>,
    #[serde(default = "yes")]
    pub required: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub profile: ProfileKind,
    /// OIDC discovery document (generic); derived for oracle-iam and entra.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_url: Option<String>,
    /// Oracle IAM identity domain URL, `https://idcs-….identity.oraclecloud.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_url: Option<String>,
    /// Entra ID tenant (directory) GUID; tokens name it in `iss`, so a
    /// domain name would never match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Accepted `iss` values, exact match. Default: from the profile or discovery.
    #[serde(default)]
    pub issuers: Vec<String>,
    /// Accepted `aud` values; a token is accepted if any of its audiences is listed.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Scopes (bare names, as in the token) every request needs.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Prepended to scope names when advertising them to clients (Oracle IAM
    /// primary audience, Entra `api://…/`). Default: from the profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// A JWK set file used instead of fetching keys (IdPs whose JWKS is not public).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_file: Option<PathBuf>,
    /// PEM public keys used instead of fetching keys; the file stem is the `kid`.
    #[serde(default)]
    pub pem_files: Vec<PathBuf>,
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// Like OCI API Gateway's `verifyClaims`: exact string matches.
    #[serde(default)]
    pub verify_claims: Vec<ClaimRule>,
}

fn default_algorithms() -> Vec<String> {
    DEFAULT_ALGORITHMS.iter().map(|s| (*s).to_owned()).collect()
}

/// A provider with its profile applied: the concrete URLs and rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedProvider {
    pub discovery_url: Option<String>,
    pub jwks_uri: Option<String>,
    pub issuers: Vec<String>,
    pub audiences: Vec<String>,
    pub scopes: Vec<String>,
    pub scope_prefix: String,
}

fn trim_slash(s: &str) -> &str {
    s.trim_end_matches('/')
}

impl ProviderConfig {
    /// Applies the profile's defaults. Errors name the missing key.
    pub fn resolve(&self) -> Result<ResolvedProvider, (&'static str, String)> {
        let mut r = ResolvedProvider {
            discovery_url: self.discovery_url.clone(),
            jwks_uri: self.jwks_uri.clone(),
            issuers: self.issuers.clone(),
            audiences: self.audiences.clone(),
            scopes: self.scopes.clone(),
            scope_prefix: self.scope_prefix.clone().unwrap_or_default(),
        };
        match self.profile {
            ProfileKind::Generic => {
                if r.discovery_url.is_none() && (r.issuers.is_empty() || !self.has_keys_source()) {
                    return Err((
                        "discovery_url",
                        "the generic profile needs discovery_url, or issuers plus jwks_uri/jwks_file/pem_files".into(),
                    ));
                }
            }
            ProfileKind::OracleIam => {
                let domain = self.domain_url.as_deref().ok_or((
                    "domain_url",
                    "the oracle-iam profile needs domain_url (https://idcs-<id>.identity.oraclecloud.com)".to_owned(),
                ))?;
                let domain = trim_slash(domain);
                r.discovery_url
                    .get_or_insert_with(|| format!("{domain}/.well-known/openid-configuration"));
                r.jwks_uri
                    .get_or_insert_with(|| format!("{domain}/admin/v1/SigningCert/jwk"));
                if r.issuers.is_empty() {
                    r.issuers.push(ORACLE_IAM_ISSUER.to_owned());
                }
                if self.scope_prefix.is_none()
                    && let Some(primary) = r.audiences.first()
                {
                    r.scope_prefix = primary.clone();
                }
            }
            ProfileKind::Entra => {
                let tenant = self.tenant_id.as_deref().ok_or((
                    "tenant_id",
                    "the entra profile needs tenant_id (directory GUID)".to_owned(),
                ))?;
                let login = "https://login.microsoftonline.com";
                r.discovery_url.get_or_insert_with(|| {
                    format!("{login}/{tenant}/v2.0/.well-known/openid-configuration")
                });
                r.jwks_uri
                    .get_or_insert_with(|| format!("{login}/{tenant}/discovery/v2.0/keys"));
                if r.issuers.is_empty() {
                    r.issuers.push(format!("https://sts.windows.net/{tenant}/"));
                    r.issuers.push(format!("{login}/{tenant}/v2.0"));
                }
                if self.scope_prefix.is_none()
                    && let Some(uri) = r.audiences.iter().find(|a| a.starts_with("api://"))
                {
                    r.scope_prefix = format!("{}/", trim_slash(uri));
                }
            }
        }
        if r.audiences.is_empty() {
            return Err((
                "audiences",
                "list the audience values this server accepts (RFC 8707: tokens for other resources must be rejected)".into(),
            ));
        }
        Ok(r)
    }

    fn has_keys_source(&self) -> bool {
        self.jwks_uri.is_some() || self.jwks_file.is_some() || !self.pem_files.is_empty()
    }
}

/// `localhost`, or a loopback IP literal (IPv6 with or without brackets).
pub fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Why a configured URL (identity provider, ORDS) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("`{url}` is not a URL: {reason}")]
    Malformed { url: String, reason: String },
    #[error("`{0}` is not an http(s) URL")]
    NotHttp(String),
    #[error("`{url}`: unsupported scheme {scheme}")]
    Scheme { url: String, scheme: String },
    #[error("`{0}` has no host")]
    NoHost(String),
    #[error("`{url}` must {hint}")]
    Insecure { url: String, hint: &'static str },
    #[error("`{0}` must not have a query, fragment or user name")]
    Extras(String),
    #[error("`{0}` must not have a query or fragment")]
    QueryOrFragment(String),
}

/// Checks an IdP URL: https, or http to loopback when explicitly allowed.
pub fn check_idp_url(url: &str, allow_insecure_http: bool) -> Result<(), UrlError> {
    if let Some(rest) = url.strip_prefix("https://") {
        return if rest.is_empty() {
            Err(UrlError::NoHost(url.to_owned()))
        } else {
            Ok(())
        };
    }
    if let Some(rest) = url.strip_prefix("http://") {
        let host = authority_host(rest);
        let loopback = is_loopback_host(host);
        if allow_insecure_http && loopback {
            return Ok(());
        }
        return Err(UrlError::Insecure {
            url: url.to_owned(),
            hint: "use https:// (http:// is only accepted for loopback hosts with auth.allow_insecure_http = true)",
        });
    }
    Err(UrlError::NotHttp(url.to_owned()))
}

/// The host part of `host[:port][/path]` (IPv6 literals keep their brackets).
pub fn authority_host(rest: &str) -> &str {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.starts_with('[') {
        return authority
            .split(']')
            .next()
            .map_or(authority, |h| &authority[..h.len() + 1]);
    }
    authority.split(':').next().unwrap_or(authority)
}

/// Parses an algorithm name from config, refusing `none` and HMAC: tokens
/// are verified only with keys the identity provider publishes.
pub fn parse_algorithm(name: &str) -> Result<jsonwebtoken::Algorithm, AlgorithmError> {
    use jsonwebtoken::Algorithm;
    let alg: Algorithm = name
        .parse()
        .map_err(|_| AlgorithmError::Unknown(name.to_owned()))?;
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
            Err(AlgorithmError::Symmetric(name.to_owned()))
        }
        other => Ok(other),
    }
}

/// Why an entry of `auth.providers[].algorithms` is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlgorithmError {
    #[error("unknown algorithm `{0}`")]
    Unknown(String),
    #[error(
        "`{0}` is an HMAC algorithm; only asymmetric algorithms can be verified with published keys"
    )]
    Symmetric(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(profile: ProfileKind) -> ProviderConfig {
        ProviderConfig {
            profile,
            discovery_url: None,
            domain_url: None,
            tenant_id: None,
            issuers: vec![],
            audiences: vec![],
            scopes: vec![],
            scope_prefix: None,
            jwks_uri: None,
            jwks_file: None,
            pem_files: vec![],
            algorithms: default_algorithms(),
            verify_claims: vec![],
        }
    }

    #[test]
    fn oracle_iam_profile_fills_in_the_quirks() {
        let mut p = provider(ProfileKind::OracleIam);
        p.domain_url = Some("https://idcs-abc.identity.oraclecloud.com:443/".into());
        p.audiences = vec!["https://mcp.example.com/".into()];
        p.scopes = vec!["mcp.tools".into()];
        let r = p.resolve().expect("resolves");
        assert_eq!(
            r.discovery_url.as_deref(),
            Some("https://idcs-abc.identity.oraclecloud.com:443/.well-known/openid-configuration")
        );
        assert_eq!(
            r.jwks_uri.as_deref(),
            Some("https://idcs-abc.identity.oraclecloud.com:443/admin/v1/SigningCert/jwk")
        );
        assert_eq!(r.issuers, vec!["https://identity.oraclecloud.com/"]);
        assert_eq!(r.scope_prefix, "https://mcp.example.com/");
    }

    #[test]
    fn entra_profile_trusts_both_token_versions() {
        let mut p = provider(ProfileKind::Entra);
        p.tenant_id = Some("t1".into());
        p.audiences = vec!["api://app-1".into(), "1111".into()];
        let r = p.resolve().expect("resolves");
        assert_eq!(
            r.issuers,
            vec![
                "https://sts.windows.net/t1/",
                "https://login.microsoftonline.com/t1/v2.0"
            ]
        );
        assert_eq!(r.scope_prefix, "api://app-1/");
    }

    #[test]
    fn missing_profile_keys_are_named() {
        assert_eq!(
            provider(ProfileKind::OracleIam)
                .resolve()
                .err()
                .map(|e| e.0),
            Some("domain_url")
        );
        assert_eq!(
            provider(ProfileKind::Entra).resolve().err().map(|e| e.0),
            Some("tenant_id")
        );
        assert_eq!(
            provider(ProfileKind::Generic).resolve().err().map(|e| e.0),
            Some("discovery_url")
        );
        let mut p = provider(ProfileKind::Generic);
        p.discovery_url = Some("https://idp/.well-known/openid-configuration".into());
        assert_eq!(p.resolve().err().map(|e| e.0), Some("audiences"));
    }

    #[test]
    fn idp_urls_must_be_https_unless_loopback_and_allowed() {
        assert!(check_idp_url("https://idp.example.com/x", false).is_ok());
        assert!(check_idp_url("http://idp.example.com/x", true).is_err());
        assert!(check_idp_url("http://127.0.0.1:9/x", false).is_err());
        assert!(check_idp_url("http://127.0.0.1:9/x", true).is_ok());
        assert!(check_idp_url("http://[::1]:9/x", true).is_ok());
        assert!(check_idp_url("http://localhost/x", true).is_ok());
        assert!(check_idp_url("ftp://x", true).is_err());
    }
}
