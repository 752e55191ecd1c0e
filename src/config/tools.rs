//! `[tools]`: declarative SQL tools and which built-in tools are exposed.

use serde::{Deserialize, Serialize};

use super::FieldError;

/// Where declarative tools live and which built-ins are on.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToolsConfig {}

impl ToolsConfig {
    /// Checks this section alone; keys in errors are relative to it.
    pub fn validate(&self) -> Result<(), FieldError> {
        Ok(())
    }
}
