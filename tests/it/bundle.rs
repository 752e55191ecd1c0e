//! The Claude Desktop bundle (`manifest.json`, MCPB format): the manifest
//! agrees with the crate and the config keys, and the environment Claude
//! Desktop builds from it starts a working `adb-mcp stdio`.
//!
//! `desktop_launch` re-implements the host's documented variable
//! substitution (`getMcpConfigForManifest`/`replaceVariables` in
//! `@anthropic-ai/mcpb`, `src/shared/config.ts`): user values over
//! defaults, `${__dirname}`, `${/}` and `${user_config.KEY}` replaced, an
//! unknown variable left as written. Schema validation with the official
//! CLI runs in `tests/external/run.sh`.

use crate::support;

use std::collections::BTreeMap;
use std::path::Path;

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_adb-mcp");

fn manifest() -> Value {
    let text = include_str!("../../manifest.json");
    serde_json::from_str(text).expect("manifest.json is JSON")
}

/// The config keys each bundle variable must set (what the ORDS and direct
/// backends read; keep in step with `src/config/{ords,direct}.rs`).
const EXPECTED_ENV: &[(&str, &str)] = &[
    ("ADB_MCP_DATABASE__BACKEND", "database.backend"),
    ("ADB_MCP_DATABASE__SQLITE__PATH", "database.sqlite.path"),
    (
        "ADB_MCP_DATABASE__SQLITE__DATA_DIR",
        "database.sqlite.data_dir",
    ),
    ("ADB_MCP_DATABASE__ORDS__BASE_URL", "database.ords.base_url"),
    (
        "ADB_MCP_DATABASE__ORDS__SCHEMA_ALIAS",
        "database.ords.schema_alias",
    ),
    ("ADB_MCP_DATABASE__ORDS__USER", "database.ords.user"),
    ("ADB_MCP_DATABASE__ORDS__PASSWORD", "database.ords.password"),
    (
        "ADB_MCP_DATABASE__DIRECT__WALLET_DIR",
        "database.direct.wallet_dir",
    ),
    (
        "ADB_MCP_DATABASE__DIRECT__WALLET_PASSWORD",
        "database.direct.wallet_password",
    ),
    ("ADB_MCP_DATABASE__DIRECT__DSN", "database.direct.dsn"),
    ("ADB_MCP_DATABASE__DIRECT__USER", "database.direct.user"),
    (
        "ADB_MCP_DATABASE__DIRECT__PASSWORD",
        "database.direct.password",
    ),
];

/// Command, arguments and environment as Claude Desktop would launch them.
fn desktop_launch(
    dirname: &Path,
    user: &[(&str, &str)],
) -> (String, Vec<String>, BTreeMap<String, String>) {
    let m = manifest();
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    vars.insert("__dirname".into(), dirname.display().to_string());
    vars.insert("/".into(), std::path::MAIN_SEPARATOR.to_string());
    vars.insert(
        "pathSeparator".into(),
        std::path::MAIN_SEPARATOR.to_string(),
    );
    for (key, option) in m["user_config"].as_object().expect("user_config") {
        if let Some(default) = option.get("default") {
            let value = match default {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            vars.insert(format!("user_config.{key}"), value);
        }
    }
    for (key, value) in user {
        vars.insert(format!("user_config.{key}"), (*value).to_owned());
    }
    let substitute = |text: &str| {
        let mut out = text.to_owned();
        for (name, value) in &vars {
            out = out.replace(&format!("${{{name}}}"), value);
        }
        out
    };
    let config = &m["server"]["mcp_config"];
    let command = substitute(config["command"].as_str().expect("command"));
    let args = config["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| substitute(a.as_str().expect("string arg")))
        .collect();
    let env = config["env"]
        .as_object()
        .expect("env")
        .iter()
        .map(|(k, v)| (k.clone(), substitute(v.as_str().expect("string env"))))
        .collect();
    (command, args, env)
}

#[test]
fn manifest_agrees_with_the_crate_and_the_config() {
    let m = manifest();
    assert_eq!(m["manifest_version"], "0.3");
    assert_eq!(m["name"], "adb-mcp");
    assert_eq!(
        m["version"],
        env!("CARGO_PKG_VERSION"),
        "bump both together"
    );
    assert_eq!(m["server"]["type"], "binary");
    assert_eq!(m["server"]["entry_point"], "server/adb-mcp");
    assert_eq!(
        m["server"]["mcp_config"]["command"],
        "${__dirname}/server/adb-mcp"
    );
    assert_eq!(m["server"]["mcp_config"]["args"], json!(["stdio"]));
    let tools: Vec<&str> = m["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for tool in &tools {
        assert!(
            adb_mcp::mcp::BuiltinTool::from_name(tool).is_some(),
            "{tool} is not a tool of this server"
        );
    }
    assert_eq!(tools.len(), 5);

    let env = m["server"]["mcp_config"]["env"].as_object().expect("env");
    let options = m["user_config"].as_object().expect("user_config");
    let mut used = Vec::new();
    for (name, value) in env {
        let value = value.as_str().expect("string");
        if name.starts_with("ADB_MCP_") {
            let expected = EXPECTED_ENV.iter().find(|(var, _)| var == name);
            let (_, key) = expected.unwrap_or_else(|| panic!("{name} is not an agreed key"));
            assert_eq!(
                name.trim_start_matches("ADB_MCP_")
                    .replace("__", ".")
                    .to_lowercase(),
                *key
            );
        } else {
            assert!(name.starts_with("MCPB_ADB_"), "{name}: unexpected variable");
        }
        // `{ env = "X" }` must point at a variable the bundle sets.
        if let Some(target) = value
            .strip_prefix("{ env = \"")
            .and_then(|v| v.strip_suffix("\" }"))
        {
            assert!(env.contains_key(target), "{name} refers to unset {target}");
        }
        let mut rest = value;
        while let Some(start) = rest.find("${user_config.") {
            let tail = &rest[start + "${user_config.".len()..];
            let end = tail.find('}').expect("closed ${…}");
            let key = &tail[..end];
            let option = options
                .get(key)
                .unwrap_or_else(|| panic!("{name} uses undefined user_config.{key}"));
            // A secret typed by the user must never be parsed as config (a
            // password like 123456 or true would change type): it travels
            // in its own variable, read raw through `{ env = … }`.
            if option["sensitive"] == true {
                assert!(
                    name.starts_with("MCPB_ADB_"),
                    "{name} holds sensitive user_config.{key} directly"
                );
            }
            used.push(key.to_owned());
            rest = &tail[end..];
        }
    }
    for (key, option) in options {
        assert!(used.contains(key), "user_config.{key} is never used");
        // Unset optional values without a default reach the server as the
        // literal text "${user_config.…}".
        assert!(
            option["required"] == true || option.get("default").is_some(),
            "optional user_config.{key} needs a default"
        );
    }
    for (var, _) in EXPECTED_ENV {
        assert!(env.contains_key(*var), "{var} missing from manifest.json");
    }
}

async fn run_bundle(dirname: &Path, user: &[(&str, &str)]) -> Value {
    let (_, args, env) = desktop_launch(dirname, user);
    // The binary under test stands in for `${__dirname}/server/adb-mcp`.
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(&args)
        .current_dir(dirname)
        .env("RUST_LOG", "warn")
        .env_remove("ADB_MCP_CONFIG");
    for (k, _) in std::env::vars() {
        if k.starts_with("ADB_MCP_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(&env);
    let client = ()
        .serve(TokioChildProcess::new(cmd).expect("spawn"))
        .await
        .expect("initialize over stdio with the bundle's environment");
    let r = client
        .call_tool(
            CallToolRequestParams::new("run_query").with_arguments(support::args(json!({
                "sql": "SELECT count(*) AS n FROM employees"
            }))),
        )
        .await
        .expect("call");
    client.cancel().await.expect("close");
    r.structured_content.expect("structured")["rows"].clone()
}

/// Default settings (every field left empty): the demo database, created in
/// the extension's own directory. Empty variables count as unset.
#[tokio::test]
async fn bundle_defaults_serve_the_demo_database() {
    let ext = tempfile::tempdir().expect("extension dir");
    assert_eq!(run_bundle(ext.path(), &[]).await, json!([[107]]));
    assert!(ext.path().join("data").join("demo.db").is_file());
}

/// A SQLite file picked in the settings is served instead.
#[tokio::test]
async fn bundle_serves_the_chosen_sqlite_file() {
    let ext = tempfile::tempdir().expect("extension dir");
    let db = support::demo_db();
    let rows = run_bundle(
        ext.path(),
        &[
            ("backend", "sqlite"),
            ("sqlite_path", db.to_str().expect("utf-8")),
        ],
    )
    .await;
    assert_eq!(rows, json!([[107]]));
    assert!(
        !ext.path().join("data").exists(),
        "no demo database when a file is chosen"
    );
}

/// The CLI that packs the bundle and the one that validates it in CI are the
/// same exact version.
#[test]
fn mcpb_cli_pins_agree() {
    let pin = |text: &str| -> String {
        let v: Value = serde_json::from_str(text).expect("package.json");
        v["dependencies"]["@anthropic-ai/mcpb"]
            .as_str()
            .expect("pinned")
            .to_owned()
    };
    let external = pin(include_str!("../external/package.json"));
    let pack = pin(include_str!("../../deploy/mcpb/package.json"));
    assert_eq!(external, pack);
    assert!(
        external.chars().all(|c| c.is_ascii_digit() || c == '.'),
        "exact version, not a range: {external}"
    );
    let script = include_str!("../../deploy/pack-mcpb.sh");
    assert!(
        script.contains(&format!("MCPB_VERSION=\"{external}\"")),
        "deploy/pack-mcpb.sh checks another version"
    );
}
