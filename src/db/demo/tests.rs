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
        n("SELECT count(*) FROM customers WHERE segment = 'enterprise' AND credit_limit < 50000")
            == 0
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
