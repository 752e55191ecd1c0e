//! Command line: `serve` (default), `stdio`, `demo-db`, `check-config`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::app;
use crate::config::{self, BackendKind, CliOverrides, Config, ConfigFile, Loaded};
use crate::db;

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

fn serve(loaded: Loaded) -> Result<()> {
    let rt = runtime()?;
    let source = config::describe_source(loaded.file.as_deref());
    let result = rt.block_on(app::serve(&loaded.config, &source));
    crate::observe::telemetry::shutdown();
    finish_runtime(rt);
    match result {
        Err(e @ (app::AppError::Start(_) | app::AppError::Serve(_))) => Err(anyhow::Error::new(e))
            .with_context(|| format!("cannot start the server on {}", loaded.config.server.bind)),
        other => Ok(other?),
    }
}

fn stdio(loaded: Loaded) -> Result<()> {
    let rt = runtime()?;
    let result = rt.block_on(app::stdio(&loaded.config));
    crate::observe::telemetry::shutdown();
    finish_runtime(rt);
    Ok(result?)
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
    let (dir, _) = loaded.config.tools.resolved_dir();
    let catalog = app::check(&loaded.config)?;
    println!(
        "# configuration OK — source: {}",
        config::describe_source(loaded.file.as_deref())
    );
    println!(
        "# tools OK — {} declarative tool(s) from {} file(s) in {}, built-in: {}",
        catalog.tools.len(),
        catalog.files.len(),
        dir.display(),
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
