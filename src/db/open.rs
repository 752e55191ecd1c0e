//! Builds the configured backend: the one place that knows all three.

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{BackendKind, Config};

use super::direct::{DirectBackend, wallet::PreflightError};
use super::ords::OrdsBackend;
use super::sqlite::{SqliteBackend, SqliteOptions};
use super::{Backend, DbError, demo};

/// Why the configured backend could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    // The causes are part of the message, not `source`s, so that a printed
    // error chain does not say them twice.
    #[error("cannot create the demo database at {}: {error}", .path.display())]
    Demo {
        path: PathBuf,
        error: demo::DemoError,
    },
    #[error("the direct backend's preflight failed: {0}")]
    Preflight(PreflightError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Opens the configured backend, creating the demo database on first use.
pub fn open(config: &Config) -> Result<Arc<dyn Backend>, OpenError> {
    match config.database.backend {
        BackendKind::Sqlite => open_sqlite(config),
        BackendKind::Ords => {
            let ords = &config.database.ords;
            let backend = OrdsBackend::open(ords, config.query.timeout())?;
            tracing::info!(
                url = ords.schema_root().as_deref().unwrap_or(""),
                "serving Oracle through ORDS REST-Enabled SQL"
            );
            Ok(Arc::new(backend))
        }
        BackendKind::Direct => {
            let backend =
                DirectBackend::open(&config.database.direct).map_err(OpenError::Preflight)?;
            let p = backend.preflight();
            tracing::info!(
                dsn = %p.source,
                target = %p.target,
                wallet = %p.wallet_summary(),
                user = config.database.direct.user.as_deref().unwrap_or_default(),
                "direct backend: preflight OK"
            );
            for w in &p.warnings {
                tracing::warn!("direct backend: {w}");
            }
            backend.start();
            Ok(Arc::new(backend))
        }
    }
}

fn open_sqlite(config: &Config) -> Result<Arc<dyn Backend>, OpenError> {
    let sqlite = &config.database.sqlite;
    // Only the demo database is ours alone and never changes under us.
    let immutable = sqlite.path.is_none();
    let path = match &sqlite.path {
        Some(p) => p.clone(),
        None => {
            let path = sqlite.demo_path();
            if !demo::is_current_demo_db(&path) {
                let summary = demo::create_demo_db(&path, sqlite.demo_scale, path.exists())
                    .map_err(|error| OpenError::Demo {
                        path: path.clone(),
                        error,
                    })?;
                let rows: u64 = summary.tables.iter().map(|(_, n)| n).sum();
                tracing::info!(
                    path = %path.display(),
                    scale = sqlite.demo_scale,
                    rows,
                    "no database configured: created the demo database"
                );
            }
            path
        }
    };
    let mut backend =
        SqliteBackend::open_with(&path, SqliteOptions::from_config(config, immutable))?;
    if config.tools.allow_writes {
        backend = backend.enable_writes()?;
        if immutable {
            tracing::warn!(
                "tools.allow_writes is on but the demo database is read-only: writing tools will be refused"
            );
        }
    }
    tracing::info!(path = %path.display(), "serving SQLite database read-only");
    Ok(Arc::new(backend))
}
