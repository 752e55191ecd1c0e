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

/// Largest accepted scale (10 million orders); beyond it the build takes too long to be a demo.
const MAX_SCALE: u32 = 1000;

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

// ---------------------------------------------------------------------------
// Atomic file handling
// ---------------------------------------------------------------------------

static TEMP_COUNTER: AtomicU32 = AtomicU32::new(0);

/// The half-built database; removed on drop unless it was renamed into place.
struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    fn create(dir: &Path, target_name: &std::ffi::OsStr) -> Result<Self, DemoError> {
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
fn with_sidecars(path: &Path) -> [PathBuf; 4] {
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
fn remove_stale_sidecars(path: &Path) -> Result<(), DemoError> {
    for side in with_sidecars(path).into_iter().skip(1) {
        match fs::remove_file(&side) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(DemoError::Io { path: side, source }),
        }
    }
    Ok(())
}

fn publish(temp: &mut TempFile, path: &Path, overwrite: bool) -> Result<(), DemoError> {
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

fn sync_file(path: &Path) -> Result<(), DemoError> {
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
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

// ---------------------------------------------------------------------------
// Build
// ---------------------------------------------------------------------------

/// Build failures before the target path is attached.
enum BuildError {
    Sqlite(rusqlite::Error),
    ForeignKeys(u64),
}

impl From<rusqlite::Error> for BuildError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

impl BuildError {
    fn into_demo_error(self, path: &Path) -> DemoError {
        let path = path.to_path_buf();
        match self {
            Self::Sqlite(source) => DemoError::Sqlite { path, source },
            Self::ForeignKeys(n) => DemoError::Integrity {
                path,
                detail: format!("PRAGMA foreign_key_check reported {n} violation(s)"),
            },
        }
    }
}

/// Tables in creation order; the summary reports them in this order.
const TABLES: [&str; 12] = [
    "regions",
    "countries",
    "locations",
    "departments",
    "jobs",
    "employees",
    "job_history",
    "customers",
    "products",
    "orders",
    "order_items",
    "_comments",
];

const SCHEMA_SQL: &str = "
CREATE TABLE regions (
    region_id   INTEGER PRIMARY KEY,
    region_name TEXT NOT NULL
);
CREATE TABLE countries (
    country_id   TEXT PRIMARY KEY,
    country_name TEXT NOT NULL,
    region_id    INTEGER NOT NULL REFERENCES regions (region_id)
);
CREATE TABLE locations (
    location_id    INTEGER PRIMARY KEY,
    street_address TEXT,
    postal_code    TEXT,
    city           TEXT NOT NULL,
    state_province TEXT,
    country_id     TEXT NOT NULL REFERENCES countries (country_id)
);
CREATE TABLE departments (
    department_id   INTEGER PRIMARY KEY,
    department_name TEXT NOT NULL UNIQUE,
    manager_id      INTEGER REFERENCES employees (employee_id),
    location_id     INTEGER REFERENCES locations (location_id)
);
CREATE TABLE jobs (
    job_id     TEXT PRIMARY KEY,
    job_title  TEXT NOT NULL,
    min_salary NUMERIC,
    max_salary NUMERIC
);
CREATE TABLE employees (
    employee_id    INTEGER PRIMARY KEY,
    first_name     TEXT,
    last_name      TEXT NOT NULL,
    email          TEXT NOT NULL UNIQUE,
    phone_number   TEXT,
    hire_date      TEXT NOT NULL,
    job_id         TEXT NOT NULL REFERENCES jobs (job_id),
    salary         NUMERIC CHECK (salary > 0),
    commission_pct NUMERIC,
    manager_id     INTEGER REFERENCES employees (employee_id),
    department_id  INTEGER REFERENCES departments (department_id)
);
CREATE TABLE job_history (
    employee_id   INTEGER NOT NULL REFERENCES employees (employee_id),
    start_date    TEXT NOT NULL,
    end_date      TEXT NOT NULL,
    job_id        TEXT NOT NULL REFERENCES jobs (job_id),
    department_id INTEGER REFERENCES departments (department_id),
    PRIMARY KEY (employee_id, start_date),
    CHECK (end_date > start_date)
);
CREATE TABLE customers (
    customer_id  INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    email        TEXT UNIQUE,
    city         TEXT,
    country_id   TEXT REFERENCES countries (country_id),
    segment      TEXT NOT NULL CHECK (segment IN ('consumer', 'small_business', 'enterprise', 'public_sector')),
    created_at   TEXT NOT NULL,
    credit_limit NUMERIC
);
CREATE TABLE products (
    product_id   INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    category     TEXT NOT NULL,
    list_price   NUMERIC NOT NULL,
    unit_cost    NUMERIC NOT NULL,
    discontinued INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE orders (
    order_id     INTEGER PRIMARY KEY,
    customer_id  INTEGER NOT NULL REFERENCES customers (customer_id),
    order_date   TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'shipped', 'delivered', 'cancelled', 'returned')),
    sales_rep_id INTEGER REFERENCES employees (employee_id),
    total_amount NUMERIC NOT NULL
);
CREATE TABLE order_items (
    order_id   INTEGER NOT NULL REFERENCES orders (order_id),
    line_no    INTEGER NOT NULL,
    product_id INTEGER NOT NULL REFERENCES products (product_id),
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    unit_price NUMERIC NOT NULL,
    discount   NUMERIC NOT NULL DEFAULT 0,
    PRIMARY KEY (order_id, line_no)
);
CREATE TABLE _comments (
    object_name TEXT NOT NULL,
    column_name TEXT,
    comment     TEXT NOT NULL,
    PRIMARY KEY (object_name, column_name)
);
";

/// Created before the bulk load: with only 200 distinct keys every insert appends at one of
/// 200 hot spots, which measured ~3x faster than sorting 2.5M rows at scale 100 afterwards.
const EARLY_INDEX_SQL: &str = "
CREATE INDEX idx_order_items_product_id ON order_items (product_id);
";

/// Created after the bulk load: one sort is cheaper than updating them row by row.
const INDEX_SQL: &str = "
CREATE INDEX idx_orders_customer_id ON orders (customer_id);
CREATE INDEX idx_orders_order_date ON orders (order_date);
CREATE INDEX idx_orders_status_order_date ON orders (status, order_date);
CREATE INDEX idx_employees_department_id ON employees (department_id);
CREATE INDEX idx_employees_manager_id ON employees (manager_id);
CREATE INDEX idx_customers_country_id ON customers (country_id);
CREATE INDEX idx_products_category ON products (category);
CREATE INDEX idx_locations_country_id ON locations (country_id);
CREATE INDEX idx_countries_region_id ON countries (region_id);
";

const VIEW_SQL: &str = "
CREATE VIEW order_summary AS
SELECT o.order_id,
       c.name AS customer_name,
       o.order_date,
       o.status,
       (SELECT count(*) FROM order_items i WHERE i.order_id = o.order_id) AS item_count,
       o.total_amount
FROM orders o
JOIN customers c ON c.customer_id = o.customer_id;

CREATE VIEW employee_directory AS
SELECT e.employee_id,
       trim(coalesce(e.first_name, '') || ' ' || e.last_name) AS full_name,
       e.email,
       j.job_title,
       d.department_name,
       l.city
FROM employees e
JOIN jobs j ON j.job_id = e.job_id
LEFT JOIN departments d ON d.department_id = e.department_id
LEFT JOIN locations l ON l.location_id = d.location_id;
";

/// Speed over safety while building: the file is private and discarded on failure.
const BUILD_PRAGMAS: &str = "
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
PRAGMA locking_mode = EXCLUSIVE;
PRAGMA temp_store = MEMORY;
PRAGMA cache_size = -131072;
PRAGMA foreign_keys = OFF;
";

/// Writes the whole database into `path` (an empty file) and returns the row counts.
fn build_database(path: &Path, scale: u32) -> Result<Vec<(String, u64)>, BuildError> {
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.execute_batch(BUILD_PRAGMAS)?;
    {
        let tx = conn.transaction()?;
        tx.execute_batch(SCHEMA_SQL)?;
        tx.execute_batch(EARLY_INDEX_SQL)?;
        let hr = generate_hr();
        insert_hr(&tx, &hr)?;
        let catalog = insert_products(&tx)?;
        let customers = insert_customers(&tx, scale, &hr)?;
        insert_orders(&tx, scale, &customers, &catalog)?;
        tx.execute_batch(INDEX_SQL)?;
        tx.execute_batch(VIEW_SQL)?;
        insert_comments(&tx)?;
        tx.commit()?;
    }
    // A plain rollback-journal file opens read-only without -wal/-shm companions.
    conn.execute_batch("PRAGMA journal_mode = DELETE; ANALYZE;")?;
    conn.pragma_update(None, "application_id", DEMO_APPLICATION_ID)?;
    conn.pragma_update(None, "user_version", DEMO_SCHEMA_VERSION)?;

    let violations = {
        let mut stmt = conn.prepare("PRAGMA foreign_key_check")?;
        let mut rows = stmt.query([])?;
        let mut n = 0u64;
        while rows.next()?.is_some() {
            n += 1;
        }
        n
    };
    if violations > 0 {
        return Err(BuildError::ForeignKeys(violations));
    }

    let mut tables = Vec::with_capacity(TABLES.len());
    for name in TABLES {
        let n: i64 = conn.query_row(&format!("SELECT count(*) FROM \"{name}\""), [], |r| {
            r.get(0)
        })?;
        tables.push((name.to_string(), u64::try_from(n).unwrap_or(0)));
    }
    conn.close().map_err(|(_, e)| e)?;
    Ok(tables)
}

// ---------------------------------------------------------------------------
// Randomness and calendar helpers
// ---------------------------------------------------------------------------

const SEED: u64 = 0x5EED_AD8D_0DE1_2026;

/// SplitMix64: a tiny, fully specified generator, so the data depends on no crate's choices.
struct Rng(u64);

impl Rng {
    /// Independent stream per purpose, so changing one table's generator leaves the others intact.
    fn stream(id: u64) -> Self {
        let mut r = Self(SEED ^ id.wrapping_mul(0xD6E8_FEB8_6659_FD93));
        Self(r.next_u64())
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n == 0`) by multiply-shift; its bias (< n / 2^64) is negligible.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = hi.saturating_sub(lo).max(0) as u64 + 1;
        lo + self.below(span) as i64
    }

    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    /// Picks from a non-empty array; emptiness is rejected at compile time.
    fn pick<T: Copy, const N: usize>(&mut self, items: &[T; N]) -> T {
        const { assert!(N > 0) };
        items[self.below(N as u64) as usize]
    }

    /// Index with probability proportional to `weights`.
    fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut r = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            let w = u64::from(w);
            if r < w {
                return i;
            }
            r -= w;
        }
        weights.len().saturating_sub(1)
    }

    /// Pareto-like weight in `1..=cap + 1` with P(w > x) ≈ 1/x: a few heavy hitters, a long tail.
    fn heavy_tail(&mut self, cap: u64) -> u64 {
        (1_000_000 / (1 + self.below(1_000_000))).min(cap) + 1
    }

    /// Seconds into a day, following an hourly activity profile.
    fn time_of_day(&mut self, hour_weights: &[u32; 24]) -> u32 {
        let hour = self.weighted(hour_weights) as u32;
        hour * 3600 + self.below(3600) as u32
    }
}

/// Orders by hour of day (UTC): quiet nights, busy office hours and evenings.
const ORDER_HOURS: [u32; 24] = [
    2, 1, 1, 1, 1, 2, 3, 5, 8, 10, 11, 11, 10, 10, 10, 9, 9, 9, 10, 11, 11, 9, 6, 3,
];

const SECS_PER_DAY: i64 = 86_400;

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's civil algorithm).
const fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`]: (year, month, day).
const fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

/// 0 = Sunday .. 6 = Saturday.
const fn weekday(day: i64) -> usize {
    (day + 4).rem_euclid(7) as usize
}

fn push_digits(out: &mut String, value: i64, width: u32) {
    let mut div = 10i64.pow(width.saturating_sub(1));
    for _ in 0..width {
        out.push(char::from(b'0' + (value / div % 10) as u8));
        div /= 10;
    }
}

/// Appends `YYYY-MM-DD`.
fn push_date(out: &mut String, day: i64) {
    let (y, m, d) = civil_from_days(day);
    push_digits(out, y, 4);
    out.push('-');
    push_digits(out, m, 2);
    out.push('-');
    push_digits(out, d, 2);
}

/// Appends `YYYY-MM-DDTHH:MM:SS` for seconds since the Unix epoch.
fn push_timestamp(out: &mut String, secs: i64) {
    let day = secs.div_euclid(SECS_PER_DAY);
    let sod = secs.rem_euclid(SECS_PER_DAY);
    push_date(out, day);
    out.push('T');
    push_digits(out, sod / 3600, 2);
    out.push(':');
    push_digits(out, sod / 60 % 60, 2);
    out.push(':');
    push_digits(out, sod % 60, 2);
}

fn date_string(day: i64) -> String {
    let mut s = String::with_capacity(10);
    push_date(&mut s, day);
    s
}

/// Splits `total` events over days in proportion to `weights`, exactly and without sampling noise.
fn spread(total: u64, weights: &[u64]) -> Vec<u64> {
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum::<u128>().max(1);
    let mut counts = Vec::with_capacity(weights.len());
    let mut cum: u128 = 0;
    let mut assigned: u64 = 0;
    for &w in weights {
        cum += u128::from(w);
        let upto = (cum * u128::from(total) / sum) as u64;
        counts.push(upto - assigned);
        assigned = upto;
    }
    counts
}

/// Money is kept in integer cents and only turned into a decimal at the SQL boundary.
fn dollars(cents: i64) -> f64 {
    cents as f64 / 100.0
}

/// Lower-case ASCII for e-mail addresses: folds common accents, drops other symbols.
fn ascii_slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let folded = match c {
            'á' | 'à' | 'â' | 'ã' | 'ä' | 'Á' => 'a',
            'é' | 'è' | 'ê' | 'ë' | 'É' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'õ' | 'ö' | 'Ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' | 'Ü' => 'u',
            'ñ' => 'n',
            'ç' => 'c',
            c if c.is_ascii_alphanumeric() => c.to_ascii_lowercase(),
            _ => continue,
        };
        out.push(folded);
    }
    out
}

// ---------------------------------------------------------------------------
// Reference data (fixed size)
// ---------------------------------------------------------------------------

const REGIONS: [(i64, &str); 5] = [
    (1, "Europe"),
    (2, "Americas"),
    (3, "Asia"),
    (4, "Middle East and Africa"),
    (5, "Oceania"),
];

struct CountryDef {
    id: &'static str,
    name: &'static str,
    region: i64,
    /// Cities used for customer addresses.
    cities: &'static [&'static str],
    /// Relative share of customers.
    weight: u32,
}

const fn country(
    id: &'static str,
    name: &'static str,
    region: i64,
    cities: &'static [&'static str],
    weight: u32,
) -> CountryDef {
    CountryDef {
        id,
        name,
        region,
        cities,
        weight,
    }
}

const COUNTRIES: [CountryDef; 25] = [
    country(
        "GB",
        "United Kingdom",
        1,
        &["London", "Manchester", "Edinburgh", "Oxford", "Bristol"],
        80,
    ),
    country(
        "DE",
        "Germany",
        1,
        &["Berlin", "Munich", "Hamburg", "Frankfurt", "Cologne"],
        80,
    ),
    country(
        "FR",
        "France",
        1,
        &["Paris", "Lyon", "Toulouse", "Marseille"],
        60,
    ),
    country("IT", "Italy", 1, &["Rome", "Milan", "Turin", "Bologna"], 30),
    country(
        "NL",
        "Netherlands",
        1,
        &["Amsterdam", "Rotterdam", "Utrecht"],
        30,
    ),
    country(
        "CH",
        "Switzerland",
        1,
        &["Zürich", "Geneva", "Bern", "Basel"],
        20,
    ),
    country("DK", "Denmark", 1, &["Copenhagen", "Aarhus", "Odense"], 10),
    country(
        "ES",
        "Spain",
        1,
        &["Madrid", "Barcelona", "Valencia", "Seville"],
        30,
    ),
    country("SE", "Sweden", 1, &["Stockholm", "Gothenburg", "Malmö"], 20),
    country(
        "US",
        "United States of America",
        2,
        &[
            "New York",
            "San Francisco",
            "Seattle",
            "Austin",
            "Chicago",
            "Boston",
            "Denver",
            "Atlanta",
            "Los Angeles",
            "Miami",
        ],
        280,
    ),
    country(
        "CA",
        "Canada",
        2,
        &["Toronto", "Vancouver", "Montréal", "Calgary", "Ottawa"],
        60,
    ),
    country(
        "BR",
        "Brazil",
        2,
        &["São Paulo", "Rio de Janeiro", "Belo Horizonte"],
        30,
    ),
    country(
        "MX",
        "Mexico",
        2,
        &["Mexico City", "Guadalajara", "Monterrey"],
        30,
    ),
    country(
        "AR",
        "Argentina",
        2,
        &["Buenos Aires", "Córdoba", "Rosario"],
        10,
    ),
    country(
        "JP",
        "Japan",
        3,
        &["Tokyo", "Osaka", "Yokohama", "Nagoya"],
        50,
    ),
    country(
        "CN",
        "China",
        3,
        &["Shanghai", "Beijing", "Shenzhen", "Guangzhou"],
        30,
    ),
    country(
        "IN",
        "India",
        3,
        &["Bangalore", "Mumbai", "Delhi", "Hyderabad", "Pune"],
        40,
    ),
    country("SG", "Singapore", 3, &["Singapore"], 20),
    country("IL", "Israel", 4, &["Tel Aviv", "Haifa", "Jerusalem"], 10),
    country("EG", "Egypt", 4, &["Cairo", "Alexandria"], 10),
    country("NG", "Nigeria", 4, &["Lagos", "Abuja"], 10),
    country(
        "ZA",
        "South Africa",
        4,
        &["Johannesburg", "Cape Town", "Durban"],
        10,
    ),
    country("AE", "United Arab Emirates", 4, &["Dubai", "Abu Dhabi"], 10),
    country(
        "AU",
        "Australia",
        5,
        &["Sydney", "Melbourne", "Brisbane", "Perth"],
        40,
    ),
    country(
        "NZ",
        "New Zealand",
        5,
        &["Auckland", "Wellington", "Christchurch"],
        10,
    ),
];

struct LocationDef {
    id: i64,
    street: &'static str,
    postal: Option<&'static str>,
    city: &'static str,
    state: Option<&'static str>,
    country: &'static str,
    /// Office phone prefix; employees get `digits` more random digits.
    phone: &'static str,
    digits: u32,
}

#[allow(clippy::too_many_arguments)]
const fn location(
    id: i64,
    street: &'static str,
    postal: Option<&'static str>,
    city: &'static str,
    state: Option<&'static str>,
    country: &'static str,
    phone: &'static str,
    digits: u32,
) -> LocationDef {
    LocationDef {
        id,
        street,
        postal,
        city,
        state,
        country,
        phone,
        digits,
    }
}

/// Head office first; phone numbers use ranges reserved for fiction where countries have them.
const LOCATIONS: [LocationDef; 23] = [
    location(
        1000,
        "1200 Harbor Way",
        Some("98101"),
        "Seattle",
        Some("Washington"),
        "US",
        "+1 206 555 01",
        2,
    ),
    location(
        1100,
        "455 Mission Bay Road",
        Some("94158"),
        "San Francisco",
        Some("California"),
        "US",
        "+1 415 555 01",
        2,
    ),
    location(
        1200,
        "88 Meridian Avenue",
        Some("10013"),
        "New York",
        Some("New York"),
        "US",
        "+1 212 555 01",
        2,
    ),
    location(
        1300,
        "2100 Cedar Park Drive",
        Some("78701"),
        "Austin",
        Some("Texas"),
        "US",
        "+1 512 555 01",
        2,
    ),
    location(
        1400,
        "640 Lakeshore Plaza",
        Some("60611"),
        "Chicago",
        Some("Illinois"),
        "US",
        "+1 312 555 01",
        2,
    ),
    location(
        1500,
        "147 Front Street West",
        Some("M5J 2L7"),
        "Toronto",
        Some("Ontario"),
        "CA",
        "+1 416 555 01",
        2,
    ),
    location(
        1600,
        "900 Burrard Crescent",
        Some("V6Z 1X5"),
        "Vancouver",
        Some("British Columbia"),
        "CA",
        "+1 604 555 01",
        2,
    ),
    location(
        1700,
        "Avenida Reforma 222",
        Some("06600"),
        "Mexico City",
        Some("Ciudad de México"),
        "MX",
        "+52 55 ",
        8,
    ),
    location(
        1800,
        "Rua Augusta 1500",
        Some("01304-001"),
        "São Paulo",
        Some("São Paulo"),
        "BR",
        "+55 11 ",
        8,
    ),
    location(
        1900,
        "25 Clerkenwell Yard",
        Some("EC1R 0AT"),
        "London",
        None,
        "GB",
        "+44 20 7946 0",
        3,
    ),
    location(
        2000,
        "12 Magdalen Court",
        Some("OX1 4AU"),
        "Oxford",
        Some("Oxfordshire"),
        "GB",
        "+44 1865 ",
        6,
    ),
    location(
        2100,
        "Leopoldstraße 88",
        Some("80802"),
        "Munich",
        Some("Bavaria"),
        "DE",
        "+49 89 ",
        7,
    ),
    location(
        2200,
        "18 Rue du Faubourg Saint-Antoine",
        Some("75011"),
        "Paris",
        None,
        "FR",
        "+33 1 ",
        8,
    ),
    location(
        2300,
        "Keizersgracht 410",
        Some("1016 GE"),
        "Amsterdam",
        Some("North Holland"),
        "NL",
        "+31 20 ",
        7,
    ),
    location(
        2400,
        "Seefeldstrasse 45",
        Some("8008"),
        "Zürich",
        Some("Zürich"),
        "CH",
        "+41 44 ",
        7,
    ),
    location(
        2500,
        "Calle de Alcalá 120",
        Some("28009"),
        "Madrid",
        Some("Community of Madrid"),
        "ES",
        "+34 91 ",
        7,
    ),
    location(
        2600,
        "Sveavägen 44",
        Some("111 34"),
        "Stockholm",
        None,
        "SE",
        "+46 8 ",
        7,
    ),
    location(
        2700,
        "5-3-8 Akasaka, Minato-ku",
        Some("107-0052"),
        "Tokyo",
        Some("Tokyo Prefecture"),
        "JP",
        "+81 3 ",
        8,
    ),
    location(
        2800,
        "71 Robinson Link",
        Some("068898"),
        "Singapore",
        None,
        "SG",
        "+65 6",
        7,
    ),
    location(
        2900,
        "42 Outer Ring Road",
        Some("560103"),
        "Bangalore",
        Some("Karnataka"),
        "IN",
        "+91 80 ",
        8,
    ),
    location(
        3000,
        "Sheikh Zayed Road, Tower 3",
        None,
        "Dubai",
        Some("Dubai"),
        "AE",
        "+971 4 ",
        7,
    ),
    location(
        3100,
        "310 Kent Street",
        Some("2000"),
        "Sydney",
        Some("New South Wales"),
        "AU",
        "+61 2 ",
        8,
    ),
    location(
        3200,
        "27 Quay Street",
        Some("1010"),
        "Auckland",
        Some("Auckland"),
        "NZ",
        "+64 9 ",
        7,
    ),
];

/// (department_id, name, location_id); managers are filled in from the generated staff.
const DEPARTMENTS: [(i64, &str, Option<i64>); 27] = [
    (10, "Administration", Some(1000)),
    (20, "Marketing", Some(1500)),
    (30, "Purchasing", Some(1000)),
    (40, "Human Resources", Some(1900)),
    (50, "Shipping", Some(1100)),
    (60, "IT", Some(1300)),
    (70, "Public Relations", Some(2100)),
    (80, "Sales", Some(1200)),
    (90, "Executive", Some(1000)),
    (100, "Finance", Some(1000)),
    (110, "Accounting", Some(1000)),
    (120, "Treasury", Some(2400)),
    (130, "Corporate Tax", Some(2300)),
    (140, "Credit Control", Some(2000)),
    (150, "Investor Relations", Some(1200)),
    (160, "Benefits", Some(1000)),
    (170, "Manufacturing", Some(1700)),
    (180, "Facilities", Some(1000)),
    (190, "Contracts", Some(1400)),
    (200, "Operations", Some(2800)),
    (210, "IT Support", Some(1300)),
    (220, "Network Operations", Some(2700)),
    (230, "IT Helpdesk", Some(2900)),
    (240, "Public Sector Sales", Some(1600)),
    (250, "Online Retail", None),
    (260, "Recruiting", Some(2200)),
    (270, "Payroll", Some(3100)),
];

struct JobDef {
    id: &'static str,
    title: &'static str,
    /// Annual salary band in whole USD.
    min: i64,
    max: i64,
    /// Department where this job usually sits (used for job history).
    dept: i64,
}

const fn job(id: &'static str, title: &'static str, min: i64, max: i64, dept: i64) -> JobDef {
    JobDef {
        id,
        title,
        min,
        max,
        dept,
    }
}

const JOBS: [JobDef; 19] = [
    job("AD_PRES", "President", 250_000, 450_000, 90),
    job(
        "AD_VP",
        "Administration Vice President",
        180_000,
        300_000,
        90,
    ),
    job("AD_ASST", "Administration Assistant", 45_000, 75_000, 10),
    job("FI_MGR", "Finance Manager", 120_000, 180_000, 100),
    job("FI_ACCOUNT", "Accountant", 60_000, 110_000, 100),
    job("AC_MGR", "Accounting Manager", 110_000, 170_000, 110),
    job("AC_ACCOUNT", "Public Accountant", 60_000, 105_000, 110),
    job("SA_MAN", "Sales Manager", 120_000, 200_000, 80),
    job("SA_REP", "Sales Representative", 55_000, 120_000, 80),
    job("PU_MAN", "Purchasing Manager", 95_000, 150_000, 30),
    job("PU_CLERK", "Purchasing Clerk", 38_000, 60_000, 30),
    job("ST_MAN", "Stock Manager", 70_000, 105_000, 50),
    job("ST_CLERK", "Stock Clerk", 32_000, 52_000, 50),
    job("SH_CLERK", "Shipping Clerk", 34_000, 55_000, 50),
    job("IT_PROG", "Programmer", 80_000, 160_000, 60),
    job("MK_MAN", "Marketing Manager", 110_000, 170_000, 20),
    job("MK_REP", "Marketing Representative", 55_000, 95_000, 20),
    job(
        "HR_REP",
        "Human Resources Representative",
        55_000,
        95_000,
        40,
    ),
    job(
        "PR_REP",
        "Public Relations Representative",
        58_000,
        100_000,
        70,
    ),
];

// Indexes into JOBS; constant indexing is bounds-checked at compile time.
const AD_PRES: usize = 0;
const AD_VP: usize = 1;
const AD_ASST: usize = 2;
const FI_MGR: usize = 3;
const FI_ACCOUNT: usize = 4;
const AC_MGR: usize = 5;
const AC_ACCOUNT: usize = 6;
const SA_MAN: usize = 7;
const SA_REP: usize = 8;
const PU_MAN: usize = 9;
const PU_CLERK: usize = 10;
const ST_MAN: usize = 11;
const ST_CLERK: usize = 12;
const SH_CLERK: usize = 13;
const IT_PROG: usize = 14;
const MK_MAN: usize = 15;
const MK_REP: usize = 16;
const HR_REP: usize = 17;
const PR_REP: usize = 18;

/// Looks up a job by index; indexes are the constants above, so the fallback is never used.
fn job_def(index: usize) -> &'static JobDef {
    JOBS.get(index).unwrap_or(&JOBS[AD_PRES])
}

/// The job someone typically held before `job`, for plausible job history.
const fn previous_job(job: usize) -> Option<usize> {
    match job {
        AD_VP => Some(SA_MAN),
        FI_MGR => Some(FI_ACCOUNT),
        AC_MGR => Some(AC_ACCOUNT),
        SA_MAN => Some(SA_REP),
        SA_REP => Some(MK_REP),
        PU_MAN => Some(PU_CLERK),
        ST_MAN => Some(ST_CLERK),
        ST_CLERK => Some(SH_CLERK),
        SH_CLERK => Some(ST_CLERK),
        FI_ACCOUNT => Some(AC_ACCOUNT),
        MK_MAN => Some(MK_REP),
        MK_REP => Some(PR_REP),
        IT_PROG => Some(AC_ACCOUNT),
        HR_REP => Some(AD_ASST),
        _ => None,
    }
}

const FIRST_NAMES: [&str; 60] = [
    "James",
    "Mary",
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Sophia",
    "Lucas",
    "Mia",
    "Ethan",
    "Ava",
    "Mateo",
    "Isabella",
    "Amelia",
    "Benjamin",
    "Charlotte",
    "Elijah",
    "Harper",
    "Henry",
    "Evelyn",
    "Hiroshi",
    "Yuki",
    "Priya",
    "Arjun",
    "Wei",
    "Mei",
    "Fatima",
    "Omar",
    "Aisha",
    "Kwame",
    "Chidi",
    "Ngozi",
    "Lars",
    "Ingrid",
    "Sven",
    "Freya",
    "Pierre",
    "Chloé",
    "Juan",
    "María",
    "José",
    "Lucía",
    "Giulia",
    "Marco",
    "Sofia",
    "Hannah",
    "Lukas",
    "Jonas",
    "Lea",
    "Anna",
    "Tomás",
    "Zoë",
    "Daniel",
    "Grace",
    "Samuel",
    "Nora",
    "Leo",
    "Inès",
    "Ravi",
    "Ana",
];

const LAST_NAMES: [&str; 65] = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Green",
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Dubois",
    "Laurent",
    "Rossi",
    "Bianchi",
    "Fernández",
    "López",
    "Silva",
    "Santos",
    "Tanaka",
    "Sato",
    "Suzuki",
    "Kim",
    "Park",
    "Chen",
    "Wang",
    "Li",
    "Patel",
    "Sharma",
    "Singh",
    "Okafor",
    "Adeyemi",
    "Cohen",
    "Levi",
    "Haddad",
    "Nielsen",
    "Johansson",
    "O'Brien",
    "Novak",
    "Kowalski",
    "Ivanova",
    "Nguyen",
];

// ---------------------------------------------------------------------------
// HR generation
// ---------------------------------------------------------------------------

struct Employee {
    id: i64,
    first: &'static str,
    last: &'static str,
    email: String,
    phone: String,
    hire_day: i64,
    job: usize,
    salary: i64,
    commission: Option<f64>,
    manager: Option<i64>,
    dept: Option<i64>,
}

struct HistoryRow {
    employee: i64,
    start_day: i64,
    end_day: i64,
    job: usize,
    dept: i64,
}

struct Hr {
    employees: Vec<Employee>,
    /// (department_id, manager employee_id)
    heads: Vec<(i64, i64)>,
    history: Vec<HistoryRow>,
    /// Sales representatives per sales manager: (employee_id, hire day).
    sales_teams: Vec<Vec<(i64, i64)>>,
}

/// Seniority decides hire-date range and where in the salary band someone sits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tier {
    Ceo,
    Vp,
    Lead,
    Staff,
}

struct Slot {
    job: usize,
    dept: Option<i64>,
    manager: Option<usize>,
    tier: Tier,
}

/// The org chart: 107 positions with a single root, like the classic HR sample.
struct OrgChart {
    slots: Vec<Slot>,
    /// (department_id, slot of its manager)
    heads: Vec<(i64, usize)>,
    /// Slots of the sales representatives, one list per sales manager.
    teams: Vec<Vec<usize>>,
}

/// Positions are fixed; only names, dates and pay are drawn at random.
fn org_chart() -> OrgChart {
    let mut slots: Vec<Slot> = Vec::with_capacity(107);
    let mut heads: Vec<(i64, usize)> = Vec::new();
    let mut teams: Vec<Vec<usize>> = Vec::new();
    let mut add = |job: usize, dept: i64, manager: Option<usize>, tier: Tier| {
        slots.push(Slot {
            job,
            dept: Some(dept),
            manager,
            tier,
        });
        slots.len() - 1
    };

    let ceo = add(AD_PRES, 90, None, Tier::Ceo);
    heads.push((90, ceo));
    let vp_ops = add(AD_VP, 90, Some(ceo), Tier::Vp);
    let vp_tech = add(AD_VP, 90, Some(ceo), Tier::Vp);

    let it_lead = add(IT_PROG, 60, Some(vp_tech), Tier::Lead);
    heads.push((60, it_lead));
    for _ in 0..4 {
        add(IT_PROG, 60, Some(it_lead), Tier::Staff);
    }

    let fi_mgr = add(FI_MGR, 100, Some(vp_ops), Tier::Lead);
    heads.push((100, fi_mgr));
    for _ in 0..5 {
        add(FI_ACCOUNT, 100, Some(fi_mgr), Tier::Staff);
    }
    let ac_mgr = add(AC_MGR, 110, Some(vp_ops), Tier::Lead);
    heads.push((110, ac_mgr));
    add(AC_ACCOUNT, 110, Some(ac_mgr), Tier::Staff);

    let pu_man = add(PU_MAN, 30, Some(ceo), Tier::Lead);
    heads.push((30, pu_man));
    for _ in 0..5 {
        add(PU_CLERK, 30, Some(pu_man), Tier::Staff);
    }

    for i in 0..5 {
        let st_man = add(ST_MAN, 50, Some(ceo), Tier::Lead);
        if i == 0 {
            heads.push((50, st_man));
        }
        for _ in 0..4 {
            add(ST_CLERK, 50, Some(st_man), Tier::Staff);
        }
        for _ in 0..4 {
            add(SH_CLERK, 50, Some(st_man), Tier::Staff);
        }
    }

    for i in 0..5 {
        let sa_man = add(SA_MAN, 80, Some(ceo), Tier::Lead);
        if i == 0 {
            heads.push((80, sa_man));
        }
        let mut team = Vec::with_capacity(6);
        for _ in 0..6 {
            team.push(add(SA_REP, 80, Some(sa_man), Tier::Staff));
        }
        teams.push(team);
    }

    let mk_man = add(MK_MAN, 20, Some(ceo), Tier::Lead);
    heads.push((20, mk_man));
    add(MK_REP, 20, Some(mk_man), Tier::Staff);
    let hr = add(HR_REP, 40, Some(vp_ops), Tier::Staff);
    heads.push((40, hr));
    let pr = add(PR_REP, 70, Some(vp_ops), Tier::Staff);
    heads.push((70, pr));
    let asst = add(AD_ASST, 10, Some(ceo), Tier::Staff);
    heads.push((10, asst));

    // One representative without a department, so NULL handling in joins matters.
    if let Some(&last_rep) = teams.last().and_then(|t| t.last())
        && let Some(slot) = slots.get_mut(last_rep)
    {
        slot.dept = None;
    }
    OrgChart {
        slots,
        heads,
        teams,
    }
}

/// Moves weekend dates to the following Monday: people start work on weekdays.
fn next_weekday(day: i64) -> i64 {
    match weekday(day) {
        0 => day + 1,
        6 => day + 2,
        _ => day,
    }
}

fn generate_hr() -> Hr {
    let mut rng = Rng::stream(1);
    let OrgChart {
        slots,
        heads: head_slots,
        teams: team_slots,
    } = org_chart();
    let ids: Vec<i64> = (0..slots.len() as i64).map(|i| 100 + i).collect();
    let id_of = |slot: usize| ids.get(slot).copied();

    let mut used_names: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut used_emails: BTreeSet<String> = BTreeSet::new();
    let mut employees = Vec::with_capacity(slots.len());
    for (i, slot) in slots.iter().enumerate() {
        let (first, last) = loop {
            let candidate = (rng.pick(&FIRST_NAMES), rng.pick(&LAST_NAMES));
            if used_names.insert(candidate) {
                break candidate;
            }
        };
        let initial: String = ascii_slug(first).chars().take(1).collect();
        let base = format!("{initial}{}", ascii_slug(last));
        let mut email = format!("{base}@corp.example.com");
        let mut n = 2;
        while used_emails.contains(&email) {
            email = format!("{base}{n}@corp.example.com");
            n += 1;
        }
        used_emails.insert(email.clone());

        let (from, to) = match slot.tier {
            Tier::Ceo => (days_from_civil(2001, 1, 1), days_from_civil(2001, 12, 31)),
            Tier::Vp => (days_from_civil(2001, 6, 1), days_from_civil(2006, 12, 31)),
            Tier::Lead => (days_from_civil(2002, 1, 1), days_from_civil(2018, 12, 31)),
            Tier::Staff => (days_from_civil(2005, 1, 1), days_from_civil(2025, 11, 28)),
        };
        let hire_day = next_weekday(rng.range(from, to));

        let band = job_def(slot.job);
        let (lo_pct, hi_pct) = match slot.tier {
            Tier::Ceo | Tier::Vp | Tier::Lead => (50, 100),
            Tier::Staff => (0, 85),
        };
        let pct = rng.range(lo_pct, hi_pct);
        let raw = band.min + (band.max - band.min) * pct / 100;
        let salary = (raw / 500 * 500).clamp(band.min, band.max);

        let commission = match slot.job {
            SA_MAN => Some(rng.pick(&[0.2, 0.25, 0.3])),
            SA_REP => Some(rng.pick(&[0.1, 0.15, 0.2, 0.25, 0.3])),
            _ => None,
        };

        let office = slot
            .dept
            .and_then(|d| DEPARTMENTS.iter().find(|x| x.0 == d))
            .and_then(|x| x.2)
            .and_then(|loc| LOCATIONS.iter().find(|l| l.id == loc))
            .unwrap_or(&LOCATIONS[0]);
        let mut phone = String::from(office.phone);
        for _ in 0..office.digits {
            phone.push(char::from(b'0' + rng.below(10) as u8));
        }

        employees.push(Employee {
            id: 100 + i as i64,
            first,
            last,
            email,
            phone,
            hire_day,
            job: slot.job,
            salary,
            commission,
            manager: slot.manager.and_then(id_of),
            dept: slot.dept,
        });
    }

    let history = generate_history(&mut rng, &employees);
    let heads = head_slots
        .iter()
        .filter_map(|&(dept, slot)| id_of(slot).map(|id| (dept, id)))
        .collect();
    let sales_teams = team_slots
        .iter()
        .map(|team| {
            team.iter()
                .filter_map(|&s| employees.get(s).map(|e| (e.id, e.hire_day)))
                .collect()
        })
        .collect();
    Hr {
        employees,
        heads,
        history,
        sales_teams,
    }
}

/// Earlier positions for long-serving staff: each ends before the current job began.
fn generate_history(rng: &mut Rng, employees: &[Employee]) -> Vec<HistoryRow> {
    let cutoff = days_from_civil(2020, 1, 1);
    let latest_end = days_from_civil(2025, 6, 30);
    let mut rows = Vec::new();
    for e in employees {
        if rows.len() >= 24 || e.hire_day >= cutoff || !rng.percent(30) {
            continue;
        }
        let Some(prev) = previous_job(e.job) else {
            continue;
        };
        let end = (e.hire_day + rng.range(400, 2200)).min(latest_end);
        if end <= e.hire_day {
            continue;
        }
        // Some people moved twice: e.g. rep -> manager -> VP.
        let earlier = previous_job(prev).filter(|_| rng.percent(30));
        let mut start = e.hire_day;
        if let Some(first_job) = earlier {
            let mid = start + (end - start) / 2;
            rows.push(HistoryRow {
                employee: e.id,
                start_day: start,
                end_day: mid,
                job: first_job,
                dept: job_def(first_job).dept,
            });
            start = mid + 1;
        }
        if end > start {
            rows.push(HistoryRow {
                employee: e.id,
                start_day: start,
                end_day: end,
                job: prev,
                dept: job_def(prev).dept,
            });
        }
    }
    rows
}

fn insert_hr(tx: &Transaction<'_>, hr: &Hr) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare("INSERT INTO regions VALUES (?1, ?2)")?;
    for (id, name) in REGIONS {
        stmt.execute(params![id, name])?;
    }
    let mut stmt = tx.prepare("INSERT INTO countries VALUES (?1, ?2, ?3)")?;
    for c in &COUNTRIES {
        stmt.execute(params![c.id, c.name, c.region])?;
    }
    let mut stmt = tx.prepare("INSERT INTO locations VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
    for l in &LOCATIONS {
        stmt.execute(params![
            l.id, l.street, l.postal, l.city, l.state, l.country
        ])?;
    }
    let mut stmt = tx.prepare("INSERT INTO departments VALUES (?1, ?2, ?3, ?4)")?;
    for (id, name, loc) in DEPARTMENTS {
        let manager = hr.heads.iter().find(|h| h.0 == id).map(|h| h.1);
        stmt.execute(params![id, name, manager, loc])?;
    }
    let mut stmt = tx.prepare("INSERT INTO jobs VALUES (?1, ?2, ?3, ?4)")?;
    for j in &JOBS {
        stmt.execute(params![j.id, j.title, j.min, j.max])?;
    }
    let mut stmt =
        tx.prepare("INSERT INTO employees VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")?;
    for e in &hr.employees {
        stmt.execute(params![
            e.id,
            e.first,
            e.last,
            e.email,
            e.phone,
            date_string(e.hire_day),
            job_def(e.job).id,
            e.salary,
            e.commission,
            e.manager,
            e.dept,
        ])?;
    }
    let mut stmt = tx.prepare("INSERT INTO job_history VALUES (?1, ?2, ?3, ?4, ?5)")?;
    for h in &hr.history {
        stmt.execute(params![
            h.employee,
            date_string(h.start_day),
            date_string(h.end_day),
            job_def(h.job).id,
            h.dept,
        ])?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Products (fixed size)
// ---------------------------------------------------------------------------

struct CategoryDef {
    name: &'static str,
    items: &'static [&'static str],
    /// List price range in cents.
    min_cents: i64,
    max_cents: i64,
    /// How much more often than average this category is bought.
    popularity: u64,
}

const fn category(
    name: &'static str,
    items: &'static [&'static str],
    min_cents: i64,
    max_cents: i64,
    popularity: u64,
) -> CategoryDef {
    CategoryDef {
        name,
        items,
        min_cents,
        max_cents,
        popularity,
    }
}

const CATEGORIES: [CategoryDef; 10] = [
    category(
        "Laptops",
        &[
            "Laptop 14",
            "Laptop 16",
            "Ultrabook 13",
            "Notebook 15",
            "Convertible 14",
            "Workstation Laptop 17",
        ],
        49_900,
        349_900,
        2,
    ),
    category(
        "Desktops",
        &[
            "Tower PC",
            "Mini PC",
            "All-in-One 24",
            "Workstation",
            "Compact Desktop",
        ],
        39_900,
        399_900,
        1,
    ),
    category(
        "Monitors",
        &[
            "24\" FHD Monitor",
            "27\" QHD Monitor",
            "32\" 4K Monitor",
            "34\" Ultrawide Monitor",
            "Portable Monitor 15",
        ],
        12_900,
        149_900,
        2,
    ),
    category(
        "Peripherals",
        &[
            "Wireless Mouse",
            "Mechanical Keyboard",
            "Webcam 1080p",
            "Docking Station",
            "Ergonomic Keyboard",
            "Presenter Remote",
        ],
        1_900,
        29_900,
        5,
    ),
    category(
        "Networking",
        &[
            "Wi-Fi 6 Router",
            "Mesh Wi-Fi Kit",
            "8-Port Switch",
            "24-Port Managed Switch",
            "Access Point",
            "Firewall Appliance",
        ],
        4_900,
        249_900,
        2,
    ),
    category(
        "Storage",
        &[
            "Portable SSD 1TB",
            "NVMe SSD 2TB",
            "External HDD 4TB",
            "NAS 4-Bay",
            "USB Flash Drive 128GB",
        ],
        1_500,
        89_900,
        4,
    ),
    category(
        "Audio",
        &[
            "Noise-Cancelling Headphones",
            "Wireless Earbuds",
            "Conference Speakerphone",
            "USB Headset",
            "Bluetooth Speaker",
        ],
        2_900,
        44_900,
        4,
    ),
    category(
        "Printers & Supplies",
        &[
            "Laser Printer",
            "Inkjet All-in-One",
            "Label Printer",
            "Toner Cartridge",
            "Photo Paper A4 (100 sheets)",
        ],
        1_200,
        119_900,
        3,
    ),
    category(
        "Office Furniture",
        &[
            "Standing Desk",
            "Ergonomic Chair",
            "Monitor Arm",
            "Filing Cabinet",
            "Desk Lamp",
        ],
        3_900,
        129_900,
        2,
    ),
    category(
        "Software",
        &[
            "Office Suite (1-year)",
            "Antivirus (3 devices)",
            "Cloud Backup 1TB (1-year)",
            "Photo Editor",
            "Project Planner (1-year)",
        ],
        2_900,
        59_900,
        3,
    ),
];

const PRODUCTS_PER_CATEGORY: usize = 20;

const BRANDS: [&str; 12] = [
    "Apex", "Nimbus", "Vertex", "Orion", "Lumen", "Kestrel", "Cobalt", "Helix", "Tundra", "Quanta",
    "Aurora", "Zephyr",
];

const SERIES: [&str; 11] = [
    "", "Pro", "Air", "Max", "Mini", "Plus", "X", "Lite", "Elite", "S", "Ultra",
];

/// What order generation needs to know about products.
struct Catalog {
    list_cents: Vec<i64>,
    /// Running sum of popularity weights, for weighted picks by binary search.
    cum_weight: Vec<u64>,
    discontinued: Vec<bool>,
}

impl Catalog {
    fn pick(&self, rng: &mut Rng) -> usize {
        let total = self.cum_weight.last().copied().unwrap_or(0);
        let r = rng.below(total);
        self.cum_weight.partition_point(|&c| c <= r)
    }
}

fn insert_products(tx: &Transaction<'_>) -> rusqlite::Result<Catalog> {
    let mut rng = Rng::stream(2);
    let mut stmt = tx.prepare("INSERT INTO products VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut catalog = Catalog {
        list_cents: Vec::new(),
        cum_weight: Vec::new(),
        discontinued: Vec::new(),
    };
    let mut cum = 0u64;
    let mut id = 0i64;
    for cat in &CATEGORIES {
        for _ in 0..PRODUCTS_PER_CATEGORY {
            id += 1;
            let mut name = String::new();
            for attempt in 0..100 {
                let item = cat
                    .items
                    .get(rng.below(cat.items.len() as u64) as usize)
                    .copied()
                    .unwrap_or(cat.name);
                let series = rng.pick(&SERIES);
                name = format!("{} {item}", rng.pick(&BRANDS));
                if !series.is_empty() {
                    name.push(' ');
                    name.push_str(series);
                }
                if attempt == 99 {
                    name.push_str(&format!(" ({id})"));
                }
                if !names.contains(&name) {
                    break;
                }
            }
            names.insert(name.clone());

            // Squared uniform skews prices towards the cheap end of the range.
            let u = rng.below(1000) as i64;
            let raw = cat.min_cents + (cat.max_cents - cat.min_cents) * u * u / 1_000_000;
            let whole = (raw / 100).max(1);
            let ending = [99, 95, 49, 0][rng.weighted(&[55, 15, 15, 15])];
            let list = if ending == 0 {
                whole * 100
            } else {
                (whole - 1).max(0) * 100 + ending
            };
            let cost = list * rng.range(45, 78) / 100;
            let discontinued = rng.percent(8);

            stmt.execute(params![
                id,
                name,
                cat.name,
                dollars(list),
                dollars(cost),
                discontinued as i64
            ])?;
            cum += rng.heavy_tail(300) * cat.popularity;
            catalog.list_cents.push(list);
            catalog.cum_weight.push(cum);
            catalog.discontinued.push(discontinued);
        }
    }
    Ok(catalog)
}

// ---------------------------------------------------------------------------
// Customers (1,000 per scale unit)
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Segment {
    Consumer,
    SmallBusiness,
    Enterprise,
    PublicSector,
}

impl Segment {
    /// Share of new customers: mostly consumers, a few large organisations.
    fn draw(rng: &mut Rng) -> Self {
        match rng.weighted(&[60, 25, 7, 8]) {
            0 => Self::Consumer,
            1 => Self::SmallBusiness,
            2 => Self::Enterprise,
            _ => Self::PublicSector,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Consumer => "consumer",
            Self::SmallBusiness => "small_business",
            Self::Enterprise => "enterprise",
            Self::PublicSector => "public_sector",
        }
    }

    /// Relative order frequency: organisations order more often than consumers.
    fn order_factor(self) -> u64 {
        match self {
            Self::Consumer => 2,
            Self::SmallBusiness => 3,
            Self::Enterprise => 6,
            Self::PublicSector => 4,
        }
    }
}

const COMPANY_WORDS: [&str; 30] = [
    "Bluewater",
    "Redwood",
    "Silverline",
    "Ironbridge",
    "Brightpath",
    "Clearview",
    "Evergreen",
    "Granite",
    "Harborview",
    "Keystone",
    "Lakeside",
    "Maplewood",
    "Northstar",
    "Oakridge",
    "Pinecrest",
    "Riverbend",
    "Summit",
    "Sunrise",
    "Westfield",
    "Copperleaf",
    "Falcon",
    "Horizon",
    "Juniper",
    "Meridian",
    "Orchard",
    "Quarry",
    "Sterling",
    "Tidewater",
    "Willow",
    "Zenith",
];

const SMALL_TRADES: [&str; 20] = [
    "Bakery",
    "Dental",
    "Design",
    "Consulting",
    "Builders",
    "Florist",
    "Legal",
    "Accounting",
    "Print Shop",
    "Studios",
    "Fitness",
    "Cafe",
    "Veterinary",
    "Plumbing",
    "Realty",
    "Travel",
    "Optics",
    "Auto Repair",
    "Architects",
    "Tutoring",
];

const INDUSTRIES: [&str; 15] = [
    "Logistics",
    "Manufacturing",
    "Pharmaceuticals",
    "Energy",
    "Financial",
    "Insurance",
    "Retail",
    "Telecom",
    "Foods",
    "Aerospace",
    "Analytics",
    "Health Systems",
    "Motors",
    "Media",
    "Chemicals",
];

const ENTERPRISE_TAILS: [&str; 6] = [
    "Group",
    "Holdings",
    "International",
    "Corporation",
    "Partners",
    "Industries",
];

const PUBLIC_BODIES: [&str; 7] = [
    "City of {}",
    "{} Public Library",
    "{} School District",
    "{} General Hospital",
    "{} Water Authority",
    "{} Transit Authority",
    "University of {}",
];

const MAIL_LOCAL_PARTS: [&str; 5] = ["billing", "purchasing", "accounts", "orders", "info"];

/// Company-name suffixes as used in each country.
fn legal_suffixes(country: &str) -> &'static [&'static str] {
    match country {
        "US" | "CA" => &["Inc.", "LLC", "Corp."],
        "DE" | "CH" => &["GmbH", "AG"],
        "FR" => &["SA", "SARL"],
        "ES" | "MX" | "AR" => &["S.A.", "S.L."],
        "IT" => &["S.p.A.", "S.r.l."],
        "NL" => &["B.V.", "N.V."],
        "DK" => &["A/S"],
        "SE" => &["AB"],
        "JP" => &["K.K."],
        "CN" => &["Co., Ltd."],
        "BR" => &["Ltda.", "S.A."],
        "AE" | "EG" => &["LLC"],
        _ => &["Ltd"],
    }
}

/// What order generation needs to know about customers, indexed by customer_id - 1.
struct Customers {
    /// Creation time in epoch seconds, ascending.
    created: Vec<i64>,
    /// Running sum of order-frequency weights (Zipf-like skew).
    cum_weight: Vec<u64>,
    segment: Vec<Segment>,
    /// Account manager (employee_id, hire day) for business customers.
    rep: Vec<Option<(i64, i64)>>,
}

impl Customers {
    /// Weighted pick among the first `eligible` customers (those existing at order time).
    fn pick(&self, rng: &mut Rng, eligible: usize) -> usize {
        let eligible = eligible.clamp(1, self.cum_weight.len().max(1));
        let total = self.cum_weight.get(eligible - 1).copied().unwrap_or(0);
        let r = rng.below(total);
        self.cum_weight
            .partition_point(|&c| c <= r)
            .min(eligible - 1)
    }
}

/// Sales team covering a region: Europe, US, rest of the Americas, Asia-Pacific, Middle East and Africa.
fn sales_team_for(country: Option<&CountryDef>, rng: &mut Rng) -> usize {
    match country {
        Some(c) if c.region == 1 => 0,
        Some(c) if c.id == "US" => 1,
        Some(c) if c.region == 2 => 2,
        Some(c) if c.region == 3 || c.region == 5 => 3,
        Some(_) => 4,
        None => rng.below(5) as usize,
    }
}

fn insert_customers(tx: &Transaction<'_>, scale: u32, hr: &Hr) -> rusqlite::Result<Customers> {
    let mut rng = Rng::stream(3);
    let total = CUSTOMERS_PER_SCALE * u64::from(scale);
    let first_day = days_from_civil(2019, 1, 1);
    let last_day = days_from_civil(2025, 12, 31);
    let n_days = (last_day - first_day + 1) as usize;
    // Sign-ups grow over time and dip at weekends.
    let weights: Vec<u64> = (0..n_days)
        .map(|i| {
            let day = first_day + i as i64;
            let growth = 1000 + 1500 * i as u64 / n_days as u64;
            let dow = [60, 110, 110, 110, 105, 100, 65][weekday(day)];
            growth * dow * (80 + rng.below(41))
        })
        .collect();
    let counts = spread(total, &weights);
    let country_weights: Vec<u32> = COUNTRIES.iter().map(|c| c.weight).collect();

    let mut out = Customers {
        created: Vec::with_capacity(total as usize),
        cum_weight: Vec::with_capacity(total as usize),
        segment: Vec::with_capacity(total as usize),
        rep: Vec::with_capacity(total as usize),
    };
    let mut stmt = tx.prepare("INSERT INTO customers VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?;
    let mut times: Vec<u32> = Vec::new();
    let mut ts_buf = String::with_capacity(19);
    let mut cum = 0u64;
    let mut id = 0i64;
    for (i, &count) in counts.iter().enumerate() {
        let day = first_day + i as i64;
        times.clear();
        times.extend((0..count).map(|_| rng.time_of_day(&ORDER_HOURS)));
        times.sort_unstable();
        for &sod in &times {
            id += 1;
            let created = day * SECS_PER_DAY + i64::from(sod);
            let segment = Segment::draw(&mut rng);
            let country = if segment == Segment::Consumer && rng.below(200) == 0 {
                None
            } else {
                COUNTRIES.get(rng.weighted(&country_weights))
            };
            let city = country.and_then(|c| {
                c.cities
                    .get(rng.below(c.cities.len() as u64) as usize)
                    .copied()
            });

            let (name, email) = customer_identity(
                &mut rng,
                id,
                segment,
                country,
                city.unwrap_or("Springfield"),
            );
            let email = email.filter(|_| rng.below(1000) >= 15);
            let credit_limit: Option<i64> = match segment {
                Segment::Consumer => Some(rng.range(5, 50) * 100).filter(|_| !rng.percent(10)),
                Segment::SmallBusiness => Some(rng.range(10, 100) * 500),
                Segment::Enterprise => Some(rng.range(10, 100) * 5_000),
                Segment::PublicSector => Some(rng.range(5, 50) * 5_000),
            };
            ts_buf.clear();
            push_timestamp(&mut ts_buf, created);
            stmt.execute(params![
                id,
                name,
                email,
                city,
                country.map(|c| c.id),
                segment.as_str(),
                ts_buf,
                credit_limit,
            ])?;

            let rep = if segment == Segment::Consumer {
                None
            } else {
                let team = sales_team_for(country, &mut rng);
                hr.sales_teams
                    .get(team)
                    .and_then(|t| t.get(rng.below(t.len() as u64) as usize))
                    .copied()
            };
            cum += rng.heavy_tail(50) * segment.order_factor();
            out.created.push(created);
            out.cum_weight.push(cum);
            out.segment.push(segment);
            out.rep.push(rep);
        }
    }
    Ok(out)
}

/// Name and e-mail address that fit the segment and country.
fn customer_identity(
    rng: &mut Rng,
    id: i64,
    segment: Segment,
    country: Option<&CountryDef>,
    city: &str,
) -> (String, Option<String>) {
    let country_id = country.map_or("US", |c| c.id);
    let suffixes = legal_suffixes(country_id);
    let suffix = suffixes
        .get(rng.below(suffixes.len() as u64) as usize)
        .copied()
        .unwrap_or("Ltd");
    match segment {
        Segment::Consumer => {
            let first = rng.pick(&FIRST_NAMES);
            let last = rng.pick(&LAST_NAMES);
            let domain = rng.pick(&["example.com", "example.net", "example.org"]);
            let email = format!("{}.{}{id}@{domain}", ascii_slug(first), ascii_slug(last));
            (format!("{first} {last}"), Some(email))
        }
        Segment::SmallBusiness => {
            let name = format!(
                "{} {} {suffix}",
                rng.pick(&COMPANY_WORDS),
                rng.pick(&SMALL_TRADES)
            );
            (name.clone(), Some(company_email(rng, id, &name, suffix)))
        }
        Segment::Enterprise => {
            let name = format!(
                "{} {} {} {suffix}",
                rng.pick(&COMPANY_WORDS),
                rng.pick(&INDUSTRIES),
                rng.pick(&ENTERPRISE_TAILS)
            );
            (name.clone(), Some(company_email(rng, id, &name, suffix)))
        }
        Segment::PublicSector => {
            let name = rng.pick(&PUBLIC_BODIES).replace("{}", city);
            let slug = ascii_slug(&name);
            let email = format!("procurement.{id}@{slug}.example.org");
            (name, Some(email))
        }
    }
}

fn company_email(rng: &mut Rng, id: i64, name: &str, suffix: &str) -> String {
    let stem = name.strip_suffix(suffix).unwrap_or(name);
    format!(
        "{}.{id}@{}.example.com",
        rng.pick(&MAIL_LOCAL_PARTS),
        ascii_slug(stem)
    )
}

// ---------------------------------------------------------------------------
// Orders and order items (10,000 orders per scale unit)
// ---------------------------------------------------------------------------

/// Orders per month relative to an average month (January .. December).
const MONTH_FACTOR: [u64; 12] = [80, 85, 95, 95, 100, 95, 90, 90, 100, 105, 135, 150];
/// Orders per weekday relative to an average day (Sunday .. Saturday).
const WEEKDAY_FACTOR: [u64; 7] = [70, 105, 110, 110, 105, 100, 75];
/// How many lines an order has: 1..=6 lines, about 2.6 on average.
const LINE_WEIGHTS: [u32; 6] = [30, 25, 20, 12, 8, 5];

/// Black Friday and Cyber Monday of `year` (Thanksgiving is the fourth Thursday of November).
fn shopping_peaks(year: i64) -> (i64, i64) {
    let nov1 = days_from_civil(year, 11, 1);
    let first_thursday = nov1 + (4 + 7 - weekday(nov1) as i64) % 7;
    let thanksgiving = first_thursday + 21;
    (thanksgiving + 1, thanksgiving + 4)
}

/// Relative order volume for each day: growth, seasonality, weekday pattern, shopping peaks, noise.
fn order_day_weights(rng: &mut Rng, first_day: i64, n_days: usize) -> Vec<u64> {
    (0..n_days)
        .map(|i| {
            let day = first_day + i as i64;
            let (y, m, d) = civil_from_days(day);
            let (black_friday, cyber_monday) = shopping_peaks(y);
            let growth = 1000 + 800 * i as u64 / n_days as u64;
            let month = MONTH_FACTOR[(m.clamp(1, 12) - 1) as usize];
            let dow = WEEKDAY_FACTOR[weekday(day)];
            let event = if day == black_friday {
                300
            } else if day == cyber_monday {
                220
            } else if m == 12 && (d == 25 || d == 26) || (m == 1 && d == 1) {
                40
            } else {
                100
            };
            growth * month * dow * event * (85 + rng.below(31))
        })
        .collect()
}

/// Status follows age: recent orders are still open, old ones mostly delivered.
fn order_status(rng: &mut Rng, age_secs: i64) -> &'static str {
    const DAY: i64 = SECS_PER_DAY;
    let (names, weights): (&[&'static str], &[u32]) = if age_secs < 3 * DAY {
        (&["pending", "shipped", "cancelled"], &[60, 38, 2])
    } else if age_secs < 10 * DAY {
        (
            &["pending", "shipped", "delivered", "cancelled"],
            &[8, 62, 28, 2],
        )
    } else {
        (&["delivered", "cancelled", "returned"], &[925, 40, 35])
    };
    names
        .get(rng.weighted(weights))
        .copied()
        .unwrap_or("delivered")
}

/// Units per line: consumers buy one or two, organisations buy in bulk.
fn quantity(rng: &mut Rng, segment: Segment) -> i64 {
    let small_pick = |rng: &mut Rng, max: u64| 1 + rng.below(max).min(rng.below(max)) as i64;
    match segment {
        Segment::Consumer => 1 + rng.weighted(&[70, 20, 6, 4]) as i64,
        Segment::SmallBusiness => small_pick(rng, 10),
        Segment::Enterprise => small_pick(rng, 50),
        Segment::PublicSector => small_pick(rng, 25),
    }
}

/// Discount in percent (0, 5, 10 or 15): mostly none, more likely on bulk business lines.
fn discount_pct(rng: &mut Rng, segment: Segment, qty: i64) -> i64 {
    let weights: &[u32] = if segment == Segment::Consumer {
        &[92, 6, 2, 0]
    } else if qty >= 20 {
        &[50, 20, 20, 10]
    } else if qty >= 5 {
        &[75, 15, 8, 2]
    } else {
        &[90, 7, 3, 0]
    };
    5 * rng.weighted(weights) as i64
}

/// Sum of `quantity * unit_price * (1 - discount)` in cents, computed exactly in 1/10,000 USD.
///
/// A sum ending in exactly half a cent would round differently in floating-point SQL than here,
/// so such ties are broken by dropping a line's discount: then `ROUND(SUM(...), 2)` in SQL
/// reproduces `total_amount` exactly. Lines are (product index, quantity, unit cents, discount %).
fn order_total_cents(lines: &mut [(usize, i64, i64, i64)]) -> i64 {
    loop {
        let exact: i64 = lines
            .iter()
            .map(|&(_, q, unit, d)| q * unit * (100 - d))
            .sum();
        if exact % 100 != 50 {
            return (exact + 50) / 100;
        }
        // Undiscounted lines are whole cents, so a tie implies a discounted line exists.
        match lines.iter_mut().rev().find(|l| l.3 > 0) {
            Some(line) => line.3 = 0,
            None => return (exact + 50) / 100,
        }
    }
}

fn insert_orders(
    tx: &Transaction<'_>,
    scale: u32,
    customers: &Customers,
    catalog: &Catalog,
) -> rusqlite::Result<()> {
    let mut rng = Rng::stream(4);
    let total = ORDERS_PER_SCALE * u64::from(scale);
    let first_day = days_from_civil(2022, 1, 1);
    let last_day = days_from_civil(2025, 12, 31);
    let n_days = (last_day - first_day + 1) as usize;
    let end_of_data = (last_day + 1) * SECS_PER_DAY;
    // Discontinued products stop selling from this day on.
    let discontinued_from = days_from_civil(2024, 7, 1);
    let weights = order_day_weights(&mut rng, first_day, n_days);
    let counts = spread(total, &weights);

    let mut order_stmt = tx.prepare("INSERT INTO orders VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
    let mut item_stmt = tx.prepare("INSERT INTO order_items VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
    let mut times: Vec<u32> = Vec::new();
    let mut ts_buf = String::with_capacity(19);
    let mut lines: Vec<(usize, i64, i64, i64)> = Vec::with_capacity(LINE_WEIGHTS.len());
    let mut eligible = 0usize;
    let mut order_id = 0i64;
    for (i, &count) in counts.iter().enumerate() {
        let day = first_day + i as i64;
        let (year, _, _) = civil_from_days(day);
        // Older orders were sold at lower prices: 3 % less per year before 2025.
        let price_pct = 100 - 3 * (2025 - year).clamp(0, 10);
        times.clear();
        times.extend((0..count).map(|_| rng.time_of_day(&ORDER_HOURS)));
        times.sort_unstable();
        for &sod in &times {
            order_id += 1;
            let ts = day * SECS_PER_DAY + i64::from(sod);
            while customers.created.get(eligible).is_some_and(|&c| c <= ts) {
                eligible += 1;
            }
            let cust = customers.pick(&mut rng, eligible);
            let segment = customers
                .segment
                .get(cust)
                .copied()
                .unwrap_or(Segment::Consumer);

            lines.clear();
            let wanted = 1 + rng.weighted(&LINE_WEIGHTS);
            for _ in 0..wanted {
                for _attempt in 0..8 {
                    let p = catalog.pick(&mut rng);
                    let retired = catalog.discontinued.get(p).copied().unwrap_or(true)
                        && day >= discontinued_from;
                    if retired || lines.iter().any(|l| l.0 == p) {
                        continue;
                    }
                    let qty = quantity(&mut rng, segment);
                    let list = catalog.list_cents.get(p).copied().unwrap_or(100);
                    let unit = (list * price_pct + 50) / 100;
                    lines.push((p, qty, unit, discount_pct(&mut rng, segment, qty)));
                    break;
                }
            }
            if lines.is_empty() {
                // Every order has at least one line: fall back to the first product still on sale.
                let p = catalog.discontinued.iter().position(|&d| !d).unwrap_or(0);
                let list = catalog.list_cents.get(p).copied().unwrap_or(100);
                lines.push((p, 1, (list * price_pct + 50) / 100, 0));
            }
            let total_cents = order_total_cents(&mut lines);

            let status = order_status(&mut rng, end_of_data - ts);
            let rep = customers
                .rep
                .get(cust)
                .copied()
                .flatten()
                .filter(|&(_, hired)| hired <= day)
                .map(|(id, _)| id);
            ts_buf.clear();
            push_timestamp(&mut ts_buf, ts);
            order_stmt.execute(params![
                order_id,
                cust as i64 + 1,
                ts_buf,
                status,
                rep,
                dollars(total_cents)
            ])?;
            for (n, &(p, qty, unit, disc)) in lines.iter().enumerate() {
                item_stmt.execute(params![
                    order_id,
                    n as i64 + 1,
                    p as i64 + 1,
                    qty,
                    dollars(unit),
                    disc as f64 / 100.0,
                ])?;
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Comments as metadata
// ---------------------------------------------------------------------------

/// (object, column, comment); an empty column means the comment is on the table or view itself.
/// Written for a language model exploring the schema: meaning, units and allowed values.
const COMMENTS: &[(&str, &str, &str)] = &[
    (
        "regions",
        "",
        "Geographic regions that group countries (5 rows). Part of the HR sample.",
    ),
    ("regions", "region_id", "Primary key: region number 1-5."),
    (
        "regions",
        "region_name",
        "Region name: Europe, Americas, Asia, Middle East and Africa, or Oceania.",
    ),
    (
        "countries",
        "",
        "Countries where the company has offices or customers (25 rows); each belongs to one region.",
    ),
    (
        "countries",
        "country_id",
        "Primary key: ISO 3166-1 alpha-2 code, e.g. 'US', 'GB', 'DE', 'JP'.",
    ),
    (
        "countries",
        "country_name",
        "Country name in English, e.g. 'United States of America'.",
    ),
    (
        "countries",
        "region_id",
        "Region of the country; references regions.region_id.",
    ),
    (
        "locations",
        "",
        "Company office addresses (HR part); departments are based at one of these offices.",
    ),
    (
        "locations",
        "location_id",
        "Primary key: office number in steps of 100 (1000 = head office in Seattle).",
    ),
    (
        "locations",
        "street_address",
        "Street and building of the office.",
    ),
    (
        "locations",
        "postal_code",
        "Postal code in the local format; NULL where the country has none (e.g. Dubai).",
    ),
    ("locations", "city", "City of the office."),
    (
        "locations",
        "state_province",
        "State, province or region; NULL where not used in addresses.",
    ),
    (
        "locations",
        "country_id",
        "Country of the office; references countries.country_id.",
    ),
    (
        "departments",
        "",
        "Company departments (27 rows). Several departments currently have no employees and no manager.",
    ),
    (
        "departments",
        "department_id",
        "Primary key: department number in steps of 10 (10-270).",
    ),
    (
        "departments",
        "department_name",
        "Unique department name, e.g. 'Sales', 'Shipping', 'IT'.",
    ),
    (
        "departments",
        "manager_id",
        "Employee heading the department; references employees.employee_id. NULL if the department has no manager.",
    ),
    (
        "departments",
        "location_id",
        "Office where the department is based; references locations.location_id. NULL for virtual departments.",
    ),
    (
        "jobs",
        "",
        "Job catalogue with annual salary bands in USD (19 rows).",
    ),
    (
        "jobs",
        "job_id",
        "Primary key: short job code, e.g. 'AD_PRES' (president), 'SA_REP' (sales representative), 'IT_PROG' (programmer).",
    ),
    (
        "jobs",
        "job_title",
        "Human-readable job title, e.g. 'Sales Representative'.",
    ),
    (
        "jobs",
        "min_salary",
        "Lowest annual base salary for the job, whole USD.",
    ),
    (
        "jobs",
        "max_salary",
        "Highest annual base salary for the job, whole USD.",
    ),
    (
        "employees",
        "",
        "The company's 107 employees. manager_id forms the reporting hierarchy; exactly one employee (the president) has no manager.",
    ),
    (
        "employees",
        "employee_id",
        "Primary key: employee number 100-206 (100 is the president).",
    ),
    (
        "employees",
        "first_name",
        "Given name; may contain non-ASCII letters (e.g. 'Zoë').",
    ),
    (
        "employees",
        "last_name",
        "Family name; may contain apostrophes and non-ASCII letters (e.g. 'O''Brien', 'Müller').",
    ),
    ("employees", "email", "Unique work e-mail address."),
    (
        "employees",
        "phone_number",
        "Work phone in international format, e.g. '+1 206 555 0142'.",
    ),
    (
        "employees",
        "hire_date",
        "Date the employee joined the company, ISO 'YYYY-MM-DD', between 2001 and 2025.",
    ),
    (
        "employees",
        "job_id",
        "Current job; references jobs.job_id.",
    ),
    (
        "employees",
        "salary",
        "Current annual base salary in whole USD, within the job's min_salary..max_salary band.",
    ),
    (
        "employees",
        "commission_pct",
        "Sales commission as a fraction of sales (0.15 = 15 %); set only for jobs SA_MAN and SA_REP, NULL otherwise.",
    ),
    (
        "employees",
        "manager_id",
        "Direct manager; references employees.employee_id. NULL only for the president.",
    ),
    (
        "employees",
        "department_id",
        "Current department; references departments.department_id. NULL for one sales representative without a department.",
    ),
    (
        "job_history",
        "",
        "Earlier positions of employees inside the company, one row per past job; the current job is in employees.job_id.",
    ),
    (
        "job_history",
        "employee_id",
        "Employee who held the position; references employees.employee_id.",
    ),
    (
        "job_history",
        "start_date",
        "First day in the position, ISO 'YYYY-MM-DD'.",
    ),
    (
        "job_history",
        "end_date",
        "Last day in the position, ISO 'YYYY-MM-DD'; always after start_date.",
    ),
    (
        "job_history",
        "job_id",
        "Job held in that period; references jobs.job_id.",
    ),
    (
        "job_history",
        "department_id",
        "Department in that period; references departments.department_id.",
    ),
    (
        "customers",
        "",
        "Customers of the sales business: consumers, small businesses, enterprises and public-sector bodies. 1,000 rows per demo scale unit; customer_id increases with created_at; some customers never ordered.",
    ),
    (
        "customers",
        "customer_id",
        "Primary key: customer number starting at 1, in order of account creation.",
    ),
    (
        "customers",
        "name",
        "Customer name: a person's full name for consumers, an organisation name otherwise (not unique).",
    ),
    (
        "customers",
        "email",
        "Contact e-mail address; unique; NULL when unknown.",
    ),
    (
        "customers",
        "city",
        "City of the billing address; NULL when unknown.",
    ),
    (
        "customers",
        "country_id",
        "Country of the billing address; references countries.country_id; NULL when unknown.",
    ),
    (
        "customers",
        "segment",
        "Customer segment: consumer, small_business, enterprise or public_sector.",
    ),
    (
        "customers",
        "created_at",
        "When the customer account was created, ISO timestamp 'YYYY-MM-DDTHH:MM:SS' (UTC), 2019 to 2025.",
    ),
    (
        "customers",
        "credit_limit",
        "Credit granted in USD, depending on segment (consumers up to 5,000, enterprises up to 500,000); NULL means no credit (prepayment only).",
    ),
    (
        "products",
        "",
        "Product catalogue: 200 office and electronics products in 10 categories.",
    ),
    (
        "products",
        "product_id",
        "Primary key: product number 1-200.",
    ),
    (
        "products",
        "name",
        "Unique product name: brand, product type and optional series, e.g. 'Apex Laptop 14 Pro'.",
    ),
    (
        "products",
        "category",
        "Product category: Laptops, Desktops, Monitors, Peripherals, Networking, Storage, Audio, Printers & Supplies, Office Furniture or Software.",
    ),
    (
        "products",
        "list_price",
        "Current list price per unit in USD with two decimals.",
    ),
    (
        "products",
        "unit_cost",
        "Current purchase cost per unit in USD; gross margin per unit = list_price - unit_cost.",
    ),
    (
        "products",
        "discontinued",
        "1 if the product is no longer sold (no orders from 2024-07-01 on), 0 otherwise.",
    ),
    (
        "orders",
        "",
        "Sales orders from 2022-01-01 to 2025-12-31, 10,000 rows per demo scale unit; order_id increases with order_date. Volume grows over time and peaks in November-December.",
    ),
    (
        "orders",
        "order_id",
        "Primary key: order number starting at 1, in order_date order.",
    ),
    (
        "orders",
        "customer_id",
        "Customer who placed the order; references customers.customer_id. A few customers place many orders.",
    ),
    (
        "orders",
        "order_date",
        "When the order was placed, ISO timestamp 'YYYY-MM-DDTHH:MM:SS' (UTC); compares correctly with strings such as '2024-06-01'.",
    ),
    (
        "orders",
        "status",
        "Order status: pending, shipped, delivered, cancelled or returned. Only recent orders are pending or shipped; cancelled and returned orders keep their items and total_amount.",
    ),
    (
        "orders",
        "sales_rep_id",
        "Sales representative credited with the order; references employees.employee_id. NULL when no representative was involved: all consumer orders, and business orders placed before the account's representative was hired.",
    ),
    (
        "orders",
        "total_amount",
        "Order value in USD, equal to ROUND(SUM(quantity * unit_price * (1 - discount)), 2) over the order's order_items rows (also for cancelled and returned orders).",
    ),
    (
        "order_items",
        "",
        "Order lines: 1 to 6 per order, about 2.6 on average; the primary key is (order_id, line_no).",
    ),
    (
        "order_items",
        "order_id",
        "Order the line belongs to; references orders.order_id.",
    ),
    (
        "order_items",
        "line_no",
        "Line number within the order, starting at 1.",
    ),
    (
        "order_items",
        "product_id",
        "Product ordered; references products.product_id. A product appears at most once per order.",
    ),
    ("order_items", "quantity", "Units ordered, at least 1."),
    (
        "order_items",
        "unit_price",
        "Price per unit in USD before discount at the time of the order (lower than today's list_price for older orders).",
    ),
    (
        "order_items",
        "discount",
        "Discount as a fraction of the line amount: 0, 0.05, 0.10 or 0.15. Line amount = quantity * unit_price * (1 - discount).",
    ),
    (
        "order_summary",
        "",
        "View: one row per order with the customer's name and the number of order lines (orders joined with customers).",
    ),
    (
        "order_summary",
        "order_id",
        "Order number (orders.order_id).",
    ),
    (
        "order_summary",
        "customer_name",
        "Customer name (customers.name).",
    ),
    (
        "order_summary",
        "order_date",
        "When the order was placed, ISO timestamp 'YYYY-MM-DDTHH:MM:SS' (UTC).",
    ),
    (
        "order_summary",
        "status",
        "Order status: pending, shipped, delivered, cancelled or returned.",
    ),
    (
        "order_summary",
        "item_count",
        "Number of order lines (order_items rows), not the number of units.",
    ),
    (
        "order_summary",
        "total_amount",
        "Order value in USD (orders.total_amount).",
    ),
    (
        "employee_directory",
        "",
        "View: one row per employee with job title, department and office city; department_name and city are NULL for an employee without a department.",
    ),
    (
        "employee_directory",
        "employee_id",
        "Employee number (employees.employee_id).",
    ),
    (
        "employee_directory",
        "full_name",
        "First and last name separated by a space.",
    ),
    ("employee_directory", "email", "Work e-mail address."),
    (
        "employee_directory",
        "job_title",
        "Job title (jobs.job_title).",
    ),
    (
        "employee_directory",
        "department_name",
        "Department name; NULL if the employee has no department.",
    ),
    (
        "employee_directory",
        "city",
        "City of the department's office; NULL if unknown.",
    ),
    (
        "_comments",
        "",
        "Descriptions of every table, view and column in this database (SQLite has no COMMENT ON). Read it first to understand the schema.",
    ),
    (
        "_comments",
        "object_name",
        "Table or view the comment belongs to.",
    ),
    (
        "_comments",
        "column_name",
        "Column the comment belongs to; NULL for the comment on the table or view itself.",
    ),
    (
        "_comments",
        "comment",
        "The description: meaning, units and allowed values.",
    ),
];

fn insert_comments(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare("INSERT INTO _comments VALUES (?1, ?2, ?3)")?;
    for &(object, column, comment) in COMMENTS {
        let column = Some(column).filter(|c| !c.is_empty());
        stmt.execute(params![object, column, comment])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::types::Value;
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};

    fn build(scale: u32) -> (tempfile::TempDir, PathBuf, DemoSummary) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("demo.db");
        let summary = create_demo_db(&path, scale, false).expect("create demo db");
        (dir, path, summary)
    }

    fn open_ro(path: &Path) -> Connection {
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open read-only")
    }

    fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).expect(sql)
    }

    fn dir_entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Hash of every row of every table and of the schema, in a stable order.
    fn content_hash(conn: &Connection) -> u64 {
        let mut h = DefaultHasher::new();
        let mut stmt = conn
            .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
            .expect("schema");
        let schema: Vec<(String, String, Option<String>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        schema.hash(&mut h);
        for table in TABLES {
            let mut stmt = conn
                .prepare(&format!("SELECT * FROM \"{table}\" ORDER BY rowid"))
                .expect("select");
            let cols = stmt.column_count();
            let mut rows = stmt.query([]).expect("query");
            while let Some(row) = rows.next().expect("row") {
                for i in 0..cols {
                    format!("{:?}", row.get::<_, Value>(i).expect("value")).hash(&mut h);
                }
            }
        }
        h.finish()
    }

    fn check_counts(scale: u32) {
        let (_dir, path, summary) = build(scale);
        let s = u64::from(scale);
        assert_eq!(summary.scale, scale);
        assert_eq!(summary.path, path);
        let names: Vec<&str> = summary.tables.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, TABLES.to_vec(), "creation order");
        let get = |name: &str| {
            summary
                .tables
                .iter()
                .find(|t| t.0 == name)
                .map(|t| t.1)
                .expect(name)
        };
        assert_eq!(get("regions"), 5);
        assert_eq!(get("countries"), 25);
        assert_eq!(get("locations"), 23);
        assert_eq!(get("departments"), 27);
        assert_eq!(get("jobs"), 19);
        assert_eq!(get("employees"), 107);
        assert!(
            (10..=30).contains(&get("job_history")),
            "job_history {}",
            get("job_history")
        );
        assert_eq!(get("customers"), 1_000 * s);
        assert_eq!(get("products"), 200);
        assert_eq!(get("orders"), 10_000 * s);
        let items = get("order_items");
        assert!(
            items >= 22_000 * s && items <= 29_000 * s,
            "order_items {items}"
        );
        assert_eq!(get("_comments"), COMMENTS.len() as u64);

        let conn = open_ro(&path);
        for (name, n) in &summary.tables {
            assert_eq!(
                count(&conn, &format!("SELECT count(*) FROM \"{name}\"")) as u64,
                *n,
                "{name}"
            );
        }
        let per_order = count(
            &conn,
            "SELECT max(c) FROM (SELECT count(*) c FROM order_items GROUP BY order_id)",
        );
        assert!(per_order <= 6);
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM orders WHERE order_id NOT IN (SELECT order_id FROM order_items)"
            ),
            0
        );
    }

    #[test]
    fn row_counts_scale_1() {
        check_counts(1);
    }

    #[test]
    fn row_counts_scale_2() {
        check_counts(2);
    }

    #[test]
    fn foreign_keys_and_integrity_are_clean() {
        let (_dir, path, _) = build(1);
        let conn = open_ro(&path);
        let mut stmt = conn.prepare("PRAGMA foreign_key_check").expect("prepare");
        let mut rows = stmt.query([]).expect("query");
        assert!(
            rows.next().expect("step").is_none(),
            "foreign_key_check reported violations"
        );
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .expect("integrity");
        assert_eq!(ok, "ok");
    }

    #[test]
    fn same_scale_gives_identical_content() {
        let (_d1, p1, s1) = build(1);
        let (_d2, p2, s2) = build(1);
        assert_eq!(s1.tables, s2.tables);
        assert_eq!(content_hash(&open_ro(&p1)), content_hash(&open_ro(&p2)));
        // Stronger still: the files themselves are byte-identical.
        assert!(fs::read(&p1).expect("read") == fs::read(&p2).expect("read"));
        let (_d3, p3, _) = build(2);
        assert_ne!(content_hash(&open_ro(&p1)), content_hash(&open_ro(&p3)));
    }

    #[test]
    fn finished_file_is_a_plain_rollback_journal_database() {
        let (dir, path, _) = build(1);
        assert_eq!(
            dir_entries(dir.path()),
            vec!["demo.db".to_string()],
            "no temp or journal files left"
        );
        let conn = open_ro(&path);
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("mode");
        assert_eq!(mode, "delete");
        let version: i32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version, DEMO_SCHEMA_VERSION);
        assert!(
            count(
                &conn,
                "SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'orders'"
            ) > 0,
            "ANALYZE ran"
        );
        drop(conn);
        assert_eq!(
            dir_entries(dir.path()),
            vec!["demo.db".to_string()],
            "read-only open leaves no -wal/-shm"
        );
    }

    #[test]
    fn invalid_scale_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("demo.db");
        for scale in [0, MAX_SCALE + 1, u32::MAX] {
            let err = create_demo_db(&path, scale, true).expect_err("invalid scale");
            assert!(
                matches!(err, DemoError::InvalidScale(s) if s == scale),
                "{err}"
            );
        }
        assert!(!path.exists());
        assert!(dir_entries(dir.path()).is_empty());
    }

    #[test]
    fn refuses_to_overwrite_without_flag() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("demo.db");
        fs::write(&path, b"precious").expect("write");
        let err = create_demo_db(&path, 1, false).expect_err("must refuse");
        assert!(matches!(err, DemoError::AlreadyExists { .. }), "{err}");
        assert!(
            err.to_string().contains("demo.db"),
            "message names the path: {err}"
        );
        assert_eq!(fs::read(&path).expect("read"), b"precious");
        assert_eq!(dir_entries(dir.path()), vec!["demo.db".to_string()]);

        // A stale hot journal of the old file must not be replayed into the new one.
        fs::write(dir.path().join("demo.db-journal"), b"stale").expect("write");
        let summary = create_demo_db(&path, 1, true).expect("overwrite");
        assert_eq!(summary.tables.len(), TABLES.len());
        assert!(is_current_demo_db(&path));
        assert_eq!(dir_entries(dir.path()), vec!["demo.db".to_string()]);
    }

    #[test]
    fn failed_build_removes_its_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let temp = TempFile::create(dir.path(), std::ffi::OsStr::new("demo.db")).expect("temp");
        assert!(temp.path.exists());
        let name = temp
            .path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert!(
            name.starts_with(".demo.db.") && name.ends_with(".building"),
            "{name}"
        );
        drop(temp);
        assert!(dir_entries(dir.path()).is_empty());
    }

    #[test]
    fn creates_missing_parent_directories() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a").join("b").join("demo.db");
        create_demo_db(&path, 1, false).expect("create");
        assert!(is_current_demo_db(&path));
    }

    #[test]
    fn io_errors_name_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blocker = dir.path().join("file");
        fs::write(&blocker, b"x").expect("write");
        let err = create_demo_db(&blocker.join("demo.db"), 1, false).expect_err("parent is a file");
        assert!(matches!(err, DemoError::Io { .. }), "{err}");
        assert!(err.to_string().contains("file"), "{err}");
    }

    #[test]
    fn recognises_only_current_demo_databases() {
        let (dir, path, _) = build(1);
        assert!(is_current_demo_db(&path));

        let missing = dir.path().join("missing.db");
        assert!(!is_current_demo_db(&missing));
        assert!(!missing.exists(), "the check must not create files");

        let other = dir.path().join("other.db");
        {
            let conn = Connection::open(&other).expect("open");
            conn.execute_batch(
                "CREATE TABLE t (x); INSERT INTO t VALUES (1); PRAGMA user_version = 1;",
            )
            .expect("setup");
        }
        assert!(
            !is_current_demo_db(&other),
            "same user_version but not a demo database"
        );

        let text = dir.path().join("notes.txt");
        fs::write(
            &text,
            "this is not a database, just some text that is long enough",
        )
        .expect("write");
        assert!(!is_current_demo_db(&text));

        let old = dir.path().join("old.db");
        fs::copy(&path, &old).expect("copy");
        Connection::open(&old)
            .expect("open")
            .pragma_update(None, "user_version", DEMO_SCHEMA_VERSION + 1)
            .expect("bump");
        assert!(!is_current_demo_db(&old), "other schema version");
    }

    #[test]
    fn every_table_view_and_column_has_a_comment() {
        let (_dir, path, _) = build(1);
        let conn = open_ro(&path);
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .expect("prepare");
        let objects: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(objects.len(), TABLES.len() + 2, "{objects:?}");
        let mut checked = 0;
        for object in &objects {
            let n = count(
                &conn,
                &format!(
                    "SELECT count(*) FROM _comments WHERE object_name = '{object}' AND column_name IS NULL AND length(comment) > 10"
                ),
            );
            assert_eq!(n, 1, "comment for {object}");
            let mut cols = conn
                .prepare("SELECT name FROM pragma_table_info(?1)")
                .expect("prepare");
            let cols: Vec<String> = cols
                .query_map([object], |r| r.get(0))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows");
            assert!(!cols.is_empty());
            for col in cols {
                let n: i64 = conn
                    .query_row(
                        "SELECT count(*) FROM _comments WHERE object_name = ?1 AND column_name = ?2 AND length(comment) > 10",
                        [object, &col],
                        |r| r.get(0),
                    )
                    .expect("count");
                assert_eq!(n, 1, "comment for {object}.{col}");
                checked += 1;
            }
            checked += 1;
        }
        // No comments on things that do not exist.
        assert_eq!(checked, COMMENTS.len());
    }

    #[test]
    fn date_range_query_uses_the_order_date_index() {
        let (_dir, path, _) = build(1);
        let conn = open_ro(&path);
        let sql = "SELECT order_id, order_date, status, total_amount FROM orders \
                   WHERE order_date >= '2024-06-01' ORDER BY order_date LIMIT 50";
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("prepare");
        let plan: Vec<String> = stmt
            .query_map([], |r| r.get(3))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert!(
            plan.iter().any(|d| d.contains("idx_orders_order_date")),
            "{plan:?}"
        );
        assert!(
            !plan.iter().any(|d| d.contains("TEMP B-TREE")),
            "no sort needed: {plan:?}"
        );
        let mut stmt = conn.prepare(sql).expect("prepare");
        let dates: Vec<String> = stmt
            .query_map([], |r| r.get(1))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(dates.len(), 50);
        assert!(dates.iter().all(|d| d.as_str() >= "2024-06-01"));
    }

    #[test]
    fn totals_equal_the_sum_of_their_items() {
        let (_dir, path, _) = build(1);
        let conn = open_ro(&path);
        // Exact integer arithmetic in 1/10,000 USD, rounded half up once per order.
        let mismatches = count(
            &conn,
            "SELECT count(*) FROM orders o JOIN (
                 SELECT order_id,
                        sum(quantity * CAST(round(unit_price * 100) AS INTEGER)
                                     * (100 - CAST(round(discount * 100) AS INTEGER))) AS s
                 FROM order_items GROUP BY order_id) i USING (order_id)
             WHERE CAST(round(o.total_amount * 100) AS INTEGER) <> (i.s + 50) / 100",
        );
        assert_eq!(mismatches, 0);
        // The documented formula, as a user would write it.
        let documented = count(
            &conn,
            "SELECT count(*) FROM orders o
             WHERE o.total_amount <> round((SELECT sum(quantity * unit_price * (1 - discount))
                                            FROM order_items i WHERE i.order_id = o.order_id), 2)",
        );
        assert_eq!(documented, 0);
        // Money never has more than two decimals.
        for (table, col) in [
            ("orders", "total_amount"),
            ("order_items", "unit_price"),
            ("products", "list_price"),
            ("products", "unit_cost"),
        ] {
            let bad = count(
                &conn,
                &format!(
                    "SELECT count(*) FROM {table} WHERE abs({col} * 100 - round({col} * 100)) > 1e-6 OR {col} <= 0"
                ),
            );
            assert_eq!(bad, 0, "{table}.{col}");
        }
    }

    #[test]
    fn hr_data_is_consistent() {
        let (_dir, path, _) = build(1);
        let conn = open_ro(&path);
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM employees WHERE manager_id IS NULL"
            ),
            1
        );
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM employees WHERE manager_id IS NULL AND job_id = 'AD_PRES'"
            ),
            1
        );
        // Everyone reaches the president through the hierarchy (no cycles, no orphans).
        let reached = count(
            &conn,
            "WITH RECURSIVE chain(id) AS (
                 SELECT employee_id FROM employees WHERE manager_id IS NULL
                 UNION SELECT e.employee_id FROM employees e JOIN chain c ON e.manager_id = c.id)
             SELECT count(*) FROM chain",
        );
        assert_eq!(reached, 107);
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM employees e JOIN jobs j USING (job_id) WHERE e.salary < j.min_salary OR e.salary > j.max_salary"
            ),
            0
        );
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM employees WHERE (commission_pct IS NOT NULL) <> (job_id IN ('SA_MAN', 'SA_REP'))"
            ),
            0
        );
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM employees WHERE hire_date NOT BETWEEN '2001-01-01' AND '2025-12-31'"
            ),
            0
        );
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM employees WHERE date(hire_date) IS NOT hire_date"
            ),
            0
        );
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM job_history WHERE end_date <= start_date OR date(end_date) IS NOT end_date"
            ),
            0
        );
        assert!(
            count(
                &conn,
                "SELECT count(*) FROM departments WHERE manager_id IS NULL"
            ) > 5
        );
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM employees WHERE department_id IS NULL"
            ),
            1
        );
        assert_eq!(count(&conn, "SELECT count(*) FROM employee_directory"), 107);
        // Department heads work in the department they head.
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM departments d JOIN employees e ON e.employee_id = d.manager_id WHERE e.department_id IS NOT d.department_id"
            ),
            0
        );
        let regions: Vec<String> = conn
            .prepare("SELECT region_name FROM regions ORDER BY region_id")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(
            regions,
            [
                "Europe",
                "Americas",
                "Asia",
                "Middle East and Africa",
                "Oceania"
            ]
        );
    }

    #[test]
    fn sales_data_looks_realistic() {
        let (_dir, path, _) = build(1);
        let conn = open_ro(&path);
        let n = |sql: &str| count(&conn, sql);
        assert_eq!(
            n(
                "SELECT count(*) FROM orders WHERE order_date NOT BETWEEN '2022-01-01T00:00:00' AND '2025-12-31T23:59:59'"
            ),
            0
        );
        assert_eq!(
            n(
                "SELECT count(*) FROM orders WHERE datetime(order_date) IS NOT replace(order_date, 'T', ' ')"
            ),
            0
        );
        assert_eq!(
            n(
                "SELECT count(*) FROM customers WHERE datetime(created_at) IS NOT replace(created_at, 'T', ' ')"
            ),
            0
        );
        // order_id follows order_date; customers order only after their account exists.
        assert_eq!(
            n(
                "SELECT count(*) FROM orders a JOIN orders b ON b.order_id = a.order_id + 1 WHERE b.order_date < a.order_date"
            ),
            0
        );
        assert_eq!(
            n(
                "SELECT count(*) FROM orders o JOIN customers c USING (customer_id) WHERE o.order_date < c.created_at"
            ),
            0
        );
        // Mostly delivered; open orders only at the end of the period.
        assert!(n("SELECT count(*) FROM orders WHERE status = 'delivered'") > 8_000);
        assert_eq!(
            n(
                "SELECT count(*) FROM orders WHERE status IN ('pending', 'shipped') AND order_date < '2025-12-15'"
            ),
            0
        );
        // Seasonality: December beats February every year.
        assert_eq!(
            n("SELECT count(*) FROM (SELECT substr(order_date, 1, 4) y,
                      sum(substr(order_date, 6, 2) = '12') dec, sum(substr(order_date, 6, 2) = '02') feb
                  FROM orders GROUP BY y) WHERE dec <= feb * 1.3"),
            0
        );
        // Skew: the busiest 1 % of customers place far more than 1 % of the orders.
        let top = n(
            "SELECT sum(c) FROM (SELECT count(*) c FROM orders GROUP BY customer_id ORDER BY c DESC LIMIT 10)",
        );
        assert!(top > 500, "top customers placed {top} orders");
        assert_eq!(
            n("SELECT count(*) FROM order_items WHERE discount NOT IN (0, 0.05, 0.1, 0.15)"),
            0
        );
        assert!(n("SELECT count(*) FROM order_items WHERE discount = 0") > 20_000);
        assert_eq!(n("SELECT count(DISTINCT category) FROM products"), 10);
        assert_eq!(
            n("SELECT count(*) FROM products WHERE unit_cost >= list_price"),
            0
        );
        assert_eq!(
            n("SELECT count(*) FROM order_items i JOIN orders o USING (order_id) JOIN products p USING (product_id)
               WHERE p.discontinued = 1 AND o.order_date >= '2024-07-01'"),
            0
        );
        assert_eq!(
            n(
                "SELECT count(*) FROM orders o JOIN customers c USING (customer_id) WHERE c.segment = 'consumer' AND o.sales_rep_id IS NOT NULL"
            ),
            0
        );
        assert_eq!(
            n(
                "SELECT count(*) FROM orders o JOIN employees e ON e.employee_id = o.sales_rep_id WHERE e.job_id <> 'SA_REP' OR e.hire_date > o.order_date"
            ),
            0
        );
        // Customer cities belong to the customer's country.
        let mut stmt = conn
            .prepare("SELECT DISTINCT country_id, city FROM customers WHERE country_id IS NOT NULL")
            .expect("prepare");
        let pairs: Vec<(String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        for (country, city) in pairs {
            let def = COUNTRIES
                .iter()
                .find(|c| c.id == country)
                .expect("known country");
            assert!(
                def.cities.contains(&city.as_str()),
                "{city} is not in {country}"
            );
        }
        for segment in ["consumer", "small_business", "enterprise", "public_sector"] {
            assert!(
                n(&format!(
                    "SELECT count(*) FROM customers WHERE segment = '{segment}'"
                )) > 30,
                "{segment}"
            );
        }
        assert!(
            n(
                "SELECT count(*) FROM customers WHERE segment = 'enterprise' AND credit_limit < 50000"
            ) == 0
                && n(
                    "SELECT count(*) FROM customers WHERE segment = 'consumer' AND credit_limit > 5000"
                ) == 0
        );
        assert_eq!(n("SELECT count(*) FROM order_summary"), 10_000);
        assert_eq!(
            n("SELECT sum(item_count) FROM order_summary"),
            n("SELECT count(*) FROM order_items")
        );
    }

    #[test]
    fn calendar_helpers_round_trip() {
        for day in days_from_civil(1999, 12, 25)..days_from_civil(2027, 3, 1) {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(
            weekday(days_from_civil(2024, 6, 1)),
            6,
            "2024-06-01 was a Saturday"
        );
        assert_eq!(shopping_peaks(2024).0, days_from_civil(2024, 11, 29));
        assert_eq!(shopping_peaks(2025).1, days_from_civil(2025, 12, 1));
        let mut s = String::new();
        push_timestamp(&mut s, days_from_civil(2024, 2, 29) * SECS_PER_DAY + 3661);
        assert_eq!(s, "2024-02-29T01:01:01");
        assert_eq!(spread(10, &[1, 1, 1]).iter().sum::<u64>(), 10);
    }
}
