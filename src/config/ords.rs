//! `[database.ords]`: the ORDS REST-enabled SQL backend.

use serde::{Deserialize, Serialize};

use super::FieldError;

/// ORDS base URL, schema alias and how we authenticate to ORDS.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrdsConfig {}

impl OrdsConfig {
    /// Checks this section alone; keys in errors are relative to it.
    pub fn validate(&self) -> Result<(), FieldError> {
        Ok(())
    }
}
