//! The privilege part of the ORDS double's Oracle dictionary.
//!
//! A test states what a DBA granted ([`Grants`], in the shape of the DBA_*
//! views: grantee, privilege, object); the double derives from it the views
//! a user can read about itself, with the filters Oracle documents:
//! SESSION_ROLES holds the default roles granted to the user or PUBLIC plus
//! every role inside them; SESSION_PRIVS is what the user, PUBLIC and the
//! enabled roles hold; USER_* views show grants to the user and to PUBLIC;
//! ROLE_* views show enabled roles only; ALL_TAB_PRIVS and ALL_COL_PRIVS
//! show grants to the user, PUBLIC or an enabled role; USER_HOST_ACES shows
//! the effective status for the user; ALL_DB_LINKS the user's and public
//! links. DBA_HOST_ACES and the 23ai schema-privilege views exist only when
//! the test says so, and any view can be hidden to provoke ORA-00942.
//! Column sets are the documented ones, reduced to what adb-mcp reads plus
//! the columns its filters use.

use rusqlite::{Connection, params};

use super::{DB_USER, DoubleState};

/// A host ACE: (host, lower port, upper port, principal, privilege, granted).
pub(crate) type Ace = (String, Option<i64>, Option<i64>, String, String, bool);

/// What a DBA granted, for the double to derive the user's views from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Grants {
    /// (grantee, privilege, admin option).
    pub sys: Vec<(String, String, bool)>,
    /// (grantee, role, default role).
    pub roles: Vec<(String, String, bool)>,
    /// (grantee, owner, object, privilege, object type).
    pub objects: Vec<(String, String, String, String, String)>,
    /// (grantee, owner, table, column, privilege).
    pub columns: Vec<(String, String, String, String, String)>,
    pub aces: Vec<Ace>,
    /// (owner, link name, host).
    pub links: Vec<(String, String, String)>,
    /// Objects in the user's own schema: (name, type).
    pub owned: Vec<(String, String)>,
    /// Schema privileges (23ai): (grantee, privilege, schema). `None`
    /// models a release before 23ai, where the views do not exist.
    pub schema: Option<Vec<(String, String, String)>>,
    /// Whether DBA_HOST_ACES is readable (a DBA or SELECT_CATALOG_ROLE).
    pub dba_views: bool,
    /// Views to leave out, so that querying them gives ORA-00942.
    pub hidden: Vec<String>,
}

fn s(v: &str) -> String {
    v.to_owned()
}

impl Grants {
    /// A least-privilege user as docs/ords.md creates it, plus Oracle's
    /// harmless defaults (INHERIT PRIVILEGES on the user to PUBLIC, DML on
    /// the session-private SYS.PLAN_TABLE$ to PUBLIC, EXECUTE on
    /// DBMS_OUTPUT) that the check must not report.
    pub(crate) fn least_privilege() -> Self {
        Self {
            sys: vec![(s(DB_USER), s("CREATE SESSION"), false)],
            roles: vec![(s(DB_USER), s("READERS"), true)],
            objects: vec![
                (s(DB_USER), s("APP"), s("ORDERS"), s("READ"), s("TABLE")),
                (
                    s("READERS"),
                    s("APP"),
                    s("CUSTOMERS"),
                    s("SELECT"),
                    s("TABLE"),
                ),
                (
                    s("PUBLIC"),
                    s(DB_USER),
                    s(DB_USER),
                    s("INHERIT PRIVILEGES"),
                    s("USER"),
                ),
                (
                    s("PUBLIC"),
                    s("SYS"),
                    s("PLAN_TABLE$"),
                    s("INSERT"),
                    s("TABLE"),
                ),
                (
                    s("PUBLIC"),
                    s("SYS"),
                    s("DBMS_OUTPUT"),
                    s("EXECUTE"),
                    s("PACKAGE"),
                ),
                (
                    s("PUBLIC"),
                    s("SYS"),
                    s("USER_TABLES"),
                    s("READ"),
                    s("VIEW"),
                ),
                // A grant to another user is not this user's business.
                (
                    s("SOMEONE_ELSE"),
                    s("APP"),
                    s("ORDERS"),
                    s("DELETE"),
                    s("TABLE"),
                ),
            ],
            ..Self::default()
        }
    }

    pub(crate) fn sys(mut self, grantee: &str, privilege: &str) -> Self {
        self.sys.push((s(grantee), s(privilege), false));
        self
    }

    pub(crate) fn role(mut self, grantee: &str, role: &str, default: bool) -> Self {
        self.roles.push((s(grantee), s(role), default));
        self
    }

    pub(crate) fn object(
        mut self,
        grantee: &str,
        privilege: &str,
        owner: &str,
        name: &str,
        kind: &str,
    ) -> Self {
        self.objects
            .push((s(grantee), s(owner), s(name), s(privilege), s(kind)));
        self
    }

    pub(crate) fn column(
        mut self,
        grantee: &str,
        privilege: &str,
        owner: &str,
        table: &str,
        column: &str,
    ) -> Self {
        self.columns
            .push((s(grantee), s(owner), s(table), s(column), s(privilege)));
        self
    }

    pub(crate) fn ace(
        mut self,
        host: &str,
        port: Option<i64>,
        principal: &str,
        privilege: &str,
    ) -> Self {
        self.aces
            .push((s(host), port, port, s(principal), s(privilege), true));
        self
    }

    pub(crate) fn link(mut self, owner: &str, name: &str, host: &str) -> Self {
        self.links.push((s(owner), s(name), s(host)));
        self
    }

    pub(crate) fn owns(mut self, name: &str, kind: &str) -> Self {
        self.owned.push((s(name), s(kind)));
        self
    }

    pub(crate) fn hide(mut self, view: &str) -> Self {
        self.hidden.push(view.to_ascii_lowercase());
        self
    }
}

impl DoubleState {
    /// Replaces what the double's dictionary says about privileges.
    pub(crate) fn set_grants(&self, grants: &Grants) {
        let conn = self.db.lock().unwrap_or_else(|p| p.into_inner());
        install(&conn, grants).expect("privilege views");
    }
}

/// Base tables, as a DBA would see them.
const BASE: &str = r#"
DROP TABLE IF EXISTS temp.dba_sys_privs_base;
DROP TABLE IF EXISTS temp.dba_role_privs_base;
DROP TABLE IF EXISTS temp.dba_tab_privs_base;
DROP TABLE IF EXISTS temp.dba_col_privs_base;
DROP TABLE IF EXISTS temp.dba_host_aces_base;
DROP TABLE IF EXISTS temp.dba_db_links_base;
DROP TABLE IF EXISTS temp.user_objects_base;
DROP TABLE IF EXISTS temp.dba_schema_privs_base;
CREATE TEMP TABLE dba_sys_privs_base (grantee TEXT, privilege TEXT, admin_option TEXT);
CREATE TEMP TABLE dba_role_privs_base (grantee TEXT, granted_role TEXT, admin_option TEXT, default_role TEXT);
CREATE TEMP TABLE dba_tab_privs_base (grantee TEXT, owner TEXT, table_name TEXT, grantor TEXT,
  privilege TEXT, grantable TEXT, type TEXT);
CREATE TEMP TABLE dba_col_privs_base (grantee TEXT, owner TEXT, table_name TEXT, column_name TEXT,
  grantor TEXT, privilege TEXT, grantable TEXT);
CREATE TEMP TABLE dba_host_aces_base (host TEXT, lower_port INTEGER, upper_port INTEGER,
  ace_order INTEGER, grant_type TEXT, inverted_principal TEXT, principal TEXT, principal_type TEXT,
  privilege TEXT);
CREATE TEMP TABLE dba_db_links_base (owner TEXT, db_link TEXT, username TEXT, host TEXT);
CREATE TEMP TABLE user_objects_base (object_name TEXT, object_type TEXT);
CREATE TEMP TABLE dba_schema_privs_base (grantee TEXT, privilege TEXT, schema TEXT, admin_option TEXT);
"#;

/// The user's views, each `(name, definition)`, derived from the base
/// tables with Oracle's documented visibility rules.
const VIEWS: &[(&str, &str)] = &[
    (
        "session_roles",
        "WITH RECURSIVE enabled(role) AS (
           SELECT granted_role FROM dba_role_privs_base
           WHERE grantee IN ((SELECT username FROM user_users), 'PUBLIC') AND default_role = 'YES'
           UNION
           SELECT r.granted_role FROM dba_role_privs_base r JOIN enabled e ON r.grantee = e.role)
         SELECT role FROM enabled",
    ),
    (
        "session_privs",
        "SELECT DISTINCT privilege FROM dba_sys_privs_base
         WHERE grantee IN ((SELECT username FROM user_users), 'PUBLIC')
            OR grantee IN (SELECT role FROM session_roles)",
    ),
    (
        "user_sys_privs",
        "SELECT grantee AS username, privilege, admin_option, 'NO' AS common, 'NO' AS inherited
         FROM dba_sys_privs_base WHERE grantee IN ((SELECT username FROM user_users), 'PUBLIC')",
    ),
    (
        "role_sys_privs",
        "SELECT grantee AS role, privilege, admin_option, 'NO' AS common, 'NO' AS inherited
         FROM dba_sys_privs_base WHERE grantee IN (SELECT role FROM session_roles)",
    ),
    (
        "user_role_privs",
        "SELECT grantee AS username, granted_role, admin_option, 'NO' AS delegate_option,
                default_role, 'NO' AS os_granted, 'NO' AS common, 'NO' AS inherited
         FROM dba_role_privs_base WHERE grantee IN ((SELECT username FROM user_users), 'PUBLIC')",
    ),
    (
        "role_role_privs",
        "SELECT grantee AS role, granted_role, admin_option, 'NO' AS common, 'NO' AS inherited
         FROM dba_role_privs_base WHERE grantee IN (SELECT role FROM session_roles)",
    ),
    (
        "all_tab_privs",
        "SELECT grantor, grantee, owner AS table_schema, table_name, privilege, grantable,
                'NO' AS hierarchy, 'NO' AS common, type, 'NO' AS inherited
         FROM dba_tab_privs_base
         WHERE grantee IN ((SELECT username FROM user_users), 'PUBLIC')
            OR grantee IN (SELECT role FROM session_roles)
            OR owner = (SELECT username FROM user_users)
            OR grantor = (SELECT username FROM user_users)",
    ),
    (
        "role_tab_privs",
        "SELECT grantee AS role, owner, table_name, NULL AS column_name, privilege, grantable
         FROM dba_tab_privs_base WHERE grantee IN (SELECT role FROM session_roles)",
    ),
    (
        "all_col_privs",
        "SELECT grantor, grantee, owner AS table_schema, table_name, column_name, privilege, grantable
         FROM dba_col_privs_base
         WHERE grantee IN ((SELECT username FROM user_users), 'PUBLIC')
            OR grantee IN (SELECT role FROM session_roles)
            OR owner = (SELECT username FROM user_users)",
    ),
    (
        "user_host_aces",
        "SELECT host, lower_port, upper_port, UPPER(privilege) AS privilege,
                CASE grant_type WHEN 'GRANT' THEN 'GRANTED' ELSE 'DENIED' END AS status
         FROM dba_host_aces_base
         WHERE principal IN ((SELECT username FROM user_users), 'PUBLIC')
            OR principal IN (SELECT role FROM session_roles)",
    ),
    (
        "all_db_links",
        "SELECT owner, db_link, username, host, '2024-01-01' AS created FROM dba_db_links_base
         WHERE owner IN ((SELECT username FROM user_users), 'PUBLIC')",
    ),
    (
        "user_objects",
        "SELECT object_name, object_type, 'VALID' AS status FROM user_objects_base",
    ),
];

const DBA_VIEWS: &[(&str, &str)] = &[(
    "dba_host_aces",
    "SELECT host, lower_port, upper_port, ace_order, NULL AS start_date, NULL AS end_date,
            grant_type, inverted_principal, principal, principal_type, privilege
     FROM dba_host_aces_base",
)];

const SCHEMA_VIEWS: &[(&str, &str)] = &[
    (
        "user_schema_privs",
        "SELECT grantee AS username, privilege, schema, admin_option, 'NO' AS common, 'NO' AS inherited
         FROM dba_schema_privs_base WHERE grantee IN ((SELECT username FROM user_users), 'PUBLIC')",
    ),
    (
        "role_schema_privs",
        "SELECT grantee AS role, privilege, schema, admin_option, 'NO' AS common, 'NO' AS inherited
         FROM dba_schema_privs_base WHERE grantee IN (SELECT role FROM session_roles)",
    ),
];

fn yes(b: bool) -> &'static str {
    if b { "YES" } else { "NO" }
}

/// (Re)creates the privilege tables and views from `g`.
pub(crate) fn install(conn: &Connection, g: &Grants) -> rusqlite::Result<()> {
    let all = VIEWS.iter().chain(DBA_VIEWS).chain(SCHEMA_VIEWS);
    for (name, _) in all.clone() {
        conn.execute_batch(&format!("DROP VIEW IF EXISTS temp.{name};"))?;
    }
    conn.execute_batch(BASE)?;
    for (grantee, privilege, admin) in &g.sys {
        conn.execute(
            "INSERT INTO dba_sys_privs_base VALUES (?1, ?2, ?3)",
            params![grantee, privilege, yes(*admin)],
        )?;
    }
    for (grantee, role, default) in &g.roles {
        conn.execute(
            "INSERT INTO dba_role_privs_base VALUES (?1, ?2, 'NO', ?3)",
            params![grantee, role, yes(*default)],
        )?;
    }
    for (grantee, owner, name, privilege, kind) in &g.objects {
        conn.execute(
            "INSERT INTO dba_tab_privs_base VALUES (?1, ?2, ?3, ?2, ?4, 'NO', ?5)",
            params![grantee, owner, name, privilege, kind],
        )?;
    }
    for (grantee, owner, table, column, privilege) in &g.columns {
        conn.execute(
            "INSERT INTO dba_col_privs_base VALUES (?1, ?2, ?3, ?4, ?2, ?5, 'NO')",
            params![grantee, owner, table, column, privilege],
        )?;
    }
    for (i, (host, lower, upper, principal, privilege, granted)) in g.aces.iter().enumerate() {
        conn.execute(
            "INSERT INTO dba_host_aces_base VALUES (?1, ?2, ?3, ?4, ?5, 'NO', ?6, 'DATABASE', ?7)",
            params![
                host,
                lower,
                upper,
                i as i64 + 1,
                if *granted { "GRANT" } else { "DENY" },
                principal,
                privilege
            ],
        )?;
    }
    for (owner, name, host) in &g.links {
        conn.execute(
            "INSERT INTO dba_db_links_base VALUES (?1, ?2, 'REMOTE_USER', ?3)",
            params![owner, name, host],
        )?;
    }
    for (name, kind) in &g.owned {
        conn.execute(
            "INSERT INTO user_objects_base VALUES (?1, ?2)",
            params![name, kind],
        )?;
    }
    for (grantee, privilege, schema) in g.schema.iter().flatten() {
        conn.execute(
            "INSERT INTO dba_schema_privs_base VALUES (?1, ?2, ?3, 'NO')",
            params![grantee, privilege, schema],
        )?;
    }
    let mut wanted: Vec<&(&str, &str)> = VIEWS.iter().collect();
    if g.dba_views {
        wanted.extend(DBA_VIEWS);
    }
    if g.schema.is_some() {
        wanted.extend(SCHEMA_VIEWS);
    }
    for (name, sql) in wanted {
        if g.hidden.iter().any(|h| h == name) {
            continue;
        }
        conn.execute_batch(&format!("CREATE TEMP VIEW {name} AS {sql};"))?;
    }
    Ok(())
}
