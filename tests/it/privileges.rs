//! The database privilege check: `adb-mcp doctor` and the startup warning,
//! run as the real binary against the ORDS test double, whose dictionary
//! answers the privilege views from grants each test sets
//! (`tests/ords_double/privileges.rs`). What a real Oracle answers is
//! covered by the opt-in live test in `tests/direct.rs`.

use crate::support;
use crate::support::ords_double;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use ords_double::{ALIAS, DB_PASSWORD, DB_USER, Grants, OrdsDouble};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_adb-mcp");
const PASSWORD_VAR: &str = "PRIVTEST_ORDS_PASSWORD";

fn ords_config(dir: &Path, base_url: &str) {
    std::fs::write(
        dir.join("adb-mcp.toml"),
        format!(
            r#"
[server]
bind = "127.0.0.1:0"

[database]
backend = "ords"

[database.ords]
base_url = "{base_url}"
schema_alias = "{ALIAS}"
allow_insecure_http = true
retry_backoff_ms = 10
max_retries = 0

[database.ords.auth]
method = "basic"
username = "{DB_USER}"
password = {{ env = "{PASSWORD_VAR}" }}
"#
        ),
    )
    .expect("config");
}

async fn doctor(dir: &Path, json: bool) -> Output {
    let mut cmd = std::process::Command::new(BIN);
    cmd.current_dir(dir)
        .args([
            "--config",
            "adb-mcp.toml",
            "--log-level",
            "error",
            "doctor",
            "--timeout",
            "10",
        ])
        .env(PASSWORD_VAR, DB_PASSWORD)
        .env_remove("RUST_LOG");
    if json {
        cmd.arg("--json");
    }
    tokio::task::spawn_blocking(move || cmd.output().expect("run doctor"))
        .await
        .expect("join")
}

fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The doctor's privilege lines: (status, detail, hint).
fn privilege_lines(report: &Value) -> Vec<(String, String, String)> {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["name"] == "database privileges")
        .map(|c| {
            (
                c["status"].as_str().unwrap_or("").to_owned(),
                c["detail"].as_str().unwrap_or("").to_owned(),
                c["hint"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// The line whose fix is exactly `fix`, with its status.
fn line_with_fix<'a>(
    lines: &'a [(String, String, String)],
    fix: &str,
) -> &'a (String, String, String) {
    lines
        .iter()
        .find(|(_, _, h)| h == fix)
        .unwrap_or_else(|| panic!("no finding fixed by `{fix}` in {lines:#?}"))
}

/// Everything a careless setup grants, one of each kind.
fn over_privileged() -> Grants {
    Grants::least_privilege()
        .sys(DB_USER, "CREATE TABLE")
        .object(DB_USER, "INSERT", "APP", "ORDERS", "TABLE")
        .object(DB_USER, "UPDATE", "APP", "ORDERS", "TABLE")
        .role(DB_USER, "APP_ADMIN", true)
        .sys("APP_ADMIN", "CREATE ANY TABLE")
        .object("PUBLIC", "EXECUTE", "SYS", "UTL_HTTP", "PACKAGE")
        .ace("api.example.com", Some(443), DB_USER, "http")
        .link(DB_USER, "REMOTE_DB", "remote.example.com:1522/svc")
        .column(DB_USER, "UPDATE", "HR", "EMPLOYEES", "SALARY")
        .owns("SCRATCH", "TABLE")
}

#[tokio::test]
async fn a_least_privilege_user_passes() {
    let double = OrdsDouble::start(&support::demo_db()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    ords_config(dir.path(), &double.base_url);
    let out = doctor(dir.path(), true).await;
    let r = report(&out);
    let lines = privilege_lines(&r);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0].0, "pass", "{lines:#?}");
    assert!(lines[0].1.contains("user DEMO can only read"), "{lines:#?}");
    for part in [
        "system privileges",
        "roles",
        "object grants",
        "network ACEs",
        "database links",
        "owned objects",
    ] {
        assert!(lines[0].1.contains(part), "{part} not checked: {lines:#?}");
    }
    assert_eq!(r["privileges"]["findings"], serde_json::json!([]));
    assert_eq!(r["privileges"]["user"], "DEMO");
    assert_eq!(out.status.code(), Some(0), "{r:#}");
    // The check went through the double's REST-Enabled SQL endpoint.
    let texts: Vec<String> = double
        .state
        .sql_bodies()
        .iter()
        .filter_map(|b| b["statementText"].as_str().map(str::to_owned))
        .collect();
    assert!(
        texts.iter().any(|t| t.contains("FROM session_privs")),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t.contains("FROM all_tab_privs")),
        "{texts:?}"
    );
}

#[tokio::test]
async fn an_over_privileged_user_fails_with_each_revoke_statement() {
    let double = OrdsDouble::start(&support::demo_db()).await;
    double.state.set_grants(&over_privileged());
    let dir = tempfile::tempdir().expect("tempdir");
    ords_config(dir.path(), &double.base_url);

    let out = doctor(dir.path(), true).await;
    assert_eq!(out.status.code(), Some(1), "FAIL findings fail the doctor");
    let r = report(&out);
    let lines = privilege_lines(&r);
    let expect = [
        (
            "fail",
            "REVOKE CREATE TABLE FROM DEMO;",
            "system privilege CREATE TABLE (granted directly)",
        ),
        (
            "fail",
            "REVOKE INSERT, UPDATE ON APP.ORDERS FROM DEMO;",
            "object grant INSERT, UPDATE on APP.ORDERS",
        ),
        (
            "fail",
            "REVOKE APP_ADMIN FROM DEMO;",
            "carries CREATE ANY TABLE",
        ),
        (
            "warn",
            "REVOKE EXECUTE ON SYS.UTL_HTTP FROM PUBLIC;",
            "applies to every user",
        ),
        (
            "fail",
            "DROP DATABASE LINK REMOTE_DB;",
            "database link REMOTE_DB to remote.example.com:1522/svc",
        ),
        (
            "fail",
            "REVOKE UPDATE ON HR.EMPLOYEES FROM DEMO;",
            "UPDATE (SALARY) on HR.EMPLOYEES",
        ),
    ];
    for (status, fix, detail) in expect {
        let (s, d, _) = line_with_fix(&lines, fix);
        assert_eq!(s, status, "{fix}: {d}");
        assert!(d.contains(detail), "{fix}: `{d}` lacks `{detail}`");
    }
    let ace = lines
        .iter()
        .find(|(_, d, _)| d.starts_with("network ACE:"))
        .expect("ace finding");
    assert_eq!(ace.0, "fail");
    assert!(
        ace.1.contains("http on api.example.com (port 443)"),
        "{ace:?}"
    );
    assert_eq!(
        ace.2,
        "BEGIN DBMS_NETWORK_ACL_ADMIN.REMOVE_HOST_ACE(host => 'api.example.com', lower_port => 443, upper_port => 443, ace => xs$ace_type(privilege_list => xs$name_list('http'), principal_name => 'DEMO', principal_type => xs_acl.ptype_db)); END;"
    );
    assert!(
        lines
            .iter()
            .any(|(s, d, _)| s == "fail" && d.contains("1 table(s), e.g. SCRATCH")),
        "{lines:#?}"
    );
    // Oracle's harmless defaults and other users' grants are not findings.
    for noise in [
        "PLAN_TABLE$",
        "DBMS_OUTPUT",
        "INHERIT",
        "SOMEONE_ELSE",
        "READERS",
        "CUSTOMERS",
    ] {
        assert!(
            !lines
                .iter()
                .any(|(_, d, h)| d.contains(noise) || h.contains(noise)),
            "{noise}: {lines:#?}"
        );
    }
    // Structured too, for scripts.
    let findings = r["privileges"]["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), lines.len());
    assert!(
        findings
            .iter()
            .any(|f| f["kind"] == "network_package" && f["severity"] == "warn")
    );
    assert!(
        findings
            .iter()
            .any(|f| f["kind"] == "role" && f["item"] == "APP_ADMIN")
    );

    // The human report prints each finding with its fix.
    let out = doctor(dir.path(), false).await;
    let human = String::from_utf8_lossy(&out.stdout);
    assert!(
        human.contains("FAIL  database privileges    system privilege CREATE TABLE"),
        "{human}"
    );
    assert!(
        human.contains("fix: REVOKE CREATE TABLE FROM DEMO;"),
        "{human}"
    );
    assert!(!human.contains(DB_PASSWORD), "{human}");
}

#[tokio::test]
async fn hidden_views_and_roles_are_reported_not_fatal() {
    let double = OrdsDouble::start(&support::demo_db()).await;
    let mut grants = Grants::least_privilege()
        .hide("user_host_aces")
        .role(DB_USER, "DWROLE", false)
        .link("PUBLIC", "SHARED_LINK", "")
        .sys("PUBLIC", "SELECT ANY TABLE");
    grants.schema = Some(vec![
        (DB_USER.into(), "READ ANY TABLE".into(), "APP".into()),
        (DB_USER.into(), "INSERT ANY TABLE".into(), "APP".into()),
    ]);
    grants.dba_views = true;
    double.state.set_grants(&grants);
    let dir = tempfile::tempdir().expect("tempdir");
    ords_config(dir.path(), &double.base_url);
    let r = report(&doctor(dir.path(), true).await);
    let lines = privilege_lines(&r);
    let gap = lines
        .iter()
        .find(|(_, d, _)| d.starts_with("could not check network ACEs"))
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(gap.0, "warn");
    assert!(
        gap.1
            .contains("USER_HOST_ACES is not visible to this user (ORA-00942)"),
        "{gap:?}"
    );
    let (s, d, _) = line_with_fix(&lines, "REVOKE DWROLE FROM DEMO;");
    assert_eq!(s, "fail", "a developer role whose contents cannot be read");
    assert!(d.contains("not a default role"), "{d}");
    let (s, _, _) = line_with_fix(&lines, "DROP PUBLIC DATABASE LINK SHARED_LINK;");
    assert_eq!(s, "warn");
    let (s, d, _) = line_with_fix(&lines, "REVOKE SELECT ANY TABLE FROM PUBLIC;");
    assert_eq!(s, "warn");
    assert!(d.contains("granted to PUBLIC"), "{d}");
    let (s, _, _) = line_with_fix(&lines, "REVOKE INSERT ANY TABLE ON SCHEMA APP FROM DEMO;");
    assert_eq!(s, "fail");
    assert!(
        !lines
            .iter()
            .any(|(_, _, h)| h.contains("READ ANY TABLE ON SCHEMA")),
        "schema READ is allowed: {lines:#?}"
    );
    assert!(
        r["privileges"]["checked"]
            .as_array()
            .expect("checked")
            .iter()
            .any(|c| c == "schema privileges")
    );
}

#[tokio::test]
async fn sqlite_is_skipped_and_an_unreachable_database_is_said() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("adb-mcp.toml"),
        format!(
            "[database.sqlite]\npath = {:?}\n",
            support::demo_db().to_string_lossy()
        ),
    )
    .expect("config");
    let lines = privilege_lines(&report(&doctor(dir.path(), true).await));
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0].0, "skip");
    assert!(
        lines[0].1.contains("read-only file connection"),
        "{lines:#?}"
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    ords_config(dir.path(), &dead);
    let lines = privilege_lines(&report(&doctor(dir.path(), true).await));
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0].0, "skip");
    assert!(lines[0].1.contains("not reachable"), "{lines:#?}");
}

/// Starts the binary with `args`, collects stderr until a line contains
/// `wanted` (or 30 s pass), then stops it.
async fn log_until(dir: &Path, args: &[&str], wanted: &str) -> String {
    let mut child = tokio::process::Command::new(BIN)
        .current_dir(dir)
        .args(["--config", "adb-mcp.toml"])
        .args(args)
        .env(PASSWORD_VAR, DB_PASSWORD)
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut log = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, lines.next_line()).await {
            Ok(Ok(Some(line))) => {
                log.push_str(&line);
                log.push('\n');
                if line.contains(wanted) {
                    break;
                }
            }
            _ => break,
        }
    }
    child.kill().await.ok();
    log
}

#[tokio::test]
async fn serve_and_stdio_warn_once_at_startup() {
    let double = OrdsDouble::start(&support::demo_db()).await;
    double.state.set_grants(&over_privileged());
    let dir = tempfile::tempdir().expect("tempdir");
    ords_config(dir.path(), &double.base_url);
    for args in [&["serve"][..], &["stdio"][..]] {
        let log = log_until(dir.path(), args, "can do more than read").await;
        let line = log
            .lines()
            .find(|l| l.contains("can do more than read"))
            .unwrap_or_else(|| panic!("{args:?}: no privilege warning in\n{log}"));
        assert!(line.contains("WARN"), "{line}");
        assert!(line.contains("database user DEMO"), "{line}");
        assert!(line.contains("system privilege CREATE TABLE"), "{line}");
        assert!(line.contains("`adb-mcp doctor`"), "{line}");
        assert!(
            !log.contains(DB_PASSWORD),
            "the password must never be logged"
        );
        if args == ["serve"] {
            assert!(log.contains("listening"), "{log}");
        }
    }
}

#[tokio::test]
async fn a_database_that_is_down_does_not_stop_startup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    ords_config(dir.path(), &dead);
    let log = log_until(dir.path(), &["serve"], "privilege check skipped").await;
    assert!(log.contains("listening"), "the server started: {log}");
    let line = log
        .lines()
        .find(|l| l.contains("privilege check skipped"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        !line.contains("WARN"),
        "an unreachable database is not a privilege finding: {line}"
    );
}
