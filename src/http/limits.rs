//! Rate and concurrency limits on `/mcp`, applied after authentication so
//! they are keyed by who is calling (issuer + subject; everybody is the
//! anonymous principal when auth is off).
//!
//! - **Rate**: a token bucket per principal, kept as GCRA (one "theoretical
//!   arrival time" per key): `rate_per_minute` sustained, `burst` at once.
//!   Over it: 429 with `Retry-After` = when the next request would pass.
//! - **Per-principal concurrency**: POST requests in flight per principal.
//!   Over it: 429 with `Retry-After: 1`.
//! - **Global concurrency**: POST requests in flight in total. Over it: 503
//!   with `Retry-After: 1` (the server is busy; not the caller's fault).
//!
//! A request holds its concurrency slot until its response body has been
//! sent (a `tools/call` answered over SSE holds it while it runs). GET
//! (the long-lived SSE stream) and DELETE only count against the rate.
//!
//! Per-principal state lives in a sharded map keyed by a keyed hash of
//! (issuer, subject), so the hot path allocates nothing and takes one
//! short, rarely contended lock. Idle entries (nothing in flight, bucket
//! full) are swept when a shard reaches its share of
//! `max_tracked_principals` or once a minute, so memory stays bounded.
//! `governor` was considered: it covers the rate limit only, so the
//! concurrency limits would need a second keyed map with its own expiry;
//! one map holding both is simpler and does one lookup per request.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use serde_json::json;

use crate::auth::Principal;
use crate::config::ops::LimitsConfig;
use crate::mcp::ServerState;
use crate::observe::metrics::LimitKind;

const SHARDS: usize = 16;
const SWEEP_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// GCRA theoretical arrival time, in ns since `Limiter::base`.
    tat: u64,
    in_flight: u32,
}

#[derive(Default)]
struct Shard {
    map: HashMap<u64, Entry>,
    last_sweep: u64,
}

impl Shard {
    /// Drops entries that carry no state (nothing in flight, bucket full);
    /// if that is not enough, forgets rate state too rather than grow.
    fn sweep(&mut self, now: u64, cap: usize) {
        self.map.retain(|_, e| e.in_flight > 0 || e.tat > now);
        if self.map.len() >= cap {
            self.map.retain(|_, e| e.in_flight > 0);
        }
        self.last_sweep = now;
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Rate { retry_after: Duration },
    PrincipalConcurrency,
    GlobalConcurrency,
}

impl Refusal {
    pub fn kind(self) -> LimitKind {
        match self {
            Refusal::Rate { .. } => LimitKind::Rate,
            Refusal::PrincipalConcurrency => LimitKind::PrincipalConcurrency,
            Refusal::GlobalConcurrency => LimitKind::GlobalConcurrency,
        }
    }

    /// Error code in the response body and the audit line.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Rate { .. } => "rate_limited",
            Refusal::PrincipalConcurrency => "too_many_concurrent_requests",
            Refusal::GlobalConcurrency => "server_busy",
        }
    }

    fn retry_after_secs(self) -> u64 {
        match self {
            Refusal::Rate { retry_after } => retry_after.as_secs_f64().ceil().max(1.0) as u64,
            _ => 1,
        }
    }

    fn response(self) -> Response {
        let (status, description) = match self {
            Refusal::Rate { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too many requests from this caller; retry after the time in Retry-After",
            ),
            Refusal::PrincipalConcurrency => (
                StatusCode::TOO_MANY_REQUESTS,
                "too many requests from this caller are running at once; retry when one has finished",
            ),
            Refusal::GlobalConcurrency => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is busy; retry shortly",
            ),
        };
        let mut response = (
            status,
            axum::Json(json!({ "error": self.code(), "error_description": description })),
        )
            .into_response();
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(self.retry_after_secs()),
        );
        response
    }
}

/// The limits of one server.
pub struct Limiter {
    /// Nanoseconds between requests at the sustained rate; 0 = no rate limit.
    interval: u64,
    /// How far ahead of now the bucket may run (burst − 1 intervals).
    tolerance: u64,
    per_principal_max: u32,
    global_max: u32,
    tracked: bool,
    shard_cap: usize,
    global: AtomicU32,
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    base: Instant,
    state: Arc<ServerState>,
    max_body: usize,
}

impl Limiter {
    /// `None` when every limit is off (the layer is then not installed).
    pub fn new(
        config: &LimitsConfig,
        state: Arc<ServerState>,
        max_body: usize,
    ) -> Option<Arc<Self>> {
        if !config.per_principal() && config.max_concurrent == 0 {
            return None;
        }
        let interval = match config.rate_per_minute {
            0 => 0,
            n => 60_000_000_000 / u64::from(n),
        };
        Some(Arc::new(Self {
            interval,
            tolerance: interval.saturating_mul(u64::from(config.burst.saturating_sub(1))),
            per_principal_max: config.max_concurrent_per_principal,
            global_max: config.max_concurrent,
            tracked: config.per_principal(),
            shard_cap: (config.max_tracked_principals / SHARDS).max(8),
            global: AtomicU32::new(0),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: RandomState::new(),
            base: Instant::now(),
            state,
            max_body,
        }))
    }

    fn now(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Principals currently tracked (tests, diagnostics).
    pub fn tracked_principals(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.map.len()))
            .sum()
    }

    /// Admits one request or says why not. `concurrent` requests (POST)
    /// take a concurrency slot, released when the permit is dropped.
    pub fn admit(self: &Arc<Self>, who: &Principal, concurrent: bool) -> Result<Permit, Refusal> {
        let mut permit = Permit {
            limiter: Arc::clone(self),
            key: None,
            global: false,
        };
        if concurrent && self.global_max > 0 {
            if self.global.fetch_add(1, Ordering::AcqRel) >= self.global_max {
                self.global.fetch_sub(1, Ordering::AcqRel);
                return Err(Refusal::GlobalConcurrency);
            }
            permit.global = true;
        }
        if !self.tracked {
            return Ok(permit);
        }
        let key = self.hasher.hash_one((&who.issuer, &who.subject));
        let now = self.now();
        let mut shard = self.shards[(key % SHARDS as u64) as usize]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if shard.map.len() >= self.shard_cap
            || now.saturating_sub(shard.last_sweep) > SWEEP_EVERY.as_nanos() as u64
        {
            shard.sweep(now, self.shard_cap);
        }
        let entry = shard.map.entry(key).or_insert(Entry {
            tat: now,
            in_flight: 0,
        });
        let take_slot = concurrent && self.per_principal_max > 0;
        if take_slot && entry.in_flight >= self.per_principal_max {
            return Err(Refusal::PrincipalConcurrency);
        }
        if self.interval > 0 {
            let tat = entry.tat.max(now);
            if tat - now > self.tolerance {
                return Err(Refusal::Rate {
                    retry_after: Duration::from_nanos(tat - self.tolerance - now),
                });
            }
            entry.tat = tat + self.interval;
        }
        if take_slot {
            entry.in_flight += 1;
            permit.key = Some(key);
        }
        Ok(permit)
    }
}

/// A granted request; frees its concurrency slots when dropped.
pub struct Permit {
    limiter: Arc<Limiter>,
    key: Option<u64>,
    global: bool,
}

impl Permit {
    fn holds_slots(&self) -> bool {
        self.global || self.key.is_some()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.global {
            self.limiter.global.fetch_sub(1, Ordering::AcqRel);
        }
        if let Some(key) = self.key {
            let mut shard = self.limiter.shards[(key % SHARDS as u64) as usize]
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(e) = shard.map.get_mut(&key) {
                e.in_flight = e.in_flight.saturating_sub(1);
            }
        }
    }
}

/// A response body that holds the request's permit until it is done.
struct PermitBody {
    inner: Body,
    _permit: Permit,
}

impl http_body::Body for PermitBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The middleware in front of `/mcp` (inside the auth layer).
pub async fn enforce(State(limiter): State<Arc<Limiter>>, req: Request, next: Next) -> Response {
    let principal = req
        .extensions()
        .get::<Arc<Principal>>()
        .cloned()
        .unwrap_or_else(Principal::shared_anonymous);
    let concurrent = req.method() == Method::POST;
    match limiter.admit(&principal, concurrent) {
        Ok(permit) => {
            let response = next.run(req).await;
            if permit.holds_slots() {
                response.map(|inner| {
                    Body::new(PermitBody {
                        inner,
                        _permit: permit,
                    })
                })
            } else {
                response
            }
        }
        Err(refusal) => {
            let observer = limiter.state.observer();
            observer.metrics().limit_refused(refusal.kind());
            tracing::info!(
                subject = %principal.subject,
                limit = refusal.kind().label(),
                "request refused by a limit"
            );
            let session = req
                .headers()
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            // Read the body: it names the refused tool call for the audit
            // log, and an unread body would make the server drop the
            // connection instead of keeping it alive.
            let body = axum::body::to_bytes(req.into_body(), limiter.max_body)
                .await
                .unwrap_or_default();
            observer.refused_request(
                &principal,
                &body,
                refusal.code(),
                session.as_deref(),
                |tool| limiter.state.has_tool(tool),
            );
            refusal.response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(config: LimitsConfig) -> Arc<Limiter> {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("demo.db");
        crate::db::demo::create_demo_db(&path, 1, false).expect("demo");
        let backend =
            crate::db::sqlite::SqliteBackend::open(&path, 1, Duration::from_secs(5), true)
                .expect("backend");
        let state = ServerState::new(Arc::new(backend), Default::default(), Default::default());
        Limiter::new(&config, state, 1024).expect("limits on")
    }

    fn who(subject: &str) -> Principal {
        Principal {
            subject: subject.into(),
            issuer: "https://idp.example.com/".into(),
            ..Principal::default()
        }
    }

    #[test]
    fn burst_then_refusal_with_retry_after() {
        let l = limiter(LimitsConfig {
            rate_per_minute: 60,
            burst: 3,
            max_concurrent: 0,
            ..LimitsConfig::default()
        });
        let alice = who("alice");
        for _ in 0..3 {
            drop(l.admit(&alice, false).expect("within burst"));
        }
        match l.admit(&alice, false) {
            Err(Refusal::Rate { retry_after }) => {
                assert!(retry_after <= Duration::from_secs(1), "{retry_after:?}");
                assert_eq!(Refusal::Rate { retry_after }.retry_after_secs(), 1);
            }
            other => panic!("expected a rate refusal, got {:?}", other.map(|_| ())),
        }
        // Another principal has its own bucket.
        drop(
            l.admit(&who("bob"), false)
                .expect("bob is not limited by alice"),
        );
    }

    #[test]
    fn concurrency_slots_are_released_on_drop() {
        let l = limiter(LimitsConfig {
            max_concurrent_per_principal: 2,
            max_concurrent: 3,
            ..LimitsConfig::default()
        });
        let alice = who("alice");
        let a1 = l.admit(&alice, true).expect("1");
        let a2 = l.admit(&alice, true).expect("2");
        assert_eq!(
            l.admit(&alice, true).err(),
            Some(Refusal::PrincipalConcurrency)
        );
        // GET streams do not take a slot.
        drop(l.admit(&alice, false).expect("GET passes"));
        let b1 = l.admit(&who("bob"), true).expect("bob 1");
        assert_eq!(
            l.admit(&who("carol"), true).err(),
            Some(Refusal::GlobalConcurrency)
        );
        drop(a1);
        drop(l.admit(&alice, true).expect("slot freed"));
        drop((a2, b1));
        assert_eq!(l.global.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn idle_principals_are_forgotten() {
        let l = limiter(LimitsConfig {
            max_concurrent_per_principal: 4,
            max_tracked_principals: 100,
            ..LimitsConfig::default()
        });
        for i in 0..5_000 {
            drop(l.admit(&who(&format!("user{i}")), true).expect("admit"));
        }
        assert!(
            l.tracked_principals() <= SHARDS * 8,
            "{} tracked",
            l.tracked_principals()
        );
    }
}
