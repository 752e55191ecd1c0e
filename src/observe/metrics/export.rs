//! Renders the counters as OpenMetrics text at scrape time: a
//! `prometheus-client` collector that reads the atomics, one function per
//! group of metric families (in exposition order).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::labels::{AUTH_REASONS, STATUS_SLOTS, status_label};
use super::{BackendOp, LimitKind, Metrics, Route, ToolStats};
use crate::observe::CallOutcome;

impl Metrics {
    /// Renders the exposition text.
    pub fn encode(self: &Arc<Self>) -> Result<String, fmt::Error> {
        let mut registry = Registry::with_prefix("adb_mcp");
        registry.register_collector(Box::new(Exporter(Arc::clone(self))));
        let mut out = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &registry)?;
        Ok(out)
    }
}

/// Reads the atomics at scrape time.
#[derive(Debug)]
struct Exporter(Arc<Metrics>);

impl Collector for Exporter {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let m = &self.0;
        build(m, &mut enc)?;
        http(m, &mut enc)?;
        tools(m, &mut enc)?;
        auth(m, &mut enc)?;
        backend(m, &mut enc)?;
        pool(m, &mut enc)?;
        audit(m, &mut enc)
    }
}

fn counter(enc: &mut MetricEncoder<'_>, v: u64) -> fmt::Result {
    enc.encode_counter::<NoLabelSet, _, u64>(&v, None)
}

/// One labelled sample of a counter family.
fn labelled_counter(
    enc: &mut MetricEncoder<'_>,
    labels: &impl EncodeLabelSet,
    v: u64,
) -> fmt::Result {
    counter(&mut enc.encode_family(labels)?, v)
}

/// `build`: version and backend kind.
fn build(m: &Metrics, enc: &mut DescriptorEncoder) -> fmt::Result {
    let info = m.backend_info.get();
    let labels = [
        ("version", crate::VERSION),
        ("backend", info.map_or("unknown", |i| i.kind)),
    ];
    let mut e = enc.encode_descriptor(
        "build",
        "Build and backend of this server (always 1).",
        None,
        MetricType::Info,
    )?;
    e.encode_info(&labels)
}

/// `http_requests`, `http_request_duration_seconds`, `http_requests_in_flight`.
fn http(m: &Metrics, enc: &mut DescriptorEncoder) -> fmt::Result {
    {
        let mut e = enc.encode_descriptor(
            "http_requests",
            "HTTP requests answered, by route and status code.",
            None,
            MetricType::Counter,
        )?;
        for route in Route::ALL {
            for slot in 0..STATUS_SLOTS {
                let n = m.http_requests[route as usize * STATUS_SLOTS + slot].load(Relaxed);
                if n == 0 {
                    continue;
                }
                let status = status_label(slot);
                let labels = [("route", route.label()), ("status", status.as_str())];
                labelled_counter(&mut e, &labels, n)?;
            }
        }
    }
    {
        let mut e = enc.encode_descriptor(
            "http_request_duration_seconds",
            "Time to answer an HTTP request (to the response head; SSE streams stay open longer).",
            None,
            MetricType::Histogram,
        )?;
        for route in Route::ALL {
            let h = &m.http_latency[route as usize];
            if h.count() == 0 {
                continue;
            }
            let labels = [("route", route.label())];
            h.encode(&mut e.encode_family(&labels)?)?;
        }
    }
    let mut e = enc.encode_descriptor(
        "http_requests_in_flight",
        "HTTP requests being answered now.",
        None,
        MetricType::Gauge,
    )?;
    e.encode_gauge(&m.http_in_flight.load(Relaxed))
}

/// `tool_calls`, `tool_rows_returned`, `tool_call_duration_seconds`: built-in
/// tools first, then declarative ones, then `unknown` and `other`.
fn tools(m: &Metrics, enc: &mut DescriptorEncoder) -> fmt::Result {
    let dynamic = m.dynamic_tools.read().unwrap_or_else(|p| p.into_inner());
    let mut all: Vec<(&str, &ToolStats)> = m
        .builtin_tools
        .get()
        .into_iter()
        .flat_map(|b| b.iter().map(|(n, s)| (*n, s)))
        .chain(dynamic.iter().map(|(n, s)| (&**n, s)))
        .collect();
    all.push(("unknown", &m.unknown_tool));
    all.push(("other", &m.other_tool));
    {
        let mut e = enc.encode_descriptor(
            "tool_calls",
            "Tool calls by tool and outcome (ok, error = tool error, refused = not run).",
            None,
            MetricType::Counter,
        )?;
        for (name, s) in &all {
            for outcome in CallOutcome::ALL {
                let n = s.calls[outcome.index()].load(Relaxed);
                if n == 0 {
                    continue;
                }
                let labels = [("tool", *name), ("outcome", outcome.label())];
                labelled_counter(&mut e, &labels, n)?;
            }
        }
    }
    {
        let mut e = enc.encode_descriptor(
            "tool_rows_returned",
            "Rows returned by tool calls.",
            None,
            MetricType::Counter,
        )?;
        for (name, s) in &all {
            let n = s.rows.load(Relaxed);
            if n == 0 && s.latency.count() == 0 {
                continue;
            }
            labelled_counter(&mut e, &[("tool", *name)], n)?;
        }
    }
    let mut e = enc.encode_descriptor(
        "tool_call_duration_seconds",
        "Duration of tool calls that ran.",
        None,
        MetricType::Histogram,
    )?;
    for (name, s) in &all {
        if s.latency.count() == 0 {
            continue;
        }
        let labels = [("tool", *name)];
        s.latency.encode(&mut e.encode_family(&labels)?)?;
    }
    Ok(())
}

/// `auth_failures`, `limit_refusals`, and with an authenticator
/// `jwks_refreshes` and `jwks_keys`.
fn auth(m: &Metrics, enc: &mut DescriptorEncoder) -> fmt::Result {
    {
        let mut e = enc.encode_descriptor(
            "auth_failures",
            "Requests refused by authentication, by reason.",
            None,
            MetricType::Counter,
        )?;
        for (i, reason) in AUTH_REASONS.iter().enumerate() {
            let n = m.auth_failures[i].load(Relaxed);
            if n == 0 {
                continue;
            }
            labelled_counter(&mut e, &[("reason", *reason)], n)?;
        }
    }
    {
        let mut e = enc.encode_descriptor(
            "limit_refusals",
            "Requests to /mcp refused by a rate or concurrency limit.",
            None,
            MetricType::Counter,
        )?;
        for kind in LimitKind::ALL {
            let n = m.limit_refusals[kind as usize].load(Relaxed);
            labelled_counter(&mut e, &[("limit", kind.label())], n)?;
        }
    }
    let Some(auth) = m.auth.get() else {
        return Ok(());
    };
    let mut stats = Vec::new();
    for (i, p) in auth.providers().iter().enumerate() {
        let (ok, failed) = p.keys.refresh_counts();
        stats.push((i.to_string(), ok, failed, p.keys.current().len()));
    }
    {
        let mut e = enc.encode_descriptor(
            "jwks_refreshes",
            "JWKS refreshes after startup, by provider index and result.",
            None,
            MetricType::Counter,
        )?;
        for (provider, ok, failed, _) in &stats {
            for (result, n) in [("ok", *ok), ("error", *failed)] {
                let labels = [("provider", provider.as_str()), ("result", result)];
                labelled_counter(&mut e, &labels, n)?;
            }
        }
    }
    let mut e = enc.encode_descriptor(
        "jwks_keys",
        "Signing keys currently trusted, by provider index.",
        None,
        MetricType::Gauge,
    )?;
    for (provider, _, _, keys) in &stats {
        let labels = [("provider", provider.as_str())];
        e.encode_family(&labels)?.encode_gauge(&(*keys as u64))?;
    }
    Ok(())
}

/// `backend_operation_duration_seconds`, `backend_errors`,
/// `backend_operations_in_flight`.
fn backend(m: &Metrics, enc: &mut DescriptorEncoder) -> fmt::Result {
    {
        let mut e = enc.encode_descriptor(
            "backend_operation_duration_seconds",
            "Time spent in the database backend, by operation.",
            None,
            MetricType::Histogram,
        )?;
        for op in BackendOp::ALL {
            let h = &m.backend_latency[op as usize];
            if h.count() == 0 {
                continue;
            }
            let labels = [("operation", op.label())];
            h.encode(&mut e.encode_family(&labels)?)?;
        }
    }
    {
        let errors: Vec<((BackendOp, &'static str), u64)> = m
            .backend_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect();
        let mut e = enc.encode_descriptor(
            "backend_errors",
            "Backend operations that failed, by operation and error code.",
            None,
            MetricType::Counter,
        )?;
        for ((op, code), n) in errors {
            let labels = [("operation", op.label()), ("code", code)];
            labelled_counter(&mut e, &labels, n)?;
        }
    }
    let mut e = enc.encode_descriptor(
        "backend_operations_in_flight",
        "Backend operations running now.",
        None,
        MetricType::Gauge,
    )?;
    e.encode_gauge(&m.backend_in_flight.load(Relaxed))
}

/// `pool_connections` and `pool_max_connections`, when the backend pools.
fn pool(m: &Metrics, enc: &mut DescriptorEncoder) -> fmt::Result {
    let Some(pool) = m.pool.get().and_then(|b| b.pool()) else {
        return Ok(());
    };
    {
        let mut e = enc.encode_descriptor(
            "pool_connections",
            "Backend connections by state (in_use, idle).",
            None,
            MetricType::Gauge,
        )?;
        for (state, n) in [("in_use", pool.in_use), ("idle", pool.idle)] {
            let labels = [("state", state)];
            e.encode_family(&labels)?.encode_gauge(&n)?;
        }
    }
    if let Some(max) = pool.max {
        let mut e = enc.encode_descriptor(
            "pool_max_connections",
            "Most connections the backend pool keeps open.",
            None,
            MetricType::Gauge,
        )?;
        e.encode_gauge(&max)?;
    }
    Ok(())
}

/// `audit_lines`, `audit_write_errors`.
fn audit(m: &Metrics, enc: &mut DescriptorEncoder) -> fmt::Result {
    {
        let mut e = enc.encode_descriptor(
            "audit_lines",
            "Audit lines written.",
            None,
            MetricType::Counter,
        )?;
        counter(&mut e, m.audit_lines.load(Relaxed))?;
    }
    let mut e = enc.encode_descriptor(
        "audit_write_errors",
        "Audit lines that could not be written.",
        None,
        MetricType::Counter,
    )?;
    counter(&mut e, m.audit_errors.load(Relaxed))
}
