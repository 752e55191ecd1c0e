//! HTTP-level behaviour: DNS-rebinding protection, Accept normalisation,
//! limits, sessions, health, client cancellation and graceful shutdown.

use crate::support;

use std::time::Duration;

use adb_mcp::config::SessionMode;
use rmcp::model::{CallToolRequestParams, ClientRequest, ServerResult};
use rmcp::service::PeerRequestOptions;
use serde_json::{Value, json};
use support::*;

const ACCEPT_BOTH: &str = "application/json, text/event-stream";

fn ping_body() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})
}

fn initialize_body() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw-http-test", "version": "1"}}})
}

async fn post(url: &str, body: &Value, headers: &[(&str, &str)]) -> reqwest::Response {
    let client = reqwest::Client::new();
    let mut req = client.post(url).json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("request")
}

#[tokio::test]
async fn foreign_host_and_origin_are_forbidden() {
    let server = TestServer::start(SessionMode::Stateless).await;
    let evil_host = post(
        &server.url,
        &ping_body(),
        &[("accept", ACCEPT_BOTH), ("host", "evil.example")],
    )
    .await;
    assert_eq!(evil_host.status(), 403);
    let evil_origin = post(
        &server.url,
        &ping_body(),
        &[("accept", ACCEPT_BOTH), ("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(evil_origin.status(), 403);
    let local_origin = post(
        &server.url,
        &ping_body(),
        &[("accept", ACCEPT_BOTH), ("origin", "http://localhost:6274")],
    )
    .await;
    assert_eq!(local_origin.status(), 200);
}

#[tokio::test]
async fn accept_star_is_normalised_and_json_is_returned() {
    let server = TestServer::start(SessionMode::Stateless).await;
    for accept in [Some("*/*"), None] {
        let mut headers = vec![];
        if let Some(a) = accept {
            headers.push(("accept", a));
        }
        let r = post(&server.url, &initialize_body(), &headers).await;
        assert_eq!(r.status(), 200, "accept {accept:?}");
        assert_eq!(
            r.headers()["content-type"].to_str().ok(),
            Some("application/json")
        );
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["result"]["serverInfo"]["name"], "adb-mcp");
    }
}

#[tokio::test]
async fn oversized_bodies_are_rejected() {
    let mut config = test_config(SessionMode::Stateless);
    config.server.max_request_bytes = 4096;
    let server = TestServer::start_with(config).await;
    let big = "x".repeat(10_000);
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "run_query", "arguments": {"sql": format!("SELECT '{big}'")}}});
    let r = post(&server.url, &body, &[("accept", ACCEPT_BOTH)]).await;
    assert_eq!(r.status(), 413);
    // A normal request still works afterwards.
    let ok = post(&server.url, &ping_body(), &[("accept", ACCEPT_BOTH)]).await;
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn stateless_mode_has_no_sessions_or_get_stream() {
    let server = TestServer::start(SessionMode::Stateless).await;
    let r = post(&server.url, &initialize_body(), &[("accept", ACCEPT_BOTH)]).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("mcp-session-id").is_none());
    let get = reqwest::Client::new()
        .get(&server.url)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("get");
    assert_eq!(get.status(), 405);
}

#[tokio::test]
async fn stateful_sessions_are_issued_and_ended() {
    let server = TestServer::start(SessionMode::Stateful).await;
    let r = post(&server.url, &initialize_body(), &[("accept", ACCEPT_BOTH)]).await;
    assert_eq!(r.status(), 200);
    let sid = r.headers()["mcp-session-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(sid.len() >= 16, "session id must be unguessable: {sid}");
    drop(r);
    let no_session = post(&server.url, &ping_body(), &[("accept", ACCEPT_BOTH)]).await;
    assert_eq!(no_session.status(), 400);
    let del = reqwest::Client::new()
        .delete(&server.url)
        .header("mcp-session-id", &sid)
        .send()
        .await
        .expect("delete");
    assert!(del.status().is_success(), "{}", del.status());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let gone = post(
        &server.url,
        &ping_body(),
        &[("accept", ACCEPT_BOTH), ("mcp-session-id", &sid)],
    )
    .await;
    assert_eq!(gone.status(), 404);
}

#[tokio::test]
async fn health_and_readiness() {
    let server = TestServer::start(SessionMode::Stateless).await;
    let base = format!("http://{}", server.addr);
    let h = reqwest::get(format!("{base}/healthz"))
        .await
        .expect("healthz");
    assert_eq!(h.status(), 200);
    let r = reqwest::get(format!("{base}/readyz"))
        .await
        .expect("readyz");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v, json!({"status": "ready", "backend": "sqlite"}));
    let missing = reqwest::get(format!("{base}/nope")).await.expect("404");
    assert_eq!(missing.status(), 404);
}

async fn wait_idle(server: &TestServer) -> bool {
    for _ in 0..100 {
        if server.state.in_flight_calls() == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Stateful mode: the client's `notifications/cancelled` stops the query.
#[tokio::test]
async fn client_cancellation_stops_the_query() {
    let server = TestServer::start(SessionMode::Stateful).await;
    let client = server.client().await;
    let request = ClientRequest::CallToolRequest(rmcp::model::CallToolRequest::new(
        CallToolRequestParams::new("run_query").with_arguments(args(json!({"sql": SLOW_QUERY}))),
    ));
    let handle = client
        .send_cancellable_request(request, PeerRequestOptions::no_options())
        .await
        .expect("sent");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.state.in_flight_calls(),
        1,
        "the query should be running"
    );
    handle
        .peer
        .notify_cancelled(rmcp::model::CancelledNotificationParam::new(
            Some(handle.id.clone()),
            Some("test".into()),
        ))
        .await
        .expect("cancel sent");
    assert!(wait_idle(&server).await, "query kept running after cancel");
}

/// Stateless mode: a client that hangs up stops the query.
#[tokio::test]
async fn client_disconnect_stops_the_query() {
    let server = TestServer::start(SessionMode::Stateless).await;
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "run_query", "arguments": {"sql": SLOW_QUERY}}});
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(400))
        .build()
        .expect("client");
    let r = client
        .post(&server.url)
        .header("accept", ACCEPT_BOTH)
        .json(&body)
        .send()
        .await;
    assert!(r.is_err(), "the slow query should not have answered");
    assert!(
        wait_idle(&server).await,
        "query kept running after disconnect"
    );
}

/// SIGTERM-style shutdown lets a running call finish and then stops.
#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_calls() {
    let mut server = TestServer::start(SessionMode::Stateless).await;
    let client = server.client().await;
    let sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) SELECT count(*) AS n FROM c";
    let call = tokio::spawn(async move {
        client
            .call_tool(
                CallToolRequestParams::new("run_query").with_arguments(args(json!({"sql": sql}))),
            )
            .await
    });
    for _ in 0..100 {
        if server.state.in_flight_calls() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.begin_shutdown();
    let result = call
        .await
        .expect("join")
        .expect("the in-flight call completes");
    assert_eq!(result.is_error, Some(false), "{result:?}");
    assert_eq!(
        result
            .structured_content
            .as_ref()
            .map(|s| s["rows"].clone()),
        Some(json!([[2_000_000]]))
    );
    tokio::time::timeout(Duration::from_secs(15), server.stopped())
        .await
        .expect("server stops")
        .expect("clean stop");
    // New connections are refused once stopped.
    let after = reqwest::Client::new()
        .post(&server.url)
        .json(&ping_body())
        .send()
        .await;
    assert!(after.is_err());
}

#[tokio::test]
async fn ping_and_protocol_errors() {
    let server = TestServer::start(SessionMode::Stateless).await;
    let client = server.client().await;
    let pong = client
        .send_request(ClientRequest::PingRequest(Default::default()))
        .await
        .expect("ping");
    assert!(matches!(pong, ServerResult::EmptyResult(_)), "{pong:?}");
    let batch = post(
        &server.url,
        &json!([ping_body()]),
        &[("accept", ACCEPT_BOTH)],
    )
    .await;
    assert!(batch.status().is_client_error(), "{}", batch.status());
    let bad_version = post(
        &server.url,
        &ping_body(),
        &[
            ("accept", ACCEPT_BOTH),
            ("mcp-protocol-version", "1999-01-01"),
        ],
    )
    .await;
    assert_eq!(bad_version.status(), 400);
}
