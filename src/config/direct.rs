//! `[database.direct]`: the direct mTLS backend (wallet, DSN, pool).

use serde::{Deserialize, Serialize};

use super::FieldError;

/// Wallet, DSN, credentials and pool sizing for the direct backend.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectConfig {}

impl DirectConfig {
    /// Checks this section alone; keys in errors are relative to it.
    pub fn validate(&self) -> Result<(), FieldError> {
        Ok(())
    }
}
