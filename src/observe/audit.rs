//! The audit log: one JSON line per tool call (ran, failed or refused),
//! format in `docs/audit.md`.
//!
//! Each line is built in memory and handed to the kernel with a single
//! `write` on a file opened in append mode, under a mutex that also guards
//! rotation. Nothing is buffered in the process, so a crash or SIGTERM
//! loses no line that a finished call produced; [`AuditLog::flush`] only
//! asks the kernel to persist the file (`fdatasync`) at shutdown.
//!
//! Values are redacted on the way out, never stored: argument names the
//! caller marks (claim-bound parameters) and any name that looks like a
//! secret (`password`, `token`, `api_key`, …) print as `[redacted]`, at any
//! depth. Long SQL text and long string values are cut.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::CallRecord;
use super::metrics::Metrics;
use crate::config::ops::{AuditConfig, AuditTarget};

/// Printed instead of a redacted value.
pub const REDACTED: &str = "[redacted]";

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit.path: cannot open the audit file {path}: {message}")]
    Open { path: PathBuf, message: String },
}

/// Parts of an argument name that mark it as a secret (compared in lower
/// case with `_` and `-` removed, so `clientSecret` and `API-Key` match).
const SECRET_MARKERS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "credential",
    "authorization",
    "cookie",
];

/// Whether an argument name looks like it holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let norm: String = name
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_MARKERS.iter().any(|m| norm.contains(m))
}

enum Sink {
    Stdout,
    File(FileSink),
}

struct FileSink {
    path: PathBuf,
    file: File,
    size: u64,
    max_bytes: u64,
    keep: u32,
}

fn open_append(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Audit lines name users and carry their SQL: owner only.
        options.mode(0o600);
    }
    options.open(path)
}

fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

impl FileSink {
    /// `audit.jsonl` → `.1`, `.1` → `.2`, …; the oldest beyond `keep` is
    /// overwritten by the rename before it.
    fn rotate(&mut self) -> std::io::Result<()> {
        if self.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            for n in (1..self.keep).rev() {
                match std::fs::rename(rotated(&self.path, n), rotated(&self.path, n + 1)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            std::fs::rename(&self.path, rotated(&self.path, 1))?;
        }
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }

    fn write(&mut self, line: &[u8]) -> std::io::Result<()> {
        let len = line.len() as u64;
        if self.max_bytes > 0 && self.size > 0 && self.size + len > self.max_bytes {
            self.rotate()?;
        }
        // One write(2) for the whole line on an O_APPEND file.
        self.file.write_all(line)?;
        self.size += len;
        Ok(())
    }
}

/// Where audit lines go, and how values are shortened.
pub struct AuditLog {
    sink: Mutex<Sink>,
    max_value: usize,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens (creating if needed) the audit file, or selects stdout.
    pub fn open(config: &AuditConfig, metrics: Arc<Metrics>) -> Result<Self, AuditError> {
        let sink = match config.target {
            AuditTarget::Stdout => Sink::Stdout,
            AuditTarget::File => {
                let fail = |e: std::io::Error| AuditError::Open {
                    path: config.path.clone(),
                    message: e.to_string(),
                };
                let file = open_append(&config.path).map_err(fail)?;
                let size = file.metadata().map_err(fail)?.len();
                Sink::File(FileSink {
                    path: config.path.clone(),
                    file,
                    size,
                    max_bytes: config.max_bytes,
                    keep: config.keep,
                })
            }
        };
        Ok(Self {
            sink: Mutex::new(sink),
            max_value: config.max_value_bytes,
            metrics,
        })
    }

    /// Writes the line for one call; a failed write is logged and counted,
    /// never turned into a failed call.
    pub fn record(&self, record: &CallRecord<'_>) {
        let line = self.line(record);
        let result = {
            let mut sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
            match &mut *sink {
                Sink::File(f) => f.write(&line),
                Sink::Stdout => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&line).and_then(|()| out.flush())
                }
            }
        };
        match result {
            Ok(()) => self.metrics.audit_written(),
            Err(e) => {
                self.metrics.audit_failed();
                tracing::error!(error = %e, "cannot write the audit log");
            }
        }
    }

    /// The JSON line (with its newline) for one call.
    pub fn line(&self, r: &CallRecord<'_>) -> Vec<u8> {
        let sql = r
            .arguments
            .and_then(|a| a.get("sql"))
            .and_then(Value::as_str);
        let rules = Rules {
            redact: r.redact,
            max: self.max_value,
        };
        let line = Line {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            tool: r.tool,
            outcome: r.outcome.label(),
            error_code: r.error_code,
            rows: r.rows,
            duration_us: r
                .duration
                .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
            principal: Who {
                subject: &r.principal.subject,
                client_id: r.principal.client_id.as_deref(),
                issuer: Some(r.principal.issuer.as_str()).filter(|i| !i.is_empty()),
            },
            request_id: r.request_id,
            session_id: r.session_id,
            sql: sql.map(|s| Cut(s, self.max_value)),
            arguments: r.arguments.map(|a| Args {
                map: a,
                skip: sql.map(|_| "sql"),
                rules: &rules,
            }),
        };
        let mut out = Vec::with_capacity(256);
        if serde_json::to_writer(&mut out, &line).is_err() {
            out.clear();
            out.extend_from_slice(br#"{"error":"cannot encode audit line"}"#);
        }
        out.push(b'\n');
        out
    }

    /// Asks the kernel to persist what was written (at shutdown).
    pub fn flush(&self) {
        let sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        let result = match &*sink {
            Sink::File(f) => f.file.sync_data(),
            Sink::Stdout => std::io::stdout().lock().flush(),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot flush the audit log");
        }
    }
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    tool: &'a str,
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    rows: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_us: Option<u64>,
    principal: Who<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a rmcp::model::RequestId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sql: Option<Cut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<Args<'a>>,
}

#[derive(Serialize)]
struct Who<'a> {
    subject: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    issuer: Option<&'a str>,
}

struct Rules<'a> {
    redact: &'a [String],
    max: usize,
}

impl Rules<'_> {
    fn hides(&self, key: &str) -> bool {
        self.redact.iter().any(|r| r == key) || is_secret_name(key)
    }
}

/// A string cut to at most `.1` bytes (on a character boundary), with a
/// marker saying how long it was.
struct Cut<'a>(&'a str, usize);

impl Serialize for Cut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (text, max) = (self.0, self.1);
        if text.len() <= max {
            return s.serialize_str(text);
        }
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        s.serialize_str(&format!("{}…[cut, {} bytes]", &text[..end], text.len()))
    }
}

/// Tool arguments, serialized with redaction and without copying.
struct Args<'a> {
    map: &'a Map<String, Value>,
    skip: Option<&'a str>,
    rules: &'a Rules<'a>,
}

impl Serialize for Args<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for (k, v) in self.map {
            if Some(k.as_str()) == self.skip {
                continue;
            }
            if self.rules.hides(k) {
                m.serialize_entry(k, REDACTED)?;
            } else {
                m.serialize_entry(k, &Val(v, self.rules))?;
            }
        }
        m.end()
    }
}

struct Val<'a>(&'a Value, &'a Rules<'a>);

impl Serialize for Val<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::String(text) => Cut(text, self.1.max).serialize(s),
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Val(item, self.1))?;
                }
                seq.end()
            }
            Value::Object(map) => Args {
                map,
                skip: None,
                rules: self.1,
            }
            .serialize(s),
            other => other.serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Principal;
    use crate::observe::CallOutcome;
    use serde_json::json;
    use std::time::Duration;

    fn config(dir: &Path) -> AuditConfig {
        AuditConfig {
            enabled: true,
            path: dir.join("sub/audit.jsonl"),
            max_bytes: 64 * 1024,
            keep: 2,
            ..AuditConfig::default()
        }
    }

    #[test]
    fn secret_names_are_recognised() {
        for name in [
            "password",
            "DB_PASSWORD",
            "clientSecret",
            "api-key",
            "access_token",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["customer_id", "status", "sql", "region"] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn lines_redact_and_cut() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut cfg = config(dir.path());
        cfg.max_value_bytes = 256;
        let log = AuditLog::open(&cfg, Metrics::new()).expect("open");
        let principal = Principal {
            subject: "alice".into(),
            client_id: Some("claude".into()),
            issuer: "https://idp.example.com/".into(),
            ..Principal::default()
        };
        let args = json!({
            "sql": format!("SELECT '{}'", "x".repeat(400)),
            "params": {"c": 42, "db_password": "hunter2", "nested": [{"apiKey": "k-123"}]},
            "email": "alice@example.com",
        });
        let Value::Object(args) = args else {
            panic!("object")
        };
        let record = CallRecord {
            tool: "run_query",
            known_tool: true,
            principal: &principal,
            arguments: Some(&args),
            redact: &["email".to_owned()],
            outcome: CallOutcome::Ok,
            error_code: None,
            rows: 3,
            duration: Some(Duration::from_micros(1500)),
            request_id: None,
            session_id: Some("s-1"),
        };
        let line = log.line(&record);
        assert_eq!(line.last(), Some(&b'\n'));
        let text = String::from_utf8(line).expect("utf8");
        assert_eq!(text.matches('\n').count(), 1);
        for secret in ["hunter2", "k-123", "alice@example.com"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        let v: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["tool"], "run_query");
        assert_eq!(v["principal"]["subject"], "alice");
        assert_eq!(v["principal"]["client_id"], "claude");
        assert_eq!(v["rows"], 3);
        assert_eq!(v["duration_us"], 1500);
        assert_eq!(v["arguments"]["params"]["c"], 42);
        assert_eq!(v["arguments"]["params"]["db_password"], REDACTED);
        assert_eq!(v["arguments"]["email"], REDACTED);
        assert!(v["arguments"].get("sql").is_none(), "sql is hoisted");
        let sql = v["sql"].as_str().expect("sql");
        assert!(sql.ends_with("…[cut, 409 bytes]"), "{sql}");
        assert!(v["time"].as_str().expect("time").ends_with('Z'));
    }

    #[test]
    fn rotation_keeps_n_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let cfg = config(dir.path());
        let metrics = Metrics::new();
        let log = AuditLog::open(&cfg, Arc::clone(&metrics)).expect("open");
        let principal = Principal::anonymous();
        let record = CallRecord {
            tool: "list_schemas",
            known_tool: true,
            principal: &principal,
            arguments: None,
            redact: &[],
            outcome: CallOutcome::Ok,
            error_code: None,
            rows: 1,
            duration: None,
            request_id: None,
            session_id: None,
        };
        let per_line = log.line(&record).len() as u64;
        let lines = 4 * (64 * 1024 / per_line) + 3;
        for _ in 0..lines {
            log.record(&record);
        }
        log.flush();
        let base = &cfg.path;
        let mut total = 0;
        for p in [base.clone(), rotated(base, 1), rotated(base, 2)] {
            let text = std::fs::read_to_string(&p).expect("rotated file exists");
            assert!(text.len() as u64 <= 64 * 1024, "{} too big", p.display());
            for l in text.lines() {
                serde_json::from_str::<Value>(l).expect("every line is whole JSON");
            }
            total += text.lines().count();
        }
        assert!(
            !rotated(base, 3).exists(),
            "only `keep` rotated files remain"
        );
        assert!(total < lines as usize, "the oldest lines were dropped");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(base).expect("meta").permissions().mode();
            assert_eq!(mode & 0o077, 0, "audit file must be private");
        }
    }
}
