//! `[database.ords]`: the ORDS REST-enabled SQL backend.
//!
//! ```toml
//! [database]
//! backend = "ords"
//!
//! [database.ords]
//! base_url = "https://abc123-mydb.adb.eu-frankfurt-1.oraclecloudapps.com"
//! schema_alias = "app_ro"
//!
//! [database.ords.auth]
//! method = "basic"                       # or "client_credentials", "bearer"
//! username = "APP_RO"
//! password = { env = "ORDS_PASSWORD" }
//! ```

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::auth::UrlError;
use super::{FieldError, Secret};

/// ORDS base URL, schema alias and how we authenticate to ORDS.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrdsConfig {
    /// Origin of the ORDS server (scheme, host, optional port and path
    /// prefix) without `/ords`: requests go to `{base_url}/ords/{alias}/_/sql`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The schema's URL mapping pattern (`ORDS.ENABLE_SCHEMA(p_url_mapping_pattern => …)`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_alias: Option<String>,
    /// Explicit HTTPS proxy (`http://proxy:3128`). Unset: `HTTPS_PROXY`,
    /// `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` from the environment apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_password: Option<Secret>,
    /// Hosts that bypass the explicit `proxy` (same syntax as `NO_PROXY`);
    /// unset: `NO_PROXY` from the environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_proxy: Option<String>,
    /// Extra trusted CA certificates (PEM), for ORDS behind a private CA.
    /// The public web roots stay trusted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    pub connect_timeout_secs: u64,
    /// Upper bound for one HTTP request; the call's own deadline
    /// (`query.timeout_secs`) applies too, whichever is sooner.
    pub request_timeout_secs: u64,
    /// Retries after a connection failure or a 502/503/504, with
    /// exponential backoff starting at `retry_backoff_ms`.
    pub max_retries: u32,
    pub retry_backoff_ms: u64,
    /// Largest ORDS response body accepted. The body is held whole while
    /// its rows are converted, so this bounds one call's memory: about
    /// this much plus the result budget (`query.max_result_bytes`), times
    /// the calls running at once. A page over it is asked again for fewer
    /// rows.
    pub max_response_bytes: usize,
    /// OAuth tokens are renewed this long before they expire.
    pub token_refresh_skew_secs: u64,
    /// Accept `http://` for a loopback `base_url` (tests, local ORDS).
    pub allow_insecure_http: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<OrdsAuth>,
    /// Shorthand for `[database.ords.auth] method = "basic"`, flat so that
    /// one environment variable per value works (the Claude Desktop bundle).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
}

impl Default for OrdsConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            schema_alias: None,
            proxy: None,
            proxy_username: None,
            proxy_password: None,
            no_proxy: None,
            ca_file: None,
            connect_timeout_secs: 10,
            request_timeout_secs: 60,
            max_retries: 2,
            retry_backoff_ms: 250,
            max_response_bytes: 4 * 1024 * 1024,
            token_refresh_skew_secs: 60,
            allow_insecure_http: false,
            auth: None,
            user: None,
            password: None,
        }
    }
}

/// How adb-mcp authenticates to ORDS. Never with the MCP caller's token:
/// forwarding it would be token passthrough, which the MCP spec forbids.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum OrdsAuth {
    /// The REST-enabled schema's database user and password.
    Basic { username: String, password: Secret },
    /// An ORDS OAuth client; tokens from `{base_url}/ords/{alias}/oauth/token`.
    ClientCredentials {
        client_id: String,
        client_secret: Secret,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_url: Option<String>,
    },
    /// A bearer token obtained elsewhere (re-read after a 401).
    Bearer { token: Secret },
}

impl OrdsConfig {
    /// The credentials to use: `[database.ords.auth]`, or Basic from the
    /// flat `user`/`password` shorthand.
    pub fn effective_auth(&self) -> Option<OrdsAuth> {
        match (&self.auth, &self.user, &self.password) {
            (Some(auth), _, _) => Some(auth.clone()),
            (None, Some(user), Some(password)) => Some(OrdsAuth::Basic {
                username: user.clone(),
                password: password.clone(),
            }),
            _ => None,
        }
    }

    /// Checks this section alone; keys in errors are relative to it.
    pub fn validate(&self) -> Result<(), FieldError> {
        let base = self.base_url.as_deref().ok_or_else(|| {
            FieldError::new(
                "base_url",
                "required with database.backend = \"ords\": the ORDS origin, e.g. https://<id>-<db>.adb.<region>.oraclecloudapps.com",
            )
        })?;
        check_url(base, self.allow_insecure_http)
            .map_err(|e| FieldError::new("base_url", e.to_string()))?;
        if base.trim_end_matches('/').ends_with("/ords") {
            return Err(FieldError::new(
                "base_url",
                format!(
                    "`{base}` ends with /ords; give the origin only (adb-mcp appends /ords/<schema_alias>/_/sql)"
                ),
            ));
        }
        let alias = self.schema_alias.as_deref().ok_or_else(|| {
            FieldError::new(
                "schema_alias",
                "required with database.backend = \"ords\": the REST-enabled schema's URL alias (ORDS.ENABLE_SCHEMA p_url_mapping_pattern)",
            )
        })?;
        if alias.is_empty()
            || !alias
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'$' | b'#' | b'.'))
        {
            return Err(FieldError::new(
                "schema_alias",
                format!("`{alias}` is not a schema alias (letters, digits, _ - $ # . only)"),
            ));
        }
        if self.auth.is_some() && (self.user.is_some() || self.password.is_some()) {
            return Err(FieldError::new(
                if self.user.is_some() {
                    "user"
                } else {
                    "password"
                },
                "user and password are a shorthand for [database.ords.auth] method = \"basic\"; set one or the other, not both",
            ));
        }
        if self.user.is_some() != self.password.is_some() {
            return Err(FieldError::new(
                if self.user.is_some() {
                    "password"
                } else {
                    "user"
                },
                "user and password go together (Basic authentication to ORDS)",
            ));
        }
        let shorthand = self.user.is_some();
        match &self.effective_auth() {
            Some(OrdsAuth::Basic { username, password }) if shorthand => {
                if username.trim().is_empty() {
                    return Err(FieldError::new("user", "must not be empty"));
                }
                resolve("password", password)?;
            }
            None => {
                return Err(FieldError::new(
                    "auth",
                    "required: add [database.ords.auth] with method = \"basic\", \"client_credentials\" or \"bearer\"",
                ));
            }
            Some(OrdsAuth::Basic { username, password }) => {
                if username.trim().is_empty() {
                    return Err(FieldError::new("auth.username", "must not be empty"));
                }
                resolve("auth.password", password)?;
            }
            Some(OrdsAuth::ClientCredentials {
                client_id,
                client_secret,
                token_url,
            }) => {
                if client_id.trim().is_empty() {
                    return Err(FieldError::new("auth.client_id", "must not be empty"));
                }
                resolve("auth.client_secret", client_secret)?;
                if let Some(url) = token_url {
                    check_url(url, self.allow_insecure_http)
                        .map_err(|e| FieldError::new("auth.token_url", e.to_string()))?;
                }
            }
            Some(OrdsAuth::Bearer { token }) => resolve("auth.token", token)?,
        }
        if let Some(proxy) = &self.proxy {
            let url = url::Url::parse(proxy)
                .map_err(|e| FieldError::new("proxy", format!("`{proxy}` is not a URL: {e}")))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(FieldError::new(
                    "proxy",
                    format!("`{proxy}` must be http://host:port or https://host:port"),
                ));
            }
            if !url.username().is_empty() || url.password().is_some() {
                return Err(FieldError::new(
                    "proxy",
                    "put proxy credentials in proxy_username / proxy_password, not in the URL (it is printed by check-config)",
                ));
            }
        }
        if self.proxy_password.is_some() && self.proxy_username.is_none() {
            return Err(FieldError::new(
                "proxy_username",
                "required with proxy_password",
            ));
        }
        if (self.proxy_username.is_some() || self.no_proxy.is_some()) && self.proxy.is_none() {
            let key = if self.proxy_username.is_some() {
                "proxy_username"
            } else {
                "no_proxy"
            };
            return Err(FieldError::new(
                key,
                "only applies to an explicit proxy; set proxy too (or use the NO_PROXY environment variable)",
            ));
        }
        if let Some(p) = &self.proxy_password {
            resolve("proxy_password", p)?;
        }
        if let Some(path) = &self.ca_file {
            let pem = std::fs::read_to_string(path).map_err(|e| {
                FieldError::new(
                    "ca_file",
                    format!("cannot read {}: {}", path.display(), e.kind()),
                )
            })?;
            if !pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err(FieldError::new(
                    "ca_file",
                    format!(
                        "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                        path.display()
                    ),
                ));
            }
        }
        let ranges: [(&str, u64, u64, u64); 6] = [
            ("connect_timeout_secs", self.connect_timeout_secs, 1, 300),
            ("request_timeout_secs", self.request_timeout_secs, 1, 3600),
            ("max_retries", u64::from(self.max_retries), 0, 10),
            ("retry_backoff_ms", self.retry_backoff_ms, 10, 60_000),
            (
                "max_response_bytes",
                u64::try_from(self.max_response_bytes).unwrap_or(u64::MAX),
                1024 * 1024,
                1024 * 1024 * 1024,
            ),
            (
                "token_refresh_skew_secs",
                self.token_refresh_skew_secs,
                0,
                3600,
            ),
        ];
        for (key, value, min, max) in ranges {
            FieldError::range(key, value, min..=max)?;
        }
        Ok(())
    }

    /// `{base_url}/ords/{alias}`, the root every ORDS URL of the schema hangs from.
    pub fn schema_root(&self) -> Option<String> {
        let base = self.base_url.as_deref()?.trim_end_matches('/');
        Some(format!("{base}/ords/{}", self.schema_alias.as_deref()?))
    }
}

fn resolve(key: &str, secret: &Secret) -> Result<(), FieldError> {
    secret
        .resolve()
        .map(|_| ())
        .map_err(|e| FieldError::new(key, e.to_string()))
}

/// `https://` always; `http://` only for loopback hosts with `allow_insecure_http`.
fn check_url(raw: &str, allow_insecure_http: bool) -> Result<(), UrlError> {
    let url = url::Url::parse(raw).map_err(|e| UrlError::Malformed {
        url: raw.to_owned(),
        reason: e.to_string(),
    })?;
    let host = url
        .host_str()
        .ok_or_else(|| UrlError::NoHost(raw.to_owned()))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure_http && super::auth::is_loopback_host(host) => {}
        "http" => {
            return Err(UrlError::Insecure {
                url: raw.to_owned(),
                hint: "be https:// (http:// only for a loopback host with allow_insecure_http = true)",
            });
        }
        other => {
            return Err(UrlError::Scheme {
                url: raw.to_owned(),
                scheme: other.to_owned(),
            });
        }
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(UrlError::Extras(raw.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> OrdsConfig {
        OrdsConfig {
            base_url: Some("https://abc-db.adb.eu-frankfurt-1.oraclecloudapps.com".into()),
            schema_alias: Some("app_ro".into()),
            auth: Some(OrdsAuth::Basic {
                username: "APP_RO".into(),
                password: Secret::Inline("pw".into()),
            }),
            ..OrdsConfig::default()
        }
    }

    fn key_of(c: &OrdsConfig) -> String {
        c.validate().expect_err("must fail").key
    }

    #[test]
    fn user_and_password_are_a_basic_shorthand() {
        let mut c = valid();
        c.auth = None;
        c.user = Some("APP_RO".into());
        c.password = Some(Secret::Inline("pw".into()));
        assert!(c.validate().is_ok());
        assert!(matches!(
            c.effective_auth(),
            Some(OrdsAuth::Basic { username, .. }) if username == "APP_RO"
        ));
        c.password = None;
        assert_eq!(key_of(&c), "password");
        c = valid();
        c.user = Some("APP_RO".into());
        c.password = Some(Secret::Inline("pw".into()));
        assert_eq!(key_of(&c), "user", "both forms at once are ambiguous");
    }

    #[test]
    fn a_complete_section_is_valid() {
        valid().validate().expect("valid");
        assert_eq!(
            valid().schema_root().as_deref(),
            Some("https://abc-db.adb.eu-frankfurt-1.oraclecloudapps.com/ords/app_ro")
        );
    }

    #[test]
    fn https_is_required_except_for_opted_in_loopback() {
        let mut c = valid();
        c.base_url = Some("http://abc-db.example.com".into());
        assert_eq!(key_of(&c), "base_url");
        c.allow_insecure_http = true;
        assert_eq!(key_of(&c), "base_url", "real hosts stay https-only");
        c.base_url = Some("http://127.0.0.1:8181".into());
        c.validate().expect("loopback with opt-in");
        c.allow_insecure_http = false;
        assert_eq!(key_of(&c), "base_url");
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut c = valid();
        c.base_url = Some("https://h.example.com/ords".into());
        assert_eq!(key_of(&c), "base_url");
        let mut c = valid();
        c.schema_alias = Some("a/b".into());
        assert_eq!(key_of(&c), "schema_alias");
        let mut c = valid();
        c.auth = None;
        assert_eq!(key_of(&c), "auth");
        let mut c = valid();
        c.auth = Some(OrdsAuth::Basic {
            username: "U".into(),
            password: Secret::Env {
                env: "ADB_MCP_TEST_SURELY_UNSET_ORDS_PW".into(),
            },
        });
        let e = c.validate().expect_err("unset env");
        assert_eq!(e.key, "auth.password");
        assert!(e.message.contains("ADB_MCP_TEST_SURELY_UNSET_ORDS_PW"));
        let mut c = valid();
        c.proxy = Some("http://user:pw@proxy:3128".into());
        assert_eq!(key_of(&c), "proxy");
        let mut c = valid();
        c.no_proxy = Some("internal".into());
        assert_eq!(key_of(&c), "no_proxy");
        let mut c = valid();
        c.request_timeout_secs = 0;
        assert_eq!(key_of(&c), "request_timeout_secs");
        let mut c = valid();
        c.ca_file = Some("/nonexistent/ca.pem".into());
        assert_eq!(key_of(&c), "ca_file");
    }

    #[test]
    fn auth_methods_parse_from_toml() {
        let c: OrdsConfig = toml::from_str(
            "[auth]\nmethod = \"client_credentials\"\nclient_id = \"cid\"\nclient_secret = { env = \"X\" }\n",
        )
        .expect("parse");
        assert!(matches!(c.auth, Some(OrdsAuth::ClientCredentials { .. })));
        let bad = toml::from_str::<OrdsConfig>(
            "[auth]\nmethod = \"basic\"\nusername = \"u\"\npassword = \"p\"\nextra = 1\n",
        );
        assert!(bad.is_err(), "unknown keys are refused");
        let printed = format!("{:?}", valid());
        assert!(!printed.contains("\"pw\""), "{printed}");
    }
}
