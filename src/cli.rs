//! Command line: `serve` (default), `stdio`, `demo-db`, `check-config`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use rmcp::ServiceExt;

use crate::config::{self, BackendKind, CliOverrides, Config, ConfigFile, Loaded};
use crate::db::{self, Backend};
use crate::http::{self, Server};
use crate::mcp::declarative::{self, LoadOptions, reload::Reloader};
use crate::mcp::{McpServer, ServerState};
use crate::observe::Observer;

const EXAMPLES: &str = "\
Examples:
  adb-mcp                                   serve the demo database on http://127.0.0.1:8080/mcp
  adb-mcp serve --bind 127.0.0.1:9000 --session-mode stateful
  adb-mcp --config /etc/adb-mcp/adb-mcp.toml check-config
  adb-mcp --config /etc/adb-mcp/adb-mcp.toml doctor --token-file token.txt
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
    /// Check the deployment end to end (URL, identity provider, keys, a token,
    /// the database) and print what to enter in Claude.
    Doctor(DoctorArgs),
}

#[derive(Debug, Default, Args)]
struct DoctorArgs {
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
    /// Validate this access token end to end (`-` reads it from stdin). A
    /// file, not a flag value, so the token never shows in `ps`.
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
    /// Seconds to wait for each network check.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    #[command(flatten)]
    db: DbArgs,
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
            Some(Command::Doctor(d)) => Some(&d.db),
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
    );
    let loaded = match (loaded, &cli.command) {
        (Ok(l), _) => l,
        // The doctor reports a broken config as a failed check, in its format.
        (Err(e), Some(Command::Doctor(args))) => {
            return print_doctor(&crate::doctor::config_error(&e.to_string()), args.json);
        }
        (Err(e), _) => return Err(e.into()),
    };
    // Only the serving commands export traces.
    let serving = matches!(
        cli.command,
        None | Some(Command::Serve(_)) | Some(Command::Stdio(_))
    );
    crate::observe::telemetry::init(&loaded.config.log, serving.then_some(&loaded.config.otel))?;
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    match cli.command {
        None => serve(loaded),
        Some(Command::Serve(_)) => serve(loaded),
        Some(Command::Stdio(_)) => stdio(loaded),
        Some(Command::DemoDb(args)) => demo_db(&loaded.config, &args),
        Some(Command::CheckConfig(_)) => check_config(&loaded),
        Some(Command::Doctor(args)) => doctor(&loaded, &args),
    }
}

fn doctor(loaded: &Loaded, args: &DoctorArgs) -> Result<()> {
    let token = match &args.token_file {
        None => None,
        Some(path) if path.as_os_str() == "-" => {
            let mut t = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut t)
                .context("cannot read the token from stdin")?;
            Some(t)
        }
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --token-file {}", path.display()))?,
        ),
    };
    let options = crate::doctor::Options {
        token,
        timeout: Some(std::time::Duration::from_secs(args.timeout.max(1))),
    };
    let report = runtime()?.block_on(crate::doctor::run(loaded, options));
    print_doctor(&report, args.json)
}

fn print_doctor(report: &crate::doctor::Report, json: bool) -> Result<()> {
    use std::io::IsTerminal as _;
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        print!("{}", crate::doctor::render_human(report, color));
    }
    if report.ok {
        Ok(())
    } else {
        // The report already said what failed; exit non-zero without repeating it.
        let _ = std::io::Write::flush(&mut std::io::stdout());
        std::process::exit(1)
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

/// Dropping a runtime waits for every blocking task; a database driver call
/// that cannot be interrupted (the direct backend's TLS handshake has no
/// read timeout) must not keep the process alive after shutdown.
fn finish_runtime(rt: tokio::runtime::Runtime) {
    rt.shutdown_timeout(std::time::Duration::from_secs(5));
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
            let mut backend = db::sqlite::SqliteBackend::open_with(
                &path,
                db::sqlite::SqliteOptions::from_config(config, immutable),
            )?;
            if config.tools.allow_writes {
                backend = backend.enable_writes()?;
                if immutable {
                    tracing::warn!(
                        "tools.allow_writes is on but the demo database is read-only: writing tools will be refused"
                    );
                }
            }
            tracing::info!(path = %path.display(), "serving SQLite database read-only");
            Ok(Arc::new(backend))
        }
        BackendKind::Ords => {
            let ords = &config.database.ords;
            let backend = db::ords::OrdsBackend::open(ords, config.query.timeout())?;
            tracing::info!(
                url = ords.schema_root().as_deref().unwrap_or(""),
                "serving Oracle through ORDS REST-Enabled SQL"
            );
            Ok(Arc::new(backend))
        }
        BackendKind::Direct => {
            let backend = db::direct::DirectBackend::open(&config.database.direct)
                .context("the direct backend's preflight failed")?;
            let p = backend.preflight();
            tracing::info!(
                dsn = %p.source,
                target = %p.target,
                wallet = %p.wallet_summary(),
                user = config.database.direct.user.as_deref().unwrap_or_default(),
                "direct backend: preflight OK"
            );
            for w in &p.warnings {
                tracing::warn!("direct backend: {w}");
            }
            backend.start();
            Ok(Arc::new(backend))
        }
    }
}

/// Loads the tools directory into `state` (built-ins per `tools.builtin`
/// plus declarative tools) and starts the reloader `tools.reload` asks for.
/// A broken directory stops startup; later, it only stops that reload.
pub fn start_tools(config: &Config, state: &Arc<ServerState>) -> Result<Option<Reloader>> {
    let opts = LoadOptions::from_config(config);
    let catalog = declarative::load(&opts)?;
    for note in &catalog.notes {
        tracing::warn!("{note}");
    }
    state.install(&catalog);
    tracing::info!(
        dir = %opts.dir.display(),
        declarative = catalog.tools.len(),
        builtin = catalog.builtins.len(),
        reload = ?config.tools.reload,
        "tools loaded"
    );
    Ok(declarative::reload::start(
        Arc::clone(state),
        opts,
        config.tools.reload,
        config.tools.reload_debounce(),
        catalog.fingerprint,
    ))
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

/// Checks once, in the background, what the database user can do beyond
/// reading, and logs one line: startup never waits for it, and a database
/// that is down costs a log line, not the start. The line names privileges
/// and objects, never credentials or anything a client sent.
fn spawn_privilege_check(backend: Arc<dyn Backend>) {
    tokio::spawn(async move {
        let ctx = db::CallContext::new(
            "privilege_check",
            Arc::new(crate::auth::Principal::anonymous()),
            tokio_util::sync::CancellationToken::new(),
            std::time::Duration::from_secs(60),
        );
        match backend.privilege_report(&ctx).await {
            Ok(None) => {}
            Ok(Some(report)) if report.worst().is_some() => {
                tracing::warn!(user = %report.user, "{}", report.summary());
            }
            Ok(Some(report)) => {
                tracing::info!(
                    user = %report.user,
                    unchecked = report.unchecked.len(),
                    "{}",
                    report.summary()
                );
            }
            Err(e) => tracing::info!(
                error = %e,
                "database privilege check skipped; `adb-mcp doctor` runs it"
            ),
        }
    });
}

fn serve(loaded: Loaded) -> Result<()> {
    let config = loaded.config;
    let rt = runtime()?;
    let result = rt.block_on(async move {
        let observer = Observer::from_config(&config, false)?;
        let auth = http::AuthRuntime::start(&config).await?;
        let backend = open_backend(&config)?;
        let checked = Arc::clone(&backend);
        let state = ServerState::with_observer(
            backend,
            config.query.clone(),
            tool_scopes(&config),
            Arc::clone(&observer),
        );
        let _reloader = start_tools(&config, &state)?;
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
        if config.audit.enabled {
            tracing::info!(target = ?config.audit.target, path = %config.audit.path.display(), "audit log on");
        }
        spawn_privilege_check(checked);
        server.run(http::shutdown_signal()).await?;
        observer.flush();
        crate::observe::telemetry::shutdown();
        tracing::info!("stopped");
        Ok(())
    });
    finish_runtime(rt);
    result
}

fn stdio(loaded: Loaded) -> Result<()> {
    let config = loaded.config;
    let rt = runtime()?;
    let result = rt.block_on(async move {
        let observer = Observer::from_config(&config, true)?;
        let backend = open_backend(&config)?;
        spawn_privilege_check(Arc::clone(&backend));
        // stdio is a local, single-user channel: no tokens, no tool scopes.
        let state = ServerState::with_observer(
            backend,
            config.query.clone(),
            Default::default(),
            Arc::clone(&observer),
        );
        let mut local = config.clone();
        // stdio is local and single-user: no scopes, like the built-ins.
        local.auth.enabled = false;
        local.auth.tool_scopes.clear();
        state.enable_list_changed();
        let _reloader = start_tools(&local, &state)?;
        let service = McpServer::new(state)
            .serve(rmcp::transport::stdio())
            .await
            .context("MCP stdio handshake failed")?;
        let ended = service.waiting().await;
        observer.flush();
        crate::observe::telemetry::shutdown();
        ended.context("MCP stdio session failed")?;
        Ok(())
    });
    finish_runtime(rt);
    result
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
    let opts = LoadOptions::from_config(&loaded.config);
    let catalog = declarative::load(&opts)?;
    println!(
        "# configuration OK — source: {}",
        config::describe_source(loaded.file.as_deref())
    );
    println!(
        "# tools OK — {} declarative tool(s) from {} file(s) in {}, built-in: {}",
        catalog.tools.len(),
        catalog.files.len(),
        opts.dir.display(),
        if catalog.builtins.is_empty() {
            "none".to_owned()
        } else {
            catalog
                .builtins
                .iter()
                .map(|b| b.name())
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    for note in &catalog.notes {
        println!("# NOTE: {note}");
    }
    for w in &loaded.warnings {
        println!("# WARNING: {w}");
    }
    print!("{}", loaded.config.to_redacted_toml());
    if loaded.config.database.backend == BackendKind::Direct {
        // Offline checks only (files, alias, key): nothing connects.
        let prepared = db::direct::wallet::prepare(&loaded.config.database.direct)
            .context("the direct backend's preflight failed")?;
        println!("\n# direct backend preflight OK (no connection attempted):");
        for line in prepared.preflight.to_string().lines() {
            println!("#   {line}");
        }
    }
    Ok(())
}
