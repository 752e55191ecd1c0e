//! adb-mcp: a remote MCP server that lets AI clients query Oracle Autonomous
//! Database (or an embedded SQLite demo database) safely over Streamable HTTP.
//!
//! Requests flow one way: `http` (router, limits, auth) → `mcp` (tools,
//! rendering) → `db` (guard, backend). See `docs/architecture.md`.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod doctor;
pub mod http;
pub mod mcp;
pub mod observe;

/// Crate version, shown by `--version` and in the MCP `serverInfo`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
