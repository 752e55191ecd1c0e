//! Direct backend: Autonomous Database over mutual TLS with the wallet,
//! through Oracle's pure-Rust driver (`oracledb`, synchronous).
//!
//! - **Preflight** ([`wallet`]): wallet files, alias, key decryption and the
//!   resolved target are checked before any connection; startup fails on a
//!   bad wallet but not on an unreachable database (connections are opened
//!   lazily, plus a background warm-up of `pool_min`).
//! - **Async bridge**: every driver call runs on the blocking pool. A
//!   semaphore sized `pool_max` bounds concurrency; waiting for a permit is
//!   bounded by `acquire_timeout_secs` (the driver's own pool has no acquire
//!   timeout, so we keep our own small pool of connections). Waiting for a
//!   new session is bounded by `connect_timeout_secs`: the driver has no read
//!   timeout during the TLS/TNS handshake, so a caller stops waiting while the
//!   attempt finishes in the background, still holding its permit.
//! - **Every call**: call timeout = min(`call_timeout_secs`, time left);
//!   client identifier = principal, module `adb-mcp`, action = tool; queries
//!   run in `SET TRANSACTION READ ONLY`, and every call ends with ROLLBACK.
//! - **The user's query** is sent as one statement, wrapped by
//!   [`oracle::wrap::paged_statement`] (`SELECT * FROM (\n…\n) OFFSET …
//!   FETCH NEXT …`), which the server parses whole: a second statement or a
//!   non-query inside is a parse error. Nothing runs unless the driver
//!   classifies the statement as a query.
//! - **Memory**: rows are converted while they are fetched and charged to
//!   the call's [`ResultBudget`]; fetching stops when it is used up. The
//!   driver's fetch batch is sized from the described column widths so one
//!   batch stays within a few times the budget; LOBs are read only up to
//!   their preview.
//!   A connection that failed at the transport level, or whose rollback
//!   fails, is discarded.
//! - **Cancellation**: the driver cannot interrupt a call from another
//!   thread. A cancelled or timed-out caller gets its answer at once; the
//!   worker stops at the next row boundary, or when the call timeout fires.

pub mod convert;
pub mod wallet;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use oracledb::{Connection, ErrorKind, Metadata, OracleNumber, ToDbValue};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio_util::sync::CancellationToken;

use super::oracle::{OracleBind, OracleExec, OracleStatement, UserQuery, wrap};
use super::pool::IdlePool;
use super::{CallContext, ColumnInfo, DbError, QueryResult, ResultBudget};
use crate::config::direct::DirectConfig;
use convert::{ColumnKind, column_kind, convert_cell};
pub use wallet::{Preflight, PreflightError, Target, WalletMode};

/// Idle connections older than this are pinged before reuse.
const PING_AFTER: Duration = Duration::from_secs(60);
/// Bound for housekeeping round trips (ping, rollback, session setup).
const HOUSEKEEPING_TIMEOUT: Duration = Duration::from_secs(5);
/// After the deadline, how long we wait for the driver's own call timeout.
const DEADLINE_GRACE: Duration = Duration::from_secs(2);
/// `/readyz` trusts a successful call this recent when every slot is busy.
const RECENT_OK: Duration = Duration::from_secs(30);
/// Oracle errors after which the session is gone (killed, shut down, lost).
const DEAD_SESSION_CODES: &[usize] = &[
    28, 1012, 1033, 1034, 1089, 1092, 2396, 3113, 3114, 3135, 12153, 12537, 12547, 12570,
];
/// V$SESSION column limits (bytes).
const CLIENT_ID_MAX: usize = 64;
/// Bytes one fetch batch of the driver may hold for our fixed queries
/// (the user's queries use a multiple of their result budget).
const FIXED_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// A fetch batch may hold this many times the result budget.
const BATCH_BUDGET_FACTOR: usize = 4;
/// Driver-side bytes per cell on top of its content (value enum, lengths).
const CELL_BUFFER_OVERHEAD: usize = 64;
const ACTION_MAX: usize = 32;
const MODULE: &str = "adb-mcp";

#[derive(Debug, Clone, Copy)]
struct Settings {
    pool_min: usize,
    pool_max: usize,
    connect_timeout: Duration,
    call_timeout: Duration,
    acquire_timeout: Duration,
    fetch_array_size: u32,
}

struct IdleConn {
    conn: Connection,
    since: Instant,
}

#[derive(Default)]
struct Health {
    last_ok: Option<Instant>,
    last_connect_error: Option<String>,
}

struct Inner {
    driver: oracledb::Config,
    preflight: Preflight,
    user: String,
    settings: Settings,
    slots: Arc<Semaphore>,
    idle: IdlePool<IdleConn>,
    health: Mutex<Health>,
    /// Connection attempts running now (each can take a minute with the
    /// wallet's RETRY_COUNT=20 when the database is down).
    connecting: AtomicUsize,
}

/// The direct backend; cheap to clone.
#[derive(Clone)]
pub struct DirectBackend {
    inner: Arc<Inner>,
}

/// Who runs what, and until when.
struct Job {
    client_id: String,
    action: String,
    deadline: Instant,
    /// The caller's time limit, for the timeout message.
    limit_secs: u64,
    /// End the call with ROLLBACK (everything but ping).
    end_transaction: bool,
}

/// Flags shared between the waiting caller and the worker thread.
#[derive(Default)]
struct Control {
    /// The caller stopped waiting during connect: keep the new connection.
    abandoned: AtomicBool,
    /// The caller was cancelled or timed out: stop at the next row.
    cancelled: AtomicBool,
}

/// Sets both flags if the caller's future is dropped (e.g. `/readyz`'s own
/// timeout), so the worker does not run on for nobody.
struct AbandonOnDrop(Arc<Control>, bool);

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        if !self.1 {
            self.0.abandoned.store(true, Ordering::Relaxed);
            self.0.cancelled.store(true, Ordering::Relaxed);
        }
    }
}

/// What a unit of work on a connection can fail with.
enum Failure {
    Driver(oracledb::Error),
    Db(DbError),
}

impl From<oracledb::Error> for Failure {
    fn from(e: oracledb::Error) -> Self {
        Failure::Driver(e)
    }
}

impl From<DbError> for Failure {
    fn from(e: DbError) -> Self {
        Failure::Db(e)
    }
}

impl DirectBackend {
    /// Runs the preflight and prepares the pool; connects nothing yet.
    pub fn open(cfg: &DirectConfig) -> Result<Self, PreflightError> {
        // Several crates enable rustls; make the provider choice explicit.
        // Fails harmlessly when a provider is already installed.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let prepared = wallet::prepare(cfg)?;
        let settings = Settings {
            pool_min: cfg.pool_min,
            pool_max: cfg.pool_max.max(1),
            connect_timeout: cfg.connect_timeout(),
            call_timeout: cfg.call_timeout(),
            acquire_timeout: cfg.acquire_timeout(),
            fetch_array_size: cfg.fetch_array_size.max(1),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                driver: prepared.driver,
                preflight: prepared.preflight,
                user: prepared.user,
                settings,
                slots: Arc::new(Semaphore::new(settings.pool_max)),
                idle: IdlePool::new(None, settings.pool_max),
                health: Mutex::new(Health::default()),
                connecting: AtomicUsize::new(0),
            }),
        })
    }

    /// What the preflight found (for logs and `check-config`).
    pub fn preflight(&self) -> &Preflight {
        &self.inner.preflight
    }

    /// Opens `pool_min` connections in the background and logs whether the
    /// database is reachable. Never blocks startup.
    pub fn start(&self) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let inner = Arc::clone(&self.inner);
        handle.spawn(async move {
            for n in 0..inner.settings.pool_min {
                let Ok(permit) = Arc::clone(&inner.slots).try_acquire_owned() else {
                    break;
                };
                let worker = Arc::clone(&inner);
                let started = Instant::now();
                let task = tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    let conn = worker.connect()?;
                    worker.checkin(conn);
                    Ok::<(), DbError>(())
                });
                let wait = inner.settings.connect_timeout;
                let Ok(joined) = tokio::time::timeout(wait, task).await else {
                    tracing::warn!(
                        target = %inner.preflight.target.endpoint(),
                        "direct backend: no session within {} s; still trying in the background, /readyz reports unavailable until then",
                        wait.as_secs()
                    );
                    break;
                };
                match joined {
                    Ok(Ok(())) if n == 0 => tracing::info!(
                        target = %inner.preflight.target.endpoint(),
                        user = %inner.user,
                        ms = started.elapsed().as_millis() as u64,
                        "direct backend: database reachable, first session open"
                    ),
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "direct backend: database not reachable yet; /readyz reports it until it is");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "direct backend: warm-up worker failed");
                        break;
                    }
                }
            }
        });
    }

    fn job(ctx: &CallContext) -> Job {
        let remaining = ctx.timeout();
        Job {
            client_id: truncate(&ctx.principal.subject, CLIENT_ID_MAX).to_owned(),
            action: truncate(&ctx.tool, ACTION_MAX).to_owned(),
            deadline: ctx.deadline,
            limit_secs: remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0),
            end_transaction: true,
        }
    }

    /// Runs `work` on a connection on the blocking pool, bounded by the
    /// acquire timeout, the connect timeout, the deadline and `cancel`.
    async fn run<T, F>(&self, job: Job, cancel: &CancellationToken, work: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Control, &Job) -> Result<T, Failure> + Send + 'static,
    {
        if cancel.is_cancelled() {
            return Err(DbError::Cancelled);
        }
        let s = self.inner.settings;
        let remaining = job.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(DbError::Timeout(job.limit_secs));
        }
        let wait = s.acquire_timeout.min(remaining);
        let permit: OwnedSemaphorePermit = tokio::select! {
            p = tokio::time::timeout(wait, Arc::clone(&self.inner.slots).acquire_owned()) => match p {
                Ok(Ok(p)) => p,
                Ok(Err(_)) => return Err(DbError::Unavailable("the direct backend is shutting down".into())),
                Err(_) if wait < s.acquire_timeout => return Err(DbError::Timeout(job.limit_secs)),
                Err(_) => return Err(DbError::Unavailable(format!(
                    "no database connection free within {} s: all {} connections are busy; retry shortly, or raise database.direct.pool_max",
                    s.acquire_timeout.as_secs(), s.pool_max
                ))),
            },
            () = cancel.cancelled() => return Err(DbError::Cancelled),
        };

        let control = Arc::new(Control::default());
        let mut guard = AbandonOnDrop(Arc::clone(&control), false);
        let (ready_tx, ready_rx) = oneshot::channel::<()>();
        let inner = Arc::clone(&self.inner);
        let worker_control = Arc::clone(&control);
        let deadline = job.deadline;
        let limit_secs = job.limit_secs;
        let mut handle = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            inner.execute(&job, &worker_control, ready_tx, work)
        });

        // Phase 1: a session (idle, or newly opened within connect_timeout).
        let connect_wait = s
            .connect_timeout
            .min(deadline.saturating_duration_since(Instant::now()));
        tokio::select! {
            _ = ready_rx => {}
            () = tokio::time::sleep(connect_wait) => {
                return Err(if connect_wait < s.connect_timeout {
                    DbError::Timeout(limit_secs)
                } else {
                    DbError::Unavailable(self.inner.connect_timeout_message())
                });
            }
            () = cancel.cancelled() => return Err(DbError::Cancelled),
        }

        // Phase 2: the work itself; the driver's call timeout should end it
        // first, the grace period is a backstop.
        let outcome = tokio::select! {
            joined = &mut handle => match joined {
                Ok(r) => r,
                Err(e) => Err(DbError::Internal(format!("database worker failed: {e}"))),
            },
            () = cancel.cancelled() => Err(DbError::Cancelled),
            () = tokio::time::sleep_until((deadline + DEADLINE_GRACE).into()) => Err(DbError::Timeout(limit_secs)),
        };
        // Leave the guard armed after a cancel or timeout: the worker stops.
        guard.1 = !matches!(outcome, Err(DbError::Cancelled | DbError::Timeout(_)));
        outcome
    }

    async fn ping_inner(&self) -> Result<(), DbError> {
        let recent_ok = self
            .inner
            .health
            .lock()
            .ok()
            .and_then(|h| h.last_ok)
            .is_some_and(|t| t.elapsed() < RECENT_OK);
        if recent_ok && self.inner.slots.available_permits() == 0 {
            // Every slot is busy with calls that were succeeding moments ago.
            return Ok(());
        }
        let no_idle = self.inner.idle.is_empty();
        if no_idle && self.inner.connecting.load(Ordering::Relaxed) > 0 {
            // Probes must not pile up connection attempts on a down database.
            let last = self
                .inner
                .health
                .lock()
                .ok()
                .and_then(|h| h.last_connect_error.clone());
            return Err(DbError::Unavailable(match last {
                Some(last) => last,
                None => format!(
                    "still connecting to {}",
                    self.inner.preflight.target.endpoint()
                ),
            }));
        }
        let job = Job {
            client_id: String::new(),
            action: "ping".into(),
            deadline: Instant::now() + self.inner.settings.connect_timeout + HOUSEKEEPING_TIMEOUT,
            limit_secs: (self.inner.settings.connect_timeout + HOUSEKEEPING_TIMEOUT).as_secs(),
            end_transaction: false,
        };
        self.run(job, &CancellationToken::new(), |conn, _, _| {
            conn.ping().map_err(Failure::from)
        })
        .await
    }
}

impl Inner {
    /// Worker side of [`DirectBackend::run`].
    fn execute<T>(
        &self,
        job: &Job,
        control: &Control,
        ready: oneshot::Sender<()>,
        work: impl FnOnce(&Connection, &Control, &Job) -> Result<T, Failure>,
    ) -> Result<T, DbError> {
        let conn = self.checkout()?;
        if control.abandoned.load(Ordering::Relaxed) {
            // The caller gave up while we connected; keep the session.
            self.checkin(conn);
            return Err(DbError::Cancelled);
        }
        let _ = ready.send(());
        let remaining = job.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            self.checkin(conn);
            return Err(DbError::Timeout(job.limit_secs));
        }
        let call_timeout = self.settings.call_timeout.min(remaining);
        // A driver timeout reports the limit that actually fired.
        let timeout_secs = call_timeout.as_secs() + u64::from(call_timeout.subsec_nanos() > 0);
        let setup = conn
            .set_call_timeout(Some(call_timeout))
            .and_then(|()| conn.set_client_identifier(&job.client_id))
            .and_then(|()| conn.set_module(MODULE))
            .and_then(|()| conn.set_action(&job.action));
        if let Err(e) = setup {
            return Err(map_call_error(&e, timeout_secs));
        }
        let result = work(&conn, control, job);
        let keep = match &result {
            Err(Failure::Driver(e)) if is_fatal(e) => false,
            _ if job.end_transaction => {
                let _ = conn.set_call_timeout(Some(HOUSEKEEPING_TIMEOUT));
                match conn.rollback() {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::debug!(error = %e, "direct backend: rollback failed; discarding the connection");
                        false
                    }
                }
            }
            _ => true,
        };
        match result {
            Ok(v) => {
                if let Ok(mut h) = self.health.lock() {
                    h.last_ok = Some(Instant::now());
                }
                if keep {
                    self.checkin(conn);
                }
                Ok(v)
            }
            Err(f) => {
                let err = match f {
                    Failure::Db(e) => e,
                    Failure::Driver(e) => {
                        if !keep {
                            tracing::warn!(error = %e, "direct backend: discarding a broken connection");
                        }
                        map_call_error(&e, timeout_secs)
                    }
                };
                if keep {
                    self.checkin(conn);
                }
                Err(err)
            }
        }
    }

    /// An idle connection (pinged if it idled long), or a new one.
    fn checkout(&self) -> Result<Connection, DbError> {
        loop {
            let Some(idle) = self.idle.take() else {
                return self.connect();
            };
            if idle.since.elapsed() < PING_AFTER {
                return Ok(idle.conn);
            }
            let alive = idle
                .conn
                .set_call_timeout(Some(HOUSEKEEPING_TIMEOUT))
                .and_then(|()| idle.conn.ping());
            match alive {
                Ok(()) => return Ok(idle.conn),
                Err(e) => {
                    tracing::debug!(error = %e, "direct backend: idle connection is dead; discarding it");
                }
            }
        }
    }

    fn checkin(&self, conn: Connection) {
        self.idle.put(IdleConn {
            conn,
            since: Instant::now(),
        });
    }

    /// Opens and prepares a new session (blocking).
    fn connect(&self) -> Result<Connection, DbError> {
        struct Counted<'a>(&'a AtomicUsize);
        impl Drop for Counted<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.connecting.fetch_add(1, Ordering::Relaxed);
        let _counted = Counted(&self.connecting);
        let started = Instant::now();
        let conn = oracledb::connect(self.driver.clone()).map_err(|e| {
            let message = self.connect_error_message(&e);
            if let Ok(mut h) = self.health.lock() {
                h.last_connect_error = Some(message.clone());
            }
            DbError::Unavailable(message)
        })?;
        // UTC session: TIMESTAMP WITH LOCAL TIME ZONE values are then UTC too.
        let setup = conn
            .set_call_timeout(Some(HOUSEKEEPING_TIMEOUT))
            .and_then(|()| {
                conn.execute("ALTER SESSION SET TIME_ZONE = 'UTC'", &[])
                    .map(|_| ())
            });
        if let Err(e) = setup {
            return Err(DbError::Unavailable(format!(
                "the new session could not be prepared: {e}"
            )));
        }
        if let Ok(mut h) = self.health.lock() {
            h.last_connect_error = None;
            h.last_ok = Some(Instant::now());
        }
        tracing::debug!(
            ms = started.elapsed().as_millis() as u64,
            "direct backend: opened a session"
        );
        Ok(conn)
    }

    fn connect_timeout_message(&self) -> String {
        let last = self
            .health
            .lock()
            .ok()
            .and_then(|h| h.last_connect_error.clone());
        let mut m = format!(
            "could not open a database session to {} within {} s (database.direct.connect_timeout_secs)",
            self.preflight.target.endpoint(),
            self.settings.connect_timeout.as_secs()
        );
        match last {
            Some(last) => m.push_str(&format!("; last error: {last}")),
            None => m.push_str(
                "; the server accepted TCP but did not complete the TLS/Oracle Net handshake, or is slow to answer",
            ),
        }
        m
    }

    /// A connect failure in words an operator can act on.
    fn connect_error_message(&self, e: &oracledb::Error) -> String {
        connect_error_message(
            e,
            &self.preflight.target,
            &self.preflight.wallet,
            &self.user,
            self.settings.connect_timeout,
        )
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing sends a logoff and waits for the answer; never do that on
        // an async worker (a dead network would stall shutdown).
        let idle = self.idle.drain();
        if !idle.is_empty() {
            let _ = std::thread::Builder::new()
                .name("adb-mcp-close".into())
                .spawn(move || drop(idle));
        }
    }
}

/// Describes a failed connection attempt without secrets.
pub fn connect_error_message(
    e: &oracledb::Error,
    target: &Target,
    wallet: &WalletMode,
    user: &str,
    connect_timeout: Duration,
) -> String {
    let ep = target.endpoint();
    let text = e.to_string();
    match e.kind() {
        ErrorKind::DbError(db) => match db.code() {
            1017 => format!(
                "the database refused the login of user {user} (ORA-01017: invalid username or password); check database.direct.user and database.direct.password"
            ),
            28000 => format!("the account {user} is locked (ORA-28000); ask a DBA to unlock it"),
            28001 => format!("the password of {user} has expired (ORA-28001); set a new one"),
            _ => format!("the database refused the session: {}", db.message().trim()),
        },
        ErrorKind::CallTimeoutExceeded => format!(
            "connecting to {ep} timed out after {} s: the host is unreachable from here or a firewall drops the traffic (Autonomous Database listens on 1522; check its network access list)",
            connect_timeout.as_secs()
        ),
        _ if is_tls_failure(e.kind(), &text) => {
            let hint = if text.contains("UnknownIssuer") {
                match wallet {
                    WalletMode::ClientKey { .. } => {
                        " — the server certificate is not issued by a public CA; with a client key in ewallet.pem the driver (oracledb 26.0.0-beta.5) trusts only the public (Mozilla) roots, not the wallet's CA certificates. Autonomous Database certificates chain to a public CA, so a TLS-inspecting proxy or a non-ADB server is in the way"
                    }
                    _ => {
                        " — the server certificate is signed neither by a CA in ewallet.pem nor by a public CA"
                    }
                }
            } else if text.contains("NotValidForName") {
                " — the certificate does not match the host name in the dsn"
            } else if text.contains("CertificateRequired") {
                " — the server requires a client certificate, but ewallet.pem has no private key; use the database's instance wallet (with its key)"
            } else {
                ""
            };
            format!("TLS with {ep} failed: {}{hint}", tls_detail(&text))
        }
        ErrorKind::StreamOperation if text.contains("refused") => format!(
            "{ep} refused the connection: nothing listens on that port (check host and port in the dsn)"
        ),
        ErrorKind::StreamOperation if text.contains("lookup") || text.contains("resolve") => {
            format!("cannot resolve the host of {ep}: {text}")
        }
        ErrorKind::DeadConnection => format!(
            "{ep} closed the connection during the TLS/Oracle Net handshake: it is not an Oracle listener for this service, or it rejected this client{}",
            rejected_client_hint(wallet)
        ),
        ErrorKind::StreamOperation
            if text.contains("Broken pipe")
                || text.contains("reset by peer")
                || text.contains("UnexpectedEof")
                || text.contains("unexpected end of file") =>
        {
            format!(
                "{ep} closed the connection during the TLS/Oracle Net handshake ({}){}",
                tls_detail(&text),
                rejected_client_hint(wallet)
            )
        }
        ErrorKind::StreamOperation => format!("cannot reach {ep}: {text}"),
        ErrorKind::ListenerRefusedConnection(..)
        | ErrorKind::InvalidServiceName(..)
        | ErrorKind::InvalidSid(..) => {
            format!("{text} — check the service name ({})", target.service())
        }
        ErrorKind::WalletPasswordMissingOrInvalid(..)
        | ErrorKind::WalletPrivateKeyInvalid(..)
        | ErrorKind::WalletUnreadable(..) => {
            format!("{text} (database.direct.wallet_dir / wallet_password)")
        }
        _ => format!("cannot connect to {ep}: {text}"),
    }
}

/// TLS failures surface either as the driver's TLS error or as an I/O
/// error wrapping rustls' error (inside the stream).
fn is_tls_failure(kind: &ErrorKind, text: &str) -> bool {
    matches!(kind, ErrorKind::TlsOperation)
        || (matches!(kind, ErrorKind::StreamOperation)
            && (text.contains("peer certificate")
                || text.contains("received fatal alert")
                || text.contains("peer is incompatible")
                || text.contains("peer misbehaved")))
}

/// The driver's text without its generic prefix.
fn tls_detail(text: &str) -> &str {
    text.strip_prefix("stream operation failed: ")
        .or_else(|| text.strip_prefix("TLS operation failed: "))
        .unwrap_or(text)
}

fn rejected_client_hint(wallet: &WalletMode) -> &'static str {
    match wallet {
        WalletMode::ClientKey { .. } => {
            " (a wallet of another database, or an expired client certificate?)"
        }
        _ => {
            " (it may require a client certificate: mutual TLS needs the wallet's ewallet.pem with its private key)"
        }
    }
}

/// Maps an error during a call to what the model sees.
pub fn map_call_error(e: &oracledb::Error, limit_secs: u64) -> DbError {
    match e.kind() {
        ErrorKind::DbError(db) => {
            let mut message = db.message().trim().to_owned();
            if db.code() == 1456 {
                message.push_str(" (this server runs every query in a read-only transaction)");
            }
            DbError::Sql {
                code: Some(format!("ORA-{:05}", db.code())),
                message,
            }
        }
        ErrorKind::CallTimeoutExceeded => DbError::Timeout(limit_secs),
        ErrorKind::MissingBindValue(_)
        | ErrorKind::WrongNumPositionalBinds(..)
        | ErrorKind::InvalidBindName(_) => DbError::InvalidParams(e.to_string()),
        _ if is_fatal(e) => DbError::Unavailable(format!(
            "the connection to the database was lost ({e}); the call did not complete — retry it"
        )),
        _ => DbError::Sql {
            code: None,
            message: e.to_string(),
        },
    }
}

/// Errors after which the connection must not be reused.
fn is_fatal(e: &oracledb::Error) -> bool {
    match e.kind() {
        ErrorKind::DeadConnection
        | ErrorKind::UnableToRecover
        | ErrorKind::NotConnected
        | ErrorKind::StreamOperation
        | ErrorKind::TlsOperation
        | ErrorKind::LockPoisoned => true,
        ErrorKind::DbError(db) => DEAD_SESSION_CODES.contains(&db.code()),
        _ => false,
    }
}

use crate::db::text::prefix_bytes as truncate;

/// An owned bind value; the driver binds `&dyn ToDbValue`.
enum BindValue {
    Null(Option<String>),
    Text(String),
    Integer(i64),
    Number(OracleNumber),
    Float(f64),
    Boolean(bool),
}

impl BindValue {
    fn as_dyn(&self) -> &dyn ToDbValue {
        match self {
            BindValue::Null(v) => v,
            BindValue::Text(v) => v,
            BindValue::Integer(v) => v,
            BindValue::Number(v) => v,
            BindValue::Float(v) => v,
            BindValue::Boolean(v) => v,
        }
    }
}

fn bind_values(binds: &[OracleBind]) -> Result<Vec<BindValue>, DbError> {
    binds
        .iter()
        .map(|b| {
            Ok(match b {
                OracleBind::Null => BindValue::Null(None),
                OracleBind::Text(s) => BindValue::Text(s.clone()),
                OracleBind::Integer(i) => BindValue::Integer(*i),
                OracleBind::Number(text) => BindValue::Number(
                    plain_decimal(text)
                        .and_then(|p| p.parse::<OracleNumber>().ok())
                        .ok_or_else(|| {
                            DbError::InvalidParams(format!(
                                "{text} cannot be represented as an Oracle NUMBER (at most 40 significant digits)"
                            ))
                        })?,
                ),
                OracleBind::Float(f) => BindValue::Float(*f),
                OracleBind::Boolean(b) => BindValue::Boolean(*b),
            })
        })
        .collect()
}

/// `1.5e3` → `1500`, `-2E-2` → `-0.02`; plain decimals pass through. The
/// driver's NUMBER parser does not read exponents.
pub fn plain_decimal(text: &str) -> Option<String> {
    let t = text.trim();
    let (sign, rest) = match t.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", t.strip_prefix('+').unwrap_or(t)),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(pos) => (&rest[..pos], rest[pos + 1..].parse::<i32>().ok()?),
        None => (rest, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
        || exp.unsigned_abs() > 200
    {
        return None;
    }
    let digits = format!("{int_part}{frac_part}");
    let point = i64::try_from(int_part.len()).ok()? + i64::from(exp);
    let len = i64::try_from(digits.len()).ok()?;
    let body = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(usize::try_from(-point).ok()?))
    } else if point >= len {
        format!("{digits}{}", "0".repeat(usize::try_from(point - len).ok()?))
    } else {
        let p = usize::try_from(point).ok()?;
        format!("{}.{}", &digits[..p], &digits[p..])
    };
    // Trim zeros that carry no value: leading integer zeros, trailing fraction zeros.
    let (ip, fp) = body.split_once('.').unwrap_or((&body, ""));
    let ip = ip.trim_start_matches('0');
    let fp = fp.trim_end_matches('0');
    let ip = if ip.is_empty() { "0" } else { ip };
    Some(if fp.is_empty() {
        format!("{sign}{ip}")
    } else {
        format!("{sign}{ip}.{fp}")
    })
}

/// Upper bound of the driver's buffer for one cell of a column, or `None`
/// when the value can be arbitrarily large in the fetch buffer (LONG, LONG
/// RAW, JSON, objects): such columns are fetched one row per round trip.
fn cell_bound(kind: ColumnKind, long: bool, max_size: u32) -> Option<usize> {
    let content = match kind {
        _ if long => return None,
        ColumnKind::Text | ColumnKind::Raw => match max_size {
            0 => 32_767,
            n => n as usize,
        },
        // Fetched as locators; previews are read per row, within a bound.
        ColumnKind::Clob | ColumnKind::Blob => 256,
        // A VECTOR has at most 65,535 dimensions of at most 8 bytes.
        ColumnKind::Vector => 65_535 * 8,
        ColumnKind::Json | ColumnKind::LongText | ColumnKind::Unsupported(_) => return None,
        ColumnKind::Number => 22,
        _ => 16,
    };
    Some(content + CELL_BUFFER_OVERHEAD)
}

/// Rows per fetch round trip: as many as fit `allowance` bytes by the
/// column bounds, at least 1, at most the configured `fetch_array_size`.
fn batch_size(bounds: &[Option<usize>], allowance: usize, configured: u32) -> u32 {
    if bounds.is_empty() {
        // Not described (unexpected for a parsed query): stay small.
        return configured.min(16);
    }
    let row: Option<usize> = bounds
        .iter()
        .try_fold(0usize, |acc, b| Some(acc.saturating_add((*b)?)));
    match row {
        None => 1,
        Some(row) => {
            let fit = (allowance / row.max(1)).max(1);
            u32::try_from(fit)
                .unwrap_or(u32::MAX)
                .min(configured)
                .max(1)
        }
    }
}

fn metadata_bound(m: &Metadata) -> Option<usize> {
    let t = m.db_type();
    let long = t == oracledb::DB_TYPE_LONG
        || t == oracledb::DB_TYPE_LONG_NVARCHAR
        || t == oracledb::DB_TYPE_LONG_RAW;
    cell_bound(column_kind(t), long, m.max_size())
}

/// What to read from one query.
struct Fetch<'a> {
    stmt: &'a OracleStatement,
    /// Rows read and dropped first (fixed queries page client-side).
    skip: u64,
    max_rows: usize,
    /// The result budget in bytes (the user's queries).
    budget: Option<usize>,
}

/// Runs one query and reads `max_rows` rows after skipping `skip` (one
/// more row is read to set `has_more`), converting each row as it arrives
/// and stopping when the budget is used up. Refuses to run anything the
/// driver does not classify as a query. The statement is described first
/// (one round trip unless the statement cache has it) so the fetch batch
/// can be sized from its column widths.
fn fetch_rows(
    conn: &Connection,
    f: &Fetch<'_>,
    fetch_array_size: u32,
    control: &Control,
    job: &Job,
) -> Result<QueryResult, Failure> {
    let values = bind_values(&f.stmt.binds)?;
    let params: Vec<&dyn ToDbValue> = values.iter().map(BindValue::as_dyn).collect();
    let mut probe = conn.statement(&f.stmt.sql)?.fetch_lobs().build()?;
    if !probe.is_query() {
        return Err(Failure::Db(DbError::Internal(
            "refusing to run a statement the driver does not classify as a query".into(),
        )));
    }
    probe.ensure_fully_parsed()?;
    let bounds: Vec<Option<usize>> = probe.out_metadata().iter().map(metadata_bound).collect();
    drop(probe);
    let allowance = f
        .budget
        .map_or(FIXED_BATCH_BYTES, |b| b.saturating_mul(BATCH_BUDGET_FACTOR));
    let batch = batch_size(&bounds, allowance, fetch_array_size);
    let wanted = f.skip.saturating_add(f.max_rows as u64).saturating_add(1);
    let prefetch = u32::try_from(wanted.min(u64::from(batch))).unwrap_or(batch);
    let cursor = conn
        .statement(&f.stmt.sql)?
        .fetch_array_size(batch)
        .prefetch_rows(prefetch)
        .fetch_lobs()
        .build()?
        .query(&params)?;
    let columns: Vec<ColumnInfo> = cursor
        .columns()
        .iter()
        .map(|m| ColumnInfo {
            name: m.name().to_owned(),
            type_name: m.data_type(),
        })
        .collect();
    let kinds: Vec<ColumnKind> = cursor
        .columns()
        .iter()
        .map(|m| column_kind(m.db_type()))
        .collect();
    let mut budget = f.budget.map(ResultBudget::new);
    let mut rows = Vec::with_capacity(f.max_rows.min(1024));
    let mut skipped = 0u64;
    let mut has_more = false;
    let mut budget_stop = None;
    for row in cursor {
        if control.cancelled.load(Ordering::Relaxed) {
            return Err(Failure::Db(DbError::Cancelled));
        }
        if Instant::now() > job.deadline {
            return Err(Failure::Db(DbError::Timeout(job.limit_secs)));
        }
        let mut row = row?;
        if skipped < f.skip {
            skipped += 1;
            continue;
        }
        if rows.len() >= f.max_rows {
            has_more = true;
            break;
        }
        let mut out = Vec::with_capacity(kinds.len());
        for (i, kind) in kinds.iter().enumerate() {
            let v = convert_cell(*kind, &mut row, i).map_err(|e| {
                Failure::Db(DbError::Sql {
                    code: None,
                    message: format!("cannot read column {}: {e}", columns[i].name),
                })
            })?;
            out.push(v);
        }
        if let Some(b) = budget.as_mut()
            && !b.admit(&out)
        {
            has_more = true;
            budget_stop = Some(b.limit());
            break;
        }
        rows.push(out);
    }
    Ok(QueryResult {
        columns,
        rows,
        has_more,
        budget_stop,
    })
}

#[async_trait]
impl OracleExec for DirectBackend {
    fn kind(&self) -> &'static str {
        "direct"
    }

    async fn check_ready(&self) -> Result<(), DbError> {
        self.ping_inner().await
    }

    async fn fetch(
        &self,
        stmt: &OracleStatement,
        offset: u64,
        max_rows: usize,
        ctx: &CallContext,
    ) -> Result<QueryResult, DbError> {
        let stmt = stmt.clone();
        let fetch_size = self.inner.settings.fetch_array_size;
        self.run(Self::job(ctx), &ctx.cancel, move |conn, control, job| {
            // Read-only in the database too, not only by the guard.
            conn.execute("SET TRANSACTION READ ONLY", &[])?;
            let f = Fetch {
                stmt: &stmt,
                skip: offset,
                max_rows,
                budget: None,
            };
            fetch_rows(conn, &f, fetch_size, control, job)
        })
        .await
    }

    async fn fetch_query(
        &self,
        query: &UserQuery,
        offset: u64,
        max_rows: usize,
        max_bytes: usize,
        ctx: &CallContext,
    ) -> Result<QueryResult, DbError> {
        let stmt = wrap::paged_statement(query, offset, max_rows.saturating_add(1))?;
        let fetch_size = self.inner.settings.fetch_array_size;
        self.run(Self::job(ctx), &ctx.cancel, move |conn, control, job| {
            conn.execute("SET TRANSACTION READ ONLY", &[])?;
            let f = Fetch {
                stmt: &stmt,
                skip: 0,
                max_rows,
                budget: Some(max_bytes),
            };
            fetch_rows(conn, &f, fetch_size, control, job)
        })
        .await
    }

    async fn explain_plan(
        &self,
        query: &UserQuery,
        statement_id: &str,
        max_rows: usize,
        ctx: &CallContext,
    ) -> Result<Vec<Vec<serde_json::Value>>, DbError> {
        let explain = wrap::explain_statement(statement_id, query)?;
        let read = wrap::plan_rows_statement(statement_id)?;
        let fetch_size = self.inner.settings.fetch_array_size;
        // No READ ONLY transaction here: EXPLAIN PLAN writes PLAN_TABLE rows,
        // which a read-only transaction refuses (ORA-01456). The call ends
        // with ROLLBACK, so nothing it wrote survives. The driver insists
        // on values for the placeholders, so the user's are bound.
        let r = self
            .run(Self::job(ctx), &ctx.cancel, move |conn, control, job| {
                let values = bind_values(&explain.binds)?;
                let params: Vec<&dyn ToDbValue> = values.iter().map(BindValue::as_dyn).collect();
                conn.execute(&explain.sql, &params)?;
                let f = Fetch {
                    stmt: &read,
                    skip: 0,
                    max_rows,
                    budget: None,
                };
                fetch_rows(conn, &f, fetch_size, control, job)
            })
            .await?;
        Ok(r.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponents_become_plain_decimals() {
        for (input, want) in [
            ("1e40", "10000000000000000000000000000000000000000"),
            ("1.5e3", "1500"),
            ("-2E-2", "-0.02"),
            ("12.50", "12.5"),
            ("+007", "7"),
            ("0.000", "0"),
            ("123.456e-1", "12.3456"),
        ] {
            assert_eq!(plain_decimal(input).as_deref(), Some(want), "{input}");
        }
        for bad in ["", "e5", "1e", "1.2.3", "abc", "1e999"] {
            assert_eq!(plain_decimal(bad), None, "{bad}");
        }
    }

    #[test]
    fn numbers_bind_and_overflow_is_a_parameter_error() {
        assert!(bind_values(&[OracleBind::Number("1e40".into())]).is_ok());
        let err = bind_values(&[OracleBind::Number("1".repeat(60))])
            .err()
            .expect("too many digits");
        assert!(matches!(err, DbError::InvalidParams(_)), "{err}");
    }

    #[test]
    fn fetch_batches_fit_the_allowance_by_column_width() {
        let narrow = [
            cell_bound(ColumnKind::Number, false, 0),
            cell_bound(ColumnKind::Text, false, 40),
        ];
        // 86 + 104 = 190 bytes per row: 1 MiB holds 5518 rows, capped at 100.
        assert_eq!(batch_size(&narrow, 1 << 20, 100), 100);
        let wide = vec![cell_bound(ColumnKind::Text, false, 32_767); 100];
        // 100 × 32,831 bytes per row: a 4 MiB allowance holds one row.
        assert_eq!(batch_size(&wide, 4 << 20, 100), 1);
        let text_4000 = vec![cell_bound(ColumnKind::Text, false, 4000); 10];
        assert_eq!(batch_size(&text_4000, 4 << 20, 500), 103);
        for unbounded in [
            cell_bound(ColumnKind::Text, true, 0),
            cell_bound(ColumnKind::Raw, true, 0),
            cell_bound(ColumnKind::Json, false, 0),
            cell_bound(ColumnKind::Unsupported("OBJECT"), false, 0),
        ] {
            assert_eq!(unbounded, None);
            assert_eq!(batch_size(&[narrow[0], unbounded], 1 << 30, 100), 1);
        }
        assert_eq!(batch_size(&[], 1 << 20, 100), 16, "undescribed: small");
        assert_eq!(batch_size(&narrow, 0, 100), 1, "never zero");
    }

    #[test]
    fn identity_is_cut_on_char_boundaries() {
        assert_eq!(truncate("abc", 2), "ab");
        assert_eq!(truncate("é", 1), "");
        assert_eq!(truncate("short", 64), "short");
    }
}
