//! One log subscriber for the whole test binary. Tests that read the
//! server's log hold a [`Capture`]: while any is held, everything down to
//! `trace` from every crate goes into one buffer (a token must not leak at
//! any level). Otherwise only `RUST_LOG` (default: errors) reaches stderr,
//! so the other tests do not pay for trace logging.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt;

static BUFFER: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static CAPTURES: AtomicUsize = AtomicUsize::new(0);

type Handle = reload::Handle<EnvFilter, tracing_subscriber::Registry>;

fn quiet_filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("error"))
}

fn handle() -> &'static Handle {
    static HANDLE: OnceLock<Handle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let (filter, handle) = reload::Layer::new(quiet_filter());
        let _ = tracing_subscriber::registry()
            .with(filter)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(|| Sink),
            )
            .try_init();
        handle
    })
}

/// Installs the subscriber (idempotent); servers call it before starting.
pub(crate) fn install() {
    handle();
}

/// While held, the log is captured at `trace`.
pub(crate) struct Capture(());

/// Starts capturing (until the returned guard is dropped).
pub(crate) fn capture() -> Capture {
    let handle = handle();
    if CAPTURES.fetch_add(1, Ordering::SeqCst) == 0 {
        let _ = handle.reload(EnvFilter::new("trace"));
    }
    Capture(())
}

impl Drop for Capture {
    fn drop(&mut self) {
        if CAPTURES.fetch_sub(1, Ordering::SeqCst) == 1 {
            let _ = handle().reload(quiet_filter());
        }
    }
}

/// Everything captured so far, from every test of the binary.
pub(crate) fn text() -> String {
    String::from_utf8_lossy(&BUFFER.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

struct Sink;

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if CAPTURES.load(Ordering::SeqCst) > 0 {
            BUFFER
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(buf);
        } else {
            std::io::Write::write_all(&mut std::io::stderr(), buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
