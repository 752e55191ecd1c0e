//! OTLP trace export (`--features otel`): the real binary exports spans to
//! a collector over OTLP/HTTP and flushes them on SIGTERM.
//!
//! The collector is a test double built from the documented OTLP/HTTP wire
//! format (opentelemetry.io/docs/specs/otlp, "OTLP/HTTP"): `POST /v1/traces`
//! with an `application/x-protobuf` body holding an
//! `ExportTraceServiceRequest`, answered with 200 and an empty
//! `ExportTraceServiceResponse`. Protobuf stores strings as raw UTF-8, so
//! the assertions look for span names and attribute values in the body
//! bytes instead of decoding it.
#![cfg(all(feature = "otel", unix))]

// Its own small binary: it needs the `otel` feature, and building the whole
// `it` binary a second time with the feature on would double CI's test build.
#[path = "../it/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use rmcp::ServiceExt;
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_adb-mcp");
const SERVICE: &str = "adb-mcp-otel-test";
/// Appears only in the SQL text of the call: it must not be exported.
const SQL_MARKER: &str = "otel_canary_column";

#[derive(Default)]
struct Received {
    /// (content type, body) of each export request.
    exports: Vec<(String, Bytes)>,
}

async fn traces(
    State(rx): State<Arc<Mutex<Received>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(header::HeaderName, &'static str); 1]) {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if let Ok(mut r) = rx.lock() {
        r.exports.push((ct, body));
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-protobuf")],
    )
}

async fn start_collector() -> (String, Arc<Mutex<Received>>) {
    let received = Arc::new(Mutex::new(Received::default()));
    let app = Router::new()
        .route("/v1/traces", post(traces))
        .with_state(Arc::clone(&received));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind collector");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/v1/traces"), received)
}

/// Starts `adb-mcp serve` and returns it with its `/mcp` URL, read from
/// the JSON `listening` log line.
fn start_server(dir: &std::path::Path, endpoint: &str) -> (Child, String) {
    let config = dir.join("adb-mcp.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nbind = \"127.0.0.1:0\"\n\n[log]\nformat = \"json\"\n\n\
             [otel]\nenabled = true\nendpoint = \"{endpoint}\"\nservice_name = \"{SERVICE}\"\n\
             export_timeout_secs = 5\n"
        ),
    )
    .expect("write config");
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .arg("--db")
        .arg(support::demo_db())
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn adb-mcp");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("adb-mcp did not log `listening`");
            }
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if v["message"] == "listening"
            && let Some(url) = v["url"].as_str()
        {
            // Keep draining stderr so the child never blocks on a full pipe.
            std::thread::spawn(move || while rx.recv().is_ok() {});
            return (child, url.to_owned());
        }
    }
}

/// SIGTERM (graceful shutdown, which flushes the exporter), bounded wait.
fn terminate(mut child: Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success(), "kill -TERM failed");
    for _ in 0..300 {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("adb-mcp did not stop within 30 s of SIGTERM");
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_call_spans_reach_the_collector_without_sql() {
    let (endpoint, received) = start_collector().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (child, url) = start_server(dir.path(), &endpoint);

    let client = ().serve(StreamableHttpClientTransport::from_uri(url)).await;
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            let _ = terminate(child);
            panic!("initialize: {e}");
        }
    };
    let ok = support::call(
        &client,
        "run_query",
        json!({ "sql": format!("SELECT 42 AS {SQL_MARKER}") }),
    )
    .await;
    assert!(!support::is_error(&ok), "{}", support::text_of(&ok));
    let bad = support::call(
        &client,
        "describe_table",
        json!({ "table": "no_such_table" }),
    )
    .await;
    assert!(support::is_error(&bad), "{}", support::text_of(&bad));
    let _ = client.cancel().await;

    let status = tokio::task::spawn_blocking(move || terminate(child))
        .await
        .expect("join");
    assert!(status.success(), "adb-mcp exited with {status}");

    let r = received.lock().expect("lock");
    assert!(
        !r.exports.is_empty(),
        "no export request reached the collector"
    );
    for (ct, _) in &r.exports {
        assert_eq!(ct, "application/x-protobuf");
    }
    let all: Vec<u8> = r.exports.iter().flat_map(|(_, b)| b.to_vec()).collect();
    for expected in [
        SERVICE,                     // resource service.name
        "tools/call run_query",      // tool span name
        "tools/call describe_table", // the failed call
        "run_query",                 // gen_ai.tool.name
        "backend query",             // child span of the backend operation
        "POST /mcp",                 // HTTP span name
        "http.response.status_code",
    ] {
        assert!(contains(&all, expected), "`{expected}` not exported");
    }
    // Outcomes and the tool error code are attributes.
    assert!(contains(&all, "adb_mcp.outcome"));
    assert!(contains(&all, "error.type"));
    // Never SQL text, arguments or the caller.
    for secret in [SQL_MARKER, "SELECT 42", "no_such_table", "anonymous"] {
        assert!(!contains(&all, secret), "`{secret}` was exported");
    }
}
