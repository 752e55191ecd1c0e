//! Embedded SQLite backend, used for the zero-setup demo and for tests.
//!
//! Writes are refused by the database itself, independently of the guard:
//! connections are opened read-only, with `query_only`, defensive mode, and
//! an authorizer that denies every action a read-only query does not need.
//!
//! Short reads run inline on the async worker (no thread hop, cached
//! prepared statements). A progress handler interrupts anything that runs
//! longer than [`INLINE_BUDGET`]; it is then re-run on the blocking pool,
//! where cancellation and the call deadline can stop it.
//!
//! Nothing a client sends may take the process down: before user text is
//! prepared, SQLite itself confirms (iteratively) that it reads exactly one
//! statement, because rusqlite checks the tail of a text by recursing once
//! per statement; SQLite's run-time limits bound values, statement size and
//! nesting; a process-wide heap limit bounds all SQLite memory; and rows are
//! counted against the call's [`ResultBudget`] while they are fetched.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::config::DbConfig;
use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::types::ValueRef;
use rusqlite::{Batch, Connection, ErrorCode, OpenFlags, Statement};
use serde_json::Value;

use super::pool::IdlePool;
use super::{
    Backend, BackendInfo, CallContext, ColumnDescription, ColumnInfo, DbError, ExplainResult,
    ForeignKey, IndexInfo, ObjectKind, Params, PlanStep, PoolStats, QueryRequest, QueryResult,
    ReadOnlyQuery, ResultBudget, SchemaInfo, TableDescription, TableInfo, TableListRequest,
    TablePage, WriteResult, WriteStatement, suggest,
};

/// How long a statement may run on an async worker before it is moved to
/// the blocking pool. Sub-millisecond reads never leave the worker.
const INLINE_BUDGET: Duration = Duration::from_millis(2);
/// VM instructions between progress-handler checks (a few microseconds).
const PROGRESS_OPS: i32 = 1000;
/// Bytes of a BLOB shown (base64) before it is cut with a marker.
use super::BLOB_PREVIEW_BYTES;
/// Table holding table and column comments (SQLite has no COMMENT ON).
const COMMENTS_TABLE: &str = "_comments";
const SCHEMA_NAME: &str = "main";

/// Prefix `explain` puts before the user's statement; SQLite's statement
/// length limit leaves room for it.
const EXPLAIN_PREFIX: &str = "EXPLAIN QUERY PLAN ";
/// Texts each connection remembers as verified to be one statement, and the
/// longest text remembered (longer ones are checked on every call).
const VERIFIED_CAPACITY: usize = 256;
const VERIFIED_MAX_TEXT: usize = 8 * 1024;

/// SQLite's run-time limits on every connection, beyond the two that come
/// from config. Generous for any real query (SQLite's defaults are in
/// brackets), small enough that parsing and code generation, which recurse
/// per level, stay far from the 2 MiB thread stacks, and that one statement
/// cannot compile to a huge program.
const FIXED_LIMITS: &[(Limit, i32, &str)] = &[
    // [1000] Nested expressions, and subqueries/views nested in each other.
    (
        Limit::SQLITE_LIMIT_EXPR_DEPTH,
        500,
        "levels of nested expressions or subqueries",
    ),
    // [2500] Parser stack: nesting of parentheses and clauses.
    (
        Limit::SQLITE_LIMIT_PARSER_DEPTH,
        1000,
        "levels of parser nesting (parentheses, calls, clauses)",
    ),
    // [500] Terms of one UNION/INTERSECT/EXCEPT chain (one recursion each).
    (
        Limit::SQLITE_LIMIT_COMPOUND_SELECT,
        250,
        "terms in a compound SELECT",
    ),
    // [250000000] Instructions of one compiled statement (24 bytes each).
    (
        Limit::SQLITE_LIMIT_VDBE_OP,
        250_000,
        "instructions per compiled statement",
    ),
    // [1000] Arguments of one function call.
    (
        Limit::SQLITE_LIMIT_FUNCTION_ARG,
        255,
        "arguments per function call",
    ),
    // [50000] Length of a LIKE or GLOB pattern (matching recurses per `%`).
    (
        Limit::SQLITE_LIMIT_LIKE_PATTERN_LENGTH,
        1000,
        "bytes per LIKE or GLOB pattern",
    ),
    // [32766] Highest bind number; each costs a slot in every execution.
    (Limit::SQLITE_LIMIT_VARIABLE_NUMBER, 999, "bind parameters"),
    // [2000] Columns of a result or table: the default, pinned, because a
    // lower value would make wider tables of a served file unreadable.
    (Limit::SQLITE_LIMIT_COLUMN, 2000, "columns"),
    // [10] No ATTACH (the authorizer refuses it too).
    (Limit::SQLITE_LIMIT_ATTACHED, 0, "attached databases"),
    // [1000] Nothing fires triggers on a read-only connection.
    (Limit::SQLITE_LIMIT_TRIGGER_DEPTH, 10, "levels of triggers"),
    // [0] No helper threads for sorting.
    (Limit::SQLITE_LIMIT_WORKER_THREADS, 0, "sorter threads"),
];

/// Limits of the SQLite backend that come from config.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Read-only connections kept open for reuse.
    pub max_idle: usize,
    pub timeout: Duration,
    /// The file never changes while served (the demo database).
    pub immutable: bool,
    /// `SQLITE_LIMIT_LENGTH` (`database.sqlite.max_value_bytes`).
    pub max_value_bytes: usize,
    /// Longest statement text (`query.max_sql_bytes`); SQLite's limit adds
    /// room for the EXPLAIN prefix.
    pub max_sql_bytes: usize,
    /// Process-wide hard heap limit (`database.sqlite.max_memory_mib`).
    pub max_memory_mib: u64,
}

impl SqliteOptions {
    /// The configured limits (`query.*`, `database.sqlite.*`).
    pub fn from_config(config: &crate::config::Config, immutable: bool) -> Self {
        let sqlite = &config.database.sqlite;
        Self {
            max_idle: sqlite.max_idle_connections,
            timeout: config.query.timeout(),
            immutable,
            max_value_bytes: sqlite.max_value_bytes,
            max_sql_bytes: config.query.max_sql_bytes,
            max_memory_mib: sqlite.max_memory_mib,
        }
    }

    /// The defaults of config, with the given pool size and timeout.
    pub fn new(max_idle: usize, timeout: Duration, immutable: bool) -> Self {
        let config = crate::config::Config::default();
        Self {
            max_idle,
            timeout,
            ..Self::from_config(&config, immutable)
        }
    }

    fn sql_length_limit(&self) -> usize {
        self.max_sql_bytes + EXPLAIN_PREFIX.len() + 64
    }
}

const STOP_NONE: u8 = 0;
const STOP_OFFLOAD: u8 = 1;
const STOP_TIMEOUT: u8 = 2;
const STOP_CANCEL: u8 = 3;

/// Monotonic nanoseconds since the first use; lets deadlines live in atomics.
fn clock_base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn instant_ns(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(clock_base()).as_nanos()).unwrap_or(u64::MAX)
}

fn now_ns() -> u64 {
    instant_ns(Instant::now())
}

/// Shared between a connection's progress handler and whoever runs on it.
#[derive(Default)]
struct ExecControl {
    deadline_ns: AtomicU64,
    /// 0 when not running inline.
    inline_until_ns: AtomicU64,
    cancelled: AtomicBool,
    stop_reason: AtomicU8,
}

impl ExecControl {
    fn arm(&self, deadline: Instant, inline: bool) {
        self.deadline_ns
            .store(instant_ns(deadline), Ordering::Relaxed);
        let inline_until = if inline {
            now_ns() + u64::try_from(INLINE_BUDGET.as_nanos()).unwrap_or(u64::MAX)
        } else {
            0
        };
        self.inline_until_ns.store(inline_until, Ordering::Relaxed);
        self.cancelled.store(false, Ordering::Relaxed);
        self.stop_reason.store(STOP_NONE, Ordering::Relaxed);
    }

    /// Progress handler body: returns true to interrupt the statement.
    fn should_stop(&self) -> bool {
        let reason = if self.cancelled.load(Ordering::Relaxed) {
            STOP_CANCEL
        } else {
            let now = now_ns();
            let inline_until = self.inline_until_ns.load(Ordering::Relaxed);
            if inline_until != 0 && now > inline_until {
                STOP_OFFLOAD
            } else if now > self.deadline_ns.load(Ordering::Relaxed) {
                STOP_TIMEOUT
            } else {
                return false;
            }
        };
        self.stop_reason.store(reason, Ordering::Relaxed);
        true
    }
}

/// A connection plus the texts SQLite has already confirmed to be exactly
/// one statement on it, so a cached statement costs one hash lookup.
struct Conn {
    conn: Connection,
    verified: RefCell<HashSet<Box<str>>>,
}

impl Deref for Conn {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl Conn {
    fn new(conn: Connection) -> Self {
        Self {
            conn,
            verified: RefCell::new(HashSet::new()),
        }
    }

    /// Refuses `sql` unless SQLite reads it as exactly one statement.
    ///
    /// Must run before untrusted text reaches `prepare`/`prepare_cached`:
    /// rusqlite looks for a second statement by preparing the tail
    /// recursively, one stack frame per statement, so ~6,600 hidden
    /// statements overflow the stack. `Batch` walks the text iteratively,
    /// and once it passed, rusqlite's own check recurses at most once.
    fn check_one_statement(&self, sql: &str) -> ExecResult<()> {
        if self.verified.borrow().contains(sql) {
            return Ok(());
        }
        let mut batch = Batch::new(&self.conn, sql);
        if batch.next()?.is_none() {
            return Err(DbError::Sql {
                code: None,
                message: "the text holds no SQL statement".into(),
            }
            .into());
        }
        // Anything after the first statement but comments, whitespace and
        // `;` is a second statement, whether SQLite can compile it or not.
        let more = match batch.next() {
            Ok(next) => next.is_some(),
            Err(_) => true,
        };
        if more {
            return Err(DbError::Sql {
                code: None,
                message: "the database reads this text as more than one statement; send exactly one SELECT or WITH statement".into(),
            }
            .into());
        }
        if sql.len() <= VERIFIED_MAX_TEXT {
            let mut verified = self.verified.borrow_mut();
            if verified.len() >= VERIFIED_CAPACITY {
                verified.clear();
            }
            verified.insert(sql.into());
        }
        Ok(())
    }

    /// `prepare_cached` for text that did not come from this module.
    fn prepare_checked(&self, sql: &str) -> ExecResult<rusqlite::CachedStatement<'_>> {
        self.check_one_statement(sql)?;
        Ok(self.conn.prepare_cached(sql)?)
    }
}

struct PooledConn {
    conn: Conn,
    ctl: Arc<ExecControl>,
    /// Counts open connections for pool metrics; released when dropped.
    open: Option<OpenCount>,
}

struct OpenCount(Arc<AtomicU64>);

impl Drop for OpenCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl PooledConn {
    fn counted(mut self, open: &Arc<AtomicU64>) -> Self {
        open.fetch_add(1, Ordering::Relaxed);
        self.open = Some(OpenCount(Arc::clone(open)));
        self
    }
}

/// What a closure run on a connection can fail with.
enum ExecError {
    Db(DbError),
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for ExecError {
    fn from(e: rusqlite::Error) -> Self {
        ExecError::Sqlite(e)
    }
}
impl From<DbError> for ExecError {
    fn from(e: DbError) -> Self {
        ExecError::Db(e)
    }
}

type ExecResult<T> = Result<T, ExecError>;

/// Facts about the database file that decide which dictionary SQL to use.
#[derive(Debug, Clone, Copy)]
struct Features {
    has_comments: bool,
    has_stats: bool,
}

pub struct SqliteBackend {
    path: PathBuf,
    options: SqliteOptions,
    /// The file never changes while served (our demo database): SQLite can
    /// skip locking and change checks, saving syscalls on every query.
    immutable: bool,
    idle: IdlePool<PooledConn>,
    /// Connections open right now (idle or running), for pool metrics.
    open: Arc<AtomicU64>,
    features: Features,
    timeout_secs: u64,
    /// The one read-write connection for declarative writing tools; only
    /// opened when `tools.allow_writes` is on and the file is not immutable.
    writer: Option<Arc<Mutex<Conn>>>,
}

impl SqliteBackend {
    /// Opens `path` read-only with the default limits; fails early if it
    /// is missing or not SQLite.
    pub fn open(
        path: &Path,
        max_idle: usize,
        timeout: Duration,
        immutable: bool,
    ) -> Result<Self, DbError> {
        Self::open_with(path, SqliteOptions::new(max_idle, timeout, immutable))
    }

    /// Opens `path` read-only with `options`, and sets SQLite's
    /// process-wide heap limits from them.
    pub fn open_with(path: &Path, options: SqliteOptions) -> Result<Self, DbError> {
        set_heap_limits(options.max_memory_mib)?;
        let open = Arc::new(AtomicU64::new(0));
        let first = open_connection(path, &options)?.counted(&open);
        let features = detect_features(&first.conn).map_err(|e| {
            DbError::Unavailable(format!(
                "{} is not a readable SQLite database: {e}",
                path.display()
            ))
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            immutable: options.immutable,
            idle: IdlePool::new(Some(first), options.max_idle.max(1)),
            open,
            features,
            timeout_secs: options.timeout.as_secs(),
            writer: None,
            options,
        })
    }

    /// Opens the separate read-write connection used by writing tools. The
    /// demo database is immutable and cannot be written: that stays refused.
    pub fn enable_writes(mut self) -> Result<Self, DbError> {
        if !self.immutable {
            self.writer = Some(Arc::new(Mutex::new(Conn::new(open_writer(
                &self.path,
                &self.options,
            )?))));
        }
        Ok(self)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn checkout(&self) -> Result<PooledConn, DbError> {
        match self.idle.take() {
            Some(c) => Ok(c),
            None => open_connection(&self.path, &self.options).map(|c| c.counted(&self.open)),
        }
    }

    fn checkin(&self, conn: PooledConn) {
        self.idle.put(conn);
    }

    /// Runs `f` on a pooled connection: inline first, then on the blocking
    /// pool if it outlives the inline budget.
    async fn run<T, F>(&self, ctx: &CallContext, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: Fn(&Conn) -> ExecResult<T> + Send + 'static,
    {
        if ctx.cancel.is_cancelled() {
            return Err(DbError::Cancelled);
        }
        let pooled = self.checkout()?;
        pooled.ctl.arm(ctx.deadline, true);
        let first = f(&pooled.conn);
        let reason = pooled.ctl.stop_reason.load(Ordering::Relaxed);
        if !(first.is_err() && reason == STOP_OFFLOAD) {
            let out = self.finish(first, reason);
            self.checkin(pooled);
            return out;
        }

        pooled.ctl.arm(ctx.deadline, false);
        let ctl = Arc::clone(&pooled.ctl);
        let mut handle = tokio::task::spawn_blocking(move || {
            let r = f(&pooled.conn);
            (pooled, r)
        });
        let joined = tokio::select! {
            joined = &mut handle => joined,
            () = ctx.cancel.cancelled() => {
                ctl.cancelled.store(true, Ordering::Relaxed);
                handle.await
            }
        };
        match joined {
            Ok((pooled, r)) => {
                let reason = pooled.ctl.stop_reason.load(Ordering::Relaxed);
                let out = self.finish(r, reason);
                self.checkin(pooled);
                out
            }
            Err(e) => Err(DbError::Internal(format!("query worker failed: {e}"))),
        }
    }

    fn finish<T>(&self, r: ExecResult<T>, reason: u8) -> Result<T, DbError> {
        match r {
            Ok(v) => Ok(v),
            Err(ExecError::Db(e)) => Err(e),
            Err(ExecError::Sqlite(e)) => Err(self.map_sqlite_error(e, reason)),
        }
    }

    fn map_sqlite_error(&self, e: rusqlite::Error, reason: u8) -> DbError {
        let failure = match &e {
            rusqlite::Error::SqliteFailure(f, msg) => Some((f, msg.as_deref())),
            rusqlite::Error::SqlInputError { error, msg, .. } => Some((error, Some(msg.as_str()))),
            _ => None,
        };
        if let Some((f, msg)) = failure {
            match f.code {
                ErrorCode::OperationInterrupted => {
                    return match reason {
                        STOP_CANCEL => DbError::Cancelled,
                        _ => DbError::Timeout(self.timeout_secs),
                    };
                }
                ErrorCode::ReadOnly => {
                    return DbError::Sql {
                        code: Some("SQLITE_READONLY".into()),
                        message: format!(
                            "the database refused to write ({}); this connection is read-only",
                            msg.unwrap_or("attempt to write a readonly database")
                        ),
                    };
                }
                ErrorCode::AuthorizationForStatementDenied => {
                    return DbError::Sql {
                        code: Some("SQLITE_AUTH".into()),
                        message: "the database refused the statement: only reads are authorized on this read-only connection".into(),
                    };
                }
                ErrorCode::TooBig => return self.too_big(msg),
                ErrorCode::OutOfMemory => {
                    return DbError::Sql {
                        code: Some("SQLITE_NOMEM".into()),
                        message: format!(
                            "the query needs more memory than SQLite may use: the limit is {} MiB for all calls together (database.sqlite.max_memory_mib), or the statement compiles to more than {} instructions; return fewer or smaller values, or aggregate",
                            self.options.max_memory_mib,
                            fixed_limit(Limit::SQLITE_LIMIT_VDBE_OP)
                        ),
                    };
                }
                ErrorCode::Unknown => {
                    if let Some((what, value)) = msg.and_then(limit_for_message) {
                        return DbError::Sql {
                            code: Some("SQLITE_LIMIT".into()),
                            message: format!(
                                "{} (this server allows at most {value} {what}, a fixed SQLite limit); simplify the query",
                                msg.unwrap_or_default()
                            ),
                        };
                    }
                }
                _ => {}
            }
        }
        sql_error(&e)
    }

    fn too_big(&self, msg: Option<&str>) -> DbError {
        let o = &self.options;
        let message = if msg.is_some_and(|m| m.contains("statement too long")) {
            format!(
                "the SQL text is longer than the limit of {} bytes (query.max_sql_bytes); shorten it",
                o.max_sql_bytes
            )
        } else {
            format!(
                "a string or BLOB would be larger than the limit of {} per value (database.sqlite.max_value_bytes); return less, e.g. substr(x, 1, 1000) or length(x)",
                super::human_bytes(o.max_value_bytes)
            )
        };
        DbError::Sql {
            code: Some("SQLITE_TOOBIG".into()),
            message,
        }
    }
}

/// The value of one of [`FIXED_LIMITS`].
fn fixed_limit(limit: Limit) -> i32 {
    FIXED_LIMITS
        .iter()
        .find(|(l, _, _)| *l as i32 == limit as i32)
        .map_or(0, |(_, v, _)| *v)
}

/// Which of [`FIXED_LIMITS`] an SQLite error message reports, if any.
fn limit_for_message(msg: &str) -> Option<(&'static str, i32)> {
    const PHRASES: &[(&str, Limit)] = &[
        (
            "Expression tree is too large",
            Limit::SQLITE_LIMIT_EXPR_DEPTH,
        ),
        ("nested too deep", Limit::SQLITE_LIMIT_EXPR_DEPTH),
        ("Recursion limit", Limit::SQLITE_LIMIT_PARSER_DEPTH),
        (
            "too many terms in compound SELECT",
            Limit::SQLITE_LIMIT_COMPOUND_SELECT,
        ),
        (
            "too many arguments on function",
            Limit::SQLITE_LIMIT_FUNCTION_ARG,
        ),
        (
            "LIKE or GLOB pattern too complex",
            Limit::SQLITE_LIMIT_LIKE_PATTERN_LENGTH,
        ),
        (
            "too many SQL variables",
            Limit::SQLITE_LIMIT_VARIABLE_NUMBER,
        ),
        (
            "variable number must be between",
            Limit::SQLITE_LIMIT_VARIABLE_NUMBER,
        ),
        ("too many columns", Limit::SQLITE_LIMIT_COLUMN),
        ("too many attached databases", Limit::SQLITE_LIMIT_ATTACHED),
    ];
    let (_, limit) = PHRASES.iter().find(|(p, _)| msg.contains(p))?;
    FIXED_LIMITS
        .iter()
        .find(|(l, _, _)| *l as i32 == *limit as i32)
        .map(|(_, v, what)| (*what, *v))
}

/// Sets SQLite's process-wide heap limits: `mib` hard, half of it soft (at
/// which SQLite starts giving back cache memory). Through the pragmas, on a
/// private in-memory connection, so no `unsafe` is needed; the hard-limit
/// pragma can only lower a limit already set, so the smallest configured
/// limit wins in a process that opens several backends (tests).
fn set_heap_limits(mib: u64) -> Result<(), DbError> {
    let hard = mib.saturating_mul(1024 * 1024);
    let conn = Connection::open_in_memory()
        .map_err(|e| DbError::Unavailable(format!("cannot start SQLite: {e}")))?;
    let set = |pragma: &str, value: u64| {
        conn.query_row(&format!("PRAGMA {pragma} = {value}"), [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(|e| DbError::Unavailable(format!("cannot set SQLite's {pragma}: {e}")))
    };
    set("hard_heap_limit", hard)?;
    set("soft_heap_limit", hard / 2)?;
    Ok(())
}

fn sql_error(e: &rusqlite::Error) -> DbError {
    match e {
        rusqlite::Error::SqliteFailure(f, msg) => DbError::Sql {
            code: Some(format!("SQLITE_{:?}", f.code).to_uppercase()),
            message: msg.clone().unwrap_or_else(|| f.to_string()),
        },
        other => DbError::Sql {
            code: None,
            message: other.to_string(),
        },
    }
}

/// Settings every connection gets, reader or writer: SQLite's run-time
/// limits, and double-quoted text always an identifier (never a string
/// literal, as SQLite's legacy misfeature would read `"x"` when no column x
/// exists), which is how the guard reads it.
fn harden(conn: &Connection, options: &SqliteOptions) -> rusqlite::Result<()> {
    let clamp = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, clamp(options.max_value_bytes))?;
    conn.set_limit(
        Limit::SQLITE_LIMIT_SQL_LENGTH,
        clamp(options.sql_length_limit()),
    )?;
    for (limit, value, _) in FIXED_LIMITS {
        conn.set_limit(*limit, *value)?;
    }
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DML, false)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DDL, false)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)?;
    Ok(())
}

fn open_connection(path: &Path, options: &SqliteOptions) -> Result<PooledConn, DbError> {
    let immutable = options.immutable;
    let mut flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let unavailable = |e: rusqlite::Error| {
        DbError::Unavailable(format!("cannot open {} read-only: {e}", path.display()))
    };
    let mut conn = if immutable {
        let absolute = std::fs::canonicalize(path)
            .map_err(|e| DbError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        let mut uri = url::Url::from_file_path(&absolute).map_err(|()| {
            DbError::Unavailable(format!("cannot open {}: not a file path", path.display()))
        })?;
        uri.set_query(Some("immutable=1"));
        flags |= OpenFlags::SQLITE_OPEN_URI;
        Connection::open_with_flags(uri.as_str(), flags).map_err(unavailable)?
    } else {
        Connection::open_with_flags(path, flags).map_err(unavailable)?
    };
    conn.pragma_update(None, "query_only", true)
        .map_err(unavailable)?;
    // Plans stay stable across bind values, so cached statements are never re-prepared.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map_err(unavailable)?;
    harden(&conn, options).map_err(unavailable)?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.authorizer(Some(authorize)).map_err(unavailable)?;
    let ctl = Arc::new(ExecControl::default());
    let handler_ctl = Arc::clone(&ctl);
    conn.progress_handler(PROGRESS_OPS, Some(move || handler_ctl.should_stop()))
        .map_err(unavailable)?;
    Ok(PooledConn {
        conn: Conn::new(conn),
        ctl,
        open: None,
    })
}

/// Pragmas that only read whatever their argument, which names an object:
/// used by the dictionary queries and by clients as table-valued functions
/// (`pragma_table_xinfo(?1)`, `SELECT * FROM pragma_table_list`).
const READ_PRAGMAS: &[&str] = &[
    "table_list",
    "table_info",
    "table_xinfo",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "foreign_key_check",
    "database_list",
    "collation_list",
    "compile_options",
];

/// Pragmas that read without an argument and would set a value with one
/// (`PRAGMA user_version = 7`): allowed only without (`pragma_user_version`).
const READ_PRAGMAS_WITHOUT_ARGUMENT: &[&str] = &[
    "user_version",
    "application_id",
    "schema_version",
    "data_version",
    "page_count",
    "page_size",
    "freelist_count",
    "encoding",
];

/// The engine-level allow-list: anything not needed to read is refused.
fn authorize(ctx: AuthContext<'_>) -> Authorization {
    match ctx.action {
        AuthAction::Select | AuthAction::Read { .. } | AuthAction::Recursive => {
            Authorization::Allow
        }
        AuthAction::Function { function_name } => {
            if function_name.eq_ignore_ascii_case("load_extension") {
                Authorization::Deny
            } else {
                Authorization::Allow
            }
        }
        // The argument of these is an object name, never an assignment.
        AuthAction::Pragma { pragma_name, .. }
            if READ_PRAGMAS
                .iter()
                .any(|p| p.eq_ignore_ascii_case(pragma_name)) =>
        {
            Authorization::Allow
        }
        AuthAction::Pragma {
            pragma_name,
            pragma_value: None,
        } if READ_PRAGMAS_WITHOUT_ARGUMENT
            .iter()
            .any(|p| p.eq_ignore_ascii_case(pragma_name)) =>
        {
            Authorization::Allow
        }
        _ => Authorization::Deny,
    }
}

/// The read-write connection for writing tools: DML only. Schema changes,
/// ATTACH, pragma assignments and writes to SQLite's own tables stay denied.
fn open_writer(path: &Path, options: &SqliteOptions) -> Result<Connection, DbError> {
    let unavailable = |e: rusqlite::Error| {
        DbError::WritesUnsupported(format!(
            "cannot open {} for writing: {e}; writing tools need a writable SQLite file",
            path.display()
        ))
    };
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(unavailable)?;
    harden(&conn, options).map_err(unavailable)?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(unavailable)?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.authorizer(Some(authorize_write))
        .map_err(unavailable)?;
    Ok(conn)
}

fn authorize_write(ctx: AuthContext<'_>) -> Authorization {
    let user_table = |t: &str| !t.starts_with("sqlite_") && t != COMMENTS_TABLE;
    match ctx.action {
        AuthAction::Insert { table_name }
        | AuthAction::Delete { table_name }
        | AuthAction::Update { table_name, .. } => {
            if user_table(table_name) {
                Authorization::Allow
            } else {
                Authorization::Deny
            }
        }
        _ => authorize(ctx),
    }
}

/// Runs one writing statement; RETURNING is refused (tools report a count).
fn write(conn: &Conn, sql: &str, params: &Params) -> ExecResult<WriteResult> {
    let mut stmt = conn.prepare_checked(sql)?;
    if stmt.column_count() > 0 {
        return Err(DbError::InvalidParams(
            "a writing tool's statement must not return rows (no SELECT or RETURNING); it reports rows_affected".into(),
        )
        .into());
    }
    bind_params(&mut stmt, params)?;
    let n = stmt.raw_execute()?;
    Ok(WriteResult {
        rows_affected: u64::try_from(n).unwrap_or(u64::MAX),
    })
}

fn detect_features(conn: &Connection) -> rusqlite::Result<Features> {
    let exists = |name: &str| -> rusqlite::Result<bool> {
        conn.query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            [name],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n > 0)
    };
    Ok(Features {
        has_comments: exists(COMMENTS_TABLE)?,
        has_stats: exists("sqlite_stat1")?,
    })
}

/// Converts one SQLite value to JSON without losing integers; text keeps at
/// most `room` bytes and a BLOB at most its preview, each cut with a marker,
/// so only that much is ever copied out of SQLite.
fn to_json(v: ValueRef<'_>, room: usize) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) => Value::String(super::capped_text(t, room)),
        ValueRef::Blob(b) => {
            Value::String(super::render_blob(b, BLOB_PREVIEW_BYTES.min(room / 4 * 3)))
        }
    }
}

fn value_type_name(v: &Value) -> Option<&'static str> {
    match v {
        Value::Null => None,
        Value::Number(n) if n.is_f64() => Some("REAL"),
        Value::Number(_) => Some("INTEGER"),
        Value::String(_) => Some("TEXT"),
        Value::Bool(_) => Some("BOOLEAN"),
        _ => Some("JSON"),
    }
}

/// Binds named parameters (`:id`, `@id`, `$id`) from `params`, refusing
/// positional `?`, missing values and parameters the query does not use.
fn bind_params(stmt: &mut Statement<'_>, params: &Params) -> ExecResult<()> {
    let count = stmt.parameter_count();
    let mut names: Vec<String> = Vec::with_capacity(count);
    for i in 1..=count {
        let Some(full) = stmt.parameter_name(i).map(str::to_owned) else {
            return Err(DbError::InvalidParams(
                "positional `?` placeholders are not supported; use named binds such as :id and pass params {\"id\": 42}".into(),
            )
            .into());
        };
        if full.starts_with('?') {
            return Err(DbError::InvalidParams(format!(
                "numbered placeholder {full} is not supported; use a named bind such as :id"
            ))
            .into());
        }
        let name = full[1..].to_owned();
        let name = name.as_str();
        let value = params
            .get(name)
            .or_else(|| {
                params
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            })
            .ok_or_else(|| {
                DbError::InvalidParams(format!(
                    "no value for bind :{name}; pass it in params, e.g. {{\"{name}\": ...}}"
                ))
            })?;
        bind_one(stmt, i, name, value)?;
        names.push(name.to_owned());
    }
    if params.len() > names.len() {
        let unknown: Vec<&str> = params
            .keys()
            .map(String::as_str)
            .filter(|k| !names.iter().any(|n| n.eq_ignore_ascii_case(k)))
            .collect();
        if !unknown.is_empty() {
            let expected = if names.is_empty() {
                "the query has no binds".to_owned()
            } else {
                format!("the query uses :{}", names.join(", :"))
            };
            return Err(DbError::InvalidParams(format!(
                "unknown parameter(s) {}; {expected}",
                unknown.join(", ")
            ))
            .into());
        }
    }
    Ok(())
}

fn bind_one(stmt: &mut Statement<'_>, index: usize, name: &str, value: &Value) -> ExecResult<()> {
    match value {
        Value::Null => stmt.raw_bind_parameter(index, rusqlite::types::Null)?,
        Value::Bool(b) => stmt.raw_bind_parameter(index, i64::from(*b))?,
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                stmt.raw_bind_parameter(index, i)?;
            } else if let Some(f) = n.as_f64() {
                stmt.raw_bind_parameter(index, f)?;
            } else {
                return Err(DbError::InvalidParams(format!(
                    "bind :{name}: number {n} is out of range"
                ))
                .into());
            }
        }
        Value::String(s) => stmt.raw_bind_parameter(index, s.as_str())?,
        Value::Array(_) | Value::Object(_) => {
            return Err(DbError::InvalidParams(format!(
                "bind :{name} must be a string, number, boolean or null, not an array or object"
            ))
            .into());
        }
    }
    Ok(())
}

/// What `run_query` needs besides the SQL and binds.
#[derive(Debug, Clone, Copy)]
struct Fetch {
    max_rows: usize,
    offset: u64,
    max_bytes: usize,
    max_value_bytes: usize,
}

fn run_query(conn: &Conn, sql: &str, params: &Params, fetch: Fetch) -> ExecResult<QueryResult> {
    let mut stmt = conn.prepare_checked(sql)?;
    if !stmt.readonly() {
        return Err(DbError::Sql {
            code: Some("SQLITE_READONLY".into()),
            message: "the database reports that this statement would write; refused".into(),
        }
        .into());
    }
    let mut columns: Vec<ColumnInfo> = stmt
        .columns()
        .map(|c| ColumnInfo {
            name: c.name().to_owned(),
            type_name: c.decl_type().unwrap_or("").to_owned(),
        })
        .collect();
    bind_params(&mut stmt, params)?;
    let ncols = columns.len();
    let mut rows = stmt.raw_query();
    let mut skipped = 0u64;
    while skipped < fetch.offset {
        if rows.next()?.is_none() {
            break;
        }
        skipped += 1;
    }
    let mut out: Vec<Vec<Value>> = Vec::with_capacity(fetch.max_rows.min(256));
    let mut has_more = false;
    let mut budget_stop = None;
    // Counted while fetching, so memory stays near the budget whatever the
    // query returns; the row that does not fit is dropped and ends the fetch.
    let mut budget = ResultBudget::new(fetch.max_bytes);
    'rows: while let Some(row) = rows.next()? {
        if out.len() == fetch.max_rows {
            has_more = true;
            break;
        }
        let mut values = Vec::with_capacity(ncols);
        for i in 0..ncols {
            let v = to_json(row.get_ref(i)?, budget.value_room(fetch.max_value_bytes));
            if !budget.charge(&v) {
                has_more = true;
                budget_stop = Some(budget.limit());
                break 'rows;
            }
            values.push(v);
        }
        budget.end_row();
        out.push(values);
    }
    for (i, col) in columns.iter_mut().enumerate() {
        if col.type_name.is_empty() {
            col.type_name = out
                .iter()
                .find_map(|r| r.get(i).and_then(value_type_name))
                .unwrap_or("NULL")
                .to_owned();
        }
    }
    Ok(QueryResult {
        columns,
        rows: out,
        has_more,
        budget_stop,
    })
}

/// Adds "did you mean" hints to SQLite's "no such table" errors.
fn with_table_hint(conn: &Connection, err: ExecError) -> ExecError {
    let ExecError::Sqlite(e) = &err else {
        return err;
    };
    let text = e.to_string();
    let Some(missing) = text
        .split("no such table: ")
        .nth(1)
        .map(|s| s.trim().trim_start_matches("main."))
    else {
        return err;
    };
    let Ok(names) = table_names(conn) else {
        return err;
    };
    let close = suggest(missing, names.iter().map(String::as_str));
    let hint = if close.is_empty() {
        "call list_tables to see the available tables".to_owned()
    } else {
        format!("did you mean {}?", close.join(", "))
    };
    ExecError::Db(DbError::Sql {
        code: Some("SQLITE_ERROR".into()),
        message: format!("{text}; {hint}"),
    })
}

fn table_names(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT name FROM sqlite_schema WHERE type IN ('table','view') \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> '_comments' ORDER BY name",
    )?;
    stmt.query_map([], |r| r.get(0))?.collect()
}

fn like_pattern(filter: &str) -> String {
    if filter.contains('%') {
        return filter.to_owned();
    }
    let mut p = String::with_capacity(filter.len() + 2);
    p.push('%');
    for ch in filter.chars() {
        if ch == '_' || ch == '\\' {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

fn check_schema(schema: Option<&str>) -> Result<(), DbError> {
    match schema {
        None => Ok(()),
        Some(s) if s.eq_ignore_ascii_case(SCHEMA_NAME) => Ok(()),
        Some(s) => Err(DbError::NotFound(format!(
            "no schema named `{s}`; this SQLite database has one schema, `{SCHEMA_NAME}`"
        ))),
    }
}

fn list_tables_sql(f: Features) -> String {
    let comment = if f.has_comments {
        "(SELECT c.comment FROM _comments c WHERE c.object_name = m.name AND c.column_name IS NULL)"
    } else {
        "NULL"
    };
    let estimate = if f.has_stats {
        "(SELECT CAST(s.stat AS INTEGER) FROM sqlite_stat1 s WHERE s.tbl = m.name LIMIT 1)"
    } else {
        "NULL"
    };
    format!(
        "SELECT m.name, m.type, {comment}, {estimate} FROM sqlite_schema m \
         WHERE m.type IN ('table','view') AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
         AND m.name <> '_comments' AND (?1 = 'all' OR m.type = ?1) \
         AND (?2 IS NULL OR m.name LIKE ?2 ESCAPE '\\') \
         ORDER BY m.name LIMIT ?3 OFFSET ?4"
    )
}

fn describe(conn: &Connection, f: Features, wanted: &str) -> ExecResult<TableDescription> {
    let found: Option<(String, String)> = conn
        .prepare_cached(
            "SELECT name, type FROM sqlite_schema WHERE type IN ('table','view') \
             AND name = ?1 COLLATE NOCASE AND name <> '_comments'",
        )?
        .query_row([wanted], |r| Ok((r.get(0)?, r.get(1)?)))
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    let Some((name, kind)) = found else {
        let names = table_names(conn)?;
        let close = suggest(wanted, names.iter().map(String::as_str));
        let hint = if close.is_empty() {
            "call list_tables to see what exists".to_owned()
        } else {
            format!("did you mean {}?", close.join(", "))
        };
        return Err(DbError::NotFound(format!("no table or view named `{wanted}`; {hint}")).into());
    };

    let mut comments: HashMap<Option<String>, String> = HashMap::new();
    if f.has_comments {
        let mut stmt = conn
            .prepare_cached("SELECT column_name, comment FROM _comments WHERE object_name = ?1")?;
        let rows = stmt.query_map([&name], |r| Ok((r.get(0)?, r.get(1)?)))?;
        for row in rows {
            let (col, comment): (Option<String>, String) = row?;
            comments.insert(col, comment);
        }
    }

    let mut primary: Vec<(i64, String)> = Vec::new();
    let mut columns = Vec::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?1)",
        )?;
        let mut rows = stmt.query([&name])?;
        while let Some(r) = rows.next()? {
            let col: String = r.get(0)?;
            let pk: i64 = r.get(4)?;
            let hidden: i64 = r.get(5)?;
            if hidden == 1 {
                continue;
            }
            if pk > 0 {
                primary.push((pk, col.clone()));
            }
            let not_null: i64 = r.get(2)?;
            columns.push(ColumnDescription {
                comment: comments.get(&Some(col.clone())).cloned(),
                name: col,
                data_type: r.get::<_, String>(1)?,
                nullable: not_null == 0 && pk == 0,
                default: r.get(3)?,
            });
        }
    }
    primary.sort();
    let primary_key: Vec<String> = primary.into_iter().map(|(_, c)| c).collect();

    let mut foreign_keys: Vec<ForeignKey> = Vec::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT id, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
        )?;
        let mut rows = stmt.query([&name])?;
        let mut last_id = None;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let table: String = r.get(1)?;
            let from: String = r.get(2)?;
            let to: Option<String> = r.get(3)?;
            if last_id != Some(id) {
                foreign_keys.push(ForeignKey {
                    name: None,
                    columns: Vec::new(),
                    referenced_table: table,
                    referenced_columns: Vec::new(),
                });
                last_id = Some(id);
            }
            if let Some(fk) = foreign_keys.last_mut() {
                fk.columns.push(from);
                if let Some(to) = to {
                    fk.referenced_columns.push(to);
                }
            }
        }
    }
    // A foreign key without target columns references the primary key.
    for fk in &mut foreign_keys {
        if fk.referenced_columns.is_empty() {
            let mut stmt = conn.prepare_cached(
                "SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk",
            )?;
            fk.referenced_columns = stmt
                .query_map([&fk.referenced_table], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
        }
    }

    let mut indexes = Vec::new();
    {
        let mut list = conn
            .prepare_cached("SELECT name, \"unique\" FROM pragma_index_list(?1) ORDER BY name")?;
        let found: Vec<(String, bool)> = list
            .query_map([&name], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? != 0)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut info =
            conn.prepare_cached("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")?;
        for (index, unique) in found {
            let cols: Vec<Option<String>> = info
                .query_map([&index], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            indexes.push(IndexInfo {
                name: index,
                columns: cols
                    .into_iter()
                    .map(|c| c.unwrap_or_else(|| "<expression>".into()))
                    .collect(),
                unique,
            });
        }
    }

    let row_estimate = if f.has_stats {
        conn.prepare_cached(
            "SELECT CAST(stat AS INTEGER) FROM sqlite_stat1 WHERE tbl = ?1 LIMIT 1",
        )?
        .query_row([&name], |r| r.get::<_, Option<i64>>(0))
        .map(|n| n.and_then(|n| u64::try_from(n).ok()))
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?
    } else {
        None
    };

    Ok(TableDescription {
        schema: SCHEMA_NAME.into(),
        comment: comments.get(&None).cloned(),
        name,
        kind,
        row_estimate,
        columns,
        primary_key,
        foreign_keys,
        indexes,
    })
}

fn explain(conn: &Conn, sql: &str, params: &Params) -> ExecResult<ExplainResult> {
    let text = format!("{EXPLAIN_PREFIX}{sql}");
    conn.check_one_statement(&text)?;
    let mut stmt = conn.prepare(&text)?;
    bind_params(&mut stmt, params)?;
    let mut rows = stmt.raw_query();
    let mut steps = Vec::new();
    while let Some(r) = rows.next()? {
        let parent: i64 = r.get(1)?;
        steps.push(PlanStep {
            id: r.get(0)?,
            parent: (parent != 0).then_some(parent),
            detail: r.get(3)?,
        });
    }
    let text = render_plan(&steps);
    Ok(ExplainResult { steps, text })
}

/// Renders plan steps as an indented tree, like the sqlite3 shell does.
fn render_plan(steps: &[PlanStep]) -> String {
    let mut depth: HashMap<i64, usize> = HashMap::new();
    let mut out = String::from("QUERY PLAN\n");
    for s in steps {
        let d = s.parent.and_then(|p| depth.get(&p)).map_or(0, |d| d + 1);
        depth.insert(s.id, d);
        out.push_str(&"   ".repeat(d));
        out.push_str("|--");
        out.push_str(&s.detail);
        out.push('\n');
    }
    out
}

#[async_trait]
impl Backend for SqliteBackend {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: "sqlite",
            dialect: super::Dialect::Sqlite,
        }
    }

    fn pool(&self) -> Option<PoolStats> {
        let idle = self.idle.len() as u64;
        let open = self.open.load(Ordering::Relaxed);
        Some(PoolStats {
            in_use: open.saturating_sub(idle),
            idle,
            max: None,
        })
    }

    async fn ping(&self) -> Result<(), DbError> {
        let pooled = self.checkout()?;
        let r = pooled
            .conn
            .query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
            .map_err(|e| DbError::Unavailable(e.to_string()));
        self.checkin(pooled);
        r.map(|_| ())
    }

    async fn list_schemas(&self, ctx: &CallContext) -> Result<Vec<SchemaInfo>, DbError> {
        self.run(ctx, |conn| {
            let (tables, views) = conn
                .prepare_cached(
                    "SELECT coalesce(sum(type = 'table'), 0), coalesce(sum(type = 'view'), 0) \
                     FROM sqlite_schema WHERE type IN ('table','view') \
                     AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> '_comments'",
                )?
                .query_row([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
            Ok(vec![SchemaInfo {
                name: SCHEMA_NAME.into(),
                tables: u64::try_from(tables).unwrap_or(0),
                views: u64::try_from(views).unwrap_or(0),
                is_default: true,
            }])
        })
        .await
    }

    async fn list_tables(
        &self,
        req: &TableListRequest,
        ctx: &CallContext,
    ) -> Result<TablePage, DbError> {
        check_schema(req.schema.as_deref())?;
        let sql = list_tables_sql(self.features);
        let kind = match req.kind {
            ObjectKind::All => "all",
            ObjectKind::Table => "table",
            ObjectKind::View => "view",
        };
        let pattern = req.filter.as_deref().map(like_pattern);
        let (limit, offset) = (req.limit, req.offset);
        self.run(ctx, move |conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
            let skip = i64::try_from(offset).unwrap_or(i64::MAX);
            let mut rows = stmt.query(rusqlite::params![kind, pattern, fetch, skip])?;
            let mut tables = Vec::new();
            let mut more = false;
            while let Some(r) = rows.next()? {
                if tables.len() == limit {
                    more = true;
                    break;
                }
                tables.push(TableInfo {
                    schema: SCHEMA_NAME.into(),
                    name: r.get(0)?,
                    kind: r.get(1)?,
                    comment: r.get(2)?,
                    row_estimate: r
                        .get::<_, Option<i64>>(3)?
                        .and_then(|n| u64::try_from(n).ok()),
                });
            }
            Ok(TablePage {
                next_offset: more.then_some(offset + tables.len()),
                tables,
            })
        })
        .await
    }

    async fn describe_table(
        &self,
        schema: Option<&str>,
        table: &str,
        ctx: &CallContext,
    ) -> Result<TableDescription, DbError> {
        check_schema(schema)?;
        let features = self.features;
        let table = table.to_owned();
        self.run(ctx, move |conn| describe(conn, features, &table))
            .await
    }

    async fn query(
        &self,
        req: QueryRequest<'_>,
        ctx: &CallContext,
    ) -> Result<QueryResult, DbError> {
        let sql = req.query.sql().to_owned();
        let params = req.params.clone();
        let fetch = Fetch {
            max_rows: req.max_rows,
            offset: req.offset,
            max_bytes: req.max_bytes,
            max_value_bytes: req.max_value_bytes,
        };
        self.run(ctx, move |conn| {
            run_query(conn, &sql, &params, fetch).map_err(|e| with_table_hint(conn, e))
        })
        .await
    }

    async fn explain(
        &self,
        query: ReadOnlyQuery<'_>,
        params: &Params,
        ctx: &CallContext,
    ) -> Result<ExplainResult, DbError> {
        let sql = query.sql().to_owned();
        let params = params.clone();
        self.run(ctx, move |conn| {
            explain(conn, &sql, &params).map_err(|e| with_table_hint(conn, e))
        })
        .await
    }

    async fn execute_write(
        &self,
        statement: WriteStatement<'_>,
        params: &Params,
        ctx: &CallContext,
    ) -> Result<WriteResult, DbError> {
        let Some(writer) = &self.writer else {
            return Err(DbError::WritesUnsupported(if self.immutable {
                "writing tools cannot run here: this is the read-only demo database; set database.sqlite.path to a writable SQLite file and tools.allow_writes = true".into()
            } else {
                "writing tools are disabled on this server (tools.allow_writes = false)".into()
            }));
        };
        if ctx.cancel.is_cancelled() {
            return Err(DbError::Cancelled);
        }
        let writer = Arc::clone(writer);
        let sql = statement.sql().to_owned();
        let params = params.clone();
        // One control per call: writes queue on the connection's lock, and a
        // cancelled waiter must not interrupt the statement running now.
        let ctl = Arc::new(ExecControl::default());
        ctl.arm(ctx.deadline, false);
        let handler_ctl = Arc::clone(&ctl);
        let mut handle = tokio::task::spawn_blocking(move || {
            let mut conn = writer
                .lock()
                .map_err(|_| ExecError::Db(DbError::Internal("writer lock poisoned".into())))?;
            conn.conn
                .progress_handler(PROGRESS_OPS, Some(move || handler_ctl.should_stop()))?;
            let r = write(&conn, &sql, &params);
            conn.conn.progress_handler(0, None::<fn() -> bool>)?;
            r
        });
        let joined = tokio::select! {
            joined = &mut handle => joined,
            () = ctx.cancel.cancelled() => {
                ctl.cancelled.store(true, Ordering::Relaxed);
                handle.await
            }
        };
        match joined {
            Ok(r) => self.finish(r, ctl.stop_reason.load(Ordering::Relaxed)),
            Err(e) => Err(DbError::Internal(format!("write worker failed: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Principal;
    use crate::db::Dialect;
    use serde_json::json;
    use tokio_util::sync::CancellationToken;

    fn demo() -> (tempfile::TempDir, SqliteBackend) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("demo.db");
        crate::db::demo::create_demo_db(&path, 1, false).expect("demo db");
        let backend =
            SqliteBackend::open(&path, 4, Duration::from_secs(10), true).expect("backend");
        (dir, backend)
    }

    fn ctx() -> CallContext {
        CallContext::new(
            "test",
            Arc::new(Principal::anonymous()),
            CancellationToken::new(),
            Duration::from_secs(10),
        )
    }

    /// Bypasses the guard on purpose: the database must refuse by itself.
    #[tokio::test]
    async fn database_refuses_writes_without_the_guard() {
        let (_dir, backend) = demo();
        let params = Params::new();
        let writes = [
            "DELETE FROM regions",
            "INSERT INTO regions (region_id, region_name) VALUES (99, 'Atlantis')",
            "UPDATE regions SET region_name = 'x'",
            "DROP TABLE regions",
            "CREATE TABLE t (x)",
            "CREATE TEMP TABLE t (x)",
            "PRAGMA user_version = 7",
            "ATTACH DATABASE ':memory:' AS other",
            "VACUUM",
            "REINDEX",
            "ANALYZE",
            "WITH d AS (SELECT 1) DELETE FROM regions",
            "SELECT load_extension('/tmp/x')",
        ];
        for sql in writes {
            let err = backend
                .query(
                    QueryRequest {
                        query: ReadOnlyQuery::unchecked(sql, Dialect::Sqlite),
                        params: &params,
                        max_rows: 10,
                        offset: 0,
                        max_bytes: 1 << 20,
                        max_value_bytes: 1 << 16,
                    },
                    &ctx(),
                )
                .await
                .expect_err(sql);
            match &err {
                DbError::Sql { message, .. } => assert!(
                    message.contains("refused")
                        || message.contains("not authorized")
                        || message.contains("readonly")
                        || message.contains("read-only"),
                    "{sql}: {message}"
                ),
                other => panic!("{sql}: unexpected error {other:?}"),
            }
        }
        let count = backend
            .query(
                QueryRequest {
                    query: ReadOnlyQuery::unchecked(
                        "SELECT count(*), max(region_name) FROM regions",
                        Dialect::Sqlite,
                    ),
                    params: &params,
                    max_rows: 1,
                    offset: 0,
                    max_bytes: 1 << 20,
                    max_value_bytes: 1 << 16,
                },
                &ctx(),
            )
            .await
            .expect("read still works");
        assert_eq!(count.rows, vec![vec![json!(5), json!("Oceania")]]);
    }

    fn req<'a>(sql: &'a str, params: &'a Params, max_rows: usize) -> QueryRequest<'a> {
        QueryRequest {
            query: ReadOnlyQuery::unchecked(sql, Dialect::Sqlite),
            params,
            max_rows,
            offset: 0,
            max_bytes: 1 << 20,
            max_value_bytes: 1 << 16,
        }
    }

    fn message(e: &DbError) -> String {
        e.to_string()
    }

    /// 100,000 statements used to overflow the worker's stack inside
    /// rusqlite's recursive tail check and abort the process.
    #[tokio::test]
    async fn many_statements_are_refused_iteratively() {
        // SQLite's statement length limit would refuse these first.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("demo.db");
        crate::db::demo::create_demo_db(&path, 1, false).expect("demo db");
        let roomy = SqliteOptions {
            max_sql_bytes: 4 << 20,
            ..SqliteOptions::new(1, Duration::from_secs(10), true)
        };
        let backend = SqliteBackend::open_with(&path, roomy).expect("backend");
        let params = Params::new();
        let many = "SELECT 1;".repeat(100_000);
        let hidden = format!("SELECT 1 -- x\n;{}", "SELECT 2;".repeat(100_000));
        for sql in [many.as_str(), hidden.as_str()] {
            let err = backend
                .query(req(sql, &params, 5), &ctx())
                .await
                .expect_err("refused");
            assert!(message(&err).contains("more than one statement"), "{err}");
            let err = backend
                .explain(
                    ReadOnlyQuery::unchecked(sql, Dialect::Sqlite),
                    &params,
                    &ctx(),
                )
                .await
                .expect_err("refused");
            assert!(message(&err).contains("more than one statement"), "{err}");
        }
        // A second statement that does not compile is still a second one.
        let err = backend
            .query(req("SELECT 1; DELETE FROM regions", &params, 5), &ctx())
            .await
            .expect_err("refused");
        assert!(message(&err).contains("more than one statement"), "{err}");
        let err = backend
            .query(req("-- nothing\n;;", &params, 5), &ctx())
            .await
            .expect_err("refused");
        assert!(message(&err).contains("no SQL statement"), "{err}");
        // Empty statements and comments after the statement are not a second one.
        let tail = format!("SELECT 7{} -- done", ";".repeat(100_000));
        let r = backend
            .query(req(&tail, &params, 5), &ctx())
            .await
            .expect("one statement");
        assert_eq!(r.rows, vec![vec![json!(7)]]);
        let r = backend
            .query(req("SELECT 8; /* c */ ;", &params, 5), &ctx())
            .await
            .expect("one statement");
        assert_eq!(r.rows, vec![vec![json!(8)]]);
    }

    /// Writing tools' SQL comes from tool files, which are input too.
    #[tokio::test]
    async fn the_writer_refuses_statement_floods() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("demo.db");
        crate::db::demo::create_demo_db(&path, 1, false).expect("demo db");
        let roomy = SqliteOptions {
            max_sql_bytes: 4 << 20,
            ..SqliteOptions::new(1, Duration::from_secs(10), false)
        };
        let backend = SqliteBackend::open_with(&path, roomy)
            .and_then(SqliteBackend::enable_writes)
            .expect("backend");
        let params = Params::new();
        let flood = "UPDATE regions SET region_name = 1;".repeat(100_000);
        let err = backend
            .execute_write(WriteStatement::new(&flood), &params, &ctx())
            .await
            .expect_err("refused");
        assert!(message(&err).contains("more than one statement"), "{err}");
        let done = backend
            .execute_write(
                WriteStatement::new(
                    "UPDATE regions SET region_name = region_name WHERE region_id = 1;",
                ),
                &params,
                &ctx(),
            )
            .await
            .expect("one statement");
        assert_eq!(done.rows_affected, 1);
    }

    #[tokio::test]
    async fn verified_texts_are_remembered_per_connection() {
        let (_dir, backend) = demo();
        let params = Params::new();
        let sql = "SELECT region_name FROM regions ORDER BY region_id";
        for _ in 0..3 {
            backend
                .query(req(sql, &params, 50), &ctx())
                .await
                .expect("runs");
        }
        let refused = "SELECT 1; SELECT 2";
        backend.idle.inspect(|idle| {
            assert!(idle.iter().any(|c| c.conn.verified.borrow().contains(sql)));
            assert!(
                idle.iter()
                    .all(|c| !c.conn.verified.borrow().contains(refused))
            );
        });
    }

    #[tokio::test]
    async fn sqlite_limits_are_tool_errors_naming_the_limit() {
        let (_dir, backend) = demo();
        let params = Params::new();
        let deep_calls = format!("SELECT {}1{}", "abs(".repeat(5000), ")".repeat(5000));
        let deep_parens = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
        let deep_case = format!(
            "SELECT {}1{}",
            "CASE WHEN 1 THEN ".repeat(3000),
            " END".repeat(3000)
        );
        let compound = vec!["SELECT 1"; 300].join(" UNION ALL ");
        let long_chain = format!("SELECT 1{}", " + 1".repeat(600));
        let cases: Vec<(&str, &str)> = vec![
            (
                "SELECT printf('%.*c', 400000000, 'x')",
                "database.sqlite.max_value_bytes",
            ),
            (
                "SELECT hex(zeroblob(500000000))",
                "database.sqlite.max_value_bytes",
            ),
            (
                "SELECT length(randomblob(500000000))",
                "database.sqlite.max_value_bytes",
            ),
            (&deep_calls, "a fixed SQLite limit"),
            (&long_chain, "at most 500 levels of nested expressions"),
            (&deep_parens, "at most 1000 levels of parser nesting"),
            (&deep_case, "a fixed SQLite limit"),
            (&compound, "at most 250 terms in a compound SELECT"),
            ("SELECT ?1000", "at most 999 bind parameters"),
        ];
        for (sql, expected) in cases {
            let err = backend
                .query(req(sql, &params, 5), &ctx())
                .await
                .expect_err(sql);
            assert!(
                message(&err).contains(expected),
                "{}: {err}",
                &sql[..40.min(sql.len())]
            );
        }
        // The statement limit of SQLite itself (the tool layer stops longer
        // text first): query.max_sql_bytes plus room for EXPLAIN.
        let long = format!("SELECT 1{}", " ".repeat(80 * 1024));
        let err = backend
            .query(req(&long, &params, 5), &ctx())
            .await
            .expect_err("too long");
        assert!(message(&err).contains("query.max_sql_bytes"), "{err}");
        // Within the limits everything still works, at depth near the limit too.
        let nested = format!("SELECT {}1{}", "abs(".repeat(300), ")".repeat(300));
        let r = backend
            .query(req(&nested, &params, 5), &ctx())
            .await
            .expect("within limits");
        assert_eq!(r.rows, vec![vec![json!(1)]]);
        let r = backend
            .query(
                req("SELECT length(printf('%.*c', 1000000, 'x'))", &params, 5),
                &ctx(),
            )
            .await
            .expect("within limits");
        assert_eq!(r.rows, vec![vec![json!(1_000_000)]]);
    }

    #[tokio::test]
    async fn double_quotes_are_identifiers_only() {
        let (_dir, backend) = demo();
        let params = Params::new();
        let err = backend
            .query(
                req("SELECT \"no_such_column\" FROM regions", &params, 5),
                &ctx(),
            )
            .await
            .expect_err("not a string");
        assert!(message(&err).contains("no such column"), "{err}");
        let r = backend
            .query(
                req(
                    "SELECT \"region_name\" FROM regions WHERE region_id = 1",
                    &params,
                    5,
                ),
                &ctx(),
            )
            .await
            .expect("identifier");
        assert_eq!(r.rows.len(), 1);
    }

    #[tokio::test]
    async fn read_only_pragma_functions_are_allowed() {
        let (_dir, backend) = demo();
        let params = Params::new();
        for sql in [
            "SELECT name FROM pragma_table_list WHERE schema = 'main' ORDER BY name",
            "SELECT name FROM pragma_table_list('regions')",
            "SELECT count(*) FROM pragma_table_info('orders')",
            "SELECT count(*) FROM pragma_index_list('orders')",
            "SELECT count(*) FROM pragma_foreign_key_list('orders')",
            "SELECT count(*) FROM pragma_foreign_key_check",
            "SELECT count(*) FROM pragma_collation_list",
            "SELECT count(*) FROM pragma_compile_options",
            "SELECT * FROM pragma_user_version",
            "SELECT * FROM pragma_page_count",
            "SELECT * FROM pragma_encoding",
        ] {
            let r = backend
                .query(req(sql, &params, 100), &ctx())
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            assert!(!r.rows.is_empty(), "{sql}");
        }
        for sql in [
            "PRAGMA user_version = 3",
            "SELECT * FROM pragma_cache_size",
            "SELECT * FROM pragma_integrity_check",
        ] {
            backend
                .query(req(sql, &params, 100), &ctx())
                .await
                .expect_err(sql);
        }
    }

    #[tokio::test]
    async fn the_result_budget_stops_the_fetch() {
        let (_dir, backend) = demo();
        let params = Params::new();
        let sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000) \
                   SELECT x, printf('%.*c', 1000, 'y') AS s FROM c";
        let r = backend
            .query(
                QueryRequest {
                    max_bytes: 10_000,
                    ..req(sql, &params, 1000)
                },
                &ctx(),
            )
            .await
            .expect("runs");
        assert_eq!(r.budget_stop, Some(10_000));
        assert!(r.has_more);
        let held: usize = r.rows.iter().flatten().map(ResultBudget::cost).sum();
        assert!(held <= 10_000, "{held}");
        assert_eq!(r.rows.len(), 9, "1,048 bytes per row");
        // The first row always comes back, its values cut to the budget.
        let huge = "SELECT printf('%.*c', 3000000, 'z') AS a, printf('%.*c', 3000000, 'w') AS b";
        let r = backend
            .query(
                QueryRequest {
                    max_bytes: 10_000,
                    max_value_bytes: 8_000,
                    ..req(huge, &params, 10)
                },
                &ctx(),
            )
            .await
            .expect("runs");
        assert_eq!(r.rows.len(), 1);
        assert_eq!(r.budget_stop, None);
        let a = r.rows[0][0].as_str().expect("text");
        let b = r.rows[0][1].as_str().expect("text");
        assert!(
            a.starts_with("zzz") && a.ends_with("…[truncated, 3000000 bytes total]"),
            "{}",
            &a[a.len() - 40..]
        );
        assert!(a.len() < 8_100, "{}", a.len());
        assert!(
            b.len() < 2_100 && b.ends_with("bytes total]"),
            "{}",
            b.len()
        );
        // Blobs are previews whatever their size.
        let r = backend
            .query(req("SELECT randomblob(3000000)", &params, 10), &ctx())
            .await
            .expect("runs");
        let blob = r.rows[0][0].as_str().expect("text");
        assert!(blob.starts_with("base64:") && blob.ends_with("[truncated, 3000000 bytes total]"));
        assert!(blob.len() < 500);
    }

    #[test]
    fn like_pattern_escapes_underscore() {
        assert_eq!(like_pattern("order_"), "%order\\_%");
        assert_eq!(like_pattern("ord%"), "ord%");
    }

    #[test]
    fn plan_renders_as_tree() {
        let steps = vec![
            PlanStep {
                id: 2,
                parent: None,
                detail: "SCAN a".into(),
            },
            PlanStep {
                id: 5,
                parent: Some(2),
                detail: "SEARCH b".into(),
            },
        ];
        assert_eq!(
            render_plan(&steps),
            "QUERY PLAN\n|--SCAN a\n   |--SEARCH b\n"
        );
    }
}
