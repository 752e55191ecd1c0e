//! Who is calling. The OAuth resource-server side (JWKS, token validation)
//! builds on this; tools and the audit trail only ever see a [`Principal`].

use std::collections::BTreeSet;

/// The authenticated caller of a request, as established by the HTTP layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principal {
    /// Stable subject identifier (`sub`), used for audit and session binding.
    pub subject: String,
    /// OAuth client that obtained the token, when known.
    pub client_id: Option<String>,
    /// Granted scopes, bare names as the IdP puts them in the token.
    pub scopes: BTreeSet<String>,
}

impl Principal {
    /// The principal used when authentication is disabled (loopback demo).
    pub fn anonymous() -> Self {
        Self {
            subject: "anonymous".to_owned(),
            client_id: None,
            scopes: BTreeSet::new(),
        }
    }
}
