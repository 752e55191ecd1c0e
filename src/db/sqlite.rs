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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::config::DbConfig;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags, Statement};
use serde_json::Value;

use super::{
    Backend, BackendInfo, CallContext, ColumnDescription, ColumnInfo, DbError, ExplainResult,
    ForeignKey, IndexInfo, ObjectKind, Params, PlanStep, PoolStats, QueryRequest, QueryResult,
    ReadOnlyQuery, SchemaInfo, TableDescription, TableInfo, TableListRequest, TablePage,
    WriteResult, WriteStatement, suggest,
};

/// How long a statement may run on an async worker before it is moved to
/// the blocking pool. Sub-millisecond reads never leave the worker.
const INLINE_BUDGET: Duration = Duration::from_millis(2);
/// VM instructions between progress-handler checks (a few microseconds).
const PROGRESS_OPS: i32 = 1000;
/// Bytes of a BLOB shown (base64) before it is cut with a marker.
const BLOB_PREVIEW_BYTES: usize = 256;
/// Table holding table and column comments (SQLite has no COMMENT ON).
const COMMENTS_TABLE: &str = "_comments";
const SCHEMA_NAME: &str = "main";

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

struct PooledConn {
    conn: Connection,
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
    /// The file never changes while served (our demo database): SQLite can
    /// skip locking and change checks, saving syscalls on every query.
    immutable: bool,
    idle: Mutex<Vec<PooledConn>>,
    max_idle: usize,
    /// Connections open right now (idle or running), for pool metrics.
    open: Arc<AtomicU64>,
    features: Features,
    timeout_secs: u64,
    /// The one read-write connection for declarative writing tools; only
    /// opened when `tools.allow_writes` is on and the file is not immutable.
    writer: Option<Arc<Mutex<Connection>>>,
}

impl SqliteBackend {
    /// Opens `path` read-only; fails early if it is missing or not SQLite.
    pub fn open(
        path: &Path,
        max_idle: usize,
        timeout: Duration,
        immutable: bool,
    ) -> Result<Self, DbError> {
        let open = Arc::new(AtomicU64::new(0));
        let first = open_connection(path, immutable)?.counted(&open);
        let features = detect_features(&first.conn).map_err(|e| {
            DbError::Unavailable(format!(
                "{} is not a readable SQLite database: {e}",
                path.display()
            ))
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            immutable,
            idle: Mutex::new(vec![first]),
            max_idle: max_idle.max(1),
            open,
            features,
            timeout_secs: timeout.as_secs(),
            writer: None,
        })
    }

    /// Opens the separate read-write connection used by writing tools. The
    /// demo database is immutable and cannot be written: that stays refused.
    pub fn enable_writes(mut self) -> Result<Self, DbError> {
        if !self.immutable {
            self.writer = Some(Arc::new(Mutex::new(open_writer(&self.path)?)));
        }
        Ok(self)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn checkout(&self) -> Result<PooledConn, DbError> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match pooled {
            Some(c) => Ok(c),
            None => open_connection(&self.path, self.immutable).map(|c| c.counted(&self.open)),
        }
    }

    fn checkin(&self, conn: PooledConn) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < self.max_idle
        {
            idle.push(conn);
        }
    }

    /// Runs `f` on a pooled connection: inline first, then on the blocking
    /// pool if it outlives the inline budget.
    async fn run<T, F>(&self, ctx: &CallContext, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> ExecResult<T> + Send + 'static,
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
        if let rusqlite::Error::SqliteFailure(f, msg) = &e {
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
                            msg.as_deref()
                                .unwrap_or("attempt to write a readonly database")
                        ),
                    };
                }
                ErrorCode::AuthorizationForStatementDenied => {
                    return DbError::Sql {
                        code: Some("SQLITE_AUTH".into()),
                        message: "the database refused the statement: only reads are authorized on this read-only connection".into(),
                    };
                }
                _ => {}
            }
        }
        sql_error(&e)
    }
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

fn open_connection(path: &Path, immutable: bool) -> Result<PooledConn, DbError> {
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
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)
        .map_err(unavailable)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)
        .map_err(unavailable)?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.authorizer(Some(authorize)).map_err(unavailable)?;
    let ctl = Arc::new(ExecControl::default());
    let handler_ctl = Arc::clone(&ctl);
    conn.progress_handler(PROGRESS_OPS, Some(move || handler_ctl.should_stop()))
        .map_err(unavailable)?;
    Ok(PooledConn {
        conn,
        ctl,
        open: None,
    })
}

/// Pragmas that only read, used by the dictionary queries as table-valued
/// functions (`pragma_table_xinfo(?1)`).
const READ_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "database_list",
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
        _ => Authorization::Deny,
    }
}

/// The read-write connection for writing tools: DML only. Schema changes,
/// ATTACH, pragma assignments and writes to SQLite's own tables stay denied.
fn open_writer(path: &Path) -> Result<Connection, DbError> {
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
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)
        .map_err(unavailable)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)
        .map_err(unavailable)?;
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
fn write(conn: &Connection, sql: &str, params: &Params) -> ExecResult<WriteResult> {
    let mut stmt = conn.prepare_cached(sql)?;
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

/// Converts one SQLite value to JSON without losing integers.
fn to_json(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::String(super::render_blob(b, BLOB_PREVIEW_BYTES)),
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

fn run_query(
    conn: &Connection,
    sql: &str,
    params: &Params,
    max_rows: usize,
    offset: u64,
) -> ExecResult<QueryResult> {
    let mut stmt = conn.prepare_cached(sql)?;
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
    while skipped < offset {
        if rows.next()?.is_none() {
            break;
        }
        skipped += 1;
    }
    let mut out: Vec<Vec<Value>> = Vec::with_capacity(max_rows.min(256));
    let mut has_more = false;
    while let Some(row) = rows.next()? {
        if out.len() == max_rows {
            has_more = true;
            break;
        }
        let mut values = Vec::with_capacity(ncols);
        for i in 0..ncols {
            values.push(to_json(row.get_ref(i)?));
        }
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
        budget_stop: None,
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

fn explain(conn: &Connection, sql: &str, params: &Params) -> ExecResult<ExplainResult> {
    let text = format!("EXPLAIN QUERY PLAN {sql}");
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
        let idle = self.idle.lock().map_or(0, |i| i.len() as u64);
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
        let (max_rows, offset) = (req.max_rows, req.offset);
        self.run(ctx, move |conn| {
            run_query(conn, &sql, &params, max_rows, offset).map_err(|e| with_table_hint(conn, e))
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
            conn.progress_handler(PROGRESS_OPS, Some(move || handler_ctl.should_stop()))?;
            let r = write(&conn, &sql, &params);
            conn.progress_handler(0, None::<fn() -> bool>)?;
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
                },
                &ctx(),
            )
            .await
            .expect("read still works");
        assert_eq!(count.rows, vec![vec![json!(5), json!("Oceania")]]);
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
