//! The real binary: MCP over stdio with rmcp's child-process client, and the
//! CLI's config errors, help and version.

use crate::support;

use std::process::Command;

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_adb-mcp");

#[tokio::test]
async fn stdio_serves_the_same_tools() {
    let db = support::demo_db();
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("stdio")
        .arg("--db")
        .arg(&db)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "warn");
    let transport = TokioChildProcess::new(cmd).expect("spawn");
    let client = ().serve(transport).await.expect("initialize over stdio");
    assert_eq!(
        client
            .peer_info()
            .expect("info")
            .server_info
            .as_ref()
            .map(|s| s.name.clone()),
        Some("adb-mcp".to_owned())
    );
    // The five built-ins plus the example tools of ./tools (loaded by default).
    let tools = client.list_all_tools().await.expect("tools/list");
    for name in [
        "list_schemas",
        "list_tables",
        "describe_table",
        "run_query",
        "explain_query",
        "orders_for_customer",
    ] {
        assert!(tools.iter().any(|t| t.name == name), "{name} missing");
    }
    let r = client
        .call_tool(
            CallToolRequestParams::new("run_query").with_arguments(support::args(json!({
                "sql": "SELECT count(*) AS n FROM employees"
            }))),
        )
        .await
        .expect("call");
    assert_eq!(
        r.structured_content.expect("structured")["rows"],
        json!([[107]])
    );
    let refused = client
        .call_tool(
            CallToolRequestParams::new("run_query").with_arguments(support::args(json!({
                "sql": "DELETE FROM employees"
            }))),
        )
        .await
        .expect("call");
    assert_eq!(refused.is_error, Some(true));
    client.cancel().await.expect("close");
}

fn run(args: &[&str], cwd: &std::path::Path) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .env_remove("ADB_MCP_CONFIG")
        .output()
        .expect("run binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_config_names_key_and_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[query]\nmax_rows_cap = \"lots\"\n").expect("write");
    let (code, _, err) = run(
        &["--config", cfg.to_str().expect("utf8"), "check-config"],
        dir.path(),
    );
    assert_eq!(code, 1);
    assert!(err.contains("query.max_rows_cap"), "{err}");
    assert!(err.contains("bad.toml"), "{err}");

    std::fs::write(&cfg, "[server]\nbind = \"0.0.0.0\"\n").expect("write");
    let (code, _, err) = run(
        &["--config", cfg.to_str().expect("utf8"), "check-config"],
        dir.path(),
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("server.bind") && err.contains("bad.toml"),
        "{err}"
    );

    std::fs::write(&cfg, "[sever]\nbind = \"127.0.0.1:1\"\n").expect("write");
    let (code, _, err) = run(
        &["--config", cfg.to_str().expect("utf8"), "check-config"],
        dir.path(),
    );
    assert_eq!(code, 1);
    assert!(err.contains("sever"), "{err}");
}

#[test]
fn env_overrides_are_attributed() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = Command::new(BIN)
        .arg("check-config")
        .current_dir(dir.path())
        .env("ADB_MCP_QUERY__TIMEOUT_SECS", "0")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("query.timeout_secs"), "{err}");
    assert!(err.contains("ADB_MCP_QUERY__TIMEOUT_SECS"), "{err}");
}

#[test]
fn check_config_prints_effective_config_from_default_file() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("adb-mcp.toml"),
        "[server]\nsession_mode = \"stateful\"\n",
    )
    .expect("write");
    let (code, out, err) = run(&["check-config", "--data-dir", "/tmp/x"], dir.path());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("adb-mcp.toml"), "{out}");
    assert!(out.contains("session_mode = \"stateful\""), "{out}");
    assert!(out.contains("data_dir = \"/tmp/x\""), "{out}");
}

#[test]
fn version_and_help() {
    let dir = tempfile::tempdir().expect("tmp");
    let (code, out, _) = run(&["--version"], dir.path());
    assert_eq!(code, 0);
    assert!(out.contains(env!("CARGO_PKG_VERSION")));
    let (code, out, _) = run(&["--help"], dir.path());
    assert_eq!(code, 0);
    for word in ["serve", "stdio", "demo-db", "check-config", "Examples:"] {
        assert!(out.contains(word), "help lacks {word}: {out}");
    }
}

#[test]
fn demo_db_command_creates_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("d.db");
    let p = path.to_str().expect("utf8");
    let (code, out, err) = run(&["demo-db", "--output", p], dir.path());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("employees") && out.contains("107"), "{out}");
    let (code, _, err) = run(&["demo-db", "--output", p], dir.path());
    assert_eq!(code, 1, "must refuse to overwrite");
    assert!(err.contains("d.db"), "{err}");
    let (code, _, _) = run(
        &["demo-db", "--output", p, "--force", "--scale", "2"],
        dir.path(),
    );
    assert_eq!(code, 0);
    let (code, _, err) = run(
        &["demo-db", "--output", p, "--force", "--scale", "0"],
        dir.path(),
    );
    assert_eq!(code, 1);
    assert!(err.to_lowercase().contains("scale"), "{err}");
}

/// The documented configurations must stay valid as the code changes.
#[test]
fn documented_example_configs_are_valid() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut files = vec![format!("{root}/deploy/adb-mcp.example.toml")];
    if let Ok(dir) = std::fs::read_dir(format!("{root}/docs/examples")) {
        for entry in dir.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "toml") {
                files.push(path.to_string_lossy().into_owned());
            }
        }
    }
    assert!(files.len() >= 2, "no documented examples found");
    let dir = tempfile::tempdir().expect("tmp");
    for file in files {
        let (code, out, err) = run(&["--config", &file, "check-config"], dir.path());
        assert_eq!(code, 0, "{file}: {err}");
        assert!(out.contains("configuration OK"), "{file}: {out}");
    }
}

#[test]
fn auth_settings_without_enabled_warn() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("a.toml");
    std::fs::write(&cfg, "[auth]\nresource = \"https://mcp.example.com/mcp\"\n").expect("write");
    let (code, out, _) = run(
        &["--config", cfg.to_str().expect("utf8"), "check-config"],
        dir.path(),
    );
    assert_eq!(code, 0);
    assert!(
        out.contains("WARNING") && out.contains("WITHOUT authentication"),
        "{out}"
    );
}
