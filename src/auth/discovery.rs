//! The identity provider's discovery document: fetched at startup, refreshed
//! periodically, served stale when the IdP is briefly unreachable, and
//! rewritten into the authorization-server metadata our origin serves in
//! `shim` mode.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
#[error("cannot fetch the discovery document {url}: {message}")]
pub struct DiscoveryError {
    pub url: String,
    pub message: String,
}

pub struct Discovery {
    url: String,
    client: reqwest::Client,
    doc: RwLock<Arc<Map<String, Value>>>,
}

impl Discovery {
    pub async fn fetch(url: String, client: reqwest::Client) -> Result<Arc<Self>, DiscoveryError> {
        let doc = fetch_doc(&client, &url).await?;
        Ok(Arc::new(Self {
            url,
            client,
            doc: RwLock::new(Arc::new(doc)),
        }))
    }

    /// A discovery document that never changes (tests).
    pub fn fixed(url: String, doc: Map<String, Value>) -> Arc<Self> {
        Arc::new(Self {
            url,
            client: reqwest::Client::new(),
            doc: RwLock::new(Arc::new(doc)),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn document(&self) -> Arc<Map<String, Value>> {
        self.doc
            .read()
            .map(|d| Arc::clone(&d))
            .unwrap_or_else(|poisoned| Arc::clone(&poisoned.into_inner()))
    }

    pub fn string(&self, key: &str) -> Option<String> {
        self.document()
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    async fn refresh(&self) {
        match fetch_doc(&self.client, &self.url).await {
            Ok(doc) => {
                if let Ok(mut slot) = self.doc.write() {
                    *slot = Arc::new(doc);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "discovery refresh failed; serving the cached document")
            }
        }
    }
}

async fn fetch_doc(
    client: &reqwest::Client,
    url: &str,
) -> Result<Map<String, Value>, DiscoveryError> {
    let err = |message: String| DiscoveryError {
        url: url.to_owned(),
        message,
    };
    match super::fetch_json(client, url).await {
        Ok(Value::Object(doc)) => {
            for key in ["issuer", "authorization_endpoint", "token_endpoint"] {
                if !doc.get(key).is_some_and(Value::is_string) {
                    return Err(err(format!("the document has no `{key}`")));
                }
            }
            Ok(doc)
        }
        Ok(_) => Err(err("not a JSON object".into())),
        Err(e) => Err(err(e.to_string())),
    }
}

/// Keeps the discovery document fresh on a fixed period, until `stop`.
pub fn spawn_refresh(discovery: Arc<Discovery>, every: Duration, stop: CancellationToken) {
    super::spawn_periodic(every, stop, move || {
        let d = Arc::clone(&discovery);
        async move { d.refresh().await }
    });
}

/// Keys a shim must never pass through: we do not offer registration, and
/// the issuer-bound response parameter would name the IdP, not us.
const DROPPED_KEYS: &[&str] = &[
    "registration_endpoint",
    "client_id_metadata_document_supported",
    "authorization_response_iss_parameter_supported",
];

/// Authorization-server metadata for our own origin: the IdP's endpoints,
/// our issuer (so strict RFC 8414 §3.3 clients accept it), PKCE S256
/// advertised (the MCP 2025-11-25 gate), and our scopes.
pub fn shim_metadata(idp: &Map<String, Value>, our_issuer: &str, scopes: &[String]) -> Value {
    let mut doc = idp.clone();
    for key in DROPPED_KEYS {
        doc.remove(*key);
    }
    doc.insert("issuer".into(), Value::String(our_issuer.to_owned()));
    doc.insert(
        "code_challenge_methods_supported".into(),
        Value::Array(vec![Value::String("S256".into())]),
    );
    doc.insert(
        "scopes_supported".into(),
        Value::Array(scopes.iter().cloned().map(Value::String).collect()),
    );
    doc.entry("response_types_supported")
        .or_insert_with(|| Value::Array(vec![Value::String("code".into())]));
    doc.entry("grant_types_supported").or_insert_with(|| {
        Value::Array(vec![
            Value::String("authorization_code".into()),
            Value::String("refresh_token".into()),
        ])
    });
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shim_rewrites_issuer_adds_pkce_and_drops_registration() {
        let idp = json!({
            "issuer": "https://identity.oraclecloud.com/",
            "authorization_endpoint": "https://idcs-x.identity.oraclecloud.com/oauth2/v1/authorize",
            "token_endpoint": "https://idcs-x.identity.oraclecloud.com/oauth2/v1/token",
            "jwks_uri": "https://idcs-x.identity.oraclecloud.com/admin/v1/SigningCert/jwk",
            "registration_endpoint": "https://idcs-x/oauth2/v1/register",
            "scopes_supported": ["openid", "urn:opc:idm:__myscopes__"],
        });
        let Value::Object(idp) = idp else {
            panic!("object")
        };
        let shim = shim_metadata(
            &idp,
            "https://mcp.example.com",
            &["https://mcp.example.com/mcp.tools".into()],
        );
        assert_eq!(shim["issuer"], "https://mcp.example.com");
        assert_eq!(shim["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(
            shim["scopes_supported"],
            json!(["https://mcp.example.com/mcp.tools"])
        );
        assert!(shim.get("registration_endpoint").is_none());
        assert_eq!(
            shim["authorization_endpoint"],
            idp["authorization_endpoint"]
        );
        assert_eq!(shim["response_types_supported"], json!(["code"]));
    }
}
