//! ORDS test double built from the documented REST-Enabled SQL contract.
//!
//! Sources: the ORDS developer guide ("REST-Enabled SQL Service", request
//! and response specifications; the 17.3 appendices C and D: POST examples,
//! supported SQL*Plus/SQLcl statements), the SQL*Plus User's Guide (SET
//! SQLTERMINATOR, SQLBLANKLINES, SQLPREFIX, DEFINE), and Oracle's samples in
//! `oracle/oracle-db-tools` `ords/rest-sql/` (`curl-binds.sh`,
//! `curl-pagination.sh`, `demo-all-in-one.html`: binds by index and by
//! name, OUT binds echoed in `items[].binds[]` with `result`, a CURSOR OUT
//! bind); the OAuth token exchange from the ORDS OAuth reference (client
//! credentials with HTTP Basic client authentication). Summarised in
//! `/shared/reference/ords-and-oracle-driver.md` §2 and
//! `ords-single-statement.md`.
//!
//! What it implements, on 127.0.0.1 only:
//! * `POST /ords/{alias}/_/sql` with `application/json`. `statementText`
//!   goes through a script engine that splits it as ORDS documents
//!   (`script.rs`: `;`, `/` and `.` lines, blank lines, `#`/`@`/command
//!   lines, `&` substitution), one `items[]` entry per unit. **Every unit
//!   is recorded** ([`DoubleState::executed`]): it is what a real ORDS
//!   would have executed. Queries run on SQLite with `binds` by `index` on
//!   `?`, `offset`/`limit` paging with `hasMore`/`count`; other SQL and
//!   SQL*Plus commands are recorded and answered as run (the SQLite copy is
//!   read-only and never changed); statement errors are items with
//!   `errorCode`/`errorMessage`/`errorLine`/`errorColumn` (HTTP 200).
//! * PL/SQL: only adb-mcp's fixed blocks, recognised by their exact text
//!   (the double's own copy of the template): the query block runs the
//!   user's text from the CLOB bind `q` as the one statement `SELECT * FROM
//!   (\n<q>\n) OFFSET :o ROWS FETCH NEXT :n ROWS ONLY` (recorded in
//!   [`DoubleState::dynamic_sql`]), with Oracle's parse errors for what
//!   cannot be one query (`;` → ORA-00911, not a query → ORA-00928, `FOR
//!   UPDATE` → ORA-00907, bind count → ORA-01008/ORA-01006), and returns
//!   the cursor in the OUT bind `rc`; the explain block runs SQLite's
//!   `EXPLAIN QUERY PLAN` and returns PLAN_TABLE-like rows as a JSON CLOB
//!   in the OUT bind `plan`. Any other PL/SQL is an error item.
//! * `POST /ords/{alias}/oauth/token`: client credentials with HTTP Basic
//!   client authentication, `{access_token, token_type, expires_in}`.
//! * 401 with `WWW-Authenticate: Bearer … error="invalid_token"` for a bad
//!   or expired token, 401 for bad Basic credentials, 404 for an unknown
//!   alias.
//!
//! Statements run against a real SQLite copy of the demo database, so
//! results are real. The Oracle dictionary is a set of TEMP views with the
//! Oracle names and columns (ALL_USERS, ALL_TABLES, ALL_TAB_COLUMNS, …)
//! over `sqlite_master` and the `pragma_*` table functions, for one schema
//! `DEMO` (plus `SYS` and an empty `EMPTY_SCHEMA` in ALL_USERS). SQLite
//! errors become the ORA codes a real database would give for the same
//! mistake (no such table → ORA-00942, no such column → ORA-00904).
//!
//! Assumptions beyond the documents, marked in the code: the script
//! engine's undocumented details (see `script.rs`); a script's index
//! `binds` apply to the statements that have placeholders; the JSON shape
//! of a CURSOR OUT bind's `result` (a result set like a query's, or — with
//! `cursor_rows_as_array` — a bare array of row objects) and that ORDS
//! renders it with the request's `limit` and its page cap, saying
//! `hasMore`; a CLOB OUT bind's `result` is its text; an error raised in a
//! block carries `ORA-06512: at line 1`.
//!
//! Fault switches (all counted down per request): 401 once, expire every
//! issued token, 5xx n times, slow responses, an HTML page with status 200,
//! malformed JSON, a canned response body, a server page-size cap. Every
//! request's headers, body and TLS SNI are recorded.
#![allow(dead_code)]

mod privileges;
pub(crate) use privileges::Grants;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

mod script;
use script::{Tok, UnitKind};

pub(crate) const ALIAS: &str = "demo";
pub(crate) const DB_USER: &str = "DEMO";
pub(crate) const DB_PASSWORD: &str = "demo-password-not-secret";
pub(crate) const CLIENT_ID: &str = "adb-mcp-client";
pub(crate) const CLIENT_SECRET: &str = "client-secret-not-secret";
/// ORDS's documented default page size when a request gives no `limit`.
const DEFAULT_LIMIT: usize = 10_000;

/// One request as the double saw it.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// TLS server name the client sent (TLS listener only).
    pub sni: Option<String>,
}

impl Recorded {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
pub(crate) struct Faults {
    /// Answer the next `_/sql` request with 401 (a token ORDS forgot).
    pub unauthorized_once: bool,
    /// Answer the next n `_/sql` requests with this status (e.g. 503).
    pub status: Option<(u16, usize)>,
    /// Wait this long before answering `_/sql`.
    pub slow: Option<Duration>,
    /// Answer `_/sql` with a 200 HTML page.
    pub html: bool,
    /// Answer `_/sql` with a truncated JSON document.
    pub malformed: bool,
    /// Answer the next `_/sql` request with exactly this body.
    pub canned: Option<String>,
}

pub(crate) struct DoubleState {
    db: Mutex<Connection>,
    pub faults: Mutex<Faults>,
    log: Mutex<Vec<Recorded>>,
    tokens: Mutex<HashMap<String, Instant>>,
    next_token: AtomicU64,
    pub token_requests: AtomicUsize,
    pub sql_requests: AtomicUsize,
    pub unauthorized: AtomicUsize,
    /// `expires_in` of issued tokens, seconds.
    pub token_lifetime_secs: AtomicU64,
    /// Server-side cap on rows per page (ORDS's own limit).
    pub max_page: AtomicUsize,
    /// Return cursor OUT binds as a bare array of row objects instead of a
    /// result set (the other plausible shape).
    pub cursor_rows_as_array: AtomicBool,
    executed: Mutex<Vec<String>>,
    dynamic: Mutex<Vec<String>>,
}

impl DoubleState {
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn sql_bodies(&self) -> Vec<Value> {
        self.requests()
            .iter()
            .filter(|r| r.path.ends_with("/_/sql"))
            .filter_map(|r| serde_json::from_str(&r.body).ok())
            .collect()
    }

    /// Every statement, block and command ORDS's script engine would have
    /// run, in order, across all requests.
    pub(crate) fn executed(&self) -> Vec<String> {
        self.executed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The SQL the database would have parsed inside adb-mcp's fixed
    /// blocks (the wrapped query, EXPLAIN PLAN, the plan read, ROLLBACK).
    pub(crate) fn dynamic_sql(&self) -> Vec<String> {
        self.dynamic
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn log_executed(&self, text: &str) {
        self.executed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(text.to_owned());
    }

    fn log_dynamic(&self, text: &str) {
        self.dynamic
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(text.to_owned());
    }

    pub(crate) fn faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every token issued so far stops working (as after a key rotation).
    pub(crate) fn expire_all_tokens(&self) {
        let mut t = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        let past = Instant::now()
            .checked_sub(Duration::from_secs(1))
            .unwrap_or_else(Instant::now);
        for exp in t.values_mut() {
            *exp = past;
        }
    }

    fn record(&self, path: &str, headers: &HeaderMap, body: &[u8], sni: Option<String>) {
        let headers = headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Recorded {
                path: path.to_owned(),
                headers,
                body: String::from_utf8_lossy(body).into_owned(),
                sni,
            });
    }
}

/// TLS server name of the connection, put into each request by the TLS
/// listener.
#[derive(Clone)]
struct Sni(Option<String>);

pub(crate) struct OrdsDouble {
    /// `http://127.0.0.1:port` or `https://ords.test:port`.
    pub base_url: String,
    pub addr: SocketAddr,
    pub state: Arc<DoubleState>,
    handle: JoinHandle<()>,
}

impl Drop for OrdsDouble {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// TLS material for the HTTPS listener: a test CA and a leaf for `host`.
pub(crate) struct TestPki {
    pub ca_pem: String,
    pub server: Arc<tokio_rustls::rustls::ServerConfig>,
}

impl TestPki {
    pub(crate) fn new(host: &str) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let ca_key = KeyPair::generate().expect("ca key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "adb-mcp test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("ca");
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf = CertificateParams::new(vec![host.to_owned()])
            .expect("leaf params")
            .signed_by(&leaf_key, &ca)
            .expect("leaf");
        let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let key =
            tokio_rustls::rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der())
                .expect("key der");
        let server = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone()], key)
            .expect("server config");
        Self {
            ca_pem: ca.pem(),
            server: Arc::new(server),
        }
    }
}

impl OrdsDouble {
    /// Plain HTTP on 127.0.0.1 (the backend needs `allow_insecure_http`).
    pub(crate) async fn start(demo_db: &Path) -> Self {
        let state = new_state(demo_db);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind double");
        let addr = listener.local_addr().expect("addr");
        let app = router(Arc::clone(&state));
        let handle = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base_url: format!("http://{addr}"),
            addr,
            state,
            handle,
        }
    }

    /// HTTPS on 127.0.0.1 with a certificate for `host` from `pki`'s CA;
    /// `base_url` names `host`, which only a proxy (or a resolver) maps
    /// back to 127.0.0.1.
    pub(crate) async fn start_tls(demo_db: &Path, pki: &TestPki, host: &str) -> Self {
        let state = new_state(demo_db);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind double");
        let addr = listener.local_addr().expect("addr");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&pki.server));
        let app = router(Arc::clone(&state));
        let handle = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let app = app.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let sni = tls.get_ref().1.server_name().map(str::to_owned);
                    let app = app.layer(axum::Extension(Sni(sni)));
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Self {
            base_url: format!("https://{host}:{}", addr.port()),
            addr,
            state,
            handle,
        }
    }
}

fn new_state(demo_db: &Path) -> Arc<DoubleState> {
    let conn = Connection::open_with_flags(
        demo_db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .expect("open demo db");
    conn.execute_batch(DICTIONARY).expect("dictionary views");
    privileges::install(&conn, &Grants::least_privilege()).expect("privilege views");
    Arc::new(DoubleState {
        db: Mutex::new(conn),
        faults: Mutex::new(Faults::default()),
        log: Mutex::new(Vec::new()),
        tokens: Mutex::new(HashMap::new()),
        next_token: AtomicU64::new(1),
        token_requests: AtomicUsize::new(0),
        sql_requests: AtomicUsize::new(0),
        unauthorized: AtomicUsize::new(0),
        token_lifetime_secs: AtomicU64::new(3600),
        max_page: AtomicUsize::new(DEFAULT_LIMIT),
        cursor_rows_as_array: AtomicBool::new(false),
        executed: Mutex::new(Vec::new()),
        dynamic: Mutex::new(Vec::new()),
    })
}

fn router(state: Arc<DoubleState>) -> Router {
    Router::new()
        .route("/ords/{alias}/_/sql", post(sql))
        .route("/ords/{alias}/oauth/token", post(token))
        .with_state(state)
}

/// The Oracle data dictionary over SQLite's catalogue, for schema DEMO.
const DICTIONARY: &str = r#"
CREATE TEMP VIEW dual AS SELECT 'X' AS dummy;
CREATE TEMP VIEW user_users AS SELECT 'DEMO' AS username;
CREATE TEMP VIEW all_users AS
  SELECT 'DEMO' AS username, 'N' AS oracle_maintained
  UNION ALL SELECT 'SYS', 'Y'
  UNION ALL SELECT 'EMPTY_SCHEMA', 'N';
CREATE TEMP VIEW demo_objects AS
  SELECT name, type FROM main.sqlite_master
  WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name <> '_comments';
CREATE TEMP VIEW all_tables AS
  SELECT 'DEMO' AS owner, UPPER(o.name) AS table_name,
         (SELECT CAST(s.stat AS INTEGER) FROM main.sqlite_stat1 s WHERE s.tbl = o.name LIMIT 1) AS num_rows,
         'NO' AS nested, 'N' AS secondary, 'NO' AS dropped
  FROM demo_objects o WHERE o.type = 'table'
  UNION ALL
  SELECT 'SYS', 'DUAL', 1, 'NO', 'N', 'NO';
CREATE TEMP VIEW all_views AS
  SELECT 'DEMO' AS owner, UPPER(o.name) AS view_name FROM demo_objects o WHERE o.type = 'view';
CREATE TEMP VIEW all_tab_comments AS
  SELECT 'DEMO' AS owner, UPPER(c.object_name) AS table_name,
         CASE o.type WHEN 'view' THEN 'VIEW' ELSE 'TABLE' END AS table_type, c.comment AS comments
  FROM main._comments c JOIN demo_objects o ON o.name = c.object_name
  WHERE c.column_name IS NULL;
CREATE TEMP VIEW all_col_comments AS
  SELECT 'DEMO' AS owner, UPPER(c.object_name) AS table_name, UPPER(c.column_name) AS column_name,
         c.comment AS comments
  FROM main._comments c WHERE c.column_name IS NOT NULL;
CREATE TEMP VIEW all_tab_columns AS
  SELECT 'DEMO' AS owner, UPPER(o.name) AS table_name, UPPER(p.name) AS column_name,
         CASE UPPER(p.type) WHEN 'INTEGER' THEN 'NUMBER' WHEN 'NUMERIC' THEN 'NUMBER'
              WHEN 'REAL' THEN 'BINARY_DOUBLE' WHEN 'TEXT' THEN 'VARCHAR2' WHEN '' THEN 'VARCHAR2'
              ELSE UPPER(p.type) END AS data_type,
         CASE WHEN UPPER(p.type) IN ('TEXT', '') THEN 4000 ELSE 22 END AS data_length,
         NULL AS data_precision,
         CASE UPPER(p.type) WHEN 'INTEGER' THEN 0 ELSE NULL END AS data_scale,
         CASE WHEN UPPER(p.type) IN ('TEXT', '') THEN 4000 ELSE 0 END AS char_length,
         CASE WHEN UPPER(p.type) IN ('TEXT', '') THEN 'B' ELSE NULL END AS char_used,
         CASE WHEN p."notnull" = 1 OR p.pk > 0 THEN 'N' ELSE 'Y' END AS nullable,
         p.dflt_value AS data_default, p.cid + 1 AS column_id
  FROM demo_objects o JOIN pragma_table_info(o.name) p;
CREATE TEMP VIEW all_constraints AS
  SELECT 'DEMO' AS owner, 'PK_' || UPPER(o.name) AS constraint_name, 'P' AS constraint_type,
         UPPER(o.name) AS table_name, NULL AS r_owner, NULL AS r_constraint_name
  FROM demo_objects o
  WHERE o.type = 'table' AND EXISTS (SELECT 1 FROM pragma_table_info(o.name) p WHERE p.pk > 0)
  UNION ALL
  SELECT DISTINCT 'DEMO', 'FK_' || UPPER(o.name) || '_' || f.id, 'R', UPPER(o.name),
         'DEMO', 'PK_' || UPPER(f."table")
  FROM demo_objects o JOIN pragma_foreign_key_list(o.name) f WHERE o.type = 'table';
CREATE TEMP VIEW all_cons_columns AS
  SELECT 'DEMO' AS owner, 'PK_' || UPPER(o.name) AS constraint_name, UPPER(o.name) AS table_name,
         UPPER(p.name) AS column_name, p.pk AS position
  FROM demo_objects o JOIN pragma_table_info(o.name) p WHERE o.type = 'table' AND p.pk > 0
  UNION ALL
  SELECT 'DEMO', 'FK_' || UPPER(o.name) || '_' || f.id, UPPER(o.name), UPPER(f."from"), f.seq + 1
  FROM demo_objects o JOIN pragma_foreign_key_list(o.name) f WHERE o.type = 'table';
CREATE TEMP VIEW all_indexes AS
  SELECT 'DEMO' AS owner, UPPER(i.name) AS index_name, 'DEMO' AS table_owner,
         UPPER(o.name) AS table_name,
         CASE i."unique" WHEN 1 THEN 'UNIQUE' ELSE 'NONUNIQUE' END AS uniqueness
  FROM demo_objects o JOIN pragma_index_list(o.name) i WHERE o.type = 'table';
CREATE TEMP VIEW all_ind_columns AS
  SELECT 'DEMO' AS index_owner, UPPER(i.name) AS index_name, 'DEMO' AS table_owner,
         UPPER(o.name) AS table_name, UPPER(c.name) AS column_name, c.seqno + 1 AS column_position
  FROM demo_objects o JOIN pragma_index_list(o.name) i JOIN pragma_index_info(i.name) c
  WHERE o.type = 'table';
CREATE TEMP TABLE plan_table (
  statement_id TEXT, id INTEGER, parent_id INTEGER, depth INTEGER, operation TEXT, options TEXT,
  object_owner TEXT, object_name TEXT, cost INTEGER, cardinality INTEGER,
  access_predicates TEXT, filter_predicates TEXT);
"#;

fn sni_of(ext: &axum::http::Extensions) -> Option<String> {
    ext.get::<Sni>().and_then(|s| s.0.clone())
}

fn ords_error(status: StatusCode, code: &str, message: &str) -> Response {
    // ORDS's JSON error document shape (code, message, type, instance).
    (
        status,
        axum::Json(json!({
            "code": code,
            "message": message,
            "type": format!("tag:oracle.com,2020:error/{code}"),
            "instance": "tag:oracle.com,2020:ecid/double",
        })),
    )
        .into_response()
}

fn unauthorized(state: &DoubleState, bearer: bool) -> Response {
    state.unauthorized.fetch_add(1, Ordering::SeqCst);
    let challenge = if bearer {
        r#"Bearer realm="Oracle REST Data Services", error="invalid_token""#
    } else {
        r#"Basic realm="Oracle REST Data Services""#
    };
    let mut r = ords_error(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    if let Ok(v) = challenge.parse() {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// `Ok(is_bearer)` when the request is authenticated.
fn check_auth(state: &DoubleState, headers: &HeaderMap) -> Result<bool, bool> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Some(b64) = auth.strip_prefix("Basic ") {
        let ok = STANDARD
            .decode(b64)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .is_some_and(|s| s == format!("{DB_USER}:{DB_PASSWORD}"));
        return if ok { Ok(false) } else { Err(false) };
    }
    if let Some(token) = auth.strip_prefix("Bearer ") {
        let tokens = state.tokens.lock().unwrap_or_else(|p| p.into_inner());
        return match tokens.get(token) {
            Some(exp) if Instant::now() < *exp => Ok(true),
            _ => Err(true),
        };
    }
    Err(false)
}

async fn token(
    State(state): State<Arc<DoubleState>>,
    UrlPath(alias): UrlPath<String>,
    req: axum::extract::Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    state.record(
        parts.uri.path(),
        &parts.headers,
        &body,
        sni_of(&parts.extensions),
    );
    state.token_requests.fetch_add(1, Ordering::SeqCst);
    if alias != ALIAS {
        return ords_error(StatusCode::NOT_FOUND, "NotFound", "Not Found");
    }
    let client_ok = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .is_some_and(|s| s == format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    let form = String::from_utf8_lossy(&body);
    if !client_ok {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client", "error_description": "client authentication failed"})),
        )
            .into_response();
    }
    if !form
        .split('&')
        .any(|kv| kv == "grant_type=client_credentials")
    {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "unsupported_grant_type"})),
        )
            .into_response();
    }
    let n = state.next_token.fetch_add(1, Ordering::SeqCst);
    let lifetime = state.token_lifetime_secs.load(Ordering::SeqCst);
    let token = format!("ords-double-token-{n}");
    state
        .tokens
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(
            token.clone(),
            Instant::now() + Duration::from_secs(lifetime),
        );
    axum::Json(json!({"access_token": token, "token_type": "bearer", "expires_in": lifetime}))
        .into_response()
}

async fn sql(
    State(state): State<Arc<DoubleState>>,
    UrlPath(alias): UrlPath<String>,
    req: axum::extract::Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let body: Bytes = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    state.record(
        parts.uri.path(),
        &parts.headers,
        &body,
        sni_of(&parts.extensions),
    );
    state.sql_requests.fetch_add(1, Ordering::SeqCst);
    let (slow, status, html, malformed, canned, forget) = {
        let mut f = state.faults();
        let status = match f.status {
            Some((code, n)) if n > 0 => {
                f.status = Some((code, n - 1));
                Some(code)
            }
            _ => None,
        };
        (
            f.slow,
            status,
            f.html,
            f.malformed,
            f.canned.take(),
            std::mem::take(&mut f.unauthorized_once),
        )
    };
    if let Some(d) = slow {
        tokio::time::sleep(d).await;
    }
    if alias != ALIAS {
        return ords_error(StatusCode::NOT_FOUND, "NotFound", "Not Found");
    }
    let bearer = match check_auth(&state, &parts.headers) {
        Ok(b) => b,
        Err(b) => return unauthorized(&state, b),
    };
    if forget {
        return unauthorized(&state, bearer);
    }
    if let Some(code) = status {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return ords_error(
            status,
            "ServiceUnavailable",
            "The service is temporarily unavailable",
        );
    }
    if html {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!DOCTYPE html><html><body><h1>Sign in</h1><p>SECRET-HTML-MARKER</p></body></html>",
        )
            .into_response();
    }
    if malformed {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"env":{"defaultTimeZone":"UTC"},"items":[{"statementId":1,"resultSet":{"metadata":["#,
        )
            .into_response();
    }
    if let Some(body) = canned {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
    }
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return ords_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            "expected application/json",
        );
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return ords_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "The request body is not valid JSON",
        );
    };
    let max_page = state.max_page.load(Ordering::SeqCst);
    let conn = state.db.lock().unwrap_or_else(|p| p.into_inner());
    let items = run_script(&state, &conn, &request, max_page);
    axum::Json(json!({"env": {"defaultTimeZone": "UTC"}, "items": items})).into_response()
}

/// Runs a request's script: every unit the engine produces is recorded
/// (it is what a real ORDS would have executed) and answered with one item.
fn run_script(
    state: &DoubleState,
    conn: &Connection,
    request: &Value,
    max_page: usize,
) -> Vec<Value> {
    let script = request["statementText"].as_str().unwrap_or("");
    let binds: Vec<Value> = request["binds"].as_array().cloned().unwrap_or_default();
    let offset = request["offset"].as_u64().unwrap_or(0) as usize;
    let limit = request["limit"]
        .as_u64()
        .map_or(DEFAULT_LIMIT, |l| l as usize)
        .min(max_page);
    let as_array = state.cursor_rows_as_array.load(Ordering::SeqCst);
    let mut items = Vec::new();
    for (n, unit) in script::split(script).into_iter().enumerate() {
        let mut item = json!({
            "statementId": n + 1,
            "statementPos": {"startLine": unit.line, "endLine": unit.line + unit.text.matches('\n').count()},
            "statementText": unit.text,
            "response": [],
            "result": 0,
        });
        let outcome = if let Some(e) = &unit.error {
            item["statementType"] = json!(kind_name(unit.kind));
            Err((0, e.clone()))
        } else {
            state.log_executed(&unit.text);
            match unit.kind {
                UnitKind::Command => {
                    item["statementType"] = json!("sqlplus");
                    Ok(())
                }
                UnitKind::Plsql => {
                    item["statementType"] = json!("plsql");
                    run_block(state, conn, &unit.text, &binds, limit, as_array).map(|out| {
                        item["binds"] = out;
                        item["response"] =
                            json!(["\nPL/SQL procedure successfully completed.\n\n"]);
                    })
                }
                UnitKind::Sql => {
                    let (kind, is_query) = sql_kind(&unit.text);
                    item["statementType"] = json!(kind);
                    if is_query {
                        let params = index_binds(conn, &unit.text, &binds);
                        params
                            .and_then(|p| run_select(conn, &unit.text, &p, offset, limit))
                            .map(|rs| item["resultSet"] = rs)
                    } else {
                        // Recorded as run; the read-only copy is never changed.
                        Ok(())
                    }
                }
            }
        };
        if let Err((code, message)) = outcome {
            item["errorCode"] = json!(code);
            item["errorMessage"] = json!(message);
            item["errorLine"] = json!(unit.line);
            item["errorColumn"] = json!(1);
            item["errorDetails"] = json!(format!(
                "https://docs.oracle.com/error-help/db/ora-{code:05}/"
            ));
        }
        items.push(item);
    }
    items
}

fn kind_name(kind: UnitKind) -> &'static str {
    match kind {
        UnitKind::Sql => "sql",
        UnitKind::Plsql => "plsql",
        UnitKind::Command => "sqlplus",
    }
}

/// ORDS's statement type for a SQL statement, and whether it is a query.
fn sql_kind(text: &str) -> (&'static str, bool) {
    let first = text
        .trim_start_matches(|c: char| c.is_whitespace() || c == '(')
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("")
        .to_uppercase();
    match first.as_str() {
        "SELECT" | "WITH" => ("query", true),
        "INSERT" | "UPDATE" | "DELETE" | "MERGE" => ("dml", false),
        "CREATE" | "ALTER" | "DROP" | "GRANT" | "REVOKE" | "TRUNCATE" | "RENAME" | "COMMENT"
        | "ANALYZE" | "AUDIT" | "FLASHBACK" | "PURGE" => ("ddl", false),
        "COMMIT" | "ROLLBACK" | "SAVEPOINT" => ("transaction_control", false),
        "SET" => ("session_control", false),
        _ => ("other", false),
    }
}

/// SQLite's error as the ORA error Oracle gives for the same mistake.
fn ora_error(e: &rusqlite::Error) -> (i64, String) {
    let text = e.to_string();
    if text.contains("no such table: ") {
        return (942, "ORA-00942: table or view does not exist".into());
    }
    if let Some(col) = text.split("no such column: ").nth(1) {
        return (
            904,
            format!(
                "ORA-00904: \"{}\": invalid identifier",
                col.split_whitespace().next().unwrap_or("").to_uppercase()
            ),
        );
    }
    (900, format!("ORA-00900: invalid SQL statement ({text})"))
}

/// A bind's JSON value as an SQLite value.
fn sql_value(b: &Value) -> SqlValue {
    let value = &b["value"];
    match (b["data_type"].as_str().unwrap_or("VARCHAR2"), value) {
        (_, Value::Null) => SqlValue::Null,
        ("NUMBER" | "BINARY_DOUBLE", Value::Number(n)) => match n.as_i64() {
            Some(v) => SqlValue::Integer(v),
            None => SqlValue::Real(n.as_f64().unwrap_or(f64::NAN)),
        },
        (_, Value::String(s)) => SqlValue::Text(s.clone()),
        (_, other) => SqlValue::Text(other.to_string()),
    }
}

/// Binds by `index` for the `?` placeholders of a top-level statement.
/// Assumption: they apply to the statements that have placeholders; the
/// JDBC driver behind ORDS reports a missing one.
fn index_binds(
    conn: &Connection,
    sql: &str,
    binds: &[Value],
) -> Result<Vec<SqlValue>, (i64, String)> {
    let stmt = conn.prepare(sql).map_err(|e| ora_error(&e))?;
    (1..=stmt.parameter_count())
        .map(|i| {
            binds
                .iter()
                .find(|b| b["index"].as_u64() == Some(i as u64))
                .map(sql_value)
                .ok_or_else(|| {
                    (
                        17041,
                        format!("ORA-17041: Missing IN or OUT parameter at index:: {i}"),
                    )
                })
        })
        .collect()
}

fn named_bind<'b>(binds: &'b [Value], name: &str) -> Option<&'b Value> {
    binds.iter().find(|b| {
        b["name"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    })
}

fn oracle_type(decl: Option<&str>, sample: Option<&Value>) -> &'static str {
    match decl.map(str::to_uppercase).as_deref() {
        Some("INTEGER" | "NUMERIC" | "INT" | "REAL") => "NUMBER",
        Some("TEXT") => "VARCHAR2",
        Some("DATE") => "DATE",
        Some("BLOB") => "BLOB",
        _ => match sample {
            Some(Value::Number(_)) => "NUMBER",
            _ => "VARCHAR2",
        },
    }
}

/// Runs one SELECT on SQLite with positional values, skips `offset` rows
/// and returns at most `limit` as an ORDS result set (`hasMore` when more
/// exist).
fn run_select(
    conn: &Connection,
    sql: &str,
    params: &[SqlValue],
    offset: usize,
    limit: usize,
) -> Result<Value, (i64, String)> {
    let mut stmt = conn.prepare(sql).map_err(|e| ora_error(&e))?;
    let names: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    let decls: Vec<Option<String>> = stmt
        .columns()
        .map(|c| c.decl_type().map(str::to_owned))
        .collect();
    // ORDS and our wrapper put queries in an inline view: duplicate names fail.
    let mut seen = std::collections::HashSet::new();
    for n in &names {
        if !seen.insert(n.to_uppercase()) {
            return Err((918, "ORA-00918: column ambiguously defined".into()));
        }
    }
    if stmt.parameter_count() != params.len() {
        return Err((1008, "ORA-01008: not all variables bound".into()));
    }
    for (i, v) in params.iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, v)
            .map_err(|e| ora_error(&e))?;
    }
    let mut rows = stmt.raw_query();
    let mut skipped = 0;
    while skipped < offset {
        match rows.next().map_err(|e| ora_error(&e))? {
            Some(_) => skipped += 1,
            None => break,
        }
    }
    let mut items: Vec<Vec<Value>> = Vec::new();
    let mut has_more = false;
    while let Some(row) = rows.next().map_err(|e| ora_error(&e))? {
        if items.len() == limit {
            has_more = true;
            break;
        }
        let mut values = Vec::with_capacity(names.len());
        for i in 0..names.len() {
            values.push(match row.get_ref(i).map_err(|e| ora_error(&e))? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(v) => json!(v),
                ValueRef::Real(v) => json!(v),
                ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
                ValueRef::Blob(b) => json!(STANDARD.encode(b)),
            });
        }
        items.push(values);
    }
    let metadata: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let sample = items.iter().map(|r| &r[i]).find(|v| !v.is_null());
            json!({
                "columnName": n.to_uppercase(),
                "jsonColumnName": n.to_lowercase(),
                "columnTypeName": oracle_type(decls[i].as_deref(), sample),
                "columnClassName": "java.lang.String",
                "precision": 0,
                "scale": 0,
                "isNullable": 1,
            })
        })
        .collect();
    let count = items.len();
    let objects: Vec<Value> = items
        .into_iter()
        .map(|r| Value::Object(names.iter().map(|n| n.to_lowercase()).zip(r).collect()))
        .collect();
    Ok(json!({
        "metadata": metadata,
        "items": objects,
        "hasMore": has_more,
        "limit": limit,
        "offset": offset,
        "count": count,
    }))
}

// ---------------------------------------------------------------------------
// adb-mcp's fixed PL/SQL blocks. The double knows their exact text (its own
// copy, so a change on either side shows) and nothing else: any other
// PL/SQL is an error item, as an unknown construct.

fn query_block(user_binds: usize) -> String {
    let mut using: Vec<String> = (1..=user_binds).map(|i| format!(":b{i}")).collect();
    using.push(":o".into());
    using.push(":n".into());
    format!(
        "DECLARE c SYS_REFCURSOR; BEGIN OPEN c FOR 'SELECT * FROM (' || CHR(10) || :q || CHR(10) || ') OFFSET ' || CHR(58) || 'o ROWS FETCH NEXT ' || CHR(58) || 'n ROWS ONLY' USING {}; :rc := c; END;",
        using.join(", ")
    )
}

const EXPLAIN_PREFIX: &str =
    "DECLARE p CLOB; BEGIN EXECUTE IMMEDIATE 'EXPLAIN PLAN SET STATEMENT_ID = ''";

fn explain_block(id: &str) -> String {
    format!(
        "{EXPLAIN_PREFIX}{id}'' INTO plan_table FOR SELECT * FROM (' || CHR(10) || :q || CHR(10) || ')'; SELECT JSON_ARRAYAGG(JSON_OBJECT('id' VALUE id, 'parent_id' VALUE parent_id, 'depth' VALUE depth, 'operation' VALUE operation, 'options' VALUE options, 'object_owner' VALUE object_owner, 'object_name' VALUE object_name, 'cost' VALUE cost, 'cardinality' VALUE cardinality, 'access_predicates' VALUE access_predicates, 'filter_predicates' VALUE filter_predicates RETURNING CLOB) ORDER BY id RETURNING CLOB) INTO p FROM plan_table WHERE statement_id = '{id}'; ROLLBACK; :plan := p; END;"
    )
}

fn not_bound(name: &str) -> (i64, String) {
    (
        1008,
        format!("ORA-01008: not all variables bound (:{name})"),
    )
}

/// Appends ORA-06512 as Oracle does for an error raised inside a block.
fn in_block((code, message): (i64, String)) -> (i64, String) {
    (code, format!("{message}\nORA-06512: at line 1"))
}

/// Runs a PL/SQL block if it is one of ours; returns the response binds.
fn run_block(
    state: &DoubleState,
    conn: &Connection,
    text: &str,
    binds: &[Value],
    limit: usize,
    as_array: bool,
) -> Result<Value, (i64, String)> {
    let user_binds = binds
        .iter()
        .filter(|b| {
            b["name"].as_str().is_some_and(|n| {
                n.strip_prefix('b')
                    .is_some_and(|d| !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit()))
            })
        })
        .count();
    if text == query_block(user_binds) {
        return run_query_block(state, conn, binds, user_binds, limit, as_array).map_err(in_block);
    }
    if let Some(rest) = text.strip_prefix(EXPLAIN_PREFIX)
        && let Some((id, _)) = rest.split_once("''")
        && !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && text == explain_block(id)
    {
        return run_explain_block(state, conn, binds, id).map_err(in_block);
    }
    Err((
        6550,
        "ORA-06550: line 1, column 1: the ORDS test double runs only adb-mcp's fixed blocks (unknown PL/SQL)"
            .into(),
    ))
}

/// What Oracle's parser says about the user's text inside our wrapper:
/// exactly one query, or the error it would raise. Returns the text with
/// its placeholders numbered for SQLite (`?1..?P`) and P.
fn parse_inner(q: &str) -> Result<(String, usize), (i64, String)> {
    let toks = script::lex(q)?;
    let words: Vec<&str> = toks
        .iter()
        .filter_map(|t| match &t.0 {
            Tok::Word(w) => Some(w.as_str()),
            _ => None,
        })
        .collect();
    match toks.first().map(|t| &t.0) {
        Some(Tok::Word(w)) if w == "SELECT" || w == "WITH" => {}
        Some(Tok::Punct('(')) => {}
        _ => return Err((928, "ORA-00928: missing SELECT keyword".into())),
    }
    if toks.iter().any(|t| t.0 == Tok::Punct(';')) {
        return Err((911, "ORA-00911: invalid character".into()));
    }
    if words.first() == Some(&"WITH") && matches!(words.get(1), Some(&("FUNCTION" | "PROCEDURE"))) {
        return Err((32034, "ORA-32034: unsupported use of WITH clause".into()));
    }
    if words.windows(2).any(|w| w == ["FOR", "UPDATE"]) {
        return Err((907, "ORA-00907: missing right parenthesis".into()));
    }
    let mut out = String::with_capacity(q.len());
    let mut last = 0;
    let mut n = 0;
    for (tok, start, end) in &toks {
        if *tok == Tok::Placeholder {
            n += 1;
            out.push_str(&q[last..*start]);
            out.push_str(&format!("?{n}"));
            last = *end;
        }
    }
    out.push_str(&q[last..]);
    Ok((out, n))
}

fn run_query_block(
    state: &DoubleState,
    conn: &Connection,
    binds: &[Value],
    user_binds: usize,
    limit: usize,
    as_array: bool,
) -> Result<Value, (i64, String)> {
    let q = named_bind(binds, "q")
        .and_then(|b| b["value"].as_str())
        .ok_or_else(|| not_bound("q"))?;
    let number = |name: &str| {
        named_bind(binds, name)
            .and_then(|b| b["value"].as_u64())
            .map(|v| v as usize)
            .ok_or_else(|| not_bound(name))
    };
    let (o, n) = (number("o")?, number("n")?);
    let rc = named_bind(binds, "rc").ok_or_else(|| not_bound("rc"))?;
    if rc["data_type"] != "CURSOR"
        || !rc["mode"]
            .as_str()
            .is_some_and(|m| m.eq_ignore_ascii_case("out"))
    {
        return Err((
            6550,
            "ORA-06550: PLS-00382: expression is of wrong type (:rc)".into(),
        ));
    }
    // The one statement the block makes the database parse.
    state.log_dynamic(&format!(
        "SELECT * FROM (\n{q}\n) OFFSET :o ROWS FETCH NEXT :n ROWS ONLY"
    ));
    let (inner, placeholders) = parse_inner(q)?;
    if placeholders > user_binds {
        return Err((1008, "ORA-01008: not all variables bound".into()));
    }
    if placeholders < user_binds {
        return Err((1006, "ORA-01006: bind variable does not exist".into()));
    }
    // Oracle refuses duplicate column names in the inline view; SQLite
    // would rename them (`ORDER_ID:1`), so the inner query is checked alone.
    let probe = conn.prepare(&inner).map_err(|e| ora_error(&e))?;
    let names: Vec<String> = probe.column_names().map(|n| n.to_uppercase()).collect();
    drop(probe);
    let mut seen = std::collections::HashSet::new();
    if !names.iter().all(|n| seen.insert(n.clone())) {
        return Err((918, "ORA-00918: column ambiguously defined".into()));
    }
    let mut params: Vec<SqlValue> = (1..=user_binds)
        .map(|i| named_bind(binds, &format!("b{i}")).map_or(SqlValue::Null, sql_value))
        .collect();
    params.push(SqlValue::Integer(n as i64));
    params.push(SqlValue::Integer(o as i64));
    let sqlite = format!(
        "SELECT * FROM (\n{inner}\n) LIMIT ?{} OFFSET ?{}",
        placeholders + 1,
        placeholders + 2
    );
    // Assumption: ORDS renders the cursor with the request's `limit` and its
    // own page cap, and says `hasMore` when it stopped early.
    let rs = run_select(conn, &sqlite, &params, 0, limit)?;
    let result = if as_array { rs["items"].clone() } else { rs };
    let mut out: Vec<Value> = binds
        .iter()
        .filter(|b| b["mode"].is_null())
        .map(|b| json!({"name": b["name"], "data_type": b["data_type"], "mode": "IN", "value": b["value"]}))
        .collect();
    out.push(json!({"name": "rc", "data_type": "CURSOR", "mode": "OUT", "result": result}));
    Ok(Value::Array(out))
}

/// `EXPLAIN PLAN … FOR SELECT * FROM (q)` on SQLite: `EXPLAIN QUERY PLAN`,
/// its rows as PLAN_TABLE rows under a `SELECT STATEMENT` root (id 0), as
/// Oracle numbers them, returned as the block's JSON CLOB.
fn run_explain_block(
    state: &DoubleState,
    conn: &Connection,
    binds: &[Value],
    id: &str,
) -> Result<Value, (i64, String)> {
    let q = named_bind(binds, "q")
        .and_then(|b| b["value"].as_str())
        .ok_or_else(|| not_bound("q"))?;
    let plan = named_bind(binds, "plan").ok_or_else(|| not_bound("plan"))?;
    if plan["data_type"] != "CLOB" {
        return Err((
            6550,
            "ORA-06550: PLS-00382: expression is of wrong type (:plan)".into(),
        ));
    }
    state.log_dynamic(&format!(
        "EXPLAIN PLAN SET STATEMENT_ID = '{id}' INTO plan_table FOR SELECT * FROM (\n{q}\n)"
    ));
    let (inner, _) = parse_inner(q)?;
    let mut eqp = conn
        .prepare(&format!("EXPLAIN QUERY PLAN SELECT * FROM (\n{inner}\n)"))
        .map_err(|e| ora_error(&e))?;
    let mut rows = eqp.raw_query();
    let mut plan_rows = vec![json!({"id": 0, "depth": 0, "operation": "SELECT STATEMENT"})];
    let mut depth: HashMap<i64, i64> = HashMap::from([(0, 0)]);
    while let Some(r) = rows.next().map_err(|e| ora_error(&e))? {
        let node: i64 = r.get(0).map_err(|e| ora_error(&e))?;
        let parent: i64 = r.get(1).map_err(|e| ora_error(&e))?;
        let detail: String = r.get(3).map_err(|e| ora_error(&e))?;
        let d = depth.get(&parent).copied().unwrap_or(0) + 1;
        depth.insert(node, d);
        let object = detail
            .split_whitespace()
            .nth(1)
            .filter(|_| detail.starts_with("SCAN") || detail.starts_with("SEARCH"))
            .map(str::to_uppercase);
        plan_rows.push(json!({
            "id": node, "parent_id": parent, "depth": d, "operation": detail,
            "object_name": object,
        }));
    }
    state.log_dynamic(&format!(
        "SELECT JSON_ARRAYAGG(…) INTO p FROM plan_table WHERE statement_id = '{id}'"
    ));
    state.log_dynamic("ROLLBACK");
    Ok(json!([
        {"name": "q", "data_type": "CLOB", "mode": "IN", "value": q},
        {"name": "plan", "data_type": "CLOB", "mode": "OUT", "result": Value::Array(plan_rows).to_string()},
    ]))
}

/// What the proxy saw: request line and `Proxy-Authorization`, per connection.
pub(crate) type ProxyLog = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A tiny HTTP CONNECT proxy on 127.0.0.1 that tunnels every target to
/// `upstream` and records each request line and `Proxy-Authorization`.
pub(crate) struct ConnectProxy {
    pub url: String,
    pub seen: ProxyLog,
    handle: JoinHandle<()>,
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

impl ConnectProxy {
    pub(crate) async fn start(upstream: SocketAddr) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let seen: ProxyLog = Arc::default();
        let log = Arc::clone(&seen);
        let handle = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                        match client.read(&mut byte).await {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    let text = String::from_utf8_lossy(&head).into_owned();
                    let mut lines = text.lines();
                    let request_line = lines.next().unwrap_or("").to_owned();
                    let auth = lines
                        .filter_map(|l| l.split_once(':'))
                        .find(|(k, _)| k.trim().eq_ignore_ascii_case("proxy-authorization"))
                        .map(|(_, v)| v.trim().to_owned());
                    log.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((request_line.clone(), auth));
                    if !request_line.starts_with("CONNECT ") {
                        let _ = client
                            .write_all(
                                b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n",
                            )
                            .await;
                        return;
                    }
                    let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
                        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                        return;
                    };
                    if client
                        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                        .await
                        .is_err()
                    {
                        return;
                    }
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        });
        Self {
            url: format!("http://{addr}"),
            seen,
            handle,
        }
    }
}
