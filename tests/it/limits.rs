//! Hostile input through the real server binary: inputs that used to crash
//! the process (statement floods, deep nesting, oversized SQL) and queries
//! built to exhaust memory. Each must be answered with a tool error or a
//! truncation notice, the server must stay up, and its peak RSS (VmHWM of
//! the spawned process, not of the test) must stay under 256 MiB.

use crate::support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rmcp::model::CallToolResult;
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use support::{call, is_error, structured, text_of};

/// Peak RSS allowed with 8 concurrent worst-case calls (issue 11).
const RSS_BUDGET_MIB: u64 = 256;
/// Upper bound for one call; the server's own query timeout is 30 s.
const CALL_TIMEOUT: Duration = Duration::from_secs(90);

/// `adb-mcp serve` as a child process on an ephemeral loopback port,
/// killed when dropped.
struct Spawned {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Spawned {
    /// Starts the binary with the defaults plus `extra` TOML (sections may
    /// appear in `extra`; `[server]` and `[database.sqlite]` are ours).
    fn start(server_extra: &str, query_extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("adb-mcp.toml");
        let db = support::demo_db();
        std::fs::write(
            &config,
            format!(
                "[server]\nbind = \"127.0.0.1:0\"\n{server_extra}\n[query]\n{query_extra}\n[database.sqlite]\npath = {db:?}\n"
            ),
        )
        .expect("write config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_adb-mcp"))
            .arg("--config")
            .arg(&config)
            .arg("serve")
            // No tools directory there: only the built-in tools.
            .current_dir(dir.path())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn adb-mcp");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        // Keeps draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening addr=").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or("").to_owned();
                    let _ = tx.send(addr);
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server reports its address");
        Self {
            child,
            url: format!("http://{addr}/mcp"),
            _dir: dir,
        }
    }

    async fn client(&self) -> RunningService<RoleClient, ()> {
        let transport = StreamableHttpClientTransport::from_uri(self.url.clone());
        ().serve(transport).await.expect("initialize")
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// (VmHWM, VmRSS) of the server process in MiB.
    fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|kb| kb.parse::<u64>().ok())
                .map_or(0, |kb| kb / 1024)
        };
        (field("VmHWM:"), field("VmRSS:"))
    }

    /// Resets the peak so the next reading is one call's own.
    fn reset_peak(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5");
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn bounded_call(
    client: &RunningService<RoleClient, ()>,
    tool: &str,
    args: Value,
) -> CallToolResult {
    tokio::time::timeout(CALL_TIMEOUT, call(client, tool, args))
        .await
        .unwrap_or_else(|_| panic!("{tool} did not answer within {CALL_TIMEOUT:?}"))
}

/// The server still answers an ordinary query correctly.
async fn still_serves(server: &mut Spawned, client: &RunningService<RoleClient, ()>) {
    assert!(server.alive(), "the server process died");
    let r = bounded_call(
        client,
        "run_query",
        json!({"sql": "SELECT count(*) AS n FROM regions"}),
    )
    .await;
    assert!(!is_error(&r), "{}", text_of(&r));
    assert_eq!(structured(&r)["rows"], json!([[5]]));
}

fn nested(open: &str, inner: &str, close: &str, depth: usize) -> String {
    format!(
        "SELECT {}{inner}{}",
        open.repeat(depth),
        close.repeat(depth)
    )
}

/// Limits raised so that these texts get past the length check to the
/// guard and SQLite; each must be refused there without taking the
/// process down.
#[tokio::test]
async fn crash_inputs_are_tool_errors_and_the_server_stays_up() {
    let mut server = Spawned::start("max_request_bytes = 8388608", "max_sql_bytes = 4194304");
    let client = server.client().await;
    let deep_json = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let cases: Vec<(&str, String, Value)> = vec![
        ("100,000 statements", "SELECT 1;".repeat(100_000), json!({})),
        (
            "100,000 statements behind a comment",
            format!(
                "SELECT 1 -- \u{c}'\n, 2 --'\n;{}",
                "SELECT 1;".repeat(100_000)
            ),
            json!({}),
        ),
        ("5,000 parentheses", nested("(", "1", ")", 5000), json!({})),
        (
            "5,000 nested calls",
            nested("abs(", "1", ")", 5000),
            json!({}),
        ),
        (
            "5,000 nested CASE",
            nested("CASE WHEN 1 THEN ", "1", " END", 5000),
            json!({}),
        ),
        (
            "5,000 nested subqueries",
            nested("(SELECT ", "1", ")", 5000),
            json!({}),
        ),
        (
            "100,000-term expression",
            format!("SELECT 1{}", " + 1".repeat(100_000)),
            json!({}),
        ),
        (
            "2,000-term UNION",
            vec!["SELECT 1"; 2000].join(" UNION ALL "),
            json!({}),
        ),
        (
            "JSON nested 5,000 deep",
            "SELECT json(:j) AS j".into(),
            json!({"j": deep_json}),
        ),
    ];
    for (what, sql, params) in &cases {
        // A bind's value is only read when the query runs, not when it is planned.
        let tools: &[&str] = if params.as_object().is_some_and(|p| !p.is_empty()) {
            &["run_query"]
        } else {
            &["run_query", "explain_query"]
        };
        for tool in tools {
            let r = bounded_call(&client, tool, json!({"sql": sql, "params": params})).await;
            assert!(
                is_error(&r),
                "{what} via {tool} must be refused: {}",
                text_of(&r)
            );
            assert!(server.alive(), "{what} via {tool} killed the server");
        }
    }
    still_serves(&mut server, &client).await;
    // Just inside SQLite's limits, the same shapes still run.
    for sql in [
        nested("abs(", "1", ")", 300),
        nested("(", "1", ")", 500),
        format!("SELECT 1{}", " + 1".repeat(450)),
    ] {
        let r = bounded_call(&client, "run_query", json!({"sql": sql})).await;
        assert!(!is_error(&r), "{}", text_of(&r));
        assert!(structured(&r)["rows"][0][0].is_i64(), "{}", text_of(&r));
    }
    still_serves(&mut server, &client).await;
}

#[tokio::test]
async fn sql_longer_than_the_limit_is_refused_before_anything_reads_it() {
    let mut server = Spawned::start("", "max_sql_bytes = 4096");
    let client = server.client().await;
    let long = format!("SELECT 1 AS x{}", " ".repeat(5000));
    for tool in ["run_query", "explain_query"] {
        let r = bounded_call(&client, tool, json!({"sql": long})).await;
        assert!(is_error(&r), "{}", text_of(&r));
        let text = text_of(&r);
        assert!(
            text.contains("query.max_sql_bytes") && text.contains("4096"),
            "{text}"
        );
    }
    let r = bounded_call(&client, "run_query", json!({"sql": long.trim_end()})).await;
    assert!(!is_error(&r), "{}", text_of(&r));
    still_serves(&mut server, &client).await;
}

/// The bomb classes of issue 11, each with what must come back.
fn bombs() -> Vec<(&'static str, String, Value)> {
    let ten = "'0', '0000000000'";
    let mut replace = "hex(zeroblob(5000))".to_owned();
    for _ in 0..5 {
        replace = format!("replace({replace}, {ten})");
    }
    let counter = |n: u32| {
        format!("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n})")
    };
    let columns: Vec<String> = (0..60)
        .map(|i| format!("randomblob(3000000) AS c{i}"))
        .collect();
    vec![
        (
            "hex(zeroblob(5e8))",
            "SELECT length(hex(zeroblob(500000000))) AS n".into(),
            json!({}),
        ),
        (
            "randomblob",
            "SELECT randomblob(300000000) AS b".into(),
            json!({}),
        ),
        (
            "printf width",
            "SELECT printf('%.*c', 400000000, 'x') AS s".into(),
            json!({}),
        ),
        (
            "nested replace",
            format!("SELECT length({replace}) AS n"),
            json!({}),
        ),
        (
            "recursive doubling",
            "WITH RECURSIVE r(i, s) AS (SELECT 0, 'x' UNION ALL SELECT i + 1, s || s FROM r WHERE i < 31) SELECT i, length(s) AS n FROM r".into(),
            json!({"max_rows": 40}),
        ),
        (
            "group_concat",
            format!(
                "SELECT length(group_concat(hex(zeroblob(1000000)))) AS n FROM ({} SELECT x FROM c)",
                counter(400)
            ),
            json!({}),
        ),
        (
            "five rows of 40 MB",
            format!(
                "{} SELECT x, printf('%.*c', 40000000, 'x') AS big FROM c",
                counter(5)
            ),
            json!({"max_rows": 5}),
        ),
        (
            "1,000 rows of 3 MB",
            format!(
                "{} SELECT x, printf('%.*c', 3000000, 'x') AS big FROM c",
                counter(1000)
            ),
            json!({"max_rows": 1000}),
        ),
        (
            "60 columns of 3 MB",
            format!("SELECT {}", columns.join(", ")),
            json!({}),
        ),
    ]
}

fn run_args(sql: &str, extra: &Value) -> Value {
    let mut args = json!({"sql": sql});
    if let (Some(a), Some(e)) = (args.as_object_mut(), extra.as_object()) {
        a.extend(e.clone());
    }
    args
}

/// A bomb's answer: a tool error naming a limit, or rows with a notice.
fn assert_answered(what: &str, r: &CallToolResult) {
    let text = text_of(r);
    if is_error(r) {
        assert!(
            text.contains("database.sqlite.max_value_bytes")
                || text.contains("database.sqlite.max_memory_mib"),
            "{what}: the error must name the limit: {text}"
        );
    } else {
        assert_eq!(structured(r)["truncated"], true, "{what}: {text}");
        assert!(
            text.contains("query.max_text_bytes") || text.contains("query.max_result_bytes"),
            "{what}: the notice must name the limit: {text}"
        );
        assert!(text.len() <= 64 * 1024, "{what}: {} bytes", text.len());
    }
}

#[tokio::test]
async fn memory_bombs_are_answered_within_the_memory_budget() {
    let mut server = Spawned::start("", "");
    let client = server.client().await;
    let (idle, _) = server.memory();
    let mut peaks = Vec::new();
    for (what, sql, extra) in bombs() {
        server.reset_peak();
        let r = bounded_call(&client, "run_query", run_args(&sql, &extra)).await;
        assert_answered(what, &r);
        assert!(server.alive(), "{what} killed the server");
        let (peak, _) = server.memory();
        peaks.push(format!("{what}: {peak} MiB"));
        assert!(peak < RSS_BUDGET_MIB, "{what}: peak RSS {peak} MiB");
    }
    // Paging through a huge value moves on: next_offset is past the row.
    let r = bounded_call(
        &client,
        "run_query",
        json!({"sql": "SELECT printf('%.*c', 3000000, 'x') AS big UNION ALL SELECT 'small'", "max_rows": 1}),
    )
    .await;
    assert_eq!(structured(&r)["next_offset"], 1, "{}", text_of(&r));

    // The worst classes, eight at once (the SQLite heap limit is shared).
    server.reset_peak();
    let worst = bombs();
    let pick = [8, 8, 8, 7, 7, 4, 3, 6];
    let calls = pick.iter().map(|&i| {
        let (what, sql, extra) = &worst[i];
        let client = &client;
        async move {
            let r = bounded_call(client, "run_query", run_args(sql, extra)).await;
            assert_answered(what, &r);
        }
    });
    futures::future::join_all(calls).await;
    let (peak, rss) = server.memory();
    eprintln!(
        "idle {idle} MiB; per bomb: {}; 8 concurrent: peak {peak} MiB, now {rss} MiB",
        peaks.join(", ")
    );
    assert!(
        peak < RSS_BUDGET_MIB,
        "8 concurrent worst-case calls: peak RSS {peak} MiB"
    );
    still_serves(&mut server, &client).await;
}
