//! Process signals, each handled once: SIGINT/SIGTERM end the server,
//! SIGHUP (`systemctl reload`) fans out to every reloadable part, with one
//! log line per part.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::http::tls::CertStore;
use crate::mcp::declarative::reload::ReloadHandle;

/// What SIGHUP reloads.
pub struct Reload {
    /// The TLS certificate and key files, when TLS is on.
    pub tls: Option<Arc<CertStore>>,
    /// The tools directory, when `tools.reload` is not off.
    pub tools: Option<ReloadHandle>,
    /// Stops listening.
    pub stop: CancellationToken,
}

/// Stops the SIGHUP handler when dropped.
pub struct Hangups(Option<tokio::task::JoinHandle<()>>);

impl Drop for Hangups {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

/// Listens for SIGHUP until `reload.stop` and reloads each part on it. A
/// reload never ends the process, whatever it finds.
pub fn spawn_hangup(reload: Reload) -> Hangups {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; reloads rely on polling and file watches");
                return Hangups(None);
            }
        };
        Hangups(Some(tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = reload.stop.cancelled() => return,
                    got = hangups.recv() => if got.is_none() { return },
                }
                on_hangup(&reload).await;
            }
        })))
    }
    #[cfg(not(unix))]
    {
        let _ = reload;
        Hangups(None)
    }
}

async fn on_hangup(reload: &Reload) {
    match &reload.tls {
        Some(store) => {
            let store = Arc::clone(store);
            // The store logs a reload that changed or failed; say the rest.
            match tokio::task::spawn_blocking(move || store.reload()).await {
                Ok(Ok(false)) => tracing::info!("SIGHUP: TLS files unchanged"),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "SIGHUP: TLS reload failed"),
            }
        }
        None => tracing::info!("SIGHUP: TLS is off, no certificates to reload"),
    }
    match &reload.tools {
        Some(tools) => {
            tracing::info!("SIGHUP: reloading the tools directory");
            tools.trigger();
        }
        None => tracing::info!("SIGHUP: tools.reload is off, tools stay as loaded"),
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
