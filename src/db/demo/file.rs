//! Writing the demo database atomically: a temporary file, synced, renamed into place.

#[allow(unused_imports)]
use super::*;

pub(super) static TEMP_COUNTER: AtomicU32 = AtomicU32::new(0);

/// The half-built database; removed on drop unless it was renamed into place.
pub(super) struct TempFile {
    pub(super) path: PathBuf,
    pub(super) armed: bool,
}

impl TempFile {
    pub(super) fn create(dir: &Path, target_name: &std::ffi::OsStr) -> Result<Self, DemoError> {
        for _ in 0..64 {
            let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let mut name = OsString::from(".");
            name.push(target_name);
            name.push(format!(".{}-{n}.building", std::process::id()));
            let path = dir.join(name);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(_) => return Ok(Self { path, armed: true }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(source) => return Err(DemoError::Io { path, source }),
            }
        }
        Err(DemoError::Io {
            path: dir.to_path_buf(),
            source: io::Error::new(
                io::ErrorKind::AlreadyExists,
                "no free temporary file name for the demo database",
            ),
        })
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            for path in with_sidecars(&self.path) {
                let _ = fs::remove_file(path);
            }
        }
    }
}

/// The file itself plus the journal/WAL files SQLite may keep next to it.
pub(super) fn with_sidecars(path: &Path) -> [PathBuf; 4] {
    let side = |suffix: &str| {
        let mut s = path.as_os_str().to_os_string();
        s.push(suffix);
        PathBuf::from(s)
    };
    [
        path.to_path_buf(),
        side("-journal"),
        side("-wal"),
        side("-shm"),
    ]
}

/// Stale journal/WAL files of a previous database would be replayed into the new
/// one on open and corrupt it, so they must go before the new file appears.
pub(super) fn remove_stale_sidecars(path: &Path) -> Result<(), DemoError> {
    for side in with_sidecars(path).into_iter().skip(1) {
        match fs::remove_file(&side) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(DemoError::Io { path: side, source }),
        }
    }
    Ok(())
}

pub(super) fn publish(temp: &mut TempFile, path: &Path, overwrite: bool) -> Result<(), DemoError> {
    let io_err = |source| DemoError::Io {
        path: path.to_path_buf(),
        source,
    };
    if !overwrite {
        if exists(path)? {
            return Err(DemoError::AlreadyExists {
                path: path.to_path_buf(),
            });
        }
        remove_stale_sidecars(path)?;
        // A hard link fails if the name is taken, so a concurrent creator is never clobbered.
        match fs::hard_link(&temp.path, path) {
            // The armed guard now only removes the temporary name.
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(DemoError::AlreadyExists {
                    path: path.to_path_buf(),
                });
            }
            // File systems without hard links: fall back to check-then-rename.
            Err(_) => {
                if exists(path)? {
                    return Err(DemoError::AlreadyExists {
                        path: path.to_path_buf(),
                    });
                }
            }
        }
    } else {
        remove_stale_sidecars(path)?;
    }
    fs::rename(&temp.path, path).map_err(io_err)?;
    temp.armed = false;
    Ok(())
}

pub(super) fn sync_file(path: &Path) -> Result<(), DemoError> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.sync_all())
        .map_err(|source| DemoError::Io {
            path: path.to_path_buf(),
            source,
        })
}

/// Makes the rename itself durable where the platform allows syncing a directory.
pub(super) fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}
