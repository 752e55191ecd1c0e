//! Picks up changes to the tools directory without a restart: a file watch
//! (debounced) and [`Reloader::trigger`] (SIGHUP, wired in `app::signals`)
//! trigger a full reload, which replaces the served
//! tool set atomically only if every file loads; otherwise the previous set
//! stays and the log says why.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::{LoadOptions, load};
use crate::config::tools::ReloadMode;
use crate::mcp::ServerState;

/// What the last reloads did, for operators and tests.
#[derive(Debug, Default)]
pub struct ReloadStatus {
    attempts: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl ReloadStatus {
    fn finish(&self, error: Option<String>) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = error;
        }
        self.attempts.fetch_add(1, Ordering::SeqCst);
    }
}

/// Keeps the watcher and the reload task alive; dropping it stops both.
pub struct Reloader {
    handle: ReloadHandle,
    _watcher: Option<notify::RecommendedWatcher>,
    task: tokio::task::JoinHandle<()>,
}

impl Reloader {
    /// A handle that triggers and watches reloads from elsewhere (the
    /// SIGHUP handler, tests).
    pub fn handle(&self) -> ReloadHandle {
        self.handle.clone()
    }
}

/// Triggers and watches reloads of a [`Reloader`]; triggering does nothing
/// once the reloader is dropped.
#[derive(Debug, Clone)]
pub struct ReloadHandle {
    trigger: mpsc::Sender<()>,
    status: Arc<ReloadStatus>,
}

impl ReloadHandle {
    /// Asks for a reload; coalesces with pending requests.
    pub fn trigger(&self) {
        let _ = self.trigger.try_send(());
    }

    /// Reloads finished so far (successful, failed or unchanged).
    pub fn attempts(&self) -> u64 {
        self.status.attempts.load(Ordering::SeqCst)
    }

    /// Why the most recent reload failed; `None` if it succeeded.
    pub fn last_error(&self) -> Option<String> {
        self.status.last_error.lock().ok().and_then(|e| e.clone())
    }
}

impl Drop for Reloader {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts reloading per `mode`; `None` when reload is off. Must run inside
/// the Tokio runtime. `fingerprint` identifies the set loaded at startup.
pub fn start(
    state: Arc<ServerState>,
    opts: LoadOptions,
    mode: ReloadMode,
    debounce: Duration,
    fingerprint: u64,
) -> Option<Reloader> {
    if mode == ReloadMode::Off {
        return None;
    }
    let (tx, rx) = mpsc::channel::<()>(1);
    let watcher = if mode == ReloadMode::Watch {
        watch(&opts, tx.clone())
    } else {
        None
    };
    let status = Arc::new(ReloadStatus::default());
    let task = tokio::spawn(run(
        state,
        opts,
        rx,
        debounce,
        fingerprint,
        Arc::clone(&status),
    ));
    Some(Reloader {
        handle: ReloadHandle {
            trigger: tx,
            status,
        },
        _watcher: watcher,
        task,
    })
}

fn watch(opts: &LoadOptions, tx: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    if !opts.dir.is_dir() {
        tracing::info!(
            dir = %opts.dir.display(),
            "no tools directory to watch; create it and send SIGHUP (or restart) to load tools"
        );
        return None;
    }
    let handler = move |event: notify::Result<notify::Event>| {
        // Reading the files (our own reload) shows up as access events.
        if let Ok(e) = event
            && !matches!(e.kind, EventKind::Access(_))
        {
            let _ = tx.try_send(());
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the tools directory; reload with SIGHUP");
            return None;
        }
    };
    if let Err(e) = watcher.watch(&opts.dir, RecursiveMode::NonRecursive) {
        tracing::warn!(error = %e, dir = %opts.dir.display(), "cannot watch the tools directory; reload with SIGHUP");
        return None;
    }
    Some(watcher)
}

async fn run(
    state: Arc<ServerState>,
    opts: LoadOptions,
    mut rx: mpsc::Receiver<()>,
    debounce: Duration,
    mut fingerprint: u64,
    status: Arc<ReloadStatus>,
) {
    while rx.recv().await.is_some() {
        // Editors save in several steps: wait until the directory is quiet.
        loop {
            match tokio::time::timeout(debounce, rx.recv()).await {
                Ok(Some(())) => continue,
                Ok(None) => return,
                Err(_) => break,
            }
        }
        let load_opts = opts.clone();
        let loaded = match tokio::task::spawn_blocking(move || load(&load_opts)).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "tools reload failed");
                status.finish(Some(e.to_string()));
                continue;
            }
        };
        let catalog = match loaded {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(
                    dir = %opts.dir.display(),
                    "tools directory NOT reloaded, the previous tools stay in service: {e}"
                );
                status.finish(Some(e.to_string()));
                continue;
            }
        };
        if catalog.fingerprint == fingerprint {
            tracing::debug!("tools directory unchanged");
            status.finish(None);
            continue;
        }
        fingerprint = catalog.fingerprint;
        for note in &catalog.notes {
            tracing::warn!("{note}");
        }
        let changed = state.install(&catalog);
        tracing::info!(
            dir = %opts.dir.display(),
            tools = catalog.tools.len(),
            files = catalog.files.len(),
            "tools directory reloaded"
        );
        if changed {
            let sessions = state.notify_tools_changed().await;
            if sessions > 0 {
                tracing::info!(sessions, "sent tools/list_changed");
            }
        }
        status.finish(None);
    }
}
