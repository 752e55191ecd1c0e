//! Shared test harness: a real server on an ephemeral loopback port, driven
//! by rmcp's own client over Streamable HTTP.
#![allow(dead_code)]

pub(crate) mod logs;
pub(crate) mod ords_double;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use adb_mcp::app::{App, AppError, Setup, Transport};
use adb_mcp::config::{Config, SessionMode};
use adb_mcp::mcp::ServerState;
use adb_mcp::mcp::declarative::reload::ReloadHandle;
use rmcp::model::{CallToolRequestParams, CallToolResult, JsonObject};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// One demo database per test binary, built once and only ever read.
pub(crate) fn demo_db() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir").keep();
        let path = dir.join("demo.db");
        adb_mcp::db::demo::create_demo_db(&path, 1, false).expect("demo db");
        path
    })
    .clone()
}

pub(crate) fn test_config(mode: SessionMode) -> Config {
    let mut config = Config::default();
    config.server.bind = "127.0.0.1:0".into();
    config.server.session_mode = mode;
    config.server.shutdown_grace_secs = 10;
    config.database.sqlite.path = Some(demo_db());
    config
}

/// The app as `adb-mcp serve` builds it; without `tools_dir`, only the
/// built-in tools are served (the tools directory is not read).
pub(crate) async fn http_app(config: &Config, tools_dir: bool) -> App {
    let setup = Setup {
        transport: Transport::Http,
        tools_dir,
    };
    App::build(config, setup).await.expect("app")
}

pub(crate) struct TestServer {
    pub addr: SocketAddr,
    pub url: String,
    pub state: Arc<ServerState>,
    /// Set by `start_with_tools` when `tools.reload` is not off.
    pub reloader: Option<ReloadHandle>,
    /// Held by tests that read the server's log (`logs::capture`).
    pub logs: Option<logs::Capture>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), AppError>>>,
}

impl TestServer {
    pub(crate) async fn start(mode: SessionMode) -> Self {
        Self::start_with(test_config(mode)).await
    }

    pub(crate) async fn start_with(config: Config) -> Self {
        Self::start_inner(config, false).await
    }

    /// Like `start_with`, plus the tools directory and built-in selection of
    /// `config.tools`, loaded the way `adb-mcp serve` does.
    pub(crate) async fn start_with_tools(config: Config) -> Self {
        Self::start_inner(config, true).await
    }

    async fn start_inner(config: Config, with_tools: bool) -> Self {
        // `RUST_LOG=debug cargo test` shows the server's logs on stderr.
        logs::install();
        let app = http_app(&config, with_tools).await;
        let state = Arc::clone(app.state());
        let reloader = app.reloads();
        let server = app.bind().await.expect("bind");
        let addr = server.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            url: format!("http://{addr}/mcp"),
            state,
            reloader,
            logs: None,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    pub(crate) async fn client(&self) -> RunningService<RoleClient, ()> {
        let transport = StreamableHttpClientTransport::from_uri(self.url.clone());
        ().serve(transport).await.expect("initialize")
    }

    /// Signals shutdown and returns the server's result once it has stopped.
    pub(crate) fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    pub(crate) async fn stopped(&mut self) -> Result<(), AppError> {
        self.begin_shutdown();
        match self.handle.take() {
            Some(h) => h.await.expect("server task"),
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.begin_shutdown();
    }
}

pub(crate) fn args(v: Value) -> JsonObject {
    match v {
        Value::Object(m) => m,
        other => panic!("arguments must be an object, got {other}"),
    }
}

pub(crate) async fn call(
    client: &RunningService<RoleClient, ()>,
    tool: &str,
    arguments: Value,
) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args(arguments)))
        .await
        .unwrap_or_else(|e| panic!("{tool} call failed at protocol level: {e}"))
}

pub(crate) fn text_of(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

pub(crate) fn is_error(r: &CallToolResult) -> bool {
    r.is_error == Some(true)
}

pub(crate) fn structured(r: &CallToolResult) -> &Value {
    r.structured_content
        .as_ref()
        .unwrap_or_else(|| panic!("no structuredContent in {r:?}"))
}

/// A query that runs for a long time on SQLite (counts to a billion).
pub(crate) const SLOW_QUERY: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) SELECT count(*) AS n FROM c";
