//! Command line: `serve` (default), `stdio`, `demo-db`, `check-config`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use rmcp::ServiceExt;

use crate::config::{self, BackendKind, CliOverrides, Config, ConfigFile, Loaded};
use crate::db::{self, Backend};
use crate::http::{self, Server};
use crate::mcp::{McpServer, ServerState};

const EXAMPLES: &str = "\
Examples:
  adb-mcp                                   serve the demo database on http://127.0.0.1:8080/mcp
  adb-mcp serve --bind 127.0.0.1:9000 --session-mode stateful
  adb-mcp --config /etc/adb-mcp/adb-mcp.toml check-config
  adb-mcp demo-db --scale 100 --output /tmp/big.db --force
  adb-mcp stdio                             MCP over stdin/stdout (Claude Desktop bundle, local use)
  npx @modelcontextprotocol/inspector       then connect to http://127.0.0.1:8080/mcp

Configuration: defaults < adb-mcp.toml (or --config) < ADB_MCP_* environment
(e.g. ADB_MCP_SERVER__BIND=0.0.0.0:8080) < command-line flags.";

#[derive(Debug, Parser)]
#[command(
    name = "adb-mcp",
    version,
    about = "Remote MCP server for Oracle Autonomous Database (and an embedded SQLite demo)",
    after_help = EXAMPLES
)]
pub struct Cli {
    /// Config file (TOML). Default: ./adb-mcp.toml if it exists.
    #[arg(long, global = true, env = "ADB_MCP_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    /// Log format.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormatArg>,
    /// Log level or tracing filter (e.g. info, debug, adb_mcp=debug).
    #[arg(long, global = true, value_name = "FILTER")]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Human,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SessionModeArg {
    Stateless,
    Stateful,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve MCP over Streamable HTTP (the default).
    Serve(ServeArgs),
    /// Serve MCP over stdin/stdout.
    Stdio(DbArgs),
    /// Create the sample database.
    DemoDb(DemoDbArgs),
    /// Load and validate the configuration, then print it with secrets redacted.
    CheckConfig(DbArgs),
}

#[derive(Debug, Default, Args)]
struct DbArgs {
    /// Directory for the demo database (database.sqlite.data_dir).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Serve this SQLite file instead of the demo database (database.sqlite.path).
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
}

#[derive(Debug, Default, Args)]
struct ServeArgs {
    /// Address to listen on (server.bind).
    #[arg(long, value_name = "IP:PORT")]
    bind: Option<String>,
    /// Session mode (server.session_mode).
    #[arg(long, value_enum)]
    session_mode: Option<SessionModeArg>,
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Debug, Args)]
struct DemoDbArgs {
    /// Size multiplier for customers, orders and order items (1..=1000).
    #[arg(long, default_value_t = 1)]
    scale: u32,
    /// Output file. Default: <data_dir>/demo.db.
    #[arg(long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Replace an existing file.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    db: DbArgs,
}

impl Cli {
    fn overrides(&self) -> CliOverrides {
        let mut o = CliOverrides::default();
        if let Some(f) = self.log_format {
            o.set(
                "log.format",
                match f {
                    LogFormatArg::Human => "human",
                    LogFormatArg::Json => "json",
                },
            );
        }
        if let Some(l) = &self.log_level {
            o.set("log.level", l.as_str());
        }
        let db_args = match &self.command {
            None => None,
            Some(Command::Serve(s)) => {
                if let Some(b) = &s.bind {
                    o.set("server.bind", b.as_str());
                }
                if let Some(m) = s.session_mode {
                    o.set(
                        "server.session_mode",
                        match m {
                            SessionModeArg::Stateless => "stateless",
                            SessionModeArg::Stateful => "stateful",
                        },
                    );
                }
                Some(&s.db)
            }
            Some(Command::Stdio(d) | Command::CheckConfig(d)) => Some(d),
            Some(Command::DemoDb(d)) => Some(&d.db),
        };
        if let Some(d) = db_args {
            if let Some(dir) = &d.data_dir {
                o.set("database.sqlite.data_dir", dir.to_string_lossy().as_ref());
            }
            if let Some(p) = &d.db {
                o.set("database.sqlite.path", p.to_string_lossy().as_ref());
            }
        }
        o
    }
}

/// Parses arguments, loads config and runs the chosen command.
pub fn run() -> Result<()> {
    let cli = Cli::parse();
    let loaded = Config::load(
        &ConfigFile {
            path: cli.config.clone(),
        },
        cli.overrides(),
    )?;
    crate::telemetry::init(&loaded.config.log);
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    match cli.command {
        None => serve(loaded),
        Some(Command::Serve(_)) => serve(loaded),
        Some(Command::Stdio(_)) => stdio(loaded),
        Some(Command::DemoDb(args)) => demo_db(&loaded.config, &args),
        Some(Command::CheckConfig(_)) => check_config(&loaded),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(64)
        .thread_name("adb-mcp")
        .build()
        .context("cannot start the async runtime")
}

/// Opens the configured backend, creating the demo database on first use.
pub fn open_backend(config: &Config) -> Result<Arc<dyn Backend>> {
    match config.database.backend {
        BackendKind::Sqlite => {
            let sqlite = &config.database.sqlite;
            // Only the demo database is ours alone and never changes under us.
            let immutable = sqlite.path.is_none();
            let path = match &sqlite.path {
                Some(p) => p.clone(),
                None => {
                    let path = sqlite.demo_path();
                    if !db::demo::is_current_demo_db(&path) {
                        let summary =
                            db::demo::create_demo_db(&path, sqlite.demo_scale, path.exists())
                                .with_context(|| {
                                    format!("cannot create the demo database at {}", path.display())
                                })?;
                        let rows: u64 = summary.tables.iter().map(|(_, n)| n).sum();
                        tracing::info!(
                            path = %path.display(),
                            scale = sqlite.demo_scale,
                            rows,
                            "no database configured: created the demo database"
                        );
                    }
                    path
                }
            };
            let backend = db::sqlite::SqliteBackend::open(
                &path,
                sqlite.max_idle_connections,
                config.query.timeout(),
                immutable,
            )?;
            tracing::info!(path = %path.display(), "serving SQLite database read-only");
            Ok(Arc::new(backend))
        }
        other => anyhow::bail!("database.backend {other:?} is not available in this build"),
    }
}

/// Extra scopes per tool, enforced only when auth is on.
pub fn tool_scopes(config: &Config) -> std::collections::HashMap<String, Vec<String>> {
    if !config.auth.enabled {
        return Default::default();
    }
    config
        .auth
        .tool_scopes
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn serve(loaded: Loaded) -> Result<()> {
    let config = loaded.config;
    let rt = runtime()?;
    rt.block_on(async move {
        let auth = http::AuthRuntime::start(&config).await?;
        let backend = open_backend(&config)?;
        let state = ServerState::new(backend, config.query.clone(), tool_scopes(&config));
        let server = Server::bind(&config, state, auth.as_ref())
            .await
            .with_context(|| format!("cannot start the server on {}", config.server.bind))?;
        let addr = server.local_addr()?;
        if let Some(redirect) = server.redirect_addr() {
            tracing::info!(addr = %redirect, "redirecting HTTP to HTTPS (and serving ACME challenges)");
        }
        tracing::info!(
            addr = %addr,
            url = %format!("{}://{addr}{}", server.scheme(), http::MCP_PATH),
            session_mode = ?config.server.session_mode,
            auth = if auth.is_some() { "oauth" } else { "off (loopback only)" },
            config = %config::describe_source(loaded.file.as_deref()),
            version = crate::VERSION,
            "listening"
        );
        server.run(http::shutdown_signal()).await?;
        tracing::info!("stopped");
        Ok(())
    })
}

fn stdio(loaded: Loaded) -> Result<()> {
    let config = loaded.config;
    let rt = runtime()?;
    rt.block_on(async move {
        let backend = open_backend(&config)?;
        // stdio is a local, single-user channel: no tokens, no tool scopes.
        let state = ServerState::new(backend, config.query.clone(), Default::default());
        let service = McpServer::new(state)
            .serve(rmcp::transport::stdio())
            .await
            .context("MCP stdio handshake failed")?;
        service
            .waiting()
            .await
            .context("MCP stdio session failed")?;
        Ok(())
    })
}

fn demo_db(config: &Config, args: &DemoDbArgs) -> Result<()> {
    let path = args
        .output
        .clone()
        .unwrap_or_else(|| config.database.sqlite.demo_path());
    let started = std::time::Instant::now();
    let summary = db::demo::create_demo_db(&path, args.scale, args.force)?;
    println!(
        "created {} (scale {}) in {:.2} s",
        summary.path.display(),
        summary.scale,
        started.elapsed().as_secs_f64()
    );
    for (table, rows) in &summary.tables {
        println!("  {table:<14} {rows:>10} rows");
    }
    Ok(())
}

fn check_config(loaded: &Loaded) -> Result<()> {
    println!(
        "# configuration OK — source: {}",
        config::describe_source(loaded.file.as_deref())
    );
    for w in &loaded.warnings {
        println!("# WARNING: {w}");
    }
    print!("{}", loaded.config.to_redacted_toml());
    Ok(())
}
