//! `[server.tls]`: HTTPS termination and the HTTP redirect/ACME listener.

use serde::{Deserialize, Serialize};

use super::FieldError;

/// Certificate files and the optional HTTP listener.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {}

impl TlsConfig {
    /// Checks this section alone; keys in errors are relative to it.
    pub fn validate(&self) -> Result<(), FieldError> {
        Ok(())
    }
}
