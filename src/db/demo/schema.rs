//! The schema (tables, indexes, views) and the build that fills it.

#[allow(unused_imports)]
use super::*;

/// Build failures before the target path is attached.
pub(super) enum BuildError {
    Sqlite(rusqlite::Error),
    ForeignKeys(u64),
}

impl From<rusqlite::Error> for BuildError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

impl BuildError {
    pub(super) fn into_demo_error(self, path: &Path) -> DemoError {
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
pub(super) const TABLES: [&str; 12] = [
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

pub(super) const SCHEMA_SQL: &str = "
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
pub(super) const EARLY_INDEX_SQL: &str = "
CREATE INDEX idx_order_items_product_id ON order_items (product_id);
";

/// Created after the bulk load: one sort is cheaper than updating them row by row.
pub(super) const INDEX_SQL: &str = "
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

pub(super) const VIEW_SQL: &str = "
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
pub(super) const BUILD_PRAGMAS: &str = "
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
PRAGMA locking_mode = EXCLUSIVE;
PRAGMA temp_store = MEMORY;
PRAGMA cache_size = -131072;
PRAGMA foreign_keys = OFF;
";

/// Writes the whole database into `path` (an empty file) and returns the row counts.
pub(super) fn build_database(path: &Path, scale: u32) -> Result<Vec<(String, u64)>, BuildError> {
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
