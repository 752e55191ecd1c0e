//! Deterministic sample database ("demo DB") for zero-setup use, tests and benchmarks.
//!
//! The data imitates a small business: an HR schema in the spirit of Oracle's HR
//! sample (fixed size) plus a sales schema whose size grows with `scale`.
//! Everything comes from a fixed-seed PRNG written here, so the same scale always
//! yields the same rows on every machine and every run.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use rusqlite::{Connection, OpenFlags, Transaction, params};

/// Schema version stored in `PRAGMA user_version`; bump it when the schema or data changes.
pub const DEMO_SCHEMA_VERSION: i32 = 1;

/// Stored in `PRAGMA application_id` ("ADBD") so an unrelated SQLite file whose
/// `user_version` happens to match is not mistaken for a demo database.
const DEMO_APPLICATION_ID: i32 = 0x4144_4244;

// Largest accepted scale; beyond it the build takes too long to be a demo.
use crate::config::MAX_DEMO_SCALE as MAX_SCALE;

const CUSTOMERS_PER_SCALE: u64 = 1_000;
const ORDERS_PER_SCALE: u64 = 10_000;

/// What [`create_demo_db`] built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSummary {
    pub path: PathBuf,
    pub scale: u32,
    /// Table name and row count, in creation order.
    pub tables: Vec<(String, u64)>,
}

/// Why a demo database could not be created.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("invalid demo database scale {0}: must be between 1 and {MAX_SCALE}")]
    InvalidScale(u32),
    #[error("{} already exists; refusing to overwrite it", path.display())]
    AlreadyExists { path: PathBuf },
    #[error("{} is not a usable database file path", path.display())]
    InvalidPath { path: PathBuf },
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("SQLite error while building demo database {}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("demo database {} failed its consistency check: {detail}", path.display())]
    Integrity { path: PathBuf, detail: String },
}

/// Creates the database at `path` atomically: builds it in a temporary file in the
/// same directory and renames it into place, so a crash never leaves a half-built
/// database where the server would open it. Fails if `path` exists unless `overwrite`.
pub fn create_demo_db(path: &Path, scale: u32, overwrite: bool) -> Result<DemoSummary, DemoError> {
    if !(1..=MAX_SCALE).contains(&scale) {
        return Err(DemoError::InvalidScale(scale));
    }
    let file_name = path.file_name().ok_or_else(|| DemoError::InvalidPath {
        path: path.to_path_buf(),
    })?;
    // Check early so a refused overwrite costs nothing; `publish` re-checks atomically.
    if !overwrite && exists(path)? {
        return Err(DemoError::AlreadyExists {
            path: path.to_path_buf(),
        });
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(|source| DemoError::Io {
        path: dir.clone(),
        source,
    })?;

    let mut temp = TempFile::create(&dir, file_name)?;
    let tables = build_database(&temp.path, scale).map_err(|e| e.into_demo_error(path))?;
    // synchronous=OFF skipped every fsync during the build; one here makes the rename durable.
    sync_file(&temp.path)?;
    publish(&mut temp, path, overwrite)?;
    sync_dir(&dir);
    Ok(DemoSummary {
        path: path.to_path_buf(),
        scale,
        tables,
    })
}

/// True if `path` is a demo database of the current schema version (user_version check, opened read-only).
pub fn is_current_demo_db(path: &Path) -> bool {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let Ok(conn) = Connection::open_with_flags(path, flags) else {
        return false;
    };
    let app_id = conn.pragma_query_value(None, "application_id", |r| r.get::<_, i32>(0));
    let version = conn.pragma_query_value(None, "user_version", |r| r.get::<_, i32>(0));
    matches!(
        (app_id, version),
        (Ok(DEMO_APPLICATION_ID), Ok(DEMO_SCHEMA_VERSION))
    )
}

fn exists(path: &Path) -> Result<bool, DemoError> {
    // symlink_metadata: a dangling symlink still occupies the name.
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(DemoError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

// One file per concern; `use super::*` in each shares the helpers.
mod comments;
mod customers;
mod file;
mod hr;
mod orders;
mod products;
mod random;
mod reference;
mod schema;
#[cfg(test)]
mod tests;

use comments::*;
use customers::*;
use file::*;
use hr::*;
use orders::*;
use products::*;
use random::*;
use reference::*;
use schema::*;
