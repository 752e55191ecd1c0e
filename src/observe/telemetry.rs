//! Logging setup, and OpenTelemetry trace export (OTLP/HTTP) when built
//! with `--features otel` and `[otel] enabled`. Logs go to stderr so that
//! stdout stays free for the MCP stdio transport.
//!
//! Exported spans use their own target ([`SPAN_TARGET`]): the log output
//! never shows them and the exporter sees nothing else. The span helpers
//! return [`Span::none`] unless export is running, so with export off a
//! request or tool call costs one relaxed atomic load (a constant `false`
//! without the feature) and allocates nothing.

use std::io::IsTerminal;

use tracing::Span;
use tracing::field::Empty;
use tracing_subscriber::EnvFilter;

use super::CallOutcome;
use crate::config::ops::OtelConfig;
use crate::config::{LogConfig, LogFormat};

/// Target of the spans meant for export.
pub const SPAN_TARGET: &str = "adb_mcp::span";

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("otel.headers.{name}: {message}")]
    Header { name: String, message: String },
    #[error("otel: cannot build the OTLP exporter for {endpoint}: {message}")]
    Exporter { endpoint: String, message: String },
}

fn env_filter(log: &LogConfig) -> EnvFilter {
    // rmcp logs every stateless request at INFO; keep that out unless asked for.
    let level = if log.level.contains("rmcp") {
        log.level.clone()
    } else {
        format!("{},rmcp=warn", log.level)
    };
    EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&level))
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Installs the global subscriber; `RUST_LOG` overrides the configured
/// level. `otel` is the export config for commands that serve (export
/// starts only when it is enabled); `None` for one-shot commands.
pub fn init(log: &LogConfig, otel: Option<&OtelConfig>) -> Result<(), TelemetryError> {
    #[cfg(feature = "otel")]
    if let Some(otel) = otel.filter(|o| o.enabled) {
        return export::init(log, otel);
    }
    let _ = otel;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter(log))
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal());
    let result = match log.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Human => builder.compact().try_init(),
    };
    // Already installed (tests, or a second call): keep the first one.
    let _ = result;
    Ok(())
}

/// Whether spans are being exported.
#[inline]
pub fn exporting() -> bool {
    #[cfg(feature = "otel")]
    {
        export::ACTIVE.load(std::sync::atomic::Ordering::Relaxed)
    }
    #[cfg(not(feature = "otel"))]
    {
        false
    }
}

/// Exports what is still buffered and stops the exporter (shutdown).
pub fn shutdown() {
    #[cfg(feature = "otel")]
    export::shutdown();
}

/// The span of one HTTP request; `route` is the metrics route label.
pub fn http_span(method: &http::Method, route: &'static str) -> Span {
    if !exporting() {
        return Span::none();
    }
    tracing::info_span!(
        target: SPAN_TARGET,
        "http",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method.as_str(),
        http.route = route,
        http.response.status_code = Empty,
    )
}

pub fn record_http_status(span: &Span, status: u16) {
    if span.is_none() {
        return;
    }
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
}

/// The span of one tool call. `tool` must be a tool of this server (or
/// `unknown`): names sent by clients are not exported.
pub fn tool_span(tool: &str) -> Span {
    if !exporting() {
        return Span::none();
    }
    tracing::info_span!(
        target: SPAN_TARGET,
        "tools/call",
        otel.name = format!("tools/call {tool}"),
        otel.status_code = Empty,
        mcp.method.name = "tools/call",
        gen_ai.tool.name = tool,
        adb_mcp.outcome = Empty,
        adb_mcp.rows = Empty,
        error.type = Empty,
    )
}

/// Ends-of-call facts on a [`tool_span`]: outcome, rows, error code.
pub fn record_call(span: &Span, outcome: CallOutcome, error_code: Option<&str>, rows: u64) {
    if span.is_none() {
        return;
    }
    span.record("adb_mcp.outcome", outcome.label());
    span.record("adb_mcp.rows", rows);
    if let Some(code) = error_code {
        span.record("error.type", code);
    }
    if outcome != CallOutcome::Ok {
        span.record("otel.status_code", "ERROR");
    }
}

/// The span of one backend operation (a child of the tool call's span).
pub fn backend_span(op: &'static str) -> Span {
    if !exporting() {
        return Span::none();
    }
    tracing::info_span!(
        target: SPAN_TARGET,
        "backend",
        otel.name = format!("backend {op}"),
        otel.kind = "client",
        otel.status_code = Empty,
        db.operation.name = op,
        error.type = Empty,
    )
}

pub fn record_backend_error(span: &Span, code: &str) {
    if span.is_none() {
        return;
    }
    span.record("error.type", code);
    span.record("otel.status_code", "ERROR");
}

#[cfg(feature = "otel")]
mod export {
    use std::collections::HashMap;
    use std::io::IsTerminal;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicBool, Ordering};

    use opentelemetry::KeyValue;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
    use tracing_subscriber::Layer;
    use tracing_subscriber::filter::filter_fn;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    use super::{SPAN_TARGET, TelemetryError, env_filter};
    use crate::config::ops::OtelConfig;
    use crate::config::{LogConfig, LogFormat};

    pub(super) static ACTIVE: AtomicBool = AtomicBool::new(false);
    static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

    fn provider(otel: &OtelConfig) -> Result<SdkTracerProvider, TelemetryError> {
        let exporter_error = |message: String| TelemetryError::Exporter {
            endpoint: otel.endpoint.clone(),
            message,
        };
        let mut headers = HashMap::with_capacity(otel.headers.len());
        for (name, value) in &otel.headers {
            let value = value.resolve().map_err(|e| TelemetryError::Header {
                name: name.clone(),
                message: e.to_string(),
            })?;
            headers.insert(name.clone(), value);
        }
        // The SDK exports from its own thread, outside the async runtime:
        // the blocking client runs its requests there. It is built here,
        // before the server's runtime starts.
        let client = reqwest::blocking::Client::builder()
            .timeout(otel.export_timeout())
            .build()
            .map_err(|e| exporter_error(e.to_string()))?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(otel.endpoint.clone())
            .with_timeout(otel.export_timeout())
            .with_headers(headers)
            .build()
            .map_err(|e| exporter_error(e.to_string()))?;
        let sampler = if otel.sample_ratio >= 1.0 {
            Sampler::AlwaysOn
        } else {
            Sampler::TraceIdRatioBased(otel.sample_ratio)
        };
        let resource = Resource::builder()
            .with_service_name(otel.service_name.clone())
            .with_attribute(KeyValue::new("service.version", crate::VERSION))
            .build();
        Ok(SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(sampler)
            .with_resource(resource)
            .build())
    }

    pub(super) fn init(log: &LogConfig, otel: &OtelConfig) -> Result<(), TelemetryError> {
        let provider = provider(otel)?;
        let tracer = provider.tracer("adb-mcp");
        // Logs keep their filter and never show the exported spans.
        let logs = env_filter(log);
        let logs = match format!("{SPAN_TARGET}=off").parse() {
            Ok(off) => logs.add_directive(off),
            Err(_) => logs,
        };
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal());
        let fmt = match log.format {
            LogFormat::Json => fmt
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_filter(logs)
                .boxed(),
            LogFormat::Human => fmt.compact().with_filter(logs).boxed(),
        };
        let spans = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_level(false)
            .with_filter(filter_fn(|meta| meta.target() == SPAN_TARGET));
        let installed = tracing_subscriber::registry()
            .with(fmt)
            .with(spans)
            .try_init()
            .is_ok();
        // Already installed (tests, or a second call): keep the first one.
        if installed && PROVIDER.set(provider).is_ok() {
            ACTIVE.store(true, Ordering::Relaxed);
            tracing::info!(
                endpoint = %otel.endpoint,
                sample_ratio = otel.sample_ratio,
                "exporting traces over OTLP/HTTP"
            );
        }
        Ok(())
    }

    pub(super) fn shutdown() {
        ACTIVE.store(false, Ordering::Relaxed);
        if let Some(provider) = PROVIDER.get()
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(error = %e, "OTLP exporter: spans may have been lost at shutdown");
        }
    }
}
