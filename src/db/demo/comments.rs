//! Table and column comments, written for a model exploring the schema.

#[allow(unused_imports)]
use super::*;

/// (object, column, comment); an empty column means the comment is on the table or view itself.
/// Written for a language model exploring the schema: meaning, units and allowed values.
pub(super) const COMMENTS: &[(&str, &str, &str)] = &[
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

pub(super) fn insert_comments(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare("INSERT INTO _comments VALUES (?1, ?2, ?3)")?;
    for &(object, column, comment) in COMMENTS {
        let column = Some(column).filter(|c| !c.is_empty());
        stmt.execute(params![object, column, comment])?;
    }
    Ok(())
}
