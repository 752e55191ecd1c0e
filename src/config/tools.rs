//! `[tools]`: declarative SQL tools and which built-in tools are exposed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::FieldError;

/// Directory read when `tools.dir` is not set (relative to the working directory).
pub const DEFAULT_TOOLS_DIR: &str = "tools";

/// How changes to the tools directory are picked up without a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReloadMode {
    /// Watch the directory for changes (debounced); SIGHUP also reloads.
    Watch,
    /// Reload only on SIGHUP.
    Sighup,
    /// Load once at startup.
    Off,
}

/// The tools built into the server, named in `tools.builtin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinTool {
    ListSchemas,
    ListTables,
    DescribeTable,
    RunQuery,
    ExplainQuery,
}

impl BuiltinTool {
    pub const ALL: [BuiltinTool; 5] = [
        BuiltinTool::ListSchemas,
        BuiltinTool::ListTables,
        BuiltinTool::DescribeTable,
        BuiltinTool::RunQuery,
        BuiltinTool::ExplainQuery,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BuiltinTool::ListSchemas => "list_schemas",
            BuiltinTool::ListTables => "list_tables",
            BuiltinTool::DescribeTable => "describe_table",
            BuiltinTool::RunQuery => "run_query",
            BuiltinTool::ExplainQuery => "explain_query",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Where declarative tools live and which built-ins are on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToolsConfig {
    /// Directory of `*.toml` tool files. Unset: `./tools` if it exists (and
    /// no declarative tools if not); set: the directory must exist.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Built-in tools to expose; `[]` exposes only declarative tools.
    pub builtin: Vec<String>,
    /// Only declarative tools of these toolsets are exposed; empty = all.
    pub toolsets: Vec<String>,
    /// Let tools marked `writes = true` be exposed at all.
    pub allow_writes: bool,
    /// Scope (bare name) a caller needs for any writing tool when auth is on.
    pub write_scope: String,
    pub reload: ReloadMode,
    /// Quiet time after the last change before reloading, milliseconds.
    pub reload_debounce_ms: u64,
}

impl Default for ToolsConfig {
    fn default() -> Self {
        Self {
            dir: None,
            builtin: BuiltinTool::ALL
                .iter()
                .map(|t| t.name().to_owned())
                .collect(),
            toolsets: Vec::new(),
            allow_writes: false,
            write_scope: "mcp.write".to_owned(),
            reload: ReloadMode::Watch,
            reload_debounce_ms: 300,
        }
    }
}

impl ToolsConfig {
    /// Checks this section alone; keys in errors are relative to it.
    pub fn validate(&self) -> Result<(), FieldError> {
        for (i, name) in self.builtin.iter().enumerate() {
            if BuiltinTool::from_name(name).is_none() {
                let known: Vec<&str> = BuiltinTool::ALL.iter().map(|t| t.name()).collect();
                return Err(FieldError::new(
                    "builtin",
                    format!(
                        "`{name}` is not a built-in tool (known: {})",
                        known.join(", ")
                    ),
                ));
            }
            if self.builtin[..i].contains(name) {
                return Err(FieldError::new(
                    "builtin",
                    format!("`{name}` is listed twice"),
                ));
            }
        }
        for set in &self.toolsets {
            if set.is_empty() || !set.chars().all(is_name_char) {
                return Err(FieldError::new(
                    "toolsets",
                    format!("`{set}` is not a toolset name (letters, digits, _ . -)"),
                ));
            }
        }
        if self.write_scope.is_empty() || self.write_scope.contains(char::is_whitespace) {
            return Err(FieldError::new(
                "write_scope",
                format!(
                    "`{}` is not a scope name (one word, e.g. mcp.write)",
                    self.write_scope
                ),
            ));
        }
        FieldError::range("reload_debounce_ms", self.reload_debounce_ms, 10..=60_000)?;
        if let Some(dir) = &self.dir
            && dir.as_os_str().is_empty()
        {
            return Err(FieldError::new("dir", "must not be empty"));
        }
        Ok(())
    }

    /// The directory to read, and whether it was configured explicitly (then
    /// it must exist; the default directory may be absent).
    pub fn resolved_dir(&self) -> (PathBuf, bool) {
        match &self.dir {
            Some(d) => (d.clone(), true),
            None => (Path::new(DEFAULT_TOOLS_DIR).to_path_buf(), false),
        }
    }

    pub fn reload_debounce(&self) -> Duration {
        Duration::from_millis(self.reload_debounce_ms)
    }
}

/// Characters allowed in tool and toolset names (MCP's recommended set).
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}
