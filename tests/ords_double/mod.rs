//! ORDS test double built from the documented REST-Enabled SQL contract.
//!
//! Sources: the ORDS developer guide ("REST-Enabled SQL Service", request
//! and response specifications; the 17.3 appendix of POST examples), and
//! Oracle's samples in `oracle/oracle-db-tools` `ords/rest-sql/`
//! (`curl-binds.sh`, `curl-pagination.sh`, `demo-all-in-one.html`); the
//! OAuth token exchange from the ORDS OAuth reference (client credentials
//! with HTTP Basic client authentication). Summarised in
//! `/shared/reference/ords-and-oracle-driver.md` §2.
//!
//! What it implements, on 127.0.0.1 only:
//! * `POST /ords/{alias}/_/sql` with `application/json`: `statementText`
//!   (one or more `;`-separated statements), `binds` by `index` bound to
//!   `?` placeholders, `offset`/`limit` paging with `hasMore`/`count`, one
//!   `items[]` entry per statement, statement errors as items with
//!   `errorCode`/`errorMessage`/`errorLine`/`errorColumn` (HTTP 200).
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
//! `DEMO` (plus `SYS` and an empty `EMPTY_SCHEMA` in ALL_USERS). The only
//! translations are: `EXPLAIN PLAN SET STATEMENT_ID = '…' INTO plan_table
//! FOR q` runs SQLite's `EXPLAIN QUERY PLAN q` and fills a TEMP PLAN_TABLE;
//! SQLite errors become the ORA codes a real database would give for the
//! same mistake (no such table → ORA-00942, no such column → ORA-00904).
//! Assumptions beyond the documents, marked in the code: a script's `binds`
//! apply to the statements that have placeholders; `ROLLBACK` ends the
//! request's transaction, which otherwise commits.
//!
//! Fault switches (all counted down per request): 401 once, expire every
//! issued token, 5xx n times, slow responses, an HTML page with status 200,
//! malformed JSON, a canned response body, a server page-size cap. Every
//! request's headers, body and TLS SNI are recorded.
#![allow(dead_code)]

mod privileges;
pub use privileges::Grants;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

pub const ALIAS: &str = "demo";
pub const DB_USER: &str = "DEMO";
pub const DB_PASSWORD: &str = "demo-password-not-secret";
pub const CLIENT_ID: &str = "adb-mcp-client";
pub const CLIENT_SECRET: &str = "client-secret-not-secret";
/// ORDS's documented default page size when a request gives no `limit`.
const DEFAULT_LIMIT: usize = 10_000;

/// One request as the double saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// TLS server name the client sent (TLS listener only).
    pub sni: Option<String>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
pub struct Faults {
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

pub struct DoubleState {
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
}

impl DoubleState {
    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn sql_bodies(&self) -> Vec<Value> {
        self.requests()
            .iter()
            .filter(|r| r.path.ends_with("/_/sql"))
            .filter_map(|r| serde_json::from_str(&r.body).ok())
            .collect()
    }

    pub fn faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every token issued so far stops working (as after a key rotation).
    pub fn expire_all_tokens(&self) {
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

pub struct OrdsDouble {
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
pub struct TestPki {
    pub ca_pem: String,
    pub server: Arc<tokio_rustls::rustls::ServerConfig>,
}

impl TestPki {
    pub fn new(host: &str) -> Self {
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
    pub async fn start(demo_db: &Path) -> Self {
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
    pub async fn start_tls(demo_db: &Path, pki: &TestPki, host: &str) -> Self {
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
    let items = run_script(&conn, &request, max_page);
    axum::Json(json!({"env": {"defaultTimeZone": "UTC"}, "items": items})).into_response()
}

/// Splits a script at `;` outside literals, quoted names and comments.
fn split_statements(script: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    let (mut quote, mut line_comment, mut block_comment) = (None::<char>, false, false);
    let chars: Vec<(usize, char)> = script.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        let next = chars.get(i + 1).map(|x| x.1);
        if cur.trim().is_empty() {
            start = pos;
        }
        cur.push(c);
        match (quote, line_comment, block_comment) {
            (Some(q), _, _) if c == q => quote = None,
            (Some(_), _, _) => {}
            (None, true, _) if c == '\n' => line_comment = false,
            (None, true, _) => {}
            (None, _, true) if c == '*' && next == Some('/') => {
                cur.push('/');
                i += 1;
                block_comment = false;
            }
            (None, _, true) => {}
            _ if c == '\'' || c == '"' => quote = Some(c),
            _ if c == '-' && next == Some('-') => line_comment = true,
            _ if c == '/' && next == Some('*') => block_comment = true,
            _ if c == ';' => {
                cur.pop();
                if !cur.trim().is_empty() {
                    out.push((start, cur.trim().to_owned()));
                }
                cur.clear();
            }
            _ => {}
        }
        i += 1;
    }
    if !cur.trim().is_empty() {
        out.push((start, cur.trim().to_owned()));
    }
    out
}

fn line_of(script: &str, pos: usize) -> usize {
    script[..pos.min(script.len())].matches('\n').count() + 1
}

fn run_script(conn: &Connection, request: &Value, max_page: usize) -> Vec<Value> {
    let script = request["statementText"].as_str().unwrap_or("");
    let binds: Vec<Value> = request["binds"].as_array().cloned().unwrap_or_default();
    let offset = request["offset"].as_u64().unwrap_or(0) as usize;
    let limit = request["limit"]
        .as_u64()
        .map_or(DEFAULT_LIMIT, |l| l as usize)
        .min(max_page);
    let _ = conn.execute_batch("BEGIN");
    let mut items = Vec::new();
    for (n, (pos, stmt)) in split_statements(script).into_iter().enumerate() {
        let line = line_of(script, pos);
        let mut item = json!({
            "statementId": n + 1,
            "statementPos": {"startLine": line, "endLine": line + stmt.matches('\n').count()},
            "statementText": stmt,
            "response": [],
            "result": 0,
        });
        let upper = stmt.trim_start().to_uppercase();
        let outcome = if upper.starts_with("ROLLBACK") {
            let _ = conn.execute_batch("ROLLBACK; BEGIN");
            item["statementType"] = json!("sql");
            item["response"] = json!(["Rollback complete."]);
            Ok(())
        } else if upper.starts_with("EXPLAIN PLAN") {
            item["statementType"] = json!("sql");
            explain_plan(conn, &stmt, &binds).map(|()| {
                item["response"] = json!(["Explained."]);
            })
        } else {
            item["statementType"] = json!("query");
            query(conn, &stmt, &binds, offset, limit).map(|rs| {
                item["resultSet"] = rs;
            })
        };
        if let Err((code, message)) = outcome {
            item["errorCode"] = json!(code);
            item["errorMessage"] = json!(message);
            item["errorLine"] = json!(line);
            item["errorColumn"] = json!(1);
            item["errorDetails"] = json!(format!(
                "https://docs.oracle.com/error-help/db/ora-{code:05}/"
            ));
        }
        items.push(item);
    }
    // ORDS commits a script that ran (assumption: no error rollback needed
    // here, nothing in this double writes to the database itself).
    let _ = conn.execute_batch("COMMIT");
    items
}

/// SQLite's error as the ORA error Oracle gives for the same mistake.
fn ora_error(e: &rusqlite::Error) -> (i64, String) {
    let text = e.to_string();
    if let Some(rest) = text.split("no such table: ").nth(1) {
        let _ = rest;
        return (942, "ORA-00942: table or view does not exist".into());
    }
    if let Some(col) = text.split("no such column: ").nth(1) {
        return (
            904,
            format!(
                "ORA-00904: \"{}\": invalid identifier",
                col.trim().to_uppercase()
            ),
        );
    }
    (900, format!("ORA-00900: invalid SQL statement ({text})"))
}

fn bind_all(stmt: &mut rusqlite::Statement<'_>, binds: &[Value]) -> Result<(), (i64, String)> {
    let count = stmt.parameter_count();
    for i in 1..=count {
        // Assumption: binds by index apply to the statements that have
        // placeholders; the JDBC driver behind ORDS reports a missing one.
        let Some(b) = binds.iter().find(|b| b["index"].as_u64() == Some(i as u64)) else {
            return Err((
                17041,
                format!("ORA-17041: Missing IN or OUT parameter at index:: {i}"),
            ));
        };
        let value = &b["value"];
        let r = match (b["data_type"].as_str().unwrap_or("VARCHAR2"), value) {
            (_, Value::Null) => stmt.raw_bind_parameter(i, rusqlite::types::Null),
            ("NUMBER" | "BINARY_DOUBLE", Value::Number(n)) => match n.as_i64() {
                Some(v) => stmt.raw_bind_parameter(i, v),
                None => stmt.raw_bind_parameter(i, n.as_f64().unwrap_or(f64::NAN)),
            },
            (_, Value::String(s)) => stmt.raw_bind_parameter(i, s.as_str()),
            (_, other) => stmt.raw_bind_parameter(i, other.to_string()),
        };
        r.map_err(|e| ora_error(&e))?;
    }
    Ok(())
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

fn query(
    conn: &Connection,
    sql: &str,
    binds: &[Value],
    offset: usize,
    limit: usize,
) -> Result<Value, (i64, String)> {
    let mut stmt = conn.prepare(sql).map_err(|e| ora_error(&e))?;
    let names: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    let decls: Vec<Option<String>> = stmt
        .columns()
        .map(|c| c.decl_type().map(str::to_owned))
        .collect();
    // ORDS wraps queries in an inline view for paging: duplicate names fail.
    let mut seen = std::collections::HashSet::new();
    for n in &names {
        if !seen.insert(n.to_uppercase()) {
            return Err((918, "ORA-00918: column ambiguously defined".into()));
        }
    }
    bind_all(&mut stmt, binds)?;
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

/// `EXPLAIN PLAN SET STATEMENT_ID = 'id' INTO plan_table FOR q` on SQLite:
/// `EXPLAIN QUERY PLAN q`, its rows stored as PLAN_TABLE rows under a
/// `SELECT STATEMENT` root (id 0), as Oracle numbers them.
fn explain_plan(conn: &Connection, stmt: &str, binds: &[Value]) -> Result<(), (i64, String)> {
    let syntax = || (905, "ORA-00905: missing keyword".to_owned());
    let id = stmt
        .split_once("STATEMENT_ID = '")
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(id, _)| id.to_owned())
        .ok_or_else(syntax)?;
    let upper = stmt.to_uppercase();
    let for_at = upper.find(" FOR ").ok_or_else(syntax)?;
    let inner = &stmt[for_at + 5..];
    let mut eqp = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {inner}"))
        .map_err(|e| ora_error(&e))?;
    bind_all(&mut eqp, binds)?;
    let mut rows = eqp.raw_query();
    let mut plan: Vec<(i64, i64, String)> = Vec::new();
    while let Some(r) = rows.next().map_err(|e| ora_error(&e))? {
        plan.push((
            r.get(0).map_err(|e| ora_error(&e))?,
            r.get(1).map_err(|e| ora_error(&e))?,
            r.get(3).map_err(|e| ora_error(&e))?,
        ));
    }
    let mut depth: HashMap<i64, i64> = HashMap::from([(0, 0)]);
    let insert = "INSERT INTO temp.plan_table (statement_id, id, parent_id, depth, operation, object_name) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    conn.execute(
        insert,
        rusqlite::params![id, 0, None::<i64>, 0, "SELECT STATEMENT", None::<String>],
    )
    .map_err(|e| ora_error(&e))?;
    for (node, parent, detail) in plan {
        let d = depth.get(&parent).copied().unwrap_or(0) + 1;
        depth.insert(node, d);
        let object = detail
            .split_whitespace()
            .nth(1)
            .filter(|_| detail.starts_with("SCAN") || detail.starts_with("SEARCH"))
            .map(str::to_uppercase);
        conn.execute(
            insert,
            rusqlite::params![id, node, parent, d, detail, object],
        )
        .map_err(|e| ora_error(&e))?;
    }
    Ok(())
}

/// What the proxy saw: request line and `Proxy-Authorization`, per connection.
pub type ProxyLog = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A tiny HTTP CONNECT proxy on 127.0.0.1 that tunnels every target to
/// `upstream` and records each request line and `Proxy-Authorization`.
pub struct ConnectProxy {
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
    pub async fn start(upstream: SocketAddr) -> Self {
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
