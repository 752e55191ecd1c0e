//! The one place the application is put together. [`App::build`] turns a
//! [`Config`] into a running set of parts (observer, tools, backend, auth,
//! background tasks); [`App::bind`] adds the HTTP listener and
//! [`Bound::run`] serves until shutdown. `serve`, `stdio`, the doctor and the
//! tests all start here, so that there is one way in.

pub mod signals;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rmcp::ServiceExt;
use tokio_util::sync::CancellationToken;

use crate::auth::Principal;
use crate::config::Config;
use crate::db::{self, Backend, CallContext, OpenError};
use crate::http::{self, AuthRuntime, Server, StartError};
use crate::mcp::declarative::{
    self, Catalog, LoadError, LoadOptions,
    reload::{ReloadHandle, Reloader},
};
use crate::mcp::{McpServer, ServerState};
use crate::observe::{ObserveError, Observer};

/// Why the application could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Observe(#[from] ObserveError),
    #[error(transparent)]
    Tools(#[from] LoadError),
    #[error(transparent)]
    Database(#[from] OpenError),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
    #[error("MCP over stdio failed: {0}")]
    Stdio(String),
}

/// How clients reach the server; decides what is enforced and logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Streamable HTTP, with OAuth when `auth.enabled`.
    Http,
    /// stdin/stdout: one local user, no tokens and no tool scopes.
    Stdio,
}

/// What [`App::build`] assembles beyond the config.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    pub transport: Transport,
    /// Load `tools.dir` (and reload it per `tools.reload`). Off, only the
    /// built-in tools of `tools.builtin` are served.
    pub tools_dir: bool,
}

impl Setup {
    /// What `adb-mcp serve` runs.
    pub const HTTP: Setup = Setup {
        transport: Transport::Http,
        tools_dir: true,
    };
    /// What `adb-mcp stdio` runs.
    pub const STDIO: Setup = Setup {
        transport: Transport::Stdio,
        tools_dir: true,
    };
}

/// Every long-lived part of the server, built once.
pub struct App {
    config: Config,
    state: Arc<ServerState>,
    observer: Arc<Observer>,
    auth: Option<AuthRuntime>,
    reloader: Option<Reloader>,
    /// Stops every background task (key and discovery refresh, TLS polling,
    /// the privilege check) when the app ends.
    background: CancellationToken,
}

impl App {
    /// Builds the parts in the order that fails fastest: local files first
    /// (observer, tools), then the database, then the identity provider.
    pub async fn build(config: &Config, setup: Setup) -> Result<Self, AppError> {
        let mut config = config.clone();
        let stdio = setup.transport == Transport::Stdio;
        if stdio {
            // stdio is local and single-user: no tokens, no scopes.
            config.auth.enabled = false;
            config.auth.tool_scopes.clear();
        }
        let observer = Observer::from_config(&config, stdio)?;
        let opts = LoadOptions::from_config(&config);
        let catalog = if setup.tools_dir {
            let catalog = declarative::load(&opts)?;
            for note in &catalog.notes {
                tracing::warn!("{note}");
            }
            Some(catalog)
        } else {
            None
        };
        let background = CancellationToken::new();
        let backend = db::open(&config)?;
        let auth = match setup.transport {
            Transport::Http => AuthRuntime::start(&config, &background).await?,
            Transport::Stdio => None,
        };
        let state = ServerState::with_observer(
            backend,
            config.query.clone(),
            tool_scopes(&config),
            Arc::clone(&observer),
        );
        if stdio {
            state.enable_list_changed();
        }
        let reloader = match catalog {
            Some(catalog) => install_tools(&config, &state, opts, &catalog),
            // The state starts with every built-in tool installed.
            None => None,
        };
        Ok(Self {
            config,
            state,
            observer,
            auth,
            reloader,
            background,
        })
    }

    /// The tools' shared state: registry, backend, observer.
    pub fn state(&self) -> &Arc<ServerState> {
        &self.state
    }

    /// The configuration the app was built from (after transport rules).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Triggers and watches tools reloads, when `tools.reload` is not off.
    pub fn reloads(&self) -> Option<ReloadHandle> {
        self.reloader.as_ref().map(Reloader::handle)
    }

    /// Whether OAuth is enforced on `/mcp`.
    pub fn auth_enabled(&self) -> bool {
        self.auth.is_some()
    }

    /// Takes the HTTP port(s) and builds the router.
    pub async fn bind(self) -> Result<Bound, AppError> {
        let server =
            Server::bind(&self.config, Arc::clone(&self.state), self.auth.as_ref()).await?;
        Ok(Bound { app: self, server })
    }

    /// Checks once, in the background, what the database user can do beyond
    /// reading, and logs one line: startup never waits for it, and a database
    /// that is down costs a log line, not the start. The line names
    /// privileges and objects, never credentials or anything a client sent.
    pub fn spawn_privilege_check(&self) {
        let backend: Arc<dyn Backend> = Arc::clone(self.state.backend());
        let stop = self.background.clone();
        tokio::spawn(async move {
            let ctx = CallContext::new(
                "privilege_check",
                Principal::shared_anonymous(),
                stop.child_token(),
                Duration::from_secs(60),
            );
            let report = tokio::select! {
                () = stop.cancelled() => return,
                r = backend.privilege_report(&ctx) => r,
            };
            match report {
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

    /// Serves MCP on stdin/stdout until the client closes it.
    pub async fn run_stdio(self) -> Result<(), AppError> {
        let hangups = signals::spawn_hangup(signals::Reload {
            tls: None,
            tools: self.reloader.as_ref().map(Reloader::handle),
            stop: self.background.clone(),
        });
        let service = McpServer::new(Arc::clone(&self.state))
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| AppError::Stdio(format!("handshake failed: {e}")));
        let ended = match service {
            Ok(service) => service
                .waiting()
                .await
                .map(|_| ())
                .map_err(|e| AppError::Stdio(e.to_string())),
            Err(e) => Err(e),
        };
        drop(hangups);
        self.finish();
        ended
    }

    fn finish(mut self) {
        self.background.cancel();
        self.reloader = None;
        self.observer.flush();
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.background.cancel();
    }
}

/// An app with its listener(s) bound, ready to serve.
pub struct Bound {
    app: App,
    server: Server,
}

impl Bound {
    /// The address `/mcp` is served on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.server.local_addr()
    }

    /// `https` when the server terminates TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        self.server.scheme()
    }

    /// The plain-HTTP redirect/ACME listener, when configured.
    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        self.server.redirect_addr()
    }

    /// The certificate in service and its reload state, when TLS is on.
    pub fn tls_certificates(&self) -> Option<Arc<http::tls::CertStore>> {
        self.server.tls_certificates()
    }

    /// The built parts.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// Serves until `shutdown` resolves (see [`Server::run`]), with SIGHUP
    /// reloading TLS files and tools; then stops the background tasks and
    /// flushes the audit log.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        let Bound { app, server } = self;
        let hangups = signals::spawn_hangup(signals::Reload {
            tls: server.tls_certificates(),
            tools: app.reloader.as_ref().map(Reloader::handle),
            stop: app.background.clone(),
        });
        let result = server.run(shutdown).await.map_err(AppError::Serve);
        drop(hangups);
        app.finish();
        result
    }
}

/// Checks what startup reads besides the config file, without connecting
/// anywhere: today the tools directory, and with it every `auth.tool_scopes`
/// key. `check-config` prints the catalog it returns.
pub fn check(config: &Config) -> Result<Catalog, AppError> {
    Ok(declarative::load(&LoadOptions::from_config(config))?)
}

/// Builds, binds and serves per `config` until SIGINT or SIGTERM: `adb-mcp serve`.
pub async fn serve(config: &Config, source: &str) -> Result<(), AppError> {
    let bound = App::build(config, Setup::HTTP).await?.bind().await?;
    let config = bound.app().config();
    let addr = bound.local_addr().map_err(AppError::Serve)?;
    if let Some(redirect) = bound.redirect_addr() {
        tracing::info!(addr = %redirect, "redirecting HTTP to HTTPS (and serving ACME challenges)");
    }
    tracing::info!(
        addr = %addr,
        url = %format!("{}://{addr}{}", bound.scheme(), http::MCP_PATH),
        session_mode = ?config.server.session_mode,
        auth = if bound.app().auth_enabled() { "oauth" } else { "off (loopback only)" },
        config = %source,
        version = crate::VERSION,
        "listening"
    );
    if config.audit.enabled {
        tracing::info!(target = ?config.audit.target, path = %config.audit.path.display(), "audit log on");
    }
    bound.app().spawn_privilege_check();
    bound.run(signals::shutdown()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Builds per `config` and serves MCP on stdin/stdout: `adb-mcp stdio`.
pub async fn stdio(config: &Config) -> Result<(), AppError> {
    let app = App::build(config, Setup::STDIO).await?;
    app.spawn_privilege_check();
    app.run_stdio().await
}

/// Installs the loaded tools and starts the reloader `tools.reload` asks
/// for. A broken directory stops startup; later, it only stops that reload.
fn install_tools(
    config: &Config,
    state: &Arc<ServerState>,
    opts: LoadOptions,
    catalog: &Catalog,
) -> Option<Reloader> {
    state.install(catalog);
    tracing::info!(
        dir = %opts.dir.display(),
        declarative = catalog.tools.len(),
        builtin = catalog.builtins.len(),
        reload = ?config.tools.reload,
        "tools loaded"
    );
    declarative::reload::start(
        Arc::clone(state),
        opts,
        config.tools.reload,
        config.tools.reload_debounce(),
        catalog.fingerprint,
    )
}

/// Extra scopes per tool, enforced only when auth is on.
fn tool_scopes(config: &Config) -> HashMap<String, Vec<String>> {
    if !config.auth.enabled {
        return HashMap::new();
    }
    config
        .auth
        .tool_scopes
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
